//! What a process holds: descriptors, resident memory, child processes (from /proc).

/// Open descriptors of process `pid`.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                stat.rsplit(") ")
                    .next()
                    .and_then(|rest| rest.split(' ').nth(1))
                    .is_some_and(|ppid| ppid == pid.to_string())
            })
        })
        .collect()
}

/// Descriptors and resident memory of a process at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Footprint {
    pub fds: usize,
    pub rss_kib: u64,
}

impl Footprint {
    pub fn of(pid: u32) -> Footprint {
        Footprint {
            fds: fd_count(pid),
            rss_kib: rss_kib(pid),
        }
    }

    /// Panics unless `later` is within 5 % of `self` (and within a page of descriptors).
    pub fn assert_flat(&self, later: &Footprint, what: &str) {
        let fd_slack = (self.fds / 20).max(1);
        assert!(
            later.fds <= self.fds + fd_slack,
            "{what}: descriptors grew from {} to {}",
            self.fds,
            later.fds
        );
        let rss_slack = self.rss_kib / 20;
        assert!(
            later.rss_kib <= self.rss_kib + rss_slack,
            "{what}: resident memory grew from {} KiB to {} KiB (more than 5 %)",
            self.rss_kib,
            later.rss_kib
        );
    }
}
