//! Many Vulkan processes in one guest boot (`cargo xtask soak`): a hang or a crash that comes once in hundreds of
//! processes only shows up this way. `cargo xtask test` runs the short loops; the `long_` ones (1000 processes,
//! 10–12 minutes each under TCG on 2 cores) are left out of CI and run by hand:
//! `cargo test -p venus-rs-tests --test soak_pairings -- --ignored long_`.

use venus_rs_tests::soak;

const VULKANINFO: &[&str] = &["vulkaninfo", "--summary"];

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_run_50_vulkaninfo_processes_in_one_aarch64_boot() {
    soak("ours,ours,qemu-aarch64", 50, &[], &[VULKANINFO]).assert_clean(50);
}

#[test]
#[ignore = "long (about 12 minutes): run by hand, not by CI"]
fn long_our_halves_run_1000_vulkaninfo_processes_in_one_aarch64_boot() {
    soak("ours,ours,qemu-aarch64", 1000, &[], &[VULKANINFO]).assert_clean(1000);
}

#[test]
#[ignore = "long (about 10 minutes): run by hand, not by CI"]
fn long_the_reference_halves_run_1000_vulkaninfo_processes_in_one_x86_64_boot() {
    soak("mesa,virgl,qemu-x86_64", 1000, &[], &[VULKANINFO]).assert_clean(1000);
}
