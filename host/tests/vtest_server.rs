//! Talks to the vtest server the way Mesa's vn_renderer_vtest does: against the
//! venus-rs-vtest-server binary, and in-process with a recording executor standing in for
//! the decoder.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use venus_rs_encoder::host::types::{CommandStreamDescriptionMESA, RingCreateInfoMESA};
use venus_rs_encoder::host::{
    CreateRingMESAArgs, DestroyFenceArgs, NotifyRingMESAArgs, SetReplyCommandStreamMESAArgs,
    WriteRingExtraMESAArgs,
};
use venus_rs_encoder::wire::Writer;
use venus_rs_host::capset::{Capset, ProtocolLevel};
use venus_rs_host::context::{ContextOptions, ExecutionContext};
use venus_rs_host::executor::{
    ContextExecutors, ContextFatal, DispatchPath, ExecutorProvider, StreamExecutor,
};
use venus_rs_host::fd_passing::recv_with_fds;
use venus_rs_host::shm_file::ShmFile;
use venus_rs_host::timelines::WorkTicket;
use venus_rs_host::vtest::protocol::{command, submit_flags};
use venus_rs_host::vtest::{ServerConfig, VtestServer};
use venus_rs_shmem::SharedMemory;

fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let timeout = Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos() as i64,
    };
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    rustix::event::poll(&mut fds, Some(&timeout)).unwrap() == 1
}

struct Client {
    stream: UnixStream,
}

impl Client {
    fn new(stream: UnixStream) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Self { stream }
    }

    fn send_raw(&mut self, length: u32, command: u32, payload: &[u8]) {
        self.try_send_raw(length, command, payload).unwrap();
    }

    /// Sending to a server that may have closed the connection already.
    fn try_send_raw(&mut self, length: u32, command: u32, payload: &[u8]) -> std::io::Result<()> {
        let mut bytes = length.to_le_bytes().to_vec();
        bytes.extend(command.to_le_bytes());
        bytes.extend(payload);
        self.stream.write_all(&bytes)
    }

    fn send(&mut self, command: u32, words: &[u32]) {
        let payload: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.send_raw(words.len() as u32, command, &payload);
    }

    fn receive(&mut self, command: u32) -> Vec<u32> {
        let mut header = [0u8; 8];
        self.stream.read_exact(&mut header).unwrap();
        let length = u32::from_le_bytes(header[0..4].try_into().unwrap());
        assert_eq!(
            u32::from_le_bytes(header[4..8].try_into().unwrap()),
            command
        );
        let mut payload = vec![0u8; length as usize * 4];
        self.stream.read_exact(&mut payload).unwrap();
        payload
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn receive_fd(&mut self) -> OwnedFd {
        let mut byte = [0u8; 1];
        let mut received = recv_with_fds(self.stream.as_fd(), &mut byte, 1).unwrap();
        assert_eq!(received.len, 1);
        received.fds.pop().expect("an fd")
    }

    /// The server closed the connection (reads end, possibly after pending replies).
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.stream.read_to_end(&mut rest).is_ok()
    }

    /// Mesa's start-up sequence up to CONTEXT_INIT; returns the capset bytes.
    fn handshake(&mut self) -> Vec<u8> {
        let name = b"vulkaninfo\0";
        self.send_raw(name.len() as u32, command::CREATE_RENDERER, name);
        self.send(command::PING_PROTOCOL_VERSION, &[]);
        self.send(command::RESOURCE_BUSY_WAIT, &[0, 0]);
        assert!(self.receive(command::PING_PROTOCOL_VERSION).is_empty());
        assert_eq!(self.receive(command::RESOURCE_BUSY_WAIT), vec![0]);
        self.send(command::PROTOCOL_VERSION, &[4]);
        assert_eq!(self.receive(command::PROTOCOL_VERSION), vec![4]);
        self.send(command::GET_PARAM, &[1]);
        assert_eq!(self.receive(command::GET_PARAM), vec![1, 64]);
        self.send(command::GET_CAPSET, &[4, 0]);
        let capset = self.receive(command::GET_CAPSET);
        assert_eq!(capset[0], 1, "valid");
        self.send(command::CONTEXT_INIT, &[4]);
        capset[1..].iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn create_blob(&mut self, size: u64) -> (u32, OwnedFd) {
        self.send(
            command::RESOURCE_CREATE_BLOB,
            &[2, 1, size as u32, (size >> 32) as u32, 0, 0],
        );
        let res_id = self.receive(command::RESOURCE_CREATE_BLOB)[0];
        (res_id, self.receive_fd())
    }

    fn sync_create(&mut self, value: u64) -> u32 {
        self.send(command::SYNC_CREATE, &[value as u32, (value >> 32) as u32]);
        self.receive(command::SYNC_CREATE)[0]
    }

    fn sync_read(&mut self, sync_id: u32) -> u64 {
        self.send(command::SYNC_READ, &[sync_id]);
        let value = self.receive(command::SYNC_READ);
        u64::from(value[0]) | (u64::from(value[1]) << 32)
    }

    fn sync_wait(&mut self, sync_id: u32, value: u64, timeout_ms: u32) -> OwnedFd {
        self.send(
            command::SYNC_WAIT,
            &[0, timeout_ms, sync_id, value as u32, (value >> 32) as u32],
        );
        assert!(self.receive(command::SYNC_WAIT).is_empty());
        self.receive_fd()
    }

    /// SUBMIT_CMD2 with one batch laid out as Mesa does.
    fn submit(&mut self, commands: &[u8], ring_idx: Option<u32>, syncs: &[(u32, u64)]) {
        self.try_submit(commands, ring_idx, syncs).unwrap();
    }

    fn try_submit(
        &mut self,
        commands: &[u8],
        ring_idx: Option<u32>,
        syncs: &[(u32, u64)],
    ) -> std::io::Result<()> {
        assert_eq!(commands.len() % 4, 0);
        let cmd_offset = 1 + 8;
        let cmd_size = (commands.len() / 4) as u32;
        let sync_offset = cmd_offset + cmd_size;
        let flags = if ring_idx.is_some() {
            submit_flags::RING_IDX
        } else {
            0
        };
        let mut words = vec![
            1,
            flags,
            cmd_offset,
            cmd_size,
            sync_offset,
            syncs.len() as u32,
            ring_idx.unwrap_or(0),
            0,
            0,
        ];
        words.extend(
            commands
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap())),
        );
        for &(id, value) in syncs {
            words.extend([id, value as u32, (value >> 32) as u32]);
        }
        let payload: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.try_send_raw(words.len() as u32, command::SUBMIT_CMD2, &payload)
    }
}

