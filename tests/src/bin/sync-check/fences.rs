//! sync-check's fence part: one fence reset and reused for every submission.

use ash::vk;
use std::time::{Duration, Instant};
use venus_rs_tests::vk_util::{
    check, iterate_expected, iterate_start, memory_barrier, Gpu, Iterate,
};

/// Submits one compute step `iterations` times with the same fence (checked unsignaled after each reset); the
/// buffer then holds exactly `iterations` steps, which proves each submission ran once, in order.
pub(super) fn fence_reuse(
    gpu: &Gpu,
    iterate: &Iterate,
    iterations: u32,
) -> Result<Duration, String> {
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
