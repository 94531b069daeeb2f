//! Hostile guests against our vtest server on lavapipe (issue 14): every test runs its hostile
//! sequence while Mesa's Venus driver runs a compute loop against the same server, and
//! asserts that the hostile context is FATAL or gets a Vulkan error, that the bystander's
//! work completes and that the server still serves new clients.
//!
//! They need the reference chroot (`cargo xtask setup`), so they are `#[ignore]`d here and run
//! by `cargo xtask test` (`cargo test -p venus-rs-host -- --ignored`).

mod harness;

mod caps;
mod command_buffers;
mod descriptors;
mod fuzz_findings;
mod guest_choices;
mod ids;
mod isolation;
mod leaks;
mod lifetimes;
mod queues;
mod resource_import;
mod seccomp;
mod sizes;
mod waits;
