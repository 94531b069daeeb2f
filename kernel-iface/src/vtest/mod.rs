//! The vtest transport: virglrenderer's `virgl_test_server --venus` over an AF_UNIX stream socket, for
//! running the guest half on the host without a VM.

mod connection;
pub mod protocol;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use rustix::event::PollFlags;
use venus_rs_shmem::SharedMemory;

use crate::alignment::AlignmentChoice;
use crate::capset::{VenusCapset, VENUS_CAPSET_ID};
use crate::deadline::{wait_for_events, Deadline};
use crate::error::{kind_of_errno, kind_of_map_error, ErrorKind, Step, TransportError};
use crate::transport::{
    check_commands, checked_blob_size, foreign_object, Blob, BlobFlags, BlobHandle, BlobRequest,
    ContextParams, Fence, FenceState, Transport, TransportDetails, TransportId, TransportInfo,
    TransportKind, WaitOutcome,
};
use connection::Connection;

const KIND: TransportKind = TransportKind::Vtest;

fn error(step: Step, kind: ErrorKind, detail: impl Into<String>) -> TransportError {
    TransportError::new(KIND, step, kind, detail)
}

#[derive(Clone, Debug)]
pub struct VtestOptions {
    pub socket_path: PathBuf,
    /// How long any single reply of the server may take before the step fails as stalled.
    pub reply_timeout: Duration,
    pub blob_alignment: AlignmentChoice,
    /// The name the server logs for this client.
    pub renderer_name: String,
}

impl VtestOptions {
    /// The socket from `VTEST_SOCKET_NAME` (default `/tmp/.virgl_test`), the blob alignment from
    /// `VENUS_RS_BLOB_ALIGN`, the process's name, and the stall timeout (`VENUS_RS_STALL_TIMEOUT`,
    /// 10 s) as the reply timeout: the server answers every request of ours at once (Vulkan work runs
    /// on rings, not on the socket), so a server silent for that long is stopped or hung.
    pub fn from_env() -> Result<VtestOptions, TransportError> {
        let socket_path = std::env::var_os(protocol::SOCKET_PATH_ENV)
            .filter(|path| !path.is_empty())
            .map_or_else(
                || PathBuf::from(protocol::DEFAULT_SOCKET_PATH),
                PathBuf::from,
            );
        let blob_alignment = AlignmentChoice::from_env()
            .map_err(|detail| error(Step::Config, ErrorKind::Config, detail))?;
        let reply_timeout = crate::stall::stall_timeout_from_env()
            .map_err(|detail| error(Step::Config, ErrorKind::Config, detail))?;
        Ok(VtestOptions {
            socket_path,
            reply_timeout,
            blob_alignment,
            renderer_name: process_name(),
        })
    }
}

/// The name the server knows the client by: the process's, as Mesa's vtest client sends it (the
/// host's log then names the program), or "venus-rs" where the process has none.
fn process_name() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .ok()
        .map(|name| name.trim_end().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "venus-rs".to_string())
}

/// The sync object that stands for one ring's fence timeline, and the last point handed out on it.
#[derive(Clone, Copy, Debug)]
struct Timeline {
    sync_id: u32,
    last_point: u64,
}

pub struct VtestTransport {
    id: TransportId,
    connection: Connection,
    socket_path: PathBuf,
    blob_alignment: AlignmentChoice,
    protocol_version: u32,
    max_timeline_count: u32,
    context: Option<ContextParams>,
    timelines: HashMap<u32, Timeline>,
}

