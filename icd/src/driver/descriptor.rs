//! Descriptors: set allocation waits for the host's answer (pool exhaustion is a result
//! applications handle), writes are sent with what their descriptor type does not read cleared
//! (the application may leave anything there, and the host checks every id it is sent), and
//! descriptor update templates live in the guest — the protocol carries no template updates,
//! so each template update is lowered to the writes it stands for.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ash::vk;
use ash::vk::Handle;

use crate::driver::device::device;
use crate::driver::generated::calls;
use crate::driver::handles::next_object_id;
use crate::driver::runtime::{command_buffer_of, guard_result, guard_void};

/// A descriptor update template as the application described it.
struct Template {
    bind_point: vk::PipelineBindPoint,
    entries: Vec<vk::DescriptorUpdateTemplateEntry>,
}

/// The device's descriptor update templates, by handle.
#[derive(Default)]
pub(crate) struct Templates(Mutex<HashMap<u64, Template>>);

impl Templates {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Template>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Which array of a write its descriptor type reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Payload {
    Images,
    Buffers,
    TexelBufferViews,
    /// In the write's chain (inline uniform blocks, acceleration structures).
    Chained,
}

fn payload(ty: vk::DescriptorType) -> Payload {
    match ty {
        vk::DescriptorType::SAMPLER
        | vk::DescriptorType::COMBINED_IMAGE_SAMPLER
        | vk::DescriptorType::SAMPLED_IMAGE
        | vk::DescriptorType::STORAGE_IMAGE
        | vk::DescriptorType::INPUT_ATTACHMENT => Payload::Images,
        vk::DescriptorType::UNIFORM_TEXEL_BUFFER | vk::DescriptorType::STORAGE_TEXEL_BUFFER => {
            Payload::TexelBufferViews
        }
        vk::DescriptorType::UNIFORM_BUFFER
        | vk::DescriptorType::STORAGE_BUFFER
        | vk::DescriptorType::UNIFORM_BUFFER_DYNAMIC
        | vk::DescriptorType::STORAGE_BUFFER_DYNAMIC => Payload::Buffers,
        _ => Payload::Chained,
    }
}

/// Writes ready to encode, with the copies of the arrays they point into.
#[derive(Default)]
struct Writes {
    writes: Vec<vk::WriteDescriptorSet<'static>>,
    images: Vec<Vec<vk::DescriptorImageInfo>>,
    buffers: Vec<Vec<vk::DescriptorBufferInfo>>,
    views: Vec<Vec<vk::BufferView>>,
    inline: Vec<vk::WriteDescriptorSetInlineUniformBlock<'static>>,
    inline_data: Vec<Vec<u8>>,
}

impl Writes {
    /// Points each write at its arrays (once every array is in place: they do not move after).
    fn finish(mut self) -> Self {
        let (mut images, mut buffers, mut views, mut inline) = (
            self.images.iter(),
            self.buffers.iter(),
            self.views.iter(),
            self.inline.iter_mut(),
        );
        let mut data = self.inline_data.iter();
        for write in &mut self.writes {
            match payload(write.descriptor_type) {
                Payload::Images => {
                    write.p_image_info = images.next().map_or(std::ptr::null(), |v| v.as_ptr())
                }
                Payload::Buffers => {
                    write.p_buffer_info = buffers.next().map_or(std::ptr::null(), |v| v.as_ptr())
                }
                Payload::TexelBufferViews => {
                    write.p_texel_buffer_view =
                        views.next().map_or(std::ptr::null(), |v| v.as_ptr())
                }
                Payload::Chained
                    if write.descriptor_type == vk::DescriptorType::INLINE_UNIFORM_BLOCK =>
                {
                    if let (Some(block), Some(bytes)) = (inline.next(), data.next()) {
                        block.p_data = bytes.as_ptr().cast();
                        block.data_size = bytes.len() as u32;
                        write.p_next = std::ptr::from_ref(&*block).cast();
                    }
                }
                Payload::Chained => {}
            }
        }
        self
    }
}

/// Copies the application's writes, clearing what each descriptor type does not read.
///
/// # Safety
/// Every write follows vkUpdateDescriptorSets' valid usage (the array its type reads holds
/// descriptorCount elements).
unsafe fn sanitize(writes: &[vk::WriteDescriptorSet<'_>]) -> Writes {
    let mut out = Writes::default();
    for write in writes {
        let count = write.descriptor_count as usize;
        let mut copy = vk::WriteDescriptorSet {
            dst_set: write.dst_set,
            dst_binding: write.dst_binding,
            dst_array_element: write.dst_array_element,
            descriptor_count: write.descriptor_count,
            descriptor_type: write.descriptor_type,
            ..Default::default()
        };
        match payload(write.descriptor_type) {
            Payload::Images => {
                // SAFETY: per the caller.
                let mut images =
                    unsafe { std::slice::from_raw_parts(write.p_image_info, count) }.to_vec();
                for image in &mut images {
                    match write.descriptor_type {
                        vk::DescriptorType::SAMPLER => image.image_view = vk::ImageView::null(),
                        vk::DescriptorType::COMBINED_IMAGE_SAMPLER => {}
                        _ => image.sampler = vk::Sampler::null(),
                    }
                }
                out.images.push(images);
            }
            Payload::Buffers => {
                // SAFETY: per the caller.
                out.buffers.push(
                    unsafe { std::slice::from_raw_parts(write.p_buffer_info, count) }.to_vec(),
                );
            }
            Payload::TexelBufferViews => {
                // SAFETY: per the caller.
                out.views.push(
                    unsafe { std::slice::from_raw_parts(write.p_texel_buffer_view, count) }
                        .to_vec(),
                );
            }
            Payload::Chained => {
                // The write's own chain (inline data, acceleration structures) is kept as is.
                copy.p_next = write.p_next;
            }
        }
        out.writes.push(copy);
    }
    out.finish()
}

pub(crate) unsafe extern "system" fn allocate_descriptor_sets(
    handle: vk::Device,
    p_allocate_info: *const vk::DescriptorSetAllocateInfo<'_>,
    p_descriptor_sets: *mut vk::DescriptorSet,
) -> vk::Result {
    guard_result("vkAllocateDescriptorSets", || {
        // SAFETY: a VkDevice of this ICD and a valid allocate info per valid usage.
        let (device, info) = unsafe { (device(handle), &*p_allocate_info) };
        for index in 0..info.descriptor_set_count as usize {
            // SAFETY: the output array holds descriptorSetCount handles per valid usage.
            unsafe {
                *p_descriptor_sets.add(index) = vk::DescriptorSet::from_raw(next_object_id())
            };
        }
        // SAFETY: the application's allocate info; the output array holds the new handles.
        let result = unsafe {
            calls::call_allocate_descriptor_sets(
                device.object.host(),
                handle,
                info,
                p_descriptor_sets,
            )
        }?;
        if result != vk::Result::SUCCESS {
            for index in 0..info.descriptor_set_count as usize {
                // SAFETY: as above; a failed allocation leaves every handle null.
                unsafe { *p_descriptor_sets.add(index) = vk::DescriptorSet::null() };
            }
        }
        Ok(result)
    })
}

fn send_updates(
    handle: vk::Device,
    writes: &Writes,
    copies: &[vk::CopyDescriptorSet<'_>],
) -> Result<(), vk::Result> {
    // SAFETY: a VkDevice of this ICD per valid usage.
    let device = unsafe { device(handle) };
    // SAFETY: the sanitised writes point into `writes`, alive across the call; the copies are
    // the application's.
    unsafe {
        calls::send_update_descriptor_sets(
            device.object.host(),
            handle,
            writes.writes.len() as u32,
            writes.writes.as_ptr(),
            copies.len() as u32,
            copies.as_ptr(),
        )
    }
}

fn slice<'a, T>(pointer: *const T, count: u32) -> &'a [T] {
    if count == 0 || pointer.is_null() {
        &[]
    } else {
        // SAFETY: the application's array of `count` elements, per valid usage.
        unsafe { std::slice::from_raw_parts(pointer, count as usize) }
    }
}

pub(crate) unsafe extern "system" fn update_descriptor_sets(
    handle: vk::Device,
    descriptor_write_count: u32,
    p_descriptor_writes: *const vk::WriteDescriptorSet<'_>,
    descriptor_copy_count: u32,
    p_descriptor_copies: *const vk::CopyDescriptorSet<'_>,
) {
    guard_void("vkUpdateDescriptorSets", || {
        let writes = slice(p_descriptor_writes, descriptor_write_count);
        // SAFETY: the application's writes, valid per valid usage.
        let writes = unsafe { sanitize(writes) };
        send_updates(
            handle,
            &writes,
            slice(p_descriptor_copies, descriptor_copy_count),
        )
    })
}

pub(crate) unsafe extern "system" fn cmd_push_descriptor_set(
    command_buffer: vk::CommandBuffer,
    pipeline_bind_point: vk::PipelineBindPoint,
    layout: vk::PipelineLayout,
    set: u32,
    descriptor_write_count: u32,
    p_descriptor_writes: *const vk::WriteDescriptorSet<'_>,
) {
    guard_void("vkCmdPushDescriptorSet", || {
        let buffer = command_buffer_of(command_buffer)?;
        // SAFETY: the application's writes, valid per valid usage.
        let writes = unsafe { sanitize(slice(p_descriptor_writes, descriptor_write_count)) };
        // SAFETY: the sanitised writes are alive across the call.
        unsafe {
            calls::record_cmd_push_descriptor_set(
                buffer,
                command_buffer,
                pipeline_bind_point,
                layout,
                set,
                writes.writes.len() as u32,
                writes.writes.as_ptr(),
            )
        };
        Ok(())
    })
}

pub(crate) unsafe extern "system" fn cmd_push_descriptor_set2(
    command_buffer: vk::CommandBuffer,
    p_push_descriptor_set_info: *const vk::PushDescriptorSetInfoKHR<'_>,
) {
    guard_void("vkCmdPushDescriptorSet2", || {
        let buffer = command_buffer_of(command_buffer)?;
        // SAFETY: a valid info per valid usage.
        let info = unsafe { &*p_push_descriptor_set_info };
        // SAFETY: the application's writes, valid per valid usage.
        let writes =
            unsafe { sanitize(slice(info.p_descriptor_writes, info.descriptor_write_count)) };
        let sanitized = vk::PushDescriptorSetInfoKHR {
            descriptor_write_count: writes.writes.len() as u32,
            p_descriptor_writes: writes.writes.as_ptr(),
            ..*info
        };
        // SAFETY: the info and its sanitised writes are alive across the call.
        unsafe { calls::record_cmd_push_descriptor_set2(buffer, command_buffer, &sanitized) };
        Ok(())
    })
}

pub(crate) unsafe extern "system" fn create_descriptor_update_template(
    handle: vk::Device,
    p_create_info: *const vk::DescriptorUpdateTemplateCreateInfo<'_>,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
    p_descriptor_update_template: *mut vk::DescriptorUpdateTemplate,
) -> vk::Result {
    guard_result("vkCreateDescriptorUpdateTemplate", || {
        // SAFETY: a VkDevice of this ICD and a valid create info per valid usage.
        let (device, info) = unsafe { (device(handle), &*p_create_info) };
        let template = Template {
            bind_point: info.pipeline_bind_point,
            entries: slice(
                info.p_descriptor_update_entries,
                info.descriptor_update_entry_count,
            )
            .to_vec(),
        };
        let id = next_object_id();
        device.object.templates.lock().insert(id, template);
        // SAFETY: a valid output pointer per valid usage.
        unsafe { *p_descriptor_update_template = vk::DescriptorUpdateTemplate::from_raw(id) };
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn destroy_descriptor_update_template(
    handle: vk::Device,
    descriptor_update_template: vk::DescriptorUpdateTemplate,
    _p_allocator: *const vk::AllocationCallbacks<'_>,
) {
    guard_void("vkDestroyDescriptorUpdateTemplate", || {
        // SAFETY: a VkDevice of this ICD per valid usage.
        let device = unsafe { device(handle) };
        device
            .object
            .templates
            .lock()
            .remove(&descriptor_update_template.as_raw());
        Ok(())
    })
}

/// The writes a template update stands for, read from the application's data as the template's
/// entries describe it (`dst_set` 0 for push descriptors).
///
/// # Safety
/// `data` follows the template's layout (vkUpdateDescriptorSetWithTemplate's valid usage).
unsafe fn template_writes(
    template: &Template,
    dst_set: vk::DescriptorSet,
    data: *const c_void,
) -> Writes {
    let mut out = Writes::default();
    let data = data.cast::<u8>();
    for entry in &template.entries {
        let count = entry.descriptor_count as usize;
        let element = |index: usize| {
            // SAFETY: per the caller, each element lies at offset + index * stride.
            unsafe { data.add(entry.offset + index * entry.stride) }
        };
        let write = vk::WriteDescriptorSet {
            dst_set,
            dst_binding: entry.dst_binding,
            dst_array_element: entry.dst_array_element,
            descriptor_count: entry.descriptor_count,
            descriptor_type: entry.descriptor_type,
            ..Default::default()
        };
        match payload(entry.descriptor_type) {
            Payload::Images => {
                let mut images: Vec<vk::DescriptorImageInfo> = (0..count)
                    // SAFETY: per the caller, a VkDescriptorImageInfo at each element.
                    .map(|i| unsafe {
                        element(i)
                            .cast::<vk::DescriptorImageInfo>()
                            .read_unaligned()
                    })
                    .collect();
                for image in &mut images {
                    match entry.descriptor_type {
                        vk::DescriptorType::SAMPLER => image.image_view = vk::ImageView::null(),
                        vk::DescriptorType::COMBINED_IMAGE_SAMPLER => {}
                        _ => image.sampler = vk::Sampler::null(),
                    }
                }
                out.images.push(images);
            }
            Payload::Buffers => out.buffers.push(
                (0..count)
                    // SAFETY: per the caller, a VkDescriptorBufferInfo at each element.
                    .map(|i| unsafe {
                        element(i)
                            .cast::<vk::DescriptorBufferInfo>()
                            .read_unaligned()
                    })
                    .collect(),
            ),
            Payload::TexelBufferViews => out.views.push(
                (0..count)
                    // SAFETY: per the caller, a VkBufferView at each element.
                    .map(|i| unsafe { element(i).cast::<vk::BufferView>().read_unaligned() })
                    .collect(),
            ),
            Payload::Chained
                if entry.descriptor_type == vk::DescriptorType::INLINE_UNIFORM_BLOCK =>
            {
                // SAFETY: per the caller, descriptorCount bytes of block data at the offset.
                let bytes = unsafe { std::slice::from_raw_parts(element(0), count) }.to_vec();
                out.inline.push(Default::default());
                out.inline_data.push(bytes);
            }
            Payload::Chained => continue,
        }
        out.writes.push(write);
    }
    out.finish()
}

pub(crate) unsafe extern "system" fn update_descriptor_set_with_template(
    handle: vk::Device,
    descriptor_set: vk::DescriptorSet,
    descriptor_update_template: vk::DescriptorUpdateTemplate,
    p_data: *const c_void,
) {
    guard_void("vkUpdateDescriptorSetWithTemplate", || {
        // SAFETY: a VkDevice of this ICD per valid usage.
        let device = unsafe { device(handle) };
        let writes = {
            let templates = device.object.templates.lock();
            let template = templates
                .get(&descriptor_update_template.as_raw())
                .ok_or(vk::Result::ERROR_UNKNOWN)?;
            // SAFETY: the application's data follows the template, per valid usage.
            unsafe { template_writes(template, descriptor_set, p_data) }
        };
        send_updates(handle, &writes, &[])
    })
}

/// Template pushes become vkCmdPushDescriptorSet (core in 1.4, and in every device offering
/// either push-descriptor-with-template command), at the template's bind point.
fn push_with_template(
    command_buffer: vk::CommandBuffer,
    descriptor_update_template: vk::DescriptorUpdateTemplate,
    layout: vk::PipelineLayout,
    set: u32,
    p_data: *const c_void,
) -> Result<(), vk::Result> {
    let buffer = command_buffer_of(command_buffer)?;
    // SAFETY: the command buffer's device, a VkDevice of this ICD.
    let device = unsafe { device(buffer.device()) };
    let (bind_point, writes) = {
        let templates = device.object.templates.lock();
        let template = templates
            .get(&descriptor_update_template.as_raw())
            .ok_or(vk::Result::ERROR_UNKNOWN)?;
        // SAFETY: the application's data follows the template, per valid usage.
        (template.bind_point, unsafe {
            template_writes(template, vk::DescriptorSet::null(), p_data)
        })
    };
    // SAFETY: the writes are alive across the call.
    unsafe {
        calls::record_cmd_push_descriptor_set(
            buffer,
            command_buffer,
            bind_point,
            layout,
            set,
            writes.writes.len() as u32,
            writes.writes.as_ptr(),
        )
    };
    Ok(())
}

pub(crate) unsafe extern "system" fn cmd_push_descriptor_set_with_template(
    command_buffer: vk::CommandBuffer,
    descriptor_update_template: vk::DescriptorUpdateTemplate,
    layout: vk::PipelineLayout,
    set: u32,
    p_data: *const c_void,
) {
    guard_void("vkCmdPushDescriptorSetWithTemplate", || {
        push_with_template(
            command_buffer,
            descriptor_update_template,
            layout,
            set,
            p_data,
        )
    })
}

pub(crate) unsafe extern "system" fn cmd_push_descriptor_set_with_template2(
    command_buffer: vk::CommandBuffer,
    p_push_descriptor_set_with_template_info: *const vk::PushDescriptorSetWithTemplateInfoKHR<'_>,
) {
    guard_void("vkCmdPushDescriptorSetWithTemplate2", || {
        // SAFETY: a valid info per valid usage.
        let info = unsafe { &*p_push_descriptor_set_with_template_info };
        push_with_template(
            command_buffer,
            info.descriptor_update_template,
            info.layout,
            info.set,
            info.p_data,
        )
    })
}
