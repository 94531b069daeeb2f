//! `bench.csv`: one row per column and metric, with every round's figure, so that runs can be compared later
//! by a spreadsheet or a script.

use super::metrics::metric;
use super::options::{guest_name, host_name, transport_name, Column, PairingKind};
use super::results::Results;

const HEADER: &str =
    "transport,pairing,metric,unit,better,median,min,max,rounds_with_figure,samples,\
ratio_to_native,ratio_to_mesa_virgl,reason";

pub fn csv(results: &Results) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for &column in &results.columns {
        let (transport, pairing, reference) = match column {
            Column::Native => ("native".to_string(), "lavapipe".to_string(), None),
            Column::Pairing(kind, transport) => (
                transport_name(transport).to_string(),
                format!("{}/{}", guest_name(kind.guest), host_name(kind.host)),
                Some(Column::Pairing(PairingKind::REFERENCE, transport)),
            ),
        };
        for &id in &results.metrics {
            let (Some(description), Some(cell)) = (metric(id), results.cell(column, id)) else {
                continue;
            };
            let stats = cell.stats();
            let number = |value: Option<f64>| value.map(|v| format!("{v:.6}")).unwrap_or_default();
            let ratio = |base: Option<f64>| match (stats, base) {
                (Some(stats), Some(base)) if column != Column::Native => {
                    format!("{:.4}", stats.median / base)
                }
                _ => String::new(),
            };
            let samples: Vec<String> = cell.samples.iter().map(|v| format!("{v:.6}")).collect();
            let reasons: Vec<String> = cell
                .reasons
                .iter()
                .map(|(round, reason)| format!("round {round}: {}", reason.text()))
                .collect();
            let fields = [
                transport.clone(),
                pairing.clone(),
                id.to_string(),
                description.unit.to_string(),
                format!("{:?}", description.better).to_lowercase(),
                number(stats.map(|s| s.median)),
                number(stats.map(|s| s.min)),
                number(stats.map(|s| s.max)),
                stats.map_or(0, |s| s.count).to_string(),
                samples.join(";"),
                ratio(results.median(Column::Native, id)),
                ratio(reference.and_then(|r| results.median(r, id))),
                reasons.join("; "),
            ];
            let quoted: Vec<String> = fields.iter().map(|field| quote(field)).collect();
            out.push_str(&quoted.join(","));
            out.push('\n');
        }
    }
    out
}

/// RFC 4180 quoting where a field needs it.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::script::{Outcome, Reason};
    use crate::pair::Transport;

    #[test]
    fn rows_carry_statistics_ratios_and_quoted_reasons() {
        let ours = Column::Pairing(PairingKind::OURS, Transport::Vtest);
        let mut results = Results::new(vec![Column::Native, ours], vec!["round-trip", "vkmark"], 1);
        results.record(1, Column::Native, "round-trip", Outcome::Figure(50.0));
        results.record(1, ours, "round-trip", Outcome::Figure(100.0));
        results.record(
            1,
            ours,
            "vkmark",
            Outcome::NoFigure(Reason::Unavailable("no swapchain, \"yet\"".into())),
        );
        let text = csv(&results);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER);
        assert_eq!(lines.len(), 5);
        assert!(
            lines[3].starts_with("vtest,ours/ours,round-trip,µs,lower,100.000000,"),
            "{}",
            lines[3]
        );
        assert!(lines[3].contains(",2.0000,,"), "{}", lines[3]);
        assert!(
            lines[4].ends_with(",\"round 1: no swapchain, \"\"yet\"\"\""),
            "{}",
            lines[4]
        );
    }
}
