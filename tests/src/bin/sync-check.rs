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
use std::ffi::CStr;
use std::time::{Duration, Instant};
use venus_rs_tests::vk_util::{
    check, finish, iterate_expected, iterate_start, memory_barrier, usage_error, wait_timeout_ns,
    Args, Buffer, Features, Gpu, Iterate, QueueKind, Wishes, COMPUTE_COMMANDS, WAIT_TIMEOUT,
};

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

fn counter_value(gpu: &Gpu, semaphore: vk::Semaphore) -> Result<u64, String> {
    // SAFETY: a timeline semaphore of this device.
    check("vkGetSemaphoreCounterValue", unsafe {
        gpu.device.get_semaphore_counter_value(semaphore)
    })
}

fn wait_timeline(
    gpu: &Gpu,
    semaphore: vk::Semaphore,
    value: u64,
    what: &str,
) -> Result<(), String> {
    let semaphores = [semaphore];
    let values = [value];
    let info = vk::SemaphoreWaitInfo::default()
        .semaphores(&semaphores)
        .values(&values);
    // SAFETY: a timeline semaphore of this device; the info outlives the call.
    match unsafe { gpu.device.wait_semaphores(&info, wait_timeout_ns()) } {
        Ok(()) => Ok(()),
        Err(vk::Result::TIMEOUT) => Err(format!(
            "vkWaitSemaphores ({what}, value {value}) timed out after {} s",
            WAIT_TIMEOUT.as_secs()
        )),
        Err(e) => Err(format!("vkWaitSemaphores ({what}): {e:?}")),
    }
}

/// First submission: waits for the host's signal (value 1), fills slot 0, signals 2. Second submission (on the
/// second queue when there is one): waits for 2, copies slot 0 to slot 1, signals 3.
fn timeline_semaphores(gpu: &Gpu) -> Result<(), String> {
    const VALUE: u32 = 0x7131_0001;
    let semaphore = gpu.timeline_semaphore(0)?;
    let slots = slots(gpu, 2, "timeline slots")?;
    let first = gpu.record("timeline: first submission", |command_buffer| {
        fill_slot(gpu, command_buffer, &slots, 0, VALUE);
        memory_barrier(gpu, command_buffer, TRANSFER_WRITE, TO_HOST);
        Ok(())
    })?;
    let second = gpu.record("timeline: second submission", |command_buffer| {
        copy_slot(gpu, command_buffer, &slots, 0, 1);
        memory_barrier(gpu, command_buffer, TRANSFER_WRITE, TO_HOST);
        Ok(())
    })?;
    let stage = [vk::PipelineStageFlags::TRANSFER];
    let fences = [gpu.fence(false)?, gpu.fence(false)?];
    for (index, (command_buffer, wait_value)) in
        [(first, 1u64), (second, 2)].into_iter().enumerate()
    {
        let wait_values = [wait_value];
        let signal_values = [wait_value + 1];
        let mut values = vk::TimelineSemaphoreSubmitInfo::default()
            .wait_semaphore_values(&wait_values)
            .signal_semaphore_values(&signal_values);
        let semaphores = [semaphore];
        let command_buffers = [command_buffer];
        let submit = [vk::SubmitInfo::default()
            .wait_semaphores(&semaphores)
            .wait_dst_stage_mask(&stage)
            .command_buffers(&command_buffers)
            .signal_semaphores(&semaphores)
            .push_next(&mut values)];
        let what = format!("timeline submission {} waiting for {wait_value}", index + 1);
        gpu.submit(gpu.queue(index), &submit, fences[index], &what)?;
    }
    std::thread::sleep(HOLD);
    let before = counter_value(gpu, semaphore)?;
    if before != 0 {
        return Err(format!(
            "the timeline counter is {before} before the host signalled it (expected 0)"
        ));
    }
    expect_slots(
        gpu,
        &slots,
        &[0, 0],
        "before the host signal (the submissions must wait)",
    )?;
    let signal = vk::SemaphoreSignalInfo::default()
        .semaphore(semaphore)
        .value(1);
    // SAFETY: a timeline semaphore of this device whose value is below 1.
    check("vkSignalSemaphore (value 1)", unsafe {
        gpu.device.signal_semaphore(&signal)
    })?;
    wait_timeline(gpu, semaphore, 3, "both timeline submissions").map_err(|message| {
        // What the device did tells a lost signal (slots unwritten) from a lost counter update (slots written).
        let counter = counter_value(gpu, semaphore).map_or_else(|e| e, |value| value.to_string());
        let slots = slots.read::<u32>(gpu, 0, 2).map_or_else(
            |e| e,
            |values| {
                format!(
                    "[{:#x}, {:#x}] (expected {VALUE:#x} in both)",
                    values[0], values[1]
                )
            },
        );
        format!("{message}; the counter reads {counter}, the slots hold {slots}")
    })?;
    let after = counter_value(gpu, semaphore)?;
    if after != 3 {
        return Err(format!(
            "vkGetSemaphoreCounterValue is {after} after waiting for 3"
        ));
    }
    for fence in fences {
        gpu.wait_fence(fence, "timeline submissions")?;
    }
    expect_slots(gpu, &slots, &[VALUE, VALUE], "after the timeline waits")
}

