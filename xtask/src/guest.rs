//! The guest images of the test bench: Debian trixie (x86_64 and aarch64) packed as one initramfs each, with an
//! init of ours that runs one command handed in by the host per boot. Each reference stack has its own images:
//! they are downloaded with that stack's apt sources and pins, so they carry its Mesa.
//!
//! No arm64 code may run on the host (no binfmt_misc), so no maintainer script ever runs: the reference chroot's
//! apt resolves and downloads the package closure with a private configuration for the guest architecture, and
//! every package is unpacked with `dpkg-deb | tar` into a merged-/usr tree. x86_64 takes the same path.

mod cpio;
mod prune;

use crate::env::{in_reference_root, shell_quote, Home};
use crate::process::{run_logged, Step};
use cpio::{CpioWriter, Stamp};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestArch {
    X86_64,
    Aarch64,
}

impl GuestArch {
    /// The name `uname -m` prints in the guest.
    pub fn name(self) -> &'static str {
        match self {
            GuestArch::X86_64 => "x86_64",
            GuestArch::Aarch64 => "aarch64",
        }
    }

    fn debian_arch(self) -> &'static str {
        match self {
            GuestArch::X86_64 => "amd64",
            GuestArch::Aarch64 => "arm64",
        }
    }

    fn multiarch_dir(self) -> &'static str {
        match self {
            GuestArch::X86_64 => "usr/lib/x86_64-linux-gnu",
            GuestArch::Aarch64 => "usr/lib/aarch64-linux-gnu",
        }
    }

    /// The kernel's name for the serial port QEMU connects (8250 on q35, PL011 on virt).
    pub fn serial_console(self) -> &'static str {
        match self {
            GuestArch::X86_64 => "ttyS0",
            GuestArch::Aarch64 => "ttyAMA0",
        }
    }
}

