//! The ICD's connection to the host: one bring-up per VkInstance, and synchronous calls through the
//! instance ring with the generated encoders.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ash::vk;
use venus_rs_encoder::guest::GuestContext;
use venus_rs_encoder::protocol::HostProtocol;
use venus_rs_encoder::wire::{DecodeError, Decoder, EncodeError, Limits, Writer};
use venus_rs_kernel_iface::VenusCapset;

use crate::driver::handles::dispatchable_id;
use crate::log::Level;
use crate::session::{self, Session, SessionError, SessionOptions, Step};
use crate::venus_log;

/// Where the device sits in the guest: its DRM nodes, (major, minor) of each
/// (VK_EXT_physical_device_drm), and its PCI address (VK_EXT_pci_bus_info).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrmNodes {
    pub render: Option<(u32, u32)>,
    pub primary: Option<(u32, u32)>,
    pub pci: Option<PciAddress>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciAddress {
    pub domain: u32,
    pub bus: u32,
    pub device: u32,
    pub function: u32,
}

impl PciAddress {
    /// Parses sysfs's `DDDD:BB:DD.F` (hexadecimal).
    pub fn parse(text: &str) -> Option<PciAddress> {
        let (domain, rest) = text.split_once(':')?;
        let (bus, rest) = rest.split_once(':')?;
        let (device, function) = rest.split_once('.')?;
        let hex = |part: &str| u32::from_str_radix(part, 16).ok();
        Some(PciAddress {
            domain: hex(domain)?,
            bus: hex(bus)?,
            device: hex(device)?,
            function: hex(function)?,
        })
    }
}

impl DrmNodes {
    /// The render node the transport uses and the primary node of the same device; none over vtest.
    fn of(info: &venus_rs_kernel_iface::TransportInfo) -> DrmNodes {
        let venus_rs_kernel_iface::TransportDetails::VirtGpu { node, .. } = &info.details else {
            return DrmNodes::default();
        };
        let numbers = |path: &std::path::Path| {
            rustix::fs::stat(path).ok().map(|stat| {
                (
                    rustix::fs::major(stat.st_rdev),
                    rustix::fs::minor(stat.st_rdev),
                )
            })
        };
        let render = numbers(node);
        let device_dir = render.map(|(major, minor)| {
            std::path::PathBuf::from(format!("/sys/dev/char/{major}:{minor}/device"))
        });
        // The device's nodes are listed under its sysfs folder: drm/card* is the primary node.
        let primary = device_dir.as_ref().and_then(|dir| {
            std::fs::read_dir(dir.join("drm"))
                .ok()?
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .find(|name| name.starts_with("card"))
                .and_then(|card| numbers(&std::path::Path::new("/dev/dri").join(card)))
        });
        // A PCI device's sysfs folder is named after its address (virtio_gpu sits on a virtio bus
        // device whose parent is the PCI function).
        let pci = device_dir.and_then(|dir| {
            let real = std::fs::canonicalize(dir).ok()?;
            real.ancestors()
                .filter_map(|path| path.file_name()?.to_str())
                .find_map(PciAddress::parse)
        });
        DrmNodes {
            render,
            primary,
            pci,
        }
    }
}

/// The instance ring's command buffer: command buffers up to an eighth of it go through the
/// ring itself (larger ones through shared memory).
const RING_BUFFER_SIZE: u32 = 512 * 1024;

/// The longest one wait on a host that keeps reporting itself alive may take (see
/// [`crate::liveness`]); a silent host is lost after `VENUS_RS_STALL_TIMEOUT`.
const BUSY_HOST_LIMIT: Duration = Duration::from_secs(300);

