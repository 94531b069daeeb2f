//! Vulkan 1.3 commands that a 1.2 device may offer through a KHR extension instead (same signatures): dynamic
//! rendering and synchronization2.

use super::{check, Gpu};
use ash::vk;

/// vkCmdBeginRendering from Vulkan 1.3 or from VK_KHR_dynamic_rendering (same signatures).
pub enum DynamicRendering {
    Core,
    Khr(ash::khr::dynamic_rendering::Device),
}

/// vkQueueSubmit2 and vkCmdPipelineBarrier2 from Vulkan 1.3 or from VK_KHR_synchronization2.
pub enum Synchronization2 {
    Core,
    Khr(ash::khr::synchronization2::Device),
}

impl Gpu {
    /// vkQueueSubmit2 (Vulkan 1.3 or VK_KHR_synchronization2) with a fence that [`Gpu::wait_fence`] waits for.
    pub fn submit2(
        &self,
        queue: vk::Queue,
        submits: &[vk::SubmitInfo2],
        fence: vk::Fence,
        what: &str,
    ) -> Result<(), String> {
        let what = format!("vkQueueSubmit2 ({what})");
        // SAFETY: the caller's submit infos point at recorded command buffers and live semaphores.
        let result = unsafe {
            match &self.synchronization2 {
                Some(Synchronization2::Core) => self.device.queue_submit2(queue, submits, fence),
                Some(Synchronization2::Khr(khr)) => khr.queue_submit2(queue, submits, fence),
                None => return Err(format!("{what}: synchronization2 is not enabled")),
            }
        };
        check(&what, result)?;
        self.pending.borrow_mut().push(fence);
        Ok(())
    }

    /// vkCmdBeginRendering through whichever of core 1.3 or VK_KHR_dynamic_rendering is enabled.
    pub fn cmd_begin_rendering(
        &self,
        command_buffer: vk::CommandBuffer,
        info: &vk::RenderingInfo,
    ) -> Result<(), String> {
        // SAFETY: the caller records into a command buffer of this device with a valid rendering info.
        unsafe {
            match &self.dynamic_rendering {
                Some(DynamicRendering::Core) => {
                    self.device.cmd_begin_rendering(command_buffer, info)
                }
                Some(DynamicRendering::Khr(khr)) => khr.cmd_begin_rendering(command_buffer, info),
                None => return Err("dynamic rendering is not enabled".into()),
            }
        }
        Ok(())
    }

    pub fn cmd_end_rendering(&self, command_buffer: vk::CommandBuffer) -> Result<(), String> {
        // SAFETY: the caller began rendering in this command buffer.
        unsafe {
            match &self.dynamic_rendering {
                Some(DynamicRendering::Core) => self.device.cmd_end_rendering(command_buffer),
                Some(DynamicRendering::Khr(khr)) => khr.cmd_end_rendering(command_buffer),
                None => return Err("dynamic rendering is not enabled".into()),
            }
        }
        Ok(())
    }

    /// vkCmdPipelineBarrier2 through whichever of core 1.3 or VK_KHR_synchronization2 is enabled.
    pub fn cmd_pipeline_barrier2(
        &self,
        command_buffer: vk::CommandBuffer,
        dependency: &vk::DependencyInfo,
    ) -> Result<(), String> {
        // SAFETY: the caller records into a command buffer of this device with a valid dependency info.
        unsafe {
            match &self.synchronization2 {
                Some(Synchronization2::Core) => self
                    .device
                    .cmd_pipeline_barrier2(command_buffer, dependency),
                Some(Synchronization2::Khr(khr)) => {
                    khr.cmd_pipeline_barrier2(command_buffer, dependency)
                }
                None => return Err("synchronization2 is not enabled".into()),
            }
        }
        Ok(())
    }
}
