//! Presenting to an X11 window from the CPU: MIT-SHM when the server can map our memory, otherwise core
//! PutImage (Z_PIXMAP) split into strips of whole rows that fit the server's maximum request length.
//!
//! Each present asks for the window's geometry alongside the image and waits for the server to have
//! processed the image (which also keeps a fast application from queueing frames in the server); a
//! size that differs from the swapchain's makes the present VK_ERROR_OUT_OF_DATE_KHR.

use super::pacing::{FramePacer, ASSUMED_REFRESH_HZ};
use super::x11_shm::{Destination, ShmSegment};
use super::x11_window::X11Window;
use super::{Frame, PresentPath, WindowTarget};
use crate::driver::wsi::formats::{copy_as_bgrx, make_opaque, PixelOrder, BYTES_PER_PIXEL};
use crate::log::Level;
use crate::venus_log;
use ash::vk;
use std::ffi::c_void;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::xcb_ffi::XCBConnection;

/// Bytes of a core PutImage request before its pixels.
const PUT_IMAGE_HEADER_BYTES: usize = 24;

pub struct X11Target {
    window: X11Window,
    destination: Destination,
    shm: Option<ShmSegment>,
    /// Rows swapped to B, G, R, X order for the PutImage path (R8G8B8A8 swapchains only).
    staging: Vec<u8>,
    pacer: FramePacer,
}

impl X11Target {
    /// # Safety
    /// `connection` must be a live `xcb_connection_t*` that outlives the target.
    pub unsafe fn connect(
        connection: *mut c_void,
        window: u32,
        extent: vk::Extent2D,
    ) -> Result<X11Target, vk::Result> {
        if extent.width > u32::from(i16::MAX as u16) || extent.height > u32::from(i16::MAX as u16) {
            return Err(vk::Result::ERROR_INITIALIZATION_FAILED);
        }
        // SAFETY: per the caller.
        let window = unsafe { X11Window::borrow(connection, window) }?;
        let depth = window.geometry()?.depth;
        let gc = window
            .connection
            .generate_id()
            .map_err(|_| vk::Result::ERROR_OUT_OF_HOST_MEMORY)?;
        let no_exposures = xproto::CreateGCAux::new().graphics_exposures(0);
        window
            .connection
            .create_gc(gc, window.window, &no_exposures)
            .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)?
            .check()
            .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)?;
        let size = extent.width as usize * extent.height as usize * BYTES_PER_PIXEL;
        let shm = match ShmSegment::attach(&window.connection, size) {
            Ok(segment) => Some(segment),
            Err(reason) => {
                venus_log!(Level::Info, "wsi: x11 presents use PutImage: {reason}");
                None
            }
        };
        let destination = Destination {
            window: window.window,
            gc,
            depth,
        };
        Ok(X11Target {
            window,
            destination,
            shm,
            staging: Vec::new(),
            pacer: FramePacer::new(ASSUMED_REFRESH_HZ),
        })
    }
}

/// PutImage in strips; waits for the last one to be processed.
fn put_strips(
    window: &X11Window,
    destination: &Destination,
    staging: &mut Vec<u8>,
    frame: &Frame<'_>,
) -> Result<(), vk::Result> {
    let lost = |_| vk::Result::ERROR_SURFACE_LOST_KHR;
    let connection: &XCBConnection = &window.connection;
    let row_bytes = frame.extent.width as usize * BYTES_PER_PIXEL;
    let opaque = destination.depth == 32;
    let pixels = if frame.order == PixelOrder::Bgra && !opaque {
        frame.pixels
    } else {
        staging.resize(frame.pixels.len(), 0);
        copy_as_bgrx(frame.pixels, staging, frame.order);
        if opaque {
            make_opaque(staging);
        }
        staging
    };
    let rows_per_strip = rows_per_request(window.maximum_request_bytes(), row_bytes);
    let mut last = None;
    for (strip_index, strip) in pixels.chunks(rows_per_strip * row_bytes).enumerate() {
        let cookie = xproto::put_image(
            connection,
            xproto::ImageFormat::Z_PIXMAP,
            destination.window,
            destination.gc,
            frame.extent.width as u16,
            (strip.len() / row_bytes) as u16,
            0,
            (strip_index * rows_per_strip) as i16,
            0,
            destination.depth,
            strip,
        )
        .map_err(lost)?;
        // Dropping a cookie discards its (unlikely) error; the last one is checked below.
        last = Some(cookie);
    }
    match last {
        Some(cookie) => cookie
            .check()
            .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR),
        None => Ok(()),
    }
}

