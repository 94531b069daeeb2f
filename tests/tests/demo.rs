//! `cargo xtask demo`, the README's main command: vkcube in an aarch64 guest through our ICD and our host,
//! captured in the guest by an X client. Its picture must be the one native vkcube on lavapipe shows after
//! the same number of frames. Run by `cargo xtask test`.

use std::path::{Path, PathBuf};
use venus_rs_tests::images::read_png;
use venus_rs_tests::{demo, native, with_xvfb};

/// The capture is the last complete read of the window before vkcube closes it: its final frame, or one a
/// few frames earlier when vkcube outruns the capturing client. vkcube turns the cube by 4° per frame;
/// measured on lavapipe, the final frame and the frame three before it agree on 60% of the pixels that
/// show the cube in either (per-channel tolerance 16), an empty window on 0%, the same frame on 100%.
/// Half of the cube's pixels must agree: a capture a few frames off passes, a wrong picture does not.
const MIN_FOREGROUND_MATCH: f64 = 0.5;
const TOLERANCE: u8 = 16;
/// The textured cube has thousands of colours (3087 in vkcube's frame 300 on lavapipe); a window that
/// shows a flat clear colour or nothing has one.
const MIN_COLOURS: usize = 1000;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the workspace")
        .to_path_buf()
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn the_demo_shows_the_cube_native_vkcube_shows_at_the_same_frame() {
    let guest_capture = Path::new("/tmp/cube.png");
    let _ = std::fs::remove_file(guest_capture);
    let run = demo(&["--out", "/tmp/cube.png"]);
    run.assert_success_with("[demo] wrote /tmp/cube.png");

    // The oracle: the same capture of vkcube natively on lavapipe (`cargo xtask native` runs in the
    // workspace, which the reference chroot shares).
    let native_name = format!("target/venus-rs-demo-native-{}.png", std::process::id());
    let script = with_xvfb(&format!(
        "x11-capture --out {native_name} --timeout 600 & capture=$!; vkcube --wsi xcb --c 300; status=$?; \
         wait $capture || status=1; exit $status"
    ));
    let native_run = native(&[], &["sh", "-c", &script]);
    native_run.assert_success_with("x11-capture: OK 500x500");
    let native_path = workspace().join(&native_name);

    let ours = read_png(guest_capture).unwrap();
    let reference = read_png(&native_path).unwrap();
    let _ = std::fs::remove_file(&native_path);
    assert_eq!(
        (ours.width, ours.height),
        (reference.width, reference.height),
        "the captured window has another size than native vkcube's"
    );
    let colours = ours.distinct_colours();
    assert!(
        colours >= MIN_COLOURS,
        "the captured window is (nearly) uniform: {colours} colours"
    );
    let share = ours.foreground_matching_share(&reference, reference.corner_colour(), TOLERANCE);
    assert!(
        share >= MIN_FOREGROUND_MATCH,
        "only {:.0}% of the cube's pixels match native vkcube's frame 300 (at least {:.0}% needed)",
        share * 100.0,
        MIN_FOREGROUND_MATCH * 100.0
    );
}
