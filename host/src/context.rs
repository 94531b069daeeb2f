//! One guest context (one guest process's Venus connection): its resources, rings, fence
//! timelines and FATAL state. A FATAL context stops executing anything (its context path
//! refuses commands and its rings stop with the FATAL status bit), but nothing it does can
//! stop the server or another context.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::executor::{ContextExecutors, ContextFatal, DispatchPath, StreamExecutor};
use crate::limits::{Cap, Charge, Limits, Usage};
use crate::resources::{Resource, ResourceError, ResourceKind, ResourceTable};
use crate::ring::{self, RingCreateInfo, RingShared, STATUS_ALIVE};
use crate::shm_file::ShmFile;
use crate::timelines::{RetireFence, TimelineError, Timelines};
use venus_rs_shmem::SharedMemory;

/// Time limits of a context; none of its waits is unbounded.
#[derive(Debug, Clone)]
pub struct ContextOptions {
    /// How long vkWaitRingSeqnoMESA / vkWaitVirtqueueSeqnoMESA may block before the context
    /// goes FATAL.
    pub seqno_wait_timeout: Duration,
    /// How long destroying a ring (or the context) waits for the ring thread to leave the
    /// executor before leaving the thread behind.
    pub ring_stop_timeout: Duration,
    /// How often an idle ring re-reads its tail, so that a lost vkNotifyRingMESA costs
    /// latency and a log line instead of a hang.
    pub idle_recheck: Duration,
    /// The per-context caps (rings, blobs; the executor applies the Vulkan ones).
    pub limits: Limits,
}

impl Default for ContextOptions {
    fn default() -> Self {
        Self {
            seqno_wait_timeout: Duration::from_secs(60),
            ring_stop_timeout: Duration::from_secs(10),
            idle_recheck: Duration::from_secs(1),
            limits: Limits::default(),
        }
    }
}

struct RingEntry {
    ring: Arc<RingShared>,
    thread: JoinHandle<()>,
    /// The ring's part of the rings cap.
    _charge: Charge,
}

/// What a context holds of the caps the transport enforces.
struct TransportUsage {
    rings: Arc<Usage>,
    blobs: Arc<Usage>,
    blob_bytes: Arc<Usage>,
}

impl TransportUsage {
    fn new(context_id: u32, limits: &Limits) -> Self {
        Self {
            rings: Usage::new(context_id, Cap::Rings, limits),
            blobs: Usage::new(context_id, Cap::Blobs, limits),
            blob_bytes: Usage::new(context_id, Cap::BlobBytes, limits),
        }
    }

    /// The charges of one more blob of `size` bytes.
    fn charge_blob(&self, res_id: u32, size: u64) -> Result<Vec<Charge>, ResourceError> {
        let refused = |error| ResourceError::Cap { res_id, error };
        let count = self.blobs.charge(1).map_err(refused)?;
        let bytes = self.blob_bytes.charge(size).map_err(refused)?;
        Ok(vec![count, bytes])
    }
}

struct MonitorState {
    period: Duration,
    stop: bool,
}

struct MonitorControl {
    state: Mutex<MonitorState>,
    wake: Condvar,
}

struct Monitor {
    control: Arc<MonitorControl>,
    thread: JoinHandle<()>,
}

/// The part of a context that its ring threads and monitor share with the context path.
pub(crate) struct ContextShared {
    id: u32,
    options: ContextOptions,
    executors: Arc<dyn ContextExecutors>,
    fatal: AtomicBool,
    fatal_reason: Mutex<Option<String>>,
    resources: Mutex<ResourceTable>,
    rings: Mutex<HashMap<u64, RingEntry>>,
    /// The ring and seqno the context path is blocked on in vkWaitRingSeqnoMESA.
    ring_wait: Mutex<Option<(u64, u32)>>,
    ring_wait_changed: Condvar,
    monitor: Mutex<Option<Monitor>>,
    timelines: Arc<Timelines>,
    usage: TransportUsage,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // State behind these locks stays consistent across a panic in an executor, and the
    // panic itself has already made the context FATAL.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ContextShared {
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn options(&self) -> &ContextOptions {
        &self.options
    }

