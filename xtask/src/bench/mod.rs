//! `cargo xtask bench`: the benchmark workloads (`bench-workload`, a test program of tests/) natively on
//! lavapipe and through each pairing, round by round, with a table, the issue's targets, a CSV and a chart.
//!
//! Each round runs every column once, in an order that rotates from round to round, so that whatever else the
//! machine does hits every column alike; a column runs all its workloads in one run (one vtest server, one
//! guest boot). A workload that the driver cannot run, or that fails, hangs or times out, is reported with its
//! reason in its cell and is not run again in later rounds.

mod chart;
mod csv;
mod machine;
mod metrics;
mod options;
mod results;
mod runner;
mod script;
mod table;
mod targets;

use crate::env::Home;
use crate::ours::workspace_dir;
use metrics::{Workload, METRICS, WORKLOADS};
use options::BenchOptions;
pub use options::USAGE;
use results::Results;
use std::time::Instant;

pub fn run(home: &Home, args: &[String]) -> Result<i32, String> {
    let options = BenchOptions::parse(args, workspace_dir().join("target/bench"))?;
    home.require_reference()?;
    let columns = options.columns();
    let metrics: Vec<&'static str> = METRICS.iter().map(|metric| metric.id).collect();
    let mut results = Results::new(columns.clone(), metrics, options.rounds);
    let machine = machine::describe();
    let load_before = machine::load_average();
    let started = Instant::now();
    eprintln!(
        "[bench] {} column(s) x {} round(s){}; {machine}; load {load_before}",
        columns.len(),
        options.rounds,
        if options.quick { ", quick sizes" } else { "" }
    );
    for round in 1..=options.rounds {
        for offset in 0..columns.len() {
            let column = columns[(offset + round as usize - 1) % columns.len()];
            let pending: Vec<&'static Workload> = WORKLOADS
                .iter()
                .filter(|workload| {
                    workload.metrics.iter().any(|metric| {
                        results
                            .cell(column, metric)
                            .is_some_and(|cell| cell.worth_retrying())
                    })
                })
                .collect();
            if pending.is_empty() {
                continue;
            }
            eprintln!(
                "[bench] round {round}/{}: {} ({} workload(s)) at {:.0} s",
                options.rounds,
                column.name(),
                pending.len(),
                started.elapsed().as_secs_f64()
            );
            for (metric, outcome) in runner::run_column(column, &pending, options.quick) {
                results.record(round, column, metric, outcome);
            }
        }
    }
    let load_after = machine::load_average();
    let summary = format!(
        "{machine}; load average {load_before} before, {load_after} after; {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let judged = targets::judge(&results);
    let table_text = table::text(&results);
    let targets_text: Vec<String> = judged.iter().map(|j| j.line()).collect();
    println!("{summary}\n\n{table_text}");
    if !targets_text.is_empty() {
        println!("targets (ours/ours):\n{}", targets_text.join("\n"));
    }
    write_outputs(&options, &results, &summary, &targets_text)?;
    let incomplete = results.incomplete_cells();
    if !incomplete.is_empty() {
        return Err(format!(
            "{} cell(s) have neither a figure nor a reason:\n  {}",
            incomplete.len(),
            incomplete.join("\n  ")
        ));
    }
    Ok(0)
}

fn write_outputs(
    options: &BenchOptions,
    results: &Results,
    summary: &str,
    targets: &[String],
) -> Result<(), String> {
    let dir = &options.out;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write("bench.csv", csv::csv(results))?;
    let mut markdown = format!("Measured {summary}.\n\n{}", table::markdown(results));
    if !targets.is_empty() {
        markdown.push_str(&format!(
            "\nTargets (ours/ours):\n\n```\n{}\n```\n",
            targets.join("\n")
        ));
    }
    write("bench.md", markdown)?;
    chart::write_svg(
        results,
        &dir.join("bench.svg"),
        &format!("venus-rs benchmark — {summary}"),
    )?;
    eprintln!(
        "[bench] wrote {}/bench.csv, bench.md and bench.svg",
        dir.display()
    );
    Ok(())
}
