//! The compute setup the dispatch workloads share: a device with a compute queue, the iterate.comp pipeline
//! and a storage buffer in device memory that is never mapped (so that the workloads run on pairings that
//! cannot map memory, such as Mesa's Venus over virglrenderer's vtest server).

use ash::vk;
use venus_rs_tests::vk_util::{check, Gpu, Iterate, QueueKind, Wishes, COMPUTE_COMMANDS};

/// What the compute workloads call beyond vk_util's own commands.
const BENCH_COMMANDS: &[&std::ffi::CStr] = &[
    c"vkGetFenceStatus",
    c"vkCmdFillBuffer",
    c"vkCreateImage",
    c"vkDestroyImage",
];

pub struct Compute {
    pub gpu: Gpu,
    pub iterate: Iterate,
    pub set: vk::DescriptorSet,
    pub elements: u32,
}

impl Compute {
    /// A device and a zero-filled buffer of `elements` 32-bit values bound to the iterate shader.
    pub fn new(elements: u32) -> Result<Compute, String> {
        let wishes = Wishes {
            api_version: vk::API_VERSION_1_1,
            queue_kind: QueueKind::Compute,
            commands: &[COMPUTE_COMMANDS, BENCH_COMMANDS],
            ..Wishes::default()
        };
        let gpu = Gpu::new(c"bench-workload", &wishes)?;
        let iterate = Iterate::new(&gpu)?;
        let bytes = u64::from(elements) * 4;
        let buffer = gpu.device_buffer(
            bytes,
            vk::BufferUsageFlags::STORAGE_BUFFER | vk::BufferUsageFlags::TRANSFER_DST,
            "values",
        )?;
        gpu.run_commands("zero-fill", |command_buffer| {
            // SAFETY: recording outside a render pass; the buffer allows transfers to it.
            unsafe {
                gpu.device
                    .cmd_fill_buffer(command_buffer, buffer, 0, vk::WHOLE_SIZE, 0)
            };
            Ok(())
        })?;
        let set = iterate.set_for_handle(&gpu, buffer)?;
        Ok(Compute {
            gpu,
            iterate,
            set,
            elements,
        })
    }

    /// A command buffer that runs the shader once over every element.
    pub fn one_dispatch(&self) -> Result<vk::CommandBuffer, String> {
        self.gpu.record("dispatch", |command_buffer| {
            self.iterate
                .record(&self.gpu, command_buffer, self.set, self.elements, 1);
            Ok(())
        })
    }

    /// Submits `command_buffer` with `fence` on the first queue.
    pub fn submit(
        &self,
        command_buffer: vk::CommandBuffer,
        fence: vk::Fence,
    ) -> Result<(), String> {
        let command_buffers = [command_buffer];
        let submit = [vk::SubmitInfo::default().command_buffers(&command_buffers)];
        self.gpu
            .submit(self.gpu.queue(0), &submit, fence, "dispatch")
    }

    pub fn reset(&self, fence: vk::Fence) -> Result<(), String> {
        // SAFETY: the fence's submission has completed.
        check("vkResetFences", unsafe {
            self.gpu.device.reset_fences(&[fence])
        })
    }
}
