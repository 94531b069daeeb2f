//! VkDevice and VkQueue, the minimum: creation, queues bound to their own fence timeline (ring index),
//! and the idle waits.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, Mutex};

use ash::vk;
use ash::vk::Handle;

use crate::driver::handles::{next_object_id, Dispatchable};
use crate::driver::host::Host;
use crate::driver::host::{host_call, host_send};
use crate::driver::physical_device::physical_device;
use crate::log::Level;
use crate::venus_log;

/// `VK_STRUCTURE_TYPE_DEVICE_QUEUE_TIMELINE_INFO_MESA`.
const DEVICE_QUEUE_TIMELINE_INFO_STYPE: i32 = 1_000_384_005;
/// Ring 0 is the CPU timeline; the context has 64 (the bring-up's CONTEXT_INIT).
const FIRST_QUEUE_RING: u32 = 1;
const RING_COUNT: u32 = 64;

/// `VkDeviceQueueTimelineInfoMESA` in its C layout (a Venus protocol struct, not in ash).
#[repr(C)]
struct DeviceQueueTimelineInfo {
    s_type: i32,
    p_next: *const c_void,
    ring_idx: u32,
}

pub struct Queue {
    host: Arc<Host>,
    ring_idx: u32,
}

type QueueKey = (u32, u32, u32);

pub struct Device {
    host: Arc<Host>,
    queues: Mutex<HashMap<QueueKey, Box<Dispatchable<Queue>>>>,
    /// Ring indices of the whole process's queues: they are one context's timelines.
    next_ring: Mutex<u32>,
}

pub type DeviceHandle = Dispatchable<Device>;

/// # Safety
/// `handle` must be a VkDevice of this ICD.
unsafe fn device<'a>(handle: vk::Device) -> &'a DeviceHandle {
    // SAFETY: per the caller, a live device of this ICD.
    unsafe { Dispatchable::from_handle(handle.as_raw()) }.expect("a VkDevice of this ICD")
}

pub unsafe extern "system" fn create_device(
    physical_handle: vk::PhysicalDevice,
    p_create_info: *const vk::DeviceCreateInfo<'_>,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
    p_device: *mut vk::Device,
) -> vk::Result {
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let physical = unsafe { physical_device(physical_handle) };
    // SAFETY: a valid create info per valid usage.
    let create_info = unsafe { &*p_create_info };
    for index in 0..create_info.enabled_extension_count as usize {
        // SAFETY: the array holds enabled_extension_count NUL-terminated names.
        let name =
            unsafe { std::ffi::CStr::from_ptr(*create_info.pp_enabled_extension_names.add(index)) };
        if !physical.object.supports_extension(name) {
            venus_log!(
                Level::Info,
                "vkCreateDevice: extension {name:?} is not offered"
            );
            return vk::Result::ERROR_EXTENSION_NOT_PRESENT;
        }
    }
    let host = Arc::clone(physical.object.host());
    let device = Dispatchable::new(Device {
        host: Arc::clone(&host),
        queues: Mutex::new(HashMap::new()),
        next_ring: Mutex::new(FIRST_QUEUE_RING),
    });
    let mut handle_slot = device.handle();
    let slot_ptr: *mut c_void = std::ptr::addr_of_mut!(handle_slot).cast();
    // The layers and the application's layer list mean nothing to the host.
    #[allow(deprecated)]
    let host_info = vk::DeviceCreateInfo {
        enabled_layer_count: 0,
        pp_enabled_layer_names: std::ptr::null(),
        ..*create_info
    };
    let info_ptr: *const c_void = std::ptr::addr_of!(host_info).cast();
    let result = match host_call!(
        &host,
        "vkCreateDevice",
        vk_create_device,
        vk_create_device_size,
        vk_create_device_reply_size,
        vk_create_device_decode_reply,
        (physical.handle(), info_ptr, std::ptr::null(), slot_ptr)
    ) {
        Ok(result) => vk::Result::from_raw(result),
        Err(result) => result,
    };
    if result != vk::Result::SUCCESS {
        venus_log!(Level::Info, "vkCreateDevice on the host: {result}");
        return result;
    }
    venus_log!(Level::Info, "device {} created", device.id());
    // SAFETY: a valid output pointer per valid usage.
    unsafe { *p_device = vk::Device::from_raw(Box::into_raw(device) as u64) };
    vk::Result::SUCCESS
}

