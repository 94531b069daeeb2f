//! Runs one program in a guest under the reference chroot's QEMU, with a Venus-capable virtio-gpu whose host side
//! is the chroot's virglrenderer (or whatever render server the caller's environment names).
//!
//! The device settings are the measured ones of `shared/notes/reference-stack.md`. QEMU needs an OpenGL display
//! and this machine has no /dev/dri, so each run starts its own Xvfb and QEMU draws into it through SDL.

use crate::env::{in_reference_root, Home};
use crate::guest::{
    existing_guest, write_boot_initrd, GuestArch, GuestCommand, GuestEvent, Markers,
};
use crate::process::Supervised;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Accel {
    #[default]
    Tcg,
    Kvm,
}

pub struct GuestRun<'a> {
    pub arch: GuestArch,
    pub accel: Accel,
    pub timeout: Duration,
    /// QEMU's defaults for the virtio-gpu device instead of the bench's `device_settings` (for measuring whether
    /// those are still needed).
    pub default_device_settings: bool,
    /// Per-run log folder, created by the caller.
    pub run_dir: &'a Path,
    /// argv run in the guest.
    pub program: &'a [String],
    /// The guest program's whole environment (besides PATH, HOME and TERM defaults).
    pub guest_env: &'a [(String, String)],
    /// Host file -> absolute guest path, copied into the per-run archive.
    pub payload: &'a [(PathBuf, String)],
    /// Extra environment for QEMU (e.g. RENDER_SERVER_EXEC_PATH, VK_DRIVER_FILES).
    pub host_env: &'a [(String, String)],
    /// Host paths QEMU needs inside the chroot (bind-mounted at the same path).
    pub host_shared_paths: &'a [&'a Path],
}

/// Lavapipe as the chroot names it: the renderer's Vulkan driver unless `host_env` says otherwise.
const HOST_DRIVER_FILES: &str = "/usr/share/vulkan/icd.d/lvp_icd.json";
const GUEST_MEMORY: &str = "4G";
const GUEST_CPUS: &str = "2";
/// Blob creation sizes are checked by tests; context creation and submissions show what the guest driver did.
const TRACE_EVENTS: &[&str] = &[
    "virtio_gpu_cmd_res_create_blob",
    "virtio_gpu_cmd_ctx_create",
    "virtio_gpu_cmd_ctx_submit",
];
/// The bench's changes to QEMU's virtio-gpu defaults, unless a run asks for QEMU's own.
///
/// event_idx=off: with QEMU 10.0 (trixie's) a virtqueue notification was lost now and then and the guest hung
/// (Mesa + virglrenderer, x86_64: 5 of 8 boots hung, about 1 process in 50–60; none in 457 processes without
/// event_idx). Re-measured on QEMU 11.1 (2026-12-04, TCG on 2 cores, `cargo xtask soak`, 1000 processes per boot):
/// with QEMU's defaults, 1 stall in 5000 processes — a compute-readback through mesa,virgl,qemu-x86_64 had no
/// reply for 30 s after vkCreateShaderModule until its watchdog ended it, the pattern of a lost notification
/// (1 of 1000 mapped-memory compute processes in two loops; 0 in vulkaninfo loops through ours,ours,qemu-aarch64
/// and mesa,virgl,qemu-x86_64, 0 in ours,ours,qemu-aarch64 with compute). With event_idx=off: 0 in 3000,
/// 1000 of them the same mapped-memory loop. Kept: a stall costs a CI run, and the setting costs no measurable
/// time (median process 604 ms with it, 474 and 563 ms without, in that loop).
fn device_settings(qemu_defaults: bool) -> &'static [&'static str] {
    if qemu_defaults {
        &[]
    } else {
        &["-global", "virtio-gpu-gl-pci.event_idx=off"]
    }
}
const XVFB_START_LIMIT: Duration = Duration::from_secs(30);
/// After the exit marker, init powers the guest off; QEMU then exits by itself.
const POWER_OFF_LIMIT: Duration = Duration::from_secs(30);

