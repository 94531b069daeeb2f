//! The transport interface shared by the virtio-gpu device and the vtest socket.

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use venus_rs_shmem::SharedMemory;

use crate::alignment::{AlignmentSource, BlobAlignment};
use crate::capset::VenusCapset;
use crate::error::{ErrorKind, Step, TransportError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// The virtio-gpu DRM render node of a guest.
    VirtGpu,
    /// virglrenderer's vtest socket, for running without a VM.
    Vtest,
}

impl TransportKind {
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::VirtGpu => "virtgpu",
            TransportKind::Vtest => "vtest",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TransportKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "virtgpu" | "virtio-gpu" => Ok(TransportKind::VirtGpu),
            "vtest" => Ok(TransportKind::Vtest),
            other => Err(format!(
                "unknown transport {other:?}: expected virtgpu or vtest"
            )),
        }
    }
}

/// What CONTEXT_INIT asks for, besides the Venus capset id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextParams {
    /// Fence timelines (rings) of the context; ring 0 is the CPU timeline. Mesa asks for 64.
    pub num_rings: u32,
    /// Rings whose fence signals the kernel turns into DRM events. vtest has no such events and ignores it.
    pub poll_rings_mask: u64,
}

impl Default for ContextParams {
    fn default() -> Self {
        ContextParams {
            num_rings: 64,
            poll_rings_mask: 0,
        }
    }
}

/// Where the memory of a blob lives (`VIRTGPU_BLOB_MEM_*`, vtest `VCMD_BLOB_TYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlobMem {
    Guest,
    Host3d,
    Host3dGuest,
    GuestVram,
}

impl BlobMem {
    pub fn raw(self) -> u32 {
        match self {
            BlobMem::Guest => 1,
            BlobMem::Host3d => 2,
            BlobMem::Host3dGuest => 3,
            BlobMem::GuestVram => 4,
        }
    }
}

/// `VIRTGPU_BLOB_FLAG_USE_*` (the vtest values are the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct BlobFlags(u32);

impl BlobFlags {
    pub const MAPPABLE: BlobFlags = BlobFlags(1);
    pub const SHAREABLE: BlobFlags = BlobFlags(2);
    pub const CROSS_DEVICE: BlobFlags = BlobFlags(4);

    pub fn bits(self) -> u32 {
        self.0
    }

