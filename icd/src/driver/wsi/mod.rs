//! Window-system integration without host sync_fd or dma-buf: presenting by copying.
//!
//! Swapchain images are ordinary device images. A present submits, on the application's present
//! queue, a copy of the image into host-visible mapped memory (waiting the application's semaphores),
//! waits for it on the CPU with a fence, and hands the pixels to the window system from the CPU:
//! X11 PutImage strips or MIT-SHM (`x11-putimage`/`x11-shm`), a wl_shm buffer on the application's
//! wl_surface (`wayland-shm`), or nothing (`headless`). Acquire hands out a free image and signals the
//! application's semaphore/fence with an empty submission. An X11 window whose size differs from the
//! swapchain's makes presents (and later acquires) VK_ERROR_OUT_OF_DATE_KHR.
//!
//! The module runs on plain Vulkan function tables (`ash::Instance`, `ash::Device`), so it works on any
//! driver below it and never calls into the rest of the ICD. Surfaces are the loader's `VkIcdSurface*`
//! structs ([`icd_surface`]); libxcb, libX11-xcb and libwayland-client are loaded at run time.
//!
//! What the driver calls (each the body of the Vulkan command of the same name):
//! - surface queries: [`surface_support`], [`surface_capabilities`], [`surface_capabilities2`],
//!   [`surface_formats`] (also for `*Formats2KHR`: write each into `surfaceFormat`),
//!   [`surface_present_modes`], [`xcb_presentation_support`], [`xlib_presentation_support`],
//!   [`wayland_presentation_support`];
//! - swapchains: [`Swapchain::create`] (with the retired `oldSwapchain`), [`Swapchain::images`],
//!   [`Swapchain::acquire`], [`present`] (vkQueuePresentKHR), [`Swapchain::release`]
//!   (vkReleaseSwapchainImagesEXT), dropping the swapchain (vkDestroySwapchainKHR); the handle helpers
//!   in [`swapchain_handle`] if the driver has no handle table of its own.
//!
//! What the driver provides: a [`WsiDevice`] per `VkDevice` (its function tables, created with
//! `VK_KHR_swapchain` enabled below so that `PRESENT_SRC_KHR` is a valid layout, and a
//! [`QueueAccess`] through which acquire submits), and the queue family of the queue given to
//! vkQueuePresentKHR.
//!
//! `VENUS_RS_LOG=info` reports each swapchain's present path and a frame counter; `VENUS_RS_X11_SHM=0`
//! turns MIT-SHM off.

#![deny(clippy::undocumented_unsafe_blocks)]

mod device;
mod formats;
pub mod icd_surface;
mod image_slots;
mod memory;
mod present_info;
mod readback;
mod stats;
mod surface_query;
mod swapchain;
pub mod swapchain_handle;
mod swapchain_images;
mod window;

pub use device::{LockedQueue, QueueAccess, WsiDevice};
pub use formats::SURFACE_FORMATS;
pub use icd_surface::Surface;
pub use present_info::{present, queue_present};
pub use surface_query::{
    surface_capabilities, surface_capabilities2, surface_formats, surface_present_modes,
    surface_support, MAX_IMAGE_COUNT, MIN_IMAGE_COUNT, PRESENT_MODES,
};
pub use swapchain::{PresentRequest, Swapchain};
pub use window::PresentPath;

use std::ffi::c_void;

/// `vkGetPhysicalDeviceXcbPresentationSupportKHR`.
///
/// # Safety
/// `connection` must be a live `xcb_connection_t*`.
pub unsafe fn xcb_presentation_support(connection: *mut c_void, visual_id: u32) -> bool {
    // SAFETY: per the caller.
    unsafe { window::xcb_visual_is_presentable(connection, visual_id) }
}

/// `vkGetPhysicalDeviceXlibPresentationSupportKHR`.
///
/// # Safety
/// `display` must be a live Xlib `Display*`.
pub unsafe fn xlib_presentation_support(
    display: *mut c_void,
    visual_id: std::ffi::c_ulong,
) -> bool {
    // SAFETY: per the caller.
    let connection = unsafe { window::xlib::xcb_connection_of(display) };
    // SAFETY: the display's own connection, alive with it.
    !connection.is_null() && unsafe { xcb_presentation_support(connection, visual_id as u32) }
}

/// `vkGetPhysicalDeviceWaylandPresentationSupportKHR`.
pub fn wayland_presentation_support(display: *mut c_void) -> bool {
    window::wayland_is_presentable(display)
}
