//! Whether the driver can present at all: the instance extension of a surface kind and VK_KHR_swapchain on the
//! first device. Asked before running vkmark or vkcube, so that a driver without a swapchain is reported as
//! "no swapchain" instead of as whatever those tools print when they give up.

use ash::vk;
use std::ffi::CStr;

/// `Err` names what is missing, in a few words.
pub fn can_present(surface_extension: &CStr) -> Result<(), String> {
    // SAFETY: loads the system Vulkan loader; its entry points are called with valid arguments below.
    let entry =
        unsafe { ash::Entry::load() }.map_err(|e| format!("cannot load the Vulkan loader: {e}"))?;
    // SAFETY: no layer named; the loader is loaded.
    let instance_extensions = unsafe { entry.enumerate_instance_extension_properties(None) }
        .map_err(|e| format!("vkEnumerateInstanceExtensionProperties: {e:?}"))?;
    let has = |list: &[vk::ExtensionProperties], name: &CStr| {
        list.iter()
            .any(|extension| extension.extension_name_as_c_str() == Ok(name))
    };
    if !has(&instance_extensions, surface_extension) {
        return Err(format!(
            "no swapchain: the driver offers no {}",
            surface_extension.to_string_lossy()
        ));
    }
    let info = vk::InstanceCreateInfo::default();
    // SAFETY: a plain create info.
    let instance = unsafe { entry.create_instance(&info, None) }
        .map_err(|e| format!("vkCreateInstance: {e:?}"))?;
    // SAFETY: a live instance; it is destroyed below on every path.
    let found = unsafe { swapchain_on_first_device(&instance) };
    // SAFETY: nothing was made from the instance.
    unsafe { instance.destroy_instance(None) };
    match found? {
        true => Ok(()),
        false => Err("no swapchain: the device offers no VK_KHR_swapchain".into()),
    }
}

/// # Safety
/// `instance` is live.
unsafe fn swapchain_on_first_device(instance: &ash::Instance) -> Result<bool, String> {
    // SAFETY: per the caller, a live instance.
    let devices = unsafe { instance.enumerate_physical_devices() }
        .map_err(|e| format!("vkEnumeratePhysicalDevices: {e:?}"))?;
    let device = *devices.first().ok_or("no Vulkan device")?;
    // SAFETY: a physical device of this instance.
    let extensions = unsafe { instance.enumerate_device_extension_properties(device) }
        .map_err(|e| format!("vkEnumerateDeviceExtensionProperties: {e:?}"))?;
    Ok(extensions
        .iter()
        .any(|extension| extension.extension_name_as_c_str() == Ok(ash::khr::swapchain::NAME)))
}
