//! vtest wire format (virglrenderer `vtest/vtest_protocol.h`, restated in
//! `shared/notes/venus-protocol.md` §7). Every message is a header of two u32 — payload length in dwords
//! (in bytes for CREATE_RENDERER) and command id — followed by the payload.

pub const DEFAULT_SOCKET_PATH: &str = "/tmp/.virgl_test";
pub const SOCKET_PATH_ENV: &str = "VTEST_SOCKET_NAME";

/// The protocol this client speaks: version 3 brought the Venus commands (GET_CAPSET ... SUBMIT_CMD2).
pub const CLIENT_PROTOCOL_VERSION: u32 = 3;

/// Every message starts with two little-endian u32: the payload length, then the command id.
pub const HEADER_BYTES: usize = 8;

/// Command ids (`VCMD_*`). The host's vtest server serves this same list.
pub mod command {
    pub const GET_CAPS: u32 = 1;
    pub const RESOURCE_CREATE: u32 = 2;
    pub const RESOURCE_UNREF: u32 = 3;
    pub const TRANSFER_GET: u32 = 4;
    pub const TRANSFER_PUT: u32 = 5;
    pub const SUBMIT_CMD: u32 = 6;
    pub const RESOURCE_BUSY_WAIT: u32 = 7;
    pub const CREATE_RENDERER: u32 = 8;
    pub const GET_CAPS2: u32 = 9;
    pub const PING_PROTOCOL_VERSION: u32 = 10;
    pub const PROTOCOL_VERSION: u32 = 11;
    pub const RESOURCE_CREATE2: u32 = 12;
    pub const TRANSFER_GET2: u32 = 13;
    pub const TRANSFER_PUT2: u32 = 14;
    pub const GET_PARAM: u32 = 15;
    pub const GET_CAPSET: u32 = 16;
    pub const CONTEXT_INIT: u32 = 17;
    pub const RESOURCE_CREATE_BLOB: u32 = 18;
    pub const SYNC_CREATE: u32 = 19;
    pub const SYNC_UNREF: u32 = 20;
    pub const SYNC_READ: u32 = 21;
    pub const SYNC_WRITE: u32 = 22;
    pub const SYNC_WAIT: u32 = 23;
    pub const SUBMIT_CMD2: u32 = 24;
    /// Protocol 4 adds 25 (DRM_SYNC_CREATE) to 38 (RESOURCE_EXPORT_FD) for DRM native
    /// contexts; Venus uses none of them.
    pub const LAST_VERSION_4: u32 = 38;
}

/// GET_PARAM parameter ids (`VCMD_PARAM_*`).
pub mod param {
    pub const MAX_TIMELINE_COUNT: u32 = 1;
    pub const HAS_TIMELINE_SYNCOBJ: u32 = 2;
}

/// RESOURCE_CREATE_BLOB blob types (`VCMD_BLOB_TYPE_*`).
pub mod blob_type {
    pub const GUEST: u32 = 1;
    pub const HOST3D: u32 = 2;
    pub const HOST3D_GUEST: u32 = 3;
}

/// RESOURCE_CREATE_BLOB flags (`VCMD_BLOB_FLAG_*`).
pub mod blob_flags {
    pub const MAPPABLE: u32 = 1;
    pub const SHAREABLE: u32 = 2;
}

pub const SYNC_WAIT_FLAG_ANY: u32 = 1;
/// A SYNC_WAIT timeout of u32::MAX milliseconds means "forever" to the server; this client never asks it.
pub const SYNC_WAIT_MAX_TIMEOUT_MS: u32 = u32::MAX - 1;

/// SUBMIT_CMD2 batch flags (`VCMD_SUBMIT_CMD2_FLAG_*`).
pub mod submit_flags {
    pub const RING_IDX: u32 = 1;
    pub const IN_FENCE_FD: u32 = 2;
    pub const OUT_FENCE_FD: u32 = 4;
}

/// Dwords per SUBMIT_CMD2 batch header: batch `n` starts at dword `1 + 8 n` (flags, cmd_offset,
/// cmd_size, sync_offset, sync_count, ring_idx, then two syncobj counts that only protocol 4 reads).
pub const SUBMIT_CMD2_BATCH_DWORDS: usize = 8;

/// No reply this client reads comes near 1 MiB; a longer claim means the stream is out of step.
pub const MAX_REPLY_BYTES: usize = 1 << 20;

