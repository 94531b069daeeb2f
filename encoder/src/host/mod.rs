//! Host side: decoders from untrusted bytes into typed arguments, and reply encoders.
//!
//! [`decode_command`] reads one command (header and arguments) into a [`Command`]; output
//! parameters arrive as the partial image the guest sent (sTypes, chains, counts). The host
//! fills them, sets `ret`, and calls [`Command::encode_reply`] when the command's flags have
//! [`GENERATE_REPLY`](crate::protocol::GENERATE_REPLY).

pub mod chain;

pub use crate::generated::host::*;
pub use crate::generated::types;

use crate::wire::{DecodeError, DecodeErrorKind, Decoder};

/// Header of a command: its type and `VkCommandFlagsEXT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandHeader {
    pub command_type: u32,
    pub flags: u32,
}

/// Decodes the next command of a stream. Unknown or left-out command types are errors (the
/// stream has no lengths, so nothing after them can be found).
pub fn decode_command<'a>(
    d: &mut Decoder<'a>,
) -> Result<(CommandHeader, Command<'a>), DecodeError> {
    d.set_command(None);
    let command_type = d.u32("command type")?;
    if crate::protocol::command_info(command_type).is_none() {
        return Err(d.error(
            "command type",
            DecodeErrorKind::UnknownCommand(command_type),
        ));
    }
    d.set_command(Some(command_type));
    let flags = d.u32("command flags")?;
    let command = Command::decode_body(d, command_type)?;
    Ok((
        CommandHeader {
            command_type,
            flags,
        },
        command,
    ))
}
