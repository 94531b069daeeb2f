//! VkQueue: each queue is made on the host bound to a fence timeline of the context's own;
//! submission sends the command buffers' recorded streams first, then the submit, without
//! waiting; idle waits are a fence waited for on the host in bounded slices.

use std::sync::{Arc, Mutex, PoisonError};

use ash::vk;
use ash::vk::Handle;
use venus_rs_encoder::guest::mesa::DeviceQueueTimelineInfoMESA;

use crate::driver::command_buffer::flush_command_buffers;
use crate::driver::device::device;
use crate::driver::generated::calls;
use crate::driver::handles::{next_object_id, Dispatchable};
use crate::driver::host::Host;
use crate::driver::runtime::guard_result;
use crate::driver::sync::wait_fences;
use crate::log::Level;
use crate::venus_log;

pub struct Queue {
    host: Arc<Host>,
    device: vk::Device,
    /// A fence of the queue's own for vkQueueWaitIdle, made on first use (the host releases it
    /// with the device).
    idle_fence: Mutex<Option<vk::Fence>>,
}

pub type QueueHandle = Dispatchable<Queue>;

/// # Safety
/// `handle` must be a VkQueue of this ICD.
pub(crate) unsafe fn queue<'a>(handle: vk::Queue) -> &'a QueueHandle {
    // SAFETY: per the caller, a live queue of this ICD.
    unsafe { Dispatchable::from_handle(handle.as_raw()) }.expect("a VkQueue of this ICD")
}

impl Queue {
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// Gets the queue `info` names on the host, bound to a new fence timeline.
    pub(crate) fn create(
        host: &Arc<Host>,
        device: vk::Device,
        info: &vk::DeviceQueueInfo2<'_>,
    ) -> Result<Box<QueueHandle>, vk::Result> {
        let ring_idx = host.next_ring_idx()?;
        let queue = Dispatchable::new(Queue {
            host: Arc::clone(host),
            device,
            idle_fence: Mutex::new(None),
        });
        let timeline = DeviceQueueTimelineInfoMESA {
            p_next: info.p_next,
            ring_idx,
            ..Default::default()
        };
        let host_info = vk::DeviceQueueInfo2 {
            p_next: std::ptr::addr_of!(timeline).cast(),
            ..*info
        };
        let mut handle = vk::Queue::from_raw(queue.handle());
        // SAFETY: the application's queue info with the timeline struct in front; `handle`
        // holds the new queue's handle, whose id the host adopts.
        unsafe { calls::call_get_device_queue2(host, device, &host_info, &mut handle) }?;
        venus_log!(
            Level::Debug,
            "queue family {} index {} bound to ring {ring_idx}",
            info.queue_family_index,
            info.queue_index
        );
        Ok(queue)
    }

    /// Waits until everything submitted to the queue so far is done.
    fn wait_idle(&self, handle: vk::Queue) -> Result<vk::Result, vk::Result> {
        let fence = {
            let mut idle = self
                .idle_fence
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match *idle {
                Some(fence) => fence,
                None => {
                    let fence = vk::Fence::from_raw(next_object_id());
                    let info = vk::FenceCreateInfo::default();
                    let mut created = fence;
                    // SAFETY: a plain fence create info; `created` holds the new handle.
                    unsafe {
                        calls::send_create_fence(
                            &self.host,
                            self.device,
                            &info,
                            std::ptr::null(),
                            &mut created,
                        )
                    }?;
                    *idle = Some(fence);
                    fence
                }
            }
        };
        // SAFETY: an empty batch with the queue's own fence.
        unsafe { calls::send_queue_submit(&self.host, handle, 0, std::ptr::null(), fence) }?;
        let result = wait_fences(
            &self.host,
            self.device,
            &[fence],
            true,
            u64::MAX,
            "vkQueueWaitIdle",
        )?;
        // SAFETY: the fence is signalled and only this queue uses it.
        unsafe { calls::send_reset_fences(&self.host, self.device, 1, &fence) }?;
        Ok(result)
    }
}

