//! The GPU half of a present: copying a swapchain image into host-visible memory that the CPU maps,
//! with one command buffer per image and queue family, recorded once and resubmitted every frame.
//!
//! A present waits for its copy on the CPU (see `swapchain`), so a command buffer is never pending
//! when it is submitted again and the mapped pixels are complete when the window system gets them.

use super::formats::BYTES_PER_PIXEL;
use super::memory::{allocate, READBACK_MEMORY};
use super::WsiDevice;
use ash::vk;
use std::collections::HashMap;

/// One image's host-visible copy.
struct ReadbackBuffer {
    buffer: vk::Buffer,
    memory: vk::DeviceMemory,
    mapped: *const u8,
    coherent: bool,
}

/// The command buffers of one queue family, one per image.
struct FamilyCommands {
    pool: vk::CommandPool,
    buffers: Vec<vk::CommandBuffer>,
}

/// Host-visible copies of a swapchain's images and the commands that fill them.
pub struct Readback {
    images: Vec<vk::Image>,
    extent: vk::Extent2D,
    buffers: Vec<ReadbackBuffer>,
    families: HashMap<u32, FamilyCommands>,
}

// SAFETY: the mapped pointers address Vulkan memory owned by this value; every access to it goes through
// `&self`/`&mut self` of the swapchain that holds it behind a mutex.
unsafe impl Send for Readback {}

impl Readback {
    pub fn byte_size(extent: vk::Extent2D) -> vk::DeviceSize {
        extent.width as vk::DeviceSize * extent.height as vk::DeviceSize * BYTES_PER_PIXEL as u64
    }

    /// Makes a mapped buffer for each image. On error, everything made so far is released.
    pub fn new(
        wsi: &WsiDevice,
        images: &[vk::Image],
        extent: vk::Extent2D,
    ) -> Result<Readback, vk::Result> {
        let mut readback = Readback {
            images: images.to_vec(),
            extent,
            buffers: Vec::with_capacity(images.len()),
            families: HashMap::new(),
        };
        for _ in images {
            match make_buffer(wsi, Self::byte_size(extent)) {
                Ok(buffer) => readback.buffers.push(buffer),
                Err(error) => {
                    readback.destroy(&wsi.device);
                    return Err(error);
                }
            }
        }
        Ok(readback)
    }

    /// The command buffer that copies image `index` for a queue of `family`, recorded on first use.
    pub fn command_buffer(
        &mut self,
        device: &ash::Device,
        family: u32,
        index: usize,
    ) -> Result<vk::CommandBuffer, vk::Result> {
        if !self.families.contains_key(&family) {
            let commands = self.record_family(device, family)?;
            self.families.insert(family, commands);
        }
        Ok(self.families[&family].buffers[index])
    }

