//! Rings, seqno synchronisation and FATAL handling, driven by a test-only executor.
//!
//! The executor reads a toy stream made of 8-byte commands (a 4-byte tag and a u32
//! argument) and turns them into calls on the [`ExecutionContext`], recording everything it
//! sees; it stands in for the generated decoder, which does not exist yet.

use std::sync::OnceLock;

use super::*;
use crate::ring::{STATUS_FATAL, STATUS_IDLE};

const RING_ID: u64 = 0x5555_dead_beef;
const RES_ID: u32 = 1;
const HEAD: u64 = 0;
const TAIL: u64 = 64;
const STATUS: u64 = 128;
const BUFFER: u64 = 192;
const BUFFER_SIZE: u32 = 64;
const EXTRA: u64 = 256;

fn ring_info(idle_timeout: Duration, monitor_period_us: Option<u32>) -> RingCreateInfo {
    RingCreateInfo {
        flags: 0,
        resource_id: RES_ID,
        offset: 0,
        size: 260,
        idle_timeout_ns: idle_timeout.as_nanos() as u64,
        head_offset: HEAD,
        tail_offset: TAIL,
        status_offset: STATUS,
        buffer_offset: BUFFER,
        buffer_size: u64::from(BUFFER_SIZE),
        extra_offset: EXTRA,
        extra_size: 4,
        monitor_period_us,
        priority: None,
    }
}

type Log = Arc<Mutex<Vec<(DispatchPath, [u8; 4], u32)>>>;

struct ToyExecutors {
    ring_info: RingCreateInfo,
    guest: Arc<OnceLock<SharedMemory>>,
    log: Log,
}

struct ToyExecutor {
    path: DispatchPath,
    ring_info: RingCreateInfo,
    guest: Arc<OnceLock<SharedMemory>>,
    log: Log,
}

impl ContextExecutors for ToyExecutors {
    fn executor_for(&self, path: DispatchPath) -> Box<dyn StreamExecutor> {
        Box::new(ToyExecutor {
            path,
            ring_info: self.ring_info.clone(),
            guest: Arc::clone(&self.guest),
            log: Arc::clone(&self.log),
        })
    }
}

impl StreamExecutor for ToyExecutor {
    fn execute(
        &mut self,
        stream: &[u8],
        ctx: &mut ExecutionContext<'_>,
    ) -> Result<(), ContextFatal> {
        assert_eq!(ctx.path(), self.path);
        for (index, command) in stream.chunks(8).enumerate() {
            if command.len() != 8 {
                return Err(ContextFatal::new("toy: truncated command"));
            }
            let tag: [u8; 4] = command[..4].try_into().unwrap();
            let arg = u32::from_le_bytes(command[4..].try_into().unwrap());
            self.log.lock().unwrap().push((self.path, tag, arg));
            match &tag {
                b"MKRG" => ctx.create_ring(RING_ID, &self.ring_info)?,
                b"NTFY" => ctx.notify_ring(RING_ID)?,
                b"DSRG" => ctx.destroy_ring(RING_ID)?,
                b"WAIT" => ctx.wait_ring_seqno(RING_ID, u64::from(arg))?,
                b"VQSB" => ctx.submit_virtqueue_seqno(RING_ID, u64::from(arg))?,
                b"VQWT" => ctx.wait_virtqueue_seqno(u64::from(arg))?,
                b"XTRA" => ctx.write_ring_extra(RING_ID, 0, arg)?,
                b"XTR4" => ctx.write_ring_extra(RING_ID, 4, arg)?,
                b"HEAD" => {
                    let head = self.guest.get().unwrap().load_acquire_u32(HEAD).unwrap();
                    if head != arg {
                        return Err(ContextFatal::new(format!(
                            "toy: head is {head}, expected {arg}"
                        )));
                    }
                }
                b"SLOW" => std::thread::sleep(Duration::from_millis(u64::from(arg))),
                b"DATA" => {}
                b"BAD!" => return Err(ContextFatal::new("toy: bad command")),
                b"PANC" => panic!("toy: executor bug"),
                _ => return Err(ContextFatal::new("toy: unknown command")),
            }
            ctx.report_progress((index + 1) * 8);
        }
        Ok(())
    }
}

fn command(tag: &[u8; 4], arg: u32) -> Vec<u8> {
    let mut bytes = tag.to_vec();
    bytes.extend(arg.to_le_bytes());
    bytes
}

