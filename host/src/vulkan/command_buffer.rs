//! Command buffers belong to their pool (freed only through it, gone with it) and keep alive
//! every object their recorded commands name, until they are recorded anew, reset or freed.
//! The commands they record are generated pass-throughs.

use std::sync::Arc;

use venus_rs_encoder::host::{
    AllocateCommandBuffersArgs, BeginCommandBufferArgs, FreeCommandBuffersArgs,
    ResetCommandBufferArgs, ResetCommandPoolArgs,
};

use super::generated::object_types as ot;
use super::objects::{Entry, Object, ObjectState, Owner};
use super::translate::{lowered_ptr, unavailable, Dispatch, Keep};
use crate::executor::ContextFatal;

pub(crate) fn allocate_command_buffers(
    cx: &mut Dispatch<'_, '_>,
    a: &mut AllocateCommandBuffersArgs<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let allocate = device
        .fns
        .allocate_command_buffers
        .ok_or_else(|| unavailable("vkAllocateCommandBuffers"))?;
    let info = a
        .p_allocate_info
        .take()
        .ok_or_else(|| ContextFatal::new("pAllocateInfo is NULL"))?;
    let pool = cx
        .objects()
        .owned_object(info.command_pool, ot::COMMAND_POOL, &device)?;
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let ids = t.new_ids(a.p_command_buffers.as_deref(), ot::COMMAND_BUFFER)?;
    if ids.len() != info.command_buffer_count as usize {
        return Err(ContextFatal::new(
            "pCommandBuffers does not hold commandBufferCount ids",
        ));
    }
    let mut lowered = t.lower_one(Some(info))?;
    drop(t.finish());
    let mut raws = vec![0u64; ids.len()];
    // SAFETY: a live device and pool; `raws` holds commandBufferCount handles.
    let result = unsafe {
        allocate(
            device.raw,
            lowered_ptr(&mut lowered),
            raws.as_mut_ptr().cast(),
        )
    };
    a.ret = result;
    if result != 0 {
        return Ok(());
    }
    let mut objects = cx.objects();
    for (id, raw) in ids.into_iter().zip(raws) {
        objects.insert(
            id,
            Entry::Object(Arc::new(Object::new(
                ot::COMMAND_BUFFER,
                raw,
                Arc::clone(&device),
                Some(Arc::clone(&pool)),
                ObjectState::Plain,
                Vec::new(),
            ))),
        )?;
    }
    Ok(())
}

pub(crate) fn free_command_buffers(
    cx: &mut Dispatch<'_, '_>,
    a: &mut FreeCommandBuffersArgs,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let mut objects = cx.objects();
    let pool = objects.owned_object(a.command_pool, ot::COMMAND_POOL, &device)?;
    let ids = a.p_command_buffers.as_deref().unwrap_or_default();
    for &id in ids.iter().filter(|&&id| id != 0) {
        let buffer = objects.owned_object(id, ot::COMMAND_BUFFER, &device)?;
        if !buffer
            .parent
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, &pool))
        {
            return Err(ContextFatal::new(format!(
                "command buffer {id} was not allocated from command pool {}",
                a.command_pool
            )));
        }
    }
    let mut freed = Vec::with_capacity(ids.len());
    for &id in ids.iter().filter(|&&id| id != 0) {
        freed.extend(objects.remove_object(id, ot::COMMAND_BUFFER, &device)?);
    }
    drop(objects);
    // The driver frees each one when its last reference (a pending submission) goes.
    drop(freed);
    Ok(())
}

pub(crate) fn begin_command_buffer(
    cx: &mut Dispatch<'_, '_>,
    a: &mut BeginCommandBufferArgs<'_>,
) -> Result<(), ContextFatal> {
    let buffer = cx.command_buffer(a.command_buffer)?;
    let device = Arc::clone(buffer.device());
    let begin = device
        .fns
        .begin_command_buffer
        .ok_or_else(|| unavailable("vkBeginCommandBuffer"))?;
    // Beginning resets the command buffer: the old recording's objects are no longer needed.
    buffer.release_kept();
    let mut t = cx.translator(Owner::Device(&device), Keep::Recording(&buffer));
    let mut info = t.lower_one(a.p_begin_info.take())?;
    t.finish();
    // SAFETY: a live command buffer; the begin info (inheritance included) is a C image whose
    // handles were translated and are kept by the recording.
    a.ret = unsafe { begin(buffer.raw, lowered_ptr(&mut info)) };
    Ok(())
}

pub(crate) fn reset_command_buffer(
    cx: &mut Dispatch<'_, '_>,
    a: &mut ResetCommandBufferArgs,
) -> Result<(), ContextFatal> {
    let buffer = cx.command_buffer(a.command_buffer)?;
    let reset = buffer
        .device()
        .fns
        .reset_command_buffer
        .ok_or_else(|| unavailable("vkResetCommandBuffer"))?;
    // SAFETY: a live command buffer; a pending one is the guest's invalid usage, which the
    // driver's validation reports (the submission still keeps it and its objects alive).
    a.ret = unsafe { reset(buffer.raw, a.flags) };
    if a.ret == 0 {
        buffer.release_kept();
    }
    Ok(())
}

pub(crate) fn reset_command_pool(
    cx: &mut Dispatch<'_, '_>,
    a: &mut ResetCommandPoolArgs,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let reset = device
        .fns
        .reset_command_pool
        .ok_or_else(|| unavailable("vkResetCommandPool"))?;
    let (pool, buffers) = {
        let objects = cx.objects();
        let pool = objects.owned_object(a.command_pool, ot::COMMAND_POOL, &device)?;
        let buffers = objects.children(&pool);
        (pool, buffers)
    };
    // SAFETY: a live pool of this device.
    a.ret = unsafe { reset(device.raw, pool.raw, a.flags) };
    if a.ret == 0 {
        for buffer in buffers {
            buffer.release_kept();
        }
    }
    Ok(())
}
