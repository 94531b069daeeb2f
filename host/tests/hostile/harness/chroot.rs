//! Programs started inside the reference chroot (`$VENUS_RS_HOME/reference-root`, made by
//! `cargo xtask setup`), where lavapipe and Mesa's Venus live: each in a private mount
//! namespace with /dev, /proc, /sys and the given host folders bound at the same path, in a
//! process group of its own that is killed when the test lets go of it.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::process::{kill_process_group, Pid, Signal};

/// Lavapipe, the host's Vulkan driver, as the chroot names it.
pub const LAVAPIPE: &str = "/usr/share/vulkan/icd.d/lvp_icd.json";
/// Mesa's Venus ICD, the well-behaved guest.
pub const MESA_VENUS: &str = "/usr/share/vulkan/icd.d/virtio_icd.json";

pub fn venus_rs_home() -> PathBuf {
    match std::env::var_os("VENUS_RS_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            PathBuf::from(std::env::var_os("HOME").expect("neither VENUS_RS_HOME nor HOME is set"))
                .join(".cache/venus-rs")
        }
    }
}

pub fn reference_root() -> PathBuf {
    let root = venus_rs_home().join("reference-root");
    assert!(
        root.join(LAVAPIPE.trim_start_matches('/')).is_file(),
        "{} has no lavapipe: these tests need the reference chroot (`cargo xtask setup`, or set \
         VENUS_RS_HOME)",
        root.display()
    );
    root
}

/// A folder of its own under /tmp, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "venus-rs-hostile-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A program running inside the chroot; killed with its whole process group when dropped.
pub struct ChrootProcess {
    pub child: Child,
}

impl ChrootProcess {
    /// Starts `program args` inside the chroot with only `env` (and PATH, HOME) in its
    /// environment; stdout and stderr go to `log`.
    pub fn spawn(
        shared: &[&Path],
        env: &[(String, String)],
        program: &Path,
        args: &[String],
        log: &Path,
    ) -> ChrootProcess {
        let root = reference_root();
        let root_q = quote(&root.to_string_lossy());
        let mut script = format!(
            "set -e; mount --rbind /dev {root_q}/dev; mount -t proc proc {root_q}/proc; \
             mount --rbind /sys {root_q}/sys; "
        );
        for path in shared {
            let path = quote(&path.to_string_lossy());
            script.push_str(&format!(
                "mkdir -p {root_q}{path}; mount --bind {path} {root_q}{path}; "
            ));
        }
        script.push_str(&format!(
            "exec chroot {root_q} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root"
        ));
        for (key, value) in env {
            script.push(' ');
            script.push_str(&quote(&format!("{key}={value}")));
        }
        script.push(' ');
        script.push_str(&quote(&program.to_string_lossy()));
        for arg in args {
            script.push(' ');
            script.push_str(&quote(arg));
        }
        let log_file = File::create(log).expect("create a log file");
        let child = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "/bin/sh",
                "-c",
                &script,
            ])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone the log descriptor"))
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .expect("spawn unshare (util-linux)");
        ChrootProcess { child }
    }

    /// Whether the program has ended (and its status).
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("poll a child")
    }

    fn group(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32).expect("a child pid is never 0")
    }

    pub fn kill(&mut self) {
        let _ = kill_process_group(self.group(), Signal::KILL);
        let _ = self.child.wait();
    }
}

impl Drop for ChrootProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Removes the mount point a program made inside the chroot for `path`, once nothing runs
/// there any more. Never for a folder other programs still use: removing a mount point from
/// outside detaches it in every namespace that still has it mounted.
pub fn remove_mount_point(path: &Path) {
    let root = reference_root();
    let _ = std::fs::remove_dir(root.join(path.strip_prefix("/").unwrap_or(path)));
}

/// The folder of this workspace's debug binaries (the server under test, the test programs).
pub fn debug_binaries() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_venus-rs-vtest-server"))
        .parent()
        .expect("a binary has a folder")
        .to_path_buf()
}
