//! The window-system entry points: surfaces (made by the Vulkan loader; this ICD reads them) and
//! copy-based swapchains, built by the `wsi` module on this ICD's own Vulkan entry points — the
//! swapchain images are ordinary images on the host, and presenting copies them back into
//! mapped memory, from which the guest's CPU hands the pixels to its window system.

use std::ffi::{c_ulong, c_void};
use std::sync::{Arc, OnceLock};

use ash::vk;
use ash::vk::Handle;

use crate::driver::device::{device, DeviceHandle};
use crate::driver::entry::get_instance_proc_addr;
use crate::driver::fill_array;
use crate::driver::physical_device::physical_device;
use crate::driver::queue::queue;
use crate::driver::runtime::{guard_result, guard_value, guard_void};
use crate::driver::wsi::{self, swapchain_handle, LockedQueue, Swapchain, WsiDevice};

/// The instance extensions of window systems this ICD presents to (the loader creates the
/// surfaces), with their spec versions.
pub const SURFACE_EXTENSIONS: &[(&std::ffi::CStr, u32)] = &[
    (c"VK_KHR_surface", 25),
    (c"VK_KHR_xcb_surface", 6),
    (c"VK_KHR_xlib_surface", 6),
    (c"VK_KHR_wayland_surface", 6),
    (c"VK_EXT_headless_surface", 1),
    (c"VK_KHR_get_surface_capabilities2", 1),
    (c"VK_EXT_surface_maintenance1", 1),
];

/// The device extensions of presentation, which this ICD implements whatever the host has.
pub const SWAPCHAIN_EXTENSIONS: &[(&std::ffi::CStr, u32)] = &[
    (c"VK_KHR_swapchain", 70),
    (c"VK_EXT_swapchain_maintenance1", 1),
];

/// The ICD's own instance entry points as an ash table, for the `wsi` module.
fn instance_table(instance: vk::Instance) -> ash::Instance {
    let static_fn = ash::StaticFn {
        get_instance_proc_addr,
    };
    // SAFETY: `instance` is a live instance of this ICD, and the table is this ICD's own.
    unsafe { ash::Instance::load(&static_fn, instance) }
}

/// What the `wsi` module needs of a physical device: the instance table and the handle.
fn physical_table(handle: vk::PhysicalDevice) -> (ash::Instance, vk::PhysicalDevice) {
    // SAFETY: a VkPhysicalDevice of this ICD by valid usage.
    let physical = unsafe { physical_device(handle) };
    (instance_table(physical.object.instance()), handle)
}

/// The device's `wsi` view, made on first use (with the first queue of the device for acquire).
pub(crate) struct DeviceWsi(OnceLock<Arc<WsiDevice>>);

impl Default for DeviceWsi {
    fn default() -> Self {
        DeviceWsi(OnceLock::new())
    }
}

fn wsi_device(device: &DeviceHandle) -> Result<Arc<WsiDevice>, vk::Result> {
    if let Some(wsi) = device.object.wsi.0.get() {
        return Ok(Arc::clone(wsi));
    }
    let handle = vk::Device::from_raw(device.handle());
    let acquire_queue = device
        .object
        .queues()
        .first()
        .copied()
        .ok_or(vk::Result::ERROR_INITIALIZATION_FAILED)?;
    let (instance, physical) = physical_table(device.object.physical_device());
    // SAFETY: `handle` is a live device of this ICD; the instance table is this ICD's own, so
    // its vkGetDeviceProcAddr is too.
    let table = unsafe { ash::Device::load(instance.fp_v1_0(), handle) };
    let wsi = Arc::new(WsiDevice::new(
        instance,
        table,
        physical,
        Box::new(LockedQueue::new(acquire_queue)),
    ));
    Ok(Arc::clone(device.object.wsi.0.get_or_init(|| wsi)))
}

/// Surfaces belong to the loader, which frees them.
pub(crate) unsafe extern "system" fn destroy_surface_khr(
    _instance: vk::Instance,
    _surface: vk::SurfaceKHR,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
) {
}

