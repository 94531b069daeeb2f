//! The shell script one run executes (every pending workload in turn, each bounded by `timeout`, each framed
//! by markers) and the reading of what it printed back into figures and reasons.

use super::metrics::Workload;
use std::collections::BTreeMap;
use std::time::Duration;

const BEGIN: &str = "bench-begin";
const END: &str = "bench-end";
const FIGURE: &str = "bench-figure";
const UNAVAILABLE: &str = "bench-unavailable";
/// Exit status of `timeout` when the limit passed (124), or when it had to SIGKILL (128 + 9).
const TIMED_OUT: [i32; 2] = [124, 137];

/// The script for `workloads`, each run as `ENV bench-workload NAME [--quick]` under `timeout`.
pub fn script(workloads: &[&Workload], env: &str, quick: bool, limit: Duration) -> String {
    let quick = if quick { " --quick" } else { "" };
    let seconds = limit.as_secs();
    let mut script = String::new();
    for workload in workloads {
        let name = workload.name;
        script.push_str(&format!(
            "echo '{BEGIN} {name}'; {env}timeout -k 5 {seconds} bench-workload {name}{quick} 2>&1; \
             echo \"{END} {name} $?\"; "
        ));
    }
    script.push_str("exit 0");
    script
}

/// Why a cell has no figure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The driver cannot do it (the workload said why): deterministic, not retried.
    Unavailable(String),
    /// The workload failed, hung or timed out.
    Failed(String),
    /// The run ended (or failed to start) before the workload finished: not the workload's fault.
    RunEnded(String),
    /// The workload exited 0 without printing the figure: a bug of the benchmark itself.
    Missing(String),
}

impl Reason {
    pub fn text(&self) -> &str {
        match self {
            Reason::Unavailable(text)
            | Reason::Failed(text)
            | Reason::RunEnded(text)
            | Reason::Missing(text) => text,
        }
    }
}

/// What one run said about one metric.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Figure(f64),
    NoFigure(Reason),
}

