//! The blocking waits a guest may send: bounded, so that a ring thread never blocks for long.
//! A wait longer than [`WAIT_SLICE`] returns VK_TIMEOUT after the slice, which Vulkan allows
//! for any finite timeout; the guest waits again until its own deadline.

use std::time::Duration;

use venus_rs_encoder::host::{WaitForFencesArgs, WaitSemaphoresArgs};

use super::generated::object_types as ot;
use super::objects::Owner;
use super::translate::{in_slice, lowered_ptr, unavailable, Dispatch, Keep};
use crate::executor::ContextFatal;
use crate::limits::Cap;

/// The longest a ring thread waits in one guest wait.
pub(crate) const WAIT_SLICE: Duration = Duration::from_millis(100);

/// The guest's timeout, at most [`WAIT_SLICE`] (or `VENUS_RS_MAX_IDLE_WAIT_MS`, if shorter).
fn bounded(cx: &Dispatch<'_, '_>, timeout_ns: u64) -> u64 {
    let cap = Duration::from_millis(cx.shared.options.limits.get(Cap::IdleWaitMs));
    let slice = WAIT_SLICE.min(cap);
    timeout_ns.min(u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX))
}

pub(crate) fn wait_for_fences(
    cx: &mut Dispatch<'_, '_>,
    a: &mut WaitForFencesArgs,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let f = device
        .fns
        .wait_for_fences
        .ok_or_else(|| unavailable("vkWaitForFences"))?;
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let fences = t.handles(ot::FENCE, a.p_fences.as_deref())?;
    if fences.as_ref().is_some_and(|f| f.contains(&0)) {
        return Err(ContextFatal::new("vkWaitForFences names VK_NULL_HANDLE"));
    }
    let kept = t.finish();
    // SAFETY: live fences of this device, kept alive across the call; the wait is bounded.
    a.ret = unsafe {
        f(
            device.raw,
            a.fence_count,
            in_slice(&fences),
            a.wait_all,
            bounded(cx, a.timeout),
        )
    };
    drop(kept);
    Ok(())
}

pub(crate) fn wait_semaphores(
    cx: &mut Dispatch<'_, '_>,
    a: &mut WaitSemaphoresArgs<'_>,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let f = device
        .fns
        .wait_semaphores
        .ok_or_else(|| unavailable("vkWaitSemaphores"))?;
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let mut info = t.lower_one(a.p_wait_info.take())?;
    let kept = t.finish();
    // SAFETY: a live device; the wait info is a C image whose semaphores were translated and
    // are kept alive across the call; the wait is bounded.
    a.ret = unsafe { f(device.raw, lowered_ptr(&mut info), bounded(cx, a.timeout)) };
    drop(kept);
    Ok(())
}
