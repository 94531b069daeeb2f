//! The guest half of venus-rs: the Venus ring and bring-up ([`session`]) shared by `venus-probe` and the
//! Vulkan ICD (`libvulkan_venus_rs.so`, [`driver`]).

pub mod alignment_report;
pub mod driver;
pub mod liveness;
pub mod log;
pub mod ring;
pub mod ring_sharing;
pub mod session;
