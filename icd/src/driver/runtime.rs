//! What the generated entry points (`generated/entries.rs`) are built on: from a dispatchable
//! handle to the host it talks to, ids for new objects, and the guards that keep panics from
//! crossing the `extern "system"` boundary.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use ash::vk;
use ash::vk::Handle;

use crate::driver::command_buffer::CommandBuffer;
use crate::driver::device::device;
use crate::driver::handles::Dispatchable;
use crate::driver::host::Host;
use crate::driver::physical_device::physical_device;
use crate::log::Level;
use crate::venus_log;

pub(crate) use crate::driver::handles::next_object_id as new_object_id;

pub(crate) fn physical_device_host<'a>(
    handle: vk::PhysicalDevice,
) -> Result<&'a Arc<Host>, vk::Result> {
    // SAFETY: a VkPhysicalDevice of this ICD by the command's valid usage.
    Ok(unsafe { physical_device(handle) }.object.host())
}

pub(crate) fn device_host<'a>(handle: vk::Device) -> Result<&'a Arc<Host>, vk::Result> {
    // SAFETY: a VkDevice of this ICD by the command's valid usage.
    Ok(unsafe { device(handle) }.object.host())
}

pub(crate) fn command_buffer_of<'a>(
    handle: vk::CommandBuffer,
) -> Result<&'a CommandBuffer, vk::Result> {
    // SAFETY: a VkCommandBuffer of this ICD by the command's valid usage.
    unsafe { Dispatchable::<CommandBuffer>::from_handle(handle.as_raw()) }
        .map(|buffer| &buffer.object)
        .ok_or(vk::Result::ERROR_UNKNOWN)
}

fn report_panic(name: &str) {
    venus_log!(
        Level::Error,
        "{name}: an internal error (panic) in venus-rs; the command failed"
    );
}

/// Runs an entry point that returns a VkResult: a host error becomes its VkResult, a panic
/// VK_ERROR_UNKNOWN.
pub(crate) fn guard_result(
    name: &str,
    body: impl FnOnce() -> Result<vk::Result, vk::Result>,
) -> vk::Result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(result)) | Ok(Err(result)) => result,
        Err(_) => {
            report_panic(name);
            vk::Result::ERROR_UNKNOWN
        }
    }
}

/// Runs an entry point without a result: errors are logged (the application cannot see them;
/// the next command that returns a result reports a lost device).
pub(crate) fn guard_void(name: &str, body: impl FnOnce() -> Result<(), vk::Result>) {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {}
        Ok(Err(result)) => venus_log!(Level::Warn, "{name}: {result}"),
        Err(_) => report_panic(name),
    }
}

/// Runs an entry point that returns a value (a device address, a count): 0 on failure.
pub(crate) fn guard_value<T: Default>(
    name: &str,
    body: impl FnOnce() -> Result<T, vk::Result>,
) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(result)) => {
            venus_log!(Level::Warn, "{name}: {result}");
            T::default()
        }
        Err(_) => {
            report_panic(name);
            T::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_entry_point_returns_vk_error_unknown() {
        let result = guard_result("vkTestCommand", || panic!("a bug inside the ICD"));
        assert_eq!(result, vk::Result::ERROR_UNKNOWN);
    }

    #[test]
    fn a_host_error_is_the_entry_points_result_and_success_passes_through() {
        assert_eq!(
            guard_result("vkTestCommand", || Err(vk::Result::ERROR_DEVICE_LOST)),
            vk::Result::ERROR_DEVICE_LOST
        );
        assert_eq!(
            guard_result("vkTestCommand", || Ok(vk::Result::INCOMPLETE)),
            vk::Result::INCOMPLETE
        );
    }

    #[test]
    fn panicking_void_and_value_entry_points_return_normally() {
        guard_void("vkTestCommand", || panic!("a bug inside the ICD"));
        let value: u64 = guard_value("vkTestCommand", || panic!("a bug inside the ICD"));
        assert_eq!(value, 0);
        assert_eq!(guard_value("vkTestCommand", || Ok(42u64)), 42);
    }
}
