//! The "application": acquires through the WSI module, fills the image with known content on the GPU
//! (a clear colour, or a pattern uploaded from a buffer), and presents through the module.

use crate::vulkan::Gpu;
use ash::vk;
use vulkan_venus_rs::driver::wsi::{self, swapchain_handle, Swapchain};

/// The largest image the pattern buffer holds.
const MAX_PIXELS: usize = 2048 * 2048;

/// What a frame shows.
#[derive(Clone, Copy, Debug)]
pub enum Content {
    /// One colour everywhere, as (r, g, b) bytes.
    Solid([u8; 3]),
    /// A colour per pixel from [`pattern_colour`].
    Pattern(u32),
}

/// The pattern's colour at (x, y) in frame `frame`, as (r, g, b): distinct along both axes and between
/// frames, so swapped rows, columns or channels show.
pub fn pattern_colour(x: u32, y: u32, frame: u32) -> [u8; 3] {
    [
        (x * 3) as u8,
        (y * 5) as u8,
        (frame.wrapping_mul(40) as u8) ^ ((x / 64 + y / 64) as u8 * 16),
    ]
}

pub struct Renderer<'g> {
    gpu: &'g Gpu,
    pool: vk::CommandPool,
    command_buffer: vk::CommandBuffer,
    acquired: vk::Semaphore,
    rendered: vk::Semaphore,
    frame_done: vk::Fence,
    pattern: vk::Buffer,
    pattern_memory: vk::DeviceMemory,
    pattern_bytes: *mut u8,
}

impl<'g> Renderer<'g> {
    pub fn new(gpu: &'g Gpu) -> Result<Renderer<'g>, String> {
        let device = &gpu.device;
        let fail = |what: &'static str| move |e: vk::Result| format!("{what}: {e}");
        // SAFETY: valid create infos on a live device; everything is destroyed in Drop.
        unsafe {
            let pool = device
                .create_command_pool(
                    &vk::CommandPoolCreateInfo::default()
                        .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER)
                        .queue_family_index(gpu.queue_family),
                    None,
                )
                .map_err(fail("vkCreateCommandPool"))?;
            let command_buffer = device
                .allocate_command_buffers(
                    &vk::CommandBufferAllocateInfo::default()
                        .command_pool(pool)
                        .command_buffer_count(1),
                )
                .map_err(fail("vkAllocateCommandBuffers"))?[0];
            let semaphore = vk::SemaphoreCreateInfo::default();
            let acquired = device
                .create_semaphore(&semaphore, None)
                .map_err(fail("semaphore"))?;
            let rendered = device
                .create_semaphore(&semaphore, None)
                .map_err(fail("semaphore"))?;
            let frame_done = device
                .create_fence(
                    &vk::FenceCreateInfo::default().flags(vk::FenceCreateFlags::SIGNALED),
                    None,
                )
                .map_err(fail("fence"))?;
            let pattern = device
                .create_buffer(
                    &vk::BufferCreateInfo::default()
                        .size((MAX_PIXELS * 4) as u64)
                        .usage(vk::BufferUsageFlags::TRANSFER_SRC),
                    None,
                )
                .map_err(fail("vkCreateBuffer"))?;
            let requirements = device.get_buffer_memory_requirements(pattern);
            let memory_properties = gpu
                .instance
                .get_physical_device_memory_properties(gpu.physical_device);
            let wanted =
                vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_COHERENT;
            let type_index = (0..memory_properties.memory_type_count)
                .find(|index| {
                    requirements.memory_type_bits & (1 << index) != 0
                        && memory_properties.memory_types[*index as usize]
                            .property_flags
                            .contains(wanted)
                })
                .ok_or("no host-visible coherent memory")?;
            let pattern_memory = device
                .allocate_memory(
                    &vk::MemoryAllocateInfo::default()
                        .allocation_size(requirements.size)
                        .memory_type_index(type_index),
                    None,
                )
                .map_err(fail("vkAllocateMemory"))?;
            device
                .bind_buffer_memory(pattern, pattern_memory, 0)
                .map_err(fail("vkBindBufferMemory"))?;
            let pattern_bytes = device
                .map_memory(
                    pattern_memory,
                    0,
                    vk::WHOLE_SIZE,
                    vk::MemoryMapFlags::empty(),
                )
                .map_err(fail("vkMapMemory"))? as *mut u8;
            Ok(Renderer {
                gpu,
                pool,
                command_buffer,
                acquired,
                rendered,
                frame_done,
                pattern,
                pattern_memory,
                pattern_bytes,
            })
        }
    }