/// A message with a dword payload.
pub fn message(command: u32, payload: &[u32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len() * 4);
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&command.to_le_bytes());
    for word in payload {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    bytes
}

/// CREATE_RENDERER: the one message whose length field counts bytes (the name and its NUL).
pub fn create_renderer(name: &str) -> Vec<u8> {
    let name_len = name.len() as u32 + 1;
    let mut bytes = Vec::with_capacity(HEADER_BYTES + name_len as usize);
    bytes.extend_from_slice(&name_len.to_le_bytes());
    bytes.extend_from_slice(&command::CREATE_RENDERER.to_le_bytes());
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(0);
    bytes
}

pub fn split_u64(value: u64) -> [u32; 2] {
    [value as u32, (value >> 32) as u32]
}

/// SUBMIT_CMD2 with one batch: the command bytes on timeline `ring_idx`, and the sync points
/// `(sync_id, value)` the server signals when that timeline retires the batch.
/// `commands.len()` must be a multiple of 4.
pub fn submit_cmd2(ring_idx: u32, commands: &[u8], syncs: &[(u32, u64)]) -> Vec<u8> {
    debug_assert!(commands.len().is_multiple_of(4));
    let header_dwords = 1 + SUBMIT_CMD2_BATCH_DWORDS;
    let cmd_dwords = commands.len() / 4;
    let sync_dwords = syncs.len() * 3;
    let payload_dwords = header_dwords + cmd_dwords + sync_dwords;

    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload_dwords * 4);
    let mut push = |word: u32| bytes.extend_from_slice(&word.to_le_bytes());
    push(payload_dwords as u32);
    push(command::SUBMIT_CMD2);
    push(1); // batch count
    push(submit_flags::RING_IDX);
    push(header_dwords as u32); // cmd_offset
    push(cmd_dwords as u32);
    push((header_dwords + cmd_dwords) as u32); // sync_offset
    push(syncs.len() as u32);
    push(ring_idx);
    push(0); // num_in_syncobj
    push(0); // num_out_syncobj
    bytes.extend_from_slice(commands);
    for &(sync_id, value) in syncs {
        let [lo, hi] = split_u64(value);
        bytes.extend_from_slice(&sync_id.to_le_bytes());
        bytes.extend_from_slice(&lo.to_le_bytes());
        bytes.extend_from_slice(&hi.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(bytes: &[u8]) -> Vec<u32> {
        bytes
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    #[test]
    fn dword_messages_carry_their_payload_length_in_dwords() {
        let bytes = message(command::RESOURCE_CREATE_BLOB, &[2, 1, 0x4000, 0, 0, 0]);
        assert_eq!(words(&bytes), vec![6, 18, 2, 1, 0x4000, 0, 0, 0]);
    }

    #[test]
    fn create_renderer_counts_bytes_including_the_nul() {
        let bytes = create_renderer("venus-rs");
        assert_eq!(&bytes[..8], &[9, 0, 0, 0, 8, 0, 0, 0]);
        assert_eq!(&bytes[8..], b"venus-rs\0");
    }

    #[test]
    fn submit_cmd2_lays_out_header_commands_and_syncs() {
        let commands: Vec<u8> = (1..=8u8).collect();
        let bytes = submit_cmd2(5, &commands, &[(7, 0x1_0000_0002)]);
        let w = words(&bytes);
        // header: 1 + 8 batch dwords = 9; commands: 2 dwords; syncs: 3 dwords.
        assert_eq!(w[0], 14, "payload length in dwords");
        assert_eq!(w[1], command::SUBMIT_CMD2);
        assert_eq!(w[2], 1, "batch count");
        assert_eq!(&w[3..11], &[submit_flags::RING_IDX, 9, 2, 11, 1, 5, 0, 0]);
        assert_eq!(&bytes[8 + 9 * 4..8 + 11 * 4], &commands[..]);
        assert_eq!(&w[13..16], &[7, 2, 1]);
        assert_eq!(bytes.len(), 8 + 14 * 4);
    }

    #[test]
    fn an_empty_submit_without_syncs_is_just_the_batch_header() {
        let w = words(&submit_cmd2(0, &[], &[]));
        assert_eq!(w, vec![9, command::SUBMIT_CMD2, 1, 1, 9, 0, 9, 0, 0, 0, 0]);
    }
}
