//! Telling a stalled host from a busy one while the guest waits on it.
//!
//! Every wait on the host (a ring reply, room in the ring, a queue's fence) watches for signs of
//! life: the ring's head moving, and the ALIVE status bit, which the host's ring monitor sets at least
//! once per monitor period for as long as its process runs, however long one command takes (the
//! period is chained to vkCreateRingMESA as `VkRingMonitorInfoMESA`). The guest clears the bit each
//! time it sees it, so every sighting is a fresh report. No sign of life for the stall timeout
//! (`VENUS_RS_STALL_TIMEOUT`, 10 s) means the host is stopped, hung or gone: the wait ends and the
//! device is lost. A host that keeps reporting but never finishes is given up after the busy limit,
//! so that no wait is unbounded.

use std::time::{Duration, Instant};

/// A stall is declared this much before the stall timeout is up, so that the failing Vulkan call has
/// returned and its lines are out by the time it is (a guest's emulated serial console needs about
/// 100 ms for them): the application sees the loss within the stall timeout of the host's last sign
/// of life. A twentieth of the timeout, at most half a second.
fn report_margin(stall: Duration) -> Duration {
    (stall / 20).min(Duration::from_millis(500))
}

/// How often the host's ring monitor must report: several times per stall timeout, so that one late
/// report is not taken for a dead host, and no more often than every 100 ms (each report wakes a
/// host thread).
pub fn monitor_period(stall_timeout: Duration) -> Duration {
    (stall_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(3))
}

/// The two bounds of a wait on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitLimits {
    /// No sign of life for this long: the host is lost.
    pub stall: Duration,
    /// Alive but not done after this long: the host is lost all the same.
    pub busy: Duration,
}

/// What a wait should do after looking at the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The host showed a sign of life recently enough: keep waiting.
    Wait,
    /// Keep waiting, and say so once: the host has been working this long (alive, not stalled).
    Busy(Duration),
    /// No sign of life for this long.
    Stalled(Duration),
    /// Alive all along but not done after this long.
    TooLong(Duration),
}

/// The signs of life seen during one wait.
#[derive(Debug)]
pub struct Liveness {
    limits: WaitLimits,
    check_period: Duration,
    started: Instant,
    last_sign: Instant,
    last_head: u32,
    alive_seen: bool,
    busy_reported: bool,
}

impl Liveness {
    /// A wait that starts `now`, with the ring's head at `head`, and looks at the host every
    /// `check_period`. Starting counts as a sign of life: the previous wait (or the bring-up) saw the
    /// host.
    pub fn start(limits: WaitLimits, check_period: Duration, now: Instant, head: u32) -> Liveness {
        Liveness {
            limits,
            check_period,
            started: now,
            last_sign: now,
            last_head: head,
            alive_seen: false,
            busy_reported: false,
        }
    }

    /// Takes in one look at the host: its head, and whether its monitor reported since the last look.
    pub fn observe(&mut self, now: Instant, head: u32, alive: bool) -> Verdict {
        if head != self.last_head || alive {
            self.last_sign = now;
            self.last_head = head;
        }
        self.alive_seen |= alive;
        let silent = now.saturating_duration_since(self.last_sign);
        let waited = now.saturating_duration_since(self.started);
        // The next look comes a check period later; a silence that would have passed the stall
        // timeout by then (with the margin to report it) ends the wait now.
        if silent + self.check_period + report_margin(self.limits.stall) >= self.limits.stall {
            return Verdict::Stalled(silent);
        }
        if waited >= self.limits.busy {
            return Verdict::TooLong(waited);
        }
        if waited >= self.limits.stall && !self.busy_reported {
            self.busy_reported = true;
            return Verdict::Busy(waited);
        }
        Verdict::Wait
    }

