//! Guest side: encoders that read the application's C structs and write commands, size
//! functions for commands and replies, and reply decoders that fill output parameters.
//!
//! For a command `vkFooBar` the generated functions are:
//! - `vk_foo_bar(w, cx, flags, args…) -> Result<usize, EncodeError>`: writes the command;
//! - `vk_foo_bar_size(cx, args…)`: its size, to reserve ring space;
//! - `vk_foo_bar_reply_size(cx, args…)`: the reply size, to reserve reply space before the call;
//! - `vk_foo_bar_decode_reply(r, cx, args…)`: checks the reply header, writes the outputs
//!   (including `pNext` output chains) and returns the command's result.
//!
//! Arguments are the C values the ICD entry point received: scalars as their Rust
//! equivalents, handles as `u64` raw values, and every pointer as a raw pointer to the C
//! (ash-compatible) struct or array.

pub mod runtime;

/// The VK_MESA_venus_protocol structs in their C layout, for the guest to build.
pub use crate::generated::mesa;

use crate::protocol::HostProtocol;

pub use crate::generated::guest::*;

/// Everything the guest encoders need besides the arguments.
#[derive(Clone, Copy)]
pub struct GuestContext<'p> {
    /// What the host's protocol supports: unsupported commands are refused and unsupported
    /// `pNext` structs dropped.
    pub host: &'p HostProtocol,
    /// Object id of a dispatchable handle (VkInstance, VkPhysicalDevice, VkDevice, VkQueue,
    /// VkCommandBuffer). Those are loader-visible pointers, so the ICD keeps the id in the
    /// object and returns it here. Non-dispatchable handles are sent unchanged: the ICD's
    /// non-dispatchable handle values are the object ids themselves.
    pub dispatchable_id: fn(u64) -> u64,
}

impl GuestContext<'_> {
    #[inline(always)]
    pub fn handle(&self, raw: u64, dispatchable: bool) -> u64 {
        if dispatchable && raw != 0 {
            (self.dispatchable_id)(raw)
        } else {
            raw
        }
    }
}
