//! The lines `cargo xtask bench` reads, and the statistics the workloads reduce their samples with.

use std::time::{Duration, Instant};

/// Prints one measured figure.
pub fn figure(metric: &str, value: f64) {
    println!("bench-figure {metric} {value:.4}");
}

/// Says why `metric` could not be measured with this driver (not a failure of the program).
pub fn unavailable(metric: &str, reason: &str) {
    println!("bench-unavailable {metric} {}", reason.replace('\n', " "));
}

/// The median of `samples` (sorted here); 0 for none.
pub fn median(samples: &mut [f64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// A loop's stopping rule: at least `min` iterations, at most `max`, and no new iteration once `budget` has
/// passed after the minimum — so a slow pairing (a guest under TCG) measures fewer samples instead of running
/// for minutes.
pub struct Budget {
    min: u32,
    max: u32,
    budget: Duration,
    started: Instant,
    done: u32,
}

impl Budget {
    pub fn new(min: u32, max: u32, budget: Duration) -> Budget {
        Budget {
            min,
            max,
            budget,
            started: Instant::now(),
            done: 0,
        }
    }

    /// True while another iteration should run; counts it.
    pub fn next(&mut self) -> bool {
        let more =
            self.done < self.min || (self.done < self.max && self.started.elapsed() < self.budget);
        if more {
            self.done += 1;
        }
        more
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_sample_after_sorting() {
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&mut [4.0, 1.0]), 4.0);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn a_budget_runs_the_minimum_even_when_time_is_up_and_never_more_than_the_maximum() {
        let mut spent = Budget::new(3, 10, Duration::ZERO);
        assert_eq!(std::iter::from_fn(|| spent.next().then_some(())).count(), 3);
        let mut roomy = Budget::new(1, 5, Duration::from_secs(3600));
        assert_eq!(std::iter::from_fn(|| roomy.next().then_some(())).count(), 5);
    }
}
