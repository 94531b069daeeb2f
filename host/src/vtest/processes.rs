//! One process per vtest client, as the render server runs one worker per context: the main
//! process only accepts connections and starts `venus-rs-vtest-server --client-fd N` for
//! each, so a client whose context crashes the driver (or aborts) ends only its own process.
//!
//! The main process is single-threaded: the accepted socket is made inheritable just for the
//! spawn, and no other child can be started meanwhile.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::io::FdFlags;

use super::server::{serve_client_then, ServerConfig};
use crate::teardown;

/// How often the main process wakes to reap client processes that ended.
const REAP_INTERVAL: Duration = Duration::from_millis(500);

/// Settings of the main process.
pub struct ProcessOptions {
    /// The executable started for each client (this program).
    pub executable: PathBuf,
    /// Clients served at once; more connections are closed at once (`VENUS_RS_MAX_CLIENTS`).
    pub max_clients: usize,
}

impl ProcessOptions {
    pub const MAX_CLIENTS_SETTING: &'static str = "VENUS_RS_MAX_CLIENTS";
    pub const DEFAULT_MAX_CLIENTS: usize = 64;

    pub fn max_clients_from_env() -> Result<usize, String> {
        match std::env::var(Self::MAX_CLIENTS_SETTING) {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| format!("{}={text:?} is not a number", Self::MAX_CLIENTS_SETTING)),
            Err(_) => Ok(Self::DEFAULT_MAX_CLIENTS),
        }
    }
}

/// Accepts clients until accepting fails, each served by its own process.
pub fn serve_in_processes(listener: &UnixListener, options: &ProcessOptions) -> io::Result<()> {
    let mut clients: HashMap<u32, Child> = HashMap::new();
    let mut next_client: u32 = 1;
    loop {
        if !wait_readable(listener)? {
            reap(&mut clients);
            continue;
        }
        let (stream, _) = listener.accept()?;
        reap(&mut clients);
        let client_id = next_client;
        next_client = next_client.wrapping_add(1).max(1);
        if clients.len() >= options.max_clients {
            crate::log!(
                "client {client_id}: refused: {} clients are served already ({}={})",
                clients.len(),
                ProcessOptions::MAX_CLIENTS_SETTING,
                options.max_clients
            );
            continue;
        }
        match spawn_client(&options.executable, stream, client_id) {
            Ok(child) => {
                crate::log!("client {client_id}: served by process {}", child.id());
                clients.insert(client_id, child);
            }
            Err(error) => crate::log!("client {client_id}: starting its process failed: {error}"),
        }
    }
}

fn wait_readable(listener: &UnixListener) -> io::Result<bool> {
    let timeout = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: REAP_INTERVAL.as_nanos() as i64,
    };
    let mut fds = [PollFd::new(listener, PollFlags::IN)];
    match rustix::event::poll(&mut fds, Some(&timeout)) {
        Ok(ready) => Ok(ready > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

fn spawn_client(
    executable: &std::path::Path,
    stream: UnixStream,
    client_id: u32,
) -> io::Result<Child> {
    // Inheritable only in the child: this process is single-threaded, so no other spawn can
    // pick the descriptor up, and the parent closes its copy right after.
    rustix::io::fcntl_setfd(&stream, FdFlags::empty())?;
    let child = crate::self_exec::command(executable)
        .arg("--client-fd")
        .arg(stream.as_raw_fd().to_string())
        .arg("--client-id")
        .arg(client_id.to_string())
        .stdin(Stdio::null())
        .spawn();
    drop(stream);
    child
}

/// Logs and forgets every client process that has ended.
fn reap(clients: &mut HashMap<u32, Child>) {
    clients.retain(|client_id, child| match child.try_wait() {
        Ok(Some(status)) => {
            crate::log!(
                "client {client_id}: process {} ended ({status})",
                child.id()
            );
            false
        }
        Ok(None) => true,
        Err(error) => {
            crate::log!("client {client_id}: checking its process failed: {error}");
            false
        }
    });
}

/// The body of a client process: serves the client on `socket`, releases its context
/// (bounded: [`crate::teardown`]) and exits.
pub fn run_client_process(config: ServerConfig, socket: OwnedFd, client_id: u32) -> ! {
    let stream = UnixStream::from(socket);
    let config = Arc::new(config);
    teardown::serve_then_exit(
        &format!("vtest-client-{client_id}"),
        0,
        move |disconnected| {
            serve_client_then(config, stream, client_id, disconnected);
            0
        },
    )
}

/// A client process never outlives the server that accepted it (called before the process
/// is confined: the filter has no use for prctl beyond thread names).
pub fn follow_server_exit(client_id: u32) {
    if let Err(error) =
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
    {
        crate::log!("client {client_id}: cannot follow the server's exit: {error}");
    }
}

/// Takes ownership of the client socket whose number the main process passed.
pub fn adopt_client_socket(fd: i32) -> Result<OwnedFd, String> {
    use std::os::fd::{FromRawFd, IntoRawFd};
    if fd < 3 {
        return Err(format!("--client-fd {fd} would be a standard stream"));
    }
    // SAFETY: the main process passed this descriptor number for this process to own (the
    // --client-fd contract); if it is not an open stream socket, ownership is given up
    // again below without closing anything.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    match rustix::net::sockopt::socket_type(socket.as_fd()) {
        Ok(rustix::net::SocketType::STREAM) => Ok(socket),
        Ok(other) => {
            let _ = socket.into_raw_fd();
            Err(format!(
                "--client-fd {fd} is a {other:?} socket, not a stream"
            ))
        }
        Err(error) => {
            let _ = socket.into_raw_fd();
            Err(format!("--client-fd {fd} is not an open socket: {error}"))
        }
    }
}
