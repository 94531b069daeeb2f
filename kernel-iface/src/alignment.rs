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
}
