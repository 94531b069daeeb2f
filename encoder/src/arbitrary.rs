//! Commands built from fuzzer bytes with the generated value builders (feature `arbitrary`):
//! the structure-aware fuzz targets pick a command type and let the input decide every count,
//! presence, handle, chain and value, so that what reaches the host is well formed on the wire
//! and hostile in meaning.

use crate::host::Command;

/// A source of decisions read from fuzzer bytes.
pub struct Gen(crate::testing::Gen);

impl Gen {
    /// Decisions from `bytes` (all zero once they run out); handles in `1..=handles`.
    pub fn from_bytes(bytes: &[u8], handles: u64) -> Self {
        Gen(crate::testing::Gen::from_bytes(bytes, handles))
    }

    /// A number below `n` (0 once the bytes are used up).
    pub fn choose(&mut self, n: u64) -> u64 {
        self.0.choose(n)
    }

    /// Whether the bytes are used up.
    pub fn exhausted(&self) -> bool {
        self.0.exhausted()
    }
}

/// Arguments for `command_type`, every decision from `g`; None for an unknown type.
pub fn command(command_type: u32, g: &mut Gen) -> Option<Command<'static>> {
    crate::generated::testing::arb_command(command_type, &mut g.0)
}