/// A 16-step compute chain signals a binary semaphore; a second submission waits for it and copies the result.
fn binary_semaphore(gpu: &Gpu, iterate: &Iterate) -> Result<(), String> {
    let bytes = u64::from(CHAIN_ELEMENTS) * 4;
    let data = gpu.host_buffer(
        bytes,
        vk::BufferUsageFlags::STORAGE_BUFFER | vk::BufferUsageFlags::TRANSFER_SRC,
        "binary semaphore: compute data",
    )?;
    data.write(gpu, 0, &iterate_start(CHAIN_ELEMENTS))?;
    let copy = gpu.host_buffer(
        bytes,
        vk::BufferUsageFlags::TRANSFER_DST,
        "binary semaphore: copy",
    )?;
    let set = iterate.set_for(gpu, &data)?;
    let producer = gpu.record("binary semaphore: compute chain", |command_buffer| {
        iterate.record(gpu, command_buffer, set, CHAIN_ELEMENTS, CHAIN_STEPS);
        Ok(())
    })?;
    let consumer = gpu.record("binary semaphore: copy", |command_buffer| {
        let region = [vk::BufferCopy::default().size(bytes)];
        // SAFETY: recording outside a render pass; both buffers hold `bytes` bytes.
        unsafe {
            gpu.device
                .cmd_copy_buffer(command_buffer, data.handle, copy.handle, &region)
        };
        memory_barrier(gpu, command_buffer, TRANSFER_WRITE, TO_HOST);
        Ok(())
    })?;
    let semaphore = [gpu.binary_semaphore()?];
    let stage = [vk::PipelineStageFlags::TRANSFER];
    let (producer_fence, consumer_fence) = (gpu.fence(false)?, gpu.fence(false)?);
    let producers = [producer];
    let signal = [vk::SubmitInfo::default()
        .command_buffers(&producers)
        .signal_semaphores(&semaphore)];
    gpu.submit(
        gpu.queue(0),
        &signal,
        producer_fence,
        "binary semaphore: producer",
    )?;
    let consumers = [consumer];
    let wait = [vk::SubmitInfo::default()
        .wait_semaphores(&semaphore)
        .wait_dst_stage_mask(&stage)
        .command_buffers(&consumers)];
    gpu.submit(
        gpu.queue(1),
        &wait,
        consumer_fence,
        "binary semaphore: consumer",
    )?;
    gpu.wait_fence(consumer_fence, "binary semaphore: consumer")?;
    gpu.wait_fence(producer_fence, "binary semaphore: producer")?;
    check_chain(
        &copy.read_all(gpu)?,
        "the copy made after the binary semaphore wait",
    )
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

fn event_is_set(gpu: &Gpu, event: vk::Event, what: &str) -> Result<bool, String> {
    // SAFETY: an event of this device.
    check(&format!("vkGetEventStatus ({what})"), unsafe {
        gpu.device.get_event_status(event)
    })
}

/// The host writes a slot and sets the event before submitting (the spec requires host-set events that a
/// command buffer waits for to be set before submission); the device waits for it and copies the slot.
fn host_sets_device_waits(gpu: &Gpu) -> Result<(), String> {
    const VALUE: u32 = 0xE0E0_0001;
    let event = gpu.event()?;
    if event_is_set(gpu, event, "new event")? {
        return Err("a new event is already set".into());
    }
    let slots = slots(gpu, 2, "host-set event slots")?;
    slots.write(gpu, 0, &[VALUE])?;
    // SAFETY: an event of this device, not waited on by pending work.
    check("vkSetEvent", unsafe { gpu.device.set_event(event) })?;
    if !event_is_set(gpu, event, "after vkSetEvent")? {
        return Err("vkGetEventStatus reports the event unset after vkSetEvent".into());
    }
    gpu.run_commands("device waits for a host-set event", |command_buffer| {
        let host_write = [vk::MemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::HOST_WRITE)
            .dst_access_mask(vk::AccessFlags::TRANSFER_READ)];
        // SAFETY: recording outside a render pass; the event was set with vkSetEvent (hence the HOST stage).
        unsafe {
            gpu.device.cmd_wait_events(
                command_buffer,
                &[event],
                vk::PipelineStageFlags::HOST,
                vk::PipelineStageFlags::TRANSFER,
                &host_write,
                &[],
                &[],
            )
        };
        copy_slot(gpu, command_buffer, &slots, 0, 1);
        memory_barrier(gpu, command_buffer, TRANSFER_WRITE, TO_HOST);
        Ok(())
    })?;
    expect_slots(
        gpu,
        &slots,
        &[VALUE, VALUE],
        "after the device waited for the host-set event",
    )?;
    // SAFETY: an event of this device; the command buffer that waited on it has completed.
    check("vkResetEvent", unsafe { gpu.device.reset_event(event) })?;
    if event_is_set(gpu, event, "after vkResetEvent")? {
        return Err("vkGetEventStatus reports the event set after vkResetEvent".into());
    }
    Ok(())
}

