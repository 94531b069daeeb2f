//! Devices and queues: device creation refuses extensions the host does not offer and adds
//! what the host needs itself (VK_EXT_external_memory_host, to back host-visible memory with
//! shared memory) or the driver requires (VK_KHR_portability_subset), and every queue is bound
//! to the fence timeline the guest names with VkDeviceQueueTimelineInfoMESA — only queues the
//! device was created with.

use std::ffi::CStr;
use std::sync::Arc;

use ash::vk;
use ash::vk::Handle;
use venus_rs_encoder::host::types::Ext;
use venus_rs_encoder::host::{
    CreateDeviceArgs, DestroyDeviceArgs, GetDeviceQueue2Args, GetDeviceQueueArgs,
};

use super::availability::Availability;
use super::completion::CompletionTracker;
use super::generated::fns::DeviceFns;
use super::generated::object_types as ot;
use super::objects::{
    DeviceObject, Entry, Object, ObjectState, Owner, PhysicalDeviceObject, QueueState,
};
use super::physical_device::offered_device_extensions;
use super::translate::{lowered_ptr, required, unavailable, Dispatch, Keep};
use crate::executor::ContextFatal;
use crate::timelines::TIMELINE_COUNT;

/// Lets the host import its own shared memory as device memory (the SHM export path).
const EXTERNAL_MEMORY_HOST: &CStr = c"VK_EXT_external_memory_host";
/// A portability driver (MoltenVK) requires it enabled on every device it offers it on.
const PORTABILITY_SUBSET: &CStr = c"VK_KHR_portability_subset";

/// The host's page size: shared memory is mapped in whole pages.
fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

fn memory_types(physical: &PhysicalDeviceObject) -> Vec<u32> {
    // SAFETY: a live physical device.
    let properties = unsafe {
        physical
            .instance
            .ash
            .get_physical_device_memory_properties(vk::PhysicalDevice::from_raw(physical.raw))
    };
    properties
        .memory_types_as_slice()
        .iter()
        .map(|t| t.property_flags.as_raw())
        .collect()
}

fn host_pointer_alignment(physical: &PhysicalDeviceObject) -> u64 {
    let mut host = vk::PhysicalDeviceExternalMemoryHostPropertiesEXT::default();
    let mut properties = vk::PhysicalDeviceProperties2::default().push_next(&mut host);
    // SAFETY: a live physical device; `host` outlives the call.
    unsafe {
        physical.instance.ash.get_physical_device_properties2(
            vk::PhysicalDevice::from_raw(physical.raw),
            &mut properties,
        )
    };
    host.min_imported_host_pointer_alignment.max(page_size())
}

pub(crate) fn create_device(
    cx: &mut Dispatch<'_, '_>,
    a: &mut CreateDeviceArgs<'_>,
) -> Result<(), ContextFatal> {
    let id = *required(&a.p_device, "pDevice")?;
    let physical = cx.physical_device(a.physical_device)?;
    cx.objects().check_free(id, ot::DEVICE)?;
    let Ok(charge) = cx.shared.usage.devices.charge(1) else {
        // The devices cap (logged): vkCreateDevice's own error for it.
        a.ret = vk::Result::ERROR_TOO_MANY_OBJECTS.as_raw();
        return Ok(());
    };
    let create = physical
        .instance
        .fns
        .create_device
        .ok_or_else(|| unavailable("vkCreateDevice"))?;
    let mut info = *a
        .p_create_info
        .take()
        .ok_or_else(|| ContextFatal::new("pCreateInfo is NULL"))?;

    let offered = offered_device_extensions(&physical).unwrap_or_default();
    let mut extensions = info.pp_enabled_extension_names.take().unwrap_or_default();
    for name in &extensions {
        if !offered
            .iter()
            .any(|e| e.extension_name.split(|&b| b == 0).next() == Some(name.to_bytes()))
        {
            crate::log!(
                "vkCreateDevice: the guest asked for {name:?}, which this host does not offer"
            );
            a.ret = vk::Result::ERROR_EXTENSION_NOT_PRESENT.as_raw();
            return Ok(());
        }
    }
    // SAFETY: a live physical device.
    let driver_extensions = unsafe {
        physical
            .instance
            .ash
            .enumerate_device_extension_properties(vk::PhysicalDevice::from_raw(physical.raw))
    }
    .unwrap_or_default();
    let external_memory_host = driver_extensions
        .iter()
        .any(|e| e.extension_name_as_c_str() == Ok(EXTERNAL_MEMORY_HOST));
    if external_memory_host && !extensions.contains(&EXTERNAL_MEMORY_HOST) {
        extensions.push(EXTERNAL_MEMORY_HOST);
    }
    let portability = driver_extensions
        .iter()
        .any(|e| e.extension_name_as_c_str() == Ok(PORTABILITY_SUBSET));
    if portability && !extensions.contains(&PORTABILITY_SUBSET) {
        extensions.push(PORTABILITY_SUBSET);
    }
    // What the device's commands may be: the device's version (within the instance's) and the
    // extensions enabled on it or on its instance.
    // SAFETY: a live physical device.
    let device_api = unsafe {
        physical
            .instance
            .ash
            .get_physical_device_properties(vk::PhysicalDevice::from_raw(physical.raw))
    }
    .api_version;
    let available = Availability::new(
        device_api.min(physical.instance.api_version),
        extensions
            .iter()
            .copied()
            .chain(physical.instance.extensions.iter().map(|e| e.as_c_str())),
    );
    info.enabled_extension_count = extensions.len() as u32;
    info.pp_enabled_extension_names = Some(extensions);
    // Device layers are deprecated and never the guest's choice.
    info.enabled_layer_count = 0;
    info.pp_enabled_layer_names = None;
    let queue_families: Vec<(u32, u32, u32)> = info
        .p_queue_create_infos
        .iter()
        .flatten()
        .map(|q| (q.queue_family_index, q.queue_count, q.flags))
        .collect();

    let mut translator = cx.translator(
        Owner::Instance(&physical.instance),
        Keep::Collect(Vec::new()),
    );
    let mut lowered = translator.lower_one(Some(Box::new(info)))?;
    drop(translator.finish());
    let mut raw = 0u64;
    // SAFETY: a live physical device; the create info is a C image lowered for this call.
    let result = unsafe {
        create(
            physical.raw,
            lowered_ptr(&mut lowered),
            std::ptr::null(),
            std::ptr::from_mut(&mut raw).cast(),
        )
    };
    a.ret = result;
    if result != 0 {
        return Ok(());
    }
    let fns = DeviceFns::load(
        |name| {
            // SAFETY: a live device and a NUL-terminated name.
            unsafe {
                (physical.instance.ash.fp_v1_0().get_device_proc_addr)(
                    vk::Device::from_raw(raw),
                    name.as_ptr(),
                )
            }
        },
        |command_type| available.allows(command_type),
    );
    let completion = match CompletionTracker::new(raw, fns) {
        Ok(tracker) => tracker,
        Err(message) => {
            if let Some(destroy) = fns.destroy_device {
                // SAFETY: the device was just created and nothing uses it.
                unsafe { destroy(raw, std::ptr::null()) };
            }
            return Err(ContextFatal::new(message));
        }
    };
    let device = DeviceObject {
        raw,
        fns,
        memory_types: memory_types(&physical),
        host_pointer_alignment: host_pointer_alignment(&physical),
        external_memory_host,
        queue_families,
        completion,
        physical,
        lost: std::sync::atomic::AtomicBool::new(false),
        _charge: charge,
    };
    cx.objects().insert(id, Entry::Device(Arc::new(device)))
}

