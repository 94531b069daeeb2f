//! The struct and union definitions of the `ash` crate the workspace locks, read from its
//! source, so the generated layout test compares vk.xml's C layouts only for types ash has.
//!
//! ash's `vk/definitions.rs` is itself generated: every type is a `pub struct Name<'a> {` or
//! `pub union Name {` line followed by one `pub field: Type,` line per member.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct AshType {
    /// Declared with a lifetime parameter (`Name<'a>`).
    pub has_lifetime: bool,
    pub fields: Vec<String>,
}

pub struct AshTypes {
    /// The locked version, e.g. `0.38.0+1.3.281`.
    pub version: String,
    pub structs: BTreeMap<String, AshType>,
    pub unions: BTreeMap<String, AshType>,
    /// Every type name `ash::vk` defines (structs, unions, enums, flags, handles and aliases),
    /// with whether it takes a lifetime parameter.
    pub names: BTreeMap<String, bool>,
}

/// Reads the definitions of the ash version in `workspace/Cargo.lock`, from
/// `VENUS_RS_ASH_SRC` (the crate's directory) or cargo's registry source cache.
pub fn load(workspace: &Path) -> Result<AshTypes, String> {
    let lock_path = workspace.join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .map_err(|e| format!("cannot read {}: {e}", lock_path.display()))?;
    let version = locked_version(&lock, "ash")
        .ok_or_else(|| format!("{} locks no `ash` package", lock_path.display()))?;
    let crate_dir = match std::env::var_os("VENUS_RS_ASH_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => registry_source(&format!("ash-{version}"))?,
    };
    let definitions = crate_dir.join("src/vk/definitions.rs");
    let text = std::fs::read_to_string(&definitions)
        .map_err(|e| format!("cannot read {}: {e}", definitions.display()))?;
    let (structs, unions) = parse(&text);
    if structs.is_empty() {
        return Err(format!("{} defines no structs", definitions.display()));
    }
    let mut names = BTreeMap::new();
    for file in [
        "definitions.rs",
        "enums.rs",
        "bitflags.rs",
        "aliases.rs",
        "features.rs",
        "extensions.rs",
    ] {
        let path = crate_dir.join("src/vk").join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        collect_names(&text, &mut names);
    }
    Ok(AshTypes {
        version,
        structs,
        unions,
        names,
    })
}

fn locked_version(lock: &str, package: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            let next = lines.next()?.trim();
            return next
                .strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_string);
        }
    }
    None
}

/// `$CARGO_HOME/registry/src/<index>/<dir_name>`, where `cargo fetch` unpacks crates.
fn registry_source(dir_name: &str) -> Result<PathBuf, String> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let src = cargo_home.join("registry/src");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&src)
        .map_err(|e| format!("cannot read {}: {e}", src.display()))?
        .filter_map(|index| Some(index.ok()?.path().join(dir_name)))
        .filter(|dir| dir.is_dir())
        .collect();
    found.sort();
    found.pop().ok_or_else(|| {
        format!(
            "{dir_name} is not in {}; run `cargo fetch` or set VENUS_RS_ASH_SRC",
            src.display()
        )
    })
}

type Types = BTreeMap<String, AshType>;

/// Type names of one of ash's generated files: `pub struct Name…`, `pub union Name…`,
/// `pub type Name… =`, and handles declared with `define_handle!(` / `handle_nondispatchable!(`
/// followed by the name on the next line.
fn collect_names(text: &str, names: &mut BTreeMap<String, bool>) {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let declared = ["pub struct ", "pub union ", "pub type "]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix));
        if let Some(rest) = declared {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let has_lifetime = rest[name.len()..].starts_with("<'a>");
            names.insert(name, has_lifetime);
        } else if line.starts_with("define_handle") || line.starts_with("handle_nondispatchable") {
            // Either `macro!(\n    Name,` or, where rustfmt gave up, `macro ! (Name , …`.
            let after = line.split_once('(').map_or("", |(_, rest)| rest).trim();
            let name = if after.is_empty() {
                lines.next().unwrap_or_default()
            } else {
                after
            };
            let name = name.split(',').next().unwrap_or_default().trim();
            names.insert(name.to_string(), false);
        }
    }
}

fn parse(text: &str) -> (Types, Types) {
    let mut structs = BTreeMap::new();
    let mut unions = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (rest, out) = if let Some(r) = line.strip_prefix("pub struct ") {
            (r, &mut structs)
        } else if let Some(r) = line.strip_prefix("pub union ") {
            (r, &mut unions)
        } else {
            continue;
        };
        let Some(head) = rest.strip_suffix(" {") else {
            continue;
        };
        let (name, has_lifetime) = match head.strip_suffix("<'a>") {
            Some(n) => (n, true),
            None => (head, false),
        };
        let mut fields = Vec::new();
        for member in lines.by_ref() {
            if member.starts_with('}') {
                break;
            }
            if let Some((field, _)) = member
                .trim()
                .strip_prefix("pub ")
                .and_then(|m| m.split_once(':'))
            {
                fields.push(field.to_string());
            }
        }
        out.insert(
            name.to_string(),
            AshType {
                has_lifetime,
                fields,
            },
        );
    }
    (structs, unions)
}
