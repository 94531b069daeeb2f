//! Memory shared with the other half of venus-rs (a blob mapping, a memfd): the only way either half
//! touches it.
//!
//! The other side may write any byte at any time, so no Rust reference to plain data in this memory
//! is ever made. [`SharedMemory`] checks every access against its window with overflow-checked
//! arithmetic and performs it as a volatile or atomic operation on a raw pointer. Values are in the
//! machine's byte order, which is little-endian on every target venus-rs supports (the Venus wire
//! format is little-endian).

#[cfg(target_endian = "big")]
compile_error!(
    "venus-rs speaks the little-endian Venus wire format and supports little-endian targets only"
);

use std::fmt;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

/// Why a mapping could not be made.
#[derive(Debug)]
pub enum MapError {
    ZeroSize,
    TooLarge {
        size: u64,
    },
    Mmap {
        offset: u64,
        size: u64,
        error: std::io::Error,
    },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroSize => write!(f, "a shared memory size of 0 bytes is not allowed"),
            Self::TooLarge { size } => write!(
                f,
                "a shared memory size of {size} bytes does not fit this machine's address space"
            ),
            Self::Mmap {
                offset,
                size,
                error,
            } => write!(
                f,
                "mapping {size} bytes of shared memory at offset {offset:#x} failed: {error}"
            ),
        }
    }
}

impl std::error::Error for MapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Mmap { error, .. } => Some(error),
            Self::ZeroSize | Self::TooLarge { .. } => None,
        }
    }
}

/// Why an access was refused; every variant names the numbers involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemoryAccessError {
    OutOfBounds { offset: u64, len: u64, size: u64 },
    Misaligned { offset: u64 },
}

impl fmt::Display for MemoryAccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfBounds { offset, len, size } => write!(
                f,
                "access of {len} bytes at offset {offset} lies outside the {size}-byte shared memory"
            ),
            Self::Misaligned { offset } => {
                write!(f, "a 32-bit access at offset {offset} is not 4-byte aligned")
            }
        }
    }
}

impl std::error::Error for MemoryAccessError {}

/// The length to map for `size` bytes, if a mapping of that size can exist here: not empty and
/// within the address space. [`SharedMemory::map`] checks this itself; it is public so that a
/// caller can refuse a size before creating the file it would map.
pub fn mappable_len(size: u64) -> Result<usize, MapError> {
    if size == 0 {
        return Err(MapError::ZeroSize);
    }
    usize::try_from(size)
        .ok()
        .filter(|&len| len <= isize::MAX as usize)
        .ok_or(MapError::TooLarge { size })
}

/// A window into a read-write shared mapping. Cloning is cheap and keeps the mapping alive, so a
/// ring or a reply stream stays memory-safe even after the resource behind it is destroyed; the
/// mapping is unmapped when the last window goes.
#[derive(Clone)]
pub struct SharedMemory {
    mapping: Arc<MmapRaw>,
    start: usize,
    len: usize,
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("start", &self.start)
            .field("len", &self.len)
            .finish()
    }
}

impl SharedMemory {
    /// Maps `size` bytes of `fd` from `offset`, read-write and shared. `offset` must be page-aligned
    /// as `mmap` demands (DRM fake offsets and 0 are). Mapping a file shorter than `offset + size`
    /// succeeds, but touching the missing pages raises SIGBUS: check the file's size first where the
    /// file comes from someone else.
    pub fn map(fd: BorrowedFd<'_>, offset: u64, size: u64) -> Result<SharedMemory, MapError> {
        let len = mappable_len(size)?;
        let mapping = MmapOptions::new()
            .offset(offset)
            .len(len)
            .map_raw(&fd)
            .map_err(|error| MapError::Mmap {
                offset,
                size,
                error,
            })?;
        Ok(SharedMemory {
            mapping: Arc::new(mapping),
            start: 0,
            len,
        })
    }

    /// The window's size in bytes.
    pub fn size(&self) -> u64 {
        self.len as u64
    }

    /// The sub-window `[offset, offset + len)`.
    pub fn window(&self, offset: u64, len: u64) -> Result<SharedMemory, MemoryAccessError> {
        let start = self.checked_range(offset, len)?;
        Ok(SharedMemory {
            mapping: Arc::clone(&self.mapping),
            start: self.start + start,
            len: len as usize,
        })
    }

    /// Whether both windows view the same mapping (to find what lives in a resource being destroyed).
    pub fn shares_mapping_with(&self, other: &SharedMemory) -> bool {
        Arc::ptr_eq(&self.mapping, &other.mapping)
    }

