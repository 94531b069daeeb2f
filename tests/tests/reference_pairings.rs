//! The test bench itself, proven with the reference halves (Mesa's Venus guest, virglrenderer host) over every
//! transport. Each test boots or starts the real stack, so they are run by `cargo xtask test`
//! (`cargo test -p venus-rs-tests -- --ignored` after `cargo xtask setup --guests`).

use venus_rs_tests::{reference, run_in, PairRun};

const VENUS_DEVICE: &str = "Virtio-GPU Venus";

/// Each reference stack's guest images carry its own Mesa.
fn assert_guest_mesa_of_the_reference(run: &PairRun) {
    let expected = match reference().as_str() {
        "trixie" => "Mesa 25.0.",
        _ => "Mesa 26.1.",
    };
    assert!(
        run.stdout
            .lines()
            .any(|line| line.contains("driverInfo") && line.contains(expected)),
        "the guest's Venus driver is not {expected}x:\n{}",
        run.stdout
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_virgl_vtest_runs_vulkaninfo() {
    run_in("mesa,virgl,vtest", &[], &["vulkaninfo", "--summary"]).assert_success_with(VENUS_DEVICE);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn vtest_runner_returns_the_program_exit_code() {
    let run = run_in("mesa,virgl,vtest", &[], &["sh", "-c", "exit 7"]);
    assert_eq!(run.exit_code, Some(7), "{run:?}");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn vtest_runner_kills_a_hung_program_and_names_its_last_line() {
    let run = run_in(
        "mesa,virgl,vtest",
        &["--timeout", "3"],
        &["sh", "-c", "echo venus-rs-before-hang; sleep 600"],
    );
    assert_ne!(run.exit_code, Some(0), "{run:?}");
    assert!(run.stderr.contains("venus-rs-before-hang"), "{run:?}");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_virgl_qemu_x86_64_runs_vulkaninfo() {
    let run = run_in("mesa,virgl,qemu-x86_64", &[], &["vulkaninfo", "--summary"]);
    run.assert_success_with(VENUS_DEVICE);
    assert_guest_mesa_of_the_reference(&run);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_virgl_qemu_aarch64_runs_vulkaninfo_on_aarch64() {
    let run = run_in(
        "mesa,virgl,qemu-aarch64",
        &[],
        &["sh", "-c", "uname -m && vulkaninfo --summary"],
    );
    run.assert_success_with(VENUS_DEVICE);
    assert_guest_mesa_of_the_reference(&run);
    assert!(
        run.stdout.lines().any(|line| line.trim() == "aarch64"),
        "{run:?}"
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn qemu_runner_returns_the_guest_program_exit_code() {
    let run = run_in("mesa,virgl,qemu-x86_64", &[], &["sh", "-c", "exit 3"]);
    assert_eq!(run.exit_code, Some(3), "{run:?}");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn qemu_runner_kills_a_hung_guest_and_names_the_last_serial_line() {
    let run = run_in(
        "mesa,virgl,qemu-x86_64",
        &["--timeout", "90"],
        &["sh", "-c", "echo venus-rs-guest-before-hang; sleep 1000"],
    );
    assert_ne!(run.exit_code, Some(0), "{run:?}");
    assert!(run.stderr.contains("venus-rs-guest-before-hang"), "{run:?}");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_virgl_qemu_x86_64_passes_the_compute_readback_check() {
    // The reference over QEMU maps host-visible memory (virglrenderer exports an opaque fd that QEMU's
    // libvirglrenderer imports); over vtest it hangs in vkMapMemory on these machines (no udmabuf).
    run_in(
        "mesa,virgl,qemu-x86_64",
        &[],
        &["compute-readback", "--iterations", "50"],
    )
    .assert_success_with("compute-readback: OK");
}
