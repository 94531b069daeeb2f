//! The render-server worker drops what it does not need once the driver is up: a system call
//! outside its seccomp filter ends that worker only. Played through the real VMM side —
//! virglrenderer's vtest server, which starts our render server (RENDER_SERVER_EXEC_PATH) and
//! asks it for one worker per context — with Mesa's compute loop as the bystander.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::bystander::Bystander;
use crate::harness::server::Server;

const PROBE: &str = "seccomp-probe";

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_forbidden_system_call_ends_only_its_worker() {
    let render_server = Path::new(env!("CARGO_BIN_EXE_venus-rs-render-server"));
    let mut server = Server::start_virgl(render_server, &[("VENUS_RS_SECCOMP_PROBE", PROBE)]);
    let bystander = Bystander::start_virgl(&server, 400);

    // The probe's worker installs its filter, then tries socket(). (virglrenderer's vtest
    // server starts a render server per client and kills it once the client fails, so the
    // worker's end is seen from /proc rather than from our server's log.)
    let mut probe = server.connect(PROBE);
    probe.handshake_any_version();
    let _ = probe.shm_blob(4096);
    let needle = format!("(\"{PROBE}\"): worker process ");
    assert!(
        server.wait_for_log(&needle, Duration::from_secs(60)),
        "{}",
        server.log_text()
    );
    let log = server.log_text();
    let worker: u32 = log
        .lines()
        .find_map(|line| line.split(&needle).nth(1)?.trim().parse().ok())
        .expect("the probe's worker pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{worker}")).exists() && !is_zombie(worker) {
        assert!(
            Instant::now() < deadline,
            "the probe's worker still runs:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.log_text();
    assert!(
        log.contains("VENUS_RS_SECCOMP_PROBE: trying socket()"),
        "{log}"
    );
    assert!(!log.contains("the filter let it through"), "{log}");

    bystander.assert_completes(&server);
    // The render server still makes workers: a new client is served.
    let mut after = server.connect("after-the-probe");
    after.handshake_any_version();
    assert!(after.shm_blob(4096).is_some(), "{}", server.log_text());
    assert!(
        server
            .log_text()
            .matches("seccomp filter installed")
            .count()
            >= 2
    );
    server.assert_running();
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(") ")
            .next()
            .is_some_and(|rest| rest.starts_with('Z'))
    })
}
