//! The ICD's connection to the host: one bring-up per VkInstance, and synchronous calls through the
//! instance ring with the generated encoders.

use std::sync::atomic::{AtomicU64, Ordering};
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

pub struct Host {
    session: Mutex<Session>,
    drm_nodes: DrmNodes,
    protocol: Arc<HostProtocol>,
    capset: VenusCapset,
    instance_version: u32,
    /// Commands put on the ring since the bring-up, whether they reached the host or not.
    ring_commands: AtomicU64,
}

impl Host {
    /// Runs the bring-up. `Err` is one line saying why there is no host.
    pub fn connect() -> Result<Host, String> {
        let kind = session::select_transport()?;
        let mut options = SessionOptions::new(kind);
        // Host commands (device creation, pipeline compiles) can take far longer than a ring echo.
        options.wait_timeout = Duration::from_secs(60);
        let session =
            session::connect(&options, &mut |_| {}).map_err(|error| match error.step {
                Some(Step::DeviceNode) => format!("no Venus host over {kind}: {}", error.detail),
                _ => format!("Venus bring-up over {kind} failed: {error}"),
            })?;
        Ok(Host {
            drm_nodes: DrmNodes::of(session.transport_info()),
            protocol: session.protocol(),
            capset: session.capset().clone(),
            instance_version: session.host_instance_version(),
            ring_commands: AtomicU64::new(0),
            session: Mutex::new(session),
        })
    }

    pub fn protocol(&self) -> &HostProtocol {
        &self.protocol
    }

    pub fn capset(&self) -> &VenusCapset {
        &self.capset
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

fn encode_failed(what: &str, error: EncodeError) -> vk::Result {
    venus_log!(Level::Error, "{what}: cannot encode: {error}");
    match error {
        EncodeError::Unsupported(_) => vk::Result::ERROR_FEATURE_NOT_PRESENT,
        _ => vk::Result::ERROR_OUT_OF_HOST_MEMORY,
    }
}

/// Calls a generated guest command with the reply bit: `host_call!(host, vk_foo(args...))` expands to
/// the size, reply size, encode and decode functions of `vk_foo`. The arguments are evaluated once per
/// use, so they must be plain values (handles, pointers, scalars).
macro_rules! host_call {
    ($host:expr, $name:literal, $enc:ident, $size:ident, $reply_size:ident, $decode:ident, ($($arg:expr),* $(,)?)) => {{
        let host: &crate::driver::host::Host = $host;
        let cx = host.guest_context();
        use venus_rs_encoder::guest as g;
        // SAFETY: the arguments are the entry point's own, valid by the command's valid usage, and stay
        // valid across the encode and the decode of the reply.
        unsafe {
            let size = g::$size(&cx, $($arg),*);
            let reply_size = g::$reply_size(&cx, $($arg),*);
            host.call(
                $name,
                size,
                reply_size,
                |w| g::$enc(w, &cx, venus_rs_encoder::protocol::GENERATE_REPLY, $($arg),*),
                |r| g::$decode(r, &cx, $($arg),*),
            )
        }
    }};
}

/// Like [`host_call!`] for a command whose reply is not awaited.
macro_rules! host_send {
    ($host:expr, $name:literal, $enc:ident, $size:ident, ($($arg:expr),* $(,)?)) => {{
        let host: &crate::driver::host::Host = $host;
        let cx = host.guest_context();
        use venus_rs_encoder::guest as g;
        // SAFETY: as for host_call!; nothing is written back.
        unsafe {
            let size = g::$size(&cx, $($arg),*);
            host.send($name, size, |w| g::$enc(w, &cx, 0, $($arg),*))
        }
    }};
}

pub(crate) use {host_call, host_send};

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
