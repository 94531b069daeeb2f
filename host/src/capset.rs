//! The Venus capset (`struct virgl_renderer_capset_venus`, 160 bytes; venus-protocol.md §2).
//!
//! Its protocol fields (vk.xml version, spec versions, extension mask) describe what the
//! decoder can decode, so they are parameters here: the servers advertise the level of the
//! generated decoder ([`crate::vulkan::protocol_level`]).

use std::fmt;

/// `VIRTGPU_DRM_CAPSET_VENUS`.
pub const CAPSET_ID_VENUS: u32 = 4;
/// The only capset version Venus defines.
pub const CAPSET_VERSION: u32 = 0;
/// Size of the capset since virglrenderer 1.1.0 (the `use_guest_vram` field).
pub const CAPSET_SIZE: usize = 160;
/// Extension numbers the 32-word mask can carry (bit 0 is the validity flag).
pub const MAX_EXTENSION_NUMBER: u32 = 32 * 32 - 1;

pub const fn make_api_version(major: u32, minor: u32, patch: u32) -> u32 {
    (major << 22) | (minor << 12) | patch
}

/// What the decoder understands, which the capset tells the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolLevel {
    /// `VK_MAKE_API_VERSION` of the vk.xml the decoder was generated from.
    pub vk_xml_version: u32,
    pub command_serialization_spec_version: u32,
    pub venus_protocol_spec_version: u32,
    /// Vulkan extension numbers whose structs and commands the decoder can decode.
    pub extension_numbers: Vec<u32>,
}

impl ProtocolLevel {
    /// The level of an executor that decodes nothing (transport tests): the lowest vk.xml
    /// version Mesa accepts (1.1), spec versions 1 and a valid but empty extension mask.
    pub fn without_decoder() -> Self {
        Self {
            vk_xml_version: make_api_version(1, 1, 0),
            command_serialization_spec_version: 1,
            venus_protocol_spec_version: 1,
            extension_numbers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapsetError {
    ExtensionNumberOutOfRange { number: u32 },
}

impl fmt::Display for CapsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExtensionNumberOutOfRange { number } => write!(
                f,
                "extension number {number} does not fit the capset mask (1..={MAX_EXTENSION_NUMBER})"
            ),
        }
    }
}

impl std::error::Error for CapsetError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capset {
    pub wire_format_version: u32,
    pub vk_xml_version: u32,
    pub command_serialization_spec_version: u32,
    pub venus_protocol_spec_version: u32,
    pub supports_blob_id_0: bool,
    pub extension_mask: [u32; 32],
    pub allow_vk_wait_syncs: bool,
    pub supports_multiple_timelines: bool,
    pub use_guest_vram: bool,
}

impl Capset {
    /// The capset this host serves for `level`: wire format 1, blob_id 0 shared memory,
    /// blocking waits allowed, 64 timelines, no guest VRAM.
    pub fn new(level: &ProtocolLevel) -> Result<Self, CapsetError> {
        // Bit 0 says "this mask is valid"; without it the guest assumes every extension.
        let mut extension_mask = [0u32; 32];
        extension_mask[0] = 1;
        for &number in &level.extension_numbers {
            if number == 0 || number > MAX_EXTENSION_NUMBER {
                return Err(CapsetError::ExtensionNumberOutOfRange { number });
            }
            extension_mask[(number / 32) as usize] |= 1 << (number % 32);
        }
        Ok(Self {
            wire_format_version: 1,
            vk_xml_version: level.vk_xml_version,
            command_serialization_spec_version: level.command_serialization_spec_version,
            venus_protocol_spec_version: level.venus_protocol_spec_version,
            supports_blob_id_0: true,
            extension_mask,
            allow_vk_wait_syncs: true,
            supports_multiple_timelines: true,
            use_guest_vram: false,
        })
    }

    pub fn to_bytes(&self) -> [u8; CAPSET_SIZE] {
        let mut words = Vec::with_capacity(CAPSET_SIZE / 4);
        words.extend([
            self.wire_format_version,
            self.vk_xml_version,
            self.command_serialization_spec_version,
            self.venus_protocol_spec_version,
            u32::from(self.supports_blob_id_0),
        ]);
        words.extend(self.extension_mask);
        words.extend([
            u32::from(self.allow_vk_wait_syncs),
            u32::from(self.supports_multiple_timelines),
            u32::from(self.use_guest_vram),
        ]);
        let mut bytes = [0u8; CAPSET_SIZE];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(bytes: &[u8], offset: usize) -> u32 {
        u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
    }

    #[test]
    fn layout_matches_virglrenderer_1_1() {
        let level = ProtocolLevel {
            vk_xml_version: make_api_version(1, 3, 269),
            command_serialization_spec_version: 1,
            venus_protocol_spec_version: 2,
            extension_numbers: vec![1, 31, 32, 384, 385, 1023],
        };
        let bytes = Capset::new(&level).unwrap().to_bytes();
        assert_eq!(bytes.len(), 160);
        assert_eq!(word(&bytes, 0), 1, "wire format");
        assert_eq!(word(&bytes, 4), 0x0040_310d, "vk.xml 1.3.269");
        assert_eq!(word(&bytes, 8), 1);
        assert_eq!(word(&bytes, 12), 2);
        assert_eq!(word(&bytes, 16), 1, "supports_blob_id_0");
        assert_eq!(
            word(&bytes, 20),
            0x8000_0003,
            "validity bit, ext 1 and ext 31"
        );
        assert_eq!(word(&bytes, 24), 0x1, "ext 32");
        assert_eq!(word(&bytes, 20 + 12 * 4), 0x3, "ext 384 and 385");
        assert_eq!(word(&bytes, 20 + 31 * 4), 0x8000_0000, "ext 1023");
        assert_eq!(word(&bytes, 148), 1, "allow_vk_wait_syncs");
        assert_eq!(word(&bytes, 152), 1, "supports_multiple_timelines");
        assert_eq!(word(&bytes, 156), 0, "use_guest_vram");
    }

    #[test]
    fn level_without_decoder_has_a_valid_empty_mask() {
        let bytes = Capset::new(&ProtocolLevel::without_decoder())
            .unwrap()
            .to_bytes();
        assert_eq!(word(&bytes, 4), make_api_version(1, 1, 0));
        assert_eq!(word(&bytes, 20), 1);
        assert!((1..32).all(|i| word(&bytes, 20 + i * 4) == 0));
    }

    #[test]
    fn extension_numbers_outside_the_mask_are_refused() {
        for number in [0, 1024] {
            let level = ProtocolLevel {
                extension_numbers: vec![number],
                ..ProtocolLevel::without_decoder()
            };
            assert_eq!(
                Capset::new(&level),
                Err(CapsetError::ExtensionNumberOutOfRange { number })
            );
        }
    }
}
