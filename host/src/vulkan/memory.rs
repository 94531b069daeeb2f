//! Device memory. Host-visible memory is allocated as page-aligned host shared memory (a
//! memfd) and imported into the driver with VK_EXT_external_memory_host, so that the blob the
//! guest maps is that memfd: mapping works on hosts without dma-buf or udmabuf (and on macOS,
//! where the same idea uses an shm file). Each allocation logs the path it took. Memory stays
//! alive while a buffer or image bound to it does.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use ash::vk;
use venus_rs_encoder::host::types::{self, Ext};
use venus_rs_encoder::host::{
    AllocateMemoryArgs, BindBufferMemory2Args, BindBufferMemoryArgs, BindImageMemory2Args,
    BindImageMemoryArgs, CreateBufferArgs, CreateImageArgs, FlushMappedMemoryRangesArgs,
    GetMemoryResourcePropertiesMESAArgs, InvalidateMappedMemoryRangesArgs, UnmapMemory2Args,
    UnmapMemoryArgs,
};

use super::context_objects::ContextObjects;
use super::generated::object_types as ot;
use super::objects::{DeviceObject, Object, ObjectState, Owner};
use super::translate::{lowered_ptr, unavailable, Dispatch, Keep};
use crate::executor::ContextFatal;
use crate::shm_file::ShmFile;
use venus_rs_shmem::SharedMemory;

const HOST_VISIBLE: u32 = vk::MemoryPropertyFlags::HOST_VISIBLE.as_raw();
const HOST_COHERENT: u32 = vk::MemoryPropertyFlags::HOST_COHERENT.as_raw();

/// Offset of `pNext` in every Vulkan struct.
const P_NEXT_OFFSET: usize = 8;

fn memory_type_flags(device: &DeviceObject, index: u32) -> Result<u32, ContextFatal> {
    device
        .memory_types
        .get(index as usize)
        .copied()
        .ok_or_else(|| ContextFatal::new(format!("memoryTypeIndex {index} does not exist")))
}

pub(crate) fn allocate_memory(
    cx: &mut Dispatch<'_, '_>,
    a: &mut AllocateMemoryArgs<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let allocate = device
        .fns
        .allocate_memory
        .ok_or_else(|| unavailable("vkAllocateMemory"))?;
    let mut info = *a
        .p_allocate_info
        .take()
        .ok_or_else(|| ContextFatal::new("pAllocateInfo is NULL"))?;
    let flags = memory_type_flags(&device, info.memory_type_index)?;
    let resource_id = info.p_next.iter().find_map(|ext| match ext {
        Ext::ImportMemoryResourceInfoMESA(import) => Some(import.resource_id),
        _ => None,
    });
    let requested_size = info.allocation_size;
    let Ok(charge) = cx.shared.usage.device_memory.charge(requested_size) else {
        // The device memory cap (logged): what vkAllocateMemory returns when memory runs out.
        a.ret = vk::Result::ERROR_OUT_OF_DEVICE_MEMORY.as_raw();
        return Ok(());
    };
    let backing = match resource_id {
        Some(resource_id) => match imported_resource(cx, &device, flags, &mut info, resource_id) {
            Ok(backing) => Some(backing),
            Err(result) => {
                a.ret = result.as_raw();
                return Ok(());
            }
        },
        None if flags & HOST_VISIBLE != 0 && device.external_memory_host => {
            let size = info
                .allocation_size
                .max(1)
                .checked_next_multiple_of(device.host_pointer_alignment)
                .ok_or_else(|| ContextFatal::new("allocationSize overflows"))?;
            match ShmFile::create_zeroed("venus-rs-device-memory", size) {
                Ok(memory) => {
                    info.allocation_size = size;
                    Some(Backing::Allocated(Arc::new(memory)))
                }
                Err(e) => {
                    crate::log!(
                        "device memory: creating {size} bytes of shared memory failed: {e}"
                    );
                    a.ret = vk::Result::ERROR_OUT_OF_HOST_MEMORY.as_raw();
                    return Ok(());
                }
            }
        }
        None => None,
    };
    if backing.is_some() {
        // The memory is a host pointer import: the driver's own export handles, dedicated
        // allocations and the guest's resource import cannot be combined with it.
        info.p_next.retain(|ext| {
            !matches!(
                ext,
                Ext::ExportMemoryAllocateInfo(_)
                    | Ext::MemoryDedicatedAllocateInfo(_)
                    | Ext::ImportMemoryResourceInfoMESA(_)
            )
        });
    }

    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let id = t.new_id(a.p_memory, ot::DEVICE_MEMORY)?;
    let mut lowered = t.lower_one(Some(Box::new(info)))?;
    let kept = t.finish();
    let info_ptr = lowered_ptr(&mut lowered);
    let mut import = vk::ImportMemoryHostPointerInfoEXT::default()
        .handle_type(vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT);
    if let Some(backing) = &backing {
        import.p_host_pointer = backing.host_pointer().cast();
        // SAFETY: `info_ptr` is the C image of a VkMemoryAllocateInfo (sType, then pNext at
        // offset 8); the import struct is put at the head of its chain and outlives the call.
        unsafe {
            let next = info_ptr
                .cast::<u8>()
                .add(P_NEXT_OFFSET)
                .cast::<*mut std::ffi::c_void>();
            import.p_next = next.read_unaligned();
            next.write_unaligned(std::ptr::from_mut(&mut import).cast());
        }
    }
    let mut raw = 0u64;
    // SAFETY: a live device; the allocate info (and the host pointer it imports, which the
    // memory object keeps mapped as long as it lives) outlives the call.
    let result = unsafe {
        allocate(
            device.raw,
            info_ptr,
            std::ptr::null(),
            std::ptr::from_mut(&mut raw).cast(),
        )
    };
    a.ret = result;
    if result != 0 {
        return Ok(());
    }
    let state = match backing {
        Some(Backing::Allocated(memory)) => {
            crate::log!(
                "device memory {id}: {requested_size} bytes as host shared memory ({}-byte memfd \
                 imported with VK_EXT_external_memory_host; the blob is SHM)",
                memory.size()
            );
            ObjectState::SharedMemory(memory)
        }
        Some(Backing::Resource(memory)) => {
            crate::log!(
                "device memory {id}: {requested_size} bytes imported from guest resource {} \
                 (VkImportMemoryResourceInfoMESA, as a host pointer)",
                resource_id.unwrap_or_default()
            );
            ObjectState::ImportedResource { _mapping: memory }
        }
        None => {
            if flags & HOST_VISIBLE != 0 {
                crate::log!(
                    "device memory {id}: {requested_size} bytes of driver memory (no \
                     VK_EXT_external_memory_host: the guest cannot map it)"
                );
            }
            ObjectState::Plain
        }
    };
    let object = Object::new(
        ot::DEVICE_MEMORY,
        raw,
        Arc::clone(&device),
        None,
        state,
        kept,
    );
    object.add_charge(charge);
    cx.insert_object(id, object)
}

