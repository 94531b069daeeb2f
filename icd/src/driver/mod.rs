//! The Vulkan ICD: the loader interface, and an entry point for every command the protocol
//! carries.
//!
//! Most entry points are generated (`generated/`, from `encoder-gen/data/icd-entries.json`):
//! `vkCmd*` are recorded into the command buffer's own stream, creations choose the new objects'
//! ids and are sent without waiting, destructions and commands without outputs likewise, and
//! queries wait for the host. The modules below hand-write what needs more than encoding:
//! `instance` and `physical_device` (bring-up, what is kept per physical device), `device`,
//! `queue` (submission, idle waits), `sync` (bounded waits), `memory` (blobs and mapping),
//! `command_buffer` (recording), `descriptor` (sanitised writes, templates).
//!
//! Handles: dispatchable ones point at a [`handles::Dispatchable`] that carries the object's
//! id; every non-dispatchable handle is the object's id itself.

mod chain_cache;
pub(crate) mod command_buffer;
mod descriptor;
mod device;
pub mod entry;
mod generated;
pub mod handles;
pub mod host;
mod instance;
mod memory;
mod physical_device;
mod queue;
mod runtime;
mod sync;

pub use instance::ring_commands_sent;

use ash::vk;

/// The highest Vulkan version this ICD offers: every command of Vulkan 1.3 has an entry point
/// (1.4 also needs the host image copy commands, which the host does not run yet).
pub const ICD_API_VERSION: u32 = vk::API_VERSION_1_3;

pub const DRIVER_NAME: &str = "venus-rs";

pub const DRIVER_VERSION: u32 = vk::make_api_version(
    0,
    parse_version_part(env!("CARGO_PKG_VERSION_MAJOR")),
    parse_version_part(env!("CARGO_PKG_VERSION_MINOR")),
    parse_version_part(env!("CARGO_PKG_VERSION_PATCH")),
);

/// Identifies this driver build for caches keyed by driver (VkPhysicalDeviceIDProperties).
pub const DRIVER_UUID: [u8; vk::UUID_SIZE] = {
    let mut uuid = *b"venus-rs-icd\0\0\0\0";
    uuid[13] = parse_version_part(env!("CARGO_PKG_VERSION_MAJOR")) as u8;
    uuid[14] = parse_version_part(env!("CARGO_PKG_VERSION_MINOR")) as u8;
    uuid[15] = parse_version_part(env!("CARGO_PKG_VERSION_PATCH")) as u8;
    uuid
};

const fn parse_version_part(text: &str) -> u32 {
    let bytes = text.as_bytes();
    let mut value = 0;
    let mut index = 0;
    while index < bytes.len() {
        value = value * 10 + (bytes[index] - b'0') as u32;
        index += 1;
    }
    value
}

pub(crate) fn extension_property(
    name: &std::ffi::CStr,
    spec_version: u32,
) -> vk::ExtensionProperties {
    let mut property = vk::ExtensionProperties {
        spec_version,
        ..Default::default()
    };
    // The array is zeroed, so a name shorter than it stays NUL-terminated.
    let room = property.extension_name.len() - 1;
    for (slot, byte) in property
        .extension_name
        .iter_mut()
        .zip(&name.to_bytes()[..name.to_bytes().len().min(room)])
    {
        *slot = *byte as std::ffi::c_char;
    }
    property
}

/// The Vulkan "two-call" idiom: with a NULL array, reports the count; otherwise copies as many as fit
/// and returns VK_INCOMPLETE when that was not all.
///
/// # Safety
/// `p_count` must be valid; `p_items` NULL or an array of `*p_count` elements.
pub(crate) unsafe fn fill_array<T: Copy>(
    items: &[T],
    p_count: *mut u32,
    p_items: *mut T,
) -> vk::Result {
    if p_items.is_null() {
        // SAFETY: a valid count pointer per the caller.
        unsafe { *p_count = items.len() as u32 };
        return vk::Result::SUCCESS;
    }
    // SAFETY: as above.
    let capacity = unsafe { *p_count } as usize;
    let written = items.len().min(capacity);
    // SAFETY: `p_items` holds `capacity` elements per the caller; `written` <= capacity.
    unsafe {
        std::ptr::copy_nonoverlapping(items.as_ptr(), p_items, written);
        *p_count = written as u32;
    }
    if written < items.len() {
        vk::Result::INCOMPLETE
    } else {
        vk::Result::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_call_idiom_counts_then_fills_and_reports_truncation() {
        let items = [1u32, 2, 3];
        let mut count = 0;
        // SAFETY: valid pointers.
        assert_eq!(
            unsafe { fill_array(&items, &mut count, std::ptr::null_mut()) },
            vk::Result::SUCCESS
        );
        assert_eq!(count, 3);
        let mut out = [0u32; 2];
        count = 2;
        // SAFETY: `out` holds `count` elements.
        assert_eq!(
            unsafe { fill_array(&items, &mut count, out.as_mut_ptr()) },
            vk::Result::INCOMPLETE
        );
        assert_eq!((count, out), (2, [1, 2]));
    }

    #[test]
    fn the_driver_version_is_the_crate_version() {
        assert_eq!(
            vk::api_version_minor(DRIVER_VERSION),
            parse_version_part(env!("CARGO_PKG_VERSION_MINOR"))
        );
        assert_eq!(&DRIVER_UUID[..8], b"venus-rs");
    }
}
