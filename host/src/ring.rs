//! Venus rings: a command buffer in guest shared memory plus head, tail, status and extra
//! words, served by one host thread per ring (venus-protocol.md §5).
//!
//! The guest writes commands at `tail & (size - 1)` and then advances the free-running tail;
//! the host copies each new span (handling wrap-around) out of shared memory, hands the copy
//! to the ring's executor and advances the head as commands finish. After `idle_timeout` of
//! no work the thread sets IDLE and sleeps until vkNotifyRingMESA; while busy it polls with
//! back-off.

use std::fmt;
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::context::{run_executor, ContextShared, ExecutionContext};
use crate::executor::{ContextFatal, StreamExecutor};
use venus_rs_shmem::SharedMemory;

/// `VkRingStatusFlagBitsMESA`.
pub const STATUS_IDLE: u32 = 0x1;
pub const STATUS_FATAL: u32 = 0x2;
pub const STATUS_ALIVE: u32 = 0x4;

/// The largest ring buffer a guest may ask for (virglrenderer's limit, so that the host's
/// copy of a full buffer stays bounded).
pub const MAX_BUFFER_SIZE: u64 = 16 * 1024 * 1024;

/// For this long after the last work an empty poll only yields the CPU: the guest's next
/// command usually follows within tens of microseconds (a submit, then the wait for it), and a
/// sleep taken just before it arrives delays it by the sleep. After that the thread sleeps,
/// doubling the sleep each time the iteration count doubles.
const BUSY_POLL_YIELD_PHASE: Duration = Duration::from_micros(300);
/// Yields counted before the first sleep, also when the yield phase is over.
const BUSY_POLL_YIELDS: u32 = 16;
const BUSY_POLL_BASE_SLEEP: Duration = Duration::from_micros(10);
/// Keeps a guest-chosen huge idle timeout from turning back-off into multi-second sleeps.
const BUSY_POLL_MAX_SLEEP: Duration = Duration::from_millis(1);

/// `VkRingCreateInfoMESA` and its chained structs, as plain values supplied by the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingCreateInfo {
    pub flags: u32,
    pub resource_id: u32,
    pub offset: u64,
    pub size: u64,
    pub idle_timeout_ns: u64,
    pub head_offset: u64,
    pub tail_offset: u64,
    pub status_offset: u64,
    pub buffer_offset: u64,
    pub buffer_size: u64,
    pub extra_offset: u64,
    pub extra_size: u64,
    /// `VkRingMonitorInfoMESA::maxReportingPeriodMicroseconds`, when that struct is chained.
    pub monitor_period_us: Option<u32>,
    /// `VkRingPriorityInfoMESA::priority` (a nice value), when that struct is chained.
    pub priority: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingLayoutError {
    FlagsNotZero {
        flags: u32,
    },
    WindowOutsideResource {
        offset: u64,
        size: u64,
        resource_size: u64,
    },
    RegionOutsideWindow {
        region: &'static str,
    },
    RegionMisaligned {
        region: &'static str,
        begin: u64,
        end: u64,
    },
    RegionsOverlap {
        first: &'static str,
        second: &'static str,
    },
    BadBufferSize {
        size: u64,
    },
    ZeroMonitorPeriod,
    NotZeroAtCreation {
        head: u32,
        status: u32,
    },
}

impl fmt::Display for RingLayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FlagsNotZero { flags } => {
                write!(f, "ring create flags are {flags:#x}; no flags are defined, so they must be 0")
            }
            Self::WindowOutsideResource {
                offset,
                size,
                resource_size,
            } => write!(
                f,
                "ring window of {size} bytes at offset {offset} does not fit the {resource_size}-byte resource"
            ),
            Self::RegionOutsideWindow { region } => {
                write!(f, "ring {region} region lies outside the ring window")
            }
            Self::RegionMisaligned { region, begin, end } => write!(
                f,
                "ring {region} region [{begin}, {end}) is not 4-byte aligned"
            ),
            Self::RegionsOverlap { first, second } => {
                write!(f, "ring {first} and {second} regions overlap")
            }
            Self::BadBufferSize { size } => write!(
                f,
                "ring buffer size {size} must be a power of two no larger than {MAX_BUFFER_SIZE}"
            ),
            Self::ZeroMonitorPeriod => {
                f.write_str("ring monitor maxReportingPeriodMicroseconds must not be 0")
            }
            Self::NotZeroAtCreation { head, status } => write!(
                f,
                "ring head is {head} and status is {status:#x} at creation; both must be 0"
            ),
        }
    }
}

