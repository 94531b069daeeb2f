//! `cargo xtask soak`: runs many Vulkan processes in one guest boot (or against one vtest server) and counts the
//! ones that fail and the ones that hang. A loop in the guest's shell starts each process, gives it a time limit and
//! moves on when it is exceeded, so a hang is counted instead of ending the run; the host only guards the whole run.

use crate::env::{shell_quote, Home};
use crate::pair::{new_run_dir, run_in_dir, Pairing};
use std::path::Path;

pub const USAGE: &str = "usage: cargo xtask soak --pairing GUEST,HOST,TRANSPORT --processes N \
[--reference {newest|trixie}] [--qemu-default-settings] [--process-timeout SECONDS] [--timeout SECONDS] \
[--accel {tcg|kvm}] -- PROGRAM [ARGS...] [-- PROGRAM [ARGS...]]...
  runs N processes in one guest boot, taking the programs in turn, and prints
  `soak: processes=N failures=F hangs=H ...` with timings; exits 0 only when all N ran and none failed or hung.
  --process-timeout: a process still running after it counts as hung (default 60)
  --timeout: limit of the whole run (default 600 + 10 s per process)
  e.g. cargo xtask soak --pairing ours,ours,qemu-aarch64 --processes 50 -- vulkaninfo --summary";

/// A guest where this many processes in a row hung is wedged; the rest would only hang too.
const HANGS_IN_A_ROW_TO_STOP: u32 = 3;
const DEFAULT_PROCESS_TIMEOUT_S: u64 = 60;
/// Per process, for the default limit of the whole run: TCG runs vulkaninfo in 0.3–1 s.
const SECONDS_PER_PROCESS_GUARD: u64 = 10;
const RUN_GUARD_BASE_S: u64 = 600;
/// What the guest loop prints at its end, and is looked for in the logs afterwards.
const SUMMARY_PREFIX: &str = "soak: processes=";
const PROGRESS_PREFIX: &str = "soak: progress ";

struct SoakOptions {
    pairing: Vec<String>,
    processes: u32,
    process_timeout_s: u64,
    run_timeout_s: Option<u64>,
    programs: Vec<Vec<String>>,
}

pub fn soak(home: &Home, args: &[String]) -> Result<i32, String> {
    let options = parse(args)?;
    let script = loop_script(
        &options.programs,
        options.processes,
        options.process_timeout_s,
    );
    let run_timeout = options
        .run_timeout_s
        .unwrap_or(RUN_GUARD_BASE_S + SECONDS_PER_PROCESS_GUARD * u64::from(options.processes));
    let mut pair_args = options.pairing.clone();
    pair_args.extend([
        "--timeout".to_string(),
        run_timeout.to_string(),
        "--".to_string(),
        "sh".to_string(),
        "-c".to_string(),
        script,
        "soak".to_string(),
    ]);
    let pairing = Pairing::parse(&pair_args)?;
    eprintln!(
        "[soak] {} processes of {} through {} on the {} reference stack, {} s limit per process",
        options.processes,
        options
            .programs
            .iter()
            .map(|program| format!("`{}`", program.join(" ")))
            .collect::<Vec<_>>()
            .join(", "),
        pairing.label(),
        pairing.reference.name(),
        options.process_timeout_s
    );
    let run_dir = new_run_dir(home, &pairing)?;
    let outcome = run_in_dir(home, &pairing, &run_dir);
    let console = read_console(&run_dir);
    match (outcome, summary_of(&console)) {
        (Ok(code), Some(summary)) => {
            eprintln!("[soak] {summary} (logs: {})", run_dir.display());
            Ok(code)
        }
        (Ok(code), None) => Err(format!(
            "the soak loop ended (exit status {code}) without its summary line; logs: {}",
            run_dir.display()
        )),
        (Err(e), _) => {
            let reached = last_progress(&console)
                .map(|line| format!("the last progress line: {line:?}"))
                .unwrap_or_else(|| "no progress line was printed".to_string());
            Err(format!("{e}\n  the soak loop did not finish; {reached}"))
        }
    }
}

