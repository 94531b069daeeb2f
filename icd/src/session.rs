//! The Venus bring-up, step by step, and the session it produces: a transport, the host's protocol
//! level, the instance ring and the reply shared memory, with synchronous calls through the ring.
//!
//! `venus-probe` runs the steps one at a time and prints each; the ICD runs them all when the instance
//! is created and names the step when one fails. Every wait is bounded: a host that shows no sign of
//! life for the stall timeout is lost ([`crate::liveness`]), and the error names what was being waited
//! for and the ring's head/tail/status at that moment. After a lost host every later call fails at
//! once with the first loss named.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use venus_rs_encoder::guest::mesa::RingMonitorInfoMESA;
use venus_rs_encoder::guest::{self, GuestContext};
use venus_rs_encoder::protocol::{HostProtocol, GENERATE_REPLY};
use venus_rs_encoder::wire::{Decoder, EncodeError, Limits, Writer};
use venus_rs_kernel_iface::virtgpu::{find_render_node, VirtGpuOptions, VirtGpuTransport};
use venus_rs_kernel_iface::vtest::{VtestOptions, VtestTransport};
use venus_rs_kernel_iface::{
    stall_timeout_from_env, Blob, BlobRequest, ContextParams, Transport, TransportError,
    TransportInfo, TransportKind, VenusCapset, WaitOutcome, STALL_TIMEOUT_ENV,
};
use venus_rs_shmem::SharedMemory;

use crate::liveness::{self, Liveness, Verdict, WaitLimits};
use crate::log::Level;
use crate::ring::{Ring, RingLayout, RingMonitor, RingState, RingWriteError};
use crate::ring_sharing;
use crate::venus_log;

/// `VENUS_RS_TRANSPORT=vtest|virtgpu` picks the transport; unset means virtio-gpu when a `virtio_gpu`
/// render node exists, else vtest when `VTEST_SOCKET_NAME` names a socket.
pub const TRANSPORT_ENV: &str = "VENUS_RS_TRANSPORT";

/// The ring id of the instance ring. Ring ids are a namespace of their own, chosen by the guest.
const INSTANCE_RING_ID: u64 = 1;
/// How long the host's ring thread keeps polling after the last command before it sleeps (Mesa's value).
const RING_IDLE_TIMEOUT_NS: u64 = 1_000_000;
/// How often a wait on the ring checks that the host is still there and re-notifies an idle ring.
const WAIT_CHECK_PERIOD: Duration = Duration::from_millis(50);
/// A wait on a fence goes in slices of this length, looking at the host's signs of life in between.
const FENCE_WAIT_SLICE: Duration = Duration::from_millis(100);
/// A pattern that no zeroed or stale memory holds, for the ring memory check.
const MEMORY_CHECK_PATTERN: [u8; 16] = *b"venus-rs probe\x5a\xa5";