pub struct GuestImage {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// What the guest runs, beyond the kernel. `dash`, `coreutils`, `mount` and `kmod` serve init.
/// `xvfb` and `weston` are the window systems vkcube, vkmark and the presentation tests draw on.
const PACKAGES: &[&str] = &[
    "libvulkan1",
    "vulkan-tools",
    "mesa-vulkan-drivers",
    "vkmark",
    "xvfb",
    "weston",
    "dash",
    "coreutils",
    "mount",
    "kmod",
];

/// Bump when a build step changes what an image contains, so that existing images are rebuilt.
const IMAGE_LAYOUT: u32 = 6;

/// The only Vulkan driver the guests use from Mesa: Venus. The others (lavapipe, radv, ...) go with their
/// manifests; what only they need (LLVM, z3, gallium) is then unreachable and pruned (see `prune`).
const KEPT_ICD_LIBRARY: &str = "libvulkan_virtio.so";
const UNUSED_DATA: &[&str] = &[
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/bug",
];
/// virtio_pci is built in on some kernels; modprobe handles both cases.
const KEPT_MODULES: &[&str] = &["virtio_pci", "virtio_gpu"];

/// What init needs from the image; checked after unpacking, since no package manager vouches for the tree.
const INIT_TOOLS: &[&str] = &[
    "usr/bin/sh",
    "usr/bin/mount",
    "usr/bin/mkdir",
    "usr/bin/mv",
    "usr/bin/sleep",
    "usr/bin/env",
    "usr/bin/stty",
    "usr/sbin/modprobe",
];

/// A build takes about a minute; a lock held far longer belongs to a stuck process.
const BUILD_LOCK_LIMIT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Where the per-run archive puts the command (see `write_boot_initrd`).
const RUN_DIR: &str = "venus-rs";
const MARKER: &str = "venus-rs-guest";

/// PID 1. Everything between the start and the exit marker on the console is the program's output.
const INIT_SCRIPT: &str = r#"#!/bin/sh
# PID 1 of the venus-rs test guests (written by `cargo xtask`). The host appends a cpio archive per boot
# holding /venus-rs/run-id and /venus-rs/run.sh; this script runs that command once and powers off.
export PATH=/usr/sbin:/usr/bin
export HOME=/root

power_off() {
    # The console's transmit buffer must drain first: the kernel prints its shutdown messages past it and
    # powers off before it empties. stty sets the console with TCSADRAIN, which waits for that.
    stty -F /dev/console onlcr
    # Should even this fail, PID 1 exits: the kernel panics and QEMU (panic=1, -no-reboot) ends.
    echo o > /proc/sysrq-trigger || exit 1
    # A `sleep` here would start a new process while the kernel shuts down; a builtin loop cannot fail.
    while :; do :; done
}

run_id=none
[ -r /venus-rs/run-id ] && read -r run_id < /venus-rs/run-id

fail() {
    echo "venus-rs-guest $run_id error $*"
    power_off
}

mount -t proc proc /proc || fail "cannot mount /proc"
mount -t sysfs sysfs /sys || fail "cannot mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "cannot mount /dev"
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts || fail "cannot mount /dev/pts"
mount -t tmpfs tmpfs /dev/shm || fail "cannot mount /dev/shm"
mount -t tmpfs tmpfs /tmp || fail "cannot mount /tmp"
mount -t tmpfs tmpfs /run || fail "cannot mount /run"

[ -r /venus-rs/run.sh ] || fail "no command was handed in (boot this image with a per-run archive appended)"

modprobe -a virtio_pci virtio_gpu || fail "modprobe virtio_gpu failed"
tenths=0
while [ ! -e /dev/dri/renderD128 ]; do
    [ "$tenths" -ge 300 ] && fail "/dev/dri/renderD128 did not appear within 30 s after modprobe virtio_gpu"
    sleep 0.1
    tenths=$((tenths + 1))
done

# The window systems every program finds (run.sh exports DISPLAY=:0 and WAYLAND_DISPLAY=wayland-0): Xvfb
# and headless weston, both in the background; a program that needs neither does not wait for them long.
export XDG_RUNTIME_DIR=/tmp
# -noreset: an X server resets when its last client leaves and refuses connections meanwhile, so a
# program started right after another one ended (a soak) failed to connect now and then.
Xvfb :0 -noreset -nolisten tcp -screen 0 1280x800x24 > /tmp/xvfb.log 2>&1 &
weston --backend=headless --renderer=pixman --shell=kiosk --width=1280 --height=800 --idle-time=0 \
    --socket=wayland-0 --log=/tmp/weston.log > /dev/null 2>&1 &
tenths=0
while [ ! -S /tmp/.X11-unix/X0 ] || [ ! -S /tmp/wayland-0 ]; do
    if [ "$tenths" -ge 600 ]; then
        echo "venus-rs-guest note: the window systems did not start within 60 s (/tmp/xvfb.log, /tmp/weston.log)"
        break
    fi
    sleep 0.1
    tenths=$((tenths + 1))
done

# What the program leaves in /venus-rs/out goes to the host through the console, base64-encoded.
mkdir -p /venus-rs/out
echo "venus-rs-guest $run_id start"
/bin/sh /venus-rs/run.sh < /dev/null
status=$?
for file in /venus-rs/out/*; do
    [ -f "$file" ] || continue
    echo "venus-rs-guest $run_id file ${file##*/}"
    base64 "$file"
    echo "venus-rs-guest $run_id end-file"
done
echo "venus-rs-guest $run_id exit $status"
power_off
"#;

fn guest_dir(home: &Home, arch: GuestArch) -> PathBuf {
    home.guests_dir().join(arch.name())
}

fn image_of(dir: &Path) -> GuestImage {
    GuestImage {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
    }
}

/// Everything an image is made from; each finished step records it, and a step whose record matches is skipped.
fn recipe(home: &Home, arch: GuestArch) -> String {
    format!(
        "layout {IMAGE_LAYOUT}\n{}arch {}\npackages {} + kernel of linux-image-{}\nkept modules {}\ninit:\n{INIT_SCRIPT}",
        crate::setup::reference_recipe(home.reference()),
        arch.debian_arch(),
        PACKAGES.join(" "),
        arch.debian_arch(),
        KEPT_MODULES.join(" "),
    )
}

/// The steps in order; redoing one invalidates the ones after it.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Stage {
    Download,
    Rootfs,
    Image,
}

impl Stage {
    const ALL: [Stage; 3] = [Stage::Download, Stage::Rootfs, Stage::Image];

    fn stamp(self, dir: &Path) -> PathBuf {
        dir.join(match self {
            Stage::Download => "download.done",
            Stage::Rootfs => "rootfs.done",
            Stage::Image => "image.done",
        })
    }

    fn is_done(self, dir: &Path, recipe: &str) -> bool {
        std::fs::read_to_string(self.stamp(dir)).is_ok_and(|text| text == recipe)
    }

    fn invalidate_from(self, dir: &Path) -> Result<(), String> {
        for stage in Stage::ALL.into_iter().filter(|stage| *stage >= self) {
            remove_if_present(&stage.stamp(dir))?;
        }
        Ok(())
    }

