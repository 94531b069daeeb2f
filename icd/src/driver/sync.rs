//! Waits: the host waits in bounded slices (it keeps no ring thread blocked for long), so the
//! ICD asks again until the application's timeout passes. A host that stops answering ends the
//! wait with VK_ERROR_DEVICE_LOST and a line naming the wait (the session's own bounded waits
//! report it). Query results are polled instead of waited for on the host.

use std::time::{Duration, Instant};

use ash::vk;

use crate::driver::device::device;
use crate::driver::generated::calls;
use crate::driver::host::Host;
use crate::driver::runtime::guard_result;
use crate::log::Level;
use crate::venus_log;

/// How long one host wait may take: the host bounds it the same way.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// A deadline from a Vulkan timeout in nanoseconds (`u64::MAX`: none).
fn deadline(timeout_ns: u64) -> Option<Instant> {
    Instant::now().checked_add(Duration::from_nanos(timeout_ns))
}

/// The next slice of a wait, in nanoseconds: 0 when the deadline has passed.
fn slice(deadline: Option<Instant>) -> u64 {
    let left = deadline.map_or(WAIT_SLICE, |d| d.saturating_duration_since(Instant::now()));
    left.min(WAIT_SLICE).as_nanos() as u64
}

fn lost(what: &str, result: vk::Result) -> vk::Result {
    if result == vk::Result::ERROR_DEVICE_LOST {
        venus_log!(Level::Error, "{what}: the device was lost while waiting");
    }
    result
}

/// Waits for fences on the host until they signal or `timeout_ns` passes.
pub(crate) fn wait_fences(
    host: &Host,
    device: vk::Device,
    fences: &[vk::Fence],
    wait_all: bool,
    timeout_ns: u64,
    what: &str,
) -> Result<vk::Result, vk::Result> {
    let deadline = deadline(timeout_ns);
    loop {
        let timeout = slice(deadline);
        // SAFETY: fences of this device, alive across the call.
        let result = unsafe {
            calls::call_wait_for_fences(
                host,
                device,
                fences.len() as u32,
                fences.as_ptr(),
                u32::from(wait_all),
                timeout,
            )
        }
        .map_err(|e| lost(what, e))?;
        if result != vk::Result::TIMEOUT || timeout == 0 {
            return Ok(lost(what, result));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(vk::Result::TIMEOUT);
        }
    }
}

pub(crate) unsafe extern "system" fn wait_for_fences(
    handle: vk::Device,
    fence_count: u32,
    p_fences: *const vk::Fence,
    wait_all: vk::Bool32,
    timeout: u64,
) -> vk::Result {
    guard_result("vkWaitForFences", || {
        // SAFETY: a VkDevice of this ICD per valid usage.
        let device = unsafe { device(handle) };
        let fences = if fence_count == 0 {
            &[][..]
        } else {
            // SAFETY: the array holds fenceCount handles per valid usage.
            unsafe { std::slice::from_raw_parts(p_fences, fence_count as usize) }
        };
        wait_fences(
            device.object.host(),
            handle,
            fences,
            wait_all != vk::FALSE,
            timeout,
            "vkWaitForFences",
        )
    })
}

pub(crate) unsafe extern "system" fn wait_semaphores(
    handle: vk::Device,
    p_wait_info: *const vk::SemaphoreWaitInfo<'_>,
    timeout: u64,
) -> vk::Result {
    guard_result("vkWaitSemaphores", || {
        // SAFETY: a VkDevice of this ICD per valid usage.
        let device = unsafe { device(handle) };
        let deadline = deadline(timeout);
        loop {
            let slice_ns = slice(deadline);
            // SAFETY: the application's wait info, valid per valid usage.
            let result = unsafe {
                calls::call_wait_semaphores(device.object.host(), handle, p_wait_info, slice_ns)
            }
            .map_err(|e| lost("vkWaitSemaphores", e))?;
            if result != vk::Result::TIMEOUT || slice_ns == 0 {
                return Ok(lost("vkWaitSemaphores", result));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(vk::Result::TIMEOUT);
            }
        }
    })
}

/// With WAIT, the results are polled without it until every query is available, so that the
/// host never blocks on them.
pub(crate) unsafe extern "system" fn get_query_pool_results(
    handle: vk::Device,
    query_pool: vk::QueryPool,
    first_query: u32,
    query_count: u32,
    data_size: usize,
    p_data: *mut std::ffi::c_void,
    stride: vk::DeviceSize,
    flags: vk::QueryResultFlags,
) -> vk::Result {
    guard_result("vkGetQueryPoolResults", || {
        // SAFETY: a VkDevice of this ICD per valid usage.
        let device = unsafe { device(handle) };
        let wait = flags.contains(vk::QueryResultFlags::WAIT);
        let flags = flags & !vk::QueryResultFlags::WAIT;
        let mut pause = Duration::from_micros(20);
        loop {
            // SAFETY: the application's output buffer, `data_size` bytes per valid usage.
            let result = unsafe {
                calls::call_get_query_pool_results(
                    device.object.host(),
                    handle,
                    query_pool,
                    first_query,
                    query_count,
                    data_size,
                    p_data,
                    stride,
                    flags,
                )
            }
            .map_err(|e| lost("vkGetQueryPoolResults", e))?;
            if !wait || result != vk::Result::NOT_READY {
                return Ok(result);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    })
}