/// Copies the frame into the shared segment and has the server draw it.
fn put_shm(
    connection: &XCBConnection,
    destination: &Destination,
    shm: &mut ShmSegment,
    frame: &Frame<'_>,
) -> Result<(), vk::Result> {
    let segment = &mut shm.bytes_mut()[..frame.pixels.len()];
    copy_as_bgrx(frame.pixels, segment, frame.order);
    if destination.depth == 32 {
        make_opaque(segment);
    }
    shm.put(
        connection,
        destination,
        frame.extent.width as u16,
        frame.extent.height as u16,
    )
    .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)
}

/// How many rows of `row_bytes` fit one PutImage request (at least one: the smallest maximum request,
/// 256 KiB, holds a row of the widest X window).
pub fn rows_per_request(maximum_request_bytes: usize, row_bytes: usize) -> usize {
    let room = maximum_request_bytes.saturating_sub(PUT_IMAGE_HEADER_BYTES);
    (room / row_bytes.max(1)).clamp(1, usize::from(u16::MAX))
}

impl WindowTarget for X11Target {
    fn path(&self) -> PresentPath {
        if self.shm.is_some() {
            PresentPath::X11Shm
        } else {
            PresentPath::X11PutImage
        }
    }

    fn show(&mut self, frame: &Frame<'_>) -> Result<vk::Result, vk::Result> {
        if matches!(
            frame.mode,
            vk::PresentModeKHR::FIFO | vk::PresentModeKHR::FIFO_RELAXED
        ) {
            self.pacer.pace();
        }
        let geometry = xproto::get_geometry(&self.window.connection, self.window.window)
            .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)?;
        match self.shm.as_mut() {
            Some(shm) => put_shm(&self.window.connection, &self.destination, shm, frame)?,
            None => put_strips(&self.window, &self.destination, &mut self.staging, frame)?,
        }
        let size = geometry
            .reply()
            .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)?;
        if (u32::from(size.width), u32::from(size.height))
            != (frame.extent.width, frame.extent.height)
        {
            return Err(vk::Result::ERROR_OUT_OF_DATE_KHR);
        }
        Ok(vk::Result::SUCCESS)
    }
}

impl Drop for X11Target {
    fn drop(&mut self) {
        let connection = &self.window.connection;
        if let Some(shm) = &self.shm {
            shm.detach(connection);
        }
        // Unchecked on purpose: nothing can be done about a failure while the swapchain goes away.
        let _ = connection.free_gc(self.destination.gc);
        let _ = connection.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_fit_the_request_limit() {
        // Without BIG-REQUESTS: 65535 four-byte units.
        let limit = 65535 * 4;
        let rows = rows_per_request(limit, 500 * 4);
        assert_eq!(rows, 131);
        assert!(PUT_IMAGE_HEADER_BYTES + rows * 2000 <= limit);
        assert!(PUT_IMAGE_HEADER_BYTES + (rows + 1) * 2000 > limit);
        // Always progress, even for an absurd limit; never more rows than PutImage can name.
        assert_eq!(rows_per_request(10, 4000), 1);
        assert_eq!(rows_per_request(usize::MAX, 4), usize::from(u16::MAX));
    }
}
