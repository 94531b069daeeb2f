//! Waits a guest makes endless: vkWaitForFences with UINT64_MAX on a fence nothing signals,
//! vkQueueWaitIdle and vkDeviceWaitIdle on a queue stuck behind a semaphore wait nothing will
//! ever satisfy. None may hold a host thread for long, and the stuck device must not keep
//! the client's process alive once the client is gone.

use std::time::{Duration, Instant};

use venus_rs_encoder::host::types::{
    Ext, FenceCreateInfo, PhysicalDeviceTimelineSemaphoreFeatures, SemaphoreCreateInfo,
    SemaphoreTypeCreateInfo, SubmitInfo, TimelineSemaphoreSubmitInfo,
};
use venus_rs_encoder::host::{
    Command, CreateFenceArgs, CreateSemaphoreArgs, DeviceWaitIdleArgs, QueueSubmitArgs,
    QueueWaitIdleArgs, WaitForFencesArgs,
};

use crate::harness::scenario::{Scenario, HOSTILE};
use crate::harness::venus::{Venus, BLOCKING, VK_ERROR_DEVICE_LOST, VK_SUCCESS, VK_TIMEOUT};

const TIMELINE: i32 = 1;
const ALL_COMMANDS: u32 = 0x10000;

fn timed(venus: &mut Venus, command: Command<'_>) -> (i32, Duration) {
    let started = Instant::now();
    let result = venus.call_result(command);
    (result, started.elapsed())
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn endless_waits_return_in_bounded_time() {
    let scenario = Scenario::start(&[("VENUS_RS_MAX_IDLE_WAIT_MS", "300")]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device_with(
        &[c"VK_KHR_timeline_semaphore"],
        vec![Ext::PhysicalDeviceTimelineSemaphoreFeatures(Box::new(
            PhysicalDeviceTimelineSemaphoreFeatures {
                p_next: Vec::new(),
                timeline_semaphore: 1,
            },
        ))],
    );

    let fence = venus.id();
    let created = venus.call_result(Command::CreateFence(CreateFenceArgs {
        device: ids.device,
        p_create_info: Some(Box::new(FenceCreateInfo::default())),
        p_fence: Some(fence),
        ret: 0,
    }));
    assert_eq!(created, VK_SUCCESS);
    let (result, took) = timed(
        &mut venus,
        Command::WaitForFences(WaitForFencesArgs {
            device: ids.device,
            fence_count: 1,
            p_fences: Some(vec![fence]),
            wait_all: 1,
            timeout: u64::MAX,
            ret: 0,
        }),
    );
    assert_eq!(
        result, VK_TIMEOUT,
        "a wait for ever on a fence nothing signals"
    );
    assert!(
        took < BLOCKING,
        "vkWaitForFences held the host for {took:?}"
    );

    // The queue waits for value 1 of a timeline semaphore nobody signals.
    let semaphore = venus.id();
    let created = venus.call_result(Command::CreateSemaphore(CreateSemaphoreArgs {
        device: ids.device,
        p_create_info: Some(Box::new(SemaphoreCreateInfo {
            p_next: vec![Ext::SemaphoreTypeCreateInfo(Box::new(
                SemaphoreTypeCreateInfo {
                    p_next: Vec::new(),
                    semaphore_type: TIMELINE,
                    initial_value: 0,
                },
            ))],
            flags: 0,
        })),
        p_semaphore: Some(semaphore),
        ret: 0,
    }));
    assert_eq!(created, VK_SUCCESS);
    let submitted = venus.call_result(Command::QueueSubmit(QueueSubmitArgs {
        queue: ids.queue,
        submit_count: 1,
        p_submits: Some(vec![SubmitInfo {
            p_next: vec![Ext::TimelineSemaphoreSubmitInfo(Box::new(
                TimelineSemaphoreSubmitInfo {
                    p_next: Vec::new(),
                    wait_semaphore_value_count: 1,
                    p_wait_semaphore_values: Some(vec![1]),
                    signal_semaphore_value_count: 0,
                    p_signal_semaphore_values: None,
                },
            ))],
            wait_semaphore_count: 1,
            p_wait_semaphores: Some(vec![semaphore]),
            p_wait_dst_stage_mask: Some(vec![ALL_COMMANDS]),
            ..SubmitInfo::default()
        }]),
        fence: 0,
        ret: 0,
    }));
    assert_eq!(submitted, VK_SUCCESS);

    let (result, took) = timed(
        &mut venus,
        Command::QueueWaitIdle(QueueWaitIdleArgs {
            queue: ids.queue,
            ret: 0,
        }),
    );
    assert_eq!(
        result, VK_ERROR_DEVICE_LOST,
        "vkQueueWaitIdle on a stuck queue"
    );
    assert!(
        took < BLOCKING,
        "vkQueueWaitIdle held the host for {took:?}"
    );
    let (result, took) = timed(
        &mut venus,
        Command::DeviceWaitIdle(DeviceWaitIdleArgs {
            device: ids.device,
            ret: 0,
        }),
    );
    assert_eq!(
        result, VK_ERROR_DEVICE_LOST,
        "vkDeviceWaitIdle on a stuck queue"
    );
    assert!(
        took < BLOCKING,
        "vkDeviceWaitIdle held the host for {took:?}"
    );

    // The client leaves its device stuck; its process still ends.
    drop(venus);
    let server = scenario.assert_unharmed();
    let client = server.client_id(HOSTILE).expect("the hostile client");
    let exit = server.client_exit(client, Duration::from_secs(30));
    assert!(exit.contains("exit status: 0"), "{exit}");
}