    /// The window's first byte, for handing the memory to a driver that imports host pointers
    /// (VK_EXT_external_memory_host). This process never reads or writes through it.
    pub fn as_mut_ptr(&self) -> *mut u8 {
        // SAFETY: start <= the mapping's length (windows are only made from checked ranges).
        unsafe { self.mapping.as_mut_ptr().add(self.start) }
    }

    /// The window-relative start of `[offset, offset + len)`, after checking that it lies inside.
    fn checked_range(&self, offset: u64, len: u64) -> Result<usize, MemoryAccessError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len as u64 => Ok(offset as usize),
            _ => Err(MemoryAccessError::OutOfBounds {
                offset,
                len,
                size: self.len as u64,
            }),
        }
    }

    /// A pointer to the 4-byte-aligned word at `offset`, after checking bounds and alignment.
    fn word_ptr(&self, offset: u64) -> Result<*mut u32, MemoryAccessError> {
        let start = self.checked_range(offset, 4)?;
        // SAFETY: [start, start + 4) lies inside this window, which lies inside the mapping.
        let ptr = unsafe { self.mapping.as_mut_ptr().add(self.start + start) };
        // The address decides, so a mapping that does not start on a page boundary is safe too.
        if !(ptr as usize).is_multiple_of(4) {
            return Err(MemoryAccessError::Misaligned { offset });
        }
        Ok(ptr.cast::<u32>())
    }

    fn atomic_at(&self, offset: u64) -> Result<&AtomicU32, MemoryAccessError> {
        let ptr = self.word_ptr(offset)?;
        // SAFETY: the word is in bounds and 4-aligned (word_ptr), and the mapping stays mapped while
        // `self.mapping` is alive (the returned reference borrows `self`). An atomic is the one kind
        // of reference that tolerates the other side writing the same word concurrently, and this
        // process touches the word only through this accessor.
        Ok(unsafe { AtomicU32::from_ptr(ptr) })
    }

    /// Reads the u32 at a 4-aligned offset with a volatile load (no ordering with other accesses).
    pub fn read_u32(&self, offset: u64) -> Result<u32, MemoryAccessError> {
        let ptr = self.word_ptr(offset)?;
        // SAFETY: in bounds and 4-aligned (word_ptr); the mapping lives as long as self.
        Ok(unsafe { ptr.read_volatile() })
    }

    /// Writes the u32 at a 4-aligned offset with a volatile store (no ordering with other accesses).
    pub fn write_u32(&self, offset: u64, value: u32) -> Result<(), MemoryAccessError> {
        let ptr = self.word_ptr(offset)?;
        // SAFETY: in bounds and 4-aligned (word_ptr); the mapping is writable and lives as long as self.
        unsafe { ptr.write_volatile(value) };
        Ok(())
    }

    /// Loads the u32 at a 4-aligned offset with acquire ordering: what the other side wrote before
    /// its release store of this word is visible after this load.
    pub fn load_acquire_u32(&self, offset: u64) -> Result<u32, MemoryAccessError> {
        Ok(self.atomic_at(offset)?.load(Ordering::Acquire))
    }

    /// A sequentially consistent load, for the places that pair with the other side's seq_cst store
    /// in a store-then-load handshake (ring IDLE vs tail).
    pub fn load_seq_cst_u32(&self, offset: u64) -> Result<u32, MemoryAccessError> {
        Ok(self.atomic_at(offset)?.load(Ordering::SeqCst))
    }

    /// Stores the u32 at a 4-aligned offset with release ordering: everything written before becomes
    /// visible to the other side once it sees this value.
    pub fn store_release_u32(&self, offset: u64, value: u32) -> Result<(), MemoryAccessError> {
        self.atomic_at(offset)?.store(value, Ordering::Release);
        Ok(())
    }

    /// Sets bits with a sequentially consistent read-modify-write; returns the previous value.
    pub fn fetch_or_u32(&self, offset: u64, bits: u32) -> Result<u32, MemoryAccessError> {
        Ok(self.atomic_at(offset)?.fetch_or(bits, Ordering::SeqCst))
    }

    /// Clears bits with a sequentially consistent read-modify-write; returns the previous value.
    pub fn fetch_and_u32(&self, offset: u64, mask: u32) -> Result<u32, MemoryAccessError> {
        Ok(self.atomic_at(offset)?.fetch_and(mask, Ordering::SeqCst))
    }

    /// Copies `dst.len()` bytes starting at `offset` out of shared memory, with volatile loads.
    pub fn read_bytes(&self, offset: u64, dst: &mut [u8]) -> Result<(), MemoryAccessError> {
        let start = self.checked_range(offset, dst.len() as u64)?;
        // SAFETY: [start, start + dst.len()) lies inside this window, which lies inside the live
        // mapping; the copy only uses volatile loads through raw pointers.
        unsafe {
            volatile_copy_out(self.mapping.as_ptr().add(self.start + start), dst);
        }
        Ok(())
    }

    /// Copies `src` into shared memory starting at `offset`, with volatile stores.
    pub fn write_bytes(&self, offset: u64, src: &[u8]) -> Result<(), MemoryAccessError> {
        let start = self.checked_range(offset, src.len() as u64)?;
        // SAFETY: as in `read_bytes`; the mapping is writable and the copy only uses volatile
        // stores through raw pointers.
        unsafe {
            volatile_copy_in(self.mapping.as_mut_ptr().add(self.start + start), src);
        }
        Ok(())
    }
}