pub(crate) fn destroy_device(
    cx: &mut Dispatch<'_, '_>,
    a: &mut DestroyDeviceArgs,
) -> Result<(), ContextFatal> {
    let removed = cx.objects().remove_device(a.device)?;
    // The driver device goes once its last object and pending work are gone.
    drop(removed);
    Ok(())
}

pub(crate) fn get_device_queue(
    _cx: &mut Dispatch<'_, '_>,
    _a: &mut GetDeviceQueueArgs,
) -> Result<(), ContextFatal> {
    Err(ContextFatal::new(
        "queues are bound to a fence timeline through vkGetDeviceQueue2 with \
         VkDeviceQueueTimelineInfoMESA",
    ))
}

pub(crate) fn get_device_queue2(
    cx: &mut Dispatch<'_, '_>,
    a: &mut GetDeviceQueue2Args<'_>,
) -> Result<(), ContextFatal> {
    let id = *required(&a.p_queue, "pQueue")?;
    let device = cx.device(a.device)?;
    let get = device
        .fns
        .get_device_queue2
        .ok_or_else(|| unavailable("vkGetDeviceQueue2"))?;
    let mut info = *a
        .p_queue_info
        .take()
        .ok_or_else(|| ContextFatal::new("pQueueInfo is NULL"))?;
    let created = device.queue_families.iter().any(|&(family, count, flags)| {
        family == info.queue_family_index && info.queue_index < count && flags == info.flags
    });
    if !created {
        return Err(ContextFatal::new(format!(
            "the device was not created with queue {} of family {} (flags {:#x})",
            info.queue_index, info.queue_family_index, info.flags
        )));
    }
    let mut ring_idx = None;
    info.p_next.retain(|ext| match ext {
        Ext::DeviceQueueTimelineInfoMESA(timeline) => {
            ring_idx = Some(timeline.ring_idx);
            false
        }
        _ => true,
    });
    let ring_idx = ring_idx.ok_or_else(|| {
        ContextFatal::new("the queue has no VkDeviceQueueTimelineInfoMESA to bind it to a timeline")
    })?;
    if ring_idx == 0 || ring_idx >= TIMELINE_COUNT {
        return Err(ContextFatal::new(format!(
            "ring_idx {ring_idx} is not a queue timeline (1..{TIMELINE_COUNT})"
        )));
    }
    let mut translator = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let mut lowered = translator.lower_one(Some(Box::new(info)))?;
    drop(translator.finish());
    let mut raw = 0u64;
    // SAFETY: a live device; the queue was checked to be one the device was created with.
    unsafe {
        get(
            device.raw,
            lowered_ptr(&mut lowered),
            std::ptr::from_mut(&mut raw).cast(),
        )
    };
    let mut objects = cx.objects();
    if let Some(known) = objects.id_of(ot::QUEUE, raw) {
        if known != id {
            return Err(ContextFatal::new(format!(
                "the queue already has id {known}, not {id}"
            )));
        }
        return Ok(());
    }
    if objects.ring_idx_in_use(ring_idx) {
        return Err(ContextFatal::new(format!(
            "ring_idx {ring_idx} is already bound to another queue"
        )));
    }
    objects.insert(
        id,
        Entry::Object(Arc::new(Object::new(
            ot::QUEUE,
            raw,
            Arc::clone(&device),
            None,
            ObjectState::Queue(QueueState::new(ring_idx)),
            Vec::new(),
        ))),
    )
}
