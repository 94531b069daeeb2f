//! The WSI module of our ICD, natively on the driver the loader finds (lavapipe in the reference
//! chroot): real windows on Xvfb and headless weston, frames of known content presented through the
//! module, read back by another client and compared pixel for pixel; present modes and their rates; a
//! resize in the middle of a run. Run inside the reference chroot (see `tests/tests/wsi_native.rs`);
//! with `VK_INSTANCE_LAYERS=VK_LAYER_KHRONOS_validation` any validation message fails the run.
//!
//! usage: wsi-check [--frames N] (frames per rate measurement, default 300)
//! Prints one line per check and `wsi-check: N passed, N failed`; exits 0 when all passed.

mod headless_checks;
mod maintenance1_check;
mod renderer;
mod servers;
mod vulkan;
mod wayland_checks;
mod wayland_window;
mod x11_checks;
mod x11_resize_check;
mod x11_variant_checks;
mod x11_window;
mod xlib_window;

use std::sync::atomic::Ordering;

/// Named checks and their outcomes.
#[derive(Default)]
pub struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    pub fn check(&mut self, name: &str, check: impl FnOnce() -> Result<String, String>) {
        let before = vulkan::VALIDATION_MESSAGES.load(Ordering::Relaxed);
        let outcome = check();
        let messages = vulkan::VALIDATION_MESSAGES.load(Ordering::Relaxed) - before;
        match outcome {
            Ok(detail) if messages == 0 => {
                self.passed += 1;
                println!("wsi-check: ok   {name}: {detail}");
            }
            Ok(detail) => {
                self.failed += 1;
                println!("wsi-check: FAIL {name}: {messages} validation messages ({detail})");
            }
            Err(reason) => {
                self.failed += 1;
                println!("wsi-check: FAIL {name}: {reason}");
            }
        }
    }
}

fn main() {
    let mut frames = 300;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (
            arg.as_str(),
            args.next().and_then(|value| value.parse().ok()),
        ) {
            ("--frames", Some(value)) if value > 0 => frames = value,
            _ => {
                eprintln!("usage: wsi-check [--frames N]");
                std::process::exit(2);
            }
        }
    }
    let mut report = Report::default();
    if let Err(message) = run(&mut report, frames) {
        println!("wsi-check: FAIL setup: {message}");
        report.failed += 1;
    }
    println!(
        "wsi-check: {} passed, {} failed",
        report.passed, report.failed
    );
    std::process::exit(if report.failed == 0 { 0 } else { 1 });
}

fn run(report: &mut Report, frames: u32) -> Result<(), String> {
    let gpu = vulkan::Gpu::new()?;
    println!(
        "wsi-check: device {}, validation layer {}",
        gpu.device_name,
        if gpu.validation_enabled() {
            "on"
        } else {
            "off"
        }
    );
    {
        let (_xvfb, display) = servers::start_xvfb()?;
        std::env::set_var("DISPLAY", &display);
        x11_checks::run(&gpu, report, frames)?;
    }
    {
        let (_weston, runtime, socket) = servers::start_weston()?;
        std::env::set_var("XDG_RUNTIME_DIR", &runtime);
        std::env::set_var("WAYLAND_DISPLAY", &socket);
        wayland_checks::run(&gpu, report, frames)?;
        let _ = std::fs::remove_dir_all(&runtime);
    }
    headless_checks::run(&gpu, report, frames);
    drop(gpu);
    // Messages outside any check (instance and device set-up and teardown) fail the run too.
    let total = vulkan::VALIDATION_MESSAGES.load(Ordering::Relaxed);
    report.check("no validation message in the whole run", || {
        if total == 0 {
            Ok("none".to_string())
        } else {
            Err(format!("{total} validation messages (printed above)"))
        }
    });
    Ok(())
}
