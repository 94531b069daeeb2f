//! Start-up: what a fresh process waits before it can use the device. `vulkaninfo` times `vulkaninfo
//! --summary` (loader, instance, every query, teardown); `first-submit` times a fresh process of this program
//! from its spawn until its first dispatch has completed (instance, device, pipeline, submit, wait).

use crate::compute::Compute;
use crate::figures::{figure, median, unavailable};
use crate::Size;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The hidden workload that `first-submit` runs in fresh processes.
pub const FIRST_SUBMIT_CHILD: &str = "first-submit-child";
/// What the child prints once its first submission has completed.
const FIRST_SUBMIT_DONE: &str = "first submission complete";

pub fn vulkaninfo(size: Size) -> Result<(), String> {
    let mut samples = Vec::new();
    for _ in 0..size.pick(5, 2) {
        let started = Instant::now();
        let status = Command::new("vulkaninfo")
            .arg("--summary")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let elapsed = started.elapsed();
        match status {
            Ok(status) if status.success() => samples.push(elapsed.as_secs_f64() * 1e3),
            Ok(status) => return Err(format!("vulkaninfo --summary failed ({status})")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                unavailable("vulkaninfo", "vulkaninfo is not installed here");
                return Ok(());
            }
            Err(e) => return Err(format!("cannot run vulkaninfo: {e}")),
        }
    }
    figure("vulkaninfo", median(&mut samples));
    Ok(())
}

pub fn first_submit(size: Size) -> Result<(), String> {
    let program =
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    let mut samples = Vec::new();
    for _ in 0..size.pick(5, 2) {
        let started = Instant::now();
        let mut child = Command::new(&program)
            .arg(FIRST_SUBMIT_CHILD)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("the child's stdout was not captured")?;
        let mut reached = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading the child's output: {e}"))?;
            // Read on to the end: the child still prints its OK line, into a pipe that must stay open.
            if reached.is_none() && line.contains(FIRST_SUBMIT_DONE) {
                reached = Some(started.elapsed());
            }
        }
        let status = child
            .wait()
            .map_err(|e| format!("waiting for the child: {e}"))?;
        match reached {
            Some(elapsed) if status.success() => samples.push(elapsed.as_secs_f64() * 1e3),
            _ => return Err(format!("the first-submit process failed ({status})")),
        }
    }
    figure("first-submit", median(&mut samples));
    Ok(())
}

/// The fresh process: everything up to the first completed dispatch, then the line the parent waits for.
pub fn first_submit_child() -> Result<(), String> {
    let compute = Compute::new(64)?;
    let command_buffer = compute.one_dispatch()?;
    let fence = compute.gpu.fence(false)?;
    compute.submit(command_buffer, fence)?;
    compute.gpu.wait_fence(fence, "first submission")?;
    println!("{FIRST_SUBMIT_DONE}");
    Ok(())
}
