//! The blob alignment: every blob size a transport creates is a multiple of it.
//!
//! Hosts with 16 KiB pages (Apple Silicon under Hypervisor.framework) can map guest memory only in 16 KiB
//! units; a ring blob rounded to 4 KiB never reaches the host and Venus hangs
//! (`shared/notes/macos-lessons.md` §1). 16 KiB is therefore the default, whatever the guest page size.

use std::fmt;

/// The environment variable that overrides the default alignment.
pub const BLOB_ALIGN_ENV: &str = "VENUS_RS_BLOB_ALIGN";

pub const DEFAULT_BLOB_ALIGNMENT: u64 = 16384;

/// The smallest alignment accepted: the smallest page size of any guest.
pub const MIN_BLOB_ALIGNMENT: u64 = 4096;

/// A power of two of at least 4096 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobAlignment(u64);

impl Default for BlobAlignment {
    fn default() -> Self {
        BlobAlignment(DEFAULT_BLOB_ALIGNMENT)
    }
}

impl fmt::Display for BlobAlignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl BlobAlignment {
    pub fn new(bytes: u64) -> Result<BlobAlignment, String> {
        if bytes < MIN_BLOB_ALIGNMENT || !bytes.is_power_of_two() {
            return Err(format!(
                "blob alignment {bytes} is not a power of two of at least {MIN_BLOB_ALIGNMENT} bytes"
            ));
        }
        Ok(BlobAlignment(bytes))
    }

    pub fn bytes(self) -> u64 {
        self.0
    }

    /// The default, or `VENUS_RS_BLOB_ALIGN` when set (decimal, or hexadecimal with `0x`).
    pub fn from_env() -> Result<BlobAlignment, String> {
        Self::from_env_value(std::env::var(BLOB_ALIGN_ENV))
    }

    fn from_env_value(value: Result<String, std::env::VarError>) -> Result<BlobAlignment, String> {
        match value {
            Ok(text) => Self::parse(&text).map_err(|e| format!("{BLOB_ALIGN_ENV}={text:?}: {e}")),
            Err(std::env::VarError::NotPresent) => Ok(BlobAlignment::default()),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(format!("{BLOB_ALIGN_ENV} is not valid UTF-8"))
            }
        }
    }

    pub fn parse(text: &str) -> Result<BlobAlignment, String> {
        let text = text.trim();
        let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => text.parse::<u64>(),
        };
        let bytes = parsed.map_err(|_| {
            format!("{text:?} is not a number of bytes (write it in decimal, or in hex with 0x)")
        })?;
        BlobAlignment::new(bytes)
    }

    /// `size` rounded up to the alignment; `None` for 0 or when the result would not fit in a u64.
    pub fn round_up(self, size: u64) -> Option<u64> {
        if size == 0 {
            return None;
        }
        let mask = self.0 - 1;
        size.checked_add(mask).map(|s| s & !mask)
    }
}

/// What decided the blob alignment, so that `venus-probe` and error messages can say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlignmentSource {
    /// [`DEFAULT_BLOB_ALIGNMENT`]: nothing asked for more.
    Default,
    /// The `VENUS_RS_BLOB_ALIGN` setting (or a program's own options).
    Setting,
    /// The kernel's `VIRTGPU_PARAM_BLOB_ALIGNMENT` (Linux 7.2+), the host's page size as the VMM
    /// advertises it, when it is larger than the setting or the default.
    Kernel,
}

impl AlignmentSource {
    pub fn name(self) -> &'static str {
        match self {
            AlignmentSource::Default => "default",
            AlignmentSource::Setting => "VENUS_RS_BLOB_ALIGN",
            AlignmentSource::Kernel => "VIRTGPU_PARAM_BLOB_ALIGNMENT",
        }
    }
}

impl fmt::Display for AlignmentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A blob alignment with what decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlignmentChoice {
    pub alignment: BlobAlignment,
    pub source: AlignmentSource,
}

impl Default for AlignmentChoice {
    fn default() -> Self {
        AlignmentChoice {
            alignment: BlobAlignment::default(),
            source: AlignmentSource::Default,
        }
    }
}

impl From<BlobAlignment> for AlignmentChoice {
    /// An alignment a program chose itself counts as a setting.
    fn from(alignment: BlobAlignment) -> Self {
        AlignmentChoice {
            alignment,
            source: AlignmentSource::Setting,
        }
    }
}

impl fmt::Display for AlignmentChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.alignment, self.source)
    }
}

impl AlignmentChoice {
    /// `VENUS_RS_BLOB_ALIGN` when set, else the default.
    pub fn from_env() -> Result<AlignmentChoice, String> {
        Self::from_env_value(std::env::var(BLOB_ALIGN_ENV))
    }

    fn from_env_value(
        value: Result<String, std::env::VarError>,
    ) -> Result<AlignmentChoice, String> {
        let set = !matches!(value, Err(std::env::VarError::NotPresent));
        let alignment = BlobAlignment::from_env_value(value)?;
        Ok(AlignmentChoice {
            alignment,
            source: if set {
                AlignmentSource::Setting
            } else {
                AlignmentSource::Default
            },
        })
    }

