//! Shaders, descriptor sets, pipelines and the commands recorded into command buffers.

use std::ffi::CStr;

use ash::vk;
use ash::vk::Handle;
use venus_rs_encoder::host::Command;

use super::commands::{destroy, handle, handles, new_handle, optional_handle, vk_result};
use super::convert::{CChain, ToC};
use super::objects::{HandleExtra, HandleKind, HandleObject, Object};
use super::{required, ContextObjects};
use crate::executor::ContextFatal;

/// Runs the pipeline and recording commands; `None` when `command` is not one of them.
pub(super) fn run(
    shared: &ContextObjects,
    command: &mut Command<'_>,
) -> Option<Result<(), ContextFatal>> {
    Some(match command {
        Command::CreateShaderModule(args) => (|| {
            let info = required(&args.p_create_info, "pCreateInfo")?;
            let mut chain = CChain::lower(&info.p_next)?;
            let code = info.p_code.as_deref().unwrap_or_default();
            let mut c = vk::ShaderModuleCreateInfo::default()
                .flags(vk::ShaderModuleCreateFlags::from_raw(info.flags))
                .code(code);
            c.p_next = chain.head();
            args.ret = new_handle(
                shared,
                args.device,
                args.p_shader_module,
                HandleKind::ShaderModule,
                |d| {
                    // SAFETY: `c`, its chain and `code` outlive the call.
                    unsafe { d.device.create_shader_module(&c, None) }
                        .map(|m| (m.as_raw(), HandleExtra::None))
                },
            )?;
            Ok(())
        })(),
        Command::DestroyShaderModule(args) => destroy(
            shared,
            args.device,
            args.shader_module,
            HandleKind::ShaderModule,
        ),
        Command::CreateDescriptorSetLayout(args) => (|| {
            let info = required(&args.p_create_info, "pCreateInfo")?;
            let mut chain = CChain::lower(&info.p_next)?;
            let bindings = info.p_bindings.as_deref().unwrap_or_default();
            let samplers = bindings
                .iter()
                .map(|b| {
                    handles::<vk::Sampler>(
                        shared,
                        b.p_immutable_samplers.as_deref(),
                        HandleKind::Sampler,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let c_bindings: Vec<vk::DescriptorSetLayoutBinding> = bindings
                .iter()
                .zip(&samplers)
                .map(|(b, samplers)| {
                    let mut c = vk::DescriptorSetLayoutBinding::default()
                        .binding(b.binding)
                        .descriptor_type(vk::DescriptorType::from_raw(b.descriptor_type))
                        .descriptor_count(b.descriptor_count)
                        .stage_flags(vk::ShaderStageFlags::from_raw(b.stage_flags));
                    if !samplers.is_empty() {
                        c = c.immutable_samplers(samplers);
                    }
                    c
                })
                .collect();
            let mut c = vk::DescriptorSetLayoutCreateInfo::default()
                .flags(vk::DescriptorSetLayoutCreateFlags::from_raw(info.flags))
                .bindings(&c_bindings);
            c.p_next = chain.head();
            args.ret = new_handle(
                shared,
                args.device,
                args.p_set_layout,
                HandleKind::DescriptorSetLayout,
                |d| {
                    // SAFETY: `c`, its chain and the binding arrays outlive the call.
                    unsafe { d.device.create_descriptor_set_layout(&c, None) }
                        .map(|l| (l.as_raw(), HandleExtra::None))
                },
            )?;
            Ok(())
        })(),
        Command::DestroyDescriptorSetLayout(args) => destroy(
            shared,
            args.device,
            args.descriptor_set_layout,
            HandleKind::DescriptorSetLayout,
        ),
        Command::CreatePipelineLayout(args) => (|| {
            let info = required(&args.p_create_info, "pCreateInfo")?;
            let mut chain = CChain::lower(&info.p_next)?;
            let layouts: Vec<vk::DescriptorSetLayout> = handles(
                shared,
                info.p_set_layouts.as_deref(),
                HandleKind::DescriptorSetLayout,
            )?;
            let ranges: Vec<vk::PushConstantRange> = info
                .p_push_constant_ranges
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    vk::PushConstantRange::default()
                        .stage_flags(vk::ShaderStageFlags::from_raw(r.stage_flags))
                        .offset(r.offset)
                        .size(r.size)
                })
                .collect();
            let mut c = vk::PipelineLayoutCreateInfo::default()
                .flags(vk::PipelineLayoutCreateFlags::from_raw(info.flags))
                .set_layouts(&layouts)
                .push_constant_ranges(&ranges);
            c.p_next = chain.head();
            args.ret = new_handle(
                shared,
                args.device,
                args.p_pipeline_layout,
                HandleKind::PipelineLayout,
                |d| {
                    // SAFETY: `c`, its chain and the arrays outlive the call.
                    unsafe { d.device.create_pipeline_layout(&c, None) }
                        .map(|l| (l.as_raw(), HandleExtra::None))
                },
            )?;
            Ok(())
        })(),
        Command::DestroyPipelineLayout(args) => destroy(
            shared,
            args.device,
            args.pipeline_layout,
            HandleKind::PipelineLayout,
        ),
        Command::CreatePipelineCache(args) => (|| {
            let info = required(&args.p_create_info, "pCreateInfo")?;
            let mut chain = CChain::lower(&info.p_next)?;
            let data = info.p_initial_data.as_deref().unwrap_or_default();
            let mut c = vk::PipelineCacheCreateInfo::default()
                .flags(vk::PipelineCacheCreateFlags::from_raw(info.flags))
                .initial_data(data);
            c.p_next = chain.head();
            args.ret = new_handle(
                shared,
                args.device,
                args.p_pipeline_cache,
                HandleKind::PipelineCache,
                |d| {
                    // SAFETY: `c`, its chain and `data` outlive the call.
                    unsafe { d.device.create_pipeline_cache(&c, None) }
                        .map(|p| (p.as_raw(), HandleExtra::None))
                },
            )?;
            Ok(())
        })(),
        Command::DestroyPipelineCache(args) => destroy(
            shared,
            args.device,
            args.pipeline_cache,
            HandleKind::PipelineCache,
        ),
        Command::CreateComputePipelines(args) => create_compute_pipelines(shared, args),
        Command::DestroyPipeline(args) => {
            destroy(shared, args.device, args.pipeline, HandleKind::Pipeline)
        }
        Command::CreateDescriptorPool(args) => (|| {
            let info = required(&args.p_create_info, "pCreateInfo")?;
            let mut chain = CChain::lower(&info.p_next)?;
            let sizes: Vec<vk::DescriptorPoolSize> = info
                .p_pool_sizes
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    vk::DescriptorPoolSize::default()
                        .ty(vk::DescriptorType::from_raw(s.ty))
                        .descriptor_count(s.descriptor_count)
                })
                .collect();
            let mut c = vk::DescriptorPoolCreateInfo::default()
                .flags(vk::DescriptorPoolCreateFlags::from_raw(info.flags))
                .max_sets(info.max_sets)
                .pool_sizes(&sizes);
            c.p_next = chain.head();
            args.ret = new_handle(
                shared,
                args.device,
                args.p_descriptor_pool,
                HandleKind::DescriptorPool,
                |d| {
                    // SAFETY: `c`, its chain and `sizes` outlive the call.
                    unsafe { d.device.create_descriptor_pool(&c, None) }
                        .map(|p| (p.as_raw(), HandleExtra::None))
                },
            )?;
            Ok(())
        })(),
        Command::DestroyDescriptorPool(args) => {
            shared
                .objects()
                .remove_descriptor_sets(args.descriptor_pool, None);
            destroy(
                shared,
                args.device,
                args.descriptor_pool,
                HandleKind::DescriptorPool,
            )
        }
        Command::ResetDescriptorPool(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let pool: vk::DescriptorPool =
                handle(shared, args.descriptor_pool, HandleKind::DescriptorPool)?;
            shared
                .objects()
                .remove_descriptor_sets(args.descriptor_pool, None);
            // SAFETY: a live pool of this device; its sets are no longer named by the guest.
            args.ret = vk_result(unsafe {
                device
                    .device
                    .reset_descriptor_pool(pool, vk::DescriptorPoolResetFlags::from_raw(args.flags))
            });
            Ok(())
        })(),
        Command::AllocateDescriptorSets(args) => allocate_descriptor_sets(shared, args),
        Command::FreeDescriptorSets(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let pool: vk::DescriptorPool =
                handle(shared, args.descriptor_pool, HandleKind::DescriptorPool)?;
            let ids = args.p_descriptor_sets.as_deref().unwrap_or_default();
            let sets: Vec<vk::DescriptorSet> = {
                let objects = shared.objects();
                ids.iter()
                    .filter(|&&id| id != 0)
                    .map(|&id| {
                        objects
                            .handle(id, HandleKind::DescriptorSet)
                            .map(vk::DescriptorSet::from_raw)
                    })
                    .collect::<Result<_, _>>()?
            };
            shared
                .objects()
                .remove_descriptor_sets(args.descriptor_pool, Some(ids));
            // SAFETY: the sets belong to this pool and the guest no longer names them.
            args.ret = vk_result(unsafe { device.device.free_descriptor_sets(pool, &sets) });
            Ok(())
        })(),
        Command::UpdateDescriptorSets(args) => update_descriptor_sets(shared, args),
        Command::CmdBindPipeline(args) => (|| {
            let buffer = shared.objects().command_buffer(args.command_buffer)?;
            let pipeline = handle(shared, args.pipeline, HandleKind::Pipeline)?;
            // SAFETY: a live command buffer and pipeline of one device.
            unsafe {
                buffer.device.device.cmd_bind_pipeline(
                    buffer.handle,
                    vk::PipelineBindPoint::from_raw(args.pipeline_bind_point),
                    pipeline,
                )
            };
            Ok(())
        })(),
        Command::CmdBindDescriptorSets(args) => (|| {
            let buffer = shared.objects().command_buffer(args.command_buffer)?;
            let layout = handle(shared, args.layout, HandleKind::PipelineLayout)?;
            let sets: Vec<vk::DescriptorSet> = {
                let objects = shared.objects();
                args.p_descriptor_sets
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .map(|&id| {
                        objects
                            .optional_handle(id, HandleKind::DescriptorSet)
                            .map(vk::DescriptorSet::from_raw)
                    })
                    .collect::<Result<_, _>>()?
            };
            let offsets = args.p_dynamic_offsets.as_deref().unwrap_or_default();
            // SAFETY: live objects of one device; the arrays outlive the call.
            unsafe {
                buffer.device.device.cmd_bind_descriptor_sets(
                    buffer.handle,
                    vk::PipelineBindPoint::from_raw(args.pipeline_bind_point),
                    layout,
                    args.first_set,
                    &sets,
                    offsets,
                )
            };
            Ok(())
        })(),
        Command::CmdPushConstants(args) => (|| {
            let buffer = shared.objects().command_buffer(args.command_buffer)?;
            let layout = handle(shared, args.layout, HandleKind::PipelineLayout)?;
            let values = args.p_values.as_deref().unwrap_or_default();
            // SAFETY: live objects of one device; `values` outlives the call.
            unsafe {
                buffer.device.device.cmd_push_constants(
                    buffer.handle,
                    layout,
                    vk::ShaderStageFlags::from_raw(args.stage_flags),
                    args.offset,
                    values,
                )
            };
            Ok(())
        })(),
        Command::CmdDispatch(args) => (|| {
            let buffer = shared.objects().command_buffer(args.command_buffer)?;
            // SAFETY: a live command buffer in the recording state (the driver checks).
            unsafe {
                buffer.device.device.cmd_dispatch(
                    buffer.handle,
                    args.group_count_x,
                    args.group_count_y,
                    args.group_count_z,
                )
            };
            Ok(())
        })(),
        Command::CmdPipelineBarrier(args) => cmd_pipeline_barrier(shared, args),
        Command::CmdFillBuffer(args) => (|| {
            let buffer = shared.objects().command_buffer(args.command_buffer)?;
            let dst = handle(shared, args.dst_buffer, HandleKind::Buffer)?;
            // SAFETY: live objects of one device.
            unsafe {
                buffer.device.device.cmd_fill_buffer(
                    buffer.handle,
                    dst,
                    args.dst_offset,
                    args.size,
                    args.data,
                )
            };
            Ok(())
        })(),
        Command::CmdCopyBuffer(args) => (|| {
            let buffer = shared.objects().command_buffer(args.command_buffer)?;
            let src = handle(shared, args.src_buffer, HandleKind::Buffer)?;
            let dst = handle(shared, args.dst_buffer, HandleKind::Buffer)?;
            let regions: Vec<vk::BufferCopy> = args
                .p_regions
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|r| vk::BufferCopy {
                    src_offset: r.src_offset,
                    dst_offset: r.dst_offset,
                    size: r.size,
                })
                .collect();
            // SAFETY: live objects of one device; `regions` outlives the call.
            unsafe {
                buffer
                    .device
                    .device
                    .cmd_copy_buffer(buffer.handle, src, dst, &regions)
            };
            Ok(())
        })(),
        _ => return None,
    })
}

