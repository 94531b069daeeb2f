//! What the WSI needs from the driver below it: Vulkan function tables and one way to reach a queue
//! outside vkQueuePresentKHR.

use ash::vk;
use std::sync::Mutex;

/// Submits to a queue of the device on behalf of vkAcquireNextImageKHR, which has no queue of its own
/// but must signal the application's semaphore and fence ("an empty submission").
///
/// Queues are externally synchronized: the implementation must keep the application (and other
/// threads of the driver) from submitting to the same `VkQueue` at the same time.
pub trait QueueAccess: Send + Sync {
    /// Runs `work` with a queue of the device that nobody else uses meanwhile.
    fn with_queue(
        &self,
        work: &mut dyn FnMut(vk::Queue) -> Result<(), vk::Result>,
    ) -> Result<(), vk::Result>;
}

/// A [`QueueAccess`] for one queue that this WSI alone submits to outside of presents, or whose other
/// users take the same lock.
pub struct LockedQueue {
    queue: Mutex<vk::Queue>,
}

impl LockedQueue {
    pub fn new(queue: vk::Queue) -> LockedQueue {
        LockedQueue {
            queue: Mutex::new(queue),
        }
    }
}

impl QueueAccess for LockedQueue {
    fn with_queue(
        &self,
        work: &mut dyn FnMut(vk::Queue) -> Result<(), vk::Result>,
    ) -> Result<(), vk::Result> {
        // A poisoned lock only means another thread panicked while holding a Copy handle.
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        work(*queue)
    }
}

/// One logical device as the WSI sees it. The tables are plain Vulkan: in the ICD they come from the
/// ICD's own `vkGet{Instance,Device}ProcAddr`; in the native tests, from lavapipe.
pub struct WsiDevice {
    pub instance: ash::Instance,
    pub device: ash::Device,
    pub physical_device: vk::PhysicalDevice,
    pub memory_properties: vk::PhysicalDeviceMemoryProperties,
    pub acquire_queue: Box<dyn QueueAccess>,
}

impl WsiDevice {
    /// `device` must have been created from `physical_device` with `VK_KHR_swapchain` enabled (the
    /// application's images are in `VK_IMAGE_LAYOUT_PRESENT_SRC_KHR` when presented).
    pub fn new(
        instance: ash::Instance,
        device: ash::Device,
        physical_device: vk::PhysicalDevice,
        acquire_queue: Box<dyn QueueAccess>,
    ) -> WsiDevice {
        // SAFETY: a physical device of `instance`, per the caller.
        let memory_properties =
            unsafe { instance.get_physical_device_memory_properties(physical_device) };
        WsiDevice {
            instance,
            device,
            physical_device,
            memory_properties,
            acquire_queue,
        }
    }
}
