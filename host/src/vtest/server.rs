//! The vtest server: one guest context per client connection, served by one thread of this
//! process ([`VtestServer`], for tests) or by a process of its own
//! ([`super::processes`], what `venus-rs-vtest-server` does).
//!
//! A client's malformed input, a protocol violation or its context going FATAL ends that
//! client's connection with a log line; other clients and the server go on.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::protocol::{self, command, Header, ProtocolError, Request, SyncPoint};
use super::syncs::SyncTable;
use crate::capset::{Capset, CAPSET_ID_VENUS, CAPSET_VERSION};
use crate::context::{ContextOptions, GuestContext};
use crate::executor::ExecutorProvider;
use crate::timelines::TIMELINE_COUNT;

pub struct ServerConfig {
    /// The capset served to GET_CAPSET; its protocol level comes from the decoder.
    pub capset: Capset,
    pub executors: Arc<dyn ExecutorProvider>,
    pub context_options: ContextOptions,
}

pub struct VtestServer {
    config: Arc<ServerConfig>,
    next_client: AtomicU32,
}

impl VtestServer {
    pub fn new(config: ServerConfig) -> Self {
        Self {
            config: Arc::new(config),
            next_client: AtomicU32::new(1),
        }
    }

    /// Accepts clients until accepting fails.
    pub fn serve(&self, listener: &UnixListener) -> io::Result<()> {
        loop {
            let (stream, _) = listener.accept()?;
            self.spawn_client(stream)?;
        }
    }

    /// Serves one connection on its own thread.
    pub fn spawn_client(&self, stream: UnixStream) -> io::Result<std::thread::JoinHandle<()>> {
        let client_id = self.next_client.fetch_add(1, Ordering::Relaxed);
        let config = Arc::clone(&self.config);
        std::thread::Builder::new()
            .name(format!("vtest-client-{client_id}"))
            .spawn(move || serve_client(config, stream, client_id))
    }
}

#[derive(Debug)]
enum ClientError {
    Io(io::Error),
    Protocol(ProtocolError),
    Refused(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "connection error: {error}"),
            Self::Protocol(error) => write!(f, "protocol error: {error}"),
            Self::Refused(reason) => f.write_str(reason),
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<ProtocolError> for ClientError {
    fn from(error: ProtocolError) -> Self {
        Self::Protocol(error)
    }
}

fn refused(reason: impl Into<String>) -> ClientError {
    ClientError::Refused(reason.into())
}

/// Syncs waiting for their fence, by fence id.
type FencedSyncs = Arc<Mutex<HashMap<u64, Vec<SyncPoint>>>>;

struct Client {
    config: Arc<ServerConfig>,
    id: u32,
    stream: UnixStream,
    renderer_name: Option<String>,
    protocol_version: u32,
    context: Option<GuestContext>,
    syncs: Arc<SyncTable>,
    fenced_syncs: FencedSyncs,
    next_fence_id: u64,
    next_res_id: u32,
}

pub fn serve_client(config: Arc<ServerConfig>, stream: UnixStream, client_id: u32) {
    serve_client_then(config, stream, client_id, || {});
}

/// Serves one connection; `disconnected` runs once the client is gone, before its context is
/// released (which may take a while: the context's rings stop and its objects are destroyed).
pub fn serve_client_then(
    config: Arc<ServerConfig>,
    stream: UnixStream,
    client_id: u32,
    disconnected: impl FnOnce(),
) {
    let syncs = Arc::new(SyncTable::new(&config.context_options.limits, client_id));
    let mut client = Client {
        config,
        id: client_id,
        stream,
        renderer_name: None,
        protocol_version: 0,
        context: None,
        syncs,
        fenced_syncs: Arc::default(),
        next_fence_id: 1,
        next_res_id: 1,
    };
    match client.run() {
        Ok(()) => crate::log!("client {client_id}: disconnected"),
        Err(error) => crate::log!("client {client_id}: {error}; closing the connection"),
    }
    // The peer sees the connection end now, not after the context is released.
    let _ = client.stream.shutdown(std::net::Shutdown::Both);
    disconnected();
    drop(client);
}

impl Client {
    fn run(&mut self) -> Result<(), ClientError> {
        loop {
            let mut header_bytes = [0u8; Header::SIZE];
            match self.stream.read_exact(&mut header_bytes) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(error) => return Err(error.into()),
            }
            let header = Header::parse(header_bytes);
            let mut payload = vec![0u8; header.payload_bytes()?];
            self.stream.read_exact(&mut payload)?;
            let request = protocol::parse_request(header, &payload, self.protocol_version)?;
            self.handle(request, &payload)?;
        }
    }

