//! Device-level objects: command pools and buffers, fences, semaphores, buffers, memory, and
//! queue work. Each command resolves the guest's ids under the table lock, then calls the
//! driver without holding it (waits may block for as long as the guest asked).

use std::sync::Arc;

use ash::vk;
use ash::vk::Handle;
use venus_rs_encoder::host::Command;

use super::convert::{CChain, ToC};
use super::memory;
use super::objects::{
    CommandBufferObject, DeviceObject, HandleExtra, HandleKind, HandleObject, Object,
};
use super::{required, ContextObjects};
use crate::context::ExecutionContext;
use crate::executor::ContextFatal;

pub(super) fn vk_result(result: Result<(), vk::Result>) -> i32 {
    match result {
        Ok(()) => vk::Result::SUCCESS.as_raw(),
        Err(e) => e.as_raw(),
    }
}

/// Creates a non-dispatchable object under a guest id; the driver's error goes back as the
/// command's VkResult.
pub(super) fn new_handle(
    shared: &ContextObjects,
    device_id: u64,
    id: Option<u64>,
    kind: HandleKind,
    create: impl FnOnce(&DeviceObject) -> Result<(u64, HandleExtra), vk::Result>,
) -> Result<i32, ContextFatal> {
    let id = id.ok_or_else(|| ContextFatal::new(format!("the output Vk{kind} pointer is NULL")))?;
    let device = {
        let objects = shared.objects();
        objects.check_free(id, &format!("Vk{kind}"))?;
        objects.device(device_id)?
    };
    match create(&device) {
        Ok((raw, extra)) => {
            shared.objects().insert(
                id,
                Object::Handle(HandleObject {
                    kind,
                    raw,
                    device,
                    extra,
                }),
            )?;
            Ok(vk::Result::SUCCESS.as_raw())
        }
        Err(e) => Ok(e.as_raw()),
    }
}

pub(super) fn destroy(
    shared: &ContextObjects,
    device_id: u64,
    id: u64,
    kind: HandleKind,
) -> Result<(), ContextFatal> {
    shared.objects().device(device_id)?;
    if let Some(handle) = shared.objects().remove_handle(id, kind)? {
        super::dispatch::destroy_handle(&handle);
    }
    Ok(())
}

/// Host handles of a list of guest ids of one kind.
pub(super) fn handles<T: Handle>(
    shared: &ContextObjects,
    ids: Option<&[u64]>,
    kind: HandleKind,
) -> Result<Vec<T>, ContextFatal> {
    let objects = shared.objects();
    ids.unwrap_or_default()
        .iter()
        .map(|&id| objects.handle(id, kind).map(T::from_raw))
        .collect()
}

pub(super) fn handle<T: Handle>(
    shared: &ContextObjects,
    id: u64,
    kind: HandleKind,
) -> Result<T, ContextFatal> {
    shared.objects().handle(id, kind).map(T::from_raw)
}

pub(super) fn optional_handle<T: Handle>(
    shared: &ContextObjects,
    id: u64,
    kind: HandleKind,
) -> Result<T, ContextFatal> {
    shared.objects().optional_handle(id, kind).map(T::from_raw)
}