    fn mark_done(self, dir: &Path, recipe: &str) -> Result<(), String> {
        write_file(&self.stamp(dir), recipe.as_bytes())
    }
}

/// Builds (or finds complete) the guest image for `arch` under `guests_dir()/<arch>/`.
pub fn build_guest(home: &Home, arch: GuestArch) -> Result<GuestImage, String> {
    home.require_reference()?;
    let dir = guest_dir(home, arch);
    create_dir(&dir)?;
    let _lock = lock_build(arch, &dir)?;
    let logs = home
        .dir()
        .join("logs")
        .join(format!("guests-{}", home.reference().name()));
    create_dir(&logs)?;
    let recipe = recipe(home, arch);
    let name = format!("{} {}", home.reference().name(), arch.name());

    let step = Step::start(&format!("{name} guest: download the Debian packages"));
    if Stage::Download.is_done(&dir, &recipe) {
        step.done("already downloaded");
    } else {
        Stage::Download.invalidate_from(&dir)?;
        let count = download_packages(home, arch, &dir, &logs)?;
        Stage::Download.mark_done(&dir, &recipe)?;
        step.done(&format!("{count} packages"));
    }

    let step = Step::start(&format!(
        "{name} guest: unpack and trim the root file system"
    ));
    if Stage::Rootfs.is_done(&dir, &recipe) {
        step.done("already there");
    } else {
        Stage::Rootfs.invalidate_from(&dir)?;
        let detail = assemble_rootfs(home, arch, &dir, &logs)?;
        Stage::Rootfs.mark_done(&dir, &recipe)?;
        step.done(&detail);
    }

    let step = Step::start(&format!("{name} guest: pack the initramfs"));
    let image = image_of(&dir);
    if Stage::Image.is_done(&dir, &recipe) && image.kernel.is_file() && image.initrd.is_file() {
        step.done("already packed");
    } else {
        Stage::Image.invalidate_from(&dir)?;
        pack_initramfs(&dir.join("rootfs"), &image.initrd)?;
        Stage::Image.mark_done(&dir, &recipe)?;
        let size = std::fs::metadata(&image.initrd)
            .map(|m| m.len())
            .unwrap_or(0);
        step.done(&format!("{} ({} MiB)", image.initrd.display(), size >> 20));
    }
    Ok(image)
}

/// Two builds of one image (parallel tests, two terminals) would delete each other's files.
fn lock_build(arch: GuestArch, dir: &Path) -> Result<std::fs::File, String> {
    use rustix::fs::{flock, FlockOperation};
    let path = dir.join("build.lock");
    let file = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let deadline = std::time::Instant::now() + BUILD_LOCK_LIMIT;
    let mut announced = false;
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK) if std::time::Instant::now() < deadline => {
                if !announced {
                    println!(
                        "[setup] {} guest: waiting for another build of it to finish",
                        arch.name()
                    );
                    announced = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(format!(
                    "another build of the {} guest held {} for {} minutes; is it stuck?",
                    arch.name(),
                    path.display(),
                    BUILD_LOCK_LIMIT.as_secs() / 60
                ))
            }
            Err(e) => return Err(format!("cannot lock {}: {e}", path.display())),
        }
    }
}

/// The image built by `build_guest`, if it is complete and made from the current recipe.
pub fn existing_guest(home: &Home, arch: GuestArch) -> Result<GuestImage, String> {
    let dir = guest_dir(home, arch);
    let image = image_of(&dir);
    if Stage::Image.is_done(&dir, &recipe(home, arch))
        && image.kernel.is_file()
        && image.initrd.is_file()
    {
        Ok(image)
    } else {
        Err(format!(
            "the {} guest image of the {} reference stack in {} is missing or out of date: \
             run `cargo xtask setup --guests`",
            arch.name(),
            home.reference().name(),
            dir.display()
        ))
    }
}

fn apt_dir(dir: &Path) -> PathBuf {
    dir.join("apt")
}

fn archives_dir(dir: &Path) -> PathBuf {
    apt_dir(dir).join("cache/archives")
}

