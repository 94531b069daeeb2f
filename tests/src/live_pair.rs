//! A pairing run watched while it runs: its output lines as they arrive (with when they arrived), and
//! the host processes it started, found by walking the runner's process tree, so that a test can stop
//! or kill exactly those (never a process of another run on the same machine) and time what follows.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::PairRun;

/// One line of the runner's output.
#[derive(Clone, Debug)]
pub struct TimedLine {
    pub at: Instant,
    pub stderr: bool,
    pub text: String,
}

/// `cargo xtask pair` running in the background.
pub struct LivePair {
    child: Child,
    lines: Receiver<TimedLine>,
    seen: Vec<TimedLine>,
}

impl LivePair {
    /// Starts `cargo xtask pair ARGS...` with extra environment variables (the runner hands
    /// `VENUS_RS_*` to both halves).
    pub fn start(env: &[(&str, &str)], args: &[&str]) -> LivePair {
        let mut child = Command::new(crate::xtask_binary())
            .arg("pair")
            .args(args)
            .envs(env.iter().copied())
            .current_dir(crate::workspace_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the pairing runner");
        let (sender, lines) = channel();
        let streams: [(Box<dyn Read + Send>, bool); 2] = [
            (Box::new(child.stdout.take().expect("piped stdout")), false),
            (Box::new(child.stderr.take().expect("piped stderr")), true),
        ];
        for (stream, stderr) in streams {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for text in BufReader::new(stream).lines().map_while(Result::ok) {
                    let line = TimedLine {
                        at: Instant::now(),
                        stderr,
                        text,
                    };
                    if sender.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        LivePair {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The runner's process id: the root of every process the run starts.
    pub fn runner_pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for a line (seen before or arriving now) that `wanted` accepts.
    pub fn wait_for_line(
        &mut self,
        limit: Duration,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> Option<TimedLine> {
        if let Some(line) = self.seen.iter().find(|line| wanted(&line.text)) {
            return Some(line.clone());
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line.text) {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return None
                }
            }
        }
    }

    /// Waits up to `limit` for a process started by this run that `wanted` accepts, polling its tree.
    pub fn wait_for_process(
        &mut self,
        limit: Duration,
        wanted: impl Fn(&Process) -> bool,
    ) -> Option<Process> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = descendants(self.runner_pid()).into_iter().find(&wanted) {
                return Some(found);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the runner to end and collects everything it printed.
    pub fn finish(mut self) -> PairRun {
        let status = self
            .child
            .wait()
            .expect("cannot wait for the pairing runner");
        self.seen.extend(self.lines.iter());
        let text = |stderr: bool| {
            let lines: Vec<&str> = self
                .seen
                .iter()
                .filter(|line| line.stderr == stderr)
                .map(|line| line.text.as_str())
                .collect();
            lines.join("\n")
        };
        PairRun {
            exit_code: status.code(),
            stdout: text(false),
            stderr: text(true),
            run_dir: crate::run_dir_of(self.child.id()),
        }
    }
}

/// A process of the machine, as `/proc` shows it.
#[derive(Clone, Debug)]
pub struct Process {
    pub pid: u32,
    /// The kernel's short name (15 characters at most).
    pub name: String,
    pub args: Vec<String>,
}

impl Process {
    fn read(pid: u32) -> Option<(Process, u32)> {
        let dir = Path::new("/proc").join(pid.to_string());
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // "PID (NAME) STATE PPID ...": the name may hold spaces and parentheses, so split at the last ')'.
        let (head, tail) = stat.rsplit_once(')')?;
        let name = head.split_once('(')?.1.to_string();
        let parent = tail.split_whitespace().nth(1)?.parse().ok()?;
        let args = std::fs::read(dir.join("cmdline"))
            .ok()?
            .split(|byte| *byte == 0)
            .filter(|arg| !arg.is_empty())
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect();
        Some((Process { pid, name, args }, parent))
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid as i32).expect("a process id is not 0");
        rustix::process::kill_process(pid, signal)
            .unwrap_or_else(|e| panic!("cannot send {signal:?} to process {}: {e}", self.pid));
    }

    /// SIGSTOP: the process stays, and does nothing.
    pub fn stop(&self) {
        self.signal(rustix::process::Signal::STOP);
    }

    /// SIGCONT: a stopped process goes on.
    pub fn resume(&self) {
        self.signal(rustix::process::Signal::CONT);
    }

    /// SIGKILL.
    pub fn kill(&self) {
        self.signal(rustix::process::Signal::KILL);
    }
}

/// Every process below `root` in the process tree.
pub fn descendants(root: u32) -> Vec<Process> {
    let all: Vec<(Process, u32)> = std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
                .filter_map(Process::read)
                .collect()
        })
        .unwrap_or_default();
    let mut found = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for (process, _) in all.iter().filter(|(_, ppid)| *ppid == parent) {
            parents.push(process.pid);
            found.push(process.clone());
        }
    }
    found
}
