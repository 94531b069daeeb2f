//! The vtest transport against the real virglrenderer vtest server of the reference chroot (1.3 on the
//! newest stack, 1.1 on trixie's: `VENUS_RS_REFERENCE`).

mod common;

use std::time::{Duration, Instant};

use common::{TempDir, VtestServer};
use venus_rs_kernel_iface::vtest::{VtestOptions, VtestTransport};
use venus_rs_kernel_iface::{
    AlignmentChoice, BlobAlignment, BlobFlags, BlobMem, BlobRequest, ContextParams, ErrorKind,
    Step, Transport, TransportDetails, VkVersion, WaitOutcome,
};

const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

fn connect(server: &VtestServer) -> VtestTransport {
    VtestTransport::connect(server.options(REPLY_TIMEOUT))
        .unwrap_or_else(|e| panic!("connect: {e}\nserver log:\n{}", server.log_text()))
}

/// vkSetReplyCommandStreamMESA(resource, offset 0, size 20) then vkEnumerateInstanceVersion with the
/// reply bit: the bytes of `venus-protocol.md` Appendix B.
fn enumerate_instance_version_stream(reply_res_id: u32) -> Vec<u8> {
    let mut stream = Vec::new();
    stream.extend_from_slice(&178u32.to_le_bytes()); // vkSetReplyCommandStreamMESA
    stream.extend_from_slice(&0u32.to_le_bytes()); // flags
    stream.extend_from_slice(&1u64.to_le_bytes()); // pStream present
    stream.extend_from_slice(&reply_res_id.to_le_bytes());
    stream.extend_from_slice(&0u64.to_le_bytes()); // offset
    stream.extend_from_slice(&20u64.to_le_bytes()); // size
    stream.extend_from_slice(&137u32.to_le_bytes()); // vkEnumerateInstanceVersion
    stream.extend_from_slice(&1u32.to_le_bytes()); // GENERATE_REPLY
    stream.extend_from_slice(&1u64.to_le_bytes()); // pApiVersion present
    assert_eq!(stream.len(), 36 + 16);
    stream
}

#[test]
#[ignore = "needs the reference chroot's virgl_test_server (cargo xtask setup); run by cargo xtask test"]
fn handshake_and_capset_match_the_reference_virglrenderer() {
    let server = VtestServer::start();
    let mut transport = connect(&server);

    let info = transport.info();
    match &info.details {
        TransportDetails::Vtest {
            socket,
            protocol_version,
            max_timeline_count,
        } => {
            assert_eq!(socket, server.socket());
            assert_eq!(*protocol_version, 3);
            assert_eq!(*max_timeline_count, 64);
        }
        other => panic!("vtest reported {other:?}"),
    }
    assert_eq!(info.blob_alignment.bytes(), 16384);
    println!("{info}");

    let capset = transport.read_capset().expect("read the capset");
    println!("capset: {capset}");
    assert_eq!(capset.wire_format_version, 1);
    // virglrenderer 1.3 (newest stack) carries vk.xml 1.4.334 and Venus protocol spec 3; 1.1 (trixie)
    // vk.xml 1.3.269 and spec 2.
    let (vk_xml, venus_spec) = match std::env::var("VENUS_RS_REFERENCE").as_deref() {
        Ok("trixie") => (VkVersion::new(1, 3, 269), 2),
        _ => (VkVersion::new(1, 4, 334), 3),
    };
    assert_eq!(capset.vk_xml_version, vk_xml);
    assert_eq!(capset.vk_ext_command_serialization_spec_version, 1);
    assert_eq!(capset.vk_mesa_venus_protocol_spec_version, venus_spec);
    assert_eq!(capset.supports_blob_id_0, 1);
    assert_eq!(capset.allow_vk_wait_syncs, 1);
    assert_eq!(capset.supports_multiple_timelines, 1);
    assert_eq!(capset.use_guest_vram, 0);
    assert_eq!(capset.received_size, 160);
    assert_eq!(
        capset.vk_extension_mask1[0] & 1,
        1,
        "the mask is marked valid"
    );
    // VK_KHR_external_memory_fd (75) is in every Venus protocol; number 1000 is in none.
    assert!(capset.has_extension(75));
    assert!(!capset.has_extension(1000));
    assert!(capset.missing_requirements().is_empty());
}

