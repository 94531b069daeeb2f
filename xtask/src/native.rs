//! `cargo xtask native`: runs a program natively on lavapipe inside the reference chroot. Lavapipe is the host
//! driver of every pairing, so what a program prints here (an image digest, say) is what each pairing must
//! reproduce. Test programs of `tests/` are built by name first, exactly as pairings do.

use crate::env::{in_reference_root, shell_quote, Home};
use crate::guest::GuestArch;
use crate::ours::{build_test_programs, workspace_dir};
use crate::pair::exit_code;
use crate::process::Supervised;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

pub const USAGE: &str = "usage: cargo xtask native [--validate] [--timeout SECONDS] -- PROGRAM [ARGS...]
  runs PROGRAM on lavapipe inside the reference chroot, in the workspace folder (shared with the chroot), with
  every test program of tests/src/bin on PATH
  --validate   enable the Khronos validation layer (errors and warnings, synchronization validation too)";

/// Lavapipe as the reference chroot names it.
const LAVAPIPE_DRIVER_FILES: &str = "/usr/share/vulkan/icd.d/lvp_icd.json";

/// The validation layer with warnings and synchronization validation on; its messages go to stdout.
const VALIDATION_ENV: &[(&str, &str)] = &[
    ("VK_INSTANCE_LAYERS", "VK_LAYER_KHRONOS_validation"),
    ("VK_KHRONOS_VALIDATION_REPORT_FLAGS", "error,warn"),
    (
        "VK_LAYER_ENABLES",
        "VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT",
    ),
    // The loader otherwise warns on every run that VK_INSTANCE_LAYERS added a layer.
    ("VK_LOADER_DEBUG", "error"),
];

pub struct NativeRun {
    pub validate: bool,
    pub timeout: Duration,
    pub program: Vec<String>,
}

impl NativeRun {
    pub fn parse(args: &[String]) -> Result<NativeRun, String> {
        let (options, program) = match args.iter().position(|a| a == "--") {
            Some(split) => (&args[..split], args[split + 1..].to_vec()),
            None => return Err(format!("missing `-- PROGRAM`\n{USAGE}")),
        };
        if program.is_empty() {
            return Err(format!("no program after `--`\n{USAGE}"));
        }
        let mut run = NativeRun {
            validate: false,
            timeout: Duration::from_secs(300),
            program,
        };
        let mut rest = options.iter();
        while let Some(option) = rest.next() {
            match option.as_str() {
                "--validate" => run.validate = true,
                "--timeout" => {
                    let text = rest
                        .next()
                        .ok_or_else(|| format!("--timeout needs a value\n{USAGE}"))?;
                    let seconds: u64 = text
                        .parse()
                        .map_err(|_| format!("--timeout takes whole seconds, not {text:?}"))?;
                    run.timeout = Duration::from_secs(seconds.max(1));
                }
                other => return Err(format!("unknown option {other:?}\n{USAGE}")),
            }
        }
        Ok(run)
    }
}

/// Runs the program with its output going straight to ours, and returns its exit code.
pub fn run(home: &Home, run: &NativeRun) -> Result<i32, String> {
    home.require_reference()?;
    let log_dir = home
        .runs_dir()
        .join(format!("native-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
    let programs = build_test_programs(GuestArch::X86_64, &log_dir)?;
    let bin_dir = programs
        .first()
        .and_then(|program| program.parent())
        .map(Path::to_path_buf)
        .ok_or("no test program was built")?;
    let _ = std::fs::remove_dir_all(&log_dir);

    let workspace = workspace_dir();
    let mut env = vec![
        (
            "VK_DRIVER_FILES".to_string(),
            LAVAPIPE_DRIVER_FILES.to_string(),
        ),
        (
            "PATH".to_string(),
            format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                bin_dir.display()
            ),
        ),
    ];
    if run.validate {
        env.extend(
            VALIDATION_ENV
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string())),
        );
    }
    // The chroot starts in its `/`; the program runs where the caller is when that is inside the workspace (the
    // only host folder the chroot shares), so relative paths such as `--out image.png` land where expected.
    let directory = working_directory(&workspace);
    let script = format!(
        "cd {} && exec \"$@\"",
        shell_quote(&directory.to_string_lossy())
    );
    let mut args = vec!["-c".to_string(), script, "sh".to_string()];
    args.extend(run.program.iter().cloned());
    let shared = [workspace.as_path(), bin_dir.as_path()];
    let mut command = in_reference_root(home, &shared, &env, "/bin/sh", &args);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut child = Supervised::spawn(&run.program[0], &mut command)?;
    match child.wait_for(run.timeout)? {
        Some(status) => Ok(exit_code(status)),
        None => {
            child.stop();
            Err(format!(
                "{} did not finish within {} s natively on lavapipe",
                run.program[0],
                run.timeout.as_secs()
            ))
        }
    }
}

fn working_directory(workspace: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .filter(|dir| dir.starts_with(workspace))
        .unwrap_or_else(|| workspace.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<NativeRun, String> {
        NativeRun::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_come_before_the_program_and_its_own_arguments_are_kept() {
        let run = parse(&[
            "--validate",
            "--timeout",
            "9",
            "--",
            "render-check",
            "--out",
            "x.png",
        ])
        .unwrap();
        assert!(run.validate);
        assert_eq!(run.timeout, Duration::from_secs(9));
        assert_eq!(run.program, ["render-check", "--out", "x.png"]);
        assert!(!parse(&["--", "sync-check"]).unwrap().validate);
    }

    #[test]
    fn a_missing_program_or_unknown_option_is_refused() {
        assert!(parse(&["render-check"]).is_err());
        assert!(parse(&["--"]).is_err());
        assert!(parse(&["--fast", "--", "render-check"]).is_err());
    }
}
