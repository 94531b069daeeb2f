//! Dispatchable handles: what the loader sees as VkInstance, VkPhysicalDevice, VkDevice and VkQueue.
//!
//! The loader requires such a handle to point at a word it may overwrite with its dispatch table
//! (`ICD_LOADER_MAGIC` until then). Right after it this ICD keeps the object id the host knows the
//! object by, so that encoders can turn any of these handles into its id without knowing its type.

use std::sync::atomic::{AtomicU64, Ordering};

/// The value the loader checks before it installs its dispatch pointer.
const ICD_LOADER_MAGIC: usize = 0x01CD_C0DE;

#[repr(C)]
pub struct Dispatchable<T> {
    loader_data: usize,
    id: u64,
    pub object: T,
}

impl<T> Dispatchable<T> {
    /// Boxes `object` with a fresh id; the box's address is the handle.
    pub fn new(object: T) -> Box<Dispatchable<T>> {
        Box::new(Dispatchable {
            loader_data: ICD_LOADER_MAGIC,
            id: next_object_id(),
            object,
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn handle(&self) -> u64 {
        self as *const Self as u64
    }

    /// The object behind a handle this ICD made.
    ///
    /// # Safety
    /// `handle` must come from [`Dispatchable::handle`] (or `Box::into_raw`) of a live `Dispatchable<T>`.
    pub unsafe fn from_handle<'a>(handle: u64) -> Option<&'a Dispatchable<T>> {
        // SAFETY: the caller guarantees that a non-null handle is a live Dispatchable<T>.
        unsafe { (handle as *const Dispatchable<T>).as_ref() }
    }
}

/// Object ids are unique within the process, hence within every host context; 0 means none.
pub fn next_object_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The id inside any dispatchable handle, for the encoders' `GuestContext::dispatchable_id`.
pub fn dispatchable_id(handle: u64) -> u64 {
    // Every Dispatchable<T> starts with the same two words, whatever T is.
    #[repr(C)]
    struct Header {
        loader_data: usize,
        id: u64,
    }
    // SAFETY: the encoders call this only for handles of dispatchable types passed to this ICD's entry
    // points, which by Vulkan's valid usage are handles this ICD made: each points at a live
    // Dispatchable<T>, whose first two fields are the Header's.
    unsafe { (*(handle as *const Header)).id }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_carry_the_loader_magic_and_a_unique_id() {
        let a = Dispatchable::new(5u8);
        let b = Dispatchable::new("b");
        assert_ne!(a.id(), b.id());
        assert_eq!(dispatchable_id(a.handle()), a.id());
        assert_eq!(dispatchable_id(b.handle()), b.id());
        // SAFETY: the first word of a handle is the loader's.
        assert_eq!(unsafe { *(a.handle() as *const usize) }, ICD_LOADER_MAGIC);
        // SAFETY: `a` is alive and a Dispatchable<u8>.
        assert_eq!(
            unsafe { Dispatchable::<u8>::from_handle(a.handle()) }
                .unwrap()
                .object,
            5
        );
    }
}