struct ServerProcess {
    child: Child,
    socket_path: PathBuf,
}

/// A failing test must not leave its server running.
impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    fn start() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let socket_path = std::env::temp_dir().join(format!(
            "venus-rs-vtest-test-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_venus-rs-vtest-server"))
            .arg("--socket-path")
            .arg(&socket_path)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket_path.exists() {
            assert!(
                Instant::now() < deadline,
                "the server did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child, socket_path }
    }

    fn connect(&self) -> Client {
        Client::new(UnixStream::connect(&self.socket_path).unwrap())
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        self.child.wait().unwrap();
        let _ = std::fs::remove_file(&self.socket_path);
        let mut log = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        log
    }
}

#[test]
fn serves_mesa_up_to_the_first_venus_command() {
    let server = ServerProcess::start();
    let mut client = server.connect();
    let capset = client.handshake();
    assert_eq!(capset.len(), 160);
    assert_eq!(&capset[0..4], &1u32.to_le_bytes(), "wire format 1");
    assert_eq!(&capset[16..20], &1u32.to_le_bytes(), "supports_blob_id_0");
    assert_eq!(
        &capset[152..156],
        &1u32.to_le_bytes(),
        "supports_multiple_timelines"
    );

    // The ring's shared memory: a zero-filled memfd of the asked size.
    let (res_id, fd) = client.create_blob(135168);
    assert_ne!(res_id, 0);
    assert_eq!(rustix::fs::fstat(&fd).unwrap().st_size, 135168);
    let memory = ShmFile::import(fd, 135168).unwrap();
    let mut bytes = vec![1u8; 135168];
    memory.memory().read_bytes(0, &mut bytes).unwrap();
    assert!(bytes.iter().all(|&b| b == 0));
    let (second_res_id, _) = client.create_blob(4096);
    assert_ne!(second_res_id, res_id);

    // Syncs signaled by a batch without commands on the CPU timeline, and by SYNC_WRITE.
    let sync = client.sync_create(0);
    client.submit(&[], Some(0), &[(sync, 5)]);
    assert_eq!(client.sync_read(sync), 5);
    let wait = client.sync_wait(sync, 7, 10_000);
    assert!(!readable(wait.as_fd(), Duration::from_millis(20)));
    client.send(command::SYNC_WRITE, &[sync, 7, 0]);
    assert!(readable(wait.as_fd(), Duration::from_secs(10)));
    let met = client.sync_wait(sync, 7, 0);
    assert!(readable(met.as_fd(), Duration::ZERO));
    client.send(command::RESOURCE_UNREF, &[second_res_id]);
    client.send(command::SYNC_UNREF, &[sync]);

    // A second client, connected meanwhile, must survive the first one's end.
    let mut other = server.connect();
    other.handshake();

    // vkCreateRingMESA with a NULL pCreateInfo: the context goes FATAL and the connection
    // ends.
    let mut create_ring = vec![188u8, 0, 0, 0];
    create_ring.resize(140, 0);
    client.submit(&create_ring, Some(0), &[]);
    assert!(client.closed());

    let (_, fd) = other.create_blob(4096);
    assert_eq!(rustix::fs::fstat(&fd).unwrap().st_size, 4096);

    let log = server.stop();
    assert!(log.contains("vkCreateRingMESA"), "{log}");
    assert!(log.contains("NullPointer"), "{log}");
}