pub(crate) unsafe extern "system" fn get_physical_device_surface_support_khr(
    _physical_device: vk::PhysicalDevice,
    _queue_family_index: u32,
    surface: vk::SurfaceKHR,
    p_supported: *mut vk::Bool32,
) -> vk::Result {
    guard_result("vkGetPhysicalDeviceSurfaceSupportKHR", || {
        // SAFETY: a loader surface by valid usage.
        let supported = unsafe { wsi::surface_support(surface) }?;
        // SAFETY: a valid output pointer by valid usage.
        unsafe { *p_supported = vk::Bool32::from(supported) };
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn get_physical_device_surface_capabilities_khr(
    physical_device: vk::PhysicalDevice,
    surface: vk::SurfaceKHR,
    p_surface_capabilities: *mut vk::SurfaceCapabilitiesKHR,
) -> vk::Result {
    guard_result("vkGetPhysicalDeviceSurfaceCapabilitiesKHR", || {
        let (instance, physical) = physical_table(physical_device);
        // SAFETY: a physical device of `instance` and a loader surface, by valid usage.
        let capabilities = unsafe { wsi::surface_capabilities(&instance, physical, surface) }?;
        // SAFETY: a valid output pointer by valid usage.
        unsafe { *p_surface_capabilities = capabilities };
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn get_physical_device_surface_capabilities2_khr(
    physical_device: vk::PhysicalDevice,
    p_surface_info: *const vk::PhysicalDeviceSurfaceInfo2KHR<'_>,
    p_surface_capabilities: *mut vk::SurfaceCapabilities2KHR<'_>,
) -> vk::Result {
    guard_result("vkGetPhysicalDeviceSurfaceCapabilities2KHR", || {
        let (instance, physical) = physical_table(physical_device);
        // SAFETY: valid structures and chains by valid usage.
        unsafe {
            wsi::surface_capabilities2(
                &instance,
                physical,
                &*p_surface_info,
                &mut *p_surface_capabilities,
            )
        }?;
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn get_physical_device_surface_formats_khr(
    physical_device: vk::PhysicalDevice,
    surface: vk::SurfaceKHR,
    p_surface_format_count: *mut u32,
    p_surface_formats: *mut vk::SurfaceFormatKHR,
) -> vk::Result {
    guard_result("vkGetPhysicalDeviceSurfaceFormatsKHR", || {
        let (instance, physical) = physical_table(physical_device);
        // SAFETY: a physical device of `instance` and a loader surface, by valid usage.
        let formats = unsafe { wsi::surface_formats(&instance, physical, surface) }?;
        // SAFETY: count and array pointers by valid usage.
        Ok(unsafe { fill_array(&formats, p_surface_format_count, p_surface_formats) })
    })
}

pub(crate) unsafe extern "system" fn get_physical_device_surface_formats2_khr(
    physical_device: vk::PhysicalDevice,
    p_surface_info: *const vk::PhysicalDeviceSurfaceInfo2KHR<'_>,
    p_surface_format_count: *mut u32,
    p_surface_formats: *mut vk::SurfaceFormat2KHR<'_>,
) -> vk::Result {
    guard_result("vkGetPhysicalDeviceSurfaceFormats2KHR", || {
        let (instance, physical) = physical_table(physical_device);
        // SAFETY: a valid surface info by valid usage.
        let surface = unsafe { (*p_surface_info).surface };
        // SAFETY: a physical device of `instance` and a loader surface, by valid usage.
        let formats = unsafe { wsi::surface_formats(&instance, physical, surface) }?;
        if p_surface_formats.is_null() {
            // SAFETY: a valid count pointer by valid usage.
            unsafe { *p_surface_format_count = formats.len() as u32 };
            return Ok(vk::Result::SUCCESS);
        }
        // SAFETY: as above.
        let capacity = unsafe { *p_surface_format_count } as usize;
        let written = formats.len().min(capacity);
        for (index, format) in formats.iter().take(written).enumerate() {
            // SAFETY: the array holds `capacity` structs; sType and pNext stay the application's.
            unsafe { (*p_surface_formats.add(index)).surface_format = *format };
        }
        // SAFETY: as above.
        unsafe { *p_surface_format_count = written as u32 };
        Ok(if written < formats.len() {
            vk::Result::INCOMPLETE
        } else {
            vk::Result::SUCCESS
        })
    })
}

pub(crate) unsafe extern "system" fn get_physical_device_surface_present_modes_khr(
    _physical_device: vk::PhysicalDevice,
    surface: vk::SurfaceKHR,
    p_present_mode_count: *mut u32,
    p_present_modes: *mut vk::PresentModeKHR,
) -> vk::Result {
    guard_result("vkGetPhysicalDeviceSurfacePresentModesKHR", || {
        // SAFETY: a loader surface by valid usage.
        let modes = unsafe { wsi::surface_present_modes(surface) }?;
        // SAFETY: count and array pointers by valid usage.
        Ok(unsafe { fill_array(&modes, p_present_mode_count, p_present_modes) })
    })
}

/// The whole surface is one rectangle (no device groups of several devices).
pub(crate) unsafe extern "system" fn get_physical_device_present_rectangles_khr(
    physical_device: vk::PhysicalDevice,
    surface: vk::SurfaceKHR,
    p_rect_count: *mut u32,
    p_rects: *mut vk::Rect2D,
) -> vk::Result {
    guard_result("vkGetPhysicalDevicePresentRectanglesKHR", || {
        let (instance, physical) = physical_table(physical_device);
        // SAFETY: a physical device of `instance` and a loader surface, by valid usage.
        let capabilities = unsafe { wsi::surface_capabilities(&instance, physical, surface) }?;
        let rect = vk::Rect2D {
            offset: vk::Offset2D::default(),
            extent: capabilities.current_extent,
        };
        // SAFETY: count and array pointers by valid usage.
        Ok(unsafe { fill_array(&[rect], p_rect_count, p_rects) })
    })
}

pub(crate) unsafe extern "system" fn get_physical_device_xcb_presentation_support_khr(
    _physical_device: vk::PhysicalDevice,
    _queue_family_index: u32,
    connection: *mut vk::xcb_connection_t,
    visual_id: vk::xcb_visualid_t,
) -> vk::Bool32 {
    guard_value("vkGetPhysicalDeviceXcbPresentationSupportKHR", || {
        // SAFETY: the application's live connection by valid usage.
        let supported = unsafe { wsi::xcb_presentation_support(connection.cast(), visual_id) };
        Ok(vk::Bool32::from(supported))
    })
}

pub(crate) unsafe extern "system" fn get_physical_device_xlib_presentation_support_khr(
    _physical_device: vk::PhysicalDevice,
    _queue_family_index: u32,
    dpy: *mut vk::Display,
    visual_id: vk::VisualID,
) -> vk::Bool32 {
    guard_value("vkGetPhysicalDeviceXlibPresentationSupportKHR", || {
        // SAFETY: the application's live display by valid usage.
        let supported =
            unsafe { wsi::xlib_presentation_support(dpy.cast::<c_void>(), visual_id as c_ulong) };
        Ok(vk::Bool32::from(supported))
    })
}

pub(crate) unsafe extern "system" fn get_physical_device_wayland_presentation_support_khr(
    _physical_device: vk::PhysicalDevice,
    _queue_family_index: u32,
    display: *mut vk::wl_display,
) -> vk::Bool32 {
    guard_value("vkGetPhysicalDeviceWaylandPresentationSupportKHR", || {
        Ok(vk::Bool32::from(wsi::wayland_presentation_support(
            display.cast(),
        )))
    })
}

pub(crate) unsafe extern "system" fn create_swapchain_khr(
    handle: vk::Device,
    p_create_info: *const vk::SwapchainCreateInfoKHR<'_>,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
    p_swapchain: *mut vk::SwapchainKHR,
) -> vk::Result {
    guard_result("vkCreateSwapchainKHR", || {
        // SAFETY: a VkDevice of this ICD and a valid create info by valid usage.
        let (device, info) = unsafe { (device(handle), &*p_create_info) };
        let wsi = wsi_device(device)?;
        // SAFETY: the old swapchain is one of this device's, or null, by valid usage.
        let old = unsafe { swapchain_handle::from_handle(info.old_swapchain) };
        // SAFETY: a valid create info with a loader surface, by valid usage.
        let swapchain = unsafe { Swapchain::create(wsi, info, old) }?;
        // SAFETY: a valid output pointer by valid usage.
        unsafe { *p_swapchain = swapchain_handle::into_handle(swapchain) };
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn destroy_swapchain_khr(
    _device: vk::Device,
    swapchain: vk::SwapchainKHR,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
) {
    guard_void("vkDestroySwapchainKHR", || {
        // SAFETY: a swapchain of this ICD (or null) that the application no longer uses.
        unsafe { swapchain_handle::destroy(swapchain) };
        Ok(())
    })
}

fn swapchain<'a>(handle: vk::SwapchainKHR) -> Result<&'a Swapchain, vk::Result> {
    // SAFETY: a live swapchain of this ICD by valid usage.
    unsafe { swapchain_handle::from_handle(handle) }.ok_or(vk::Result::ERROR_SURFACE_LOST_KHR)
}

pub(crate) unsafe extern "system" fn get_swapchain_images_khr(
    _device: vk::Device,
    handle: vk::SwapchainKHR,
    p_swapchain_image_count: *mut u32,
    p_swapchain_images: *mut vk::Image,
) -> vk::Result {
    guard_result("vkGetSwapchainImagesKHR", || {
        let images = swapchain(handle)?.images();
        // SAFETY: count and array pointers by valid usage.
        Ok(unsafe { fill_array(images, p_swapchain_image_count, p_swapchain_images) })
    })
}

fn acquire(
    handle: vk::SwapchainKHR,
    timeout: u64,
    semaphore: vk::Semaphore,
    fence: vk::Fence,
    p_image_index: *mut u32,
) -> Result<vk::Result, vk::Result> {
    let (index, result) = swapchain(handle)?.acquire(timeout, semaphore, fence)?;
    // SAFETY: a valid output pointer by valid usage.
    unsafe { *p_image_index = index };
    Ok(result)
}

pub(crate) unsafe extern "system" fn acquire_next_image_khr(
    _device: vk::Device,
    swapchain: vk::SwapchainKHR,
    timeout: u64,
    semaphore: vk::Semaphore,
    fence: vk::Fence,
    p_image_index: *mut u32,
) -> vk::Result {
    guard_result("vkAcquireNextImageKHR", || {
        acquire(swapchain, timeout, semaphore, fence, p_image_index)
    })
}

pub(crate) unsafe extern "system" fn acquire_next_image2_khr(
    _device: vk::Device,
    p_acquire_info: *const vk::AcquireNextImageInfoKHR<'_>,
    p_image_index: *mut u32,
) -> vk::Result {
    guard_result("vkAcquireNextImage2KHR", || {
        // SAFETY: a valid acquire info by valid usage.
        let info = unsafe { &*p_acquire_info };
        acquire(
            info.swapchain,
            info.timeout,
            info.semaphore,
            info.fence,
            p_image_index,
        )
    })
}

pub(crate) unsafe extern "system" fn queue_present_khr(
    handle: vk::Queue,
    p_present_info: *const vk::PresentInfoKHR<'_>,
) -> vk::Result {
    guard_result("vkQueuePresentKHR", || {
        // SAFETY: a VkQueue of this ICD by valid usage.
        let family = unsafe { queue(handle) }.object.family();
        // SAFETY: a valid present info by valid usage; every swapchain is one of this ICD's.
        Ok(unsafe {
            wsi::present(handle, family, &*p_present_info, &|swapchain_handle| {
                swapchain(swapchain_handle).ok()
            })
        })
    })
}

pub(crate) unsafe extern "system" fn release_swapchain_images_ext(
    _device: vk::Device,
    p_release_info: *const vk::ReleaseSwapchainImagesInfoEXT<'_>,
) -> vk::Result {
    guard_result("vkReleaseSwapchainImagesEXT", || {
        // SAFETY: a valid release info by valid usage.
        let info = unsafe { &*p_release_info };
        let indices = if info.image_index_count == 0 {
            &[][..]
        } else {
            // SAFETY: the array holds imageIndexCount indices by valid usage.
            unsafe {
                std::slice::from_raw_parts(info.p_image_indices, info.image_index_count as usize)
            }
        };
        swapchain(info.swapchain)?.release(indices)?;
        Ok(vk::Result::SUCCESS)
    })
}

/// One device presents alone: local presentation only.
pub(crate) unsafe extern "system" fn get_device_group_present_capabilities_khr(
    _device: vk::Device,
    p_capabilities: *mut vk::DeviceGroupPresentCapabilitiesKHR<'_>,
) -> vk::Result {
    guard_result("vkGetDeviceGroupPresentCapabilitiesKHR", || {
        // SAFETY: a valid output struct by valid usage; sType and pNext stay the application's.
        let capabilities = unsafe { &mut *p_capabilities };
        capabilities.present_mask = [0; vk::MAX_DEVICE_GROUP_SIZE];
        capabilities.present_mask[0] = 1;
        capabilities.modes = vk::DeviceGroupPresentModeFlagsKHR::LOCAL;
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn get_device_group_surface_present_modes_khr(
    _device: vk::Device,
    _surface: vk::SurfaceKHR,
    p_modes: *mut vk::DeviceGroupPresentModeFlagsKHR,
) -> vk::Result {
    // SAFETY: a valid output pointer by valid usage.
    unsafe { *p_modes = vk::DeviceGroupPresentModeFlagsKHR::LOCAL };
    vk::Result::SUCCESS
}