/// Boots the guest, runs `run.program` there and returns its exit code. Every log lands in `run.run_dir`:
/// serial.log (the whole console), qemu.log (QEMU's stderr), qemu-trace.log and xvfb.log.
pub fn run_in_guest(home: &Home, run: &GuestRun) -> Result<i32, String> {
    home.require_reference()?;
    check_accel(run.arch, run.accel)?;
    let image = existing_guest(home, run.arch)?;
    let run_dir = std::fs::canonicalize(run.run_dir).map_err(|e| {
        format!(
            "the run folder {} is not usable: {e}",
            run.run_dir.display()
        )
    })?;
    let initrd = RemovedOnDrop(run_dir.join("initrd.img"));
    let command = GuestCommand {
        program: run.program,
        env: run.guest_env,
        payload: run.payload,
    };
    let markers = write_boot_initrd(&image, &command, &initrd.0)?;

    let (xvfb, display) = start_xvfb(home, &run_dir)?;
    let image_dir = image
        .kernel
        .parent()
        .ok_or("the guest kernel path has no folder")?;
    let mut shared: Vec<&Path> = vec![&run_dir, image_dir];
    shared.extend(run.host_shared_paths);
    let args = qemu_args(
        run.arch,
        run.accel,
        device_settings(run.default_device_settings),
        &image.kernel,
        &initrd.0,
        &run_dir.join("qemu-trace.log"),
    );
    let mut command = in_reference_root(
        home,
        &shared,
        &qemu_env(display, run.host_env),
        qemu_binary(run.arch),
        &args,
    );
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(create_log(&run_dir.join("qemu.log"))?);
    die_with_parent(&mut command);
    let started = Instant::now();
    let mut qemu = Supervised::spawn("QEMU", &mut command)?;
    let stdout = qemu
        .child_mut()
        .stdout
        .take()
        .ok_or("QEMU's console output was not captured")?;
    let console = Console::watch(
        stdout,
        create_log(&run_dir.join("serial.log"))?,
        markers,
        run_dir.join("out"),
    );

    let outcome = supervise(run, &run_dir, &mut qemu, &console, started);
    drop(qemu);
    drop(xvfb);
    console.finish(Duration::from_secs(5));
    outcome
}

fn check_accel(arch: GuestArch, accel: Accel) -> Result<(), String> {
    if accel == Accel::Tcg {
        return Ok(());
    }
    if arch.name() != std::env::consts::ARCH {
        return Err(format!(
            "--accel kvm runs only {} guests on this {} host: use tcg for {}",
            std::env::consts::ARCH,
            std::env::consts::ARCH,
            arch.name()
        ));
    }
    if !Path::new("/dev/kvm").exists() {
        return Err("--accel kvm: /dev/kvm does not exist on this machine; use tcg".into());
    }
    Ok(())
}

fn qemu_binary(arch: GuestArch) -> &'static str {
    match arch {
        GuestArch::X86_64 => "qemu-system-x86_64",
        GuestArch::Aarch64 => "qemu-system-aarch64",
    }
}

fn qemu_args(
    arch: GuestArch,
    accel: Accel,
    device_settings: &[&str],
    kernel: &Path,
    initrd: &Path,
    trace: &Path,
) -> Vec<String> {
    let (machine, cpu) = match (arch, accel) {
        (GuestArch::X86_64, Accel::Kvm) => ("q35", "host"),
        (GuestArch::X86_64, Accel::Tcg) => ("q35", "max"),
        // pauth-impdef: QEMU's architected pointer authentication is very slow under TCG.
        (GuestArch::Aarch64, _) => ("virt,gic-version=max", "max,pauth-impdef=on"),
    };
    let accel = match accel {
        Accel::Tcg => "tcg,thread=multi",
        Accel::Kvm => "kvm",
    };
    let mut args: Vec<String> = [
        "-nodefaults",
        "-no-user-config",
        "-no-reboot",
        "-machine",
        &format!("{machine},memory-backend=mem"),
        "-cpu",
        cpu,
        "-accel",
        accel,
        "-smp",
        GUEST_CPUS,
        "-m",
        GUEST_MEMORY,
        "-object",
        &format!("memory-backend-memfd,id=mem,size={GUEST_MEMORY},share=on"),
        "-device",
        "virtio-gpu-gl-pci,blob=true,venus=true,hostmem=1G",
        "-display",
        "sdl,gl=on",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-kernel",
        &kernel.to_string_lossy(),
        "-initrd",
        &initrd.to_string_lossy(),
        "-append",
        &format!("console={} panic=1 quiet", arch.serial_console()),
    ]
    .map(String::from)
    .to_vec();
    args.extend(device_settings.iter().map(|arg| arg.to_string()));
    for event in TRACE_EVENTS {
        args.push("-trace".into());
        args.push(format!("enable={event}"));
    }
    args.push("-trace".into());
    args.push(format!("file={}", trace.display()));
    args
}

