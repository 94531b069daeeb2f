//! Anonymous shared memory (memfd) mapped into this process, whose fd is handed to a display server
//! (MIT-SHM AttachFd, wl_shm create_pool) so it reads pixels straight from our mapping.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};

pub struct SharedMemory {
    file: File,
    map: memmap2::MmapMut,
}

impl SharedMemory {
    pub fn new(name: &str, size: usize) -> std::io::Result<SharedMemory> {
        let fd = rustix::fs::memfd_create(name, rustix::fs::MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, size as u64)?;
        let file = File::from(fd);
        // SAFETY: the memfd is private to this process until its fd is handed to the display server,
        // which only reads it; nothing truncates it while mapped.
        let map = unsafe { memmap2::MmapMut::map_mut(&file) }?;
        Ok(SharedMemory { file, map })
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
