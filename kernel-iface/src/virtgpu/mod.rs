//! The virtio-gpu transport: the `virtio_gpu` DRM render node of a guest, driven with the ioctls of
//! `virtgpu_drm.h`.

pub mod uapi;

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use drm::Device as _;
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::ioctl::{ioctl, Updater};
use venus_rs_shmem::SharedMemory;

use crate::alignment::AlignmentChoice;
use crate::capset::{VenusCapset, VENUS_CAPSET_ID, VENUS_CAPSET_SIZE};
use crate::deadline::{wait_for_events, Deadline};
use crate::error::{kind_of_errno, kind_of_map_error, ErrorKind, Step, TransportError};
use crate::transport::{
    check_commands, checked_blob_size, foreign_object, Blob, BlobFlags, BlobHandle, BlobRequest,
    ContextParams, Fence, FenceState, Transport, TransportDetails, TransportId, TransportInfo,
    TransportKind, WaitOutcome,
};

const KIND: TransportKind = TransportKind::VirtGpu;
const DRI_DIR: &str = "/dev/dri";
const DRIVER_NAME: &str = "virtio_gpu";

fn error(step: Step, kind: ErrorKind, detail: impl Into<String>) -> TransportError {
    TransportError::new(KIND, step, kind, detail)
}

#[derive(Clone, Debug)]
pub struct VirtGpuOptions {
    /// The render node to use; `None` picks the first one driven by `virtio_gpu`.
    pub node: Option<PathBuf>,
    /// The alignment asked for; the kernel's `VIRTGPU_PARAM_BLOB_ALIGNMENT` may raise it.
    pub blob_alignment: AlignmentChoice,
}

impl VirtGpuOptions {
    /// Discovery of the node, and the blob alignment from `VENUS_RS_BLOB_ALIGN`.
    pub fn from_env() -> Result<VirtGpuOptions, TransportError> {
        let blob_alignment = AlignmentChoice::from_env()
            .map_err(|detail| error(Step::Config, ErrorKind::Config, detail))?;
        Ok(VirtGpuOptions {
            node: None,
            blob_alignment,
        })
    }
}

/// An open DRM node, for the generic DRM queries of the `drm` crate.
struct DrmNode(File);

impl AsFd for DrmNode {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl drm::Device for DrmNode {}

struct DriverInfo {
    name: String,
    version: (i32, i32, i32),
    date: String,
}

fn open_node(path: &Path) -> Result<(DrmNode, DriverInfo), (ErrorKind, String)> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::CLOEXEC.bits() as i32)
        .open(path)
        .map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Io,
            };
            (kind, format!("open: {e}"))
        })?;
    let node = DrmNode(file);
    let driver = node
        .get_driver()
        .map_err(|e| (ErrorKind::Unsupported, format!("DRM_IOCTL_VERSION: {e}")))?;
    let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
    let info = DriverInfo {
        name: text(driver.name()),
        version: driver.version,
        date: text(driver.date()),
    };
    Ok((node, info))
}

fn is_venus_driver(driver: &DriverInfo) -> bool {
    // Mesa accepts only major version 0: a different major would be an incompatible uapi.
    driver.name == DRIVER_NAME && driver.version.0 == 0
}

