//! Locating (and building) venus-rs's own halves for a pairing. A half that does not exist yet is a clear
//! "not built yet" error — never a silent fallback to the reference half.

use crate::cross;
use crate::guest::GuestArch;
use crate::process::run_logged;
use std::path::{Path, PathBuf};

/// Guest tools built from `icd/`, installed beside the ICD.
pub const GUEST_TOOLS: &[&str] = &["venus-probe"];
pub const ICD_LIBRARY: &str = "libvulkan_venus_rs.so";
/// An ICD that does not export the loader entry point is not a driver yet.
const ICD_ENTRY_POINT: &[u8] = b"vk_icdGetInstanceProcAddr";

/// Our guest half, built for one architecture.
pub struct OursGuest {
    pub arch: GuestArch,
    pub tools: Vec<PathBuf>,
    pub icd: PathBuf,
}

pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Builds the guest half (`icd/`: the ICD and the guest tools) for `arch` in release mode.
pub fn build_guest_half(arch: GuestArch, log_dir: &Path) -> Result<OursGuest, String> {
    let log = log_dir.join(format!("build-guest-{}.log", arch.name()));
    let bin_dir = release_build(arch, &["-p", "venus-rs-icd", "--bins", "--lib"], &log)?;
    let icd = bin_dir.join(ICD_LIBRARY);
    if !exports_icd_entry_point(&icd) {
        return Err(format!(
            "--guest ours: our guest half is not built yet: {} does not export the loader interface",
            icd.display()
        ));
    }
    let tools = GUEST_TOOLS
        .iter()
        .map(|tool| {
            let path = bin_dir.join(tool);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!("--guest ours: {} was not built", path.display()))
            }
        })
        .collect::<Result<_, String>>()?;
    Ok(OursGuest { arch, tools, icd })
}

fn exports_icd_entry_point(library: &Path) -> bool {
    std::fs::read(library).is_ok_and(|bytes| {
        bytes
            .windows(ICD_ENTRY_POINT.len())
            .any(|window| window == ICD_ENTRY_POINT)
    })
}

/// Where an installed guest half lives, as the machine that runs it sees the paths.
pub struct InstalledGuest {
    /// (file on this machine, its path on the target)
    pub files: Vec<(PathBuf, String)>,
    pub manifest: String,
    pub bin_dir: String,
}

/// Installs the guest half the way a distribution package would: the ICD in PREFIX/lib/venus-rs/, its manifest
/// (from `manifests/`, `library_path` pointing at the installed ICD) in PREFIX/share/vulkan/icd.d/, the tools in
/// PREFIX/bin. Files are written under `destdir` (`/` for a direct install; a staging folder for a guest image).
pub fn install_guest_half(
    guest: &OursGuest,
    destdir: &Path,
    prefix: &str,
) -> Result<InstalledGuest, String> {
    let prefix = prefix.trim_end_matches('/');
    let library = format!("{prefix}/lib/venus-rs/{ICD_LIBRARY}");
    let manifest_name = format!("venus_rs_icd.{}.json", guest.arch.name());
    let manifest = format!("{prefix}/share/vulkan/icd.d/{manifest_name}");
    let template_path = workspace_dir().join("manifests").join(&manifest_name);
    let template = std::fs::read_to_string(&template_path)
        .map_err(|e| format!("cannot read {}: {e}", template_path.display()))?;
    let mut manifest_json: serde_json::Value =
        serde_json::from_str(&template).map_err(|e| format!("{}: {e}", template_path.display()))?;
    manifest_json["ICD"]["library_path"] = serde_json::Value::String(library.clone());
    let manifest_text =
        serde_json::to_string_pretty(&manifest_json).map_err(|e| e.to_string())? + "\n";

    let mut files = Vec::new();
    let destination = staged_path(destdir, &manifest)?;
    std::fs::write(&destination, manifest_text)
        .map_err(|e| format!("cannot write {}: {e}", destination.display()))?;
    files.push((destination, manifest.clone()));
    let tools = guest.tools.iter().map(|tool| {
        let name = tool
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        (tool, format!("{prefix}/bin/{name}"))
    });
    for (source, target) in std::iter::once((&guest.icd, library)).chain(tools) {
        let destination = staged_path(destdir, &target)?;
        std::fs::copy(source, &destination).map_err(|e| {
            format!(
                "cannot copy {} to {}: {e}",
                source.display(),
                destination.display()
            )
        })?;
        files.push((destination, target));
    }
    Ok(InstalledGuest {
        files,
        manifest,
        bin_dir: format!("{prefix}/bin"),
    })
}

/// The file under `destdir` for the target path `target`, with its folder created.
fn staged_path(destdir: &Path, target: &str) -> Result<PathBuf, String> {
    let destination = destdir.join(target.trim_start_matches('/'));
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    Ok(destination)
}

