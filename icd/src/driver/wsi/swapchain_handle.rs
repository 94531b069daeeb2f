//! A `VkSwapchainKHR` handle for a [`Swapchain`]: the address of a boxed swapchain, the scheme of a
//! non-dispatchable handle that needs no table. A driver with its own handle tables may ignore this.

use super::swapchain::Swapchain;
use ash::vk;
use ash::vk::Handle;

/// Gives the swapchain a handle; it lives until [`destroy`].
pub fn into_handle(swapchain: Swapchain) -> vk::SwapchainKHR {
    vk::SwapchainKHR::from_raw(Box::into_raw(Box::new(swapchain)) as u64)
}

/// The swapchain behind a handle from [`into_handle`]; `None` for VK_NULL_HANDLE.
///
/// # Safety
/// `handle` must be null or come from [`into_handle`] and not be destroyed for as long as the
/// reference is used.
pub unsafe fn from_handle<'a>(handle: vk::SwapchainKHR) -> Option<&'a Swapchain> {
    let address = handle.as_raw() as *const Swapchain;
    // SAFETY: per the caller.
    unsafe { address.as_ref() }
}

/// `vkDestroySwapchainKHR` for a handle from [`into_handle`] (null is ignored).
///
/// # Safety
/// As for [`from_handle`], and no other thread may use the swapchain any more.
pub unsafe fn destroy(handle: vk::SwapchainKHR) {
    let address = handle.as_raw() as *mut Swapchain;
    if !address.is_null() {
        // SAFETY: per the caller: a box made by `into_handle`, used by no one else.
        drop(unsafe { Box::from_raw(address) });
    }
}