impl std::error::Error for RingLayoutError {}

/// Offsets (into the resource) of a ring's regions, after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLayout {
    head: u64,
    tail: u64,
    status: u64,
    buffer: u64,
    buffer_size: u32,
    extra: u64,
    extra_size: u64,
}

impl RingLayout {
    /// Checks that every region lies inside the ring window, which lies inside the resource,
    /// and that regions are 4-byte aligned and pairwise disjoint; all arithmetic is checked.
    pub fn new(info: &RingCreateInfo, resource_size: u64) -> Result<Self, RingLayoutError> {
        if info.flags != 0 {
            return Err(RingLayoutError::FlagsNotZero { flags: info.flags });
        }
        if info.monitor_period_us == Some(0) {
            return Err(RingLayoutError::ZeroMonitorPeriod);
        }
        let window_end = info
            .offset
            .checked_add(info.size)
            .filter(|&end| end <= resource_size)
            .ok_or(RingLayoutError::WindowOutsideResource {
                offset: info.offset,
                size: info.size,
                resource_size,
            })?;
        if info.buffer_size == 0
            || !info.buffer_size.is_power_of_two()
            || info.buffer_size > MAX_BUFFER_SIZE
        {
            return Err(RingLayoutError::BadBufferSize {
                size: info.buffer_size,
            });
        }

        let region = |name: &'static str, relative: u64, len: u64| {
            let begin = info.offset.checked_add(relative);
            let end = begin.and_then(|begin| begin.checked_add(len));
            match (begin, end) {
                (Some(begin), Some(end)) if end <= window_end => {
                    if !begin.is_multiple_of(4) || !end.is_multiple_of(4) {
                        Err(RingLayoutError::RegionMisaligned {
                            region: name,
                            begin,
                            end,
                        })
                    } else {
                        Ok((name, begin, end))
                    }
                }
                _ => Err(RingLayoutError::RegionOutsideWindow { region: name }),
            }
        };
        let regions = [
            region("head", info.head_offset, 4)?,
            region("tail", info.tail_offset, 4)?,
            region("status", info.status_offset, 4)?,
            region("buffer", info.buffer_offset, info.buffer_size)?,
            region("extra", info.extra_offset, info.extra_size)?,
        ];
        for (i, &(first, begin_a, end_a)) in regions.iter().enumerate() {
            for &(second, begin_b, end_b) in &regions[i + 1..] {
                if !(end_a <= begin_b || end_b <= begin_a) {
                    return Err(RingLayoutError::RegionsOverlap { first, second });
                }
            }
        }

        Ok(Self {
            head: regions[0].1,
            tail: regions[1].1,
            status: regions[2].1,
            buffer: regions[3].1,
            buffer_size: info.buffer_size as u32,
            extra: regions[4].1,
            extra_size: info.extra_size,
        })
    }

    pub fn buffer_size(&self) -> u32 {
        self.buffer_size
    }
}

/// Wrap-around aware `a >= b` for free-running 32-bit ring positions.
pub fn seqno_reached(position: u32, seqno: u32) -> bool {
    (position.wrapping_sub(seqno) as i32) >= 0
}

#[derive(Default)]
struct RingState {
    stop_requested: bool,
    pending_notify: bool,
    virtqueue_seqno: u64,
    exited: bool,
}

/// The part of a ring shared by its thread, the context path and the monitor.
pub(crate) struct RingShared {
    pub(crate) id: u64,
    pub(crate) monitored: bool,
    memory: SharedMemory,
    layout: RingLayout,
    idle_timeout: Duration,
    priority: Option<i32>,
    /// The head as the host last published it. Waiters read this copy, not the shared word
    /// the guest could scribble on.
    host_head: AtomicU32,
    state: Mutex<RingState>,
    wake: Condvar,
}

