//! Our ICD (`libvulkan_venus_rs.so`) against virglrenderer over every transport: the acceptance of
//! issue 5 that does not need the vulkaninfo comparison. Run by `cargo xtask test`.

use std::time::{Duration, Instant};

use venus_rs_tests::{run_in, PairRun};

/// What only our ICD reports: its driver name in VkPhysicalDeviceDriverProperties.
const OUR_DRIVER: &str = "driverName";
const OUR_DRIVER_NAME: &str = "venus-rs";

fn assert_vulkaninfo_through_our_icd(run: &PairRun) {
    run.assert_success_with("Virtio-GPU Venus (llvmpipe");
    assert!(
        run.stdout
            .lines()
            .any(|line| line.contains(OUR_DRIVER) && line.contains(OUR_DRIVER_NAME)),
        "vulkaninfo did not go through our ICD:\n{}",
        run.stdout
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn vulkaninfo_runs_through_our_icd_over_vtest() {
    let run = run_in("ours,virgl,vtest", &[], &["vulkaninfo"]);
    assert_vulkaninfo_through_our_icd(&run);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn vulkaninfo_runs_through_our_icd_in_qemu_x86_64() {
    let run = run_in("ours,virgl,qemu-x86_64", &[], &["vulkaninfo"]);
    assert_vulkaninfo_through_our_icd(&run);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn vulkaninfo_runs_through_our_icd_in_qemu_aarch64() {
    let run = run_in(
        "ours,virgl,qemu-aarch64",
        &[],
        &["sh", "-c", "uname -m && vulkaninfo"],
    );
    assert_vulkaninfo_through_our_icd(&run);
    assert!(
        run.stdout.lines().any(|line| line.trim() == "aarch64"),
        "{run:?}"
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn the_validation_layer_finds_nothing_to_report() {
    let run = run_in(
        "ours,virgl,vtest",
        &[],
        &[
            "env",
            "VK_INSTANCE_LAYERS=VK_LAYER_KHRONOS_validation",
            "vulkaninfo",
        ],
    );
    assert_vulkaninfo_through_our_icd(&run);
    for output in [&run.stdout, &run.stderr] {
        assert!(!output.contains("Validation Error"), "{run:?}");
        assert!(!output.contains("VUID-"), "{run:?}");
    }
}

/// Without VTEST_SOCKET_NAME, and with no /dev/dri on the host, there is no host at all.
const WITHOUT_A_HOST: &str =
    "unset VTEST_SOCKET_NAME VENUS_RS_TRANSPORT; VENUS_RS_LOG=info vulkaninfo --summary; echo \"vulkaninfo exited $?\"";

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn without_a_host_there_is_no_device_and_one_line_says_why() {
    let started = Instant::now();
    let run = run_in(
        "ours,virgl,vtest",
        &["--timeout", "60"],
        &["sh", "-c", WITHOUT_A_HOST],
    );
    assert_eq!(run.exit_code, Some(0), "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(60), "{run:?}");
    let reasons: Vec<&str> = run
        .stderr
        .lines()
        .chain(run.stdout.lines())
        .filter(|line| line.starts_with("venus-rs: info: no Venus host"))
        .collect();
    assert_eq!(reasons.len(), 1, "{run:?}");
    assert!(run.stdout.contains("vulkaninfo exited"), "{run:?}");
    assert!(!run.stdout.contains("GPU0"), "{run:?}");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn trace_logging_names_every_command_with_its_size() {
    let run = run_in(
        "ours,virgl,vtest",
        &[],
        &["env", "VENUS_RS_LOG=trace", "vulkaninfo", "--summary"],
    );
    run.assert_success_with("venus-rs");
    let all = format!("{}{}", run.stdout, run.stderr);
    for needle in [
        "bring-up step round-trip: ok",
        "ring: vkCreateInstance: ",
        "ring: vkEnumeratePhysicalDevices: ",
        "ring: vkGetPhysicalDeviceProperties2: ",
    ] {
        assert!(all.contains(needle), "no {needle:?} in:\n{all}");
    }
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_icd_reports_what_mesa_reports_over_vtest() {
    let run =
        venus_rs_tests::compare_vulkaninfo(&["--a", "mesa,virgl,vtest", "--b", "ours,virgl,vtest"]);
    run.assert_success_with("0 not allowed");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_icd_reports_what_mesa_reports_in_qemu_x86_64() {
    let run = venus_rs_tests::compare_vulkaninfo(&[
        "--a",
        "mesa,virgl,qemu-x86_64",
        "--b",
        "ours,virgl,qemu-x86_64",
    ]);
    run.assert_success_with("0 not allowed");
}