    /// Acquires, draws `content`, presents. Returns the present's result (SUCCESS, or OUT_OF_DATE when
    /// the window changed), or the acquire's error.
    pub fn frame(
        &mut self,
        swapchain: vk::SwapchainKHR,
        format: vk::Format,
        content: Content,
    ) -> Result<vk::Result, vk::Result> {
        self.frame_with_present_fence(swapchain, format, content, vk::Fence::null())
    }

    /// [`Renderer::frame`] with a VK_EXT_swapchain_maintenance1 present fence (null: none).
    pub fn frame_with_present_fence(
        &mut self,
        swapchain: vk::SwapchainKHR,
        format: vk::Format,
        content: Content,
        present_fence: vk::Fence,
    ) -> Result<vk::Result, vk::Result> {
        let device = &self.gpu.device;
        // SAFETY: a live handle from `swapchain_handle::into_handle`.
        let chain: &Swapchain = unsafe { swapchain_handle::from_handle(swapchain) }.unwrap();
        let (index, _) = chain.acquire(u64::MAX, self.acquired, vk::Fence::null())?;
        let image = chain.images()[index as usize];
        let extent = chain.extent();
        // SAFETY: the previous frame's submission is waited before its command buffer is reused.
        unsafe {
            device.wait_for_fences(&[self.frame_done], true, u64::MAX)?;
            device.reset_fences(&[self.frame_done])?;
        }
        if let Content::Pattern(frame) = content {
            self.write_pattern(extent, format, frame);
        }
        self.record(image, extent, format, content)?;
        let waits = [self.acquired];
        let stages = [vk::PipelineStageFlags::TRANSFER];
        let signals = [self.rendered];
        let command_buffers = [self.command_buffer];
        let submit = vk::SubmitInfo::default()
            .wait_semaphores(&waits)
            .wait_dst_stage_mask(&stages)
            .command_buffers(&command_buffers)
            .signal_semaphores(&signals);
        // SAFETY: all handles alive; the queue is used by this thread only.
        unsafe { device.queue_submit(self.gpu.queue, &[submit], self.frame_done) }?;
        let swapchains = [swapchain];
        let indices = [index];
        let fences = [present_fence];
        let mut fence_info = vk::SwapchainPresentFenceInfoEXT::default().fences(&fences);
        let mut present = vk::PresentInfoKHR::default()
            .wait_semaphores(&signals)
            .swapchains(&swapchains)
            .image_indices(&indices);
        if present_fence != vk::Fence::null() {
            present = present.push_next(&mut fence_info);
        }
        // SAFETY: handles from `into_handle`, alive while presenting.
        let lookup = |handle| unsafe { swapchain_handle::from_handle(handle) };
        // SAFETY: a valid present info whose swapchain handles come from `into_handle`.
        Ok(unsafe { wsi::present(self.gpu.queue, self.gpu.queue_family, &present, &lookup) })
    }

