//! `venus-probe`: walks the Venus bring-up one step at a time and prints one line per step with its
//! result and timing, so that a guest that cannot reach its host shows exactly where it stops.
//!
//! The steps run on a worker thread; the main thread is a watchdog that gives each step its own
//! timeout, because some steps (mapping a host blob through the guest kernel) can block inside a system
//! call where no timeout of ours reaches. Exit code 0 only when every step passed.

use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::{Duration, Instant};

use venus_rs_kernel_iface::TransportKind;
use vulkan_venus_rs::ring::RingMonitor;
use vulkan_venus_rs::session::{self, SessionError, SessionOptions, Step, StepReport};

const USAGE: &str = "usage: venus-probe [--transport vtest|virtgpu] [--json] [--round-trips N]

Runs the Venus bring-up step by step: device node, params, capset, context init, ring blob
(create + map + write/read-back; the blob alignment and what decided it), vkCreateRingMESA, the
host's write to the ring read back (is the ring memory shared?), reply shmem
(vkSetReplyCommandStreamMESA), and vkEnumerateInstanceVersion through the ring. Prints one line
per step; exits 0 only if all steps passed. A host silent for VENUS_RS_STALL_TIMEOUT seconds
(default 10) fails the step it stalls.

  --transport T    vtest or virtgpu (default: VENUS_RS_TRANSPORT, else virtgpu when a virtio_gpu
                   render node exists, else vtest when VTEST_SOCKET_NAME is set)
  --json           print one JSON object instead of lines
  --round-trips N  make the last step N round trips and report min/median/max (default 1)";

struct Args {
    transport: Option<TransportKind>,
    json: bool,
    round_trips: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        transport: None,
        json: false,
        round_trips: 1,
    };
    let mut rest = std::env::args().skip(1);
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--transport" => {
                let value = rest.next().ok_or("--transport needs a value")?;
                args.transport = Some(value.parse()?);
            }
            "--json" => args.json = true,
            "--round-trips" => {
                let value = rest.next().ok_or("--round-trips needs a value")?;
                args.round_trips = value.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    format!("--round-trips takes a count of 1 or more, not {value:?}")
                })?;
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

enum Event {
    Done(StepReport),
    Failed(SessionError),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Failed,
    TimedOut,
    Skipped,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "FAIL",
            Outcome::TimedOut => "TIMEOUT",
            Outcome::Skipped => "skip",
        }
    }
}

struct StepResult {
    step: Step,
    outcome: Outcome,
    elapsed: Duration,
    detail: String,
    data: serde_json::Value,
    hint: Option<String>,
    ring: Option<String>,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if message.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("venus-probe: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let kind = match args.transport.map_or_else(session::select_transport, Ok) {
        Ok(kind) => kind,
        Err(reason) => {
            let result = StepResult {
                step: Step::DeviceNode,
                outcome: Outcome::Failed,
                elapsed: Duration::ZERO,
                detail: reason,
                data: serde_json::Value::Null,
                hint: Some("pass --transport vtest|virtgpu".into()),
                ring: None,
            };
            return finish(&args, None, vec![result]);
        }
    };

