//! Per-context caps: how much of the host one guest context may hold at once. Each cap has a
//! default and a `VENUS_RS_MAX_*` setting; hitting one returns the error the Vulkan API allows
//! for the call (VK_ERROR_OUT_OF_DEVICE_MEMORY, VK_ERROR_TOO_MANY_OBJECTS…) or makes the
//! context FATAL — never the server — and logs which cap was hit.
//!
//! A cap is charged with [`Usage::charge`], which hands back a [`Charge`]; the charge is given
//! back when the `Charge` is dropped, so whatever holds the resource (an object, a ring entry,
//! a resource) holds its charge and the count cannot drift.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One per-context cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cap {
    /// Live Vulkan objects (every object the guest created, alive in the table or kept alive
    /// by a recording or a submission).
    Objects,
    /// Bytes of device memory allocated.
    DeviceMemoryBytes,
    /// Blob resources (shared memory and device memory blobs).
    Blobs,
    /// Bytes of all blob resources together.
    BlobBytes,
    /// Rings, each served by a host thread.
    Rings,
    Instances,
    /// Devices, each with a completion thread.
    Devices,
    /// Bytes of one command's reply.
    ReplyBytes,
    /// Bytes of one command stream (a submission, an indirect stream).
    StreamBytes,
    /// vtest SYNC_WAITs pending at once, each holding an eventfd.
    PendingWaits,
    /// vtest syncs alive at once.
    Syncs,
    /// Structs in one pNext chain.
    ChainLength,
    /// Elements of one array in a command.
    ArrayLength,
    /// Bytes of memory the decoder may allocate for one command.
    DecodeMemory,
    /// Milliseconds a host thread may block in one vkQueueWaitIdle or vkDeviceWaitIdle
    /// before the device counts as lost (a bound on time rather than on space).
    IdleWaitMs,
}

impl Cap {
    pub const ALL: [Cap; 15] = [
        Cap::Objects,
        Cap::DeviceMemoryBytes,
        Cap::Blobs,
        Cap::BlobBytes,
        Cap::Rings,
        Cap::Instances,
        Cap::Devices,
        Cap::ReplyBytes,
        Cap::StreamBytes,
        Cap::PendingWaits,
        Cap::Syncs,
        Cap::ChainLength,
        Cap::ArrayLength,
        Cap::DecodeMemory,
        Cap::IdleWaitMs,
    ];

    fn index(self) -> usize {
        Cap::ALL
            .iter()
            .position(|&cap| cap == self)
            .expect("every cap is in ALL")
    }

    /// The environment variable that sets the cap.
    pub fn setting(self) -> &'static str {
        match self {
            Cap::Objects => "VENUS_RS_MAX_OBJECTS",
            Cap::DeviceMemoryBytes => "VENUS_RS_MAX_DEVICE_MEMORY",
            Cap::Blobs => "VENUS_RS_MAX_BLOBS",
            Cap::BlobBytes => "VENUS_RS_MAX_BLOB_BYTES",
            Cap::Rings => "VENUS_RS_MAX_RINGS",
            Cap::Instances => "VENUS_RS_MAX_INSTANCES",
            Cap::Devices => "VENUS_RS_MAX_DEVICES",
            Cap::ReplyBytes => "VENUS_RS_MAX_REPLY_BYTES",
            Cap::StreamBytes => "VENUS_RS_MAX_STREAM_BYTES",
            Cap::PendingWaits => "VENUS_RS_MAX_PENDING_WAITS",
            Cap::Syncs => "VENUS_RS_MAX_SYNCS",
            Cap::ChainLength => "VENUS_RS_MAX_CHAIN",
            Cap::ArrayLength => "VENUS_RS_MAX_ARRAY_LEN",
            Cap::DecodeMemory => "VENUS_RS_MAX_DECODE_MEMORY",
            Cap::IdleWaitMs => "VENUS_RS_MAX_IDLE_WAIT_MS",
        }
    }

    /// The default: generous for real applications (a game holds some 10^5 objects and a
    /// few GiB of memory; Mesa's pNext chains reach about 80 structs in feature queries), far
    /// below what would hurt the host.
    pub fn default_value(self) -> u64 {
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        match self {
            Cap::Objects => 1 << 18,
            Cap::DeviceMemoryBytes => 4 * GIB,
            Cap::Blobs => 1 << 14,
            Cap::BlobBytes => 4 * GIB,
            Cap::Rings => 64,
            Cap::Instances => 8,
            Cap::Devices => 8,
            Cap::ReplyBytes => 64 * MIB,
            Cap::StreamBytes => 64 * MIB,
            Cap::PendingWaits => 1024,
            Cap::Syncs => 1 << 16,
            Cap::ChainLength => 256,
            Cap::ArrayLength => 1 << 20,
            Cap::DecodeMemory => 256 * MIB,
            Cap::IdleWaitMs => 10_000,
        }
    }

    /// What the cap counts, for log lines.
    pub fn counts(self) -> &'static str {
        match self {
            Cap::Objects => "live Vulkan objects",
            Cap::DeviceMemoryBytes => "bytes of device memory",
            Cap::Blobs => "blob resources",
            Cap::BlobBytes => "bytes of blob resources",
            Cap::Rings => "rings",
            Cap::Instances => "instances",
            Cap::Devices => "devices",
            Cap::ReplyBytes => "bytes in one reply",
            Cap::StreamBytes => "bytes in one command stream",
            Cap::PendingWaits => "pending SYNC_WAITs",
            Cap::Syncs => "syncs",
            Cap::ChainLength => "structs in one pNext chain",
            Cap::ArrayLength => "elements in one array",
            Cap::DecodeMemory => "bytes of decoder memory for one command",
            Cap::IdleWaitMs => "milliseconds in one wait-idle",
        }
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.setting())
    }
}