/// Writes apt's configuration for the guest architecture: its own state and cache (an empty package database, so
/// apt resolves the whole closure), the chroot's sources and keys.
fn write_apt_config(arch: GuestArch, dir: &Path) -> Result<PathBuf, String> {
    let apt = apt_dir(dir);
    for sub in ["state/lists/partial", "cache/archives/partial"] {
        create_dir(&apt.join(sub))?;
    }
    write_file(&apt.join("state/status"), b"")?;
    let config = apt.join("apt.conf");
    let text = format!(
        "Dir::State \"{state}\";\n\
         Dir::State::status \"{state}/status\";\n\
         Dir::Cache \"{cache}\";\n\
         APT::Architecture \"{arch}\";\n\
         APT::Architectures {{ \"{arch}\"; }};\n\
         APT::Install-Recommends \"false\";\n\
         Acquire::Languages \"none\";\n\
         APT::Sandbox::User \"root\";\n",
        state = apt.join("state").display(),
        cache = apt.join("cache").display(),
        arch = arch.debian_arch(),
    );
    write_file(&config, text.as_bytes())?;
    Ok(config)
}

fn download_packages(
    home: &Home,
    arch: GuestArch,
    dir: &Path,
    logs: &Path,
) -> Result<usize, String> {
    let apt = apt_dir(dir);
    remove_if_present(&apt)?;
    let config = write_apt_config(arch, dir)?;
    let config = config.to_string_lossy().into_owned();
    let log = logs.join(format!("guest-{}-apt.log", arch.name()));
    let archives = archives_dir(dir);
    let shared = [apt.as_path()];

    let mut script = format!(
        "set -e; apt-get -c {config} -q update; apt-get -c {config} -q -y --download-only install",
        config = shell_quote(&config)
    );
    for package in PACKAGES {
        script.push(' ');
        script.push_str(package);
    }
    let mut command = in_reference_root(home, &shared, &[], "/bin/sh", &["-c".into(), script]);
    run_logged(&mut command, &log).map_err(|e| {
        format!(
            "downloading the {} guest packages failed: {e}\n  (the mirror in the reference chroot's apt sources must carry {})",
            arch.name(),
            arch.debian_arch()
        )
    })?;

    // The kernel alone: its dependencies (initramfs-tools, udev, ...) would only serve a booting Debian system.
    let kernel = kernel_package(home, arch, &config, &shared)?;
    let script = format!(
        "cd {} && apt-get -c {} -q download {}",
        shell_quote(&archives.to_string_lossy()),
        shell_quote(&config),
        shell_quote(&kernel)
    );
    let mut command = in_reference_root(home, &shared, &[], "/bin/sh", &["-c".into(), script]);
    run_logged(
        &mut command,
        &logs.join(format!("guest-{}-kernel.log", arch.name())),
    )
    .map_err(|e| format!("downloading {kernel} failed: {e}"))?;
    Ok(debs(&archives)?.len())
}

