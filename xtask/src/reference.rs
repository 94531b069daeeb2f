//! The reference stacks the bench measures against. Users run anything from trixie's stack (QEMU 10.0, Mesa 25.0,
//! virglrenderer 1.1) to the newest Debian serves (QEMU 11.1, Mesa 26.1, virglrenderer 1.3): the newest is the
//! default, trixie's stays as the second so that both ends keep working with our halves.
//!
//! Both are Debian trixie chroots; the newest adds trixie-backports and forky and pins exactly the source packages
//! it takes from them, so nothing else in the chroot (libc, LLVM, the Vulkan loader) moves.

/// Selects the reference stack when a command is given no `--reference`.
pub const ENV_VAR: &str = "VENUS_RS_REFERENCE";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// QEMU 11.1 and Mesa 26.1 from trixie-backports, virglrenderer 1.3 (and vulkaninfo 1.4.341) from forky.
    Newest,
    /// What trixie itself ships: QEMU 10.0, Mesa 25.0, virglrenderer 1.1.
    Trixie,
}

/// A suite added to the chroot's apt sources besides the base suite.
pub struct ExtraSuite {
    pub name: &'static str,
    /// forky's Release file is past its Valid-Until date (measured 2026-12-04); apt refuses it unless told not to
    /// check, and only for this suite.
    pub check_valid_until: bool,
}

/// Source packages whose binaries come from `suite` instead of the base suite.
pub struct Pin {
    pub suite: &'static str,
    pub source_packages: &'static [&'static str],
}

/// The Debian release every chroot and guest image starts from.
pub const BASE_SUITE: &str = "trixie";

const NEWEST_SUITES: &[ExtraSuite] = &[
    ExtraSuite {
        name: "trixie-backports",
        check_valid_until: true,
    },
    ExtraSuite {
        name: "forky",
        check_valid_until: false,
    },
];

/// seabios: QEMU 11.1's qemu-system-x86 depends on seabios > 1.17, which trixie lacks (1.16.3).
/// vulkan-tools: trixie's vulkaninfo 1.4.304 writes invalid JSON for VkPhysicalDeviceLayeredApiPropertiesListKHR
/// (`"pLayeredApis": [ "0": {...} ]`), which Mesa 26.1's Venus reports (VK_KHR_maintenance7); forky's 1.4.341
/// writes an array. It needs no newer loader: trixie's libvulkan1 1.4.309 stays.
const NEWEST_PINS: &[Pin] = &[
    Pin {
        suite: "trixie-backports",
        source_packages: &["mesa", "qemu", "seabios"],
    },
    Pin {
        suite: "forky",
        source_packages: &["virglrenderer", "vulkan-tools"],
    },
];

/// Pinned packages win over the base suite; forky's other packages are never installed. (Backports have
/// priority 100 by default, below the base suite's 500, so their unpinned packages stay out already.)
const PINNED_PRIORITY: i32 = 990;
const UNPINNED_FORKY_PRIORITY: i32 = -10;

impl Reference {
    pub const ALL: [Reference; 2] = [Reference::Newest, Reference::Trixie];