    /// The alignment once the kernel has been asked: the larger of this one and the kernel's
    /// `VIRTGPU_PARAM_BLOB_ALIGNMENT` (`None` when the kernel does not offer it; 0 asks for
    /// nothing). A kernel alignment that is not a power of two cannot be met by rounding to a
    /// power of two, so it is an error rather than a guess.
    pub fn with_kernel(self, kernel: Option<u64>) -> Result<AlignmentChoice, String> {
        let Some(bytes) = kernel.filter(|bytes| *bytes != 0) else {
            return Ok(self);
        };
        if !bytes.is_power_of_two() {
            return Err(format!(
                "the kernel's VIRTGPU_PARAM_BLOB_ALIGNMENT is {bytes}, which is not a power of two: \
                 no blob size can be a multiple of it and of the page size"
            ));
        }
        if bytes <= self.alignment.bytes() {
            return Ok(self);
        }
        Ok(AlignmentChoice {
            alignment: BlobAlignment(bytes),
            source: AlignmentSource::Kernel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rounds_the_mesa_ring_to_16_kib() {
        let align = BlobAlignment::default();
        assert_eq!(align.bytes(), 16384);
        // Mesa's instance ring: 131268 bytes, which 4 KiB pages round to 135168 (not a 16 KiB multiple).
        assert_eq!(align.round_up(131268), Some(147456));
        assert_eq!(align.round_up(1), Some(16384));
        assert_eq!(align.round_up(16384), Some(16384));
        assert_eq!(align.round_up(16385), Some(32768));
    }

    #[test]
    fn zero_and_overflowing_sizes_have_no_rounded_size() {
        let align = BlobAlignment::default();
        assert_eq!(align.round_up(0), None);
        assert_eq!(align.round_up(u64::MAX - 100), None);
        assert_eq!(align.round_up(!16383), Some(!16383));
    }

    #[test]
    fn decimal_and_hex_values_parse() {
        assert_eq!(BlobAlignment::parse("4096").unwrap().bytes(), 4096);
        assert_eq!(BlobAlignment::parse(" 65536 ").unwrap().bytes(), 65536);
        assert_eq!(BlobAlignment::parse("0x4000").unwrap().bytes(), 16384);
    }

    #[test]
    fn the_environment_value_overrides_the_default_and_names_the_variable_when_bad() {
        use std::env::VarError;
        assert_eq!(
            BlobAlignment::from_env_value(Err(VarError::NotPresent)),
            Ok(BlobAlignment::default())
        );
        assert_eq!(
            BlobAlignment::from_env_value(Ok("65536".into()))
                .unwrap()
                .bytes(),
            65536
        );
        let err = BlobAlignment::from_env_value(Ok("5000".into())).unwrap_err();
        assert!(err.starts_with("VENUS_RS_BLOB_ALIGN=\"5000\""), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        for bad in ["2048", "12288", "0", "", "16k", "-4096", "0x"] {
            let err = BlobAlignment::parse(bad).unwrap_err();
            assert!(
                err.contains("power of two") || err.contains("not a number"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn without_the_kernel_param_the_setting_or_the_default_decides() {
        use std::env::VarError;
        let default = AlignmentChoice::from_env_value(Err(VarError::NotPresent)).unwrap();
        assert_eq!(default, AlignmentChoice::default());
        assert_eq!(default.with_kernel(None), Ok(default));
        assert_eq!(default.with_kernel(Some(0)), Ok(default));
        let set = AlignmentChoice::from_env_value(Ok("4096".into())).unwrap();
        assert_eq!(
            (set.alignment.bytes(), set.source),
            (4096, AlignmentSource::Setting)
        );
        // Setting the default's value is still a setting: it is what the user asked for.
        let same = AlignmentChoice::from_env_value(Ok("16384".into())).unwrap();
        assert_eq!(same.source, AlignmentSource::Setting);
    }

    #[test]
    fn the_kernel_param_decides_only_when_it_asks_for_more() {
        let default = AlignmentChoice::default();
        // A 64 KiB host page (the kernel's param) beats the 16 KiB default.
        let kernel = default.with_kernel(Some(65536)).unwrap();
        assert_eq!(
            (kernel.alignment.bytes(), kernel.source),
            (65536, AlignmentSource::Kernel)
        );
        assert_eq!(kernel.to_string(), "65536 (VIRTGPU_PARAM_BLOB_ALIGNMENT)");
        // A 4 KiB host (or the same 16 KiB) leaves the default in charge.
        assert_eq!(default.with_kernel(Some(4096)), Ok(default));
        assert_eq!(default.with_kernel(Some(16384)), Ok(default));
        // A setting below the host's page size cannot win: max(kernel, setting).
        let small = AlignmentChoice::from(BlobAlignment::new(4096).unwrap());
        let chosen = small.with_kernel(Some(16384)).unwrap();
        assert_eq!(
            (chosen.alignment.bytes(), chosen.source),
            (16384, AlignmentSource::Kernel)
        );
        // A larger setting stays: max(kernel, setting).
        let large = AlignmentChoice::from(BlobAlignment::new(1 << 20).unwrap());
        assert_eq!(large.with_kernel(Some(16384)), Ok(large));
        // Powers of two below a page are met by any page-aligned size.
        assert_eq!(default.with_kernel(Some(512)), Ok(default));
    }

    #[test]
    fn a_kernel_alignment_that_is_no_power_of_two_is_refused() {
        let err = AlignmentChoice::default()
            .with_kernel(Some(12288))
            .unwrap_err();
        assert!(
            err.contains("12288") && err.contains("power of two"),
            "{err}"
        );
    }
}
