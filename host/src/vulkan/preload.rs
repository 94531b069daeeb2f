//! Loading and initialising the driver before the process is confined (`crate::sandbox`):
//! the loader reads its manifests and opens the driver, the driver initialises its physical
//! devices (lavapipe starts LLVM) — all of which needs more of the system than running
//! commands does. An instance stays alive for the process's life so the driver stays loaded.
//!
//! No device is made here: making one needs nothing the filter forbids (the hostile tests
//! make devices under it), and it would cost every context — vulkaninfo's too — some 100 ms.

use ash::vk;

use super::VulkanDecoder;

impl VulkanDecoder {
    /// Loads the loader and the driver, enumerates the physical devices and keeps an
    /// instance; the process may be confined afterwards.
    pub fn preload(&self) -> Result<(), String> {
        let entry = self.entry()?;
        let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_1);
        let info = vk::InstanceCreateInfo::default().application_info(&app);
        // SAFETY: `info` and `app` outlive the call.
        let instance = unsafe { entry.create_instance(&info, None) }
            .map_err(|e| format!("preloading the driver: vkCreateInstance failed: {e}"))?;
        // SAFETY: a live instance.
        let physical = unsafe { instance.enumerate_physical_devices() }
            .map_err(|e| format!("preloading the driver: no physical device: {e}"))?;
        if physical.is_empty() {
            return Err("preloading the driver: it has no physical device".to_owned());
        }
        // Never destroyed (ash does not destroy on drop): the instance keeps the driver loaded
        // for as long as the process lives.
        let _ = instance;
        Ok(())
    }
}
