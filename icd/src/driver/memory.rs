//! Device memory: allocated on the host (the application learns of a failure), host-visible
//! allocations rounded up to the blob alignment so that the whole allocation is one mappable
//! blob, mapped on first vkMapMemory and kept mapped until freed (the mapping is the host's
//! memory itself, so flushes and invalidations have nothing to do).

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ash::vk;
use ash::vk::Handle;
use venus_rs_kernel_iface::Blob;
use venus_rs_shmem::SharedMemory;

use crate::driver::device::{device, DeviceHandle};
use crate::driver::generated::calls;
use crate::driver::handles::next_object_id;
use crate::driver::host::Host;
use crate::driver::physical_device::physical_device;
use crate::driver::runtime::{guard_result, guard_void};
use crate::log::Level;
use crate::venus_log;

/// One allocation as the guest knows it.
struct Memory {
    /// The size allocated on the host (the application's, rounded up for host-visible types).
    size: u64,
    host_visible: bool,
    mapping: Option<(Blob, SharedMemory)>,
}

/// The device's allocations, by handle.
#[derive(Default)]
pub(crate) struct Memories(Mutex<HashMap<u64, Memory>>);

impl Memories {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Memory>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases every mapping (the device is going).
    pub(crate) fn unmap_all(&self, host: &Host) {
        for (_, memory) in self.lock().drain() {
            if let Some((blob, _)) = memory.mapping {
                host.destroy_blob(blob);
            }
        }
    }
}

fn memory_type_flags(device: &DeviceHandle, index: u32) -> vk::MemoryPropertyFlags {
    let mut properties = vk::PhysicalDeviceMemoryProperties::default();
    // SAFETY: the device's own physical device; the answer is kept by the ICD.
    unsafe {
        crate::driver::physical_device::get_physical_device_memory_properties(
            device.object.physical_device(),
            &mut properties,
        )
    };
    properties
        .memory_types_as_slice()
        .get(index as usize)
        .map_or(vk::MemoryPropertyFlags::empty(), |t| t.property_flags)
}

fn blob_alignment(device: &DeviceHandle) -> u64 {
    // SAFETY: the device's own physical device.
    let physical = unsafe { physical_device(device.object.physical_device()) };
    physical.object.host().blob_alignment()
}

