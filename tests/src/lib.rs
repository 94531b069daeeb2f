//! Helpers for the end-to-end tests: they drive the real pairing runner (`cargo xtask pair`), which needs the
//! reference stack from `cargo xtask setup --guests`. `cargo xtask test` builds the runner and runs them.

use std::path::PathBuf;
use std::process::Command;

/// What one pairing run produced.
#[derive(Debug)]
pub struct PairRun {
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
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

/// Runs `cargo xtask pair ARGS...` and captures its output.
pub fn pair(args: &[&str]) -> PairRun {
    let output = Command::new(xtask_binary())
        .arg("pair")
        .args(args)
        .current_dir(workspace_dir())
        .output()
        .expect("cannot start the pairing runner");
    PairRun {
        exit_code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