/// The shared memory a new VkDeviceMemory imports as a host pointer.
enum Backing {
    /// A memfd made for it, which the guest maps through a blob of the memory.
    Allocated(Arc<ShmFile>),
    /// The mapping of a guest resource (VkImportMemoryResourceInfoMESA).
    Resource(SharedMemory),
}

impl Backing {
    fn host_pointer(&self) -> *mut u8 {
        match self {
            Self::Allocated(memory) => memory.host_pointer(),
            Self::Resource(memory) => memory.as_mut_ptr(),
        }
    }
}

/// The guest's resource `resource_id` as the backing of a host-visible allocation: an SHM
/// resource of the context, at least as large as the allocation rounded to the driver's import
/// alignment. Anything else is the error Vulkan gives for a handle that cannot be imported.
fn imported_resource(
    cx: &mut Dispatch<'_, '_>,
    device: &DeviceObject,
    flags: u32,
    info: &mut types::MemoryAllocateInfo<'_>,
    resource_id: u32,
) -> Result<Backing, vk::Result> {
    let refuse = |why: String| {
        crate::log!("VkImportMemoryResourceInfoMESA of resource {resource_id}: {why}");
        Err(vk::Result::ERROR_INVALID_EXTERNAL_HANDLE)
    };
    if !device.external_memory_host || flags & HOST_VISIBLE == 0 {
        return refuse(format!(
            "memory type {} is not host-visible memory this device can import host pointers into",
            info.memory_type_index
        ));
    }
    let Ok(memory) = cx.transport.shm_resource(resource_id) else {
        return refuse("no shared-memory resource has that id in this context".to_string());
    };
    let Some(size) = info
        .allocation_size
        .max(1)
        .checked_next_multiple_of(device.host_pointer_alignment)
        .filter(|&size| size <= memory.size())
    else {
        return refuse(format!(
            "{} bytes rounded to the {}-byte import alignment exceed the {}-byte resource",
            info.allocation_size,
            device.host_pointer_alignment,
            memory.size()
        ));
    };
    info.allocation_size = size;
    Ok(Backing::Resource(memory))
}

