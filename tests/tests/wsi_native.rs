//! The ICD's WSI module (`icd/src/driver/wsi`) natively on lavapipe in the reference chroot, before
//! any Venus is involved: `wsi-check` presents to real Xvfb and headless-weston windows through the
//! module and reads the pixels back with other clients (see `tests/src/bin/wsi-check/`).

use std::path::Path;
use venus_rs_tests::run_natively_in_reference_root;

const WSI_CHECK: &str = env!("CARGO_BIN_EXE_wsi-check");

#[test]
#[ignore = "end-to-end: needs the reference chroot (`cargo xtask setup`) and root; run by `cargo xtask test`"]
fn presents_exact_pixels_on_xvfb_weston_and_headless() {
    let run = run_natively_in_reference_root(Path::new(WSI_CHECK), &["--frames", "300"], &[]);
    run.assert_success_with("wsi-check: 20 passed, 0 failed");
}

#[test]
#[ignore = "end-to-end: needs the reference chroot (`cargo xtask setup`) and root; run by `cargo xtask test`"]
fn the_validation_layer_sees_nothing_wrong() {
    let run = run_natively_in_reference_root(
        Path::new(WSI_CHECK),
        &["--frames", "30"],
        &[("VK_INSTANCE_LAYERS", "VK_LAYER_KHRONOS_validation")],
    );
    run.assert_success_with("validation layer on");
    run.assert_success_with("wsi-check: 20 passed, 0 failed");
}

#[test]
#[ignore = "end-to-end: needs the reference chroot (`cargo xtask setup`) and root; run by `cargo xtask test`"]
fn the_present_path_and_frame_counter_are_logged_at_info() {
    let run = run_natively_in_reference_root(
        Path::new(WSI_CHECK),
        &["--frames", "10"],
        &[("VENUS_RS_LOG", "info")],
    );
    run.assert_success_with("wsi-check: 20 passed, 0 failed");
    for path in ["x11-shm", "x11-putimage", "wayland-shm", "headless"] {
        assert!(
            run.stderr.contains(&format!("present path {path}")),
            "no `present path {path}` line:\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains("10 frames in"),
        "no frame count:\n{}",
        run.stderr
    );
}
