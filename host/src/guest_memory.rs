//! Memory shared with the guest (and the VMM).
//!
//! The guest may write any byte of a shared mapping at any moment, so the host never forms a
//! Rust reference to plain data in it: every access goes through [`GuestMemory`], which checks
//! bounds with overflow-checked arithmetic and reads or writes with volatile or atomic
//! operations on raw pointers.

use std::fmt;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::{MemfdFlags, SealFlags};

/// What went wrong with shared memory; every variant names the numbers involved.
#[derive(Debug)]
pub enum MemoryError {
    ZeroSize,
    TooLarge { size: u64 },
    Create(std::io::Error),
    Map { size: u64, error: std::io::Error },
    FileTooSmall { file_size: u64, wanted: u64 },
    OutOfBounds { offset: u64, len: u64, size: u64 },
    Misaligned { offset: u64 },
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroSize => write!(f, "a shared memory size of 0 bytes is not allowed"),
            Self::TooLarge { size } => {
                write!(f, "a shared memory size of {size} bytes does not fit this host's address space")
            }
            Self::Create(error) => write!(f, "creating a memfd failed: {error}"),
            Self::Map { size, error } => write!(f, "mapping {size} bytes of shared memory failed: {error}"),
            Self::FileTooSmall { file_size, wanted } => write!(
                f,
                "the shared memory file holds {file_size} bytes but {wanted} bytes were to be mapped"
            ),
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

impl std::error::Error for MemoryError {}

/// A memfd (or an imported shm file) mapped read-write and shared.
pub struct SharedMemory {
    file: File,
    memory: GuestMemory,
}

impl SharedMemory {
    /// A fresh zero-filled memfd of `size` bytes: the host side of a blob with blob_id 0.
    ///
    /// The file allows sealing (virglrenderer's proxy adds its own seals to SHM blobs) and is
    /// sealed against shrinking here, because a client that truncated the file it was given
    /// would otherwise turn the host's next access into SIGBUS.
    pub fn create_zeroed(name: &str, size: u64) -> Result<Self, MemoryError> {
        let len = checked_len(size)?;
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
            .map_err(|e| MemoryError::Create(e.into()))?;
        rustix::fs::ftruncate(&fd, size).map_err(|e| MemoryError::Create(e.into()))?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW)
            .map_err(|e| MemoryError::Create(e.into()))?;
        Self::map(File::from(fd), len)
    }

    /// Maps `size` bytes of a shm file received from elsewhere (the VMM's timeline memory, an
    /// imported SHM resource), after checking that the file really holds that many bytes.
    pub fn import(fd: OwnedFd, size: u64) -> Result<Self, MemoryError> {
        let len = checked_len(size)?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| MemoryError::Create(e.into()))?;
        let file_size = u64::try_from(stat.st_size).unwrap_or(0);
        if file_size < size {
            return Err(MemoryError::FileTooSmall {
                file_size,
                wanted: size,
            });
        }
        Self::map(File::from(fd), len)
    }

    fn map(file: File, len: usize) -> Result<Self, MemoryError> {
        let mapping = MmapOptions::new()
            .len(len)
            .map_raw(&file)
            .map_err(|error| MemoryError::Map {
                size: len as u64,
                error,
            })?;
        Ok(Self {
            file,
            memory: GuestMemory {
                mapping: Arc::new(mapping),
                start: 0,
                len,
            },
        })
    }

    pub fn size(&self) -> u64 {
        self.memory.len() as u64
    }

    pub fn memory(&self) -> &GuestMemory {
        &self.memory
    }

    /// The start of the mapping, for importing it into the Vulkan driver
    /// (VK_EXT_external_memory_host). Host code never reads through it.
    pub fn host_pointer(&self) -> *mut u8 {
        self.memory.mapping.as_mut_ptr()
    }

    /// A new descriptor for the same file, to hand to a client or the VMM.
    pub fn duplicate_fd(&self) -> std::io::Result<OwnedFd> {
        Ok(rustix::io::fcntl_dupfd_cloexec(&self.file, 0)?)
    }
}