pub(crate) unsafe extern "system" fn allocate_memory(
    handle: vk::Device,
    p_allocate_info: *const vk::MemoryAllocateInfo<'_>,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
    p_memory: *mut vk::DeviceMemory,
) -> vk::Result {
    guard_result("vkAllocateMemory", || {
        // SAFETY: a VkDevice of this ICD and a valid allocate info per valid usage.
        let (device, info) = unsafe { (device(handle), &*p_allocate_info) };
        let host_visible = memory_type_flags(device, info.memory_type_index)
            .contains(vk::MemoryPropertyFlags::HOST_VISIBLE);
        let size = if host_visible {
            let alignment = blob_alignment(device);
            info.allocation_size
                .checked_next_multiple_of(alignment)
                .ok_or(vk::Result::ERROR_OUT_OF_DEVICE_MEMORY)?
        } else {
            info.allocation_size
        };
        let host_info = vk::MemoryAllocateInfo {
            allocation_size: size,
            ..*info
        };
        let mut memory = vk::DeviceMemory::from_raw(next_object_id());
        // SAFETY: the application's allocate info with the rounded size; `memory` holds the new
        // handle, whose id the host adopts.
        let result = unsafe {
            calls::call_allocate_memory(
                device.object.host(),
                handle,
                &host_info,
                std::ptr::null(),
                &mut memory,
            )
        }?;
        if result != vk::Result::SUCCESS {
            return Ok(result);
        }
        device.object.memories.lock().insert(
            memory.as_raw(),
            Memory {
                size,
                host_visible,
                mapping: None,
            },
        );
        // SAFETY: a valid output pointer per valid usage.
        unsafe { *p_memory = memory };
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn free_memory(
    handle: vk::Device,
    memory: vk::DeviceMemory,
    p_allocator: *const vk::AllocationCallbacks<'_>,
) {
    guard_void("vkFreeMemory", || {
        if memory.is_null() {
            return Ok(());
        }
        // SAFETY: a VkDevice of this ICD per valid usage.
        let device = unsafe { device(handle) };
        let host = device.object.host();
        if let Some(Memory {
            mapping: Some((blob, _)),
            ..
        }) = device.object.memories.lock().remove(&memory.as_raw())
        {
            host.destroy_blob(blob);
        }
        // SAFETY: the application's memory, which it no longer uses.
        unsafe { calls::send_free_memory(host, handle, memory, p_allocator) }
    })
}

/// The address of `offset` in the memory's mapping, mapping it first if needed.
fn map(
    device: &DeviceHandle,
    memory: vk::DeviceMemory,
    offset: u64,
    size: u64,
) -> Result<*mut c_void, vk::Result> {
    let host = device.object.host();
    let mut memories = device.object.memories.lock();
    let entry = memories.get_mut(&memory.as_raw()).ok_or_else(|| {
        venus_log!(Level::Error, "vkMapMemory: unknown memory {memory:?}");
        vk::Result::ERROR_MEMORY_MAP_FAILED
    })?;
    if !entry.host_visible {
        venus_log!(
            Level::Error,
            "vkMapMemory: memory {memory:?} is not host-visible"
        );
        return Err(vk::Result::ERROR_MEMORY_MAP_FAILED);
    }
    let end = if size == vk::WHOLE_SIZE {
        entry.size
    } else {
        offset
            .checked_add(size)
            .ok_or(vk::Result::ERROR_MEMORY_MAP_FAILED)?
    };
    if offset > entry.size || end > entry.size {
        venus_log!(
            Level::Error,
            "vkMapMemory: range {offset}..{end} is outside the {}-byte memory",
            entry.size
        );
        return Err(vk::Result::ERROR_MEMORY_MAP_FAILED);
    }
    if entry.mapping.is_none() {
        entry.mapping = Some(host.map_device_memory(memory.as_raw(), entry.size)?);
    }
    let (_, mapping) = entry.mapping.as_ref().expect("mapped above");
    // SAFETY: `offset` is inside the mapping, which is at least `entry.size` bytes.
    Ok(unsafe { mapping.as_mut_ptr().add(offset as usize) }.cast())
}

pub(crate) unsafe extern "system" fn map_memory(
    handle: vk::Device,
    memory: vk::DeviceMemory,
    offset: vk::DeviceSize,
    size: vk::DeviceSize,
    _flags: vk::MemoryMapFlags,
    pp_data: *mut *mut c_void,
) -> vk::Result {
    guard_result("vkMapMemory", || {
        // SAFETY: a VkDevice of this ICD per valid usage.
        let device = unsafe { device(handle) };
        let address = map(device, memory, offset, size)?;
        // SAFETY: a valid output pointer per valid usage.
        unsafe { *pp_data = address };
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn map_memory2(
    handle: vk::Device,
    p_memory_map_info: *const vk::MemoryMapInfoKHR<'_>,
    pp_data: *mut *mut c_void,
) -> vk::Result {
    guard_result("vkMapMemory2", || {
        // SAFETY: a VkDevice of this ICD and a valid map info per valid usage.
        let (device, info) = unsafe { (device(handle), &*p_memory_map_info) };
        let address = map(device, info.memory, info.offset, info.size)?;
        // SAFETY: a valid output pointer per valid usage.
        unsafe { *pp_data = address };
        Ok(vk::Result::SUCCESS)
    })
}

/// The mapping stays until the memory is freed: mapping again is then free, and the blob (the
/// host's memory) is the same either way.
pub(crate) unsafe extern "system" fn unmap_memory(_handle: vk::Device, _memory: vk::DeviceMemory) {}

pub(crate) unsafe extern "system" fn unmap_memory2(
    _handle: vk::Device,
    _p_memory_unmap_info: *const vk::MemoryUnmapInfoKHR<'_>,
) -> vk::Result {
    vk::Result::SUCCESS
}

pub(crate) unsafe extern "system" fn flush_mapped_memory_ranges(
    _handle: vk::Device,
    _memory_range_count: u32,
    _p_memory_ranges: *const vk::MappedMemoryRange<'_>,
) -> vk::Result {
    vk::Result::SUCCESS
}

pub(crate) unsafe extern "system" fn invalidate_mapped_memory_ranges(
    _handle: vk::Device,
    _memory_range_count: u32,
    _p_memory_ranges: *const vk::MappedMemoryRange<'_>,
) -> vk::Result {
    vk::Result::SUCCESS
}