impl RingShared {
    /// `memory` is the whole resource the ring lives in.
    pub(crate) fn new(
        id: u64,
        info: &RingCreateInfo,
        memory: SharedMemory,
    ) -> Result<Self, RingLayoutError> {
        let layout = RingLayout::new(info, memory.size())?;
        // The layout was validated against the resource, so these loads cannot fail.
        let head = memory.load_acquire_u32(layout.head).unwrap_or(u32::MAX);
        let status = memory.load_acquire_u32(layout.status).unwrap_or(u32::MAX);
        if head != 0 || status != 0 {
            return Err(RingLayoutError::NotZeroAtCreation { head, status });
        }
        Ok(Self {
            id,
            monitored: info.monitor_period_us.is_some(),
            memory,
            layout,
            idle_timeout: Duration::from_nanos(info.idle_timeout_ns),
            priority: info.priority,
            host_head: AtomicU32::new(0),
            state: Mutex::new(RingState::default()),
            wake: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, RingState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn uses_memory(&self, memory: &SharedMemory) -> bool {
        self.memory.shares_mapping_with(memory)
    }

    pub(crate) fn head(&self) -> u32 {
        self.host_head.load(Ordering::Acquire)
    }

    pub(crate) fn tail(&self) -> u32 {
        self.memory.load_acquire_u32(self.layout.tail).unwrap_or(0)
    }

    fn publish_head(&self, head: u32) {
        self.host_head.store(head, Ordering::Release);
        // In bounds by construction of the layout.
        let _ = self.memory.store_release_u32(self.layout.head, head);
    }

    pub(crate) fn set_status_bits(&self, bits: u32) {
        let _ = self.memory.fetch_or_u32(self.layout.status, bits);
    }

    fn clear_status_bits(&self, bits: u32) {
        let _ = self.memory.fetch_and_u32(self.layout.status, !bits);
    }

    /// vkNotifyRingMESA: wakes the thread if it is idle.
    pub(crate) fn notify(&self) {
        self.lock().pending_notify = true;
        self.wake.notify_all();
    }

    /// Wakes every wait of this ring so that it re-checks stop and FATAL conditions.
    pub(crate) fn wake(&self) {
        let _guard = self.lock();
        self.wake.notify_all();
    }

    pub(crate) fn request_stop(&self) {
        self.lock().stop_requested = true;
        self.wake.notify_all();
    }

    fn stop_requested(&self) -> bool {
        self.lock().stop_requested
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.lock().exited
    }

    /// Waits up to `timeout` for the thread to leave its loop; false if it did not.
    pub(crate) fn wait_exited(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !state.exited {
            let Some(remaining) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            state = self
                .wake
                .wait_timeout(state, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// vkSubmitVirtqueueSeqnoMESA (context path).
    pub(crate) fn submit_virtqueue_seqno(&self, seqno: u64) {
        self.lock().virtqueue_seqno = seqno;
        self.wake.notify_all();
    }

    /// vkWaitVirtqueueSeqnoMESA (this ring's own path): blocks until the context path has
    /// processed vkSubmitVirtqueueSeqnoMESA(seqno) for this ring.
    pub(crate) fn wait_virtqueue_seqno(
        &self,
        seqno: u64,
        context: &ContextShared,
        timeout: Duration,
    ) -> Result<(), ContextFatal> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.virtqueue_seqno < seqno {
            if state.stop_requested {
                return Err(ContextFatal::new(format!(
                    "ring {:#x} was stopped while waiting for virtqueue seqno {seqno}",
                    self.id
                )));
            }
            if context.is_fatal() {
                return Err(ContextFatal::new(format!(
                    "the context went fatal while ring {:#x} waited for virtqueue seqno {seqno}",
                    self.id
                )));
            }
            let Some(remaining) = deadline.checked_duration_since(Instant::now()) else {
                return Err(ContextFatal::new(format!(
                    "ring {:#x} timed out after {timeout:?} waiting for virtqueue seqno {seqno} \
                     (the context path has submitted {})",
                    self.id, state.virtqueue_seqno
                )));
            };
            state = self
                .wake
                .wait_timeout(state, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }

    /// vkWriteRingExtraMESA: stores `value` at `offset` inside the extra region.
    pub(crate) fn write_extra(&self, offset: u64, value: u32) -> Result<(), ContextFatal> {
        let inside = offset.is_multiple_of(4)
            && offset
                .checked_add(4)
                .is_some_and(|end| end <= self.layout.extra_size);
        if !inside {
            return Err(ContextFatal::new(format!(
                "vkWriteRingExtraMESA offset {offset} does not fit ring {:#x}'s {}-byte extra region",
                self.id, self.layout.extra_size
            )));
        }
        self.memory
            .store_release_u32(self.layout.extra + offset, value)
            .map_err(|e| ContextFatal::new(format!("ring {:#x} extra: {e}", self.id)))
    }

    /// Copies `len` bytes starting at free-running position `position` out of the buffer.
    fn copy_out(&self, position: u32, dst: &mut [u8]) -> Result<(), ContextFatal> {
        let size = self.layout.buffer_size as usize;
        let start = (position & (self.layout.buffer_size - 1)) as usize;
        let first = dst.len().min(size - start);
        let (before_wrap, after_wrap) = dst.split_at_mut(first);
        let read = |offset: usize, part: &mut [u8]| {
            self.memory
                .read_bytes(self.layout.buffer + offset as u64, part)
                .map_err(|e| ContextFatal::new(format!("ring {:#x} buffer: {e}", self.id)))
        };
        read(start, before_wrap)?;
        read(0, after_wrap)
    }
}

/// Marks the ring as exited (and wakes everyone waiting on it) however the thread ends.
struct ExitSignal<'a> {
    ring: &'a RingShared,
    context: &'a ContextShared,
}

impl Drop for ExitSignal<'_> {
    fn drop(&mut self) {
        self.ring.lock().exited = true;
        self.ring.wake.notify_all();
        self.context.on_ring_progress(self.ring.id);
    }
}

enum Stop {
    Requested,
    Fatal(Option<String>),
}

/// The body of a ring's thread.
pub(crate) fn run_ring(
    ring: Arc<RingShared>,
    context: Arc<ContextShared>,
    mut executor: Box<dyn StreamExecutor>,
) {
    let _exit = ExitSignal {
        ring: &ring,
        context: &context,
    };
    if let Some(requested) = ring.priority {
        apply_priority(&ring, &context, requested);
    }

    match serve(&ring, &context, executor.as_mut()) {
        Stop::Requested => {}
        Stop::Fatal(reason) => {
            ring.set_status_bits(STATUS_FATAL);
            if let Some(reason) = reason {
                context.set_fatal(format!("ring {:#x}: {reason}", ring.id));
            }
        }
    }
}

/// The nice value of the calling thread (on Linux, PRIO_PROCESS with no pid means the
/// thread).
fn own_nice() -> i32 {
    rustix::process::getpriority_process(None).unwrap_or(0)
}

/// The nice value a ring thread gets for the guest's `requested` one: never more urgent than
/// the server itself (a guest may lower its ring's priority, never raise it above the host's
/// own), and within Linux's range.
pub fn clamped_priority(requested: i32, own: i32) -> i32 {
    requested.clamp(own, 19)
}

fn apply_priority(ring: &RingShared, context: &ContextShared, requested: i32) {
    let own = own_nice();
    let priority = clamped_priority(requested, own);
    if priority != requested {
        crate::log!(
            "context {}: ring {:#x}: priority {requested} clamped to {priority} (the server runs              at {own})",
            context.id(),
            ring.id
        );
    }
    // On Linux, PRIO_PROCESS with no pid sets the calling thread's nice value.
    if let Err(error) = rustix::process::setpriority_process(None, priority) {
        crate::log!(
            "context {}: ring {:#x}: could not set thread priority {priority}: {error}",
            context.id(),
            ring.id
        );
    }
}

fn serve(
    ring: &RingShared,
    context: &Arc<ContextShared>,
    executor: &mut dyn StreamExecutor,
) -> Stop {
    let buffer_size = ring.layout.buffer_size;
    let mut commands = vec![0u8; buffer_size as usize];
    let mut position: u32 = 0;
    let mut last_work = Instant::now();
    let mut poll_iteration: u32 = 0;

    loop {
        if ring.stop_requested() {
            return Stop::Requested;
        }
        if context.is_fatal() {
            // Another path made the context fatal; mark this ring too and stop.
            return Stop::Fatal(None);
        }

        if last_work.elapsed() >= ring.idle_timeout {
            if let Some(stop) = idle(ring, context, position) {
                return stop;
            }
            last_work = Instant::now();
            poll_iteration = 0;
        }

        let tail = ring.tail();
        let pending = tail.wrapping_sub(position);
        if pending == 0 {
            if let Some(seqno) = context.ring_wait_target(ring.id) {
                // The wait may have been registered after `tail` was read. The guest moves its
                // tail before it asks the context path to wait for it, so only a tail read
                // after the wait was seen can prove the wait endless.
                let tail = ring.tail();
                if tail != position {
                    continue;
                }
                if !seqno_reached(tail, seqno) {
                    return Stop::Fatal(Some(format!(
                        "the context path waits for seqno {seqno}, but the guest's tail is \
                         {tail} and nothing is left to execute: the wait can never end"
                    )));
                }
            }
            relax(&mut poll_iteration, last_work.elapsed());
            continue;
        }
        if pending > buffer_size {
            return Stop::Fatal(Some(format!(
                "the tail moved {pending} bytes past the head ({position} -> {tail}), more than \
                 the {buffer_size}-byte buffer holds"
            )));
        }

        let span = &mut commands[..pending as usize];
        if let Err(fatal) = ring.copy_out(position, span) {
            return Stop::Fatal(Some(fatal.reason().to_owned()));
        }
        let start = position;
        let mut report = |done: usize| {
            let done = done.min(pending as usize) as u32;
            ring.publish_head(start.wrapping_add(done));
            context.on_ring_progress(ring.id);
        };
        let mut execution = ExecutionContext::for_ring(context, ring, &mut report);
        let result = run_executor(executor, span, &mut execution);
        if let Err(fatal) = result {
            if ring.stop_requested() {
                return Stop::Requested;
            }
            return Stop::Fatal(Some(fatal.reason().to_owned()));
        }
        position = tail;
        ring.publish_head(position);
        context.on_ring_progress(ring.id);
        last_work = Instant::now();
        poll_iteration = 0;
    }
}

/// Sets IDLE and sleeps until notified, stopped or the context goes fatal; returns a stop
/// reason, or None to go on serving.
fn idle(ring: &RingShared, context: &ContextShared, position: u32) -> Option<Stop> {
    ring.lock().pending_notify = false;
    ring.set_status_bits(STATUS_IDLE);
    // Pairs with the guest's store of the tail followed by its load of the status: either the
    // guest sees IDLE and notifies, or this load sees the new tail.
    fence(Ordering::SeqCst);
    let tail = ring
        .memory
        .load_seq_cst_u32(ring.layout.tail)
        .unwrap_or(position);
    if tail == position {
        let recheck = context.options().idle_recheck;
        let mut state = ring.lock();
        while !state.pending_notify && !state.stop_requested && !context.is_fatal() {
            let (guard, timeout) = ring
                .wake
                .wait_timeout(state, recheck)
                .unwrap_or_else(PoisonError::into_inner);
            state = guard;
            if timeout.timed_out() && !state.pending_notify && ring.tail() != position {
                crate::log!(
                    "context {}: ring {:#x}: the guest added commands while the ring was idle \
                     without vkNotifyRingMESA; picked them up after {recheck:?}",
                    context.id(),
                    ring.id
                );
                break;
            }
        }
        let stop = state.stop_requested;
        drop(state);
        if stop {
            return Some(Stop::Requested);
        }
    }
    ring.clear_status_bits(STATUS_IDLE);
    None
}

fn relax(iteration: &mut u32, idle_for: Duration) {
    if idle_for < BUSY_POLL_YIELD_PHASE {
        std::thread::yield_now();
        return;
    }
    *iteration = iteration.saturating_add(1);
    if *iteration < BUSY_POLL_YIELDS {
        std::thread::yield_now();
        return;
    }
    let bit_length = u32::BITS - iteration.leading_zeros();
    let shift = bit_length
        .saturating_sub(BUSY_POLL_YIELDS.trailing_zeros() + 1)
        .min(16);
    std::thread::sleep((BUSY_POLL_BASE_SLEEP * (1u32 << shift)).min(BUSY_POLL_MAX_SLEEP));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Mesa's instance ring (venus-protocol.md §3.10 d).
    pub(crate) fn mesa_ring_info(resource_id: u32) -> RingCreateInfo {
        RingCreateInfo {
            flags: 0,
            resource_id,
            offset: 0,
            size: 131268,
            idle_timeout_ns: 1_000_000,
            head_offset: 0,
            tail_offset: 64,
            status_offset: 128,
            buffer_offset: 192,
            buffer_size: 131072,
            extra_offset: 131264,
            extra_size: 4,
            monitor_period_us: Some(3_000_000),
            priority: None,
        }
    }

    #[test]
    fn mesa_layout_is_accepted() {
        let layout = RingLayout::new(&mesa_ring_info(1), 135168).unwrap();
        assert_eq!(layout.buffer_size(), 131072);
        assert_eq!(layout.extra, 131264);
    }

    #[test]
    fn layout_errors_are_caught() {
        let base = mesa_ring_info(1);
        let check =
            |info: RingCreateInfo, resource_size: u64| RingLayout::new(&info, resource_size);

        assert!(matches!(
            check(base.clone(), 131000),
            Err(RingLayoutError::WindowOutsideResource { .. })
        ));
        assert!(matches!(
            check(
                RingCreateInfo {
                    offset: u64::MAX,
                    ..base.clone()
                },
                135168
            ),
            Err(RingLayoutError::WindowOutsideResource { .. })
        ));
        assert!(matches!(
            check(
                RingCreateInfo {
                    flags: 1,
                    ..base.clone()
                },
                135168
            ),
            Err(RingLayoutError::FlagsNotZero { flags: 1 })
        ));
        assert!(matches!(
            check(
                RingCreateInfo {
                    buffer_size: 131071,
                    ..base.clone()
                },
                135168
            ),
            Err(RingLayoutError::BadBufferSize { .. })
        ));
        assert!(matches!(
            check(
                RingCreateInfo {
                    buffer_size: 0,
                    ..base.clone()
                },
                135168
            ),
            Err(RingLayoutError::BadBufferSize { .. })
        ));
        assert!(matches!(
            check(
                RingCreateInfo {
                    buffer_size: 32 * 1024 * 1024,
                    size: 64 * 1024 * 1024,
                    ..base.clone()
                },
                64 * 1024 * 1024
            ),
            Err(RingLayoutError::BadBufferSize { .. })
        ));
        assert!(matches!(
            check(
                RingCreateInfo {
                    tail_offset: 66,
                    ..base.clone()
                },
                135168
            ),
            Err(RingLayoutError::RegionMisaligned { region: "tail", .. })
        ));
        assert!(matches!(
            check(
                RingCreateInfo {
                    status_offset: 60,
                    tail_offset: 62,
                    ..base.clone()
                },
                135168
            ),
            Err(RingLayoutError::RegionMisaligned { .. })
        ));
        assert!(matches!(
            check(
                RingCreateInfo {
                    status_offset: 192,
                    ..base.clone()
                },
                135168
            ),
            Err(RingLayoutError::RegionsOverlap {
                first: "status",
                second: "buffer"
            })
        ));
        assert!(matches!(
            check(
                RingCreateInfo {
                    extra_offset: u64::MAX - 2,
                    ..base.clone()
                },
                135168
            ),
            Err(RingLayoutError::RegionOutsideWindow { region: "extra" })
        ));
        assert!(matches!(
            check(
                RingCreateInfo {
                    extra_size: 8,
                    ..base.clone()
                },
                135168
            ),
            Err(RingLayoutError::RegionOutsideWindow { region: "extra" })
        ));
        assert!(matches!(
            check(
                RingCreateInfo {
                    monitor_period_us: Some(0),
                    ..base.clone()
                },
                135168
            ),
            Err(RingLayoutError::ZeroMonitorPeriod)
        ));
        // A window placed further into the resource shifts every region with it.
        check(
            RingCreateInfo {
                offset: 4096,
                ..base.clone()
            },
            135168 + 4096,
        )
        .unwrap();
        // An empty extra region is allowed.
        check(
            RingCreateInfo {
                extra_size: 0,
                ..base
            },
            135168,
        )
        .unwrap();
    }

    #[test]
    fn ring_priority_is_never_above_the_servers() {
        assert_eq!(clamped_priority(-20, 0), 0);
        assert_eq!(clamped_priority(-20, 5), 5);
        assert_eq!(clamped_priority(3, 0), 3);
        assert_eq!(clamped_priority(40, 0), 19);
        assert_eq!(clamped_priority(i32::MIN, -2), -2);
    }

    #[test]
    fn seqnos_compare_across_wrap_around() {
        assert!(seqno_reached(5, 5));
        assert!(seqno_reached(6, 5));
        assert!(!seqno_reached(4, 5));
        assert!(seqno_reached(3, u32::MAX - 2));
        assert!(!seqno_reached(u32::MAX - 2, 3));
    }
}
