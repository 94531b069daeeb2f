//! `venus-probe` (our guest half's bring-up diagnostic) against virglrenderer over every transport: the
//! acceptance of issue 4. Run by `cargo xtask test` like the reference pairings (virglrenderer 1.3 of the newest
//! stack; `VENUS_RS_REFERENCE=trixie` runs them against 1.1).

use venus_rs_tests::{reference, run_in, PairRun};

const ALL_PASSED: &str = "venus-probe: all 9 steps passed";

/// The protocol level the reference stack's virglrenderer announces in its capset.
fn capset_vk_xml_version() -> &'static str {
    match reference().as_str() {
        "trixie" => "1.3.269",
        _ => "1.4.334",
    }
}

/// The probe's output shows the capset and an instance version that came back through the ring.
fn assert_probe_passed(run: &PairRun) {
    run.assert_success_with(ALL_PASSED);
    run.assert_success_with(&format!("vk_xml_version={}", capset_vk_xml_version()));
    let round_trip = run
        .stdout
        .lines()
        .find(|line| line.contains("] round-trip"))
        .unwrap_or_else(|| panic!("no round-trip line:\n{}", run.stdout));
    assert!(
        round_trip.contains("[     ok]") && round_trip.contains("host instance version 1."),
        "{round_trip}"
    );
}

/// Every `virtio_gpu_cmd_res_create_blob` line of the run's QEMU trace, as (resource, size).
fn blob_sizes(run: &PairRun) -> Vec<(String, u64)> {
    let run_dir = run.run_dir.as_ref().expect("the run left no folder");
    let trace = std::fs::read_to_string(run_dir.join("qemu-trace.log"))
        .unwrap_or_else(|e| panic!("{}/qemu-trace.log: {e}", run_dir.display()));
    trace
        .lines()
        .filter(|line| line.contains("virtio_gpu_cmd_res_create_blob"))
        .map(|line| {
            let field = |name: &str| {
                line.split(name)
                    .nth(1)
                    .and_then(|rest| {
                        rest.split(|c: char| c == ',' || c.is_whitespace())
                            .find(|s| !s.is_empty())
                    })
                    .unwrap_or_else(|| panic!("no {name:?} in {line:?}"))
                    .to_string()
            };
            let size = field("size ");
            (
                field("res "),
                size.parse()
                    .unwrap_or_else(|_| panic!("size {size:?} in {line:?}")),
            )
        })
        .collect()
}

fn assert_blobs_aligned(run: &PairRun) {
    let blobs = blob_sizes(run);
    // The ring and the reply shared memory at least.
    assert!(
        blobs.len() >= 2,
        "the trace shows {} blobs: {blobs:?}",
        blobs.len()
    );
    for (res, size) in &blobs {
        assert_eq!(
            size % 16384,
            0,
            "resource {res}: blob size {size} is not a multiple of 16384"
        );
    }
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn probe_passes_over_vtest() {
    let run = run_in("ours,virgl,vtest", &[], &["venus-probe"]);
    assert_probe_passed(&run);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn probe_json_reports_every_step_over_vtest() {
    let run = run_in("ours,virgl,vtest", &[], &["venus-probe", "--json"]);
    assert_eq!(run.exit_code, Some(0), "{run:?}");
    let start = run
        .stdout
        .find('{')
        .unwrap_or_else(|| panic!("no JSON in {run:?}"));
    let report: serde_json::Value = serde_json::from_str(&run.stdout[start..]).expect("valid JSON");
    assert_eq!(report["passed"], true);
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 9);
    assert!(
        steps.iter().all(|step| step["result"] == "ok"),
        "{report:#}"
    );
    assert_eq!(steps[2]["data"]["vk_xml_version"], capset_vk_xml_version());
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn probe_passes_in_qemu_x86_64_with_aligned_blobs() {
    let run = run_in("ours,virgl,qemu-x86_64", &[], &["venus-probe"]);
    assert_probe_passed(&run);
    assert_blobs_aligned(&run);
}

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn probe_passes_in_qemu_aarch64_with_aligned_blobs() {
    let run = run_in(
        "ours,virgl,qemu-aarch64",
        &[],
        &["sh", "-c", "uname -m && venus-probe"],
    );
    assert_probe_passed(&run);
    assert!(
        run.stdout.lines().any(|line| line.trim() == "aarch64"),
        "{run:?}"
    );
    assert_blobs_aligned(&run);
}

/// Kills this run's vtest server (every process whose command line names its socket) one second into
/// a long series of round trips, and reports how long the probe took to give up.
const KILL_SERVER_MID_RUN: &str = r#"
venus-probe --round-trips 1000000 & probe=$!
sleep 1
for p in /proc/[0-9]*; do
  case "$(tr '\0' ' ' 2>/dev/null < "$p/cmdline")" in
    *virgl_test_server*"$VTEST_SOCKET_NAME"*) kill -9 "${p#/proc/}" 2>/dev/null && echo "killed vtest server ${p#/proc/}";;
  esac
done
start=$(date +%s%N)
wait $probe; rc=$?
echo "venus-probe exited $rc after $(( ($(date +%s%N) - start) / 1000000 )) ms"
exit $rc
"#;

#[test]
#[ignore = "end-to-end: needs `cargo xtask setup --guests`; run by `cargo xtask test`"]
fn probe_names_the_step_when_the_vtest_server_dies() {
    let run = run_in(
        "ours,virgl,vtest",
        &["--timeout", "60"],
        &["sh", "-c", KILL_SERVER_MID_RUN],
    );
    assert!(run.stdout.contains("killed vtest server"), "{run:?}");
    assert!(matches!(run.exit_code, Some(code) if code != 0), "{run:?}");
    assert!(
        run.stdout.contains("[   FAIL] round-trip") || run.stdout.contains("[TIMEOUT] round-trip"),
        "the probe does not name the step it was in:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("step round-trip"), "{}", run.stdout);
    let waited_ms: u64 = run
        .stdout
        .lines()
        .find_map(|line| {
            line.strip_prefix("venus-probe exited ")?
                .split(" after ")
                .nth(1)?
                .strip_suffix(" ms")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no exit line:\n{}", run.stdout));
    // Within the step's own timeout (30 s), and in practice at the next liveness check.
    assert!(
        waited_ms < 30_000,
        "the probe took {waited_ms} ms to give up"
    );
}