/// Runs the device-level commands; `None` when `command` is not one of them.
pub(super) fn run(
    shared: &ContextObjects,
    command: &mut Command<'_>,
    ctx: &mut ExecutionContext<'_>,
) -> Option<Result<(), ContextFatal>> {
    Some(match command {
        Command::CreateCommandPool(args) => (|| {
            let info = required(&args.p_create_info, "pCreateInfo")?;
            let mut chain = CChain::lower(&info.p_next)?;
            let mut c = vk::CommandPoolCreateInfo::default()
                .flags(vk::CommandPoolCreateFlags::from_raw(info.flags))
                .queue_family_index(info.queue_family_index);
            c.p_next = chain.head();
            args.ret = new_handle(
                shared,
                args.device,
                args.p_command_pool,
                HandleKind::CommandPool,
                |d| {
                    // SAFETY: `c` and its chain outlive the call.
                    unsafe { d.device.create_command_pool(&c, None) }
                        .map(|pool| (pool.as_raw(), HandleExtra::None))
                },
            )?;
            Ok(())
        })(),
        Command::DestroyCommandPool(args) => {
            shared
                .objects()
                .remove_command_buffers(args.command_pool, None);
            destroy(
                shared,
                args.device,
                args.command_pool,
                HandleKind::CommandPool,
            )
        }
        Command::ResetCommandPool(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let pool = handle(shared, args.command_pool, HandleKind::CommandPool)?;
            // SAFETY: a live pool of this device.
            args.ret = vk_result(unsafe {
                device
                    .device
                    .reset_command_pool(pool, vk::CommandPoolResetFlags::from_raw(args.flags))
            });
            Ok(())
        })(),
        Command::TrimCommandPool(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let pool = handle(shared, args.command_pool, HandleKind::CommandPool)?;
            // SAFETY: a live pool of this device.
            unsafe {
                device
                    .device
                    .trim_command_pool(pool, vk::CommandPoolTrimFlags::from_raw(args.flags))
            };
            Ok(())
        })(),
        Command::AllocateCommandBuffers(args) => allocate_command_buffers(shared, args),
        Command::FreeCommandBuffers(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let pool = handle(shared, args.command_pool, HandleKind::CommandPool)?;
            let ids = args.p_command_buffers.as_deref().unwrap_or_default();
            let buffers: Vec<vk::CommandBuffer> = {
                let objects = shared.objects();
                ids.iter()
                    .filter(|&&id| id != 0)
                    .map(|&id| objects.command_buffer(id).map(|b| b.handle))
                    .collect::<Result<_, _>>()?
            };
            shared
                .objects()
                .remove_command_buffers(args.command_pool, Some(ids));
            // SAFETY: the buffers belong to this pool and the guest no longer names them.
            unsafe { device.device.free_command_buffers(pool, &buffers) };
            Ok(())
        })(),
        Command::BeginCommandBuffer(args) => (|| {
            let buffer = shared.objects().command_buffer(args.command_buffer)?;
            let info = required(&args.p_begin_info, "pBeginInfo")?;
            if info.p_inheritance_info.is_some() {
                return Err(ContextFatal::new(
                    "secondary command buffer inheritance is not supported by this host",
                ));
            }
            let mut chain = CChain::lower(&info.p_next)?;
            let mut c = vk::CommandBufferBeginInfo::default()
                .flags(vk::CommandBufferUsageFlags::from_raw(info.flags));
            c.p_next = chain.head();
            // SAFETY: a live command buffer; `c` and its chain outlive the call.
            args.ret =
                vk_result(unsafe { buffer.device.device.begin_command_buffer(buffer.handle, &c) });
            Ok(())
        })(),
        Command::EndCommandBuffer(args) => (|| {
            let buffer = shared.objects().command_buffer(args.command_buffer)?;
            // SAFETY: a live command buffer.
            args.ret = vk_result(unsafe { buffer.device.device.end_command_buffer(buffer.handle) });
            Ok(())
        })(),
        Command::ResetCommandBuffer(args) => (|| {
            let buffer = shared.objects().command_buffer(args.command_buffer)?;
            // SAFETY: a live command buffer.
            args.ret = vk_result(unsafe {
                buffer.device.device.reset_command_buffer(
                    buffer.handle,
                    vk::CommandBufferResetFlags::from_raw(args.flags),
                )
            });
            Ok(())
        })(),
        Command::CreateFence(args) => (|| {
            let info = required(&args.p_create_info, "pCreateInfo")?;
            let mut chain = CChain::lower(&info.p_next)?;
            let mut c =
                vk::FenceCreateInfo::default().flags(vk::FenceCreateFlags::from_raw(info.flags));
            c.p_next = chain.head();
            args.ret = new_handle(shared, args.device, args.p_fence, HandleKind::Fence, |d| {
                // SAFETY: `c` and its chain outlive the call.
                unsafe { d.device.create_fence(&c, None) }.map(|f| (f.as_raw(), HandleExtra::None))
            })?;
            Ok(())
        })(),
        Command::DestroyFence(args) => destroy(shared, args.device, args.fence, HandleKind::Fence),
        Command::ResetFences(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let fences: Vec<vk::Fence> =
                handles(shared, args.p_fences.as_deref(), HandleKind::Fence)?;
            // SAFETY: live fences of this device.
            args.ret = vk_result(unsafe { device.device.reset_fences(&fences) });
            Ok(())
        })(),
        Command::ResetFenceResourceMESA(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let fence: vk::Fence = handle(shared, args.fence, HandleKind::Fence)?;
            // SAFETY: a live fence of this device.
            let _ = unsafe { device.device.reset_fences(&[fence]) };
            Ok(())
        })(),
        Command::GetFenceStatus(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let fence: vk::Fence = handle(shared, args.fence, HandleKind::Fence)?;
            // SAFETY: a live fence of this device.
            args.ret = match unsafe { device.device.get_fence_status(fence) } {
                Ok(true) => vk::Result::SUCCESS.as_raw(),
                Ok(false) => vk::Result::NOT_READY.as_raw(),
                Err(e) => e.as_raw(),
            };
            Ok(())
        })(),
        Command::WaitForFences(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let fences: Vec<vk::Fence> =
                handles(shared, args.p_fences.as_deref(), HandleKind::Fence)?;
            // SAFETY: live fences of this device; the guest chose the timeout.
            args.ret = vk_result(unsafe {
                device
                    .device
                    .wait_for_fences(&fences, args.wait_all != 0, args.timeout)
            });
            Ok(())
        })(),
        Command::CreateSemaphore(args) => (|| {
            let info = required(&args.p_create_info, "pCreateInfo")?;
            let mut chain = CChain::lower(&info.p_next)?;
            let mut c = vk::SemaphoreCreateInfo::default()
                .flags(vk::SemaphoreCreateFlags::from_raw(info.flags));
            c.p_next = chain.head();
            args.ret = new_handle(
                shared,
                args.device,
                args.p_semaphore,
                HandleKind::Semaphore,
                |d| {
                    // SAFETY: `c` and its chain outlive the call.
                    unsafe { d.device.create_semaphore(&c, None) }
                        .map(|s| (s.as_raw(), HandleExtra::None))
                },
            )?;
            Ok(())
        })(),
        Command::DestroySemaphore(args) => {
            destroy(shared, args.device, args.semaphore, HandleKind::Semaphore)
        }
        Command::GetSemaphoreCounterValue(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let semaphore: vk::Semaphore = handle(shared, args.semaphore, HandleKind::Semaphore)?;
            // SAFETY: a live semaphore of this device.
            match unsafe { device.device.get_semaphore_counter_value(semaphore) } {
                Ok(value) => {
                    args.p_value = Some(value);
                    args.ret = vk::Result::SUCCESS.as_raw();
                }
                Err(e) => args.ret = e.as_raw(),
            }
            Ok(())
        })(),
        Command::CreateBuffer(args) => (|| {
            let info = required(&args.p_create_info, "pCreateInfo")?;
            let shared_memory = shared.objects().device(args.device)?.external_memory_host;
            let mut chain = CChain::lower(&memory::buffer_chain(&info.p_next, shared_memory))?;
            let families = info.p_queue_family_indices.as_deref().unwrap_or_default();
            let mut c = vk::BufferCreateInfo::default()
                .flags(vk::BufferCreateFlags::from_raw(info.flags))
                .size(info.size)
                .usage(vk::BufferUsageFlags::from_raw(info.usage))
                .sharing_mode(vk::SharingMode::from_raw(info.sharing_mode))
                .queue_family_indices(families);
            c.p_next = chain.head();
            args.ret = new_handle(
                shared,
                args.device,
                args.p_buffer,
                HandleKind::Buffer,
                |d| {
                    // SAFETY: `c`, its chain and `families` outlive the call.
                    unsafe { d.device.create_buffer(&c, None) }
                        .map(|b| (b.as_raw(), HandleExtra::None))
                },
            )?;
            Ok(())
        })(),
        Command::CreateImage(args) => (|| {
            let info = required(&args.p_create_info, "pCreateInfo")?;
            let mut chain = CChain::lower(&info.p_next)?;
            let families = info.p_queue_family_indices.as_deref().unwrap_or_default();
            let mut c = vk::ImageCreateInfo::default()
                .flags(vk::ImageCreateFlags::from_raw(info.flags))
                .image_type(vk::ImageType::from_raw(info.image_type))
                .format(vk::Format::from_raw(info.format))
                .extent(info.extent.to_c())
                .mip_levels(info.mip_levels)
                .array_layers(info.array_layers)
                .samples(vk::SampleCountFlags::from_raw(info.samples as u32))
                .tiling(vk::ImageTiling::from_raw(info.tiling))
                .usage(vk::ImageUsageFlags::from_raw(info.usage))
                .sharing_mode(vk::SharingMode::from_raw(info.sharing_mode))
                .queue_family_indices(families)
                .initial_layout(vk::ImageLayout::from_raw(info.initial_layout));
            c.p_next = chain.head();
            args.ret = new_handle(shared, args.device, args.p_image, HandleKind::Image, |d| {
                // SAFETY: `c`, its chain and `families` outlive the call.
                unsafe { d.device.create_image(&c, None) }.map(|i| (i.as_raw(), HandleExtra::None))
            })?;
            Ok(())
        })(),
        Command::DestroyImage(args) => destroy(shared, args.device, args.image, HandleKind::Image),
        Command::GetImageMemoryRequirements(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let image: vk::Image = handle(shared, args.image, HandleKind::Image)?;
            required(&args.p_memory_requirements, "pMemoryRequirements")?;
            // SAFETY: a live image of this device.
            let requirements = unsafe { device.device.get_image_memory_requirements(image) };
            args.p_memory_requirements =
                Some(Box::new(memory::exposed_requirements(&requirements)));
            Ok(())
        })(),
        Command::GetImageMemoryRequirements2(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let info = required(&args.p_info, "pInfo")?;
            let image: vk::Image = handle(shared, info.image, HandleKind::Image)?;
            let mut info_chain = CChain::lower(&info.p_next)?;
            let mut c_info = vk::ImageMemoryRequirementsInfo2::default().image(image);
            c_info.p_next = info_chain.head();
            fill_memory_requirements2(&mut args.p_memory_requirements, |c| {
                // SAFETY: a live image; the info chain and `c`'s chain outlive the call.
                unsafe { device.device.get_image_memory_requirements2(&c_info, c) }
            })
        })(),
        Command::DestroyBuffer(args) => {
            destroy(shared, args.device, args.buffer, HandleKind::Buffer)
        }
        Command::GetBufferMemoryRequirements(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let buffer: vk::Buffer = handle(shared, args.buffer, HandleKind::Buffer)?;
            required(&args.p_memory_requirements, "pMemoryRequirements")?;
            // SAFETY: a live buffer of this device.
            let requirements = unsafe { device.device.get_buffer_memory_requirements(buffer) };
            args.p_memory_requirements =
                Some(Box::new(memory::exposed_requirements(&requirements)));
            Ok(())
        })(),
        Command::GetBufferMemoryRequirements2(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let info = required(&args.p_info, "pInfo")?;
            let buffer: vk::Buffer = handle(shared, info.buffer, HandleKind::Buffer)?;
            let mut info_chain = CChain::lower(&info.p_next)?;
            let mut c_info = vk::BufferMemoryRequirementsInfo2::default().buffer(buffer);
            c_info.p_next = info_chain.head();
            fill_memory_requirements2(&mut args.p_memory_requirements, |c| {
                // SAFETY: a live buffer; the info chain and `c`'s chain outlive the call.
                unsafe { device.device.get_buffer_memory_requirements2(&c_info, c) }
            })
        })(),
        Command::BindBufferMemory(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let buffer: vk::Buffer = handle(shared, args.buffer, HandleKind::Buffer)?;
            let memory: vk::DeviceMemory = handle(shared, args.memory, HandleKind::DeviceMemory)?;
            // SAFETY: live objects of this device.
            args.ret = vk_result(unsafe {
                device
                    .device
                    .bind_buffer_memory(buffer, memory, args.memory_offset)
            });
            Ok(())
        })(),
        Command::BindBufferMemory2(args) => (|| {
            let device = shared.objects().device(args.device)?;
            let infos = args.p_bind_infos.as_deref().unwrap_or_default();
            let mut chains = infos
                .iter()
                .map(|info| CChain::lower(&info.p_next))
                .collect::<Result<Vec<_>, _>>()?;
            let mut c_infos = Vec::with_capacity(infos.len());
            for (info, chain) in infos.iter().zip(&mut chains) {
                let mut c = vk::BindBufferMemoryInfo::default()
                    .buffer(handle(shared, info.buffer, HandleKind::Buffer)?)
                    .memory(handle(shared, info.memory, HandleKind::DeviceMemory)?)
                    .memory_offset(info.memory_offset);
                c.p_next = chain.head();
                c_infos.push(c);
            }
            // SAFETY: live objects of this device; the chains outlive the call.
            args.ret = vk_result(unsafe { device.device.bind_buffer_memory2(&c_infos) });
            Ok(())
        })(),
        Command::AllocateMemory(args) => memory::allocate_memory(shared, args),
        Command::FreeMemory(args) => {
            destroy(shared, args.device, args.memory, HandleKind::DeviceMemory)
        }
        Command::QueueSubmit(args) => queue_submit(shared, args, ctx),
        Command::QueueWaitIdle(args) => (|| {
            let queue = shared.objects().queue(args.queue)?;
            // SAFETY: a live queue.
            args.ret = vk_result(unsafe { queue.device.device.queue_wait_idle(queue.handle) });
            Ok(())
        })(),
        Command::DeviceWaitIdle(args) => (|| {
            let device = shared.objects().device(args.device)?;
            // SAFETY: a live device.
            args.ret = vk_result(unsafe { device.device.device_wait_idle() });
            Ok(())
        })(),
        _ => return None,
    })
}

