//! Buffers in host-visible memory (mapped for their whole life, so programs read and write them like arrays) and
//! images in device memory, each with the memory type chosen from what the device offers.

use super::{check, Gpu};
use ash::vk;

/// Plain data that may be copied to and from mapped memory byte for byte.
///
/// # Safety
/// Every bit pattern is a valid value and the type has no padding.
pub unsafe trait Plain: Copy + Default + 'static {}
// SAFETY: integers and floats have no padding and accept every bit pattern.
unsafe impl Plain for u8 {}
// SAFETY: as above.
unsafe impl Plain for u16 {}
// SAFETY: as above.
unsafe impl Plain for u32 {}
// SAFETY: as above.
unsafe impl Plain for u64 {}
// SAFETY: as above.
unsafe impl Plain for f32 {}

/// A buffer bound to its own host-visible allocation, mapped from creation until the memory is freed.
pub struct Buffer {
    pub handle: vk::Buffer,
    pub size: vk::DeviceSize,
    memory: vk::DeviceMemory,
    mapped: *mut u8,
    coherent: bool,
}

impl Buffer {
    /// Copies `values` to the buffer at byte `offset` (flushing when the memory is not coherent).
    pub fn write<T: Plain>(&self, gpu: &Gpu, offset: usize, values: &[T]) -> Result<(), String> {
        let bytes = std::mem::size_of_val(values);
        self.check_range(offset, bytes)?;
        // SAFETY: the range was checked to lie inside the mapping, and T is plain data.
        unsafe {
            std::ptr::copy_nonoverlapping(
                values.as_ptr().cast::<u8>(),
                self.mapped.add(offset),
                bytes,
            )
        };
        if !self.coherent {
            // SAFETY: the whole mapped range of this memory.
            check("vkFlushMappedMemoryRanges", unsafe {
                gpu.device.flush_mapped_memory_ranges(&[self.whole_range()])
            })?;
        }
        Ok(())
    }

    /// Reads `count` values from byte `offset` (invalidating first when the memory is not coherent).
    pub fn read<T: Plain>(&self, gpu: &Gpu, offset: usize, count: usize) -> Result<Vec<T>, String> {
        let bytes = count * std::mem::size_of::<T>();
        self.check_range(offset, bytes)?;
        if !self.coherent {
            // SAFETY: the whole mapped range of this memory.
            check("vkInvalidateMappedMemoryRanges", unsafe {
                gpu.device
                    .invalidate_mapped_memory_ranges(&[self.whole_range()])
            })?;
        }
        let mut values = vec![T::default(); count];
        // SAFETY: the range lies inside the mapping, `values` holds `bytes` bytes, and T is plain data.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.mapped.add(offset),
                values.as_mut_ptr().cast::<u8>(),
                bytes,
            )
        };
        Ok(values)
    }

    /// Reads `into.len()` values from byte `offset` into `into` (invalidating first when the memory is not
    /// coherent): the same as [`Buffer::read`] without allocating, for loops that measure bandwidth.
    pub fn read_into<T: Plain>(
        &self,
        gpu: &Gpu,
        offset: usize,
        into: &mut [T],
    ) -> Result<(), String> {
        let bytes = std::mem::size_of_val(into);
        self.check_range(offset, bytes)?;
        if !self.coherent {
            // SAFETY: the whole mapped range of this memory.
            check("vkInvalidateMappedMemoryRanges", unsafe {
                gpu.device
                    .invalidate_mapped_memory_ranges(&[self.whole_range()])
            })?;
        }
        // SAFETY: the range lies inside the mapping, `into` holds `bytes` bytes, and T is plain data.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.mapped.add(offset),
                into.as_mut_ptr().cast::<u8>(),
                bytes,
            )
        };
        Ok(())
    }

    /// Reads the whole buffer as `T` values.
    pub fn read_all<T: Plain>(&self, gpu: &Gpu) -> Result<Vec<T>, String> {
        self.read(gpu, 0, self.size as usize / std::mem::size_of::<T>())
    }

    fn check_range(&self, offset: usize, bytes: usize) -> Result<(), String> {
        if offset
            .checked_add(bytes)
            .is_some_and(|end| end as u64 <= self.size)
        {
            Ok(())
        } else {
            Err(format!(
                "bytes {offset}..+{bytes} lie outside a buffer of {} bytes",
                self.size
            ))
        }
    }

    fn whole_range(&self) -> vk::MappedMemoryRange<'static> {
        vk::MappedMemoryRange::default()
            .memory(self.memory)
            .size(vk::WHOLE_SIZE)
    }
}

