//! Mapped memory: write and read bandwidth through a mapped host-visible, coherent buffer (what uploads and
//! readbacks cost an application), next to a plain memcpy between two ordinary allocations in the same process
//! (what the CPU can do at all there — under QEMU's TCG that is the emulated CPU's speed).

use crate::figures::{figure, Budget};
use crate::Size;
use ash::vk;
use std::hint::black_box;
use std::time::{Duration, Instant};
use venus_rs_tests::vk_util::{Gpu, QueueKind, Wishes};

pub fn run(size: Size) -> Result<(), String> {
    let bytes: usize = size.pick(64 << 20, 8 << 20);
    let wishes = Wishes {
        api_version: vk::API_VERSION_1_1,
        queue_kind: QueueKind::Compute,
        ..Wishes::default()
    };
    let gpu = Gpu::new(c"bench-workload", &wishes)?;
    let buffer = gpu.host_buffer(
        bytes as u64,
        vk::BufferUsageFlags::STORAGE_BUFFER,
        "mapped buffer",
    )?;
    let source: Vec<u8> = (0..bytes).map(|i| (i * 7) as u8).collect();
    let mut sink = vec![0u8; bytes];
    let gigabytes = bytes as f64 / 1e9;
    let rate = |seconds: f64| gigabytes / seconds.max(1e-12);

    figure(
        "mapped-write",
        rate(best_of(size, || buffer.write(&gpu, 0, black_box(&source)))?),
    );
    figure(
        "mapped-read",
        rate(best_of(size, || {
            buffer.read_into(&gpu, 0, black_box(&mut sink))
        })?),
    );
    figure(
        "memcpy",
        rate(best_of(size, || {
            sink.copy_from_slice(black_box(&source));
            Ok(())
        })?),
    );
    black_box(&sink);
    Ok(())
}

/// The fastest of several passes of `pass`, in seconds: bandwidth is a capability, and a pass interrupted by
/// another process on a shared machine says nothing about it. The first pass (page faults) is not counted.
fn best_of(size: Size, mut pass: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    pass()?;
    let mut budget = Budget::new(
        size.pick(3, 2),
        size.pick(20, 4),
        size.pick(Duration::from_secs(2), Duration::from_millis(300)),
    );
    let mut best = f64::INFINITY;
    while budget.next() {
        let started = Instant::now();
        pass()?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok(best)
}