pub struct Host {
    session: Mutex<Session>,
    drm_nodes: DrmNodes,
    /// Every blob the guest creates is a multiple of it (`macos-lessons.md` §1).
    blob_alignment: u64,
    protocol: Arc<HostProtocol>,
    capset: VenusCapset,
    instance_version: u32,
    /// Commands put on the ring since the bring-up, whether they reached the host or not.
    ring_commands: AtomicU64,
    /// The next fence timeline (ring_idx) for a queue: they are the context's, shared by every
    /// device of the instance. 0 is the CPU timeline.
    next_ring_idx: AtomicU32,
}

/// The fence timelines a Venus context has (the bring-up's CONTEXT_INIT asks for 64).
const TIMELINE_COUNT: u32 = 64;

impl Host {
    /// Runs the bring-up. `Err` is one line saying why there is no host.
    pub fn connect() -> Result<Host, String> {
        let kind = session::select_transport()?;
        let mut options = SessionOptions::from_env(kind)?;
        // Host commands (device creation, pipeline compiles) can take far longer than a ring echo; a
        // host that keeps reporting itself alive is waited for this long, a silent one only for the
        // stall timeout.
        options.wait_timeout = BUSY_HOST_LIMIT;
        options.ring_buffer_size = RING_BUFFER_SIZE;
        let session =
            session::connect(&options, &mut |_| {}).map_err(|error| match error.step {
                Some(Step::DeviceNode) => format!("no Venus host over {kind}: {}", error.detail),
                _ => {
                    // A host was found and the bring-up went wrong: the user must see why, not only
                    // an instance without devices.
                    let message = format!("Venus bring-up over {kind} failed: {error}");
                    venus_log!(Level::Error, "{message}");
                    message
                }
            })?;
        Ok(Host {
            drm_nodes: DrmNodes::of(session.transport_info()),
            blob_alignment: session.transport_info().blob_alignment.bytes(),
            protocol: session.protocol(),
            capset: session.capset().clone(),
            instance_version: session.host_instance_version(),
            ring_commands: AtomicU64::new(0),
            next_ring_idx: AtomicU32::new(1),
            session: Mutex::new(session),
        })
    }

    pub fn protocol(&self) -> &HostProtocol {
        &self.protocol
    }

    pub fn capset(&self) -> &VenusCapset {
        &self.capset
    }

    pub fn blob_alignment(&self) -> u64 {
        self.blob_alignment
    }

    pub fn drm_nodes(&self) -> DrmNodes {
        self.drm_nodes
    }

    /// The host's vkEnumerateInstanceVersion.
    pub fn instance_version(&self) -> u32 {
        self.instance_version
    }