#[test]
#[ignore = "needs the reference chroot's virgl_test_server (cargo xtask setup); run by cargo xtask test"]
fn blobs_map_and_a_fenced_submit_round_trips_through_the_host() {
    let server = VtestServer::start();
    let mut transport = connect(&server);

    let err = transport.create_blob(BlobRequest::shmem(64)).unwrap_err();
    assert_eq!(
        (err.step, err.kind),
        (Step::CreateBlob, ErrorKind::InvalidArgument)
    );
    assert!(err.to_string().contains("init_context"), "{err}");

    transport
        .init_context(ContextParams::default())
        .expect("init the context");
    let err = transport
        .init_context(ContextParams::default())
        .unwrap_err();
    assert_eq!(err.step, Step::InitContext);

    // A blob-id-0 shmem: the size goes up to the 16 KiB alignment, and both sides see the same bytes.
    let blob = transport
        .create_blob(BlobRequest::shmem(20))
        .expect("create a blob");
    assert_eq!(blob.size(), 16384);
    assert_ne!(blob.res_id(), 0);
    let memory = transport.map_blob(&blob).expect("map the blob");
    assert_eq!(memory.size(), 16384);
    memory.write_u32(0, 0x1234_5678).unwrap();
    memory.store_release_u32(64, 42).unwrap();
    memory.write_bytes(100, b"venus-rs").unwrap();
    assert_eq!(memory.read_u32(0).unwrap(), 0x1234_5678);
    assert_eq!(memory.load_acquire_u32(64).unwrap(), 42);
    let mut text = [0u8; 8];
    memory.read_bytes(100, &mut text).unwrap();
    assert_eq!(&text, b"venus-rs");
    assert!(memory.read_u32(16384).is_err());

    // A fenced empty submit on the CPU timeline retires at once; the timeline's sync shows the point.
    let fence = transport.submit_with_fence(0, &[]).expect("submit");
    assert_eq!(
        transport
            .wait_fence(&fence, Duration::from_secs(10))
            .unwrap(),
        WaitOutcome::Signaled
    );

    // A real Venus command through the context: the host writes its reply into our shmem.
    memory.write_bytes(0, &[0xff; 20]).unwrap();
    let stream = enumerate_instance_version_stream(blob.res_id());
    let fence = transport
        .submit_with_fence(0, &stream)
        .expect("submit Venus commands");
    assert_eq!(
        transport
            .wait_fence(&fence, Duration::from_secs(10))
            .unwrap(),
        WaitOutcome::Signaled,
        "server log:\n{}",
        server.log_text()
    );
    let mut reply = [0u8; 20];
    memory.read_bytes(0, &mut reply).unwrap();
    let word = |i: usize| u32::from_le_bytes(reply[i..i + 4].try_into().unwrap());
    assert_eq!(word(0), 137, "reply command type; reply bytes {reply:02x?}");
    assert_eq!(word(4), 0, "VK_SUCCESS");
    assert_eq!(u64::from_le_bytes(reply[8..16].try_into().unwrap()), 1);
    let version = VkVersion(word(16));
    println!("vkEnumerateInstanceVersion through vtest: {version}");
    assert!(version >= VkVersion::new(1, 1, 0), "{version}");

    // The sync objects behind vtest fences, used directly.
    let sync_id = transport.sync_create(5).unwrap();
    assert_eq!(transport.sync_read(sync_id).unwrap(), 5);
    assert_eq!(
        transport
            .sync_wait(&[(sync_id, 5)], false, Duration::from_secs(5))
            .unwrap(),
        WaitOutcome::Signaled
    );
    let started = Instant::now();
    assert_eq!(
        transport
            .sync_wait(&[(sync_id, 6)], false, Duration::from_millis(200))
            .unwrap(),
        WaitOutcome::TimedOut
    );
    assert!(started.elapsed() >= Duration::from_millis(190));
    transport.sync_unref(sync_id).unwrap();

    // A larger alignment applies to every blob of a transport configured with it.
    let mut options = server.options(REPLY_TIMEOUT);
    options.blob_alignment = BlobAlignment::new(65536).unwrap().into();
    let mut wide = VtestTransport::connect(options).unwrap();
    wide.init_context(ContextParams::default()).unwrap();
    let wide_blob = wide.create_blob(BlobRequest::shmem(131268)).unwrap();
    assert_eq!(wide_blob.size(), 196608);
    assert_eq!(wide.map_blob(&wide_blob).unwrap().size(), 196608);
    wide.destroy_blob(wide_blob).unwrap();

    // Blobs and fences belong to the transport that made them.
    let err = wide.map_blob(&blob).unwrap_err();
    assert_eq!(
        (err.step, err.kind),
        (Step::MapBlob, ErrorKind::InvalidArgument)
    );
    let err = wide.wait_fence(&fence, Duration::from_secs(1)).unwrap_err();
    assert_eq!(err.step, Step::WaitFence);

    let not_mappable = transport
        .create_blob(BlobRequest {
            blob_mem: BlobMem::Guest,
            flags: BlobFlags::default(),
            size: 4096,
            blob_id: 0,
        })
        .expect("a guest blob");
    let err = transport.map_blob(&not_mappable).unwrap_err();
    assert_eq!(
        (err.step, err.kind),
        (Step::MapBlob, ErrorKind::InvalidArgument)
    );
    transport.destroy_blob(not_mappable).unwrap();

    let err = transport.submit(64, &[]).unwrap_err();
    assert_eq!(
        (err.step, err.kind),
        (Step::Submit, ErrorKind::InvalidArgument)
    );
    let err = transport.submit(0, &[1, 2, 3]).unwrap_err();
    assert_eq!(
        (err.step, err.kind),
        (Step::Submit, ErrorKind::InvalidArgument)
    );

    transport.destroy_blob(blob).unwrap();
    // The mapping outlives the resource, and the server is still answering.
    assert_eq!(memory.read_u32(64).unwrap(), 42);
    transport.read_capset().expect("the server still answers");
}