fn commands(list: &[(&[u8; 4], u32)]) -> Vec<u8> {
    list.iter()
        .flat_map(|(tag, arg)| command(tag, *arg))
        .collect()
}

fn test_options() -> ContextOptions {
    ContextOptions {
        seqno_wait_timeout: Duration::from_secs(10),
        ring_stop_timeout: Duration::from_secs(10),
        // Long enough that a test can tell "woken by notify" from "found by the recheck".
        idle_recheck: Duration::from_secs(30),
        ..ContextOptions::default()
    }
}

/// The guest's side of a test: the context, a mapping of the ring's memory and the log.
struct Harness {
    context: GuestContext,
    guest: SharedMemory,
    log: Log,
    retired: Arc<Mutex<Vec<(u32, u64)>>>,
}

impl Harness {
    fn new(id: u32, ring_info: RingCreateInfo, options: ContextOptions) -> Self {
        let log = Log::default();
        let guest_cell = Arc::new(OnceLock::new());
        let retired = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&retired);
        let context = GuestContext::new(
            id,
            Arc::new(ToyExecutors {
                ring_info,
                guest: Arc::clone(&guest_cell),
                log: Arc::clone(&log),
            }),
            Box::new(move |ring_idx, fence_id| sink.lock().unwrap().push((ring_idx, fence_id))),
            options,
        );
        let fd = context.create_shm_resource(RES_ID, 4096).unwrap();
        let guest = ShmFile::import(fd, 4096).unwrap().memory().clone();
        guest_cell.set(guest.clone()).unwrap();
        Self {
            context,
            guest,
            log,
            retired,
        }
    }

    /// A context whose ring is created and busy-polling (idle timeout of 10 s).
    fn with_busy_ring(id: u32) -> Self {
        let mut harness = Self::new(id, ring_info(Duration::from_secs(10), None), test_options());
        harness.submit(&[(b"MKRG", 0)]).unwrap();
        harness
    }

    fn submit(&mut self, list: &[(&[u8; 4], u32)]) -> Result<(), ContextFatal> {
        self.context.submit_cmd(&commands(list))
    }

    /// Writes commands at free-running position `position`, wrapping like a guest does,
    /// then publishes the new tail; returns it.
    fn push(&self, position: u32, list: &[(&[u8; 4], u32)]) -> u32 {
        let bytes = commands(list);
        for (i, byte) in bytes.iter().enumerate() {
            let offset = (position as usize + i) % BUFFER_SIZE as usize;
            self.guest
                .write_bytes(BUFFER + offset as u64, &[*byte])
                .unwrap();
        }
        let tail = position + bytes.len() as u32;
        self.guest.store_release_u32(TAIL, tail).unwrap();
        tail
    }

    fn head(&self) -> u32 {
        self.guest.load_acquire_u32(HEAD).unwrap()
    }

    fn status(&self) -> u32 {
        self.guest.load_acquire_u32(STATUS).unwrap()
    }

    fn ring_log(&self) -> Vec<([u8; 4], u32)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _, _)| *path == DispatchPath::Ring { id: RING_ID })
            .map(|&(_, tag, arg)| (tag, arg))
            .collect()
    }
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn ring_copies_wrapped_spans_and_advances_head_per_command() {
    let harness = Harness::with_busy_ring(1);
    let tail = harness.push(
        0,
        &[
            (b"DATA", 1),
            (b"DATA", 2),
            (b"DATA", 3),
            (b"DATA", 4),
            (b"DATA", 5),
        ],
    );
    wait_until("the first span is executed", || harness.head() == tail);
    // This span starts 40 bytes in and wraps past the 64-byte end of the buffer; when the
    // third command runs, the head must already cover the first two.
    let tail = harness.push(
        tail,
        &[
            (b"DATA", 6),
            (b"DATA", 7),
            (b"HEAD", 56),
            (b"DATA", 8),
            (b"DATA", 9),
        ],
    );
    wait_until("the wrapped span is executed", || harness.head() == tail);
    let args: Vec<u32> = harness.ring_log().iter().map(|&(_, arg)| arg).collect();
    assert_eq!(args, vec![1, 2, 3, 4, 5, 6, 7, 56, 8, 9]);
    assert_eq!(harness.context.fatal_reason(), None);
}