    pub fn guest_context(&self) -> GuestContext<'_> {
        GuestContext {
            host: &self.protocol,
            dispatchable_id,
        }
    }

    /// How many commands this ICD has put on the ring (what proves that a cached answer asked no one).
    pub fn ring_commands(&self) -> u64 {
        self.ring_commands.load(Ordering::Relaxed)
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        // A panic while holding the lock leaves the session as consistent as any failed call does.
        self.session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn failed(error: &SessionError) -> vk::Result {
        venus_log!(Level::Error, "{error}");
        if error.lost {
            vk::Result::ERROR_DEVICE_LOST
        } else {
            vk::Result::ERROR_INITIALIZATION_FAILED
        }
    }

    /// Encodes a command with the reply bit, runs it on the host and decodes its reply.
    pub fn call<T>(
        &self,
        what: &'static str,
        size: usize,
        reply_size: usize,
        encode: impl FnOnce(&mut Writer<'_>) -> Result<usize, EncodeError>,
        decode: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, vk::Result> {
        let command = session::encode(size, encode).map_err(|e| encode_failed(what, e))?;
        self.ring_commands.fetch_add(1, Ordering::Relaxed);
        let reply = self
            .session()
            .call(what, &command, reply_size)
            .map_err(|e| Self::failed(&e))?;
        let mut decoder = Decoder::new(&reply, Limits::default());
        decode(&mut decoder).map_err(|e| {
            venus_log!(Level::Error, "{what}: bad reply from the host: {e}");
            vk::Result::ERROR_DEVICE_LOST
        })
    }

    /// Waits until the queue bound to fence timeline `ring_idx` has finished all its work.
    pub fn wait_queue_idle(&self, what: &str, ring_idx: u32) -> Result<(), vk::Result> {
        self.session()
            .wait_timeline_idle(what, ring_idx)
            .map_err(|e| Self::failed(&e))
    }

    /// Encodes a command without the reply bit and queues it on the ring, without waiting.
    pub fn send(
        &self,
        what: &'static str,
        size: usize,
        encode: impl FnOnce(&mut Writer<'_>) -> Result<usize, EncodeError>,
    ) -> Result<(), vk::Result> {
        let command = session::encode(size, encode).map_err(|e| encode_failed(what, e))?;
        self.ring_commands.fetch_add(1, Ordering::Relaxed);
        self.session()
            .send(what, &command)
            .map(|_| ())
            .map_err(|e| Self::failed(&e))
    }
}

impl Host {
    /// Sends a stream of whole commands (a command buffer's recording) without waiting.
    pub fn send_stream(&self, what: &'static str, stream: &[u8]) -> Result<(), vk::Result> {
        self.ring_commands.fetch_add(1, Ordering::Relaxed);
        self.session()
            .send_stream(what, stream)
            .map(|_| ())
            .map_err(|e| Self::failed(&e))
    }

    /// A fence timeline of the context for a new queue.
    pub fn next_ring_idx(&self) -> Result<u32, vk::Result> {
        let ring_idx = self.next_ring_idx.fetch_add(1, Ordering::Relaxed);
        if ring_idx >= TIMELINE_COUNT {
            venus_log!(
                Level::Error,
                "no fence timeline left for another queue (a context has {TIMELINE_COUNT})"
            );
            return Err(vk::Result::ERROR_INITIALIZATION_FAILED);
        }
        Ok(ring_idx)
    }

    /// Maps device memory `memory_id` (allocated on the host) through a blob of `size` bytes.
    pub fn map_device_memory(
        &self,
        memory_id: u64,
        size: u64,
    ) -> Result<(venus_rs_kernel_iface::Blob, venus_rs_shmem::SharedMemory), vk::Result> {
        self.session()
            .map_device_memory("vkMapMemory", memory_id, size)
            .map_err(|e| {
                venus_log!(
                    Level::Error,
                    "vkMapMemory: the host could not export device memory {memory_id} as a \
                     mappable blob: {e}"
                );
                vk::Result::ERROR_MEMORY_MAP_FAILED
            })
    }

    /// Releases a blob made by [`Host::map_device_memory`].
    pub fn destroy_blob(&self, blob: venus_rs_kernel_iface::Blob) {
        if let Err(e) = self.session().destroy_blob("vkFreeMemory", blob) {
            venus_log!(Level::Warn, "{e}");
        }
    }
}

fn encode_failed(what: &str, error: EncodeError) -> vk::Result {
    venus_log!(Level::Error, "{what}: cannot encode: {error}");
    match error {
        EncodeError::Unsupported(_) => vk::Result::ERROR_FEATURE_NOT_PRESENT,
        _ => vk::Result::ERROR_OUT_OF_HOST_MEMORY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_addresses_parse_from_sysfs_names() {
        assert_eq!(
            PciAddress::parse("0000:00:01.0"),
            Some(PciAddress {
                domain: 0,
                bus: 0,
                device: 1,
                function: 0
            })
        );
        assert_eq!(
            PciAddress::parse("0001:1a:1f.7"),
            Some(PciAddress {
                domain: 1,
                bus: 0x1a,
                device: 0x1f,
                function: 7
            })
        );
        for not_pci in ["virtio0", "card0", "0000:00:01", "pci0000:00", "drm"] {
            assert_eq!(PciAddress::parse(not_pci), None, "{not_pci}");
        }
    }
}
