//! The Venus capset (capset id 4), decoded from the bytes the kernel or the vtest server hands over.
//!
//! Layout: `struct virgl_renderer_capset_venus` of virglrenderer's `venus_hw.h`, restated in
//! `shared/notes/venus-protocol.md` §2. Hosts of different ages send 16, 20, 148, 152, 156 or 160 bytes;
//! a field beyond what the host sent reads as zero, and bytes beyond the fields known here are ignored.

use std::fmt;

/// The capset id of Venus in both the virtio-gpu uapi and the vtest protocol.
pub const VENUS_CAPSET_ID: u32 = 4;

/// The size of the newest capset layout known here (virglrenderer ≥ 1.1.0).
pub const VENUS_CAPSET_SIZE: usize = 160;

/// The oldest capset (2021) had the four version words only; anything shorter is not a Venus capset.
pub const VENUS_CAPSET_MIN_SIZE: usize = 16;

const EXTENSION_MASK_WORDS: usize = 32;

/// A Vulkan version as packed by `VK_MAKE_API_VERSION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VkVersion(pub u32);

impl VkVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        VkVersion((major << 22) | (minor << 12) | patch)
    }
    pub const fn major(self) -> u32 {
        (self.0 >> 22) & 0x7f
    }
    pub const fn minor(self) -> u32 {
        (self.0 >> 12) & 0x3ff
    }
    pub const fn patch(self) -> u32 {
        self.0 & 0xfff
    }
}

impl fmt::Display for VkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major(), self.minor(), self.patch())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenusCapset {
    pub wire_format_version: u32,
    pub vk_xml_version: VkVersion,
    pub vk_ext_command_serialization_spec_version: u32,
    pub vk_mesa_venus_protocol_spec_version: u32,
    pub supports_blob_id_0: u32,
    /// One bit per Vulkan extension number; bit 0 of word 0 says whether the mask is filled in at all.
    pub vk_extension_mask1: [u32; EXTENSION_MASK_WORDS],
    pub allow_vk_wait_syncs: u32,
    pub supports_multiple_timelines: u32,
    pub use_guest_vram: u32,
    /// How many bytes the transport delivered; fields past them read as zero. vtest reports the host's
    /// size; virtio-gpu cannot tell it, so there it is the size asked for (the kernel copies at most what
    /// the host has into a zeroed buffer).
    pub received_size: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapsetTooShort {
    pub len: usize,
}

impl fmt::Display for CapsetTooShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the Venus capset is {} bytes long; even the oldest layout has {} bytes",
            self.len, VENUS_CAPSET_MIN_SIZE
        )
    }
}

impl std::error::Error for CapsetTooShort {}

impl VenusCapset {
    pub fn decode(bytes: &[u8]) -> Result<VenusCapset, CapsetTooShort> {
        if bytes.len() < VENUS_CAPSET_MIN_SIZE {
            return Err(CapsetTooShort { len: bytes.len() });
        }
        let word = |index: usize| -> u32 {
            let start = index * 4;
            bytes
                .get(start..start + 4)
                .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        };
        let mut vk_extension_mask1 = [0u32; EXTENSION_MASK_WORDS];
        for (i, slot) in vk_extension_mask1.iter_mut().enumerate() {
            *slot = word(5 + i);
        }
        Ok(VenusCapset {
            wire_format_version: word(0),
            vk_xml_version: VkVersion(word(1)),
            vk_ext_command_serialization_spec_version: word(2),
            vk_mesa_venus_protocol_spec_version: word(3),
            supports_blob_id_0: word(4),
            vk_extension_mask1,
            allow_vk_wait_syncs: word(37),
            supports_multiple_timelines: word(38),
            use_guest_vram: word(39),
            received_size: bytes.len(),
        })
    }

    /// Whether the host's protocol can carry Vulkan extension `number` (the `number` attribute in vk.xml).
    /// A host that leaves the validity bit clear makes no claim, which the protocol defines as "all".
    pub fn has_extension(&self, number: u32) -> bool {
        if self.vk_extension_mask1[0] & 1 == 0 {
            return true;
        }
        let (word, bit) = ((number / 32) as usize, number % 32);
        number != 0
            && word < EXTENSION_MASK_WORDS
            && self.vk_extension_mask1[word] & (1 << bit) != 0
    }

    /// The extension numbers the mask names (empty when the mask is not valid, see [`Self::has_extension`]).
    pub fn extension_numbers(&self) -> Vec<u32> {
        if self.vk_extension_mask1[0] & 1 == 0 {
            return Vec::new();
        }
        (1..(EXTENSION_MASK_WORDS as u32 * 32))
            .filter(|&n| self.has_extension(n))
            .collect()
    }

    /// What this capset lacks for a Venus guest, as Mesa checks it: wire format 1, a protocol of at least
    /// Vulkan 1.1, blob id 0 shmem, guest-side waits and one fence timeline per ring.
    pub fn missing_requirements(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if self.wire_format_version != 1 {
            missing.push(format!(
                "wire_format_version is {}, only 1 exists",
                self.wire_format_version
            ));
        }
        if self.vk_xml_version < VkVersion::new(1, 1, 0) {
            missing.push(format!(
                "vk_xml_version {} is older than 1.1",
                self.vk_xml_version
            ));
        }
        for (value, name) in [
            (self.supports_blob_id_0, "supports_blob_id_0"),
            (self.allow_vk_wait_syncs, "allow_vk_wait_syncs"),
            (
                self.supports_multiple_timelines,
                "supports_multiple_timelines",
            ),
        ] {
            if value == 0 {
                missing.push(format!("{name} is 0"));
            }
        }
        missing
    }
}

