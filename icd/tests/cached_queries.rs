//! What cannot change is asked from the host once: a second query of properties, features, queue
//! families, memory properties and format properties puts no command on the ring, and answers the same.
//! Runs against the real virglrenderer 1.1 vtest server of the reference chroot.

// The vtest server harness of kernel-iface's tests, shared rather than copied.
#[path = "../../kernel-iface/tests/common/mod.rs"]
mod common;

use ash::vk;
use common::VtestServer;
use vulkan_venus_rs::driver::entry::vk_icdGetInstanceProcAddr;
use vulkan_venus_rs::driver::ring_commands_sent;

#[test]
#[ignore = "needs the reference chroot's virgl_test_server (cargo xtask setup); run by cargo xtask test"]
fn a_second_query_is_answered_without_the_host() {
    let server = VtestServer::start();
    std::env::set_var("VENUS_RS_TRANSPORT", "vtest");
    std::env::set_var("VTEST_SOCKET_NAME", server.socket());

    // SAFETY: the ICD's vk_icdGetInstanceProcAddr is a vkGetInstanceProcAddr for its own commands.
    let entry = unsafe {
        ash::Entry::from_static_fn(ash::StaticFn {
            get_instance_proc_addr: vk_icdGetInstanceProcAddr,
        })
    };
    let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_2);
    // SAFETY: valid create info; the instance is destroyed below.
    let instance = unsafe {
        entry.create_instance(
            &vk::InstanceCreateInfo::default().application_info(&app),
            None,
        )
    }
    .unwrap_or_else(|e| panic!("vkCreateInstance: {e}\nserver log:\n{}", server.log_text()));
    // SAFETY: a live instance.
    let physical = unsafe { instance.enumerate_physical_devices() }.unwrap()[0];
    // SAFETY: a live instance of this ICD.
    let sent = || unsafe { ring_commands_sent(instance.handle()) }.expect("a host");

    // Each query runs twice: the first may ask the host (twice for a list: its length, then its
    // contents), the second must not.
    let twice = |what: &str, query: &mut dyn FnMut() -> String| {
        let before = sent();
        let first = query();
        let between = sent();
        let second = query();
        assert!(
            between - before <= 2,
            "{what}: the first query sent {}",
            between - before
        );
        assert_eq!(sent(), between, "{what}: the second query went to the host");
        assert_eq!(first, second, "{what}: the answers differ");
    };

    twice("properties2", &mut || {
        let mut v11 = vk::PhysicalDeviceVulkan11Properties::default();
        let mut v12 = vk::PhysicalDeviceVulkan12Properties::default();
        let mut driver = vk::PhysicalDeviceDriverProperties::default();
        let mut properties = vk::PhysicalDeviceProperties2::default()
            .push_next(&mut v11)
            .push_next(&mut v12)
            .push_next(&mut driver);
        // SAFETY: a physical device of the instance and a valid chain.
        unsafe { instance.get_physical_device_properties2(physical, &mut properties) };
        let base = format!("{:?}", properties.properties);
        assert_eq!(driver.driver_id, vk::DriverId::MESA_VENUS, "patched");
        assert!(v11.max_multiview_view_count > 0, "filled: {v11:?}");
        assert!(
            v12.max_timeline_semaphore_value_difference > 0,
            "filled: {v12:?}"
        );
        format!(
            "{base} {:?} {:?} {:?}",
            v11.subgroup_size, v12.max_timeline_semaphore_value_difference, driver.driver_name
        )
    });
    twice("properties", &mut || {
        // SAFETY: a physical device of the instance.
        format!("{:?}", unsafe {
            instance.get_physical_device_properties(physical)
        })
    });
    twice("features2", &mut || {
        let mut v11 = vk::PhysicalDeviceVulkan11Features::default();
        let mut v12 = vk::PhysicalDeviceVulkan12Features::default();
        let mut features = vk::PhysicalDeviceFeatures2::default()
            .push_next(&mut v11)
            .push_next(&mut v12);
        // SAFETY: a physical device of the instance and a valid chain.
        unsafe { instance.get_physical_device_features2(physical, &mut features) };
        let base = format!("{:?}", features.features);
        assert_eq!(v12.timeline_semaphore, vk::TRUE, "filled: {v12:?}");
        format!("{base} {} {}", v11.multiview, v12.timeline_semaphore)
    });
    twice("queue families", &mut || {
        // SAFETY: a physical device of the instance.
        let families = unsafe { instance.get_physical_device_queue_family_properties(physical) };
        assert!(!families.is_empty());
        format!("{families:?}")
    });
    twice("queue families2", &mut || {
        // SAFETY: a physical device of the instance.
        let count = unsafe { instance.get_physical_device_queue_family_properties2_len(physical) };
        let mut families = vec![vk::QueueFamilyProperties2::default(); count];
        // SAFETY: as above, with room for `count` families.
        unsafe { instance.get_physical_device_queue_family_properties2(physical, &mut families) };
        format!(
            "{:?}",
            families
                .iter()
                .map(|f| f.queue_family_properties)
                .collect::<Vec<_>>()
        )
    });
    twice("memory properties", &mut || {
        // SAFETY: a physical device of the instance.
        let memory = unsafe { instance.get_physical_device_memory_properties(physical) };
        assert!(memory.memory_type_count > 0);
        format!("{memory:?}")
    });
    twice("format properties", &mut || {
        // SAFETY: a physical device of the instance.
        let format = unsafe {
            instance.get_physical_device_format_properties(physical, vk::Format::R8G8B8A8_UNORM)
        };
        assert!(!format.optimal_tiling_features.is_empty());
        format!("{format:?}")
    });
    twice("format properties2 of another format", &mut || {
        let mut properties = vk::FormatProperties2::default();
        // SAFETY: a physical device of the instance and a valid struct.
        unsafe {
            instance.get_physical_device_format_properties2(
                physical,
                vk::Format::D32_SFLOAT,
                &mut properties,
            )
        };
        format!("{:?}", properties.format_properties)
    });

    // SAFETY: nothing uses the instance any more.
    unsafe { instance.destroy_instance(None) };
    assert!(
        !server.log_text().contains("CS error"),
        "the host rejected a command:\n{}",
        server.log_text()
    );
}
