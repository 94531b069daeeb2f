//! The guest end of a Venus ring: a command buffer in shared memory that a host thread consumes.
//!
//! Layout of the ring blob (`venus-protocol.md` §5.1, §5.2): the control words head, tail and status
//! each on a 64-byte line of their own (the host writes head and status, the guest writes tail, so
//! sharing a cache line would make both sides fight over it), the 4-byte extra area on the next line,
//! and the command buffer from offset 256. The blob size is the blob alignment multiple that holds all
//! of it, so no part of the ring ever sits in a partially mapped host page (`macos-lessons.md` §1).
//!
//! head and tail are free-running byte counters; a command batch's sequence number is the tail value
//! after it, and it is done once head has reached that value.

use std::fmt;
use std::sync::atomic::{fence, Ordering};

use venus_rs_kernel_iface::BlobAlignment;
use venus_rs_shmem::{MemoryAccessError, SharedMemory};

const HEAD_OFFSET: u64 = 0;
const TAIL_OFFSET: u64 = 64;
const STATUS_OFFSET: u64 = 128;
const EXTRA_OFFSET: u64 = 192;
const EXTRA_SIZE: usize = 4;
const BUFFER_OFFSET: u64 = 256;

/// The host's limit on a ring buffer (`VKR_RING_BUFFER_MAX_SIZE`).
pub const MAX_BUFFER_SIZE: u32 = 16 * 1024 * 1024;

/// `VkRingStatusFlagBitsMESA`.
pub const STATUS_IDLE: u32 = 0x1;
pub const STATUS_FATAL: u32 = 0x2;
pub const STATUS_ALIVE: u32 = 0x4;

/// `VK_STRUCTURE_TYPE_RING_CREATE_INFO_MESA`.
const RING_CREATE_INFO_STYPE: i32 = 1_000_384_000;

/// Where each part of a ring lives inside its blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    buffer_size: u32,
    blob_size: u64,
}

impl RingLayout {
    /// A ring with a `buffer_size`-byte command buffer (a power of two, at most 16 MiB) in a blob whose
    /// size is a multiple of `alignment`.
    pub fn new(buffer_size: u32, alignment: BlobAlignment) -> Result<RingLayout, String> {
        if !buffer_size.is_power_of_two() || !(4096..=MAX_BUFFER_SIZE).contains(&buffer_size) {
            return Err(format!(
                "ring buffer size {buffer_size} must be a power of two from 4096 to {MAX_BUFFER_SIZE}"
            ));
        }
        let used = BUFFER_OFFSET + u64::from(buffer_size);
        let blob_size = alignment
            .round_up(used)
            .ok_or_else(|| format!("a {used}-byte ring cannot be rounded to {alignment}"))?;
        Ok(RingLayout {
            buffer_size,
            blob_size,
        })
    }

    pub fn buffer_size(&self) -> u32 {
        self.buffer_size
    }

    /// The size to create the ring's blob with: a multiple of the blob alignment.
    pub fn blob_size(&self) -> u64 {
        self.blob_size
    }

    /// The `VkRingCreateInfoMESA` for a ring in resource `resource_id`, covering the whole blob.
    pub fn create_info(&self, resource_id: u32, idle_timeout_ns: u64) -> RingCreateInfo {
        RingCreateInfo {
            s_type: RING_CREATE_INFO_STYPE,
            p_next: std::ptr::null(),
            flags: 0,
            resource_id,
            offset: 0,
            size: self.blob_size as usize,
            idle_timeout: idle_timeout_ns,
            head_offset: HEAD_OFFSET as usize,
            tail_offset: TAIL_OFFSET as usize,
            status_offset: STATUS_OFFSET as usize,
            buffer_offset: BUFFER_OFFSET as usize,
            buffer_size: self.buffer_size as usize,
            extra_offset: EXTRA_OFFSET as usize,
            extra_size: EXTRA_SIZE,
        }
    }
}

/// `VkRingCreateInfoMESA` in its C layout, which the generated encoder reads. The struct is not in
/// vk.xml (it belongs to the Venus protocol), so ash has no type for it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RingCreateInfo {
    pub s_type: i32,
    pub p_next: *const std::ffi::c_void,
    pub flags: u32,
    pub resource_id: u32,
    pub offset: usize,
    pub size: usize,
    pub idle_timeout: u64,
    pub head_offset: usize,
    pub tail_offset: usize,
    pub status_offset: usize,
    pub buffer_offset: usize,
    pub buffer_size: usize,
    pub extra_offset: usize,
    pub extra_size: usize,
}