/// The fd of device memory `memory_id` for a blob of `size` bytes: only memory the host
/// allocated as shared memory can be mapped by the guest.
pub(crate) fn export(
    shared: &ContextObjects,
    memory_id: u64,
    size: u64,
) -> Result<OwnedFd, String> {
    let memory = shared
        .objects()
        .object(memory_id, ot::DEVICE_MEMORY)
        .map_err(|e| e.to_string())?;
    let ObjectState::SharedMemory(backing) = &memory.state else {
        return Err(format!(
            "device memory {memory_id} is not host shared memory, so it cannot be mapped"
        ));
    };
    if size > backing.size() {
        return Err(format!(
            "a {size}-byte blob does not fit the {}-byte device memory {memory_id}",
            backing.size()
        ));
    }
    backing
        .duplicate_fd()
        .map_err(|e| format!("duplicating the memfd of device memory {memory_id} failed: {e}"))
}

/// Buffers may be bound to host shared memory (memory imported from a host pointer), which
/// Vulkan requires them to declare when they are created.
pub(crate) fn create_buffer(
    cx: &mut Dispatch<'_, '_>,
    a: &mut CreateBufferArgs<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let create = device
        .fns
        .create_buffer
        .ok_or_else(|| unavailable("vkCreateBuffer"))?;
    let mut info = *a
        .p_create_info
        .take()
        .ok_or_else(|| ContextFatal::new("pCreateInfo is NULL"))?;
    if device.external_memory_host {
        let host_allocation = vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT.as_raw();
        match info.p_next.iter_mut().find_map(|ext| match ext {
            Ext::ExternalMemoryBufferCreateInfo(external) => Some(external),
            _ => None,
        }) {
            Some(external) => external.handle_types |= host_allocation,
            None => info
                .p_next
                .push(Ext::ExternalMemoryBufferCreateInfo(Box::new(
                    types::ExternalMemoryBufferCreateInfo {
                        p_next: Vec::new(),
                        handle_types: host_allocation,
                    },
                ))),
        }
    }
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let id = t.new_id(a.p_buffer, ot::BUFFER)?;
    let mut lowered = t.lower_one(Some(Box::new(info)))?;
    let kept = t.finish();
    let mut raw = 0u64;
    // SAFETY: a live device; the create info is a C image lowered for this call.
    let result = unsafe {
        create(
            device.raw,
            lowered_ptr(&mut lowered),
            std::ptr::null(),
            std::ptr::from_mut(&mut raw).cast(),
        )
    };
    a.ret = result;
    if result == 0 {
        cx.register(id, raw, ot::BUFFER, &device, kept)?;
    }
    Ok(())
}

pub(crate) fn create_image(
    cx: &mut Dispatch<'_, '_>,
    a: &mut CreateImageArgs<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let create = device
        .fns
        .create_image
        .ok_or_else(|| unavailable("vkCreateImage"))?;
    let mut info = *a
        .p_create_info
        .take()
        .ok_or_else(|| ContextFatal::new("pCreateInfo is NULL"))?;
    if device.external_memory_host && host_memory_importable(&device, &info) {
        let host_allocation = vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT.as_raw();
        match info.p_next.iter_mut().find_map(|ext| match ext {
            Ext::ExternalMemoryImageCreateInfo(external) => Some(external),
            _ => None,
        }) {
            Some(external) => external.handle_types |= host_allocation,
            None => info
                .p_next
                .push(Ext::ExternalMemoryImageCreateInfo(Box::new(
                    types::ExternalMemoryImageCreateInfo {
                        p_next: Vec::new(),
                        handle_types: host_allocation,
                    },
                ))),
        }
    }
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let id = t.new_id(a.p_image, ot::IMAGE)?;
    let mut lowered = t.lower_one(Some(Box::new(info)))?;
    let kept = t.finish();
    let mut raw = 0u64;
    // SAFETY: a live device; the create info is a C image lowered for this call.
    let result = unsafe {
        create(
            device.raw,
            lowered_ptr(&mut lowered),
            std::ptr::null(),
            std::ptr::from_mut(&mut raw).cast(),
        )
    };
    a.ret = result;
    if result == 0 {
        cx.register(id, raw, ot::IMAGE, &device, kept)?;
    }
    Ok(())
}