impl VtestTransport {
    /// Connects and runs the handshake: CREATE_RENDERER, PING_PROTOCOL_VERSION, PROTOCOL_VERSION (≥ 3
    /// required) and GET_PARAM(MAX_TIMELINE_COUNT) (non-zero required).
    pub fn connect(options: VtestOptions) -> Result<VtestTransport, TransportError> {
        let mut connection = Connection::connect(&options.socket_path, options.reply_timeout)?;

        connection.post(
            Step::CreateRenderer,
            &protocol::create_renderer(&options.renderer_name),
        )?;

        let step = Step::ProtocolVersion;
        let deadline = connection.request(
            step,
            &protocol::message(protocol::command::PING_PROTOCOL_VERSION, &[]),
        )?;
        connection.read_reply(step, protocol::command::PING_PROTOCOL_VERSION, 0, &deadline)?;
        let deadline = connection.request(
            step,
            &protocol::message(
                protocol::command::PROTOCOL_VERSION,
                &[protocol::CLIENT_PROTOCOL_VERSION],
            ),
        )?;
        let protocol_version =
            connection.read_reply(step, protocol::command::PROTOCOL_VERSION, 1, &deadline)?[0];
        if protocol_version < 3 {
            return Err(error(
                step,
                ErrorKind::Unsupported,
                format!(
                    "the server speaks vtest protocol {protocol_version}; Venus needs 3 or newer \
                     (0 also means the server lacks shared memory support)"
                ),
            ));
        }

        let step = Step::GetParam;
        let deadline = connection.request(
            step,
            &protocol::message(
                protocol::command::GET_PARAM,
                &[protocol::param::MAX_TIMELINE_COUNT],
            ),
        )?;
        let reply = connection.read_reply(step, protocol::command::GET_PARAM, 2, &deadline)?;
        let (valid, max_timeline_count) = (reply[0], reply[1]);
        if valid == 0 || max_timeline_count == 0 {
            return Err(error(
                step,
                ErrorKind::Unsupported,
                "the server has no fence timelines (MAX_TIMELINE_COUNT is 0 or unknown)",
            ));
        }

        Ok(VtestTransport {
            id: TransportId::next(),
            connection,
            socket_path: options.socket_path,
            blob_alignment: options.blob_alignment,
            protocol_version,
            max_timeline_count,
            context: None,
            timelines: HashMap::new(),
        })
    }

    fn context(&self, step: Step) -> Result<ContextParams, TransportError> {
        self.context.ok_or_else(|| {
            error(
                step,
                ErrorKind::InvalidArgument,
                "the context is not initialized: call init_context first",
            )
        })
    }

    /// SYNC_CREATE: a sync object (a 64-bit timeline value on the server) starting at `initial_value`.
    pub fn sync_create(&mut self, initial_value: u64) -> Result<u32, TransportError> {
        let step = Step::CreateSync;
        let message = protocol::message(
            protocol::command::SYNC_CREATE,
            &protocol::split_u64(initial_value),
        );
        let deadline = self.connection.request(step, &message)?;
        Ok(self
            .connection
            .read_reply(step, protocol::command::SYNC_CREATE, 1, &deadline)?[0])
    }

    /// SYNC_READ: the current value of a sync object.
    pub fn sync_read(&mut self, sync_id: u32) -> Result<u64, TransportError> {
        let step = Step::ReadSync;
        let message = protocol::message(protocol::command::SYNC_READ, &[sync_id]);
        let deadline = self.connection.request(step, &message)?;
        let reply = self
            .connection
            .read_reply(step, protocol::command::SYNC_READ, 2, &deadline)?;
        Ok(u64::from(reply[0]) | (u64::from(reply[1]) << 32))
    }

    /// SYNC_UNREF: drops a sync object (the server answers nothing).
    pub fn sync_unref(&mut self, sync_id: u32) -> Result<(), TransportError> {
        self.timelines
            .retain(|_, timeline| timeline.sync_id != sync_id);
        self.connection.post(
            Step::UnrefSync,
            &protocol::message(protocol::command::SYNC_UNREF, &[sync_id]),
        )
    }

