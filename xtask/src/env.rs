//! Where venus-rs keeps what `cargo xtask setup` installs, and how programs run inside a reference chroot.

use crate::reference::Reference;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The state directory: `$VENUS_RS_HOME`, default `~/.cache/venus-rs`. Never inside the repository. It holds one
/// chroot and one set of guest images per reference stack; a `Home` names the stack its commands use.
#[derive(Clone, Debug)]
pub struct Home {
    dir: PathBuf,
    reference: Reference,
}

impl Home {
    pub fn from_env() -> Result<Home, String> {
        let dir = match std::env::var_os("VENUS_RS_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => {
                let home = std::env::var_os("HOME")
                    .ok_or("neither VENUS_RS_HOME nor HOME is set: set VENUS_RS_HOME to a writable directory")?;
                PathBuf::from(home).join(".cache/venus-rs")
            }
        };
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir()
                .map_err(|e| format!("current directory: {e}"))?
                .join(dir)
        };
        Ok(Home {
            dir,
            reference: Reference::from_env()?,
        })
    }

    /// The same state folder, using another reference stack.
    pub fn with_reference(&self, reference: Reference) -> Home {
        Home {
            dir: self.dir.clone(),
            reference,
        }
    }

    pub fn reference(&self) -> Reference {
        self.reference
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The Debian chroot holding this reference stack (Mesa's Venus, lavapipe, virglrenderer, QEMU).
    pub fn reference_root(&self) -> PathBuf {
        self.dir
            .join(format!("reference-root{}", self.reference.folder_suffix()))
    }

    /// The guest images, which carry the Mesa of their reference stack.
    pub fn guests_dir(&self) -> PathBuf {
        self.dir
            .join(format!("guests{}", self.reference.folder_suffix()))
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.dir.join("runs")
    }

    pub fn versions_file(&self) -> PathBuf {
        self.dir.join("versions.txt")
    }

    /// Written into the chroot once its packages are in: the recipe it was made from.
    pub fn reference_record(&self) -> PathBuf {
        self.reference_root().join("etc/venus-rs-reference")
    }

    /// True once setup has installed this stack's packages from the current recipe.
    pub fn reference_ready(&self) -> bool {
        std::fs::read_to_string(self.reference_record())
            .is_ok_and(|record| record == crate::setup::reference_recipe(self.reference))
    }

    pub fn require_reference(&self) -> Result<(), String> {
        if self.reference_ready() {
            return Ok(());
        }
        let command = match self.reference {
            Reference::Newest => "cargo xtask setup".to_string(),
            other => format!("cargo xtask setup --reference {}", other.name()),
        };
        Err(format!(
            "the {} reference stack is not installed (or is out of date) in {}: run `{command}` first",
            self.reference.name(),
            self.dir.display()
        ))
    }
}

/// Builds a command that runs `program` inside the reference chroot, in a private mount namespace so that
/// nothing stays mounted after it ends. `/dev`, `/proc`, `/sys` come from the host, and every path in
/// `shared_paths` is bind-mounted at the same path inside, so files and sockets keep one name on both sides.
/// The spawned process execs into `program`: its pid is the program's pid.
pub fn in_reference_root(
    home: &Home,
    shared_paths: &[&Path],
    env: &[(String, String)],
    program: &str,
    args: &[String],
) -> Command {
    let root = home.reference_root();
    let root = shell_quote(&root.to_string_lossy());
    let mut script = format!(
        "set -e; mount --rbind /dev {root}/dev; mount -t proc proc {root}/proc; mount --rbind /sys {root}/sys; "
    );
    for path in shared_paths {
        let path = shell_quote(&path.to_string_lossy());
        script.push_str(&format!(
            "mkdir -p {root}{path}; mount --bind {path} {root}{path}; "
        ));
    }
    script.push_str(&format!("exec chroot {root} /usr/bin/env -i"));
    // The caller's variables replace the base ones of the same name (PATH, for a pairing's own tools).
    let base = base_chroot_env();
    let inherited = base
        .iter()
        .filter(|(key, _)| !env.iter().any(|(given, _)| given == key));
    for (key, value) in inherited.chain(env) {
        script.push_str(&format!(" {}", shell_quote(&format!("{key}={value}"))));
    }
    script.push(' ');
    script.push_str(&shell_quote(program));
    for arg in args {
        script.push(' ');
        script.push_str(&shell_quote(arg));
    }
    let mut command = Command::new("unshare");
    command.args([
        "--mount",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        &script,
    ]);
    command
}

fn base_chroot_env() -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        ("HOME".to_string(), "/root".to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
    ];
    // The project's own settings reach both halves; everything else of the caller's environment stays out.
    for (key, value) in std::env::vars() {
        if key == "TERM" || key.starts_with("VENUS_RS_") {
            env.push((key, value));
        }
    }
    env
}

pub fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
