//! Creating the objects the hostile sequences abuse, each a valid Vulkan call.

use venus_rs_encoder::host::types::{
    BufferCreateInfo, CommandBufferAllocateInfo, CommandPoolCreateInfo, DescriptorPoolCreateInfo,
    DescriptorPoolSize, DescriptorSetAllocateInfo, DescriptorSetLayoutBinding,
    DescriptorSetLayoutCreateInfo, MemoryAllocateInfo,
};
use venus_rs_encoder::host::{
    AllocateCommandBuffersArgs, AllocateDescriptorSetsArgs, AllocateMemoryArgs,
    BindBufferMemoryArgs, Command, CreateBufferArgs, CreateCommandPoolArgs,
    CreateDescriptorPoolArgs, CreateDescriptorSetLayoutArgs,
};

use super::venus::{Venus, VK_SUCCESS};

pub const STORAGE_BUFFER: i32 = 7;
const COMPUTE_STAGE: u32 = 0x20;
const FREE_DESCRIPTOR_SET: u32 = 0x1;
const PRIMARY: i32 = 0;
/// TRANSFER_SRC | TRANSFER_DST | STORAGE_BUFFER.
const BUFFER_USAGE: u32 = 0x1 | 0x2 | 0x20;

/// A layout with one storage buffer at binding 0.
pub fn storage_buffer_layout(venus: &mut Venus, device: u64) -> u64 {
    single_binding_layout(venus, device, STORAGE_BUFFER)
}

/// A layout with one descriptor of `descriptor_type` at binding 0, for the compute stage.
pub fn single_binding_layout(venus: &mut Venus, device: u64, descriptor_type: i32) -> u64 {
    let id = venus.id();
    let result = venus.call_result(Command::CreateDescriptorSetLayout(
        CreateDescriptorSetLayoutArgs {
            device,
            p_create_info: Some(Box::new(DescriptorSetLayoutCreateInfo {
                binding_count: 1,
                p_bindings: Some(vec![DescriptorSetLayoutBinding {
                    binding: 0,
                    descriptor_type,
                    descriptor_count: 1,
                    stage_flags: COMPUTE_STAGE,
                    p_immutable_samplers: None,
                }]),
                ..DescriptorSetLayoutCreateInfo::default()
            })),
            p_set_layout: Some(id),
            ret: 0,
        },
    ));
    assert_eq!(result, VK_SUCCESS, "vkCreateDescriptorSetLayout");
    id
}

/// A pool of storage-buffer sets whose sets may be freed one by one.
pub fn descriptor_pool(venus: &mut Venus, device: u64) -> u64 {
    descriptor_pool_of(venus, device, STORAGE_BUFFER)
}

/// A pool of sets of `descriptor_type` descriptors whose sets may be freed one by one.
pub fn descriptor_pool_of(venus: &mut Venus, device: u64, descriptor_type: i32) -> u64 {
    let id = venus.id();
    let result = venus.call_result(Command::CreateDescriptorPool(CreateDescriptorPoolArgs {
        device,
        p_create_info: Some(Box::new(DescriptorPoolCreateInfo {
            flags: FREE_DESCRIPTOR_SET,
            max_sets: 8,
            pool_size_count: 1,
            p_pool_sizes: Some(vec![DescriptorPoolSize {
                ty: descriptor_type,
                descriptor_count: 8,
            }]),
            ..DescriptorPoolCreateInfo::default()
        })),
        p_descriptor_pool: Some(id),
        ret: 0,
    }));
    assert_eq!(result, VK_SUCCESS, "vkCreateDescriptorPool");
    id
}

pub fn descriptor_set(venus: &mut Venus, device: u64, pool: u64, layout: u64) -> u64 {
    let id = venus.id();
    let result = venus.call_result(Command::AllocateDescriptorSets(
        AllocateDescriptorSetsArgs {
            device,
            p_allocate_info: Some(Box::new(DescriptorSetAllocateInfo {
                descriptor_pool: pool,
                descriptor_set_count: 1,
                p_set_layouts: Some(vec![layout]),
                ..DescriptorSetAllocateInfo::default()
            })),
            p_descriptor_sets: Some(vec![id]),
            ret: 0,
        },
    ));
    assert_eq!(result, VK_SUCCESS, "vkAllocateDescriptorSets");
    id
}

pub fn command_pool(venus: &mut Venus, device: u64) -> u64 {
    let id = venus.id();
    let result = venus.call_result(Command::CreateCommandPool(CreateCommandPoolArgs {
        device,
        p_create_info: Some(Box::new(CommandPoolCreateInfo {
            queue_family_index: 0,
            ..CommandPoolCreateInfo::default()
        })),
        p_command_pool: Some(id),
        ret: 0,
    }));
    assert_eq!(result, VK_SUCCESS, "vkCreateCommandPool");
    id
}

pub fn command_buffer(venus: &mut Venus, device: u64, pool: u64) -> u64 {
    let id = venus.id();
    let result = venus.call_result(Command::AllocateCommandBuffers(
        AllocateCommandBuffersArgs {
            device,
            p_allocate_info: Some(Box::new(CommandBufferAllocateInfo {
                command_pool: pool,
                level: PRIMARY,
                command_buffer_count: 1,
                ..CommandBufferAllocateInfo::default()
            })),
            p_command_buffers: Some(vec![id]),
            ret: 0,
        },
    ));
    assert_eq!(result, VK_SUCCESS, "vkAllocateCommandBuffers");
    id
}

pub fn buffer(venus: &mut Venus, device: u64, size: u64) -> u64 {
    let id = venus.id();
    let result = venus.call_result(Command::CreateBuffer(CreateBufferArgs {
        device,
        p_create_info: Some(Box::new(BufferCreateInfo {
            size,
            usage: BUFFER_USAGE,
            ..BufferCreateInfo::default()
        })),
        p_buffer: Some(id),
        ret: 0,
    }));
    assert_eq!(result, VK_SUCCESS, "vkCreateBuffer");
    id
}

/// `size` bytes of memory type `type_index`; the VkResult with the id.
pub fn try_memory(venus: &mut Venus, device: u64, size: u64, type_index: u32) -> (u64, i32) {
    let id = venus.id();
    let result = venus.call_result(Command::AllocateMemory(AllocateMemoryArgs {
        device,
        p_allocate_info: Some(Box::new(MemoryAllocateInfo {
            allocation_size: size,
            memory_type_index: type_index,
            ..MemoryAllocateInfo::default()
        })),
        p_memory: Some(id),
        ret: 0,
    }));
    (id, result)
}

/// Lavapipe's memory type 0 is device-local, host-visible and coherent: the host backs it
/// with shared memory imported as a host pointer.
pub const HOST_VISIBLE_TYPE: u32 = 0;

/// A buffer of `size` bytes bound to host-visible memory of its own.
pub fn bound_buffer(venus: &mut Venus, device: u64, size: u64) -> (u64, u64) {
    let buffer = buffer(venus, device, size);
    let (memory, result) = try_memory(venus, device, size, HOST_VISIBLE_TYPE);
    assert_eq!(result, VK_SUCCESS, "vkAllocateMemory");
    let result = venus.call_result(Command::BindBufferMemory(BindBufferMemoryArgs {
        device,
        buffer,
        memory,
        memory_offset: 0,
        ret: 0,
    }));
    assert_eq!(result, VK_SUCCESS, "vkBindBufferMemory");
    (buffer, memory)
}
