//! Barrier helpers for the few shapes the programs record again and again (Vulkan 1.0 barriers, which every
//! device has).

use super::{Gpu, Image};
use ash::vk;

/// A global memory barrier from `(src_stage, src_access)` to `(dst_stage, dst_access)`.
pub fn memory_barrier(
    gpu: &Gpu,
    command_buffer: vk::CommandBuffer,
    (src_stage, src_access): (vk::PipelineStageFlags, vk::AccessFlags),
    (dst_stage, dst_access): (vk::PipelineStageFlags, vk::AccessFlags),
) {
    let barrier = [vk::MemoryBarrier::default()
        .src_access_mask(src_access)
        .dst_access_mask(dst_access)];
    // SAFETY: the caller records into a command buffer of this device, outside a render pass.
    unsafe {
        gpu.device.cmd_pipeline_barrier(
            command_buffer,
            src_stage,
            dst_stage,
            vk::DependencyFlags::empty(),
            &barrier,
            &[],
            &[],
        )
    };
}

/// A layout transition of the whole `image`, ordered after `(src_stage, src_access)` and before
/// `(dst_stage, dst_access)`.
pub fn image_barrier(
    gpu: &Gpu,
    command_buffer: vk::CommandBuffer,
    image: &Image,
    (old_layout, new_layout): (vk::ImageLayout, vk::ImageLayout),
    (src_stage, src_access): (vk::PipelineStageFlags, vk::AccessFlags),
    (dst_stage, dst_access): (vk::PipelineStageFlags, vk::AccessFlags),
) {
    let barrier = [vk::ImageMemoryBarrier::default()
        .src_access_mask(src_access)
        .dst_access_mask(dst_access)
        .old_layout(old_layout)
        .new_layout(new_layout)
        .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .image(image.handle)
        .subresource_range(image.subresource_range())];
    // SAFETY: the caller records into a command buffer of this device, outside a render pass.
    unsafe {
        gpu.device.cmd_pipeline_barrier(
            command_buffer,
            src_stage,
            dst_stage,
            vk::DependencyFlags::empty(),
            &[],
            &[],
            &barrier,
        )
    };
}

impl Gpu {
    /// Records the copy of a colour `image` (in TRANSFER_SRC_OPTIMAL) into `buffer`, tightly packed, and makes
    /// it visible to the host.
    pub fn record_image_readback(
        &self,
        command_buffer: vk::CommandBuffer,
        image: &Image,
        buffer: &super::Buffer,
    ) {
        let region = [vk::BufferImageCopy::default()
            .image_subresource(image.subresource_layers())
            .image_extent(image.desc.extent.into())];
        // SAFETY: the caller records outside a render pass; the image is in TRANSFER_SRC_OPTIMAL and the buffer
        // is large enough for the tightly packed image.
        unsafe {
            self.device.cmd_copy_image_to_buffer(
                command_buffer,
                image.handle,
                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                buffer.handle,
                &region,
            )
        };
        memory_barrier(
            self,
            command_buffer,
            (
                vk::PipelineStageFlags::TRANSFER,
                vk::AccessFlags::TRANSFER_WRITE,
            ),
            (vk::PipelineStageFlags::HOST, vk::AccessFlags::HOST_READ),
        );
    }
}