fn create_compute_pipelines(
    shared: &ContextObjects,
    args: &mut venus_rs_encoder::host::CreateComputePipelinesArgs<'_>,
) -> Result<(), ContextFatal> {
    let device = shared.objects().device(args.device)?;
    let cache: vk::PipelineCache =
        optional_handle(shared, args.pipeline_cache, HandleKind::PipelineCache)?;
    let infos = args.p_create_infos.as_deref().unwrap_or_default();
    let ids = args.p_pipelines.as_deref().unwrap_or_default();
    if ids.len() != infos.len() {
        return Err(ContextFatal::new(
            "pPipelines does not hold createInfoCount ids",
        ));
    }
    {
        let objects = shared.objects();
        for &id in ids {
            objects.check_free(id, "VkPipeline")?;
        }
    }
    let mut chains = Vec::new();
    let mut c_infos = Vec::with_capacity(infos.len());
    for info in infos {
        if info.stage.p_specialization_info.is_some() {
            return Err(ContextFatal::new(
                "specialization constants are not supported by this host yet",
            ));
        }
        let mut info_chain = CChain::lower(&info.p_next)?;
        let mut stage_chain = CChain::lower(&info.stage.p_next)?;
        let name: &CStr = info
            .stage
            .p_name
            .ok_or_else(|| ContextFatal::new("pName of the shader stage is NULL"))?;
        let mut stage = vk::PipelineShaderStageCreateInfo::default()
            .flags(vk::PipelineShaderStageCreateFlags::from_raw(
                info.stage.flags,
            ))
            .stage(vk::ShaderStageFlags::from_raw(info.stage.stage as u32))
            .module(handle(
                shared,
                info.stage.r#module,
                HandleKind::ShaderModule,
            )?)
            .name(name);
        stage.p_next = stage_chain.head();
        let mut c = vk::ComputePipelineCreateInfo::default()
            .flags(vk::PipelineCreateFlags::from_raw(info.flags))
            .stage(stage)
            .layout(handle(shared, info.layout, HandleKind::PipelineLayout)?)
            .base_pipeline_handle(optional_handle(
                shared,
                info.base_pipeline_handle,
                HandleKind::Pipeline,
            )?)
            .base_pipeline_index(info.base_pipeline_index);
        c.p_next = info_chain.head();
        c_infos.push(c);
        chains.push((info_chain, stage_chain));
    }
    // SAFETY: every pointer in the infos points into `args`, the chains or this frame.
    let result = unsafe {
        device
            .device
            .create_compute_pipelines(cache, &c_infos, None)
    };
    let (pipelines, code) = match result {
        Ok(pipelines) => (pipelines, vk::Result::SUCCESS),
        Err((pipelines, e)) => (pipelines, e),
    };
    let mut objects = shared.objects();
    for (&id, pipeline) in ids.iter().zip(pipelines) {
        if pipeline != vk::Pipeline::null() {
            objects.insert(
                id,
                Object::Handle(HandleObject {
                    kind: HandleKind::Pipeline,
                    raw: pipeline.as_raw(),
                    device: std::sync::Arc::clone(&device),
                    extra: HandleExtra::None,
                }),
            )?;
        }
    }
    args.ret = code.as_raw();
    Ok(())
}

