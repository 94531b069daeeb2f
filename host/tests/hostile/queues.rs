//! Queues the device was not created with.

use venus_rs_encoder::host::{Command, QueueWaitIdleArgs};

use crate::harness::scenario::Scenario;
use crate::harness::venus::encode;

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_queue_the_device_was_not_created_with_is_fatal() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let queue = venus.id();

    // Queue 5 of family 0 (the device has one), then a wait on it: the driver would index
    // past its queue array.
    assert!(
        !venus.get_queue(ids.device, queue, 5, 2),
        "the queue was given"
    );
    let wait = encode(
        &Command::QueueWaitIdle(QueueWaitIdleArgs { queue, ret: 0 }),
        0,
    );
    assert!(!venus.send_bytes(&wait));

    scenario.assert_hostile_ended_for("the device was not created with queue 5 of family 0");
}
