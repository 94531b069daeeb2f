//! The Venus wire format (VK_EXT_command_serialization + VK_MESA_venus_protocol), generated
//! from the Vulkan registry by `venus-rs-encoder-gen` (`cargo xtask codegen`).
//!
//! # Layout of the crate
//! - [`wire`]: [`wire::Writer`] (byte sink over a caller buffer; also counts sizes) and
//!   [`wire::Decoder`] (bounds-checked reader with a temporary-memory budget), with their
//!   errors. Shared by both sides.
//! - [`guest`]: for every command, an encoder reading the application's C structs, size
//!   functions for the command and its reply, and a reply decoder writing the outputs back.
//! - [`host`]: for every command, a typed argument struct decoded from untrusted bytes
//!   (100 % safe Rust), [`host::decode_command`] returning a [`host::Command`] enum, and reply
//!   encoders. The typed structs live in [`host::types`].
//! - [`convert`]: typed structs to the C structs a Vulkan driver takes and back (the host's
//!   edge to the driver), with guest ids translated to host handles.
//! - [`protocol`]: negotiation data (per command and per extension struct, the core version or
//!   extension that introduces it), the command table, and [`protocol::HostProtocol`] built
//!   from the capset.
//!
//! # Guest side
//! Encoders take the entry point's C arguments: scalars by value, handles as `u64`, pointers
//! as raw pointers to the same C structs ash's `vk` types describe. Walking them is the FFI
//! edge, so the functions are `unsafe`; the contract is the command's Vulkan valid usage:
//! every non-NULL pointer points to what vk.xml says (arrays as long as their count, chains
//! well formed, strings NUL-terminated). Optional pointers may be NULL.
//!
//! Handles become object ids: non-dispatchable handle values are used as the id directly (the
//! ICD makes its handle values the ids), dispatchable handles go through
//! [`guest::GuestContext::dispatchable_id`]. Output handles (`pBuffer`, `pCommandBuffers`…)
//! must hold the handle the ICD created before the call; the id is sent, as the protocol
//! requires the guest to choose ids.
//!
//! `pNext` chains are filtered while encoding: a struct is kept only if it is a valid
//! extension of its parent in the protocol and the host protocol covers its core version or
//! extension ([`protocol::HostProtocol::allows`]). Commands the host does not cover are
//! refused with [`wire::EncodeError::Unsupported`].
//!
//! Encoders write into a [`wire::Writer`] over a caller-supplied buffer and never allocate.
//! A writer that ran out of room reports [`wire::EncodeError::BufferTooSmall`] with the
//! needed size.
//!
//! # Host side
//! Decoding never panics and never trusts a count: every array size is checked against its
//! count member, against the remaining input, and against the decoder's temporary-memory
//! budget ([`wire::Limits`]). Strings must be NUL-terminated within their size. Unknown
//! command types and sTypes that are not valid extensions of their parent are errors, which
//! carry the command and the field ([`wire::DecodeError`]).

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "arbitrary")]
pub mod arbitrary;
pub mod convert;
mod generated;
pub mod guest;
pub mod host;
pub mod protocol;
#[cfg(test)]
mod recorded_streams;
#[cfg(any(test, feature = "arbitrary"))]
mod testing;
pub mod wire;
