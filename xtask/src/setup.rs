//! `cargo xtask setup`: installs the reference stacks (one Debian trixie chroot each, see `reference.rs`) and, with
//! `--guests`, their guest images.

use crate::env::{in_reference_root, Home};
use crate::guest::{build_guest, GuestArch};
use crate::process::{run_logged, Step};
use crate::reference::{Reference, BASE_SUITE};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What every reference chroot must hold (issue: foundation). The QEMU GUI/OpenGL modules provide the
/// `-display sdl,gl=on` display that works without /dev/dri.
pub const REFERENCE_PACKAGES: &[&str] = &[
    "mesa-vulkan-drivers",
    "libvulkan1",
    "libvulkan-dev",
    "vulkan-tools",
    "vulkan-validationlayers",
    "vkmark",
    "virgl-server",
    "libvirglrenderer1",
    "qemu-system-x86",
    "qemu-system-arm",
    "qemu-utils",
    "qemu-system-gui",
    "qemu-system-modules-opengl",
    "xvfb",
    "weston",
    "glslang-tools",
    "spirv-tools",
    // depmod / modprobe --show-depends, which the guest image builder runs on the guests' kernel modules.
    "kmod",
];

/// Checked before each stack's chroot is made: debootstrap's base system plus the packages above take about
/// 2.5 GB, the stack's guests about 1.5 GB more.
const REQUIRED_FREE_BYTES: u64 = 6 << 30;

pub struct SetupOptions {
    pub guests: bool,
    /// The stacks to install; both unless `--reference` names one.
    pub references: Vec<Reference>,
}

impl Default for SetupOptions {
    fn default() -> SetupOptions {
        SetupOptions {
            guests: false,
            references: Reference::ALL.to_vec(),
        }
    }
}

/// What a stack's chroot is made from, recorded in it; see `Home::reference_ready`.
pub fn reference_recipe(reference: Reference) -> String {
    reference.recipe(REFERENCE_PACKAGES)
}

pub fn setup(home: &Home, options: &SetupOptions) -> Result<(), String> {
    require_root()?;
    std::fs::create_dir_all(home.dir())
        .map_err(|e| format!("cannot create {}: {e}", home.dir().display()))?;
    let logs = home.dir().join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;

    let step = Step::start("host tools (debootstrap, unshare, chroot)");
    ensure_host_tools(&logs)?;
    step.done("present");

    for reference in &options.references {
        install_reference(&home.with_reference(*reference), &logs)?;
    }

    let step = Step::start(
        "aarch64 cross toolchain for our guest binaries (Debian rustc-web + arm64 std)",
    );
    if crate::cross::aarch64_toolchain_present() {
        step.done("already installed");
    } else {
        crate::cross::install_aarch64_toolchain(&logs.join("apt-cross.log"))?;
        step.done("installed");
    }

    let step = Step::start("recording installed versions");
    crate::versions::write(home, REFERENCE_PACKAGES)?;
    step.done(&home.versions_file().display().to_string());

    if options.guests {
        for reference in &options.references {
            for arch in [GuestArch::X86_64, GuestArch::Aarch64] {
                build_guest(&home.with_reference(*reference), arch)?;
            }
        }
    }
    println!("[setup] ready: {}", home.dir().display());
    Ok(())
}