    fn write_pattern(&mut self, extent: vk::Extent2D, format: vk::Format, frame: u32) {
        let pixels = (extent.width * extent.height) as usize;
        assert!(pixels <= MAX_PIXELS, "pattern buffer too small");
        // SAFETY: the mapping holds MAX_PIXELS * 4 bytes and the GPU finished reading it (fence above).
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.pattern_bytes, pixels * 4) };
        let bgra = matches!(
            format,
            vk::Format::B8G8R8A8_UNORM | vk::Format::B8G8R8A8_SRGB
        );
        for y in 0..extent.height {
            for x in 0..extent.width {
                let [r, g, b] = pattern_colour(x, y, frame);
                let at = ((y * extent.width + x) * 4) as usize;
                // A varying alpha: OPAQUE swapchains must not show it (see the depth-32 window check).
                let a = x as u8;
                let pixel = if bgra { [b, g, r, a] } else { [r, g, b, a] };
                bytes[at..at + 4].copy_from_slice(&pixel);
            }
        }
    }

    fn record(
        &self,
        image: vk::Image,
        extent: vk::Extent2D,
        _format: vk::Format,
        content: Content,
    ) -> Result<(), vk::Result> {
        let device = &self.gpu.device;
        let cb = self.command_buffer;
        let range = vk::ImageSubresourceRange::default()
            .aspect_mask(vk::ImageAspectFlags::COLOR)
            .level_count(1)
            .layer_count(1);
        let to_transfer = vk::ImageMemoryBarrier::default()
            .dst_access_mask(vk::AccessFlags::TRANSFER_WRITE)
            .old_layout(vk::ImageLayout::UNDEFINED)
            .new_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .image(image)
            .subresource_range(range);
        let to_present = to_transfer
            .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
            .dst_access_mask(vk::AccessFlags::empty())
            .old_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
            .new_layout(vk::ImageLayout::PRESENT_SRC_KHR);
        // SAFETY: the command buffer is not pending (fence waited); all handles alive.
        unsafe {
            device.reset_command_buffer(cb, vk::CommandBufferResetFlags::empty())?;
            device.begin_command_buffer(
                cb,
                &vk::CommandBufferBeginInfo::default()
                    .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT),
            )?;
            device.cmd_pipeline_barrier(
                cb,
                vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::TRANSFER,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &[to_transfer],
            );
            match content {
                Content::Solid([r, g, b]) => {
                    let colour = vk::ClearColorValue {
                        float32: [r, g, b, 255].map(|byte| f32::from(byte) / 255.0),
                    };
                    device.cmd_clear_color_image(
                        cb,
                        image,
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        &colour,
                        &[range],
                    );
                }
                Content::Pattern(_) => {
                    let region = vk::BufferImageCopy::default()
                        .image_subresource(
                            vk::ImageSubresourceLayers::default()
                                .aspect_mask(vk::ImageAspectFlags::COLOR)
                                .layer_count(1),
                        )
                        .image_extent(vk::Extent3D {
                            width: extent.width,
                            height: extent.height,
                            depth: 1,
                        });
                    device.cmd_copy_buffer_to_image(
                        cb,
                        self.pattern,
                        image,
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        &[region],
                    );
                }
            }
            device.cmd_pipeline_barrier(
                cb,
                vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::BOTTOM_OF_PIPE,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &[to_present],
            );
            device.end_command_buffer(cb)
        }
    }

    /// Waits for the last frame's GPU work (before destroying a swapchain).
    pub fn idle(&self) {
        // SAFETY: a live fence.
        let _ = unsafe {
            self.gpu
                .device
                .wait_for_fences(&[self.frame_done], true, u64::MAX)
        };
    }
}

impl Drop for Renderer<'_> {
    fn drop(&mut self) {
        let device = &self.gpu.device;
        // SAFETY: idle first; then nothing uses these objects.
        unsafe {
            let _ = device.wait_for_fences(&[self.frame_done], true, u64::MAX);
            device.destroy_buffer(self.pattern, None);
            device.free_memory(self.pattern_memory, None);
            device.destroy_fence(self.frame_done, None);
            device.destroy_semaphore(self.acquired, None);
            device.destroy_semaphore(self.rendered, None);
            device.destroy_command_pool(self.pool, None);
        }
    }
}

/// Creates a swapchain through the module for `surface`.
pub fn create_swapchain(
    gpu: &Gpu,
    surface: vk::SurfaceKHR,
    extent: vk::Extent2D,
    format: vk::Format,
    mode: vk::PresentModeKHR,
    old: vk::SwapchainKHR,
) -> Result<vk::SwapchainKHR, String> {
    let info = vk::SwapchainCreateInfoKHR::default()
        .surface(surface)
        .min_image_count(3)
        .image_format(format)
        .image_color_space(vk::ColorSpaceKHR::SRGB_NONLINEAR)
        .image_extent(extent)
        .image_array_layers(1)
        .image_usage(vk::ImageUsageFlags::COLOR_ATTACHMENT | vk::ImageUsageFlags::TRANSFER_DST)
        .image_sharing_mode(vk::SharingMode::EXCLUSIVE)
        .pre_transform(vk::SurfaceTransformFlagsKHR::IDENTITY)
        .composite_alpha(vk::CompositeAlphaFlagsKHR::OPAQUE)
        .present_mode(mode)
        .clipped(true)
        .old_swapchain(old);
    // SAFETY: a valid create info; `old` is null or a live handle; the surface's window outlives it.
    let swapchain =
        unsafe { Swapchain::create(gpu.wsi.clone(), &info, swapchain_handle::from_handle(old)) }
            .map_err(|e| format!("create swapchain {extent:?} {format:?} {mode:?}: {e}"))?;
    Ok(swapchain_handle::into_handle(swapchain))
}

/// Destroys a swapchain made by [`create_swapchain`].
pub fn destroy_swapchain(renderer: &Renderer<'_>, swapchain: vk::SwapchainKHR) {
    renderer.idle();
    // SAFETY: the handle came from `create_swapchain` and is used by no one else.
    unsafe { swapchain_handle::destroy(swapchain) };
}