/// Reads a run's output. Every metric of `workloads` gets an outcome; `run_error` (the runner's own failure,
/// if any) explains the workloads the run did not finish.
pub fn read_output(
    workloads: &[&Workload],
    output: &str,
    limit: Duration,
    run_error: Option<&str>,
) -> BTreeMap<&'static str, Outcome> {
    let mut outcomes = BTreeMap::new();
    let mut current: Option<&Workload> = None;
    let mut lines_of_current: Vec<&str> = Vec::new();
    let mut figures: BTreeMap<&'static str, Outcome> = BTreeMap::new();
    for raw in output.lines() {
        let line = raw.trim();
        if let Some(name) = line.strip_prefix(BEGIN).map(str::trim) {
            current = workloads.iter().copied().find(|w| w.name == name);
            lines_of_current.clear();
            figures.clear();
            continue;
        }
        let Some(workload) = current else { continue };
        if let Some(rest) = line.strip_prefix(END) {
            let mut words = rest.split_whitespace();
            let status: Option<i32> = match words.next() {
                Some(name) if name == workload.name => words.next().and_then(|s| s.parse().ok()),
                _ => None,
            };
            for metric in workload.metrics {
                let outcome = figures.remove(metric).unwrap_or_else(|| {
                    Outcome::NoFigure(reason_without_figure(status, &lines_of_current, limit))
                });
                outcomes.insert(*metric, outcome);
            }
            current = None;
            continue;
        }
        if let Some(rest) = line.strip_prefix(FIGURE) {
            let mut words = rest.split_whitespace();
            if let (Some(metric), Some(Ok(value))) =
                (words.next(), words.next().map(str::parse::<f64>))
            {
                if let Some(metric) = workload.metrics.iter().find(|m| **m == metric) {
                    if value.is_finite() && value > 0.0 {
                        figures.insert(metric, Outcome::Figure(value));
                    }
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix(UNAVAILABLE) {
            let rest = rest.trim();
            let (metric, reason) = rest.split_once(' ').unwrap_or((rest, "unavailable"));
            if let Some(metric) = workload.metrics.iter().find(|m| **m == metric) {
                figures.insert(
                    metric,
                    Outcome::NoFigure(Reason::Unavailable(reason.trim().to_string())),
                );
            }
            continue;
        }
        if !line.is_empty() {
            lines_of_current.push(line);
        }
    }
    let ended = run_error.unwrap_or("the run ended without finishing it");
    for workload in workloads {
        for metric in workload.metrics {
            outcomes.entry(*metric).or_insert_with(|| {
                let started = current.is_some_and(|w| w.name == workload.name);
                let text = if started {
                    match lines_of_current.last() {
                        Some(last) => format!("{ended} (its last line: {last})"),
                        None => ended.to_string(),
                    }
                } else {
                    format!("not run: {ended}")
                };
                Outcome::NoFigure(Reason::RunEnded(text))
            });
        }
    }
    outcomes
}

fn reason_without_figure(status: Option<i32>, lines: &[&str], limit: Duration) -> Reason {
    let failed = lines
        .iter()
        .rev()
        .find_map(|line| line.split_once("FAILED: ").map(|(_, reason)| reason));
    let last = lines.last().copied().unwrap_or("no output");
    match status {
        Some(code) if TIMED_OUT.contains(&code) => Reason::Failed(format!(
            "hung: killed after {} s (its last line: {last})",
            limit.as_secs()
        )),
        Some(0) => Reason::Missing(format!(
            "bench-workload exited 0 without this figure (its last line: {last})"
        )),
        Some(code) => Reason::Failed(match failed {
            Some(reason) => reason.to_string(),
            None => format!("exit status {code} (its last line: {last})"),
        }),
        None => Reason::Failed(format!("no exit status (its last line: {last})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::metrics::WORKLOADS;

    fn workloads(names: &[&str]) -> Vec<&'static Workload> {
        WORKLOADS
            .iter()
            .filter(|w| names.contains(&w.name))
            .collect()
    }

    const LIMIT: Duration = Duration::from_secs(60);

    #[test]
    fn the_script_frames_and_bounds_every_workload() {
        let script = script(
            &workloads(&["round-trip", "churn"]),
            "VN_PERF=x ",
            true,
            LIMIT,
        );
        assert!(script.contains(
            "echo 'bench-begin round-trip'; VN_PERF=x timeout -k 5 60 bench-workload round-trip --quick 2>&1; \
             echo \"bench-end round-trip $?\";"
        ), "{script}");
        assert!(script.contains("bench-workload churn --quick"), "{script}");
        assert!(script.ends_with("exit 0"));
    }

    #[test]
    fn figures_reasons_failures_and_hangs_are_read_per_metric() {
        let output = "\
noise before
bench-begin mapped-memory
bench-figure mapped-write 1.5
bench-workload: FAILED: vkMapMemory hung
bench-end mapped-memory 1
bench-begin vkmark
bench-unavailable vkmark no swapchain: the device offers no VK_KHR_swapchain
bench-workload: OK vkmark
bench-end vkmark 0
bench-begin round-trip
bench-figure round-trip 101.5
bench-end round-trip 0
bench-begin churn
still creating
bench-end churn 124
";
        let list = workloads(&["mapped-memory", "vkmark", "round-trip", "churn"]);
        let outcomes = read_output(&list, output, LIMIT, None);
        assert_eq!(outcomes["mapped-write"], Outcome::Figure(1.5));
        assert_eq!(
            outcomes["mapped-read"],
            Outcome::NoFigure(Reason::Failed("vkMapMemory hung".into()))
        );
        assert_eq!(
            outcomes["vkmark"],
            Outcome::NoFigure(Reason::Unavailable(
                "no swapchain: the device offers no VK_KHR_swapchain".into()
            ))
        );
        assert_eq!(outcomes["round-trip"], Outcome::Figure(101.5));
        assert!(matches!(
            &outcomes["churn-images"],
            Outcome::NoFigure(Reason::Failed(text)) if text.contains("killed after 60 s") && text.contains("still creating")
        ));
    }

    #[test]
    fn a_run_that_ends_early_explains_the_workloads_it_did_not_finish() {
        let output = "bench-begin round-trip\nbench-figure round-trip 5\nbench-end round-trip 0\nbench-begin streaming\nrecording\n";
        let list = workloads(&["round-trip", "streaming", "vkcube"]);
        let outcomes = read_output(&list, output, LIMIT, Some("QEMU aborted"));
        assert_eq!(outcomes["round-trip"], Outcome::Figure(5.0));
        assert_eq!(
            outcomes["streaming"],
            Outcome::NoFigure(Reason::RunEnded(
                "QEMU aborted (its last line: recording)".into()
            ))
        );
        assert_eq!(
            outcomes["vkcube"],
            Outcome::NoFigure(Reason::RunEnded("not run: QEMU aborted".into()))
        );
    }

    #[test]
    fn a_clean_exit_without_the_figure_is_the_benchmarks_own_bug() {
        let output = "bench-begin streaming\nbench-workload: OK streaming\nbench-end streaming 0\n";
        let outcomes = read_output(&workloads(&["streaming"]), output, LIMIT, None);
        assert!(matches!(
            outcomes["streaming"],
            Outcome::NoFigure(Reason::Missing(_))
        ));
    }
}