#[test]
fn idle_ring_sets_idle_and_waits_for_notify() {
    let mut harness = Harness::new(1, ring_info(Duration::from_millis(1), None), test_options());
    harness.submit(&[(b"MKRG", 0)]).unwrap();
    wait_until("the ring reports IDLE", || {
        harness.status() & STATUS_IDLE != 0
    });

    let tail = harness.push(0, &[(b"DATA", 1)]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        harness.head(),
        0,
        "an idle ring must not run commands before vkNotifyRingMESA"
    );
    assert!(harness.ring_log().is_empty());

    harness.submit(&[(b"NTFY", 0)]).unwrap();
    wait_until("the notified ring runs the command", || {
        harness.head() == tail
    });
    assert_eq!(harness.ring_log(), vec![(*b"DATA", 1)]);
    wait_until("the ring goes idle again", || {
        harness.status() & STATUS_IDLE != 0
    });
}

#[test]
fn idle_ring_recheck_picks_up_commands_without_notify() {
    let options = ContextOptions {
        idle_recheck: Duration::from_millis(20),
        ..test_options()
    };
    let mut harness = Harness::new(1, ring_info(Duration::from_millis(1), None), options);
    harness.submit(&[(b"MKRG", 0)]).unwrap();
    wait_until("the ring reports IDLE", || {
        harness.status() & STATUS_IDLE != 0
    });
    let tail = harness.push(0, &[(b"DATA", 1)]);
    wait_until("the recheck finds the command", || harness.head() == tail);
}

#[test]
fn tail_jumping_past_the_buffer_is_fatal() {
    let mut harness = Harness::with_busy_ring(1);
    harness
        .guest
        .store_release_u32(TAIL, BUFFER_SIZE + 8)
        .unwrap();
    wait_until("the ring reports FATAL", || {
        harness.status() & STATUS_FATAL != 0
    });
    let reason = harness.context.fatal_reason().unwrap();
    assert!(reason.contains("more than the 64-byte buffer"), "{reason}");
    assert!(
        harness.submit(&[(b"DATA", 0)]).is_err(),
        "the context path stops too"
    );
}

#[test]
fn a_bad_ring_command_is_fatal_for_the_context() {
    let mut harness = Harness::with_busy_ring(1);
    harness.push(0, &[(b"DATA", 1), (b"BAD!", 0), (b"DATA", 2)]);
    wait_until("the ring reports FATAL", || {
        harness.status() & STATUS_FATAL != 0
    });
    assert_eq!(
        harness.head(),
        8,
        "the head stops after the last good command"
    );
    assert!(harness
        .context
        .fatal_reason()
        .unwrap()
        .contains("toy: bad command"));
    assert_eq!(harness.ring_log(), vec![(*b"DATA", 1), (*b"BAD!", 0)]);
    let error = harness.submit(&[(b"DATA", 0)]).unwrap_err();
    assert!(error.reason().contains("FATAL"), "{error}");
}

#[test]
fn a_bad_context_command_marks_every_ring_fatal() {
    let mut harness = Harness::with_busy_ring(1);
    assert!(harness.submit(&[(b"BAD!", 0)]).is_err());
    wait_until("the ring reports FATAL", || {
        harness.status() & STATUS_FATAL != 0
    });
}

#[test]
fn an_executor_panic_is_fatal_not_a_crash() {
    let mut harness = Harness::with_busy_ring(1);
    let error = harness.submit(&[(b"PANC", 0)]).unwrap_err();
    assert!(error.reason().contains("panicked"), "{error}");
    let mut harness = Harness::with_busy_ring(2);
    harness.push(0, &[(b"PANC", 0)]);
    wait_until("the ring reports FATAL", || {
        harness.status() & STATUS_FATAL != 0
    });
    assert!(harness.submit(&[(b"DATA", 0)]).is_err());
}

#[test]
fn one_fatal_context_leaves_another_working() {
    let first = Harness::with_busy_ring(1);
    let mut second = Harness::with_busy_ring(2);
    first.push(0, &[(b"BAD!", 0)]);
    wait_until("the first ring reports FATAL", || {
        first.status() & STATUS_FATAL != 0
    });
    assert!(first.context.fatal_reason().is_some());

    let tail = second.push(0, &[(b"DATA", 1), (b"DATA", 2)]);
    wait_until("the second ring keeps running", || second.head() == tail);
    second.submit(&[(b"DATA", 3)]).unwrap();
    assert_eq!(second.status() & STATUS_FATAL, 0);
    assert_eq!(second.context.fatal_reason(), None);
}