/// What an image is made of; the view covers the one mip level and layer.
#[derive(Clone, Copy, Debug)]
pub struct ImageDesc {
    pub format: vk::Format,
    pub extent: vk::Extent2D,
    pub samples: vk::SampleCountFlags,
    pub usage: vk::ImageUsageFlags,
    pub aspect: vk::ImageAspectFlags,
}

/// A 2D image in device memory with a view of it.
#[derive(Clone, Copy, Debug)]
pub struct Image {
    pub handle: vk::Image,
    pub view: vk::ImageView,
    pub desc: ImageDesc,
}

impl Image {
    pub fn subresource_range(&self) -> vk::ImageSubresourceRange {
        vk::ImageSubresourceRange::default()
            .aspect_mask(self.desc.aspect)
            .level_count(1)
            .layer_count(1)
    }

    pub fn subresource_layers(&self) -> vk::ImageSubresourceLayers {
        vk::ImageSubresourceLayers::default()
            .aspect_mask(self.desc.aspect)
            .layer_count(1)
    }
}

impl Gpu {
    /// The first memory type allowed by `type_bits` with all of `required`, preferring one with `preferred` too.
    pub fn memory_type(
        &self,
        type_bits: u32,
        required: vk::MemoryPropertyFlags,
        preferred: vk::MemoryPropertyFlags,
    ) -> Option<(u32, vk::MemoryPropertyFlags)> {
        let types = &self.memory_properties.memory_types
            [..self.memory_properties.memory_type_count as usize];
        let find = |flags: vk::MemoryPropertyFlags| {
            types
                .iter()
                .enumerate()
                .find(|(index, kind)| {
                    type_bits & (1 << index) != 0 && kind.property_flags.contains(flags)
                })
                .map(|(index, kind)| (index as u32, kind.property_flags))
        };
        find(required | preferred).or_else(|| find(required))
    }

    fn allocate(
        &self,
        requirements: vk::MemoryRequirements,
        required: vk::MemoryPropertyFlags,
        preferred: vk::MemoryPropertyFlags,
        what: &str,
    ) -> Result<(vk::DeviceMemory, vk::MemoryPropertyFlags), String> {
        let (type_index, flags) = self
            .memory_type(requirements.memory_type_bits, required, preferred)
            .ok_or_else(|| format!("no {required:?} memory type for {what}"))?;
        let info = vk::MemoryAllocateInfo::default()
            .allocation_size(requirements.size)
            .memory_type_index(type_index);
        // SAFETY: valid device and allocate info; the memory is freed with the other owned objects.
        let memory = self.own(check(&format!("vkAllocateMemory ({what})"), unsafe {
            self.device.allocate_memory(&info, None)
        })?);
        Ok((memory, flags))
    }