pub(crate) unsafe extern "system" fn queue_submit(
    handle: vk::Queue,
    submit_count: u32,
    p_submits: *const vk::SubmitInfo<'_>,
    fence: vk::Fence,
) -> vk::Result {
    guard_result("vkQueueSubmit", || {
        // SAFETY: a VkQueue of this ICD per valid usage.
        let queue = unsafe { queue(handle) };
        let submits = if submit_count == 0 {
            &[][..]
        } else {
            // SAFETY: the array holds submitCount structs per valid usage.
            unsafe { std::slice::from_raw_parts(p_submits, submit_count as usize) }
        };
        for submit in submits {
            let buffers = if submit.command_buffer_count == 0 {
                &[][..]
            } else {
                // SAFETY: the array holds commandBufferCount handles per valid usage.
                unsafe {
                    std::slice::from_raw_parts(
                        submit.p_command_buffers,
                        submit.command_buffer_count as usize,
                    )
                }
            };
            flush_command_buffers(buffers)?;
        }
        // SAFETY: the application's submits, valid per valid usage.
        unsafe {
            calls::send_queue_submit(queue.object.host(), handle, submit_count, p_submits, fence)
        }?;
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn queue_submit2(
    handle: vk::Queue,
    submit_count: u32,
    p_submits: *const vk::SubmitInfo2<'_>,
    fence: vk::Fence,
) -> vk::Result {
    guard_result("vkQueueSubmit2", || {
        // SAFETY: a VkQueue of this ICD per valid usage.
        let queue = unsafe { queue(handle) };
        let submits = if submit_count == 0 {
            &[][..]
        } else {
            // SAFETY: the array holds submitCount structs per valid usage.
            unsafe { std::slice::from_raw_parts(p_submits, submit_count as usize) }
        };
        for submit in submits {
            let infos = if submit.command_buffer_info_count == 0 {
                &[][..]
            } else {
                // SAFETY: the array holds commandBufferInfoCount structs per valid usage.
                unsafe {
                    std::slice::from_raw_parts(
                        submit.p_command_buffer_infos,
                        submit.command_buffer_info_count as usize,
                    )
                }
            };
            let buffers: Vec<vk::CommandBuffer> = infos.iter().map(|i| i.command_buffer).collect();
            flush_command_buffers(&buffers)?;
        }
        // SAFETY: the application's submits, valid per valid usage.
        unsafe {
            calls::send_queue_submit2(queue.object.host(), handle, submit_count, p_submits, fence)
        }?;
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn queue_wait_idle(handle: vk::Queue) -> vk::Result {
    guard_result("vkQueueWaitIdle", || {
        // SAFETY: a VkQueue of this ICD per valid usage.
        let queue = unsafe { queue(handle) };
        queue.object.wait_idle(handle)
    })
}

pub(crate) unsafe extern "system" fn device_wait_idle(handle: vk::Device) -> vk::Result {
    guard_result("vkDeviceWaitIdle", || {
        // SAFETY: a VkDevice of this ICD per valid usage.
        let device = unsafe { device(handle) };
        for queue_handle in device.object.queues() {
            // SAFETY: a queue of this device.
            let result = unsafe { queue(queue_handle) }
                .object
                .wait_idle(queue_handle)?;
            if result != vk::Result::SUCCESS {
                return Ok(result);
            }
        }
        Ok(vk::Result::SUCCESS)
    })
}

/// Sparse binding is not offered (no queue family reports it to applications that check the
/// features), so a call is the application's invalid usage.
pub(crate) unsafe extern "system" fn queue_bind_sparse(
    _queue: vk::Queue,
    _bind_info_count: u32,
    _p_bind_info: *const vk::BindSparseInfo<'_>,
    _fence: vk::Fence,
) -> vk::Result {
    venus_log!(
        Level::Error,
        "vkQueueBindSparse: sparse binding is not supported by venus-rs"
    );
    vk::Result::ERROR_FEATURE_NOT_PRESENT
}
