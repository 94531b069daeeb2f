//! The render server's main process: answers the VMM's client ops and runs one worker
//! process per guest context, so a context's failure (or crash) ends only that worker.
//!
//! Workers are this same executable started again with `--context-worker`; a fresh exec
//! (rather than a bare fork) keeps the future Vulkan driver's state out of the server.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::io::FdFlags;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::protocol::{self, ClientRequest};
use crate::fd_passing;

/// How often the main loop wakes to reap workers that exited on their own.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

pub struct RenderServer {
    socket: OwnedFd,
    worker_executable: PathBuf,
    init_flags: u32,
    workers: HashMap<u32, Child>,
}

impl RenderServer {
    /// `socket` is the VMM's SOCK_SEQPACKET connection (`--socket-fd`).
    pub fn new(socket: OwnedFd, worker_executable: PathBuf) -> Self {
        Self {
            socket,
            worker_executable,
            init_flags: 0,
            workers: HashMap::new(),
        }
    }

    /// Serves client ops until the VMM hangs up (Ok) or breaks the protocol (Err, as the
    /// protocol has no way to report errors back).
    pub fn run(&mut self) -> Result<(), String> {
        let result = self.serve();
        self.kill_all_workers();
        result
    }

    fn serve(&mut self) -> Result<(), String> {
        let mut buffer = [0u8; protocol::REQUEST_BUFFER_BYTES];
        loop {
            if !self.wait_readable()? {
                self.reap_workers();
                continue;
            }
            let received = fd_passing::recv_with_fds(self.socket.as_fd(), &mut buffer, 0)
                .map_err(|e| format!("receiving a client op failed: {e}"))?;
            if received.len == 0 {
                crate::log!("the VMM closed the connection");
                return Ok(());
            }
            if received.truncated {
                return Err(
                    "a client op was larger than any request or carried descriptors".to_owned(),
                );
            }
            let request = protocol::parse_client_request(&buffer[..received.len])
                .map_err(|e| format!("invalid client op: {e}"))?;
            self.handle(request)?;
            self.reap_workers();
        }
    }

    fn wait_readable(&self) -> Result<bool, String> {
        let timeout = rustix::event::Timespec {
            tv_sec: REAP_INTERVAL.as_secs() as i64,
            tv_nsec: 0,
        };
        let mut fds = [PollFd::new(&self.socket, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(ready) => Ok(ready > 0),
            Err(rustix::io::Errno::INTR) => Ok(false),
            Err(error) => Err(format!("polling the client socket failed: {error}")),
        }
    }

    fn handle(&mut self, request: ClientRequest) -> Result<(), String> {
        match request {
            ClientRequest::Nop => Ok(()),
            ClientRequest::Init { flags } => {
                crate::log!("INIT with renderer flags {flags:#x}");
                self.init_flags = flags;
                Ok(())
            }
            ClientRequest::Reset => {
                crate::log!("RESET: ending {} context workers", self.workers.len());
                self.kill_all_workers();
                Ok(())
            }
            ClientRequest::CreateContext { ctx_id, name } => {
                let created = self.create_context(ctx_id, &name);
                let (reply, fds) = match &created {
                    Ok(vmm_end) => ([1u8], vec![vmm_end.as_fd()]),
                    Err(error) => {
                        crate::log!("CREATE_CONTEXT {ctx_id} (\"{name}\") failed: {error}");
                        ([0u8], vec![])
                    }
                };
                fd_passing::send_with_fds(self.socket.as_fd(), &reply, &fds)
                    .map_err(|e| format!("replying to CREATE_CONTEXT {ctx_id} failed: {e}"))
            }
            ClientRequest::DestroyContext { ctx_id } => {
                if let Some(worker) = self.workers.remove(&ctx_id) {
                    end_worker(ctx_id, worker);
                }
                Ok(())
            }
        }
    }

    /// Starts the worker for a context; returns the VMM's end of the context socket.
    fn create_context(&mut self, ctx_id: u32, name: &str) -> Result<OwnedFd, String> {
        if self.workers.contains_key(&ctx_id) {
            return Err(format!("context {ctx_id} already has a worker"));
        }
        let (vmm_end, worker_end) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| format!("creating the context socket pair failed: {e}"))?;
        // The worker inherits its end; this process is single-threaded, so no other child
        // can be started while the descriptor is inheritable.
        rustix::io::fcntl_setfd(&worker_end, FdFlags::empty())
            .map_err(|e| format!("making the worker's socket inheritable failed: {e}"))?;
        let child = crate::self_exec::command(&self.worker_executable)
            .arg("--context-worker")
            .arg("--socket-fd")
            .arg(worker_end.as_raw_fd().to_string())
            .arg("--ctx-id")
            .arg(ctx_id.to_string())
            .arg("--ctx-name")
            .arg(name)
            .arg("--init-flags")
            .arg(self.init_flags.to_string())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {} failed: {e}", self.worker_executable.display()))?;
        drop(worker_end);
        crate::log!(
            "context {ctx_id} (\"{name}\"): worker process {}",
            child.id()
        );
        self.workers.insert(ctx_id, child);
        Ok(vmm_end)
    }

    fn reap_workers(&mut self) {
        self.workers
            .retain(|ctx_id, worker| match worker.try_wait() {
                Ok(Some(status)) => {
                    crate::log!("context {ctx_id}: worker ended on its own ({status})");
                    false
                }
                Ok(None) => true,
                Err(error) => {
                    crate::log!("context {ctx_id}: checking the worker failed: {error}");
                    true
                }
            });
    }

    fn kill_all_workers(&mut self) {
        for (ctx_id, worker) in self.workers.drain() {
            end_worker(ctx_id, worker);
        }
    }
}

/// Kills and reaps a worker; it may already have exited, which is fine.
fn end_worker(ctx_id: u32, mut worker: Child) {
    let _ = worker.kill();
    match worker.wait() {
        Ok(status) => crate::log!("context {ctx_id}: worker ended ({status})"),
        Err(error) if is_already_reaped(&error) => crate::log!("context {ctx_id}: worker ended"),
        Err(error) => crate::log!("context {ctx_id}: reaping the worker failed: {error}"),
    }
}

/// A parent that ignores SIGCHLD (virgl_test_server does) passes that on through exec, and
/// then the kernel reaps exited workers itself and waiting for them fails with ECHILD.
fn is_already_reaped(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(rustix::io::Errno::CHILD.raw_os_error())
}
