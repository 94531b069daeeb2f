//! Memory shared with the other side (a blob mapping, a memfd): the only way this project touches it.
//!
//! The other side may write any byte at any time, so no Rust reference to this memory is ever made.
//! Every access is bounds-checked against the mapping and is a volatile or atomic operation on a raw
//! pointer. Values are in the machine's byte order, which is little-endian on every target venus-rs
//! supports (the Venus wire format is little-endian).

#[cfg(target_endian = "big")]
compile_error!(
    "venus-rs speaks the little-endian Venus wire format and supports little-endian targets only"
);

use std::fmt;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, Ordering};

use memmap2::{MmapOptions, MmapRaw};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemoryAccessError {
    OutOfBounds {
        offset: usize,
        len: usize,
        size: usize,
    },
    Misaligned {
        offset: usize,
        align: usize,
    },
}

impl fmt::Display for MemoryAccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryAccessError::OutOfBounds { offset, len, size } => write!(
                f,
                "access of {len} bytes at offset {offset} is outside the {size}-byte shared memory"
            ),
            MemoryAccessError::Misaligned { offset, align } => {
                write!(f, "offset {offset} is not {align}-byte aligned")
            }
        }
    }
}

impl std::error::Error for MemoryAccessError {}

/// A shared mapping, accessed only through bounds-checked volatile and atomic operations.
/// Unmapped when dropped.
pub struct SharedMemory {
    map: MmapRaw,
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("size", &self.size())
            .finish()
    }
}