    pub(crate) fn is_fatal(&self) -> bool {
        self.fatal.load(Ordering::Acquire)
    }

    pub(crate) fn set_fatal(&self, reason: String) {
        {
            let mut first_reason = lock(&self.fatal_reason);
            if first_reason.is_some() {
                return;
            }
            crate::log!("context {} is FATAL: {reason}", self.id);
            *first_reason = Some(reason);
            self.fatal.store(true, Ordering::Release);
        }
        for entry in lock(&self.rings).values() {
            entry.ring.wake();
        }
        let _wait = lock(&self.ring_wait);
        self.ring_wait_changed.notify_all();
    }

    fn fatal_reason(&self) -> Option<String> {
        lock(&self.fatal_reason).clone()
    }

    /// Called by a ring thread whenever its head moves or it exits.
    pub(crate) fn on_ring_progress(&self, ring_id: u64) {
        let wait = lock(&self.ring_wait);
        if wait.is_some_and(|(waited_ring, _)| waited_ring == ring_id) {
            self.ring_wait_changed.notify_all();
        }
    }

    /// The seqno the context path waits for on `ring_id`, if it waits on that ring.
    pub(crate) fn ring_wait_target(&self, ring_id: u64) -> Option<u32> {
        lock(&self.ring_wait)
            .filter(|&(waited_ring, _)| waited_ring == ring_id)
            .map(|(_, seqno)| seqno)
    }

    fn ring(&self, ring_id: u64, command: &str) -> Result<Arc<RingShared>, ContextFatal> {
        lock(&self.rings)
            .get(&ring_id)
            .map(|entry| Arc::clone(&entry.ring))
            .ok_or_else(|| ContextFatal::new(format!("{command}: no ring with id {ring_id:#x}")))
    }