fn allocate_descriptor_sets(
    shared: &ContextObjects,
    args: &mut venus_rs_encoder::host::AllocateDescriptorSetsArgs<'_>,
) -> Result<(), ContextFatal> {
    let info = required(&args.p_allocate_info, "pAllocateInfo")?;
    let ids = args.p_descriptor_sets.as_deref().unwrap_or_default();
    if ids.len() != info.descriptor_set_count as usize {
        return Err(ContextFatal::new(
            "pDescriptorSets does not hold descriptorSetCount ids",
        ));
    }
    let device = shared.objects().device(args.device)?;
    {
        let objects = shared.objects();
        for &id in ids {
            objects.check_free(id, "VkDescriptorSet")?;
        }
    }
    let pool: vk::DescriptorPool =
        handle(shared, info.descriptor_pool, HandleKind::DescriptorPool)?;
    let layouts: Vec<vk::DescriptorSetLayout> = handles(
        shared,
        info.p_set_layouts.as_deref(),
        HandleKind::DescriptorSetLayout,
    )?;
    let mut chain = CChain::lower(&info.p_next)?;
    let mut c = vk::DescriptorSetAllocateInfo::default()
        .descriptor_pool(pool)
        .set_layouts(&layouts);
    c.p_next = chain.head();
    // SAFETY: live objects of this device; `c`, its chain and `layouts` outlive the call.
    match unsafe { device.device.allocate_descriptor_sets(&c) } {
        Ok(sets) => {
            let mut objects = shared.objects();
            for (&id, set) in ids.iter().zip(sets) {
                objects.insert(
                    id,
                    Object::Handle(HandleObject {
                        kind: HandleKind::DescriptorSet,
                        raw: set.as_raw(),
                        device: std::sync::Arc::clone(&device),
                        extra: HandleExtra::DescriptorPool(info.descriptor_pool),
                    }),
                )?;
            }
            args.ret = vk::Result::SUCCESS.as_raw();
        }
        Err(e) => args.ret = e.as_raw(),
    }
    Ok(())
}

