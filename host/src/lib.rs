//! The host half of venus-rs: everything around the Venus command decoder.
//!
//! - [`shm_file`]: the memfds and shm files behind SHM resources; all guest-writable memory in
//!   them is read through `venus_rs_shmem::SharedMemory`, the bounds-checked volatile accessor.
//! - [`ring`], [`context`]: rings with one thread each, the context path, seqno
//!   synchronisation and the FATAL state of a guest context.
//! - [`timelines`]: the 64 fence timelines of a context.
//! - [`reply_stream`]: where each dispatch path writes its replies.
//! - [`limits`]: the per-context caps (`VENUS_RS_MAX_*`).
//! - [`executor`]: the narrow interface the generated decoder will implement.
//! - [`vtest`] and [`render_server`]: the two ways a guest reaches the host.
//! - [`recording`]: `VENUS_RS_RECORD` stream recordings, which `venus-rs-trace` prints.
//! - [`simulate_hvf`]: `--simulate-hvf`, blobs handed out as a macOS/HVF VMM would map them.
//! - [`vulkan`]: the Venus command executor, which runs guest streams on the host driver.
//! - [`sandbox`]: the seccomp filter of a process serving one context.

pub mod capset;
pub mod context;
pub mod executor;
pub mod fd_passing;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod limits;
pub mod log;
pub mod recording;
pub mod render_server;
pub mod reply_stream;
pub mod resources;
pub mod ring;
pub mod sandbox;
pub mod self_exec;
pub mod shm_file;
pub mod simulate_hvf;
pub mod teardown;
pub mod timelines;
pub mod vtest;
pub mod vulkan;
