//! Both of our halves together — our ICD in the guest, our host serving it — over every transport.
//! Run by `cargo xtask test`.

use venus_rs_tests::run_in;

fn assert_our_stack_runs_vulkaninfo(transport: &str) {
    let run = run_in(
        &format!("ours,ours,{transport}"),
        &[],
        &["vulkaninfo", "--summary"],
    );
    run.assert_success_with("Virtio-GPU Venus");
    assert!(
        run.stdout
            .lines()
            .any(|line| line.contains("driverName") && line.contains("venus-rs")),
        "vulkaninfo did not go through our ICD:\n{}",
        run.stdout
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_run_vulkaninfo_over_vtest() {
    assert_our_stack_runs_vulkaninfo("vtest");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_run_vulkaninfo_in_qemu_x86_64() {
    assert_our_stack_runs_vulkaninfo("qemu-x86_64");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_run_vulkaninfo_in_qemu_aarch64() {
    assert_our_stack_runs_vulkaninfo("qemu-aarch64");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn venus_probe_passes_against_our_host_in_qemu_x86_64() {
    run_in("ours,ours,qemu-x86_64", &[], &["venus-probe"])
        .assert_success_with("venus-probe: all 9 steps passed over virtgpu");
}