fn update_descriptor_sets(
    shared: &ContextObjects,
    args: &mut venus_rs_encoder::host::UpdateDescriptorSetsArgs<'_>,
) -> Result<(), ContextFatal> {
    let device = shared.objects().device(args.device)?;
    let writes = args.p_descriptor_writes.as_deref().unwrap_or_default();
    let mut buffer_infos = Vec::with_capacity(writes.len());
    let mut chains = Vec::with_capacity(writes.len());
    for write in writes {
        if write.p_image_info.is_some() || write.p_texel_buffer_view.is_some() {
            return Err(ContextFatal::new(
                "image and texel-buffer descriptors are not supported by this host yet",
            ));
        }
        let objects = shared.objects();
        let infos: Vec<vk::DescriptorBufferInfo> = write
            .p_buffer_info
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|info| {
                objects
                    .optional_handle(info.buffer, HandleKind::Buffer)
                    .map(|buffer| vk::DescriptorBufferInfo {
                        buffer: vk::Buffer::from_raw(buffer),
                        offset: info.offset,
                        range: info.range,
                    })
            })
            .collect::<Result<_, _>>()?;
        buffer_infos.push(infos);
        chains.push(CChain::lower(&write.p_next)?);
    }
    let mut c_writes = Vec::with_capacity(writes.len());
    for ((write, infos), chain) in writes.iter().zip(&buffer_infos).zip(&mut chains) {
        let mut c = vk::WriteDescriptorSet::default()
            .dst_set(handle(shared, write.dst_set, HandleKind::DescriptorSet)?)
            .dst_binding(write.dst_binding)
            .dst_array_element(write.dst_array_element)
            .descriptor_type(vk::DescriptorType::from_raw(write.descriptor_type));
        if infos.is_empty() {
            c.descriptor_count = write.descriptor_count;
        } else {
            c = c.buffer_info(infos);
        }
        c.p_next = chain.head();
        c_writes.push(c);
    }
    let copies = args.p_descriptor_copies.as_deref().unwrap_or_default();
    let mut c_copies = Vec::with_capacity(copies.len());
    for copy in copies {
        if !copy.p_next.is_empty() {
            CChain::lower(&copy.p_next)?;
        }
        c_copies.push(
            vk::CopyDescriptorSet::default()
                .src_set(handle(shared, copy.src_set, HandleKind::DescriptorSet)?)
                .src_binding(copy.src_binding)
                .src_array_element(copy.src_array_element)
                .dst_set(handle(shared, copy.dst_set, HandleKind::DescriptorSet)?)
                .dst_binding(copy.dst_binding)
                .dst_array_element(copy.dst_array_element)
                .descriptor_count(copy.descriptor_count),
        );
    }
    // SAFETY: every handle is a live object of this device; the arrays outlive the call.
    unsafe { device.device.update_descriptor_sets(&c_writes, &c_copies) };
    Ok(())
}