fn qemu_env(display: u32, host_env: &[(String, String)]) -> Vec<(String, String)> {
    let mut env = vec![("DISPLAY".to_string(), format!(":{display}"))];
    if !host_env.iter().any(|(key, _)| key == "VK_DRIVER_FILES") {
        env.push(("VK_DRIVER_FILES".into(), HOST_DRIVER_FILES.into()));
    }
    env.extend(host_env.iter().cloned());
    env
}

/// Starts Xvfb on a display number it picks itself (`-displayfd`), so parallel runs never collide.
fn start_xvfb(home: &Home, run_dir: &Path) -> Result<(Supervised, u32), String> {
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| format!("cannot create a pipe for Xvfb: {e}"))?;
    rustix::io::fcntl_setfd(&writer, rustix::io::FdFlags::empty())
        .map_err(|e| format!("cannot hand a pipe to Xvfb: {e}"))?;
    let args: Vec<String> = [
        "-displayfd",
        &writer.as_raw_fd().to_string(),
        "-nolisten",
        "tcp",
        "-screen",
        "0",
        "1280x800x24",
    ]
    .map(String::from)
    .to_vec();
    let log = create_log(&run_dir.join("xvfb.log"))?;
    let mut command = in_reference_root(home, &[], &[], "Xvfb", &args);
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| format!("xvfb.log: {e}"))?)
        .stderr(log);
    die_with_parent(&mut command);
    let mut xvfb = Supervised::spawn("Xvfb", &mut command)?;
    drop(writer);

    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let result = BufReader::new(std::fs::File::from(reader)).read_line(&mut line);
        let _ = sender.send(result.map(|_| line));
    });
    let reply = receiver.recv_timeout(XVFB_START_LIMIT);
    let log_path = run_dir.join("xvfb.log");
    match reply {
        Ok(Ok(line)) => match line.trim().parse() {
            Ok(display) => Ok((xvfb, display)),
            Err(_) => {
                let status = xvfb.wait_for(Duration::from_secs(1))?;
                Err(format!(
                    "Xvfb did not report a display (it said {line:?}, exit status {status:?}); see {}",
                    log_path.display()
                ))
            }
        },
        Ok(Err(e)) => Err(format!("cannot read Xvfb's display number: {e}")),
        Err(_) => Err(format!(
            "Xvfb did not report a display within {} s; see {}",
            XVFB_START_LIMIT.as_secs(),
            log_path.display()
        )),
    }
}

/// Makes the kernel kill the child when this process dies: a Ctrl-C reaches only our process group, while
/// supervised children run in groups of their own.
fn die_with_parent(command: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: the hook runs in the forked child before exec and only makes the prctl and getppid system calls,
    // which are async-signal-safe and touch no memory shared with other threads.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // The parent may have died before the prctl took effect.
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::other(
                    "the parent exited before its child started",
                ));
            }
            Ok(())
        });
    }
}

