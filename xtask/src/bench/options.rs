//! `cargo xtask bench` options and the columns of its table: native lavapipe, then each pairing per transport.

use crate::guest::GuestArch;
use crate::pair::{GuestDriver, HostRenderer, Transport};
use std::path::PathBuf;

pub const USAGE: &str = "usage: cargo xtask bench [--transport vtest|qemu-x86_64|qemu-aarch64 ...] \
[--pairings GUEST/HOST,...] [--rounds N] [--quick] [--out DIR]
  runs the benchmark workloads natively on lavapipe and through each pairing (mesa/virgl, mesa/ours,
  ours/virgl, ours/ours by default), round by round, and prints medians with min/max and ratios to native
  and to mesa/virgl, then the targets (PASS/MISS)
  --transport   repeatable; default vtest
  --pairings    comma-separated GUEST/HOST list, e.g. mesa/virgl,ours/ours
  --rounds      rounds (default 3; --quick: 1)
  --quick       one round, the smallest sizes: every cell must get a figure or a reason (what CI runs)
  --out DIR     also write DIR/bench.csv, DIR/bench.svg and DIR/bench.md (default: target/bench)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairingKind {
    pub guest: GuestDriver,
    pub host: HostRenderer,
}

impl PairingKind {
    pub const ALL: [PairingKind; 4] = [
        PairingKind {
            guest: GuestDriver::Mesa,
            host: HostRenderer::Virgl,
        },
        PairingKind {
            guest: GuestDriver::Mesa,
            host: HostRenderer::Ours,
        },
        PairingKind {
            guest: GuestDriver::Ours,
            host: HostRenderer::Virgl,
        },
        PairingKind {
            guest: GuestDriver::Ours,
            host: HostRenderer::Ours,
        },
    ];

    /// The reference stack, which ratios are also given against.
    pub const REFERENCE: PairingKind = PairingKind::ALL[0];
    /// Our whole stack, which the targets are about.
    pub const OURS: PairingKind = PairingKind::ALL[3];

    pub fn name(self) -> String {
        format!("{}/{}", guest_name(self.guest), host_name(self.host))
    }

    fn parse(text: &str) -> Result<PairingKind, String> {
        PairingKind::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| {
                format!("unknown pairing {text:?}: mesa/virgl, mesa/ours, ours/virgl or ours/ours")
            })
    }
}

pub fn guest_name(guest: GuestDriver) -> &'static str {
    match guest {
        GuestDriver::Mesa => "mesa",
        GuestDriver::Ours => "ours",
    }
}

pub fn host_name(host: HostRenderer) -> &'static str {
    match host {
        HostRenderer::Virgl => "virgl",
        HostRenderer::Ours => "ours",
    }
}

pub fn transport_name(transport: Transport) -> &'static str {
    match transport {
        Transport::Vtest => "vtest",
        Transport::Qemu(GuestArch::X86_64) => "qemu-x86_64",
        Transport::Qemu(GuestArch::Aarch64) => "qemu-aarch64",
    }
}

fn parse_transport(text: &str) -> Result<Transport, String> {
    [
        Transport::Vtest,
        Transport::Qemu(GuestArch::X86_64),
        Transport::Qemu(GuestArch::Aarch64),
    ]
    .into_iter()
    .find(|transport| transport_name(*transport) == text)
    .ok_or_else(|| format!("unknown --transport {text:?}: vtest, qemu-x86_64 or qemu-aarch64"))
}

/// A column of the results: lavapipe natively, or one pairing over one transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Native,
    Pairing(PairingKind, Transport),
}

impl Column {
    pub fn name(self) -> String {
        match self {
            Column::Native => "native".into(),
            Column::Pairing(kind, transport) => {
                format!("{} {}", kind.name(), transport_name(transport))
            }
        }
    }
}

pub struct BenchOptions {
    pub transports: Vec<Transport>,
    pub pairings: Vec<PairingKind>,
    pub rounds: u32,
    pub quick: bool,
    pub out: PathBuf,
}

impl BenchOptions {
    pub fn parse(args: &[String], default_out: PathBuf) -> Result<BenchOptions, String> {
        let mut transports = Vec::new();
        let mut pairings = Vec::new();
        let mut rounds = None;
        let mut quick = false;
        let mut out = default_out;
        let mut rest = args.iter();
        while let Some(option) = rest.next() {
            let mut value = || {
                rest.next()
                    .cloned()
                    .ok_or_else(|| format!("{option} needs a value\n{USAGE}"))
            };
            match option.as_str() {
                "--transport" => {
                    let transport = parse_transport(&value()?)?;
                    if !transports.contains(&transport) {
                        transports.push(transport);
                    }
                }
                "--pairings" => {
                    for text in value()?.split(',').filter(|text| !text.is_empty()) {
                        let kind = PairingKind::parse(text)?;
                        if !pairings.contains(&kind) {
                            pairings.push(kind);
                        }
                    }
                }
                "--rounds" => {
                    let text = value()?;
                    rounds =
                        Some(text.parse::<u32>().ok().filter(|&n| n > 0).ok_or_else(|| {
                            format!("--rounds takes a positive number, not {text:?}")
                        })?);
                }
                "--quick" => quick = true,
                "--out" => out = PathBuf::from(value()?),
                other => return Err(format!("unknown option {other:?}\n{USAGE}")),
            }
        }
        if transports.is_empty() {
            transports.push(Transport::Vtest);
        }
        if pairings.is_empty() {
            pairings = PairingKind::ALL.to_vec();
        }
        // Keep the table's order whatever order the options came in.
        pairings.sort_by_key(|kind| PairingKind::ALL.iter().position(|k| k == kind));
        Ok(BenchOptions {
            transports,
            pairings,
            rounds: rounds.unwrap_or(if quick { 1 } else { 3 }),
            quick,
            out,
        })
    }

    /// Every column, in table order: native first, then each transport's pairings.
    pub fn columns(&self) -> Vec<Column> {
        let mut columns = vec![Column::Native];
        for &transport in &self.transports {
            for &kind in &self.pairings {
                columns.push(Column::Pairing(kind, transport));
            }
        }
        columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<BenchOptions, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        BenchOptions::parse(&args, PathBuf::from("/out"))
    }

    #[test]
    fn defaults_are_vtest_every_pairing_three_rounds_and_quick_means_one_round() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.transports, [Transport::Vtest]);
        assert_eq!(options.pairings, PairingKind::ALL);
        assert_eq!(options.rounds, 3);
        assert_eq!(parse(&["--quick"]).unwrap().rounds, 1);
        assert_eq!(options.columns().len(), 5);
    }

    #[test]
    fn transports_repeat_and_pairings_keep_table_order() {
        let options = parse(&[
            "--transport",
            "vtest",
            "--transport",
            "qemu-x86_64",
            "--pairings",
            "ours/ours,mesa/virgl",
            "--rounds",
            "2",
        ])
        .unwrap();
        assert_eq!(
            options.transports,
            [Transport::Vtest, Transport::Qemu(GuestArch::X86_64)]
        );
        assert_eq!(
            options.pairings,
            [PairingKind::REFERENCE, PairingKind::OURS]
        );
        assert_eq!(options.columns()[3].name(), "mesa/virgl qemu-x86_64");
        assert_eq!(options.rounds, 2);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--transport", "tcp"]).is_err());
        assert!(parse(&["--pairings", "ours/mesa"]).is_err());
        assert!(parse(&["--rounds", "0"]).is_err());
        assert!(parse(&["--fast"]).is_err());
    }
}
