//! The CPU half of a present: handing copied pixels to the window system behind a surface.

mod headless;
mod pacing;
mod shm_memory;
mod wayland;
mod x11;
mod x11_shm;
pub mod x11_window;
pub mod xlib;

use super::formats::PixelOrder;
use super::icd_surface::Surface;
use ash::vk;

/// How the pixels reach the screen; reported in the log and to tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresentPath {
    /// X11 core PutImage requests, split into strips under the server's request size limit.
    X11PutImage,
    /// X11 MIT-SHM PutImage from a segment shared with the server (local servers only).
    X11Shm,
    /// A wl_shm pool buffer attached to the application's wl_surface.
    WaylandShm,
    /// No output.
    Headless,
}

impl PresentPath {
    pub fn name(self) -> &'static str {
        match self {
            PresentPath::X11PutImage => "x11-putimage",
            PresentPath::X11Shm => "x11-shm",
            PresentPath::WaylandShm => "wayland-shm",
            PresentPath::Headless => "headless",
        }
    }
}

/// One frame's pixels: tightly packed rows of `extent.width` 4-byte pixels in `order`.
pub struct Frame<'a> {
    pub pixels: &'a [u8],
    pub extent: vk::Extent2D,
    pub order: PixelOrder,
    pub mode: vk::PresentModeKHR,
}

/// A swapchain's connection to its window.
pub trait WindowTarget: Send {
    fn path(&self) -> PresentPath;

    /// Whether presents need the image's pixels at all (headless does not).
    fn wants_pixels(&self) -> bool {
        true
    }

    /// Shows one frame. Ok(SUCCESS or SUBOPTIMAL_KHR); Err(ERROR_OUT_OF_DATE_KHR) when the window no
    /// longer has the frame's size (the frame may still have been shown), Err(ERROR_SURFACE_LOST_KHR)
    /// when the window or the connection is gone.
    fn show(&mut self, frame: &Frame<'_>) -> Result<vk::Result, vk::Result>;
}

/// Connects a new swapchain of `extent` to the window behind `surface`.
///
/// # Safety
/// The application's display connection and window behind `surface` must outlive the returned target
/// (the Vulkan rule: a surface outlives its swapchains, and its connection the surface).
pub unsafe fn connect(
    surface: &Surface,
    extent: vk::Extent2D,
) -> Result<Box<dyn WindowTarget>, vk::Result> {
    match *surface {
        Surface::Xcb { connection, window } => {
            // SAFETY: per the caller.
            unsafe { x11::X11Target::connect(connection, window, extent) }
                .map(|target| Box::new(target) as Box<dyn WindowTarget>)
        }
        Surface::Xlib { display, window } => {
            // SAFETY: a live display per the caller.
            let connection = unsafe { xlib::xcb_connection_of(display) };
            // SAFETY: the display's connection lives as long as the display.
            unsafe { x11::X11Target::connect(connection, window as u32, extent) }
                .map(|target| Box::new(target) as Box<dyn WindowTarget>)
        }
        Surface::Wayland { display, surface } => {
            // SAFETY: per the caller.
            unsafe { wayland::WaylandTarget::connect(display, surface) }
                .map(|target| Box::new(target) as Box<dyn WindowTarget>)
        }
        Surface::Headless => Ok(Box::new(headless::HeadlessTarget)),
    }
}

/// What surface queries need to know about the window.
pub enum WindowFacts {
    /// An X11 window: its size, and whether its visual takes our pixels.
    X11 {
        extent: vk::Extent2D,
        presentable: bool,
    },
    /// The swapchain decides the size (Wayland, headless).
    SizedBySwapchain { presentable: bool },
}

/// Looks at the window behind `surface` (one or two round trips on X11, nothing elsewhere).
///
/// # Safety
/// As for [`connect`]: the connection and window behind `surface` must be alive.
pub unsafe fn window_facts(surface: &Surface) -> Result<WindowFacts, vk::Result> {
    let x11 = |connection, window| {
        // SAFETY: per the caller.
        let window = unsafe { x11_window::X11Window::borrow(connection, window) }?;
        let geometry = window.geometry()?;
        Ok(WindowFacts::X11 {
            extent: geometry.extent,
            presentable: window.has_presentable_visual(),
        })
    };
    match *surface {
        Surface::Xcb { connection, window } => x11(connection, window),
        Surface::Xlib { display, window } => {
            // SAFETY: a live display per the caller.
            x11(unsafe { xlib::xcb_connection_of(display) }, window as u32)
        }
        Surface::Wayland { display, surface } => Ok(WindowFacts::SizedBySwapchain {
            presentable: !display.is_null()
                && !surface.is_null()
                && wayland::libwayland_is_available(),
        }),
        Surface::Headless => Ok(WindowFacts::SizedBySwapchain { presentable: true }),
    }
}

/// `vkGetPhysicalDeviceXcbPresentationSupportKHR`: whether windows of `visual` can show our pixels.
///
/// # Safety
/// `connection` must be a live `xcb_connection_t*`.
pub unsafe fn xcb_visual_is_presentable(connection: *mut std::ffi::c_void, visual: u32) -> bool {
    // SAFETY: per the caller; no window is used.
    match unsafe { x11_window::X11Window::borrow(connection, 0) } {
        Ok(borrowed) => x11_window::visual_takes_bgrx(&borrowed.connection, visual),
        Err(_) => false,
    }
}

/// `vkGetPhysicalDeviceWaylandPresentationSupportKHR`: any compositor takes wl_shm XRGB8888 buffers.
pub fn wayland_is_presentable(display: *mut std::ffi::c_void) -> bool {
    !display.is_null() && wayland::libwayland_is_available()
}
