//! Bounded waiting on file descriptors: every wait in this crate ends by a deadline.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    at: Instant,
}

impl Deadline {
    pub(crate) fn after(timeout: Duration) -> Deadline {
        let now = Instant::now();
        // A timeout too large for Instant is as good as a century.
        let at = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
        Deadline { at }
    }

    pub(crate) fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
}

/// Waits until `fd` reports one of `events` (or an error/hang-up condition) or the deadline passes.
/// Returns the reported events, or `None` on timeout.
pub(crate) fn wait_for_events(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    deadline: &Deadline,
) -> Result<Option<PollFlags>, Errno> {
    loop {
        let remaining = deadline.remaining();
        let timeout = Timespec::try_from(remaining).map_err(|_| Errno::INVAL)?;
        let mut fds = [PollFd::new(&fd, events)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) if remaining.is_zero() => return Ok(None),
            Ok(0) => continue,
            Ok(_) => return Ok(Some(fds[0].revents())),
            Err(Errno::INTR) | Err(Errno::AGAIN) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::event::{eventfd, EventfdFlags};
    use std::os::fd::AsFd;

    #[test]
    fn a_silent_fd_times_out_near_the_deadline() {
        let fd = eventfd(0, EventfdFlags::CLOEXEC).unwrap();
        let start = Instant::now();
        let deadline = Deadline::after(Duration::from_millis(50));
        let ready = wait_for_events(fd.as_fd(), PollFlags::IN, &deadline).unwrap();
        assert_eq!(ready, None);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(45), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
    }

    #[test]
    fn a_ready_fd_is_reported_at_once() {
        let fd = eventfd(1, EventfdFlags::CLOEXEC).unwrap();
        let deadline = Deadline::after(Duration::from_secs(5));
        let ready = wait_for_events(fd.as_fd(), PollFlags::IN, &deadline).unwrap();
        assert!(ready.unwrap().contains(PollFlags::IN));
    }
}