/// The versioned kernel package that `linux-image-<arch>` currently points at.
fn kernel_package(
    home: &Home,
    arch: GuestArch,
    config: &str,
    shared: &[&Path],
) -> Result<String, String> {
    let metapackage = format!("linux-image-{}", arch.debian_arch());
    let args: Vec<String> = [
        "-c",
        config,
        "depends",
        "--no-recommends",
        "--no-suggests",
        "--no-conflicts",
        "--no-breaks",
        "--no-replaces",
        "--no-enhances",
        &metapackage,
    ]
    .map(String::from)
    .to_vec();
    let output = in_reference_root(home, shared, &[], "apt-cache", &args)
        .output()
        .map_err(|e| format!("cannot run apt-cache: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "apt-cache depends {metapackage} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("Depends: "))
        .find(|package| package.starts_with("linux-image-"))
        .map(str::to_string)
        .ok_or_else(|| format!("{metapackage} names no kernel package; apt-cache said:\n{text}"))
}

fn debs(archives: &Path) -> Result<Vec<PathBuf>, String> {
    let mut debs: Vec<PathBuf> = std::fs::read_dir(archives)
        .map_err(|e| format!("cannot list {}: {e}", archives.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .collect();
    debs.sort();
    Ok(debs)
}

/// Unpacks every package, removes what the guests never use, keeps only the kernel modules virtio-gpu needs
/// and installs init. Returns a summary for the progress line.
fn assemble_rootfs(
    home: &Home,
    arch: GuestArch,
    dir: &Path,
    logs: &Path,
) -> Result<String, String> {
    let rootfs = dir.join("rootfs");
    remove_if_present(&rootfs)?;
    for sub in ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64"] {
        create_dir(&rootfs.join(sub))?;
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(target, rootfs.join(link)).map_err(|e| {
            format!(
                "cannot create the symlink {link} in {}: {e}",
                rootfs.display()
            )
        })?;
    }

    let debs = debs(&archives_dir(dir))?;
    let script = format!(
        "set -eo pipefail; for deb in \"$@\"; do dpkg-deb --fsys-tarfile \"$deb\" | tar -x --keep-directory-symlink -C {}; done",
        shell_quote(&rootfs.to_string_lossy())
    );
    let mut args = vec!["-c".to_string(), script, "unpack".to_string()];
    args.extend(debs.iter().map(|deb| deb.to_string_lossy().into_owned()));
    let mut command = in_reference_root(home, &[dir], &[], "/bin/bash", &args);
    run_logged(
        &mut command,
        &logs.join(format!("guest-{}-unpack.log", arch.name())),
    )
    .map_err(|e| format!("unpacking the {} guest packages failed: {e}", arch.name()))?;

    let removed_drivers = remove_unused_drivers(arch, &rootfs)?;
    let pruned = prune::prune_unreachable_libraries(&rootfs, arch.multiarch_dir())?;
    for path in UNUSED_DATA {
        remove_if_present(&rootfs.join(path))?;
    }
    let kernel_version = kernel_version(&rootfs)?;
    move_file(
        &rootfs.join(format!("boot/vmlinuz-{kernel_version}")),
        &dir.join("vmlinuz"),
    )?;
    remove_if_present(&rootfs.join("boot"))?;
    // Device trees of real arm64 boards (56 MiB); QEMU's virt machine hands the kernel its own.
    remove_if_present(&rootfs.join(format!("usr/lib/linux-image-{kernel_version}")))?;
    let modules = trim_modules(home, &rootfs, &kernel_version, logs)?;

    for sub in ["proc", "sys", "dev", "tmp", "run", "root"] {
        create_dir(&rootfs.join(sub))?;
    }
    create_dir(&rootfs.join(RUN_DIR))?;
    write_file(&rootfs.join("init"), INIT_SCRIPT.as_bytes())?;
    set_mode(&rootfs.join("init"), 0o755)?;
    let missing: Vec<&str> = INIT_TOOLS
        .iter()
        .copied()
        .filter(|tool| !rootfs.join(tool).exists())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the {} guest lacks what init needs: {} (in {})",
            arch.name(),
            missing.join(", "),
            rootfs.display()
        ));
    }
    Ok(format!(
        "{} packages, kernel {kernel_version} with {modules} modules, removed drivers: {}; \
         {} shared objects kept, {} unreachable ones removed ({} MiB)",
        debs.len(),
        removed_drivers.join(" "),
        pruned.kept,
        pruned.removed,
        pruned.removed_bytes >> 20
    ))
}

/// Removes every Vulkan ICD but Venus, with its library, and the libraries only those drivers load.
fn remove_unused_drivers(arch: GuestArch, rootfs: &Path) -> Result<Vec<String>, String> {
    let icd_dir = rootfs.join("usr/share/vulkan/icd.d");
    let libraries = rootfs.join(arch.multiarch_dir());
    let mut removed = Vec::new();
    let entries = std::fs::read_dir(&icd_dir)
        .map_err(|e| format!("cannot list {}: {e}", icd_dir.display()))?;
    for entry in entries {
        let manifest = entry
            .map_err(|e| format!("{}: {e}", icd_dir.display()))?
            .path();
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", manifest.display()))?;
        let library = json["ICD"]["library_path"]
            .as_str()
            .ok_or_else(|| format!("{} has no ICD.library_path", manifest.display()))?;
        let file_name = Path::new(library)
            .file_name()
            .ok_or_else(|| format!("{}: bad library_path {library:?}", manifest.display()))?;
        if file_name == KEPT_ICD_LIBRARY {
            continue;
        }
        remove_if_present(&manifest)?;
        remove_if_present(&libraries.join(file_name))?;
        removed.push(file_name.to_string_lossy().into_owned());
    }
    if !libraries.join(KEPT_ICD_LIBRARY).is_file() {
        return Err(format!(
            "Mesa's Venus driver {KEPT_ICD_LIBRARY} is missing from {}",
            libraries.display()
        ));
    }
    removed.sort();
    Ok(removed)
}