#[test]
fn monitor_keeps_setting_alive() {
    let mut harness = Harness::new(
        1,
        ring_info(Duration::from_secs(10), Some(10_000)),
        test_options(),
    );
    harness.submit(&[(b"MKRG", 0)]).unwrap();
    wait_until("the monitor sets ALIVE", || {
        harness.status() & STATUS_ALIVE != 0
    });
    // The guest's watchdog clears the bit and expects it back within the period.
    harness.guest.fetch_and_u32(STATUS, !STATUS_ALIVE).unwrap();
    wait_until("the monitor sets ALIVE again", || {
        harness.status() & STATUS_ALIVE != 0
    });
}

#[test]
fn wait_ring_seqno_returns_once_the_ring_passes_it() {
    let mut harness = Harness::with_busy_ring(1);
    let tail = harness.push(0, &[(b"SLOW", 100), (b"DATA", 1)]);
    harness.submit(&[(b"WAIT", tail)]).unwrap();
    assert!(ring::seqno_reached(harness.head(), tail));
    assert_eq!(harness.ring_log(), vec![(*b"SLOW", 100), (*b"DATA", 1)]);
}

#[test]
fn wait_ring_seqno_that_can_never_be_reached_is_fatal() {
    let mut harness = Harness::with_busy_ring(1);
    let tail = harness.push(0, &[(b"DATA", 1)]);
    let error = harness.submit(&[(b"WAIT", tail + 64)]).unwrap_err();
    assert!(
        error.reason().contains("went fatal") || error.reason().contains("stopped"),
        "{error}"
    );
    wait_until("the ring reports FATAL", || {
        harness.status() & STATUS_FATAL != 0
    });
    assert!(harness
        .context
        .fatal_reason()
        .unwrap()
        .contains("can never end"));
}

#[test]
fn wait_ring_seqno_times_out_with_a_message() {
    let options = ContextOptions {
        seqno_wait_timeout: Duration::from_millis(100),
        ..test_options()
    };
    let mut harness = Harness::new(1, ring_info(Duration::from_secs(10), None), options);
    harness.submit(&[(b"MKRG", 0)]).unwrap();
    let tail = harness.push(0, &[(b"SLOW", 1000)]);
    let error = harness.submit(&[(b"WAIT", tail)]).unwrap_err();
    assert!(error.reason().contains("timed out"), "{error}");
}

#[test]
fn wait_virtqueue_seqno_holds_the_ring_until_the_context_path_submits_it() {
    let mut harness = Harness::with_busy_ring(1);
    let tail = harness.push(0, &[(b"VQWT", 1), (b"DATA", 7)]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        harness.ring_log(),
        vec![(*b"VQWT", 1)],
        "the ring must wait"
    );
    assert_eq!(harness.head(), 0);
    harness.submit(&[(b"VQSB", 1)]).unwrap();
    wait_until("the ring goes on", || harness.head() == tail);
    assert_eq!(harness.ring_log(), vec![(*b"VQWT", 1), (*b"DATA", 7)]);
}

#[test]
fn mesa_commands_are_refused_on_the_wrong_path() {
    let mut harness = Harness::with_busy_ring(1);
    assert!(harness
        .submit(&[(b"VQWT", 0)])
        .unwrap_err()
        .reason()
        .contains("must come on a ring"));

    let harness = Harness::with_busy_ring(2);
    harness.push(0, &[(b"NTFY", 0)]);
    wait_until("the ring reports FATAL", || {
        harness.status() & STATUS_FATAL != 0
    });
    assert!(harness
        .context
        .fatal_reason()
        .unwrap()
        .contains("must come on the context path"));
}

#[test]
fn write_ring_extra_is_bounded_by_the_extra_region() {
    let mut harness = Harness::with_busy_ring(1);
    harness.submit(&[(b"XTRA", 0xabcd)]).unwrap();
    assert_eq!(harness.guest.load_acquire_u32(EXTRA).unwrap(), 0xabcd);
    assert!(harness.submit(&[(b"XTR4", 1)]).is_err());
}