    /// Whether the ring monitor reported at least once during this wait.
    pub fn alive_seen(&self) -> bool {
        self.alive_seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: WaitLimits = WaitLimits {
        stall: Duration::from_secs(10),
        busy: Duration::from_secs(60),
    };

    fn at(start: Instant, seconds: f64) -> Instant {
        start + Duration::from_secs_f64(seconds)
    }

    #[test]
    fn a_silent_host_is_stalled_by_the_stall_timeout() {
        let t0 = Instant::now();
        let mut liveness = Liveness::start(LIMITS, Duration::ZERO, t0, 100);
        assert_eq!(liveness.observe(at(t0, 5.0), 100, false), Verdict::Wait);
        assert_eq!(liveness.observe(at(t0, 9.4), 100, false), Verdict::Wait);
        assert_eq!(
            liveness.observe(at(t0, 9.5), 100, false),
            Verdict::Stalled(Duration::from_millis(9500))
        );
        assert!(!liveness.alive_seen());
    }

    #[test]
    fn the_wait_ends_before_the_next_look_would_pass_the_stall_timeout() {
        let t0 = Instant::now();
        let period = Duration::from_millis(50);
        let mut liveness = Liveness::start(LIMITS, period, t0, 1);
        assert_eq!(liveness.observe(at(t0, 9.44), 1, false), Verdict::Wait);
        assert_eq!(
            liveness.observe(at(t0, 9.46), 1, false),
            Verdict::Stalled(Duration::from_millis(9460))
        );
    }

    #[test]
    fn a_busy_host_reporting_alive_is_waited_for_and_reported_once() {
        let t0 = Instant::now();
        let mut liveness = Liveness::start(LIMITS, Duration::ZERO, t0, 100);
        // One long command: the head stays, the monitor reports every 2.5 s.
        let mut busy_reports = 0;
        for tick in 1..=20 {
            let now = at(t0, f64::from(tick) * 2.5);
            match liveness.observe(now, 100, true) {
                Verdict::Wait => {}
                Verdict::Busy(waited) => {
                    busy_reports += 1;
                    assert_eq!(waited, Duration::from_secs(10));
                }
                other => panic!("at {tick}: {other:?}"),
            }
        }
        assert_eq!(busy_reports, 1);
        assert!(liveness.alive_seen());
        // The monitor stops (the host was SIGSTOPped at 50 s): lost 10 s after the last report.
        assert_eq!(liveness.observe(at(t0, 55.0), 100, false), Verdict::Wait);
        assert_eq!(
            liveness.observe(at(t0, 60.0), 100, false),
            Verdict::Stalled(Duration::from_secs(10))
        );
    }

    #[test]
    fn head_progress_is_a_sign_of_life() {
        let t0 = Instant::now();
        let mut liveness = Liveness::start(LIMITS, Duration::ZERO, t0, 0);
        for second in 1..=30u32 {
            let verdict = liveness.observe(at(t0, f64::from(second)), second * 64, false);
            assert!(
                matches!(verdict, Verdict::Wait | Verdict::Busy(_)),
                "{second}: {verdict:?}"
            );
        }
    }

    #[test]
    fn a_host_alive_but_never_done_ends_at_the_busy_limit() {
        let t0 = Instant::now();
        let mut liveness = Liveness::start(LIMITS, Duration::ZERO, t0, 7);
        let mut verdict = Verdict::Wait;
        let mut second = 0.0;
        while matches!(verdict, Verdict::Wait | Verdict::Busy(_)) {
            second += 1.0;
            verdict = liveness.observe(at(t0, second), 7, true);
        }
        assert_eq!(verdict, Verdict::TooLong(Duration::from_secs(60)));
    }

    #[test]
    fn short_stall_timeouts_keep_most_of_their_length() {
        let t0 = Instant::now();
        let limits = WaitLimits {
            stall: Duration::from_secs(1),
            busy: Duration::from_secs(60),
        };
        let mut liveness = Liveness::start(limits, Duration::from_millis(50), t0, 0);
        assert_eq!(liveness.observe(at(t0, 0.85), 0, false), Verdict::Wait);
        assert_eq!(
            liveness.observe(at(t0, 0.9), 0, false),
            Verdict::Stalled(Duration::from_millis(900))
        );
    }

    #[test]
    fn the_monitor_reports_several_times_per_stall_timeout() {
        assert_eq!(
            monitor_period(Duration::from_secs(10)),
            Duration::from_millis(2500)
        );
        assert_eq!(
            monitor_period(Duration::from_secs(60)),
            Duration::from_secs(3)
        );
        assert_eq!(
            monitor_period(Duration::from_millis(200)),
            Duration::from_millis(100)
        );
    }
}
