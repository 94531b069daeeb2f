//! An Xlib application's window: `XOpenDisplay` (libX11, loaded at run time like the ICD's libraries)
//! and a window made on that display's own xcb connection.

use ash::vk;
use std::ffi::{c_char, c_int, c_void};
use x11rb::xcb_ffi::XCBConnection;

type OpenDisplay = unsafe extern "C" fn(name: *const c_char) -> *mut c_void;
type CloseDisplay = unsafe extern "C" fn(display: *mut c_void) -> c_int;
type GetXcbConnection = unsafe extern "C" fn(display: *mut c_void) -> *mut c_void;

pub struct XlibWindow {
    pub display: *mut c_void,
    pub window: u32,
    /// x11rb over the display's xcb connection, borrowed (never disconnects it).
    pub connection: XCBConnection,
    close: CloseDisplay,
    _libraries: (libloading::Library, libloading::Library),
}

impl XlibWindow {
    pub fn open(extent: vk::Extent2D) -> Result<XlibWindow, String> {
        // SAFETY: loading the system's libX11 and libX11-xcb; the symbols have these C signatures.
        unsafe {
            let x11 = libloading::Library::new("libX11.so.6").map_err(|e| e.to_string())?;
            let x11_xcb = libloading::Library::new("libX11-xcb.so.1").map_err(|e| e.to_string())?;
            let open = *x11
                .get::<OpenDisplay>(b"XOpenDisplay\0")
                .map_err(|e| e.to_string())?;
            let close = *x11
                .get::<CloseDisplay>(b"XCloseDisplay\0")
                .map_err(|e| e.to_string())?;
            let get_xcb = *x11_xcb
                .get::<GetXcbConnection>(b"XGetXCBConnection\0")
                .map_err(|e| e.to_string())?;
            let display = open(std::ptr::null());
            if display.is_null() {
                return Err("XOpenDisplay failed".into());
            }
            let connection = XCBConnection::from_raw_xcb_connection(get_xcb(display), false)
                .map_err(|e| e.to_string())?;
            let window = crate::x11_window::create_mapped_window(&connection, 0, extent)?;
            Ok(XlibWindow {
                display,
                window,
                connection,
                close,
                _libraries: (x11, x11_xcb),
            })
        }
    }
}

impl Drop for XlibWindow {
    fn drop(&mut self) {
        // SAFETY: the display was opened by `open` and nothing uses it any more.
        unsafe { (self.close)(self.display) };
    }
}
