//! No leaks: a thousand contexts made and ended leave the server as it was (descriptors,
//! resident memory, no process left behind), and a thousand rounds of making and destroying
//! every kind of object leave the context's process as it was. Each is measured after a
//! warm-up (allocators and the driver keep caches) and must stay within 5 %.

use std::time::{Duration, Instant};

use venus_rs_encoder::host::types::{
    BufferCreateInfo, BufferViewCreateInfo, CommandBufferAllocateInfo, CommandPoolCreateInfo,
    ComputePipelineCreateInfo, DescriptorPoolCreateInfo, DescriptorPoolSize,
    DescriptorSetAllocateInfo, DescriptorSetLayoutBinding, DescriptorSetLayoutCreateInfo,
    EventCreateInfo, Ext, Extent3D, FenceCreateInfo, FramebufferCreateInfo, ImageCreateInfo,
    ImageSubresourceRange, ImageViewCreateInfo, MemoryAllocateInfo,
    PhysicalDevicePrivateDataFeatures, PipelineCacheCreateInfo, PipelineLayoutCreateInfo,
    PipelineShaderStageCreateInfo, PrivateDataSlotCreateInfo, PushConstantRange,
    QueryPoolCreateInfo, RenderPassCreateInfo, SamplerCreateInfo, SemaphoreCreateInfo,
    ShaderModuleCreateInfo, SubpassDescription,
};
use venus_rs_encoder::host::*;

use crate::harness::objects::{bound_buffer, HOST_VISIBLE_TYPE};
use crate::harness::scenario::HOSTILE;
use crate::harness::server::Server;
use crate::harness::usage::{children, Footprint};
use crate::harness::venus::{encode, Venus, VK_SUCCESS};

const WARM_UP: usize = 100;
const CYCLES: usize = 1000;
/// Cycles sent in one submission (each a few KiB of commands).
const BATCH: usize = 25;

const SHADER: &[u8] = include_bytes!("../../../tests/shaders/iterate.comp.spv");
const STORAGE_BUFFER: i32 = 7;
const COMPUTE: u32 = 0x20;
const R8G8B8A8_UNORM: i32 = 37;
const R32_UINT: i32 = 98;
/// STORAGE_TEXEL_BUFFER | STORAGE_BUFFER | TRANSFER_SRC.
const BUFFER_USAGE: u32 = 0x8 | 0x20 | 0x1;
/// SAMPLED | TRANSFER_DST.
const IMAGE_USAGE: u32 = 0x4 | 0x2;

