//! A buffer-to-buffer copy recorded, submitted and waited for: how the tests see what device
//! memory holds on the host's side.

use std::time::{Duration, Instant};

use venus_rs_encoder::host::types::{BufferCopy, CommandBufferBeginInfo, SubmitInfo};
use venus_rs_encoder::host::{
    BeginCommandBufferArgs, CmdCopyBufferArgs, Command, CreateFenceArgs, EndCommandBufferArgs,
    QueueSubmitArgs, WaitForFencesArgs,
};

use super::venus::{encode, DeviceIds, Venus, VK_SUCCESS, VK_TIMEOUT};

/// The stream that records a copy of `size` bytes from `src` to `dst` into `command_buffer`.
pub fn record_copy(command_buffer: u64, src: u64, dst: u64, size: u64) -> Vec<u8> {
    let mut record = encode(
        &Command::BeginCommandBuffer(BeginCommandBufferArgs {
            command_buffer,
            p_begin_info: Some(Box::new(CommandBufferBeginInfo::default())),
            ret: 0,
        }),
        0,
    );
    record.extend(encode(
        &Command::CmdCopyBuffer(CmdCopyBufferArgs {
            command_buffer,
            src_buffer: src,
            dst_buffer: dst,
            region_count: 1,
            p_regions: Some(vec![BufferCopy {
                src_offset: 0,
                dst_offset: 0,
                size,
            }]),
        }),
        0,
    ));
    record.extend(encode(
        &Command::EndCommandBuffer(EndCommandBufferArgs {
            command_buffer,
            ret: 0,
        }),
        0,
    ));
    record
}

/// Submits `command_buffer` on the device's queue with a new fence and waits (30 s at most)
/// until the fence signals.
pub fn submit_and_wait(venus: &mut Venus, ids: DeviceIds, command_buffer: u64) {
    let fence = venus.id();
    assert_eq!(
        venus.call_result(Command::CreateFence(CreateFenceArgs {
            device: ids.device,
            p_create_info: Some(Box::default()),
            p_fence: Some(fence),
            ret: 0,
        })),
        VK_SUCCESS
    );
    assert_eq!(
        venus.call_result(Command::QueueSubmit(QueueSubmitArgs {
            queue: ids.queue,
            submit_count: 1,
            p_submits: Some(vec![SubmitInfo {
                command_buffer_count: 1,
                p_command_buffers: Some(vec![command_buffer]),
                ..SubmitInfo::default()
            }]),
            fence,
            ret: 0,
        })),
        VK_SUCCESS
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waited = venus.call_result(Command::WaitForFences(WaitForFencesArgs {
            device: ids.device,
            fence_count: 1,
            p_fences: Some(vec![fence]),
            wait_all: 1,
            timeout: u64::MAX,
            ret: 0,
        }));
        if waited == VK_SUCCESS {
            return;
        }
        assert_eq!(waited, VK_TIMEOUT);
        assert!(Instant::now() < deadline, "the submission never finished");
    }
}
