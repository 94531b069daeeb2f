//! The targets for our whole stack (ours/ours), judged on the medians of this run and reported as
//! PASS or MISS — never asserted: a timed assertion on a shared machine would fail on noise, not on our code.

use super::metrics::metric;
use super::options::{transport_name, Column, PairingKind};
use super::results::Results;
use crate::pair::Transport;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    Native,
    MesaVirgl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where {
    Vtest,
    Qemu,
    Everywhere,
}

#[derive(Clone, Copy, Debug)]
pub enum Bound {
    /// ours/ours ÷ baseline ≤ this (a time or a latency: the figures themselves are compared).
    AtMost(f64),
    /// ours/ours is at least this fraction of the baseline's speed (a rate, or the inverse of a time).
    AtLeast(f64),
}

pub struct Target {
    pub metric: &'static str,
    pub on: Where,
    pub baseline: Baseline,
    pub bound: Bound,
    /// The target as the issue words it.
    pub text: &'static str,
}

pub const TARGETS: &[Target] = &[
    Target {
        metric: "round-trip",
        on: Where::Qemu,
        baseline: Baseline::MesaVirgl,
        bound: Bound::AtMost(0.5),
        text: "round trip ≤ 0.5× mesa/virgl in QEMU",
    },
    Target {
        metric: "round-trip",
        on: Where::Vtest,
        baseline: Baseline::Native,
        bound: Bound::AtMost(2.0),
        text: "round trip ≤ 2× native over vtest",
    },
    Target {
        metric: "vulkaninfo",
        on: Where::Everywhere,
        baseline: Baseline::Native,
        bound: Bound::AtMost(1.2),
        text: "start-up (vulkaninfo) ≤ 1.2× native",
    },
    Target {
        metric: "first-submit",
        on: Where::Everywhere,
        baseline: Baseline::Native,
        bound: Bound::AtMost(1.2),
        text: "start-up (first submit) ≤ 1.2× native",
    },
    Target {
        metric: "streaming",
        on: Where::Everywhere,
        baseline: Baseline::Native,
        bound: Bound::AtLeast(0.8),
        text: "streaming ≥ 0.8× native command rate",
    },
    Target {
        metric: "large-dispatch",
        on: Where::Everywhere,
        baseline: Baseline::Native,
        bound: Bound::AtLeast(0.98),
        text: "large dispatch ≥ 0.98× native speed",
    },
    Target {
        metric: "mapped-write",
        on: Where::Everywhere,
        baseline: Baseline::Native,
        bound: Bound::AtLeast(0.9),
        text: "mapped-memory write ≥ 0.9× native bandwidth",
    },
    Target {
        metric: "mapped-read",
        on: Where::Everywhere,
        baseline: Baseline::Native,
        bound: Bound::AtLeast(0.9),
        text: "mapped-memory read ≥ 0.9× native bandwidth",
    },
    Target {
        metric: "vkmark",
        on: Where::Everywhere,
        baseline: Baseline::Native,
        bound: Bound::AtLeast(0.95),
        text: "vkmark ≥ 0.95× native score",
    },
];

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Pass(f64),
    Miss(f64),
    /// No figure for ours/ours or the baseline: why.
    NotMeasured(String),
}

pub struct Judged {
    pub transport: Transport,
    pub target: &'static Target,
    pub verdict: Verdict,
}

impl Judged {
    pub fn line(&self) -> String {
        let base = match self.target.baseline {
            Baseline::Native => "native",
            Baseline::MesaVirgl => "mesa/virgl",
        };
        let measured = |ratio: &f64| match self.target.bound {
            Bound::AtMost(_) => format!("{ratio:.2}× {base}"),
            Bound::AtLeast(_) => format!("{ratio:.2}× {base}'s speed"),
        };
        let (word, detail) = match &self.verdict {
            Verdict::Pass(ratio) => ("PASS", measured(ratio)),
            Verdict::Miss(ratio) => ("MISS", measured(ratio)),
            Verdict::NotMeasured(why) => ("n/a ", why.clone()),
        };
        format!(
            "{word}  {:<12} {:<46} ours/ours: {detail}",
            transport_name(self.transport),
            self.target.text
        )
    }
}

