//! When queue work completes: after each vkQueueSubmit the host submits an empty batch with
//! a fence of its own, which signals once everything submitted to that queue before it is
//! done; a per-device thread waits for those fences in order and then drops the timeline's
//! work ticket, so that fences on the queue's ring_idx retire (venus-protocol.md §5.6).

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

use ash::vk;

use crate::executor::ContextFatal;
use crate::timelines::WorkTicket;

/// How long one wait for a fence lasts before the thread logs and waits again.
const WAIT_SLICE_NS: u64 = 5_000_000_000;
/// After this many slices (a minute) the work counts as done, so that its timeline's fences
/// retire instead of hanging the guest forever; the fence is then leaked, not destroyed.
const MAX_WAIT_SLICES: u32 = 12;

struct Pending {
    fence: vk::Fence,
    ticket: WorkTicket,
}

pub(crate) struct CompletionTracker {
    device: ash::Device,
    sender: Mutex<Option<Sender<Pending>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl CompletionTracker {
    pub(crate) fn new(device: &ash::Device) -> Result<Self, String> {
        let (sender, receiver) = mpsc::channel();
        let thread_device = device.clone();
        let thread = std::thread::Builder::new()
            .name("venus-completion".to_owned())
            .spawn(move || wait_in_order(&thread_device, receiver))
            .map_err(|e| format!("starting the queue completion thread failed: {e}"))?;
        Ok(Self {
            device: device.clone(),
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Marks `ticket` complete once the work submitted to `queue` so far is done. The caller
    /// holds the queue's submit lock.
    pub(crate) fn track(&self, queue: vk::Queue, ticket: WorkTicket) -> Result<(), ContextFatal> {
        // SAFETY: a live device; the fence is owned by this tracker.
        let fence = unsafe {
            self.device
                .create_fence(&vk::FenceCreateInfo::default(), None)
        }
        .map_err(|e| ContextFatal::new(format!("creating a completion fence failed: {e}")))?;
        // SAFETY: an empty batch on a live queue, externally synchronised by the caller.
        if let Err(e) = unsafe { self.device.queue_submit(queue, &[], fence) } {
            // SAFETY: the fence was never submitted.
            unsafe { self.device.destroy_fence(fence, None) };
            return Err(ContextFatal::new(format!(
                "submitting the completion fence failed: {e}"
            )));
        }
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        match sender.as_ref() {
            Some(sender) if sender.send(Pending { fence, ticket }).is_ok() => Ok(()),
            _ => Err(ContextFatal::new(
                "the device's completion thread has stopped",
            )),
        }
    }

    /// Waits for every tracked submission and stops the thread (before the device goes).
    pub(crate) fn shutdown(&self) {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = thread.join();
        }
    }
}

fn wait_in_order(device: &ash::Device, receiver: Receiver<Pending>) {
    for pending in receiver {
        let mut signalled = false;
        for slice in 1..=MAX_WAIT_SLICES {
            // SAFETY: the fence is live until destroyed below.
            match unsafe { device.wait_for_fences(&[pending.fence], true, WAIT_SLICE_NS) } {
                Ok(()) => {
                    signalled = true;
                    break;
                }
                Err(vk::Result::TIMEOUT) => crate::log!(
                    "queue work has been running for over {} s; still waiting",
                    u64::from(slice) * WAIT_SLICE_NS / 1_000_000_000
                ),
                Err(e) => {
                    crate::log!("waiting for queue work failed ({e}); treating it as done");
                    break;
                }
            }
        }
        if signalled {
            // SAFETY: the fence has signalled and nothing else uses it.
            unsafe { device.destroy_fence(pending.fence, None) };
        } else {
            crate::log!("queue work did not complete; its timeline's fences retire anyway");
        }
        drop(pending.ticket);
    }
}
