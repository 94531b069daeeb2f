//! Descriptor writes that would make the driver read an array the guest never sent, and sets
//! freed through a pool that does not own them.

use venus_rs_encoder::host::types::WriteDescriptorSet;
use venus_rs_encoder::host::{
    Command, DestroyDescriptorPoolArgs, FreeDescriptorSetsArgs, UpdateDescriptorSetsArgs,
};

use crate::harness::objects::{
    descriptor_pool, descriptor_set, storage_buffer_layout, STORAGE_BUFFER,
};
use crate::harness::scenario::Scenario;
use crate::harness::venus::encode;

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_storage_buffer_write_without_buffer_infos_is_fatal() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let layout = storage_buffer_layout(&mut venus, ids.device);
    let pool = descriptor_pool(&mut venus, ids.device);
    let set = descriptor_set(&mut venus, ids.device, pool, layout);

    // descriptorCount 1, and no pBufferInfo: the driver would read a buffer info at NULL.
    let alive = venus.send(Command::UpdateDescriptorSets(UpdateDescriptorSetsArgs {
        device: ids.device,
        descriptor_write_count: 1,
        p_descriptor_writes: Some(vec![WriteDescriptorSet {
            dst_set: set,
            dst_binding: 0,
            dst_array_element: 0,
            descriptor_count: 1,
            descriptor_type: STORAGE_BUFFER,
            p_buffer_info: None,
            ..WriteDescriptorSet::default()
        }]),
        descriptor_copy_count: 0,
        p_descriptor_copies: None,
    }));
    assert!(!alive, "the write went through");

    scenario.assert_hostile_ended_for("has no pBufferInfo (descriptorCount 1)");
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn freeing_a_set_through_a_pool_that_does_not_own_it_is_fatal() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let layout = storage_buffer_layout(&mut venus, ids.device);
    let owner = descriptor_pool(&mut venus, ids.device);
    let other = descriptor_pool(&mut venus, ids.device);
    let set = descriptor_set(&mut venus, ids.device, owner, layout);

    // Freed through `other`; destroying `owner` next would free the set under the id.
    let mut stream = encode(
        &Command::FreeDescriptorSets(FreeDescriptorSetsArgs {
            device: ids.device,
            descriptor_pool: other,
            descriptor_set_count: 1,
            p_descriptor_sets: Some(vec![set]),
            ret: 0,
        }),
        0,
    );
    stream.extend(encode(
        &Command::DestroyDescriptorPool(DestroyDescriptorPoolArgs {
            device: ids.device,
            descriptor_pool: owner,
        }),
        0,
    ));
    assert!(!venus.send_bytes(&stream), "the set was freed");

    scenario.assert_hostile_ended_for(&format!(
        "descriptor set {set} was not allocated from descriptor pool {other}"
    ));
}
