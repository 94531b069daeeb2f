//! The presentable images of a swapchain: ordinary optimal-tiling device images with their own memory,
//! which the application renders into and the present path copies from.

use super::memory::{allocate, IMAGE_MEMORY};
use super::surface_query::find_in_chain;
use super::WsiDevice;
use ash::vk;

pub struct SwapchainImages {
    pub images: Vec<vk::Image>,
    memories: Vec<vk::DeviceMemory>,
}

impl SwapchainImages {
    /// Makes `count` images as `info` describes, plus TRANSFER_SRC for the copy out. On error,
    /// everything made so far is released.
    ///
    /// # Safety
    /// `info` must be a valid `VkSwapchainCreateInfoKHR` with a valid pNext chain.
    pub unsafe fn new(
        wsi: &WsiDevice,
        info: &vk::SwapchainCreateInfoKHR<'_>,
        count: u32,
    ) -> Result<SwapchainImages, vk::Result> {
        let mut made = SwapchainImages {
            images: Vec::new(),
            memories: Vec::new(),
        };
        for _ in 0..count {
            // SAFETY: per the caller.
            if let Err(error) = unsafe { made.add_one(wsi, info) } {
                made.destroy(&wsi.device);
                return Err(error);
            }
        }
        Ok(made)
    }

    /// # Safety
    /// As for [`SwapchainImages::new`].
    unsafe fn add_one(
        &mut self,
        wsi: &WsiDevice,
        info: &vk::SwapchainCreateInfoKHR<'_>,
    ) -> Result<(), vk::Result> {
        let device = &wsi.device;
        let mut flags = vk::ImageCreateFlags::empty();
        if info
            .flags
            .contains(vk::SwapchainCreateFlagsKHR::MUTABLE_FORMAT)
        {
            flags |= vk::ImageCreateFlags::MUTABLE_FORMAT | vk::ImageCreateFlags::EXTENDED_USAGE;
        }
        let families = if info.image_sharing_mode == vk::SharingMode::CONCURRENT
            && !info.p_queue_family_indices.is_null()
        {
            // SAFETY: the array holds queue_family_index_count entries per the caller.
            unsafe {
                std::slice::from_raw_parts(
                    info.p_queue_family_indices,
                    info.queue_family_index_count as usize,
                )
            }
        } else {
            &[]
        };
        let mut image_info = vk::ImageCreateInfo::default()
            .flags(flags)
            .image_type(vk::ImageType::TYPE_2D)
            .format(info.image_format)
            .extent(vk::Extent3D {
                width: info.image_extent.width,
                height: info.image_extent.height,
                depth: 1,
            })
            .mip_levels(1)
            .array_layers(info.image_array_layers)
            .samples(vk::SampleCountFlags::TYPE_1)
            .tiling(vk::ImageTiling::OPTIMAL)
            .usage(info.image_usage | vk::ImageUsageFlags::TRANSFER_SRC)
            .sharing_mode(info.image_sharing_mode)
            .queue_family_indices(families)
            .initial_layout(vk::ImageLayout::UNDEFINED);
        // A mutable-format swapchain names its view formats; the images need the same list.
        // SAFETY: a valid chain per the caller.
        let format_list = unsafe {
            find_in_chain::<vk::ImageFormatListCreateInfo<'_>>(
                info.p_next,
                vk::StructureType::IMAGE_FORMAT_LIST_CREATE_INFO,
            )
        };
        let mut list_copy = vk::ImageFormatListCreateInfo::default();
        if let Some(list) = format_list {
            list_copy.view_format_count = list.view_format_count;
            list_copy.p_view_formats = list.p_view_formats;
            image_info = image_info.push_next(&mut list_copy);
        }
        // SAFETY: a valid create info; the format list points into the caller's chain, alive here.
        let image = unsafe { device.create_image(&image_info, None) }?;
        // SAFETY: the image was just created.
        let requirements = unsafe { device.get_image_memory_requirements(image) };
        let dedicated = vk::MemoryDedicatedAllocateInfo::default().image(image);
        let memory = allocate(
            device,
            &wsi.memory_properties,
            requirements,
            &IMAGE_MEMORY,
            dedicated,
        )
        .map(|(memory, _)| memory)
        .and_then(|memory| {
            // SAFETY: fresh image and memory of a type it allows.
            match unsafe { device.bind_image_memory(image, memory, 0) } {
                Ok(()) => Ok(memory),
                Err(error) => {
                    // SAFETY: unbound, unused.
                    unsafe { device.free_memory(memory, None) };
                    Err(error)
                }
            }
        });
        match memory {
            Ok(memory) => {
                self.images.push(image);
                self.memories.push(memory);
                Ok(())
            }
            Err(error) => {
                // SAFETY: unused.
                unsafe { device.destroy_image(image, None) };
                Err(error)
            }
        }
    }

    /// Releases the images. The device must be done with them (the application's duty before
    /// vkDestroySwapchainKHR; the present path's own copies are waited for).
    pub fn destroy(&mut self, device: &ash::Device) {
        for image in self.images.drain(..) {
            // SAFETY: per the doc above.
            unsafe { device.destroy_image(image, None) };
        }
        for memory in self.memories.drain(..) {
            // SAFETY: its image is gone.
            unsafe { device.free_memory(memory, None) };
        }
    }
}