/// The first `/dev/dri/renderD*` node whose DRM driver is `virtio_gpu`.
pub fn find_render_node() -> Result<PathBuf, TransportError> {
    let step = Step::FindDevice;
    let entries = fs::read_dir(DRI_DIR).map_err(|e| {
        error(
            step,
            ErrorKind::NotFound,
            format!("cannot list {DRI_DIR}: {e} (no DRM device; is the virtio_gpu module loaded?)"),
        )
    })?;
    let mut nodes: Vec<OsString> = entries
        .filter_map(|entry| entry.ok().map(|e| e.file_name()))
        .filter(|name| name.to_string_lossy().starts_with("renderD"))
        .collect();
    nodes.sort();

    let mut seen = Vec::new();
    for name in nodes {
        let path = Path::new(DRI_DIR).join(&name);
        match open_node(&path) {
            Ok((_, driver)) if is_venus_driver(&driver) => return Ok(path),
            Ok((_, driver)) => {
                let (major, minor, patch) = driver.version;
                seen.push(format!(
                    "{} ({} {major}.{minor}.{patch})",
                    name.to_string_lossy(),
                    driver.name
                ));
            }
            Err((_, why)) => seen.push(format!("{} ({why})", name.to_string_lossy())),
        }
    }
    let found = if seen.is_empty() {
        "there is no render node".to_string()
    } else {
        format!("found only {}", seen.join(", "))
    };
    Err(error(
        step,
        ErrorKind::NotFound,
        format!("no render node under {DRI_DIR} is driven by {DRIVER_NAME}: {found}"),
    ))
}

/// How long a DRM ioctl is retried while signals or a busy device interrupt it: libdrm retries
/// for ever, which turns a device that answers EAGAIN for good into a hang of the application.
const IOCTL_RETRY_LIMIT: Duration = Duration::from_secs(10);
/// Pause between retries after EAGAIN (the device is busy), doubling up to this.
const IOCTL_MAX_BACKOFF: Duration = Duration::from_millis(10);

/// Runs a DRM ioctl, repeating it when a signal or a busy device interrupts it, for at most
/// [`IOCTL_RETRY_LIMIT`]; then the interruption is the answer.
///
/// # Safety
/// `OPCODE` must be the ioctl whose argument struct is `T`, and every user pointer inside `args` must
/// point at memory of the size the ioctl expects, valid for the whole call.
unsafe fn drm_ioctl<T, const OPCODE: rustix::ioctl::Opcode>(
    fd: BorrowedFd<'_>,
    args: &mut T,
) -> Result<(), Errno> {
    let started = Instant::now();
    let mut backoff = Duration::from_micros(10);
    loop {
        // SAFETY: the caller guarantees that OPCODE takes a T and that the pointers in `args` are valid.
        let result = unsafe { ioctl(fd, Updater::<OPCODE, T>::new(args)) };
        match result {
            Err(errno @ (Errno::INTR | Errno::AGAIN)) => {
                if started.elapsed() >= IOCTL_RETRY_LIMIT {
                    return Err(errno);
                }
                if errno == Errno::AGAIN {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(IOCTL_MAX_BACKOFF);
                }
            }
            other => return other,
        }
    }
}

fn get_param(fd: BorrowedFd<'_>, param: u64) -> Result<u64, Errno> {
    // Zeroed first: the kernel writes only the low 32 bits.
    let mut value: u64 = 0;
    let mut args = uapi::GetParam {
        param,
        value: std::ptr::addr_of_mut!(value) as u64,
    };
    // SAFETY: GETPARAM takes a GetParam whose value points at `value`, a u64 alive across the call.
    unsafe { drm_ioctl::<_, { uapi::IOCTL_GETPARAM }>(fd, &mut args) }?;
    Ok(value)
}

/// A GETPARAM this transport asks, with what to tell the user when a required one is missing.
struct ParamCheck {
    id: u64,
    name: &'static str,
    missing_hint: Option<&'static str>,
}