fn parse(args: &[String]) -> Result<SoakOptions, String> {
    let split = args
        .iter()
        .position(|arg| arg == "--")
        .ok_or_else(|| format!("missing `-- PROGRAM`\n{USAGE}"))?;
    let programs: Vec<Vec<String>> = args[split + 1..]
        .split(|arg| arg == "--")
        .map(<[String]>::to_vec)
        .collect();
    if programs.iter().any(Vec::is_empty) {
        return Err(format!("an empty program between `--` separators\n{USAGE}"));
    }
    let mut pairing = None;
    let mut passed_on = Vec::new();
    let mut processes = None;
    let mut process_timeout_s = DEFAULT_PROCESS_TIMEOUT_S;
    let mut run_timeout_s = None;
    let mut rest = args[..split].iter();
    while let Some(option) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{option} needs a value\n{USAGE}"))
        };
        match option.as_str() {
            "--pairing" => pairing = Some(value()?),
            "--processes" => processes = Some(positive(option, &value()?)?),
            "--process-timeout" => process_timeout_s = u64::from(positive(option, &value()?)?),
            "--timeout" => run_timeout_s = Some(u64::from(positive(option, &value()?)?)),
            "--reference" | "--accel" => passed_on.extend([option.clone(), value()?]),
            "--qemu-default-settings" => passed_on.push(option.clone()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    let pairing = pairing.ok_or_else(|| format!("--pairing is required\n{USAGE}"))?;
    let [guest, host, transport] = pairing.split(',').collect::<Vec<_>>()[..] else {
        return Err(format!(
            "--pairing is GUEST,HOST,TRANSPORT, not {pairing:?}\n{USAGE}"
        ));
    };
    let mut pairing_args: Vec<String> =
        ["--guest", guest, "--host", host, "--transport", transport]
            .map(String::from)
            .to_vec();
    pairing_args.extend(passed_on);
    Ok(SoakOptions {
        pairing: pairing_args,
        processes: processes.ok_or_else(|| format!("--processes is required\n{USAGE}"))?,
        process_timeout_s,
        run_timeout_s,
        programs,
    })
}

fn positive(option: &str, text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(number) if number > 0 => Ok(number),
        _ => Err(format!(
            "{option} takes a whole number above 0, not {text:?}"
        )),
    }
}

/// The loop run in the guest, which has dash and coreutils but no sed or grep. A process counts as hung when it is
/// still running after the time limit; it is killed but not waited for, since a process blocked in the kernel (the
/// QEMU 10 hang was a `virtio_gpu_vram_mmap` in D state) cannot die. `alive` reads /proc because `kill -0`
/// succeeds on a zombie.
fn loop_script(programs: &[Vec<String>], processes: u32, process_timeout_s: u64) -> String {
    let mut choose = String::new();
    for (index, program) in programs.iter().enumerate() {
        let words: Vec<String> = program.iter().map(|word| shell_quote(word)).collect();
        choose.push_str(&format!("        {index}) set -- {} ;;\n", words.join(" ")));
    }
    let progress_every = (processes / 10).max(1);
    format!(
        r#"# A soak loop written by `cargo xtask soak`.
processes={processes}; limit_tenths={limit_tenths}; programs={count}; progress_every={progress_every}
failures=0; hangs=0; in_a_row=0; done_count=0
scratch=$(mktemp -d) || exit 125
out="$scratch/process.log"; times="$scratch/times"
: > "$times"
now_ms() {{ echo $(( $(date +%s%N) / 1000000 )); }}
alive() {{
    {{ read -r stat < "/proc/$1/stat"; }} 2>/dev/null || return 1
    case "${{stat##*) }}" in Z*) return 1;; esac
}}
show_tail() {{ tail -n 5 "$out" | while IFS= read -r line; do echo "soak:   | $line"; done; }}
started=$(now_ms)
while [ "$done_count" -lt "$processes" ]; do
    case $((done_count % programs)) in
{choose}    esac
    begin=$(now_ms)
    "$@" > "$out" 2>&1 &
    pid=$!
    tenths=0
    while alive "$pid" && [ "$tenths" -lt "$limit_tenths" ]; do
        sleep 0.1
        tenths=$((tenths + 1))
    done
    done_count=$((done_count + 1))
    if alive "$pid"; then
        hangs=$((hangs + 1)); in_a_row=$((in_a_row + 1))
        echo "soak: process $done_count ($*) hung: still running after {process_timeout_s} s; its last output:"
        show_tail
        kill -9 "$pid" 2>/dev/null
        if [ "$in_a_row" -ge {HANGS_IN_A_ROW_TO_STOP} ]; then
            echo "soak: {HANGS_IN_A_ROW_TO_STOP} processes in a row hung: the guest looks wedged; stopping"
            break
        fi
    else
        wait "$pid"; status=$?
        in_a_row=0
        echo $(( $(now_ms) - begin )) >> "$times"
        if [ "$status" -ne 0 ]; then
            failures=$((failures + 1))
            echo "soak: process $done_count ($*) failed with exit status $status; its last output:"
            show_tail
        fi
    fi
    if [ $((done_count % progress_every)) -eq 0 ]; then
        echo "{PROGRESS_PREFIX}$done_count/$processes failures=$failures hangs=$hangs elapsed_s=$(( ($(now_ms) - started) / 1000 ))"
    fi
done
elapsed=$(( $(now_ms) - started ))
finished=$(wc -l < "$times")
median=$(sort -n "$times" | head -n $(( (finished + 1) / 2 )) | tail -n 1)
slowest=$(sort -n "$times" | tail -n 1)
echo "{SUMMARY_PREFIX}$done_count failures=$failures hangs=$hangs seconds=$((elapsed / 1000)).$(( elapsed % 1000 / 100 )) process_ms_median=${{median:-0}} process_ms_max=${{slowest:-0}}"
[ "$done_count" -eq "$processes" ] && [ "$failures" -eq 0 ] && [ "$hangs" -eq 0 ]
"#,
        limit_tenths = process_timeout_s * 10,
        count = programs.len(),
    )
}