#[test]
fn destroyed_rings_stop_and_their_id_is_gone() {
    let mut harness = Harness::with_busy_ring(1);
    harness.submit(&[(b"DSRG", 0)]).unwrap();
    harness.push(0, &[(b"DATA", 1)]);
    std::thread::sleep(Duration::from_millis(50));
    assert!(harness.ring_log().is_empty());
    assert!(harness.submit(&[(b"DSRG", 0)]).is_err());
}

#[test]
fn ring_creation_is_validated() {
    // A second ring with the same id.
    let mut harness = Harness::with_busy_ring(1);
    assert!(harness
        .submit(&[(b"MKRG", 0)])
        .unwrap_err()
        .reason()
        .contains("already in use"));

    // A head that is not 0 at creation.
    let mut harness = Harness::new(2, ring_info(Duration::from_secs(1), None), test_options());
    harness.guest.store_release_u32(HEAD, 8).unwrap();
    assert!(harness.submit(&[(b"MKRG", 0)]).is_err());

    // A ring in a resource that is not SHM, and one in a resource that does not exist.
    let mut harness = Harness::new(
        3,
        RingCreateInfo {
            resource_id: 2,
            ..ring_info(Duration::from_secs(1), None)
        },
        test_options(),
    );
    let fd = ShmFile::create_zeroed("t", 4096)
        .unwrap()
        .duplicate_fd()
        .unwrap();
    harness
        .context
        .import_resource(2, ResourceKind::Dmabuf, fd, 4096)
        .unwrap();
    assert!(harness
        .submit(&[(b"MKRG", 0)])
        .unwrap_err()
        .reason()
        .contains("only SHM"));
    let mut harness = Harness::new(
        4,
        RingCreateInfo {
            resource_id: 9,
            ..ring_info(Duration::from_secs(1), None)
        },
        test_options(),
    );
    assert!(harness.submit(&[(b"MKRG", 0)]).is_err());
}

#[test]
fn destroying_a_rings_resource_is_fatal() {
    let harness = Harness::with_busy_ring(1);
    harness.context.destroy_resource(RES_ID);
    assert_eq!(harness.status() & STATUS_FATAL, STATUS_FATAL);
    assert!(harness
        .context
        .fatal_reason()
        .unwrap()
        .contains("was destroyed"));
    // Unknown ids are ignored.
    harness.context.destroy_resource(77);
}

#[test]
fn missing_decoder_makes_the_context_fatal_and_says_why() {
    let mut context = GuestContext::new(
        1,
        Arc::new(crate::executor::MissingDecoder),
        Box::new(|_, _| {}),
        test_options(),
    );
    context.submit_cmd(&[]).unwrap();
    let error = context.submit_cmd(&[188, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
    assert!(
        error.reason().contains("no command decoder in this build"),
        "{error}"
    );
    assert!(error.reason().contains("first command type 188"), "{error}");
    assert!(context.fatal_reason().is_some());
    assert!(context.submit_cmd(&[0; 8]).is_err());
}

#[test]
fn fences_retire_through_the_callback() {
    let harness = Harness::with_busy_ring(1);
    harness.context.submit_fence(0, 11).unwrap();
    let work = harness.context.timelines().begin_work(2).unwrap();
    harness.context.submit_fence(2, 12).unwrap();
    assert_eq!(*harness.retired.lock().unwrap(), vec![(0, 11)]);
    drop(work);
    assert_eq!(*harness.retired.lock().unwrap(), vec![(0, 11), (2, 12)]);
    assert!(harness.context.submit_fence(64, 13).is_err());
}

#[test]
fn shm_resources_are_fresh_zeroed_memfds_with_unique_ids() {
    let harness = Harness::with_busy_ring(1);
    assert!(matches!(
        harness.context.create_shm_resource(RES_ID, 4096),
        Err(ResourceError::IdInUse { .. })
    ));
    assert!(matches!(
        harness.context.create_shm_resource(0, 4096),
        Err(ResourceError::ZeroId)
    ));
    assert!(harness.context.create_shm_resource(5, 0).is_err());
    let fd = harness.context.create_shm_resource(5, 8192).unwrap();
    let memory = ShmFile::import(fd, 8192).unwrap();
    let mut bytes = vec![1u8; 8192];
    memory.memory().read_bytes(0, &mut bytes).unwrap();
    assert!(bytes.iter().all(|&b| b == 0));
}
