//! A context worker: serves one guest context's ops on its own socket, in its own process.
//!
//! Like virglrenderer's worker, it ends when the VMM closes the socket, breaks the protocol,
//! or the context goes FATAL; the VMM's proxy notices the closed socket and retires the
//! context's fences.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use super::protocol::{self, ContextRequest};
use crate::capset::CAPSET_ID_VENUS;
use crate::context::{ContextOptions, GuestContext};
use crate::executor::ExecutorProvider;
use crate::fd_passing;
use crate::limits::Limits;
use crate::resources::ResourceKind;
use crate::shm_file::ShmFile;
use crate::timelines::TIMELINE_COUNT;

/// The largest SUBMIT_CMD accepted; bigger streams go through rings.
pub const MAX_SUBMIT_CMD_BYTES: u32 = 16 * 1024 * 1024;
/// Limits the timeline shmem a VMM can make the worker map.
const MAX_TIMELINE_SHMEM_BYTES: u64 = 4096;

pub struct WorkerArgs {
    pub socket: OwnedFd,
    pub ctx_id: u32,
    pub ctx_name: String,
    pub init_flags: u32,
}

struct Worker {
    socket: OwnedFd,
    ctx_id: u32,
    ctx_name: String,
    executors: Arc<dyn ExecutorProvider>,
    context: Option<GuestContext>,
    timeline_count: u32,
    limits: Limits,
}

/// Serves the context until the VMM hangs up (Ok) or something ends the context (Err);
/// `disconnected` runs then, before the context is released.
pub fn run_worker(
    args: WorkerArgs,
    executors: Arc<dyn ExecutorProvider>,
    limits: Limits,
    disconnected: impl FnOnce(),
) -> Result<(), String> {
    let mut worker = Worker {
        socket: args.socket,
        ctx_id: args.ctx_id,
        ctx_name: args.ctx_name,
        executors,
        context: None,
        timeline_count: 0,
        limits,
    };
    crate::log!(
        "context {} (\"{}\"): worker started (renderer flags {:#x})",
        worker.ctx_id,
        worker.ctx_name,
        args.init_flags
    );
    let result = worker.serve();
    // The VMM's proxy retires the context's fences once the socket closes: close it before
    // the (possibly slow) release of the context.
    let _ = rustix::net::shutdown(&worker.socket, rustix::net::Shutdown::Both);
    disconnected();
    drop(worker);
    result
}

impl Worker {
    fn serve(&mut self) -> Result<(), String> {
        let mut buffer = [0u8; protocol::REQUEST_BUFFER_BYTES];
        loop {
            let received = fd_passing::recv_with_fds(
                self.socket.as_fd(),
                &mut buffer,
                protocol::MAX_REQUEST_FDS,
            )
            .map_err(|e| format!("receiving a context op failed: {e}"))?;
            if received.len == 0 {
                crate::log!("context {}: the VMM closed the context socket", self.ctx_id);
                return Ok(());
            }
            if received.truncated {
                return Err(
                    "a context op was larger than any request or carried too many descriptors"
                        .to_owned(),
                );
            }
            let request =
                protocol::parse_context_request(&buffer[..received.len], received.fds.len())
                    .map_err(|e| format!("invalid context op: {e}"))?;
            self.handle(request, received.fds)?;
        }
    }

    fn context(&mut self, op: &str) -> Result<&mut GuestContext, String> {
        self.context
            .as_mut()
            .ok_or_else(|| format!("{op} before INIT"))
    }

    fn handle(&mut self, request: ContextRequest, mut fds: Vec<OwnedFd>) -> Result<(), String> {
        match request {
            ContextRequest::Nop => Ok(()),
            ContextRequest::Init { flags, shmem_size } => {
                let timeline_shmem = fds.remove(0);
                let fence_eventfd = fds.pop();
                self.init(flags, shmem_size, timeline_shmem, fence_eventfd)
            }
            ContextRequest::CreateResource {
                res_id,
                blob_id,
                blob_size,
                blob_flags,
            } => self.create_resource(res_id, blob_id, blob_size, blob_flags),
            ContextRequest::ImportResource {
                res_id,
                fd_type,
                size,
            } => {
                let kind = ResourceKind::from_fd_type(fd_type).ok_or_else(|| {
                    format!("IMPORT_RESOURCE {res_id}: fd type {fd_type} cannot be imported")
                })?;
                let fd = fds.remove(0);
                self.context("IMPORT_RESOURCE")?
                    .import_resource(res_id, kind, fd, size)
                    .map_err(|e| format!("IMPORT_RESOURCE: {e}"))
            }
            ContextRequest::DestroyResource { res_id } => {
                self.context("DESTROY_RESOURCE")?.destroy_resource(res_id);
                Ok(())
            }
            ContextRequest::SubmitCmd { size, inline } => {
                let stream = self.receive_rest_of_command(size, inline)?;
                self.context("SUBMIT_CMD")?
                    .submit_cmd(&stream)
                    .map_err(|_| "the context is FATAL; ending its worker".to_owned())
            }
            ContextRequest::SubmitFence {
                flags,
                ring_index,
                seqno,
            } => {
                if flags & !protocol::FENCE_FLAG_MERGEABLE != 0 {
                    return Err(format!("SUBMIT_FENCE with unknown flags {flags:#x}"));
                }
                if ring_index >= self.timeline_count {
                    return Err(format!(
                        "SUBMIT_FENCE on ring {ring_index}; the timeline shmem holds {} timelines",
                        self.timeline_count
                    ));
                }
                self.context("SUBMIT_FENCE")?
                    .submit_fence(ring_index, u64::from(seqno))
                    .map_err(|e| format!("SUBMIT_FENCE: {e}"))
            }
        }
    }

