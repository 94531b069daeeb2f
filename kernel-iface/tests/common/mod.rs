//! A real `virgl_test_server --venus` from the reference chroot (`$VENUS_RS_HOME/reference-root`, made by
//! `cargo xtask setup`), started per test in its own socket directory and killed with its whole process
//! group when the test ends.

// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, Pid, Signal};
use venus_rs_kernel_iface::vtest::VtestOptions;
use venus_rs_kernel_iface::AlignmentChoice;

const HOST_DRIVER_FILES: &str = "/usr/share/vulkan/icd.d/lvp_icd.json";

pub fn venus_rs_home() -> PathBuf {
    match std::env::var_os("VENUS_RS_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME").expect("neither VENUS_RS_HOME nor HOME is set");
            PathBuf::from(home).join(".cache/venus-rs")
        }
    }
}

/// A directory of its own under /tmp, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "venus-rs-kiface-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
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

pub struct VtestServer {
    child: Child,
    root: PathBuf,
    dir: TempDir,
    socket: PathBuf,
    log: PathBuf,
}

impl VtestServer {
    /// Starts the server and waits for its socket. Panics with the reason when the chroot is missing or
    /// the server does not come up: these tests exist to run against the real server, never to skip.
    pub fn start() -> VtestServer {
        // The newest stack's chroot, or trixie's with VENUS_RS_REFERENCE=trixie.
        let root = venus_rs_home().join(match std::env::var("VENUS_RS_REFERENCE").as_deref() {
            Ok("trixie") => "reference-root-trixie",
            _ => "reference-root",
        });
        let server_binary = root.join("usr/bin/virgl_test_server");
        assert!(
            server_binary.is_file(),
            "{} is missing: these tests need the reference chroot with virglrenderer's vtest server; \
             run `cargo xtask setup` (or set VENUS_RS_HOME to where it was installed)",
            server_binary.display()
        );
        assert!(
            root.join(HOST_DRIVER_FILES.trim_start_matches('/'))
                .is_file(),
            "{}{HOST_DRIVER_FILES} is missing: the chroot has no lavapipe for the server",
            root.display()
        );

        let dir = TempDir::new("vtest");
        let socket = dir.path().join("vtest.sock");
        let log = dir.path().join("server.log");
        let quoted = |path: &Path| format!("'{}'", path.display());
        let (root_q, dir_q, socket_q) = (quoted(&root), quoted(dir.path()), quoted(&socket));
        let script = format!(
            "set -e; mount --rbind /dev {root_q}/dev; mount -t proc proc {root_q}/proc; \
             mount --rbind /sys {root_q}/sys; mkdir -p {root_q}{dir_q}; mount --bind {dir_q} {root_q}{dir_q}; \
             exec chroot {root_q} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
             VK_DRIVER_FILES={HOST_DRIVER_FILES} virgl_test_server --venus --no-virgl --multi-clients \
             --socket-path {socket_q}"
        );
        let log_file = File::create(&log).expect("create the server log");
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
            .stdout(log_file.try_clone().expect("clone the log fd"))
            .stderr(log_file)
            // Its own process group, so that the render server it forks dies with it.
            .process_group(0)
            .spawn()
            .expect("spawn unshare (util-linux) to start virgl_test_server");
        let mut server = VtestServer {
            child,
            root,
            dir,
            socket,
            log,
        };
        server.wait_for_socket(Duration::from_secs(30));
        server
    }

    fn wait_for_socket(&mut self, limit: Duration) {
        let started = Instant::now();
        // The socket file appears at bind(); connections are refused until listen(), a moment later.
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            if let Some(status) = self.child.try_wait().expect("poll the server") {
                panic!(
                    "virgl_test_server exited ({status}) before creating its socket; its log:\n{}",
                    self.log_text()
                );
            }
            assert!(
                started.elapsed() < limit,
                "virgl_test_server made no socket within {limit:?}; its log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn options(&self, reply_timeout: Duration) -> VtestOptions {
        VtestOptions {
            socket_path: self.socket.clone(),
            reply_timeout,
            blob_alignment: AlignmentChoice::default(),
            renderer_name: "kernel-iface-test".to_string(),
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    fn group(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32).expect("a child pid is never 0")
    }

    /// Freezes the server (and its render server) without closing any socket: a stalled host.
    pub fn stop(&self) {
        kill_process_group(self.group(), Signal::STOP).expect("SIGSTOP the server group");
    }

    /// Kills the server and its render server and waits until they are gone.
    pub fn kill(&mut self) {
        let _ = kill_process_group(self.group(), Signal::CONT);
        let _ = kill_process_group(self.group(), Signal::KILL);
        let _ = self.child.wait();
    }
}

impl Drop for VtestServer {
    fn drop(&mut self) {
        self.kill();
        // The socket directory was created inside the chroot as a mount point; the mount died with the
        // namespace, the empty directory stays unless removed.
        let inside = self
            .root
            .join(self.dir.path().strip_prefix("/").unwrap_or(self.dir.path()));
        let _ = std::fs::remove_dir(inside);
    }
}