impl SharedMemory {
    /// Maps `len` bytes of `fd` from `offset` read-write and shared. `offset` must be page-aligned as
    /// `mmap` demands (DRM fake offsets and 0 are).
    pub fn map(fd: BorrowedFd<'_>, offset: u64, len: usize) -> std::io::Result<SharedMemory> {
        if len == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "cannot map 0 bytes",
            ));
        }
        let map = MmapOptions::new().offset(offset).len(len).map_raw(&fd)?;
        Ok(SharedMemory { map })
    }

    /// The mapped size in bytes.
    pub fn size(&self) -> usize {
        self.map.len()
    }

    fn checked_ptr(
        &self,
        offset: usize,
        len: usize,
        align: usize,
    ) -> Result<*mut u8, MemoryAccessError> {
        let size = self.size();
        let in_bounds = offset.checked_add(len).is_some_and(|end| end <= size);
        if !in_bounds {
            return Err(MemoryAccessError::OutOfBounds { offset, len, size });
        }
        // The mapping starts on a page boundary, so the offset alone decides the alignment.
        if !offset.is_multiple_of(align) {
            return Err(MemoryAccessError::Misaligned { offset, align });
        }
        // SAFETY: offset + len <= size was checked above, so the result stays inside the mapping.
        Ok(unsafe { self.map.as_mut_ptr().add(offset) })
    }

    /// Reads the u32 at a 4-aligned offset with a volatile load.
    pub fn read_u32(&self, offset: usize) -> Result<u32, MemoryAccessError> {
        let ptr = self.checked_ptr(offset, 4, 4)?;
        // SAFETY: in bounds and 4-aligned (checked_ptr); the mapping lives as long as self.
        Ok(unsafe { ptr.cast::<u32>().read_volatile() })
    }

    /// Writes the u32 at a 4-aligned offset with a volatile store.
    pub fn write_u32(&self, offset: usize, value: u32) -> Result<(), MemoryAccessError> {
        let ptr = self.checked_ptr(offset, 4, 4)?;
        // SAFETY: in bounds and 4-aligned (checked_ptr); the mapping is writable and lives as long as self.
        unsafe { ptr.cast::<u32>().write_volatile(value) };
        Ok(())
    }

    fn atomic_u32(&self, offset: usize) -> Result<&AtomicU32, MemoryAccessError> {
        let ptr = self.checked_ptr(offset, 4, 4)?;
        // SAFETY: in bounds, 4-aligned and valid for the lifetime of &self. The other side writes this word
        // only with atomic (or aligned word-sized) stores, and this process only through this accessor.
        Ok(unsafe { AtomicU32::from_ptr(ptr.cast::<u32>()) })
    }

    /// Loads the u32 at a 4-aligned offset with acquire ordering: what the other side wrote before its
    /// release store of this word is visible after this load.
    pub fn load_acquire_u32(&self, offset: usize) -> Result<u32, MemoryAccessError> {
        Ok(self.atomic_u32(offset)?.load(Ordering::Acquire))
    }

    /// Stores the u32 at a 4-aligned offset with release ordering: everything written before becomes
    /// visible to the other side once it sees this value.
    pub fn store_release_u32(&self, offset: usize, value: u32) -> Result<(), MemoryAccessError> {
        self.atomic_u32(offset)?.store(value, Ordering::Release);
        Ok(())
    }

    /// Copies `out.len()` bytes from `offset` into `out`, with volatile loads.
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) -> Result<(), MemoryAccessError> {
        let src = self.checked_ptr(offset, out.len(), 1)?;
        let mut done = 0;
        // Word-sized loads where the source is word-aligned keep large copies (ring spans) cheap.
        while done < out.len() {
            let remaining = out.len() - done;
            // SAFETY: src + done stays within the checked range (done < out.len()).
            let at = unsafe { src.add(done) };
            if (at as usize).is_multiple_of(8) && remaining >= 8 {
                // SAFETY: 8 bytes at an 8-aligned address inside the checked range.
                let word = unsafe { at.cast::<u64>().read_volatile() };
                out[done..done + 8].copy_from_slice(&word.to_ne_bytes());
                done += 8;
            } else {
                // SAFETY: one byte inside the checked range.
                out[done] = unsafe { at.read_volatile() };
                done += 1;
            }
        }
        Ok(())
    }

    /// Copies `bytes` to `offset`, with volatile stores.
    pub fn write_bytes(&self, offset: usize, bytes: &[u8]) -> Result<(), MemoryAccessError> {
        let dst = self.checked_ptr(offset, bytes.len(), 1)?;
        let mut done = 0;
        while done < bytes.len() {
            let remaining = bytes.len() - done;
            // SAFETY: dst + done stays within the checked range (done < bytes.len()).
            let at = unsafe { dst.add(done) };
            if (at as usize).is_multiple_of(8) && remaining >= 8 {
                let mut word = [0u8; 8];
                word.copy_from_slice(&bytes[done..done + 8]);
                // SAFETY: 8 bytes at an 8-aligned address inside the checked, writable range.
                unsafe { at.cast::<u64>().write_volatile(u64::from_ne_bytes(word)) };
                done += 8;
            } else {
                // SAFETY: one byte inside the checked, writable range.
                unsafe { at.write_volatile(bytes[done]) };
                done += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{ftruncate, memfd_create, MemfdFlags};
    use std::os::fd::AsFd;

    fn memfd_memory(len: usize) -> (std::os::fd::OwnedFd, SharedMemory) {
        let fd = memfd_create("shared-memory-test", MemfdFlags::CLOEXEC).unwrap();
        ftruncate(&fd, len as u64).unwrap();
        let memory = SharedMemory::map(fd.as_fd(), 0, len).unwrap();
        (fd, memory)
    }

    #[test]
    fn words_written_through_one_mapping_are_seen_through_another() {
        let (fd, writer) = memfd_memory(16384);
        let reader = SharedMemory::map(fd.as_fd(), 0, 16384).unwrap();
        writer.write_u32(64, 0xdead_beef).unwrap();
        writer.store_release_u32(128, 7).unwrap();
        assert_eq!(reader.read_u32(64).unwrap(), 0xdead_beef);
        assert_eq!(reader.load_acquire_u32(128).unwrap(), 7);
        assert_eq!(reader.read_u32(0).unwrap(), 0);
    }

    #[test]
    fn byte_copies_of_any_alignment_and_length_round_trip() {
        let (_fd, memory) = memfd_memory(4096);
        let pattern: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for offset in [0usize, 1, 3, 8, 13, 4096 - 200] {
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
    fn accesses_past_the_end_are_refused() {
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
        assert!(memory.load_acquire_u32(usize::MAX - 1).is_err());
        assert!(memory.write_bytes(4000, &[0u8; 97]).is_err());
        let mut out = [0u8; 2];
        assert!(memory.read_bytes(usize::MAX, &mut out).is_err());
        assert!(memory.read_bytes(4096, &mut []).is_ok());
    }

    #[test]
    fn word_accesses_at_unaligned_offsets_are_refused() {
        let (_fd, memory) = memfd_memory(4096);
        assert_eq!(
            memory.read_u32(2),
            Err(MemoryAccessError::Misaligned {
                offset: 2,
                align: 4
            })
        );
        assert!(memory.store_release_u32(6, 1).is_err());
        assert!(memory.load_acquire_u32(1).is_err());
        assert!(memory.write_u32(3, 1).is_err());
    }

    #[test]
    fn mapping_zero_bytes_is_an_error() {
        let fd = memfd_create("shared-memory-test", MemfdFlags::CLOEXEC).unwrap();
        assert!(SharedMemory::map(fd.as_fd(), 0, 0).is_err());
    }
}
