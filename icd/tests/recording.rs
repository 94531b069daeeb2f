//! Command buffers record in the guest: 100 000 vkCmdDispatch put nothing on the ring until the
//! command buffer is submitted, and a recording far larger than the ring allows reaches the host whole
//! (as an indirect stream) and runs to its last command. Runs against the real virglrenderer vtest
//! server of the reference chroot.

// The vtest server harness of kernel-iface's tests, shared rather than copied.
#[path = "../../kernel-iface/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use ash::vk;
use common::VtestServer;
use vulkan_venus_rs::driver::entry::vk_icdGetInstanceProcAddr;
use vulkan_venus_rs::driver::ring_commands_sent;

const COMMANDS: u32 = 100_000;

#[test]
#[ignore = "needs the reference chroot's virgl_test_server (cargo xtask setup); run by cargo xtask test"]
fn a_huge_recording_stays_in_the_guest_until_submitted_and_then_runs_whole() {
    let server = VtestServer::start();
    std::env::set_var("VENUS_RS_TRANSPORT", "vtest");
    std::env::set_var("VTEST_SOCKET_NAME", server.socket());
    let log = || server.log_text();

    // SAFETY: the ICD's vk_icdGetInstanceProcAddr is a vkGetInstanceProcAddr for its own commands.
    let entry = unsafe {
        ash::Entry::from_static_fn(ash::StaticFn {
            get_instance_proc_addr: vk_icdGetInstanceProcAddr,
        })
    };
    let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_1);
    // SAFETY: valid create infos throughout; every object is destroyed at the end.
    unsafe {
        let instance = entry
            .create_instance(
                &vk::InstanceCreateInfo::default().application_info(&app),
                None,
            )
            .unwrap_or_else(|e| panic!("vkCreateInstance: {e}\n{}", log()));
        let sent = || ring_commands_sent(instance.handle()).expect("a host");
        let physical = instance.enumerate_physical_devices().unwrap()[0];
        let priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(0)
            .queue_priorities(&priorities)];
        let device = instance
            .create_device(
                physical,
                &vk::DeviceCreateInfo::default().queue_create_infos(&queues),
                None,
            )
            .unwrap_or_else(|e| panic!("vkCreateDevice: {e}\n{}", log()));
        let queue = device.get_device_queue(0, 0);

        // A small device-local storage buffer the dispatches step (x -> 3x + 1, the test programs'
        // shader), and an event the last command sets.
        let buffer = device
            .create_buffer(
                &vk::BufferCreateInfo::default()
                    .size(4096)
                    .usage(vk::BufferUsageFlags::STORAGE_BUFFER),
                None,
            )
            .unwrap();
        let requirements = device.get_buffer_memory_requirements(buffer);
        let memory = device
            .allocate_memory(
                &vk::MemoryAllocateInfo::default()
                    .allocation_size(requirements.size)
                    .memory_type_index(requirements.memory_type_bits.trailing_zeros()),
                None,
            )
            .unwrap_or_else(|e| panic!("vkAllocateMemory: {e}\n{}", log()));
        device.bind_buffer_memory(buffer, memory, 0).unwrap();
        let event = device
            .create_event(&vk::EventCreateInfo::default(), None)
            .unwrap();

        let code = ash::util::read_spv(&mut std::io::Cursor::new(
            &include_bytes!("../../tests/shaders/iterate.comp.spv")[..],
        ))
        .unwrap();
        let shader = device
            .create_shader_module(&vk::ShaderModuleCreateInfo::default().code(&code), None)
            .unwrap();
        let bindings = [vk::DescriptorSetLayoutBinding::default()
            .binding(0)
            .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
            .descriptor_count(1)
            .stage_flags(vk::ShaderStageFlags::COMPUTE)];
        let set_layout = device
            .create_descriptor_set_layout(
                &vk::DescriptorSetLayoutCreateInfo::default().bindings(&bindings),
                None,
            )
            .unwrap();
        let push = [vk::PushConstantRange::default()
            .stage_flags(vk::ShaderStageFlags::COMPUTE)
            .size(4)];
        let set_layouts = [set_layout];
        let layout = device
            .create_pipeline_layout(
                &vk::PipelineLayoutCreateInfo::default()
                    .set_layouts(&set_layouts)
                    .push_constant_ranges(&push),
                None,
            )
            .unwrap();
        let stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(shader)
            .name(c"main");
        let pipeline = device
            .create_compute_pipelines(
                vk::PipelineCache::null(),
                &[vk::ComputePipelineCreateInfo::default()
                    .stage(stage)
                    .layout(layout)],
                None,
            )
            .unwrap()[0];
        let sizes = [vk::DescriptorPoolSize::default()
            .ty(vk::DescriptorType::STORAGE_BUFFER)
            .descriptor_count(1)];
        let descriptor_pool = device
            .create_descriptor_pool(
                &vk::DescriptorPoolCreateInfo::default()
                    .max_sets(1)
                    .pool_sizes(&sizes),
                None,
            )
            .unwrap();
        let set = device
            .allocate_descriptor_sets(
                &vk::DescriptorSetAllocateInfo::default()
                    .descriptor_pool(descriptor_pool)
                    .set_layouts(&set_layouts),
            )
            .unwrap()[0];
        let buffer_info = [vk::DescriptorBufferInfo::default()
            .buffer(buffer)
            .range(vk::WHOLE_SIZE)];
        device.update_descriptor_sets(
            &[vk::WriteDescriptorSet::default()
                .dst_set(set)
                .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                .buffer_info(&buffer_info)],
            &[],
        );
        let pool = device
            .create_command_pool(&vk::CommandPoolCreateInfo::default(), None)
            .unwrap();
        let command_buffer = device
            .allocate_command_buffers(
                &vk::CommandBufferAllocateInfo::default()
                    .command_pool(pool)
                    .level(vk::CommandBufferLevel::PRIMARY)
                    .command_buffer_count(1),
            )
            .unwrap()[0];

        let before = sent();
        device
            .begin_command_buffer(command_buffer, &vk::CommandBufferBeginInfo::default())
            .unwrap();
        device.cmd_bind_pipeline(command_buffer, vk::PipelineBindPoint::COMPUTE, pipeline);
        device.cmd_bind_descriptor_sets(
            command_buffer,
            vk::PipelineBindPoint::COMPUTE,
            layout,
            0,
            &[set],
            &[],
        );
        device.cmd_push_constants(
            command_buffer,
            layout,
            vk::ShaderStageFlags::COMPUTE,
            0,
            &64u32.to_ne_bytes(),
        );
        // Each step reads what the previous one wrote.
        let step_after_step = [vk::MemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::SHADER_WRITE)
            .dst_access_mask(vk::AccessFlags::SHADER_READ | vk::AccessFlags::SHADER_WRITE)];
        for _ in 0..COMMANDS {
            device.cmd_pipeline_barrier(
                command_buffer,
                vk::PipelineStageFlags::COMPUTE_SHADER,
                vk::PipelineStageFlags::COMPUTE_SHADER,
                vk::DependencyFlags::empty(),
                &step_after_step,
                &[],
                &[],
            );
            device.cmd_dispatch(command_buffer, 1, 1, 1);
        }
        device.cmd_set_event(
            command_buffer,
            event,
            vk::PipelineStageFlags::COMPUTE_SHADER,
        );
        device.end_command_buffer(command_buffer).unwrap();
        assert_eq!(
            sent(),
            before,
            "recording {COMMANDS} dispatches put something on the ring"
        );

        let command_buffers = [command_buffer];
        device
            .queue_submit(
                queue,
                &[vk::SubmitInfo::default().command_buffers(&command_buffers)],
                vk::Fence::null(),
            )
            .unwrap();
        assert!(sent() > before, "the submission reached no ring");
        // The event is the recording's last command: set means the host ran all of it.
        let deadline = Instant::now() + Duration::from_secs(60);
        while device.get_event_status(event) != Ok(true) {
            assert!(
                Instant::now() < deadline,
                "the recording's last command never ran\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        device.device_wait_idle().unwrap();
        device.destroy_command_pool(pool, None);
        device.destroy_descriptor_pool(descriptor_pool, None);
        device.destroy_pipeline(pipeline, None);
        device.destroy_pipeline_layout(layout, None);
        device.destroy_descriptor_set_layout(set_layout, None);
        device.destroy_shader_module(shader, None);
        device.destroy_event(event, None);
        device.destroy_buffer(buffer, None);
        device.free_memory(memory, None);
        device.destroy_device(None);
        instance.destroy_instance(None);
    }
    assert!(
        !log().contains("CS error"),
        "the host rejected a command:\n{}",
        log()
    );
}
