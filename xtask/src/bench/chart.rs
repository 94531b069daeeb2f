//! `bench.svg`: one panel per metric, each bar a pairing's speed relative to native lavapipe (above 1: faster
//! than native, below: slower; log scale, whichever direction the metric counts), grouped by transport and
//! coloured by pairing, with min–max whiskers; a cell without a figure shows "n/a" (its reason is in the table).

use super::metrics::{metric, Better};
use super::options::{transport_name, Column, PairingKind};
use super::results::Results;
use crate::pair::Transport;
use plotters::prelude::*;
use std::path::Path;

const PANEL_COLUMNS: usize = 4;
const PANEL_SIZE: (u32, u32) = (380, 270);
const HEADER_HEIGHT: u32 = 80;

/// Colours per pairing, in `PairingKind::ALL` order: the reference grey, ours blue, the mixed ones between.
const COLOURS: [RGBColor; 4] = [
    RGBColor(150, 150, 150),
    RGBColor(120, 180, 220),
    RGBColor(240, 160, 80),
    RGBColor(30, 90, 200),
];

fn colour(kind: PairingKind) -> RGBColor {
    let index = PairingKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0);
    COLOURS[index]
}

/// One bar: its speed relative to native, with the range of the rounds.
struct Bar {
    x: f64,
    kind: PairingKind,
    speed: Option<(f64, f64, f64)>,
}

