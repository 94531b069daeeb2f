//! When queue work completes: after each submission the host submits an empty batch with a
//! fence of its own, which signals once everything submitted to that queue before it is done;
//! a per-device thread waits for those fences in order, then drops the timeline's work ticket
//! (so fences on the queue's ring_idx retire, venus-protocol.md §5.6) and what the submission
//! kept alive (its command buffers, and through them every object they name; the caller also
//! puts the device there, so that the device outlives its pending work).

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use ash::vk;

use super::generated::fns::DeviceFns;
use crate::executor::ContextFatal;
use crate::timelines::WorkTicket;

/// How long one wait for a fence lasts before the thread logs and waits again.
const WAIT_SLICE_NS: u64 = 5_000_000_000;
/// After this many slices (a minute) the work counts as done, so that its timeline's fences
/// retire instead of hanging the guest forever; the fence and what the work kept are leaked.
const MAX_WAIT_SLICES: u32 = 12;

/// What a submission keeps alive until its work is done.
pub(crate) type Kept = Box<dyn Send>;

struct Pending {
    fence: u64,
    ticket: WorkTicket,
    kept: Kept,
}

/// The device's fences for completion tracking, recycled once signalled and reset.
type FencePool = Arc<Mutex<Vec<u64>>>;

pub(crate) struct CompletionTracker {
    device: u64,
    fns: DeviceFns,
    free_fences: FencePool,
    sender: Mutex<Option<Sender<Pending>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl CompletionTracker {
    pub(crate) fn new(device: u64, fns: DeviceFns) -> Result<Self, String> {
        let (sender, receiver) = mpsc::channel();
        let free_fences = FencePool::default();
        let thread_fences = Arc::clone(&free_fences);
        let thread = std::thread::Builder::new()
            .name("venus-completion".to_owned())
            .spawn(move || wait_in_order(device, &fns, &thread_fences, receiver))
            .map_err(|e| format!("starting the queue completion thread failed: {e}"))?;
        Ok(Self {
            device,
            fns,
            free_fences,
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn fence(&self) -> Result<u64, ContextFatal> {
        if let Some(fence) = self
            .free_fences
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
        {
            return Ok(fence);
        }
        let create = self
            .fns
            .create_fence
            .ok_or_else(|| ContextFatal::new("the driver has no vkCreateFence"))?;
        let info = vk::FenceCreateInfo::default();
        let mut fence = 0u64;
        // SAFETY: a live device; `info` and `fence` outlive the call.
        let result = unsafe {
            create(
                self.device,
                std::ptr::from_ref(&info).cast(),
                std::ptr::null(),
                std::ptr::from_mut(&mut fence).cast(),
            )
        };
        if result != 0 {
            return Err(ContextFatal::new(format!(
                "creating a completion fence failed: {:?}",
                vk::Result::from_raw(result)
            )));
        }
        Ok(fence)
    }

    /// Marks `ticket` complete, and releases `kept`, once the work submitted to `queue` so
    /// far is done. The caller holds the queue's submit lock.
    pub(crate) fn track(
        &self,
        queue: u64,
        ticket: WorkTicket,
        kept: Kept,
    ) -> Result<(), ContextFatal> {
        let fence = self.fence()?;
        let submit = self
            .fns
            .queue_submit
            .ok_or_else(|| ContextFatal::new("the driver has no vkQueueSubmit"))?;
        // SAFETY: an empty batch on a live queue, externally synchronised by the caller; the
        // fence is unsignalled (new, or reset before it went back to the pool).
        let result = unsafe { submit(queue, 0, std::ptr::null(), fence) };
        if result != 0 {
            self.free_fences
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(fence);
            return Err(ContextFatal::new(format!(
                "submitting the completion fence failed: {:?}",
                vk::Result::from_raw(result)
            )));
        }
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        match sender.as_ref() {
            Some(sender)
                if sender
                    .send(Pending {
                        fence,
                        ticket,
                        kept,
                    })
                    .is_ok() =>
            {
                Ok(())
            }
            _ => Err(ContextFatal::new(
                "the device's completion thread has stopped",
            )),
        }
    }

    /// Lets the thread go without waiting for it (the device is lost and left behind).
    pub(crate) fn abandon(&self) {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(
            self.thread
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }

    /// Waits for every tracked submission and stops the thread (before the device goes).
    pub(crate) fn shutdown(&self) {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // The last reference to the device may go on the completion thread itself (with
            // the last work it tracked); it then finishes on its own once the channel closes.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
        if let Some(destroy) = self.fns.destroy_fence {
            for fence in self
                .free_fences
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain(..)
            {
                // SAFETY: a signalled-and-reset fence of this device that nothing uses.
                unsafe { destroy(self.device, fence, std::ptr::null()) };
            }
        }
    }
}

fn wait_in_order(device: u64, fns: &DeviceFns, free: &FencePool, receiver: Receiver<Pending>) {
    let (Some(wait), Some(reset)) = (fns.wait_for_fences, fns.reset_fences) else {
        crate::log!("the driver lacks vkWaitForFences or vkResetFences: queue work is never seen to complete");
        return;
    };
    for pending in receiver {
        let mut signalled = false;
        for slice in 1..=MAX_WAIT_SLICES {
            // SAFETY: the fence is a live fence of `device`, submitted once.
            let result = unsafe {
                wait(
                    device,
                    1,
                    std::ptr::from_ref(&pending.fence).cast(),
                    vk::TRUE,
                    WAIT_SLICE_NS,
                )
            };
            match vk::Result::from_raw(result) {
                vk::Result::SUCCESS => {
                    signalled = true;
                    break;
                }
                vk::Result::TIMEOUT => crate::log!(
                    "queue work has been running for over {} s; still waiting",
                    u64::from(slice) * WAIT_SLICE_NS / 1_000_000_000
                ),
                other => {
                    crate::log!("waiting for queue work failed ({other:?}); treating it as done");
                    break;
                }
            }
        }
        let Pending {
            fence,
            ticket,
            kept,
        } = pending;
        if signalled {
            // SAFETY: the fence has signalled and nothing else uses it.
            if unsafe { reset(device, 1, std::ptr::from_ref(&fence).cast()) } == 0 {
                free.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(fence);
            }
            drop(kept);
        } else {
            crate::log!("queue work did not complete; its timeline's fences retire anyway");
            // What the work kept may still be in use by the device: never released.
            std::mem::forget(kept);
        }
        drop(ticket);
    }
}
