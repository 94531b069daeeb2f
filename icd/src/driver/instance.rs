//! VkInstance: the bring-up, the host's instance object, instance extensions and physical device
//! enumeration.

use std::ffi::{c_char, CStr};
use std::sync::{Arc, OnceLock};

use ash::vk;
use ash::vk::Handle as _;

use crate::driver::generated::calls;
use crate::driver::handles::Dispatchable;
use crate::driver::host::Host;
use crate::driver::physical_device::PhysicalDevice;
use crate::driver::{extension_property, fill_array, ICD_API_VERSION};
use crate::log::Level;
use crate::venus_log;

/// Instance extensions this ICD implements itself: all of them are promoted to Vulkan 1.1, whose
/// commands the ICD forwards to the host.
pub const INSTANCE_EXTENSIONS: &[(&CStr, u32)] = &[
    (c"VK_KHR_device_group_creation", 1),
    (c"VK_KHR_external_fence_capabilities", 1),
    (c"VK_KHR_external_memory_capabilities", 1),
    (c"VK_KHR_external_semaphore_capabilities", 1),
    (c"VK_KHR_get_physical_device_properties2", 2),
];

pub struct Instance {
    /// `None` when the bring-up failed: the instance works and has no physical devices. Otherwise the
    /// host has an instance under this handle's id.
    host: Option<Arc<Host>>,
    /// The API version the host's instance was created with: what the host's physical devices may
    /// be asked about is capped by it.
    host_api_version: u32,
    /// Boxed so that no handle ever moves, even while the list is being built.
    #[allow(clippy::vec_box)]
    physical_devices: OnceLock<Vec<Box<Dispatchable<PhysicalDevice>>>>,
}

pub type InstanceHandle = Dispatchable<Instance>;

/// # Safety
/// `handle` must be a VkInstance of this ICD.
pub unsafe fn instance<'a>(handle: vk::Instance) -> &'a InstanceHandle {
    use ash::vk::Handle;
    // SAFETY: per the caller, a live instance of this ICD.
    unsafe { Dispatchable::from_handle(handle.as_raw()) }.expect("a VkInstance of this ICD")
}

pub unsafe extern "system" fn enumerate_instance_version(p_api_version: *mut u32) -> vk::Result {
    // SAFETY: the loader passes a valid pointer.
    unsafe { *p_api_version = ICD_API_VERSION };
    vk::Result::SUCCESS
}

pub unsafe extern "system" fn enumerate_instance_extension_properties(
    p_layer_name: *const c_char,
    p_property_count: *mut u32,
    p_properties: *mut vk::ExtensionProperties,
) -> vk::Result {
    if !p_layer_name.is_null() {
        return vk::Result::ERROR_LAYER_NOT_PRESENT;
    }
    let properties: Vec<vk::ExtensionProperties> = INSTANCE_EXTENSIONS
        .iter()
        .map(|(name, version)| extension_property(name, *version))
        .collect();
    // SAFETY: count and array pointers as the command's valid usage requires.
    unsafe { fill_array(&properties, p_property_count, p_properties) }
}

pub unsafe extern "system" fn enumerate_instance_layer_properties(
    p_property_count: *mut u32,
    _p_properties: *mut vk::LayerProperties,
) -> vk::Result {
    // SAFETY: a valid count pointer per valid usage.
    unsafe { *p_property_count = 0 };
    vk::Result::SUCCESS
}

pub unsafe extern "system" fn create_instance(
    p_create_info: *const vk::InstanceCreateInfo<'_>,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
    p_instance: *mut vk::Instance,
) -> vk::Result {
    // SAFETY: a valid create info per valid usage.
    let create_info = unsafe { &*p_create_info };
    for index in 0..create_info.enabled_extension_count as usize {
        // SAFETY: the array holds enabled_extension_count NUL-terminated names.
        let name = unsafe { CStr::from_ptr(*create_info.pp_enabled_extension_names.add(index)) };
        if !INSTANCE_EXTENSIONS.iter().any(|(known, _)| *known == name) {
            venus_log!(
                Level::Info,
                "vkCreateInstance: extension {name:?} is not supported"
            );
            return vk::Result::ERROR_EXTENSION_NOT_PRESENT;
        }
    }
    let handle = match Host::connect() {
        Ok(host) => {
            let instance = Dispatchable::new(Instance {
                host_api_version: host_instance_api_version(&host, create_info),
                host: Some(Arc::new(host)),
                physical_devices: OnceLock::new(),
            });
            if let Err(result) = create_host_instance(&instance, create_info) {
                return result;
            }
            instance
        }
        Err(reason) => {
            venus_log!(
                Level::Info,
                "{reason}; the instance has no physical devices"
            );
            Dispatchable::new(Instance {
                host: None,
                host_api_version: 0,
                physical_devices: OnceLock::new(),
            })
        }
    };
    // SAFETY: a valid output pointer per valid usage.
    unsafe { *p_instance = vk::Handle::from_raw(Box::into_raw(handle) as u64) };
    vk::Result::SUCCESS
}

/// The version the application asks for, at least Vulkan 1.1 (Venus needs it) and at most the host's.
fn host_instance_api_version(host: &Host, create_info: &vk::InstanceCreateInfo<'_>) -> u32 {
    // SAFETY: p_application_info is NULL or valid per valid usage.
    let app = unsafe { create_info.p_application_info.as_ref() };
    let requested = app.map_or(vk::API_VERSION_1_0, |app| app.api_version);
    requested
        .max(vk::API_VERSION_1_1)
        .min(host.instance_version())
}