/// Whether the driver can bind an image like `info` describes to memory imported from a host
/// pointer. Asked with the image's own parameters, as Vulkan requires before the handle type may
/// be named; images of a tiling this check does not know (DRM modifiers) are left alone.
fn host_memory_importable(device: &DeviceObject, info: &types::ImageCreateInfo<'_>) -> bool {
    let known_tiling = [vk::ImageTiling::OPTIMAL, vk::ImageTiling::LINEAR]
        .contains(&vk::ImageTiling::from_raw(info.tiling));
    let Some(query) = device
        .physical
        .instance
        .fns
        .get_physical_device_image_format_properties2
    else {
        return false;
    };
    if !known_tiling {
        return false;
    }
    let mut external_info = vk::PhysicalDeviceExternalImageFormatInfo::default()
        .handle_type(vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT);
    let format_info = vk::PhysicalDeviceImageFormatInfo2::default()
        .format(vk::Format::from_raw(info.format))
        .ty(vk::ImageType::from_raw(info.image_type))
        .tiling(vk::ImageTiling::from_raw(info.tiling))
        .usage(vk::ImageUsageFlags::from_raw(info.usage))
        .flags(vk::ImageCreateFlags::from_raw(info.flags))
        .push_next(&mut external_info);
    let mut external_properties = vk::ExternalImageFormatProperties::default();
    let mut properties = vk::ImageFormatProperties2::default().push_next(&mut external_properties);
    // SAFETY: the instance's own query on its physical device, with structs that live across the
    // call.
    let result = unsafe {
        query(
            device.physical.raw,
            std::ptr::from_ref(&format_info).cast(),
            std::ptr::from_mut(&mut properties).cast(),
        )
    };
    result == 0
        && external_properties
            .external_memory_properties
            .external_memory_features
            .contains(vk::ExternalMemoryFeatureFlags::IMPORTABLE)
}

/// Binds each (resource, memory) pair with `bind`; on success each resource keeps its memory.
fn bind(
    cx: &mut Dispatch<'_, '_>,
    device: &Arc<DeviceObject>,
    resource_type: i32,
    pairs: &[(u64, u64)],
    bind: impl FnOnce(&[(u64, u64)]) -> i32,
) -> Result<i32, ContextFatal> {
    let (resources, memories): (Vec<Arc<Object>>, Vec<Arc<Object>>) = {
        let objects = cx.objects();
        let mut resources = Vec::with_capacity(pairs.len());
        let mut memories = Vec::with_capacity(pairs.len());
        for &(resource, memory) in pairs {
            resources.push(objects.owned_object(resource, resource_type, device)?);
            memories.push(objects.owned_object(memory, ot::DEVICE_MEMORY, device)?);
        }
        (resources, memories)
    };
    let raw: Vec<(u64, u64)> = resources
        .iter()
        .zip(&memories)
        .map(|(r, m)| (r.raw, m.raw))
        .collect();
    let result = bind(&raw);
    if result == 0 {
        for (resource, memory) in resources.iter().zip(memories) {
            resource.keep([memory]);
        }
    }
    Ok(result)
}

pub(crate) fn bind_buffer_memory(
    cx: &mut Dispatch<'_, '_>,
    a: &mut BindBufferMemoryArgs,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let f = device
        .fns
        .bind_buffer_memory
        .ok_or_else(|| unavailable("vkBindBufferMemory"))?;
    let offset = a.memory_offset;
    a.ret = bind(cx, &device, ot::BUFFER, &[(a.buffer, a.memory)], |raw| {
        // SAFETY: a live buffer and memory of this device.
        unsafe { f(device.raw, raw[0].0, raw[0].1, offset) }
    })?;
    Ok(())
}

pub(crate) fn bind_image_memory(
    cx: &mut Dispatch<'_, '_>,
    a: &mut BindImageMemoryArgs,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let f = device
        .fns
        .bind_image_memory
        .ok_or_else(|| unavailable("vkBindImageMemory"))?;
    let offset = a.memory_offset;
    a.ret = bind(cx, &device, ot::IMAGE, &[(a.image, a.memory)], |raw| {
        // SAFETY: a live image and memory of this device.
        unsafe { f(device.raw, raw[0].0, raw[0].1, offset) }
    })?;
    Ok(())
}

pub(crate) fn bind_buffer_memory2(
    cx: &mut Dispatch<'_, '_>,
    a: &mut BindBufferMemory2Args<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let f = device
        .fns
        .bind_buffer_memory2
        .ok_or_else(|| unavailable("vkBindBufferMemory2"))?;
    let infos = a.p_bind_infos.take().unwrap_or_default();
    let pairs: Vec<(u64, u64)> = infos.iter().map(|i| (i.buffer, i.memory)).collect();
    let count = a.bind_info_count;
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let mut lowered = t.lower_many(Some(infos))?;
    let kept = t.finish();
    a.ret = bind(cx, &device, ot::BUFFER, &pairs, |_| {
        // SAFETY: a live device; the bind infos are C images whose handles were translated.
        unsafe { f(device.raw, count, lowered_ptr(&mut lowered)) }
    })?;
    drop(kept);
    Ok(())
}

