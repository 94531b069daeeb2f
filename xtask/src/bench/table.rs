//! The results as tables, one per transport: each metric's median (min–max) per column, its ratio to native
//! (`×n`) and to mesa/virgl over the same transport (`×m`), and numbered notes for cells without figures. The
//! same cells make the plain-text table on stdout and the Markdown table for the README.

use super::metrics::metric;
use super::options::{transport_name, Column, PairingKind};
use super::results::Results;
use super::runner::MESA_FEEDBACK_OFF;
use crate::pair::Transport;

/// A figure with three significant digits, large ones with k/M.
pub fn format_value(value: f64) -> String {
    let (scaled, suffix) = if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e4 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let digits = if scaled >= 100.0 {
        0
    } else if scaled >= 10.0 {
        1
    } else {
        2
    };
    format!("{scaled:.digits$}{suffix}")
}

/// Numbered notes, each text once.
#[derive(Default)]
pub struct Notes {
    texts: Vec<String>,
}

impl Notes {
    pub fn number(&mut self, text: &str) -> usize {
        match self.texts.iter().position(|t| t == text) {
            Some(index) => index + 1,
            None => {
                self.texts.push(text.to_string());
                self.texts.len()
            }
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.texts
            .iter()
            .enumerate()
            .map(|(index, text)| format!("[{}] {text}", index + 1))
            .collect()
    }
}

/// One transport's table as rows of cells (the first row is the header).
fn rows(results: &Results, transport: Transport, notes: &mut Notes) -> Vec<Vec<String>> {
    let columns: Vec<Column> = results
        .columns
        .iter()
        .copied()
        .filter(|column| match column {
            Column::Native => true,
            Column::Pairing(_, t) => *t == transport,
        })
        .collect();
    let mut header = vec!["metric".to_string(), "unit".to_string()];
    header.extend(columns.iter().map(|column| match column {
        Column::Native => "native".to_string(),
        Column::Pairing(kind, _) => kind.name(),
    }));
    let mut table = vec![header];
    let reference = Column::Pairing(PairingKind::REFERENCE, transport);
    for &id in &results.metrics {
        let Some(description) = metric(id) else {
            continue;
        };
        let mut row = vec![
            description.label.to_string(),
            format!(
                "{} {}",
                description.unit,
                if description.better == super::metrics::Better::Higher {
                    "↑"
                } else {
                    "↓"
                }
            ),
        ];
        let native = results.median(Column::Native, id);
        let mesa = results.median(reference, id);
        for &column in &columns {
            row.push(cell_text(results, column, id, native, mesa, notes));
        }
        table.push(row);
    }
    table
}

fn cell_text(
    results: &Results,
    column: Column,
    id: &str,
    native: Option<f64>,
    mesa: Option<f64>,
    notes: &mut Notes,
) -> String {
    let Some(cell) = results.cell(column, id) else {
        return String::new();
    };
    let Some(stats) = cell.stats() else {
        return match cell.reason() {
            Some(reason) => format!("— [{}]", notes.number(reason.text())),
            None => "—".to_string(),
        };
    };
    let mut text = format_value(stats.median);
    if stats.count > 1 {
        text.push_str(&format!(
            " ({}–{})",
            format_value(stats.min),
            format_value(stats.max)
        ));
    }
    if column != Column::Native {
        if let Some(native) = native {
            text.push_str(&format!(" {:.2}×n", stats.median / native));
        }
        let is_reference =
            matches!(column, Column::Pairing(kind, _) if kind == PairingKind::REFERENCE);
        if let (Some(mesa), false) = (mesa, is_reference) {
            text.push_str(&format!(" {:.2}×m", stats.median / mesa));
        }
    }
    if let Some((round, reason)) = cell.reasons.first() {
        let note = notes.number(&format!("round {round}: {}", reason.text()));
        text.push_str(&format!(" [{note}]"));
    }
    text
}

fn heading(results: &Results, transport: Transport) -> String {
    let mut text = format!(
        "{}: median (min–max) of {} round(s); ×n = ÷ native lavapipe, ×m = ÷ mesa/virgl over {}; ↑/↓: higher/lower is better",
        transport_name(transport),
        results.rounds,
        transport_name(transport)
    );
    if transport == Transport::Vtest
        && results
            .columns
            .contains(&Column::Pairing(PairingKind::REFERENCE, Transport::Vtest))
    {
        text.push_str(&format!(
            "; mesa/virgl runs with {MESA_FEEDBACK_OFF} (feedback memory cannot be mapped through virglrenderer's vtest server)"
        ));
    }
    text
}

fn transports(results: &Results) -> Vec<Transport> {
    let mut list = Vec::new();
    for column in &results.columns {
        if let Column::Pairing(_, transport) = column {
            if !list.contains(transport) {
                list.push(*transport);
            }
        }
    }
    list
}

/// The plain-text tables, aligned, with their notes.
pub fn text(results: &Results) -> String {
    let mut notes = Notes::default();
    let mut out = String::new();
    for transport in transports(results) {
        let table = rows(results, transport, &mut notes);
        let widths: Vec<usize> = (0..table[0].len())
            .map(|i| {
                table
                    .iter()
                    .map(|row| row[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        out.push_str(&heading(results, transport));
        out.push('\n');
        for row in &table {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out.push('\n');
    }
    for line in notes.lines() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The same tables in Markdown.
pub fn markdown(results: &Results) -> String {
    let mut notes = Notes::default();
    let mut out = String::new();
    for transport in transports(results) {
        let table = rows(results, transport, &mut notes);
        out.push_str(&format!("{}\n\n", heading(results, transport)));
        for (index, row) in table.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|cell| cell.replace('|', "\\|")).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
            if index == 0 {
                out.push_str(&format!("|{}\n", " --- |".repeat(row.len())));
            }
        }
        out.push('\n');
    }
    for line in notes.lines() {
        out.push_str(&format!("- {}\n", line.replace('|', "\\|")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::script::{Outcome, Reason};

    #[test]
    fn values_keep_three_significant_digits() {
        assert_eq!(format_value(1.23456), "1.23");
        assert_eq!(format_value(51.23), "51.2");
        assert_eq!(format_value(512.3), "512");
        assert_eq!(format_value(37816.9), "37.8k");
        assert_eq!(format_value(5831521.6), "5.83M");
    }

    #[test]
    fn cells_show_statistics_ratios_and_numbered_reasons() {
        let ours = Column::Pairing(PairingKind::OURS, Transport::Vtest);
        let mesa = Column::Pairing(PairingKind::REFERENCE, Transport::Vtest);
        let mut results = Results::new(
            vec![Column::Native, mesa, ours],
            vec!["round-trip", "vkmark"],
            2,
        );
        for (column, values) in [
            (Column::Native, [50.0, 60.0]),
            (mesa, [100.0, 100.0]),
            (ours, [75.0, 85.0]),
        ] {
            for value in values {
                results.record(1, column, "round-trip", Outcome::Figure(value));
            }
        }
        results.record(1, Column::Native, "vkmark", Outcome::Figure(2000.0));
        let no_swapchain = || Outcome::NoFigure(Reason::Unavailable("no swapchain".into()));
        results.record(1, mesa, "vkmark", no_swapchain());
        results.record(1, ours, "vkmark", no_swapchain());
        let text = text(&results);
        assert!(text.contains("80.0 (75.0–85.0) 1.45×n 0.80×m"), "{text}");
        assert!(text.contains("100 (100–100) 1.82×n  "), "{text}");
        assert!(text.contains("— [1]"), "{text}");
        assert_eq!(text.matches("[1] no swapchain").count(), 1, "{text}");
        let markdown = markdown(&results);
        assert!(
            markdown.contains("| metric | unit | native | mesa/virgl | ours/ours |"),
            "{markdown}"
        );
    }
}