    fn reply(&mut self, command: u32, words: &[u32]) -> Result<(), ClientError> {
        self.stream.write_all(&protocol::response(command, words))?;
        Ok(())
    }

    fn context(&mut self, command: u32) -> Result<&mut GuestContext, ClientError> {
        self.context.as_mut().ok_or_else(|| {
            refused(format!(
                "{} before CONTEXT_INIT(capset {CAPSET_ID_VENUS})",
                protocol::command_name(command)
            ))
        })
    }

    fn handle(&mut self, request: Request, payload: &[u8]) -> Result<(), ClientError> {
        let Some(renderer_name) = &self.renderer_name else {
            return match request {
                Request::CreateRenderer { name } => {
                    crate::log!("client {}: renderer \"{name}\"", self.id);
                    self.renderer_name = Some(name);
                    Ok(())
                }
                _ => Err(refused("the first command must be CREATE_RENDERER")),
            };
        };
        match request {
            Request::CreateRenderer { .. } => Err(refused(format!(
                "CREATE_RENDERER again (the renderer \"{renderer_name}\" exists)"
            ))),
            Request::PingProtocolVersion => self.reply(command::PING_PROTOCOL_VERSION, &[]),
            Request::ProtocolVersion { version } => {
                let agreed = version.min(protocol::PROTOCOL_VERSION);
                if agreed < protocol::MIN_PROTOCOL_VERSION {
                    return Err(refused(format!(
                        "the client speaks vtest protocol {version}; Venus needs at least {}",
                        protocol::MIN_PROTOCOL_VERSION
                    )));
                }
                self.protocol_version = agreed;
                self.reply(command::PROTOCOL_VERSION, &[agreed])
            }
            Request::ResourceBusyWait { handle, .. } => {
                // Mesa sends a dummy wait on handle 0 right after PING_PROTOCOL_VERSION so
                // that it never blocks on servers without the ping. Nothing here is ever
                // busy in the virgl sense.
                if handle != 0 && self.context.is_none() {
                    return Err(refused(format!(
                        "RESOURCE_BUSY_WAIT on {handle} before CONTEXT_INIT"
                    )));
                }
                self.reply(command::RESOURCE_BUSY_WAIT, &[0])
            }
            Request::GetParam { param } => {
                let (valid, value) = match param {
                    protocol::param::MAX_TIMELINE_COUNT => (1, TIMELINE_COUNT),
                    protocol::param::HAS_TIMELINE_SYNCOBJ => (1, 0),
                    _ => (0, 0),
                };
                self.reply(command::GET_PARAM, &[valid, value])
            }
            Request::GetCapset { id, version } => {
                if id != CAPSET_ID_VENUS || version != CAPSET_VERSION {
                    return self.reply(command::GET_CAPSET, &[0]);
                }
                let bytes = self.config.capset.to_bytes();
                let mut words = vec![1];
                words.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
                self.reply(command::GET_CAPSET, &words)
            }
            Request::ContextInit { capset_id } => self.context_init(capset_id),
            Request::ResourceCreateBlob {
                blob_type,
                flags,
                size,
                blob_id,
            } => self.create_blob(blob_type, flags, size, blob_id),
            Request::ResourceUnref { res_id } => {
                self.context(command::RESOURCE_UNREF)?
                    .destroy_resource(res_id);
                Ok(())
            }
            Request::SyncCreate { value } => {
                let sync_id = self
                    .syncs
                    .create(value)
                    .map_err(|e| refused(format!("SYNC_CREATE: {e}")))?;
                self.reply(command::SYNC_CREATE, &[sync_id])
            }
            Request::SyncUnref { sync_id } => {
                self.syncs.unref(sync_id);
                Ok(())
            }
            Request::SyncRead { sync_id } => {
                let value = self
                    .syncs
                    .read(sync_id)
                    .map_err(|e| refused(format!("SYNC_READ: {e}")))?;
                self.reply(command::SYNC_READ, &[value as u32, (value >> 32) as u32])
            }
            Request::SyncWrite { point } => self
                .syncs
                .write(point)
                .map_err(|e| refused(format!("SYNC_WRITE: {e}"))),
            Request::SyncWait {
                any,
                timeout_ms,
                points,
            } => {
                let eventfd = self
                    .syncs
                    .wait(any, timeout_ms, &points)
                    .map_err(|e| refused(format!("SYNC_WAIT: {e}")))?;
                self.reply(command::SYNC_WAIT, &[])?;
                self.send_fd(eventfd.as_fd())
            }
            Request::SubmitCmd2 { batches } => {
                for batch in batches {
                    self.submit_batch(&payload[batch.commands], batch.ring_idx, batch.syncs)?;
                }
                Ok(())
            }
        }
    }

