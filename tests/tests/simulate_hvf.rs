//! The macOS failure reproduced on Linux (issue 12): with `VENUS_RS_SIMULATE_HVF=1` our host hands out
//! every blob whose size is not a multiple of 16 KiB as memory it does not share, as QEMU under
//! Hypervisor.framework maps it. Mesa's Venus, whose ring blob is 135168 bytes, then fails in
//! vkCreateInstance as the user saw on the Mac; our halves, whose blobs are 16 KiB multiples, work; and
//! our guest made to use 4 KiB blobs says within seconds why it cannot work. Run by `cargo xtask test`.

use std::time::{Duration, Instant};

use venus_rs_tests::{pair_with_env, run_in_surviving_qemu_abort, run_in_with_env, PairRun};

const SIMULATE_HVF: (&str, &str) = ("VENUS_RS_SIMULATE_HVF", "1");
/// Our host's line for a ring blob HVF would not map: Mesa's (131268 bytes rounded to 4 KiB), and the probe's with
/// 4 KiB alignment (131328 bytes rounded to 4 KiB).
const RING_135168_UNSHARED: &str = "unshared blob of 135168 bytes";

fn host_lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|line| line.contains(needle)).collect()
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_run_vulkaninfo_in_qemu_aarch64_on_a_simulated_hvf_host() {
    let run = run_in_surviving_qemu_abort(
        "ours,ours,qemu-aarch64",
        &[SIMULATE_HVF],
        &["sh", "-c", "vulkaninfo && venus-probe"],
        2,
    );
    run.assert_success_with("venus-probe: all 9 steps passed over virtgpu");
    run.assert_success_with("Virtio-GPU Venus");
    run.assert_served_by_our_host("vulkaninfo");
    let log = run.host_log();
    assert!(
        log.contains("simulating HVF"),
        "the host did not simulate HVF:\n{log}"
    );
    let unshared = host_lines_with(&log, "unshared blob");
    assert!(
        unshared.is_empty(),
        "our guest made blobs HVF would not map:\n{}",
        unshared.join("\n")
    );
    assert!(
        run.stdout.contains("[     ok] ring-shared"),
        "the probe did not check the ring memory:\n{}",
        run.stdout
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_fails_in_vk_create_instance_on_a_simulated_hvf_host_as_on_the_mac() {
    // The bench's timeout ends the run if Mesa hangs instead of aborting.
    let run = pair_with_env(
        &[SIMULATE_HVF],
        &[
            "--guest",
            "mesa",
            "--host",
            "ours",
            "--transport",
            "qemu-aarch64",
            "--timeout",
            "240",
            "--",
            "vulkaninfo",
        ],
    );
    assert_ne!(run.exit_code, Some(0), "vulkaninfo completed:\n{run:?}");
    let log = run.host_log();
    assert!(
        log.contains(RING_135168_UNSHARED),
        "the host log does not show Mesa's unshared ring blob:\n{log}"
    );
    // Mesa never got past vkCreateInstance: no physical device was listed.
    for listed in ["deviceName", "GPU id", "Device Properties"] {
        assert!(
            !run.stdout.contains(listed),
            "vulkaninfo listed a device ({listed}):\n{run:?}"
        );
    }
    report_how_mesa_ended(&run);
}

/// Mesa either hangs (the bench's timeout) or gives up on its own ring-alive check; the test accepts
/// both, as the issue does, and keeps the evidence in its output.
fn report_how_mesa_ended(run: &PairRun) {
    let mesa_lines: Vec<&str> = run
        .stdout
        .lines()
        .chain(run.stderr.lines())
        .filter(|line| {
            line.contains("stuck in") || line.contains("abort") || line.contains("within")
        })
        .collect();
    eprintln!(
        "Mesa's end (exit {:?}):\n{}",
        run.exit_code,
        mesa_lines.join("\n")
    );
}

/// Times the program in the pairing itself, so that the figure is not the bench's start-up (which
/// builds our halves when they are not built yet).
const TIMED_ICD: &str = r#"
start=$(date +%s%N); compute-readback --iterations 1; status=$?
echo "compute-readback exited $status after $(( ($(date +%s%N) - start) / 1000000 )) ms"
"#;

const BLOB_ALIGN_4K: (&str, &str) = ("VENUS_RS_BLOB_ALIGN", "4096");

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_guest_with_4k_blobs_names_the_unshared_ring_within_seconds_over_vtest() {
    // Our ICD (first, so that the bench has built everything before the probe is timed).
    let run = run_in_with_env(
        "ours,ours,vtest",
        &[SIMULATE_HVF, BLOB_ALIGN_4K],
        &["sh", "-c", TIMED_ICD],
    );
    let (status, icd_ms) = run
        .stdout
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("compute-readback exited ")?;
            let (status, ms) = rest.split_once(" after ")?;
            Some((
                status.parse::<i32>().ok()?,
                ms.strip_suffix(" ms")?.parse::<u64>().ok()?,
            ))
        })
        .unwrap_or_else(|| panic!("no timing line:\n{run:?}"));
    assert_ne!(status, 0, "{run:?}");
    assert!(icd_ms < 10_000, "the ICD took {icd_ms} ms:\n{run:?}");
    let icd_error = run
        .stderr
        .lines()
        .find(|line| line.starts_with("venus-rs: error: Venus bring-up over vtest failed"))
        .unwrap_or_else(|| panic!("the ICD printed no bring-up error:\n{run:?}"));
    for cause in [
        "step ring-shared",
        "not shared",
        "not a multiple of 16 KiB",
        "VENUS_RS_BLOB_ALIGN=16384",
    ] {
        assert!(icd_error.contains(cause), "{cause:?}: {icd_error}");
    }

    // venus-probe, exactly as the issue's acceptance runs it, timed as a whole.
    let started = Instant::now();
    let run = run_in_with_env(
        "ours,ours,vtest",
        &[SIMULATE_HVF, BLOB_ALIGN_4K],
        &["venus-probe"],
    );
    let took = started.elapsed();
    assert!(matches!(run.exit_code, Some(code) if code != 0), "{run:?}");
    assert!(
        took < Duration::from_secs(15),
        "the pairing took {took:?}:\n{run:?}"
    );
    assert!(
        run.stdout.contains("[   FAIL] ring-shared"),
        "the probe did not fail the ring-shared step:\n{}",
        run.stdout
    );
    for cause in [
        "the ring memory is not shared",
        "135168-byte ring blob",
        "not a multiple of 16 KiB",
        "HVF",
        "VENUS_RS_BLOB_ALIGN=16384",
        "VIRTGPU_PARAM_BLOB_ALIGNMENT",
    ] {
        assert!(
            run.stdout.contains(cause),
            "the probe's message lacks {cause:?}:\n{}",
            run.stdout
        );
    }
    let log = run.host_log();
    assert!(
        log.contains(RING_135168_UNSHARED),
        "the host did not hand out the probe's ring blob unshared:\n{log}"
    );
    eprintln!("ICD failed after {icd_ms} ms; the venus-probe pairing took {took:?}");
}