#[test]
fn garbage_from_one_client_closes_only_that_client() {
    let server = ServerProcess::start();
    let mut good = server.connect();
    good.handshake();

    let mut no_renderer = server.connect();
    no_renderer.send(command::GET_PARAM, &[1]);
    assert!(no_renderer.closed());

    let mut old = server.connect();
    old.send_raw(2, command::CREATE_RENDERER, b"x\0");
    old.send(command::PROTOCOL_VERSION, &[2]);
    assert!(old.closed());

    let mut huge = server.connect();
    huge.send_raw(2, command::CREATE_RENDERER, b"x\0");
    huge.send_raw(u32::MAX, command::SUBMIT_CMD2, &[]);
    assert!(huge.closed());

    // Device memory 7 does not exist in this context.
    let mut device_memory = server.connect();
    device_memory.handshake();
    device_memory.send(command::RESOURCE_CREATE_BLOB, &[2, 1, 4096, 0, 7, 0]);
    assert!(device_memory.closed());

    let mut bad_batch = server.connect();
    bad_batch.handshake();
    bad_batch.send(command::SUBMIT_CMD2, &[1, 1, 100, 100, 0, 0, 0, 0, 0]);
    assert!(bad_batch.closed());

    let (_, fd) = good.create_blob(8192);
    assert_eq!(rustix::fs::fstat(&fd).unwrap().st_size, 8192);
    let log = server.stop();
    assert!(
        log.contains("the first command must be CREATE_RENDERER"),
        "{log}"
    );
    assert!(log.contains("Venus needs at least 3"), "{log}");
    assert!(log.contains("no VkDeviceMemory with object id 7"), "{log}");
}

/// Records what reaches the executor; a stream starting with "HOLD" leaves queue work in
/// flight on timeline 3 until the test releases it, like a vkQueueSubmit still running.
#[derive(Default)]
struct Recorder {
    streams: Mutex<Vec<(u32, DispatchPath, Vec<u8>)>>,
    held_work: Mutex<Vec<WorkTicket>>,
}

struct RecordingContext {
    recorder: Arc<Recorder>,
    context_id: u32,
}

struct RecordingExecutor {
    recorder: Arc<Recorder>,
    context_id: u32,
    path: DispatchPath,
}

struct RecordingProvider(Arc<Recorder>);

impl ExecutorProvider for RecordingProvider {
    fn for_context(&self, context_id: u32) -> Arc<dyn ContextExecutors> {
        Arc::new(RecordingContext {
            recorder: Arc::clone(&self.0),
            context_id,
        })
    }
}

impl ContextExecutors for RecordingContext {
    fn executor_for(&self, path: DispatchPath) -> Box<dyn StreamExecutor> {
        Box::new(RecordingExecutor {
            recorder: Arc::clone(&self.recorder),
            context_id: self.context_id,
            path,
        })
    }
}

