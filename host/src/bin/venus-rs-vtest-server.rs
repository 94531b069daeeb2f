//! Serves Venus guests (Mesa's `VN_DEBUG=vtest` path) on a Unix socket.

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::process::ExitCode;
use std::sync::Arc;

use venus_rs_host::capset::Capset;
use venus_rs_host::context::ContextOptions;
use venus_rs_host::vtest::protocol::DEFAULT_SOCKET_PATH;
use venus_rs_host::vtest::{ServerConfig, VtestServer};
use venus_rs_host::vulkan::{protocol_level, DecoderOptions, VulkanDecoder};

const USAGE: &str =
    "usage: venus-rs-vtest-server [--socket-path PATH]   (default /tmp/.virgl_test)";

fn parse_socket_path() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut socket_path = DEFAULT_SOCKET_PATH.to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--socket-path" => {
                socket_path = args
                    .next()
                    .ok_or_else(|| "--socket-path needs a path".to_owned())?
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(socket_path)
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

fn main() -> ExitCode {
    let socket_path = match parse_socket_path() {
        Ok(path) => path,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let capset = match Capset::new(&protocol_level()) {
        Ok(capset) => capset,
        Err(error) => {
            venus_rs_host::log!("the decoder's protocol level does not fit the capset: {error}");
            return ExitCode::FAILURE;
        }
    };
    let decoder = VulkanDecoder::new(DecoderOptions::from_env());
    let server = VtestServer::new(ServerConfig {
        capset,
        executors: Arc::new(decoder),
        context_options: ContextOptions::default(),
    });
    let listener = match bind(&socket_path) {
        Ok(listener) => listener,
        Err(message) => {
            venus_rs_host::log!("{message}");
            return ExitCode::FAILURE;
        }
    };
    venus_rs_host::log!("serving vtest on {socket_path}");
    match server.serve(&listener) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            venus_rs_host::log!("accepting clients failed: {error}");
            ExitCode::FAILURE
        }
    }
}
