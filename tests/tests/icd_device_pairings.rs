//! Our guest half beyond the test programs' happy paths: several devices of one instance, a host that
//! cannot export memory, a host that dies while the application waits. Run by `cargo xtask test`.

use std::time::{Duration, Instant};

use venus_rs_tests::run_in;

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn two_devices_of_one_instance_each_run_the_compute_workload() {
    // Each device's queues are timelines of the one context the instance has: they must not collide.
    let run = run_in(
        "ours,ours,vtest",
        &[],
        &["compute-readback", "--devices", "2", "--iterations", "20"],
    );
    run.assert_success_with("(2 devices of one instance)");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn memory_virglrenderer_cannot_export_fails_fast_naming_the_export() {
    // virglrenderer's vtest server cannot hand out lavapipe's host-visible memory (it only passes dma-bufs
    // and shm): mapping must fail within seconds with the cause, not hang as Mesa's guest does.
    let started = Instant::now();
    let run = run_in(
        "ours,virgl,vtest",
        &["--timeout", "60"],
        &["compute-readback", "--iterations", "1"],
    );
    let took = started.elapsed();
    assert_ne!(run.exit_code, Some(0), "mapping cannot work here:\n{run:?}");
    assert!(
        run.stderr.contains("could not export device memory"),
        "the failure does not name the memory export:\n{run:?}"
    );
    assert!(
        took < Duration::from_secs(30),
        "the failure took {took:?}:\n{run:?}"
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn a_host_killed_during_a_fence_wait_is_a_lost_device_within_ten_seconds() {
    // The server process is matched by its exact name (the command line of this script names it too).
    let script = "compute-readback --iterations 100000000 & program=$!; sleep 3; \
                  pkill -KILL -x venus-rs-vtest-; killed=$(date +%s%N); wait $program; status=$?; \
                  ended=$(date +%s%N); echo \"ended $(( (ended - killed) / 1000000 )) ms after the kill, status $status\"";
    let run = run_in(
        "ours,ours,vtest",
        &["--timeout", "120"],
        &["sh", "-c", script],
    );
    assert!(
        run.stderr.contains("FAILED: vkWaitForFences (iteration"),
        "the program did not fail in its fence wait:\n{run:?}"
    );
    assert!(
        run.stderr.contains("ERROR_DEVICE_LOST"),
        "the wait did not end with VK_ERROR_DEVICE_LOST:\n{run:?}"
    );
    assert!(
        run.stderr
            .contains("vkWaitForFences: the device was lost while waiting"),
        "no line names the wait:\n{run:?}"
    );
    let line = run
        .stdout
        .lines()
        .find(|line| line.starts_with("ended "))
        .unwrap_or_else(|| panic!("no timing line:\n{run:?}"));
    let milliseconds: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable timing line {line:?}"));
    assert!(
        milliseconds < 10_000,
        "the program ended {milliseconds} ms after the host died:\n{run:?}"
    );
    assert!(line.ends_with("status 1"), "{line}");
}
