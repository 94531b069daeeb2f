//! The `moltenvk` host profile (`VENUS_RS_HOST_PROFILE=moltenvk`): our host, running on lavapipe, shows the guest
//! only what MoltenVK 1.4 offers on Apple Silicon. Our guest half must still run every test program with the
//! native digests — over vtest and in an aarch64 guest, the shape of a Mac's VM — and vulkaninfo through it must
//! show VK_KHR_portability_subset and no external file-descriptor extension. What Mesa's guest does under the
//! profile is written down in host/README.md. Run by `cargo xtask test`.

use venus_rs_tests::{
    assert_every_program_passes_with, run_in_surviving_qemu_abort, run_in_with_env, with_xvfb,
    PairRun,
};

const PROFILE: (&str, &str) = ("VENUS_RS_HOST_PROFILE", "moltenvk");

/// The extensions that pass file descriptors, which MoltenVK does not have.
const FD_EXTENSIONS: &[&str] = &[
    "VK_KHR_external_memory_fd",
    "VK_EXT_external_memory_dma_buf",
    "VK_KHR_external_semaphore_fd",
    "VK_KHR_external_fence_fd",
];

/// Panics unless our host served the run with the profile on (its start-up line names the profile).
fn assert_profile_was_on(run: &PairRun) {
    let log = run.host_log();
    assert!(
        log.lines()
            .any(|line| line.contains("host profile moltenvk:")),
        "our host did not run with the moltenvk profile:\n{log}"
    );
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn our_halves_over_vtest_run_every_program_under_the_moltenvk_profile() {
    let run = assert_every_program_passes_with("ours,ours,vtest", &[PROFILE], |_| "");
    assert_profile_was_on(&run);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_in_qemu_aarch64_run_every_program_under_the_moltenvk_profile() {
    let run = assert_every_program_passes_with("ours,ours,qemu-aarch64", &[PROFILE], |_| "");
    assert_profile_was_on(&run);
}

/// vkcube's frames presented by our ICD under the profile (`VENUS_RS_LOG=info` counts them; vkcube picks
/// Wayland in the guests, where weston runs too, and X11 over vtest).
fn assert_vkcube_presented(run: &PairRun, frames: u32) {
    assert_eq!(run.exit_code, Some(0), "{run:?}");
    let counted = run
        .stdout
        .lines()
        .chain(run.stderr.lines())
        .any(|line| line.contains(&format!("-shm: {frames} frames in")));
    assert!(
        counted,
        "our ICD's log has no line counting vkcube's {frames} frames:\n{run:?}"
    );
    assert_profile_was_on(run);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn our_halves_over_vtest_run_vkcube_under_the_moltenvk_profile() {
    let run = run_in_with_env(
        "ours,ours,vtest",
        &[PROFILE, ("VENUS_RS_LOG", "info")],
        &["sh", "-c", &with_xvfb("vkcube --c 120")],
    );
    assert_vkcube_presented(&run, 120);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_in_qemu_aarch64_run_vkcube_under_the_moltenvk_profile() {
    let run = run_in_surviving_qemu_abort(
        "ours,ours,qemu-aarch64",
        &[PROFILE, ("VENUS_RS_LOG", "info")],
        &["vkcube", "--c", "120"],
        3,
    );
    assert_vkcube_presented(&run, 120);
}

/// The names in vulkaninfo's device extension list (`Device Extensions: count = N`, then one
/// `NAME : extension revision N` line each, then a blank line).
fn device_extensions(vulkaninfo: &str) -> Vec<&str> {
    vulkaninfo
        .lines()
        .skip_while(|line| !line.starts_with("Device Extensions:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

/// The value vulkaninfo prints for a feature or limit (`name = value`).
fn value_of<'a>(vulkaninfo: &'a str, name: &str) -> Option<&'a str> {
    vulkaninfo.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == name).then(|| value.trim())
    })
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup`; run by `cargo xtask test`"]
fn vulkaninfo_under_the_moltenvk_profile_shows_portability_subset_and_no_fd_extensions() {
    let run = run_in_with_env("ours,ours,vtest", &[PROFILE], &["vulkaninfo"]);
    assert_eq!(run.exit_code, Some(0), "{run:?}");
    assert_profile_was_on(&run);
    let extensions = device_extensions(&run.stdout);
    assert!(
        extensions.len() > 20,
        "vulkaninfo listed no device extensions:\n{run:?}"
    );
    assert!(
        extensions.contains(&"VK_KHR_portability_subset"),
        "no VK_KHR_portability_subset among {extensions:?}"
    );
    for fd in FD_EXTENSIONS {
        assert!(
            !extensions.contains(fd),
            "{fd} is offered under the moltenvk profile"
        );
    }
    // lavapipe has them; MoltenVK on Apple Silicon does not (MVKDevice.mm, initFeatures and initLimits).
    assert_eq!(value_of(&run.stdout, "geometryShader"), Some("false"));
    assert_eq!(value_of(&run.stdout, "wideLines"), Some("false"));
    assert_eq!(
        value_of(&run.stdout, "maxPerStageDescriptorSamplers"),
        Some("16")
    );
}