/// Makes (or finds complete) the chroot of `stack`'s reference: debootstrap, apt sources and pins, packages.
fn install_reference(stack: &Home, logs: &Path) -> Result<(), String> {
    let reference = stack.reference();
    let name = reference.name();
    let root = stack.reference_root();
    let step = Step::start(&format!(
        "{name} reference stack ({} packages: {})",
        REFERENCE_PACKAGES.len(),
        reference.summary()
    ));
    if stack.reference_ready() {
        step.done(&format!("already installed in {}", root.display()));
        return Ok(());
    }
    // A chroot made from another recipe is made again: apt never downgrades, so packages an older recipe took
    // from a newer suite would stay. A chroot without a record is an unfinished (or older setup's) one; apt
    // completes it.
    let outdated = stack.reference_record().exists();
    if outdated || (root.exists() && !debootstrap_complete(&root)) {
        require_free_space(stack.dir())?;
        std::fs::remove_dir_all(&root).map_err(|e| {
            format!(
                "cannot remove the outdated or incomplete chroot {}: {e}",
                root.display()
            )
        })?;
    }
    let mirror = debian_mirror();
    if !debootstrap_complete(&root) {
        require_free_space(stack.dir())?;
        let mut command = Command::new("debootstrap");
        command
            .args(["--variant=minbase", BASE_SUITE])
            .arg(&root)
            .arg(&mirror);
        run_logged(&mut command, &logs.join(format!("debootstrap-{name}.log"))).map_err(|e| {
            format!(
                "{e}; is the Debian mirror {mirror} reachable? (VENUS_RS_MIRROR sets another one)"
            )
        })?;
    }
    write_apt_configuration(reference, &root, &mirror)?;
    let script = format!(
        "export DEBIAN_FRONTEND=noninteractive; apt-get update && apt-get install -y --no-install-recommends {}",
        REFERENCE_PACKAGES.join(" ")
    );
    let mut command = in_reference_root(stack, &[], &[], "/bin/sh", &["-c".into(), script]);
    let suites: Vec<&str> = std::iter::once(BASE_SUITE)
        .chain(reference.extra_suites().iter().map(|suite| suite.name))
        .collect();
    run_logged(
        &mut command,
        &logs.join(format!("apt-reference-{name}.log")),
    )
    .map_err(|e| {
        format!(
            "{e}; is the network up and does the mirror carry {}?",
            suites.join(", ")
        )
    })?;
    write_file(&stack.reference_record(), &reference_recipe(reference))?;
    step.done(&format!(
        "{} in {}",
        crate::versions::headline(stack),
        root.display()
    ));
    Ok(())
}

/// The stack's extra suites and pins; files a stack does not need are removed.
fn write_apt_configuration(reference: Reference, root: &Path, mirror: &str) -> Result<(), String> {
    let files = [
        (
            root.join("etc/apt/sources.list.d/venus-rs.list"),
            reference.apt_sources(mirror),
        ),
        (
            root.join("etc/apt/preferences.d/venus-rs"),
            reference.apt_preferences(),
        ),
    ];
    for (path, text) in files {
        if text.is_empty() {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(format!("cannot remove {}: {e}", path.display()))
                }
                _ => {}
            }
        } else {
            write_file(&path, &text)?;
        }
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn require_root() -> Result<(), String> {
    if rustix::process::geteuid().is_root() {
        Ok(())
    } else {
        Err("setup needs root (debootstrap, chroot and mount): run it as root, e.g. `sudo -E cargo xtask setup`".into())
    }
}

fn ensure_host_tools(logs: &Path) -> Result<(), String> {
    let missing: Vec<&str> = ["debootstrap", "unshare", "chroot"]
        .into_iter()
        .filter(|tool| find_in_path(tool).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing
        .iter()
        .map(|tool| match *tool {
            "unshare" => "util-linux",
            "chroot" => "coreutils",
            other => other,
        })
        .collect();
    println!("[setup]   installing host packages: {}", packages.join(" "));
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!(
        "export DEBIAN_FRONTEND=noninteractive; apt-get update && apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    ));
    run_logged(&mut command, &logs.join("apt-host.log"))
        .map_err(|e| format!("cannot install {} on the host: {e}", packages.join(" ")))
}

pub fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

fn debootstrap_complete(root: &Path) -> bool {
    root.join("usr/bin/apt-get").is_file() && !root.join("debootstrap").exists()
}

/// The mirror the host's own apt sources name, so setup uses the registry this machine is configured for.
fn debian_mirror() -> String {
    if let Ok(mirror) = std::env::var("VENUS_RS_MIRROR") {
        return mirror;
    }
    let deb822 =
        std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let from_deb822 = deb822
        .lines()
        .filter_map(|line| line.strip_prefix("URIs:"))
        .flat_map(str::split_whitespace)
        .find(|uri| !uri.contains("security"));
    let classic = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    let from_classic = classic
        .lines()
        .filter(|line| line.starts_with("deb "))
        .filter_map(|line| {
            line.split_whitespace()
                .find(|word| word.starts_with("http://") || word.starts_with("https://"))
        })
        .find(|uri| !uri.contains("security"));
    from_deb822
        .or(from_classic)
        .unwrap_or("http://deb.debian.org/debian")
        .to_string()
}

fn require_free_space(dir: &Path) -> Result<(), String> {
    let stat = rustix::fs::statvfs(dir).map_err(|e| format!("statvfs {}: {e}", dir.display()))?;
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if free < REQUIRED_FREE_BYTES {
        return Err(format!(
            "only {} MiB free under {}; setup needs {} MiB: free disk space or set VENUS_RS_HOME elsewhere",
            free >> 20,
            dir.display(),
            REQUIRED_FREE_BYTES >> 20
        ));
    }
    Ok(())
}
