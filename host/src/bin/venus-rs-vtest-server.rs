//! Serves Venus guests (Mesa's `VN_DEBUG=vtest` path) on a Unix socket, each client in a
//! process of its own (this program started again with `--client-fd`).

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::process::ExitCode;
use std::sync::Arc;

use venus_rs_host::capset::Capset;
use venus_rs_host::context::ContextOptions;
use venus_rs_host::sandbox;
use venus_rs_host::simulate_hvf::{self, HVF_PAGE_SIZE, SIMULATE_HVF_FLAG};
use venus_rs_host::vtest::processes::{
    adopt_client_socket, follow_server_exit, run_client_process, serve_in_processes, ProcessOptions,
};
use venus_rs_host::vtest::protocol::DEFAULT_SOCKET_PATH;
use venus_rs_host::vtest::ServerConfig;
use venus_rs_host::vulkan::{
    protocol_level, DecoderOptions, HostProfile, VulkanDecoder, PROFILE_VARIABLE,
};

const USAGE: &str = "usage: venus-rs-vtest-server [--socket-path PATH] [--simulate-hvf] [--profile native|moltenvk]
       (client processes: venus-rs-vtest-server --client-fd N --client-id ID)
  --socket-path PATH  default /tmp/.virgl_test
  --simulate-hvf      hand out blobs whose size is not a multiple of 16 KiB as memory the host
                      does not share, as QEMU under macOS Hypervisor.framework maps them
                      (also VENUS_RS_SIMULATE_HVF=1)
  --profile NAME      what the guest sees of the driver (default $VENUS_RS_HOST_PROFILE, else native)";

enum Mode {
    Listen {
        socket_path: String,
        simulate_hvf: bool,
        /// `--profile`, which overrides the environment's.
        profile: Option<HostProfile>,
    },
    Client {
        fd: i32,
        client_id: u32,
    },
}

fn parse_args() -> Result<Mode, String> {
    let mut args = std::env::args().skip(1);
    let mut socket_path = DEFAULT_SOCKET_PATH.to_owned();
    let mut client_fd = None;
    let mut client_id = None;
    let mut simulate_hvf = false;
    let mut profile = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--socket-path" => socket_path = value("--socket-path")?,
            "--client-fd" => {
                let text = value("--client-fd")?;
                client_fd = Some(
                    text.parse::<i32>()
                        .map_err(|_| format!("--client-fd takes a number, not {text:?}"))?,
                );
            }
            "--client-id" => {
                let text = value("--client-id")?;
                client_id = Some(
                    text.parse::<u32>()
                        .map_err(|_| format!("--client-id takes a number, not {text:?}"))?,
                );
            }
            SIMULATE_HVF_FLAG => simulate_hvf = true,
            "--profile" => profile = Some(HostProfile::from_name(&value("--profile")?)?),
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    match (client_fd, client_id) {
        (Some(fd), Some(client_id)) => Ok(Mode::Client { fd, client_id }),
        (None, None) => Ok(Mode::Listen {
            socket_path,
            simulate_hvf,
            profile,
        }),
        _ => Err(format!("--client-fd and --client-id go together\n{USAGE}")),
    }
}

/// A socket left behind by an earlier server is replaced; anything else at the path is not.
fn bind(path: &str) -> Result<UnixListener, String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .map_err(|e| format!("removing the old socket {path} failed: {e}"))?,
        Ok(_) => {
            return Err(format!(
                "{path} exists and is not a socket; not replacing it"
            ))
        }
        Err(_) => {}
    }
    UnixListener::bind(path).map_err(|e| format!("binding {path} failed: {e}"))
}

/// What every client is served with; the settings are read (and checked) here.
fn server_config() -> Result<ServerConfig, String> {
    let capset = Capset::new(&protocol_level())
        .map_err(|e| format!("the decoder's protocol level does not fit the capset: {e}"))?;
    let decoder_options = DecoderOptions::from_env()?;
    let context_options = ContextOptions {
        limits: decoder_options.limits.clone(),
        ..ContextOptions::default()
    };
    Ok(ServerConfig {
        capset,
        executors: Arc::new(VulkanDecoder::new(decoder_options)),
        context_options,
    })
}

/// The listening server: the command line's choices go to the client processes through the
/// environment they inherit (set before any thread exists).
fn listen(
    socket_path: &str,
    simulate_hvf: bool,
    profile: Option<HostProfile>,
) -> Result<(), String> {
    if let Some(profile) = profile {
        std::env::set_var(PROFILE_VARIABLE, profile.name());
    }
    let hvf = simulate_hvf::init(simulate_hvf)?;
    if hvf.enabled() {
        venus_rs_host::log!(
            "simulating HVF: blobs whose size is not a multiple of {HVF_PAGE_SIZE} bytes are handed \
             out as memory the host does not share"
        );
    }
    let config = server_config()?;
    let chosen_profile = HostProfile::from_env()?;
    let options = ProcessOptions {
        executable: venus_rs_host::self_exec::own_executable()?,
        max_clients: ProcessOptions::max_clients_from_env()?,
    };
    let listener = bind(socket_path)?;
    venus_rs_host::log!(
        "serving vtest on {socket_path}, one process per client (at most {}); host profile {}: {}; caps: {}",
        options.max_clients,
        chosen_profile.name(),
        chosen_profile.description(),
        config.context_options.limits.describe()
    );
    serve_in_processes(&listener, &options).map_err(|e| format!("accepting clients failed: {e}"))
}

/// A client's process: the driver is loaded, then the process is confined, then it serves.
fn client(fd: i32, client_id: u32) -> Result<(), String> {
    follow_server_exit(client_id);
    simulate_hvf::init(false)?;
    let socket = adopt_client_socket(fd)?;
    let capset = Capset::new(&protocol_level())
        .map_err(|e| format!("the decoder's protocol level does not fit the capset: {e}"))?;
    let decoder_options = DecoderOptions::from_env()?;
    let context_options = ContextOptions {
        limits: decoder_options.limits.clone(),
        ..ContextOptions::default()
    };
    let decoder = VulkanDecoder::new(decoder_options);
    if let Err(error) = decoder.preload() {
        venus_rs_host::log!("client {client_id}: {error}");
    }
    sandbox::confine(&format!("client-{client_id}"))?;
    let config = ServerConfig {
        capset,
        executors: Arc::new(decoder),
        context_options,
    };
    run_client_process(config, socket, client_id)
}

fn main() -> ExitCode {
    let result = match parse_args() {
        Ok(Mode::Listen {
            socket_path,
            simulate_hvf,
            profile,
        }) => listen(&socket_path, simulate_hvf, profile),
        Ok(Mode::Client { fd, client_id }) => client(fd, client_id),
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            venus_rs_host::log!("{message}");
            ExitCode::FAILURE
        }
    }
}
