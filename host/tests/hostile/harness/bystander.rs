//! The well-behaved client of every hostile test: Mesa's unmodified Venus driver running the
//! compute readback check (`tests/src/bin/compute-readback.rs`) against the same server, in
//! the chroot, while the hostile client does its worst.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::chroot::{debug_binaries, remove_mount_point, ChrootProcess, TempDir, MESA_VENUS};
use super::server::Server;

/// How long the bystander may take (a debug-built server under load on 2 cores).
const LIMIT: Duration = Duration::from_secs(180);

/// The compute readback program, built once per test run (`cargo build` of the tests crate's
/// binary: it is another package's binary, which cargo does not build for this one's tests).
fn compute_readback() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "-p", "venus-rs-tests", "--bin", "compute-readback"])
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                .status()
                .expect("run cargo build for compute-readback");
            assert!(status.success(), "building compute-readback failed");
            let program = debug_binaries().join("compute-readback");
            assert!(program.is_file(), "{} is missing", program.display());
            program
        })
        .clone()
}

pub struct Bystander {
    process: ChrootProcess,
    dir: TempDir,
    log: PathBuf,
}

impl Drop for Bystander {
    fn drop(&mut self) {
        self.process.kill();
        remove_mount_point(self.dir.path());
    }
}

impl Bystander {
    /// Starts the compute loop against `server` and waits until its context exists, so that
    /// the hostile client acts while the bystander is connected.
    pub fn start(server: &Server, iterations: u32) -> Bystander {
        Self::start_until(server, iterations, "compute-readback\"")
    }

    /// Against virglrenderer's vtest server (running our render server): connected once a
    /// worker serves its context.
    pub fn start_virgl(server: &Server, iterations: u32) -> Bystander {
        Self::start_until(server, iterations, "worker started")
    }

    fn start_until(server: &Server, iterations: u32, connected: &str) -> Bystander {
        let program = compute_readback();
        let dir = TempDir::new("bystander");
        let log = dir.path().join("bystander.log");
        let env = [
            ("VK_DRIVER_FILES", MESA_VENUS),
            ("VN_DEBUG", "vtest"),
            ("VTEST_SOCKET_NAME", &server.socket().to_string_lossy()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let process = ChrootProcess::spawn(
            &[server.folder(), &debug_binaries(), dir.path()],
            &env,
            &program,
            &[
                "--elements".to_owned(),
                "1024".to_owned(),
                "--iterations".to_owned(),
                iterations.to_string(),
            ],
            &log,
        );
        let bystander = Bystander { process, dir, log };
        assert!(
            server.wait_for_log(connected, Duration::from_secs(60)),
            "the bystander never reached the server:\n{}\n{}",
            server.log_text(),
            bystander.output()
        );
        bystander
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the compute loop and checks that it verified every element.
    pub fn assert_completes(mut self, server: &Server) {
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = self.process.try_wait() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the bystander did not finish in {LIMIT:?}:\n{}\n--- server\n{}",
                self.output(),
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let output = self.output();
        assert!(
            status.success() && output.contains("compute-readback: OK"),
            "the bystander failed ({status}):\n{output}\n--- server\n{}",
            server.log_text()
        );
    }
}
