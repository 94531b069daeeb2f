//! A client whose context dies inside the driver (an abort, a crash) takes only its own
//! process with it: vtest clients are served one process each.

use std::time::Duration;

use rustix::process::{kill_process, Pid, Signal};

use crate::harness::scenario::{Scenario, HOSTILE};

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_client_aborting_inside_its_context_ends_only_its_process() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let _ids = venus.create_device();
    let server = &scenario.server;
    let client = server.client_id(HOSTILE).expect("the hostile client");
    let pid = server.client_pid(client).expect("its process");

    // What the driver's abort() does to the process serving the context.
    kill_process(Pid::from_raw(pid as i32).expect("a pid"), Signal::ABORT).expect("SIGABRT");
    let exit = server.client_exit(client, Duration::from_secs(30));
    assert!(exit.contains("SIGABRT"), "{exit}");
    assert!(venus.client.closed(), "the aborted context is still served");

    scenario.assert_unharmed();
}