pub(crate) fn bind_image_memory2(
    cx: &mut Dispatch<'_, '_>,
    a: &mut BindImageMemory2Args<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let f = device
        .fns
        .bind_image_memory2
        .ok_or_else(|| unavailable("vkBindImageMemory2"))?;
    let infos = a.p_bind_infos.take().unwrap_or_default();
    // A swapchain binding (memory VK_NULL_HANDLE) has no memory to keep; the protocol carries
    // no swapchains, so every bind names memory.
    let pairs: Vec<(u64, u64)> = infos.iter().map(|i| (i.image, i.memory)).collect();
    let count = a.bind_info_count;
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let mut lowered = t.lower_many(Some(infos))?;
    let kept = t.finish();
    a.ret = bind(cx, &device, ot::IMAGE, &pairs, |_| {
        // SAFETY: a live device; the bind infos are C images whose handles were translated.
        unsafe { f(device.raw, count, lowered_ptr(&mut lowered)) }
    })?;
    drop(kept);
    Ok(())
}

/// The memory a range names must exist and belong to the device; shared memory is coherent
/// and the host never mapped it through the driver, so there is nothing to flush.
fn check_ranges(
    cx: &mut Dispatch<'_, '_>,
    device_id: u64,
    ranges: Option<&[types::MappedMemoryRange<'_>]>,
) -> Result<(), ContextFatal> {
    let device = cx.device(device_id)?;
    let objects = cx.objects();
    for range in ranges.unwrap_or_default() {
        objects.owned_object(range.memory, ot::DEVICE_MEMORY, &device)?;
    }
    Ok(())
}

pub(crate) fn flush_mapped_memory_ranges(
    cx: &mut Dispatch<'_, '_>,
    a: &mut FlushMappedMemoryRangesArgs<'_>,
) -> Result<(), ContextFatal> {
    check_ranges(cx, a.device, a.p_memory_ranges.as_deref())?;
    a.ret = 0;
    Ok(())
}

pub(crate) fn invalidate_mapped_memory_ranges(
    cx: &mut Dispatch<'_, '_>,
    a: &mut InvalidateMappedMemoryRangesArgs<'_>,
) -> Result<(), ContextFatal> {
    check_ranges(cx, a.device, a.p_memory_ranges.as_deref())?;
    a.ret = 0;
    Ok(())
}

pub(crate) fn unmap_memory(
    cx: &mut Dispatch<'_, '_>,
    a: &mut UnmapMemoryArgs,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    cx.objects()
        .owned_object(a.memory, ot::DEVICE_MEMORY, &device)
        .map(drop)
}

pub(crate) fn unmap_memory2(
    cx: &mut Dispatch<'_, '_>,
    a: &mut UnmapMemory2Args<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let info = a
        .p_memory_unmap_info
        .as_ref()
        .ok_or_else(|| ContextFatal::new("pMemoryUnmapInfo is NULL"))?;
    cx.objects()
        .owned_object(info.memory, ot::DEVICE_MEMORY, &device)?;
    a.ret = 0;
    Ok(())
}

/// What memory can hold a guest resource: a shared-memory resource can be imported as host
/// memory into any host-visible, coherent type.
pub(crate) fn get_memory_resource_properties_mesa(
    cx: &mut Dispatch<'_, '_>,
    a: &mut GetMemoryResourcePropertiesMESAArgs<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let Ok(resource) = cx.transport.shm_resource(a.resource_id) else {
        a.ret = vk::Result::ERROR_INVALID_EXTERNAL_HANDLE.as_raw();
        return Ok(());
    };
    let bits = if device.external_memory_host {
        device
            .memory_types
            .iter()
            .enumerate()
            .filter(|(_, &flags)| {
                flags & (HOST_VISIBLE | HOST_COHERENT) == HOST_VISIBLE | HOST_COHERENT
            })
            .fold(0u32, |bits, (index, _)| bits | 1 << index)
    } else {
        0
    };
    let out = a
        .p_memory_resource_properties
        .as_mut()
        .ok_or_else(|| ContextFatal::new("pMemoryResourceProperties is NULL"))?;
    out.memory_type_bits = bits;
    for ext in &mut out.p_next {
        if let Ext::MemoryResourceAllocationSizePropertiesMESA(size) = ext {
            size.allocation_size = resource.size();
        }
    }
    a.ret = 0;
    Ok(())
}