    fn record_family(
        &self,
        device: &ash::Device,
        family: u32,
    ) -> Result<FamilyCommands, vk::Result> {
        let pool_info = vk::CommandPoolCreateInfo::default().queue_family_index(family);
        // SAFETY: a live device and a valid create info.
        let pool = unsafe { device.create_command_pool(&pool_info, None) }?;
        let allocate_info = vk::CommandBufferAllocateInfo::default()
            .command_pool(pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(self.images.len() as u32);
        // SAFETY: the pool was just created on this device.
        let buffers = match unsafe { device.allocate_command_buffers(&allocate_info) } {
            Ok(buffers) => buffers,
            Err(error) => {
                // SAFETY: the pool has no buffer in use.
                unsafe { device.destroy_command_pool(pool, None) };
                return Err(error);
            }
        };
        let commands = FamilyCommands { pool, buffers };
        for (index, command_buffer) in commands.buffers.iter().enumerate() {
            if let Err(error) = self.record_copy(device, *command_buffer, index) {
                // SAFETY: nothing recorded here was submitted.
                unsafe { device.destroy_command_pool(pool, None) };
                return Err(error);
            }
        }
        Ok(commands)
    }

    /// PRESENT_SRC → TRANSFER_SRC, copy into the buffer, back to PRESENT_SRC, and make the buffer's
    /// bytes visible to host reads.
    fn record_copy(
        &self,
        device: &ash::Device,
        command_buffer: vk::CommandBuffer,
        index: usize,
    ) -> Result<(), vk::Result> {
        let image = self.images[index];
        let buffer = self.buffers[index].buffer;
        let colour = vk::ImageSubresourceRange::default()
            .aspect_mask(vk::ImageAspectFlags::COLOR)
            .level_count(1)
            .layer_count(1);
        // The application's semaphores are waited at the TRANSFER stage and carry its writes.
        let to_transfer = vk::ImageMemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::empty())
            .dst_access_mask(vk::AccessFlags::TRANSFER_READ)
            .old_layout(vk::ImageLayout::PRESENT_SRC_KHR)
            .new_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL)
            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .image(image)
            .subresource_range(colour);
        let back_to_present = to_transfer
            .src_access_mask(vk::AccessFlags::empty())
            .dst_access_mask(vk::AccessFlags::empty())
            .old_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL)
            .new_layout(vk::ImageLayout::PRESENT_SRC_KHR);
        let to_host = vk::BufferMemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
            .dst_access_mask(vk::AccessFlags::HOST_READ)
            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .buffer(buffer)
            .size(vk::WHOLE_SIZE);
        let region = vk::BufferImageCopy::default()
            .image_subresource(
                vk::ImageSubresourceLayers::default()
                    .aspect_mask(vk::ImageAspectFlags::COLOR)
                    .layer_count(1),
            )
            .image_extent(vk::Extent3D {
                width: self.extent.width,
                height: self.extent.height,
                depth: 1,
            });
        let begin = vk::CommandBufferBeginInfo::default();
        // SAFETY: a fresh command buffer of a pool of this device; every handle recorded is alive for the
        // life of the swapchain, which outlives its command buffers.
        unsafe {
            device.begin_command_buffer(command_buffer, &begin)?;
            device.cmd_pipeline_barrier(
                command_buffer,
                vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::TRANSFER,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &[to_transfer],
            );
            device.cmd_copy_image_to_buffer(
                command_buffer,
                image,
                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                buffer,
                &[region],
            );
            device.cmd_pipeline_barrier(
                command_buffer,
                vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::HOST | vk::PipelineStageFlags::BOTTOM_OF_PIPE,
                vk::DependencyFlags::empty(),
                &[],
                &[to_host],
                &[back_to_present],
            );
            device.end_command_buffer(command_buffer)
        }
    }

    /// The pixels of image `index` as last copied, tightly packed rows. Call only after the copy's fence
    /// signalled.
    pub fn pixels(&self, device: &ash::Device, index: usize) -> Result<&[u8], vk::Result> {
        let buffer = &self.buffers[index];
        let size = Self::byte_size(self.extent) as usize;
        if !buffer.coherent {
            let range = vk::MappedMemoryRange::default()
                .memory(buffer.memory)
                .size(vk::WHOLE_SIZE);
            // SAFETY: the memory is mapped whole and the copy into it has completed.
            unsafe { device.invalidate_mapped_memory_ranges(&[range]) }?;
        }
        // SAFETY: the mapping covers `size` bytes and lives as long as `self`; the GPU no longer writes it.
        Ok(unsafe { std::slice::from_raw_parts(buffer.mapped, size) })
    }

    /// Releases everything. The device must be done with the command buffers (every present waits).
    pub fn destroy(&mut self, device: &ash::Device) {
        for (_, commands) in self.families.drain() {
            // SAFETY: no command buffer of the pool is pending (each present waited for its copy).
            unsafe { device.destroy_command_pool(commands.pool, None) };
        }
        for buffer in self.buffers.drain(..) {
            // SAFETY: as above; unmapped by freeing.
            unsafe {
                device.destroy_buffer(buffer.buffer, None);
                device.free_memory(buffer.memory, None);
            }
        }
    }
}

fn make_buffer(wsi: &WsiDevice, size: vk::DeviceSize) -> Result<ReadbackBuffer, vk::Result> {
    let device = &wsi.device;
    let info = vk::BufferCreateInfo::default()
        .size(size)
        .usage(vk::BufferUsageFlags::TRANSFER_DST)
        .sharing_mode(vk::SharingMode::EXCLUSIVE);
    // SAFETY: a valid create info for a live device.
    let buffer = unsafe { device.create_buffer(&info, None) }?;
    // SAFETY: the buffer was just created.
    let requirements = unsafe { device.get_buffer_memory_requirements(buffer) };
    let dedicated = vk::MemoryDedicatedAllocateInfo::default().buffer(buffer);
    let (memory, flags) = match allocate(
        device,
        &wsi.memory_properties,
        requirements,
        &READBACK_MEMORY,
        dedicated,
    ) {
        Ok(allocation) => allocation,
        Err(error) => {
            // SAFETY: unbound and unused.
            unsafe { device.destroy_buffer(buffer, None) };
            return Err(error);
        }
    };
    // SAFETY: fresh buffer and memory of a host-visible type, mapped whole once for the buffer's life.
    let mapped = unsafe {
        device.bind_buffer_memory(buffer, memory, 0).and_then(|()| {
            device.map_memory(memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
        })
    };
    match mapped {
        Ok(mapped) => Ok(ReadbackBuffer {
            buffer,
            memory,
            mapped: mapped as *const u8,
            coherent: flags.contains(vk::MemoryPropertyFlags::HOST_COHERENT),
        }),
        Err(error) => {
            // SAFETY: unused.
            unsafe {
                device.destroy_buffer(buffer, None);
                device.free_memory(memory, None);
            }
            Err(error)
        }
    }
}
