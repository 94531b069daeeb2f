//! MIT-SHM: one memfd segment per swapchain, attached to the X server with ShmAttachFd, so a present
//! is one memcpy into the segment and one small ShmPutImage request instead of the whole image through
//! the socket.
//!
//! Used only when the server offers MIT-SHM 1.2 (fd passing) and the connection is a Unix socket, i.e.
//! the server runs on this machine and can map our memory. `VENUS_RS_X11_SHM=0` turns it off.

use super::shm_memory::SharedMemory;
use std::os::fd::AsFd;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::shm;
use x11rb::protocol::xproto;
use x11rb::xcb_ffi::XCBConnection;

pub const SHM_ENV: &str = "VENUS_RS_X11_SHM";

pub struct ShmSegment {
    segment: shm::Seg,
    memory: SharedMemory,
}

/// Where a frame goes in the server: drawable, graphics context and depth.
pub struct Destination {
    pub window: xproto::Window,
    pub gc: xproto::Gcontext,
    pub depth: u8,
}

impl ShmSegment {
    /// A segment of `size` bytes attached to the server, or why MIT-SHM is not used.
    pub fn attach(connection: &XCBConnection, size: usize) -> Result<ShmSegment, String> {
        if std::env::var(SHM_ENV).is_ok_and(|value| value.trim() == "0") {
            return Err(format!("{SHM_ENV}=0"));
        }
        let offered = connection
            .extension_information(shm::X11_EXTENSION_NAME)
            .map_err(|e| format!("cannot ask for MIT-SHM: {e}"))?;
        if offered.is_none() {
            return Err("the X server has no MIT-SHM".to_string());
        }
        let version = shm::query_version(connection)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| format!("MIT-SHM QueryVersion: {e}"))?;
        if (version.major_version, version.minor_version) < (1, 2) {
            return Err(format!(
                "MIT-SHM {}.{} cannot take file descriptors (1.2 can)",
                version.major_version, version.minor_version
            ));
        }
        if !is_unix_socket(connection) {
            return Err("the X server is not reached through a Unix socket".to_string());
        }
        let memory = SharedMemory::new("venus-rs-x11-shm", size)
            .map_err(|e| format!("cannot make shared memory: {e}"))?;
        let fd = memory
            .fd()
            .try_clone_to_owned()
            .map_err(|e| format!("cannot duplicate the shared memory fd: {e}"))?;
        let segment = connection
            .generate_id()
            .map_err(|e| format!("no X id left: {e}"))?;
        shm::attach_fd(connection, segment, fd, true)
            .map_err(|e| e.to_string())?
            .check()
            .map_err(|e| format!("ShmAttachFd refused: {e}"))?;
        Ok(ShmSegment { segment, memory })
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.memory.bytes_mut()
    }

    /// Draws the first `width` x `height` pixels of the segment into the window and waits until the
    /// server has read them, so the next frame may overwrite the segment.
    pub fn put(
        &self,
        connection: &XCBConnection,
        destination: &Destination,
        width: u16,
        height: u16,
    ) -> Result<(), x11rb::errors::ReplyError> {
        debug_assert!(usize::from(width) * usize::from(height) * 4 <= self.memory.len());
        shm::put_image(
            connection,
            destination.window,
            destination.gc,
            width,
            height,
            0,
            0,
            width,
            height,
            0,
            0,
            destination.depth,
            xproto::ImageFormat::Z_PIXMAP.into(),
            false,
            self.segment,
            0,
        )?
        .check()
    }

    /// Detaches the segment from the server (the memory goes when this value drops).
    pub fn detach(&self, connection: &XCBConnection) {
        // Errors are irrelevant here: a server that lost the connection has dropped the segment too.
        let _ = shm::detach(connection, self.segment);
    }
}

fn is_unix_socket(connection: &XCBConnection) -> bool {
    rustix::net::getsockname(connection.as_fd())
        .is_ok_and(|address| address.address_family() == rustix::net::AddressFamily::UNIX)
}
