//! The one error type of every transport: which transport, which bring-up step, what went wrong.

use std::fmt;

use crate::transport::TransportKind;

/// The step of the transport's life that failed. Every error names one, so a log line or `venus-probe`
/// can say exactly where the bring-up stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Reading the transport configuration from the environment (`VENUS_RS_*`).
    Config,
    /// Looking for a `virtio_gpu` render node under `/dev/dri`.
    FindDevice,
    /// Opening a render node and checking its DRM driver name and version.
    OpenDevice,
    /// The virtio-gpu GETPARAM checks.
    CheckParams,
    /// Connecting to the vtest socket.
    Connect,
    /// vtest CREATE_RENDERER.
    CreateRenderer,
    /// vtest PING_PROTOCOL_VERSION and PROTOCOL_VERSION.
    ProtocolVersion,
    /// vtest GET_PARAM.
    GetParam,
    /// Reading the Venus capset (virtio-gpu GET_CAPS, vtest GET_CAPSET).
    ReadCapset,
    /// Creating the Venus context (virtio-gpu CONTEXT_INIT, vtest CONTEXT_INIT).
    InitContext,
    /// RESOURCE_CREATE_BLOB.
    CreateBlob,
    /// Mapping a blob into this process.
    MapBlob,
    /// Releasing a blob (GEM close, vtest RESOURCE_UNREF).
    DestroyBlob,
    /// Submitting command bytes (virtio-gpu EXECBUFFER, vtest SUBMIT_CMD2).
    Submit,
    /// vtest SYNC_CREATE.
    CreateSync,
    /// vtest SYNC_READ.
    ReadSync,
    /// vtest SYNC_UNREF.
    UnrefSync,
    /// Waiting for a fence (poll on a sync_file, vtest SYNC_WAIT).
    WaitFence,
    /// Checking, while waiting on shared memory, that the host has not gone away.
    CheckConnection,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Config => "read the transport configuration",
            Step::FindDevice => "find the virtio_gpu render node",
            Step::OpenDevice => "open the render node",
            Step::CheckParams => "check virtio-gpu params (GETPARAM)",
            Step::Connect => "connect to the vtest socket",
            Step::CreateRenderer => "vtest CREATE_RENDERER",
            Step::ProtocolVersion => "vtest PROTOCOL_VERSION",
            Step::GetParam => "vtest GET_PARAM",
            Step::ReadCapset => "read the Venus capset",
            Step::InitContext => "create the Venus context (CONTEXT_INIT)",
            Step::CreateBlob => "create a blob (RESOURCE_CREATE_BLOB)",
            Step::MapBlob => "map a blob",
            Step::DestroyBlob => "destroy a blob",
            Step::Submit => "submit commands",
            Step::CreateSync => "vtest SYNC_CREATE",
            Step::ReadSync => "vtest SYNC_READ",
            Step::UnrefSync => "vtest SYNC_UNREF",
            Step::WaitFence => "wait for a fence",
            Step::CheckConnection => "check that the host is still connected",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of failure it was, for callers that react differently (a timeout is retried by nobody, but a
/// Vulkan wait reports it differently from a lost device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The device node or the socket does not exist.
    NotFound,
    /// The kernel or server lacks something Venus needs.
    Unsupported,
    /// The caller passed something this transport cannot do (wrong sizes, a blob of another transport...).
    InvalidArgument,
    /// A `VENUS_RS_*` variable holds a bad value.
    Config,
    /// A system call failed.
    Io,
    /// The other side did not answer within the step's timeout.
    TimedOut,
    /// The other side closed the connection or is gone.
    Disconnected,
    /// The other side answered something this client does not understand.
    Protocol,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportError {
    pub transport: TransportKind,
    pub step: Step,
    pub kind: ErrorKind,
    pub detail: String,
}

impl TransportError {
    pub fn new(
        transport: TransportKind,
        step: Step,
        kind: ErrorKind,
        detail: impl Into<String>,
    ) -> Self {
        TransportError {
            transport,
            step,
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} transport: {} failed: {}",
            self.transport, self.step, self.detail
        )
    }
}

impl std::error::Error for TransportError {}

/// Maps an errno from a system call to the error kind callers care about.
pub(crate) fn kind_of_errno(errno: rustix::io::Errno) -> ErrorKind {
    use rustix::io::Errno;
    match errno {
        Errno::NOENT | Errno::NODEV | Errno::NXIO => ErrorKind::NotFound,
        Errno::PIPE | Errno::CONNRESET | Errno::CONNREFUSED | Errno::NOTCONN => {
            ErrorKind::Disconnected
        }
        Errno::TIMEDOUT | Errno::TIME => ErrorKind::TimedOut,
        Errno::INVAL => ErrorKind::InvalidArgument,
        Errno::NOSYS | Errno::NOTTY | Errno::OPNOTSUPP => ErrorKind::Unsupported,
        _ => ErrorKind::Io,
    }
}

/// The error kind of a failed blob mapping: a size no mapping can have is an invalid blob, anything
/// else is the system call failing.
pub(crate) fn kind_of_map_error(error: &venus_rs_shmem::MapError) -> ErrorKind {
    match error {
        venus_rs_shmem::MapError::ZeroSize | venus_rs_shmem::MapError::TooLarge { .. } => {
            ErrorKind::InvalidArgument
        }
        venus_rs_shmem::MapError::Mmap { .. } => ErrorKind::Io,
    }
}