fn kernel_version(rootfs: &Path) -> Result<String, String> {
    let modules = rootfs.join("usr/lib/modules");
    let versions: Vec<String> = std::fs::read_dir(&modules)
        .map_err(|e| {
            format!(
                "no kernel modules in the guest ({}): {e}",
                modules.display()
            )
        })?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    match versions.as_slice() {
        [version] => Ok(version.clone()),
        _ => Err(format!(
            "expected exactly one kernel in {}, found {versions:?}",
            modules.display()
        )),
    }
}

/// Keeps only the modules that `modprobe virtio_gpu` loads (and virtio_pci where it is a module), then rebuilds
/// the module index. depmod and modprobe only read files, so the chroot's x86_64 kmod serves both architectures.
fn trim_modules(home: &Home, rootfs: &Path, version: &str, logs: &Path) -> Result<usize, String> {
    let root = rootfs.to_string_lossy().into_owned();
    let depmod = |log_name: &str| -> Result<(), String> {
        let mut command = in_reference_root(
            home,
            &[rootfs],
            &[],
            "depmod",
            &["-b".into(), root.clone(), version.into()],
        );
        run_logged(&mut command, &logs.join(log_name)).map_err(|e| {
            format!("depmod for the guest kernel failed: {e} (is kmod in the reference chroot?)")
        })
    };
    depmod("guest-depmod.log")?;

    let mut args = vec![
        "-d".to_string(),
        root.clone(),
        "-S".into(),
        version.into(),
        "--show-depends".into(),
        "-a".into(),
    ];
    args.extend(KEPT_MODULES.iter().map(|module| module.to_string()));
    let output = in_reference_root(home, &[rootfs], &[], "modprobe", &args)
        .output()
        .map_err(|e| format!("cannot run modprobe in the reference chroot: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "modprobe --show-depends {} failed ({}): {}",
            KEPT_MODULES.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let listing = String::from_utf8_lossy(&output.stdout);
    let mut kept = Vec::new();
    for line in listing.lines() {
        let Some(path) = line.trim().strip_prefix("insmod ") else {
            continue;
        };
        let relative = Path::new(path.trim())
            .strip_prefix(rootfs)
            .map_err(|_| format!("modprobe named a module outside the guest: {path}"))?;
        let real = rootfs.join(relative);
        let bytes =
            std::fs::read(&real).map_err(|e| format!("cannot read {}: {e}", real.display()))?;
        let under_kernel = relative
            .components()
            .skip_while(|component| component.as_os_str() != "kernel")
            .skip(1)
            .collect::<PathBuf>();
        if under_kernel.as_os_str().is_empty() {
            return Err(format!(
                "modprobe named a module outside the kernel/ tree: {path}"
            ));
        }
        kept.push((under_kernel, bytes));
    }
    if kept.is_empty() {
        return Err(format!(
            "modprobe listed no module to load for virtio_gpu:\n{listing}"
        ));
    }
    let kernel_dir = rootfs.join("usr/lib/modules").join(version).join("kernel");
    remove_if_present(&kernel_dir)?;
    for (path, bytes) in &kept {
        let destination = kernel_dir.join(path);
        if let Some(parent) = destination.parent() {
            create_dir(parent)?;
        }
        write_file(&destination, bytes)?;
    }
    depmod("guest-depmod.log")?;
    Ok(kept.len())
}

fn pack_initramfs(rootfs: &Path, initrd: &Path) -> Result<(), String> {
    let partial = initrd.with_extension("img.partial");
    let file = std::fs::File::create(&partial)
        .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let mut writer = CpioWriter::new(BufWriter::with_capacity(1 << 20, file));
    writer
        .tree(rootfs)
        .and_then(|()| writer.char_device("dev/console", 0o600, (5, 1)))
        .and_then(|()| writer.finish())
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    move_file(&partial, initrd)
}

/// What the guest runs in one boot.
pub struct GuestCommand<'a> {
    pub program: &'a [String],
    pub env: &'a [(String, String)],
    /// Host file -> absolute path in the guest.
    pub payload: &'a [(PathBuf, String)],
}

/// What init and the per-run script print on the console, recognised by the run's id so that program output
/// cannot be mistaken for it.
#[derive(Debug, PartialEq)]
pub enum GuestEvent {
    Started,
    Exited(i32),
    Failed(String),
    /// A file the program left in [`GUEST_OUT_DIR`] follows, base64-encoded, until [`GuestEvent::FileEnd`].
    FileStart(String),
    FileEnd,
}

/// Where a guest program leaves files for the host; they land in the run folder's `out/`.
pub const GUEST_OUT_DIR: &str = "/venus-rs/out";

pub struct Markers {
    prefix: String,
}

impl Markers {
    /// Finds a marker in one console line; returns the text before it (program output without a final newline)
    /// and the event.
    pub fn find<'l>(&self, line: &'l str) -> Option<(&'l str, GuestEvent)> {
        let at = line.find(&self.prefix)?;
        let rest = &line[at + self.prefix.len()..];
        let event = if rest == "start" {
            GuestEvent::Started
        } else if let Some(status) = rest.strip_prefix("exit ") {
            GuestEvent::Exited(status.trim().parse().ok()?)
        } else if let Some(message) = rest.strip_prefix("error ") {
            GuestEvent::Failed(message.to_string())
        } else if let Some(name) = rest.strip_prefix("file ") {
            GuestEvent::FileStart(name.trim().to_string())
        } else if rest == "end-file" {
            GuestEvent::FileEnd
        } else {
            return None;
        };
        Some((&line[..at], event))
    }
}

