//! One test per per-context cap: a hostile client passes it, gets the error the API allows
//! (or its context goes FATAL), the log names the cap, and the bystander and the server go
//! on. Caps proven elsewhere: VENUS_RS_MAX_BLOB_BYTES (`sizes::a_terabyte_blob_is_refused`),
//! VENUS_RS_MAX_STREAM_BYTES (`sizes::an_indirect_stream_as_large_as_its_blob_is_not_copied`),
//! VENUS_RS_MAX_ARRAY_LEN (`sizes::a_forty_byte_query_for_four_billion_extensions_builds_no_reply`),
//! VENUS_RS_MAX_IDLE_WAIT_MS (`waits::endless_waits_return_in_bounded_time`).

use venus_rs_encoder::host::types::{
    Ext, FenceCreateInfo, PhysicalDeviceFeatures2, QueryPoolCreateInfo,
};
use venus_rs_encoder::host::{
    Command, CreateFenceArgs, CreateQueryPoolArgs, GetPhysicalDeviceFeatures2Args,
    GetQueryPoolResultsArgs,
};
use venus_rs_encoder::protocol::GENERATE_REPLY;

use crate::harness::objects::{try_memory, HOST_VISIBLE_TYPE};
use crate::harness::ring::{ring_blob, Ring};
use crate::harness::scenario::Scenario;
use crate::harness::venus::{
    encode, Venus, VK_ERROR_OUT_OF_DEVICE_MEMORY, VK_ERROR_OUT_OF_HOST_MEMORY,
    VK_ERROR_TOO_MANY_OBJECTS, VK_SUCCESS,
};