impl StreamExecutor for RecordingExecutor {
    fn execute(
        &mut self,
        stream: &[u8],
        ctx: &mut ExecutionContext<'_>,
    ) -> Result<(), ContextFatal> {
        self.recorder
            .streams
            .lock()
            .unwrap()
            .push((self.context_id, self.path, stream.to_vec()));
        if stream.starts_with(b"HOLD") {
            let ticket = ctx
                .timelines()
                .begin_work(3)
                .map_err(|e| ContextFatal::new(e.to_string()))?;
            self.recorder.held_work.lock().unwrap().push(ticket);
        }
        Ok(())
    }
}

#[test]
fn submitted_bytes_reach_the_executor_and_fences_wait_for_queue_work() {
    let recorder = Arc::new(Recorder::default());
    let server = VtestServer::new(ServerConfig {
        capset: Capset::new(&ProtocolLevel::without_decoder()).unwrap(),
        executors: Arc::new(RecordingProvider(Arc::clone(&recorder))),
        context_options: ContextOptions::default(),
    });
    let (ours, theirs) = UnixStream::pair().unwrap();
    let serving = server.spawn_client(theirs).unwrap();
    let mut client = Client::new(ours);
    client.handshake();

    let sync = client.sync_create(0);
    client.submit(b"HOLDwork", Some(3), &[(sync, 1)]);
    client.submit(b"next", Some(3), &[(sync, 2)]);
    let wait = client.sync_wait(sync, 2, 10_000);
    assert_eq!(
        client.sync_read(sync),
        0,
        "the fences wait for the held work"
    );
    assert!(!readable(wait.as_fd(), Duration::from_millis(20)));
    {
        let streams = recorder.streams.lock().unwrap();
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0].1, DispatchPath::Context);
        assert_eq!(streams[0].2, b"HOLDwork");
        assert_eq!(streams[1].2, b"next");
    }

    recorder.held_work.lock().unwrap().clear();
    assert!(readable(wait.as_fd(), Duration::from_secs(10)));
    assert_eq!(client.sync_read(sync), 2, "both fences retired, in order");

    // Syncs of a batch without RING_IDX are signaled right after its commands run.
    client.submit(b"more", None, &[(sync, 3)]);
    assert_eq!(client.sync_read(sync), 3);

    drop(client);
    serving.join().unwrap();
}

/// Mesa's instance ring layout (venus-protocol.md §1.2): head, tail, status, buffer, extra.
const RING_SHMEM_SIZE: u64 = 135168;
const RING_TAIL: u64 = 64;
const RING_HEAD: u64 = 0;
const RING_STATUS: u64 = 128;
const RING_BUFFER: u64 = 192;
const RING_BUFFER_SIZE: u64 = 131072;
const RING_EXTRA: u64 = RING_BUFFER + RING_BUFFER_SIZE;
const RING_STATUS_FATAL: u32 = 0x2;

