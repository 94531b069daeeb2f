//! How the guest half of venus-rs reaches the host: one [`Transport`] trait with two implementations,
//! the virtio-gpu DRM render node of a real guest ([`virtgpu`]) and virglrenderer's vtest socket for
//! running without a VM ([`vtest`]).
//!
//! Both read the Venus capset, create the Venus context, create and map blobs (every size rounded up to
//! the [`BlobAlignment`]: the larger of the kernel's `VIRTGPU_PARAM_BLOB_ALIGNMENT` and 16 KiB or
//! `VENUS_RS_BLOB_ALIGN`), submit command bytes on a ring index with an optional fence, and wait on
//! fences with a timeout. Every failure is a [`TransportError`] naming the step; nothing waits without
//! a deadline (a silent vtest server for `VENUS_RS_STALL_TIMEOUT`), except that the guest kernel's
//! mmap of a host blob waits for the host inside the system call.
//!
//! A mapped blob is a [`venus_rs_shmem::SharedMemory`], the bounds-checked volatile and atomic accessor
//! the host side uses too.

mod alignment;
mod capset;
mod deadline;
mod error;
mod stall;
mod transport;
pub mod virtgpu;
pub mod vtest;

pub use alignment::{
    AlignmentChoice, AlignmentSource, BlobAlignment, BLOB_ALIGN_ENV, DEFAULT_BLOB_ALIGNMENT,
    MIN_BLOB_ALIGNMENT,
};
pub use capset::{
    CapsetTooShort, VenusCapset, VkVersion, VENUS_CAPSET_ID, VENUS_CAPSET_MIN_SIZE,
    VENUS_CAPSET_SIZE,
};
pub use error::{ErrorKind, Step, TransportError};
pub use stall::{
    parse_stall_timeout, stall_timeout_from_env, DEFAULT_STALL_TIMEOUT, STALL_TIMEOUT_ENV,
};
pub use transport::{
    open, Blob, BlobFlags, BlobMem, BlobRequest, ContextParams, Fence, Transport, TransportDetails,
    TransportInfo, TransportKind, WaitOutcome,
};
