//! The loader interface (`LoaderDriverInterface.md`): the three exported `vk_icd*` functions and the
//! name lookups behind every `vkGet*ProcAddr`. Only commands this ICD implements are found.

use std::ffi::{c_char, CStr};

use ash::vk;

use super::{device, instance, physical_device};
use crate::log::Level;
use crate::venus_log;

/// Interface 5 lets the ICD report any API version; 7 is the newest the loader defines (it adds
/// nothing this ICD must do beyond exporting these three functions).
const MIN_INTERFACE_VERSION: u32 = 5;
const MAX_INTERFACE_VERSION: u32 = 7;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scope {
    /// Callable without an instance (vkGetInstanceProcAddr with a NULL instance).
    Global,
    Instance,
    /// Dispatched through a VkPhysicalDevice (vk_icdGetPhysicalDeviceProcAddr).
    PhysicalDevice,
    /// Dispatched through a VkDevice, VkQueue or VkCommandBuffer (vkGetDeviceProcAddr).
    Device,
}

macro_rules! entry {
    ($scope:ident, $function:path) => {
        Some((
            Scope::$scope,
            // SAFETY: a function pointer is called only after the loader or the application casts it
            // back to the command's own signature, which is the one of `$function`.
            unsafe { std::mem::transmute::<*const (), unsafe extern "system" fn()>($function as *const ()) },
        ))
    };
}

fn lookup(name: &[u8]) -> Option<(Scope, unsafe extern "system" fn())> {
    use device as d;
    use instance as i;
    use physical_device as p;
    match name {
        b"vkGetInstanceProcAddr" => entry!(Global, get_instance_proc_addr),
        b"vkCreateInstance" => entry!(Global, i::create_instance),
        b"vkEnumerateInstanceVersion" => entry!(Global, i::enumerate_instance_version),
        b"vkEnumerateInstanceExtensionProperties" => {
            entry!(Global, i::enumerate_instance_extension_properties)
        }
        b"vkEnumerateInstanceLayerProperties" => {
            entry!(Global, i::enumerate_instance_layer_properties)
        }
        b"vkDestroyInstance" => entry!(Instance, i::destroy_instance),
        b"vkEnumeratePhysicalDevices" => entry!(Instance, i::enumerate_physical_devices),
        b"vkEnumeratePhysicalDeviceGroups" | b"vkEnumeratePhysicalDeviceGroupsKHR" => {
            entry!(Instance, i::enumerate_physical_device_groups)
        }
        b"vkGetDeviceProcAddr" => entry!(Device, get_device_proc_addr),
        b"vkGetPhysicalDeviceFeatures" => entry!(PhysicalDevice, p::get_physical_device_features),
        b"vkGetPhysicalDeviceFeatures2" | b"vkGetPhysicalDeviceFeatures2KHR" => {
            entry!(PhysicalDevice, p::get_physical_device_features2)
        }
        b"vkGetPhysicalDeviceProperties" => {
            entry!(PhysicalDevice, p::get_physical_device_properties)
        }
        b"vkGetPhysicalDeviceProperties2" | b"vkGetPhysicalDeviceProperties2KHR" => {
            entry!(PhysicalDevice, p::get_physical_device_properties2)
        }
        b"vkGetPhysicalDeviceQueueFamilyProperties" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_queue_family_properties
            )
        }
        b"vkGetPhysicalDeviceQueueFamilyProperties2"
        | b"vkGetPhysicalDeviceQueueFamilyProperties2KHR" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_queue_family_properties2
            )
        }
        b"vkGetPhysicalDeviceMemoryProperties" => {
            entry!(PhysicalDevice, p::get_physical_device_memory_properties)
        }
        b"vkGetPhysicalDeviceMemoryProperties2" | b"vkGetPhysicalDeviceMemoryProperties2KHR" => {
            entry!(PhysicalDevice, p::get_physical_device_memory_properties2)
        }
        b"vkGetPhysicalDeviceFormatProperties" => {
            entry!(PhysicalDevice, p::get_physical_device_format_properties)
        }
        b"vkGetPhysicalDeviceFormatProperties2" | b"vkGetPhysicalDeviceFormatProperties2KHR" => {
            entry!(PhysicalDevice, p::get_physical_device_format_properties2)
        }
        b"vkGetPhysicalDeviceImageFormatProperties" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_image_format_properties
            )
        }
        b"vkGetPhysicalDeviceImageFormatProperties2"
        | b"vkGetPhysicalDeviceImageFormatProperties2KHR" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_image_format_properties2
            )
        }
        b"vkGetPhysicalDeviceSparseImageFormatProperties" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_sparse_image_format_properties
            )
        }
        b"vkGetPhysicalDeviceSparseImageFormatProperties2"
        | b"vkGetPhysicalDeviceSparseImageFormatProperties2KHR" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_sparse_image_format_properties2
            )
        }
        b"vkGetPhysicalDeviceExternalBufferProperties"
        | b"vkGetPhysicalDeviceExternalBufferPropertiesKHR" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_external_buffer_properties
            )
        }
        b"vkGetPhysicalDeviceExternalFenceProperties"
        | b"vkGetPhysicalDeviceExternalFencePropertiesKHR" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_external_fence_properties
            )
        }
        b"vkGetPhysicalDeviceExternalSemaphoreProperties"
        | b"vkGetPhysicalDeviceExternalSemaphorePropertiesKHR" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_external_semaphore_properties
            )
        }
        b"vkGetPhysicalDeviceToolProperties" | b"vkGetPhysicalDeviceToolPropertiesEXT" => {
            entry!(PhysicalDevice, p::get_physical_device_tool_properties)
        }
        b"vkGetPhysicalDeviceCalibrateableTimeDomainsKHR"
        | b"vkGetPhysicalDeviceCalibrateableTimeDomainsEXT" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_calibrateable_time_domains
            )
        }
        b"vkGetPhysicalDeviceFragmentShadingRatesKHR" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_fragment_shading_rates
            )
        }
        b"vkGetPhysicalDeviceMultisamplePropertiesEXT" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_multisample_properties
            )
        }
        b"vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR" => {
            entry!(
                PhysicalDevice,
                p::get_physical_device_cooperative_matrix_properties
            )
        }
        b"vkEnumerateDeviceExtensionProperties" => {
            entry!(PhysicalDevice, p::enumerate_device_extension_properties)
        }
        b"vkEnumerateDeviceLayerProperties" => {
            entry!(PhysicalDevice, p::enumerate_device_layer_properties)
        }
        b"vkCreateDevice" => entry!(PhysicalDevice, d::create_device),
        b"vkDestroyDevice" => entry!(Device, d::destroy_device),
        b"vkGetDeviceQueue" => entry!(Device, d::get_device_queue),
        b"vkGetDeviceQueue2" => entry!(Device, d::get_device_queue2),
        b"vkDeviceWaitIdle" => entry!(Device, d::device_wait_idle),
        b"vkQueueWaitIdle" => entry!(Device, d::queue_wait_idle),
        b"vkCreateImage" => entry!(Device, d::create_image),
        b"vkDestroyImage" => entry!(Device, d::destroy_image),
        b"vkGetImageMemoryRequirements" => entry!(Device, d::get_image_memory_requirements),
        b"vkGetImageMemoryRequirements2" | b"vkGetImageMemoryRequirements2KHR" => {
            entry!(Device, d::get_image_memory_requirements2)
        }
        _ => None,
    }
}