#[test]
#[ignore = "needs the reference chroot's virgl_test_server (cargo xtask setup); run by cargo xtask test"]
fn check_connection_notices_a_killed_server_without_a_request() {
    let mut server = VtestServer::start();
    let mut transport = VtestTransport::connect(server.options(REPLY_TIMEOUT)).unwrap();
    transport.init_context(ContextParams::default()).unwrap();
    transport.check_connection().expect("a live server passes");

    server.kill();

    // The kernel reports the hang-up as soon as the server's last process is gone.
    let started = Instant::now();
    let err = loop {
        match transport.check_connection() {
            Err(err) => break err,
            Ok(()) if started.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Ok(()) => panic!("check_connection still passes 5 s after the kill"),
        }
    };
    assert_eq!(
        (err.step, err.kind),
        (Step::CheckConnection, ErrorKind::Disconnected)
    );
    assert!(err.to_string().contains("closed the connection"), "{err}");
}

#[test]
#[ignore = "needs the reference chroot's virgl_test_server (cargo xtask setup); run by cargo xtask test"]
fn a_killed_server_is_an_error_naming_the_step_within_the_timeout() {
    let mut server = VtestServer::start();
    let reply_timeout = Duration::from_secs(5);
    let mut transport = VtestTransport::connect(server.options(reply_timeout)).unwrap();
    transport.init_context(ContextParams::default()).unwrap();
    let blob = transport.create_blob(BlobRequest::shmem(4096)).unwrap();

    server.kill();

    let started = Instant::now();
    let err = transport.read_capset().unwrap_err();
    let waited = started.elapsed();
    println!("after the kill: {err} (after {waited:?})");
    assert_eq!(err.step, Step::ReadCapset);
    assert_eq!(err.kind, ErrorKind::Disconnected);
    assert!(err.to_string().contains("read the Venus capset"), "{err}");
    assert!(waited < reply_timeout, "noticed only after {waited:?}");

    // Nothing else is attempted on a broken connection.
    let err = transport.destroy_blob(blob).unwrap_err();
    assert_eq!(
        (err.step, err.kind),
        (Step::DestroyBlob, ErrorKind::Disconnected)
    );
    assert!(err.detail.contains("earlier failure"), "{err}");
}

#[test]
#[ignore = "needs the reference chroot's virgl_test_server (cargo xtask setup); run by cargo xtask test"]
fn a_server_killed_while_a_fence_is_waited_for_fails_the_wait() {
    let mut server = VtestServer::start();
    let mut transport = VtestTransport::connect(server.options(Duration::from_secs(5))).unwrap();
    transport.init_context(ContextParams::default()).unwrap();
    let fence = transport.submit_with_fence(0, &[]).unwrap();
    server.kill();
    let started = Instant::now();
    let err = transport
        .wait_fence(&fence, Duration::from_secs(5))
        .unwrap_err();
    println!("wait after the kill: {err}");
    assert_eq!(
        (err.step, err.kind),
        (Step::WaitFence, ErrorKind::Disconnected)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
#[ignore = "needs the reference chroot's virgl_test_server (cargo xtask setup); run by cargo xtask test"]
fn a_stalled_server_times_out_naming_the_step() {
    let server = VtestServer::start();
    let reply_timeout = Duration::from_secs(2);
    let mut transport = VtestTransport::connect(server.options(reply_timeout)).unwrap();

    server.stop();

    let started = Instant::now();
    let err = transport.read_capset().unwrap_err();
    let waited = started.elapsed();
    println!("while stalled: {err} (after {waited:?})");
    assert_eq!(
        (err.step, err.kind),
        (Step::ReadCapset, ErrorKind::TimedOut)
    );
    assert!(waited >= reply_timeout, "gave up after {waited:?}");
    assert!(waited < reply_timeout * 3, "gave up only after {waited:?}");
}

#[test]
fn no_server_at_the_socket_path_fails_the_connect_step() {
    let dir = TempDir::new("no-server");
    let options = VtestOptions {
        socket_path: dir.path().join("nobody.sock"),
        reply_timeout: Duration::from_secs(2),
        blob_alignment: AlignmentChoice::default(),
        renderer_name: "kernel-iface-test".to_string(),
    };
    let err = VtestTransport::connect(options)
        .err()
        .expect("no server listens there");
    assert_eq!((err.step, err.kind), (Step::Connect, ErrorKind::NotFound));
    assert!(err.detail.contains("VTEST_SOCKET_NAME"), "{err}");
}
