//! A host that stops consuming the ring or dies while our ICD waits on it (issue 12): the waiting Vulkan
//! call returns VK_ERROR_DEVICE_LOST within 10 s with a line naming the step, and the program exits on
//! its own. Each test runs two programs against one host start: the host is stopped (SIGSTOP) under the
//! first and killed (SIGKILL) under the second. The processes are found in this run's own process tree
//! and signalled by id, so that parallel runs on the machine are never touched. Run by `cargo xtask test`.

use std::time::Duration;

use venus_rs_tests::live_pair::{LivePair, Process};
use venus_rs_tests::PairRun;

/// Two endless compute programs, one after the other; each reports how it ended.
const TWO_PROGRAMS: &str = "for run in first second; do \
     compute-readback --iterations 100000000; echo \"$run program exited with status $?\"; \
     done";

/// The kernel's name of the program's process (and of its Venus context): 15 characters.
const PROGRAM_NAME: &str = "compute-readbac";

/// How long the program gets to reach its loop of submissions and fence waits before the host stops.
fn settle(transport: &str) -> Duration {
    match transport {
        "vtest" => Duration::from_secs(3),
        _ => Duration::from_secs(8),
    }
}

/// What the test saw after signalling the host.
struct Loss {
    /// From the signal to the program's line reporting VK_ERROR_DEVICE_LOST.
    after: Duration,
    line: String,
}

/// Signals the host process `target` with `signal` and waits for the program to report the lost device.
fn signal_and_time_the_loss(
    pair: &mut LivePair,
    target: &Process,
    signal: fn(&Process),
    already_seen: usize,
) -> Loss {
    signal(target);
    let signalled = std::time::Instant::now();
    let mut count = 0;
    let line = pair
        .wait_for_line(Duration::from_secs(60), |text| {
            if text.contains("FAILED") && text.contains("ERROR_DEVICE_LOST") {
                count += 1;
            }
            count > already_seen
        })
        .unwrap_or_else(|| panic!("no program reported a lost device after signalling {target:?}"));
    Loss {
        after: line.at.saturating_duration_since(signalled),
        line: line.text,
    }
}

/// The checks both transports share, on the whole output once the run ended.
fn assert_lost_with_named_step(run: &PairRun, losses: &[Loss; 2]) {
    for (loss, how) in losses.iter().zip(["stopped", "killed"]) {
        eprintln!(
            "host {how}: DEVICE_LOST after {:.2} s: {}",
            loss.after.as_secs_f64(),
            loss.line
        );
        assert!(
            loss.after <= Duration::from_secs(10),
            "the {how} host was noticed after {:?}: {}",
            loss.after,
            loss.line
        );
        assert!(
            loss.line.contains("compute-readback: FAILED: vk"),
            "the failure does not name the Vulkan call: {}",
            loss.line
        );
    }
    let output = format!("{}\n{}", run.stdout, run.stderr);
    // The ICD names the wait that lost the device, with the ring's state.
    let named: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("venus-rs: error: vk") && line.contains("[ring head"))
        .collect();
    assert!(
        named
            .iter()
            .any(|line| line.contains("no sign of life") && line.contains("VENUS_RS_STALL_TIMEOUT")),
        "no line names the stalled wait:\n{output}"
    );
    // Each program ended on its own, with its failure status, not by a signal or the bench's timeout.
    for run_name in ["first", "second"] {
        assert!(
            output.contains(&format!("{run_name} program exited with status 1")),
            "the {run_name} program did not exit cleanly:\n{output}"
        );
    }
}

/// What to watch and what to signal in one round: the process whose appearance shows that this
/// round's program runs, and the host process serving it.
struct Round {
    marker: u32,
    host: Process,
}

fn stop_then_kill(transport: &str, next_round: impl Fn(&mut LivePair, Option<u32>) -> Round) {
    let mut pair = LivePair::start(
        &[],
        &[
            "--guest",
            "ours",
            "--host",
            "ours",
            "--transport",
            transport,
            "--timeout",
            "400",
            "--",
            "sh",
            "-c",
            TWO_PROGRAMS,
        ],
    );
    let mut losses = Vec::new();
    let mut previous = None;
    for (round, signal) in [Process::stop as fn(&Process), Process::kill]
        .into_iter()
        .enumerate()
    {
        let Round { marker, host } = next_round(&mut pair, previous);
        previous = Some(marker);
        std::thread::sleep(settle(transport));
        losses.push(signal_and_time_the_loss(&mut pair, &host, signal, round));
        if round == 0 {
            // The stopped host goes on, so that it can be cleaned up (and, over vtest, serve the
            // second program).
            host.resume();
        }
    }
    let run = pair.finish();
    let losses: [Loss; 2] = losses.try_into().unwrap_or_else(|_| unreachable!());
    assert_lost_with_named_step(&run, &losses);
}

/// Waits for a process of this run, other than `previous`, that `wanted` accepts.
fn new_process(
    pair: &mut LivePair,
    previous: Option<u32>,
    wanted: impl Fn(&Process) -> bool,
) -> Process {
    pair.wait_for_process(Duration::from_secs(300), |process| {
        wanted(process) && Some(process.pid) != previous
    })
    .unwrap_or_else(|| panic!("the run started no new process of the kind the test waits for"))
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn a_stopped_or_killed_vtest_server_is_a_lost_device_within_ten_seconds() {
    // One server for both programs; it serves each client in a process of its own (started with
    // --client-fd), which is stopped (then resumed) under the first program and killed under the second.
    stop_then_kill("vtest", |pair, previous| {
        let client = new_process(pair, previous, |process| {
            // Started through /proc/self/exe, so the kernel names them "exe": known by their arguments.
            process
                .args
                .iter()
                .any(|arg| arg.ends_with("venus-rs-vtest-server"))
                && process.args.iter().any(|arg| arg == "--client-fd")
        });
        Round {
            marker: client.pid,
            host: client,
        }
    });
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn a_stopped_or_killed_render_server_worker_is_a_lost_device_within_ten_seconds() {
    // QEMU's render server runs one worker process per guest context, named after the guest process.
    stop_then_kill("qemu-x86_64", |pair, previous| {
        let worker = new_process(pair, previous, |process| {
            process.args.iter().any(|arg| arg == "--context-worker")
                && process.args.iter().any(|arg| arg == PROGRAM_NAME)
        });
        Round {
            marker: worker.pid,
            host: worker,
        }
    });
}
