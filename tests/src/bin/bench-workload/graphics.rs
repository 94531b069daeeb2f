//! Graphics through a swapchain: vkmark's score (headless window system) and vkcube's frame rate (X11 under a
//! private Xvfb, present mode IMMEDIATE so that nothing waits for a vertical blank). A driver without a
//! swapchain, or a machine without an X server, reports why instead of a figure.

use crate::figures::{figure, unavailable};
use crate::presentation::can_present;
use crate::xvfb::Xvfb;
use crate::Size;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn vkmark(size: Size) -> Result<(), String> {
    if let Err(reason) = can_present(ash::ext::headless_surface::NAME) {
        unavailable("vkmark", &reason);
        return Ok(());
    }
    let duration = size.pick("2", "0.5");
    let mut command = Command::new("vkmark");
    command.args(["--winsys", "headless", "--size", "256x256"]);
    for scene in ["vertex", "shading:shading=phong", "cube", "clear"] {
        command.args(["-b", &format!("{scene}:duration={duration}")]);
    }
    let Some(output) = run_tool(&mut command, "vkmark")? else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let score = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("vkmark Score:"))
        .and_then(|score| score.trim().parse::<f64>().ok());
    match score {
        Some(score) if output.status.success() => figure("vkmark", score),
        _ => {
            return Err(format!(
                "vkmark printed no score ({}): {}",
                output.status,
                tail(&output)
            ))
        }
    }
    Ok(())
}

pub fn vkcube(size: Size) -> Result<(), String> {
    if let Err(reason) = can_present(ash::khr::xcb_surface::NAME) {
        unavailable("vkcube", &reason);
        return Ok(());
    }
    let Some(xvfb) = Xvfb::start()? else {
        unavailable(
            "vkcube",
            "no X server here (Xvfb is not installed) to present to",
        );
        return Ok(());
    };
    // Two runs that differ only in their frame count: the difference in time is the time of the extra frames,
    // without vkcube's start-up and teardown.
    let (short, long) = size.pick((50u32, 1050u32), (10, 110));
    let Some(short_time) = timed_vkcube(&xvfb, short)? else {
        return Ok(());
    };
    let Some(long_time) = timed_vkcube(&xvfb, long)? else {
        return Ok(());
    };
    let extra = long_time.saturating_sub(short_time).as_secs_f64();
    let fps = if extra > 0.0 {
        f64::from(long - short) / extra
    } else {
        f64::from(long) / long_time.as_secs_f64()
    };
    figure("vkcube", fps);
    Ok(())
}

fn timed_vkcube(xvfb: &Xvfb, frames: u32) -> Result<Option<Duration>, String> {
    let mut command = Command::new("vkcube");
    command
        .env("DISPLAY", &xvfb.display)
        // On this X server even where a compositor runs too (vkcube 1.4.341 picks Wayland by itself).
        // 0 is VK_PRESENT_MODE_IMMEDIATE_KHR.
        .args([
            "--wsi",
            "xcb",
            "--present_mode",
            "0",
            "--c",
            &frames.to_string(),
        ]);
    let started = Instant::now();
    let Some(output) = run_tool(&mut command, "vkcube")? else {
        return Ok(None);
    };
    let elapsed = started.elapsed();
    if !output.status.success() {
        return Err(format!(
            "vkcube failed ({}): {}",
            output.status,
            tail(&output)
        ));
    }
    Ok(Some(elapsed))
}

/// Runs a tool to completion; `None` (reported) when it is not installed.
fn run_tool(command: &mut Command, name: &str) -> Result<Option<Output>, String> {
    match command.stdin(Stdio::null()).output() {
        Ok(output) => Ok(Some(output)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            unavailable(name, &format!("{name} is not installed here"));
            Ok(None)
        }
        Err(e) => Err(format!("cannot run {name}: {e}")),
    }
}

/// The last non-empty lines a tool printed, for a failure message.
fn tail(output: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}