pub unsafe extern "system" fn destroy_device(
    handle: vk::Device,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
) {
    if handle.is_null() {
        return;
    }
    // SAFETY: the application hands the device back; no other call uses it any more.
    let device = unsafe { Box::from_raw(handle.as_raw() as *mut DeviceHandle) };
    let _ = host_send!(
        &device.object.host,
        "vkDestroyDevice",
        vk_destroy_device,
        vk_destroy_device_size,
        (device.handle(), std::ptr::null())
    );
}

impl DeviceHandle {
    /// The queue for `info`, created on the host on first use with a ring index of its own.
    fn queue(&self, info: &vk::DeviceQueueInfo2<'_>) -> Result<u64, vk::Result> {
        let key = (
            info.flags.as_raw(),
            info.queue_family_index,
            info.queue_index,
        );
        let mut queues = self
            .object
            .queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(queue) = queues.get(&key) {
            return Ok(queue.handle());
        }
        let ring_idx = {
            let mut next = self
                .object
                .next_ring
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if *next >= RING_COUNT {
                venus_log!(
                    Level::Error,
                    "no fence timeline left for another queue (all {RING_COUNT} are in use)"
                );
                return Err(vk::Result::ERROR_INITIALIZATION_FAILED);
            }
            *next += 1;
            *next - 1
        };
        let queue = Dispatchable::new(Queue {
            host: Arc::clone(&self.object.host),
            ring_idx,
        });
        let timeline = DeviceQueueTimelineInfo {
            s_type: DEVICE_QUEUE_TIMELINE_INFO_STYPE,
            p_next: info.p_next,
            ring_idx,
        };
        let host_info = vk::DeviceQueueInfo2 {
            p_next: std::ptr::addr_of!(timeline).cast(),
            ..*info
        };
        let info_ptr: *const c_void = std::ptr::addr_of!(host_info).cast();
        let mut handle_slot = queue.handle();
        let slot_ptr: *mut c_void = std::ptr::addr_of_mut!(handle_slot).cast();
        host_call!(
            &self.object.host,
            "vkGetDeviceQueue2",
            vk_get_device_queue2,
            vk_get_device_queue2_size,
            vk_get_device_queue2_reply_size,
            vk_get_device_queue2_decode_reply,
            (self.handle(), info_ptr, slot_ptr)
        )?;
        venus_log!(
            Level::Debug,
            "queue family {} index {} bound to ring {}",
            info.queue_family_index,
            info.queue_index,
            queue.object.ring_idx
        );
        let handle = queue.handle();
        queues.insert(key, queue);
        Ok(handle)
    }
}

pub unsafe extern "system" fn get_device_queue2(
    handle: vk::Device,
    p_queue_info: *const vk::DeviceQueueInfo2<'_>,
    p_queue: *mut vk::Queue,
) {
    // SAFETY: a VkDevice of this ICD and a valid queue info per valid usage.
    let (device, info) = unsafe { (device(handle), &*p_queue_info) };
    let queue = device.queue(info).unwrap_or(0);
    // SAFETY: a valid output pointer per valid usage.
    unsafe { *p_queue = vk::Queue::from_raw(queue) };
}