/// The control words of a ring as last read, for progress checks and error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RingState {
    pub head: u32,
    pub tail: u32,
    pub status: u32,
}

impl RingState {
    pub fn is_fatal(&self) -> bool {
        self.status & STATUS_FATAL != 0
    }

    pub fn is_idle(&self) -> bool {
        self.status & STATUS_IDLE != 0
    }

    /// Whether the host has consumed everything up to `seqno` (counters wrap at 2^32).
    pub fn reached(&self, seqno: u32) -> bool {
        seqno.wrapping_sub(self.head) as i32 <= 0
    }
}

impl fmt::Display for RingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "head {} tail {} status {:#x}",
            self.head, self.tail, self.status
        )?;
        let names: Vec<&str> = [
            (STATUS_IDLE, "IDLE"),
            (STATUS_FATAL, "FATAL"),
            (STATUS_ALIVE, "ALIVE"),
        ]
        .iter()
        .filter(|(bit, _)| self.status & bit != 0)
        .map(|(_, name)| *name)
        .collect();
        if !names.is_empty() {
            write!(f, " ({})", names.join("|"))?;
        }
        Ok(())
    }
}

/// Why a ring write could not happen now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingWriteError {
    /// The batch is larger than the whole buffer: it can never fit.
    TooLarge {
        len: usize,
        buffer_size: u32,
    },
    /// The host has not consumed enough yet; try again after it made progress.
    NoRoom {
        free: u32,
    },
    Memory(MemoryAccessError),
}

impl fmt::Display for RingWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingWriteError::TooLarge { len, buffer_size } => write!(
                f,
                "a {len}-byte command batch does not fit in the {buffer_size}-byte ring buffer"
            ),
            RingWriteError::NoRoom { free } => write!(f, "only {free} bytes of the ring are free"),
            RingWriteError::Memory(e) => write!(f, "ring memory: {e}"),
        }
    }
}

/// Reads a ring's control words from any thread, for a watchdog that reports where a stuck step was.
#[derive(Clone)]
pub struct RingMonitor {
    memory: SharedMemory,
}

impl fmt::Debug for RingMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingMonitor").finish_non_exhaustive()
    }
}

impl RingMonitor {
    pub fn state(&self) -> Result<RingState, MemoryAccessError> {
        Ok(RingState {
            head: self.memory.load_acquire_u32(HEAD_OFFSET)?,
            tail: self.memory.load_acquire_u32(TAIL_OFFSET)?,
            status: self.memory.load_acquire_u32(STATUS_OFFSET)?,
        })
    }
}

/// The guest's view of one ring.
pub struct Ring {
    memory: SharedMemory,
    layout: RingLayout,
    /// The tail as last stored: bytes ever written.
    tail: u32,
}

impl Ring {
    /// Takes over freshly mapped ring memory and zeroes the control words, as the host requires head and
    /// status to be 0 when the ring is created.
    pub fn new(memory: SharedMemory, layout: RingLayout) -> Result<Ring, MemoryAccessError> {
        let needed = BUFFER_OFFSET + u64::from(layout.buffer_size);
        if memory.size() < needed {
            return Err(MemoryAccessError::OutOfBounds {
                offset: 0,
                len: needed,
                size: memory.size(),
            });
        }
        for offset in [HEAD_OFFSET, TAIL_OFFSET, STATUS_OFFSET, EXTRA_OFFSET] {
            memory.write_u32(offset, 0)?;
        }
        Ok(Ring {
            memory,
            layout,
            tail: 0,
        })
    }

    pub fn monitor(&self) -> RingMonitor {
        RingMonitor {
            memory: self.memory.clone(),
        }
    }

    pub fn layout(&self) -> &RingLayout {
        &self.layout
    }

    /// The sequence number of everything written so far.
    pub fn tail(&self) -> u32 {
        self.tail
    }

    /// The control words now. head and status are loaded with acquire ordering, so replies the host
    /// wrote before moving head are visible once head is seen to have moved.
    pub fn state(&self) -> Result<RingState, MemoryAccessError> {
        Ok(RingState {
            head: self.memory.load_acquire_u32(HEAD_OFFSET)?,
            tail: self.tail,
            status: self.memory.load_acquire_u32(STATUS_OFFSET)?,
        })
    }