/// Answers a `*MemoryRequirements2` query: lowers the guest's output chain, lets `query` fill it, and raises the
/// driver's answer (with the requirements the guest may see) back into the reply.
fn fill_memory_requirements2(
    out: &mut Option<Box<venus_rs_encoder::host::types::MemoryRequirements2<'_>>>,
    query: impl FnOnce(&mut vk::MemoryRequirements2),
) -> Result<(), ContextFatal> {
    let out = out
        .as_mut()
        .ok_or_else(|| ContextFatal::new("pMemoryRequirements is NULL"))?;
    let mut chain = CChain::lower(&out.p_next)?;
    let mut c = vk::MemoryRequirements2 {
        p_next: chain.head(),
        ..Default::default()
    };
    query(&mut c);
    out.memory_requirements = memory::exposed_requirements(&c.memory_requirements);
    out.p_next = chain.raise()?;
    Ok(())
}

fn allocate_command_buffers(
    shared: &ContextObjects,
    args: &mut venus_rs_encoder::host::AllocateCommandBuffersArgs<'_>,
) -> Result<(), ContextFatal> {
    let info = required(&args.p_allocate_info, "pAllocateInfo")?;
    let ids = args.p_command_buffers.as_deref().unwrap_or_default();
    if ids.len() != info.command_buffer_count as usize {
        return Err(ContextFatal::new(
            "pCommandBuffers does not hold commandBufferCount ids",
        ));
    }
    let (device, pool) = {
        let objects = shared.objects();
        for &id in ids {
            objects.check_free(id, "VkCommandBuffer")?;
        }
        (
            objects.device(args.device)?,
            objects.handle(info.command_pool, HandleKind::CommandPool)?,
        )
    };
    let mut chain = CChain::lower(&info.p_next)?;
    let mut c = vk::CommandBufferAllocateInfo::default()
        .command_pool(vk::CommandPool::from_raw(pool))
        .level(vk::CommandBufferLevel::from_raw(info.level))
        .command_buffer_count(info.command_buffer_count);
    c.p_next = chain.head();
    // SAFETY: a live pool of this device; `c` and its chain outlive the call.
    match unsafe { device.device.allocate_command_buffers(&c) } {
        Ok(buffers) => {
            let mut objects = shared.objects();
            for (&id, handle) in ids.iter().zip(buffers) {
                objects.insert(
                    id,
                    Object::CommandBuffer(Arc::new(CommandBufferObject {
                        device: Arc::clone(&device),
                        handle,
                        pool: info.command_pool,
                    })),
                )?;
            }
            args.ret = vk::Result::SUCCESS.as_raw();
        }
        Err(e) => args.ret = e.as_raw(),
    }
    Ok(())
}

