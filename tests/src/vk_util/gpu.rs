//! The Gpu: instance, device, queues, and every object made from them, destroyed on every path.

use super::device::{open_device, Features, Opened, Wishes};
use super::extensions::{DynamicRendering, Synchronization2};
use super::owned::Owned;
use super::{check, version_text};
use ash::vk;
use std::cell::RefCell;
use std::ffi::CStr;
use std::time::Duration;

/// One device and everything made from it. Objects registered with [`Gpu::own`] are destroyed in reverse order
/// when it is dropped, unless a submission could not be waited for (then they are left for process exit, since
/// destroying objects the device may still use is worse than leaking them in a program that is failing anyway).
pub struct Gpu {
    pub instance: ash::Instance,
    pub physical_device: vk::PhysicalDevice,
    pub properties: vk::PhysicalDeviceProperties,
    pub memory_properties: vk::PhysicalDeviceMemoryProperties,
    /// The version both the program and the device speak: min(requested, device).
    pub api_version: u32,
    pub device: ash::Device,
    pub queue_family: u32,
    pub queue_family_properties: vk::QueueFamilyProperties,
    pub queues: Vec<vk::Queue>,
    pub enabled: Features,
    pub dynamic_rendering: Option<DynamicRendering>,
    pub synchronization2: Option<Synchronization2>,
    pub command_pool: vk::CommandPool,
    owned: RefCell<Vec<Owned>>,
    /// Fences of submissions not yet waited for.
    pub(super) pending: RefCell<Vec<vk::Fence>>,
    /// Kept last so that the loader library stays loaded until the instance is destroyed.
    _entry: ash::Entry,
}

impl Gpu {
    /// `application` is the program's name: it names the program in the watchdog's failure line too.
    pub fn new(application: &CStr, wishes: &Wishes) -> Result<Gpu, String> {
        super::watchdog::start(&application.to_string_lossy());
        // SAFETY: loads the system Vulkan loader; its entry points are called with valid arguments below.
        let entry = unsafe { ash::Entry::load() }
            .map_err(|e| format!("cannot load the Vulkan loader: {e}"))?;
        let app_info = vk::ApplicationInfo::default()
            .application_name(application)
            .api_version(wishes.api_version);
        let instance_info = vk::InstanceCreateInfo::default().application_info(&app_info);
        // SAFETY: the create info and what it points to live across the call.
        let instance = check("vkCreateInstance", unsafe {
            entry.create_instance(&instance_info, None)
        })?;
        match open_device(&instance, wishes) {
            Ok(opened) => Gpu::assemble(entry, instance, opened),
            Err(message) => {
                // SAFETY: nothing else was made from the instance.
                unsafe { instance.destroy_instance(None) };
                Err(message)
            }
        }
    }

    fn assemble(entry: ash::Entry, instance: ash::Instance, opened: Opened) -> Result<Gpu, String> {
        let Opened {
            physical_device,
            properties,
            api_version,
            device,
            queue_family,
            queue_family_properties,
            queue_count,
            enabled,
            dynamic_rendering_by_extension,
            synchronization2_by_extension,
        } = opened;
        let queues = (0..queue_count)
            // SAFETY: the device was created with `queue_count` queues in this family.
            .map(|index| unsafe { device.get_device_queue(queue_family, index) })
            .collect();
        let dynamic_rendering = enabled.dynamic_rendering.then(|| {
            if dynamic_rendering_by_extension {
                DynamicRendering::Khr(ash::khr::dynamic_rendering::Device::new(&instance, &device))
            } else {
                DynamicRendering::Core
            }
        });
        let synchronization2 = enabled.synchronization2.then(|| {
            if synchronization2_by_extension {
                Synchronization2::Khr(ash::khr::synchronization2::Device::new(&instance, &device))
            } else {
                Synchronization2::Core
            }
        });
        // SAFETY: valid physical device of this instance.
        let memory_properties =
            unsafe { instance.get_physical_device_memory_properties(physical_device) };
        let mut gpu = Gpu {
            instance,
            physical_device,
            properties,
            memory_properties,
            api_version,
            device,
            queue_family,
            queue_family_properties,
            queues,
            enabled,
            dynamic_rendering,
            synchronization2,
            command_pool: vk::CommandPool::null(),
            owned: RefCell::new(Vec::new()),
            pending: RefCell::new(Vec::new()),
            _entry: entry,
        };
        let pool_info = vk::CommandPoolCreateInfo::default().queue_family_index(queue_family);
        // SAFETY: valid device; the pool is destroyed with the other owned objects.
        gpu.command_pool = gpu.own(check("vkCreateCommandPool", unsafe {
            gpu.device.create_command_pool(&pool_info, None)
        })?);
        Ok(gpu)
    }

    /// Records `handle` for destruction when the Gpu is dropped, and hands it back.
    pub fn own<T: Into<Owned> + Copy>(&self, handle: T) -> T {
        self.owned.borrow_mut().push(handle.into());
        handle
    }

    pub fn device_name(&self) -> String {
        // SAFETY: the driver fills a NUL-terminated name.
        unsafe { CStr::from_ptr(self.properties.device_name.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// The device's own API version as `1.2`.
    pub fn device_version_text(&self) -> String {
        version_text(self.properties.api_version)
    }

    /// Queue `index`, or the last queue when the family has fewer.
    pub fn queue(&self, index: usize) -> vk::Queue {
        self.queues[index.min(self.queues.len() - 1)]
    }
}

impl Drop for Gpu {
    fn drop(&mut self) {
        let pending = self.pending.take();
        if !pending.is_empty() {
            // A short wait: on the success path every fence was already waited for; what is left here comes
            // from a failure, and a hung device must not hang the exit.
            // SAFETY: valid fences of this device.
            let idle = unsafe {
                self.device.wait_for_fences(
                    &pending,
                    true,
                    Duration::from_secs(2).as_nanos() as u64,
                )
            };
            if idle.is_err() {
                return;
            }
        }
        for owned in self.owned.take().into_iter().rev() {
            // SAFETY: every owned object was made from this device, and no submitted work is pending.
            unsafe { owned.destroy(&self.device) };
        }
        // SAFETY: every child object is destroyed; the instance outlives the device.
        unsafe {
            self.device.destroy_device(None);
            self.instance.destroy_instance(None);
        }
    }
}