/// The steps of the bring-up, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// virtio-gpu: find the `virtio_gpu` render node; vtest: find the server's socket.
    DeviceNode,
    /// virtio-gpu: open the node and check its GETPARAMs; vtest: connect and negotiate the protocol.
    Params,
    /// Read and check the Venus capset.
    Capset,
    /// Create the Venus context.
    ContextInit,
    /// Create and map the ring blob, and check the mapping with a write and a read-back.
    RingBlob,
    /// vkCreateRingMESA on the context path (EXECBUFFER or SUBMIT_CMD2), fenced.
    CreateRing,
    /// vkWriteRingExtraMESA on the context path, fenced, and the host's write read back through the
    /// guest's mapping: proof that both sides share the ring memory.
    RingShared,
    /// Create and map the reply shared memory and make it the ring's reply stream.
    ReplyShmem,
    /// vkEnumerateInstanceVersion through the ring, reply decoded.
    RoundTrip,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::DeviceNode,
        Step::Params,
        Step::Capset,
        Step::ContextInit,
        Step::RingBlob,
        Step::CreateRing,
        Step::RingShared,
        Step::ReplyShmem,
        Step::RoundTrip,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::DeviceNode => "device-node",
            Step::Params => "params",
            Step::Capset => "capset",
            Step::ContextInit => "context-init",
            Step::RingBlob => "ring-blob",
            Step::CreateRing => "create-ring",
            Step::RingShared => "ring-shared",
            Step::ReplyShmem => "reply-shmem",
            Step::RoundTrip => "round-trip",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Step::DeviceNode => "find the device node (or vtest socket)",
            Step::Params => "open the transport and check its params",
            Step::Capset => "read the Venus capset",
            Step::ContextInit => "create the Venus context",
            Step::RingBlob => "create, map and check the ring blob",
            Step::CreateRing => "vkCreateRingMESA on the context path",
            Step::RingShared => "check that the host's writes to the ring reach the guest",
            Step::ReplyShmem => "reply shmem with vkSetReplyCommandStreamMESA",
            Step::RoundTrip => "vkEnumerateInstanceVersion through the ring",
        }
    }

    /// How long the step may take before a watchdog gives up on it: generous enough for a guest under
    /// TCG emulation, short enough that a hang is reported within a minute.
    pub fn timeout(self) -> Duration {
        match self {
            Step::DeviceNode | Step::Capset | Step::ContextInit => Duration::from_secs(10),
            Step::Params | Step::CreateRing | Step::RingShared => Duration::from_secs(20),
            Step::RingBlob | Step::ReplyShmem | Step::RoundTrip => Duration::from_secs(30),
        }
    }

    /// What usually causes this step to fail, for the line after the error.
    pub fn hint(self, kind: TransportKind) -> &'static str {
        match (self, kind) {
            (Step::DeviceNode, TransportKind::VirtGpu) => {
                "no virtio_gpu render node: start the VM with -device virtio-gpu-gl-pci,blob=true,venus=true \
                 and load the virtio_gpu module"
            }
            (Step::DeviceNode, TransportKind::Vtest) => {
                "no vtest socket: start `virgl_test_server --venus` and point VTEST_SOCKET_NAME at its socket"
            }
            (Step::Params, _) => "the transport lacks what Venus needs; the error names what",
            (Step::Capset, _) => "the host offers no usable Venus capset: is venus=true set / --venus given?",
            (Step::ContextInit, _) => "the host refused the Venus context: check the host log",
            (Step::RingBlob, _) => {
                "blob creation or mapping failed: check hostmem= (virtio-gpu) and the host log; a map that \
                 hangs means the host cannot map the blob (blob alignment, VENUS_RS_BLOB_ALIGN)"
            }
            (Step::CreateRing, _) => "the host did not take vkCreateRingMESA: check the host log",
            (Step::RingShared, _) => {
                "the host did not answer vkWriteRingExtraMESA on the context path: check the host log"
            }
            (Step::ReplyShmem, _) | (Step::RoundTrip, _) => {
                "see the ring state: a head that never moved means the host cannot see the ring memory \
                 (check blob alignment); FATAL means the host rejected a command"
            }
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure of the bring-up or of a call through the ring.
#[derive(Clone, Debug)]
pub struct SessionError {
    /// The bring-up step, or `None` for a call after the bring-up.
    pub step: Option<Step>,
    /// What was being done: the step's description or the command's name.
    pub what: String,
    pub detail: String,
    /// The ring's control words when the error happened, once a ring exists.
    pub ring: Option<RingState>,
    pub hint: Option<String>,
    /// The host is gone or the context is dead: no later call can succeed.
    pub lost: bool,
}

impl SessionError {
    fn new(what: impl Into<String>, detail: impl Into<String>) -> SessionError {
        SessionError {
            step: None,
            what: what.into(),
            detail: detail.into(),
            ring: None,
            hint: None,
            lost: false,
        }
    }

    fn transport(what: &str, error: TransportError) -> SessionError {
        // A server that closed the connection or stopped answering is gone for good: the vtest
        // connection refuses all further use after either.
        let lost = matches!(
            error.kind,
            venus_rs_kernel_iface::ErrorKind::Disconnected
                | venus_rs_kernel_iface::ErrorKind::TimedOut
        );
        SessionError {
            lost,
            ..SessionError::new(what, error.to_string())
        }
    }

    fn at_step(mut self, step: Step) -> SessionError {
        self.step = Some(step);
        self
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(step) => write!(f, "step {step} ({}) failed: {}", self.what, self.detail)?,
            None => write!(f, "{} failed: {}", self.what, self.detail)?,
        }
        if let Some(ring) = &self.ring {
            write!(f, " [ring {ring}]")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SessionError {}

#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub kind: TransportKind,
    /// The instance ring's command buffer (a power of two).
    pub ring_buffer_size: u32,
    /// The first reply shared memory; it grows when a reply needs more.
    pub reply_size: u64,
    /// The longest any single wait may take while the host keeps showing signs of life.
    pub wait_timeout: Duration,
    /// How long the host may show no sign of life before it is lost (`VENUS_RS_STALL_TIMEOUT`).
    pub stall_timeout: Duration,
    /// How many vkEnumerateInstanceVersion round trips the last step makes (at least 1).
    pub round_trips: u32,
}

impl SessionOptions {
    pub fn new(kind: TransportKind) -> SessionOptions {
        SessionOptions {
            kind,
            ring_buffer_size: 128 * 1024,
            reply_size: 1024 * 1024,
            wait_timeout: Duration::from_secs(10),
            stall_timeout: venus_rs_kernel_iface::DEFAULT_STALL_TIMEOUT,
            round_trips: 1,
        }
    }

    /// [`SessionOptions::new`] with the stall timeout from `VENUS_RS_STALL_TIMEOUT`; `Err` names the
    /// bad value.
    pub fn from_env(kind: TransportKind) -> Result<SessionOptions, String> {
        Ok(SessionOptions {
            stall_timeout: stall_timeout_from_env()?,
            ..SessionOptions::new(kind)
        })
    }

    fn wait_limits(&self) -> WaitLimits {
        WaitLimits {
            stall: self.stall_timeout,
            busy: self.wait_timeout.max(self.stall_timeout),
        }
    }
}

/// The transport that `VENUS_RS_TRANSPORT` names, or the one that is there. `Err` carries the reason
/// there is none, in one line.
pub fn select_transport() -> Result<TransportKind, String> {
    if let Some(text) = std::env::var_os(TRANSPORT_ENV) {
        let text = text.to_string_lossy();
        return text
            .parse::<TransportKind>()
            .map_err(|e| format!("{TRANSPORT_ENV}: {e}"));
    }
    let virtgpu = find_render_node();
    if virtgpu.is_ok() {
        return Ok(TransportKind::VirtGpu);
    }
    if std::env::var_os("VTEST_SOCKET_NAME").is_some_and(|v| !v.is_empty()) {
        return Ok(TransportKind::Vtest);
    }
    let why = virtgpu.err().map(|e| e.detail).unwrap_or_default();
    Err(format!(
        "no Venus host: {why}; and VTEST_SOCKET_NAME is not set (set {TRANSPORT_ENV}=vtest to use the \
         default vtest socket)"
    ))
}

/// What one finished step reports.
#[derive(Clone, Debug)]
pub struct StepReport {
    pub step: Step,
    pub elapsed: Duration,
    /// One line of what the step found.
    pub detail: String,
    /// Machine-readable findings, for `venus-probe --json`.
    pub data: serde_json::Value,
    /// Set once the ring exists, so that a watchdog can read its state.
    pub ring: Option<RingMonitor>,
}

/// The reply shared memory: one blob at a time is the reply stream.
struct ReplyMemory {
    blob: Blob,
    memory: SharedMemory,
}

/// A connected host with its instance ring.
pub struct Session {
    transport: Box<dyn Transport>,
    info: TransportInfo,
    capset: VenusCapset,
    protocol: Arc<HostProtocol>,
    ring: Ring,
    ring_blob: Blob,
    reply: ReplyMemory,
    /// Reply blobs replaced by larger ones. They stay alive until the session ends: destroying a
    /// resource the host may still use as a reply stream would kill the context.
    retired_replies: Vec<Blob>,
    /// Shared memory for command streams too large for the ring (vkExecuteCommandStreamsMESA).
    streams: Vec<StreamBuffer>,
    limits: WaitLimits,
    /// The first error that lost the host; every later call fails with it at once.
    lost: Option<String>,
    host_instance_version: u32,
}

/// One shared-memory buffer of indirect command streams, free again once the ring has passed
/// the command that made the host read it.
struct StreamBuffer {
    blob: Blob,
    memory: SharedMemory,
    read_by: u32,
}

fn identity_id(raw: u64) -> u64 {
    raw
}

/// Encodes one command into a buffer of exactly its size.
pub fn encode(
    size: usize,
    write: impl FnOnce(&mut Writer<'_>) -> Result<usize, EncodeError>,
) -> Result<Vec<u8>, EncodeError> {
    let mut bytes = vec![0u8; size];
    let mut writer = Writer::new(&mut bytes);
    let written = write(&mut writer)?;
    bytes.truncate(written);
    Ok(bytes)
}

/// Streams up to this fraction of the ring go into it directly; larger ones are written to shared
/// memory and run with vkExecuteCommandStreamsMESA (Mesa uses a sixteenth), so that one large
/// command buffer never waits for the whole ring to drain.
const DIRECT_STREAM_FRACTION: u32 = 8;

/// `VkCommandStreamDescriptionMESA` in its C layout, for the generated encoder.
#[repr(C)]
struct CommandStreamDescription {
    resource_id: u32,
    offset: usize,
    size: usize,
}

/// Runs the whole bring-up, reporting each finished step to `report`.
pub fn connect(
    options: &SessionOptions,
    report: &mut dyn FnMut(StepReport),
) -> Result<Session, SessionError> {
    let kind = options.kind;
    let mut timer = Instant::now();
    let mut finish =
        |step: Step, detail: String, data: serde_json::Value, ring: Option<RingMonitor>| {
            let elapsed = timer.elapsed();
            venus_log!(
                Level::Info,
                "bring-up step {step}: ok in {elapsed:.1?}: {detail}"
            );
            report(StepReport {
                step,
                elapsed,
                detail,
                data,
                ring,
            });
            timer = Instant::now();
        };
    let fail = |step: Step| {
        move |error: SessionError| {
            let mut error = error.at_step(step);
            if error.hint.is_none() {
                error.hint = Some(step.hint(kind).to_string());
            }
            error
        }
    };

    // Device node.
    let step = Step::DeviceNode;
    let node = match kind {
        TransportKind::VirtGpu => {
            let node = find_render_node()
                .map_err(|e| SessionError::transport(step.describe(), e))
                .map_err(fail(step))?;
            finish(
                step,
                format!("{}", node.display()),
                serde_json::json!({ "node": node.display().to_string() }),
                None,
            );
            Some(node)
        }
        TransportKind::Vtest => {
            let vtest = VtestOptions::from_env()
                .map_err(|e| SessionError::transport(step.describe(), e))
                .map_err(fail(step))?;
            let socket = vtest.socket_path.clone();
            if !is_socket(&socket) {
                return Err(fail(step)(SessionError::new(
                    step.describe(),
                    format!("{} is not a socket", socket.display()),
                )));
            }
            finish(
                step,
                format!("vtest socket {}", socket.display()),
                serde_json::json!({ "socket": socket.display().to_string() }),
                None,
            );
            None
        }
    };

    // Params.
    let step = Step::Params;
    let mut transport = open_transport(kind, node)
        .map_err(|e| SessionError::transport(step.describe(), e))
        .map_err(fail(step))?;
    let info = transport.info();
    finish(step, info.to_string(), transport_json(&info), None);

    // Capset.
    let step = Step::Capset;
    let capset = transport
        .read_capset()
        .map_err(|e| SessionError::transport(step.describe(), e))
        .map_err(fail(step))?;
    let missing = capset.missing_requirements();
    if !missing.is_empty() {
        return Err(fail(step)(SessionError::new(
            step.describe(),
            format!("the capset lacks what Venus needs: {}", missing.join("; ")),
        )));
    }
    let protocol = Arc::new(HostProtocol::from_capset(
        capset.vk_xml_version.0,
        capset.vk_mesa_venus_protocol_spec_version,
        capset.vk_extension_mask1,
    ));
    finish(step, capset.to_string(), capset_json(&capset), None);

    // Context.
    let step = Step::ContextInit;
    let context = ContextParams::default();
    transport
        .init_context(context)
        .map_err(|e| SessionError::transport(step.describe(), e))
        .map_err(fail(step))?;
    finish(
        step,
        format!(
            "capset 4, {} rings, poll mask {:#x}",
            context.num_rings, context.poll_rings_mask
        ),
        serde_json::json!({ "num_rings": context.num_rings, "poll_rings_mask": context.poll_rings_mask }),
        None,
    );

    // Ring blob.
    let step = Step::RingBlob;
    let layout = RingLayout::new(options.ring_buffer_size, info.blob_alignment)
        .map_err(|e| SessionError::new(step.describe(), e))
        .map_err(fail(step))?;
    let ring_blob = transport
        .create_blob(BlobRequest::shmem(layout.blob_size()))
        .map_err(|e| SessionError::transport(step.describe(), e))
        .map_err(fail(step))?;
    let ring_memory = transport
        .map_blob(&ring_blob)
        .map_err(|e| SessionError::transport(step.describe(), e))
        .map_err(fail(step))?;
    let ring = Ring::new(ring_memory, layout)
        .map_err(|e| SessionError::new(step.describe(), format!("ring memory: {e}")))
        .map_err(fail(step))?;
    let readable = ring
        .check_memory(&MEMORY_CHECK_PATTERN)
        .map_err(|e| SessionError::new(step.describe(), format!("ring memory: {e}")))
        .map_err(fail(step))?;
    if !readable {
        return Err(fail(step)(SessionError::new(
            step.describe(),
            "a pattern written to the mapped ring did not read back: the mapping is not memory",
        )));
    }
    finish(
        step,
        format!(
            "resource {} size {} (blob alignment {}), buffer {} bytes, write/read-back ok",
            ring_blob.res_id(),
            ring_blob.size(),
            crate::alignment_report::describe(&info),
            layout.buffer_size()
        ),
        serde_json::json!({
            "resource_id": ring_blob.res_id(),
            "blob_size": ring_blob.size(),
            "blob_alignment": info.blob_alignment.bytes(),
            "blob_alignment_decision": crate::alignment_report::json(&info),
            "buffer_size": layout.buffer_size(),
        }),
        Some(ring.monitor()),
    );

    // vkCreateRingMESA.
    let step = Step::CreateRing;
    let cx = GuestContext {
        host: &protocol,
        dispatchable_id: identity_id,
    };
    let monitor_period = liveness::monitor_period(options.stall_timeout);
    // The host's ring monitor reports ALIVE at least this often: what tells a busy host from a
    // stalled one while the guest waits.
    let monitor_info = RingMonitorInfoMESA {
        max_reporting_period_microseconds: u32::try_from(monitor_period.as_micros())
            .unwrap_or(u32::MAX),
        ..RingMonitorInfoMESA::default()
    };
    let mut create_info = layout.create_info(ring_blob.res_id(), RING_IDLE_TIMEOUT_NS);
    create_info.p_next = std::ptr::addr_of!(monitor_info).cast();
    let info_ptr = std::ptr::addr_of!(create_info).cast();
    // SAFETY: `create_info` is a VkRingCreateInfoMESA in its C layout whose pNext is `monitor_info`, a
    // VkRingMonitorInfoMESA in its C layout with a NULL pNext; both alive across both calls.
    let command = encode(
        unsafe { guest::vk_create_ring_mesa_size(&cx, INSTANCE_RING_ID, info_ptr) },
        |w| unsafe { guest::vk_create_ring_mesa(w, &cx, 0, INSTANCE_RING_ID, info_ptr) },
    )
    .map_err(|e| SessionError::new(step.describe(), format!("encode: {e}")))
    .map_err(fail(step))?;
    fenced_context_submit(
        transport.as_mut(),
        step.describe(),
        &command,
        options.stall_timeout,
    )
    .map_err(fail(step))?;
    finish(
        step,
        format!(
            "{} bytes on the context path (ring 0), fence signaled; ring id {INSTANCE_RING_ID}, \
             monitor period {monitor_period:?}",
            command.len()
        ),
        serde_json::json!({
            "command_bytes": command.len(),
            "ring_id": INSTANCE_RING_ID,
            "monitor_period_us": monitor_period.as_micros() as u64,
        }),
        None,
    );

    // The host sees the ring memory.
    let step = Step::RingShared;
    let command = ring_sharing::probe_command(&cx, INSTANCE_RING_ID)
        .map_err(|e| SessionError::new(step.describe(), format!("encode: {e}")))
        .map_err(fail(step))?;
    fenced_context_submit(
        transport.as_mut(),
        step.describe(),
        &command,
        options.stall_timeout,
    )
    .map_err(fail(step))?;
    let seen = ring
        .extra()
        .map_err(|e| SessionError::new(step.describe(), format!("ring memory: {e}")))
        .map_err(fail(step))?;
    if let Some(not_shared) = ring_sharing::diagnose(seen, ring_blob.size(), &info) {
        return Err(SessionError {
            step: Some(step),
            ring: ring.state().ok(),
            hint: Some(not_shared.hint),
            ..SessionError::new(step.describe(), not_shared.detail)
        });
    }
    finish(
        step,
        "the host's vkWriteRingExtraMESA is visible in the guest's mapping: the ring memory is shared"
            .to_string(),
        serde_json::json!({ "extra": seen }),
        None,
    );

    // Reply shared memory.
    let step = Step::ReplyShmem;
    let reply = create_reply_memory(transport.as_mut(), options.reply_size)
        .map_err(|e| SessionError::transport(step.describe(), e))
        .map_err(fail(step))?;
    let reply_detail = format!(
        "resource {} size {}",
        reply.blob.res_id(),
        reply.blob.size()
    );
    let reply_data = serde_json::json!({
        "resource_id": reply.blob.res_id(),
        "blob_size": reply.blob.size(),
    });
    let mut session = Session {
        transport,
        info,
        capset,
        protocol,
        ring,
        ring_blob,
        reply,
        retired_replies: Vec::new(),
        streams: Vec::new(),
        limits: options.wait_limits(),
        lost: None,
        host_instance_version: 0,
    };
    let set_reply = session
        .set_reply_stream(64)
        .map_err(|e| SessionError::new(step.describe(), format!("encode: {e}")))
        .map_err(fail(step))?;
    let seqno = session
        .submit_to_ring(step.describe(), &set_reply)
        .map_err(fail(step))?;
    session
        .wait_for(step.describe(), seqno)
        .map_err(fail(step))?;
    finish(
        step,
        format!("{reply_detail}; vkSetReplyCommandStreamMESA consumed by the ring (seqno {seqno})"),
        reply_data,
        None,
    );

    // Round trip.
    let step = Step::RoundTrip;
    let mut times = Vec::new();
    for _ in 0..options.round_trips.max(1) {
        let started = Instant::now();
        session.host_instance_version = session.enumerate_instance_version().map_err(fail(step))?;
        times.push(started.elapsed());
    }
    times.sort();
    let version = venus_rs_kernel_iface::VkVersion(session.host_instance_version);
    let detail = if times.len() == 1 {
        format!("host instance version {version} (reply decoded)")
    } else {
        format!(
            "host instance version {version} (reply decoded); {} round trips: min {:.1?} median {:.1?} max {:.1?}",
            times.len(),
            times[0],
            times[times.len() / 2],
            times[times.len() - 1]
        )
    };
    finish(
        step,
        detail,
        serde_json::json!({
            "instance_version": version.to_string(),
            "instance_version_raw": session.host_instance_version,
            "round_trips": times.len(),
            "median_us": times[times.len() / 2].as_micros() as u64,
        }),
        None,
    );
    Ok(session)
}

fn is_socket(path: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

fn open_transport(
    kind: TransportKind,
    node: Option<PathBuf>,
) -> Result<Box<dyn Transport>, TransportError> {
    match kind {
        TransportKind::VirtGpu => {
            let mut options = VirtGpuOptions::from_env()?;
            options.node = node;
            Ok(Box::new(VirtGpuTransport::open(options)?))
        }
        TransportKind::Vtest => Ok(Box::new(
            VtestTransport::connect(VtestOptions::from_env()?)?,
        )),
    }
}

/// Sends `command` on the context path with a fence and waits for it: the host has run the command once
/// the fence signals. The context path answers at once, so a silent host is stalled after `timeout`.
fn fenced_context_submit(
    transport: &mut dyn Transport,
    what: &str,
    command: &[u8],
    timeout: Duration,
) -> Result<(), SessionError> {
    let fence = transport
        .submit_with_fence(0, command)
        .map_err(|e| SessionError::transport(what, e))?;
    match transport.wait_fence(&fence, timeout) {
        Ok(WaitOutcome::Signaled) => Ok(()),
        Ok(WaitOutcome::TimedOut) => Err(SessionError {
            lost: true,
            ..SessionError::new(
                what,
                format!(
                    "the fence of the submit did not signal within {timeout:?} ({STALL_TIMEOUT_ENV})"
                ),
            )
        }),
        Err(e) => Err(SessionError::transport(what, e)),
    }
}

fn create_reply_memory(
    transport: &mut dyn Transport,
    size: u64,
) -> Result<ReplyMemory, TransportError> {
    let blob = transport.create_blob(BlobRequest::shmem(size))?;
    let memory = transport.map_blob(&blob)?;
    Ok(ReplyMemory { blob, memory })
}

fn transport_json(info: &TransportInfo) -> serde_json::Value {
    use venus_rs_kernel_iface::TransportDetails;
    let mut value = match &info.details {
        TransportDetails::VirtGpu {
            node,
            driver_name,
            driver_version,
            driver_date,
            params,
        } => serde_json::json!({
            "node": node.display().to_string(),
            "driver": driver_name,
            "driver_version": format!("{}.{}.{}", driver_version.0, driver_version.1, driver_version.2),
            "driver_date": driver_date,
            "params": params.iter().map(|(name, value)| (name.to_string(), serde_json::json!(value))).collect::<serde_json::Map<_, _>>(),
        }),
        TransportDetails::Vtest {
            socket,
            protocol_version,
            max_timeline_count,
        } => serde_json::json!({
            "socket": socket.display().to_string(),
            "protocol_version": protocol_version,
            "max_timeline_count": max_timeline_count,
        }),
    };
    value["transport"] = serde_json::json!(info.kind.name());
    value["blob_alignment"] = serde_json::json!(info.blob_alignment.bytes());
    value
}

fn capset_json(capset: &VenusCapset) -> serde_json::Value {
    serde_json::json!({
        "wire_format_version": capset.wire_format_version,
        "vk_xml_version": capset.vk_xml_version.to_string(),
        "vk_ext_command_serialization_spec_version": capset.vk_ext_command_serialization_spec_version,
        "vk_mesa_venus_protocol_spec_version": capset.vk_mesa_venus_protocol_spec_version,
        "supports_blob_id_0": capset.supports_blob_id_0,
        "vk_extension_mask1": capset.vk_extension_mask1.iter().map(|w| format!("{w:#010x}")).collect::<Vec<_>>(),
        "extension_count": capset.extension_numbers().len(),
        "allow_vk_wait_syncs": capset.allow_vk_wait_syncs,
        "supports_multiple_timelines": capset.supports_multiple_timelines,
        "use_guest_vram": capset.use_guest_vram,
        "received_size": capset.received_size,
    })
}

impl Session {
    pub fn transport_info(&self) -> &TransportInfo {
        &self.info
    }

    pub fn capset(&self) -> &VenusCapset {
        &self.capset
    }

    /// What the host's protocol carries; shared so that encoders can borrow it during a call.
    pub fn protocol(&self) -> Arc<HostProtocol> {
        Arc::clone(&self.protocol)
    }

    /// The host's vkEnumerateInstanceVersion, from the bring-up's round trip.
    pub fn host_instance_version(&self) -> u32 {
        self.host_instance_version
    }

    pub fn ring_blob_size(&self) -> u64 {
        self.ring_blob.size()
    }

    fn ring_state(&self) -> Option<RingState> {
        self.ring.state().ok()
    }

    fn ring_error(&self, what: &str, detail: impl Into<String>) -> SessionError {
        SessionError {
            ring: self.ring_state(),
            ..SessionError::new(what, detail)
        }
    }

    /// vkSetReplyCommandStreamMESA: replies go to offset 0 of the current reply blob, `size` bytes.
    fn set_reply_stream(&self, size: usize) -> Result<Vec<u8>, EncodeError> {
        let cx = GuestContext {
            host: &self.protocol,
            dispatchable_id: identity_id,
        };
        let stream = CommandStreamDescription {
            resource_id: self.reply.blob.res_id(),
            offset: 0,
            size,
        };
        let stream_ptr = std::ptr::addr_of!(stream).cast();
        // SAFETY: `stream` is a VkCommandStreamDescriptionMESA in its C layout, alive across both calls.
        encode(
            unsafe { guest::vk_set_reply_command_stream_mesa_size(&cx, stream_ptr) },
            |w| unsafe { guest::vk_set_reply_command_stream_mesa(w, &cx, 0, stream_ptr) },
        )
    }

    fn notify_command(&self, what: &str, seqno: u32) -> Result<Vec<u8>, SessionError> {
        let cx = GuestContext {
            host: &self.protocol,
            dispatchable_id: identity_id,
        };
        // SAFETY: vkNotifyRingMESA has no pointer arguments.
        encode(
            unsafe { guest::vk_notify_ring_mesa_size(&cx, INSTANCE_RING_ID, seqno, 0) },
            |w| unsafe { guest::vk_notify_ring_mesa(w, &cx, 0, INSTANCE_RING_ID, seqno, 0) },
        )
        .map_err(|e| SessionError::new(what, format!("encode vkNotifyRingMESA: {e}")))
    }

    fn notify(&mut self, what: &str, seqno: u32) -> Result<(), SessionError> {
        venus_log!(Level::Trace, "context: vkNotifyRingMESA seqno {seqno}");
        let command = self.notify_command(what, seqno)?;
        self.transport
            .submit(0, &command)
            .map_err(|e| SessionError::transport(what, e))
    }

    /// Waits until the host has consumed the whole ring and then until fence timeline `ring_idx` (a
    /// queue's) has retired everything submitted to it. The host refuses blocking waits such as
    /// vkQueueWaitIdle (they would stall its ring thread), so idleness is a fence on the context path:
    /// the host signals it once the queue bound to `ring_idx` has finished its earlier work.
    pub fn wait_timeline_idle(&mut self, what: &str, ring_idx: u32) -> Result<(), SessionError> {
        self.unless_lost(what, |session| {
            session.wait_timeline_idle_now(what, ring_idx)
        })
    }

    fn wait_timeline_idle_now(&mut self, what: &str, ring_idx: u32) -> Result<(), SessionError> {
        let seqno = self.ring.tail();
        self.wait_for_head(what, seqno)?;
        // A command is needed to carry the fence; waking the ring is one the host always accepts here.
        let command = self.notify_command(what, seqno)?;
        venus_log!(
            Level::Trace,
            "context: fence on timeline {ring_idx} ({what})"
        );
        let fence = self
            .transport
            .submit_with_fence(ring_idx, &command)
            .map_err(|e| SessionError::transport(what, e))?;
        // The queue may work for long (a big submit): slices, with a look at the host in between.
        let mut liveness = self.start_liveness(what, FENCE_WAIT_SLICE, Instant::now())?;
        loop {
            match self.transport.wait_fence(&fence, FENCE_WAIT_SLICE) {
                Ok(WaitOutcome::Signaled) => return Ok(()),
                Ok(WaitOutcome::TimedOut) => {
                    let description = format!("the fence on timeline {ring_idx}");
                    self.judge(what, &description, &mut liveness)?
                }
                Err(e) => return Err(SessionError::transport(what, e)),
            }
        }
    }

    /// Runs `operation` unless the host was lost before, and remembers the loss if it ends in one: a
    /// lost device stays lost, and every later call says so at once instead of waiting again.
    fn unless_lost<T>(
        &mut self,
        what: &str,
        operation: impl FnOnce(&mut Session) -> Result<T, SessionError>,
    ) -> Result<T, SessionError> {
        if let Some(first) = &self.lost {
            return Err(SessionError {
                lost: true,
                ..SessionError::new(what, format!("the device was lost earlier: {first}"))
            });
        }
        let result = operation(self);
        if let Err(error) = &result {
            if error.lost {
                self.lost = Some(format!("{} failed", error.what));
            }
        }
        result
    }

    /// Begins watching the host for signs of life during one wait that looks at it every
    /// `check_period` ([`crate::liveness`]). A report of the ring monitor left from before the wait
    /// is cleared: only fresh ones count.
    fn start_liveness(
        &mut self,
        what: &str,
        check_period: Duration,
        waiting_since: Instant,
    ) -> Result<Liveness, SessionError> {
        let state = self
            .ring
            .state()
            .map_err(|e| self.ring_error(what, format!("ring memory: {e}")))?;
        self.ring
            .take_alive()
            .map_err(|e| self.ring_error(what, format!("ring memory: {e}")))?;
        Ok(Liveness::start(
            self.limits,
            check_period,
            waiting_since,
            state.head,
        ))
    }

    /// One look at the host while waiting for `awaited`: an error once it is gone, stalled or has been
    /// busy past the limit.
    fn judge(
        &mut self,
        what: &str,
        awaited: &str,
        liveness: &mut Liveness,
    ) -> Result<(), SessionError> {
        self.check_host(what)?;
        let state = self
            .ring
            .state()
            .map_err(|e| self.ring_error(what, format!("ring memory: {e}")))?;
        if state.is_fatal() {
            return Err(self.fatal(what, state));
        }
        let alive = self
            .ring
            .take_alive()
            .map_err(|e| self.ring_error(what, format!("ring memory: {e}")))?;
        let lost = |detail: String, hint: String| SessionError {
            ring: Some(state),
            hint: Some(hint),
            lost: true,
            ..SessionError::new(what, detail)
        };
        match liveness.observe(Instant::now(), state.head, alive) {
            Verdict::Wait => Ok(()),
            Verdict::Busy(waited) => {
                venus_log!(
                    Level::Warn,
                    "{what}: still waiting for {awaited} after {waited:.1?}; the host reports itself \
                     alive (busy), so the wait goes on for up to {:?}",
                    self.limits.busy
                );
                Ok(())
            }
            Verdict::Stalled(silent) => {
                let monitor = if liveness.alive_seen() {
                    "its ring monitor stopped reporting ALIVE"
                } else {
                    "its ring monitor never reported ALIVE during the wait"
                };
                Err(lost(
                    format!(
                        "waited for {awaited}; the host showed no sign of life for {silent:.1?} (ring \
                         head stayed at {}, {monitor})",
                        state.head
                    ),
                    format!(
                        "the host is stopped (SIGSTOP), hung or dead: the device is lost; \
                         {STALL_TIMEOUT_ENV}=SECONDS sets how long a silent host is waited for (now \
                         {:?})",
                        self.limits.stall
                    ),
                ))
            }
            Verdict::TooLong(waited) => Err(lost(
                format!(
                    "waited {waited:.1?} for {awaited}; the host kept reporting itself alive but did \
                     not finish"
                ),
                "the host is stuck in a command: check the host log".to_string(),
            )),
        }
    }

    /// Writes a batch of whole commands into the ring, waiting for room, and wakes the host if it went
    /// idle. Returns the batch's sequence number.
    pub fn submit_to_ring(&mut self, what: &str, batch: &[u8]) -> Result<u32, SessionError> {
        self.unless_lost(what, |session| session.write_to_ring(what, batch))
    }

    fn write_to_ring(&mut self, what: &str, batch: &[u8]) -> Result<u32, SessionError> {
        venus_log!(Level::Trace, "ring: {what}: {} bytes", batch.len());
        let mut liveness = None;
        let mut backoff = Backoff::new();
        let mut waiting_since = None;
        let seqno = loop {
            match self.ring.write(batch) {
                Ok(seqno) => break seqno,
                Err(RingWriteError::NoRoom { free }) => {
                    let since = *waiting_since.get_or_insert_with(Instant::now);
                    if backoff.check_due() {
                        let awaited = format!("room for {} bytes ({free} free)", batch.len());
                        match liveness.as_mut() {
                            None => {
                                liveness =
                                    Some(self.start_liveness(what, WAIT_CHECK_PERIOD, since)?)
                            }
                            Some(liveness) => self.judge(what, &awaited, liveness)?,
                        }
                    }
                    backoff.pause();
                }
                Err(e) => return Err(self.ring_error(what, e.to_string())),
            }
        };
        let state = self
            .ring
            .state()
            .map_err(|e| self.ring_error(what, format!("ring memory: {e}")))?;
        if state.is_fatal() {
            return Err(self.fatal(what, state));
        }
        if state.is_idle() {
            self.notify(what, seqno)?;
        }
        Ok(seqno)
    }

    fn fatal(&self, what: &str, state: RingState) -> SessionError {
        SessionError {
            ring: Some(state),
            hint: Some(
                "the host marked the ring FATAL: it could not decode or run a command; the host log says \
                 which"
                    .into(),
            ),
            lost: true,
            ..SessionError::new(what, "the ring is FATAL")
        }
    }

    fn check_host(&mut self, what: &str) -> Result<(), SessionError> {
        self.transport.check_connection().map_err(|e| {
            let mut error = SessionError::transport(what, e);
            error.ring = self.ring_state();
            error.hint = Some("the host went away while the guest waited for the ring".into());
            error.lost = true;
            error
        })
    }

    /// Waits until the host has consumed the ring up to `seqno`.
    pub fn wait_for(&mut self, what: &str, seqno: u32) -> Result<(), SessionError> {
        self.unless_lost(what, |session| session.wait_for_head(what, seqno))
    }

    fn wait_for_head(&mut self, what: &str, seqno: u32) -> Result<(), SessionError> {
        // Started at the first check, so that the many replies that come within microseconds never
        // touch the status word the host writes; the silence counts from the wait's start.
        let waiting_since = Instant::now();
        let mut liveness = None;
        let mut backoff = Backoff::new();
        loop {
            let state = self
                .ring
                .state()
                .map_err(|e| self.ring_error(what, format!("ring memory: {e}")))?;
            if state.reached(seqno) {
                return Ok(());
            }
            if state.is_fatal() {
                return Err(self.fatal(what, state));
            }
            if backoff.check_due() {
                match liveness.as_mut() {
                    None => {
                        liveness =
                            Some(self.start_liveness(what, WAIT_CHECK_PERIOD, waiting_since)?)
                    }
                    Some(liveness) => self.judge(what, &format!("ring seqno {seqno}"), liveness)?,
                }
                // A wake-up that crossed the host going to sleep is repeated rather than lost.
                if state.is_idle() {
                    self.notify(what, seqno)?;
                }
            }
            backoff.pause();
        }
    }

    /// Makes the reply blob at least `size` bytes.
    fn reserve_reply(&mut self, what: &str, size: usize) -> Result<(), SessionError> {
        if size as u64 <= self.reply.blob.size() {
            return Ok(());
        }
        let wanted = (size as u64).next_power_of_two();
        let reply = create_reply_memory(self.transport.as_mut(), wanted)
            .map_err(|e| SessionError::transport(what, e))?;
        let old = std::mem::replace(&mut self.reply, reply);
        self.retired_replies.push(old.blob);
        Ok(())
    }

    /// Sends `command` (encoded with the reply bit) with a reply stream of `reply_size` bytes in front,
    /// waits for the host, and returns the reply bytes.
    pub fn call(
        &mut self,
        what: &str,
        command: &[u8],
        reply_size: usize,
    ) -> Result<Vec<u8>, SessionError> {
        self.reserve_reply(what, reply_size)?;
        let mut batch = self
            .set_reply_stream(reply_size)
            .map_err(|e| SessionError::new(what, format!("encode: {e}")))?;
        batch.extend_from_slice(command);
        let seqno = self.submit_to_ring(what, &batch)?;
        self.wait_for(what, seqno)?;
        let mut reply = vec![0u8; reply_size];
        self.reply
            .memory
            .read_bytes(0, &mut reply)
            .map_err(|e| SessionError::new(what, format!("reply memory: {e}")))?;
        Ok(reply)
    }

    /// Sends `command` without a reply and without waiting.
    pub fn send(&mut self, what: &str, command: &[u8]) -> Result<u32, SessionError> {
        self.submit_to_ring(what, command)
    }

    /// Sends a stream of whole commands without waiting: through the ring when it is small
    /// enough, otherwise as an indirect stream in shared memory that the ring names.
    pub fn send_stream(&mut self, what: &str, stream: &[u8]) -> Result<u32, SessionError> {
        if stream.len() <= (self.ring.layout().buffer_size() / DIRECT_STREAM_FRACTION) as usize {
            return self.submit_to_ring(what, stream);
        }
        let index = self.stream_buffer(what, stream.len() as u64)?;
        let buffer = &self.streams[index];
        buffer
            .memory
            .write_bytes(0, stream)
            .map_err(|e| SessionError::new(what, format!("indirect stream memory: {e}")))?;
        let description = CommandStreamDescription {
            resource_id: buffer.blob.res_id(),
            offset: 0,
            size: stream.len(),
        };
        let cx = GuestContext {
            host: &self.protocol,
            dispatchable_id: identity_id,
        };
        let description_ptr = std::ptr::addr_of!(description).cast();
        // SAFETY: `description` is a VkCommandStreamDescriptionMESA in its C layout, alive across
        // both calls; there are no reply positions and no dependencies.
        let command = encode(
            unsafe {
                guest::vk_execute_command_streams_mesa_size(
                    &cx,
                    1,
                    description_ptr,
                    std::ptr::null(),
                    0,
                    std::ptr::null(),
                    0,
                )
            },
            |w| unsafe {
                guest::vk_execute_command_streams_mesa(
                    w,
                    &cx,
                    0,
                    1,
                    description_ptr,
                    std::ptr::null(),
                    0,
                    std::ptr::null(),
                    0,
                )
            },
        )
        .map_err(|e| SessionError::new(what, format!("encode vkExecuteCommandStreamsMESA: {e}")))?;
        venus_log!(
            Level::Trace,
            "ring: {what}: {} bytes as an indirect stream in resource {}",
            stream.len(),
            description.resource_id
        );
        let seqno = self.submit_to_ring(what, &command)?;
        self.streams[index].read_by = seqno;
        Ok(seqno)
    }

    /// A stream buffer of at least `size` bytes that the host no longer reads.
    fn stream_buffer(&mut self, what: &str, size: u64) -> Result<usize, SessionError> {
        let state = self
            .ring
            .state()
            .map_err(|e| self.ring_error(what, format!("ring memory: {e}")))?;
        if let Some(index) = self
            .streams
            .iter()
            .position(|b| b.memory.size() >= size && state.reached(b.read_by))
        {
            return Ok(index);
        }
        // Buffers that are free but too small make room for a larger one.
        let mut kept = Vec::with_capacity(self.streams.len());
        for buffer in std::mem::take(&mut self.streams) {
            if state.reached(buffer.read_by) {
                self.transport
                    .destroy_blob(buffer.blob)
                    .map_err(|e| SessionError::transport(what, e))?;
            } else {
                kept.push(buffer);
            }
        }
        self.streams = kept;
        let blob = self
            .transport
            .create_blob(BlobRequest::shmem(size.next_power_of_two()))
            .map_err(|e| SessionError::transport(what, e))?;
        let memory = self
            .transport
            .map_blob(&blob)
            .map_err(|e| SessionError::transport(what, e))?;
        self.streams.push(StreamBuffer {
            blob,
            memory,
            read_by: self.ring.tail(),
        });
        Ok(self.streams.len() - 1)
    }

    /// Creates and maps the blob of device memory `memory_id` (which the host must have
    /// allocated already), `size` bytes.
    pub fn map_device_memory(
        &mut self,
        what: &str,
        memory_id: u64,
        size: u64,
    ) -> Result<(Blob, SharedMemory), SessionError> {
        self.unless_lost(what, |session| {
            session.map_device_memory_now(what, memory_id, size)
        })
    }

    fn map_device_memory_now(
        &mut self,
        what: &str,
        memory_id: u64,
        size: u64,
    ) -> Result<(Blob, SharedMemory), SessionError> {
        let blob = self
            .transport
            .create_blob(BlobRequest {
                blob_mem: venus_rs_kernel_iface::BlobMem::Host3d,
                flags: venus_rs_kernel_iface::BlobFlags::MAPPABLE,
                size,
                blob_id: memory_id,
            })
            .map_err(|e| SessionError::transport(what, e))?;
        match self.transport.map_blob(&blob) {
            Ok(memory) => Ok((blob, memory)),
            Err(e) => {
                let error = SessionError::transport(what, e);
                let _ = self.transport.destroy_blob(blob);
                Err(error)
            }
        }
    }

    /// Releases a blob this session created.
    pub fn destroy_blob(&mut self, what: &str, blob: Blob) -> Result<(), SessionError> {
        self.transport
            .destroy_blob(blob)
            .map_err(|e| SessionError::transport(what, e))
    }

    /// vkEnumerateInstanceVersion through the ring.
    pub fn enumerate_instance_version(&mut self) -> Result<u32, SessionError> {
        let what = "vkEnumerateInstanceVersion";
        let protocol = self.protocol();
        let cx = GuestContext {
            host: &protocol,
            dispatchable_id: identity_id,
        };
        let mut version = 0u32;
        let version_ptr = std::ptr::addr_of_mut!(version).cast();
        // SAFETY: `version` is a u32 output, alive across the encode and the decode.
        let (command, reply_size) = unsafe {
            (
                encode(
                    guest::vk_enumerate_instance_version_size(&cx, version_ptr),
                    |w| guest::vk_enumerate_instance_version(w, &cx, GENERATE_REPLY, version_ptr),
                ),
                guest::vk_enumerate_instance_version_reply_size(&cx, version_ptr),
            )
        };
        let command = command.map_err(|e| SessionError::new(what, format!("encode: {e}")))?;
        let reply = self.call(what, &command, reply_size)?;
        let mut decoder = Decoder::new(&reply, Limits::default());
        // SAFETY: the same output pointer as encoded, still valid.
        let result = unsafe {
            guest::vk_enumerate_instance_version_decode_reply(&mut decoder, &cx, version_ptr)
        }
        .map_err(|e| SessionError::new(what, format!("reply: {e}")))?;
        if result != 0 {
            return Err(SessionError::new(
                what,
                format!("the host returned VkResult {result}"),
            ));
        }
        Ok(version)
    }
}

/// Polling with growing pauses: yields only for the first [`YIELD_PHASE`] (a reply to a short command lands
/// within tens of microseconds, and in a guest under emulation a sleep costs far more than that: the timer
/// interrupt that ends it is emulated too), then sleeps from 10 µs doubling up to 1 ms, so a long wait costs
/// little CPU. Mesa's Venus yields for its first 256 polls for the same reason.
struct Backoff {
    started: Instant,
    sleep: Duration,
    last_check: Instant,
}

/// How long a wait on the ring only yields before it starts to sleep.
const YIELD_PHASE: Duration = Duration::from_micros(500);

impl Backoff {
    fn new() -> Backoff {
        let now = Instant::now();
        Backoff {
            started: now,
            sleep: Duration::from_micros(10),
            last_check: now,
        }
    }

    fn pause(&mut self) {
        if self.started.elapsed() < YIELD_PHASE {
            std::thread::yield_now();
        } else {
            std::thread::sleep(self.sleep);
            self.sleep = (self.sleep * 2).min(Duration::from_millis(1));
        }
    }

    /// True once per [`WAIT_CHECK_PERIOD`].
    fn check_due(&mut self) -> bool {
        if self.last_check.elapsed() >= WAIT_CHECK_PERIOD {
            self.last_check = Instant::now();
            true
        } else {
            false
        }
    }
}
