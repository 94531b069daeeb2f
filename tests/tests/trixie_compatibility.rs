//! The compatibility subset on trixie's own stack (QEMU 10.0, Mesa 25.0, virglrenderer 1.1), run beside the full
//! suite on the newest stack: users run anything between the two, so our ICD must keep working against
//! virglrenderer 1.1 and our host must keep serving Mesa 25.0's Venus guest. The programs of one pairing share a
//! boot, to keep CI's time; QEMU 10.0's intermittent TCG abort costs a boot, not the test (see
//! `run_in_surviving_qemu_abort`). Run by `cargo xtask test`.

use venus_rs_tests::{run_in, run_in_surviving_qemu_abort, PairRun};

const TRIXIE: &[&str] = &["--reference", "trixie"];
/// The same choice for the runner that takes environment only.
const TRIXIE_ENV: &[(&str, &str)] = &[("VENUS_RS_REFERENCE", "trixie")];
const BOOTS: u32 = 3;
const VENUS_DEVICE: &str = "Virtio-GPU Venus (llvmpipe";
const PROBE_PASSED: &str = "venus-probe: all 9 steps passed";
const COMPUTE_PASSED: &str = "compute-readback: OK";
/// The protocol level virglrenderer 1.1 announces in its capset.
const VIRGLRENDERER_1_1_CAPSET: &str = "vk_xml_version=1.3.269";
const MESA_25_0: &str = "Mesa 25.0.";

/// Every program runs even when one fails, so that one run reports on all of them.
fn each_of(programs: &[&str]) -> String {
    let runs: Vec<String> = programs
        .iter()
        .map(|program| format!("{program} || status=1; "))
        .collect();
    format!("status=0; {}exit $status", runs.concat())
}

fn on_trixie(pairing: &str, programs: &[&str]) -> PairRun {
    let script = each_of(programs);
    if pairing.ends_with(",vtest") {
        run_in(pairing, TRIXIE, &["sh", "-c", &script])
    } else {
        run_in_surviving_qemu_abort(pairing, TRIXIE_ENV, &["sh", "-c", &script], BOOTS)
    }
}

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
    let run = on_trixie("ours,virgl,vtest", &["vulkaninfo --summary", "venus-probe"]);
    assert_through_our_icd(&run);
    run.assert_success_with(PROBE_PASSED);
    run.assert_success_with(VIRGLRENDERER_1_1_CAPSET);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_icd_probe_and_compute_work_against_virglrenderer_1_1_in_qemu_aarch64() {
    let run = on_trixie(
        "ours,virgl,qemu-aarch64",
        &[
            "uname -m",
            "vulkaninfo --summary",
            "venus-probe",
            "compute-readback --iterations 20",
        ],
    );
    assert_through_our_icd(&run);
    run.assert_success_with(PROBE_PASSED);
    run.assert_success_with(VIRGLRENDERER_1_1_CAPSET);
    run.assert_success_with(COMPUTE_PASSED);
    assert!(
        run.stdout.lines().any(|line| line.trim() == "aarch64"),
        "{run:?}"
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_25_0_runs_vulkaninfo_and_compute_on_our_vtest_server() {
    let run = on_trixie(
        "mesa,ours,vtest",
        &["vulkaninfo --summary", "compute-readback --iterations 20"],
    );
    assert_mesa_25_0_guest(&run);
    run.assert_success_with(COMPUTE_PASSED);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_25_0_runs_vulkaninfo_and_compute_on_our_render_server_in_qemu_aarch64() {
    let run = on_trixie(
        "mesa,ours,qemu-aarch64",
        &["vulkaninfo --summary", "compute-readback --iterations 20"],
    );
    assert_mesa_25_0_guest(&run);
    run.assert_success_with(COMPUTE_PASSED);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_25_0_runs_vulkaninfo_and_compute_on_our_render_server_in_qemu_x86_64() {
    let run = on_trixie(
        "mesa,ours,qemu-x86_64",
        &["vulkaninfo --summary", "compute-readback --iterations 20"],
    );
    assert_mesa_25_0_guest(&run);
    run.assert_success_with(COMPUTE_PASSED);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_run_vulkaninfo_and_the_probe_on_trixies_qemu_aarch64() {
    let run = on_trixie(
        "ours,ours,qemu-aarch64",
        &["vulkaninfo --summary", "venus-probe"],
    );
    assert_through_our_icd(&run);
    run.assert_success_with(PROBE_PASSED);
}