impl AsFd for SharedMemory {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

fn checked_len(size: u64) -> Result<usize, MemoryError> {
    if size == 0 {
        return Err(MemoryError::ZeroSize);
    }
    usize::try_from(size)
        .ok()
        .filter(|&len| len <= isize::MAX as usize)
        .ok_or(MemoryError::TooLarge { size })
}

/// A window into a shared mapping. Cloning is cheap and keeps the mapping alive, so a ring or
/// a reply stream stays memory-safe even after the guest destroys the resource behind it.
#[derive(Clone)]
pub struct GuestMemory {
    mapping: Arc<MmapRaw>,
    start: usize,
    len: usize,
}

impl fmt::Debug for GuestMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestMemory")
            .field("start", &self.start)
            .field("len", &self.len)
            .finish()
    }
}

impl GuestMemory {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sub-window `[offset, offset + len)`.
    pub fn window(&self, offset: u64, len: u64) -> Result<GuestMemory, MemoryError> {
        let start = self.checked_range(offset, len)?;
        Ok(GuestMemory {
            mapping: Arc::clone(&self.mapping),
            start: self.start + start,
            len: len as usize,
        })
    }

    /// Whether both windows view the same mapping (used to find rings on a dying resource).
    pub fn shares_mapping_with(&self, other: &GuestMemory) -> bool {
        Arc::ptr_eq(&self.mapping, &other.mapping)
    }

    /// Start offset inside this window, after checking `[offset, offset + len)` lies inside.
    fn checked_range(&self, offset: u64, len: u64) -> Result<usize, MemoryError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len as u64 => Ok(offset as usize),
            _ => Err(MemoryError::OutOfBounds {
                offset,
                len,
                size: self.len as u64,
            }),
        }
    }

    fn atomic_at(&self, offset: u64) -> Result<&AtomicU32, MemoryError> {
        if !offset.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { offset });
        }
        let start = self.checked_range(offset, 4)?;
        // SAFETY: the range was checked to lie inside the mapping, which stays mapped while
        // `self.mapping` is alive (the returned reference borrows `self`). The mapping is
        // page-aligned and `self.start` and `offset` are multiples of 4, so the pointer is
        // aligned for u32. An atomic is the one kind of reference that tolerates the guest
        // writing the same word concurrently; all accesses through it are atomic.
        Ok(unsafe {
            AtomicU32::from_ptr(
                self.mapping
                    .as_mut_ptr()
                    .add(self.start + start)
                    .cast::<u32>(),
            )
        })
    }

    pub fn load_u32_acquire(&self, offset: u64) -> Result<u32, MemoryError> {
        Ok(self.atomic_at(offset)?.load(Ordering::Acquire))
    }

    /// A sequentially consistent load, for the places that pair with a guest's seq_cst store
    /// on the other side of a store-then-load handshake (ring IDLE vs tail).
    pub fn load_u32_seq_cst(&self, offset: u64) -> Result<u32, MemoryError> {
        Ok(self.atomic_at(offset)?.load(Ordering::SeqCst))
    }

    pub fn store_u32_release(&self, offset: u64, value: u32) -> Result<(), MemoryError> {
        self.atomic_at(offset)?.store(value, Ordering::Release);
        Ok(())
    }

    /// Sets bits with a sequentially consistent read-modify-write; returns the previous value.
    pub fn fetch_or_u32(&self, offset: u64, bits: u32) -> Result<u32, MemoryError> {
        Ok(self.atomic_at(offset)?.fetch_or(bits, Ordering::SeqCst))
    }

    /// Clears bits with a sequentially consistent read-modify-write; returns the previous value.
    pub fn fetch_and_u32(&self, offset: u64, mask: u32) -> Result<u32, MemoryError> {
        Ok(self.atomic_at(offset)?.fetch_and(mask, Ordering::SeqCst))
    }

    /// Copies `dst.len()` bytes starting at `offset` out of shared memory.
    pub fn read_bytes(&self, offset: u64, dst: &mut [u8]) -> Result<(), MemoryError> {
        let start = self.checked_range(offset, dst.len() as u64)?;
        // SAFETY: `[start, start + dst.len())` lies inside this window, which lies inside the
        // live mapping; the copy only uses volatile loads through raw pointers.
        unsafe {
            volatile_copy_out(self.mapping.as_ptr().add(self.start + start), dst);
        }
        Ok(())
    }

    /// Copies `src` into shared memory starting at `offset`.
    pub fn write_bytes(&self, offset: u64, src: &[u8]) -> Result<(), MemoryError> {
        let start = self.checked_range(offset, src.len() as u64)?;
        // SAFETY: as in `read_bytes`; the copy only uses volatile stores through raw pointers.
        unsafe {
            volatile_copy_in(self.mapping.as_mut_ptr().add(self.start + start), src);
        }
        Ok(())
    }
}