/// The value of every cap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    values: [u64; Cap::ALL.len()],
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            values: Cap::ALL.map(Cap::default_value),
        }
    }
}

impl Limits {
    pub fn get(&self, cap: Cap) -> u64 {
        self.values[cap.index()]
    }

    /// The same limits with `cap` set to `value`.
    pub fn with(mut self, cap: Cap, value: u64) -> Self {
        self.values[cap.index()] = value;
        self
    }

    /// The defaults, overridden by every `VENUS_RS_MAX_*` variable that is set.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut limits = Self::default();
        for cap in Cap::ALL {
            if let Some(text) = lookup(cap.setting()) {
                let value = parse_amount(&text).ok_or_else(|| {
                    format!(
                        "{}={text:?} is not a number (K, M, G, T suffixes allowed)",
                        cap.setting()
                    )
                })?;
                limits = limits.with(cap, value);
            }
        }
        Ok(limits)
    }

    /// Every cap and its value, one `NAME=value` each, for the start-up log line.
    pub fn describe(&self) -> String {
        Cap::ALL
            .iter()
            .map(|&cap| format!("{}={}", cap.setting(), self.get(cap)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `123`, `64K`, `16M`, `4G`, `1T` (binary multiples).
fn parse_amount(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last()? {
        (at, 'k' | 'K') => (&text[..at], 10),
        (at, 'm' | 'M') => (&text[..at], 20),
        (at, 'g' | 'G') => (&text[..at], 30),
        (at, 't' | 'T') => (&text[..at], 40),
        _ => (text, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// A cap that a request would exceed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapExceeded {
    pub cap: Cap,
    pub limit: u64,
    pub used: u64,
    pub asked: u64,
}

impl fmt::Display for CapExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cap {} reached: {} more {} would make {} of at most {}",
            self.cap,
            self.asked,
            self.cap.counts(),
            self.used.saturating_add(self.asked),
            self.limit
        )
    }
}

impl std::error::Error for CapExceeded {}

impl CapExceeded {
    /// A single value (a reply, a stream, a chain) larger than its cap.
    pub fn single(cap: Cap, limit: u64, asked: u64) -> Self {
        Self {
            cap,
            limit,
            used: 0,
            asked,
        }
    }
}

/// Checks one value against its cap (no running count); logs when it is over.
pub fn check_single(context_id: u32, cap: Cap, limit: u64, asked: u64) -> Result<(), CapExceeded> {
    if asked <= limit {
        return Ok(());
    }
    let exceeded = CapExceeded::single(cap, limit, asked);
    crate::log!("context {context_id}: {exceeded}");
    Err(exceeded)
}

/// How much of one cap a context holds.
#[derive(Debug)]
pub struct Usage {
    context_id: u32,
    cap: Cap,
    limit: u64,
    used: AtomicU64,
}

impl Usage {
    pub fn new(context_id: u32, cap: Cap, limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            context_id,
            cap,
            limit: limits.get(cap),
            used: AtomicU64::new(0),
        })
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn exceeded(&self, used: u64, asked: u64) -> CapExceeded {
        let exceeded = CapExceeded {
            cap: self.cap,
            limit: self.limit,
            used,
            asked,
        };
        crate::log!("context {}: {exceeded}", self.context_id);
        exceeded
    }

    /// Whether `amount` more would fit now (logs when not); for refusing before the work
    /// that [`Usage::charge`] will pay for is done.
    pub fn check_room(&self, amount: u64) -> Result<(), CapExceeded> {
        let used = self.used();
        match used.checked_add(amount) {
            Some(total) if total <= self.limit => Ok(()),
            _ => Err(self.exceeded(used, amount)),
        }
    }

    /// Takes `amount` of the cap, or logs and refuses when that would pass the limit.
    pub fn charge(self: &Arc<Self>, amount: u64) -> Result<Charge, CapExceeded> {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            let total = used.checked_add(amount).filter(|&t| t <= self.limit);
            let Some(total) = total else {
                return Err(self.exceeded(used, amount));
            };
            match self
                .used
                .compare_exchange(used, total, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    return Ok(Charge {
                        usage: Arc::clone(self),
                        amount,
                    })
                }
                Err(now) => used = now,
            }
        }
    }
}

