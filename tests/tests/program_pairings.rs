//! The test programs of `src/bin` (render-check, sync-check, query-check, secondary-check, compute-readback):
//! natively on lavapipe — the host driver, so the oracle for pixels — where they must also be clean under the
//! Khronos validation layer (they are the yardstick for drivers, so they must be valid Vulkan), and through the
//! reference pairing, all of them in one guest boot, where the image digests must equal the native ones byte for
//! byte. Run by `cargo xtask test` (`cargo test -p venus-rs-tests -- --ignored` after `cargo xtask setup --guests`).

use venus_rs_tests::{native, run_in_surviving_qemu_abort, PairRun};

const PROGRAMS: &[&str] = &[
    "compute-readback",
    "render-check",
    "sync-check",
    "query-check",
    "secondary-check",
];
/// The programs that print a digest of the image they rendered.
const RENDERING_PROGRAMS: &[&str] = &["render-check", "secondary-check"];

/// Runs `program` natively with validation and insists on its OK line and on silence from the layer.
fn assert_validation_clean(program: &str) {
    let run = native(&["--validate"], &[program]);
    run.assert_success_with(&format!("{program}: OK"));
    let messages = run.validation_messages();
    assert!(
        messages.is_empty(),
        "{program} is not valid Vulkan; the validation layer says:\n{}\n--- whole output\n{run:?}",
        messages.join("\n")
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn compute_readback_is_validation_clean_on_lavapipe() {
    assert_validation_clean("compute-readback");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn render_check_is_validation_clean_on_lavapipe() {
    assert_validation_clean("render-check");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn sync_check_is_validation_clean_on_lavapipe() {
    assert_validation_clean("sync-check");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn query_check_is_validation_clean_on_lavapipe() {
    assert_validation_clean("query-check");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn secondary_check_is_validation_clean_on_lavapipe() {
    assert_validation_clean("secondary-check");
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn validated_runs_really_load_the_validation_layer() {
    // The checks above are only worth something if the layer is there: the loader must report inserting it.
    let run = native(
        &["--validate"],
        &["sh", "-c", "VK_LOADER_DEBUG=layer render-check 2>&1"],
    );
    run.assert_success_with("Insert instance layer \"VK_LAYER_KHRONOS_validation\"");
}

/// Every program natively without the layer, in one chroot run: the oracle for digests.
fn native_outcome() -> PairRun {
    let run = native(&[], &["sh", "-c", &every_program_script()]);
    run.assert_success_with("secondary-check: OK");
    run
}

/// Runs every program even when one fails, so that one boot reports on all of them.
fn every_program_script() -> String {
    format!(
        "status=0; for program in {}; do $program || status=1; done; exit $status",
        PROGRAMS.join(" ")
    )
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn mesa_virgl_qemu_x86_64_runs_every_program_in_one_boot_with_native_digests() {
    let native = native_outcome();
    let run = run_in_surviving_qemu_abort(
        "mesa,virgl,qemu-x86_64",
        &[],
        &["sh", "-c", &every_program_script()],
        3,
    );
    for program in PROGRAMS {
        assert!(
            run.ok_line(program).is_some(),
            "{program} did not pass through mesa,virgl,qemu-x86_64:\n{run:?}"
        );
    }
    assert_eq!(run.exit_code, Some(0), "{run:?}");
    for program in RENDERING_PROGRAMS {
        let expected = native
            .digest_of(program)
            .unwrap_or_else(|| panic!("{program} printed no digest natively:\n{native:?}"));
        assert_eq!(
            run.digest_of(program),
            Some(expected),
            "{program}'s image through mesa,virgl,qemu-x86_64 differs from lavapipe's native one:\n{run:?}"
        );
    }
}
