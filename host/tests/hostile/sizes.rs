//! Sizes a guest names to make the host allocate: a terabyte blob, an indirect stream as
//! large as a blob, an output array of four billion elements.

use venus_rs_encoder::host::types::CommandStreamDescriptionMESA;
use venus_rs_encoder::host::{
    Command, EnumerateInstanceExtensionPropertiesArgs, ExecuteCommandStreamsMESAArgs,
};
use venus_rs_encoder::protocol::GENERATE_REPLY;

use crate::harness::scenario::Scenario;
use crate::harness::venus::encode;

const TIB: u64 = 1 << 40;

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_terabyte_blob_is_refused() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    assert!(venus.client.shm_blob(TIB).is_none(), "the blob was made");
    scenario.assert_hostile_ended_for("cap VENUS_RS_MAX_BLOB_BYTES reached");
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn an_indirect_stream_as_large_as_its_blob_is_not_copied() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    // A 1 GiB blob is within the blob cap; running all of it as one stream is not.
    let size = 1 << 30;
    let blob = venus.client.shm_blob(size).expect("a 1 GiB blob");
    let execute = Command::ExecuteCommandStreamsMESA(ExecuteCommandStreamsMESAArgs {
        stream_count: 1,
        p_streams: Some(vec![CommandStreamDescriptionMESA {
            resource_id: blob.res_id,
            offset: 0,
            size,
        }]),
        ..ExecuteCommandStreamsMESAArgs::default()
    });
    assert!(!venus.send(execute), "the stream ran");
    scenario.assert_hostile_ended_for("cap VENUS_RS_MAX_STREAM_BYTES reached");
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_forty_byte_query_for_four_billion_extensions_builds_no_reply() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    // The command with one output element, then its count and array size patched to
    // u32::MAX: 40 bytes asking for a 2.25 GB reply.
    let mut command = encode(
        &Command::EnumerateInstanceExtensionProperties(EnumerateInstanceExtensionPropertiesArgs {
            p_layer_name: None,
            p_property_count: Some(1),
            p_properties: Some(vec![Default::default()]),
            ret: 0,
        }),
        GENERATE_REPLY,
    );
    let len = command.len();
    command[len - 12..len - 8].copy_from_slice(&u32::MAX.to_le_bytes());
    command[len - 8..].copy_from_slice(&u64::from(u32::MAX).to_le_bytes());
    assert!(command.len() <= 40, "{} bytes", command.len());
    assert!(venus.call_bytes(&command).is_none(), "a reply was built");
    scenario.assert_hostile_ended_for("VENUS_RS_MAX_ARRAY_LEN");
}
