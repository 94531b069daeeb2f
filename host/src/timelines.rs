//! Fence timelines: 64 per context, one per virtio-gpu ring_idx.
//!
//! A fence submitted on a timeline retires once every piece of work submitted to that
//! timeline before it has completed, and fences of one timeline retire in submission order.
//! Timeline 0 is the CPU timeline: no work is ever submitted to it, so its fences retire as
//! soon as they are submitted. The decoder will open a [`WorkTicket`] for each queue
//! submission on the queue bound to a timeline and drop it when the submission completes.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Timelines per context (virtio-gpu's ring_idx range, and the capset's
/// supports_multiple_timelines).
pub const TIMELINE_COUNT: u32 = 64;

/// Called with (ring_idx, fence_id) when a fence retires, in order per timeline. It runs
/// while the timelines are locked, so it must not submit fences or work itself.
pub type RetireFence = Box<dyn Fn(u32, u64) + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineError {
    RingIndexOutOfRange { ring_idx: u32 },
    WorkOnCpuTimeline,
}

impl fmt::Display for TimelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RingIndexOutOfRange { ring_idx } => write!(
                f,
                "ring_idx {ring_idx} is out of range: there are {TIMELINE_COUNT} timelines"
            ),
            Self::WorkOnCpuTimeline => {
                f.write_str("ring_idx 0 is the CPU timeline; no queue work can be bound to it")
            }
        }
    }
}

impl std::error::Error for TimelineError {}

#[derive(Default)]
struct Timeline {
    next_work: u64,
    incomplete_work: BTreeSet<u64>,
    /// (fence_id, number of work items submitted before the fence)
    pending_fences: VecDeque<(u64, u64)>,
}

pub struct Timelines {
    timelines: Mutex<Vec<Timeline>>,
    retire: RetireFence,
}

impl Timelines {
    pub fn new(retire: RetireFence) -> Arc<Self> {
        Arc::new(Self {
            timelines: Mutex::new((0..TIMELINE_COUNT).map(|_| Timeline::default()).collect()),
            retire,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Timeline>> {
        // A panic in a retire callback must not wedge every later fence.
        self.timelines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn submit_fence(&self, ring_idx: u32, fence_id: u64) -> Result<(), TimelineError> {
        let index = checked_index(ring_idx)?;
        let mut timelines = self.lock();
        let timeline = &mut timelines[index];
        timeline
            .pending_fences
            .push_back((fence_id, timeline.next_work));
        self.retire_ready(ring_idx, timeline);
        Ok(())
    }

    /// Marks the start of queue work on `ring_idx`; fences submitted after this wait for the
    /// returned ticket to be dropped.
    pub fn begin_work(self: &Arc<Self>, ring_idx: u32) -> Result<WorkTicket, TimelineError> {
        let index = checked_index(ring_idx)?;
        if ring_idx == 0 {
            return Err(TimelineError::WorkOnCpuTimeline);
        }
        let mut timelines = self.lock();
        let timeline = &mut timelines[index];
        let sequence = timeline.next_work;
        timeline.next_work += 1;
        timeline.incomplete_work.insert(sequence);
        Ok(WorkTicket {
            timelines: Arc::clone(self),
            ring_idx,
            sequence,
        })
    }

    fn complete_work(&self, ring_idx: u32, sequence: u64) {
        let mut timelines = self.lock();
        let timeline = &mut timelines[ring_idx as usize];
        timeline.incomplete_work.remove(&sequence);
        self.retire_ready(ring_idx, timeline);
    }

    fn retire_ready(&self, ring_idx: u32, timeline: &mut Timeline) {
        while let Some(&(fence_id, work_before)) = timeline.pending_fences.front() {
            let oldest_incomplete = timeline.incomplete_work.first().copied();
            if oldest_incomplete.is_some_and(|oldest| oldest < work_before) {
                break;
            }
            timeline.pending_fences.pop_front();
            (self.retire)(ring_idx, fence_id);
        }
    }
}

fn checked_index(ring_idx: u32) -> Result<usize, TimelineError> {
    if ring_idx < TIMELINE_COUNT {
        Ok(ring_idx as usize)
    } else {
        Err(TimelineError::RingIndexOutOfRange { ring_idx })
    }
}

/// One piece of queue work in flight on a timeline; dropping it marks the work complete.
pub struct WorkTicket {
    timelines: Arc<Timelines>,
    ring_idx: u32,
    sequence: u64,
}

impl WorkTicket {
    pub fn ring_idx(&self) -> u32 {
        self.ring_idx
    }
}

impl Drop for WorkTicket {
    fn drop(&mut self) {
        self.timelines.complete_work(self.ring_idx, self.sequence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Retired = Arc<Mutex<Vec<(u32, u64)>>>;

    fn recording_timelines() -> (Arc<Timelines>, Retired) {
        let retired = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&retired);
        let timelines = Timelines::new(Box::new(move |ring_idx, fence_id| {
            sink.lock().unwrap().push((ring_idx, fence_id));
        }));
        (timelines, retired)
    }

    #[test]
    fn cpu_timeline_fences_retire_at_once() {
        let (timelines, retired) = recording_timelines();
        timelines.submit_fence(0, 7).unwrap();
        timelines.submit_fence(0, 8).unwrap();
        assert_eq!(*retired.lock().unwrap(), vec![(0, 7), (0, 8)]);
        assert_eq!(
            timelines.begin_work(0).err(),
            Some(TimelineError::WorkOnCpuTimeline)
        );
    }

    #[test]
    fn fences_wait_for_earlier_work_and_retire_in_order() {
        let (timelines, retired) = recording_timelines();
        let first = timelines.begin_work(3).unwrap();
        timelines.submit_fence(3, 1).unwrap();
        let second = timelines.begin_work(3).unwrap();
        timelines.submit_fence(3, 2).unwrap();
        timelines.submit_fence(5, 9).unwrap(); // another timeline is independent
        assert_eq!(*retired.lock().unwrap(), vec![(5, 9)]);

        // The later work finishing first retires nothing: fence 1 still waits for `first`,
        // and fence 2 may not overtake fence 1.
        drop(second);
        assert_eq!(*retired.lock().unwrap(), vec![(5, 9)]);
        drop(first);
        assert_eq!(*retired.lock().unwrap(), vec![(5, 9), (3, 1), (3, 2)]);
    }

    #[test]
    fn a_fence_does_not_wait_for_work_submitted_after_it() {
        let (timelines, retired) = recording_timelines();
        let earlier = timelines.begin_work(1).unwrap();
        timelines.submit_fence(1, 10).unwrap();
        let later = timelines.begin_work(1).unwrap();
        drop(earlier);
        assert_eq!(*retired.lock().unwrap(), vec![(1, 10)]);
        timelines.submit_fence(1, 11).unwrap();
        assert_eq!(retired.lock().unwrap().len(), 1);
        drop(later);
        assert_eq!(*retired.lock().unwrap(), vec![(1, 10), (1, 11)]);
    }

    #[test]
    fn ring_idx_past_the_last_timeline_is_refused() {
        let (timelines, _) = recording_timelines();
        assert_eq!(
            timelines.submit_fence(64, 1),
            Err(TimelineError::RingIndexOutOfRange { ring_idx: 64 })
        );
        assert!(timelines.begin_work(64).is_err());
        timelines.submit_fence(63, 1).unwrap();
    }
}
