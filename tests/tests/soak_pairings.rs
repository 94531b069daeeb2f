//! Many Vulkan processes in one guest boot (`cargo xtask soak`): a hang or a crash that comes once in hundreds of
//! processes only shows up this way. `cargo xtask test` runs the short loops; the `long_` ones (1000 processes,
//! 10–12 minutes each under TCG on 2 cores) are left out of CI and run by hand:
//! `cargo test -p venus-rs-tests --test soak_pairings -- --ignored long_`.

use std::collections::BTreeSet;

use venus_rs_tests::soak;

const VULKANINFO: &[&str] = &["vulkaninfo", "--summary"];

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn our_halves_run_50_vulkaninfo_processes_in_one_aarch64_boot() {
    let run = soak("ours,ours,qemu-aarch64", 50, &[], &[VULKANINFO]);
    run.assert_clean(50);
    // Every guest process had a render-server worker of its own, and every worker was gone by the time QEMU
    // closed the render server's connection: the server is back to its one process.
    let log = run.run.host_log();
    let (started, live) = render_server_workers(&log);
    assert!(started >= 50, "only {started} workers started:\n{log}");
    assert!(
        live.is_empty(),
        "workers of contexts {live:?} were still running when QEMU stopped:\n{log}"
    );
}

/// From our render server's log: how many context workers started, and the contexts whose worker had not
/// ended when the VMM closed the connection (or the log ends).
fn render_server_workers(log: &str) -> (usize, BTreeSet<u32>) {
    let context_of = |line: &str| -> Option<u32> {
        let rest = &line[line.find("]: context ")? + "]: context ".len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let mut started = 0;
    let mut live = BTreeSet::new();
    for line in log
        .lines()
        .filter(|line| line.starts_with("venus-rs-render-server["))
    {
        if line.contains("the VMM closed the connection") {
            break;
        }
        if line.contains("): worker process ") {
            started += 1;
            live.extend(context_of(line));
        } else if line.contains(": worker ended") {
            if let Some(context) = context_of(line) {
                live.remove(&context);
            }
        }
    }
    (started, live)
}

#[test]
fn workers_are_counted_from_start_to_end_and_the_vmm_closing_ends_the_count() {
    let log = "venus-rs-render-server[1]: context 1 (\"vulkaninfo\"): worker process 10
venus-rs-render-server[1]: context 2 (\"vulkaninfo\"): worker process 11
venus-rs-render-server[1]: context 1: worker ended (exit status: 0)
venus-rs-render-server[1]: the VMM closed the connection
venus-rs-render-server[1]: context 2: worker ended (signal: 9 (SIGKILL))";
    assert_eq!(render_server_workers(log), (2, BTreeSet::from([2])));
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