    /// SYNC_WAIT: waits up to `timeout` until every `(sync_id, value)` point is reached, or any one of
    /// them with `wait_any`. The server answers at once with an eventfd that becomes readable then.
    pub fn sync_wait(
        &mut self,
        points: &[(u32, u64)],
        wait_any: bool,
        timeout: Duration,
    ) -> Result<WaitOutcome, TransportError> {
        let step = Step::WaitFence;
        // Rounded up, so that a sub-millisecond wait does not become a mere poll.
        let timeout_ms = u32::try_from(timeout.as_nanos().div_ceil(1_000_000))
            .unwrap_or(protocol::SYNC_WAIT_MAX_TIMEOUT_MS)
            .min(protocol::SYNC_WAIT_MAX_TIMEOUT_MS);
        let mut payload = vec![
            if wait_any {
                protocol::SYNC_WAIT_FLAG_ANY
            } else {
                0
            },
            timeout_ms,
        ];
        for &(sync_id, value) in points {
            payload.push(sync_id);
            payload.extend_from_slice(&protocol::split_u64(value));
        }
        let wait_deadline = Deadline::after(timeout);
        let deadline = self.connection.request(
            step,
            &protocol::message(protocol::command::SYNC_WAIT, &payload),
        )?;
        self.connection
            .read_reply(step, protocol::command::SYNC_WAIT, 0, &deadline)?;
        let ready_fd = self.connection.receive_fd(step, &deadline)?;
        match wait_for_events(ready_fd.as_fd(), PollFlags::IN, &wait_deadline) {
            Ok(Some(events)) if events.contains(PollFlags::IN) => Ok(WaitOutcome::Signaled),
            Ok(Some(events)) => Err(error(
                step,
                ErrorKind::Protocol,
                format!("the server's wait fd reported {events:?} instead of becoming readable"),
            )),
            Ok(None) => Ok(WaitOutcome::TimedOut),
            Err(errno) => Err(error(step, kind_of_errno(errno), format!("poll: {errno}"))),
        }
    }

    /// The sync object of `ring_idx`'s fence timeline, made on first use.
    fn timeline(&mut self, ring_idx: u32) -> Result<Timeline, TransportError> {
        if let Some(timeline) = self.timelines.get(&ring_idx) {
            return Ok(*timeline);
        }
        let timeline = Timeline {
            sync_id: self.sync_create(0)?,
            last_point: 0,
        };
        self.timelines.insert(ring_idx, timeline);
        Ok(timeline)
    }

    fn submit_batch(
        &mut self,
        ring_idx: u32,
        commands: &[u8],
        syncs: &[(u32, u64)],
    ) -> Result<(), TransportError> {
        let step = Step::Submit;
        check_commands(KIND, commands)?;
        let context = self.context(step)?;
        if ring_idx >= context.num_rings {
            return Err(error(
                step,
                ErrorKind::InvalidArgument,
                format!(
                    "ring index {ring_idx} is not below the context's {} rings",
                    context.num_rings
                ),
            ));
        }
        let message = protocol::submit_cmd2(ring_idx, commands, syncs);
        self.connection.post(step, &message)
    }
}

impl Transport for VtestTransport {
    fn info(&self) -> TransportInfo {
        TransportInfo {
            kind: KIND,
            blob_alignment: self.blob_alignment.alignment,
            blob_alignment_source: self.blob_alignment.source,
            details: TransportDetails::Vtest {
                socket: self.socket_path.clone(),
                protocol_version: self.protocol_version,
                max_timeline_count: self.max_timeline_count,
            },
        }
    }

    fn read_capset(&mut self) -> Result<VenusCapset, TransportError> {
        let step = Step::ReadCapset;
        let deadline = self.connection.request(
            step,
            &protocol::message(protocol::command::GET_CAPSET, &[VENUS_CAPSET_ID, 0]),
        )?;
        let len =
            self.connection
                .read_reply_header(step, protocol::command::GET_CAPSET, &deadline)?;
        if len == 0 {
            return Err(error(
                step,
                ErrorKind::Protocol,
                "GET_CAPSET reply without a payload",
            ));
        }
        let valid = self.connection.read_words(step, 1, &deadline)?[0];
        let bytes = self.connection.read_bytes(step, (len - 1) * 4, &deadline)?;
        if valid == 0 {
            return Err(error(
                step,
                ErrorKind::Unsupported,
                "the server has no Venus capset (start virgl_test_server with --venus)",
            ));
        }
        VenusCapset::decode(&bytes).map_err(|e| error(step, ErrorKind::Protocol, e.to_string()))
    }

    fn init_context(&mut self, params: ContextParams) -> Result<(), TransportError> {
        let step = Step::InitContext;
        if self.context.is_some() {
            return Err(error(
                step,
                ErrorKind::InvalidArgument,
                "the context is already initialized",
            ));
        }
        if params.num_rings == 0 || params.num_rings > self.max_timeline_count {
            return Err(error(
                step,
                ErrorKind::InvalidArgument,
                format!(
                    "{} rings asked; the server offers 1 to {} timelines",
                    params.num_rings, self.max_timeline_count
                ),
            ));
        }
        self.connection.post(
            step,
            &protocol::message(protocol::command::CONTEXT_INIT, &[VENUS_CAPSET_ID]),
        )?;
        // CONTEXT_INIT has no reply; a ping shows whether the server accepted it or dropped us.
        let deadline = self.connection.request(
            step,
            &protocol::message(protocol::command::PING_PROTOCOL_VERSION, &[]),
        )?;
        self.connection
            .read_reply(step, protocol::command::PING_PROTOCOL_VERSION, 0, &deadline)?;
        self.context = Some(params);
        Ok(())
    }