    /// Copies a batch of whole commands into the buffer (wrapping at its end) and publishes it by
    /// storing the tail. Returns the batch's sequence number.
    pub fn write(&mut self, batch: &[u8]) -> Result<u32, RingWriteError> {
        let buffer_size = self.layout.buffer_size;
        let len = u32::try_from(batch.len())
            .ok()
            .filter(|len| *len <= buffer_size)
            .ok_or(RingWriteError::TooLarge {
                len: batch.len(),
                buffer_size,
            })?;
        let head = self
            .memory
            .load_acquire_u32(HEAD_OFFSET)
            .map_err(RingWriteError::Memory)?;
        let used = self.tail.wrapping_sub(head);
        let free = buffer_size.saturating_sub(used);
        if len > free {
            return Err(RingWriteError::NoRoom { free });
        }
        let start = self.tail & (buffer_size - 1);
        let first = batch.len().min((buffer_size - start) as usize);
        let (before_wrap, after_wrap) = batch.split_at(first);
        self.memory
            .write_bytes(BUFFER_OFFSET + u64::from(start), before_wrap)
            .map_err(RingWriteError::Memory)?;
        self.memory
            .write_bytes(BUFFER_OFFSET, after_wrap)
            .map_err(RingWriteError::Memory)?;
        self.tail = self.tail.wrapping_add(len);
        self.memory
            .store_release_u32(TAIL_OFFSET, self.tail)
            .map_err(RingWriteError::Memory)?;
        // The host sets IDLE and then re-reads the tail; the guest stores the tail and then reads
        // IDLE. Only with a full fence on both sides does one of them always see the other.
        fence(Ordering::SeqCst);
        Ok(self.tail)
    }

    /// Reads and clears the ALIVE status bit: true when the host's ring monitor has reported since the
    /// last call. Clearing it makes the next sighting a fresh report (the host sets the bit with an
    /// atomic or, so neither side loses the other's bits).
    pub fn take_alive(&self) -> Result<bool, MemoryAccessError> {
        let before = self.memory.fetch_and_u32(STATUS_OFFSET, !STATUS_ALIVE)?;
        Ok(before & STATUS_ALIVE != 0)
    }

    /// The first word of the extra area, which the host writes for vkWriteRingExtraMESA.
    pub fn extra(&self) -> Result<u32, MemoryAccessError> {
        self.memory.load_acquire_u32(EXTRA_OFFSET)
    }