/// A held part of a cap, given back when dropped.
#[derive(Debug)]
pub struct Charge {
    usage: Arc<Usage>,
    amount: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.usage.used.fetch_sub(self.amount, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_override_defaults_and_take_suffixes() {
        let limits = Limits::from_lookup(|name| match name {
            "VENUS_RS_MAX_RINGS" => Some("3".to_owned()),
            "VENUS_RS_MAX_DEVICE_MEMORY" => Some("512M".to_owned()),
            "VENUS_RS_MAX_BLOB_BYTES" => Some("2g".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(limits.get(Cap::Rings), 3);
        assert_eq!(limits.get(Cap::DeviceMemoryBytes), 512 << 20);
        assert_eq!(limits.get(Cap::BlobBytes), 2 << 30);
        assert_eq!(limits.get(Cap::Objects), Cap::Objects.default_value());
        assert!(Limits::from_lookup(
            |name| (name == "VENUS_RS_MAX_OBJECTS").then(|| "lots".to_owned())
        )
        .is_err());
        assert!(Limits::from_lookup(
            |name| (name == "VENUS_RS_MAX_OBJECTS").then(|| "99999999999T".to_owned())
        )
        .is_err());
    }

    #[test]
    fn every_cap_has_its_own_setting() {
        let mut names: Vec<&str> = Cap::ALL.iter().map(|c| c.setting()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Cap::ALL.len());
        assert!(names.iter().all(|n| n.starts_with("VENUS_RS_MAX_")));
    }

    #[test]
    fn charges_are_refused_past_the_limit_and_given_back_when_dropped() {
        let usage = Usage::new(1, Cap::Rings, &Limits::default().with(Cap::Rings, 2));
        let first = usage.charge(1).unwrap();
        let second = usage.charge(1).unwrap();
        let refused = usage.charge(1).unwrap_err();
        assert_eq!(refused.cap, Cap::Rings);
        assert_eq!((refused.used, refused.limit), (2, 2));
        assert!(refused.to_string().contains("VENUS_RS_MAX_RINGS"));
        drop(first);
        assert_eq!(usage.used(), 1);
        let third = usage.charge(1).unwrap();
        drop((second, third));
        assert_eq!(usage.used(), 0);
        assert!(usage.charge(u64::MAX).is_err(), "no overflow");
    }

    #[test]
    fn single_values_are_checked_against_their_cap() {
        assert!(check_single(1, Cap::ReplyBytes, 10, 10).is_ok());
        let over = check_single(1, Cap::ReplyBytes, 10, 11).unwrap_err();
        assert_eq!(over.asked, 11);
    }
}