fn supervise(
    run: &GuestRun,
    run_dir: &Path,
    qemu: &mut Supervised,
    console: &Console,
    started: Instant,
) -> Result<i32, String> {
    let deadline = started + run.timeout;
    let mut program_started = None;
    let name = run.arch.name();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match console.events.recv_timeout(left) {
            Ok(ConsoleEvent::Guest(GuestEvent::Started)) => program_started = Some(Instant::now()),
            // The console writes files itself and never reports them.
            Ok(ConsoleEvent::Guest(GuestEvent::FileStart(_) | GuestEvent::FileEnd)) => {}
            Ok(ConsoleEvent::Guest(GuestEvent::Exited(code))) => {
                let ended = Instant::now();
                if qemu.wait_for(POWER_OFF_LIMIT)?.is_none() {
                    eprintln!(
                        "[qemu] note: the {name} guest did not power off within {} s; stopping QEMU",
                        POWER_OFF_LIMIT.as_secs()
                    );
                }
                let boot = program_started.map_or(0.0, |at| (at - started).as_secs_f64());
                let program = program_started.map_or(0.0, |at| (ended - at).as_secs_f64());
                eprintln!(
                    "[qemu] {name} guest: boot {boot:.1} s, program {program:.1} s, whole run {:.1} s, exit status {code}",
                    started.elapsed().as_secs_f64()
                );
                return Ok(code);
            }
            Ok(ConsoleEvent::Guest(GuestEvent::Failed(message))) => {
                return Err(format!(
                    "the {name} guest could not run the program: {message} (console: {})",
                    run_dir.join("serial.log").display()
                ));
            }
            Ok(ConsoleEvent::Closed) | Err(RecvTimeoutError::Disconnected) => {
                let status = qemu.wait_for(Duration::from_secs(5))?;
                let status = status.map_or("still running".to_string(), |s| s.to_string());
                let panic = console
                    .panic_line()
                    .map(|line| format!("the guest kernel panicked ({line}); "))
                    .unwrap_or_default();
                return Err(format!(
                    "the {name} guest ended without reporting the program's exit status: {panic}QEMU: {status}; \
                     last console line: {:?}; QEMU's last words: {:?} (logs in {})",
                    console.last_line(),
                    last_line_of(&run_dir.join("qemu.log")),
                    run_dir.display()
                ));
            }
            Err(RecvTimeoutError::Timeout) => {
                let phase = if program_started.is_some() {
                    "the program was still running"
                } else {
                    "the guest had not started the program yet"
                };
                return Err(format!(
                    "the {name} guest did not finish within {} s ({phase}); last console line: {:?} (logs in {})",
                    run.timeout.as_secs(),
                    console.last_line(),
                    run_dir.display()
                ));
            }
        }
    }
}

enum ConsoleEvent {
    Guest(GuestEvent),
    Closed,
}

/// Reads the guest's serial console: keeps all of it in serial.log, streams the program's lines to stdout and
/// reports the markers.
struct Console {
    events: Receiver<ConsoleEvent>,
    last_line: Arc<Mutex<String>>,
    panic_line: Arc<Mutex<Option<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Console {
    /// Files the program left for the host are written to `out_dir`.
    fn watch(
        mut serial: ChildStdout,
        mut log: std::fs::File,
        markers: Markers,
        out_dir: PathBuf,
    ) -> Console {
        let (sender, events) = mpsc::channel();
        let last_line = Arc::new(Mutex::new(String::new()));
        let panic_line = Arc::new(Mutex::new(None));
        let (last, panic) = (Arc::clone(&last_line), Arc::clone(&panic_line));
        let thread = std::thread::spawn(move || {
            let mut streaming = false;
            let mut file: Option<GuestFile> = None;
            let mut pending = Vec::new();
            let mut chunk = [0u8; 8192];
            while let Ok(count @ 1..) = serial.read(&mut chunk) {
                let _ = log.write_all(&chunk[..count]);
                pending.extend_from_slice(&chunk[..count]);
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let raw: Vec<u8> = pending.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&raw);
                    let line = line.trim_end_matches(['\n', '\r']);
                    if !line.trim().is_empty() {
                        *lock(&last) = line.to_string();
                    }
                    if line.contains("Kernel panic") {
                        lock(&panic).get_or_insert_with(|| line.trim().to_string());
                    }
                    match markers.find(line) {
                        Some((_, GuestEvent::FileStart(name))) => {
                            file = Some(GuestFile::new(name));
                        }
                        Some((_, GuestEvent::FileEnd)) => {
                            if let Some(done) = file.take() {
                                done.write_into(&out_dir);
                            }
                        }
                        None if file.is_some() => {
                            if let Some(receiving) = file.as_mut() {
                                receiving.base64.push_str(line.trim());
                            }
                        }
                        Some((before, event)) => {
                            if streaming && !before.is_empty() {
                                print_program_line(before);
                            }
                            streaming = event == GuestEvent::Started;
                            let _ = sender.send(ConsoleEvent::Guest(event));
                        }
                        None if streaming => print_program_line(line),
                        None => {}
                    }
                }
                let partial = String::from_utf8_lossy(&pending);
                if !partial.trim().is_empty() {
                    *lock(&last) = partial.trim_end().to_string();
                }
            }
            let _ = sender.send(ConsoleEvent::Closed);
        });
        Console {
            events,
            last_line,
            panic_line,
            thread,
        }
    }

    fn last_line(&self) -> String {
        lock(&self.last_line).clone()
    }

    fn panic_line(&self) -> Option<String> {
        lock(&self.panic_line).clone()
    }

    /// Waits (bounded) for the reader to drain what QEMU wrote before it ended.
    fn finish(self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.thread.is_finished() {
            let _ = self.thread.join();
        }
    }
}

