//! Queue work: submissions run on the queue's fence timeline and keep what they submitted
//! (command buffers, and through them every object they name) alive until the work is done;
//! the blocking idle waits are bounded, so that a stuck device cannot hold a ring thread.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ash::vk;
use venus_rs_encoder::host::{
    DeviceWaitIdleArgs, QueueSubmit2Args, QueueSubmitArgs, QueueWaitIdleArgs,
};

use super::generated::object_types as ot;
use super::objects::{DeviceObject, Object, Owner};
use super::translate::{lowered_ptr, unavailable, Dispatch, Keep};
use crate::executor::ContextFatal;
use crate::limits::Cap;

fn queue_state(queue: &Object) -> Result<&super::objects::QueueState, ContextFatal> {
    queue
        .queue()
        .ok_or_else(|| ContextFatal::new("the queue object has no queue state"))
}

/// Submits with `submit` (the driver call, given the fence) on the queue's timeline; the
/// submission keeps `kept` alive until its work completes.
fn submit_on_timeline(
    cx: &mut Dispatch<'_, '_>,
    queue: &Arc<Object>,
    kept: Vec<Arc<Object>>,
    submit: impl FnOnce() -> i32,
) -> Result<i32, ContextFatal> {
    let state = queue_state(queue)?;
    let ticket = cx
        .transport
        .timelines()
        .begin_work(state.ring_idx)
        .map_err(|e| ContextFatal::new(e.to_string()))?;
    let _submitting = state.lock_for_submit();
    let result = submit();
    if result == 0 {
        let device: Arc<DeviceObject> = Arc::clone(queue.device());
        queue
            .device()
            .completion
            .track(queue.raw, ticket, Box::new((kept, device)))?;
    }
    Ok(result)
}

pub(crate) fn queue_submit(
    cx: &mut Dispatch<'_, '_>,
    a: &mut QueueSubmitArgs<'_>,
) -> Result<(), ContextFatal> {
    let queue = cx.queue(a.queue)?;
    let device = queue.device();
    let f = device
        .fns
        .queue_submit
        .ok_or_else(|| unavailable("vkQueueSubmit"))?;
    let mut t = cx.translator(Owner::Device(device), Keep::Collect(Vec::new()));
    let mut submits = t.lower_many(a.p_submits.take())?;
    let fence = t.handle(ot::FENCE, a.fence, true)?;
    let kept = t.finish();
    let count = a.submit_count;
    a.ret = submit_on_timeline(cx, &queue, kept, || {
        // SAFETY: a live queue (externally synchronised by the submit lock); every handle in
        // the submits was translated and is kept alive until the work completes.
        unsafe { f(queue.raw, count, lowered_ptr(&mut submits), fence) }
    })?;
    Ok(())
}

pub(crate) fn queue_submit2(
    cx: &mut Dispatch<'_, '_>,
    a: &mut QueueSubmit2Args<'_>,
) -> Result<(), ContextFatal> {
    let queue = cx.queue(a.queue)?;
    let device = queue.device();
    let f = device
        .fns
        .queue_submit2
        .ok_or_else(|| unavailable("vkQueueSubmit2"))?;
    let mut t = cx.translator(Owner::Device(device), Keep::Collect(Vec::new()));
    let mut submits = t.lower_many(a.p_submits.take())?;
    let fence = t.handle(ot::FENCE, a.fence, true)?;
    let kept = t.finish();
    let count = a.submit_count;
    a.ret = submit_on_timeline(cx, &queue, kept, || {
        // SAFETY: as in vkQueueSubmit.
        unsafe { f(queue.raw, count, lowered_ptr(&mut submits), fence) }
    })?;
    Ok(())
}

/// The longest a ring thread waits in a guest's vkQueueWaitIdle/vkDeviceWaitIdle before the
/// device counts as lost (`VENUS_RS_MAX_IDLE_WAIT_MS`).
fn idle_wait_limit(cx: &Dispatch<'_, '_>) -> Duration {
    Duration::from_millis(cx.shared.options.limits.get(Cap::IdleWaitMs))
}

/// Waits until the work submitted to `queue` so far is done, at most `limit`; past it the
/// device is lost.
pub(crate) fn wait_queue_idle(
    device: &DeviceObject,
    queue: &Object,
    limit: Duration,
) -> Result<i32, ContextFatal> {
    let fns = &device.fns;
    let (Some(create), Some(submit), Some(wait), Some(destroy)) = (
        fns.create_fence,
        fns.queue_submit,
        fns.wait_for_fences,
        fns.destroy_fence,
    ) else {
        return Err(unavailable("vkCreateFence/vkQueueSubmit/vkWaitForFences"));
    };
    let info = vk::FenceCreateInfo::default();
    let mut fence = 0u64;
    // SAFETY: a live device; `info` and `fence` outlive the call.
    let created = unsafe {
        create(
            device.raw,
            std::ptr::from_ref(&info).cast(),
            std::ptr::null(),
            std::ptr::from_mut(&mut fence).cast(),
        )
    };
    if created != 0 {
        return Ok(created);
    }
    let state = queue_state(queue)?;
    let submitted = {
        let _submitting = state.lock_for_submit();
        // SAFETY: an empty batch on a live queue, externally synchronised by the lock.
        unsafe { submit(queue.raw, 0, std::ptr::null(), fence) }
    };
    let result = if submitted != 0 {
        submitted
    } else {
        // SAFETY: a live fence of this device, just submitted.
        let waited = unsafe {
            wait(
                device.raw,
                1,
                std::ptr::from_ref(&fence).cast(),
                vk::TRUE,
                u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX),
            )
        };
        if waited == vk::Result::TIMEOUT.as_raw() {
            crate::log!(
                "a queue wait-idle did not finish within {limit:?} ({}): the device counts as lost",
                Cap::IdleWaitMs
            );
            // The fence stays pending: it is leaked rather than destroyed while in use, and
            // so is the device (never waited for again).
            device.lost.store(true, Ordering::Release);
            return Ok(vk::Result::ERROR_DEVICE_LOST.as_raw());
        }
        waited
    };
    // SAFETY: the fence is signalled (or was never submitted); nothing else uses it.
    unsafe { destroy(device.raw, fence, std::ptr::null()) };
    Ok(result)
}

pub(crate) fn queue_wait_idle(
    cx: &mut Dispatch<'_, '_>,
    a: &mut QueueWaitIdleArgs,
) -> Result<(), ContextFatal> {
    let queue = cx.queue(a.queue)?;
    a.ret = wait_queue_idle(queue.device(), &queue, idle_wait_limit(cx))?;
    Ok(())
}

pub(crate) fn device_wait_idle(
    cx: &mut Dispatch<'_, '_>,
    a: &mut DeviceWaitIdleArgs,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let queues = cx.objects().queues_of(&device);
    a.ret = 0;
    let limit = idle_wait_limit(cx);
    for queue in queues {
        let result = wait_queue_idle(&device, &queue, limit)?;
        if result != 0 {
            a.ret = result;
            break;
        }
    }
    Ok(())
}
