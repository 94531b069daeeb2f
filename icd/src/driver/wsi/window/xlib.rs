//! Xlib surfaces: an Xlib `Display` built on XCB hands out its `xcb_connection_t` through
//! `XGetXCBConnection` (libX11-xcb, loaded at run time so that the ICD links no X library).

use std::ffi::c_void;
use std::sync::OnceLock;

type GetXcbConnection = unsafe extern "C" fn(display: *mut c_void) -> *mut c_void;

/// `XGetXCBConnection`, or `None` when libX11-xcb cannot be loaded.
fn get_xcb_connection() -> Option<GetXcbConnection> {
    static FUNCTION: OnceLock<Option<GetXcbConnection>> = OnceLock::new();
    *FUNCTION.get_or_init(|| {
        // SAFETY: loading libX11-xcb runs no initialisers with preconditions; the library stays loaded
        // for the life of the process (leaked below) so the function pointer never dangles.
        let library = unsafe { libloading::Library::new("libX11-xcb.so.1") }.ok()?;
        // SAFETY: the symbol has this C signature in every libX11-xcb.
        let function = unsafe { library.get::<GetXcbConnection>(b"XGetXCBConnection\0") }
            .ok()
            .map(|symbol| *symbol);
        std::mem::forget(library);
        function
    })
}

/// The xcb connection under an Xlib display, NULL when it has none or libX11-xcb is missing.
///
/// # Safety
/// `display` must be a live Xlib `Display*`.
pub unsafe fn xcb_connection_of(display: *mut c_void) -> *mut c_void {
    match get_xcb_connection() {
        Some(function) if !display.is_null() => {
            // SAFETY: a live display per the caller.
            unsafe { function(display) }
        }
        _ => std::ptr::null_mut(),
    }
}
