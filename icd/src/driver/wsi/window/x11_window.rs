//! An X11 window reached through the application's own xcb connection (x11rb over a borrowed
//! `xcb_connection_t`, libxcb loaded at run time), and the checks that say whether it can show our
//! pixels.
//!
//! Only replies and checked requests are used on the borrowed connection: they never touch the
//! application's event queue.

use ash::vk;
use std::ffi::c_void;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xproto::{self, ConnectionExt as _, VisualClass};
use x11rb::xcb_ffi::XCBConnection;

pub struct X11Window {
    pub connection: XCBConnection,
    pub window: xproto::Window,
}

/// Size and depth of a window, from GetGeometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub extent: vk::Extent2D,
    pub depth: u8,
}

impl X11Window {
    /// Wraps the application's connection without taking ownership (dropping this never disconnects).
    ///
    /// # Safety
    /// `connection` must be a live `xcb_connection_t*` that stays open while this value exists.
    pub unsafe fn borrow(connection: *mut c_void, window: u32) -> Result<X11Window, vk::Result> {
        if connection.is_null() || !libxcb_is_available() {
            return Err(vk::Result::ERROR_SURFACE_LOST_KHR);
        }
        // SAFETY: a live connection per the caller; `false` = x11rb must not disconnect it.
        let connection = unsafe { XCBConnection::from_raw_xcb_connection(connection, false) }
            .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)?;
        Ok(X11Window { connection, window })
    }

    /// The window's size and depth: one round trip. A window that no longer exists is a lost surface.
    pub fn geometry(&self) -> Result<Geometry, vk::Result> {
        let reply = xproto::get_geometry(&self.connection, self.window)
            .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)?
            .reply()
            .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)?;
        Ok(Geometry {
            extent: vk::Extent2D {
                width: u32::from(reply.width),
                height: u32::from(reply.height),
            },
            depth: reply.depth,
        })
    }

    /// Whether the window's visual takes 32-bit B, G, R, X pixels.
    pub fn has_presentable_visual(&self) -> bool {
        let attributes = self
            .connection
            .get_window_attributes(self.window)
            .ok()
            .and_then(|cookie| cookie.reply().ok());
        match attributes {
            Some(attributes) => visual_takes_bgrx(&self.connection, attributes.visual),
            None => false,
        }
    }

    /// The largest request the server accepts, in bytes (BIG-REQUESTS included when offered).
    pub fn maximum_request_bytes(&self) -> usize {
        self.connection.maximum_request_bytes()
    }
}

/// Whether `visual` (of any screen of the connection) is TrueColor with 8-bit red, green and blue at
/// the positions of B, G, R, X bytes in a 32-bit little-endian pixel, at a depth whose pixmaps use 32
/// bits per pixel.
pub fn visual_takes_bgrx(connection: &impl Connection, visual: xproto::Visualid) -> bool {
    let setup = connection.setup();
    let depth_of_visual = setup
        .roots
        .iter()
        .flat_map(|screen| &screen.allowed_depths)
        .find_map(|depth| {
            depth
                .visuals
                .iter()
                .find(|candidate| candidate.visual_id == visual)
                .map(|found| (depth.depth, *found))
        });
    let Some((depth, visual)) = depth_of_visual else {
        return false;
    };
    let bits_per_pixel = setup
        .pixmap_formats
        .iter()
        .find(|format| format.depth == depth)
        .map(|format| format.bits_per_pixel);
    visual.class == VisualClass::TRUE_COLOR
        && visual.red_mask == 0x00ff_0000
        && visual.green_mask == 0x0000_ff00
        && visual.blue_mask == 0x0000_00ff
        && (depth == 24 || depth == 32)
        && bits_per_pixel == Some(32)
        && setup.image_byte_order == xproto::ImageOrder::LSB_FIRST
}

/// libxcb is loaded on first use; an application with an xcb connection has it loaded already, but a
/// surface query on a system without it must say "no" rather than abort.
pub fn libxcb_is_available() -> bool {
    x11rb::xcb_ffi::load_libxcb().is_ok()
}