    /// An fd goes as its own message: one dummy byte carrying SCM_RIGHTS.
    fn send_fd(&mut self, fd: std::os::fd::BorrowedFd<'_>) -> Result<(), ClientError> {
        crate::fd_passing::send_with_fds(self.stream.as_fd(), &[0], &[fd])?;
        Ok(())
    }

    fn context_init(&mut self, capset_id: u32) -> Result<(), ClientError> {
        if capset_id != CAPSET_ID_VENUS {
            return Err(refused(format!(
                "CONTEXT_INIT with capset {capset_id}; this server serves only Venus ({CAPSET_ID_VENUS})"
            )));
        }
        if self.context.is_some() {
            // Initialising again with the same capset is allowed and changes nothing.
            return Ok(());
        }
        let syncs = Arc::clone(&self.syncs);
        let fenced_syncs = Arc::clone(&self.fenced_syncs);
        let retire = Box::new(move |_ring_idx: u32, fence_id: u64| {
            let points = fenced_syncs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&fence_id);
            if let Some(points) = points {
                syncs.signal_all(&points);
            }
        });
        let executors = self.config.executors.for_context(self.id);
        self.context = Some(GuestContext::new(
            self.id,
            executors,
            retire,
            self.config.context_options.clone(),
        ));
        crate::log!("client {}: Venus context created", self.id);
        Ok(())
    }

    fn create_blob(
        &mut self,
        blob_type: u32,
        flags: u32,
        size: u64,
        blob_id: u64,
    ) -> Result<(), ClientError> {
        let res_id = self.next_res_id;
        let context = self.context(command::RESOURCE_CREATE_BLOB)?;
        if blob_type != protocol::blob_type::HOST3D {
            return Err(refused(format!(
                "RESOURCE_CREATE_BLOB of blob type {blob_type}: only HOST3D ({}) blobs are served",
                protocol::blob_type::HOST3D
            )));
        }
        let fd = if blob_id != 0 {
            if flags & protocol::blob_flags::MAPPABLE == 0
                || flags & !(protocol::blob_flags::MAPPABLE | protocol::blob_flags::SHAREABLE) != 0
            {
                return Err(refused(format!(
                    "RESOURCE_CREATE_BLOB for device memory {blob_id} with flags {flags:#x}: \
                     device memory blobs are MAPPABLE (and may be SHAREABLE)"
                )));
            }
            let fd = context
                .create_device_memory_resource(res_id, blob_id, size)
                .map_err(|e| refused(format!("RESOURCE_CREATE_BLOB: {e}")))?;
            crate::log!(
                "client {}: resource {res_id}: {size}-byte blob of device memory {blob_id} (SHM)",
                self.id
            );
            fd
        } else {
            if flags != protocol::blob_flags::MAPPABLE {
                return Err(refused(format!(
                    "RESOURCE_CREATE_BLOB blob_id 0 with flags {flags:#x}: shared memory blobs \
                     take exactly MAPPABLE ({:#x})",
                    protocol::blob_flags::MAPPABLE
                )));
            }
            let fd = context
                .create_shm_resource(res_id, size)
                .map_err(|e| refused(format!("RESOURCE_CREATE_BLOB: {e}")))?;
            crate::log!(
                "client {}: resource {res_id}: {size}-byte shared memory blob",
                self.id
            );
            fd
        };
        let fd = crate::simulate_hvf::current()
            .hand_out(&format!("client {}", self.id), res_id, size, fd)
            .map_err(refused)?;
        self.next_res_id = self
            .next_res_id
            .checked_add(1)
            .ok_or_else(|| refused("resource ids exhausted"))?;
        self.reply(command::RESOURCE_CREATE_BLOB, &[res_id])?;
        self.send_fd(fd.as_fd())
    }

    fn submit_batch(
        &mut self,
        commands: &[u8],
        ring_idx: Option<u32>,
        points: Vec<SyncPoint>,
    ) -> Result<(), ClientError> {
        let context = self.context(command::SUBMIT_CMD2)?;
        context
            .submit_cmd(commands)
            .map_err(|_| refused("its context is FATAL"))?;
        if points.is_empty() {
            return Ok(());
        }
        self.syncs
            .check_known(&points)
            .map_err(|e| refused(format!("SUBMIT_CMD2: {e}")))?;
        let Some(ring_idx) = ring_idx else {
            self.syncs.signal_all(&points);
            return Ok(());
        };
        let fence_id = self.next_fence_id;
        self.next_fence_id += 1;
        self.fenced_syncs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(fence_id, points);
        // The fence may retire (and take its syncs out of the map) before this returns.
        let context = self.context(command::SUBMIT_CMD2)?;
        context
            .submit_fence(ring_idx, fence_id)
            .map_err(|e| refused(format!("SUBMIT_CMD2: {e}")))
    }
}