    /// A buffer of `size` bytes in host-visible memory (coherent when the device has such a type), mapped and
    /// zero-filled.
    pub fn host_buffer(
        &self,
        size: vk::DeviceSize,
        usage: vk::BufferUsageFlags,
        what: &str,
    ) -> Result<Buffer, String> {
        let info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        // SAFETY: valid device and create info.
        let handle = self.own(check(&format!("vkCreateBuffer ({what})"), unsafe {
            self.device.create_buffer(&info, None)
        })?);
        // SAFETY: a buffer of this device.
        let requirements = unsafe { self.device.get_buffer_memory_requirements(handle) };
        let (memory, flags) = self.allocate(
            requirements,
            vk::MemoryPropertyFlags::HOST_VISIBLE,
            vk::MemoryPropertyFlags::HOST_COHERENT,
            what,
        )?;
        // SAFETY: unbound buffer, fresh memory of a type its requirements allow, at offset 0.
        check(&format!("vkBindBufferMemory ({what})"), unsafe {
            self.device.bind_buffer_memory(handle, memory, 0)
        })?;
        // SAFETY: host-visible memory, not mapped yet; it stays mapped until vkFreeMemory.
        let mapped = check(&format!("vkMapMemory ({what})"), unsafe {
            self.device
                .map_memory(memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
        })?
        .cast::<u8>();
        let buffer = Buffer {
            handle,
            size,
            memory,
            mapped,
            coherent: flags.contains(vk::MemoryPropertyFlags::HOST_COHERENT),
        };
        buffer.write(self, 0, &vec![0u8; size as usize])?;
        Ok(buffer)
    }

    /// A buffer of `size` bytes in device memory (device-local when the device has such a type), never mapped:
    /// for work that must run on drivers that cannot map memory.
    pub fn device_buffer(
        &self,
        size: vk::DeviceSize,
        usage: vk::BufferUsageFlags,
        what: &str,
    ) -> Result<vk::Buffer, String> {
        let info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        // SAFETY: valid device and create info.
        let handle = self.own(check(&format!("vkCreateBuffer ({what})"), unsafe {
            self.device.create_buffer(&info, None)
        })?);
        // SAFETY: a buffer of this device.
        let requirements = unsafe { self.device.get_buffer_memory_requirements(handle) };
        let (memory, _) = self.allocate(
            requirements,
            vk::MemoryPropertyFlags::empty(),
            vk::MemoryPropertyFlags::DEVICE_LOCAL,
            what,
        )?;
        // SAFETY: unbound buffer, fresh memory of a type its requirements allow, at offset 0.
        check(&format!("vkBindBufferMemory ({what})"), unsafe {
            self.device.bind_buffer_memory(handle, memory, 0)
        })?;
        Ok(handle)
    }

    /// A 2D image (optimal tiling, one level and layer) in device memory, with a view.
    pub fn image(&self, desc: &ImageDesc, what: &str) -> Result<Image, String> {
        let info = vk::ImageCreateInfo::default()
            .image_type(vk::ImageType::TYPE_2D)
            .format(desc.format)
            .extent(desc.extent.into())
            .mip_levels(1)
            .array_layers(1)
            .samples(desc.samples)
            .tiling(vk::ImageTiling::OPTIMAL)
            .usage(desc.usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE)
            .initial_layout(vk::ImageLayout::UNDEFINED);
        // SAFETY: valid device and create info.
        let handle = self.own(check(&format!("vkCreateImage ({what})"), unsafe {
            self.device.create_image(&info, None)
        })?);
        // SAFETY: an image of this device.
        let requirements = unsafe { self.device.get_image_memory_requirements(handle) };
        let (memory, _) = self.allocate(
            requirements,
            vk::MemoryPropertyFlags::empty(),
            vk::MemoryPropertyFlags::DEVICE_LOCAL,
            what,
        )?;
        // SAFETY: unbound image, fresh memory of a type its requirements allow, at offset 0.
        check(&format!("vkBindImageMemory ({what})"), unsafe {
            self.device.bind_image_memory(handle, memory, 0)
        })?;
        let mut image = Image {
            handle,
            view: vk::ImageView::null(),
            desc: *desc,
        };
        let view_info = vk::ImageViewCreateInfo::default()
            .image(handle)
            .view_type(vk::ImageViewType::TYPE_2D)
            .format(desc.format)
            .subresource_range(image.subresource_range());
        // SAFETY: valid device and create info naming an image bound to memory.
        image.view = self.own(check(&format!("vkCreateImageView ({what})"), unsafe {
            self.device.create_image_view(&view_info, None)
        })?);
        Ok(image)
    }
}
