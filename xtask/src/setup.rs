//! `cargo xtask setup`: installs the reference stack (a Debian trixie chroot) and, with `--guests`, the guest images.

use crate::env::{in_reference_root, Home};
use crate::guest::{build_guest, GuestArch};
use crate::process::{run_logged, Step};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the reference chroot must hold (issue: foundation). The QEMU GUI/OpenGL modules provide the
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

const SUITE: &str = "trixie";
/// debootstrap's base system plus the packages above take about 2.5 GB; the guests about 1.5 GB more.
const REQUIRED_FREE_BYTES: u64 = 6 << 30;

pub struct SetupOptions {
    pub guests: bool,
}

pub fn setup(home: &Home, options: &SetupOptions) -> Result<(), String> {
    require_root()?;
    std::fs::create_dir_all(home.dir())
        .map_err(|e| format!("cannot create {}: {e}", home.dir().display()))?;
    let logs = home.dir().join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;

    let root = home.reference_root();
    let step = Step::start("host tools (debootstrap, unshare, chroot)");
    ensure_host_tools(&logs)?;
    step.done("present");

    let step = Step::start(&format!("reference chroot: debootstrap {SUITE}"));
    if debootstrap_complete(&root) {
        step.done("already there");
    } else {
        require_free_space(home.dir())?;
        if root.exists() {
            std::fs::remove_dir_all(&root).map_err(|e| {
                format!(
                    "cannot remove the incomplete chroot {}: {e}",
                    root.display()
                )
            })?;
        }
        let mirror = debian_mirror();
        let mut command = Command::new("debootstrap");
        command
            .args(["--variant=minbase", SUITE])
            .arg(&root)
            .arg(&mirror);
        run_logged(&mut command, &logs.join("debootstrap.log")).map_err(|e| {
            format!(
                "{e}; is the Debian mirror {mirror} reachable? (VENUS_RS_MIRROR sets another one)"
            )
        })?;
        step.done(&format!("from {mirror}"));
    }

    let step = Step::start(&format!(
        "reference packages ({} packages: Mesa, lavapipe, virglrenderer, QEMU, ...)",
        REFERENCE_PACKAGES.len()
    ));
    if reference_packages_installed(home) {
        step.done("already installed");
    } else {
        std::fs::remove_file(home.versions_file()).ok();
        let script = format!(
            "export DEBIAN_FRONTEND=noninteractive; apt-get update && apt-get install -y --no-install-recommends {}",
            REFERENCE_PACKAGES.join(" ")
        );
        let mut command = in_reference_root(home, &[], &[], "/bin/sh", &["-c".into(), script]);
        run_logged(&mut command, &logs.join("apt-reference.log"))
            .map_err(|e| format!("{e}; is the network up and does the mirror carry {SUITE}?"))?;
        step.done("installed");
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
    write_versions(home)?;
    step.done(&home.versions_file().display().to_string());

    if options.guests {
        for arch in [GuestArch::X86_64, GuestArch::Aarch64] {
            build_guest(home, arch)?;
        }
    }
    println!("[setup] ready: {}", home.dir().display());
    Ok(())
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

fn reference_packages_installed(home: &Home) -> bool {
    let status = home.reference_root().join("var/lib/dpkg/status");
    let Ok(status) = std::fs::read_to_string(status) else {
        return false;
    };
    REFERENCE_PACKAGES
        .iter()
        .all(|package| dpkg_status_installed(&status, package))
}

fn dpkg_status_installed(status: &str, package: &str) -> bool {
    status.split("\n\n").any(|stanza| {
        stanza
            .lines()
            .any(|line| line == format!("Package: {package}"))
            && stanza
                .lines()
                .any(|line| line == "Status: install ok installed")
    })
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

fn write_versions(home: &Home) -> Result<(), String> {
    let status_path = home.reference_root().join("var/lib/dpkg/status");
    let status = std::fs::read_to_string(&status_path)
        .map_err(|e| format!("cannot read {}: {e}", status_path.display()))?;
    let mut lines = vec![format!(
        "# reference stack: Debian {SUITE} chroot at {}",
        home.reference_root().display()
    )];
    for package in REFERENCE_PACKAGES
        .iter()
        .chain(&["libvirglrenderer1", "libllvm19", "libc6"])
    {
        let version = status
            .split("\n\n")
            .find(|stanza| {
                stanza
                    .lines()
                    .any(|line| line == format!("Package: {package}"))
            })
            .and_then(|stanza| {
                stanza
                    .lines()
                    .find_map(|line| line.strip_prefix("Version: "))
            })
            .unwrap_or("not installed");
        let line = format!("{package} {version}");
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines.push(String::new());
    std::fs::write(home.versions_file(), lines.join("\n"))
        .map_err(|e| format!("cannot write {}: {e}", home.versions_file().display()))
}
