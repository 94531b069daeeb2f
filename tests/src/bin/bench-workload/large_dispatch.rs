//! Large dispatch: one compute dispatch over 4M elements (16 MiB read and written), submitted and waited for —
//! where the device's own work dominates and a virtualised stack should cost next to nothing.

use crate::compute::Compute;
use crate::figures::{figure, median, Budget};
use crate::Size;
use std::time::{Duration, Instant};

pub fn run(size: Size) -> Result<(), String> {
    let compute = Compute::new(size.pick(4 << 20, 256 << 10))?;
    let command_buffer = compute.one_dispatch()?;
    let fence = compute.gpu.fence(false)?;
    let mut budget = Budget::new(
        size.pick(5, 2),
        size.pick(30, 3),
        size.pick(Duration::from_secs(3), Duration::from_millis(300)),
    );
    // The first dispatch pays for compiling and first-touching memory; it is not measured.
    let mut samples = Vec::new();
    let mut first = true;
    while first || budget.next() {
        let started = Instant::now();
        compute.submit(command_buffer, fence)?;
        compute.gpu.wait_fence(fence, "large dispatch")?;
        let elapsed = started.elapsed();
        compute.reset(fence)?;
        if !first {
            samples.push(elapsed.as_secs_f64() * 1e3);
        }
        first = false;
    }
    figure("large-dispatch", median(&mut samples));
    Ok(())
}
