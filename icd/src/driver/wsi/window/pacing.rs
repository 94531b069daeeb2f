//! FIFO pacing for window systems that tell a client nothing about refresh (X11 without the Present
//! extension, which a foreign xcb connection cannot receive events from): FIFO presents are spaced one
//! refresh interval apart on the CPU clock, so `FIFO` means "at most one frame per refresh" as it does
//! on a real display, while MAILBOX and IMMEDIATE go as fast as the copies allow.

use std::time::{Duration, Instant};

/// The refresh rate assumed for a virtual X screen.
pub const ASSUMED_REFRESH_HZ: u32 = 60;

pub struct FramePacer {
    interval: Duration,
    next_slot: Option<Instant>,
}

impl FramePacer {
    pub fn new(refresh_hz: u32) -> FramePacer {
        FramePacer {
            interval: Duration::from_secs(1) / refresh_hz.max(1),
            next_slot: None,
        }
    }

    /// How long a FIFO present arriving `now` must wait for its refresh slot; books that slot.
    /// A late frame takes the next slot after `now` rather than bunching up to catch up on missed ones.
    pub fn wait_before(&mut self, now: Instant) -> Duration {
        let slot = match self.next_slot {
            Some(slot) if slot > now => slot,
            _ => now,
        };
        self.next_slot = Some(slot + self.interval);
        slot - now
    }

    /// Sleeps until the next refresh slot.
    pub fn pace(&mut self) {
        let wait = self.wait_before(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_frames_are_spaced_one_interval_apart_and_late_ones_do_not_catch_up() {
        let mut pacer = FramePacer::new(50);
        let start = Instant::now();
        assert_eq!(pacer.wait_before(start), Duration::ZERO);
        // Back-to-back frames wait for the next 20 ms slot.
        assert_eq!(
            pacer.wait_before(start + Duration::from_millis(5)),
            Duration::from_millis(15)
        );
        // A frame arriving long after its slot goes at once, and the next one is a full interval later.
        let late = start + Duration::from_millis(500);
        assert_eq!(pacer.wait_before(late), Duration::ZERO);
        assert_eq!(pacer.wait_before(late), Duration::from_millis(20));
    }
}
