//! Rings driven the way Mesa's vn_ring drives them (head @0, tail @64, status @128, buffer
//! @192), several of them in one shared-memory blob of the hostile client.

use std::time::{Duration, Instant};

use venus_rs_encoder::host::types::{Ext, RingCreateInfoMESA, RingPriorityInfoMESA};
use venus_rs_encoder::host::{Command, CreateRingMESAArgs, NotifyRingMESAArgs};

use super::venus::{encode, Venus};
use super::vtest_client::Blob;

const HEAD: u64 = 0;
const TAIL: u64 = 64;
const STATUS: u64 = 128;
const BUFFER: u64 = 192;
/// Small rings: the tests push a few KiB at most.
pub const BUFFER_SIZE: u64 = 16384;
/// The bytes one ring takes in the blob (window rounded up to a page).
pub const RING_STRIDE: u64 = 20480;
pub const STATUS_FATAL: u32 = 0x2;

/// A blob able to hold `count` rings.
pub fn ring_blob(venus: &mut Venus, count: u64) -> Blob {
    venus
        .client
        .shm_blob(count * RING_STRIDE)
        .expect("a blob for the rings")
}

pub struct Ring {
    pub id: u64,
    offset: u64,
    tail: u32,
}

impl Ring {
    /// The vkCreateRingMESA command for the `index`th ring of `blob`.
    pub fn create_command(id: u64, res_id: u32, index: u64, priority: Option<i32>) -> Vec<u8> {
        let p_next = priority
            .map(|priority| {
                vec![Ext::RingPriorityInfoMESA(Box::new(RingPriorityInfoMESA {
                    p_next: Vec::new(),
                    priority,
                }))]
            })
            .unwrap_or_default();
        encode(
            &Command::CreateRingMESA(CreateRingMESAArgs {
                ring: id,
                p_create_info: Some(Box::new(RingCreateInfoMESA {
                    p_next,
                    flags: 0,
                    resource_id: res_id,
                    offset: index * RING_STRIDE,
                    size: BUFFER + BUFFER_SIZE,
                    idle_timeout: 1_000_000,
                    head_offset: HEAD,
                    tail_offset: TAIL,
                    status_offset: STATUS,
                    buffer_offset: BUFFER,
                    buffer_size: BUFFER_SIZE,
                    extra_offset: 0,
                    extra_size: 0,
                })),
            }),
            0,
        )
    }

    /// Creates the `index`th ring of `blob`; None if the context died of it.
    pub fn create(
        venus: &mut Venus,
        blob: &Blob,
        index: u64,
        priority: Option<i32>,
    ) -> Option<Ring> {
        let id = 0x7000 + index;
        let alive = venus.send_bytes(&Self::create_command(id, blob.res_id, index, priority));
        alive.then_some(Ring {
            id,
            offset: index * RING_STRIDE,
            tail: 0,
        })
    }

    /// Writes `bytes` into the ring and publishes the tail, without notifying.
    pub fn write(&mut self, blob: &Blob, bytes: &[u8]) {
        assert!(
            bytes.len() as u64 <= BUFFER_SIZE,
            "the tests' streams fit a ring"
        );
        for (i, chunk) in bytes.chunks(4).enumerate() {
            let position = (u64::from(self.tail) + 4 * i as u64) % BUFFER_SIZE;
            blob.memory
                .write_bytes(self.offset + BUFFER + position, chunk)
                .expect("write the ring buffer");
        }
        self.tail = self.tail.wrapping_add(bytes.len() as u32);
        blob.memory
            .store_release_u32(self.offset + TAIL, self.tail)
            .expect("publish the tail");
    }

    /// The vkNotifyRingMESA command for what was written so far.
    pub fn notify_command(&self) -> Vec<u8> {
        encode(
            &Command::NotifyRingMESA(NotifyRingMESAArgs {
                ring: self.id,
                seqno: self.tail,
                flags: 0,
            }),
            0,
        )
    }

    pub fn head(&self, blob: &Blob) -> u32 {
        blob.memory
            .load_acquire_u32(self.offset + HEAD)
            .expect("read the head")
    }

    pub fn status(&self, blob: &Blob) -> u32 {
        blob.memory
            .load_acquire_u32(self.offset + STATUS)
            .expect("read the status")
    }

    /// Waits until the ring consumed everything written or went FATAL; true if it consumed.
    pub fn drained(&self, blob: &Blob, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.head(blob) == self.tail {
                return true;
            }
            if self.status(blob) & STATUS_FATAL != 0 || Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