fn encoded(encode: impl Fn(&mut Writer<'_>)) -> Vec<u8> {
    let mut counter = Writer::counting();
    encode(&mut counter);
    let mut bytes = vec![0u8; counter.position()];
    let mut writer = Writer::new(&mut bytes);
    encode(&mut writer);
    writer.finish(0).unwrap();
    bytes
}

/// A ring in guest shared memory, driven the way Mesa's vn_ring does.
struct GuestRing {
    id: u64,
    res_id: u32,
    memory: ShmFile,
    tail: u32,
}

impl GuestRing {
    fn create(client: &mut Client, id: u64) -> Self {
        let (res_id, fd) = client.create_blob(RING_SHMEM_SIZE);
        let memory = ShmFile::import(fd, RING_SHMEM_SIZE).unwrap();
        let info = RingCreateInfoMESA {
            p_next: Vec::new(),
            flags: 0,
            resource_id: res_id,
            offset: 0,
            size: RING_EXTRA + 4,
            idle_timeout: 1_000_000,
            head_offset: RING_HEAD,
            tail_offset: RING_TAIL,
            status_offset: RING_STATUS,
            buffer_offset: RING_BUFFER,
            buffer_size: RING_BUFFER_SIZE,
            extra_offset: RING_EXTRA,
            extra_size: 4,
        };
        let create = CreateRingMESAArgs {
            ring: id,
            p_create_info: Some(Box::new(info)),
        };
        client.submit(&encoded(|w| create.encode(w, 0)), Some(0), &[]);
        Self {
            id,
            res_id,
            memory,
            tail: 0,
        }
    }

    /// Writes `bytes` into the ring, publishes the tail and notifies the host.
    fn push(&mut self, client: &mut Client, bytes: &[u8]) {
        let memory = self.memory.memory();
        memory
            .write_bytes(RING_BUFFER + u64::from(self.tail), bytes)
            .unwrap();
        self.tail += bytes.len() as u32;
        memory.store_release_u32(RING_TAIL, self.tail).unwrap();
        let notify = NotifyRingMESAArgs {
            ring: self.id,
            seqno: self.tail,
            flags: 0,
        };
        client.submit(&encoded(|w| notify.encode(w, 0)), Some(0), &[]);
    }

    fn wait_for(&self, what: &str, done: impl Fn(&SharedMemory) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(self.memory.memory()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A stream built for a context's reply resource id.
type StreamFor = Box<dyn Fn(u32) -> Vec<u8>>;

#[test]
fn a_bad_stream_makes_only_its_context_fatal() {
    let server = ServerProcess::start();
    let mut survivor = server.connect();
    survivor.handshake();
    let mut survivor_ring = GuestRing::create(&mut survivor, 0x5000);

    let set_reply = |res_id: u32| {
        let args = SetReplyCommandStreamMESAArgs {
            p_stream: Some(Box::new(CommandStreamDescriptionMESA {
                resource_id: res_id,
                offset: 0,
                size: 64,
            })),
        };
        encoded(move |w| args.encode(w, 0))
    };
    let unknown_command = [9999u32.to_le_bytes(), 0u32.to_le_bytes()].concat();
    let bad_object_id = encoded(|w| {
        DestroyFenceArgs {
            device: 0xdead,
            fence: 1,
        }
        .encode(w, 0)
    });
    let cases: [(&str, StreamFor); 3] = [
        (
            "unknown command type",
            Box::new(move |_| unknown_command.clone()),
        ),
        ("bad object id", Box::new(move |_| bad_object_id.clone())),
        (
            "truncated command",
            Box::new(move |res_id| set_reply(res_id)[..20].to_vec()),
        ),
    ];
    for (name, stream) in &cases {
        let mut client = server.connect();
        client.handshake();
        let mut ring = GuestRing::create(&mut client, 0x1000);
        ring.push(&mut client, &stream(ring.res_id));
        ring.wait_for(&format!("the FATAL status bit after a {name}"), |memory| {
            memory.load_acquire_u32(RING_STATUS).unwrap() & RING_STATUS_FATAL != 0
        });
        // The context path stops too: the server refuses the next batch and ends the
        // connection (it may have ended it already, on the notify).
        let extra = WriteRingExtraMESAArgs {
            ring: ring.id,
            offset: 0,
            value: 1,
        };
        let _ = client.try_submit(&encoded(|w| extra.encode(w, 0)), Some(0), &[]);
        assert!(
            client.closed(),
            "{name}: the FATAL context's connection must end"
        );
        assert_eq!(
            ring.memory.memory().load_acquire_u32(RING_EXTRA).unwrap(),
            0,
            "{name}: nothing more ran on the FATAL context's path"
        );
    }

    // The first context keeps working: its ring executes commands and its context path
    // writes the ring's extra area.
    let (reply_res_id, _reply_fd) = survivor.create_blob(4096);
    survivor_ring.push(&mut survivor, &set_reply(reply_res_id));
    let tail = survivor_ring.tail;
    survivor_ring.wait_for("the surviving ring's head", |memory| {
        memory.load_acquire_u32(RING_HEAD).unwrap() == tail
    });
    let extra = WriteRingExtraMESAArgs {
        ring: survivor_ring.id,
        offset: 0,
        value: 42,
    };
    survivor.submit(&encoded(|w| extra.encode(w, 0)), Some(0), &[]);
    survivor_ring.wait_for("the extra value", |memory| {
        memory.load_acquire_u32(RING_EXTRA).unwrap() == 42
    });
    assert_eq!(
        survivor_ring
            .memory
            .memory()
            .load_acquire_u32(RING_STATUS)
            .unwrap()
            & RING_STATUS_FATAL,
        0
    );

    let log = server.stop();
    assert!(log.contains("UnknownCommand(9999)"), "{log}");
    assert!(log.contains("no VkDevice with object id 57005"), "{log}");
    assert!(log.contains("Truncated"), "{log}");
}
