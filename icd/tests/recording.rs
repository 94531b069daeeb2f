//! Command buffers record in the guest: 100 000 commands put nothing on the ring until the command
//! buffer is submitted, and a recording far larger than the ring allows reaches the host whole (as an
//! indirect stream) and runs to its last command. Runs against the real virglrenderer vtest server of
//! the reference chroot.

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

        // A small device-local buffer the commands fill, and an event the last command sets.
        let buffer = device
            .create_buffer(
                &vk::BufferCreateInfo::default()
                    .size(4096)
                    .usage(vk::BufferUsageFlags::TRANSFER_DST),
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
        for index in 0..COMMANDS {
            device.cmd_fill_buffer(
                command_buffer,
                buffer,
                u64::from(index % 1024) * 4,
                4,
                index,
            );
        }
        device.cmd_set_event(command_buffer, event, vk::PipelineStageFlags::TRANSFER);
        device.end_command_buffer(command_buffer).unwrap();
        assert_eq!(
            sent(),
            before,
            "recording {COMMANDS} commands put something on the ring"
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
