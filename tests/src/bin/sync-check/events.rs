//! sync-check's event parts: set on the host and waited on by the device, set by the device and polled by the
//! host, set and waited on by the device.

use super::{
    check_chain, copy_slot, expect_slots, fill_slot, slots, CHAIN_ELEMENTS, CHAIN_STEPS, TO_HOST,
    TRANSFER_WRITE,
};
use ash::vk;
use std::time::{Duration, Instant};
use venus_rs_tests::vk_util::{check, iterate_start, memory_barrier, Gpu, Iterate, WAIT_TIMEOUT};

fn event_is_set(gpu: &Gpu, event: vk::Event, what: &str) -> Result<bool, String> {
    // SAFETY: an event of this device.
    check(&format!("vkGetEventStatus ({what})"), unsafe {
        gpu.device.get_event_status(event)
    })
}

/// The host writes a slot and sets the event before submitting (the spec requires host-set events that a
/// command buffer waits for to be set before submission); the device waits for it and copies the slot.
pub(super) fn host_sets_device_waits(gpu: &Gpu) -> Result<(), String> {
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
pub(super) fn device_sets_host_polls(gpu: &Gpu, iterate: &Iterate) -> Result<(), String> {
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
pub(super) fn device_sets_device_waits(gpu: &Gpu) -> Result<(), String> {
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
