//! A resize in the middle of a run: the next present is OUT_OF_DATE, so are later acquires and the
//! retired swapchain's, the capabilities follow the window, and a swapchain recreated with
//! oldSwapchain presents exact pixels at the new size.

use crate::renderer::{create_swapchain, destroy_swapchain, pattern_colour, Content, Renderer};
use crate::vulkan::Gpu;
use crate::x11_checks::{compare, use_shm, SIZE};
use crate::x11_window::{AppWindow, Reader};
use ash::vk;
use vulkan_venus_rs::driver::wsi::{self, swapchain_handle};

pub fn resize(
    gpu: &Gpu,
    renderer: &mut Renderer<'_>,
    window: &AppWindow,
    reader: &Reader,
    surface: vk::SurfaceKHR,
) -> Result<String, String> {
    use_shm(true);
    let format = vk::Format::B8G8R8A8_UNORM;
    let mode = vk::PresentModeKHR::MAILBOX;
    let new_size = vk::Extent2D {
        width: 640,
        height: 400,
    };
    let mut swapchain =
        create_swapchain(gpu, surface, SIZE, format, mode, vk::SwapchainKHR::null())?;
    let mut retired = Vec::new();
    let result = (|| {
        for frame in 0..3 {
            let presented = renderer
                .frame(swapchain, format, Content::Pattern(frame))
                .map_err(|e| format!("frame {frame} before the resize: acquire {e}"))?;
            if presented != vk::Result::SUCCESS {
                return Err(format!("frame {frame} before the resize: {presented}"));
            }
        }
        window.resize(new_size)?;
        // The next present finds the new size.
        let presented = renderer
            .frame(swapchain, format, Content::Pattern(3))
            .map_err(|e| format!("first frame after the resize: acquire {e}"))?;
        if presented != vk::Result::ERROR_OUT_OF_DATE_KHR {
            return Err(format!(
                "first present after the resize gave {presented}, not OUT_OF_DATE"
            ));
        }
        // SAFETY: a live handle.
        let again = unsafe { swapchain_handle::from_handle(swapchain) }
            .unwrap()
            .acquire(0, vk::Semaphore::null(), vk::Fence::null());
        if again != Err(vk::Result::ERROR_OUT_OF_DATE_KHR) {
            return Err(format!("acquire after OUT_OF_DATE gave {again:?}"));
        }
        // SAFETY: live surface.
        let caps =
            unsafe { wsi::surface_capabilities(&gpu.instance, gpu.physical_device, surface) }
                .map_err(|e| e.to_string())?;
        if caps.current_extent != new_size {
            return Err(format!(
                "capabilities after the resize say {:?}",
                caps.current_extent
            ));
        }
        let recreated = create_swapchain(gpu, surface, new_size, format, mode, swapchain)?;
        retired.push(swapchain);
        swapchain = recreated;
        // The retired swapchain hands out no more images.
        // SAFETY: a live handle.
        let old = unsafe { swapchain_handle::from_handle(retired[0]) }
            .unwrap()
            .acquire(0, vk::Semaphore::null(), vk::Fence::null());
        if old != Err(vk::Result::ERROR_OUT_OF_DATE_KHR) {
            return Err(format!("acquire on the retired swapchain gave {old:?}"));
        }
        for frame in 10..14 {
            let presented = renderer
                .frame(swapchain, format, Content::Pattern(frame))
                .map_err(|e| format!("frame {frame} after recreating: acquire {e}"))?;
            if presented != vk::Result::SUCCESS {
                return Err(format!("frame {frame} after recreating: {presented}"));
            }
        }
        compare(reader, window, new_size, |x, y| pattern_colour(x, y, 13))?;
        Ok("500x500 → 640x400: present OUT_OF_DATE, acquire OUT_OF_DATE, capabilities 640x400, recreated with oldSwapchain, 4 more frames exact".to_string())
    })();
    for old in retired {
        destroy_swapchain(renderer, old);
    }
    destroy_swapchain(renderer, swapchain);
    result
}