fn bars(results: &Results, id: &str, transports: &[Transport]) -> Option<Vec<Bar>> {
    let description = metric(id)?;
    let native = results.median(Column::Native, id)?;
    let mut bars = Vec::new();
    let mut x = 0.0;
    for &transport in transports {
        for &column in &results.columns {
            let Column::Pairing(kind, t) = column else {
                continue;
            };
            if t != transport {
                continue;
            }
            let speed = results
                .cell(column, id)
                .and_then(|cell| cell.stats())
                .map(|stats| {
                    let (worst, best) = match description.better {
                        Better::Higher => (stats.min, stats.max),
                        Better::Lower => (stats.max, stats.min),
                    };
                    (
                        description.speedup(stats.median, native),
                        description.speedup(worst, native),
                        description.speedup(best, native),
                    )
                });
            bars.push(Bar { x, kind, speed });
            x += 1.0;
        }
        x += 0.6;
    }
    Some(bars)
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

pub fn write_svg(results: &Results, path: &Path, title: &str) -> Result<(), String> {
    let failed = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    let rows = results.metrics.len().div_ceil(PANEL_COLUMNS) as u32;
    let size = (
        PANEL_SIZE.0 * PANEL_COLUMNS as u32,
        HEADER_HEIGHT + PANEL_SIZE.1 * rows,
    );
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let (header, body) = root.split_vertically(HEADER_HEIGHT);
    draw_header(&header, results, title).map_err(|e| failed(&e))?;
    let transports = transports(results);
    let panels = body.split_evenly((rows as usize, PANEL_COLUMNS));
    for (panel, &id) in panels.iter().zip(&results.metrics) {
        draw_panel(panel, results, id, &transports).map_err(|e| failed(&e))?;
    }
    root.present().map_err(|e| failed(&e))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn draw_header(header: &Area, results: &Results, title: &str) -> DrawResult {
    header.draw(&Text::new(
        title.to_string(),
        (12, 10),
        ("sans-serif", 20).into_font(),
    ))?;
    header.draw(&Text::new(
        "bars: speed relative to native lavapipe (log scale; 1 = native, above = faster), median with min–max of the rounds; groups: transports",
        (12, 36),
        ("sans-serif", 13).into_font(),
    ))?;
    let mut x = 12;
    for kind in PairingKind::ALL {
        if !results
            .columns
            .iter()
            .any(|c| matches!(c, Column::Pairing(k, _) if *k == kind))
        {
            continue;
        }
        header.draw(&Rectangle::new(
            [(x, 58), (x + 14, 72)],
            colour(kind).filled(),
        ))?;
        header.draw(&Text::new(
            kind.name(),
            (x + 20, 58),
            ("sans-serif", 14).into_font(),
        ))?;
        x += 130;
    }
    Ok(())
}

fn draw_panel(panel: &Area, results: &Results, id: &str, transports: &[Transport]) -> DrawResult {
    let Some(description) = metric(id) else {
        return Ok(());
    };
    let caption = format!(
        "{} ({}, {} is better)",
        description.label,
        description.unit,
        if description.better == Better::Higher {
            "higher"
        } else {
            "lower"
        }
    );
    let Some(bars) = bars(results, id, transports) else {
        panel.draw(&Text::new(
            caption,
            (10, 10),
            ("sans-serif", 13).into_font(),
        ))?;
        panel.draw(&Text::new(
            "no native figure to compare with",
            (10, 40),
            ("sans-serif", 12).into_font(),
        ))?;
        return Ok(());
    };
    let speeds: Vec<f64> = bars
        .iter()
        .filter_map(|bar| bar.speed)
        .flat_map(|(median, worst, best)| [median, worst, best])
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let low = speeds.iter().copied().fold(0.5, f64::min) * 0.5;
    let high = speeds.iter().copied().fold(2.0, f64::max) * 2.0;
    let width = bars.last().map_or(1.0, |bar| bar.x + 1.0);
    let mut chart = ChartBuilder::on(panel)
        .caption(caption, ("sans-serif", 13))
        .margin(6)
        .x_label_area_size(6)
        .y_label_area_size(40)
        .build_cartesian_2d(-0.3..width + 0.3, (low..high).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.2}"))
        .draw()?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(-0.3, 1.0), (width + 0.3, 1.0)],
        BLACK.stroke_width(1),
    )))?;
    for bar in &bars {
        let (x0, x1) = (bar.x + 0.08, bar.x + 0.92);
        match bar.speed {
            Some((median, worst, best)) => {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, low), (x1, median)],
                    colour(bar.kind).filled(),
                )))?;
                let middle = bar.x + 0.5;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(middle, worst), (middle, best)],
                    BLACK.stroke_width(1),
                )))?;
                chart.draw_series(std::iter::once(
                    EmptyElement::at((bar.x, median.max(best)))
                        + Text::new(
                            format!("{median:.2}"),
                            (0, -14),
                            ("sans-serif", 10).into_font(),
                        ),
                ))?;
            }
            None => {
                chart.draw_series(std::iter::once(
                    EmptyElement::at((bar.x, low))
                        + Text::new("n/a", (4, -40), ("sans-serif", 11).into_font()),
                ))?;
            }
        }
    }
    // Transport names under each group, inside the plot so that nothing clips them.
    let mut group_start = 0.0;
    for &transport in transports {
        let count = results
            .columns
            .iter()
            .filter(|c| matches!(c, Column::Pairing(_, t) if *t == transport))
            .count() as f64;
        chart.draw_series(std::iter::once(
            EmptyElement::at((group_start, low))
                + Text::new(
                    transport_name(transport),
                    (2, -14),
                    ("sans-serif", 11).into_font(),
                ),
        ))?;
        group_start += count + 0.6;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::script::{Outcome, Reason};

    #[test]
    fn the_chart_is_written_with_bars_and_na_marks() {
        let ours = Column::Pairing(PairingKind::OURS, Transport::Vtest);
        let mesa = Column::Pairing(PairingKind::REFERENCE, Transport::Vtest);
        let mut results = Results::new(
            vec![Column::Native, mesa, ours],
            vec!["round-trip", "vkmark"],
            1,
        );
        results.record(1, Column::Native, "round-trip", Outcome::Figure(50.0));
        results.record(1, mesa, "round-trip", Outcome::Figure(100.0));
        results.record(1, ours, "round-trip", Outcome::Figure(80.0));
        results.record(1, Column::Native, "vkmark", Outcome::Figure(2000.0));
        results.record(
            1,
            ours,
            "vkmark",
            Outcome::NoFigure(Reason::Unavailable("x".into())),
        );
        let dir = std::env::temp_dir().join(format!("bench-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bench.svg");
        write_svg(&results, &path, "test").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        // Texts stand on lines of their own between their tags.
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        // 80 µs against native 50 µs is 0.62× native speed; mesa/virgl's 100 µs is 0.50×.
        for expected in ["0.62", "0.50", "n/a", "ours/ours", "vtest"] {
            assert!(texts.contains(&expected), "{expected} missing from {svg}");
        }
    }
}
