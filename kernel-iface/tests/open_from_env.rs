//! `open()` takes its configuration from the environment. One test in its own binary, because it changes
//! the process environment.

mod common;

use common::VtestServer;
use venus_rs_kernel_iface::{
    open, AlignmentSource, BlobRequest, ContextParams, ErrorKind, Step, TransportKind,
    BLOB_ALIGN_ENV,
};

#[test]
#[ignore = "needs the reference chroot's virgl_test_server (cargo xtask setup); run by cargo xtask test"]
fn open_reads_the_socket_and_the_blob_alignment_from_the_environment() {
    let server = VtestServer::start();
    std::env::set_var("VTEST_SOCKET_NAME", server.socket());

    std::env::set_var(BLOB_ALIGN_ENV, "0x10000");
    let mut transport = open(TransportKind::Vtest).expect("open vtest from the environment");
    assert_eq!(transport.info().blob_alignment.bytes(), 65536);
    assert_eq!(
        transport.info().blob_alignment_source,
        AlignmentSource::Setting
    );
    transport.init_context(ContextParams::default()).unwrap();
    let blob = transport.create_blob(BlobRequest::shmem(70000)).unwrap();
    assert_eq!(blob.size(), 131072);
    transport.destroy_blob(blob).unwrap();

    std::env::set_var(BLOB_ALIGN_ENV, "3000");
    let err = open(TransportKind::Vtest).err().expect("a bad alignment");
    assert_eq!((err.step, err.kind), (Step::Config, ErrorKind::Config));
    assert!(err.detail.contains("VENUS_RS_BLOB_ALIGN=\"3000\""), "{err}");
    assert!(err.detail.contains("power of two"), "{err}");

    std::env::remove_var(BLOB_ALIGN_ENV);
    let transport = open(TransportKind::Vtest).expect("open with the default alignment");
    assert_eq!(transport.info().blob_alignment.bytes(), 16384);
    assert_eq!(
        transport.info().blob_alignment_source,
        AlignmentSource::Default
    );
    drop(transport);

    // This machine kind has no /dev/dri; in a guest the same call finds the render node.
    if !std::path::Path::new("/dev/dri").exists() {
        let err = open(TransportKind::VirtGpu)
            .err()
            .expect("no DRM device here");
        assert_eq!(
            (err.step, err.kind),
            (Step::FindDevice, ErrorKind::NotFound)
        );
        assert!(err.detail.contains("/dev/dri"), "{err}");
    }
}
