//! Locating (and building) venus-rs's own halves for a pairing. A half that does not exist yet is a clear
//! "not built yet" error — never a silent fallback to the reference half.

use crate::cross;
use crate::guest::GuestArch;
use crate::process::run_logged;
use std::path::{Path, PathBuf};

/// Guest tools built from `icd/` that a pairing with `--guest ours` puts on the program's PATH.
pub const GUEST_TOOLS: &[&str] = &["venus-probe"];
pub const ICD_LIBRARY: &str = "libvulkan_venus_rs.so";
/// An ICD that does not export the loader entry point is not a driver yet.
const ICD_ENTRY_POINT: &[u8] = b"vk_icdGetInstanceProcAddr";

/// Our guest half, built for one architecture.
pub struct OursGuest {
    pub bin_dir: PathBuf,
    pub tools: Vec<PathBuf>,
    /// The ICD library, when it exports the loader interface.
    pub icd: Option<PathBuf>,
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
    let tools: Vec<PathBuf> = GUEST_TOOLS
        .iter()
        .map(|tool| bin_dir.join(tool))
        .filter(|path| path.is_file())
        .collect();
    let icd = Some(bin_dir.join(ICD_LIBRARY)).filter(|path| exports_icd_entry_point(path));
    if tools.is_empty() && icd.is_none() {
        return Err(format!(
            "--guest ours: our guest half is not built yet: neither {} nor a {ICD_LIBRARY} that exports \
             the loader interface exists in {}",
            GUEST_TOOLS.join(", "),
            bin_dir.display()
        ));
    }
    Ok(OursGuest {
        bin_dir,
        tools,
        icd,
    })
}

fn exports_icd_entry_point(library: &Path) -> bool {
    std::fs::read(library).is_ok_and(|bytes| {
        bytes
            .windows(ICD_ENTRY_POINT.len())
            .any(|window| window == ICD_ENTRY_POINT)
    })
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

/// Small Vulkan programs of `tests/` that a pairing can run by name: they are built for the guest's architecture
/// and put on its PATH, whichever guest driver the pairing uses.
pub const TEST_PROGRAMS: &[&str] = &["compute-readback"];

/// Builds the test program `name` for `arch` when it is one of ours; `None` for any other program.
pub fn build_test_program(
    name: &str,
    arch: GuestArch,
    log_dir: &Path,
) -> Result<Option<PathBuf>, String> {
    if !TEST_PROGRAMS.contains(&name) {
        return Ok(None);
    }
    let log = log_dir.join(format!("build-{name}-{}.log", arch.name()));
    let bin_dir = release_build(arch, &["-p", "venus-rs-tests", "--bin", name], &log)?;
    Ok(Some(bin_dir.join(name)))
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
