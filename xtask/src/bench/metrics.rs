//! What the benchmark measures: its workloads (runs of `bench-workload`, a test program of tests/) and the
//! metrics each prints, with units and which direction is better.

/// One run of `bench-workload WORKLOAD` and the metrics it prints.
pub struct Workload {
    pub name: &'static str,
    pub metrics: &'static [&'static str],
}

pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "round-trip",
        metrics: &["round-trip"],
    },
    Workload {
        name: "feedback-wait",
        metrics: &["feedback-wait"],
    },
    Workload {
        name: "streaming",
        metrics: &["streaming"],
    },
    Workload {
        name: "large-dispatch",
        metrics: &["large-dispatch"],
    },
    Workload {
        name: "mapped-memory",
        metrics: &["mapped-write", "mapped-read", "memcpy"],
    },
    Workload {
        name: "churn",
        metrics: &["churn-buffers", "churn-images", "churn-pipelines"],
    },
    Workload {
        name: "vulkaninfo",
        metrics: &["vulkaninfo"],
    },
    Workload {
        name: "first-submit",
        metrics: &["first-submit"],
    },
    Workload {
        name: "vkmark",
        metrics: &["vkmark"],
    },
    Workload {
        name: "vkcube",
        metrics: &["vkcube"],
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// One line of the table.
pub struct Metric {
    pub id: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub better: Better,
}

pub const METRICS: &[Metric] = &[
    Metric {
        id: "round-trip",
        label: "round trip (submit + wait fence)",
        unit: "µs",
        better: Better::Lower,
    },
    Metric {
        id: "feedback-wait",
        label: "round trip (poll fence status)",
        unit: "µs",
        better: Better::Lower,
    },
    Metric {
        id: "streaming",
        label: "streaming 10k dispatches/cmdbuf",
        unit: "cmd/s",
        better: Better::Higher,
    },
    Metric {
        id: "large-dispatch",
        label: "large dispatch (4M elements)",
        unit: "ms",
        better: Better::Lower,
    },
    Metric {
        id: "mapped-write",
        label: "mapped memory write",
        unit: "GB/s",
        better: Better::Higher,
    },
    Metric {
        id: "mapped-read",
        label: "mapped memory read",
        unit: "GB/s",
        better: Better::Higher,
    },
    Metric {
        id: "memcpy",
        label: "memcpy in the same process",
        unit: "GB/s",
        better: Better::Higher,
    },
    Metric {
        id: "churn-buffers",
        label: "create+destroy buffers",
        unit: "/s",
        better: Better::Higher,
    },
    Metric {
        id: "churn-images",
        label: "create+destroy images",
        unit: "/s",
        better: Better::Higher,
    },
    Metric {
        id: "churn-pipelines",
        label: "create+destroy compute pipelines",
        unit: "/s",
        better: Better::Higher,
    },
    Metric {
        id: "vulkaninfo",
        label: "start-up: vulkaninfo --summary",
        unit: "ms",
        better: Better::Lower,
    },
    Metric {
        id: "first-submit",
        label: "start-up: spawn to first fence",
        unit: "ms",
        better: Better::Lower,
    },
    Metric {
        id: "vkmark",
        label: "vkmark --winsys headless score",
        unit: "score",
        better: Better::Higher,
    },
    Metric {
        id: "vkcube",
        label: "vkcube (IMMEDIATE) frame rate",
        unit: "fps",
        better: Better::Higher,
    },
];

pub fn metric(id: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|metric| metric.id == id)
}

impl Metric {
    /// How much better than `baseline` a `value` is: above 1 is better, whichever direction the metric counts.
    pub fn speedup(&self, value: f64, baseline: f64) -> f64 {
        match self.better {
            Better::Higher => value / baseline,
            Better::Lower => baseline / value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_belongs_to_exactly_one_workload_and_every_printed_metric_is_described() {
        for metric in METRICS {
            let owners = WORKLOADS
                .iter()
                .filter(|w| w.metrics.contains(&metric.id))
                .count();
            assert_eq!(owners, 1, "{}", metric.id);
        }
        for workload in WORKLOADS {
            for id in workload.metrics {
                assert!(super::metric(id).is_some(), "{id} has no description");
            }
        }
    }

    #[test]
    fn speedup_is_above_one_when_better_in_either_direction() {
        let time = metric("round-trip").unwrap();
        let rate = metric("streaming").unwrap();
        assert_eq!(time.speedup(50.0, 100.0), 2.0);
        assert_eq!(rate.speedup(200.0, 100.0), 2.0);
    }
}
