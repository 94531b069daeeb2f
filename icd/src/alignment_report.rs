//! Which setting decided the blob alignment, in words, for `venus-probe` and the ICD's log: the kernel's
//! `VIRTGPU_PARAM_BLOB_ALIGNMENT` when it offers a larger one, else `VENUS_RS_BLOB_ALIGN`, else the
//! 16 KiB default.

use venus_rs_kernel_iface::virtgpu::BLOB_ALIGNMENT_PARAM;
use venus_rs_kernel_iface::{AlignmentSource, TransportDetails, TransportInfo, BLOB_ALIGN_ENV};

/// What the kernel said about the blob alignment: `None` over vtest (no kernel involved), else the
/// value of `VIRTGPU_PARAM_BLOB_ALIGNMENT` when the kernel offers it.
fn kernel_param(info: &TransportInfo) -> Option<Option<u64>> {
    match &info.details {
        TransportDetails::VirtGpu { params, .. } => Some(
            params
                .iter()
                .find(|(name, _)| *name == BLOB_ALIGNMENT_PARAM)
                .and_then(|(_, value)| *value),
        ),
        TransportDetails::Vtest { .. } => None,
    }
}

/// E.g. "16384, decided by the default (the kernel offers no VIRTGPU_PARAM_BLOB_ALIGNMENT)".
pub fn describe(info: &TransportInfo) -> String {
    let decided_by = match info.blob_alignment_source {
        AlignmentSource::Default => "the default".to_string(),
        AlignmentSource::Setting => BLOB_ALIGN_ENV.to_string(),
        AlignmentSource::Kernel => "the kernel's VIRTGPU_PARAM_BLOB_ALIGNMENT".to_string(),
    };
    let kernel = match (info.blob_alignment_source, kernel_param(info)) {
        (AlignmentSource::Kernel, _) => String::new(),
        (_, None) => " (vtest: no kernel involved)".to_string(),
        (_, Some(None)) => " (the kernel offers no VIRTGPU_PARAM_BLOB_ALIGNMENT)".to_string(),
        (_, Some(Some(bytes))) => {
            format!(" (the kernel's VIRTGPU_PARAM_BLOB_ALIGNMENT {bytes} is not larger)")
        }
    };
    format!("{}, decided by {decided_by}{kernel}", info.blob_alignment)
}

/// The machine-readable form of [`describe`], for `venus-probe --json`.
pub fn json(info: &TransportInfo) -> serde_json::Value {
    serde_json::json!({
        "bytes": info.blob_alignment.bytes(),
        "source": info.blob_alignment_source.name(),
        "kernel_param": kernel_param(info).flatten(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use venus_rs_kernel_iface::{BlobAlignment, TransportKind};

    fn virtgpu(alignment: u64, source: AlignmentSource, param: Option<u64>) -> TransportInfo {
        TransportInfo {
            kind: TransportKind::VirtGpu,
            blob_alignment: BlobAlignment::new(alignment).unwrap(),
            blob_alignment_source: source,
            details: TransportDetails::VirtGpu {
                node: PathBuf::from("/dev/dri/renderD128"),
                driver_name: "virtio_gpu".into(),
                driver_version: (0, 1, 0),
                driver_date: "0".into(),
                params: vec![("3D_FEATURES", Some(1)), (BLOB_ALIGNMENT_PARAM, param)],
            },
        }
    }

    #[test]
    fn each_source_is_named() {
        assert_eq!(
            describe(&virtgpu(16384, AlignmentSource::Default, None)),
            "16384, decided by the default (the kernel offers no VIRTGPU_PARAM_BLOB_ALIGNMENT)"
        );
        assert_eq!(
            describe(&virtgpu(65536, AlignmentSource::Kernel, Some(65536))),
            "65536, decided by the kernel's VIRTGPU_PARAM_BLOB_ALIGNMENT"
        );
        assert_eq!(
            describe(&virtgpu(32768, AlignmentSource::Setting, Some(16384))),
            "32768, decided by VENUS_RS_BLOB_ALIGN (the kernel's VIRTGPU_PARAM_BLOB_ALIGNMENT 16384 \
             is not larger)"
        );
        let vtest = TransportInfo {
            kind: TransportKind::Vtest,
            blob_alignment: BlobAlignment::new(4096).unwrap(),
            blob_alignment_source: AlignmentSource::Setting,
            details: TransportDetails::Vtest {
                socket: PathBuf::from("/tmp/s"),
                protocol_version: 4,
                max_timeline_count: 64,
            },
        };
        assert_eq!(
            describe(&vtest),
            "4096, decided by VENUS_RS_BLOB_ALIGN (vtest: no kernel involved)"
        );
        assert_eq!(json(&vtest)["source"], "VENUS_RS_BLOB_ALIGN");
        assert_eq!(
            json(&virtgpu(65536, AlignmentSource::Kernel, Some(65536)))["kernel_param"],
            65536
        );
    }
}
