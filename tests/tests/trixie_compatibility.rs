//! The compatibility subset on trixie's own stack (QEMU 10.0, Mesa 25.0, virglrenderer 1.1), run beside the full
//! suite on the newest stack: users run anything between the two, so our ICD must keep working against
//! virglrenderer 1.1 and our host must keep serving Mesa 25.0's Venus guest. Several programs share one boot where
//! they can, to keep CI's time. (compute-readback runs only with Mesa's guest: our ICD has no vkCreateBuffer yet.)
//! Run by `cargo xtask test`.

use venus_rs_tests::{run_in, PairRun};

const TRIXIE: &[&str] = &["--reference", "trixie"];
const VENUS_DEVICE: &str = "Virtio-GPU Venus (llvmpipe";
const PROBE_PASSED: &str = "venus-probe: all 8 steps passed";
/// The protocol level virglrenderer 1.1 announces in its capset.
const VIRGLRENDERER_1_1_CAPSET: &str = "vk_xml_version=1.3.269";
const MESA_25_0: &str = "Mesa 25.0.";

fn assert_through_our_icd(run: &PairRun) {
    run.assert_success_with(VENUS_DEVICE);
    assert!(
        run.stdout
            .lines()
            .any(|line| line.contains("driverName") && line.contains("venus-rs")),
        "vulkaninfo did not go through our ICD:\n{}",
        run.stdout
    );
}

fn assert_mesa_25_0_guest(run: &PairRun) {
    run.assert_success_with(VENUS_DEVICE);
    assert!(
        run.stdout
            .lines()
            .any(|line| line.contains("driverInfo") && line.contains(MESA_25_0)),
        "the guest driver is not Mesa 25.0:\n{}",
        run.stdout
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_icd_and_probe_work_against_virglrenderer_1_1_over_vtest() {
    let run = run_in(
        "ours,virgl,vtest",
        TRIXIE,
        &["sh", "-c", "vulkaninfo --summary && venus-probe"],
    );
    assert_through_our_icd(&run);
    run.assert_success_with(PROBE_PASSED);
    run.assert_success_with(VIRGLRENDERER_1_1_CAPSET);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_icd_and_probe_work_against_virglrenderer_1_1_in_qemu_aarch64() {
    let run = run_in(
        "ours,virgl,qemu-aarch64",
        TRIXIE,
        &[
            "sh",
            "-c",
            "uname -m && vulkaninfo --summary && venus-probe",
        ],
    );
    assert_through_our_icd(&run);
    run.assert_success_with(PROBE_PASSED);
    run.assert_success_with(VIRGLRENDERER_1_1_CAPSET);
    assert!(
        run.stdout.lines().any(|line| line.trim() == "aarch64"),
        "{run:?}"
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_25_0_runs_vulkaninfo_on_our_vtest_server() {
    assert_mesa_25_0_guest(&run_in(
        "mesa,ours,vtest",
        TRIXIE,
        &["vulkaninfo", "--summary"],
    ));
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_25_0_passes_the_compute_readback_check_on_our_vtest_server() {
    run_in(
        "mesa,ours,vtest",
        TRIXIE,
        &["compute-readback", "--iterations", "20"],
    )
    .assert_success_with("compute-readback: OK");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_25_0_runs_vulkaninfo_on_our_render_server_in_qemu_aarch64() {
    assert_mesa_25_0_guest(&run_in(
        "mesa,ours,qemu-aarch64",
        TRIXIE,
        &["vulkaninfo", "--summary"],
    ));
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_25_0_passes_the_compute_readback_check_on_our_render_server_in_qemu_x86_64() {
    run_in(
        "mesa,ours,qemu-x86_64",
        TRIXIE,
        &["compute-readback", "--iterations", "20"],
    )
    .assert_success_with("compute-readback: OK");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_run_vulkaninfo_and_the_probe_on_trixies_qemu_aarch64() {
    let run = run_in(
        "ours,ours,qemu-aarch64",
        TRIXIE,
        &["sh", "-c", "vulkaninfo --summary && venus-probe"],
    );
    assert_through_our_icd(&run);
    run.assert_success_with(PROBE_PASSED);
}
