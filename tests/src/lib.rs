//! Helpers for the end-to-end tests: they drive the real pairing runner (`cargo xtask pair`), which needs the
//! reference stacks from `cargo xtask setup --guests`. `cargo xtask test` builds the runner and runs them.
//!
//! Every run uses the reference stack that `VENUS_RS_REFERENCE` names (the runner reads it; default: the newest),
//! unless a test passes `--reference` itself, as the trixie compatibility tests do.

use std::path::PathBuf;
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

/// The reference stack the runs of this suite use when a test names none: `newest` or `trixie`.
pub fn reference() -> String {
    match std::env::var("VENUS_RS_REFERENCE") {
        Ok(name) if !name.is_empty() => name,
        _ => "newest".to_string(),
    }
}

/// What `cargo xtask soak` counted.
#[derive(Debug)]
pub struct SoakRun {
    pub run: PairRun,
    /// (processes, failures, hangs) from the loop's summary line, if it printed one.
    pub counts: Option<(u32, u32, u32)>,
}

impl SoakRun {
    /// Panics with the whole output unless all `processes` ran and none failed or hung.
    pub fn assert_clean(&self, processes: u32) {
        assert_eq!(
            (self.counts, self.run.exit_code),
            (Some((processes, 0, 0)), Some(0)),
            "soak:\n--- stdout\n{}\n--- stderr\n{}",
            self.run.stdout,
            self.run.stderr
        );
    }
}

/// Runs `cargo xtask soak --pairing PAIRING --processes N OPTIONS... -- PROGRAM...` (programs separated by `--`).
pub fn soak(pairing: &str, processes: u32, options: &[&str], programs: &[&[&str]]) -> SoakRun {
    let processes_text = processes.to_string();
    let mut args = vec!["--pairing", pairing, "--processes", &processes_text];
    args.extend_from_slice(options);
    for program in programs {
        args.push("--");
        args.extend_from_slice(program);
    }
    let run = xtask("soak", &args, &[]);
    let counts = run
        .stdout
        .lines()
        .rev()
        .find_map(|line| parse_soak_summary(line.trim_end()));
    SoakRun { run, counts }
}

/// `soak: processes=N failures=F hangs=H ...` -> (N, F, H).
fn parse_soak_summary(line: &str) -> Option<(u32, u32, u32)> {
    let fields = line.strip_prefix("soak: ")?;
    let value = |name: &str| -> Option<u32> {
        fields
            .split_whitespace()
            .find_map(|field| field.strip_prefix(name)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    Some((value("processes")?, value("failures")?, value("hangs")?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soak_summary_line_is_read_and_others_are_not() {
        assert_eq!(
            parse_soak_summary("soak: processes=50 failures=1 hangs=2 seconds=40.1"),
            Some((50, 1, 2))
        );
        assert_eq!(
            parse_soak_summary("soak: progress 5/50 failures=0 hangs=0"),
            None
        );
        assert_eq!(parse_soak_summary("processes=5 failures=0 hangs=0"), None);
    }
}
