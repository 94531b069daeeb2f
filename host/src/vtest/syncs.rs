//! vtest syncs: per-client 64-bit counters that SUBMIT_CMD2 batches signal (through fences)
//! and that SYNC_WAIT answers with an eventfd which becomes readable once the wait is met.

use std::collections::HashMap;
use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustix::event::EventfdFlags;

use super::protocol::SyncPoint;
use crate::limits::{Cap, CapExceeded, Limits};

#[derive(Debug)]
pub enum SyncError {
    Unknown { sync_id: u32 },
    Eventfd(std::io::Error),
    Cap(CapExceeded),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown { sync_id } => write!(f, "no sync with id {sync_id}"),
            Self::Eventfd(error) => write!(f, "creating an eventfd failed: {error}"),
            Self::Cap(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for SyncError {}

struct PendingWait {
    eventfd: OwnedFd,
    unmet: Vec<SyncPoint>,
    any: bool,
    /// None waits until the client goes away.
    deadline: Option<Instant>,
}

#[derive(Default)]
struct SyncState {
    values: HashMap<u32, u64>,
    next_id: u32,
    waits: Vec<PendingWait>,
}

pub struct SyncTable {
    state: Mutex<SyncState>,
    client_id: u32,
    /// Syncs alive at once (`VENUS_RS_MAX_SYNCS`).
    max_syncs: u64,
    /// Waits pending at once, each holding an eventfd (`VENUS_RS_MAX_PENDING_WAITS`).
    max_pending_waits: u64,
}

impl Default for SyncTable {
    fn default() -> Self {
        Self::new(&Limits::default(), 0)
    }
}

fn wake(eventfd: &OwnedFd) {
    // The counter only needs to become non-zero; a full counter (EAGAIN) is readable anyway.
    let _ = rustix::io::write(eventfd, &1u64.to_ne_bytes());
}

impl SyncTable {
    pub fn new(limits: &Limits, client_id: u32) -> Self {
        Self {
            state: Mutex::default(),
            client_id,
            max_syncs: limits.get(Cap::Syncs),
            max_pending_waits: limits.get(Cap::PendingWaits),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn create(&self, value: u64) -> Result<u32, SyncError> {
        let mut state = self.lock();
        crate::limits::check_single(
            self.client_id,
            Cap::Syncs,
            self.max_syncs,
            state.values.len() as u64 + 1,
        )
        .map_err(SyncError::Cap)?;
        loop {
            state.next_id = state.next_id.wrapping_add(1);
            let id = state.next_id;
            if id != 0 && !state.values.contains_key(&id) {
                state.values.insert(id, value);
                return Ok(id);
            }
        }
    }

    /// Forgets a sync; unknown ids are ignored, as virglrenderer does.
    pub fn unref(&self, sync_id: u32) {
        self.lock().values.remove(&sync_id);
    }

    pub fn read(&self, sync_id: u32) -> Result<u64, SyncError> {
        self.lock()
            .values
            .get(&sync_id)
            .copied()
            .ok_or(SyncError::Unknown { sync_id })
    }

    pub fn check_known(&self, points: &[SyncPoint]) -> Result<(), SyncError> {
        let state = self.lock();
        match points
            .iter()
            .find(|p| !state.values.contains_key(&p.sync_id))
        {
            Some(point) => Err(SyncError::Unknown {
                sync_id: point.sync_id,
            }),
            None => Ok(()),
        }
    }

    /// SYNC_WRITE: sets the value (a lower value resets the sync) and wakes met waits.
    pub fn write(&self, point: SyncPoint) -> Result<(), SyncError> {
        let mut state = self.lock();
        if !state.values.contains_key(&point.sync_id) {
            return Err(SyncError::Unknown {
                sync_id: point.sync_id,
            });
        }
        signal(&mut state, point);
        Ok(())
    }

    /// Signals retired fences' syncs; syncs unreferenced meanwhile are skipped.
    pub fn signal_all(&self, points: &[SyncPoint]) {
        let mut state = self.lock();
        for &point in points {
            if state.values.contains_key(&point.sync_id) {
                signal(&mut state, point);
            }
        }
    }

    /// SYNC_WAIT: an eventfd that is (or becomes) readable once all points are reached, or
    /// any of them with `any`. A wait that is not met by `timeout_ms` is dropped, leaving the
    /// client's poll to time out on its own; `u32::MAX` means no timeout.
    pub fn wait(
        &self,
        any: bool,
        timeout_ms: u32,
        points: &[SyncPoint],
    ) -> Result<OwnedFd, SyncError> {
        let mut state = self.lock();
        let mut unmet = Vec::new();
        for &point in points {
            let value = *state.values.get(&point.sync_id).ok_or(SyncError::Unknown {
                sync_id: point.sync_id,
            })?;
            if value < point.value {
                unmet.push(point);
            }
        }
        let met = unmet.is_empty() || (any && unmet.len() < points.len());
        let pending = !met && timeout_ms != 0;
        if pending {
            let now = Instant::now();
            state
                .waits
                .retain(|wait| wait.deadline.is_none_or(|d| d > now));
            crate::limits::check_single(
                self.client_id,
                Cap::PendingWaits,
                self.max_pending_waits,
                state.waits.len() as u64 + 1,
            )
            .map_err(SyncError::Cap)?;
        }
        let eventfd = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| SyncError::Eventfd(e.into()))?;
        if met {
            wake(&eventfd);
        } else if pending {
            let deadline = (i32::try_from(timeout_ms).is_ok())
                .then(|| Instant::now() + Duration::from_millis(u64::from(timeout_ms)));
            let ours = rustix::io::fcntl_dupfd_cloexec(&eventfd, 0)
                .map_err(|e| SyncError::Eventfd(e.into()))?;
            state.waits.push(PendingWait {
                eventfd: ours,
                unmet,
                any,
                deadline,
            });
        }
        Ok(eventfd)
    }

    #[cfg(test)]
    fn pending_waits(&self) -> usize {
        self.lock().waits.len()
    }
}

fn signal(state: &mut SyncState, point: SyncPoint) {
    let Some(value) = state.values.get_mut(&point.sync_id) else {
        return;
    };
    let raised = point.value > *value;
    *value = point.value;
    if !raised {
        return;
    }
    let now = Instant::now();
    state.waits.retain_mut(|wait| {
        if wait.deadline.is_some_and(|d| d <= now) {
            return false;
        }
        let before = wait.unmet.len();
        wait.unmet
            .retain(|p| p.sync_id != point.sync_id || p.value > point.value);
        let met = wait.unmet.is_empty() || (wait.any && wait.unmet.len() < before);
        if met {
            wake(&wait.eventfd);
        }
        !met
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::event::{PollFd, PollFlags};

    fn readable(fd: &OwnedFd) -> bool {
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        rustix::event::poll(
            &mut fds,
            Some(&rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }),
        )
        .unwrap()
            == 1
    }

    impl SyncTable {
        fn create_ok(&self, value: u64) -> u32 {
            self.create(value).unwrap()
        }
    }

    fn point(sync_id: u32, value: u64) -> SyncPoint {
        SyncPoint { sync_id, value }
    }

    #[test]
    fn create_read_write_unref() {
        let table = SyncTable::default();
        let id = table.create_ok(5);
        assert_eq!(table.read(id).unwrap(), 5);
        table.write(point(id, 9)).unwrap();
        assert_eq!(table.read(id).unwrap(), 9);
        table.write(point(id, 2)).unwrap();
        assert_eq!(table.read(id).unwrap(), 2, "a lower value resets the sync");
        table.unref(id);
        assert!(table.read(id).is_err());
        assert!(table.write(point(id, 1)).is_err());
        assert_ne!(table.create_ok(0), id);
    }

    #[test]
    fn waits_already_met_are_readable_at_once() {
        let table = SyncTable::default();
        let id = table.create_ok(10);
        assert!(readable(
            &table.wait(false, 1000, &[point(id, 10)]).unwrap()
        ));
        assert_eq!(table.pending_waits(), 0);
        assert!(table.wait(false, 1000, &[point(99, 1)]).is_err());
    }

    #[test]
    fn all_and_any_waits_become_readable_when_signaled() {
        let table = SyncTable::default();
        let a = table.create_ok(0);
        let b = table.create_ok(0);
        let all = table
            .wait(false, u32::MAX, &[point(a, 1), point(b, 1)])
            .unwrap();
        let any = table
            .wait(true, u32::MAX, &[point(a, 1), point(b, 1)])
            .unwrap();
        assert!(!readable(&all) && !readable(&any));
        table.signal_all(&[point(a, 1)]);
        assert!(readable(&any));
        assert!(!readable(&all));
        table.write(point(b, 3)).unwrap();
        assert!(readable(&all));
        assert_eq!(table.pending_waits(), 0);
    }

    #[test]
    fn syncs_and_pending_waits_are_capped() {
        let limits = Limits::default()
            .with(Cap::Syncs, 2)
            .with(Cap::PendingWaits, 2);
        let table = SyncTable::new(&limits, 1);
        let a = table.create_ok(0);
        let b = table.create_ok(0);
        assert!(matches!(table.create(0), Err(SyncError::Cap(_))));
        let _first = table.wait(false, u32::MAX, &[point(a, 1)]).unwrap();
        let _second = table.wait(false, u32::MAX, &[point(b, 1)]).unwrap();
        let third = table.wait(false, u32::MAX, &[point(a, 2)]);
        assert!(matches!(third, Err(SyncError::Cap(e)) if e.cap == Cap::PendingWaits));
        // Met waits and polls hold nothing and stay allowed.
        assert!(readable(
            &table.wait(false, u32::MAX, &[point(a, 0)]).unwrap()
        ));
        assert!(!readable(&table.wait(false, 0, &[point(a, 5)]).unwrap()));
        table.signal_all(&[point(a, 1)]);
        assert_eq!(table.pending_waits(), 1);
        table.wait(false, u32::MAX, &[point(a, 2)]).unwrap();
        table.unref(b);
        table.create_ok(0);
    }

    #[test]
    fn zero_timeout_waits_are_not_kept_and_expired_waits_are_dropped() {
        let table = SyncTable::default();
        let id = table.create_ok(0);
        let polled = table.wait(false, 0, &[point(id, 1)]).unwrap();
        assert!(!readable(&polled));
        assert_eq!(table.pending_waits(), 0);

        let short = table.wait(false, 1, &[point(id, 1)]).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        table.signal_all(&[point(id, 1)]);
        assert!(!readable(&short), "the wait had expired");
        assert_eq!(table.pending_waits(), 0);
    }
}
