//! `vkQueuePresentKHR` from its `VkPresentInfoKHR`: the swapchains, their image indices, the
//! VK_EXT_swapchain_maintenance1 fences and modes of the pNext chain, and the per-swapchain results
//! written to `pResults`.

use super::surface_query::find_in_chain;
use super::swapchain::{PresentRequest, Swapchain};
use ash::vk;

/// Presents everything `info` names on `queue` (of queue family `queue_family`). `swapchain_of` maps the
/// application's handles to swapchains (the driver owns the handle scheme); an unknown handle makes that
/// swapchain's result VK_ERROR_SURFACE_LOST_KHR.
///
/// # Safety
/// `info` must be a valid `VkPresentInfoKHR` (arrays of `swapchainCount`/`waitSemaphoreCount` entries,
/// valid pNext chain, `pResults` NULL or `swapchainCount` entries).
pub unsafe fn present<'a>(
    queue: vk::Queue,
    queue_family: u32,
    info: &vk::PresentInfoKHR<'_>,
    swapchain_of: &dyn Fn(vk::SwapchainKHR) -> Option<&'a Swapchain>,
) -> vk::Result {
    let count = info.swapchain_count as usize;
    // SAFETY: arrays of the counts given, per the caller.
    let (handles, indices, waits) = unsafe {
        (
            slice(info.p_swapchains, count),
            slice(info.p_image_indices, count),
            slice(info.p_wait_semaphores, info.wait_semaphore_count as usize),
        )
    };
    // SAFETY: a valid chain per the caller.
    let fences = unsafe {
        find_in_chain::<vk::SwapchainPresentFenceInfoEXT<'_>>(
            info.p_next,
            vk::StructureType::SWAPCHAIN_PRESENT_FENCE_INFO_EXT,
        )
    }
    // SAFETY: `swapchainCount` fences per the extension's rules.
    .map(|fences| unsafe { slice(fences.p_fences, count) });
    // SAFETY: as above.
    let modes = unsafe {
        find_in_chain::<vk::SwapchainPresentModeInfoEXT<'_>>(
            info.p_next,
            vk::StructureType::SWAPCHAIN_PRESENT_MODE_INFO_EXT,
        )
    }
    // SAFETY: `swapchainCount` modes per the extension's rules.
    .map(|modes| unsafe { slice(modes.p_present_modes, count) });

    let mut requests = Vec::with_capacity(count);
    let mut positions = Vec::with_capacity(count);
    let mut results = vec![vk::Result::ERROR_SURFACE_LOST_KHR; count];
    for (position, (handle, image_index)) in handles.iter().zip(indices).enumerate() {
        let Some(swapchain) = swapchain_of(*handle) else {
            continue;
        };
        requests.push(PresentRequest {
            swapchain,
            image_index: *image_index,
            present_fence: fences
                .and_then(|fences| fences.get(position).copied())
                .unwrap_or(vk::Fence::null()),
            present_mode: modes.and_then(|modes| modes.get(position).copied()),
        });
        positions.push(position);
    }
    let (presented, mut overall) = queue_present(queue, queue_family, waits, &requests);
    for (position, result) in positions.into_iter().zip(presented) {
        results[position] = result;
    }
    if results.contains(&vk::Result::ERROR_SURFACE_LOST_KHR) && overall.as_raw() >= 0 {
        overall = vk::Result::ERROR_SURFACE_LOST_KHR;
    }
    if !info.p_results.is_null() {
        // SAFETY: `swapchainCount` entries per the caller.
        unsafe { std::ptr::copy_nonoverlapping(results.as_ptr(), info.p_results, count) };
    }
    overall
}

/// # Safety
/// `items` must be NULL (then `count` is ignored) or point at `count` values.
unsafe fn slice<'a, T>(items: *const T, count: usize) -> &'a [T] {
    if items.is_null() || count == 0 {
        &[]
    } else {
        // SAFETY: per the caller.
        unsafe { std::slice::from_raw_parts(items, count) }
    }
}

/// `vkQueuePresentKHR` for `requests` (in the order of `VkPresentInfoKHR::pSwapchains`): the wait
/// semaphores are waited by the first swapchain's copy, whose completion the others follow. Returns one
/// result per request and the overall result (the first error, else SUBOPTIMAL if any, else SUCCESS).
pub fn queue_present(
    queue: vk::Queue,
    queue_family: u32,
    wait_semaphores: &[vk::Semaphore],
    requests: &[PresentRequest<'_>],
) -> (Vec<vk::Result>, vk::Result) {
    let mut results = Vec::with_capacity(requests.len());
    for (position, request) in requests.iter().enumerate() {
        let waits = if position == 0 { wait_semaphores } else { &[] };
        results.push(
            request
                .swapchain
                .present_one(queue, queue_family, request, waits),
        );
    }
    let overall = results
        .iter()
        .copied()
        .find(|result| result.as_raw() < 0)
        .or_else(|| {
            results
                .iter()
                .copied()
                .find(|result| *result == vk::Result::SUBOPTIMAL_KHR)
        })
        .unwrap_or(vk::Result::SUCCESS);
    (results, overall)
}
