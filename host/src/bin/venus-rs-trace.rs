//! Prints a `VENUS_RS_RECORD` recording as Vulkan calls with their arguments.

use std::io::Write;
use std::process::ExitCode;

use venus_rs_encoder::host::decode_command;
use venus_rs_encoder::protocol::{command_name, GENERATE_REPLY};
use venus_rs_encoder::wire::{Decoder, Limits};
use venus_rs_host::executor::DispatchPath;
use venus_rs_host::recording::{read_records, Source};

const USAGE: &str = "usage: venus-rs-trace FILE   (a recording made with VENUS_RS_RECORD=DIR)";

fn describe(source: Source) -> String {
    let path = |path: DispatchPath| match path {
        DispatchPath::Context => "context".to_owned(),
        DispatchPath::Ring { id } => format!("ring {id:#x}"),
    };
    match source {
        Source::Path(p) => path(p),
        Source::Indirect(p) => format!("{} (indirect stream)", path(p)),
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (Some(file), None) = (args.next(), args.next()) else {
        return Err(USAGE.to_owned());
    };
    let bytes = std::fs::read(&file).map_err(|e| format!("reading {file} failed: {e}"))?;
    let records = read_records(&bytes).map_err(|e| format!("{file}: {e}"))?;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) ends the listing quietly.
    let mut print = |line: String| writeln!(out, "{line}").is_ok();
    for (index, record) in records.iter().enumerate() {
        let source = describe(record.source);
        let mut decoder = Decoder::new(&record.bytes, Limits::default());
        while !decoder.is_empty() {
            let offset = decoder.position();
            match decode_command(&mut decoder) {
                Ok((header, command)) => {
                    let name = command_name(header.command_type).unwrap_or("?");
                    let reply = if header.flags & GENERATE_REPLY != 0 {
                        " [reply]"
                    } else {
                        ""
                    };
                    if !print(format!(
                        "#{index} {source} +{offset}: {name}{reply} {command:?}"
                    )) {
                        return Ok(());
                    }
                }
                Err(e) => {
                    if !print(format!("#{index} {source} +{offset}: undecodable: {e}")) {
                        return Ok(());
                    }
                    break;
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("venus-rs-trace: {message}");
            ExitCode::FAILURE
        }
    }
}
