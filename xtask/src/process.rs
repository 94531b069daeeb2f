//! Running and supervising child processes: progress lines, logged commands, and children that are always
//! stopped (with their whole process group) when the runner is done with them.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One progress line per step: `[setup] name ... done (3.2 s): detail`.
pub struct Step {
    name: String,
    started: Instant,
}

impl Step {
    pub fn start(name: &str) -> Step {
        println!("[setup] {name} ...");
        Step {
            name: name.to_string(),
            started: Instant::now(),
        }
    }

    pub fn done(self, detail: &str) {
        println!(
            "[setup] {} ... done ({:.1} s): {detail}",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Runs a command to completion with stdout and stderr going to `log`; the error names the log and its tail.
pub fn run_logged(command: &mut Command, log: &Path) -> Result<(), String> {
    let file =
        std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err_file = file
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err_file)
        .status()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    // apt and debootstrap mark their real errors with `E:`; otherwise the last line says the most.
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let cause = lines
        .iter()
        .rev()
        .find(|line| line.starts_with("E:") || line.starts_with("error"))
        .or(lines.last())
        .copied()
        .unwrap_or("no output");
    Err(format!(
        "{:?} failed ({status}): {cause} (log: {})",
        command.get_program(),
        log.display()
    ))
}

/// A child in its own process group. Dropping it stops the whole group: SIGTERM, then SIGKILL after a grace period.
pub struct Supervised {
    name: String,
    child: Child,
    finished: Option<ExitStatus>,
}

impl Supervised {
    pub fn spawn(name: &str, command: &mut Command) -> Result<Supervised, String> {
        command.process_group(0);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name} ({:?}): {e}", command.get_program()))?;
        Ok(Supervised {
            name: name.to_string(),
            child,
            finished: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status if the process has ended, without waiting.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>, String> {
        if self.finished.is_none() {
            self.finished = self
                .child
                .try_wait()
                .map_err(|e| format!("waiting for {}: {e}", self.name))?;
        }
        Ok(self.finished)
    }

    /// Waits at most `limit` for the process to end.
    pub fn wait_for(&mut self, limit: Duration) -> Result<Option<ExitStatus>, String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_status()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return;
        };
        let Some(group) = rustix::process::Pid::from_raw(pid) else {
            return;
        };
        // The group outlives its leader when children (forked render servers, QEMU helpers) remain, so signal it
        // even after the leader has exited.
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
        if self.finished.is_none() && matches!(self.wait_for(Duration::from_secs(3)), Ok(None)) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            let _ = self.child.wait();
        }
        std::thread::sleep(Duration::from_millis(50));
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Copies each line of a child's output to our stdout and to a log file, and remembers the last line seen.
pub struct Tee {
    last_line: Arc<Mutex<String>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Tee {
    pub fn start(child: &mut Child, log: &Path) -> Result<Tee, String> {
        let file = std::fs::File::create(log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let file = Arc::new(Mutex::new(file));
        let last_line = Arc::new(Mutex::new(String::new()));
        let mut threads = Vec::new();
        let stdout = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        let stderr = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        for (stream, to_stderr) in [(stdout, false), (stderr, true)] {
            let Some(stream) = stream else { continue };
            let file = Arc::clone(&file);
            let last_line = Arc::clone(&last_line);
            threads.push(std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = Vec::new();
                while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                    if to_stderr {
                        let _ = std::io::stderr().write_all(&line);
                    } else {
                        let _ = std::io::stdout().write_all(&line);
                    }
                    if let Ok(mut file) = file.lock() {
                        let _ = file.write_all(&line);
                    }
                    let text = String::from_utf8_lossy(&line).trim_end().to_string();
                    if !text.is_empty() {
                        if let Ok(mut last) = last_line.lock() {
                            *last = text;
                        }
                    }
                    line.clear();
                }
            }));
        }
        Ok(Tee { last_line, threads })
    }

    pub fn last_line(&self) -> String {
        self.last_line.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits (bounded) for the output threads to drain what the child wrote before it ended.
    pub fn finish(self, limit: Duration) {
        let deadline = Instant::now() + limit;
        for thread in self.threads {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}
