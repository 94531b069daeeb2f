//! `--simulate-hvf` / `VENUS_RS_SIMULATE_HVF=1`: the host behaves like a VMM on Apple Silicon under
//! Hypervisor.framework, so that the macOS failure can be reproduced on Linux.
//!
//! HVF maps guest memory only in 16 KiB units. QEMU's HVF memory listener silently skips a blob
//! section whose size (or guest-physical offset) is not a multiple of 16 KiB: the guest's view of such
//! a blob is not the host's memory, and what the guest writes there never reaches the host
//! (`shared/notes/macos-lessons.md` §1). Here a blob of such a size is handed to the VMM (render
//! server) or to the client (vtest) as a zero-filled memfd of its own, while the host keeps using the
//! memory it made: both sides work, neither sees the other. Aligned blobs are handed out as usual.
//!
//! Only sizes are checked: where a blob lands in the guest-physical window is decided by the guest
//! kernel and the VMM, which neither server sees.

use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use crate::shm_file::ShmFile;

/// The environment variable that turns the simulation on (`1`) for the vtest server, the render server
/// and its context workers.
pub const SIMULATE_HVF_ENV: &str = "VENUS_RS_SIMULATE_HVF";

/// The command-line switch of both servers.
pub const SIMULATE_HVF_FLAG: &str = "--simulate-hvf";

/// The unit Hypervisor.framework maps guest memory in: the Apple Silicon page size.
pub const HVF_PAGE_SIZE: u64 = 16384;

/// The process's setting, read once: binaries call [`init`] at start-up, the servers ask [`current`].
static SETTING: OnceLock<HvfSimulation> = OnceLock::new();

/// Reads the command-line switch and `VENUS_RS_SIMULATE_HVF` once, at start-up and before any thread
/// exists. With the switch the variable is set as well, so that the processes this one starts (render
/// server workers) simulate the same.
pub fn init(switch: bool) -> Result<HvfSimulation, String> {
    let setting = HvfSimulation::from_switch_and_env(switch)?;
    if switch {
        std::env::set_var(SIMULATE_HVF_ENV, "1");
    }
    let setting = *SETTING.get_or_init(|| setting);
    Ok(setting)
}

/// The setting [`init`] read; without `init` (in-process servers of tests), the environment's, and
/// off when that is unreadable.
pub fn current() -> HvfSimulation {
    *SETTING.get_or_init(|| {
        HvfSimulation::from_env_value(std::env::var(SIMULATE_HVF_ENV)).unwrap_or(HvfSimulation::OFF)
    })
}

/// Whether blobs are handed out as HVF would map them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvfSimulation {
    enabled: bool,
}

impl HvfSimulation {
    pub const OFF: HvfSimulation = HvfSimulation { enabled: false };
    pub const ON: HvfSimulation = HvfSimulation { enabled: true };

    /// On with the command-line switch, else as `VENUS_RS_SIMULATE_HVF` says (`1` or `0`; unset is
    /// off). Any other value is an error, so that a typo never silently runs the real thing.
    pub fn from_switch_and_env(switch: bool) -> Result<HvfSimulation, String> {
        if switch {
            return Ok(HvfSimulation::ON);
        }
        Self::from_env_value(std::env::var(SIMULATE_HVF_ENV))
    }

