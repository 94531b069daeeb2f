//! Host profiles: what this host exposes to the guest of the driver it runs on.
//!
//! `native` offers the host driver as far as the protocol and this host's dispatch carry it.
//! `moltenvk` offers only what MoltenVK 1.4 offers on Apple Silicon, whatever the driver (lavapipe
//! on a Linux machine), so that guests meet a Mac's Vulkan without a Mac: see [`moltenvk`]. It is
//! chosen with `VENUS_RS_HOST_PROFILE=moltenvk` (both servers; the render server is started by the
//! VMM and inherits its environment) or `venus-rs-vtest-server --profile moltenvk`.
//!
//! A profile is a layer around the dispatch of every Vulkan command: it may answer a command
//! itself, refuse what it hides, and adjust what the driver answered.

mod moltenvk;
mod moltenvk_facts;

use venus_rs_encoder::host::Command;

use super::generated;
use super::translate::Dispatch;
use crate::executor::ContextFatal;

/// The environment variable that chooses the profile.
pub const PROFILE_VARIABLE: &str = "VENUS_RS_HOST_PROFILE";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HostProfile {
    /// The host driver as the protocol carries it.
    #[default]
    Native,
    /// What MoltenVK 1.4 offers on Apple Silicon.
    MoltenVk,
}

impl HostProfile {
    const NAMES: &[(&str, HostProfile)] = &[
        ("native", HostProfile::Native),
        ("moltenvk", HostProfile::MoltenVk),
    ];

    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, profile)| *profile)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::NAMES.iter().map(|(known, _)| *known).collect();
                format!(
                    "unknown host profile {name:?}; the profiles are {}",
                    known.join(", ")
                )
            })
    }

    /// The profile `VENUS_RS_HOST_PROFILE` names; native when it is unset or empty.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(PROFILE_VARIABLE) {
            Ok(name) if !name.is_empty() => {
                Self::from_name(&name).map_err(|e| format!("{PROFILE_VARIABLE}: {e}"))
            }
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Self::Native),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(format!("{PROFILE_VARIABLE} is not valid UTF-8"))
            }
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, profile)| *profile == self)
            .map_or("native", |(name, _)| name)
    }

    /// What the profile exposes, for the servers' start-up line.
    pub fn description(self) -> &'static str {
        match self {
            Self::Native => "the host driver as the protocol carries it",
            Self::MoltenVk => moltenvk::DESCRIPTION,
        }
    }
}

/// Runs one Vulkan command of the guest through the profile and the dispatch.
pub(crate) fn dispatch(
    cx: &mut Dispatch<'_, '_>,
    command: &mut Command<'_>,
) -> Result<(), ContextFatal> {
    match cx.shared.options.profile {
        HostProfile::Native => generated::dispatch::dispatch(cx, command),
        HostProfile::MoltenVk => moltenvk::dispatch(cx, command),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_found_by_their_names_and_others_are_refused() {
        assert_eq!(
            HostProfile::from_name("moltenvk"),
            Ok(HostProfile::MoltenVk)
        );
        assert_eq!(HostProfile::from_name("native"), Ok(HostProfile::Native));
        for profile in [HostProfile::Native, HostProfile::MoltenVk] {
            assert_eq!(HostProfile::from_name(profile.name()), Ok(profile));
        }
        let refused = HostProfile::from_name("MoltenVK").unwrap_err();
        assert!(refused.contains("native, moltenvk"), "{refused}");
    }
}