/// The device runs a compute chain, then sets the event; the host polls the event and, as soon as it is set
/// (before waiting for the fence), finds the chain's result in memory.
fn device_sets_host_polls(gpu: &Gpu, iterate: &Iterate) -> Result<(), String> {
    let data = gpu.host_buffer(
        u64::from(CHAIN_ELEMENTS) * 4,
        vk::BufferUsageFlags::STORAGE_BUFFER,
        "device-set event: compute data",
    )?;
    data.write(gpu, 0, &iterate_start(CHAIN_ELEMENTS))?;
    let set = iterate.set_for(gpu, &data)?;
    let event = gpu.event()?;
    let command_buffer = gpu.record("device sets an event", |command_buffer| {
        iterate.record(gpu, command_buffer, set, CHAIN_ELEMENTS, CHAIN_STEPS);
        memory_barrier(
            gpu,
            command_buffer,
            (
                vk::PipelineStageFlags::COMPUTE_SHADER,
                vk::AccessFlags::SHADER_WRITE,
            ),
            TO_HOST,
        );
        // SAFETY: recording outside a render pass; the event belongs to this device.
        unsafe {
            gpu.device.cmd_set_event(
                command_buffer,
                event,
                vk::PipelineStageFlags::COMPUTE_SHADER,
            )
        };
        Ok(())
    })?;
    let fence = gpu.fence(false)?;
    let command_buffers = [command_buffer];
    let submit = [vk::SubmitInfo::default().command_buffers(&command_buffers)];
    gpu.submit(gpu.queue(0), &submit, fence, "device sets an event")?;
    let started = Instant::now();
    while !event_is_set(gpu, event, "polling for the device's vkCmdSetEvent")? {
        if started.elapsed() > WAIT_TIMEOUT {
            return Err(format!(
                "vkGetEventStatus poll: the device did not set the event within {} s",
                WAIT_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    check_chain(
        &data.read_all(gpu)?,
        "the compute result the host read once the device had set the event",
    )?;
    gpu.wait_fence(fence, "device sets an event")
}

/// A split barrier inside one command buffer: fill, vkCmdSetEvent, vkCmdWaitEvents, copy.
fn device_sets_device_waits(gpu: &Gpu) -> Result<(), String> {
    const VALUE: u32 = 0xE0E0_0002;
    let event = gpu.event()?;
    let slots = slots(gpu, 2, "split-barrier slots")?;
    gpu.run_commands("split barrier with an event", |command_buffer| {
        fill_slot(gpu, command_buffer, &slots, 0, VALUE);
        let transfer_write = [vk::MemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
            .dst_access_mask(vk::AccessFlags::TRANSFER_READ)];
        // SAFETY: recording outside a render pass; the wait's source stage is the set's stage.
        unsafe {
            gpu.device
                .cmd_set_event(command_buffer, event, vk::PipelineStageFlags::TRANSFER);
            gpu.device.cmd_wait_events(
                command_buffer,
                &[event],
                vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::TRANSFER,
                &transfer_write,
                &[],
                &[],
            );
        }
        copy_slot(gpu, command_buffer, &slots, 0, 1);
        memory_barrier(gpu, command_buffer, TRANSFER_WRITE, TO_HOST);
        Ok(())
    })?;
    expect_slots(gpu, &slots, &[VALUE, VALUE], "after the split barrier")?;
    if !event_is_set(gpu, event, "after the split barrier")? {
        return Err(
            "the event set by vkCmdSetEvent is not set after the submission completed".into(),
        );
    }
    Ok(())
}

/// vkQueueSubmit2: the first submission fills slot 0 and copies it to slot 1 across a vkCmdPipelineBarrier2,
/// then signals timeline value 1; the second (second queue when there is one) waits for 1 and copies slot 1 to 2.
fn submit2(gpu: &Gpu) -> Result<(), String> {
    const VALUE: u32 = 0x5002_0001;
    let slots = slots(gpu, 3, "submit2 slots")?;
    let transfer_write = (
        vk::PipelineStageFlags2::ALL_TRANSFER,
        vk::AccessFlags2::TRANSFER_WRITE,
    );
    let host_read = (vk::PipelineStageFlags2::HOST, vk::AccessFlags2::HOST_READ);
    let barrier2 = |command_buffer, (src_stage, src_access), (dst_stage, dst_access)| {
        let barrier = [vk::MemoryBarrier2::default()
            .src_stage_mask(src_stage)
            .src_access_mask(src_access)
            .dst_stage_mask(dst_stage)
            .dst_access_mask(dst_access)];
        gpu.cmd_pipeline_barrier2(
            command_buffer,
            &vk::DependencyInfo::default().memory_barriers(&barrier),
        )
    };
    let first = gpu.record("submit2: first", |command_buffer| {
        fill_slot(gpu, command_buffer, &slots, 0, VALUE);
        barrier2(
            command_buffer,
            transfer_write,
            (
                vk::PipelineStageFlags2::ALL_TRANSFER,
                vk::AccessFlags2::TRANSFER_READ,
            ),
        )?;
        copy_slot(gpu, command_buffer, &slots, 0, 1);
        barrier2(command_buffer, transfer_write, host_read)
    })?;
    let second = gpu.record("submit2: second", |command_buffer| {
        copy_slot(gpu, command_buffer, &slots, 1, 2);
        barrier2(command_buffer, transfer_write, host_read)
    })?;
    let semaphore = gpu.timeline_semaphore(0)?;
    let fences = [gpu.fence(false)?, gpu.fence(false)?];
    let first_buffers = [vk::CommandBufferSubmitInfo::default().command_buffer(first)];
    let signal_one = [vk::SemaphoreSubmitInfo::default()
        .semaphore(semaphore)
        .value(1)
        .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
    let submit = [vk::SubmitInfo2::default()
        .command_buffer_infos(&first_buffers)
        .signal_semaphore_infos(&signal_one)];
    gpu.submit2(gpu.queue(0), &submit, fences[0], "first, signals 1")?;
    let second_buffers = [vk::CommandBufferSubmitInfo::default().command_buffer(second)];
    let wait_one = [vk::SemaphoreSubmitInfo::default()
        .semaphore(semaphore)
        .value(1)
        .stage_mask(vk::PipelineStageFlags2::ALL_TRANSFER)];
    let signal_two = [vk::SemaphoreSubmitInfo::default()
        .semaphore(semaphore)
        .value(2)
        .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
    let submit = [vk::SubmitInfo2::default()
        .wait_semaphore_infos(&wait_one)
        .command_buffer_infos(&second_buffers)
        .signal_semaphore_infos(&signal_two)];
    gpu.submit2(gpu.queue(1), &submit, fences[1], "second, waits for 1")?;
    wait_timeline(gpu, semaphore, 2, "the vkQueueSubmit2 submissions")?;
    for fence in fences {
        gpu.wait_fence(fence, "vkQueueSubmit2 submissions")?;
    }
    expect_slots(gpu, &slots, &[VALUE; 3], "after vkQueueSubmit2")
}

/// Submits one compute step `iterations` times with the same fence (checked unsignaled after each reset); the
/// buffer then holds exactly `iterations` steps, which proves each submission ran once, in order.
fn fence_reuse(gpu: &Gpu, iterate: &Iterate, iterations: u32) -> Result<Duration, String> {
    const ELEMENTS: u32 = 64;
    let data = gpu.host_buffer(
        u64::from(ELEMENTS) * 4,
        vk::BufferUsageFlags::STORAGE_BUFFER,
        "fence reuse data",
    )?;
    data.write(gpu, 0, &iterate_start(ELEMENTS))?;
    let set = iterate.set_for(gpu, &data)?;
    let shader_write = (
        vk::PipelineStageFlags::COMPUTE_SHADER,
        vk::AccessFlags::SHADER_WRITE,
    );
    let command_buffer = gpu.record("fence reuse", |command_buffer| {
        iterate.record(gpu, command_buffer, set, ELEMENTS, 1);
        // The next submission's dispatch reads what this one wrote; the host reads it at the end.
        memory_barrier(
            gpu,
            command_buffer,
            shader_write,
            (
                vk::PipelineStageFlags::COMPUTE_SHADER | vk::PipelineStageFlags::HOST,
                vk::AccessFlags::SHADER_READ
                    | vk::AccessFlags::SHADER_WRITE
                    | vk::AccessFlags::HOST_READ,
            ),
        );
        Ok(())
    })?;
    let fence = gpu.fence(false)?;
    let command_buffers = [command_buffer];
    let submit = [vk::SubmitInfo::default().command_buffers(&command_buffers)];
    let mut round_trips = Vec::with_capacity(iterations as usize);
    for iteration in 0..iterations {
        // SAFETY: a fence of this device.
        let signaled = check("vkGetFenceStatus", unsafe {
            gpu.device.get_fence_status(fence)
        })?;
        if signaled {
            return Err(format!(
                "vkGetFenceStatus reports the fence signaled after vkResetFences (iteration {iteration})"
            ));
        }
        let started = Instant::now();
        let what = format!("fence reuse iteration {iteration}");
        gpu.submit(gpu.queue(0), &submit, fence, &what)?;
        gpu.wait_fence(fence, &what)?;
        round_trips.push(started.elapsed());
        // SAFETY: the fence's submission has completed.
        check("vkResetFences", unsafe {
            gpu.device.reset_fences(&[fence])
        })?;
    }
    let values: Vec<u32> = data.read_all(gpu)?;
    for (index, &value) in values.iter().enumerate() {
        let expected = iterate_expected(index as u32, iterations);
        if value != expected {
            return Err(format!(
                "after {iterations} fence-reusing submissions element {index} is {value:#x}, expected {expected:#x}"
            ));
        }
    }
    round_trips.sort();
    Ok(round_trips[round_trips.len() / 2])
}
