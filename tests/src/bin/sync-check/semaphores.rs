//! sync-check's semaphore parts: a timeline semaphore signalled by the host while submissions wait on it, a
//! binary semaphore between two submissions, and vkQueueSubmit2 with timeline values.

use super::{
    check_chain, copy_slot, expect_slots, fill_slot, slots, CHAIN_ELEMENTS, CHAIN_STEPS, HOLD,
    TO_HOST, TRANSFER_WRITE,
};
use ash::vk;
use venus_rs_tests::vk_util::{
    check, iterate_start, memory_barrier, wait_timeout_ns, Gpu, Iterate, WAIT_TIMEOUT,
};

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
pub(super) fn timeline_semaphores(gpu: &Gpu) -> Result<(), String> {
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
pub(super) fn binary_semaphore(gpu: &Gpu, iterate: &Iterate) -> Result<(), String> {
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

/// vkQueueSubmit2: the first submission fills slot 0 and copies it to slot 1 across a vkCmdPipelineBarrier2,
/// then signals timeline value 1; the second (second queue when there is one) waits for 1 and copies slot 1 to 2.
pub(super) fn submit2(gpu: &Gpu) -> Result<(), String> {
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