/// `cargo xtask install --prefix DIR [--arch x86_64|aarch64] [--destdir DIR]`.
pub fn install_command(args: &[String]) -> Result<(), String> {
    const USAGE: &str =
        "usage: cargo xtask install --prefix DIR [--arch x86_64|aarch64] [--destdir DIR]";
    let mut prefix = None;
    let mut arch = GuestArch::X86_64;
    let mut destdir = PathBuf::from("/");
    let mut rest = args.iter();
    while let Some(option) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| format!("{option} needs a value\n{USAGE}"))?;
        match option.as_str() {
            "--prefix" => prefix = Some(value.clone()),
            "--destdir" => destdir = PathBuf::from(value),
            "--arch" => {
                arch = match value.as_str() {
                    "x86_64" => GuestArch::X86_64,
                    "aarch64" => GuestArch::Aarch64,
                    other => return Err(format!("unknown --arch {other:?}\n{USAGE}")),
                }
            }
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    let prefix = prefix.ok_or_else(|| format!("--prefix is required\n{USAGE}"))?;
    if !prefix.starts_with('/') {
        return Err(format!("--prefix must be an absolute path, not {prefix:?}"));
    }
    let logs = std::env::temp_dir();
    let guest = build_guest_half(arch, &logs)?;
    let installed = install_guest_half(&guest, &destdir, &prefix)?;
    for (file, target) in &installed.files {
        if destdir == Path::new("/") {
            println!("installed {target}");
        } else {
            println!("installed {target} (staged at {})", file.display());
        }
    }
    println!(
        "the Vulkan loader finds it with VK_DRIVER_FILES={} (or on its own for the prefixes /usr and /usr/local)",
        installed.manifest
    );
    Ok(())
}

/// Our host half: the vtest server and the render server binaries from `host/`.
pub struct OursHost {
    pub vtest_server: PathBuf,
    pub render_server: PathBuf,
}

pub const VTEST_SERVER: &str = "venus-rs-vtest-server";
pub const RENDER_SERVER: &str = "venus-rs-render-server";

pub fn build_host_half(log_dir: &Path) -> Result<OursHost, String> {
    let workspace = workspace_dir();
    let mut command = crate::test::cargo();
    command
        .current_dir(&workspace)
        .args(["build", "--release", "-p", "venus-rs-host", "--bins"]);
    run_logged(&mut command, &log_dir.join("build-host.log"))?;
    let bin_dir = workspace.join("target/release");
    let host = OursHost {
        vtest_server: bin_dir.join(VTEST_SERVER),
        render_server: bin_dir.join(RENDER_SERVER),
    };
    for binary in [&host.vtest_server, &host.render_server] {
        if !binary.is_file() {
            return Err(format!(
                "--host ours: our host half is not built yet: {} does not exist",
                binary.display()
            ));
        }
    }
    Ok(host)
}

/// Small Vulkan programs of `tests/` that a pairing can run by name: every binary of `tests/src/bin`, built for
/// the guest's architecture and put on its PATH, whichever guest driver the pairing uses.
pub fn test_program_names() -> Result<Vec<String>, String> {
    let dir = workspace_dir().join("tests/src/bin");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    // Cargo's own rule: `NAME.rs`, or `NAME/main.rs` for a program made of several files.
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter_map(|path| {
            if path.extension().is_some_and(|ext| ext == "rs") {
                Some(path.file_stem()?.to_string_lossy().into_owned())
            } else if path.join("main.rs").is_file() {
                Some(path.file_name()?.to_string_lossy().into_owned())
            } else {
                None
            }
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Builds every test program for `arch` in one cargo run and returns their paths (all in one folder).
pub fn build_test_programs(arch: GuestArch, log_dir: &Path) -> Result<Vec<PathBuf>, String> {
    let log = log_dir.join(format!("build-test-programs-{}.log", arch.name()));
    let bin_dir = release_build(arch, &["-p", "venus-rs-tests", "--bins"], &log)?;
    test_program_names()?
        .into_iter()
        .map(|name| {
            let path = bin_dir.join(&name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!("the test program {} was not built", path.display()))
            }
        })
        .collect()
}

/// `cargo build --release` of the given packages for a guest architecture; returns the binaries' folder.
fn release_build(arch: GuestArch, selection: &[&str], log: &Path) -> Result<PathBuf, String> {
    let workspace = workspace_dir();
    match arch {
        GuestArch::X86_64 => {
            let mut command = crate::test::cargo();
            command
                .current_dir(&workspace)
                .args(["build", "--release"])
                .args(selection);
            run_logged(&mut command, log)?;
            Ok(workspace.join("target/release"))
        }
        GuestArch::Aarch64 => {
            if !cross::aarch64_toolchain_present() {
                return Err(
                    "the aarch64 cross toolchain is missing: run `cargo xtask setup`".into(),
                );
            }
            let (mut command, bin_dir) = cross::aarch64_cargo_build(&workspace);
            command.args(selection);
            run_logged(&mut command, log)?;
            Ok(bin_dir)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_program_names;

    #[test]
    fn test_programs_are_found_as_single_files_and_as_folders() {
        let names = test_program_names().unwrap();
        // compute-readback is one file; render-check is a folder with main.rs.
        for expected in [
            "compute-readback",
            "render-check",
            "sync-check",
            "query-check",
            "secondary-check",
        ] {
            assert!(
                names.iter().any(|name| name == expected),
                "{expected} missing from {names:?}"
            );
        }
        assert!(names.windows(2).all(|pair| pair[0] < pair[1]), "{names:?}");
    }
}
