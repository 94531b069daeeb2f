//! Plays the VMM side of virglrenderer's render-server protocol against the
//! venus-rs-render-server binary, the way QEMU's libvirglrenderer (its "proxy") does.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::io::FdFlags;
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use venus_rs_host::fd_passing::{recv_with_fds, send_with_fds, Received};
use venus_rs_host::render_server::protocol::{encode, CREATE_RESOURCE_REPLY_BYTES};
use venus_rs_host::shm_file::ShmFile;

const VENUS_CONTEXT_FLAGS: u32 = 4;
const MAPPABLE: u32 = 1;
const SHAREABLE: u32 = 2;
const RING_SHMEM_SIZE: u64 = 135168;

fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let timeout = Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos() as i64,
    };
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    rustix::event::poll(&mut fds, Some(&timeout)).unwrap() == 1
}

/// Receives one message, failing the test instead of hanging if none comes.
fn recv(socket: &OwnedFd, buf: &mut [u8], max_fds: usize) -> Received {
    assert!(
        readable(socket.as_fd(), Duration::from_secs(10)),
        "no message from the render server within 10 s"
    );
    recv_with_fds(socket.as_fd(), buf, max_fds).unwrap()
}

fn send(socket: &OwnedFd, message: &[u8], fds: &[BorrowedFd<'_>]) {
    send_with_fds(socket.as_fd(), message, fds).unwrap();
}

/// The peer closed the socket (the worker or server process ended).
fn closed(socket: &OwnedFd) -> bool {
    let mut buf = [0u8; 64];
    readable(socket.as_fd(), Duration::from_secs(10))
        && recv_with_fds(socket.as_fd(), &mut buf, 2).unwrap().len == 0
}

struct Server {
    child: Child,
    socket: OwnedFd,
}

impl Server {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(env: &[(&str, &str)]) -> Self {
        let (vmm_end, server_end) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        rustix::io::fcntl_setfd(&server_end, FdFlags::empty()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_venus-rs-render-server"))
            .arg("--socket-fd")
            .arg(server_end.as_raw_fd().to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(server_end);
        Self {
            child,
            socket: vmm_end,
        }
    }

    fn create_context(&self, ctx_id: u32, name: &str) -> OwnedFd {
        send(&self.socket, &encode::create_context(ctx_id, name), &[]);
        let mut reply = [0u8; 8];
        let mut received = recv(&self.socket, &mut reply, 1);
        assert_eq!(received.len, 1, "the reply is a single bool");
        assert_eq!(reply[0], 1, "CREATE_CONTEXT {ctx_id} failed");
        assert_eq!(received.fds.len(), 1);
        let socket = received.fds.remove(0);
        assert_eq!(
            rustix::net::sockopt::socket_type(&socket).unwrap(),
            SocketType::SEQPACKET
        );
        socket
    }

    /// Hangs up like an exiting VMM and returns the server's exit status and log.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        drop(self.socket);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                self.child.kill().unwrap();
                panic!("the render server did not exit after the VMM hung up");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut log = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        (status, log)
    }
}

/// INIT the way the proxy does: a sealed 256-byte memfd of 64 timeline seqnos and an eventfd.
fn init_context(context: &OwnedFd) -> (ShmFile, OwnedFd) {
    let timelines = ShmFile::create_zeroed("proxy-ctx", 256).unwrap();
    let eventfd =
        rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).unwrap();
    send(
        context,
        &encode::context_init(VENUS_CONTEXT_FLAGS, 256),
        &[timelines.as_fd(), eventfd.as_fd()],
    );
    (timelines, eventfd)
}

/// CREATE_RESOURCE; returns (fd_type, map_info, fd).
fn create_resource(
    context: &OwnedFd,
    res_id: u32,
    blob_id: u64,
    size: u64,
    flags: u32,
) -> (i32, u32, Option<OwnedFd>) {
    send(
        context,
        &encode::create_resource(res_id, blob_id, size, flags),
        &[],
    );
    let mut reply = [0u8; 128];
    let mut received = recv(context, &mut reply, 1);
    assert_eq!(received.len, CREATE_RESOURCE_REPLY_BYTES);
    let fd_type = i32::from_le_bytes(reply[0..4].try_into().unwrap());
    let map_info = u32::from_le_bytes(reply[4..8].try_into().unwrap());
    (fd_type, map_info, received.fds.pop())
}

fn wait_for_seqno(timelines: &ShmFile, ring_idx: u64, seqno: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while timelines.memory().load_acquire_u32(ring_idx * 4).unwrap() != seqno {
        assert!(
            Instant::now() < deadline,
            "timeline {ring_idx} never reached {seqno}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn serves_contexts_like_virglrenderers_render_server() {
    let server = Server::start();
    send(&server.socket, &encode::client_init(0), &[]);

    // Context 1: everything up to the first Venus command works.
    let first = server.create_context(1, "vulkaninfo");
    let (timelines, eventfd) = init_context(&first);

    let (fd_type, map_info, fd) = create_resource(&first, 1, 0, RING_SHMEM_SIZE, MAPPABLE);
    assert_eq!((fd_type, map_info), (2, 1), "SHM, CACHED");
    let fd = fd.expect("an SHM blob comes with its fd");
    // What the proxy checks before accepting an SHM blob.
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW)
        .unwrap();
    assert_eq!(
        rustix::fs::seek(&fd, rustix::fs::SeekFrom::End(0)).unwrap(),
        RING_SHMEM_SIZE
    );
    let ring_memory = ShmFile::import(fd, RING_SHMEM_SIZE).unwrap();
    let mut bytes = vec![0xffu8; RING_SHMEM_SIZE as usize];
    ring_memory.memory().read_bytes(0, &mut bytes).unwrap();
    assert!(bytes.iter().all(|&b| b == 0));

    // A blob of device memory the context does not have, and a shareable blob-0 request,
    // are refused without an fd.
    assert_eq!(create_resource(&first, 2, 5, 4096, MAPPABLE).0, -1);
    let (fd_type, _, fd) = create_resource(&first, 3, 0, 4096, MAPPABLE | SHAREABLE);
    assert_eq!(fd_type, -1);
    assert!(fd.is_none());

    // Fences: the CPU timeline retires at once, and so does an idle queue timeline.
    send(&first, &encode::submit_fence(1, 0, 1), &[]);
    wait_for_seqno(&timelines, 0, 1);
    assert!(readable(eventfd.as_fd(), Duration::from_secs(10)));
    send(&first, &encode::submit_fence(1, 5, 1), &[]);
    wait_for_seqno(&timelines, 5, 1);
    send(&first, &encode::submit_fence(1, 0, 2), &[]);
    wait_for_seqno(&timelines, 0, 2);

    // Importing and destroying a resource needs no reply.
    let imported = rustix::fs::memfd_create("vmm", MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&imported, 4096).unwrap();
    send(
        &first,
        &encode::import_resource(4, 2, 4096),
        &[imported.as_fd()],
    );
    send(&first, &encode::destroy_resource(4), &[]);
    assert!(
        !readable(first.as_fd(), Duration::from_millis(50)),
        "no reply expected"
    );

    // An undecodable stream (300 bytes, inline part + follow-up message, starting with the
    // unknown command type 0xbcbcbcbc) makes the context FATAL; its worker ends.
    let stream = vec![0xbcu8; 300];
    let (message, rest) = encode::submit_cmd(&stream);
    send(&first, &message, &[]);
    send(&first, &rest.unwrap(), &[]);
    assert!(closed(&first), "the FATAL context's worker must end");

    // Context 2 is unaffected.
    let second = server.create_context(2, "second");
    let (second_timelines, _eventfd) = init_context(&second);
    assert_eq!(create_resource(&second, 1, 0, 4096, MAPPABLE).0, 2);
    send(&second, &encode::submit_fence(1, 0, 9), &[]);
    wait_for_seqno(&second_timelines, 0, 9);

    // Context 3 breaks the protocol (a request of the wrong size): only its worker ends.
    let third = server.create_context(3, "garbage");
    let mut wrong_size = encode::destroy_resource(1);
    wrong_size.push(0);
    send(&third, &wrong_size, &[]);
    assert!(closed(&third));
    let fourth = server.create_context(4, "fourth");
    init_context(&fourth);
    assert_eq!(create_resource(&fourth, 1, 0, 4096, MAPPABLE).0, 2);

    // DESTROY_CONTEXT ends the worker.
    send(&server.socket, &encode::destroy_context(2), &[]);
    assert!(closed(&second));

    let (status, log) = server.finish();
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("UnknownCommand(3166485692)"), "{log}");
    assert!(log.contains("no VkDeviceMemory with object id 5"), "{log}");
    assert!(log.contains("is FATAL"), "{log}");
    assert!(log.contains("must be exactly 8"), "{log}");
}

#[test]
fn a_malformed_client_op_ends_the_server_with_a_message() {
    let server = Server::start();
    send(&server.socket, &[9, 0, 0, 0], &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut server = server;
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server kept running");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!status.success());
    let (_, log) = server.finish();
    assert!(log.contains("unknown op 9"), "{log}");
}

#[test]
fn refuses_a_socket_fd_that_is_not_seqpacket() {
    let output = Command::new(env!("CARGO_BIN_EXE_venus-rs-render-server"))
        .args(["--socket-fd", "1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("standard stream"));
    let output = Command::new(env!("CARGO_BIN_EXE_venus-rs-render-server"))
        .args(["--socket-fd", "999"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not an open socket"));
}

#[test]
fn a_forbidden_system_call_ends_only_its_worker() {
    // Workers confine themselves once the driver is up (here: none loads, as no Vulkan
    // driver is installed outside the reference chroot; the filter goes on regardless). The
    // probe's worker then tries socket().
    let server = Server::start_with(&[("VENUS_RS_SECCOMP_PROBE", "probe")]);
    send(&server.socket, &encode::client_init(0), &[]);
    let bystander = server.create_context(1, "bystander");
    let _bystander_timelines = init_context(&bystander);
    let probe = server.create_context(2, "probe");
    assert!(closed(&probe), "the probe's worker still runs");

    // The other worker, under the same filter, still makes and hands out shared memory.
    let (fd_type, _, fd) = create_resource(&bystander, 1, 0, RING_SHMEM_SIZE, MAPPABLE);
    assert_eq!(fd_type, 2, "SHM");
    assert!(fd.is_some());
    // And the server still makes workers.
    let later = server.create_context(3, "later");
    let _later_timelines = init_context(&later);
    assert_eq!(create_resource(&later, 1, 0, 4096, MAPPABLE).0, 2);

    let (status, log) = server.finish();
    assert!(status.success(), "{log}");
    assert!(
        log.lines()
            .any(|line| line.contains("context 2: worker ended") && line.contains("SIGSYS")),
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|line| line.contains("SIGSYS") && !line.contains("context 2")),
        "{log}"
    );
    assert!(log.contains("trying socket()"), "{log}");
    assert!(!log.contains("the filter let it through"), "{log}");
    assert_eq!(log.matches("seccomp filter installed").count(), 3, "{log}");
}
