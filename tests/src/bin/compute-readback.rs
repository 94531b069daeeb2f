//! The compute readback check: fills a host-visible storage buffer, runs a compute shader over it N times with
//! vkQueueSubmit + vkWaitForFences, maps the memory and verifies every element. Plain Vulkan, so it runs on any
//! driver: natively, through Mesa's Venus, or through ours.
//!
//! usage: compute-readback [--elements N] [--iterations N]
//! Prints `compute-readback: OK ...` and exits 0 when every element matches; otherwise names what failed.

#![warn(clippy::undocumented_unsafe_blocks)]

use ash::vk;
use std::time::{Duration, Instant};
use venus_rs_tests::vk_util::{
    check, finish, iterate_expected, iterate_start, memory_barrier, usage_error, Args, Gpu,
    Iterate, QueueKind, Wishes, COMPUTE_COMMANDS,
};

const NAME: &str = "compute-readback";
const USAGE: &str = "compute-readback [--elements N] [--iterations N]";

struct Options {
    elements: u32,
    iterations: u32,
}

fn main() {
    let options = parse_options().unwrap_or_else(|message| usage_error(NAME, USAGE, &message));
    finish(NAME, run(&options));
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        elements: 4096,
        iterations: 100,
    };
    let mut args = Args::from_env();
    while let Some(option) = args.next_option() {
        match option.as_str() {
            "--elements" => options.elements = args.positive(&option)?,
            "--iterations" => options.iterations = args.positive(&option)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn run(options: &Options) -> Result<String, String> {
    // Vulkan 1.1 and no optional feature: the smallest set of calls, the first program a new driver runs.
    let wishes = Wishes {
        api_version: vk::API_VERSION_1_1,
        queue_kind: QueueKind::Compute,
        commands: &[COMPUTE_COMMANDS],
        ..Wishes::default()
    };
    let gpu = Gpu::new(c"compute-readback", &wishes)?;
    let median = iterate_and_verify(&gpu, options)?;
    Ok(format!(
        "{} elements x {} iterations on {}; median submit+wait round trip {} us",
        options.elements,
        options.iterations,
        gpu.device_name(),
        median.as_micros()
    ))
}

/// Fills the buffer, submits the shader `iterations` times (one fence, reset each time), and verifies every
/// element; returns the median submit+wait round trip.
fn iterate_and_verify(gpu: &Gpu, options: &Options) -> Result<Duration, String> {
    let iterate = Iterate::new(gpu)?;
    let buffer = gpu.host_buffer(
        u64::from(options.elements) * 4,
        vk::BufferUsageFlags::STORAGE_BUFFER,
        "storage buffer",
    )?;
    buffer.write(gpu, 0, &iterate_start(options.elements))?;
    let set = iterate.set_for(gpu, &buffer)?;
    let command_buffer = gpu.record("compute dispatch", |command_buffer| {
        iterate.record(gpu, command_buffer, set, options.elements, 1);
        memory_barrier(
            gpu,
            command_buffer,
            (
                vk::PipelineStageFlags::COMPUTE_SHADER,
                vk::AccessFlags::SHADER_WRITE,
            ),
            (
                vk::PipelineStageFlags::HOST | vk::PipelineStageFlags::COMPUTE_SHADER,
                vk::AccessFlags::HOST_READ | vk::AccessFlags::SHADER_READ,
            ),
        );
        Ok(())
    })?;
    let fence = gpu.fence(false)?;
    let command_buffers = [command_buffer];
    let submit = [vk::SubmitInfo::default().command_buffers(&command_buffers)];
    let mut round_trips = Vec::with_capacity(options.iterations as usize);
    for iteration in 0..options.iterations {
        let started = Instant::now();
        gpu.submit(gpu.queue(0), &submit, fence, "compute dispatch")?;
        gpu.wait_fence(fence, &format!("iteration {iteration}"))?;
        // SAFETY: the fence's submission has completed.
        check("vkResetFences", unsafe {
            gpu.device.reset_fences(&[fence])
        })?;
        round_trips.push(started.elapsed());
    }
    let values: Vec<u32> = buffer.read_all(gpu)?;
    let wrong: Vec<(usize, u32)> = values
        .iter()
        .enumerate()
        .filter(|&(index, &value)| value != iterate_expected(index as u32, options.iterations))
        .map(|(index, &value)| (index, value))
        .collect();
    if let Some(&(index, value)) = wrong.first() {
        return Err(format!(
            "{} of {} elements are wrong; element {index} is {value:#x}, expected {:#x}",
            wrong.len(),
            values.len(),
            iterate_expected(index as u32, options.iterations)
        ));
    }
    round_trips.sort();
    Ok(round_trips[round_trips.len() / 2])
}