fn shader_words() -> Vec<u32> {
    SHADER
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// What lives for the whole test: objects the cycled ones are made from.
struct Fixture {
    device: u64,
    texel_buffer: u64,
}

/// One round: every kind of object made, then all destroyed, as one stream of commands (ids
/// are the same every round: each is free again when the round ends).
fn round(fixture: &Fixture) -> Vec<u8> {
    let device = fixture.device;
    let id = |n: u64| 0x10_0000 + n;
    let mut out = Vec::new();
    let mut put = |command: Command<'_>| out.extend(encode(&command, 0));

    put(Command::CreateFence(CreateFenceArgs {
        device,
        p_create_info: Some(Box::new(FenceCreateInfo::default())),
        p_fence: Some(id(1)),
        ret: 0,
    }));
    put(Command::CreateSemaphore(CreateSemaphoreArgs {
        device,
        p_create_info: Some(Box::new(SemaphoreCreateInfo::default())),
        p_semaphore: Some(id(2)),
        ret: 0,
    }));
    put(Command::CreateEvent(CreateEventArgs {
        device,
        p_create_info: Some(Box::new(EventCreateInfo::default())),
        p_event: Some(id(3)),
        ret: 0,
    }));
    put(Command::CreateQueryPool(CreateQueryPoolArgs {
        device,
        p_create_info: Some(Box::new(QueryPoolCreateInfo {
            query_type: 0,
            query_count: 4,
            ..QueryPoolCreateInfo::default()
        })),
        p_query_pool: Some(id(4)),
        ret: 0,
    }));
    put(Command::AllocateMemory(AllocateMemoryArgs {
        device,
        p_allocate_info: Some(Box::new(MemoryAllocateInfo {
            allocation_size: 65536,
            memory_type_index: HOST_VISIBLE_TYPE,
            ..MemoryAllocateInfo::default()
        })),
        p_memory: Some(id(5)),
        ret: 0,
    }));
    put(Command::CreateBuffer(CreateBufferArgs {
        device,
        p_create_info: Some(Box::new(BufferCreateInfo {
            size: 4096,
            usage: BUFFER_USAGE,
            ..BufferCreateInfo::default()
        })),
        p_buffer: Some(id(6)),
        ret: 0,
    }));
    put(Command::BindBufferMemory(BindBufferMemoryArgs {
        device,
        buffer: id(6),
        memory: id(5),
        memory_offset: 0,
        ret: 0,
    }));
    put(Command::CreateBufferView(CreateBufferViewArgs {
        device,
        p_create_info: Some(Box::new(BufferViewCreateInfo {
            buffer: fixture.texel_buffer,
            format: R32_UINT,
            offset: 0,
            range: 4096,
            ..BufferViewCreateInfo::default()
        })),
        p_view: Some(id(7)),
        ret: 0,
    }));
    put(Command::CreateImage(CreateImageArgs {
        device,
        p_create_info: Some(Box::new(ImageCreateInfo {
            image_type: 1,
            format: R8G8B8A8_UNORM,
            extent: Extent3D {
                width: 16,
                height: 16,
                depth: 1,
            },
            mip_levels: 1,
            array_layers: 1,
            samples: 1,
            tiling: 0,
            usage: IMAGE_USAGE,
            ..ImageCreateInfo::default()
        })),
        p_image: Some(id(8)),
        ret: 0,
    }));
    put(Command::BindImageMemory(BindImageMemoryArgs {
        device,
        image: id(8),
        memory: id(5),
        memory_offset: 4096,
        ret: 0,
    }));
    put(Command::CreateImageView(CreateImageViewArgs {
        device,
        p_create_info: Some(Box::new(ImageViewCreateInfo {
            image: id(8),
            view_type: 1,
            format: R8G8B8A8_UNORM,
            subresource_range: ImageSubresourceRange {
                aspect_mask: 1,
                base_mip_level: 0,
                level_count: 1,
                base_array_layer: 0,
                layer_count: 1,
            },
            ..ImageViewCreateInfo::default()
        })),
        p_view: Some(id(9)),
        ret: 0,
    }));
    put(Command::CreateSampler(CreateSamplerArgs {
        device,
        p_create_info: Some(Box::new(SamplerCreateInfo {
            max_anisotropy: 1.0,
            ..SamplerCreateInfo::default()
        })),
        p_sampler: Some(id(10)),
        ret: 0,
    }));
    put(Command::CreateDescriptorSetLayout(
        CreateDescriptorSetLayoutArgs {
            device,
            p_create_info: Some(Box::new(DescriptorSetLayoutCreateInfo {
                binding_count: 1,
                p_bindings: Some(vec![DescriptorSetLayoutBinding {
                    binding: 0,
                    descriptor_type: STORAGE_BUFFER,
                    descriptor_count: 1,
                    stage_flags: COMPUTE,
                    p_immutable_samplers: None,
                }]),
                ..DescriptorSetLayoutCreateInfo::default()
            })),
            p_set_layout: Some(id(11)),
            ret: 0,
        },
    ));
    put(Command::CreatePipelineLayout(CreatePipelineLayoutArgs {
        device,
        p_create_info: Some(Box::new(PipelineLayoutCreateInfo {
            set_layout_count: 1,
            p_set_layouts: Some(vec![id(11)]),
            push_constant_range_count: 1,
            p_push_constant_ranges: Some(vec![PushConstantRange {
                stage_flags: COMPUTE,
                offset: 0,
                size: 4,
            }]),
            ..PipelineLayoutCreateInfo::default()
        })),
        p_pipeline_layout: Some(id(12)),
        ret: 0,
    }));
    let words = shader_words();
    put(Command::CreateShaderModule(CreateShaderModuleArgs {
        device,
        p_create_info: Some(Box::new(ShaderModuleCreateInfo {
            code_size: (words.len() * 4) as u64,
            p_code: Some(words),
            ..ShaderModuleCreateInfo::default()
        })),
        p_shader_module: Some(id(13)),
        ret: 0,
    }));
    put(Command::CreatePipelineCache(CreatePipelineCacheArgs {
        device,
        p_create_info: Some(Box::new(PipelineCacheCreateInfo::default())),
        p_pipeline_cache: Some(id(14)),
        ret: 0,
    }));
    put(Command::CreateComputePipelines(
        CreateComputePipelinesArgs {
            device,
            pipeline_cache: id(14),
            create_info_count: 1,
            p_create_infos: Some(vec![ComputePipelineCreateInfo {
                stage: PipelineShaderStageCreateInfo {
                    stage: COMPUTE as i32,
                    r#module: id(13),
                    p_name: Some(c"main"),
                    ..PipelineShaderStageCreateInfo::default()
                },
                layout: id(12),
                base_pipeline_index: -1,
                ..ComputePipelineCreateInfo::default()
            }]),
            p_pipelines: Some(vec![id(15)]),
            ret: 0,
        },
    ));
    put(Command::CreateRenderPass(CreateRenderPassArgs {
        device,
        p_create_info: Some(Box::new(RenderPassCreateInfo {
            subpass_count: 1,
            p_subpasses: Some(vec![SubpassDescription::default()]),
            ..RenderPassCreateInfo::default()
        })),
        p_render_pass: Some(id(16)),
        ret: 0,
    }));
    put(Command::CreateFramebuffer(CreateFramebufferArgs {
        device,
        p_create_info: Some(Box::new(FramebufferCreateInfo {
            render_pass: id(16),
            width: 16,
            height: 16,
            layers: 1,
            ..FramebufferCreateInfo::default()
        })),
        p_framebuffer: Some(id(17)),
        ret: 0,
    }));
    put(Command::CreateDescriptorPool(CreateDescriptorPoolArgs {
        device,
        p_create_info: Some(Box::new(DescriptorPoolCreateInfo {
            flags: 1,
            max_sets: 2,
            pool_size_count: 1,
            p_pool_sizes: Some(vec![DescriptorPoolSize {
                ty: STORAGE_BUFFER,
                descriptor_count: 2,
            }]),
            ..DescriptorPoolCreateInfo::default()
        })),
        p_descriptor_pool: Some(id(18)),
        ret: 0,
    }));
    put(Command::AllocateDescriptorSets(
        AllocateDescriptorSetsArgs {
            device,
            p_allocate_info: Some(Box::new(DescriptorSetAllocateInfo {
                descriptor_pool: id(18),
                descriptor_set_count: 1,
                p_set_layouts: Some(vec![id(11)]),
                ..DescriptorSetAllocateInfo::default()
            })),
            p_descriptor_sets: Some(vec![id(19)]),
            ret: 0,
        },
    ));
    put(Command::CreateCommandPool(CreateCommandPoolArgs {
        device,
        p_create_info: Some(Box::new(CommandPoolCreateInfo::default())),
        p_command_pool: Some(id(20)),
        ret: 0,
    }));
    put(Command::AllocateCommandBuffers(
        AllocateCommandBuffersArgs {
            device,
            p_allocate_info: Some(Box::new(CommandBufferAllocateInfo {
                command_pool: id(20),
                level: 0,
                command_buffer_count: 1,
                ..CommandBufferAllocateInfo::default()
            })),
            p_command_buffers: Some(vec![id(21)]),
            ret: 0,
        },
    ));
    put(Command::CreatePrivateDataSlot(CreatePrivateDataSlotArgs {
        device,
        p_create_info: Some(Box::new(PrivateDataSlotCreateInfo::default())),
        p_private_data_slot: Some(id(22)),
        ret: 0,
    }));

    // Destroyed in the reverse order, children through their pools.
    put(Command::DestroyPrivateDataSlot(
        DestroyPrivateDataSlotArgs {
            device,
            private_data_slot: id(22),
        },
    ));
    put(Command::FreeCommandBuffers(FreeCommandBuffersArgs {
        device,
        command_pool: id(20),
        command_buffer_count: 1,
        p_command_buffers: Some(vec![id(21)]),
    }));
    put(Command::DestroyCommandPool(DestroyCommandPoolArgs {
        device,
        command_pool: id(20),
    }));
    put(Command::FreeDescriptorSets(FreeDescriptorSetsArgs {
        device,
        descriptor_pool: id(18),
        descriptor_set_count: 1,
        p_descriptor_sets: Some(vec![id(19)]),
        ret: 0,
    }));
    put(Command::DestroyDescriptorPool(DestroyDescriptorPoolArgs {
        device,
        descriptor_pool: id(18),
    }));
    put(Command::DestroyFramebuffer(DestroyFramebufferArgs {
        device,
        framebuffer: id(17),
    }));
    put(Command::DestroyRenderPass(DestroyRenderPassArgs {
        device,
        render_pass: id(16),
    }));
    put(Command::DestroyPipeline(DestroyPipelineArgs {
        device,
        pipeline: id(15),
    }));
    put(Command::DestroyPipelineCache(DestroyPipelineCacheArgs {
        device,
        pipeline_cache: id(14),
    }));
    put(Command::DestroyShaderModule(DestroyShaderModuleArgs {
        device,
        shader_module: id(13),
    }));
    put(Command::DestroyPipelineLayout(DestroyPipelineLayoutArgs {
        device,
        pipeline_layout: id(12),
    }));
    put(Command::DestroyDescriptorSetLayout(
        DestroyDescriptorSetLayoutArgs {
            device,
            descriptor_set_layout: id(11),
        },
    ));
    put(Command::DestroySampler(DestroySamplerArgs {
        device,
        sampler: id(10),
    }));
    put(Command::DestroyImageView(DestroyImageViewArgs {
        device,
        image_view: id(9),
    }));
    put(Command::DestroyImage(DestroyImageArgs {
        device,
        image: id(8),
    }));
    put(Command::DestroyBufferView(DestroyBufferViewArgs {
        device,
        buffer_view: id(7),
    }));
    put(Command::DestroyBuffer(DestroyBufferArgs {
        device,
        buffer: id(6),
    }));
    put(Command::FreeMemory(FreeMemoryArgs {
        device,
        memory: id(5),
    }));
    put(Command::DestroyQueryPool(DestroyQueryPoolArgs {
        device,
        query_pool: id(4),
    }));
    put(Command::DestroyEvent(DestroyEventArgs {
        device,
        event: id(3),
    }));
    put(Command::DestroySemaphore(DestroySemaphoreArgs {
        device,
        semaphore: id(2),
    }));
    put(Command::DestroyFence(DestroyFenceArgs {
        device,
        fence: id(1),
    }));
    out
}

fn run_rounds(venus: &mut Venus, round: &[u8], count: usize) {
    let batch: Vec<u8> = round.repeat(BATCH);
    for _ in 0..count / BATCH {
        assert!(venus.send_bytes(&batch), "the context died in a round");
    }
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_thousand_rounds_of_every_object_leave_the_context_flat() {
    let server = Server::start(&[]);
    let mut venus = Venus::connect(&server, HOSTILE);
    // Private data slots need their extension (the instance asks for Vulkan 1.1).
    let ids = venus.create_device_with(
        &[c"VK_EXT_private_data"],
        vec![Ext::PhysicalDevicePrivateDataFeatures(Box::new(
            PhysicalDevicePrivateDataFeatures {
                p_next: Vec::new(),
                private_data: 1,
            },
        ))],
    );
    let (texel_buffer, _) = bound_buffer(&mut venus, ids.device, 4096);
    let fixture = Fixture {
        device: ids.device,
        texel_buffer,
    };
    let round = round(&fixture);
    // One round, checked command by command on the way, makes every object for real.
    assert!(venus.send_bytes(&round), "{}", server.log_text());
    assert!(
        !server.log_text().contains("is FATAL"),
        "{}",
        server.log_text()
    );

    let client = server.client_id(HOSTILE).expect("the client");
    let pid = server.client_pid(client).expect("its process");
    run_rounds(&mut venus, &round, WARM_UP);
    let before = Footprint::of(pid);
    run_rounds(&mut venus, &round, CYCLES);
    let after = Footprint::of(pid);
    eprintln!("{CYCLES} rounds of every object: {before:?} -> {after:?}");
    before.assert_flat(&after, "the context's process");
    assert!(
        !server.log_text().contains("is FATAL"),
        "{}",
        server.log_text()
    );
}

/// One context made and ended: connect, a context with blobs, a ring, an instance and a
/// device, disconnect.
fn one_context(server: &Server, name: &str) {
    let mut venus = Venus::connect(server, name);
    let (instance, result) = venus.create_instance(&[], &[]);
    assert_eq!(result, VK_SUCCESS);
    let _ = instance;
    let blob = crate::harness::ring::ring_blob(&mut venus, 1);
    crate::harness::ring::Ring::create(&mut venus, &blob, 0, None).expect("a ring");
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_thousand_contexts_leave_the_server_flat() {
    let server = Server::start(&[]);
    let pid = server.pid();
    let name = "cycle";
    for _ in 0..WARM_UP / 4 {
        one_context(&server, name);
        throttle(pid);
    }
    wait_for_no_children(pid);
    let before = Footprint::of(pid);
    let started = Instant::now();
    for _ in 0..CYCLES {
        one_context(&server, name);
        throttle(pid);
    }
    wait_for_no_children(pid);
    let after = Footprint::of(pid);
    eprintln!(
        "{CYCLES} contexts in {:?}: server {before:?} -> {after:?}",
        started.elapsed()
    );
    before.assert_flat(&after, "the server's main process");
    let log = server.log_text();
    let unclean: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(": process ") && line.contains(" ended ("))
        .filter(|line| !line.contains("ended (exit status: 0)"))
        .collect();
    assert!(
        unclean.is_empty(),
        "client processes ended badly: {unclean:#?}"
    );
}

/// Keeps a few client processes at most ending at once (the server serves 64 at most).
fn throttle(pid: u32) {
    while children(pid).len() > 4 {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Every client process has ended and been reaped.
fn wait_for_no_children(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !children(pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "client processes left: {:?}",
            children(pid)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Reaped (and logged) on the server's next round.
    std::thread::sleep(Duration::from_millis(600));
}