/// # Safety
/// `name` must be NULL or NUL-terminated.
unsafe fn lookup_in(name: *const c_char, allowed: &[Scope]) -> vk::PFN_vkVoidFunction {
    if name.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated per the caller.
    let name = unsafe { CStr::from_ptr(name) };
    let found = lookup(name.to_bytes()).filter(|(scope, _)| allowed.contains(scope));
    if found.is_none() {
        venus_log!(Level::Trace, "proc addr: {name:?} is not implemented");
    }
    found.map(|(_, function)| function)
}

unsafe extern "system" fn get_instance_proc_addr(
    instance: vk::Instance,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    let allowed: &[Scope] = if instance == vk::Instance::null() {
        &[Scope::Global]
    } else {
        &[
            Scope::Global,
            Scope::Instance,
            Scope::PhysicalDevice,
            Scope::Device,
        ]
    };
    // SAFETY: the loader passes a NUL-terminated name.
    unsafe { lookup_in(name, allowed) }
}

unsafe extern "system" fn get_device_proc_addr(
    _device: vk::Device,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    // SAFETY: the loader passes a NUL-terminated name.
    unsafe { lookup_in(name, &[Scope::Device]) }
}

/// # Safety
/// Called by the Vulkan loader with a valid pointer.
#[no_mangle]
pub unsafe extern "system" fn vk_icdNegotiateLoaderICDInterfaceVersion(
    p_supported_version: *mut u32,
) -> vk::Result {
    // SAFETY: the loader passes a valid pointer holding its own highest version.
    let loader_version = unsafe { *p_supported_version };
    if loader_version < MIN_INTERFACE_VERSION {
        venus_log!(
            Level::Error,
            "the Vulkan loader speaks ICD interface {loader_version}; venus-rs needs {MIN_INTERFACE_VERSION} or newer"
        );
        return vk::Result::ERROR_INCOMPATIBLE_DRIVER;
    }
    // SAFETY: as above.
    unsafe { *p_supported_version = loader_version.min(MAX_INTERFACE_VERSION) };
    vk::Result::SUCCESS
}

