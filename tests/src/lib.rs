//! Helpers for the end-to-end tests: they drive the real pairing runner (`cargo xtask pair`, `cargo xtask native`),
//! which needs the reference stacks from `cargo xtask setup --guests`. `cargo xtask test` builds the runner and
//! runs them. [`vk_util`] is what the Vulkan test programs of `src/bin` share.
//!
//! Every run uses the reference stack that `VENUS_RS_REFERENCE` names (the runner reads it; default: the newest),
//! unless a test passes `--reference` itself, as the trixie compatibility tests do.

#![warn(clippy::undocumented_unsafe_blocks)]

pub mod images;
pub mod live_pair;
pub mod vk_util;

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

    /// The log of the host half that served the run: the vtest server's, or QEMU's (which holds the render
    /// server's lines).
    pub fn host_log(&self) -> String {
        let dir = self
            .run_dir
            .as_ref()
            .expect("the runner made no run folder");
        ["server.log", "qemu.log"]
            .iter()
            .find_map(|name| std::fs::read_to_string(dir.join(name)).ok())
            .unwrap_or_else(|| panic!("no server.log or qemu.log in {}", dir.display()))
    }

    /// Panics unless our host half served the guest process `program`: one of its log lines (they start with
    /// `venus-rs-vtest-server[PID]` or `venus-rs-render-server[PID]`) names the context the guest opened for it.
    /// Mesa's guest prints "Virtio-GPU Venus" whichever host answers, so its output proves nothing about the
    /// host. The kernel names a context after the process, cut to 15 characters.
    pub fn assert_served_by_our_host(&self, program: &str) {
        let context_name: String = program.chars().take(15).collect();
        let log = self.host_log();
        let served = log.lines().any(|line| {
            (line.starts_with("venus-rs-vtest-server[")
                || line.starts_with("venus-rs-render-server["))
                && line.contains(&format!("\"{context_name}"))
        });
        assert!(
            served,
            "no line of our host's log names a context of {program:?}:\n{log}"
        );
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
/// (`env` goes to the runner, which hands `VENUS_RS_*` to both halves.)
pub fn run_in_surviving_qemu_abort(
    pairing: &str,
    env: &[(&str, &str)],
    program: &[&str],
    attempts: u32,
) -> PairRun {
    let mut attempt = 1;
    loop {
        let run = run_in_with_env(pairing, env, program);
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

/// A shell script that runs `commands` (shell text) with an X server of its own: Xvfb on a display it picks
/// itself, `DISPLAY` exported, stopped afterwards; the script exits with the commands' status. It works
/// wherever Xvfb is installed: the reference chroot and the guest images.
pub fn with_xvfb(commands: &str) -> String {
    format!(
        r#"dir=$(mktemp -d)
Xvfb -displayfd 9 -noreset -nolisten tcp -screen 0 1280x800x24 9>"$dir/display" 2>"$dir/xvfb.log" &
server=$!
tenths=0
while [ ! -s "$dir/display" ]; do
    tenths=$((tenths + 1))
    if [ "$tenths" -gt 300 ]; then echo "Xvfb did not start within 30 s:"; cat "$dir/xvfb.log"; exit 1; fi
    sleep 0.1
done
export DISPLAY=":$(cat "$dir/display")"
( {commands} )
status=$?
kill "$server"
exit $status
"#
    )
}

/// A shell script that runs `commands` under a headless weston of its own (pixman renderer, kiosk shell) in a
/// fresh `XDG_RUNTIME_DIR`, with `WAYLAND_DISPLAY` exported; like [`with_xvfb`] otherwise.
pub fn with_weston(commands: &str) -> String {
    format!(
        r#"export XDG_RUNTIME_DIR=$(mktemp -d)
chmod 700 "$XDG_RUNTIME_DIR"
weston --backend=headless --renderer=pixman --shell=kiosk --width=800 --height=600 --idle-time=0 \
    --socket=venus-rs-wayland --log="$XDG_RUNTIME_DIR/weston.log" >/dev/null 2>&1 &
server=$!
tenths=0
while [ ! -S "$XDG_RUNTIME_DIR/venus-rs-wayland" ]; do
    tenths=$((tenths + 1))
    if [ "$tenths" -gt 300 ]; then echo "weston did not start within 30 s:"; cat "$XDG_RUNTIME_DIR/weston.log"; exit 1; fi
    sleep 0.1
done
export WAYLAND_DISPLAY=venus-rs-wayland
( {commands} )
status=$?
kill "$server"
exit $status
"#
    )
}

/// The test programs of `src/bin` that every pairing runs in one boot; each prints `NAME: OK ...`.
pub const PROGRAMS: &[&str] = &[
    "compute-readback",
    "render-check",
    "sync-check",
    "query-check",
    "secondary-check",
];

/// The programs that print a digest of the image they rendered.
pub const RENDERING_PROGRAMS: &[&str] = &["render-check", "secondary-check"];

/// A shell script that runs every program even when one fails (so one boot reports on all of them), each with
/// the environment `env_of` gives it.
pub fn every_program_script(env_of: impl Fn(&str) -> &'static str) -> String {
    let runs: Vec<String> = PROGRAMS
        .iter()
        .map(|program| format!("{} {program} || status=1; ", env_of(program)))
        .collect();
    format!("status=0; {}exit $status", runs.concat())
}

/// Every program natively without the layer, in one chroot run: the oracle for digests.
pub fn native_outcome() -> PairRun {
    let run = native(&[], &["sh", "-c", &every_program_script(|_| "")]);
    for program in PROGRAMS {
        run.assert_success_with(&format!("{program}: OK"));
    }
    run
}

/// Runs every program through `pairing` in one boot (one vtest session), with `runner_env` for the runner (and
/// through it both halves) and `env_of` for each program, and insists on every OK line, on our host's log naming
/// each program's context when the host is ours, and on the native digests for the programs that render. Returns
/// the run for further checks.
pub fn assert_every_program_passes_with(
    pairing: &str,
    runner_env: &[(&str, &str)],
    env_of: impl Fn(&str) -> &'static str,
) -> PairRun {
    let native = native_outcome();
    let script = every_program_script(env_of);
    let run = run_in_surviving_qemu_abort(pairing, runner_env, &["sh", "-c", &script], 3);
    for program in PROGRAMS {
        assert!(
            run.ok_line(program).is_some(),
            "{program} did not pass through {pairing}:\n{run:?}"
        );
        if pairing.split(',').nth(1) == Some("ours") {
            run.assert_served_by_our_host(program);
        }
    }
    assert_eq!(run.exit_code, Some(0), "{run:?}");
    for program in RENDERING_PROGRAMS {
        let expected = native
            .digest_of(program)
            .unwrap_or_else(|| panic!("{program} printed no digest natively:\n{native:?}"));
        assert_eq!(
            run.digest_of(program),
            Some(expected),
            "{program}'s image through {pairing} differs from lavapipe's native one:\n{run:?}"
        );
    }
    run
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

/// `run_in` with extra environment variables for the runner.
pub fn run_in_with_env(pairing: &str, env: &[(&str, &str)], program: &[&str]) -> PairRun {
    let parts: Vec<&str> = pairing.split(',').collect();
    let [guest, host, transport] = parts[..] else {
        panic!("a pairing is GUEST,HOST,TRANSPORT, not {pairing:?}");
    };
    let mut args = vec![
        "--guest",
        guest,
        "--host",
        host,
        "--transport",
        transport,
        "--",
    ];
    args.extend_from_slice(program);
    pair_with_env(env, &args)
}

/// `pair` with extra environment variables (the runner hands `VENUS_RS_*` to both halves).
pub fn pair_with_env(env: &[(&str, &str)], args: &[&str]) -> PairRun {
    xtask("pair", args, env)
}

/// Runs `cargo xtask demo ARGS...` and captures its output.
pub fn demo(args: &[&str]) -> PairRun {
    xtask("demo", args, &[])
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

/// The chroot of this suite's reference stack made by `cargo xtask setup`
/// (`$VENUS_RS_HOME/reference-root`, `reference-root-trixie` for trixie).
pub fn reference_root() -> PathBuf {
    runs_dir()
        .parent()
        .expect("the runs folder lives in VENUS_RS_HOME")
        .join(match reference().as_str() {
            "trixie" => "reference-root-trixie",
            _ => "reference-root",
        })
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
