//! VkImportMemoryResourceInfoMESA: device memory backed by one of the guest's shared-memory
//! resources. The host must use the guest's bytes (not a copy, not fresh memory), and a
//! resource that does not exist or is too small is the API's error for a handle that cannot
//! be imported — never a mapping past the resource's end.

use venus_rs_encoder::host::types::{Ext, ImportMemoryResourceInfoMESA, MemoryAllocateInfo};
use venus_rs_encoder::host::{AllocateMemoryArgs, BindBufferMemoryArgs, Command};
use venus_rs_shmem::SharedMemory;

use std::os::fd::AsFd;

use crate::harness::copy::{record_copy, submit_and_wait};
use crate::harness::objects::{
    bound_buffer, buffer, command_buffer, command_pool, HOST_VISIBLE_TYPE,
};
use crate::harness::scenario::Scenario;
use crate::harness::venus::{Venus, VK_SUCCESS};

const SIZE: u64 = 65536;
const VK_ERROR_INVALID_EXTERNAL_HANDLE: i32 = -1000072003;

/// vkAllocateMemory of `size` bytes importing resource `resource_id`: the new id and the result.
fn import(venus: &mut Venus, device: u64, size: u64, resource_id: u32) -> (u64, i32) {
    let memory = venus.id();
    let result = venus.call_result(Command::AllocateMemory(AllocateMemoryArgs {
        device,
        p_allocate_info: Some(Box::new(MemoryAllocateInfo {
            p_next: vec![Ext::ImportMemoryResourceInfoMESA(Box::new(
                ImportMemoryResourceInfoMESA {
                    resource_id,
                    ..ImportMemoryResourceInfoMESA::default()
                },
            ))],
            allocation_size: size,
            memory_type_index: HOST_VISIBLE_TYPE,
        })),
        p_memory: Some(memory),
        ret: 0,
    }));
    (memory, result)
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn memory_imported_from_a_guest_resource_holds_the_guests_bytes() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let resource = venus
        .client
        .shm_blob(SIZE)
        .expect("a shared-memory resource");
    let bytes: Vec<u8> = (0..SIZE).map(|i| (i * 13 + 5) as u8).collect();
    resource.memory.write_bytes(0, &bytes).unwrap();

    let (imported, result) = import(&mut venus, ids.device, SIZE, resource.res_id);
    assert_eq!(result, VK_SUCCESS, "importing resource {}", resource.res_id);
    let src = buffer(&mut venus, ids.device, SIZE);
    assert_eq!(
        venus.call_result(Command::BindBufferMemory(BindBufferMemoryArgs {
            device: ids.device,
            buffer: src,
            memory: imported,
            memory_offset: 0,
            ret: 0,
        })),
        VK_SUCCESS
    );
    let (dst, dst_memory) = bound_buffer(&mut venus, ids.device, SIZE);
    let (_, dst_fd) = venus
        .client
        .create_blob(1, SIZE, dst_memory)
        .expect("a blob of the destination memory");
    let dst_map = SharedMemory::map(dst_fd.as_fd(), 0, SIZE).expect("map it");

    let pool = command_pool(&mut venus, ids.device);
    let cb = command_buffer(&mut venus, ids.device, pool);
    assert!(venus.send_bytes(&record_copy(cb, src, dst, SIZE)));
    submit_and_wait(&mut venus, ids, cb);

    let mut copied = vec![0u8; SIZE as usize];
    dst_map.read_bytes(0, &mut copied).unwrap();
    assert!(
        copied == bytes,
        "the GPU did not read the guest's bytes from the imported resource"
    );
    drop(venus);
    scenario.assert_unharmed();
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn importing_a_missing_or_too_small_resource_is_an_invalid_handle_and_the_context_goes_on() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let small = venus
        .client
        .shm_blob(4096)
        .expect("a shared-memory resource");

    let (_, missing) = import(&mut venus, ids.device, SIZE, 0x7fff_0000);
    assert_eq!(
        missing, VK_ERROR_INVALID_EXTERNAL_HANDLE,
        "a resource that does not exist"
    );
    let (_, too_small) = import(&mut venus, ids.device, SIZE, small.res_id);
    assert_eq!(
        too_small, VK_ERROR_INVALID_EXTERNAL_HANDLE,
        "a 4 KiB resource for 64 KiB"
    );
    // The context still works.
    let (_, fits) = import(&mut venus, ids.device, 4096, small.res_id);
    assert_eq!(fits, VK_SUCCESS, "a 4 KiB import of the 4 KiB resource");
    drop(venus);
    let server = scenario.assert_unharmed();
    let log = server.log_text();
    assert!(
        log.contains("no shared-memory resource has that id in this context")
            && log.contains("exceed the 4096-byte resource"),
        "the host did not say why it refused the imports:\n{log}"
    );
}
