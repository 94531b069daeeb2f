//! Our host half (vtest server, render server under QEMU) serving Mesa's unmodified Venus guest. Each run also
//! proves from our host's log that our host served it. Run by `cargo xtask test`.

use venus_rs_tests::{pair_with_env, run_in, PairRun};

const VENUS_DEVICE: &str = "Virtio-GPU Venus";

/// Runs `program` from Mesa's guest on our host, and checks that our host's log names its context.
fn mesa_on_our_host(transport: &str, program: &[&str]) -> PairRun {
    let run = run_in(&format!("mesa,ours,{transport}"), &[], program);
    if run.exit_code == Some(0) {
        run.assert_served_by_our_host(program[0]);
    }
    run
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_runs_vulkaninfo_on_our_vtest_server() {
    mesa_on_our_host("vtest", &["vulkaninfo"]).assert_success_with(VENUS_DEVICE);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_runs_vulkaninfo_on_our_render_server_in_qemu_x86_64() {
    mesa_on_our_host("qemu-x86_64", &["vulkaninfo"]).assert_success_with(VENUS_DEVICE);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_runs_vulkaninfo_on_our_render_server_in_qemu_aarch64() {
    mesa_on_our_host("qemu-aarch64", &["vulkaninfo"]).assert_success_with(VENUS_DEVICE);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_passes_the_compute_readback_check_on_our_vtest_server() {
    // The reference host cannot: virglrenderer's vtest server hangs Mesa in vkMapMemory on these machines.
    mesa_on_our_host("vtest", &["compute-readback"]).assert_success_with("compute-readback: OK");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_passes_the_compute_readback_check_on_our_render_server_in_qemu_x86_64() {
    mesa_on_our_host("qemu-x86_64", &["compute-readback", "--iterations", "50"])
        .assert_success_with("compute-readback: OK");
}

/// Runs `program` from Mesa's guest on our vtest server with the host's validation layer, and checks that the
/// layer was on and reported nothing.
fn assert_host_validation_clean(program: &[&str], expected: &str) {
    let mut args = vec![
        "--guest",
        "mesa",
        "--host",
        "ours",
        "--transport",
        "vtest",
        "--",
    ];
    args.extend_from_slice(program);
    let run = pair_with_env(&[("VENUS_RS_VALIDATE", "1")], &args);
    run.assert_success_with(expected);
    let server_log =
        std::fs::read_to_string(run.run_dir.as_ref().expect("run folder").join("server.log"))
            .expect("server log");
    assert!(
        server_log.contains("created with \"VK_LAYER_KHRONOS_validation\""),
        "the validation layer was not enabled:\n{server_log}"
    );
    assert!(
        !server_log.contains("Validation Error"),
        "validation errors on the host:\n{server_log}"
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn host_validation_finds_nothing_in_the_compute_check() {
    assert_host_validation_clean(
        &["compute-readback", "--iterations", "5"],
        "compute-readback: OK",
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn host_validation_finds_nothing_in_vulkaninfo() {
    assert_host_validation_clean(&["vulkaninfo"], VENUS_DEVICE);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_sees_through_our_host_what_it_sees_through_virglrenderer() {
    venus_rs_tests::compare_vulkaninfo(&["--a", "mesa,virgl,vtest", "--b", "mesa,ours,vtest"])
        .assert_success_with("0 not allowed");
}
