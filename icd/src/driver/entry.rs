//! The loader interface (`LoaderDriverInterface.md`): the three exported `vk_icd*` functions and the
//! name lookups behind every `vkGet*ProcAddr`, over the generated table of entry points
//! (`generated/table.rs`). `vkGetDeviceProcAddr` finds a command only when the device's API version
//! or one of its enabled extensions provides it.

use std::ffi::{c_char, CStr};

use ash::vk;

use super::device::device;
use super::generated::table::{ENTRIES, EXTENSIONS};
use crate::log::Level;
use crate::venus_log;

/// Interface 5 lets the ICD report any API version; 7 is the newest the loader defines (it adds
/// nothing this ICD must do beyond exporting these three functions).
const MIN_INTERFACE_VERSION: u32 = 5;
const MAX_INTERFACE_VERSION: u32 = 7;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Scope {
    /// Callable without an instance (vkGetInstanceProcAddr with a NULL instance).
    Global,
    Instance,
    /// Dispatched through a VkPhysicalDevice (vk_icdGetPhysicalDeviceProcAddr).
    PhysicalDevice,
    /// Dispatched through a VkDevice, VkQueue or VkCommandBuffer (vkGetDeviceProcAddr).
    Device,
}

/// One name the ICD answers for.
pub(crate) struct Entry {
    pub(crate) name: &'static str,
    pub(crate) scope: Scope,
    /// VK_MAKE_API_VERSION of the core version that has it; 0 if only extensions do.
    pub(crate) api: u32,
    /// vk.xml numbers of the extensions that add it.
    pub(crate) extensions: &'static [u32],
    pub(crate) function: unsafe extern "system" fn(),
}

/// An entry point as the loader stores it. With `as PFN_…` the compiler checks the function's
/// signature against ash's declaration of the command.
macro_rules! entry_point {
    ($function:path as $pfn:ident) => {{
        let checked: ash::vk::$pfn = $function;
        // SAFETY: the loader or the application casts the pointer back to the command's own
        // signature, which is `checked`'s.
        unsafe { std::mem::transmute::<ash::vk::$pfn, unsafe extern "system" fn()>(checked) }
    }};
    ($function:path) => {{
        // SAFETY: as above; the command's signature is the function's own.
        unsafe {
            std::mem::transmute::<*const (), unsafe extern "system" fn()>($function as *const ())
        }
    }};
}
pub(crate) use entry_point;

fn find(name: &[u8]) -> Option<&'static Entry> {
    ENTRIES
        .binary_search_by(|entry| entry.name.as_bytes().cmp(name))
        .ok()
        .map(|index| &ENTRIES[index])
}

/// The vk.xml number of an extension of the table.
pub(crate) fn extension_number(name: &CStr) -> Option<u32> {
    let name = name.to_str().ok()?;
    EXTENSIONS
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|index| EXTENSIONS[index].1)
}

/// Whether a device with `api_version` and the extensions `enabled` (vk.xml numbers) has `entry`.
pub(crate) fn provided(entry: &Entry, api_version: u32, enabled: &[u32]) -> bool {
    let core = |v: u32| (vk::api_version_major(v), vk::api_version_minor(v));
    (entry.api != 0 && core(api_version) >= core(entry.api))
        || entry.extensions.iter().any(|e| enabled.contains(e))
}

/// # Safety
/// `name` must be NULL or NUL-terminated.
unsafe fn lookup(name: *const c_char, allowed: &[Scope]) -> Option<&'static Entry> {
    if name.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated per the caller.
    let name = unsafe { CStr::from_ptr(name) };
    let found = find(name.to_bytes()).filter(|entry| allowed.contains(&entry.scope));
    if found.is_none() {
        venus_log!(Level::Trace, "proc addr: {name:?} is not implemented");
    }
    found
}

pub(crate) unsafe extern "system" fn get_instance_proc_addr(
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
    unsafe { lookup(name, allowed) }.map(|entry| entry.function)
}

pub(crate) unsafe extern "system" fn get_device_proc_addr(
    handle: vk::Device,
    name: *const c_char,
) -> vk::PFN_vkVoidFunction {
    // SAFETY: the loader passes a NUL-terminated name.
    let entry = unsafe { lookup(name, &[Scope::Device]) }?;
    if handle == vk::Device::null() {
        return Some(entry.function);
    }
    // SAFETY: a VkDevice of this ICD by valid usage.
    let device = unsafe { device(handle) };
    provided(
        entry,
        device.object.api_version(),
        device.object.enabled_extensions(),
    )
    .then_some(entry.function)
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
    unsafe { lookup(name, &[Scope::PhysicalDevice]) }.map(|entry| entry.function)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(instance: vk::Instance, name: &CStr) -> bool {
        // SAFETY: a NUL-terminated name.
        unsafe { vk_icdGetInstanceProcAddr(instance, name.as_ptr()) }.is_some()
    }

    #[test]
    fn the_table_is_sorted_without_duplicates() {
        assert!(ENTRIES.windows(2).all(|w| w[0].name < w[1].name));
        assert!(EXTENSIONS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn global_commands_are_found_without_an_instance_and_others_are_not() {
        let none = vk::Instance::null();
        assert!(found(none, c"vkCreateInstance"));
        assert!(found(none, c"vkEnumerateInstanceVersion"));
        assert!(!found(none, c"vkEnumeratePhysicalDevices"));
        let some = vk::Handle::from_raw(0x1000);
        assert!(found(some, c"vkEnumeratePhysicalDevices"));
        assert!(found(some, c"vkGetPhysicalDeviceProperties2KHR"));
        assert!(found(some, c"vkCmdDraw"));
        assert!(!found(some, c"vkNotACommand"));
    }

    #[test]
    fn each_proc_addr_serves_its_own_level() {
        // SAFETY: NUL-terminated names; a NULL device answers for every device command.
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
            address(c"vkCmdPipelineBarrier2KHR"),
            address(c"vkCmdPipelineBarrier2")
        );
        assert!(address(c"vkCmdPipelineBarrier2").is_some());
    }

    #[test]
    fn device_commands_are_gated_by_version_and_enabled_extensions() {
        let barrier2 = find(b"vkCmdPipelineBarrier2").expect("in the table");
        let barrier2_khr = find(b"vkCmdPipelineBarrier2KHR").expect("in the table");
        let sync2 = extension_number(c"VK_KHR_synchronization2").expect("a known extension");
        assert!(!provided(barrier2, vk::API_VERSION_1_2, &[]));
        assert!(provided(barrier2, vk::API_VERSION_1_3, &[]));
        assert!(!provided(barrier2_khr, vk::API_VERSION_1_3, &[]));
        assert!(provided(barrier2_khr, vk::API_VERSION_1_2, &[sync2]));
        let draw = find(b"vkCmdDraw").expect("in the table");
        assert!(provided(draw, vk::API_VERSION_1_0, &[]));
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
