//! Loading and initialising the driver before the process is confined (`crate::sandbox`):
//! the loader reads its manifests and opens the driver, the driver initialises its devices
//! (lavapipe starts LLVM) — all of which needs more of the system than running commands
//! does. An instance stays alive for the process's life so the driver stays loaded.

use ash::vk;

use super::VulkanDecoder;

impl VulkanDecoder {
    /// Loads the loader and the driver, makes (and destroys) a device on the first physical
    /// device, and keeps an instance; the process may be confined afterwards.
    pub fn preload(&self) -> Result<(), String> {
        let entry = self.entry()?;
        let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_1);
        let info = vk::InstanceCreateInfo::default().application_info(&app);
        // SAFETY: `info` and `app` outlive the call.
        let instance = unsafe { entry.create_instance(&info, None) }
            .map_err(|e| format!("preloading the driver: vkCreateInstance failed: {e}"))?;
        // SAFETY: a live instance; the calls below take only values it returned.
        let physical = unsafe { instance.enumerate_physical_devices() }
            .map_err(|e| format!("preloading the driver: no physical device: {e}"))?;
        if let Some(&physical) = physical.first() {
            let priorities = [1.0f32];
            let queues = [vk::DeviceQueueCreateInfo::default()
                .queue_family_index(0)
                .queue_priorities(&priorities)];
            let device_info = vk::DeviceCreateInfo::default().queue_create_infos(&queues);
            // SAFETY: a live physical device; `device_info` and what it points to outlive
            // the call; the device is destroyed before anything else uses it.
            unsafe {
                if let Ok(device) = instance.create_device(physical, &device_info, None) {
                    device.destroy_device(None);
                }
            }
        }
        // The instance keeps the driver loaded; it lives as long as the process.
        std::mem::forget(instance);
        Ok(())
    }
}
