//! VkDevice: creation (extensions checked against what the physical device offers), the
//! device's guest-side state — its queues, mapped memory, command pools and descriptor update
//! templates — and destruction.

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ash::vk;
use ash::vk::Handle;

use crate::driver::command_buffer::CommandPools;
use crate::driver::descriptor::Templates;
use crate::driver::entry::extension_number;
use crate::driver::generated::calls;
use crate::driver::handles::Dispatchable;
use crate::driver::host::Host;
use crate::driver::memory::Memories;
use crate::driver::physical_device::physical_device;
use crate::driver::queue::{Queue, QueueHandle};
use crate::driver::runtime::{guard_result, guard_void};
use crate::driver::swapchain::DeviceWsi;
use crate::log::Level;
use crate::venus_log;

/// Enabled on the host's device whenever the host offers it (a portability host requires it).
const PORTABILITY_SUBSET: &CStr = c"VK_KHR_portability_subset";

/// (create flags, family, index) of a queue.
pub(crate) type QueueKey = (u32, u32, u32);

pub struct Device {
    host: Arc<Host>,
    physical_device: vk::PhysicalDevice,
    api_version: u32,
    /// vk.xml numbers of the enabled extensions (what vkGetDeviceProcAddr may return).
    enabled_extensions: Vec<u32>,
    /// The queues the device was created with, made on first vkGetDeviceQueue*.
    queues: Mutex<HashMap<QueueKey, Box<QueueHandle>>>,
    /// (flags, family, count) of each queue create info.
    queue_families: Vec<(u32, u32, u32)>,
    pub(crate) memories: Memories,
    pub(crate) command_pools: CommandPools,
    pub(crate) templates: Templates,
    /// Presentation, made on the first swapchain.
    pub(crate) wsi: DeviceWsi,
}

pub type DeviceHandle = Dispatchable<Device>;

