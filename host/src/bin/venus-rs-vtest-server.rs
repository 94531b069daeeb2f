//! Serves Venus guests (Mesa's `VN_DEBUG=vtest` path) on a Unix socket.

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::process::ExitCode;
use std::sync::Arc;

use venus_rs_host::capset::Capset;
use venus_rs_host::context::ContextOptions;
use venus_rs_host::vtest::protocol::DEFAULT_SOCKET_PATH;
use venus_rs_host::vtest::{ServerConfig, VtestServer};
use venus_rs_host::vulkan::{protocol_level, DecoderOptions, HostProfile, VulkanDecoder};

const USAGE: &str = "usage: venus-rs-vtest-server [--socket-path PATH] [--profile native|moltenvk]
       (socket default /tmp/.virgl_test; profile default $VENUS_RS_HOST_PROFILE, else native)";

struct Args {
    socket_path: String,
    /// `--profile`, which overrides the environment's.
    profile: Option<HostProfile>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        socket_path: DEFAULT_SOCKET_PATH.to_owned(),
        profile: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--socket-path" => {
                parsed.socket_path = args
                    .next()
                    .ok_or_else(|| "--socket-path needs a path".to_owned())?
            }
            "--profile" => {
                let name = args
                    .next()
                    .ok_or_else(|| "--profile needs a name".to_owned())?;
                parsed.profile = Some(HostProfile::from_name(&name)?);
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(parsed)
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
    let Args {
        socket_path,
        profile,
    } = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let mut options = match DecoderOptions::from_env() {
        Ok(options) => options,
        Err(message) if profile.is_none() => {
            venus_rs_host::log!("{message}");
            return ExitCode::FAILURE;
        }
        // The command line chooses the profile the environment failed to name.
        Err(_) => DecoderOptions::default(),
    };
    if let Some(profile) = profile {
        options.profile = profile;
    }
    let capset = match Capset::new(&protocol_level()) {
        Ok(capset) => capset,
        Err(error) => {
            venus_rs_host::log!("the decoder's protocol level does not fit the capset: {error}");
            return ExitCode::FAILURE;
        }
    };
    venus_rs_host::log!(
        "host profile {}: {}",
        options.profile.name(),
        options.profile.description()
    );
    let decoder = VulkanDecoder::new(options);
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