    fn from_env_value(value: Result<String, std::env::VarError>) -> Result<HvfSimulation, String> {
        match value {
            Err(std::env::VarError::NotPresent) => Ok(HvfSimulation::OFF),
            Ok(text) if text.trim() == "1" => Ok(HvfSimulation::ON),
            Ok(text) if text.trim() == "0" || text.trim().is_empty() => Ok(HvfSimulation::OFF),
            Ok(text) => Err(format!("{SIMULATE_HVF_ENV}={text:?}: expected 1 or 0")),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(format!("{SIMULATE_HVF_ENV} is not valid UTF-8"))
            }
        }
    }

    pub fn enabled(self) -> bool {
        self.enabled
    }

    /// Whether HVF would map a blob of `size` bytes into the guest.
    pub fn maps(self, size: u64) -> bool {
        !self.enabled || size.is_multiple_of(HVF_PAGE_SIZE)
    }

    /// The descriptor to hand out for resource `res_id` of `size` bytes whose memory the host keeps in
    /// `shared` (`who` names the client or context in the log line). When HVF would not map the blob,
    /// that is a fresh zero-filled memfd the host never looks at, and one log line says so.
    pub fn hand_out(
        self,
        who: &str,
        res_id: u32,
        size: u64,
        shared: OwnedFd,
    ) -> Result<OwnedFd, String> {
        if self.maps(size) {
            return Ok(shared);
        }
        let unshared = ShmFile::create_zeroed("venus-rs-hvf-unshared", size)
            .and_then(|memory| {
                memory
                    .duplicate_fd()
                    .map_err(crate::shm_file::ShmFileError::Create)
            })
            .map_err(|e| {
                format!("simulate-hvf: the unshared copy of resource {res_id} ({size} bytes): {e}")
            })?;
        crate::log!(
            "{who}: resource {res_id}: simulate-hvf: the {size}-byte blob is not a multiple of \
             {HVF_PAGE_SIZE} bytes; HVF would refuse to map it and QEMU would skip it silently, so the \
             guest gets memory the host does not share (unshared blob of {size} bytes)"
        );
        Ok(unshared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::env::VarError;

    #[test]
    fn the_switch_or_the_variable_turns_it_on() {
        assert_eq!(
            HvfSimulation::from_switch_and_env(true),
            Ok(HvfSimulation::ON)
        );
        assert_eq!(
            HvfSimulation::from_env_value(Err(VarError::NotPresent)),
            Ok(HvfSimulation::OFF)
        );
        assert_eq!(
            HvfSimulation::from_env_value(Ok("1".into())),
            Ok(HvfSimulation::ON)
        );
        assert_eq!(
            HvfSimulation::from_env_value(Ok("0".into())),
            Ok(HvfSimulation::OFF)
        );
        let err = HvfSimulation::from_env_value(Ok("yes".into())).unwrap_err();
        assert!(err.contains("VENUS_RS_SIMULATE_HVF=\"yes\""), "{err}");
    }

    #[test]
    fn only_sizes_that_are_not_16_kib_multiples_are_refused() {
        let hvf = HvfSimulation::ON;
        assert!(
            !hvf.maps(135168),
            "Mesa's ring blob (131268 rounded to 4 KiB)"
        );
        assert!(!hvf.maps(4096));
        assert!(hvf.maps(147456), "our ring blob (16 KiB aligned)");
        assert!(hvf.maps(1 << 20));
        assert!(HvfSimulation::OFF.maps(135168));
    }

    /// Marks a memfd by writing through its own mapping, and reads that mark back from a descriptor.
    fn mark(memory: &ShmFile, value: u32) {
        memory.memory().write_u32(0, value).unwrap();
    }

    fn read_mark(fd: OwnedFd, size: u64) -> u32 {
        ShmFile::import(fd, size)
            .unwrap()
            .memory()
            .read_u32(0)
            .unwrap()
    }

    #[test]
    fn an_unaligned_blob_is_handed_out_as_memory_the_host_does_not_share() {
        let size = 135168;
        let host = ShmFile::create_zeroed("test", size).unwrap();
        mark(&host, 0xfeed);
        let handed = HvfSimulation::ON
            .hand_out("test", 1, size, host.duplicate_fd().unwrap())
            .unwrap();
        let guest = ShmFile::import(handed, size).unwrap();
        assert_eq!(guest.size(), size);
        assert_eq!(guest.memory().read_u32(0).unwrap(), 0, "zero-filled");
        // What the guest writes stays with the guest.
        mark(&guest, 0xbeef);
        assert_eq!(host.memory().read_u32(0).unwrap(), 0xfeed);
    }

    #[test]
    fn aligned_blobs_and_a_disabled_simulation_share_the_host_memory() {
        for (hvf, size) in [(HvfSimulation::ON, 147456), (HvfSimulation::OFF, 135168)] {
            let host = ShmFile::create_zeroed("test", size).unwrap();
            mark(&host, 0xfeed);
            let handed = hvf
                .hand_out("test", 1, size, host.duplicate_fd().unwrap())
                .unwrap();
            assert_eq!(read_mark(handed, size), 0xfeed, "{hvf:?} {size}");
        }
    }
}