/// A file coming from the guest through the console.
struct GuestFile {
    name: String,
    base64: String,
}

impl GuestFile {
    fn new(name: String) -> GuestFile {
        GuestFile {
            name,
            base64: String::new(),
        }
    }

    /// Decodes the file into `out_dir`. Names are plain file names (the guest's own folder has no
    /// subfolders); anything else, or a failed decode, is reported and skipped.
    fn write_into(self, out_dir: &Path) {
        use base64::Engine as _;
        let plain = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            && !self.name.starts_with('.');
        if !plain {
            eprintln!("[qemu] note: ignored a guest file named {:?}", self.name);
            return;
        }
        let outcome = base64::engine::general_purpose::STANDARD
            .decode(self.base64.as_bytes())
            .map_err(|e| format!("not base64: {e}"))
            .and_then(|bytes| {
                std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
                std::fs::write(out_dir.join(&self.name), bytes).map_err(|e| e.to_string())
            });
        if let Err(e) = outcome {
            eprintln!("[qemu] note: the guest file {} was lost: {e}", self.name);
        }
    }
}

fn print_program_line(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn create_log(path: &Path) -> Result<std::fs::File, String> {
    std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn last_line_of(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

/// The per-run initramfs is as large as the image; the logs stay, it does not.
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_traces_blob_creation_and_applies_the_settings_it_is_given() {
        for arch in [GuestArch::X86_64, GuestArch::Aarch64] {
            let args = qemu_args(
                arch,
                Accel::Tcg,
                &["-global", "x.y=z"],
                Path::new("/k"),
                Path::new("/i"),
                Path::new("/t.log"),
            );
            let joined = args.join(" ");
            assert!(joined.contains("-global x.y=z"), "{joined}");
            assert!(
                joined.contains("-trace enable=virtio_gpu_cmd_res_create_blob"),
                "{joined}"
            );
            assert!(joined.contains("-trace file=/t.log"), "{joined}");
            assert!(
                joined.contains(&format!("console={} ", arch.serial_console())),
                "{joined}"
            );
        }
    }

    #[test]
    fn the_bench_turns_event_idx_off_unless_qemu_defaults_are_asked_for() {
        assert_eq!(
            device_settings(false).join(" "),
            "-global virtio-gpu-gl-pci.event_idx=off"
        );
        assert!(device_settings(true).is_empty());
    }

    #[test]
    fn host_env_overrides_the_default_renderer_driver() {
        let ours = vec![("VK_DRIVER_FILES".to_string(), "/x.json".to_string())];
        let env = qemu_env(7, &ours);
        assert_eq!(
            env.iter()
                .filter(|(key, _)| key == "VK_DRIVER_FILES")
                .count(),
            1
        );
        assert!(env.contains(&("DISPLAY".to_string(), ":7".to_string())));
        assert!(qemu_env(7, &[])
            .contains(&("VK_DRIVER_FILES".to_string(), HOST_DRIVER_FILES.to_string())));
    }

    #[test]
    fn kvm_is_refused_for_a_foreign_architecture() {
        assert!(check_accel(GuestArch::Aarch64, Accel::Kvm).is_err());
        assert!(check_accel(GuestArch::Aarch64, Accel::Tcg).is_ok());
    }
}