    pub fn contains(self, other: BlobFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for BlobFlags {
    type Output = BlobFlags;
    fn bitor(self, rhs: BlobFlags) -> BlobFlags {
        BlobFlags(self.0 | rhs.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobRequest {
    pub blob_mem: BlobMem,
    pub flags: BlobFlags,
    /// Bytes wanted; the transport rounds it up to its blob alignment.
    pub size: u64,
    /// 0 asks the host for fresh shared memory (the ring, reply and command shmems of Venus); any other
    /// value names the VkDeviceMemory object whose memory the blob exposes.
    pub blob_id: u64,
}

impl BlobRequest {
    /// The shared memory Venus uses for rings and reply streams: host-side memory, mappable, blob id 0.
    pub fn shmem(size: u64) -> BlobRequest {
        BlobRequest {
            blob_mem: BlobMem::Host3d,
            flags: BlobFlags::MAPPABLE,
            size,
            blob_id: 0,
        }
    }
}

/// Tells transports apart, so that a blob or fence is never used with a transport that did not make it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TransportId(u64);

impl TransportId {
    pub(crate) fn next() -> TransportId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TransportId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

#[derive(Debug)]
pub(crate) enum BlobHandle {
    /// virtio-gpu: the GEM handle on the render node.
    Gem(u32),
    /// vtest: the fd the server passed (a memfd or a dma-buf).
    Fd(OwnedFd),
}

/// A host resource. Release it with [`Transport::destroy_blob`]; dropping it instead leaves the resource
/// alive until the transport is closed.
#[derive(Debug)]
#[must_use = "a blob holds a host resource until destroy_blob"]
pub struct Blob {
    pub(crate) owner: TransportId,
    pub(crate) res_id: u32,
    pub(crate) size: u64,
    pub(crate) request: BlobRequest,
    pub(crate) handle: BlobHandle,
}

impl Blob {
    /// The virtio-gpu resource id, which Venus commands use to name the blob (e.g. vkCreateRingMESA).
    pub fn res_id(&self) -> u32 {
        self.res_id
    }

    /// The size the host resource was created with: the request rounded up to the blob alignment.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn request(&self) -> &BlobRequest {
        &self.request
    }
}

#[derive(Debug)]
pub(crate) enum FenceState {
    /// virtio-gpu: the sync_file from EXECBUFFER's FENCE_FD_OUT.
    SyncFile(OwnedFd),
    /// vtest: the point `value` on the sync object `sync_id` that the server signals for this submit.
    VtestSync { sync_id: u32, value: u64 },
}

/// Completion of one submit, to wait on with [`Transport::wait_fence`].
#[derive(Debug)]
pub struct Fence {
    pub(crate) owner: TransportId,
    pub(crate) ring_idx: u32,
    pub(crate) state: FenceState,
}

impl Fence {
    pub fn ring_idx(&self) -> u32 {
        self.ring_idx
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    Signaled,
    TimedOut,
}

/// Which transport is in use and what it negotiated, for logs and `venus-probe`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportInfo {
    pub kind: TransportKind,
    pub blob_alignment: BlobAlignment,
    /// What decided `blob_alignment`.
    pub blob_alignment_source: AlignmentSource,
    pub details: TransportDetails,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportDetails {
    VirtGpu {
        node: PathBuf,
        driver_name: String,
        driver_version: (i32, i32, i32),
        driver_date: String,
        /// Every GETPARAM asked, by uapi name, with its value or `None` when the kernel does not know it.
        params: Vec<(&'static str, Option<u64>)>,
    },
    Vtest {
        socket: PathBuf,
        protocol_version: u32,
        max_timeline_count: u32,
    },
}

impl fmt::Display for TransportInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.details {
            TransportDetails::VirtGpu {
                node,
                driver_name,
                driver_version: (major, minor, patch),
                driver_date,
                params,
            } => {
                write!(
                    f,
                    "virtgpu {} driver {driver_name} {major}.{minor}.{patch} ({driver_date}) params",
                    node.display()
                )?;
                for (name, value) in params {
                    match value {
                        Some(value) => write!(f, " {name}={value:#x}")?,
                        None => write!(f, " {name}=unknown")?,
                    }
                }
            }
            TransportDetails::Vtest {
                socket,
                protocol_version,
                max_timeline_count,
            } => write!(
                f,
                "vtest {} protocol {protocol_version} max_timeline_count {max_timeline_count}",
                socket.display()
            )?,
        }
        write!(
            f,
            " blob_alignment {} ({})",
            self.blob_alignment, self.blob_alignment_source
        )
    }
}

/// The way the guest half reaches the host. Both implementations follow the same order: read the
/// capset, init the context, then create blobs and submit.
///
/// Command bytes are a Venus command stream, whose length is always a multiple of 4.
pub trait Transport: Send {
    fn info(&self) -> TransportInfo;

    /// Reads and decodes the Venus capset (capset id 4, version 0).
    fn read_capset(&mut self) -> Result<VenusCapset, TransportError>;

    /// Creates the Venus context; done once, before any blob or submit.
    fn init_context(&mut self, params: ContextParams) -> Result<(), TransportError>;

    /// Creates a host resource; its size is the request's rounded up to the blob alignment.
    fn create_blob(&mut self, request: BlobRequest) -> Result<Blob, TransportError>;

    /// Maps a MAPPABLE blob into this process. The mapping stays valid after `destroy_blob`.
    fn map_blob(&mut self, blob: &Blob) -> Result<SharedMemory, TransportError>;

    fn destroy_blob(&mut self, blob: Blob) -> Result<(), TransportError>;

    /// Sends command bytes to the context on fence timeline `ring_idx`, without a fence.
    fn submit(&mut self, ring_idx: u32, commands: &[u8]) -> Result<(), TransportError>;

    /// Sends command bytes like [`Transport::submit`] and returns a fence that signals when the host has
    /// retired them on timeline `ring_idx` (ring 0, the CPU timeline, retires as soon as it is decoded).
    fn submit_with_fence(
        &mut self,
        ring_idx: u32,
        commands: &[u8],
    ) -> Result<Fence, TransportError>;

    /// Waits up to `timeout` for a fence of this transport.
    fn wait_fence(
        &mut self,
        fence: &Fence,
        timeout: Duration,
    ) -> Result<WaitOutcome, TransportError>;

    /// Returns at once with an error if the host is known to be gone. Waits on shared memory (ring
    /// heads) see no socket or system call, so they call this to notice a dead vtest server instead of
    /// running into their timeout. A virtio-gpu device cannot disappear under a running guest, so there
    /// it always succeeds.
    fn check_connection(&mut self) -> Result<(), TransportError>;
}

/// Opens a transport with its configuration from the environment: `VTEST_SOCKET_NAME` for vtest, and
/// `VENUS_RS_BLOB_ALIGN` for both.
pub fn open(kind: TransportKind) -> Result<Box<dyn Transport>, TransportError> {
    match kind {
        TransportKind::VirtGpu => {
            let options = crate::virtgpu::VirtGpuOptions::from_env()?;
            Ok(Box::new(crate::virtgpu::VirtGpuTransport::open(options)?))
        }
        TransportKind::Vtest => {
            let options = crate::vtest::VtestOptions::from_env()?;
            Ok(Box::new(crate::vtest::VtestTransport::connect(options)?))
        }
    }
}

/// Checks shared by both transports before a blob request reaches the host; returns the rounded size.
pub(crate) fn checked_blob_size(
    kind: TransportKind,
    alignment: BlobAlignment,
    request: &BlobRequest,
) -> Result<u64, TransportError> {
    alignment.round_up(request.size).ok_or_else(|| {
        TransportError::new(
            kind,
            Step::CreateBlob,
            ErrorKind::InvalidArgument,
            format!(
                "blob size {} cannot be rounded up to the blob alignment {alignment}",
                request.size
            ),
        )
    })
}

pub(crate) fn check_commands(kind: TransportKind, commands: &[u8]) -> Result<(), TransportError> {
    if !commands.len().is_multiple_of(4) || u32::try_from(commands.len()).is_err() {
        return Err(TransportError::new(
            kind,
            Step::Submit,
            ErrorKind::InvalidArgument,
            format!(
                "command stream of {} bytes: it must be a multiple of 4 bytes and below 4 GiB",
                commands.len()
            ),
        ));
    }
    Ok(())
}

pub(crate) fn foreign_object(kind: TransportKind, step: Step, what: &str) -> TransportError {
    TransportError::new(
        kind,
        step,
        ErrorKind::InvalidArgument,
        format!("this {what} was made by another transport"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_names_parse_back() {
        for kind in [TransportKind::VirtGpu, TransportKind::Vtest] {
            assert_eq!(kind.name().parse::<TransportKind>(), Ok(kind));
        }
        assert!("qemu".parse::<TransportKind>().is_err());
    }

    #[test]
    fn blob_sizes_are_rounded_to_the_alignment() {
        let alignment = BlobAlignment::default();
        let size = checked_blob_size(TransportKind::Vtest, alignment, &BlobRequest::shmem(131268));
        assert_eq!(size, Ok(147456));
        let err =
            checked_blob_size(TransportKind::Vtest, alignment, &BlobRequest::shmem(0)).unwrap_err();
        assert_eq!(err.step, Step::CreateBlob);
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
    }

    #[test]
    fn command_streams_must_be_whole_words() {
        assert!(check_commands(TransportKind::VirtGpu, &[0; 16]).is_ok());
        assert!(check_commands(TransportKind::VirtGpu, &[]).is_ok());
        let err = check_commands(TransportKind::VirtGpu, &[0; 6]).unwrap_err();
        assert_eq!(err.step, Step::Submit);
        assert!(err.to_string().contains("multiple of 4"), "{err}");
    }

    #[test]
    fn blob_flags_combine() {
        let flags = BlobFlags::MAPPABLE | BlobFlags::SHAREABLE;
        assert_eq!(flags.bits(), 3);
        assert!(flags.contains(BlobFlags::MAPPABLE));
        assert!(!flags.contains(BlobFlags::CROSS_DEVICE));
    }
}
