//! The query check:
//! - occlusion queries around draws that cover a known number of samples (axis-aligned rectangles on pixel
//!   boundaries): exact counts when the device offers `occlusionQueryPrecise`, non-zero otherwise, zero for a
//!   query around no draw;
//! - timestamps before and after the render pass and after a copy, non-decreasing (skipped with a note when the
//!   queue's `timestampValidBits` is 0);
//! - results read with vkGetQueryPoolResults with and without WAIT, with the AVAILABILITY bit, as 64-bit values,
//!   and with vkCmdCopyQueryPoolResults into a buffer; all must agree;
//! - resets on the host (vkResetQueryPool, Vulkan 1.2 hostQueryReset) and on the device (vkCmdResetQueryPool),
//!   each checked by finding the queries unavailable afterwards.
//!
//! usage: query-check

#![warn(clippy::undocumented_unsafe_blocks)]

use ash::vk;
use bench::Bench;
use std::ffi::CStr;
use venus_rs_tests::vk_util::{
    finish, usage_error, Args, Features, Gpu, Wishes, GRAPHICS_COMMANDS,
};

mod bench;

const NAME: &str = "query-check";
const USAGE: &str = "query-check";
const SIZE: u32 = 64;
const EXTENT: vk::Extent2D = vk::Extent2D {
    width: SIZE,
    height: SIZE,
};
const COLOR_FORMAT: vk::Format = vk::Format::R8G8B8A8_UNORM;
const OCCLUSION_QUERIES: u32 = 3;
const TIMESTAMPS: u32 = 3;

/// Queries, beyond offscreen rendering.
const QUERY_COMMANDS: &[&CStr] = &[
    c"vkCreateQueryPool",
    c"vkDestroyQueryPool",
    c"vkCmdBeginQuery",
    c"vkCmdEndQuery",
    c"vkCmdResetQueryPool",
    c"vkCmdWriteTimestamp",
    c"vkCmdCopyQueryPoolResults",
    c"vkGetQueryPoolResults",
    c"vkCmdFillBuffer",
];

/// Pixel rectangles `[x0, x1) x [y0, y1)`: edges on pixel boundaries never touch a sample centre, so the
/// number of samples each covers is exact on every conformant rasterizer.
const WIDE: [u32; 4] = [8, 40, 8, 24];
const SMALL: [u32; 4] = [0, 10, 50, 60];

fn samples_of(rect: [u32; 4]) -> u64 {
    u64::from((rect[1] - rect[0]) * (rect[3] - rect[2]))
}

/// What each of the three occlusion queries draws, in one round.
struct Round {
    name: &'static str,
    queries: [&'static [[u32; 4]]; 3],
}

const ROUNDS: [Round; 2] = [
    Round {
        name: "first round",
        queries: [&[WIDE], &[], &[SMALL]],
    },
    // Drawing WIDE twice counts its samples twice (no depth test): 1024.
    Round {
        name: "second round",
        queries: [&[WIDE, WIDE], &[SMALL], &[]],
    },
];

fn main() {
    if let Some(option) = Args::from_env().next_option() {
        usage_error(NAME, USAGE, &format!("unknown argument {option:?}"));
    }
    finish(NAME, run());
}

fn run() -> Result<String, String> {
    let wishes = Wishes {
        features: Features {
            host_query_reset: true,
            occlusion_query_precise: true,
            ..Features::default()
        },
        commands: &[GRAPHICS_COMMANDS, QUERY_COMMANDS],
        ..Wishes::default()
    };
    let gpu = Gpu::new(c"query-check", &wishes)?;
    let bench = Bench::new(&gpu)?;
    let mut notes = Vec::new();

    // Fresh pools: reset on the host when the device allows it, else by a command buffer; either way the
    // queries must then read as unavailable.
    if gpu.enabled.host_query_reset {
        bench.host_reset();
        notes.push("host reset (vkResetQueryPool)");
    } else {
        notes.push("no hostQueryReset: every reset by vkCmdResetQueryPool");
        bench.device_reset()?;
    }
    bench.expect_unavailable("fresh pools after the first reset")?;

    let mut counts = Vec::new();
    let mut elapsed_ns = 0.0;
    for (index, round) in ROUNDS.iter().enumerate() {
        if index > 0 {
            // The queries are available from the previous round: a device-side reset must make them not.
            bench.device_reset()?;
            bench.expect_unavailable("after vkCmdResetQueryPool")?;
            notes.push("device reset (vkCmdResetQueryPool)");
        }
        let results = bench.run_round(round)?;
        bench.check_occlusion(round, &results)?;
        counts.push(
            results
                .occlusion
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("/"),
        );
        if let Some(timestamps) = &results.timestamps {
            elapsed_ns = check_timestamps(&gpu, timestamps, round.name)?;
        }
    }
    if gpu.enabled.host_query_reset {
        // Host reset of queries that hold results.
        bench.host_reset();
        bench.expect_unavailable("after vkResetQueryPool of used queries")?;
    }
    let precision = if gpu.enabled.occlusion_query_precise {
        "precise"
    } else {
        "not precise: non-zero checked"
    };
    let timestamps = if bench.timestamp_pool.is_some() {
        format!("timestamps non-decreasing ({elapsed_ns:.0} ns across the last round)")
    } else {
        "timestamps skipped (timestampValidBits is 0)".to_string()
    };
    notes.dedup();
    Ok(format!(
        "occlusion {} ({precision}); {timestamps}; results with and without WAIT, with AVAILABILITY, 64-bit, \
         and by vkCmdCopyQueryPoolResults agree; {} on {}",
        counts.join(" then "),
        notes.join(", "),
        gpu.device_name()
    ))
}

/// Timestamps must not go backwards (within the queue's valid bits); returns the time between the first and
/// the last in nanoseconds.
fn check_timestamps(gpu: &Gpu, timestamps: &[u64], round: &str) -> Result<f64, String> {
    let bits = gpu.queue_family_properties.timestamp_valid_bits;
    let mask = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let ticks: Vec<u64> = timestamps.iter().map(|t| t & mask).collect();
    if ticks.windows(2).any(|pair| pair[1] < pair[0]) {
        return Err(format!("{round}: timestamps go backwards: {ticks:?}"));
    }
    let period = f64::from(gpu.properties.limits.timestamp_period);
    Ok((ticks[ticks.len() - 1] - ticks[0]) as f64 * period)
}