fn cmd_pipeline_barrier(
    shared: &ContextObjects,
    args: &mut venus_rs_encoder::host::CmdPipelineBarrierArgs<'_>,
) -> Result<(), ContextFatal> {
    let buffer = shared.objects().command_buffer(args.command_buffer)?;
    let memory = args.p_memory_barriers.as_deref().unwrap_or_default();
    let buffers = args.p_buffer_memory_barriers.as_deref().unwrap_or_default();
    let images = args.p_image_memory_barriers.as_deref().unwrap_or_default();
    let mut chains = Vec::new();
    let mut c_memory = Vec::with_capacity(memory.len());
    for barrier in memory {
        let mut chain = CChain::lower(&barrier.p_next)?;
        let mut c = vk::MemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::from_raw(barrier.src_access_mask))
            .dst_access_mask(vk::AccessFlags::from_raw(barrier.dst_access_mask));
        c.p_next = chain.head();
        chains.push(chain);
        c_memory.push(c);
    }
    let mut c_buffers = Vec::with_capacity(buffers.len());
    for barrier in buffers {
        let mut chain = CChain::lower(&barrier.p_next)?;
        let mut c = vk::BufferMemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::from_raw(barrier.src_access_mask))
            .dst_access_mask(vk::AccessFlags::from_raw(barrier.dst_access_mask))
            .src_queue_family_index(barrier.src_queue_family_index)
            .dst_queue_family_index(barrier.dst_queue_family_index)
            .buffer(handle(shared, barrier.buffer, HandleKind::Buffer)?)
            .offset(barrier.offset)
            .size(barrier.size);
        c.p_next = chain.head();
        chains.push(chain);
        c_buffers.push(c);
    }
    let mut c_images = Vec::with_capacity(images.len());
    for barrier in images {
        let mut chain = CChain::lower(&barrier.p_next)?;
        let mut c = vk::ImageMemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::from_raw(barrier.src_access_mask))
            .dst_access_mask(vk::AccessFlags::from_raw(barrier.dst_access_mask))
            .old_layout(vk::ImageLayout::from_raw(barrier.old_layout))
            .new_layout(vk::ImageLayout::from_raw(barrier.new_layout))
            .src_queue_family_index(barrier.src_queue_family_index)
            .dst_queue_family_index(barrier.dst_queue_family_index)
            .image(handle(shared, barrier.image, HandleKind::Image)?)
            .subresource_range(barrier.subresource_range.to_c());
        c.p_next = chain.head();
        chains.push(chain);
        c_images.push(c);
    }
    // SAFETY: live objects of one device; the barrier arrays and chains outlive the call.
    unsafe {
        buffer.device.device.cmd_pipeline_barrier(
            buffer.handle,
            vk::PipelineStageFlags::from_raw(args.src_stage_mask),
            vk::PipelineStageFlags::from_raw(args.dst_stage_mask),
            vk::DependencyFlags::from_raw(args.dependency_flags),
            &c_memory,
            &c_buffers,
            &c_images,
        )
    };
    Ok(())
}