    let mut options = match SessionOptions::from_env(kind) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("venus-probe: {message}");
            return ExitCode::from(2);
        }
    };
    options.round_trips = args.round_trips;
    let (sender, events) = channel();
    // The worker is abandoned, not joined, when a step hangs: the process exits with it still blocked.
    std::thread::spawn(move || {
        let steps = sender.clone();
        let result = session::connect(&options, &mut |report| {
            let _ = steps.send(Event::Done(report));
        });
        if let Err(error) = result {
            let _ = sender.send(Event::Failed(error));
        }
    });

    let mut results = Vec::new();
    let mut monitor: Option<RingMonitor> = None;
    let mut stopped = false;
    for step in Step::ALL {
        if stopped {
            results.push(StepResult {
                step,
                outcome: Outcome::Skipped,
                elapsed: Duration::ZERO,
                detail: "not run: an earlier step failed".into(),
                data: serde_json::Value::Null,
                hint: None,
                ring: None,
            });
            continue;
        }
        let started = Instant::now();
        let limit = match step {
            // Each extra round trip may take a few milliseconds in an emulated guest.
            Step::RoundTrip => step.timeout() + Duration::from_millis(10) * args.round_trips,
            _ => step.timeout(),
        };
        let result = match events.recv_timeout(limit) {
            Ok(Event::Done(report)) => {
                if report.ring.is_some() {
                    monitor = report.ring.clone();
                }
                StepResult {
                    step: report.step,
                    outcome: Outcome::Ok,
                    elapsed: report.elapsed,
                    detail: report.detail,
                    data: report.data,
                    hint: None,
                    ring: None,
                }
            }
            Ok(Event::Failed(error)) => {
                stopped = true;
                StepResult {
                    step: error.step.unwrap_or(step),
                    outcome: Outcome::Failed,
                    elapsed: started.elapsed(),
                    detail: format!("{}: {}", error.what, error.detail),
                    data: serde_json::Value::Null,
                    hint: error.hint,
                    ring: error.ring.map(|state| state.to_string()),
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                stopped = true;
                StepResult {
                    step,
                    outcome: Outcome::TimedOut,
                    elapsed: started.elapsed(),
                    detail: format!("{} did not finish within {limit:?}", step.describe()),
                    data: serde_json::Value::Null,
                    hint: Some(step.hint(kind).to_string()),
                    ring: monitor
                        .as_ref()
                        .and_then(|m| m.state().ok())
                        .map(|state| state.to_string()),
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                stopped = true;
                StepResult {
                    step,
                    outcome: Outcome::Failed,
                    elapsed: started.elapsed(),
                    detail: "the bring-up thread ended without a result".into(),
                    data: serde_json::Value::Null,
                    hint: None,
                    ring: None,
                }
            }
        };
        if !args.json {
            print_line(&result);
        }
        results.push(result);
    }
    finish(&args, Some(kind), results)
}

/// Prints a line; a reader that went away (`venus-probe | head`) is not an error of the probe.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

fn print_line(result: &StepResult) {
    let elapsed = format!("{:.1?}", result.elapsed);
    out!(
        "[{:>7}] {:<13} {:>9}  {}",
        result.outcome.label(),
        result.step.name(),
        elapsed,
        result.detail
    );
    if let Some(ring) = &result.ring {
        out!("          last ring state: {ring}");
    }
    if let Some(hint) = &result.hint {
        out!("          hint: {hint}");
    }
}

fn finish(args: &Args, kind: Option<TransportKind>, results: Vec<StepResult>) -> ExitCode {
    let passed =
        results.len() == Step::ALL.len() && results.iter().all(|r| r.outcome == Outcome::Ok);
    let transport = kind.map_or("no transport", TransportKind::name);
    if args.json {
        let steps: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "step": r.step.name(),
                    "description": r.step.describe(),
                    "result": r.outcome.label().to_ascii_lowercase(),
                    "elapsed_us": r.elapsed.as_micros() as u64,
                    "detail": r.detail,
                    "data": r.data,
                    "hint": r.hint,
                    "ring": r.ring,
                })
            })
            .collect();
        let document = serde_json::json!({
            "transport": transport,
            "passed": passed,
            "steps": steps,
        });
        out!("{document:#}");
    } else {
        if kind.is_none() {
            for result in &results {
                print_line(result);
            }
        }
        match results.iter().find(|r| r.outcome != Outcome::Ok) {
            None => out!(
                "venus-probe: all {} steps passed over {transport}",
                results.len()
            ),
            Some(failed) => out!(
                "venus-probe: step {} ({}) {} over {transport}",
                failed.step.name(),
                failed.step.describe(),
                if failed.outcome == Outcome::TimedOut {
                    "timed out"
                } else {
                    "failed"
                }
            ),
        }
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
