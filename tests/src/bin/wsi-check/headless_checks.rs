//! VK_EXT_headless_surface: capabilities let the swapchain pick its size; presents complete in every
//! mode and copy nothing.

use crate::renderer::{create_swapchain, destroy_swapchain, Content, Renderer};
use crate::vulkan::Gpu;
use crate::Report;
use ash::vk;
use std::time::Instant;
use vulkan_venus_rs::driver::wsi::icd_surface::{
    handle_of, IcdSurfaceBase, IcdSurfaceHeadless, IcdWsiPlatform,
};
use vulkan_venus_rs::driver::wsi::{self, swapchain_handle, PresentPath};

pub fn run(gpu: &Gpu, report: &mut Report, frames: u32) {
    let surface_struct = IcdSurfaceHeadless {
        base: IcdSurfaceBase {
            platform: IcdWsiPlatform::HEADLESS,
        },
    };
    let surface = handle_of(&surface_struct);
    report.check("headless presents", || {
        // SAFETY: a live surface struct.
        let caps =
            unsafe { wsi::surface_capabilities(&gpu.instance, gpu.physical_device, surface) }
                .map_err(|e| e.to_string())?;
        if caps.current_extent.width != u32::MAX {
            return Err(format!(
                "headless current extent {:?} is not undefined",
                caps.current_extent
            ));
        }
        let mut renderer = Renderer::new(gpu)?;
        let extent = vk::Extent2D {
            width: 500,
            height: 500,
        };
        let format = vk::Format::B8G8R8A8_SRGB;
        let swapchain = create_swapchain(
            gpu,
            surface,
            extent,
            format,
            vk::PresentModeKHR::MAILBOX,
            vk::SwapchainKHR::null(),
        )?;
        let started = Instant::now();
        let mut failure = None;
        for frame in 0..frames {
            match renderer.frame(swapchain, format, Content::Solid([frame as u8, 0, 0])) {
                Ok(vk::Result::SUCCESS) => {}
                other => {
                    failure = Some(format!("frame {frame}: {other:?}"));
                    break;
                }
            }
        }
        let fps = f64::from(frames) / started.elapsed().as_secs_f64();
        // SAFETY: a live handle.
        let path = unsafe { swapchain_handle::from_handle(swapchain) }
            .unwrap()
            .present_path();
        destroy_swapchain(&renderer, swapchain);
        if let Some(failure) = failure {
            return Err(failure);
        }
        if path != PresentPath::Headless {
            return Err(format!("path {}", path.name()));
        }
        Ok(format!("{frames} MAILBOX frames at 500x500, {fps:.0} fps"))
    });
}