fn applies(on: Where, transport: Transport) -> bool {
    match on {
        Where::Everywhere => true,
        Where::Vtest => transport == Transport::Vtest,
        Where::Qemu => matches!(transport, Transport::Qemu(_)),
    }
}

/// Every target that applies to a transport of the run with ours/ours in it.
pub fn judge(results: &Results) -> Vec<Judged> {
    let mut judged = Vec::new();
    let transports: Vec<Transport> = results
        .columns
        .iter()
        .filter_map(|column| match column {
            Column::Pairing(kind, transport) if *kind == PairingKind::OURS => Some(*transport),
            _ => None,
        })
        .collect();
    for transport in transports {
        for target in TARGETS.iter().filter(|t| applies(t.on, transport)) {
            let ours = Column::Pairing(PairingKind::OURS, transport);
            let base = match target.baseline {
                Baseline::Native => Column::Native,
                Baseline::MesaVirgl => Column::Pairing(PairingKind::REFERENCE, transport),
            };
            let verdict = match (
                results.median(ours, target.metric),
                results.median(base, target.metric),
            ) {
                (Some(value), Some(baseline)) => {
                    let (ratio, met) = match (target.bound, metric(target.metric)) {
                        (Bound::AtMost(limit), _) => (value / baseline, value / baseline <= limit),
                        (Bound::AtLeast(limit), Some(description)) => {
                            let speed = description.speedup(value, baseline);
                            (speed, speed >= limit)
                        }
                        (Bound::AtLeast(_), None) => (f64::NAN, false),
                    };
                    if met {
                        Verdict::Pass(ratio)
                    } else {
                        Verdict::Miss(ratio)
                    }
                }
                (None, _) => Verdict::NotMeasured(format!("no figure for {}", ours.name())),
                (_, None) => Verdict::NotMeasured(format!("no figure for {}", base.name())),
            };
            judged.push(Judged {
                transport,
                target,
                verdict,
            });
        }
    }
    judged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::script::Outcome;
    use crate::guest::GuestArch;

    #[test]
    fn targets_compare_ours_with_the_right_baseline_per_transport() {
        let qemu = Transport::Qemu(GuestArch::X86_64);
        let columns = vec![
            Column::Native,
            Column::Pairing(PairingKind::REFERENCE, Transport::Vtest),
            Column::Pairing(PairingKind::OURS, Transport::Vtest),
            Column::Pairing(PairingKind::REFERENCE, qemu),
            Column::Pairing(PairingKind::OURS, qemu),
        ];
        let mut results = Results::new(columns.clone(), vec!["round-trip", "large-dispatch"], 1);
        for (column, round_trip) in columns.iter().zip([50.0, 80.0, 90.0, 200.0, 150.0]) {
            results.record(1, *column, "round-trip", Outcome::Figure(round_trip));
        }
        results.record(1, Column::Native, "large-dispatch", Outcome::Figure(10.0));
        results.record(1, columns[2], "large-dispatch", Outcome::Figure(10.1));
        let judged = judge(&results);
        let find = |transport: Transport, metric: &str| {
            judged
                .iter()
                .find(|j| j.transport == transport && j.target.metric == metric)
                .map(|j| j.verdict.clone())
        };
        // 90 / 50 native over vtest: within 2×.
        assert_eq!(
            find(Transport::Vtest, "round-trip"),
            Some(Verdict::Pass(1.8))
        );
        // 150 / 200 mesa/virgl in QEMU: above 0.5×.
        assert_eq!(find(qemu, "round-trip"), Some(Verdict::Miss(0.75)));
        // 10.1 ms against 10 ms is 0.99× native speed: within 0.98×.
        assert!(matches!(
            find(Transport::Vtest, "large-dispatch"),
            Some(Verdict::Pass(_))
        ));
        assert!(matches!(
            find(qemu, "large-dispatch"),
            Some(Verdict::NotMeasured(_))
        ));
    }
}