const PARAM_CHECKS: [ParamCheck; 8] = [
    ParamCheck {
        id: uapi::PARAM_3D_FEATURES,
        name: "3D_FEATURES",
        missing_hint: Some("the device has no 3D support: use virtio-gpu-gl with venus=true"),
    },
    ParamCheck {
        id: uapi::PARAM_CAPSET_QUERY_FIX,
        name: "CAPSET_QUERY_FIX",
        missing_hint: Some("the guest kernel is too old to query capsets reliably"),
    },
    ParamCheck {
        id: uapi::PARAM_RESOURCE_BLOB,
        name: "RESOURCE_BLOB",
        missing_hint: Some("blob resources are off: start the device with blob=true"),
    },
    ParamCheck {
        id: uapi::PARAM_HOST_VISIBLE,
        name: "HOST_VISIBLE",
        missing_hint: Some("no host-visible memory window: give the device hostmem=SIZE"),
    },
    ParamCheck {
        id: uapi::PARAM_CROSS_DEVICE,
        name: "CROSS_DEVICE",
        missing_hint: None,
    },
    ParamCheck {
        id: uapi::PARAM_CONTEXT_INIT,
        name: "CONTEXT_INIT",
        missing_hint: Some(
            "no context init: the guest kernel needs CONTEXT_INIT (Linux 5.16+) and the device venus=true",
        ),
    },
    ParamCheck {
        id: uapi::PARAM_SUPPORTED_CAPSET_IDS,
        name: "SUPPORTED_CAPSET_IDs",
        missing_hint: None,
    },
    ParamCheck {
        id: uapi::PARAM_BLOB_ALIGNMENT,
        name: BLOB_ALIGNMENT_PARAM,
        missing_hint: None,
    },
];

/// The uapi name of `VIRTGPU_PARAM_BLOB_ALIGNMENT` in [`TransportDetails::VirtGpu`]'s params.
pub const BLOB_ALIGNMENT_PARAM: &str = "BLOB_ALIGNMENT";