    fn init(
        &mut self,
        flags: u32,
        shmem_size: u64,
        timeline_shmem: OwnedFd,
        fence_eventfd: Option<OwnedFd>,
    ) -> Result<(), String> {
        if self.context.is_some() {
            return Err("INIT of a context that is already initialised".to_owned());
        }
        let capset_id = flags & protocol::CONTEXT_FLAG_CAPSET_ID_MASK;
        if capset_id != CAPSET_ID_VENUS {
            return Err(format!(
                "INIT for capset {capset_id}; this server serves only Venus ({CAPSET_ID_VENUS})"
            ));
        }
        if !(4..=MAX_TIMELINE_SHMEM_BYTES).contains(&shmem_size) {
            return Err(format!(
                "INIT with a {shmem_size}-byte timeline shmem; it must hold 1 to {} timelines",
                MAX_TIMELINE_SHMEM_BYTES / 4
            ));
        }
        let timelines = ShmFile::import(timeline_shmem, shmem_size)
            .map_err(|e| format!("INIT: timeline shmem: {e}"))?;
        self.timeline_count = ((shmem_size / 4) as u32).min(TIMELINE_COUNT);
        let seqnos = timelines.memory().clone();
        for ring_idx in 0..self.timeline_count {
            seqnos
                .store_release_u32(u64::from(ring_idx) * 4, 0)
                .map_err(|e| format!("INIT: timeline shmem: {e}"))?;
        }
        // Keeps the mapping alive for the retire callback.
        let retire = Box::new(move |ring_idx: u32, fence_id: u64| {
            let _ = seqnos.store_release_u32(u64::from(ring_idx) * 4, fence_id as u32);
            if let Some(eventfd) = &fence_eventfd {
                let _ = rustix::io::write(eventfd, &1u64.to_ne_bytes());
            }
        });
        drop(timelines);
        self.context = Some(GuestContext::new(
            self.ctx_id,
            self.executors.for_context(self.ctx_id),
            retire,
            ContextOptions {
                limits: self.limits.clone(),
                ..ContextOptions::default()
            },
        ));
        crate::log!(
            "context {}: initialised with {} timelines",
            self.ctx_id,
            self.timeline_count
        );
        Ok(())
    }

    fn create_resource(
        &mut self,
        res_id: u32,
        blob_id: u64,
        blob_size: u64,
        blob_flags: u32,
    ) -> Result<(), String> {
        let ctx_id = self.ctx_id;
        let created = if blob_id != 0 {
            if blob_flags & protocol::BLOB_FLAG_MAPPABLE == 0 {
                Err(format!(
                    "device memory {blob_id} with blob flags {blob_flags:#x}: only MAPPABLE \
                     device memory blobs (shared memory) are served"
                ))
            } else {
                self.context("CREATE_RESOURCE")?
                    .create_device_memory_resource(res_id, blob_id, blob_size)
            }
        } else if blob_flags != protocol::BLOB_FLAG_MAPPABLE {
            Err(format!(
                "blob_id 0 with blob flags {blob_flags:#x}; shared memory blobs take exactly MAPPABLE"
            ))
        } else {
            self.context("CREATE_RESOURCE")?
                .create_shm_resource(res_id, blob_size)
                .map_err(|e| e.to_string())
        };
        let created = created.and_then(|fd| {
            crate::simulate_hvf::current().hand_out(
                &format!("context {ctx_id}"),
                res_id,
                blob_size,
                fd,
            )
        });
        match created {
            Ok(fd) => {
                crate::log!(
                    "context {ctx_id}: resource {res_id}: {blob_size}-byte shared memory blob \
                     (blob_id {blob_id})"
                );
                let reply = protocol::create_resource_reply(
                    ResourceKind::Shm.fd_type(),
                    protocol::MAP_CACHE_CACHED,
                );
                fd_passing::send_with_fds(self.socket.as_fd(), &reply, &[fd.as_fd()])
            }
            Err(reason) => {
                crate::log!("context {ctx_id}: CREATE_RESOURCE {res_id} refused: {reason}");
                let reply = protocol::create_resource_reply(protocol::FD_TYPE_INVALID, 0);
                fd_passing::send_with_fds(self.socket.as_fd(), &reply, &[])
            }
        }
        .map_err(|e| format!("replying to CREATE_RESOURCE {res_id} failed: {e}"))
    }

    /// SUBMIT_CMD streams longer than the inline 256 bytes continue in the next message,
    /// which must hold exactly the remaining bytes.
    fn receive_rest_of_command(
        &mut self,
        size: u32,
        mut stream: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        if size <= protocol::SUBMIT_CMD_INLINE_BYTES as u32 {
            return Ok(stream);
        }
        if size > MAX_SUBMIT_CMD_BYTES {
            return Err(format!(
                "SUBMIT_CMD of {size} bytes; the limit is {MAX_SUBMIT_CMD_BYTES}"
            ));
        }
        let remaining = size as usize - stream.len();
        let mut rest = vec![0u8; remaining + 1];
        let received = fd_passing::recv_with_fds(self.socket.as_fd(), &mut rest, 0)
            .map_err(|e| format!("receiving the rest of a SUBMIT_CMD failed: {e}"))?;
        if received.len != remaining || received.truncated {
            return Err(format!(
                "SUBMIT_CMD of {size} bytes: the follow-up message held {} bytes instead of {remaining}",
                received.len
            ));
        }
        stream.extend_from_slice(&rest[..remaining]);
        Ok(stream)
    }
}
