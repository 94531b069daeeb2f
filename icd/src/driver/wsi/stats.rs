//! The frame counter of a swapchain: how many frames went out, along which path, how fast; written at
//! `VENUS_RS_LOG=info` when the swapchain starts, every few seconds while it runs, and when it ends.

use super::window::PresentPath;
use crate::log::Level;
use crate::venus_log;
use std::time::{Duration, Instant};

const REPORT_EVERY: Duration = Duration::from_secs(5);

pub struct FrameStats {
    /// What the log calls this swapchain ("500x500 B8G8R8A8_SRGB FIFO").
    label: String,
    path: PresentPath,
    frames: u64,
    started: Instant,
    last_report: Instant,
    frames_at_last_report: u64,
}

impl FrameStats {
    pub fn new(label: String, path: PresentPath) -> FrameStats {
        venus_log!(
            Level::Info,
            "wsi: swapchain {label}: present path {}",
            path.name()
        );
        let now = Instant::now();
        FrameStats {
            label,
            path,
            frames: 0,
            started: now,
            last_report: now,
            frames_at_last_report: 0,
        }
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn count_frame(&mut self) {
        self.frames += 1;
        let now = Instant::now();
        let since = now - self.last_report;
        if since >= REPORT_EVERY {
            let rate = (self.frames - self.frames_at_last_report) as f64 / since.as_secs_f64();
            venus_log!(
                Level::Info,
                "wsi: swapchain {} via {}: frame {} ({rate:.1} fps)",
                self.label,
                self.path.name(),
                self.frames
            );
            self.last_report = now;
            self.frames_at_last_report = self.frames;
        }
    }
}

impl Drop for FrameStats {
    fn drop(&mut self) {
        let seconds = self.started.elapsed().as_secs_f64();
        venus_log!(
            Level::Info,
            "wsi: swapchain {} via {}: {} frames in {seconds:.1} s ({:.1} fps)",
            self.label,
            self.path.name(),
            self.frames,
            self.frames as f64 / seconds.max(1e-9)
        );
    }
}
