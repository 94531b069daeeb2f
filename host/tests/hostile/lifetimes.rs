//! Objects destroyed while something still uses them: memory imported from a host pointer
//! freed under a recorded copy, and a buffer destroyed on one ring while another ring uses
//! it. The host keeps each driver object alive for as long as anything needs it.

use std::os::fd::AsFd;
use std::time::Duration;

use venus_rs_encoder::host::{
    Command, DestroyBufferArgs, FreeMemoryArgs, GetBufferMemoryRequirementsArgs,
};
use venus_rs_host::vtest::protocol::command;
use venus_rs_shmem::SharedMemory;

use crate::harness::copy::{record_copy, submit_and_wait};
use crate::harness::objects::{
    bound_buffer, buffer, command_buffer, command_pool, try_memory, HOST_VISIBLE_TYPE,
};
use crate::harness::ring::{ring_blob, Ring, STATUS_FATAL};
use crate::harness::scenario::{Scenario, HOSTILE};
use crate::harness::venus::{encode, Venus, VK_SUCCESS};

const SIZE: u64 = 65536;

/// The guest's mapping of device memory `memory` (a blob of it), with its resource id.
fn map_memory(venus: &mut Venus, memory: u64) -> (u32, SharedMemory) {
    let (res_id, fd) = venus
        .client
        .create_blob(1, SIZE, memory)
        .expect("a memory blob");
    (
        res_id,
        SharedMemory::map(fd.as_fd(), 0, SIZE).expect("map it"),
    )
}

fn pattern(index: u64) -> u8 {
    (index * 7 + 3) as u8
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn memory_freed_under_a_recorded_copy_stays_alive_until_the_copy_ran() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let (src, src_memory) = bound_buffer(&mut venus, ids.device, SIZE);
    let (dst, dst_memory) = bound_buffer(&mut venus, ids.device, SIZE);
    let (src_res, src_map) = map_memory(&mut venus, src_memory);
    let (_, dst_map) = map_memory(&mut venus, dst_memory);
    let bytes: Vec<u8> = (0..SIZE).map(pattern).collect();
    src_map.write_bytes(0, &bytes).unwrap();
    drop(src_map);

    let pool = command_pool(&mut venus, ids.device);
    let cb = command_buffer(&mut venus, ids.device, pool);
    let mut record = record_copy(cb, src, dst, SIZE);
    // The source buffer and its memory go before the copy runs, and the blob with them.
    record.extend(encode(
        &Command::DestroyBuffer(DestroyBufferArgs {
            device: ids.device,
            buffer: src,
        }),
        0,
    ));
    record.extend(encode(
        &Command::FreeMemory(FreeMemoryArgs {
            device: ids.device,
            memory: src_memory,
        }),
        0,
    ));
    assert!(venus.send_bytes(&record));
    assert!(venus.client.send(command::RESOURCE_UNREF, &[src_res]));

    submit_and_wait(&mut venus, ids, cb);
    let mut copied = vec![0u8; SIZE as usize];
    dst_map.read_bytes(0, &mut copied).unwrap();
    assert!(copied == bytes, "the copy read freed memory");
    drop(venus);
    scenario.assert_unharmed();
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_buffer_destroyed_on_one_ring_while_another_uses_it() {
    let scenario = Scenario::start(&[]);
    for round in 0..3 {
        let mut venus = scenario.hostile();
        let ids = venus.create_device();
        let target = buffer(&mut venus, ids.device, SIZE);
        let (memory, result) = try_memory(&mut venus, ids.device, SIZE, HOST_VISIBLE_TYPE);
        assert_eq!(result, VK_SUCCESS);
        let blob = ring_blob(&mut venus, 2);
        let mut user = Ring::create(&mut venus, &blob, 0, None).expect("ring 0");
        let mut destroyer = Ring::create(&mut venus, &blob, 1, None).expect("ring 1");

        let one_use = encode(
            &Command::GetBufferMemoryRequirements(GetBufferMemoryRequirementsArgs {
                device: ids.device,
                buffer: target,
                p_memory_requirements: Some(Box::default()),
            }),
            0,
        );
        let uses: Vec<u8> = one_use
            .iter()
            .copied()
            .cycle()
            .take(one_use.len() * 200)
            .collect();
        let mut destroy = encode(
            &Command::DestroyBuffer(DestroyBufferArgs {
                device: ids.device,
                buffer: target,
            }),
            0,
        );
        destroy.extend(encode(
            &Command::FreeMemory(FreeMemoryArgs {
                device: ids.device,
                memory,
            }),
            0,
        ));
        user.write(&blob, &uses);
        destroyer.write(&blob, &destroy);
        let mut notify = user.notify_command();
        notify.extend(destroyer.notify_command());
        // Both rings run at once; the uses after the destruction find no buffer.
        venus.send_bytes(&notify);
        let used = user.drained(&blob, Duration::from_secs(30));
        let destroyed = destroyer.drained(&blob, Duration::from_secs(30));
        assert!(destroyed, "round {round}: the destruction did not run");
        if !used {
            assert!(
                user.status(&blob) & STATUS_FATAL != 0,
                "round {round}: a ring stopped without going FATAL"
            );
        }
    }
    let server = scenario.assert_unharmed();
    let log = server.log_text();
    // Every use either ran before the destruction or found no buffer: never a crash.
    for line in log.lines().filter(|line| line.contains("is FATAL")) {
        assert!(line.contains("no VkBuffer with object id"), "{line}");
    }
    for client in log
        .lines()
        .filter(|line| line.contains(&format!("renderer \"{HOSTILE}\"")))
        .filter_map(|line| {
            line.split("client ")
                .nth(1)?
                .split(':')
                .next()?
                .parse::<u32>()
                .ok()
        })
    {
        let exit = server.client_exit(client, Duration::from_secs(30));
        assert!(exit.contains("exit status: 0"), "{exit}");
    }
}