/// Writes `destination`: the image's initramfs followed by a small archive holding this run's command,
/// environment and payload. Returns the markers of this run.
pub fn write_boot_initrd(
    image: &GuestImage,
    command: &GuestCommand,
    destination: &Path,
) -> Result<Markers, String> {
    let run_id = random_id()?;
    let markers = Markers {
        prefix: format!("{MARKER} {run_id} "),
    };
    let script = run_script(command, &markers)?;
    std::fs::copy(&image.initrd, destination).map_err(|e| {
        format!(
            "cannot copy {} to {}: {e}",
            image.initrd.display(),
            destination.display()
        )
    })?;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(destination)
        .map_err(|e| format!("cannot open {}: {e}", destination.display()))?;
    write_run_archive(
        CpioWriter::new(BufWriter::new(file)),
        &run_id,
        &script,
        command.payload,
    )
    .map_err(|e| {
        format!(
            "cannot write the run archive into {}: {e}",
            destination.display()
        )
    })?;
    Ok(markers)
}

fn write_run_archive<W: Write>(
    mut writer: CpioWriter<W>,
    run_id: &str,
    script: &str,
    payload: &[(PathBuf, String)],
) -> std::io::Result<()> {
    writer.directory(RUN_DIR, 0o755, Stamp::default())?;
    writer.file_from_memory(
        &format!("{RUN_DIR}/run-id"),
        0o644,
        format!("{run_id}\n").as_bytes(),
    )?;
    writer.file_from_memory(&format!("{RUN_DIR}/run.sh"), 0o755, script.as_bytes())?;
    writer.directory(&format!("{RUN_DIR}/payload"), 0o755, Stamp::default())?;
    for (index, (source, _)) in payload.iter().enumerate() {
        writer.file_from_disk(
            &format!("{RUN_DIR}/payload/{index}"),
            source,
            Stamp::default(),
        )?;
    }
    writer.finish().map(drop)
}

/// The per-run script: puts the payload in place (the archive cannot: unpacking a directory entry over one of
/// the image's merged-/usr symlinks would replace the symlink), then execs the program with exactly its
/// environment.
fn run_script(command: &GuestCommand, markers: &Markers) -> Result<String, String> {
    let program = command
        .program
        .first()
        .ok_or("no program to run in the guest")?;
    if program.is_empty() || program.contains('=') {
        return Err(format!(
            "{program:?} cannot be run in the guest: a program name must be non-empty and contain no '='"
        ));
    }
    if command.program.iter().any(|arg| arg.contains('\0')) {
        return Err("a guest program argument contains a NUL byte".into());
    }
    let mut script = String::from("# One guest run, written by `cargo xtask`.\n");
    for (index, (source, guest_path)) in command.payload.iter().enumerate() {
        let path = Path::new(guest_path);
        let valid = path.is_absolute()
            && path.file_name().is_some()
            && !path
                .components()
                .any(|c| c == std::path::Component::ParentDir);
        if !valid {
            return Err(format!(
                "payload {}: the guest path {guest_path:?} must be an absolute file path without '..'",
                source.display()
            ));
        }
        if !source.is_file() {
            return Err(format!(
                "payload {} is not a readable file",
                source.display()
            ));
        }
        let parent = path.parent().unwrap_or(Path::new("/"));
        let failure = format!(
            "{}error cannot place the payload file {guest_path}",
            markers.prefix
        );
        script.push_str(&format!(
            "mkdir -p {} && mv /{RUN_DIR}/payload/{index} {} || {{ echo {}; exit 125; }}\n",
            shell_quote(&parent.to_string_lossy()),
            shell_quote(guest_path),
            shell_quote(&failure)
        ));
    }
    script.push_str("cd /root || exit 125\nexec /usr/bin/env -i --");
    // The window systems init starts (see INIT_SCRIPT).
    let defaults = [
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"),
        ("HOME", "/root"),
        ("TERM", "linux"),
        ("XDG_RUNTIME_DIR", "/tmp"),
        ("DISPLAY", ":0"),
        ("WAYLAND_DISPLAY", "wayland-0"),
    ];
    let env = defaults
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .chain(command.env.iter().cloned());
    for (key, value) in env {
        if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
            return Err(format!(
                "invalid guest environment variable {key:?}={value:?}"
            ));
        }
        script.push(' ');
        script.push_str(&shell_quote(&format!("{key}={value}")));
    }
    for arg in command.program {
        script.push(' ');
        script.push_str(&shell_quote(arg));
    }
    script.push('\n');
    Ok(script)
}

