//! VK_EXT_swapchain_maintenance1 and acquire limits: present fences signal; with every image held,
//! acquire says NOT_READY (timeout 0) or TIMEOUT; released images can be acquired again.

use crate::renderer::{create_swapchain, destroy_swapchain, Content, Renderer};
use crate::vulkan::Gpu;
use crate::x11_checks::SIZE;
use ash::vk;
use vulkan_venus_rs::driver::wsi::swapchain_handle;

pub fn present_fences_and_release(
    gpu: &Gpu,
    renderer: &mut Renderer<'_>,
    surface: vk::SurfaceKHR,
) -> Result<String, String> {
    let format = vk::Format::B8G8R8A8_UNORM;
    let swapchain = create_swapchain(
        gpu,
        surface,
        SIZE,
        format,
        vk::PresentModeKHR::MAILBOX,
        vk::SwapchainKHR::null(),
    )?;
    let device = &gpu.device;
    // SAFETY: a valid create info; destroyed below.
    let fence = unsafe { device.create_fence(&vk::FenceCreateInfo::default(), None) }
        .map_err(|e| e.to_string())?;
    let result = (|| {
        for frame in 0..3 {
            let presented = renderer
                .frame_with_present_fence(swapchain, format, Content::Solid([1, 2, 3]), fence)
                .map_err(|e| format!("frame {frame}: acquire {e}"))?;
            if presented != vk::Result::SUCCESS {
                return Err(format!("frame {frame}: present {presented}"));
            }
            // SAFETY: the fence was handed to the present above.
            unsafe {
                device
                    .wait_for_fences(&[fence], true, 5_000_000_000)
                    .map_err(|e| format!("frame {frame}: the present fence: {e}"))?;
                device.reset_fences(&[fence]).map_err(|e| e.to_string())?;
            }
        }
        // SAFETY: a live handle.
        let chain = unsafe { swapchain_handle::from_handle(swapchain) }.unwrap();
        let count = chain.images().len() as u32;
        let mut held = Vec::new();
        for _ in 0..count {
            let (index, _) = chain
                .acquire(0, vk::Semaphore::null(), fence)
                .map_err(|e| format!("acquire: {e}"))?;
            // SAFETY: the acquire's fence.
            unsafe {
                device
                    .wait_for_fences(&[fence], true, 5_000_000_000)
                    .map_err(|e| format!("the acquire fence: {e}"))?;
                device.reset_fences(&[fence]).map_err(|e| e.to_string())?;
            }
            held.push(index);
        }
        let exhausted = chain.acquire(0, vk::Semaphore::null(), vk::Fence::null());
        if exhausted != Err(vk::Result::NOT_READY) {
            return Err(format!("acquire with every image held gave {exhausted:?}"));
        }
        let timed_out = chain.acquire(1_000_000, vk::Semaphore::null(), vk::Fence::null());
        if timed_out != Err(vk::Result::TIMEOUT) {
            return Err(format!("acquire with a timeout gave {timed_out:?}"));
        }
        chain.release(&held).map_err(|e| format!("release: {e}"))?;
        let again = chain.acquire(0, vk::Semaphore::null(), vk::Fence::null());
        if again.map(|(index, _)| index) != Ok(held[0]) {
            return Err(format!("acquire after release gave {again:?}"));
        }
        chain
            .release(&[held[0]])
            .map_err(|e| format!("release: {e}"))?;
        Ok(format!(
            "3 present fences signalled; {count} images held → NOT_READY, TIMEOUT; released → acquirable"
        ))
    })();
    renderer.idle();
    // SAFETY: nothing waits for the fence any more.
    unsafe { device.destroy_fence(fence, None) };
    destroy_swapchain(renderer, swapchain);
    result
}
