//! What each reference chroot holds, read from its dpkg database: `$VENUS_RS_HOME/versions.txt` (one section per
//! installed stack) and the one-line summary a pairing prints before it runs.

use crate::env::Home;
use crate::reference::Reference;

/// Recorded besides the packages setup asks for: what those pull in and decide behaviour.
const ALSO_RECORDED: &[&str] = &["mesa-libgallium", "seabios", "libllvm19", "libc6"];

/// The three versions a run depends on most, in the order the summary names them.
const HEADLINE: &[(&str, &str)] = &[
    ("QEMU", "qemu-system-x86"),
    ("Mesa", "mesa-vulkan-drivers"),
    ("virglrenderer", "libvirglrenderer1"),
];

/// Rewrites `versions.txt` with a section for every stack whose chroot is installed.
pub fn write(home: &Home, packages: &[&str]) -> Result<(), String> {
    let mut lines = vec![format!(
        "# venus-rs reference stacks under {} (the default is {}; {} selects another)",
        home.dir().display(),
        Reference::Newest.name(),
        crate::reference::ENV_VAR
    )];
    for reference in Reference::ALL {
        let stack = home.with_reference(reference);
        if !stack.reference_ready() {
            continue;
        }
        let status = dpkg_status(&stack)?;
        lines.push(String::new());
        lines.push(format!("[{}] {}", reference.name(), reference.summary()));
        lines.push(format!("# chroot: {}", stack.reference_root().display()));
        let mut recorded: Vec<&str> = Vec::new();
        for package in packages.iter().chain(ALSO_RECORDED) {
            if recorded.contains(package) {
                continue;
            }
            recorded.push(package);
            lines.push(format!(
                "{package} {}",
                installed_version(&status, package).unwrap_or("not installed")
            ));
        }
    }
    lines.push(String::new());
    std::fs::write(home.versions_file(), lines.join("\n"))
        .map_err(|e| format!("cannot write {}: {e}", home.versions_file().display()))
}

/// e.g. "QEMU 1:11.1.3+ds-2~bpo13+1, Mesa 26.1.6-1~bpo13+1, virglrenderer 1.3.0-1".
pub fn headline(home: &Home) -> String {
    let status = dpkg_status(home).unwrap_or_default();
    HEADLINE
        .iter()
        .map(|(name, package)| {
            format!(
                "{name} {}",
                installed_version(&status, package).unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn dpkg_status(home: &Home) -> Result<String, String> {
    let path = home.reference_root().join("var/lib/dpkg/status");
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The version of `package` when dpkg has it fully installed.
pub fn installed_version<'s>(status: &'s str, package: &str) -> Option<&'s str> {
    let name_line = format!("Package: {package}");
    status
        .split("\n\n")
        .filter(|stanza| stanza.lines().any(|line| line == name_line))
        .find(|stanza| {
            stanza
                .lines()
                .any(|line| line == "Status: install ok installed")
        })
        .and_then(|stanza| {
            stanza
                .lines()
                .find_map(|line| line.strip_prefix("Version: "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str =
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.41-12\n\n\
Package: mesa-vulkan-drivers\nStatus: deinstall ok config-files\nVersion: 25.0.7-2\n\n\
Package: qemu-utils\nStatus: install ok installed\nVersion: 1:11.1.3+ds-2~bpo13+1\n";

    #[test]
    fn only_installed_packages_have_a_version() {
        assert_eq!(installed_version(STATUS, "libc6"), Some("2.41-12"));
        assert_eq!(
            installed_version(STATUS, "qemu-utils"),
            Some("1:11.1.3+ds-2~bpo13+1")
        );
        assert_eq!(installed_version(STATUS, "mesa-vulkan-drivers"), None);
        assert_eq!(installed_version(STATUS, "libc"), None);
    }
}
