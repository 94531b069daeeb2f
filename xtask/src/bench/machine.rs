//! What the figures were measured on: date, CPU, cores, kernel and the load average before and after — on a
//! shared machine the load says how much to trust them.

use std::process::Command;

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into())
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_default()
}

/// One line: `2026-12-04 16:40 UTC, Intel Xeon ..., 2 cores, Linux 6.1.0, load 3.1 2.9 2.5`.
pub fn describe() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{}, {}, {cores} cores, Linux {}",
        command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cpu_model(),
        command_line("uname", &["-r"]),
    )
}
