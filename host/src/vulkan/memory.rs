//! Device memory. Host-visible memory is allocated as page-aligned host shared memory (a
//! memfd) and imported into the driver with VK_EXT_external_memory_host, so that the blob the
//! guest maps is that memfd: mapping works on hosts without dma-buf or udmabuf. Each
//! allocation logs which path it took.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use ash::vk;
use venus_rs_encoder::host::types::{self, Ext};
use venus_rs_encoder::host::AllocateMemoryArgs;

use super::commands::new_handle;
use super::convert::{CChain, FromC};
use super::objects::{DeviceObject, HandleExtra, HandleKind};
use super::{required, ContextObjects};
use crate::executor::ContextFatal;
use crate::shm_file::ShmFile;

/// Shared memory is mapped in whole pages; the driver may ask for more alignment.
const PAGE_SIZE: u64 = 4096;

/// The driver's memory requirements as the guest sees them.
pub(super) fn exposed_requirements(c: &vk::MemoryRequirements) -> types::MemoryRequirements {
    FromC::from_c(c)
}

/// A buffer's chain as the driver must see it: buffers may be bound to host shared memory
/// (imported host allocations), which Vulkan requires them to declare.
pub(super) fn buffer_chain<'a>(chain: &[Ext<'a>], shared_memory: bool) -> Vec<Ext<'a>> {
    let mut chain = chain.to_vec();
    if !shared_memory {
        return chain;
    }
    let host_allocation = vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT.as_raw();
    match chain.iter_mut().find_map(|ext| match ext {
        Ext::ExternalMemoryBufferCreateInfo(info) => Some(info),
        _ => None,
    }) {
        Some(info) => info.handle_types |= host_allocation,
        None => chain.push(Ext::ExternalMemoryBufferCreateInfo(Box::new(
            types::ExternalMemoryBufferCreateInfo {
                p_next: Vec::new(),
                handle_types: host_allocation,
            },
        ))),
    }
    chain
}

fn host_pointer_alignment(device: &DeviceObject) -> u64 {
    let mut host = vk::PhysicalDeviceExternalMemoryHostPropertiesEXT::default();
    let mut properties = vk::PhysicalDeviceProperties2::default().push_next(&mut host);
    // SAFETY: a live physical device; `host` outlives the call.
    unsafe {
        device
            .instance
            .instance
            .get_physical_device_properties2(device.physical_device, &mut properties)
    };
    host.min_imported_host_pointer_alignment.max(PAGE_SIZE)
}

fn memory_type_flags(device: &DeviceObject, index: u32) -> Option<vk::MemoryPropertyFlags> {
    // SAFETY: a live physical device.
    let properties = unsafe {
        device
            .instance
            .instance
            .get_physical_device_memory_properties(device.physical_device)
    };
    properties
        .memory_types_as_slice()
        .get(index as usize)
        .map(|t| t.property_flags)
}

pub(super) fn allocate_memory(
    shared: &ContextObjects,
    args: &mut AllocateMemoryArgs<'_>,
) -> Result<(), ContextFatal> {
    let info = required(&args.p_allocate_info, "pAllocateInfo")?;
    let memory_id = args.p_memory;
    let device = shared.objects().device(args.device)?;
    let flags = memory_type_flags(&device, info.memory_type_index).ok_or_else(|| {
        ContextFatal::new(format!(
            "memoryTypeIndex {} does not exist",
            info.memory_type_index
        ))
    })?;
    let host_visible = flags.contains(vk::MemoryPropertyFlags::HOST_VISIBLE);
    let use_shared_memory = host_visible && device.external_memory_host;

    let mut kept = Vec::new();
    for ext in &info.p_next {
        match ext {
            Ext::ImportMemoryResourceInfoMESA(_) => {
                return Err(ContextFatal::new(
                    "importing a resource as device memory is not supported by this host",
                ))
            }
            // The memory is shared with the guest through its blob; the driver's own export
            // handles cannot be combined with a host-pointer import.
            Ext::ExportMemoryAllocateInfo(_) | Ext::MemoryDedicatedAllocateInfo(_)
                if use_shared_memory => {}
            other => kept.push(other.clone()),
        }
    }
    let mut chain = CChain::lower(&kept)?;

    args.ret = new_handle(
        shared,
        args.device,
        memory_id,
        HandleKind::DeviceMemory,
        |d| {
            if !use_shared_memory {
                let mut c = vk::MemoryAllocateInfo::default()
                    .allocation_size(info.allocation_size)
                    .memory_type_index(info.memory_type_index);
                c.p_next = chain.head();
                if host_visible {
                    crate::log!(
                    "device memory {:?}: {} bytes of driver memory (no VK_EXT_external_memory_host: \
                     the guest cannot map it)",
                    memory_id,
                    info.allocation_size
                );
                }
                // SAFETY: `c` and its chain outlive the call.
                return unsafe { d.device.allocate_memory(&c, None) }
                    .map(|m| (ash::vk::Handle::as_raw(m), HandleExtra::None));
            }
            let alignment = host_pointer_alignment(d);
            let size = info
                .allocation_size
                .max(1)
                .checked_next_multiple_of(alignment)
                .ok_or(vk::Result::ERROR_OUT_OF_HOST_MEMORY)?;
            let memory = ShmFile::create_zeroed("venus-rs-device-memory", size).map_err(|e| {
                crate::log!("device memory: creating {size} bytes of shared memory failed: {e}");
                vk::Result::ERROR_OUT_OF_HOST_MEMORY
            })?;
            let mut import = vk::ImportMemoryHostPointerInfoEXT::default()
                .handle_type(vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT)
                .host_pointer(memory.host_pointer().cast());
            import.p_next = chain.head();
            let mut c = vk::MemoryAllocateInfo::default()
                .allocation_size(size)
                .memory_type_index(info.memory_type_index);
            c.p_next = std::ptr::from_mut(&mut import).cast();
            // SAFETY: the mapping stays alive as long as the memory object (it is kept in the
            // object's HandleExtra and dropped after vkFreeMemory); `c` outlives the call.
            let allocated = unsafe { d.device.allocate_memory(&c, None) }?;
            crate::log!(
            "device memory {:?}: {} bytes as host shared memory ({size}-byte memfd imported with \
             VK_EXT_external_memory_host; the blob is SHM)",
            memory_id,
            info.allocation_size
        );
            Ok((
                ash::vk::Handle::as_raw(allocated),
                HandleExtra::SharedMemory(Arc::new(memory)),
            ))
        },
    )?;
    Ok(())
}

/// The fd of device memory `memory_id` for a blob of `size` bytes: only memory the host
/// allocated as shared memory can be mapped by the guest.
pub(super) fn export(
    shared: &ContextObjects,
    memory_id: u64,
    size: u64,
) -> Result<OwnedFd, String> {
    let backing = shared
        .objects()
        .memory_backing(memory_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!("device memory {memory_id} is not host shared memory, so it cannot be mapped")
        })?;
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