pub unsafe extern "system" fn get_device_queue(
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

/// The host refuses vkDeviceWaitIdle (a blocking call), so the device is idle once each of its
/// queues is.
pub unsafe extern "system" fn device_wait_idle(handle: vk::Device) -> vk::Result {
    // SAFETY: a VkDevice of this ICD per valid usage.
    let device = unsafe { device(handle) };
    let rings: Vec<u32> = device
        .object
        .queues
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .values()
        .map(|queue| queue.object.ring_idx)
        .collect();
    for ring_idx in rings {
        if let Err(result) = device
            .object
            .host
            .wait_queue_idle("vkDeviceWaitIdle", ring_idx)
        {
            return result;
        }
    }
    vk::Result::SUCCESS
}

/// The host refuses vkQueueWaitIdle (a blocking call): a fence on the queue's timeline stands in.
pub unsafe extern "system" fn queue_wait_idle(handle: vk::Queue) -> vk::Result {
    // SAFETY: a VkQueue of this ICD per valid usage.
    let queue = unsafe { Dispatchable::<Queue>::from_handle(handle.as_raw()) }
        .expect("a VkQueue of this ICD");
    match queue
        .object
        .host
        .wait_queue_idle("vkQueueWaitIdle", queue.object.ring_idx)
    {
        Ok(()) => vk::Result::SUCCESS,
        Err(result) => result,
    }
}

/// Images, as far as `vulkaninfo` needs them: it creates one image per format to list which memory
/// types can hold it. The handle of a non-dispatchable object is its id.
pub unsafe extern "system" fn create_image(
    handle: vk::Device,
    p_create_info: *const vk::ImageCreateInfo<'_>,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
    p_image: *mut vk::Image,
) -> vk::Result {
    // SAFETY: a VkDevice of this ICD per valid usage.
    let device = unsafe { device(handle) };
    let mut image = next_object_id();
    let image_ptr: *mut c_void = std::ptr::addr_of_mut!(image).cast();
    let result = match host_call!(
        &device.object.host,
        "vkCreateImage",
        vk_create_image,
        vk_create_image_size,
        vk_create_image_reply_size,
        vk_create_image_decode_reply,
        (
            device.handle(),
            p_create_info.cast(),
            std::ptr::null(),
            image_ptr
        )
    ) {
        Ok(result) => vk::Result::from_raw(result),
        Err(result) => result,
    };
    if result == vk::Result::SUCCESS {
        // SAFETY: a valid output pointer per valid usage.
        unsafe { *p_image = vk::Image::from_raw(image) };
    }
    result
}

pub unsafe extern "system" fn destroy_image(
    handle: vk::Device,
    image: vk::Image,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
) {
    if image.is_null() {
        return;
    }
    // SAFETY: a VkDevice of this ICD per valid usage.
    let device = unsafe { device(handle) };
    let _ = host_send!(
        &device.object.host,
        "vkDestroyImage",
        vk_destroy_image,
        vk_destroy_image_size,
        (device.handle(), image.as_raw(), std::ptr::null())
    );
}

pub unsafe extern "system" fn get_image_memory_requirements(
    handle: vk::Device,
    image: vk::Image,
    p_requirements: *mut vk::MemoryRequirements,
) {
    // SAFETY: a VkDevice of this ICD per valid usage.
    let device = unsafe { device(handle) };
    let _ = host_call!(
        &device.object.host,
        "vkGetImageMemoryRequirements",
        vk_get_image_memory_requirements,
        vk_get_image_memory_requirements_size,
        vk_get_image_memory_requirements_reply_size,
        vk_get_image_memory_requirements_decode_reply,
        (device.handle(), image.as_raw(), p_requirements.cast())
    );
}

pub unsafe extern "system" fn get_image_memory_requirements2(
    handle: vk::Device,
    p_info: *const vk::ImageMemoryRequirementsInfo2<'_>,
    p_requirements: *mut vk::MemoryRequirements2<'_>,
) {
    // SAFETY: a VkDevice of this ICD per valid usage.
    let device = unsafe { device(handle) };
    let _ = host_call!(
        &device.object.host,
        "vkGetImageMemoryRequirements2",
        vk_get_image_memory_requirements2,
        vk_get_image_memory_requirements2_size,
        vk_get_image_memory_requirements2_reply_size,
        vk_get_image_memory_requirements2_decode_reply,
        (device.handle(), p_info.cast(), p_requirements.cast())
    );
}
