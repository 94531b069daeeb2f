//! Helpers for the end-to-end tests: they drive the real pairing runner (`cargo xtask pair`), which needs the
//! reference stack from `cargo xtask setup --guests`. `cargo xtask test` builds the runner and runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one pairing run produced.
#[derive(Debug)]
pub struct PairRun {
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The run's folder of logs under `$VENUS_RS_HOME/runs`, when the runner made one.
    pub run_dir: Option<PathBuf>,
}

impl PairRun {
    /// Panics with the whole output unless the run exited 0 and printed `needle`.
    pub fn assert_success_with(&self, needle: &str) {
        assert_eq!(
            self.exit_code,
            Some(0),
            "pairing failed:\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stdout.contains(needle),
            "pairing output lacks {needle:?}:\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
    }
}

fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

/// The pairing runner binary, built by `cargo xtask` itself before it runs these tests.
fn xtask_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"));
    let binary = target.join("debug/xtask");
    assert!(
        binary.is_file(),
        "{} is missing: run these tests through `cargo xtask test` (or `cargo build -p xtask` first)",
        binary.display()
    );
    binary
}

fn runs_dir() -> PathBuf {
    let home = match std::env::var_os("VENUS_RS_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            PathBuf::from(std::env::var_os("HOME").expect("neither VENUS_RS_HOME nor HOME is set"))
                .join(".cache/venus-rs")
        }
    };
    home.join("runs")
}

/// The runner names each run's folder `<stamp>-<pairing>-<runner pid>`.
fn run_dir_of(runner_pid: u32) -> Option<PathBuf> {
    let suffix = format!("-{runner_pid}");
    std::fs::read_dir(runs_dir())
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().ends_with(&suffix))
        })
        .max()
}

/// Runs `cargo xtask pair ARGS...` and captures its output.
pub fn pair(args: &[&str]) -> PairRun {
    xtask("pair", args, &[])
}

/// Runs `program` in the pairing `GUEST,HOST,TRANSPORT` (e.g. "mesa,virgl,vtest") with extra runner options
/// (e.g. `--timeout 60`).
pub fn run_in(pairing: &str, options: &[&str], program: &[&str]) -> PairRun {
    let parts: Vec<&str> = pairing.split(',').collect();
    let [guest, host, transport] = parts[..] else {
        panic!("a pairing is GUEST,HOST,TRANSPORT, not {pairing:?}");
    };
    let mut args = vec!["--guest", guest, "--host", host, "--transport", transport];
    args.extend_from_slice(options);
    args.push("--");
    args.extend_from_slice(program);
    pair(&args)
}

/// `pair` with extra environment variables (the runner hands `VENUS_RS_*` to both halves).
pub fn pair_with_env(env: &[(&str, &str)], args: &[&str]) -> PairRun {
    xtask("pair", args, env)
}

/// Runs `cargo xtask compare-vulkaninfo ARGS...` and captures its output.
pub fn compare_vulkaninfo(args: &[&str]) -> PairRun {
    xtask("compare-vulkaninfo", args, &[])
}

fn xtask(command: &str, args: &[&str], env: &[(&str, &str)]) -> PairRun {
    let child = Command::new(xtask_binary())
        .arg(command)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(workspace_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the pairing runner");
    let runner_pid = child.id();
    let output = child
        .wait_with_output()
        .expect("cannot wait for the pairing runner");
    PairRun {
        exit_code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        run_dir: run_dir_of(runner_pid),
    }
}

/// The reference chroot made by `cargo xtask setup` (`$VENUS_RS_HOME/reference-root`).
pub fn reference_root() -> PathBuf {
    runs_dir()
        .parent()
        .expect("the runs folder lives in VENUS_RS_HOME")
        .join("reference-root")
}

/// Runs one of this workspace's programs inside the reference chroot, natively on its lavapipe: the
/// program's folder is bound at the same path inside, /dev, /proc and /sys as the bench binds them,
/// and only `env` (plus PATH, HOME and `VK_DRIVER_FILES` naming lavapipe) reaches it.
pub fn run_natively_in_reference_root(
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> PairRun {
    let root = reference_root();
    assert!(
        root.join("usr/share/vulkan/icd.d/lvp_icd.json").is_file(),
        "{} has no lavapipe: run `cargo xtask setup` (or set VENUS_RS_HOME)",
        root.display()
    );
    let folder = program.parent().expect("a program path has a folder");
    let quote = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    let (root_q, folder_q) = (
        quote(&root.to_string_lossy()),
        quote(&folder.to_string_lossy()),
    );
    let mut script = format!(
        "set -e; mount --rbind /dev {root_q}/dev; mount -t proc proc {root_q}/proc; \
         mount --rbind /sys {root_q}/sys; mkdir -p {root_q}{folder_q}; \
         mount --bind {folder_q} {root_q}{folder_q}; exec chroot {root_q} /usr/bin/env -i \
         PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
         VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.json"
    );
    for (key, value) in env {
        script.push(' ');
        script.push_str(&quote(&format!("{key}={value}")));
    }
    script.push(' ');
    script.push_str(&quote(&program.to_string_lossy()));
    for arg in args {
        script.push(' ');
        script.push_str(&quote(arg));
    }
    let output = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            &script,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run unshare (util-linux)");
    PairRun {
        exit_code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        run_dir: None,
    }
}
