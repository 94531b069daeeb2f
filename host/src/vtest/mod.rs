//! The vtest transport: Mesa's Venus driver talks to a host over a Unix socket instead of a
//! virtio-gpu device (`VN_DEBUG=vtest`).

pub mod processes;
pub mod protocol;
pub mod server;
pub mod syncs;

pub use server::{ServerConfig, VtestServer};
