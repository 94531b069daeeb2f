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
    let (output, error) = match capture(&args) {
        Ok((output, 0)) => (output, None),
        Ok((output, code)) => {
            let last = output
                .lines()
                .rev()
                .find(|line| line.starts_with("xtask:") || line.starts_with("[pair]"))
                .unwrap_or("")
                .to_string();
            let error = format!("the run failed (exit status {code}): {last}");
            (output, Some(error))
        }
        Err(error) => (String::new(), Some(error)),
    };
    let aborted = error.is_some() && output.contains(QEMU_TCG_ABORT);
    let outcomes = read_output(workloads, &output, limit, error.as_deref());
    (outcomes, aborted)
}

/// Runs this xtask binary with `args`; returns its stdout and stderr (stderr after stdout) and exit code.
fn capture(args: &[String]) -> Result<(String, i32), String> {
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
    let mut output = String::new();
    if let Some(mut stdout) = child.child_mut().stdout.take() {
        let _ = stdout.read_to_string(&mut output);
    }
    let status = child.wait_for(Duration::from_secs(3600))?;
    output.push_str(&errors.join().unwrap_or_default());
    Ok((output, status.map_or(1, crate::pair::exit_code)))
}