    fn create_blob(&mut self, request: BlobRequest) -> Result<Blob, TransportError> {
        let step = Step::CreateBlob;
        self.context(step)?;
        let size = checked_blob_size(KIND, self.blob_alignment.alignment, &request)?;
        let [size_lo, size_hi] = protocol::split_u64(size);
        let [id_lo, id_hi] = protocol::split_u64(request.blob_id);
        let message = protocol::message(
            protocol::command::RESOURCE_CREATE_BLOB,
            &[
                request.blob_mem.raw(),
                request.flags.bits(),
                size_lo,
                size_hi,
                id_lo,
                id_hi,
            ],
        );
        let deadline = self.connection.request(step, &message)?;
        let res_id = self.connection.read_reply(
            step,
            protocol::command::RESOURCE_CREATE_BLOB,
            1,
            &deadline,
        )?[0];
        let fd = self.connection.receive_fd(step, &deadline)?;
        Ok(Blob {
            owner: self.id,
            res_id,
            size,
            request,
            handle: BlobHandle::Fd(fd),
        })
    }

    fn map_blob(&mut self, blob: &Blob) -> Result<SharedMemory, TransportError> {
        let step = Step::MapBlob;
        if blob.owner != self.id {
            return Err(foreign_object(KIND, step, "blob"));
        }
        if !blob.request.flags.contains(BlobFlags::MAPPABLE) {
            return Err(error(
                step,
                ErrorKind::InvalidArgument,
                "the blob was not created MAPPABLE",
            ));
        }
        let BlobHandle::Fd(fd) = &blob.handle else {
            return Err(foreign_object(KIND, step, "blob"));
        };
        SharedMemory::map(fd.as_fd(), 0, blob.size).map_err(|e| {
            error(
                step,
                kind_of_map_error(&e),
                format!("mmap of the blob fd (resource {}): {e}", blob.res_id),
            )
        })
    }

    fn destroy_blob(&mut self, blob: Blob) -> Result<(), TransportError> {
        let step = Step::DestroyBlob;
        if blob.owner != self.id {
            return Err(foreign_object(KIND, step, "blob"));
        }
        self.connection.post(
            step,
            &protocol::message(protocol::command::RESOURCE_UNREF, &[blob.res_id]),
        )
    }

    fn submit(&mut self, ring_idx: u32, commands: &[u8]) -> Result<(), TransportError> {
        self.submit_batch(ring_idx, commands, &[])
    }

    fn submit_with_fence(
        &mut self,
        ring_idx: u32,
        commands: &[u8],
    ) -> Result<Fence, TransportError> {
        self.context(Step::Submit)?;
        let mut timeline = self.timeline(ring_idx)?;
        timeline.last_point += 1;
        self.submit_batch(
            ring_idx,
            commands,
            &[(timeline.sync_id, timeline.last_point)],
        )?;
        self.timelines.insert(ring_idx, timeline);
        Ok(Fence {
            owner: self.id,
            ring_idx,
            state: FenceState::VtestSync {
                sync_id: timeline.sync_id,
                value: timeline.last_point,
            },
        })
    }

    fn wait_fence(
        &mut self,
        fence: &Fence,
        timeout: Duration,
    ) -> Result<WaitOutcome, TransportError> {
        let step = Step::WaitFence;
        if fence.owner != self.id {
            return Err(foreign_object(KIND, step, "fence"));
        }
        let FenceState::VtestSync { sync_id, value } = fence.state else {
            return Err(foreign_object(KIND, step, "fence"));
        };
        self.sync_wait(&[(sync_id, value)], false, timeout)
    }

    fn check_connection(&mut self) -> Result<(), TransportError> {
        self.connection.check_open(Step::CheckConnection)
    }
}
