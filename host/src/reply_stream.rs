//! Where replies go: the window of an SHM resource set by vkSetReplyCommandStreamMESA, with
//! a write position moved by vkSeekReplyCommandStreamMESA. Each dispatch path (the context
//! path and every ring) has its own. Writing past the window is a FATAL error.

use crate::executor::ContextFatal;
use venus_rs_shmem::SharedMemory;

#[derive(Default)]
pub struct ReplyStream {
    window: Option<SharedMemory>,
    position: u64,
}

impl ReplyStream {
    /// vkSetReplyCommandStreamMESA: replies now go to `[offset, offset + size)` of
    /// `resource` (an SHM resource's memory), starting at its beginning.
    pub fn set(
        &mut self,
        resource: &SharedMemory,
        offset: u64,
        size: u64,
    ) -> Result<(), ContextFatal> {
        let window = resource
            .window(offset, size)
            .map_err(|e| ContextFatal::new(format!("vkSetReplyCommandStreamMESA: {e}")))?;
        self.window = Some(window);
        self.position = 0;
        Ok(())
    }

    /// vkSeekReplyCommandStreamMESA: moves the write position inside the window.
    pub fn seek(&mut self, position: u64) -> Result<(), ContextFatal> {
        let size = self.window()?.size();
        if position > size {
            return Err(ContextFatal::new(format!(
                "vkSeekReplyCommandStreamMESA to {position} is past the {size}-byte reply stream"
            )));
        }
        self.position = position;
        Ok(())
    }

    /// Whether a reply of `len` bytes fits what is left of the window (checked before the
    /// reply is built, so that a reply the guest has no room for is never allocated).
    pub fn check_room(&self, len: usize) -> Result<(), ContextFatal> {
        let window = self.window()?;
        let left = window.size().saturating_sub(self.position);
        if len as u64 > left {
            return Err(ContextFatal::new(format!(
                "a {len}-byte reply at position {} overflows the {}-byte reply stream",
                self.position,
                window.size()
            )));
        }
        Ok(())
    }

    /// Appends one reply.
    pub fn write(&mut self, reply: &[u8]) -> Result<(), ContextFatal> {
        let position = self.position;
        let window = self.window()?;
        window.write_bytes(position, reply).map_err(|_| {
            ContextFatal::new(format!(
                "a {}-byte reply at position {position} overflows the {}-byte reply stream",
                reply.len(),
                window.size()
            ))
        })?;
        self.position = position + reply.len() as u64;
        Ok(())
    }

    /// Whether replies currently go into `memory` (a resource being destroyed).
    pub fn uses_memory(&self, memory: &SharedMemory) -> bool {
        self.window
            .as_ref()
            .is_some_and(|window| window.shares_mapping_with(memory))
    }

    fn window(&self) -> Result<&SharedMemory, ContextFatal> {
        self.window.as_ref().ok_or_else(|| {
            ContextFatal::new("a reply was due, but no vkSetReplyCommandStreamMESA came before it")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm_file::ShmFile;

    #[test]
    fn replies_append_inside_the_window_and_seek_moves_them() {
        let shm = ShmFile::create_zeroed("t", 4096).unwrap();
        let mut stream = ReplyStream::default();
        assert!(stream.write(b"early").is_err());
        stream.set(shm.memory(), 1000, 12).unwrap();
        stream.write(&[1, 2, 3, 4]).unwrap();
        stream.write(&[5, 6, 7, 8]).unwrap();
        let mut bytes = [0u8; 8];
        shm.memory().read_bytes(1000, &mut bytes).unwrap();
        assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(stream.write(&[0; 5]).is_err(), "only 4 bytes are left");
        assert!(stream.check_room(5).is_err());
        stream.check_room(4).unwrap();
        stream.seek(2).unwrap();
        stream.write(&[9; 10]).unwrap();
        shm.memory().read_bytes(1002, &mut bytes).unwrap();
        assert_eq!(bytes, [9; 8]);
        assert!(stream.seek(13).is_err());
        assert!(stream.uses_memory(shm.memory()));
    }

    #[test]
    fn windows_outside_the_resource_are_refused() {
        let shm = ShmFile::create_zeroed("t", 4096).unwrap();
        let mut stream = ReplyStream::default();
        assert!(stream.set(shm.memory(), 4000, 97).is_err());
        assert!(stream.set(shm.memory(), u64::MAX, 2).is_err());
        stream.set(shm.memory(), 4000, 96).unwrap();
    }
}
