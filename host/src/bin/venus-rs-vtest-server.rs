//! Serves Venus guests (Mesa's `VN_DEBUG=vtest` path) on a Unix socket, each client in a
//! process of its own (this program started again with `--client-fd`).

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::process::ExitCode;
use std::sync::Arc;

use venus_rs_host::capset::Capset;
use venus_rs_host::context::ContextOptions;
use venus_rs_host::sandbox;
use venus_rs_host::vtest::processes::{
    adopt_client_socket, follow_server_exit, run_client_process, serve_in_processes, ProcessOptions,
};
use venus_rs_host::vtest::protocol::DEFAULT_SOCKET_PATH;
use venus_rs_host::vtest::ServerConfig;
use venus_rs_host::vulkan::{protocol_level, DecoderOptions, VulkanDecoder};

const USAGE: &str = "usage: venus-rs-vtest-server [--socket-path PATH]   (default /tmp/.virgl_test)
       (client processes: venus-rs-vtest-server --client-fd N --client-id ID)";

enum Mode {
    Listen { socket_path: String },
    Client { fd: i32, client_id: u32 },
}

fn parse_args() -> Result<Mode, String> {
    let mut args = std::env::args().skip(1);
    let mut socket_path = DEFAULT_SOCKET_PATH.to_owned();
    let mut client_fd = None;
    let mut client_id = None;
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
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    match (client_fd, client_id) {
        (Some(fd), Some(client_id)) => Ok(Mode::Client { fd, client_id }),
        (None, None) => Ok(Mode::Listen { socket_path }),
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

fn listen(socket_path: &str) -> Result<(), String> {
    let config = server_config()?;
    let options = ProcessOptions {
        executable: venus_rs_host::self_exec::own_executable()?,
        max_clients: ProcessOptions::max_clients_from_env()?,
    };
    let listener = bind(socket_path)?;
    venus_rs_host::log!(
        "serving vtest on {socket_path}, one process per client (at most {}); caps: {}",
        options.max_clients,
        config.context_options.limits.describe()
    );
    serve_in_processes(&listener, &options).map_err(|e| format!("accepting clients failed: {e}"))
}

/// A client's process: the driver is loaded, then the process is confined, then it serves.
fn client(fd: i32, client_id: u32) -> Result<(), String> {
    follow_server_exit(client_id);
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
        Ok(Mode::Listen { socket_path }) => listen(&socket_path),
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