const WORD: usize = std::mem::size_of::<u64>();

/// Volatile copy from shared memory, a word at a time where the source is word-aligned.
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

    #[test]
    fn fresh_memfd_is_zero_filled_and_sized() {
        let shm = SharedMemory::create_zeroed("test", 135168).unwrap();
        assert_eq!(shm.size(), 135168);
        let stat = rustix::fs::fstat(&shm).unwrap();
        assert_eq!(stat.st_size, 135168);
        let mut bytes = vec![0xffu8; 135168];
        shm.memory().read_bytes(0, &mut bytes).unwrap();
        assert!(bytes.iter().all(|&b| b == 0));
    }

    #[test]
    fn zero_size_is_refused() {
        assert!(matches!(
            SharedMemory::create_zeroed("test", 0),
            Err(MemoryError::ZeroSize)
        ));
    }

    #[test]
    fn memfd_cannot_be_shrunk_by_whoever_receives_it() {
        let shm = SharedMemory::create_zeroed("test", 4096).unwrap();
        let fd = shm.duplicate_fd().unwrap();
        assert!(rustix::fs::ftruncate(&fd, 0).is_err());
        // virglrenderer's proxy adds these seals itself; that must keep working.
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW)
            .unwrap();
    }

    #[test]
    fn bytes_written_through_one_mapping_are_seen_through_another() {
        let shm = SharedMemory::create_zeroed("test", 8192).unwrap();
        let other = SharedMemory::import(shm.duplicate_fd().unwrap(), 8192).unwrap();
        let pattern: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        // Odd offsets exercise the unaligned head and tail of the word-wise copies.
        shm.memory().write_bytes(4093, &pattern).unwrap();
        let mut back = vec![0u8; pattern.len()];
        other.memory().read_bytes(4093, &mut back).unwrap();
        assert_eq!(back, pattern);
    }

    #[test]
    fn accesses_are_bounds_checked_without_overflow() {
        let shm = SharedMemory::create_zeroed("test", 4096).unwrap();
        let memory = shm.memory();
        let mut byte = [0u8; 1];
        assert!(memory.read_bytes(4096, &mut byte).is_err());
        assert!(memory.read_bytes(4095, &mut [0u8; 2]).is_err());
        assert!(memory.read_bytes(u64::MAX, &mut byte).is_err());
        assert!(memory.write_bytes(u64::MAX - 1, &[0u8; 4]).is_err());
        assert!(memory.load_u32_acquire(4096).is_err());
        assert!(memory.load_u32_acquire(4094).is_err());
        assert!(matches!(
            memory.load_u32_acquire(2),
            Err(MemoryError::Misaligned { offset: 2 })
        ));
        assert!(memory.window(4000, 97).is_err());
        assert!(memory.window(u64::MAX, 2).is_err());
        memory.read_bytes(4095, &mut byte).unwrap();
        memory.read_bytes(4096, &mut []).unwrap();
    }

    #[test]
    fn atomics_work_inside_windows() {
        let shm = SharedMemory::create_zeroed("test", 4096).unwrap();
        let window = shm.memory().window(128, 64).unwrap();
        window.store_u32_release(4, 0xdead_beef).unwrap();
        assert_eq!(shm.memory().load_u32_acquire(132).unwrap(), 0xdead_beef);
        assert_eq!(window.fetch_or_u32(0, 0x5).unwrap(), 0);
        assert_eq!(window.fetch_and_u32(0, !0x1).unwrap(), 0x5);
        assert_eq!(window.load_u32_seq_cst(0).unwrap(), 0x4);
        assert!(window.load_u32_acquire(64).is_err());
        assert!(window.shares_mapping_with(shm.memory()));
    }

    #[test]
    fn import_refuses_a_file_shorter_than_asked() {
        let shm = SharedMemory::create_zeroed("test", 256).unwrap();
        assert!(matches!(
            SharedMemory::import(shm.duplicate_fd().unwrap(), 4096),
            Err(MemoryError::FileTooSmall {
                file_size: 256,
                wanted: 4096
            })
        ));
    }
}