impl fmt::Display for VenusCapset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extensions = if self.vk_extension_mask1[0] & 1 == 0 {
            "not given (all allowed)".to_string()
        } else {
            format!("{} set", self.extension_numbers().len())
        };
        write!(
            f,
            "wire_format_version={} vk_xml_version={} vk_ext_command_serialization_spec_version={} \
             vk_mesa_venus_protocol_spec_version={} supports_blob_id_0={} vk_extension_mask1={} \
             allow_vk_wait_syncs={} supports_multiple_timelines={} use_guest_vram={} received_size={}",
            self.wire_format_version,
            self.vk_xml_version,
            self.vk_ext_command_serialization_spec_version,
            self.vk_mesa_venus_protocol_spec_version,
            self.supports_blob_id_0,
            extensions,
            self.allow_vk_wait_syncs,
            self.supports_multiple_timelines,
            self.use_guest_vram,
            self.received_size
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capset_bytes(len: usize) -> Vec<u8> {
        let mut words = [0u32; VENUS_CAPSET_SIZE / 4];
        words[0] = 1;
        words[1] = VkVersion::new(1, 3, 269).0;
        words[2] = 1;
        words[3] = 2;
        words[4] = 1;
        words[5] = 1 | (1 << 1); // validity bit + extension 1
        words[5 + 12] = 1 << 1; // extension 385 = 12 * 32 + 1
        words[37] = 1;
        words[38] = 1;
        words[39] = 1;
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        bytes[..len].to_vec()
    }

    #[test]
    fn full_capset_decodes_every_field() {
        let capset = VenusCapset::decode(&capset_bytes(160)).unwrap();
        assert_eq!(capset.wire_format_version, 1);
        assert_eq!(capset.vk_xml_version.to_string(), "1.3.269");
        assert_eq!(capset.vk_ext_command_serialization_spec_version, 1);
        assert_eq!(capset.vk_mesa_venus_protocol_spec_version, 2);
        assert_eq!(capset.supports_blob_id_0, 1);
        assert_eq!(capset.allow_vk_wait_syncs, 1);
        assert_eq!(capset.supports_multiple_timelines, 1);
        assert_eq!(capset.use_guest_vram, 1);
        assert_eq!(capset.received_size, 160);
        assert_eq!(capset.extension_numbers(), vec![1, 385]);
        assert!(capset.missing_requirements().is_empty());
    }

    #[test]
    fn every_historical_size_reads_a_missing_tail_as_zero() {
        for len in [16, 20, 148, 152, 156] {
            let capset = VenusCapset::decode(&capset_bytes(len)).unwrap();
            assert_eq!(capset.wire_format_version, 1, "len {len}");
            assert_eq!(capset.received_size, len);
            assert_eq!(capset.use_guest_vram, 0, "len {len}");
            assert_eq!(capset.supports_multiple_timelines != 0, len >= 156);
            assert_eq!(capset.allow_vk_wait_syncs != 0, len >= 152);
            assert_eq!(capset.vk_extension_mask1[0] != 0, len >= 148);
            assert_eq!(capset.supports_blob_id_0 != 0, len >= 20);
        }
    }

    #[test]
    fn a_longer_capset_keeps_the_known_fields() {
        let mut bytes = capset_bytes(160);
        bytes.extend_from_slice(&[0xff; 24]);
        let capset = VenusCapset::decode(&bytes).unwrap();
        assert_eq!(capset.use_guest_vram, 1);
        assert_eq!(capset.received_size, 184);
    }

    #[test]
    fn a_capset_shorter_than_the_oldest_layout_is_refused() {
        let err = VenusCapset::decode(&capset_bytes(12)).unwrap_err();
        assert_eq!(err.len, 12);
        assert!(err.to_string().contains("12 bytes"));
    }

    #[test]
    fn without_the_validity_bit_every_extension_is_allowed() {
        let capset = VenusCapset::decode(&capset_bytes(20)).unwrap();
        assert!(capset.has_extension(385));
        assert!(capset.extension_numbers().is_empty());
        let full = VenusCapset::decode(&capset_bytes(160)).unwrap();
        assert!(full.has_extension(385));
        assert!(!full.has_extension(2));
        assert!(!full.has_extension(5000));
    }

    #[test]
    fn an_old_host_is_reported_with_what_it_lacks() {
        let capset = VenusCapset::decode(&capset_bytes(20)).unwrap();
        let missing = capset.missing_requirements();
        assert_eq!(
            missing,
            vec![
                "allow_vk_wait_syncs is 0".to_string(),
                "supports_multiple_timelines is 0".to_string()
            ]
        );
    }

    #[test]
    fn vk_version_packs_like_vk_make_api_version() {
        assert_eq!(VkVersion::new(1, 3, 269).0, 0x0040_310d);
        assert_eq!(VkVersion(0x0040_4157).to_string(), "1.4.343");
    }
}
