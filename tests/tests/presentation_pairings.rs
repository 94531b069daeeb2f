//! Presentation through our ICD's copy-based swapchain with real applications and real window systems: vkcube
//! on Xvfb (X11, MIT-SHM) and on headless weston (Wayland, wl_shm), `resize-check` resizing its X window while
//! it presents, vkcube under the guest-side validation layer, and vkmark's whole default scene list headless.
//! In the guests, init runs Xvfb and weston and every program finds them (DISPLAY, WAYLAND_DISPLAY), so the
//! commands are exactly what a user types; over vtest the script starts its own servers in the chroot.
//! Several programs share one guest boot. vkcube 1.4.341 (the newest stack's) picks Wayland whenever a compositor
//! answers, so the X11 runs say `--wsi xcb`. Run by `cargo xtask test`.

use venus_rs_tests::{
    run_in_surviving_qemu_abort, run_in_with_env, with_weston, with_xvfb, PairRun,
};

/// Over vtest: vkcube on X11 then on Wayland, and the resize check, in one run with servers of its own.
fn window_systems_script(frames: u32) -> String {
    let x11 = with_xvfb(&format!("vkcube --wsi xcb --c {frames} && resize-check"));
    let wayland = with_weston(&format!("vkcube --wsi wayland --c {frames}"));
    format!("( {x11} ) && ( {wayland} )")
}

/// In a guest, on the window systems init started: every command runs even when one fails.
fn guest_script(commands: &[&str]) -> String {
    let runs: Vec<String> = commands
        .iter()
        .map(|command| format!("{command} || status=1; "))
        .collect();
    format!("status=0; {}exit $status", runs.concat())
}

/// Runs `commands` in one boot of `pairing` with our ICD's log at info.
fn in_one_boot(pairing: &str, commands: &[&str]) -> PairRun {
    run_in_surviving_qemu_abort(
        pairing,
        &[("VENUS_RS_LOG", "info")],
        &["sh", "-c", &guest_script(commands)],
        3,
    )
}

/// The run passed, and our ICD's log shows both present paths counting all of vkcube's frames.
fn assert_presented_through_our_icd(run: &PairRun, frames: u32) {
    run.assert_success_with("resize-check: OK");
    for path in ["x11-shm", "wayland-shm"] {
        // Over vtest the ICD's log is the program's stderr; in a guest, stderr reaches us through the console.
        // vkcube asks for 500x500; weston's kiosk shell makes every window as large as its output, and vkcube
        // 1.4.341 follows that, so only the X11 swapchain keeps vkcube's size.
        let counted = run.stdout.lines().chain(run.stderr.lines()).any(|line| {
            line.contains(&format!("via {path}: {frames} frames in"))
                && (path != "x11-shm" || line.contains("500x500"))
        });
        assert!(
            counted,
            "our ICD's log has no line counting vkcube's {frames} frames via {path}:\n{run:?}"
        );
    }
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn our_halves_over_vtest_present_vkcube_on_x11_and_wayland_and_follow_a_resize() {
    let frames = 300;
    let run = run_in_with_env(
        "ours,ours,vtest",
        &[("VENUS_RS_LOG", "info")],
        &["sh", "-c", &window_systems_script(frames)],
    );
    assert_presented_through_our_icd(&run, frames);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn the_validation_layer_finds_nothing_in_vkcube_through_our_icd() {
    let script = with_xvfb(
        "VK_INSTANCE_LAYERS=VK_LAYER_KHRONOS_validation VK_LOADER_DEBUG=layer vkcube --c 60 2>&1",
    );
    let run = run_in_with_env("ours,ours,vtest", &[], &["sh", "-c", &script]);
    assert_eq!(run.exit_code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains("Insert instance layer \"VK_LAYER_KHRONOS_validation\""),
        "the validation layer was not loaded:\n{run:?}"
    );
    let messages = run.validation_messages();
    assert!(
        messages.is_empty(),
        "the validation layer reports on vkcube through our ICD:\n{}",
        messages.join("\n")
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn vkmark_runs_its_whole_default_scene_list_headless_over_vtest() {
    let run = run_in_with_env("ours,ours,vtest", &[], &["vkmark", "--winsys", "headless"]);
    run.assert_success_with("vkmark Score:");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_in_qemu_aarch64_present_vkcube_follow_a_resize_and_run_vkmark() {
    let run = in_one_boot(
        "ours,ours,qemu-aarch64",
        &[
            "vkcube --wsi xcb --c 300",
            "vkcube --wsi wayland --c 300",
            "resize-check",
            "vkmark --winsys headless",
        ],
    );
    assert_presented_through_our_icd(&run, 300);
    run.assert_success_with("vkmark Score:");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_in_qemu_x86_64_present_vkcube_and_follow_a_resize() {
    let run = in_one_boot(
        "ours,ours,qemu-x86_64",
        &[
            "vkcube --wsi xcb --c 300",
            "vkcube --wsi wayland --c 300",
            "resize-check",
        ],
    );
    assert_presented_through_our_icd(&run, 300);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_icd_on_virglrenderer_in_qemu_aarch64_presents_vkcube() {
    let run = in_one_boot(
        "ours,virgl,qemu-aarch64",
        &[
            "vkcube --wsi xcb --c 300",
            "vkcube --wsi wayland --c 300",
            "resize-check",
        ],
    );
    assert_presented_through_our_icd(&run, 300);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_icd_on_virglrenderer_in_qemu_x86_64_presents_vkcube() {
    let run = in_one_boot(
        "ours,virgl,qemu-x86_64",
        &[
            "vkcube --wsi xcb --c 300",
            "vkcube --wsi wayland --c 300",
            "resize-check",
        ],
    );
    assert_presented_through_our_icd(&run, 300);
}
