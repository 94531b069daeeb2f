//! The ICD without the Vulkan loader: its own `vk_icdGetInstanceProcAddr` drives an instance, a device,
//! its queue and the idle waits against the real virglrenderer 1.1 vtest server of the reference chroot.

// The vtest server harness of kernel-iface's tests, shared rather than copied.
#[path = "../../kernel-iface/tests/common/mod.rs"]
mod common;

use ash::vk;
use common::VtestServer;
use vulkan_venus_rs::driver::entry::vk_icdGetInstanceProcAddr;

#[test]
#[ignore = "needs the reference chroot's virgl_test_server (cargo xtask setup); run by cargo xtask test"]
fn a_device_gets_its_queue_and_waits_idle() {
    let server = VtestServer::start();
    std::env::set_var("VENUS_RS_TRANSPORT", "vtest");
    std::env::set_var("VTEST_SOCKET_NAME", server.socket());

    // SAFETY: the ICD's vk_icdGetInstanceProcAddr is a vkGetInstanceProcAddr for its own commands.
    let entry = unsafe {
        ash::Entry::from_static_fn(ash::StaticFn {
            get_instance_proc_addr: vk_icdGetInstanceProcAddr,
        })
    };
    let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_1);
    // SAFETY: valid create info; the instance is destroyed below.
    let instance = unsafe {
        entry.create_instance(
            &vk::InstanceCreateInfo::default().application_info(&app),
            None,
        )
    }
    .unwrap_or_else(|e| panic!("vkCreateInstance: {e}\nserver log:\n{}", server.log_text()));

    // SAFETY: a live instance.
    let physical_devices = unsafe { instance.enumerate_physical_devices() }.unwrap();
    assert_eq!(physical_devices.len(), 1, "lavapipe behind virglrenderer");
    let physical = physical_devices[0];
    // SAFETY: a physical device of the instance.
    let properties = unsafe { instance.get_physical_device_properties(physical) };
    // Vulkan 1.4 with virglrenderer 1.3 (its protocol is vk.xml 1.4.334), 1.3 with virglrenderer 1.1.
    assert!(
        properties.api_version <= vk::make_api_version(0, 1, 4, 334),
        "{properties:?}"
    );
    assert!(
        properties.api_version >= vk::API_VERSION_1_1,
        "{properties:?}"
    );
    // SAFETY: as above.
    let families = unsafe { instance.get_physical_device_queue_family_properties(physical) };
    assert!(!families.is_empty());

    let priorities = [1.0f32];
    let queue_info = [vk::DeviceQueueCreateInfo::default()
        .queue_family_index(0)
        .queue_priorities(&priorities)];
    // SAFETY: valid create info; the device is destroyed below.
    let device = unsafe {
        instance.create_device(
            physical,
            &vk::DeviceCreateInfo::default().queue_create_infos(&queue_info),
            None,
        )
    }
    .unwrap_or_else(|e| panic!("vkCreateDevice: {e}\nserver log:\n{}", server.log_text()));

    // SAFETY: queue 0 of family 0 was created with the device.
    let queue = unsafe { device.get_device_queue(0, 0) };
    assert_ne!(queue, vk::Queue::null());
    let info = vk::DeviceQueueInfo2::default()
        .queue_family_index(0)
        .queue_index(0);
    // SAFETY: as above.
    let again = unsafe { device.get_device_queue2(&info) };
    assert_eq!(queue, again, "one queue, one handle");
    // SAFETY: a live queue and device with nothing submitted.
    unsafe {
        let log = || server.log_text();
        device
            .queue_wait_idle(queue)
            .unwrap_or_else(|e| panic!("vkQueueWaitIdle: {e}\nserver log:\n{}", log()));
        device
            .device_wait_idle()
            .unwrap_or_else(|e| panic!("vkDeviceWaitIdle: {e}\nserver log:\n{}", log()));
        device.destroy_device(None);
        instance.destroy_instance(None);
    }
    assert!(
        !server.log_text().contains("CS error"),
        "the host rejected a command:\n{}",
        server.log_text()
    );
}