const WORD: usize = std::mem::size_of::<u64>();

/// Volatile copy from shared memory, a word at a time where the source is word-aligned, which
/// keeps large copies (ring spans) cheap.
///
/// # Safety
/// `src` must be valid for reads of `dst.len()` bytes.
unsafe fn volatile_copy_out(src: *const u8, dst: &mut [u8]) {
    let len = dst.len();
    let head = src.align_offset(WORD).min(len);
    let mut i = 0;
    while i < head {
        // SAFETY: i < len, inside the range the caller guarantees.
        dst[i] = unsafe { src.add(i).read_volatile() };
        i += 1;
    }
    while i + WORD <= len {
        // SAFETY: `src + i` is word-aligned (past the unaligned head) and the word lies inside
        // the caller's range.
        let word = unsafe { src.add(i).cast::<u64>().read_volatile() };
        dst[i..i + WORD].copy_from_slice(&word.to_ne_bytes());
        i += WORD;
    }
    while i < len {
        // SAFETY: i < len.
        dst[i] = unsafe { src.add(i).read_volatile() };
        i += 1;
    }
}

/// Volatile copy into shared memory, a word at a time where the destination is word-aligned.
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` bytes.
unsafe fn volatile_copy_in(dst: *mut u8, src: &[u8]) {
    let len = src.len();
    let head = dst.align_offset(WORD).min(len);
    let mut i = 0;
    while i < head {
        // SAFETY: i < len, inside the range the caller guarantees.
        unsafe { dst.add(i).write_volatile(src[i]) };
        i += 1;
    }
    while i + WORD <= len {
        let mut word = [0u8; WORD];
        word.copy_from_slice(&src[i..i + WORD]);
        // SAFETY: `dst + i` is word-aligned and the word lies inside the caller's range.
        unsafe {
            dst.add(i)
                .cast::<u64>()
                .write_volatile(u64::from_ne_bytes(word))
        };
        i += WORD;
    }
    while i < len {
        // SAFETY: i < len.
        unsafe { dst.add(i).write_volatile(src[i]) };
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{ftruncate, memfd_create, MemfdFlags};
    use std::os::fd::{AsFd, OwnedFd};

    fn memfd_memory(size: u64) -> (OwnedFd, SharedMemory) {
        let fd = memfd_create("shared-memory-test", MemfdFlags::CLOEXEC).unwrap();
        ftruncate(&fd, size).unwrap();
        let memory = SharedMemory::map(fd.as_fd(), 0, size).unwrap();
        (fd, memory)
    }

    #[test]
    fn words_and_bytes_written_through_one_mapping_are_seen_through_another() {
        let (fd, writer) = memfd_memory(16384);
        let reader = SharedMemory::map(fd.as_fd(), 0, 16384).unwrap();
        assert!(!reader.shares_mapping_with(&writer));
        writer.write_u32(64, 0xdead_beef).unwrap();
        writer.store_release_u32(128, 7).unwrap();
        assert_eq!(reader.read_u32(64).unwrap(), 0xdead_beef);
        assert_eq!(reader.load_acquire_u32(128).unwrap(), 7);
        assert_eq!(reader.read_u32(0).unwrap(), 0);
        let pattern: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        // An odd offset crossing a page exercises the unaligned head and tail of the word-wise copies.
        writer.write_bytes(4093, &pattern).unwrap();
        let mut back = vec![0u8; pattern.len()];
        reader.read_bytes(4093, &mut back).unwrap();
        assert_eq!(back, pattern);
    }

    #[test]
    fn a_mapping_at_an_offset_sees_the_file_from_there() {
        let (fd, whole) = memfd_memory(8192);
        whole.write_u32(4096 + 8, 0x1234_5678).unwrap();
        let second_page = SharedMemory::map(fd.as_fd(), 4096, 4096).unwrap();
        assert_eq!(second_page.size(), 4096);
        assert_eq!(second_page.read_u32(8).unwrap(), 0x1234_5678);
    }

    #[test]
    fn byte_copies_of_any_alignment_and_length_round_trip() {
        let (_fd, memory) = memfd_memory(4096);
        let pattern: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for offset in [0u64, 1, 3, 8, 13, 4096 - 200] {
            for len in [0usize, 1, 7, 8, 9, 31, 200] {
                memory.write_bytes(offset, &pattern[..len]).unwrap();
                let mut back = vec![0u8; len];
                memory.read_bytes(offset, &mut back).unwrap();
                assert_eq!(back, pattern[..len], "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn words_and_bytes_agree_on_little_endian_order() {
        let (_fd, memory) = memfd_memory(4096);
        memory.write_u32(4, 0x0403_0201).unwrap();
        let mut bytes = [0u8; 4];
        memory.read_bytes(4, &mut bytes).unwrap();
        assert_eq!(bytes, [1, 2, 3, 4]);
    }

    #[test]
    fn accesses_are_bounds_checked_without_overflow() {
        let (_fd, memory) = memfd_memory(4096);
        assert_eq!(
            memory.read_u32(4096),
            Err(MemoryAccessError::OutOfBounds {
                offset: 4096,
                len: 4,
                size: 4096
            })
        );
        assert!(memory.write_u32(4094, 1).is_err());
        assert!(memory.load_acquire_u32(4096).is_err());
        assert!(memory.load_acquire_u32(u64::MAX - 1).is_err());
        let mut byte = [0u8; 1];
        assert!(memory.read_bytes(4096, &mut byte).is_err());
        assert!(memory.read_bytes(4095, &mut [0u8; 2]).is_err());
        assert!(memory.read_bytes(u64::MAX, &mut byte).is_err());
        assert!(memory.write_bytes(4000, &[0u8; 97]).is_err());
        assert!(memory.write_bytes(u64::MAX - 1, &[0u8; 4]).is_err());
        assert!(memory.window(4000, 97).is_err());
        assert!(memory.window(u64::MAX, 2).is_err());
        memory.read_bytes(4095, &mut byte).unwrap();
        memory.read_bytes(4096, &mut []).unwrap();
    }

    #[test]
    fn word_accesses_at_unaligned_offsets_are_refused() {
        let (_fd, memory) = memfd_memory(4096);
        assert_eq!(
            memory.read_u32(2),
            Err(MemoryAccessError::Misaligned { offset: 2 })
        );
        assert!(memory.store_release_u32(6, 1).is_err());
        assert!(memory.load_acquire_u32(1).is_err());
        assert!(memory.write_u32(3, 1).is_err());
        assert!(memory.fetch_or_u32(5, 1).is_err());
        let odd_window = memory.window(1, 64).unwrap();
        assert!(odd_window.load_acquire_u32(0).is_err());
        assert!(odd_window.load_acquire_u32(3).is_ok());
    }

    #[test]
    fn atomics_work_inside_windows() {
        let (_fd, memory) = memfd_memory(4096);
        let window = memory.window(128, 64).unwrap();
        assert_eq!(window.size(), 64);
        window.store_release_u32(4, 0xdead_beef).unwrap();
        assert_eq!(memory.load_acquire_u32(132).unwrap(), 0xdead_beef);
        assert_eq!(window.fetch_or_u32(0, 0x5).unwrap(), 0);
        assert_eq!(window.fetch_and_u32(0, !0x1).unwrap(), 0x5);
        assert_eq!(window.load_seq_cst_u32(0).unwrap(), 0x4);
        assert!(window.load_acquire_u32(64).is_err());
        assert!(window.shares_mapping_with(&memory));
        assert_eq!(window.as_mut_ptr(), memory.as_mut_ptr().wrapping_add(128));
    }

    #[test]
    fn a_window_keeps_the_mapping_alive() {
        let (_fd, memory) = memfd_memory(4096);
        let window = memory.window(0, 16).unwrap();
        drop(memory);
        window.store_release_u32(0, 9).unwrap();
        assert_eq!(window.load_acquire_u32(0).unwrap(), 9);
    }

    #[test]
    fn sizes_that_cannot_be_mapped_are_refused() {
        let fd = memfd_create("shared-memory-test", MemfdFlags::CLOEXEC).unwrap();
        assert!(matches!(
            SharedMemory::map(fd.as_fd(), 0, 0),
            Err(MapError::ZeroSize)
        ));
        assert!(matches!(
            mappable_len(u64::MAX),
            Err(MapError::TooLarge { size: u64::MAX })
        ));
        assert_eq!(mappable_len(4096).unwrap(), 4096);
    }
}