    /// Writes `pattern` at the start of the command buffer and reads it back, before the ring is handed
    /// to the host: proof that the mapping is usable memory.
    pub fn check_memory(&self, pattern: &[u8]) -> Result<bool, MemoryAccessError> {
        self.memory.write_bytes(BUFFER_OFFSET, pattern)?;
        let mut back = vec![0u8; pattern.len()];
        self.memory.read_bytes(BUFFER_OFFSET, &mut back)?;
        self.memory
            .write_bytes(BUFFER_OFFSET, &vec![0u8; pattern.len()])?;
        Ok(back == pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, OwnedFd};

    /// Ring memory backed by an unlinked temporary file.
    fn shared_memory(len: u64) -> (OwnedFd, SharedMemory) {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "venus-rs-ring-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file.set_len(len).unwrap();
        let fd: OwnedFd = file.into();
        let memory = SharedMemory::map(fd.as_fd(), 0, len).unwrap();
        (fd, memory)
    }

    #[test]
    fn the_default_ring_blob_is_a_multiple_of_16_kib() {
        let layout = RingLayout::new(128 * 1024, BlobAlignment::default()).unwrap();
        assert_eq!(layout.blob_size(), 147456);
        assert_eq!(layout.blob_size() % 16384, 0);
        let small = RingLayout::new(4096, BlobAlignment::new(65536).unwrap()).unwrap();
        assert_eq!(small.blob_size(), 65536);
    }

    #[test]
    fn the_create_info_keeps_every_region_inside_the_blob_and_apart() {
        let layout = RingLayout::new(8192, BlobAlignment::default()).unwrap();
        let info = layout.create_info(7, 1_000_000);
        assert_eq!((info.resource_id, info.offset, info.size), (7, 0, 16384));
        let mut regions = [
            (info.head_offset, 4),
            (info.tail_offset, 4),
            (info.status_offset, 4),
            (info.extra_offset, info.extra_size),
            (info.buffer_offset, info.buffer_size),
        ];
        regions.sort();
        for pair in regions.windows(2) {
            assert!(pair[0].0 + pair[0].1 <= pair[1].0, "{regions:?}");
        }
        let (last, len) = regions[regions.len() - 1];
        assert!(last + len <= info.size);
        assert!(regions.iter().all(|(offset, _)| offset % 64 == 0));
    }

    #[test]
    fn bad_buffer_sizes_are_refused() {
        for size in [0, 3000, 4097, 32 * 1024 * 1024] {
            assert!(
                RingLayout::new(size, BlobAlignment::default()).is_err(),
                "{size}"
            );
        }
    }

    #[test]
    fn writes_wrap_around_and_wait_for_the_head() {
        let layout = RingLayout::new(4096, BlobAlignment::default()).unwrap();
        let (_fd, memory) = shared_memory(layout.blob_size());
        let mut ring = Ring::new(memory, layout).unwrap();
        let batch = vec![0xabu8; 3000];
        assert_eq!(ring.write(&batch), Ok(3000));
        assert_eq!(
            ring.write(&batch),
            Err(RingWriteError::NoRoom { free: 1096 })
        );
        // The host consumed the first batch.
        ring.memory.store_release_u32(HEAD_OFFSET, 3000).unwrap();
        let pattern: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        assert_eq!(ring.write(&pattern), Ok(6000));
        let mut wrapped = vec![0u8; 3000];
        ring.memory
            .read_bytes(BUFFER_OFFSET + 3000, &mut wrapped[..1096])
            .unwrap();
        ring.memory
            .read_bytes(BUFFER_OFFSET, &mut wrapped[1096..])
            .unwrap();
        assert_eq!(wrapped, pattern);
        assert_eq!(ring.memory.read_u32(TAIL_OFFSET).unwrap(), 6000);
        assert!(matches!(
            ring.write(&vec![0u8; 5000]),
            Err(RingWriteError::TooLarge { len: 5000, .. })
        ));
    }

    #[test]
    fn alive_reports_are_taken_once_and_other_status_bits_stay() {
        let layout = RingLayout::new(4096, BlobAlignment::default()).unwrap();
        let (_fd, memory) = shared_memory(layout.blob_size());
        let ring = Ring::new(memory, layout).unwrap();
        assert!(!ring.take_alive().unwrap());
        // The host's monitor reports while the ring is idle.
        ring.memory
            .fetch_or_u32(STATUS_OFFSET, STATUS_ALIVE | STATUS_IDLE)
            .unwrap();
        assert!(ring.take_alive().unwrap());
        assert!(!ring.take_alive().unwrap());
        assert_eq!(ring.state().unwrap().status, STATUS_IDLE);
    }

    #[test]
    fn the_extra_word_reads_what_the_host_wrote() {
        let layout = RingLayout::new(4096, BlobAlignment::default()).unwrap();
        let (_fd, memory) = shared_memory(layout.blob_size());
        let ring = Ring::new(memory, layout).unwrap();
        assert_eq!(ring.extra().unwrap(), 0);
        let info = layout.create_info(1, 0);
        ring.memory
            .store_release_u32(info.extra_offset as u64, 0x1234_5678)
            .unwrap();
        assert_eq!(ring.extra().unwrap(), 0x1234_5678);
    }

    #[test]
    fn sequence_numbers_compare_across_the_wrap() {
        let state = |head| RingState {
            head,
            tail: 0,
            status: 0,
        };
        assert!(state(10).reached(10));
        assert!(state(11).reached(10));
        assert!(!state(9).reached(10));
        assert!(state(5).reached(u32::MAX - 3));
        assert!(!state(u32::MAX - 3).reached(5));
    }

    #[test]
    fn the_state_names_the_status_bits() {
        let state = RingState {
            head: 1,
            tail: 2,
            status: STATUS_IDLE | STATUS_FATAL,
        };
        assert_eq!(state.to_string(), "head 1 tail 2 status 0x3 (IDLE|FATAL)");
        assert!(state.is_fatal() && state.is_idle());
    }
}
