//! Lavapipe (or whatever the loader finds) through ash: an instance with a debug messenger that counts
//! validation messages, a device with VK_KHR_swapchain, and the WSI device the module runs on.

use ash::vk;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use vulkan_venus_rs::driver::wsi::{LockedQueue, WsiDevice};

/// Validation errors and warnings seen so far (the layer reports through the messenger).
pub static VALIDATION_MESSAGES: AtomicU32 = AtomicU32::new(0);

pub struct Gpu {
    /// Keeps the loader loaded for the life of the instance.
    _entry: ash::Entry,
    pub instance: ash::Instance,
    pub device: ash::Device,
    pub physical_device: vk::PhysicalDevice,
    pub queue: vk::Queue,
    pub queue_family: u32,
    pub wsi: Arc<WsiDevice>,
    pub device_name: String,
    messenger: Option<(ash::ext::debug_utils::Instance, vk::DebugUtilsMessengerEXT)>,
}

unsafe extern "system" fn count_message(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    _types: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    _user: *mut c_void,
) -> vk::Bool32 {
    VALIDATION_MESSAGES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the layer passes a valid callback data struct with a NUL-terminated message.
    let message = unsafe { (*data).message_as_c_str() }
        .map(|text| text.to_string_lossy().into_owned())
        .unwrap_or_default();
    eprintln!("wsi-check: validation {severity:?}: {message}");
    vk::FALSE
}

impl Gpu {
    pub fn new() -> Result<Gpu, String> {
        // SAFETY: loads the system's Vulkan loader.
        let entry = unsafe { ash::Entry::load() }.map_err(|e| format!("no Vulkan loader: {e}"))?;
        // SAFETY: a plain global query.
        let available = unsafe { entry.enumerate_instance_extension_properties(None) }
            .map_err(|e| format!("instance extensions: {e}"))?;
        let has_debug_utils = available
            .iter()
            .any(|property| property.extension_name_as_c_str() == Ok(ash::ext::debug_utils::NAME));
        // VK_KHR_swapchain, which the device enables (PRESENT_SRC_KHR layouts), requires VK_KHR_surface.
        let mut extensions = vec![ash::khr::surface::NAME.as_ptr()];
        if has_debug_utils {
            extensions.push(ash::ext::debug_utils::NAME.as_ptr());
        }
        let app = vk::ApplicationInfo::default()
            .application_name(c"wsi-check")
            .api_version(vk::API_VERSION_1_1);
        let info = vk::InstanceCreateInfo::default()
            .application_info(&app)
            .enabled_extension_names(&extensions);
        // SAFETY: valid create info.
        let instance = unsafe { entry.create_instance(&info, None) }
            .map_err(|e| format!("vkCreateInstance: {e}"))?;
        let messenger = has_debug_utils.then(|| {
            let loader = ash::ext::debug_utils::Instance::new(&entry, &instance);
            let info = vk::DebugUtilsMessengerCreateInfoEXT::default()
                .message_severity(
                    vk::DebugUtilsMessageSeverityFlagsEXT::ERROR
                        | vk::DebugUtilsMessageSeverityFlagsEXT::WARNING,
                )
                .message_type(
                    vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION
                        | vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
                        | vk::DebugUtilsMessageTypeFlagsEXT::PERFORMANCE,
                )
                .pfn_user_callback(Some(count_message));
            // SAFETY: valid create info; destroyed in Drop.
            let messenger =
                unsafe { loader.create_debug_utils_messenger(&info, None) }.unwrap_or_default();
            (loader, messenger)
        });
        // SAFETY: a live instance.
        let physical_device = *unsafe { instance.enumerate_physical_devices() }
            .map_err(|e| format!("vkEnumeratePhysicalDevices: {e}"))?
            .first()
            .ok_or("no physical device")?;
        // SAFETY: a physical device of the instance.
        let properties = unsafe { instance.get_physical_device_properties(physical_device) };
        let device_name = properties
            .device_name_as_c_str()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        // SAFETY: as above.
        let families =
            unsafe { instance.get_physical_device_queue_family_properties(physical_device) };
        let queue_family = families
            .iter()
            .position(|family| family.queue_flags.contains(vk::QueueFlags::GRAPHICS))
            .ok_or("no graphics queue family")? as u32;
        let priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(queue_family)
            .queue_priorities(&priorities)];
        let device_extensions = [ash::khr::swapchain::NAME.as_ptr()];
        let device_info = vk::DeviceCreateInfo::default()
            .queue_create_infos(&queues)
            .enabled_extension_names(&device_extensions);
        // SAFETY: valid create info.
        let device = unsafe { instance.create_device(physical_device, &device_info, None) }
            .map_err(|e| format!("vkCreateDevice: {e}"))?;
        // SAFETY: queue 0 of the family was created with the device.
        let queue = unsafe { device.get_device_queue(queue_family, 0) };
        let wsi = Arc::new(WsiDevice::new(
            instance.clone(),
            device.clone(),
            physical_device,
            Box::new(LockedQueue::new(queue)),
        ));
        Ok(Gpu {
            _entry: entry,
            instance,
            device,
            physical_device,
            queue,
            queue_family,
            wsi,
            device_name,
            messenger,
        })
    }

    /// The validation layer is active when the loader lists it as enabled for this instance.
    pub fn validation_enabled(&self) -> bool {
        std::env::var("VK_INSTANCE_LAYERS").is_ok_and(|layers| layers.contains("validation"))
    }
}

impl Drop for Gpu {
    fn drop(&mut self) {
        // SAFETY: every object made on the device is gone (the scenarios destroy theirs); idle first.
        unsafe {
            let _ = self.device.device_wait_idle();
            self.device.destroy_device(None);
            if let Some((loader, messenger)) = self.messenger.take() {
                loader.destroy_debug_utils_messenger(messenger, None);
            }
            self.instance.destroy_instance(None);
        }
    }
}
