//! Protocol negotiation data: which commands and extension structs exist, the core version or
//! extension that introduces each, and the host's capabilities read from the Venus capset.

pub use crate::generated::tables::{
    command_type, COMMANDS, COMMAND_TABLE_ENTRIES, COMMAND_TABLE_SIZE, EXTENSION_STRUCTS, LEFT_OUT,
    PROTOCOL_EXTENSIONS, VK_XML_PATH, VK_XML_VERSION,
};

/// `VK_COMMAND_GENERATE_REPLY_BIT_EXT`: the host writes a reply.
pub const GENERATE_REPLY: u32 = 0x1;

/// What introduces a command or an extension struct: a core version, protocol extensions
/// (any of them suffices), or a VK_MESA_venus_protocol spec version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    /// VK_MAKE_API_VERSION of the core version that contains it; 0 if only extensions do.
    pub api: u32,
    /// Extension numbers (vk.xml `number`) that add it.
    pub exts: &'static [u32],
    /// Non-zero for VK_MESA_venus_protocol additions: the spec version that added it.
    pub venus_spec: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct CommandInfo {
    pub command_type: u32,
    pub name: &'static str,
    pub gate: Gate,
}

/// Name of a command type.
pub fn command_name(command_type: u32) -> Option<&'static str> {
    command_info(command_type).map(|c| c.name).or_else(|| {
        LEFT_OUT
            .iter()
            .find(|(t, _, _)| *t == command_type)
            .map(|(_, n, _)| *n)
    })
}

pub fn command_info(command_type: u32) -> Option<&'static CommandInfo> {
    COMMANDS
        .binary_search_by_key(&command_type, |c| c.command_type)
        .ok()
        .map(|i| &COMMANDS[i])
}

/// What the host's protocol covers, from the Venus capset (notes §2, §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostProtocol {
    /// The capset's vk_xml_version, capped at [`VK_XML_VERSION`].
    pub vk_xml_version: u32,
    /// The capset's vk_mesa_venus_protocol_spec_version.
    pub venus_spec_version: u32,
    /// One bit per extension number (word N/32, bit N%32).
    pub extension_mask: [u32; 32],
}

impl HostProtocol {
    /// Builds the negotiation state from the capset fields. A mask whose validity bit (bit 0)
    /// is clear means "every extension", as the notes (§2) require.
    pub fn from_capset(vk_xml_version: u32, venus_spec_version: u32, mask: [u32; 32]) -> Self {
        let extension_mask = if mask[0] & 1 == 0 {
            [u32::MAX; 32]
        } else {
            mask
        };
        HostProtocol {
            vk_xml_version: vk_xml_version.min(VK_XML_VERSION),
            venus_spec_version,
            extension_mask,
        }
    }

    /// A host that supports everything this crate knows (tests, tools).
    pub fn everything() -> Self {
        HostProtocol {
            vk_xml_version: VK_XML_VERSION,
            venus_spec_version: u32::MAX,
            extension_mask: [u32::MAX; 32],
        }
    }

    pub fn has_extension(&self, number: u32) -> bool {
        let word = (number / 32) as usize;
        word < 32 && self.extension_mask[word] & (1 << (number % 32)) != 0
    }

    /// Whether the host's protocol contains what `gate` describes. Patch versions are
    /// ignored for core versions, as the protocol only tracks major.minor.
    #[inline]
    pub fn allows(&self, gate: &Gate) -> bool {
        if gate.venus_spec != 0 {
            return self.venus_spec_version >= gate.venus_spec;
        }
        let host_core = self.vk_xml_version & !0xfff;
        (gate.api != 0 && host_core >= gate.api) || gate.exts.iter().any(|e| self.has_extension(*e))
    }

    pub fn supports_command(&self, command_type: u32) -> bool {
        command_info(command_type)
            .map(|c| self.allows(&c.gate))
            .unwrap_or(false)
    }
}
