//! What the plain-Vulkan test programs of `src/bin` share: instance and device creation with optional features,
//! objects destroyed on every path, host-visible buffers and images, one-shot submissions with bounded waits,
//! pipelines, and the programs' output conventions (`NAME: OK ...` / `NAME: FAILED: ...`, digests, PNG files).
//!
//! Every wait is bounded by [`WAIT_TIMEOUT`], so a driver that hangs makes a program fail with the name of the
//! wait instead of hanging the pairing that runs it; a watchdog turns any other call that never returns into a
//! failure naming the last call that did.

mod commands;
mod device;
mod extensions;
mod gpu;
mod iterate;
mod memory;
mod output;
mod owned;
mod pipeline;
mod required;
mod submit;
mod watchdog;

pub use commands::{image_barrier, memory_barrier};
pub use device::{Features, QueueKind, Wishes};
pub use extensions::{DynamicRendering, Synchronization2};
pub use gpu::Gpu;
pub use iterate::{
    iterate_expected, iterate_start, Iterate, SPIRV as ITERATE_SPIRV, WORKGROUP_SIZE,
};
pub use memory::{Buffer, Image, ImageDesc, Plain};
pub use output::{finish, sha256_hex, usage_error, write_png, Args};
pub use pipeline::{GraphicsPipelineDesc, PipelineTarget};
pub use required::{BASE_COMMANDS, COMPUTE_COMMANDS, GRAPHICS_COMMANDS};

use ash::vk;
use std::time::Duration;

/// The longest any single wait (fence, semaphore, event poll) may take before the program fails.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(20);

/// [`WAIT_TIMEOUT`] in the nanoseconds Vulkan's waits take.
pub fn wait_timeout_ns() -> u64 {
    WAIT_TIMEOUT.as_nanos() as u64
}

/// Names the failed call: `vkCreateBuffer (vertices): ERROR_OUT_OF_DEVICE_MEMORY`. Every call through here
/// also counts as progress for the watchdog that [`Gpu::new`] starts.
pub fn check<T>(what: &str, result: Result<T, vk::Result>) -> Result<T, String> {
    watchdog::progress(what);
    result.map_err(|e| format!("{what}: {e:?}"))
}

/// SPIR-V bytes (as `include_bytes!` gives them) as the words Vulkan takes.
pub fn spirv_words(bytes: &[u8]) -> Result<Vec<u32>, String> {
    ash::util::read_spv(&mut std::io::Cursor::new(bytes))
        .map_err(|e| format!("embedded SPIR-V is malformed: {e}"))
}

/// A Vulkan version as `1.2`.
pub fn version_text(version: u32) -> String {
    format!(
        "{}.{}",
        vk::api_version_major(version),
        vk::api_version_minor(version)
    )
}
