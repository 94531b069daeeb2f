//! Device commands the programs call, checked right after device creation. ash replaces a command the driver
//! does not provide with a stub that panics inside an `extern "system"` function, which aborts the process with
//! a backtrace; checking first turns that into one FAILED line listing everything missing — a to-do list for a
//! driver in bring-up.

use super::device::Features;
use ash::vk;
use std::ffi::CStr;

/// What vk_util itself calls on every device: queues, command buffers, fences, host-visible buffers, images,
/// descriptor sets, layouts, shader modules and the destruction of everything it owns.
pub const BASE_COMMANDS: &[&CStr] = &[
    c"vkGetDeviceQueue",
    c"vkDestroyDevice",
    c"vkCreateCommandPool",
    c"vkDestroyCommandPool",
    c"vkAllocateCommandBuffers",
    c"vkBeginCommandBuffer",
    c"vkEndCommandBuffer",
    c"vkQueueSubmit",
    c"vkCreateFence",
    c"vkDestroyFence",
    c"vkWaitForFences",
    c"vkResetFences",
    c"vkCreateBuffer",
    c"vkDestroyBuffer",
    c"vkGetBufferMemoryRequirements",
    c"vkAllocateMemory",
    c"vkFreeMemory",
    c"vkBindBufferMemory",
    c"vkMapMemory",
    c"vkFlushMappedMemoryRanges",
    c"vkInvalidateMappedMemoryRanges",
    c"vkCmdPipelineBarrier",
    c"vkCreateShaderModule",
    c"vkDestroyShaderModule",
    c"vkCreateDescriptorSetLayout",
    c"vkDestroyDescriptorSetLayout",
    c"vkCreatePipelineLayout",
    c"vkDestroyPipelineLayout",
    c"vkCreateDescriptorPool",
    c"vkDestroyDescriptorPool",
    c"vkAllocateDescriptorSets",
    c"vkUpdateDescriptorSets",
    c"vkDestroyPipeline",
];

/// Compute work (iterate.comp, indirect.comp).
pub const COMPUTE_COMMANDS: &[&CStr] = &[
    c"vkCreateComputePipelines",
    c"vkCmdBindPipeline",
    c"vkCmdBindDescriptorSets",
    c"vkCmdPushConstants",
    c"vkCmdDispatch",
];

/// Offscreen rendering through a render pass, read back with a copy.
pub const GRAPHICS_COMMANDS: &[&CStr] = &[
    c"vkCreateImage",
    c"vkDestroyImage",
    c"vkGetImageMemoryRequirements",
    c"vkBindImageMemory",
    c"vkCreateImageView",
    c"vkDestroyImageView",
    c"vkCreateRenderPass",
    c"vkDestroyRenderPass",
    c"vkCreateFramebuffer",
    c"vkDestroyFramebuffer",
    c"vkCreateGraphicsPipelines",
    c"vkCmdBeginRenderPass",
    c"vkCmdEndRenderPass",
    c"vkCmdBindPipeline",
    c"vkCmdBindVertexBuffers",
    c"vkCmdDraw",
    c"vkCmdCopyImageToBuffer",
];

/// The commands that come with an optional feature once it is enabled, as core or extension names.
fn feature_commands(
    enabled: &Features,
    khr_dynamic_rendering: bool,
    khr_sync2: bool,
) -> Vec<&'static CStr> {
    let mut names = Vec::new();
    if enabled.timeline_semaphore {
        names.extend([
            c"vkWaitSemaphores",
            c"vkSignalSemaphore",
            c"vkGetSemaphoreCounterValue",
        ]);
    }
    if enabled.host_query_reset {
        names.push(c"vkResetQueryPool");
    }
    if enabled.dynamic_rendering {
        names.extend(if khr_dynamic_rendering {
            [c"vkCmdBeginRenderingKHR", c"vkCmdEndRenderingKHR"]
        } else {
            [c"vkCmdBeginRendering", c"vkCmdEndRendering"]
        });
    }
    if enabled.synchronization2 {
        names.extend(if khr_sync2 {
            [c"vkQueueSubmit2KHR", c"vkCmdPipelineBarrier2KHR"]
        } else {
            [c"vkQueueSubmit2", c"vkCmdPipelineBarrier2"]
        });
    }
    names
}

/// The names among [`BASE_COMMANDS`], `program_commands` and the enabled features' commands for which the
/// device has no entry point.
pub fn missing_commands(
    instance: &ash::Instance,
    device: vk::Device,
    program_commands: &[&CStr],
    enabled: &Features,
    khr_dynamic_rendering: bool,
    khr_sync2: bool,
) -> Vec<String> {
    let features = feature_commands(enabled, khr_dynamic_rendering, khr_sync2);
    let mut missing: Vec<String> = BASE_COMMANDS
        .iter()
        .chain(program_commands)
        .chain(&features)
        // SAFETY: a live device of this instance and a NUL-terminated name.
        .filter(|name| unsafe { instance.get_device_proc_addr(device, name.as_ptr()) }.is_none())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    missing.sort();
    missing.dedup();
    missing
}