/// vkCreateInstance on the host, without the application's layers and extensions (the host's instance
/// serves this ICD, not the application).
fn create_host_instance(
    instance: &InstanceHandle,
    create_info: &vk::InstanceCreateInfo<'_>,
) -> Result<(), vk::Result> {
    let Some(host) = instance.object.host() else {
        return Err(vk::Result::ERROR_INITIALIZATION_FAILED);
    };
    // SAFETY: p_application_info is NULL or valid per valid usage.
    let app = unsafe { create_info.p_application_info.as_ref() };
    let api_version = instance.object.host_api_version;
    let app_info = vk::ApplicationInfo {
        p_application_name: app.map_or(std::ptr::null(), |a| a.p_application_name),
        application_version: app.map_or(0, |a| a.application_version),
        p_engine_name: app.map_or(std::ptr::null(), |a| a.p_engine_name),
        engine_version: app.map_or(0, |a| a.engine_version),
        api_version,
        ..Default::default()
    };
    let host_info = vk::InstanceCreateInfo {
        p_application_info: &app_info,
        ..Default::default()
    };
    // The output slot holds the new handle: the encoder sends its id, which the host adopts.
    let mut handle = vk::Instance::from_raw(instance.handle());
    // SAFETY: a create info built here, alive across the call.
    let result =
        unsafe { calls::call_create_instance(host, &host_info, std::ptr::null(), &mut handle) }?;
    if result != vk::Result::SUCCESS {
        venus_log!(Level::Error, "the host's vkCreateInstance failed: {result}");
        return Err(result);
    }
    venus_log!(
        Level::Info,
        "host instance {} created (API {}.{})",
        instance.id(),
        vk::api_version_major(api_version),
        vk::api_version_minor(api_version)
    );
    Ok(())
}

pub unsafe extern "system" fn destroy_instance(
    handle: vk::Instance,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
) {
    use ash::vk::Handle;
    if handle.is_null() {
        return;
    }
    // SAFETY: the application hands the instance back; no other call uses it any more.
    let instance = unsafe { Box::from_raw(handle.as_raw() as *mut InstanceHandle) };
    if let Some(host) = &instance.object.host {
        // SAFETY: the instance's own handle; nothing else uses it.
        let _ = unsafe { calls::send_destroy_instance(host, handle, std::ptr::null()) };
    }
}

/// How many commands the instance's physical devices and devices have put on the host's ring; `None`
/// without a host. Tests use it to show which queries are answered from what the ICD keeps.
///
/// # Safety
/// `handle` must be a live VkInstance of this ICD.
pub unsafe fn ring_commands_sent(handle: vk::Instance) -> Option<u64> {
    // SAFETY: per the caller.
    let instance = unsafe { instance(handle) };
    instance.object.host().map(|host| host.ring_commands())
}

impl Instance {
    pub fn host(&self) -> Option<&Arc<Host>> {
        self.host.as_ref()
    }
}

impl InstanceHandle {
    /// The physical devices, asked from the host once: they cannot change while the instance lives.
    #[allow(clippy::vec_box)]
    pub fn physical_devices(&self) -> &[Box<Dispatchable<PhysicalDevice>>] {
        self.object
            .physical_devices
            .get_or_init(|| match &self.object.host {
                Some(host) => {
                    PhysicalDevice::enumerate(host, self.handle(), self.object.host_api_version)
                        .unwrap_or_default()
                }
                None => Vec::new(),
            })
    }
}

pub unsafe extern "system" fn enumerate_physical_devices(
    handle: vk::Instance,
    p_count: *mut u32,
    p_devices: *mut vk::PhysicalDevice,
) -> vk::Result {
    // SAFETY: a VkInstance of this ICD per valid usage.
    let instance = unsafe { instance(handle) };
    let handles: Vec<vk::PhysicalDevice> = instance
        .physical_devices()
        .iter()
        .map(|device| vk::Handle::from_raw(device.handle()))
        .collect();
    // SAFETY: count and array pointers per valid usage.
    unsafe { fill_array(&handles, p_count, p_devices) }
}

pub unsafe extern "system" fn enumerate_physical_device_groups(
    handle: vk::Instance,
    p_count: *mut u32,
    p_groups: *mut vk::PhysicalDeviceGroupProperties<'_>,
) -> vk::Result {
    // SAFETY: a VkInstance of this ICD per valid usage.
    let instance = unsafe { instance(handle) };
    let devices = instance.physical_devices();
    // SAFETY: a valid count pointer per valid usage.
    let capacity = unsafe { *p_count } as usize;
    if p_groups.is_null() {
        // SAFETY: as above.
        unsafe { *p_count = devices.len() as u32 };
        return vk::Result::SUCCESS;
    }
    // Each device is a group of its own: the host's devices are never linked through Venus.
    let written = devices.len().min(capacity);
    for (index, device) in devices.iter().take(written).enumerate() {
        // SAFETY: `p_groups` holds `capacity` application structs; sType and pNext stay the application's.
        let group = unsafe { &mut *p_groups.add(index) };
        group.physical_device_count = 1;
        group.physical_devices = [vk::PhysicalDevice::null(); vk::MAX_DEVICE_GROUP_SIZE];
        group.physical_devices[0] = vk::Handle::from_raw(device.handle());
        group.subset_allocation = vk::FALSE;
    }
    // SAFETY: as above.
    unsafe { *p_count = written as u32 };
    if written < devices.len() {
        vk::Result::INCOMPLETE
    } else {
        vk::Result::SUCCESS
    }
}