/// # Safety
/// Called by the Vulkan loader with a NUL-terminated name.
#[no_mangle]
pub unsafe extern "system" fn vk_icdGetInstanceProcAddr(
    instance: vk::Instance,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    // SAFETY: forwarded from the loader.
    unsafe { get_instance_proc_addr(instance, name) }
}

/// # Safety
/// Called by the Vulkan loader with a NUL-terminated name.
#[no_mangle]
pub unsafe extern "system" fn vk_icdGetPhysicalDeviceProcAddr(
    _instance: vk::Instance,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    // SAFETY: the loader passes a NUL-terminated name.
    unsafe { lookup_in(name, &[Scope::PhysicalDevice]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(instance: vk::Instance, name: &CStr) -> bool {
        // SAFETY: a NUL-terminated name.
        unsafe { vk_icdGetInstanceProcAddr(instance, name.as_ptr()) }.is_some()
    }

    #[test]
    fn global_commands_are_found_without_an_instance_and_others_are_not() {
        let none = vk::Instance::null();
        assert!(find(none, c"vkCreateInstance"));
        assert!(find(none, c"vkEnumerateInstanceVersion"));
        assert!(!find(none, c"vkEnumeratePhysicalDevices"));
        let some = vk::Handle::from_raw(0x1000);
        assert!(find(some, c"vkEnumeratePhysicalDevices"));
        assert!(find(some, c"vkGetPhysicalDeviceProperties2KHR"));
        assert!(find(some, c"vkQueueWaitIdle"));
    }

    #[test]
    fn unimplemented_commands_are_not_found() {
        let some = vk::Handle::from_raw(0x1000);
        for name in [
            c"vkQueueSubmit",
            c"vkCreateBuffer",
            c"vkCmdDraw",
            c"vkCreateSwapchainKHR",
            c"vkNotACommand",
        ] {
            assert!(!find(some, name), "{name:?}");
        }
    }

    #[test]
    fn each_proc_addr_serves_its_own_level() {
        // SAFETY: NUL-terminated names.
        unsafe {
            assert!(vk_icdGetPhysicalDeviceProcAddr(
                vk::Instance::null(),
                c"vkGetPhysicalDeviceFeatures2".as_ptr()
            )
            .is_some());
            assert!(vk_icdGetPhysicalDeviceProcAddr(
                vk::Instance::null(),
                c"vkDestroyDevice".as_ptr()
            )
            .is_none());
            assert!(
                get_device_proc_addr(vk::Device::null(), c"vkDeviceWaitIdle".as_ptr()).is_some()
            );
            assert!(get_device_proc_addr(
                vk::Device::null(),
                c"vkEnumeratePhysicalDevices".as_ptr()
            )
            .is_none());
        }
    }

    /// The commands this ICD implements (part 1: instance, physical-device queries, device, queues,
    /// idle waits, and the image calls vulkaninfo makes), by their core or first name.
    const IMPLEMENTED: &[&str] = &[
        "vkCreateInstance",
        "vkDestroyInstance",
        "vkEnumeratePhysicalDevices",
        "vkEnumeratePhysicalDeviceGroups",
        "vkEnumerateInstanceVersion",
        "vkEnumerateInstanceExtensionProperties",
        "vkEnumerateInstanceLayerProperties",
        "vkEnumerateDeviceExtensionProperties",
        "vkEnumerateDeviceLayerProperties",
        "vkGetInstanceProcAddr",
        "vkGetDeviceProcAddr",
        "vkGetPhysicalDeviceFeatures",
        "vkGetPhysicalDeviceFeatures2",
        "vkGetPhysicalDeviceProperties",
        "vkGetPhysicalDeviceProperties2",
        "vkGetPhysicalDeviceQueueFamilyProperties",
        "vkGetPhysicalDeviceQueueFamilyProperties2",
        "vkGetPhysicalDeviceMemoryProperties",
        "vkGetPhysicalDeviceMemoryProperties2",
        "vkGetPhysicalDeviceFormatProperties",
        "vkGetPhysicalDeviceFormatProperties2",
        "vkGetPhysicalDeviceImageFormatProperties",
        "vkGetPhysicalDeviceImageFormatProperties2",
        "vkGetPhysicalDeviceSparseImageFormatProperties",
        "vkGetPhysicalDeviceSparseImageFormatProperties2",
        "vkGetPhysicalDeviceExternalBufferProperties",
        "vkGetPhysicalDeviceExternalFenceProperties",
        "vkGetPhysicalDeviceExternalSemaphoreProperties",
        "vkGetPhysicalDeviceToolProperties",
        "vkGetPhysicalDeviceCalibrateableTimeDomainsKHR",
        "vkGetPhysicalDeviceFragmentShadingRatesKHR",
        "vkGetPhysicalDeviceMultisamplePropertiesEXT",
        "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR",
        "vkCreateDevice",
        "vkDestroyDevice",
        "vkGetDeviceQueue",
        "vkGetDeviceQueue2",
        "vkDeviceWaitIdle",
        "vkQueueWaitIdle",
        "vkCreateImage",
        "vkDestroyImage",
        "vkGetImageMemoryRequirements",
        "vkGetImageMemoryRequirements2",
    ];

    /// Every command the protocol knows (and those it leaves out), as an application could ask for it.
    fn every_command_name() -> Vec<String> {
        use venus_rs_encoder::protocol::{COMMANDS, LEFT_OUT};
        let mut names: Vec<String> = COMMANDS
            .iter()
            .map(|command| command.name.to_string())
            .chain(LEFT_OUT.iter().map(|(_, name, _)| name.to_string()))
            .collect();
        // Aliases of the implemented commands under the extension that introduced them.
        for suffix in ["KHR", "EXT"] {
            names.extend(IMPLEMENTED.iter().map(|name| format!("{name}{suffix}")));
        }
        names
    }

    #[test]
    fn every_name_found_is_an_implemented_command() {
        let some = vk::Handle::from_raw(0x1000);
        let mut found_names = Vec::new();
        for name in every_command_name() {
            let c_name = std::ffi::CString::new(name.clone()).unwrap();
            if find(some, &c_name) {
                found_names.push(name);
            }
        }
        for name in &found_names {
            let core = name.trim_end_matches("KHR").trim_end_matches("EXT");
            let implemented = |candidate: &str| IMPLEMENTED.contains(&candidate);
            assert!(
                implemented(name) || implemented(core) || implemented(&format!("{core}KHR")),
                "{name} is found but not implemented"
            );
        }
        for name in IMPLEMENTED {
            assert!(
                found_names.iter().any(|found| found == name),
                "{name} is not found"
            );
        }
    }

    #[test]
    fn an_alias_finds_the_same_function() {
        let some = vk::Handle::from_raw(0x1000);
        let address = |name: &CStr| {
            // SAFETY: a NUL-terminated name.
            unsafe { vk_icdGetInstanceProcAddr(some, name.as_ptr()) }.map(|f| f as usize)
        };
        assert_eq!(
            address(c"vkGetPhysicalDeviceProperties2KHR"),
            address(c"vkGetPhysicalDeviceProperties2")
        );
        assert_eq!(
            address(c"vkGetPhysicalDeviceToolPropertiesEXT"),
            address(c"vkGetPhysicalDeviceToolProperties")
        );
    }

    #[test]
    fn core_device_commands_beyond_part_1_are_null() {
        for name in [
            c"vkAllocateMemory",
            c"vkMapMemory",
            c"vkCreateBuffer",
            c"vkBindImageMemory",
            c"vkCreateFence",
            c"vkAllocateCommandBuffers",
            c"vkQueueSubmit",
        ] {
            assert!(!find(vk::Handle::from_raw(0x1000), name), "{name:?}");
            // SAFETY: a NUL-terminated name.
            let device_level = unsafe { get_device_proc_addr(vk::Device::null(), name.as_ptr()) };
            assert!(device_level.is_none(), "{name:?}");
        }
    }

    #[test]
    fn the_interface_version_is_negotiated_from_5_to_7() {
        for (loader, agreed) in [(5, Some(5)), (7, Some(7)), (9, Some(7)), (4, None)] {
            let mut version = loader;
            // SAFETY: a valid pointer.
            let result = unsafe { vk_icdNegotiateLoaderICDInterfaceVersion(&mut version) };
            match agreed {
                Some(agreed) => assert_eq!((result, version), (vk::Result::SUCCESS, agreed)),
                None => assert_eq!(result, vk::Result::ERROR_INCOMPATIBLE_DRIVER),
            }
        }
    }
}