/// The blob alignment to use: the larger of what was asked for and what the kernel requires.
fn choose_alignment(
    asked: AlignmentChoice,
    params: &[(&'static str, Option<u64>)],
) -> Result<AlignmentChoice, TransportError> {
    let kernel = params
        .iter()
        .find(|(name, _)| *name == BLOB_ALIGNMENT_PARAM)
        .and_then(|(_, value)| *value);
    asked
        .with_kernel(kernel)
        .map_err(|detail| error(Step::CheckParams, ErrorKind::Unsupported, detail))
}

/// Fails naming every required GETPARAM that is missing or 0, with how to get it, and when the kernel says
/// which capsets the host has, fails if Venus is not among them.
fn check_params(
    node_path: &Path,
    params: &[(&'static str, Option<u64>)],
) -> Result<(), TransportError> {
    let missing: Vec<String> = PARAM_CHECKS
        .iter()
        .zip(params)
        .filter_map(|(check, (_, value))| match (check.missing_hint, value) {
            (Some(hint), None | Some(0)) => Some(format!("{} ({hint})", check.name)),
            _ => None,
        })
        .collect();
    if !missing.is_empty() {
        return Err(error(
            Step::CheckParams,
            ErrorKind::Unsupported,
            format!(
                "{} lacks what Venus needs: {}",
                node_path.display(),
                missing.join("; ")
            ),
        ));
    }
    let capset_mask = params
        .iter()
        .find(|(name, _)| *name == "SUPPORTED_CAPSET_IDs")
        .and_then(|(_, value)| *value);
    if let Some(mask) = capset_mask {
        if mask & (1 << VENUS_CAPSET_ID) == 0 {
            return Err(error(
                Step::CheckParams,
                ErrorKind::Unsupported,
                format!(
                    "the host offers no Venus capset (SUPPORTED_CAPSET_IDs = {mask:#x}): \
                     start the device with venus=true"
                ),
            ));
        }
    }
    Ok(())
}

pub struct VirtGpuTransport {
    id: TransportId,
    node_path: PathBuf,
    node: DrmNode,
    driver: DriverInfo,
    params: Vec<(&'static str, Option<u64>)>,
    blob_alignment: AlignmentChoice,
    context: Option<ContextParams>,
}

impl VirtGpuTransport {
    /// Finds (or takes) the render node, checks that `virtio_gpu` drives it, and checks the GETPARAMs
    /// Venus needs: 3D_FEATURES, CAPSET_QUERY_FIX, RESOURCE_BLOB, HOST_VISIBLE and CONTEXT_INIT.
    pub fn open(options: VirtGpuOptions) -> Result<VirtGpuTransport, TransportError> {
        let node_path = match options.node {
            Some(path) => path,
            None => find_render_node()?,
        };
        let (node, driver) = open_node(&node_path).map_err(|(kind, why)| {
            error(
                Step::OpenDevice,
                kind,
                format!("{}: {why}", node_path.display()),
            )
        })?;
        if !is_venus_driver(&driver) {
            let (major, minor, patch) = driver.version;
            return Err(error(
                Step::OpenDevice,
                ErrorKind::Unsupported,
                format!(
                    "{} is driven by {} {major}.{minor}.{patch}, not {DRIVER_NAME} 0.x",
                    node_path.display(),
                    driver.name
                ),
            ));
        }

        let fd = node.as_fd();
        let params: Vec<(&'static str, Option<u64>)> = PARAM_CHECKS
            .iter()
            .map(|check| (check.name, get_param(fd, check.id).ok()))
            .collect();
        check_params(&node_path, &params)?;
        let blob_alignment = choose_alignment(options.blob_alignment, &params)?;

        Ok(VirtGpuTransport {
            id: TransportId::next(),
            node_path,
            node,
            driver,
            params,
            blob_alignment,
            context: None,
        })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.node.as_fd()
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

    fn execbuffer(
        &mut self,
        ring_idx: u32,
        commands: &[u8],
        want_fence: bool,
    ) -> Result<Option<OwnedFd>, TransportError> {
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
        let mut args = uapi::Execbuffer {
            flags: uapi::EXECBUF_RING_IDX
                | if want_fence {
                    uapi::EXECBUF_FENCE_FD_OUT
                } else {
                    0
                },
            size: commands.len() as u32,
            command: commands.as_ptr() as u64,
            fence_fd: -1,
            ring_idx,
            ..Default::default()
        };
        // SAFETY: EXECBUFFER takes an Execbuffer; `command` points at `commands`, `size` bytes long and
        // borrowed across the call; no bo handles or syncobjs are passed.
        unsafe { drm_ioctl::<_, { uapi::IOCTL_EXECBUFFER }>(self.fd(), &mut args) }.map_err(
            |errno| {
                error(
                    step,
                    kind_of_errno(errno),
                    format!(
                        "EXECBUFFER of {} bytes on ring {ring_idx}: {errno}",
                        commands.len()
                    ),
                )
            },
        )?;
        if !want_fence {
            return Ok(None);
        }
        if args.fence_fd < 0 {
            return Err(error(
                step,
                ErrorKind::Protocol,
                "EXECBUFFER with FENCE_FD_OUT returned no fence fd",
            ));
        }
        // SAFETY: the kernel just installed this fd for us in EXECBUFFER; nothing else owns it.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(args.fence_fd) }))
    }
}

impl Transport for VirtGpuTransport {
    fn info(&self) -> TransportInfo {
        TransportInfo {
            kind: KIND,
            blob_alignment: self.blob_alignment.alignment,
            blob_alignment_source: self.blob_alignment.source,
            details: TransportDetails::VirtGpu {
                node: self.node_path.clone(),
                driver_name: self.driver.name.clone(),
                driver_version: self.driver.version,
                driver_date: self.driver.date.clone(),
                params: self.params.clone(),
            },
        }
    }

    fn read_capset(&mut self) -> Result<VenusCapset, TransportError> {
        let step = Step::ReadCapset;
        // The kernel copies at most what the host has and leaves the rest of the zeroed buffer alone.
        let mut bytes = [0u8; VENUS_CAPSET_SIZE];
        let mut args = uapi::GetCaps {
            cap_set_id: VENUS_CAPSET_ID,
            cap_set_ver: 0,
            addr: bytes.as_mut_ptr() as u64,
            size: VENUS_CAPSET_SIZE as u32,
            pad: 0,
        };
        // SAFETY: GET_CAPS takes a GetCaps; `addr` points at `bytes`, `size` bytes long, alive across the call.
        unsafe { drm_ioctl::<_, { uapi::IOCTL_GET_CAPS }>(self.fd(), &mut args) }.map_err(|errno| {
            error(
                step,
                kind_of_errno(errno),
                format!("GET_CAPS for capset {VENUS_CAPSET_ID} version 0: {errno} (does the host offer Venus? start the device with venus=true)"),
            )
        })?;
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
        if params.num_rings == 0 || params.num_rings > uapi::MAX_RINGS {
            return Err(error(
                step,
                ErrorKind::InvalidArgument,
                format!(
                    "{} rings asked; a context has 1 to {}",
                    params.num_rings,
                    uapi::MAX_RINGS
                ),
            ));
        }
        let set_params = [
            uapi::ContextSetParam {
                param: uapi::CONTEXT_PARAM_CAPSET_ID,
                value: u64::from(VENUS_CAPSET_ID),
            },
            uapi::ContextSetParam {
                param: uapi::CONTEXT_PARAM_NUM_RINGS,
                value: u64::from(params.num_rings),
            },
            uapi::ContextSetParam {
                param: uapi::CONTEXT_PARAM_POLL_RINGS_MASK,
                value: params.poll_rings_mask,
            },
        ];
        let mut args = uapi::ContextInit {
            num_params: set_params.len() as u32,
            pad: 0,
            ctx_set_params: set_params.as_ptr() as u64,
        };
        // SAFETY: CONTEXT_INIT takes a ContextInit; `ctx_set_params` points at `set_params`, an array of
        // `num_params` ContextSetParam alive across the call.
        unsafe { drm_ioctl::<_, { uapi::IOCTL_CONTEXT_INIT }>(self.fd(), &mut args) }.map_err(|errno| {
            let hint = if errno == Errno::EXIST {
                " (this fd already has a context)"
            } else {
                ""
            };
            error(
                step,
                kind_of_errno(errno),
                format!(
                    "CONTEXT_INIT capset {VENUS_CAPSET_ID}, {} rings, poll mask {:#x}: {errno}{hint}",
                    params.num_rings, params.poll_rings_mask
                ),
            )
        })?;
        self.context = Some(params);
        Ok(())
    }

    fn create_blob(&mut self, request: BlobRequest) -> Result<Blob, TransportError> {
        let step = Step::CreateBlob;
        self.context(step)?;
        let size = checked_blob_size(KIND, self.blob_alignment.alignment, &request)?;
        let mut args = uapi::ResourceCreateBlob {
            blob_mem: request.blob_mem.raw(),
            blob_flags: request.flags.bits(),
            size,
            blob_id: request.blob_id,
            ..Default::default()
        };
        // SAFETY: RESOURCE_CREATE_BLOB takes a ResourceCreateBlob; its only pointer, `cmd`, is null with
        // `cmd_size` 0.
        unsafe { drm_ioctl::<_, { uapi::IOCTL_RESOURCE_CREATE_BLOB }>(self.fd(), &mut args) }.map_err(
            |errno| {
                error(
                    step,
                    kind_of_errno(errno),
                    format!(
                        "RESOURCE_CREATE_BLOB blob_mem {} flags {:#x} size {size} blob_id {}: {errno}",
                        request.blob_mem.raw(),
                        request.flags.bits(),
                        request.blob_id
                    ),
                )
            },
        )?;
        Ok(Blob {
            owner: self.id,
            res_id: args.res_handle,
            size,
            request,
            handle: BlobHandle::Gem(args.bo_handle),
        })
    }

    fn map_blob(&mut self, blob: &Blob) -> Result<SharedMemory, TransportError> {
        let step = Step::MapBlob;
        let BlobHandle::Gem(handle) = blob.handle else {
            return Err(foreign_object(KIND, step, "blob"));
        };
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
        let mut args = uapi::Map {
            handle,
            ..Default::default()
        };
        // SAFETY: MAP takes a Map, which holds no pointers.
        unsafe { drm_ioctl::<_, { uapi::IOCTL_MAP }>(self.fd(), &mut args) }.map_err(|errno| {
            error(
                step,
                kind_of_errno(errno),
                format!(
                    "MAP of resource {} (GEM handle {handle}): {errno}",
                    blob.res_id
                ),
            )
        })?;
        // The kernel waits for the host to map a HOST3D blob inside this mmap, without a timeout.
        SharedMemory::map(self.fd(), args.offset, blob.size).map_err(|e| {
            error(
                step,
                kind_of_map_error(&e),
                format!("mmap of resource {} (DRM fake offset): {e}", blob.res_id),
            )
        })
    }

    fn destroy_blob(&mut self, blob: Blob) -> Result<(), TransportError> {
        let step = Step::DestroyBlob;
        let BlobHandle::Gem(handle) = blob.handle else {
            return Err(foreign_object(KIND, step, "blob"));
        };
        if blob.owner != self.id {
            return Err(foreign_object(KIND, step, "blob"));
        }
        drm_ffi::gem::close(self.fd(), handle).map_err(|e| {
            error(
                step,
                ErrorKind::Io,
                format!(
                    "GEM_CLOSE of handle {handle} (resource {}): {e}",
                    blob.res_id
                ),
            )
        })?;
        Ok(())
    }

    fn submit(&mut self, ring_idx: u32, commands: &[u8]) -> Result<(), TransportError> {
        self.execbuffer(ring_idx, commands, false).map(|_| ())
    }

    fn submit_with_fence(
        &mut self,
        ring_idx: u32,
        commands: &[u8],
    ) -> Result<Fence, TransportError> {
        let sync_file = self.execbuffer(ring_idx, commands, true)?.ok_or_else(|| {
            error(
                Step::Submit,
                ErrorKind::Protocol,
                "EXECBUFFER returned no fence",
            )
        })?;
        Ok(Fence {
            owner: self.id,
            ring_idx,
            state: FenceState::SyncFile(sync_file),
        })
    }

    fn wait_fence(
        &mut self,
        fence: &Fence,
        timeout: Duration,
    ) -> Result<WaitOutcome, TransportError> {
        let step = Step::WaitFence;
        let FenceState::SyncFile(sync_file) = &fence.state else {
            return Err(foreign_object(KIND, step, "fence"));
        };
        if fence.owner != self.id {
            return Err(foreign_object(KIND, step, "fence"));
        }
        match wait_for_events(sync_file.as_fd(), PollFlags::IN, &Deadline::after(timeout)) {
            Ok(Some(events)) if events.contains(PollFlags::IN) => Ok(WaitOutcome::Signaled),
            Ok(Some(events)) => Err(error(
                step,
                ErrorKind::Io,
                format!(
                    "the sync_file of ring {} reported {events:?}",
                    fence.ring_idx
                ),
            )),
            Ok(None) => Ok(WaitOutcome::TimedOut),
            Err(errno) => Err(error(step, kind_of_errno(errno), format!("poll: {errno}"))),
        }
    }

    fn check_connection(&mut self) -> Result<(), TransportError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_that_is_not_drm_fails_the_open_step() {
        let options = VirtGpuOptions {
            node: Some(PathBuf::from("/dev/null")),
            blob_alignment: AlignmentChoice::default(),
        };
        let err = VirtGpuTransport::open(options)
            .err()
            .expect("/dev/null is no DRM device");
        assert_eq!(
            (err.step, err.kind),
            (Step::OpenDevice, ErrorKind::Unsupported)
        );
        assert!(err.detail.contains("/dev/null"), "{err}");
        assert!(err.detail.contains("DRM_IOCTL_VERSION"), "{err}");
    }

    fn params_with(overrides: &[(&str, Option<u64>)]) -> Vec<(&'static str, Option<u64>)> {
        PARAM_CHECKS
            .iter()
            .map(|check| {
                let value = overrides
                    .iter()
                    .find(|(name, _)| *name == check.name)
                    .map_or(Some(1), |(_, value)| *value);
                (check.name, value)
            })
            .collect()
    }

    #[test]
    fn a_device_with_every_required_param_passes() {
        let params = params_with(&[
            ("CROSS_DEVICE", Some(0)),
            ("SUPPORTED_CAPSET_IDs", Some(0x1e)),
        ]);
        assert!(check_params(Path::new("/dev/dri/renderD128"), &params).is_ok());
        let old_kernel = params_with(&[("CROSS_DEVICE", None), ("SUPPORTED_CAPSET_IDs", None)]);
        assert!(check_params(Path::new("/dev/dri/renderD128"), &old_kernel).is_ok());
    }

    #[test]
    fn every_missing_required_param_is_named_with_a_hint() {
        let params = params_with(&[("RESOURCE_BLOB", Some(0)), ("HOST_VISIBLE", None)]);
        let err = check_params(Path::new("/dev/dri/renderD128"), &params).unwrap_err();
        assert_eq!(
            (err.step, err.kind),
            (Step::CheckParams, ErrorKind::Unsupported)
        );
        assert!(
            err.detail.contains("RESOURCE_BLOB (blob resources are off"),
            "{err}"
        );
        assert!(
            err.detail.contains("HOST_VISIBLE (no host-visible memory"),
            "{err}"
        );
        assert!(!err.detail.contains("CONTEXT_INIT"), "{err}");
        for name in ["3D_FEATURES", "CAPSET_QUERY_FIX", "CONTEXT_INIT"] {
            let err = check_params(Path::new("/x"), &params_with(&[(name, Some(0))])).unwrap_err();
            assert!(err.detail.contains(name), "{err}");
        }
    }

    #[test]
    fn a_host_without_the_venus_capset_is_refused() {
        let params = params_with(&[("SUPPORTED_CAPSET_IDs", Some(0x6))]);
        let err = check_params(Path::new("/dev/dri/renderD128"), &params).unwrap_err();
        assert_eq!(err.step, Step::CheckParams);
        assert!(err.detail.contains("no Venus capset"), "{err}");
    }

    #[test]
    fn a_missing_node_fails_the_open_step() {
        let options = VirtGpuOptions {
            node: Some(PathBuf::from("/nonexistent/renderD128")),
            blob_alignment: AlignmentChoice::default(),
        };
        let err = VirtGpuTransport::open(options).err().expect("no such node");
        assert_eq!(
            (err.step, err.kind),
            (Step::OpenDevice, ErrorKind::NotFound)
        );
        assert!(err.detail.contains("open"), "{err}");
    }

    #[test]
    fn the_kernel_blob_alignment_raises_the_setting_when_offered() {
        use crate::alignment::{AlignmentSource, BlobAlignment};
        let absent = params_with(&[(BLOB_ALIGNMENT_PARAM, None)]);
        let chosen = choose_alignment(AlignmentChoice::default(), &absent).unwrap();
        assert_eq!(chosen, AlignmentChoice::default());
        let host_64k = params_with(&[(BLOB_ALIGNMENT_PARAM, Some(65536))]);
        let chosen = choose_alignment(AlignmentChoice::default(), &host_64k).unwrap();
        assert_eq!(
            (chosen.alignment.bytes(), chosen.source),
            (65536, AlignmentSource::Kernel)
        );
        let asked_4k = AlignmentChoice::from(BlobAlignment::new(4096).unwrap());
        let host_16k = params_with(&[(BLOB_ALIGNMENT_PARAM, Some(16384))]);
        let chosen = choose_alignment(asked_4k, &host_16k).unwrap();
        assert_eq!(
            (chosen.alignment.bytes(), chosen.source),
            (16384, AlignmentSource::Kernel)
        );
        let broken = params_with(&[(BLOB_ALIGNMENT_PARAM, Some(24576))]);
        let err = choose_alignment(AlignmentChoice::default(), &broken).unwrap_err();
        assert_eq!(
            (err.step, err.kind),
            (Step::CheckParams, ErrorKind::Unsupported)
        );
        assert!(err.detail.contains("VIRTGPU_PARAM_BLOB_ALIGNMENT"), "{err}");
    }
}
