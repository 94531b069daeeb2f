//! `vkGetPhysicalDeviceSurface*KHR`: what a swapchain on a surface can be, from the window (X11 size and
//! visual) and the device (formats and usages it can render and copy).

use super::formats::supported_surface_formats;
use super::icd_surface::Surface;
use super::window::{window_facts, WindowFacts};
use ash::vk;

pub const MIN_IMAGE_COUNT: u32 = 2;
pub const MAX_IMAGE_COUNT: u32 = 8;

/// Every present mode behaves as its name says here: FIFO waits for a refresh (the compositor's frame
/// callback, or a 60 Hz clock on X11), MAILBOX and IMMEDIATE never wait.
pub const PRESENT_MODES: [vk::PresentModeKHR; 4] = [
    vk::PresentModeKHR::FIFO,
    vk::PresentModeKHR::FIFO_RELAXED,
    vk::PresentModeKHR::MAILBOX,
    vk::PresentModeKHR::IMMEDIATE,
];

/// The window-system facts of a surface handle, or SURFACE_LOST for a handle this WSI cannot show.
///
/// # Safety
/// `surface` must be a loader surface whose window and connection are alive.
unsafe fn facts(surface: vk::SurfaceKHR) -> Result<(Surface, WindowFacts), vk::Result> {
    // SAFETY: per the caller.
    let decoded =
        unsafe { Surface::from_handle(surface) }.ok_or(vk::Result::ERROR_SURFACE_LOST_KHR)?;
    // SAFETY: per the caller.
    let facts = unsafe { window_facts(&decoded) }?;
    Ok((decoded, facts))
}

/// `vkGetPhysicalDeviceSurfaceSupportKHR`: every queue family can present (presents copy on the
/// present queue, which any family can), on X11 windows whose visual takes 32-bit BGRX pixels, on
/// Wayland when libwayland is present, and on headless surfaces.
///
/// # Safety
/// `surface` must be a loader surface whose window and connection are alive.
pub unsafe fn surface_support(surface: vk::SurfaceKHR) -> Result<bool, vk::Result> {
    // SAFETY: per the caller.
    match unsafe { facts(surface) } {
        Ok((_, WindowFacts::X11 { presentable, .. }))
        | Ok((_, WindowFacts::SizedBySwapchain { presentable })) => Ok(presentable),
        // A surface of another window system (or a dead X window) simply cannot be presented to.
        Err(vk::Result::ERROR_SURFACE_LOST_KHR) => Ok(false),
        Err(other) => Err(other),
    }
}

/// The image usages a swapchain may ask for: what the device supports for at least one offered format.
fn supported_usage(
    instance: &ash::Instance,
    physical_device: vk::PhysicalDevice,
) -> vk::ImageUsageFlags {
    let mut usage = vk::ImageUsageFlags::TRANSFER_SRC | vk::ImageUsageFlags::TRANSFER_DST;
    for format in supported_surface_formats(instance, physical_device) {
        // SAFETY: a physical device of `instance`, per the caller.
        let features = unsafe {
            instance.get_physical_device_format_properties(physical_device, format.format)
        }
        .optimal_tiling_features;
        let pairs = [
            (
                vk::FormatFeatureFlags::COLOR_ATTACHMENT,
                vk::ImageUsageFlags::COLOR_ATTACHMENT | vk::ImageUsageFlags::INPUT_ATTACHMENT,
            ),
            (
                vk::FormatFeatureFlags::SAMPLED_IMAGE,
                vk::ImageUsageFlags::SAMPLED,
            ),
            (
                vk::FormatFeatureFlags::STORAGE_IMAGE,
                vk::ImageUsageFlags::STORAGE,
            ),
        ];
        for (feature, image_usage) in pairs {
            if features.contains(feature) {
                usage |= image_usage;
            }
        }
    }
    usage
}

/// `vkGetPhysicalDeviceSurfaceCapabilitiesKHR`.
///
/// # Safety
/// `physical_device` must belong to `instance`; `surface` as for [`surface_support`].
pub unsafe fn surface_capabilities(
    instance: &ash::Instance,
    physical_device: vk::PhysicalDevice,
    surface: vk::SurfaceKHR,
) -> Result<vk::SurfaceCapabilitiesKHR, vk::Result> {
    // SAFETY: per the caller.
    let (_, facts) = unsafe { facts(surface) }?;
    // SAFETY: per the caller.
    let limits = unsafe { instance.get_physical_device_properties(physical_device) }.limits;
    let largest = vk::Extent2D {
        width: limits.max_image_dimension2_d,
        height: limits.max_image_dimension2_d,
    };
    let (current, min, max) = match facts {
        // An X11 swapchain must match its window: the window decides the size.
        WindowFacts::X11 { extent, .. } => (extent, extent, extent),
        // "Undefined": the swapchain's extent becomes the surface's size.
        WindowFacts::SizedBySwapchain { .. } => (
            vk::Extent2D {
                width: u32::MAX,
                height: u32::MAX,
            },
            vk::Extent2D {
                width: 1,
                height: 1,
            },
            largest,
        ),
    };
    Ok(vk::SurfaceCapabilitiesKHR {
        min_image_count: MIN_IMAGE_COUNT,
        max_image_count: MAX_IMAGE_COUNT,
        current_extent: current,
        min_image_extent: min,
        max_image_extent: max,
        max_image_array_layers: 1,
        supported_transforms: vk::SurfaceTransformFlagsKHR::IDENTITY,
        current_transform: vk::SurfaceTransformFlagsKHR::IDENTITY,
        supported_composite_alpha: vk::CompositeAlphaFlagsKHR::OPAQUE,
        supported_usage_flags: supported_usage(instance, physical_device),
    })
}

