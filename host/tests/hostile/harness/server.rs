//! Our vtest server on lavapipe inside the reference chroot, as a guest's host would run it.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::chroot::{debug_binaries, remove_mount_point, ChrootProcess, TempDir, LAVAPIPE};
use super::vtest_client::VtestClient;

pub struct Server {
    process: ChrootProcess,
    dir: TempDir,
    socket: PathBuf,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.kill();
        remove_mount_point(self.dir.path());
    }
}

impl Server {
    /// Starts `venus-rs-vtest-server` with `env` (the `VENUS_RS_*` settings of the test) and
    /// waits for its socket.
    pub fn start(env: &[(&str, &str)]) -> Server {
        let dir = TempDir::new("server");
        let socket = dir.path().join("vtest.sock");
        let log = dir.path().join("server.log");
        let mut vars = vec![("VK_DRIVER_FILES".to_owned(), LAVAPIPE.to_owned())];
        // The project's settings of whoever runs the tests (VENUS_RS_SECCOMP=log, say) reach
        // the server, under the test's own.
        vars.extend(std::env::vars().filter(|(k, _)| {
            k.starts_with("VENUS_RS_") && k != "VENUS_RS_HOME" && !env.iter().any(|(e, _)| e == k)
        }));
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let binaries = debug_binaries();
        let process = ChrootProcess::spawn(
            &[dir.path(), &binaries],
            &vars,
            Path::new(env!("CARGO_BIN_EXE_venus-rs-vtest-server")),
            &[
                "--socket-path".to_owned(),
                socket.to_string_lossy().into_owned(),
            ],
            &log,
        );
        let mut server = Server {
            process,
            dir,
            socket,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while UnixStream::connect(&server.socket).is_err() {
            if let Some(status) = server.process.try_wait() {
                panic!(
                    "the server exited ({status}) at start:\n{}",
                    server.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the server made no socket in 30 s:\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// virglrenderer's vtest server from the chroot with `render_server` as its render server
    /// (RENDER_SERVER_EXEC_PATH): the VMM side of the render-server protocol, for real.
    pub fn start_virgl(render_server: &Path, env: &[(&str, &str)]) -> Server {
        let dir = TempDir::new("virgl");
        let socket = dir.path().join("vtest.sock");
        let log = dir.path().join("server.log");
        let mut vars = vec![
            ("VK_DRIVER_FILES".to_owned(), LAVAPIPE.to_owned()),
            (
                "RENDER_SERVER_EXEC_PATH".to_owned(),
                render_server.to_string_lossy().into_owned(),
            ),
        ];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let binaries = debug_binaries();
        let args = ["--venus", "--no-virgl", "--multi-clients", "--socket-path"]
            .map(str::to_owned)
            .into_iter()
            .chain([socket.to_string_lossy().into_owned()])
            .collect::<Vec<_>>();
        let process = ChrootProcess::spawn(
            &[dir.path(), &binaries],
            &vars,
            Path::new("/usr/bin/virgl_test_server"),
            &args,
            &log,
        );
        let server = Server {
            process,
            dir,
            socket,
            log,
        };
        server.wait_for_socket();
        server
    }

    fn wait_for_socket(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.socket.exists() {
            assert!(
                Instant::now() < deadline,
                "the server made no socket in 30 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's main process is still running.
    pub fn assert_running(&mut self) {
        assert!(
            self.process.try_wait().is_none(),
            "the server exited:\n{}",
            self.log_text()
        );
    }

    /// The server's main process.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn folder(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn connect(&self, name: &str) -> VtestClient {
        VtestClient::connect(&self.socket, name)
    }

    /// The server's main process is running and still serves a new client up to
    /// CONTEXT_INIT and a first Venus round trip.
    pub fn assert_serving(&mut self) {
        assert!(
            self.process.try_wait().is_none(),
            "the server exited:\n{}",
            self.log_text()
        );
        let mut probe = self.connect("after-the-attack");
        let log = self.log_text();
        let handshake =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| probe.handshake()));
        assert!(
            handshake.is_ok(),
            "a new client was refused:\n{log}\n---now\n{}",
            self.log_text()
        );
        assert!(
            probe.roundtrip(),
            "a new client was not served:\n{}",
            self.log_text()
        );
    }

    /// The id the server gave the client that called itself `name` (CREATE_RENDERER).
    pub fn client_id(&self, name: &str) -> Option<u32> {
        let needle = format!(": renderer \"{name}\"");
        self.log_text().lines().find_map(|line| {
            let at = line.find(&needle)?;
            let head = &line[..at];
            head.rsplit("client ").next()?.trim().parse().ok()
        })
    }

    /// The process serving client `client_id`.
    pub fn client_pid(&self, client_id: u32) -> Option<u32> {
        let needle = format!("client {client_id}: served by process ");
        self.log_text().lines().find_map(|line| {
            let at = line.find(&needle)?;
            line[at + needle.len()..].trim().parse().ok()
        })
    }

    /// Waits until the log holds `needle`; false after `limit`.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.log_text().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How client `client_id`'s process ended, once it has (the server logs it when reaping).
    pub fn client_exit(&self, client_id: u32, limit: Duration) -> String {
        let needle = format!("client {client_id}: process ");
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log_text();
            let ended = log
                .lines()
                .find(|line| line.contains(&needle) && line.contains(" ended ("));
            if let Some(line) = ended {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "client {client_id}'s process did not end within {limit:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The hostile client's context went FATAL (or was refused) for `reason`, and its process
    /// ended cleanly (not by a signal).
    pub fn assert_client_ended_for(&self, name: &str, reason: &str) {
        let log = self.log_text();
        let client = self
            .client_id(name)
            .unwrap_or_else(|| panic!("no client called {name:?}:\n{log}"));
        let exit = self.client_exit(client, Duration::from_secs(30));
        let log = self.log_text();
        assert!(
            log.contains(reason),
            "the log does not say {reason:?}:\n{log}"
        );
        assert!(
            exit.contains("exit status: 0"),
            "client {client}'s process did not end cleanly ({exit}):\n{log}"
        );
    }
}
