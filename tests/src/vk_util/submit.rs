//! Synchronization objects, command buffers, submissions and bounded waits.

use super::{check, wait_timeout_ns, Gpu};
use ash::vk;

impl Gpu {
    pub fn fence(&self, signaled: bool) -> Result<vk::Fence, String> {
        let flags = if signaled {
            vk::FenceCreateFlags::SIGNALED
        } else {
            vk::FenceCreateFlags::empty()
        };
        let info = vk::FenceCreateInfo::default().flags(flags);
        // SAFETY: valid device and create info.
        Ok(self.own(check("vkCreateFence", unsafe {
            self.device.create_fence(&info, None)
        })?))
    }

    pub fn binary_semaphore(&self) -> Result<vk::Semaphore, String> {
        let info = vk::SemaphoreCreateInfo::default();
        // SAFETY: valid device and create info.
        Ok(self.own(check("vkCreateSemaphore (binary)", unsafe {
            self.device.create_semaphore(&info, None)
        })?))
    }

    pub fn timeline_semaphore(&self, initial_value: u64) -> Result<vk::Semaphore, String> {
        let mut kind = vk::SemaphoreTypeCreateInfo::default()
            .semaphore_type(vk::SemaphoreType::TIMELINE)
            .initial_value(initial_value);
        let info = vk::SemaphoreCreateInfo::default().push_next(&mut kind);
        // SAFETY: valid device; the chained struct outlives the call.
        Ok(self.own(check("vkCreateSemaphore (timeline)", unsafe {
            self.device.create_semaphore(&info, None)
        })?))
    }

    pub fn event(&self) -> Result<vk::Event, String> {
        let info = vk::EventCreateInfo::default();
        // SAFETY: valid device and create info.
        Ok(self.own(check("vkCreateEvent", unsafe {
            self.device.create_event(&info, None)
        })?))
    }

    /// vkQueueSubmit with a fence that [`Gpu::wait_fence`] must wait for.
    pub fn submit(
        &self,
        queue: vk::Queue,
        submits: &[vk::SubmitInfo],
        fence: vk::Fence,
        what: &str,
    ) -> Result<(), String> {
        // SAFETY: the caller's submit infos point at recorded command buffers and live semaphores.
        check(&format!("vkQueueSubmit ({what})"), unsafe {
            self.device.queue_submit(queue, submits, fence)
        })?;
        self.pending.borrow_mut().push(fence);
        Ok(())
    }

    /// Waits (bounded) for `fence`; the error names `what` was waited for.
    pub fn wait_fence(&self, fence: vk::Fence, what: &str) -> Result<(), String> {
        // SAFETY: valid fence of this device.
        let result = unsafe {
            self.device
                .wait_for_fences(&[fence], true, wait_timeout_ns())
        };
        super::watchdog::progress("vkWaitForFences");
        match result {
            Ok(()) => {
                self.pending
                    .borrow_mut()
                    .retain(|&pending| pending != fence);
                Ok(())
            }
            Err(vk::Result::TIMEOUT) => Err(format!(
                "vkWaitForFences ({what}) timed out after {} s",
                super::WAIT_TIMEOUT.as_secs()
            )),
            Err(e) => Err(format!("vkWaitForFences ({what}): {e:?}")),
        }
    }

    /// Records that the caller saw `fence` signal by itself (by polling vkGetFenceStatus), so that the Gpu no
    /// longer counts its submission as pending.
    pub fn fence_seen_signalled(&self, fence: vk::Fence) {
        self.pending
            .borrow_mut()
            .retain(|&pending| pending != fence);
    }

    /// Allocates a command buffer of `level` from the Gpu's pool (freed with the pool).
    pub fn command_buffer(
        &self,
        level: vk::CommandBufferLevel,
    ) -> Result<vk::CommandBuffer, String> {
        let info = vk::CommandBufferAllocateInfo::default()
            .command_pool(self.command_pool)
            .level(level)
            .command_buffer_count(1);
        // SAFETY: valid device and pool.
        Ok(check("vkAllocateCommandBuffers", unsafe {
            self.device.allocate_command_buffers(&info)
        })?[0])
    }

    /// A primary command buffer with what `record` puts in it.
    pub fn record(
        &self,
        what: &str,
        record: impl FnOnce(vk::CommandBuffer) -> Result<(), String>,
    ) -> Result<vk::CommandBuffer, String> {
        let command_buffer = self.command_buffer(vk::CommandBufferLevel::PRIMARY)?;
        let begin = vk::CommandBufferBeginInfo::default();
        // SAFETY: a freshly allocated command buffer in the initial state.
        check(&format!("vkBeginCommandBuffer ({what})"), unsafe {
            self.device.begin_command_buffer(command_buffer, &begin)
        })?;
        record(command_buffer)?;
        // SAFETY: the command buffer is recording.
        check(&format!("vkEndCommandBuffer ({what})"), unsafe {
            self.device.end_command_buffer(command_buffer)
        })?;
        Ok(command_buffer)
    }

    /// Submits `command_buffer` alone on the first queue and waits (bounded) for it.
    pub fn submit_and_wait(
        &self,
        command_buffer: vk::CommandBuffer,
        what: &str,
    ) -> Result<(), String> {
        let fence = self.fence(false)?;
        let command_buffers = [command_buffer];
        let submit = [vk::SubmitInfo::default().command_buffers(&command_buffers)];
        self.submit(self.queue(0), &submit, fence, what)?;
        self.wait_fence(fence, what)
    }

    /// Records, submits and waits for a one-shot command buffer.
    pub fn run_commands(
        &self,
        what: &str,
        record: impl FnOnce(vk::CommandBuffer) -> Result<(), String>,
    ) -> Result<(), String> {
        let command_buffer = self.record(what, record)?;
        self.submit_and_wait(command_buffer, what)
    }
}
