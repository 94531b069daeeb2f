//! Runs the workloads of one column: `cargo xtask native` for lavapipe, `cargo xtask pair` for a pairing —
//! this same xtask binary as a child, so that a pairing starts, logs and stops exactly as it does for a test —
//! and captures what they print.

use super::metrics::Workload;
use super::options::{guest_name, host_name, transport_name, Column};
use super::script::{read_output, script, Outcome};
use crate::pair::{GuestDriver, HostRenderer, Transport};
use crate::process::Supervised;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Mesa's Venus maps memory for its fence, semaphore, event and query feedback, and nothing can be mapped
/// through virglrenderer's vtest server on these machines (reference-stack.md): without these switches even
/// vkCreateFence hangs there. Only that pairing gets them; the table says so.
pub const MESA_FEEDBACK_OFF: &str =
    "VN_PERF=no_fence_feedback,no_semaphore_feedback,no_event_feedback,no_query_feedback";

/// QEMU under TCG dies now and then in this assertion (see tests/src/lib.rs): such a boot is run again.
const QEMU_TCG_ABORT: &str = "iotlb_to_section: Assertion";

/// The environment a column's workloads run with, as a shell prefix.
pub fn workload_env(column: Column) -> String {
    match column {
        Column::Pairing(kind, Transport::Vtest)
            if kind.guest == GuestDriver::Mesa && kind.host == HostRenderer::Virgl =>
        {
            format!("{MESA_FEEDBACK_OFF} ")
        }
        _ => String::new(),
    }
}

/// How long one workload may run: a guest under TCG is many times slower than the host.
pub fn workload_limit(column: Column) -> Duration {
    match column {
        Column::Pairing(_, Transport::Qemu(_)) => Duration::from_secs(240),
        _ => Duration::from_secs(90),
    }
}

/// Runs `workloads` in `column` (one guest boot, or one vtest server, for all of them) and returns each
/// metric's outcome; a QEMU boot that dies of the TCG abort is repeated once for what it did not finish.
pub fn run_column(
    column: Column,
    workloads: &[&'static Workload],
    quick: bool,
) -> BTreeMap<&'static str, Outcome> {
    let (mut outcomes, aborted) = run_once(column, workloads, quick);
    if aborted {
        let unfinished: Vec<&'static Workload> = workloads
            .iter()
            .copied()
            .filter(|workload| {
                workload
                    .metrics
                    .iter()
                    .any(|metric| !matches!(outcomes.get(metric), Some(Outcome::Figure(_))))
            })
            .collect();
        eprintln!(
            "[bench] {}: QEMU aborted in its TCG; booting again for {} workload(s)",
            column.name(),
            unfinished.len()
        );
        let (again, _) = run_once(column, &unfinished, quick);
        outcomes.extend(again);
    }
    outcomes
}

fn run_once(
    column: Column,
    workloads: &[&'static Workload],
    quick: bool,
) -> (BTreeMap<&'static str, Outcome>, bool) {
    let limit = workload_limit(column);
    let text = script(workloads, &workload_env(column), quick, limit);
    // A backstop only: each workload is bounded inside the run; booting a guest takes up to a minute.
    let total =
        Duration::from_secs(120) + (limit + Duration::from_secs(10)) * workloads.len() as u32;
    let mut args: Vec<String> = match column {
        Column::Native => vec!["native".into()],
        Column::Pairing(kind, transport) => vec![
            "pair".into(),
            "--guest".into(),
            guest_name(kind.guest).into(),
            "--host".into(),
            host_name(kind.host).into(),
            "--transport".into(),
            transport_name(transport).into(),
        ],
    };
    args.extend([
        "--timeout".into(),
        total.as_secs().to_string(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        text,
    ]);
    let (output, error, aborted) = match capture(&args) {
        Ok(run) if run.code == 0 => (run.stdout, None, false),
        Ok(run) => {
            // The runner's own verdict is its last `xtask:` line (or the pairing's `[pair]` note).
            let verdict = run
                .stderr
                .lines()
                .rev()
                .find(|line| line.starts_with("xtask:") || line.starts_with("[pair]"))
                .unwrap_or("")
                .trim_start_matches("xtask: ")
                .to_string();
            let aborted = run.stderr.contains(QEMU_TCG_ABORT)
                || logs_dir(&verdict).is_some_and(|dir| {
                    std::fs::read_to_string(dir.join("qemu.log"))
                        .is_ok_and(|log| log.contains(QEMU_TCG_ABORT))
                });
            let error = if aborted {
                format!("QEMU aborted in its TCG ({QEMU_TCG_ABORT}), a QEMU bug: {verdict}")
            } else {
                format!("the run failed (exit status {}): {verdict}", run.code)
            };
            (run.stdout, Some(error), aborted)
        }
        Err(error) => (String::new(), Some(error), false),
    };
    let outcomes = read_output(workloads, &output, limit, error.as_deref());
    (outcomes, aborted)
}

/// The run folder a runner's error names (`... (logs in DIR)`).
fn logs_dir(error: &str) -> Option<PathBuf> {
    let start = error.rfind("logs in ")? + "logs in ".len();
    let rest = &error[start..];
    Some(PathBuf::from(&rest[..rest.find(')').unwrap_or(rest.len())]))
}

/// What the xtask child printed, apart: workloads print on stdout, the runner reports on stderr.
struct Captured {
    stdout: String,
    stderr: String,
    code: i32,
}

/// Runs this xtask binary with `args` and captures what it prints.
fn capture(args: &[String]) -> Result<Captured, String> {
    let program =
        std::env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Supervised::spawn("xtask", &mut command)?;
    let stderr = child.child_mut().stderr.take();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });
    let mut stdout = String::new();
    if let Some(mut pipe) = child.child_mut().stdout.take() {
        let _ = pipe.read_to_string(&mut stdout);
    }
    let status = child.wait_for(Duration::from_secs(3600))?;
    Ok(Captured {
        stdout,
        stderr: errors.join().unwrap_or_default(),
        code: status.map_or(1, crate::pair::exit_code),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logs_folder_is_read_from_the_runners_error() {
        assert_eq!(
            logs_dir("the guest ended: QEMU: signal: 6 (logs in /runs/1-ours-ours-qemu-x86_64-7)"),
            Some(PathBuf::from("/runs/1-ours-ours-qemu-x86_64-7"))
        );
        assert_eq!(logs_dir("no folder named"), None);
    }
}
