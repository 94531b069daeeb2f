//! Devices and queues: device creation adds what the host needs itself
//! (VK_EXT_external_memory_host, to back host-visible memory with shared memory), and every
//! queue is bound to the fence timeline the guest names with VkDeviceQueueTimelineInfoMESA.

use std::ffi::{c_char, CStr};
use std::sync::Arc;

use ash::vk;
use venus_rs_encoder::host::types::Ext;
use venus_rs_encoder::host::{CreateDeviceArgs, GetDeviceQueue2Args};

use super::completion::CompletionTracker;
use super::convert::{CChain, ToC};
use super::objects::{DeviceObject, Object, QueueObject};
use super::{required, ContextObjects};
use crate::executor::ContextFatal;
use crate::timelines::TIMELINE_COUNT;

/// Lets the host import its own shared memory as device memory (the SHM export path).
const EXTERNAL_MEMORY_HOST: &CStr = c"VK_EXT_external_memory_host";

pub(super) fn create_device(
    shared: &ContextObjects,
    args: &mut CreateDeviceArgs<'_>,
) -> Result<(), ContextFatal> {
    let id = *required(&args.p_device, "pDevice")?;
    let physical = {
        let objects = shared.objects();
        objects.check_free(id, "VkDevice")?;
        objects.physical_device(args.physical_device)?
    };
    let info = required(&args.p_create_info, "pCreateInfo")?;
    let mut chain = CChain::lower(&info.p_next)?;

    let queue_infos = info.p_queue_create_infos.as_deref().unwrap_or_default();
    let mut queue_chains = queue_infos
        .iter()
        .map(|queue| CChain::lower(&queue.p_next))
        .collect::<Result<Vec<_>, _>>()?;
    let c_queue_infos: Vec<vk::DeviceQueueCreateInfo> = queue_infos
        .iter()
        .zip(&mut queue_chains)
        .map(|(queue, chain)| {
            let priorities = queue.p_queue_priorities.as_deref().unwrap_or_default();
            let mut c = vk::DeviceQueueCreateInfo::default()
                .flags(vk::DeviceQueueCreateFlags::from_raw(queue.flags))
                .queue_family_index(queue.queue_family_index)
                .queue_priorities(priorities);
            c.p_next = chain.head();
            c
        })
        .collect();

    let instance = &physical.instance.instance;
    // SAFETY: a live physical device.
    let available = unsafe { instance.enumerate_device_extension_properties(physical.handle) }
        .unwrap_or_default();
    let has_extension = |name: &CStr| {
        available
            .iter()
            .any(|e| e.extension_name_as_c_str() == Ok(name))
    };
    let mut extensions: Vec<*const c_char> = info
        .pp_enabled_extension_names
        .iter()
        .flatten()
        .map(|name| name.as_ptr())
        .collect();
    let requested = |name: &CStr| {
        info.pp_enabled_extension_names
            .iter()
            .flatten()
            .any(|n| *n == name)
    };
    let external_memory_host = has_extension(EXTERNAL_MEMORY_HOST);
    if external_memory_host && !requested(EXTERNAL_MEMORY_HOST) {
        extensions.push(EXTERNAL_MEMORY_HOST.as_ptr());
    }

    let features = info.p_enabled_features.as_ref().map(|f| f.as_ref().to_c());
    let mut create_info = vk::DeviceCreateInfo::default()
        .flags(vk::DeviceCreateFlags::from_raw(info.flags))
        .queue_create_infos(&c_queue_infos)
        .enabled_extension_names(&extensions);
    if let Some(features) = features.as_ref() {
        create_info = create_info.enabled_features(features);
    }
    create_info.p_next = chain.head();

    // SAFETY: every pointer in `create_info` points into `info`, the chains or the vectors
    // above, which outlive the call.
    match unsafe { instance.create_device(physical.handle, &create_info, None) } {
        Ok(device) => {
            let completion = match CompletionTracker::new(&device) {
                Ok(tracker) => tracker,
                Err(message) => {
                    // SAFETY: the device was just created and nothing uses it.
                    unsafe { device.destroy_device(None) };
                    return Err(ContextFatal::new(message));
                }
            };
            shared.objects().insert(
                id,
                Object::Device(Arc::new(DeviceObject {
                    device,
                    instance: Arc::clone(&physical.instance),
                    physical_device: physical.handle,
                    external_memory_host,
                    completion,
                })),
            )?;
            args.ret = vk::Result::SUCCESS.as_raw();
        }
        Err(e) => args.ret = e.as_raw(),
    }
    Ok(())
}

pub(super) fn destroy_device(shared: &ContextObjects, device_id: u64) -> Result<(), ContextFatal> {
    let Some((device, handles)) = shared.objects().remove_device(device_id)? else {
        return Ok(());
    };
    for handle in &handles {
        super::dispatch::destroy_handle(handle);
    }
    release_device(&device);
    Ok(())
}

/// Destroys a device the guest can no longer name (its children are gone).
pub(super) fn release_device(device: &DeviceObject) {
    device.completion.shutdown();
    // SAFETY: nothing else uses the device: the guest cannot name it, its children are
    // destroyed and the completion thread has stopped.
    unsafe {
        let _ = device.device.device_wait_idle();
        device.device.destroy_device(None);
    }
}

pub(super) fn get_device_queue2(
    shared: &ContextObjects,
    args: &mut GetDeviceQueue2Args<'_>,
) -> Result<(), ContextFatal> {
    let id = *required(&args.p_queue, "pQueue")?;
    let device = shared.objects().device(args.device)?;
    let info = required(&args.p_queue_info, "pQueueInfo")?;
    let mut ring_idx = None;
    let mut rest = Vec::new();
    for ext in &info.p_next {
        match ext {
            Ext::DeviceQueueTimelineInfoMESA(timeline) => ring_idx = Some(timeline.ring_idx),
            other => rest.push(other.clone()),
        }
    }
    let ring_idx = ring_idx.ok_or_else(|| {
        ContextFatal::new("the queue has no VkDeviceQueueTimelineInfoMESA to bind it to a timeline")
    })?;
    if ring_idx == 0 || ring_idx >= TIMELINE_COUNT {
        return Err(ContextFatal::new(format!(
            "ring_idx {ring_idx} is not a queue timeline (1..{TIMELINE_COUNT})"
        )));
    }
    let mut chain = CChain::lower(&rest)?;
    let mut c_info = vk::DeviceQueueInfo2::default()
        .flags(vk::DeviceQueueCreateFlags::from_raw(info.flags))
        .queue_family_index(info.queue_family_index)
        .queue_index(info.queue_index);
    c_info.p_next = chain.head();
    // SAFETY: a live device; invalid family or index values are the guest's valid-usage
    // problem, which the validation layer reports.
    let handle = unsafe { device.device.get_device_queue2(&c_info) };
    let mut objects = shared.objects();
    if let Some(known) = objects.queue_id(handle) {
        if known != id {
            return Err(ContextFatal::new(format!(
                "the queue already has id {known}, not {id}"
            )));
        }
        return Ok(());
    }
    if objects.queue_ring_idx_in_use(ring_idx) {
        return Err(ContextFatal::new(format!(
            "ring_idx {ring_idx} is already bound to another queue"
        )));
    }
    objects.insert(
        id,
        Object::Queue(Arc::new(QueueObject {
            device,
            handle,
            ring_idx,
            submit_lock: std::sync::Mutex::new(()),
        })),
    )
}