/// What the run printed: the guest's console under QEMU, the program's output over vtest.
fn read_console(run_dir: &Path) -> String {
    ["serial.log", "program.log"]
        .iter()
        .filter_map(|name| std::fs::read(run_dir.join(name)).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn summary_of(console: &str) -> Option<String> {
    last_line_starting(console, SUMMARY_PREFIX)
}

fn last_progress(console: &str) -> Option<String> {
    last_line_starting(console, PROGRESS_PREFIX)
}

fn last_line_starting(text: &str, prefix: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(|line| line.trim_end_matches('\r'))
        .find_map(|line| line.find(prefix).map(|at| line[at..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn programs_are_separated_by_double_dashes() {
        let options = parse(&args(
            "--pairing ours,ours,qemu-aarch64 --processes 50 --reference trixie -- vulkaninfo --summary -- venus-probe",
        ))
        .unwrap();
        assert_eq!(options.processes, 50);
        assert_eq!(
            options.programs,
            vec![args("vulkaninfo --summary"), args("venus-probe")]
        );
        assert_eq!(
            options.pairing,
            args("--guest ours --host ours --transport qemu-aarch64 --reference trixie")
        );
    }

    #[test]
    fn bad_options_are_refused() {
        for bad in [
            "--processes 5 -- vulkaninfo",
            "--pairing ours,ours --processes 5 -- vulkaninfo",
            "--pairing ours,ours,vtest --processes 0 -- vulkaninfo",
            "--pairing ours,ours,vtest --processes 5",
            "--pairing ours,ours,vtest --processes 5 -- vulkaninfo -- -- venus-probe",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }

    /// Runs the loop with the host's sh: one program that passes, one that fails, one that hangs.
    #[test]
    fn the_loop_counts_failures_and_hangs_and_goes_on() {
        let programs = vec![
            args("true"),
            vec!["sh".into(), "-c".into(), "exit 3".into()],
            vec!["sh".into(), "-c".into(), "sleep 5".into()],
        ];
        let mut script = loop_script(&programs, 5, 1);
        // Scale the hang limit down to 0.3 s for the test.
        script = script.replace("limit_tenths=10", "limit_tenths=3");
        let output = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary = summary_of(&stdout).unwrap_or_else(|| panic!("{stdout}"));
        assert!(
            summary.starts_with("soak: processes=5 failures=2 hangs=1 "),
            "{stdout}"
        );
        assert!(!output.status.success());
        assert!(
            stdout.contains("soak: process 2 (sh -c exit 3) failed with exit status 3"),
            "{stdout}"
        );
        assert!(
            stdout.contains("soak: process 3 (sh -c sleep 5) hung"),
            "{stdout}"
        );
        let progress = last_progress(&stdout).unwrap_or_default();
        assert!(
            progress.starts_with("soak: progress 5/5 failures=2 hangs=1 elapsed_s="),
            "{stdout}"
        );
    }

    #[test]
    fn a_clean_loop_succeeds() {
        let script = loop_script(&[args("true")], 3, 5);
        let output = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        assert!(
            summary_of(&stdout)
                .unwrap()
                .starts_with("soak: processes=3 failures=0 hangs=0 "),
            "{stdout}"
        );
    }
}
