//! Proof that the host sees the ring memory, and what to say when it does not.
//!
//! The ring blob is mapped twice: into the guest (by the VMM, or from the fd a vtest server passes)
//! and into the host. When the VMM cannot map it into the guest, each side works on memory of its
//! own: the host takes vkCreateRingMESA, its context works, and the ring never moves. On macOS
//! Hypervisor.framework maps guest memory only in 16 KiB units and QEMU silently skips a blob of any
//! other size; Mesa's Venus then hangs in vkCreateInstance (`macos-lessons.md` §1). One command on
//! the context path that writes into the ring memory (vkWriteRingExtraMESA), fenced, tells the two
//! cases apart at once: when its fence has signalled, the host's write must be visible to the guest.

use venus_rs_encoder::guest::{self, GuestContext};
use venus_rs_encoder::wire::EncodeError;
use venus_rs_kernel_iface::{AlignmentSource, TransportInfo, BLOB_ALIGN_ENV};

/// What the host is asked to write into the ring's extra word: not 0, which is what the guest wrote
/// there when it set the ring up, and what memory the host does not share reads as.
pub const PROBE_VALUE: u32 = 0x7673_7221;

/// The page size of Apple Silicon hosts, which Hypervisor.framework maps guest memory in.
const HVF_PAGE_SIZE: u64 = 16384;

/// vkWriteRingExtraMESA(`ring_id`, offset 0, [`PROBE_VALUE`]), for the context path.
pub fn probe_command(cx: &GuestContext<'_>, ring_id: u64) -> Result<Vec<u8>, EncodeError> {
    // SAFETY: vkWriteRingExtraMESA has no pointer arguments.
    crate::session::encode(
        unsafe { guest::vk_write_ring_extra_mesa_size(cx, ring_id, 0, PROBE_VALUE) },
        |w| unsafe { guest::vk_write_ring_extra_mesa(w, cx, 0, ring_id, 0, PROBE_VALUE) },
    )
}

/// Why the ring memory is not shared, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotShared {
    pub detail: String,
    pub hint: String,
}

/// `None` when the guest reads what the host wrote (`seen`); otherwise the cause and the fix, from the
/// ring blob's size and the alignment the transport chose.
pub fn diagnose(seen: u32, ring_blob_size: u64, info: &TransportInfo) -> Option<NotShared> {
    if seen == PROBE_VALUE {
        return None;
    }
    let detail = format!(
        "the host acknowledged the context and the ring (vkWriteRingExtraMESA on the context path, \
         fence signalled), but its write into the ring memory is not visible to the guest (read \
         {seen:#x}, expected {PROBE_VALUE:#x}): the ring memory is not shared between guest and host, \
         so the ring would never move"
    );
    let alignment = format!(
        "blob alignment {} from {}",
        info.blob_alignment,
        match info.blob_alignment_source {
            AlignmentSource::Default => "the default",
            AlignmentSource::Setting => BLOB_ALIGN_ENV,
            AlignmentSource::Kernel => "the kernel's VIRTGPU_PARAM_BLOB_ALIGNMENT",
        }
    );
    let hint = if !ring_blob_size.is_multiple_of(HVF_PAGE_SIZE) {
        format!(
            "the {ring_blob_size}-byte ring blob ({alignment}) is not a multiple of 16 KiB: on macOS \
             with HVF (Apple Silicon, 16 KiB host pages) the VMM silently cannot map such a blob into \
             the guest. Fix: set {BLOB_ALIGN_ENV}=16384 (or unset it; 16384 is the default), or use a \
             guest kernel with VIRTGPU_PARAM_BLOB_ALIGNMENT (Linux 7.2) on a VMM that advertises the \
             host's page size"
        )
    } else {
        format!(
            "the {ring_blob_size}-byte ring blob ({alignment}) is a multiple of 16 KiB, so a 16 KiB \
             host page is not the cause: the VMM did not map the blob into the guest. If the host's \
             pages are larger, set {BLOB_ALIGN_ENV} to the host's page size or use a guest kernel \
             with VIRTGPU_PARAM_BLOB_ALIGNMENT (Linux 7.2); otherwise check the VMM's log"
        )
    };
    Some(NotShared { detail, hint })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use venus_rs_kernel_iface::{BlobAlignment, TransportDetails, TransportKind};

    fn vtest_info(alignment: u64, source: AlignmentSource) -> TransportInfo {
        TransportInfo {
            kind: TransportKind::Vtest,
            blob_alignment: BlobAlignment::new(alignment).unwrap(),
            blob_alignment_source: source,
            details: TransportDetails::Vtest {
                socket: PathBuf::from("/tmp/sock"),
                protocol_version: 4,
                max_timeline_count: 64,
            },
        }
    }

    #[test]
    fn a_visible_write_is_shared_memory() {
        let info = vtest_info(16384, AlignmentSource::Default);
        assert_eq!(diagnose(PROBE_VALUE, 147456, &info), None);
    }

    #[test]
    fn a_4k_aligned_ring_names_hvf_and_the_fix() {
        let info = vtest_info(4096, AlignmentSource::Setting);
        let found = diagnose(0, 135168, &info).expect("not shared");
        assert!(found.detail.contains("not shared"), "{}", found.detail);
        assert!(found.detail.contains("read 0x0"), "{}", found.detail);
        for needle in [
            "135168-byte ring blob",
            "blob alignment 4096 from VENUS_RS_BLOB_ALIGN",
            "not a multiple of 16 KiB",
            "HVF",
            "VENUS_RS_BLOB_ALIGN=16384",
            "VIRTGPU_PARAM_BLOB_ALIGNMENT",
        ] {
            assert!(found.hint.contains(needle), "{needle:?}: {}", found.hint);
        }
    }

    #[test]
    fn an_aligned_ring_that_is_not_shared_blames_the_vmm_not_the_page_size() {
        let info = vtest_info(16384, AlignmentSource::Default);
        let found = diagnose(0, 147456, &info).expect("not shared");
        assert!(
            found.hint.contains("is a multiple of 16 KiB"),
            "{}",
            found.hint
        );
        assert!(found.hint.contains("from the default"), "{}", found.hint);
        assert!(found.hint.contains("VMM's log"), "{}", found.hint);
    }
}
