//! A drop-in for virglrenderer's render server, started by the VMM's libvirglrenderer
//! through `RENDER_SERVER_EXEC_PATH` as `venus-rs-render-server --socket-fd N`.

use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::Arc;

use rustix::net::SocketType;
use venus_rs_host::render_server::{run_worker, RenderServer, WorkerArgs};
use venus_rs_host::simulate_hvf::{self, HVF_PAGE_SIZE, SIMULATE_HVF_FLAG};
use venus_rs_host::vulkan::{DecoderOptions, HostProfile, VulkanDecoder};
use venus_rs_host::{sandbox, teardown};

const USAGE: &str = "usage: venus-rs-render-server --socket-fd N [--simulate-hvf]
       (workers: venus-rs-render-server --context-worker --socket-fd N --ctx-id ID \
--ctx-name NAME --init-flags FLAGS)
  --simulate-hvf  hand blobs whose size is not a multiple of 16 KiB to the VMM as memory the host
                  does not share, as QEMU under macOS Hypervisor.framework maps them (also
                  VENUS_RS_SIMULATE_HVF=1, which is how QEMU's render server gets it)";

#[derive(Default)]
struct Args {
    context_worker: bool,
    socket_fd: Option<i32>,
    ctx_id: Option<u32>,
    ctx_name: Option<String>,
    init_flags: Option<u32>,
    simulate_hvf: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let number = |name: &str, text: String| {
            text.parse::<u32>()
                .map_err(|_| format!("{name} takes a number, not {text:?}"))
        };
        match arg.as_str() {
            "--socket-fd" => {
                let text = value("--socket-fd")?;
                let fd = number("--socket-fd", text)?;
                parsed.socket_fd =
                    Some(i32::try_from(fd).map_err(|_| "--socket-fd is too large".to_owned())?);
            }
            "--context-worker" => parsed.context_worker = true,
            SIMULATE_HVF_FLAG => parsed.simulate_hvf = true,
            "--ctx-id" => parsed.ctx_id = Some(number("--ctx-id", value("--ctx-id")?)?),
            "--ctx-name" => parsed.ctx_name = Some(value("--ctx-name")?),
            "--init-flags" => {
                parsed.init_flags = Some(number("--init-flags", value("--init-flags")?)?)
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

/// Takes ownership of the SOCK_SEQPACKET descriptor our parent passed by number.
fn adopt_socket(fd: i32) -> Result<OwnedFd, String> {
    if fd < 3 {
        return Err(format!("--socket-fd {fd} would be a standard stream"));
    }
    // SAFETY: the parent passed this descriptor number on the command line for this process
    // to own (that is the --socket-fd contract). If it turns out not to be an open
    // SEQPACKET socket, ownership is given up again below without closing anything.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    match rustix::net::sockopt::socket_type(&socket) {
        Ok(SocketType::SEQPACKET) => Ok(socket),
        Ok(other) => {
            let _ = socket.into_raw_fd();
            Err(format!(
                "--socket-fd {fd} is a {other:?} socket, not SOCK_SEQPACKET"
            ))
        }
        Err(error) => {
            let _ = socket.into_raw_fd();
            Err(format!("--socket-fd {fd} is not an open socket: {error}"))
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let hvf = simulate_hvf::init(args.simulate_hvf)?;
    let socket = adopt_socket(
        args.socket_fd
            .ok_or_else(|| format!("--socket-fd is required\n{USAGE}"))?,
    )?;
    if args.context_worker {
        let missing = |name: &str| format!("--context-worker needs {name}");
        let worker = WorkerArgs {
            socket,
            ctx_id: args.ctx_id.ok_or_else(|| missing("--ctx-id"))?,
            ctx_name: args.ctx_name.unwrap_or_default(),
            init_flags: args.init_flags.ok_or_else(|| missing("--init-flags"))?,
        };
        let ctx_id = worker.ctx_id;
        let options = DecoderOptions::from_env()?;
        let limits = options.limits.clone();
        let decoder = VulkanDecoder::new(options);
        // The driver is loaded and initialised, then the worker drops what it does not need.
        if let Err(error) = decoder.preload() {
            venus_rs_host::log!("context {ctx_id}: {error}");
        }
        sandbox::confine(&worker.ctx_name)?;
        // The worker's release of its context is bounded; the process ends after it.
        teardown::serve_then_exit(&format!("context-{ctx_id}"), 1, move |disconnected| {
            match run_worker(worker, Arc::new(decoder), limits, disconnected) {
                Ok(()) => 0,
                Err(message) => {
                    venus_rs_host::log!("context {ctx_id}: {message}");
                    1
                }
            }
        });
    }
    let executable = venus_rs_host::self_exec::own_executable()?;
    // Checked here so that a bad setting stops the server, not every worker.
    let limits = venus_rs_host::limits::Limits::from_env()?;
    // The VMM starts this server: its environment is the only way to choose the profile, and a
    // wrong name must stop the server before any guest depends on it.
    let profile = HostProfile::from_env()?;
    venus_rs_host::log!(
        "render server started; host profile {}: {}; caps: {}",
        profile.name(),
        profile.description(),
        limits.describe()
    );
    if hvf.enabled() {
        venus_rs_host::log!(
            "simulating HVF: blobs whose size is not a multiple of {HVF_PAGE_SIZE} bytes are handed \
             to the VMM as memory the host does not share"
        );
    }
    RenderServer::new(socket, executable).run()
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            venus_rs_host::log!("{message}");
            ExitCode::FAILURE
        }
    }
}