/// `vkGetPhysicalDeviceSurfaceFormatsKHR`: B8G8R8A8 and R8G8B8A8, sRGB and UNORM, as far as the device
/// renders and copies them. SURFACE_LOST for a surface that cannot be presented to.
///
/// # Safety
/// As for [`surface_capabilities`].
pub unsafe fn surface_formats(
    instance: &ash::Instance,
    physical_device: vk::PhysicalDevice,
    surface: vk::SurfaceKHR,
) -> Result<Vec<vk::SurfaceFormatKHR>, vk::Result> {
    // SAFETY: per the caller. (The facts are not needed: every presentable window takes every format.)
    unsafe { Surface::from_handle(surface) }.ok_or(vk::Result::ERROR_SURFACE_LOST_KHR)?;
    Ok(supported_surface_formats(instance, physical_device))
}

/// `vkGetPhysicalDeviceSurfacePresentModesKHR`.
///
/// # Safety
/// `surface` as for [`surface_support`].
pub unsafe fn surface_present_modes(
    surface: vk::SurfaceKHR,
) -> Result<Vec<vk::PresentModeKHR>, vk::Result> {
    // SAFETY: per the caller.
    unsafe { Surface::from_handle(surface) }.ok_or(vk::Result::ERROR_SURFACE_LOST_KHR)?;
    Ok(PRESENT_MODES.to_vec())
}

/// `vkGetPhysicalDeviceSurfaceCapabilities2KHR`: the base capabilities, plus the structures of
/// VK_EXT_surface_maintenance1 found in `capabilities.pNext` (scaling: none; compatible present
/// modes: the queried mode alone). Unknown structures are left untouched.
///
/// # Safety
/// As for [`surface_capabilities`]; `info` and `capabilities` must be valid Vulkan structures with
/// valid pNext chains.
pub unsafe fn surface_capabilities2(
    instance: &ash::Instance,
    physical_device: vk::PhysicalDevice,
    info: &vk::PhysicalDeviceSurfaceInfo2KHR<'_>,
    capabilities: &mut vk::SurfaceCapabilities2KHR<'_>,
) -> Result<(), vk::Result> {
    // SAFETY: per the caller.
    capabilities.surface_capabilities =
        unsafe { surface_capabilities(instance, physical_device, info.surface) }?;
    // SAFETY: a valid input chain per the caller.
    let queried_mode = unsafe {
        find_in_chain::<vk::SurfacePresentModeEXT<'_>>(
            info.p_next,
            vk::StructureType::SURFACE_PRESENT_MODE_EXT,
        )
    }
    .map(|mode| mode.present_mode);
    let mut next = capabilities.p_next as *mut vk::BaseOutStructure<'_>;
    while !next.is_null() {
        // SAFETY: a valid output chain per the caller; each sType names the struct it heads.
        unsafe {
            match (*next).s_type {
                vk::StructureType::SURFACE_PRESENT_SCALING_CAPABILITIES_EXT => {
                    let scaling = &mut *(next as *mut vk::SurfacePresentScalingCapabilitiesEXT<'_>);
                    scaling.supported_present_scaling = vk::PresentScalingFlagsEXT::empty();
                    scaling.supported_present_gravity_x = vk::PresentGravityFlagsEXT::empty();
                    scaling.supported_present_gravity_y = vk::PresentGravityFlagsEXT::empty();
                    scaling.min_scaled_image_extent =
                        capabilities.surface_capabilities.min_image_extent;
                    scaling.max_scaled_image_extent =
                        capabilities.surface_capabilities.max_image_extent;
                }
                vk::StructureType::SURFACE_PRESENT_MODE_COMPATIBILITY_EXT => {
                    let compatibility =
                        &mut *(next as *mut vk::SurfacePresentModeCompatibilityEXT<'_>);
                    let modes: Vec<vk::PresentModeKHR> = queried_mode.into_iter().collect();
                    compatibility.present_mode_count = fill_modes(
                        &modes,
                        compatibility.present_mode_count,
                        compatibility.p_present_modes,
                    );
                }
                _ => {}
            }
            next = (*next).p_next;
        }
    }
    Ok(())
}

/// The first structure of type `wanted` in a pNext chain.
///
/// # Safety
/// `chain` must be NULL or a valid Vulkan pNext chain, and `T` the struct `wanted` names.
pub unsafe fn find_in_chain<'a, T>(
    chain: *const std::ffi::c_void,
    wanted: vk::StructureType,
) -> Option<&'a T> {
    let mut next = chain as *const vk::BaseInStructure<'_>;
    while !next.is_null() {
        // SAFETY: a valid chain per the caller.
        unsafe {
            if (*next).s_type == wanted {
                return Some(&*(next as *const T));
            }
            next = (*next).p_next;
        }
    }
    None
}

/// The two-call idiom for an output array inside a structure: with NULL `items`, the count; otherwise
/// as many as fit, and how many were written.
///
/// # Safety
/// `items` must be NULL or hold `capacity` elements.
unsafe fn fill_modes(
    modes: &[vk::PresentModeKHR],
    capacity: u32,
    items: *mut vk::PresentModeKHR,
) -> u32 {
    if items.is_null() {
        return modes.len() as u32;
    }
    let written = modes.len().min(capacity as usize);
    // SAFETY: `items` holds `capacity` >= `written` elements per the caller.
    unsafe { std::ptr::copy_nonoverlapping(modes.as_ptr(), items, written) };
    written as u32
}