fn queue_submit(
    shared: &ContextObjects,
    args: &mut venus_rs_encoder::host::QueueSubmitArgs<'_>,
    ctx: &mut ExecutionContext<'_>,
) -> Result<(), ContextFatal> {
    let queue = shared.objects().queue(args.queue)?;
    let submits = args.p_submits.as_deref().unwrap_or_default();
    let mut chains = Vec::with_capacity(submits.len());
    let mut owned = Vec::with_capacity(submits.len());
    for submit in submits {
        chains.push(CChain::lower(&submit.p_next)?);
        let objects = shared.objects();
        let waits: Vec<vk::Semaphore> = submit
            .p_wait_semaphores
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|&id| {
                objects
                    .handle(id, HandleKind::Semaphore)
                    .map(vk::Semaphore::from_raw)
            })
            .collect::<Result<_, _>>()?;
        let stages: Vec<vk::PipelineStageFlags> = submit
            .p_wait_dst_stage_mask
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|&s| vk::PipelineStageFlags::from_raw(s))
            .collect();
        let buffers: Vec<vk::CommandBuffer> = submit
            .p_command_buffers
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|&id| objects.command_buffer(id).map(|b| b.handle))
            .collect::<Result<_, _>>()?;
        let signals: Vec<vk::Semaphore> = submit
            .p_signal_semaphores
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|&id| {
                objects
                    .handle(id, HandleKind::Semaphore)
                    .map(vk::Semaphore::from_raw)
            })
            .collect::<Result<_, _>>()?;
        owned.push((waits, stages, buffers, signals));
    }
    let c_submits: Vec<vk::SubmitInfo> = owned
        .iter()
        .zip(&mut chains)
        .map(|((waits, stages, buffers, signals), chain)| {
            let mut c = vk::SubmitInfo::default()
                .wait_semaphores(waits)
                .wait_dst_stage_mask(stages)
                .command_buffers(buffers)
                .signal_semaphores(signals);
            c.p_next = chain.head();
            c
        })
        .collect();
    let fence: vk::Fence = optional_handle(shared, args.fence, HandleKind::Fence)?;
    let ticket = ctx
        .timelines()
        .begin_work(queue.ring_idx)
        .map_err(|e| ContextFatal::new(e.to_string()))?;
    let _submitting = queue.lock_for_submit();
    // SAFETY: every handle is a live object of this device; the arrays and chains outlive
    // the call; the queue lock gives the external synchronisation Vulkan requires.
    let result = unsafe {
        queue
            .device
            .device
            .queue_submit(queue.handle, &c_submits, fence)
    };
    args.ret = vk_result(result);
    if result.is_ok() {
        queue.device.completion.track(queue.handle, ticket)?;
    }
    Ok(())
}