fn random_id() -> Result<String, String> {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn create_dir(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::File::create(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

fn move_file(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::rename(from, to)
        .map_err(|e| format!("cannot move {} to {}: {e}", from.display(), to.display()))
}

/// Removes a file, symlink or whole directory; absent is fine.
fn remove_if_present(path: &Path) -> Result<(), String> {
    let result = match path.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(metadata) if metadata.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    result.map_err(|e| format!("cannot remove {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn markers() -> Markers {
        Markers {
            prefix: format!("{MARKER} 0123abcd "),
        }
    }

    #[test]
    fn markers_are_found_after_unterminated_program_output() {
        let markers = markers();
        assert_eq!(
            markers.find("venus-rs-guest 0123abcd start"),
            Some(("", GuestEvent::Started))
        );
        assert_eq!(
            markers.find("no newline herevenus-rs-guest 0123abcd exit 3"),
            Some(("no newline here", GuestEvent::Exited(3)))
        );
        assert_eq!(
            markers.find("venus-rs-guest 0123abcd error cannot mount /proc"),
            Some(("", GuestEvent::Failed("cannot mount /proc".into())))
        );
        assert_eq!(markers.find("venus-rs-guest ffffffff exit 0"), None);
        assert_eq!(markers.find("venus-rs-guest 0123abcd exit x"), None);
        assert_eq!(
            markers.find("venus-rs-guest 0123abcd file demo.png"),
            Some(("", GuestEvent::FileStart("demo.png".into())))
        );
        assert_eq!(
            markers.find("venus-rs-guest 0123abcd end-file"),
            Some(("", GuestEvent::FileEnd))
        );
    }

    #[test]
    fn run_script_places_payload_and_quotes_everything() {
        let payload_file = std::env::current_exe().unwrap();
        let program = vec![
            "sh".to_string(),
            "-c".to_string(),
            "echo 'hi' $X".to_string(),
        ];
        let env = vec![("X".to_string(), "a b".to_string())];
        let payload = vec![(payload_file, "/usr/lib/venus-rs/tool".to_string())];
        let command = GuestCommand {
            program: &program,
            env: &env,
            payload: &payload,
        };
        let script = run_script(&command, &markers()).unwrap();
        assert!(script.contains(
            "mkdir -p /usr/lib/venus-rs && mv /venus-rs/payload/0 /usr/lib/venus-rs/tool"
        ));
        assert!(script.ends_with(
            "exec /usr/bin/env -i -- PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin HOME=/root TERM=linux \
             XDG_RUNTIME_DIR=/tmp DISPLAY=:0 WAYLAND_DISPLAY=wayland-0 'X=a b' sh -c 'echo '\\''hi'\\'' $X'\n"
        ));
    }

    #[test]
    fn run_script_rejects_bad_input() {
        let program = vec!["true".to_string()];
        let bad_env = vec![("A=B".to_string(), "c".to_string())];
        let command = GuestCommand {
            program: &program,
            env: &bad_env,
            payload: &[],
        };
        assert!(run_script(&command, &markers()).is_err());
        let relative = vec![(std::env::current_exe().unwrap(), "usr/bin/x".to_string())];
        let command = GuestCommand {
            program: &program,
            env: &[],
            payload: &relative,
        };
        assert!(run_script(&command, &markers()).is_err());
        let command = GuestCommand {
            program: &[],
            env: &[],
            payload: &[],
        };
        assert!(run_script(&command, &markers()).is_err());
    }
}
