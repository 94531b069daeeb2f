//! Descriptor pools and sets: sets belong to their pool (freed only through it, gone with its
//! reset or destruction), every write is checked against its descriptor type before the
//! driver reads it (the array the type reads must be there, with descriptorCount elements),
//! and a set keeps alive what its descriptors point at.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ash::vk;
use venus_rs_encoder::host::types::{Ext, WriteDescriptorSet};
use venus_rs_encoder::host::{
    AllocateDescriptorSetsArgs, CmdPushDescriptorSet2Args, CmdPushDescriptorSetArgs,
    CreateDescriptorPoolArgs, FreeDescriptorSetsArgs, ResetDescriptorPoolArgs,
    UpdateDescriptorSetsArgs,
};

use super::generated::object_types as ot;
use super::objects::{DeviceObject, Entry, Object, ObjectState, ObjectTable, Owner};
use super::translate::{lowered_ptr, unavailable, Dispatch, Keep};
use crate::executor::ContextFatal;

/// Which array of a write a descriptor type reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Payload {
    Images,
    Buffers,
    TexelBufferViews,
    /// VkWriteDescriptorSetInlineUniformBlock in the chain, dataSize == descriptorCount.
    InlineBlock,
}

fn payload(descriptor_type: i32) -> Result<Payload, ContextFatal> {
    Ok(match vk::DescriptorType::from_raw(descriptor_type) {
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
        vk::DescriptorType::INLINE_UNIFORM_BLOCK => Payload::InlineBlock,
        other => {
            return Err(ContextFatal::new(format!(
                "descriptor writes of type {other:?} are not supported by this host"
            )))
        }
    })
}

/// Checks that a write carries what its descriptor type reads: the driver reads
/// descriptorCount elements of that array without checking.
fn check_write(write: &WriteDescriptorSet<'_>) -> Result<(), ContextFatal> {
    let count = write.descriptor_count as usize;
    let (present, what) = match payload(write.descriptor_type)? {
        Payload::Images => (write.p_image_info.as_ref().map(Vec::len), "pImageInfo"),
        Payload::Buffers => (write.p_buffer_info.as_ref().map(Vec::len), "pBufferInfo"),
        Payload::TexelBufferViews => (
            write.p_texel_buffer_view.as_ref().map(Vec::len),
            "pTexelBufferView",
        ),
        Payload::InlineBlock => (
            write.p_next.iter().find_map(|ext| match ext {
                Ext::WriteDescriptorSetInlineUniformBlock(block) => Some(block.data_size as usize),
                _ => None,
            }),
            "VkWriteDescriptorSetInlineUniformBlock::dataSize",
        ),
    };
    match present {
        Some(n) if n == count => Ok(()),
        Some(n) => Err(ContextFatal::new(format!(
            "a descriptor write of type {} has {n} elements in {what}, not descriptorCount {count}",
            write.descriptor_type
        ))),
        None => Err(ContextFatal::new(format!(
            "a descriptor write of type {} has no {what} (descriptorCount {count})",
            write.descriptor_type
        ))),
    }
}

/// Drops what a write's descriptor type does not read (the driver ignores it, so it may be
/// anything), so that only the ids the driver uses are looked up.
fn sanitize_write(write: &mut WriteDescriptorSet<'_>) -> Result<(), ContextFatal> {
    match payload(write.descriptor_type)? {
        Payload::Images => {
            write.p_buffer_info = None;
            write.p_texel_buffer_view = None;
            let ty = vk::DescriptorType::from_raw(write.descriptor_type);
            for image in write.p_image_info.iter_mut().flatten() {
                match ty {
                    vk::DescriptorType::SAMPLER => image.image_view = 0,
                    vk::DescriptorType::COMBINED_IMAGE_SAMPLER => {}
                    _ => image.sampler = 0,
                }
            }
        }
        Payload::Buffers => {
            write.p_image_info = None;
            write.p_texel_buffer_view = None;
        }
        Payload::TexelBufferViews => {
            write.p_image_info = None;
            write.p_buffer_info = None;
        }
        Payload::InlineBlock => {
            write.p_image_info = None;
            write.p_buffer_info = None;
            write.p_texel_buffer_view = None;
        }
    }
    Ok(())
}

