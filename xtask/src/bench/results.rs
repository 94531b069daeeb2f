//! Every round's outcome per column and metric, reduced to what the table shows: the median with min and max of
//! the figures, or the reason there is none.

use super::options::Column;
use super::script::{Outcome, Reason};

#[derive(Default, Clone)]
pub struct Cell {
    pub samples: Vec<f64>,
    /// Each round without a figure, with its reason.
    pub reasons: Vec<(u32, Reason)>,
}

/// The summary of a cell's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub count: usize,
}

impl Cell {
    pub fn stats(&self) -> Option<Stats> {
        if self.samples.is_empty() {
            return None;
        }
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        };
        Some(Stats {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            count: sorted.len(),
        })
    }

    /// Why the cell has no figure (the first round's reason), when it has none.
    pub fn reason(&self) -> Option<&Reason> {
        if self.samples.is_empty() {
            self.reasons.first().map(|(_, reason)| reason)
        } else {
            None
        }
    }

    /// Whether a later round should run the workload again: not once the driver said it cannot, nor once it
    /// failed without ever giving a figure (a hang costs minutes per round and repeats itself).
    pub fn worth_retrying(&self) -> bool {
        if !self.samples.is_empty() {
            return true;
        }
        !self
            .reasons
            .iter()
            .any(|(_, reason)| matches!(reason, Reason::Unavailable(_) | Reason::Failed(_)))
    }
}

pub struct Results {
    pub columns: Vec<Column>,
    pub metrics: Vec<&'static str>,
    cells: Vec<Cell>,
    pub rounds: u32,
}

impl Results {
    pub fn new(columns: Vec<Column>, metrics: Vec<&'static str>, rounds: u32) -> Results {
        let cells = vec![Cell::default(); columns.len() * metrics.len()];
        Results {
            columns,
            metrics,
            cells,
            rounds,
        }
    }

    fn index(&self, column: Column, metric: &str) -> Option<usize> {
        let c = self.columns.iter().position(|&c| c == column)?;
        let m = self.metrics.iter().position(|&m| m == metric)?;
        Some(c * self.metrics.len() + m)
    }

    pub fn cell(&self, column: Column, metric: &str) -> Option<&Cell> {
        self.index(column, metric).map(|index| &self.cells[index])
    }

    pub fn record(&mut self, round: u32, column: Column, metric: &str, outcome: Outcome) {
        if let Some(index) = self.index(column, metric) {
            let cell = &mut self.cells[index];
            match outcome {
                Outcome::Figure(value) => cell.samples.push(value),
                Outcome::NoFigure(reason) => cell.reasons.push((round, reason)),
            }
        }
    }

    /// The median of `metric` in `column`, if it has figures.
    pub fn median(&self, column: Column, metric: &str) -> Option<f64> {
        self.cell(column, metric)?.stats().map(|stats| stats.median)
    }

    /// Cells that have neither a figure nor a reason, or whose reason is the benchmark's own bug.
    pub fn incomplete_cells(&self) -> Vec<String> {
        let mut incomplete = Vec::new();
        for &column in &self.columns {
            for &metric in &self.metrics {
                let Some(cell) = self.cell(column, metric) else {
                    continue;
                };
                let problem = match (cell.stats(), cell.reason()) {
                    (Some(_), _) => None,
                    (None, None) => Some("neither a figure nor a reason".to_string()),
                    (None, Some(Reason::Missing(text))) => Some(text.clone()),
                    (None, Some(_)) => None,
                };
                if let Some(problem) = problem {
                    incomplete.push(format!("{} / {metric}: {problem}", column.name()));
                }
            }
        }
        incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_median_min_and_max_of_the_rounds_with_figures() {
        let cell = Cell {
            samples: vec![3.0, 1.0, 2.0, 10.0],
            reasons: vec![(2, Reason::RunEnded("boot failed".into()))],
        };
        let stats = cell.stats().unwrap();
        assert_eq!(
            (stats.median, stats.min, stats.max, stats.count),
            (2.5, 1.0, 10.0, 4)
        );
        assert!(cell.reason().is_none());
        assert!(cell.worth_retrying());
    }

    #[test]
    fn a_cell_without_figures_shows_its_first_reason_and_a_hang_is_not_retried() {
        let hung = Cell {
            samples: vec![],
            reasons: vec![(1, Reason::Failed("hung".into()))],
        };
        assert_eq!(hung.reason(), Some(&Reason::Failed("hung".into())));
        assert!(!hung.worth_retrying());
        let interrupted = Cell {
            samples: vec![],
            reasons: vec![(1, Reason::RunEnded("QEMU died".into()))],
        };
        assert!(interrupted.worth_retrying());
    }

    #[test]
    fn empty_cells_and_missing_figures_are_incomplete() {
        let mut results = Results::new(
            vec![Column::Native],
            vec!["round-trip", "streaming", "vkmark"],
            1,
        );
        results.record(1, Column::Native, "round-trip", Outcome::Figure(1.0));
        results.record(
            1,
            Column::Native,
            "vkmark",
            Outcome::NoFigure(Reason::Missing("exited 0".into())),
        );
        let incomplete = results.incomplete_cells();
        assert_eq!(incomplete.len(), 2, "{incomplete:?}");
        assert!(incomplete[0].contains("streaming"));
        assert!(incomplete[1].contains("exited 0"));
    }
}
