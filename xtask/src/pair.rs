//! `cargo xtask pair`: runs one program through a pairing of a guest driver and a host renderer over a transport.

use crate::env::{in_reference_root, Home};
use crate::guest::GuestArch;
use crate::ours::{
    build_guest_half, build_host_half, build_test_programs, install_guest_half, VTEST_SERVER,
};
use crate::process::{Supervised, Tee};
use crate::qemu::{run_in_guest, Accel, GuestRun};
use crate::reference::Reference;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestDriver {
    Mesa,
    Ours,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostRenderer {
    Virgl,
    Ours,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Vtest,
    Qemu(GuestArch),
}

pub struct Pairing {
    pub guest: GuestDriver,
    pub host: HostRenderer,
    pub transport: Transport,
    pub accel: Accel,
    pub timeout: Duration,
    /// The reference stack whose chroot, QEMU and guest images the run uses.
    pub reference: Reference,
    /// QEMU's own virtio-gpu settings instead of the bench's (see `qemu::device_settings`).
    pub qemu_default_settings: bool,
    pub program: Vec<String>,
}

pub const USAGE: &str = "usage: cargo xtask pair --guest {mesa|ours} --host {virgl|ours} \
--transport {vtest|qemu-x86_64|qemu-aarch64} [--reference {newest|trixie}] [--timeout SECONDS] [--accel {tcg|kvm}] \
[--qemu-default-settings] -- PROGRAM [ARGS...]
  --reference: the reference stack to run on (default: $VENUS_RS_REFERENCE, else newest)
  --qemu-default-settings: leave QEMU's virtio-gpu at its defaults instead of the bench's settings";

impl Pairing {
    pub fn parse(args: &[String]) -> Result<Pairing, String> {
        let (options, program) = match args.iter().position(|a| a == "--") {
            Some(split) => (&args[..split], args[split + 1..].to_vec()),
            None => return Err(format!("missing `-- PROGRAM`\n{USAGE}")),
        };
        if program.is_empty() {
            return Err(format!("no program after `--`\n{USAGE}"));
        }
        let mut guest = None;
        let mut host = None;
        let mut transport = None;
        let mut accel = Accel::Tcg;
        let mut timeout = Duration::from_secs(300);
        let mut reference = None;
        let mut qemu_default_settings = false;
        let mut rest = options.iter();
        while let Some(option) = rest.next() {
            let mut value = || {
                rest.next()
                    .cloned()
                    .ok_or_else(|| format!("{option} needs a value\n{USAGE}"))
            };
            match option.as_str() {
                "--guest" => guest = Some(parse_guest(&value()?)?),
                "--host" => host = Some(parse_host(&value()?)?),
                "--transport" => transport = Some(parse_transport(&value()?)?),
                "--reference" => reference = Some(Reference::parse(&value()?)?),
                "--qemu-default-settings" => qemu_default_settings = true,
                "--timeout" => {
                    let text = value()?;
                    let seconds: u64 = text
                        .parse()
                        .map_err(|_| format!("--timeout takes whole seconds, not {text:?}"))?;
                    timeout = Duration::from_secs(seconds.max(1));
                }
                "--accel" => {
                    accel = match value()?.as_str() {
                        "tcg" => Accel::Tcg,
                        "kvm" => Accel::Kvm,
                        other => return Err(format!("unknown --accel {other:?}: tcg or kvm")),
                    }
                }
                other => return Err(format!("unknown option {other:?}\n{USAGE}")),
            }
        }
        Ok(Pairing {
            guest: guest.ok_or_else(|| format!("--guest is required\n{USAGE}"))?,
            host: host.ok_or_else(|| format!("--host is required\n{USAGE}"))?,
            transport: transport.ok_or_else(|| format!("--transport is required\n{USAGE}"))?,
            accel,
            timeout,
            reference: match reference {
                Some(reference) => reference,
                None => Reference::from_env()?,
            },
            qemu_default_settings,
            program,
        })
    }

    pub fn label(&self) -> String {
        let transport = match self.transport {
            Transport::Vtest => "vtest".to_string(),
            Transport::Qemu(GuestArch::X86_64) => "qemu-x86_64".to_string(),
            Transport::Qemu(GuestArch::Aarch64) => "qemu-aarch64".to_string(),
        };
        format!("{:?},{:?},{transport}", self.guest, self.host).to_lowercase()
    }
}

fn parse_guest(text: &str) -> Result<GuestDriver, String> {
    match text {
        "mesa" => Ok(GuestDriver::Mesa),
        "ours" => Ok(GuestDriver::Ours),
        other => Err(format!("unknown --guest {other:?}: mesa or ours")),
    }
}

fn parse_host(text: &str) -> Result<HostRenderer, String> {
    match text {
        "virgl" => Ok(HostRenderer::Virgl),
        "ours" => Ok(HostRenderer::Ours),
        other => Err(format!("unknown --host {other:?}: virgl or ours")),
    }
}

fn parse_transport(text: &str) -> Result<Transport, String> {
    match text {
        "vtest" => Ok(Transport::Vtest),
        "qemu-x86_64" => Ok(Transport::Qemu(GuestArch::X86_64)),
        "qemu-aarch64" => Ok(Transport::Qemu(GuestArch::Aarch64)),
        other => Err(format!(
            "unknown --transport {other:?}: vtest, qemu-x86_64 or qemu-aarch64"
        )),
    }
}

/// Lavapipe, the host's real Vulkan driver on these machines, as the reference chroot names it.
const HOST_DRIVER_FILES: &str = "/usr/share/vulkan/icd.d/lvp_icd.json";
/// Mesa's Venus ICD inside the chroot and inside the guests.
const MESA_VENUS_DRIVER_FILES: &str = "/usr/share/vulkan/icd.d/virtio_icd.json";

/// Runs the pairing and returns the program's exit code. The per-run folder keeps every log.
pub fn run(home: &Home, pairing: &Pairing) -> Result<i32, String> {
    let run_dir = new_run_dir(home, pairing)?;
    run_in_dir(home, pairing, &run_dir)
}

/// `run` with a run folder made by `new_run_dir`, for callers that read its logs afterwards.
pub fn run_in_dir(home: &Home, pairing: &Pairing, run_dir: &Path) -> Result<i32, String> {
    let home = &home.with_reference(pairing.reference);
    home.require_reference()?;
    eprintln!(
        "[pair] {} on the {} reference stack ({})",
        pairing.label(),
        pairing.reference.name(),
        crate::versions::headline(home)
    );
    let result = match pairing.transport {
        Transport::Vtest => run_vtest(home, pairing, run_dir),
        Transport::Qemu(arch) => run_qemu(home, pairing, arch, run_dir),
    };
    match &result {
        Ok(0) => {}
        Ok(code) => eprintln!(
            "[pair] {} exited with {code}; logs: {}",
            pairing.label(),
            run_dir.display()
        ),
        Err(_) => eprintln!(
            "[pair] {} failed; logs: {}",
            pairing.label(),
            run_dir.display()
        ),
    }
    result
}

pub fn new_run_dir(home: &Home, pairing: &Pairing) -> Result<PathBuf, String> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let dir = home.runs_dir().join(format!(
        "{stamp}-{}-{}-{}",
        pairing.label().replace(',', "-"),
        pairing.reference.name(),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn run_vtest(home: &Home, pairing: &Pairing, run_dir: &Path) -> Result<i32, String> {
    let socket = run_dir.join("vtest.sock");
    let mut shared: Vec<PathBuf> = vec![run_dir.to_path_buf()];
    let ours_host = match pairing.host {
        HostRenderer::Ours => Some(build_host_half(run_dir)?),
        HostRenderer::Virgl => None,
    };
    let ours_guest = match pairing.guest {
        GuestDriver::Ours => Some(build_guest_half(GuestArch::X86_64, run_dir)?),
        GuestDriver::Mesa => None,
    };
    let mut path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string();
    // Every test program, so that one run can chain several (`sh -c 'render-check && sync-check'`).
    if let Some(program) = build_test_programs(GuestArch::X86_64, run_dir)?.first() {
        let dir = parent_dir(program);
        path = format!("{}:{path}", dir.display());
        shared.push(dir);
    }
    let server_log = std::fs::File::create(run_dir.join("server.log"))
        .map_err(|e| format!("cannot create the server log: {e}"))?;
    let server_env = vec![("VK_DRIVER_FILES".to_string(), HOST_DRIVER_FILES.to_string())];
    let socket_arg = socket.to_string_lossy().into_owned();
    let (server_name, server_program, server_args) = match &ours_host {
        Some(host) => {
            shared.push(parent_dir(&host.vtest_server));
            (
                VTEST_SERVER,
                host.vtest_server.to_string_lossy().into_owned(),
                vec!["--socket-path".to_string(), socket_arg],
            )
        }
        None => (
            "virgl_test_server",
            "virgl_test_server".to_string(),
            ["--venus", "--no-virgl", "--multi-clients", "--socket-path"]
                .iter()
                .map(|s| s.to_string())
                .chain([socket_arg])
                .collect(),
        ),
    };
    let mut client_env = vec![
        (
            "VTEST_SOCKET_NAME".to_string(),
            socket.to_string_lossy().into_owned(),
        ),
        (
            "XDG_RUNTIME_DIR".to_string(),
            run_dir.to_string_lossy().into_owned(),
        ),
    ];
    match &ours_guest {
        Some(guest) => {
            // The run folder is bind-mounted at the same path, so the install prefix is valid inside the chroot.
            let prefix = run_dir.join("ours");
            let installed = install_guest_half(guest, Path::new("/"), &prefix.to_string_lossy())?;
            client_env.push(("VENUS_RS_TRANSPORT".to_string(), "vtest".to_string()));
            client_env.push(("VK_DRIVER_FILES".to_string(), installed.manifest));
            path = format!("{}:{path}", installed.bin_dir);
        }
        None => {
            client_env.push((
                "VK_DRIVER_FILES".to_string(),
                MESA_VENUS_DRIVER_FILES.to_string(),
            ));
            client_env.push(("VN_DEBUG".to_string(), "vtest".to_string()));
        }
    }
    client_env.push(("PATH".to_string(), path));
    let shared: Vec<&Path> = shared.iter().map(PathBuf::as_path).collect();
    let mut server_command =
        in_reference_root(home, &shared, &server_env, &server_program, &server_args);
    server_command
        .stdin(Stdio::null())
        .stdout(
            server_log
                .try_clone()
                .map_err(|e| format!("server log: {e}"))?,
        )
        .stderr(server_log);
    let mut server = Supervised::spawn(server_name, &mut server_command)?;
    wait_for_socket(&mut server, &socket, Duration::from_secs(20))?;

    let mut client_command = in_reference_root(
        home,
        &shared,
        &client_env,
        &pairing.program[0],
        &pairing.program[1..],
    );
    client_command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut client = Supervised::spawn(&pairing.program[0], &mut client_command)?;
    let tee = Tee::start(client.child_mut(), &run_dir.join("program.log"))?;
    let started = Instant::now();
    let status = client.wait_for(pairing.timeout)?;
    let outcome = match status {
        Some(status) => {
            tee.finish(Duration::from_secs(5));
            Ok(exit_code(status))
        }
        None => {
            let last = tee.last_line();
            client.stop();
            Err(format!(
                "{} did not finish within {} s; its last output line: {last:?}",
                pairing.program[0],
                started.elapsed().as_secs()
            ))
        }
    };
    drop(client);
    if let Ok(Some(status)) = server.try_status() {
        eprintln!("[pair] note: the server ({server_name}) had already exited ({status})");
    }
    outcome
}

fn wait_for_socket(server: &mut Supervised, socket: &Path, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !socket.exists() {
        if let Some(status) = server.try_status()? {
            return Err(format!(
                "{} exited ({status}) before creating its socket {}",
                server.name(),
                socket.display()
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} did not create its socket {} within {} s",
                server.name(),
                socket.display(),
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A program killed by a signal reports 128 + the signal number, as shells do.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}

fn run_qemu(
    home: &Home,
    pairing: &Pairing,
    arch: GuestArch,
    run_dir: &Path,
) -> Result<i32, String> {
    let mut host_env = vec![("VK_DRIVER_FILES".to_string(), HOST_DRIVER_FILES.to_string())];
    let mut shared: Vec<PathBuf> = Vec::new();
    if pairing.host == HostRenderer::Ours {
        let host = build_host_half(run_dir)?;
        shared.push(parent_dir(&host.render_server));
        host_env.push((
            "RENDER_SERVER_EXEC_PATH".to_string(),
            host.render_server.to_string_lossy().into_owned(),
        ));
    }
    let mut guest_env = vec![("XDG_RUNTIME_DIR".to_string(), "/tmp".to_string())];
    guest_env.extend(std::env::vars().filter(|(key, _)| key.starts_with("VENUS_RS_")));
    let mut payload: Vec<(PathBuf, String)> = Vec::new();
    // Every test program, so that one boot can chain several (`sh -c 'render-check && sync-check'`).
    for program in build_test_programs(arch, run_dir)? {
        let name = program.file_name().unwrap_or_default().to_string_lossy();
        let target = format!("/usr/local/bin/{name}");
        payload.push((program, target));
    }
    match pairing.guest {
        GuestDriver::Mesa => guest_env.push((
            "VK_DRIVER_FILES".to_string(),
            MESA_VENUS_DRIVER_FILES.to_string(),
        )),
        GuestDriver::Ours => {
            let guest = build_guest_half(arch, run_dir)?;
            let installed = install_guest_half(&guest, &run_dir.join("guest-root"), "/usr/local")?;
            payload.extend(installed.files);
            guest_env.push(("VK_DRIVER_FILES".to_string(), installed.manifest));
        }
    }
    let shared: Vec<&Path> = shared.iter().map(PathBuf::as_path).collect();
    let run = GuestRun {
        arch,
        accel: pairing.accel,
        timeout: pairing.timeout,
        default_device_settings: pairing.qemu_default_settings,
        run_dir,
        program: &pairing.program,
        guest_env: &guest_env,
        payload: &payload,
        host_env: &host_env,
        host_shared_paths: &shared,
    };
    run_in_guest(home, &run)
}

fn parent_dir(path: &Path) -> PathBuf {
    path.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"))
}