fn check_writes(writes: Option<&[WriteDescriptorSet<'_>]>) -> Result<(), ContextFatal> {
    writes.unwrap_or_default().iter().try_for_each(check_write)
}

pub(crate) fn check_cmd_push_descriptor_set(
    a: &CmdPushDescriptorSetArgs<'_>,
) -> Result<(), ContextFatal> {
    check_writes(a.p_descriptor_writes.as_deref())
}

pub(crate) fn check_cmd_push_descriptor_set2(
    a: &CmdPushDescriptorSet2Args<'_>,
) -> Result<(), ContextFatal> {
    check_writes(
        a.p_push_descriptor_set_info
            .as_ref()
            .and_then(|info| info.p_descriptor_writes.as_deref()),
    )
}

pub(crate) fn create_descriptor_pool(
    cx: &mut Dispatch<'_, '_>,
    a: &mut CreateDescriptorPoolArgs<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let create = device
        .fns
        .create_descriptor_pool
        .ok_or_else(|| unavailable("vkCreateDescriptorPool"))?;
    let free_individually = a.p_create_info.as_ref().is_some_and(|info| {
        info.flags & vk::DescriptorPoolCreateFlags::FREE_DESCRIPTOR_SET.as_raw() != 0
    });
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let id = t.new_id(a.p_descriptor_pool, ot::DESCRIPTOR_POOL)?;
    let mut info = t.lower_one(a.p_create_info.take())?;
    let kept = t.finish();
    let mut raw = 0u64;
    // SAFETY: a live device; the create info is a C image lowered for this call.
    a.ret = unsafe {
        create(
            device.raw,
            lowered_ptr(&mut info),
            std::ptr::null(),
            std::ptr::from_mut(&mut raw).cast(),
        )
    };
    if a.ret != 0 {
        return Ok(());
    }
    cx.insert_object(
        id,
        Object::new(
            ot::DESCRIPTOR_POOL,
            raw,
            device,
            None,
            ObjectState::DescriptorPool {
                free_individually,
                generation: AtomicU64::new(0),
            },
            kept,
        ),
    )
}

fn pool_generation(pool: &Object) -> u64 {
    match &pool.state {
        ObjectState::DescriptorPool { generation, .. } => generation.load(Ordering::Acquire),
        _ => 0,
    }
}

pub(crate) fn allocate_descriptor_sets(
    cx: &mut Dispatch<'_, '_>,
    a: &mut AllocateDescriptorSetsArgs<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let allocate = device
        .fns
        .allocate_descriptor_sets
        .ok_or_else(|| unavailable("vkAllocateDescriptorSets"))?;
    let info = a
        .p_allocate_info
        .take()
        .ok_or_else(|| ContextFatal::new("pAllocateInfo is NULL"))?;
    let pool = cx
        .objects()
        .owned_object(info.descriptor_pool, ot::DESCRIPTOR_POOL, &device)?;
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let ids = t.new_ids(a.p_descriptor_sets.as_deref(), ot::DESCRIPTOR_SET)?;
    if ids.len() != info.descriptor_set_count as usize {
        return Err(ContextFatal::new(
            "pDescriptorSets does not hold descriptorSetCount ids",
        ));
    }
    let mut lowered = t.lower_one(Some(info))?;
    drop(t.finish());
    let mut raws = vec![0u64; ids.len()];
    // SAFETY: a live device and pool; `raws` holds descriptorSetCount handles.
    a.ret = unsafe {
        allocate(
            device.raw,
            lowered_ptr(&mut lowered),
            raws.as_mut_ptr().cast(),
        )
    };
    if a.ret != 0 {
        return Ok(());
    }
    let generation = pool_generation(&pool);
    let mut objects = cx.objects();
    for (id, raw) in ids.into_iter().zip(raws) {
        objects.insert(
            id,
            Entry::Object(Arc::new(Object::new(
                ot::DESCRIPTOR_SET,
                raw,
                Arc::clone(&device),
                Some(Arc::clone(&pool)),
                ObjectState::DescriptorSet {
                    generation,
                    bindings: Mutex::new(HashMap::new()),
                },
                Vec::new(),
            ))),
        )?;
    }
    Ok(())
}

pub(crate) fn free_descriptor_sets(
    cx: &mut Dispatch<'_, '_>,
    a: &mut FreeDescriptorSetsArgs,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let mut objects = cx.objects();
    let pool = objects.owned_object(a.descriptor_pool, ot::DESCRIPTOR_POOL, &device)?;
    let ids = a.p_descriptor_sets.as_deref().unwrap_or_default();
    for &id in ids.iter().filter(|&&id| id != 0) {
        let set = objects.owned_object(id, ot::DESCRIPTOR_SET, &device)?;
        if !set.parent.as_ref().is_some_and(|p| Arc::ptr_eq(p, &pool)) {
            return Err(ContextFatal::new(format!(
                "descriptor set {id} was not allocated from descriptor pool {}",
                a.descriptor_pool
            )));
        }
    }
    let mut freed = Vec::with_capacity(ids.len());
    for &id in ids.iter().filter(|&&id| id != 0) {
        freed.extend(objects.remove_object(id, ot::DESCRIPTOR_SET, &device)?);
    }
    drop(objects);
    // Each set is freed when its last reference (a recording naming it) goes.
    drop(freed);
    a.ret = 0;
    Ok(())
}

pub(crate) fn reset_descriptor_pool(
    cx: &mut Dispatch<'_, '_>,
    a: &mut ResetDescriptorPoolArgs,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let reset = device
        .fns
        .reset_descriptor_pool
        .ok_or_else(|| unavailable("vkResetDescriptorPool"))?;
    let pool = {
        let mut objects = cx.objects();
        let pool = objects.owned_object(a.descriptor_pool, ot::DESCRIPTOR_POOL, &device)?;
        objects.remove_children(&pool);
        pool
    };
    if let ObjectState::DescriptorPool { generation, .. } = &pool.state {
        // Sets of the old generation must not be freed again one by one.
        generation.fetch_add(1, Ordering::AcqRel);
    }
    // SAFETY: a live pool of this device.
    a.ret = unsafe { reset(device.raw, pool.raw, a.flags) };
    Ok(())
}

/// The objects descriptor `index` of `write` points at.
fn write_targets(
    objects: &ObjectTable,
    device: &Arc<DeviceObject>,
    write: &WriteDescriptorSet<'_>,
    index: usize,
) -> Result<Vec<Arc<Object>>, ContextFatal> {
    let mut targets = Vec::new();
    let mut add = |id: u64, object_type: i32| -> Result<(), ContextFatal> {
        if id != 0 {
            targets.push(objects.owned_object(id, object_type, device)?);
        }
        Ok(())
    };
    if let Some(image) = write.p_image_info.as_ref().and_then(|v| v.get(index)) {
        add(image.sampler, ot::SAMPLER)?;
        add(image.image_view, ot::IMAGE_VIEW)?;
    }
    if let Some(buffer) = write.p_buffer_info.as_ref().and_then(|v| v.get(index)) {
        add(buffer.buffer, ot::BUFFER)?;
    }
    if let Some(&view) = write
        .p_texel_buffer_view
        .as_ref()
        .and_then(|v| v.get(index))
    {
        add(view, ot::BUFFER_VIEW)?;
    }
    Ok(targets)
}

type Slots = Vec<(Arc<Object>, (u32, u32), Vec<Arc<Object>>)>;

pub(crate) fn update_descriptor_sets(
    cx: &mut Dispatch<'_, '_>,
    a: &mut UpdateDescriptorSetsArgs<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let update = device
        .fns
        .update_descriptor_sets
        .ok_or_else(|| unavailable("vkUpdateDescriptorSets"))?;
    let mut writes = a.p_descriptor_writes.take();
    let copies = a.p_descriptor_copies.take();
    check_writes(writes.as_deref())?;
    for write in writes.iter_mut().flatten() {
        sanitize_write(write)?;
    }
    // What each written (set, binding, element) will point at, and what each copy carries.
    let mut slots: Slots = Vec::new();
    {
        let objects = cx.objects();
        for write in writes.iter().flatten() {
            let set = objects.owned_object(write.dst_set, ot::DESCRIPTOR_SET, &device)?;
            for index in 0..write.descriptor_count as usize {
                let element = write.dst_array_element.wrapping_add(index as u32);
                let targets = write_targets(&objects, &device, write, index)?;
                slots.push((Arc::clone(&set), (write.dst_binding, element), targets));
            }
        }
        for copy in copies.iter().flatten() {
            let source = objects.owned_object(copy.src_set, ot::DESCRIPTOR_SET, &device)?;
            let target = objects.owned_object(copy.dst_set, ot::DESCRIPTOR_SET, &device)?;
            for index in 0..copy.descriptor_count {
                let from = (copy.src_binding, copy.src_array_element.wrapping_add(index));
                let to = (copy.dst_binding, copy.dst_array_element.wrapping_add(index));
                let carried = match &source.state {
                    ObjectState::DescriptorSet { bindings, .. } => bindings
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .get(&from)
                        .cloned()
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                slots.push((Arc::clone(&target), to, carried));
            }
        }
    }
    let write_count = a.descriptor_write_count;
    let copy_count = a.descriptor_copy_count;
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let mut writes = t.lower_many(writes)?;
    let mut copies = t.lower_many(copies)?;
    let kept = t.finish();
    // SAFETY: a live device; every write carries the array its type reads, and every handle
    // was translated and is kept alive across the call (and afterwards by the sets).
    unsafe {
        update(
            device.raw,
            write_count,
            lowered_ptr(&mut writes),
            copy_count,
            lowered_ptr(&mut copies),
        )
    };
    drop(kept);
    for (set, slot, targets) in slots {
        if let ObjectState::DescriptorSet { bindings, .. } = &set.state {
            bindings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(slot, targets);
        }
    }
    Ok(())
}
