//! Shared memory files the host hands out or takes in: a fresh memfd for a blob with blob_id 0, or
//! a shm file received from elsewhere, kept open and mapped. Every access to the mapping goes
//! through [`venus_rs_shmem::SharedMemory`].

use std::fmt;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{MemfdFlags, SealFlags};
use venus_rs_shmem::{mappable_len, MapError, SharedMemory};

/// What went wrong with a shared memory file; every variant names the numbers involved.
#[derive(Debug)]
pub enum ShmFileError {
    Create(std::io::Error),
    FileTooSmall { file_size: u64, wanted: u64 },
    Map(MapError),
}

impl fmt::Display for ShmFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create(error) => write!(f, "creating a memfd failed: {error}"),
            Self::FileTooSmall { file_size, wanted } => write!(
                f,
                "the shared memory file holds {file_size} bytes but {wanted} bytes were to be mapped"
            ),
            Self::Map(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ShmFileError {}

/// A memfd (or an imported shm file) mapped read-write and shared.
pub struct ShmFile {
    file: File,
    memory: SharedMemory,
}

impl ShmFile {
    /// A fresh zero-filled memfd of `size` bytes: the host side of a blob with blob_id 0.
    ///
    /// The file allows sealing (virglrenderer's proxy adds its own seals to SHM blobs) and is
    /// sealed against shrinking here, because a client that truncated the file it was given
    /// would otherwise turn the host's next access into SIGBUS.
    pub fn create_zeroed(name: &str, size: u64) -> Result<Self, ShmFileError> {
        mappable_len(size).map_err(ShmFileError::Map)?;
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
            .map_err(|e| ShmFileError::Create(e.into()))?;
        rustix::fs::ftruncate(&fd, size).map_err(|e| ShmFileError::Create(e.into()))?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW)
            .map_err(|e| ShmFileError::Create(e.into()))?;
        Self::map(File::from(fd), size)
    }

    /// Maps `size` bytes of a shm file received from elsewhere (the VMM's timeline memory, an
    /// imported SHM resource), after checking that the file really holds that many bytes.
    pub fn import(fd: OwnedFd, size: u64) -> Result<Self, ShmFileError> {
        mappable_len(size).map_err(ShmFileError::Map)?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| ShmFileError::Create(e.into()))?;
        let file_size = u64::try_from(stat.st_size).unwrap_or(0);
        if file_size < size {
            return Err(ShmFileError::FileTooSmall {
                file_size,
                wanted: size,
            });
        }
        Self::map(File::from(fd), size)
    }

    fn map(file: File, size: u64) -> Result<Self, ShmFileError> {
        let memory = SharedMemory::map(file.as_fd(), 0, size).map_err(ShmFileError::Map)?;
        Ok(Self { file, memory })
    }

    pub fn size(&self) -> u64 {
        self.memory.size()
    }

    pub fn memory(&self) -> &SharedMemory {
        &self.memory
    }

    /// The start of the mapping, for importing it into the Vulkan driver
    /// (VK_EXT_external_memory_host). Host code never reads through it.
    pub fn host_pointer(&self) -> *mut u8 {
        self.memory.as_mut_ptr()
    }

    /// A new descriptor for the same file, to hand to a client or the VMM.
    pub fn duplicate_fd(&self) -> std::io::Result<OwnedFd> {
        Ok(rustix::io::fcntl_dupfd_cloexec(&self.file, 0)?)
    }
}

impl AsFd for ShmFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_memfd_is_zero_filled_and_sized() {
        let shm = ShmFile::create_zeroed("test", 135168).unwrap();
        assert_eq!(shm.size(), 135168);
        let stat = rustix::fs::fstat(&shm).unwrap();
        assert_eq!(stat.st_size, 135168);
        let mut bytes = vec![0xffu8; 135168];
        shm.memory().read_bytes(0, &mut bytes).unwrap();
        assert!(bytes.iter().all(|&b| b == 0));
    }

    #[test]
    fn sizes_that_cannot_be_mapped_are_refused_before_creating_a_file() {
        assert!(matches!(
            ShmFile::create_zeroed("test", 0),
            Err(ShmFileError::Map(MapError::ZeroSize))
        ));
        assert!(matches!(
            ShmFile::create_zeroed("test", u64::MAX),
            Err(ShmFileError::Map(MapError::TooLarge { .. }))
        ));
    }

    #[test]
    fn memfd_cannot_be_shrunk_by_whoever_receives_it() {
        let shm = ShmFile::create_zeroed("test", 4096).unwrap();
        let fd = shm.duplicate_fd().unwrap();
        assert!(rustix::fs::ftruncate(&fd, 0).is_err());
        // virglrenderer's proxy adds these seals itself; that must keep working.
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW)
            .unwrap();
    }

    #[test]
    fn an_imported_file_shares_the_memory_of_its_creator() {
        let shm = ShmFile::create_zeroed("test", 8192).unwrap();
        let other = ShmFile::import(shm.duplicate_fd().unwrap(), 8192).unwrap();
        shm.memory().write_bytes(4093, b"venus-rs").unwrap();
        let mut back = [0u8; 8];
        other.memory().read_bytes(4093, &mut back).unwrap();
        assert_eq!(&back, b"venus-rs");
        assert_eq!(other.host_pointer(), other.memory().as_mut_ptr());
    }

    #[test]
    fn import_refuses_a_file_shorter_than_asked() {
        let shm = ShmFile::create_zeroed("test", 256).unwrap();
        assert!(matches!(
            ShmFile::import(shm.duplicate_fd().unwrap(), 4096),
            Err(ShmFileError::FileTooSmall {
                file_size: 256,
                wanted: 4096
            })
        ));
    }
}