/// # Safety
/// `handle` must be a VkDevice of this ICD.
pub(crate) unsafe fn device<'a>(handle: vk::Device) -> &'a DeviceHandle {
    // SAFETY: per the caller, a live device of this ICD.
    unsafe { Dispatchable::from_handle(handle.as_raw()) }.expect("a VkDevice of this ICD")
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the map as consistent as any failed call does.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Device {
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    pub fn api_version(&self) -> u32 {
        self.api_version
    }

    pub fn enabled_extensions(&self) -> &[u32] {
        &self.enabled_extensions
    }

    pub fn physical_device(&self) -> vk::PhysicalDevice {
        self.physical_device
    }

    /// Every queue made so far.
    pub(crate) fn queues(&self) -> Vec<vk::Queue> {
        lock(&self.queues)
            .values()
            .map(|queue| vk::Queue::from_raw(queue.handle()))
            .collect()
    }
}

pub(crate) unsafe extern "system" fn create_device(
    physical_handle: vk::PhysicalDevice,
    p_create_info: *const vk::DeviceCreateInfo<'_>,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
    p_device: *mut vk::Device,
) -> vk::Result {
    guard_result("vkCreateDevice", || {
        // SAFETY: a VkPhysicalDevice of this ICD and a valid create info, per valid usage.
        let (physical, create_info) =
            unsafe { (physical_device(physical_handle), &*p_create_info) };
        let mut enabled_extensions = Vec::new();
        for index in 0..create_info.enabled_extension_count as usize {
            // SAFETY: the array holds enabled_extension_count NUL-terminated names.
            let name =
                unsafe { CStr::from_ptr(*create_info.pp_enabled_extension_names.add(index)) };
            if !physical.object.supports_extension(name) {
                venus_log!(
                    Level::Info,
                    "vkCreateDevice: extension {name:?} is not offered"
                );
                return Err(vk::Result::ERROR_EXTENSION_NOT_PRESENT);
            }
            enabled_extensions.extend(extension_number(name));
        }
        let queue_families = (0..create_info.queue_create_info_count as usize)
            .map(|index| {
                // SAFETY: the array holds queueCreateInfoCount structs.
                let info = unsafe { &*create_info.p_queue_create_infos.add(index) };
                (
                    info.flags.as_raw(),
                    info.queue_family_index,
                    info.queue_count,
                )
            })
            .collect();
        let host = Arc::clone(physical.object.host());
        let device = Dispatchable::new(Device {
            host: Arc::clone(&host),
            physical_device: vk::PhysicalDevice::from_raw(physical.handle()),
            api_version: physical.object.api_version(),
            enabled_extensions,
            queues: Mutex::new(HashMap::new()),
            queue_families,
            memories: Memories::default(),
            command_pools: CommandPools::default(),
            templates: Templates::default(),
            wsi: DeviceWsi::default(),
        });
        // The layers of the application mean nothing to the host; of its extensions, those this
        // ICD implements itself (presentation, tooling info, DRM and PCI identity) go to the host
        // only where the host has them (there the presentation ones make the present layout
        // valid).
        let mut host_extensions: Vec<*const std::ffi::c_char> =
            (0..create_info.enabled_extension_count as usize)
                // SAFETY: the array holds enabledExtensionCount names, checked above.
                .map(|index| unsafe { *create_info.pp_enabled_extension_names.add(index) })
                .filter(|&name| {
                    // SAFETY: NUL-terminated, as above.
                    let name = unsafe { CStr::from_ptr(name) };
                    physical.object.host_has_extension(name)
                })
                .collect();
        // A portability host requires VK_KHR_portability_subset on every device it offers it on;
        // applications written for full Vulkan do not enable it, so the host's device gets it
        // from this ICD (the application sees the extension and its limits either way).
        if physical.object.host_has_extension(PORTABILITY_SUBSET)
            // SAFETY: every pointer is a NUL-terminated name, as above.
            && !host_extensions.iter().any(|&name| unsafe { CStr::from_ptr(name) } == PORTABILITY_SUBSET)
        {
            host_extensions.push(PORTABILITY_SUBSET.as_ptr());
        }
        #[allow(deprecated)]
        let host_info = vk::DeviceCreateInfo {
            enabled_layer_count: 0,
            pp_enabled_layer_names: std::ptr::null(),
            enabled_extension_count: host_extensions.len() as u32,
            pp_enabled_extension_names: host_extensions.as_ptr(),
            ..*create_info
        };
        let mut handle = vk::Device::from_raw(device.handle());
        // SAFETY: the create info is the application's (its layers removed); `handle` holds the
        // new device's handle, whose id the host adopts.
        let result = unsafe {
            calls::call_create_device(
                &host,
                physical_handle,
                &host_info,
                std::ptr::null(),
                &mut handle,
            )
        }?;
        if result != vk::Result::SUCCESS {
            venus_log!(Level::Info, "vkCreateDevice on the host: {result}");
            return Ok(result);
        }
        venus_log!(Level::Info, "device {} created", device.id());
        // SAFETY: a valid output pointer per valid usage.
        unsafe { *p_device = vk::Device::from_raw(Box::into_raw(device) as u64) };
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn destroy_device(
    handle: vk::Device,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
) {
    guard_void("vkDestroyDevice", || {
        if handle.is_null() {
            return Ok(());
        }
        // SAFETY: the application hands the device back; no other call uses it any more.
        let device = unsafe { Box::from_raw(handle.as_raw() as *mut DeviceHandle) };
        device.object.memories.unmap_all(&device.object.host);
        for queue in lock(&device.object.queues).values() {
            queue.object.destroy_own_objects()?;
        }
        // SAFETY: the device's own handle; the host destroys everything it still has of it.
        unsafe { calls::send_destroy_device(&device.object.host, handle, std::ptr::null()) }
    })
}

impl DeviceHandle {
    /// The queue for `info`, created on the host on first use, bound to a fence timeline of
    /// its own. Only queues the device was created with exist.
    fn queue(&self, info: &vk::DeviceQueueInfo2<'_>) -> Result<u64, vk::Result> {
        let key = (
            info.flags.as_raw(),
            info.queue_family_index,
            info.queue_index,
        );
        let created = self
            .object
            .queue_families
            .iter()
            .any(|&(flags, family, count)| flags == key.0 && family == key.1 && key.2 < count);
        if !created {
            venus_log!(
                Level::Error,
                "vkGetDeviceQueue: the device has no queue {} in family {}",
                key.2,
                key.1
            );
            return Err(vk::Result::ERROR_UNKNOWN);
        }
        let mut queues = lock(&self.object.queues);
        if let Some(queue) = queues.get(&key) {
            return Ok(queue.handle());
        }
        let queue = Queue::create(&self.object.host, vk::Device::from_raw(self.handle()), info)?;
        let handle = queue.handle();
        queues.insert(key, queue);
        Ok(handle)
    }
}

pub(crate) unsafe extern "system" fn get_device_queue2(
    handle: vk::Device,
    p_queue_info: *const vk::DeviceQueueInfo2<'_>,
    p_queue: *mut vk::Queue,
) {
    guard_void("vkGetDeviceQueue2", || {
        // SAFETY: a VkDevice of this ICD and a valid queue info per valid usage.
        let (device, info) = unsafe { (device(handle), &*p_queue_info) };
        let queue = device.queue(info);
        // SAFETY: a valid output pointer per valid usage.
        unsafe { *p_queue = vk::Queue::from_raw(*queue.as_ref().unwrap_or(&0)) };
        queue.map(drop)
    })
}

pub(crate) unsafe extern "system" fn get_device_queue(
    handle: vk::Device,
    queue_family_index: u32,
    queue_index: u32,
    p_queue: *mut vk::Queue,
) {
    let info = vk::DeviceQueueInfo2 {
        queue_family_index,
        queue_index,
        ..Default::default()
    };
    // SAFETY: forwarded from the application's valid arguments.
    unsafe { get_device_queue2(handle, &info, p_queue) };
}
