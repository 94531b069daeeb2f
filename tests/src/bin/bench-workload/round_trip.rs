//! Round trip: one tiny dispatch submitted and waited for, again and again — the latency every frame and every
//! compute job pays. `round-trip` waits with vkWaitForFences; `feedback-wait` polls vkGetFenceStatus, which a
//! driver with fence feedback answers from shared memory and one without answers with a host round trip.

use crate::compute::Compute;
use crate::figures::{figure, median, Budget};
use crate::Size;
use ash::vk;
use std::time::{Duration, Instant};
use venus_rs_tests::vk_util::{check, wait_timeout_ns, WAIT_TIMEOUT};

/// One workgroup's worth of elements: the smallest dispatch.
const ELEMENTS: u32 = 64;
/// Iterations run before measuring: first-use costs (shader compilation, lazy allocations) are not latency.
const WARM_UP: u32 = 20;

#[derive(Clone, Copy)]
enum Wait {
    Blocking,
    Polling,
}

pub fn round_trip(size: Size) -> Result<(), String> {
    figure("round-trip", measure(size, Wait::Blocking)?);
    Ok(())
}

pub fn feedback_wait(size: Size) -> Result<(), String> {
    figure("feedback-wait", measure(size, Wait::Polling)?);
    Ok(())
}

/// The median submit + wait + reset time in microseconds.
fn measure(size: Size, wait: Wait) -> Result<f64, String> {
    let compute = Compute::new(ELEMENTS)?;
    let command_buffer = compute.one_dispatch()?;
    let fence = compute.gpu.fence(false)?;
    // The reset is not part of the round trip: only vkQueueSubmit and the wait are timed.
    let once = |compute: &Compute| -> Result<Duration, String> {
        let started = Instant::now();
        compute.submit(command_buffer, fence)?;
        match wait {
            Wait::Blocking => compute.gpu.wait_fence(fence, "round trip")?,
            Wait::Polling => poll(compute, fence)?,
        }
        let elapsed = started.elapsed();
        compute.reset(fence)?;
        Ok(elapsed)
    };
    for _ in 0..WARM_UP {
        once(&compute)?;
    }
    let mut budget = Budget::new(
        size.pick(100, 20),
        size.pick(2000, 200),
        size.pick(Duration::from_secs(3), Duration::from_millis(500)),
    );
    let mut samples = Vec::new();
    while budget.next() {
        samples.push(once(&compute)?.as_secs_f64() * 1e6);
    }
    Ok(median(&mut samples))
}

/// Spins on vkGetFenceStatus until the fence signals (bounded like every wait of the programs).
fn poll(compute: &Compute, fence: vk::Fence) -> Result<(), String> {
    let started = Instant::now();
    loop {
        // SAFETY: a live fence of this device with a pending submission.
        match unsafe { compute.gpu.device.get_fence_status(fence) } {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => return Err(format!("vkGetFenceStatus: {e:?}")),
        }
        if started.elapsed().as_nanos() as u64 > wait_timeout_ns() {
            return Err(format!(
                "vkGetFenceStatus polled for {} s without the fence signalling",
                WAIT_TIMEOUT.as_secs()
            ));
        }
        // Yield rather than spin: on a machine with few cores the host half (and in vtest, the device's own
        // threads) run on the same cores, and a spinning poller would starve the work it waits for.
        std::thread::yield_now();
    }
    compute.gpu.fence_seen_signalled(fence);
    check("vkGetFenceStatus", Ok(()))
}
