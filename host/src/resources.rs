//! The per-context resource table: virtio-gpu resource id → backing file, size and kind.

use std::collections::HashMap;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::limits::{CapExceeded, Charge};
use crate::shm_file::{ShmFile, ShmFileError};
use venus_rs_shmem::SharedMemory;

/// How a resource's file can be used; the numbers are virglrenderer's
/// `enum virgl_resource_fd_type`, which the render-server protocol carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Dmabuf,
    Opaque,
    /// mmap()-able shared memory (a memfd); the only kind rings and streams may live in.
    Shm,
}

impl ResourceKind {
    pub fn from_fd_type(fd_type: i32) -> Option<Self> {
        match fd_type {
            0 => Some(Self::Dmabuf),
            1 => Some(Self::Opaque),
            2 => Some(Self::Shm),
            _ => None,
        }
    }

    pub fn fd_type(self) -> i32 {
        match self {
            Self::Dmabuf => 0,
            Self::Opaque => 1,
            Self::Shm => 2,
        }
    }
}

enum Backing {
    Mapped(ShmFile),
    /// Kept for the decoder to import into the driver later.
    Unmapped(OwnedFd),
}

pub struct Resource {
    kind: ResourceKind,
    size: u64,
    backing: Backing,
    /// The resource's part of the context's blob caps.
    charges: Vec<Charge>,
}

impl Resource {
    pub fn shm(memory: ShmFile) -> Self {
        Self {
            kind: ResourceKind::Shm,
            size: memory.size(),
            backing: Backing::Mapped(memory),
            charges: Vec::new(),
        }
    }

    /// A dma-buf or opaque-fd resource, kept unmapped.
    pub fn external(kind: ResourceKind, fd: OwnedFd, size: u64) -> Self {
        Self {
            kind,
            size,
            backing: Backing::Unmapped(fd),
            charges: Vec::new(),
        }
    }

    /// The resource holding `charges` for as long as it lives.
    pub fn charged(mut self, charges: Vec<Charge>) -> Self {
        self.charges.extend(charges);
        self
    }

    pub fn kind(&self) -> ResourceKind {
        self.kind
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn memory(&self) -> Option<&SharedMemory> {
        match &self.backing {
            Backing::Mapped(shm) => Some(shm.memory()),
            Backing::Unmapped(_) => None,
        }
    }

    /// The resource's file, e.g. for importing a dma-buf or opaque fd into the driver.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.backing {
            Backing::Mapped(shm) => shm.as_fd(),
            Backing::Unmapped(fd) => fd.as_fd(),
        }
    }
}

#[derive(Debug)]
pub enum ResourceError {
    ZeroId,
    IdInUse { res_id: u32 },
    Unknown { res_id: u32 },
    NotShm { res_id: u32, kind: ResourceKind },
    Memory { res_id: u32, error: ShmFileError },
    Cap { res_id: u32, error: CapExceeded },
}

impl fmt::Display for ResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroId => f.write_str("resource id 0 is not a valid virtio-gpu resource id"),
            Self::IdInUse { res_id } => write!(f, "resource id {res_id} is already in use"),
            Self::Unknown { res_id } => write!(f, "no resource with id {res_id} in this context"),
            Self::NotShm { res_id, kind } => write!(
                f,
                "resource {res_id} is {kind:?}, but only SHM (blob_id 0) resources can hold rings \
                 and command or reply streams"
            ),
            Self::Memory { res_id, error } => write!(f, "resource {res_id}: {error}"),
            Self::Cap { res_id, error } => write!(f, "resource {res_id}: {error}"),
        }
    }
}

impl std::error::Error for ResourceError {}

#[derive(Default)]
pub struct ResourceTable {
    resources: HashMap<u32, Resource>,
}

impl ResourceTable {
    pub fn insert(&mut self, res_id: u32, resource: Resource) -> Result<(), ResourceError> {
        if res_id == 0 {
            return Err(ResourceError::ZeroId);
        }
        if self.resources.contains_key(&res_id) {
            return Err(ResourceError::IdInUse { res_id });
        }
        self.resources.insert(res_id, resource);
        Ok(())
    }

    pub fn contains(&self, res_id: u32) -> bool {
        self.resources.contains_key(&res_id)
    }

    pub fn get(&self, res_id: u32) -> Option<&Resource> {
        self.resources.get(&res_id)
    }

    pub fn remove(&mut self, res_id: u32) -> Option<Resource> {
        self.resources.remove(&res_id)
    }

    /// The mapping of an SHM resource; anything else is an error.
    pub fn shm_memory(&self, res_id: u32) -> Result<SharedMemory, ResourceError> {
        let resource = self
            .resources
            .get(&res_id)
            .ok_or(ResourceError::Unknown { res_id })?;
        resource
            .memory()
            .filter(|_| resource.kind == ResourceKind::Shm)
            .cloned()
            .ok_or(ResourceError::NotShm {
                res_id,
                kind: resource.kind,
            })
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// Keeps only the resources whose id `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        self.resources.retain(|&res_id, _| keep(res_id));
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_non_zero() {
        let mut table = ResourceTable::default();
        let shm = || Resource::shm(ShmFile::create_zeroed("t", 4096).unwrap());
        assert!(matches!(table.insert(0, shm()), Err(ResourceError::ZeroId)));
        table.insert(1, shm()).unwrap();
        assert!(matches!(
            table.insert(1, shm()),
            Err(ResourceError::IdInUse { res_id: 1 })
        ));
        assert_eq!(table.len(), 1);
        assert_eq!(table.get(1).unwrap().size(), 4096);
        assert!(table.remove(1).is_some());
        assert!(table.is_empty());
    }

    #[test]
    fn only_shm_resources_give_memory() {
        let mut table = ResourceTable::default();
        table
            .insert(1, Resource::shm(ShmFile::create_zeroed("t", 4096).unwrap()))
            .unwrap();
        let fd = ShmFile::create_zeroed("t", 4096)
            .unwrap()
            .duplicate_fd()
            .unwrap();
        table
            .insert(2, Resource::external(ResourceKind::Opaque, fd, 4096))
            .unwrap();
        assert_eq!(table.shm_memory(1).unwrap().size(), 4096);
        assert!(matches!(
            table.shm_memory(2),
            Err(ResourceError::NotShm {
                res_id: 2,
                kind: ResourceKind::Opaque
            })
        ));
        let stat = rustix::fs::fstat(table.get(2).unwrap().fd()).unwrap();
        assert_eq!(stat.st_size, 4096);
        assert!(matches!(
            table.shm_memory(3),
            Err(ResourceError::Unknown { res_id: 3 })
        ));
    }

    #[test]
    fn fd_types_round_trip() {
        for kind in [
            ResourceKind::Dmabuf,
            ResourceKind::Opaque,
            ResourceKind::Shm,
        ] {
            assert_eq!(ResourceKind::from_fd_type(kind.fd_type()), Some(kind));
        }
        assert_eq!(ResourceKind::from_fd_type(3), None);
        assert_eq!(ResourceKind::from_fd_type(-1), None);
    }
}