const OCCLUSION: i32 = 0;

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn cap_objects() {
    let scenario = Scenario::start(&[("VENUS_RS_MAX_OBJECTS", "100")]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let mut created = 0;
    let alive = loop {
        let fence = venus.id();
        let Some(reply) = venus.call(Command::CreateFence(CreateFenceArgs {
            device: ids.device,
            p_create_info: Some(Box::new(FenceCreateInfo::default())),
            p_fence: Some(fence),
            ret: 0,
        })) else {
            break false;
        };
        assert_eq!(Venus::result(&reply), VK_SUCCESS);
        created += 1;
        if created > 200 {
            break true;
        }
    };
    assert!(!alive, "{created} objects were made");
    assert!(created < 100, "{created} fences besides the queue");
    scenario.assert_hostile_ended_for("cap VENUS_RS_MAX_OBJECTS reached");
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn cap_device_memory() {
    let scenario = Scenario::start(&[("VENUS_RS_MAX_DEVICE_MEMORY", "64M")]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let (_, result) = try_memory(&mut venus, ids.device, 48 << 20, HOST_VISIBLE_TYPE);
    assert_eq!(result, VK_SUCCESS);
    let (_, result) = try_memory(&mut venus, ids.device, 32 << 20, HOST_VISIBLE_TYPE);
    assert_eq!(result, VK_ERROR_OUT_OF_DEVICE_MEMORY, "past the cap");
    let (_, result) = try_memory(&mut venus, ids.device, 8 << 20, HOST_VISIBLE_TYPE);
    assert_eq!(result, VK_SUCCESS, "within the cap again");
    drop(venus);
    let server = scenario.assert_unharmed();
    assert!(server
        .log_text()
        .contains("cap VENUS_RS_MAX_DEVICE_MEMORY reached"));
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn cap_blobs() {
    let scenario = Scenario::start(&[("VENUS_RS_MAX_BLOBS", "8")]);
    let mut venus = scenario.hostile();
    // The reply window is one blob already.
    let blobs: Vec<_> = (0..7)
        .map(|_| venus.client.shm_blob(4096).expect("a blob"))
        .collect();
    assert!(venus.client.shm_blob(4096).is_none(), "a 9th blob");
    drop(blobs);
    scenario.assert_hostile_ended_for("cap VENUS_RS_MAX_BLOBS reached");
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn cap_rings() {
    // 200 rings would be 200 host threads; the default cap is 64.
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let blob = ring_blob(&mut venus, 200);
    let made = (0..200)
        .take_while(|&index| Ring::create(&mut venus, &blob, index, None).is_some())
        .count();
    assert_eq!(made, 64, "rings made");
    scenario.assert_hostile_ended_for("cap VENUS_RS_MAX_RINGS reached");
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn cap_instances() {
    let scenario = Scenario::start(&[("VENUS_RS_MAX_INSTANCES", "3")]);
    let mut venus = scenario.hostile();
    for _ in 0..3 {
        assert_eq!(venus.create_instance(&[], &[]).1, VK_SUCCESS);
    }
    assert_eq!(
        venus.create_instance(&[], &[]).1,
        VK_ERROR_OUT_OF_HOST_MEMORY
    );
    drop(venus);
    let server = scenario.assert_unharmed();
    assert!(server
        .log_text()
        .contains("cap VENUS_RS_MAX_INSTANCES reached"));
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn cap_devices() {
    let scenario = Scenario::start(&[("VENUS_RS_MAX_DEVICES", "2")]);
    let mut venus = scenario.hostile();
    let (instance, _) = venus.create_instance(&[], &[]);
    let physical = venus.physical_device(instance);
    for _ in 0..2 {
        assert_eq!(venus.try_create_device(physical, &[]).1, VK_SUCCESS);
    }
    assert_eq!(
        venus.try_create_device(physical, &[]).1,
        VK_ERROR_TOO_MANY_OBJECTS
    );
    drop(venus);
    let server = scenario.assert_unharmed();
    assert!(server
        .log_text()
        .contains("cap VENUS_RS_MAX_DEVICES reached"));
}

/// vkGetQueryPoolResults on query pool `pool` with `data_size` bytes of results asked for,
/// written without building that many bytes here (output data is not sent, only its size).
fn query_results(device: u64, pool: u64, data_size: u64) -> Vec<u8> {
    let mut bytes = encode(
        &Command::GetQueryPoolResults(GetQueryPoolResultsArgs {
            device,
            query_pool: pool,
            first_query: 0,
            query_count: 1,
            data_size: 8,
            p_data: Some(vec![0u8; 8].into()),
            stride: 8,
            flags: 0,
            ret: 0,
        }),
        GENERATE_REPLY,
    );
    assert_eq!(bytes.len(), 60, "the output data travels as its size only");
    bytes[32..40].copy_from_slice(&data_size.to_le_bytes());
    bytes[40..48].copy_from_slice(&data_size.to_le_bytes());
    bytes
}

fn query_pool(venus: &mut Venus, device: u64) -> u64 {
    let pool = venus.id();
    let result = venus.call_result(Command::CreateQueryPool(CreateQueryPoolArgs {
        device,
        p_create_info: Some(Box::new(QueryPoolCreateInfo {
            query_type: OCCLUSION,
            query_count: 1,
            ..QueryPoolCreateInfo::default()
        })),
        p_query_pool: Some(pool),
        ret: 0,
    }));
    assert_eq!(result, VK_SUCCESS);
    pool
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn cap_reply_bytes() {
    // The default cap (64 MiB): a 100 MiB reply is refused before it is built.
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let pool = query_pool(&mut venus, ids.device);
    assert!(venus
        .call_bytes(&query_results(ids.device, pool, 100 << 20))
        .is_none());
    scenario.assert_hostile_ended_for("cap VENUS_RS_MAX_REPLY_BYTES reached");
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn cap_decode_memory() {
    // The default cap (256 MiB): 512 MiB of output data is never allocated.
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let pool = query_pool(&mut venus, ids.device);
    assert!(venus
        .call_bytes(&query_results(ids.device, pool, 512 << 20))
        .is_none());
    scenario.assert_hostile_ended_for("cap VENUS_RS_MAX_DECODE_MEMORY");
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn cap_chain_length() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    // 300 structs in one pNext chain; the default cap is 256.
    let chain = (0..300)
        .map(|_| Ext::PhysicalDeviceVulkan11Features(Box::default()))
        .collect::<Vec<Ext<'static>>>();
    let query = Command::GetPhysicalDeviceFeatures2(GetPhysicalDeviceFeatures2Args {
        physical_device: ids.physical,
        p_features: Some(Box::new(PhysicalDeviceFeatures2 {
            p_next: chain,
            features: Default::default(),
        })),
    });
    assert!(venus.call(query).is_none(), "the chain was taken");
    scenario.assert_hostile_ended_for("cap VENUS_RS_MAX_CHAIN");
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn cap_pending_waits() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let sync = venus.client.sync_create(0).expect("a sync");
    // 3000 waits that nothing satisfies would be 3000 eventfds; the default cap is 1024.
    let mut waited = 0;
    while waited < 3000 && venus.client.sync_wait(sync, 1, u32::MAX).is_some() {
        waited += 1;
    }
    assert_eq!(waited, 1024, "pending waits accepted");
    scenario.assert_hostile_ended_for("cap VENUS_RS_MAX_PENDING_WAITS reached");
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn cap_syncs() {
    let scenario = Scenario::start(&[("VENUS_RS_MAX_SYNCS", "64")]);
    let mut venus = scenario.hostile();
    let made = (0..100)
        .take_while(|_| venus.client.sync_create(0).is_some())
        .count();
    assert_eq!(made, 64, "syncs made");
    scenario.assert_hostile_ended_for("cap VENUS_RS_MAX_SYNCS reached");
}
