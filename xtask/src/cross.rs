//! Building the project's own guest-side binaries for a guest architecture. The rustup toolchain here has only
//! the x86_64 standard library, so aarch64 builds use Debian's `rustc-web` with its multiarch standard library
//! (`shared/notes/aarch64-cross.md`).

use crate::process::run_logged;
use std::path::{Path, PathBuf};
use std::process::Command;

const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_RUSTDOC: &str = "/usr/bin/rustdoc";
const AARCH64_LINKER: &str = "aarch64-linux-gnu-gcc";
const AARCH64_STD: &str = "/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib";
pub const AARCH64_TARGET: &str = "aarch64-unknown-linux-gnu";

pub fn aarch64_toolchain_present() -> bool {
    Path::new(DEBIAN_RUSTC).is_file()
        && Path::new(AARCH64_STD).is_dir()
        && crate::setup::find_in_path(AARCH64_LINKER).is_some()
}

/// Installs Debian's cross toolchain for aarch64 guests on the host (root; about 310 MB).
pub fn install_aarch64_toolchain(log: &Path) -> Result<(), String> {
    let mut command = Command::new("sh");
    command.arg("-c").arg(
        "export DEBIAN_FRONTEND=noninteractive; dpkg --add-architecture arm64 && apt-get update && \
         apt-get install -y --no-install-recommends rustc-web 'libstd-rust-web-dev:arm64' \
         gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
    );
    run_logged(&mut command, log)
        .map_err(|e| format!("cannot install the aarch64 cross toolchain: {e}"))
}

/// A `cargo build` for aarch64 with its own target directory: cargo fingerprints include the compiler version,
/// so sharing the native target directory would rebuild everything each time.
pub fn aarch64_cargo_build(workspace: &Path) -> (Command, PathBuf) {
    let target_dir = workspace.join("target/aarch64");
    let mut command = crate::test::cargo();
    command
        .current_dir(workspace)
        .env("RUSTC", DEBIAN_RUSTC)
        .env("RUSTDOC", DEBIAN_RUSTDOC)
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
            AARCH64_LINKER,
        )
        .args([
            "build",
            "--release",
            "--target",
            AARCH64_TARGET,
            "--target-dir",
        ])
        .arg(&target_dir);
    (command, target_dir.join(AARCH64_TARGET).join("release"))
}
