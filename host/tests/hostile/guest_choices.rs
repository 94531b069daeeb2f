//! What a guest may not choose on the host: layers (they run with the host's privileges),
//! extensions the host does not offer, and a ring thread more urgent than the server itself.

use std::time::{Duration, Instant};

use crate::harness::ring::{ring_blob, Ring};
use crate::harness::scenario::{Scenario, HOSTILE};
use crate::harness::venus::{
    VK_ERROR_EXTENSION_NOT_PRESENT, VK_ERROR_LAYER_NOT_PRESENT, VK_SUCCESS,
};

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn layers_and_unoffered_extensions_are_refused() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();

    // The host has the validation layer; the guest may not load it (or anything) there.
    let (_, result) = venus.create_instance(&[c"VK_LAYER_KHRONOS_validation"], &[]);
    assert_eq!(
        result, VK_ERROR_LAYER_NOT_PRESENT,
        "a host layer was loaded"
    );
    // The host's loader has VK_KHR_surface, which the protocol does not carry.
    let (_, result) = venus.create_instance(&[], &[c"VK_KHR_surface"]);
    assert_eq!(
        result, VK_ERROR_EXTENSION_NOT_PRESENT,
        "an unoffered instance extension"
    );

    let (instance, result) = venus.create_instance(&[], &[]);
    assert_eq!(result, VK_SUCCESS);
    let physical = venus.physical_device(instance);
    // Lavapipe has VK_KHR_swapchain; the host does not offer it to guests.
    let (_, result) = venus.try_create_device(physical, &[c"VK_KHR_swapchain"]);
    assert_eq!(
        result, VK_ERROR_EXTENSION_NOT_PRESENT,
        "an unoffered device extension"
    );
    let (_, result) = venus.try_create_device(physical, &[]);
    assert_eq!(result, VK_SUCCESS, "the context still works");

    drop(venus);
    let server = scenario.assert_unharmed();
    let log = server.log_text();
    assert!(
        log.contains("\"VK_KHR_surface\", which is not offered"),
        "{log}"
    );
    assert!(
        log.contains("\"VK_KHR_swapchain\", which this host does not offer"),
        "{log}"
    );
}

/// The nice value of the thread called `name` in process `pid`, once it exists.
fn thread_nice(pid: u32, name: &str) -> Option<i32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.filter_map(Result::ok).find_map(|task| {
        let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
        if comm.trim() != name {
            return None;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // Fields after the parenthesised command name: state is field 3, nice field 19.
        let after = &stat[stat.rfind(')')? + 2..];
        after.split(' ').nth(16)?.parse().ok()
    })
}

fn own_nice() -> i32 {
    rustix::process::getpriority_process(None).expect("getpriority")
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn ring_priority_is_clamped_to_the_servers() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let blob = ring_blob(&mut venus, 1);
    let _ring = Ring::create(&mut venus, &blob, 0, Some(-20)).expect("the ring");

    let server = &scenario.server;
    let client = server.client_id(HOSTILE).expect("the hostile client");
    let pid = server.client_pid(client).expect("its process");
    let deadline = Instant::now() + Duration::from_secs(10);
    let nice = loop {
        if let Some(nice) = thread_nice(pid, &format!("venus-ring-{client}")) {
            if server.log_text().contains("clamped") {
                break nice;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no ring thread:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // The server (started from this test) runs at this process's nice value.
    assert_eq!(nice, own_nice(), "the ring thread runs at nice {nice}");
    assert!(
        server.log_text().contains("priority -20 clamped to"),
        "{}",
        server.log_text()
    );
    drop(venus);
    scenario.assert_unharmed();
}
