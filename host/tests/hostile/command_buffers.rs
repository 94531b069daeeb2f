//! Command buffers freed through a pool that does not own them.

use venus_rs_encoder::host::{Command, DestroyCommandPoolArgs, FreeCommandBuffersArgs};

use crate::harness::objects::{command_buffer, command_pool};
use crate::harness::scenario::Scenario;
use crate::harness::venus::encode;

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn freeing_command_buffers_through_another_pool_is_fatal() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let owner = command_pool(&mut venus, ids.device);
    let other = command_pool(&mut venus, ids.device);
    let buffer = command_buffer(&mut venus, ids.device, owner);

    // Freed through `other`, then `owner` destroyed: the id would outlive its driver object.
    let mut stream = encode(
        &Command::FreeCommandBuffers(FreeCommandBuffersArgs {
            device: ids.device,
            command_pool: other,
            command_buffer_count: 1,
            p_command_buffers: Some(vec![buffer]),
        }),
        0,
    );
    stream.extend(encode(
        &Command::DestroyCommandPool(DestroyCommandPoolArgs {
            device: ids.device,
            command_pool: owner,
        }),
        0,
    ));
    assert!(!venus.send_bytes(&stream), "the command buffer was freed");

    scenario.assert_hostile_ended_for(&format!(
        "command buffer {buffer} was not allocated from command pool {other}"
    ));
}
