//! Object churn: how many buffers, images and compute pipelines a driver creates and destroys per second —
//! the cost of objects that applications make per frame or per level load. Nothing is bound or used: this is
//! the path through the driver and, in a pairing, the protocol and the host.

use crate::compute::Compute;
use crate::figures::figure;
use crate::Size;
use ash::vk;
use std::time::{Duration, Instant};
use venus_rs_tests::vk_util::{check, ITERATE_SPIRV};

pub fn run(size: Size) -> Result<(), String> {
    let compute = Compute::new(64)?;
    let gpu = &compute.gpu;
    let budget = size.pick(Duration::from_millis(700), Duration::from_millis(100));
    let device = &gpu.device;

    let buffer_info = vk::BufferCreateInfo::default()
        .size(64 * 1024)
        .usage(vk::BufferUsageFlags::STORAGE_BUFFER)
        .sharing_mode(vk::SharingMode::EXCLUSIVE);
    figure(
        "churn-buffers",
        per_second(&compute, budget, || {
            // SAFETY: valid device and create info; the buffer is destroyed at once and never used.
            let buffer = check("vkCreateBuffer", unsafe {
                device.create_buffer(&buffer_info, None)
            })?;
            // SAFETY: as above.
            unsafe { device.destroy_buffer(buffer, None) };
            Ok(())
        })?,
    );

    let image_info = vk::ImageCreateInfo::default()
        .image_type(vk::ImageType::TYPE_2D)
        .format(vk::Format::R8G8B8A8_UNORM)
        .extent(vk::Extent3D {
            width: 256,
            height: 256,
            depth: 1,
        })
        .mip_levels(1)
        .array_layers(1)
        .samples(vk::SampleCountFlags::TYPE_1)
        .tiling(vk::ImageTiling::OPTIMAL)
        .usage(vk::ImageUsageFlags::SAMPLED | vk::ImageUsageFlags::TRANSFER_DST)
        .sharing_mode(vk::SharingMode::EXCLUSIVE)
        .initial_layout(vk::ImageLayout::UNDEFINED);
    figure(
        "churn-images",
        per_second(&compute, budget, || {
            // SAFETY: valid device and create info; the image is destroyed at once and never used.
            let image = check("vkCreateImage", unsafe {
                device.create_image(&image_info, None)
            })?;
            // SAFETY: as above.
            unsafe { device.destroy_image(image, None) };
            Ok(())
        })?,
    );

    let module = gpu.shader_module(ITERATE_SPIRV, "iterate.comp")?;
    let stage = vk::PipelineShaderStageCreateInfo::default()
        .stage(vk::ShaderStageFlags::COMPUTE)
        .module(module)
        .name(c"main");
    let pipeline_info = [vk::ComputePipelineCreateInfo::default()
        .stage(stage)
        .layout(compute.iterate.layout())];
    figure(
        "churn-pipelines",
        per_second(&compute, budget, || {
            // SAFETY: valid device; the create info and what it points to live across the call; the pipeline
            // is destroyed at once and never used.
            let pipelines = unsafe {
                device.create_compute_pipelines(vk::PipelineCache::null(), &pipeline_info, None)
            }
            .map_err(|(_, e)| format!("vkCreateComputePipelines: {e:?}"))?;
            check("vkCreateComputePipelines", Ok(()))?;
            // SAFETY: as above.
            unsafe { device.destroy_pipeline(pipelines[0], None) };
            Ok(())
        })?,
    );
    Ok(())
}

/// How many times per second `cycle` runs, over `budget` (at least 10 cycles). A driver may queue creations
/// and destructions without waiting for its host, so the time ends only when a submission made after the last
/// cycle has completed: the host has then run every one of them too.
fn per_second(
    compute: &Compute,
    budget: Duration,
    mut cycle: impl FnMut() -> Result<(), String>,
) -> Result<f64, String> {
    // One untimed cycle: the first of a kind may compile or allocate what later ones reuse.
    cycle()?;
    let settle = || compute.gpu.run_commands("settle", |_| Ok(()));
    settle()?;
    let started = Instant::now();
    let mut cycles = 0u32;
    while cycles < 10 || started.elapsed() < budget {
        cycle()?;
        cycles += 1;
    }
    settle()?;
    Ok(f64::from(cycles) / started.elapsed().as_secs_f64())
}
