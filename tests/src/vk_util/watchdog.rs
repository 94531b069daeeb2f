//! A last line of defence against a driver call that never returns (vkMapMemory, vkQueueSubmit, a create call):
//! waits are bounded one by one, but nothing else is. Every checked call reports progress; when none has returned
//! for [`STALL_LIMIT`], the program prints what returned last and exits 1 instead of hanging its pairing.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longer than any single bounded wait, so that a wait that times out reports itself first.
pub const STALL_LIMIT: Duration = Duration::from_secs(super::WAIT_TIMEOUT.as_secs() + 10);

struct Progress {
    at: Instant,
    last: String,
}

static PROGRESS: Mutex<Option<Progress>> = Mutex::new(None);

fn lock() -> std::sync::MutexGuard<'static, Option<Progress>> {
    PROGRESS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records that the call `what` returned.
pub fn progress(what: &str) {
    if let Some(progress) = lock().as_mut() {
        progress.at = Instant::now();
        progress.last.clear();
        progress.last.push_str(what);
    }
}

/// Starts watching (once per process) on behalf of the program `name`.
pub fn start(name: &str) {
    let mut guard = lock();
    if guard.is_some() {
        return;
    }
    *guard = Some(Progress {
        at: Instant::now(),
        last: "nothing yet".to_string(),
    });
    let name = name.to_string();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let stalled = lock()
            .as_ref()
            .filter(|progress| progress.at.elapsed() > STALL_LIMIT)
            .map(|progress| progress.last.clone());
        if let Some(last) = stalled {
            eprintln!(
                "{name}: FAILED: no Vulkan call returned for {} s (the driver hangs in the call after the last \
                 one that returned: {last})",
                STALL_LIMIT.as_secs()
            );
            std::process::exit(1);
        }
    });
}