    fn start_or_update_monitor(self: &Arc<Self>, period: Duration) -> Result<(), ContextFatal> {
        let mut monitor = lock(&self.monitor);
        if let Some(running) = monitor.as_ref() {
            let mut state = lock(&running.control.state);
            if period < state.period {
                state.period = period;
                running.control.wake.notify_all();
            }
            return Ok(());
        }
        let control = Arc::new(MonitorControl {
            state: Mutex::new(MonitorState {
                period,
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let context = Arc::downgrade(self);
        let thread_control = Arc::clone(&control);
        let thread = std::thread::Builder::new()
            .name(format!("venus-ringmon-{}", self.id))
            .spawn(move || monitor_rings(context, thread_control))
            .map_err(|e| {
                ContextFatal::new(format!("starting the ring monitor thread failed: {e}"))
            })?;
        *monitor = Some(Monitor { control, thread });
        Ok(())
    }

    fn stop_ring(&self, entry: RingEntry) -> Result<(), ContextFatal> {
        entry.ring.request_stop();
        if entry.ring.wait_exited(self.options.ring_stop_timeout) {
            // The thread has left its loop; joining cannot block for long.
            let _ = entry.thread.join();
            Ok(())
        } else {
            Err(ContextFatal::new(format!(
                "ring {:#x} did not stop within {:?}; its thread is left behind",
                entry.ring.id, self.options.ring_stop_timeout
            )))
        }
    }

    fn shutdown(&self) {
        let monitor = lock(&self.monitor).take();
        if let Some(monitor) = monitor {
            lock(&monitor.control.state).stop = true;
            monitor.control.wake.notify_all();
            let _ = monitor.thread.join();
        }
        let rings: Vec<RingEntry> = lock(&self.rings).drain().map(|(_, entry)| entry).collect();
        for entry in rings {
            if let Err(error) = self.stop_ring(entry) {
                crate::log!("context {}: {error}", self.id);
            }
        }
    }
}

fn monitor_rings(context: Weak<ContextShared>, control: Arc<MonitorControl>) {
    let mut state = lock(&control.state);
    while !state.stop {
        let Some(context) = context.upgrade() else {
            return;
        };
        for entry in lock(&context.rings).values() {
            if entry.ring.monitored {
                entry.ring.set_status_bits(STATUS_ALIVE);
            }
        }
        drop(context);
        let period = state.period;
        state = control
            .wake
            .wait_timeout(state, period)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// Runs an executor, turning a panic inside it into a FATAL error for its context.
pub(crate) fn run_executor(
    executor: &mut dyn StreamExecutor,
    stream: &[u8],
    execution: &mut ExecutionContext<'_>,
) -> Result<(), ContextFatal> {
    std::panic::catch_unwind(AssertUnwindSafe(|| executor.execute(stream, execution)))
        .unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            Err(ContextFatal::new(format!(
                "the command executor panicked: {message}"
            )))
        })
}

/// What an executor may do besides decoding: everything that touches the transport.
/// Operations that the protocol allows on one path only fail with [`ContextFatal`] on the
/// other, as virglrenderer does.
pub struct ExecutionContext<'a> {
    context: &'a Arc<ContextShared>,
    ring: Option<&'a RingShared>,
    progress: &'a mut dyn FnMut(usize),
}

impl<'a> ExecutionContext<'a> {
    pub(crate) fn for_context(
        context: &'a Arc<ContextShared>,
        progress: &'a mut dyn FnMut(usize),
    ) -> Self {
        Self {
            context,
            ring: None,
            progress,
        }
    }

    pub(crate) fn for_ring(
        context: &'a Arc<ContextShared>,
        ring: &'a RingShared,
        progress: &'a mut dyn FnMut(usize),
    ) -> Self {
        Self {
            context,
            ring: Some(ring),
            progress,
        }
    }

    pub fn path(&self) -> DispatchPath {
        match self.ring {
            Some(ring) => DispatchPath::Ring { id: ring.id },
            None => DispatchPath::Context,
        }
    }

    pub fn context_id(&self) -> u32 {
        self.context.id
    }

    /// The first `executed_bytes` of the stream being executed are done. On a ring this
    /// publishes the new head at once, so the guest can reuse the space and seqno waiters
    /// wake command by command.
    pub fn report_progress(&mut self, executed_bytes: usize) {
        (self.progress)(executed_bytes)
    }

    /// The mapping of an SHM resource, for reply streams and vkExecuteCommandStreamsMESA.
    pub fn shm_resource(&self, res_id: u32) -> Result<SharedMemory, ContextFatal> {
        lock(&self.context.resources)
            .shm_memory(res_id)
            .map_err(|e| ContextFatal::new(e.to_string()))
    }

    pub fn timelines(&self) -> &Arc<Timelines> {
        &self.context.timelines
    }

    fn require_context_path(&self, command: &str) -> Result<(), ContextFatal> {
        match self.ring {
            None => Ok(()),
            Some(ring) => Err(ContextFatal::new(format!(
                "{command} must come on the context path, not on ring {:#x}",
                ring.id
            ))),
        }
    }

    /// vkCreateRingMESA: validates the layout and starts the ring's thread.
    pub fn create_ring(&self, ring_id: u64, info: &RingCreateInfo) -> Result<(), ContextFatal> {
        self.require_context_path("vkCreateRingMESA")?;
        let context = self.context;
        let memory = self
            .shm_resource(info.resource_id)
            .map_err(|e| ContextFatal::new(format!("vkCreateRingMESA {ring_id:#x}: {e}")))?;
        let ring = RingShared::new(ring_id, info, memory)
            .map_err(|e| ContextFatal::new(format!("vkCreateRingMESA {ring_id:#x}: {e}")))?;
        if let Some(period_us) = info.monitor_period_us {
            context.start_or_update_monitor(Duration::from_micros(u64::from(period_us)))?;
        }

        let mut rings = lock(&context.rings);
        if rings.contains_key(&ring_id) {
            return Err(ContextFatal::new(format!(
                "vkCreateRingMESA: ring id {ring_id:#x} is already in use"
            )));
        }
        let charge = context
            .usage
            .rings
            .charge(1)
            .map_err(|e| ContextFatal::new(format!("vkCreateRingMESA {ring_id:#x}: {e}")))?;
        let ring = Arc::new(ring);
        let executor = context
            .executors
            .executor_for(DispatchPath::Ring { id: ring_id });
        let thread_ring = Arc::clone(&ring);
        let thread_context = Arc::clone(context);
        let thread = std::thread::Builder::new()
            .name(format!("venus-ring-{}", context.id))
            .spawn(move || ring::run_ring(thread_ring, thread_context, executor))
            .map_err(|e| {
                ContextFatal::new(format!("starting ring {ring_id:#x}'s thread failed: {e}"))
            })?;
        rings.insert(
            ring_id,
            RingEntry {
                ring,
                thread,
                _charge: charge,
            },
        );
        Ok(())
    }

    /// vkDestroyRingMESA: stops the ring's thread and forgets the ring.
    pub fn destroy_ring(&self, ring_id: u64) -> Result<(), ContextFatal> {
        self.require_context_path("vkDestroyRingMESA")?;
        let entry = lock(&self.context.rings).remove(&ring_id).ok_or_else(|| {
            ContextFatal::new(format!("vkDestroyRingMESA: no ring with id {ring_id:#x}"))
        })?;
        self.context.stop_ring(entry)
    }

    /// vkNotifyRingMESA.
    pub fn notify_ring(&self, ring_id: u64) -> Result<(), ContextFatal> {
        self.require_context_path("vkNotifyRingMESA")?;
        self.context.ring(ring_id, "vkNotifyRingMESA")?.notify();
        Ok(())
    }

    /// vkWriteRingExtraMESA.
    pub fn write_ring_extra(
        &self,
        ring_id: u64,
        offset: u64,
        value: u32,
    ) -> Result<(), ContextFatal> {
        self.require_context_path("vkWriteRingExtraMESA")?;
        self.context
            .ring(ring_id, "vkWriteRingExtraMESA")?
            .write_extra(offset, value)
    }

    /// vkSubmitVirtqueueSeqnoMESA: lets the ring's pending vkWaitVirtqueueSeqnoMESA go on.
    pub fn submit_virtqueue_seqno(&self, ring_id: u64, seqno: u64) -> Result<(), ContextFatal> {
        self.require_context_path("vkSubmitVirtqueueSeqnoMESA")?;
        self.context
            .ring(ring_id, "vkSubmitVirtqueueSeqnoMESA")?
            .submit_virtqueue_seqno(seqno);
        Ok(())
    }

    /// vkWaitRingSeqnoMESA: blocks the context path until the ring's head reaches `seqno`.
    /// Ring positions are 32-bit, so only the low 32 bits of `seqno` count (as in
    /// virglrenderer).
    pub fn wait_ring_seqno(&self, ring_id: u64, seqno: u64) -> Result<(), ContextFatal> {
        self.require_context_path("vkWaitRingSeqnoMESA")?;
        let context = self.context;
        let ring = context.ring(ring_id, "vkWaitRingSeqnoMESA")?;
        let seqno = seqno as u32;
        // An idle ring must wake up to either reach the seqno or find it unreachable.
        ring.notify();

        let timeout = context.options.seqno_wait_timeout;
        let deadline = Instant::now() + timeout;
        let mut wait = lock(&context.ring_wait);
        *wait = Some((ring_id, seqno));
        let result = loop {
            if ring::seqno_reached(ring.head(), seqno) {
                break Ok(());
            }
            if context.is_fatal() {
                break Err(ContextFatal::new(format!(
                    "the context went fatal while waiting for ring {ring_id:#x} to reach seqno {seqno}"
                )));
            }
            if ring.has_exited() {
                break Err(ContextFatal::new(format!(
                    "ring {ring_id:#x} stopped while the context path waited for seqno {seqno}"
                )));
            }
            let Some(remaining) = deadline.checked_duration_since(Instant::now()) else {
                break Err(ContextFatal::new(format!(
                    "timed out after {timeout:?} waiting for ring {ring_id:#x} to reach seqno \
                     {seqno} (head {}, tail {})",
                    ring.head(),
                    ring.tail()
                )));
            };
            wait = context
                .ring_wait_changed
                .wait_timeout(wait, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        *wait = None;
        result
    }

    /// vkWaitVirtqueueSeqnoMESA: blocks this ring until the context path has processed
    /// vkSubmitVirtqueueSeqnoMESA with at least `seqno`.
    pub fn wait_virtqueue_seqno(&self, seqno: u64) -> Result<(), ContextFatal> {
        let ring = self.ring.ok_or_else(|| {
            ContextFatal::new(
                "vkWaitVirtqueueSeqnoMESA must come on a ring, not on the context path",
            )
        })?;
        ring.wait_virtqueue_seqno(seqno, self.context, self.context.options.seqno_wait_timeout)
    }
}

/// A guest context, owned by the thread or process that serves its connection.
pub struct GuestContext {
    shared: Arc<ContextShared>,
    context_executor: Box<dyn StreamExecutor>,
}

impl GuestContext {
    pub fn new(
        id: u32,
        executors: Arc<dyn ContextExecutors>,
        retire: RetireFence,
        options: ContextOptions,
    ) -> Self {
        let context_executor = executors.executor_for(DispatchPath::Context);
        Self {
            shared: Arc::new(ContextShared {
                id,
                usage: TransportUsage::new(id, &options.limits),
                options,
                executors,
                fatal: AtomicBool::new(false),
                fatal_reason: Mutex::new(None),
                resources: Mutex::new(ResourceTable::default()),
                rings: Mutex::new(HashMap::new()),
                ring_wait: Mutex::new(None),
                ring_wait_changed: Condvar::new(),
                monitor: Mutex::new(None),
                timelines: Timelines::new(retire),
            }),
            context_executor,
        }
    }

    pub fn id(&self) -> u32 {
        self.shared.id
    }

    /// The reason the context went FATAL, if it did.
    pub fn fatal_reason(&self) -> Option<String> {
        self.shared.fatal_reason()
    }

    /// A blob with blob_id 0: a fresh zero-filled memfd registered as an SHM resource.
    /// Returns a descriptor of it for the client or the VMM.
    pub fn create_shm_resource(&self, res_id: u32, size: u64) -> Result<OwnedFd, ResourceError> {
        let mut resources = lock(&self.shared.resources);
        if res_id == 0 {
            return Err(ResourceError::ZeroId);
        }
        if resources.contains(res_id) {
            return Err(ResourceError::IdInUse { res_id });
        }
        let charges = self.shared.usage.charge_blob(res_id, size)?;
        let memory = ShmFile::create_zeroed("venus-rs-shm", size)
            .map_err(|error| ResourceError::Memory { res_id, error })?;
        let fd = memory
            .duplicate_fd()
            .map_err(|error| ResourceError::Memory {
                res_id,
                error: crate::shm_file::ShmFileError::Create(error),
            })?;
        resources.insert(res_id, Resource::shm(memory).charged(charges))?;
        Ok(fd)
    }

    /// A blob with blob_id ≠ 0: the shared memory behind the context's VkDeviceMemory
    /// `blob_id`, registered as an SHM resource. Returns a descriptor of it for the client or
    /// the VMM.
    pub fn create_device_memory_resource(
        &self,
        res_id: u32,
        blob_id: u64,
        size: u64,
    ) -> Result<OwnedFd, String> {
        if res_id == 0 {
            return Err(ResourceError::ZeroId.to_string());
        }
        if lock(&self.shared.resources).contains(res_id) {
            return Err(ResourceError::IdInUse { res_id }.to_string());
        }
        let charges = self
            .shared
            .usage
            .charge_blob(res_id, size)
            .map_err(|e| e.to_string())?;
        let fd = self.shared.executors.export_device_memory(blob_id, size)?;
        let own = rustix::io::fcntl_dupfd_cloexec(&fd, 0)
            .map_err(|e| format!("duplicating the blob's descriptor failed: {e}"))?;
        let memory = ShmFile::import(own, size)
            .map_err(|error| ResourceError::Memory { res_id, error }.to_string())?;
        lock(&self.shared.resources)
            .insert(res_id, Resource::shm(memory).charged(charges))
            .map_err(|e| e.to_string())?;
        Ok(fd)
    }

    /// A resource made elsewhere (by the VMM): SHM is mapped, other kinds are kept as fds.
    pub fn import_resource(
        &self,
        res_id: u32,
        kind: ResourceKind,
        fd: OwnedFd,
        size: u64,
    ) -> Result<(), ResourceError> {
        let charges = self.shared.usage.charge_blob(res_id, size)?;
        let resource = match kind {
            ResourceKind::Shm => Resource::shm(
                ShmFile::import(fd, size)
                    .map_err(|error| ResourceError::Memory { res_id, error })?,
            ),
            ResourceKind::Dmabuf | ResourceKind::Opaque => Resource::external(kind, fd, size),
        };
        lock(&self.shared.resources).insert(res_id, resource.charged(charges))
    }

    /// Forgets a resource; unknown ids are ignored. Destroying the memory a ring lives in
    /// makes the context FATAL and stops that ring.
    pub fn destroy_resource(&self, res_id: u32) {
        let Some(resource) = lock(&self.shared.resources).remove(res_id) else {
            return;
        };
        let Some(memory) = resource.memory() else {
            return;
        };
        let orphaned: Vec<RingEntry> = {
            let mut rings = lock(&self.shared.rings);
            let ids: Vec<u64> = rings
                .iter()
                .filter(|(_, entry)| entry.ring.uses_memory(memory))
                .map(|(&id, _)| id)
                .collect();
            ids.iter().filter_map(|id| rings.remove(id)).collect()
        };
        for entry in orphaned {
            entry.ring.set_status_bits(ring::STATUS_FATAL);
            self.shared.set_fatal(format!(
                "resource {res_id} was destroyed while ring {:#x} still lives in it",
                entry.ring.id
            ));
            if let Err(error) = self.shared.stop_ring(entry) {
                crate::log!("context {}: {error}", self.shared.id);
            }
        }
    }

    /// Executes context-path bytes. Any error makes the context FATAL.
    pub fn submit_cmd(&mut self, stream: &[u8]) -> Result<(), ContextFatal> {
        if let Some(reason) = self.shared.fatal_reason() {
            return Err(ContextFatal::new(format!(
                "context {} is FATAL ({reason}); refusing {} more bytes",
                self.shared.id,
                stream.len()
            )));
        }
        if stream.is_empty() {
            return Ok(());
        }
        let limit = self.shared.options.limits.get(Cap::StreamBytes);
        if let Err(exceeded) = crate::limits::check_single(
            self.shared.id,
            Cap::StreamBytes,
            limit,
            stream.len() as u64,
        ) {
            let fatal = ContextFatal::new(exceeded.to_string());
            self.shared
                .set_fatal(format!("{}: {fatal}", DispatchPath::Context));
            return Err(fatal);
        }
        let mut ignore_progress = |_: usize| {};
        let mut execution = ExecutionContext::for_context(&self.shared, &mut ignore_progress);
        let result = run_executor(self.context_executor.as_mut(), stream, &mut execution);
        if let Err(fatal) = &result {
            self.shared
                .set_fatal(format!("{}: {fatal}", DispatchPath::Context));
        }
        result
    }

    /// A fence on timeline `ring_idx`; the retire callback runs when it retires.
    pub fn submit_fence(&self, ring_idx: u32, fence_id: u64) -> Result<(), TimelineError> {
        self.shared.timelines.submit_fence(ring_idx, fence_id)
    }

    pub fn timelines(&self) -> &Arc<Timelines> {
        &self.shared.timelines
    }
}

#[cfg(feature = "fuzzing")]
impl GuestContext {
    /// Back to a live context with only the resources `keep` names, no ring and a fresh
    /// context path: what the executor fuzz targets do between inputs, so that one context
    /// (and its driver device) serves many inputs.
    pub fn reset_for_fuzzing(&mut self, keep: &[u32]) {
        self.shared.shutdown();
        lock(&self.shared.resources).retain(|res_id| keep.contains(&res_id));
        *lock(&self.shared.fatal_reason) = None;
        self.shared.fatal.store(false, Ordering::Release);
        self.context_executor = self.shared.executors.executor_for(DispatchPath::Context);
    }
}

impl Drop for GuestContext {
    fn drop(&mut self) {
        self.shared.shutdown();
    }
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
