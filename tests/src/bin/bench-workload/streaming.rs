//! Streaming: command buffers of many small dispatches recorded and submitted back to back, then waited for
//! once — the command throughput of a driver (recording, encoding, the host's decoding and replay, and the
//! device's own cost per dispatch, which is the same for every pairing). Each dispatch is one workgroup over
//! zero elements, so the shader touches no memory and the dispatches need no barriers between them.

use crate::compute::Compute;
use crate::figures::figure;
use crate::Size;
use ash::vk;
use std::time::Instant;
use venus_rs_tests::vk_util::check;

/// Dispatches per command buffer (the figure).
const DISPATCHES: u32 = 10_000;

pub fn run(size: Size) -> Result<(), String> {
    let compute = Compute::new(64)?;
    let batches = size.pick(8, 2);
    let fence = compute.gpu.fence(false)?;
    // A first command buffer warms up what the first use costs (pipeline upload, lazy allocations).
    stream(&compute, 1, fence)?;
    let started = Instant::now();
    stream(&compute, batches, fence)?;
    let seconds = started.elapsed().as_secs_f64();
    figure(
        "streaming",
        f64::from(batches * DISPATCHES) / seconds.max(1e-9),
    );
    Ok(())
}

/// Records and submits `batches` command buffers one after the other, the last with `fence`, and waits.
fn stream(compute: &Compute, batches: u32, fence: vk::Fence) -> Result<(), String> {
    let gpu = &compute.gpu;
    for batch in 0..batches {
        let command_buffer = gpu.record("streamed dispatches", |command_buffer| {
            compute.iterate.bind(gpu, command_buffer, compute.set, 0);
            for _ in 0..DISPATCHES {
                // SAFETY: the compute state is bound above.
                unsafe { gpu.device.cmd_dispatch(command_buffer, 1, 1, 1) };
            }
            Ok(())
        })?;
        let command_buffers = [command_buffer];
        let submit = [vk::SubmitInfo::default().command_buffers(&command_buffers)];
        let last = batch + 1 == batches;
        if last {
            gpu.submit(gpu.queue(0), &submit, fence, "streamed dispatches")?;
        } else {
            // Without a fence: the last submission's fence covers this one (one queue runs them in order).
            // SAFETY: a recorded command buffer on a queue of this device.
            check("vkQueueSubmit (streamed dispatches)", unsafe {
                gpu.device
                    .queue_submit(gpu.queue(0), &submit, vk::Fence::null())
            })?;
        }
    }
    gpu.wait_fence(fence, "streamed dispatches")?;
    compute.reset(fence)
}
