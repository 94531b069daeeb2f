//! The synchronization check. Each part makes the device write a result the host can predict (vkCmdFillBuffer,
//! vkCmdCopyBuffer or the iterate.comp compute shader) so that it proves ordering, not just that calls return:
//! - timeline semaphores across two queues (two submissions on one queue when the device has only one): the first
//!   submission waits for a host vkSignalSemaphore, the host checks that nothing ran before it signalled, then
//!   waits with vkWaitSemaphores and reads vkGetSemaphoreCounterValue;
//! - a binary semaphore between two submissions (a long compute chain, then a copy of its result);
//! - events: set on the host and waited on by the device, set by the device and polled by the host
//!   (vkGetEventStatus, before the fence is waited for), set and waited on by the device (a split barrier);
//! - vkQueueSubmit2 with timeline values and vkCmdPipelineBarrier2, when synchronization2 is offered;
//! - one fence reset and reused `--fence-iterations` times (default 1000).
//!
//! usage: sync-check [--fence-iterations N]

#![warn(clippy::undocumented_unsafe_blocks)]

use ash::vk;
use events::{device_sets_device_waits, device_sets_host_polls, host_sets_device_waits};
use fences::fence_reuse;
use semaphores::{binary_semaphore, submit2, timeline_semaphores};
use std::ffi::CStr;
use std::time::Duration;
use venus_rs_tests::vk_util::{
    finish, iterate_expected, usage_error, Args, Buffer, Features, Gpu, Iterate, QueueKind, Wishes,
    COMPUTE_COMMANDS,
};

mod events;
mod fences;
mod semaphores;

const NAME: &str = "sync-check";
const USAGE: &str = "sync-check [--fence-iterations N]";
/// Long enough on any driver that a consumer ignoring its wait would read the producer's input, not its output.
const CHAIN_ELEMENTS: u32 = 1 << 16;
const CHAIN_STEPS: u32 = 16;
/// How long the host leaves a submission blocked on a host signal before checking that nothing of it ran.
const HOLD: Duration = Duration::from_millis(100);
const TRANSFER_USAGE: vk::BufferUsageFlags = vk::BufferUsageFlags::from_raw(
    vk::BufferUsageFlags::TRANSFER_SRC.as_raw() | vk::BufferUsageFlags::TRANSFER_DST.as_raw(),
);
const TO_HOST: (vk::PipelineStageFlags, vk::AccessFlags) =
    (vk::PipelineStageFlags::HOST, vk::AccessFlags::HOST_READ);
const TRANSFER_WRITE: (vk::PipelineStageFlags, vk::AccessFlags) = (
    vk::PipelineStageFlags::TRANSFER,
    vk::AccessFlags::TRANSFER_WRITE,
);

/// Transfers, semaphores, events and fence polling, beyond compute.
const SYNC_COMMANDS: &[&CStr] = &[
    c"vkCmdFillBuffer",
    c"vkCmdCopyBuffer",
    c"vkCreateSemaphore",
    c"vkDestroySemaphore",
    c"vkCreateEvent",
    c"vkDestroyEvent",
    c"vkGetEventStatus",
    c"vkSetEvent",
    c"vkResetEvent",
    c"vkCmdSetEvent",
    c"vkCmdWaitEvents",
    c"vkGetFenceStatus",
];

struct Options {
    fence_iterations: u32,
}

