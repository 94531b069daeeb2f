//! Which commands a driver instance or device may be called with: those of the Vulkan version
//! it runs at and of the extensions it has. A Vulkan loader hands out entry points for every
//! command it knows — calling one the driver lacks jumps to nothing — so the host loads only
//! these (`generated/fns.rs` asks per command type) and every other command of the guest is
//! "not available" (context-FATAL) instead of a host crash.

use std::collections::HashSet;
use std::ffi::CStr;

use ash::vk;
use venus_rs_encoder::protocol::{command_info, PROTOCOL_EXTENSIONS};

/// A Vulkan version and a set of extensions.
pub(crate) struct Availability {
    /// Major and minor of the version (the patch is irrelevant to what exists).
    api: u32,
    /// Extension numbers (vk.xml `number`) of the extensions there.
    extensions: HashSet<u32>,
}

/// The vk.xml number of extension `name`, if the protocol knows it.
fn extension_number(name: &CStr) -> Option<u32> {
    let name = name.to_str().ok()?;
    PROTOCOL_EXTENSIONS
        .iter()
        .find(|(known, _, _)| *known == name)
        .map(|(_, number, _)| *number)
}

impl Availability {
    pub(crate) fn new<'n>(api: u32, extensions: impl IntoIterator<Item = &'n CStr>) -> Self {
        Self {
            api: vk::make_api_version(0, vk::api_version_major(api), vk::api_version_minor(api), 0),
            extensions: extensions
                .into_iter()
                .filter_map(extension_number)
                .collect(),
        }
    }

    /// Whether the command of `command_type` exists here: its core version is at most this
    /// version, or one of the extensions that add it is here.
    pub(crate) fn allows(&self, command_type: u32) -> bool {
        command_info(command_type).is_some_and(|info| {
            let gate = &info.gate;
            (gate.api != 0 && self.api >= gate.api)
                || gate
                    .exts
                    .iter()
                    .any(|number| self.extensions.contains(number))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use venus_rs_encoder::protocol::COMMANDS;

    fn command(name: &str) -> u32 {
        COMMANDS
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.command_type)
            .unwrap_or_else(|| panic!("{name} is a protocol command"))
    }

    #[test]
    fn versions_and_extensions_decide() {
        let v11 = Availability::new(vk::API_VERSION_1_1, []);
        assert!(v11.allows(command("vkGetPhysicalDeviceFeatures2")));
        assert!(
            !v11.allows(command("vkGetPhysicalDeviceToolProperties")),
            "1.3"
        );
        assert!(!v11.allows(command("vkGetPhysicalDeviceMultisamplePropertiesEXT")));
        let with_ext = Availability::new(vk::API_VERSION_1_1, [c"VK_EXT_sample_locations"]);
        assert!(with_ext.allows(command("vkGetPhysicalDeviceMultisamplePropertiesEXT")));
        let v13 = Availability::new(vk::make_api_version(0, 1, 3, 280), [c"VK_NOT_AN_EXTENSION"]);
        assert!(v13.allows(command("vkGetPhysicalDeviceToolProperties")));
        assert!(!v13.allows(u32::MAX));
    }
}
