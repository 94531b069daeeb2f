//! Helpers for the end-to-end tests: they drive the real pairing runner (`cargo xtask pair`, `cargo xtask native`),
//! which needs the reference stacks from `cargo xtask setup --guests`. `cargo xtask test` builds the runner and
//! runs them. [`vk_util`] is what the Vulkan test programs of `src/bin` share.
//!
//! Every run uses the reference stack that `VENUS_RS_REFERENCE` names (the runner reads it; default: the newest),
//! unless a test passes `--reference` itself, as the trixie compatibility tests do.

#![warn(clippy::undocumented_unsafe_blocks)]

pub mod vk_util;

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

    /// The `NAME: OK ...` line that the test program `name` printed, if it printed one.
    pub fn ok_line(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}: OK");
        self.stdout.lines().find(|line| line.starts_with(&prefix))
    }

    /// The `sha256=HEX` image digest on the OK line of the test program `name`.
    pub fn digest_of(&self, name: &str) -> Option<&str> {
        let line = self.ok_line(name)?;
        let start = line.find("sha256=")? + "sha256=".len();
        let digest = &line[start..];
        Some(&digest[..digest.find(' ').unwrap_or(digest.len())])
    }

    /// Every line of output in which the Khronos validation layer reports something (its messages start with
    /// "Validation Error:", "Validation Warning:", ... and name a VUID or a synchronization hazard).
    pub fn validation_messages(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|line| {
                line.contains("Validation ")
                    || line.contains("VUID-")
                    || line.contains("SYNC-HAZARD")
            })
            .collect()
    }

    /// Whether QEMU itself died of its intermittent TCG abort (see [`QEMU_TCG_ABORT`]).
    pub fn qemu_aborted_in_tcg(&self) -> bool {
        self.exit_code != Some(0) && self.stderr.contains(QEMU_TCG_ABORT)
    }
}

/// QEMU 10.0.13 under TCG aborts now and then with `iotlb_to_section: Assertion 'section_index <
/// d->map.sections_nb' failed` while a guest Vulkan process maps or unmaps host memory (measured on these
/// machines: about 1 guest process in 25 for Mesa's Venus against virglrenderer, with thread=multi and with
/// thread=single, with the original and the refactored compute-readback). It is a QEMU bug, not a verdict on the
/// drivers: tests that boot several programs retry such a boot.
pub const QEMU_TCG_ABORT: &str = "iotlb_to_section: Assertion";

/// `run_in`, booting again (at most `attempts` times in all) when QEMU died of [`QEMU_TCG_ABORT`]; every retry
/// is reported on stderr.
pub fn run_in_surviving_qemu_abort(
    pairing: &str,
    options: &[&str],
    program: &[&str],
    attempts: u32,
) -> PairRun {
    let mut attempt = 1;
    loop {
        let run = run_in(pairing, options, program);
        if !run.qemu_aborted_in_tcg() || attempt >= attempts {
            return run;
        }
        eprintln!(
            "note: QEMU aborted in its TCG ({QEMU_TCG_ABORT}) during attempt {attempt} of {attempts}; booting again \
             (logs: {:?})",
            run.run_dir
        );
        attempt += 1;
    }
}

/// Runs `cargo xtask native [OPTIONS] -- PROGRAM [ARGS...]`: the program on lavapipe inside the reference chroot
/// (options: `--validate`, `--timeout SECONDS`).
pub fn native(options: &[&str], program: &[&str]) -> PairRun {
    let mut args = options.to_vec();
    args.push("--");
    args.extend_from_slice(program);
    xtask("native", &args, &[])
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
