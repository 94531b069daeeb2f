//! The workloads of `cargo xtask bench`: each measures one thing a Vulkan driver does, the same way natively on
//! lavapipe and through every pairing, and prints machine-readable lines on stdout:
//!
//! ```text
//! bench-figure METRIC VALUE          one measured figure (units: see `cargo xtask bench`'s metric table)
//! bench-unavailable METRIC REASON    the driver cannot run this part, and why (no swapchain, no X server...)
//! ```
//!
//! A failure prints `bench-workload: FAILED: <reason>` on stderr and exits 1, like the other test programs.
//!
//! usage: bench-workload WORKLOAD [--quick]
//! WORKLOAD: round-trip, feedback-wait, streaming, large-dispatch, mapped-memory, churn, vulkaninfo,
//! first-submit, vkmark, vkcube. `--quick` uses the smallest sizes (CI's smoke run).

#![warn(clippy::undocumented_unsafe_blocks)]

mod churn;
mod compute;
mod figures;
mod graphics;
mod large_dispatch;
mod mapped_memory;
mod presentation;
mod round_trip;
mod startup;
mod streaming;
mod xvfb;

use venus_rs_tests::vk_util::{finish, usage_error, Args};

const NAME: &str = "bench-workload";
const USAGE: &str = "bench-workload WORKLOAD [--quick]
  WORKLOAD: round-trip | feedback-wait | streaming | large-dispatch | mapped-memory | churn | vulkaninfo |
            first-submit | vkmark | vkcube";

/// How much work a run does: the full sizes, or the smallest ones that still exercise every path.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub quick: bool,
}

impl Size {
    /// `full` normally, `quick` with `--quick`.
    pub fn pick<T>(self, full: T, quick: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

fn main() {
    let mut args = Args::from_env();
    let Some(workload) = args.next_option() else {
        usage_error(NAME, USAGE, "no workload named");
    };
    let mut size = Size { quick: false };
    while let Some(option) = args.next_option() {
        match option.as_str() {
            "--quick" => size.quick = true,
            other => usage_error(NAME, USAGE, &format!("unknown argument {other:?}")),
        }
    }
    let outcome = match workload.as_str() {
        "round-trip" => round_trip::round_trip(size),
        "feedback-wait" => round_trip::feedback_wait(size),
        "streaming" => streaming::run(size),
        "large-dispatch" => large_dispatch::run(size),
        "mapped-memory" => mapped_memory::run(size),
        "churn" => churn::run(size),
        "vulkaninfo" => startup::vulkaninfo(size),
        "first-submit" => startup::first_submit(size),
        startup::FIRST_SUBMIT_CHILD => startup::first_submit_child(),
        "vkmark" => graphics::vkmark(size),
        "vkcube" => graphics::vkcube(size),
        other => usage_error(NAME, USAGE, &format!("unknown workload {other:?}")),
    };
    finish(NAME, outcome.map(|()| workload));
}