    pub fn name(self) -> &'static str {
        match self {
            Reference::Newest => "newest",
            Reference::Trixie => "trixie",
        }
    }

    pub fn parse(text: &str) -> Result<Reference, String> {
        Reference::ALL
            .into_iter()
            .find(|reference| reference.name() == text)
            .ok_or_else(|| format!("unknown reference stack {text:?}: newest or trixie"))
    }

    /// `$VENUS_RS_REFERENCE`, or the newest stack.
    pub fn from_env() -> Result<Reference, String> {
        match std::env::var(ENV_VAR) {
            Ok(text) if !text.is_empty() => {
                Reference::parse(&text).map_err(|e| format!("{ENV_VAR}: {e}"))
            }
            _ => Ok(Reference::Newest),
        }
    }

    /// Appended to the names of the state folder's per-stack entries; the default stack keeps the plain names.
    pub fn folder_suffix(self) -> &'static str {
        match self {
            Reference::Newest => "",
            Reference::Trixie => "-trixie",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Reference::Newest => {
                "Debian trixie + QEMU 11.1 and Mesa 26.1 from trixie-backports + virglrenderer 1.3 and \
                 vulkan-tools 1.4.341 from forky"
            }
            Reference::Trixie => "Debian trixie: QEMU 10.0, Mesa 25.0, virglrenderer 1.1",
        }
    }

    pub fn extra_suites(self) -> &'static [ExtraSuite] {
        match self {
            Reference::Newest => NEWEST_SUITES,
            Reference::Trixie => &[],
        }
    }

    pub fn pins(self) -> &'static [Pin] {
        match self {
            Reference::Newest => NEWEST_PINS,
            Reference::Trixie => &[],
        }
    }

    /// `/etc/apt/sources.list.d/venus-rs.list` of the chroot (empty when the base suite is all it needs).
    pub fn apt_sources(self, mirror: &str) -> String {
        self.extra_suites()
            .iter()
            .map(|suite| {
                let options = if suite.check_valid_until {
                    ""
                } else {
                    "[check-valid-until=no] "
                };
                format!("deb {options}{mirror} {} main\n", suite.name)
            })
            .collect()
    }

    /// `/etc/apt/preferences.d/venus-rs` of the chroot. The guest images are downloaded with the chroot's apt
    /// configuration, so they get the same pins.
    pub fn apt_preferences(self) -> String {
        let mut text = String::new();
        for pin in self.pins() {
            let packages: Vec<String> = pin
                .source_packages
                .iter()
                .map(|name| format!("src:{name}"))
                .collect();
            text.push_str(&format!(
                "Package: {}\nPin: release n={}\nPin-Priority: {PINNED_PRIORITY}\n\n",
                packages.join(" "),
                pin.suite
            ));
        }
        if self
            .extra_suites()
            .iter()
            .any(|suite| suite.name == "forky")
        {
            text.push_str(&format!(
                "Package: *\nPin: release n=forky\nPin-Priority: {UNPINNED_FORKY_PRIORITY}\n"
            ));
        }
        text
    }

    /// Everything the chroot is made from but the mirror; setup records it in the chroot when the packages are in,
    /// and a chroot whose record differs is rebuilt.
    pub fn recipe(self, packages: &[&str]) -> String {
        format!(
            "reference {}\nbase {BASE_SUITE}\nsources:\n{}preferences:\n{}packages {}\n",
            self.name(),
            self.apt_sources("MIRROR"),
            self.apt_preferences(),
            packages.join(" ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for reference in Reference::ALL {
            assert_eq!(Reference::parse(reference.name()), Ok(reference));
        }
        assert!(Reference::parse("bookworm").is_err());
    }

    #[test]
    fn the_newest_stack_pins_only_what_it_takes_from_newer_suites() {
        let preferences = Reference::Newest.apt_preferences();
        assert!(preferences.contains(
            "Package: src:mesa src:qemu src:seabios\nPin: release n=trixie-backports\nPin-Priority: 990\n"
        ));
        assert!(preferences
            .contains("Package: src:virglrenderer src:vulkan-tools\nPin: release n=forky\nPin-Priority: 990\n"));
        assert!(preferences.ends_with("Package: *\nPin: release n=forky\nPin-Priority: -10\n"));
        let sources = Reference::Newest.apt_sources("http://m/debian");
        assert_eq!(
            sources,
            "deb http://m/debian trixie-backports main\ndeb [check-valid-until=no] http://m/debian forky main\n"
        );
    }

    #[test]
    fn trixie_adds_nothing_to_the_base_suite() {
        assert_eq!(Reference::Trixie.apt_sources("http://m/debian"), "");
        assert_eq!(Reference::Trixie.apt_preferences(), "");
    }

    #[test]
    fn each_stack_has_its_own_folders_and_recipe() {
        assert_ne!(
            Reference::Newest.folder_suffix(),
            Reference::Trixie.folder_suffix()
        );
        assert_ne!(
            Reference::Newest.recipe(&["a"]),
            Reference::Trixie.recipe(&["a"])
        );
        assert_ne!(
            Reference::Newest.recipe(&["a"]),
            Reference::Newest.recipe(&["a", "b"])
        );
    }
}
