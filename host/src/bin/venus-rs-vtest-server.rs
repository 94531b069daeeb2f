//! Serves Venus guests (Mesa's `VN_DEBUG=vtest` path) on a Unix socket.

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::process::ExitCode;
use std::sync::Arc;

use venus_rs_host::capset::Capset;
use venus_rs_host::context::ContextOptions;
use venus_rs_host::simulate_hvf::{self, HVF_PAGE_SIZE, SIMULATE_HVF_FLAG};
use venus_rs_host::vtest::protocol::DEFAULT_SOCKET_PATH;
use venus_rs_host::vtest::{ServerConfig, VtestServer};
use venus_rs_host::vulkan::{protocol_level, DecoderOptions, HostProfile, VulkanDecoder};

const USAGE: &str = "usage: venus-rs-vtest-server [--socket-path PATH] [--simulate-hvf] [--profile native|moltenvk]
  --socket-path PATH  default /tmp/.virgl_test
  --simulate-hvf      hand out blobs whose size is not a multiple of 16 KiB as memory the host
                      does not share, as QEMU under macOS Hypervisor.framework maps them
                      (also VENUS_RS_SIMULATE_HVF=1)
  --profile NAME      what the guest sees of the driver (default $VENUS_RS_HOST_PROFILE, else native)";

struct Args {
    socket_path: String,
    simulate_hvf: bool,
    /// `--profile`, which overrides the environment's.
    profile: Option<HostProfile>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        socket_path: DEFAULT_SOCKET_PATH.to_owned(),
        simulate_hvf: false,
        profile: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--socket-path" => {
                parsed.socket_path = args
                    .next()
                    .ok_or_else(|| "--socket-path needs a path".to_owned())?
            }
            SIMULATE_HVF_FLAG => parsed.simulate_hvf = true,
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
    let (socket_path, profile, hvf) = match parse_args().and_then(|args| {
        Ok((
            args.socket_path,
            args.profile,
            simulate_hvf::init(args.simulate_hvf)?,
        ))
    }) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if hvf.enabled() {
        venus_rs_host::log!(
            "simulating HVF: blobs whose size is not a multiple of {HVF_PAGE_SIZE} bytes are handed \
             out as memory the host does not share"
        );
    }
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
