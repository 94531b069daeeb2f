//! The Wayland checks on headless weston: surface queries, exact pixels in the compositor's output
//! (B8G8R8A8 and R8G8B8A8), and FIFO (paced by frame callbacks) and MAILBOX rates.

use crate::renderer::{create_swapchain, destroy_swapchain, pattern_colour, Content, Renderer};
use crate::vulkan::Gpu;
use crate::wayland_window::{screenshot, AppSurface};
use crate::Report;
use ash::vk;
use std::time::Instant;
use vulkan_venus_rs::driver::wsi::icd_surface::{
    handle_of, IcdSurfaceBase, IcdSurfaceWayland, IcdWsiPlatform,
};
use vulkan_venus_rs::driver::wsi::{self, swapchain_handle, PresentPath};

const SIZE: vk::Extent2D = vk::Extent2D {
    width: 400,
    height: 300,
};

pub fn run(gpu: &Gpu, report: &mut Report, rate_frames: u32) -> Result<(), String> {
    let mut app = AppSurface::open()?;
    let surface_struct = IcdSurfaceWayland {
        base: IcdSurfaceBase {
            platform: IcdWsiPlatform::WAYLAND,
        },
        display: app.display_ptr(),
        surface: app.surface_ptr(),
    };
    let surface = handle_of(&surface_struct);
    let mut renderer = Renderer::new(gpu)?;
    report.check("wayland surface queries", || {
        // SAFETY: the surface struct, display and surface are alive.
        unsafe {
            if !wsi::surface_support(surface).map_err(|e| e.to_string())? {
                return Err("surface support is false".into());
            }
            if !wsi::wayland_presentation_support(app.display_ptr()) {
                return Err("wayland presentation support is false".into());
            }
            let caps = wsi::surface_capabilities(&gpu.instance, gpu.physical_device, surface)
                .map_err(|e| e.to_string())?;
            if caps.current_extent.width != u32::MAX {
                return Err(format!(
                    "current extent {:?} should be undefined",
                    caps.current_extent
                ));
            }
            Ok(format!(
                "extent chosen by the swapchain, up to {:?}",
                caps.max_image_extent
            ))
        }
    });
    for format in [vk::Format::B8G8R8A8_UNORM, vk::Format::R8G8B8A8_UNORM] {
        report.check(
            &format!("wayland exact pixels {format:?} via wayland-shm"),
            || exact_pixels(gpu, &mut renderer, &mut app, surface, format),
        );
    }
    for mode in [vk::PresentModeKHR::FIFO, vk::PresentModeKHR::MAILBOX] {
        report.check(&format!("wayland {mode:?} rate via wayland-shm"), || {
            mode_rate(gpu, &mut renderer, &mut app, surface, mode, rate_frames)
        });
    }
    Ok(())
}

fn exact_pixels(
    gpu: &Gpu,
    renderer: &mut Renderer<'_>,
    app: &mut AppSurface,
    surface: vk::SurfaceKHR,
    format: vk::Format,
) -> Result<String, String> {
    let swapchain = create_swapchain(
        gpu,
        surface,
        SIZE,
        format,
        vk::PresentModeKHR::FIFO,
        vk::SwapchainKHR::null(),
    )?;
    let result = (|| {
        // SAFETY: a live handle.
        let path = unsafe { swapchain_handle::from_handle(swapchain) }
            .unwrap()
            .present_path();
        if path != PresentPath::WaylandShm {
            return Err(format!("present path {}", path.name()));
        }
        let frames = 4;
        for frame in 0..frames {
            let presented = renderer
                .frame(swapchain, format, Content::Pattern(frame))
                .map_err(|e| format!("frame {frame}: acquire {e}"))?;
            if presented != vk::Result::SUCCESS {
                return Err(format!("frame {frame}: present {presented}"));
            }
            app.dispatch()?;
        }
        // Let the compositor repaint with the last buffer.
        std::thread::sleep(std::time::Duration::from_millis(300));
        app.dispatch()?;
        let (width, height, pixels) = screenshot(&std::env::temp_dir())?;
        find_pattern(width, height, &pixels, frames - 1)
    })();
    destroy_swapchain(renderer, swapchain);
    result
}

/// Finds the surface in the output (the shell places it) and compares every pixel of it.
fn find_pattern(width: u32, height: u32, pixels: &[[u8; 3]], frame: u32) -> Result<String, String> {
    let at = |x: u32, y: u32| pixels[(y * width + x) as usize];
    let samples = [
        (0, 0),
        (17, 3),
        (SIZE.width - 1, SIZE.height - 1),
        (200, 150),
        (399, 0),
    ];
    for top in 0..=height.saturating_sub(SIZE.height) {
        for left in 0..=width.saturating_sub(SIZE.width) {
            let candidate = samples
                .iter()
                .all(|&(x, y)| at(left + x, top + y) == pattern_colour(x, y, frame));
            if !candidate {
                continue;
            }
            let wrong = (0..SIZE.height)
                .flat_map(|y| (0..SIZE.width).map(move |x| (x, y)))
                .filter(|&(x, y)| at(left + x, top + y) != pattern_colour(x, y, frame))
                .count();
            if wrong == 0 {
                return Ok(format!(
                    "every pixel of the last frame found in weston's {width}x{height} output at ({left}, {top})"
                ));
            }
            return Err(format!("{wrong} pixels differ at ({left}, {top})"));
        }
    }
    Err(format!(
        "the last frame is nowhere in weston's {width}x{height} output"
    ))
}

fn mode_rate(
    gpu: &Gpu,
    renderer: &mut Renderer<'_>,
    app: &mut AppSurface,
    surface: vk::SurfaceKHR,
    mode: vk::PresentModeKHR,
    frames: u32,
) -> Result<String, String> {
    let format = vk::Format::B8G8R8A8_UNORM;
    let swapchain = create_swapchain(gpu, surface, SIZE, format, mode, vk::SwapchainKHR::null())?;
    let result = (|| {
        let started = Instant::now();
        for frame in 0..frames {
            let presented = renderer
                .frame(swapchain, format, Content::Solid([frame as u8, 0x80, 0x20]))
                .map_err(|e| format!("frame {frame}: acquire {e}"))?;
            if presented != vk::Result::SUCCESS {
                return Err(format!("frame {frame}: present {presented}"));
            }
            app.dispatch()?;
        }
        let fps = f64::from(frames) / started.elapsed().as_secs_f64();
        Ok(format!(
            "{frames} frames at {}x{}, {fps:.0} fps",
            SIZE.width, SIZE.height
        ))
    })();
    destroy_swapchain(renderer, swapchain);
    result
}