fn main() {
    let options = parse_options().unwrap_or_else(|message| usage_error(NAME, USAGE, &message));
    finish(NAME, run(&options));
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        fence_iterations: 1000,
    };
    let mut args = Args::from_env();
    while let Some(option) = args.next_option() {
        match option.as_str() {
            "--fence-iterations" => options.fence_iterations = args.positive(&option)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn run(options: &Options) -> Result<String, String> {
    let wishes = Wishes {
        queue_kind: QueueKind::Compute,
        queues: 2,
        features: Features {
            timeline_semaphore: true,
            synchronization2: true,
            ..Features::default()
        },
        commands: &[COMPUTE_COMMANDS, SYNC_COMMANDS],
        ..Wishes::default()
    };
    let gpu = Gpu::new(c"sync-check", &wishes)?;
    let iterate = Iterate::new(&gpu)?;
    let queues = if gpu.queues.len() >= 2 {
        "across 2 queues".to_string()
    } else {
        "as 2 submissions on the device's only queue".to_string()
    };
    let mut parts = Vec::new();
    parts.push(if gpu.enabled.timeline_semaphore {
        timeline_semaphores(&gpu)?;
        format!("timeline semaphore with host signal and wait {queues}")
    } else {
        "timeline semaphores skipped (not offered)".to_string()
    });
    binary_semaphore(&gpu, &iterate)?;
    parts.push(format!("binary semaphore {queues}"));
    host_sets_device_waits(&gpu)?;
    device_sets_host_polls(&gpu, &iterate)?;
    device_sets_device_waits(&gpu)?;
    parts.push("events host->device, device->host, device->device".to_string());
    parts.push(
        match (
            gpu.synchronization2.is_some(),
            gpu.enabled.timeline_semaphore,
        ) {
            (true, true) => {
                submit2(&gpu)?;
                "vkQueueSubmit2 + vkCmdPipelineBarrier2".to_string()
            }
            (false, _) => format!(
                "vkQueueSubmit2 skipped (no synchronization2 on this Vulkan {} device)",
                gpu.device_version_text()
            ),
            (true, false) => "vkQueueSubmit2 skipped (no timeline semaphores)".to_string(),
        },
    );
    let median = fence_reuse(&gpu, &iterate, options.fence_iterations)?;
    parts.push(format!(
        "fence reused {} times (median submit+wait {} us)",
        options.fence_iterations,
        median.as_micros()
    ));
    Ok(format!("{} on {}", parts.join("; "), gpu.device_name()))
}

/// A small buffer of u32 slots the parts fill and copy between.
fn slots(gpu: &Gpu, count: u64, what: &str) -> Result<Buffer, String> {
    gpu.host_buffer(count * 4, TRANSFER_USAGE, what)
}

fn fill_slot(gpu: &Gpu, command_buffer: vk::CommandBuffer, slots: &Buffer, slot: u64, value: u32) {
    // SAFETY: recording outside a render pass; the slot lies in the buffer.
    unsafe {
        gpu.device
            .cmd_fill_buffer(command_buffer, slots.handle, slot * 4, 4, value)
    };
}

fn copy_slot(gpu: &Gpu, command_buffer: vk::CommandBuffer, slots: &Buffer, from: u64, to: u64) {
    let region = [vk::BufferCopy::default()
        .src_offset(from * 4)
        .dst_offset(to * 4)
        .size(4)];
    // SAFETY: recording outside a render pass; both slots lie in the buffer and do not overlap.
    unsafe {
        gpu.device
            .cmd_copy_buffer(command_buffer, slots.handle, slots.handle, &region)
    };
}

fn expect_slots(gpu: &Gpu, slots: &Buffer, expected: &[u32], what: &str) -> Result<(), String> {
    let got: Vec<u32> = slots.read(gpu, 0, expected.len())?;
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "{what}: slots hold {got:#x?}, expected {expected:#x?}"
        ))
    }
}

fn check_chain(values: &[u32], what: &str) -> Result<(), String> {
    let wrong: Vec<(usize, u32)> = values
        .iter()
        .enumerate()
        .filter(|&(index, &value)| value != iterate_expected(index as u32, CHAIN_STEPS))
        .map(|(index, &value)| (index, value))
        .collect();
    match wrong.first() {
        None => Ok(()),
        Some(&(index, value)) => Err(format!(
            "{what}: {} of {} elements are wrong; element {index} is {value:#x}, expected {:#x}",
            wrong.len(),
            values.len(),
            iterate_expected(index as u32, CHAIN_STEPS)
        )),
    }
}
