//! The X11 checks: surface queries, exact pixels through both present paths and both byte orders,
//! FIFO/MAILBOX/IMMEDIATE and their rates, and a resize in the middle of a run.

use crate::renderer::{create_swapchain, destroy_swapchain, pattern_colour, Content, Renderer};
use crate::vulkan::Gpu;
use crate::x11_window::{AppWindow, Reader};
use crate::Report;
use crate::{maintenance1_check, x11_resize_check, x11_variant_checks};
use ash::vk;
use std::time::Instant;
use vulkan_venus_rs::driver::wsi::icd_surface::{
    handle_of, IcdSurfaceBase, IcdSurfaceXcb, IcdWsiPlatform,
};
use vulkan_venus_rs::driver::wsi::{self, swapchain_handle, PresentPath};
use x11rb::connection::Connection;

pub const SIZE: vk::Extent2D = vk::Extent2D {
    width: 500,
    height: 500,
};

pub fn run(gpu: &Gpu, report: &mut Report, rate_frames: u32) -> Result<(), String> {
    let window = AppWindow::open(SIZE)?;
    let reader = Reader::connect()?;
    let surface_struct = IcdSurfaceXcb {
        base: IcdSurfaceBase {
            platform: IcdWsiPlatform::XCB,
        },
        connection: window.raw_connection(),
        window: window.window,
    };
    let surface = handle_of(&surface_struct);
    let mut renderer = Renderer::new(gpu)?;

    report.check("x11 surface queries", || {
        surface_queries(gpu, &window, surface)
    });
    for (format, shm) in [
        (vk::Format::B8G8R8A8_UNORM, true),
        (vk::Format::B8G8R8A8_UNORM, false),
        (vk::Format::R8G8B8A8_UNORM, true),
        (vk::Format::R8G8B8A8_UNORM, false),
    ] {
        let name = format!(
            "x11 exact pixels {format:?} via {}",
            if shm { "x11-shm" } else { "x11-putimage" }
        );
        report.check(&name, || {
            exact_pixels(gpu, &mut renderer, &window, &reader, surface, format, shm)
        });
    }
    for (mode, shm) in [
        (vk::PresentModeKHR::FIFO, true),
        (vk::PresentModeKHR::MAILBOX, true),
        (vk::PresentModeKHR::IMMEDIATE, true),
        (vk::PresentModeKHR::IMMEDIATE, false),
    ] {
        let name = format!(
            "x11 {mode:?} rate via {}",
            if shm { "x11-shm" } else { "x11-putimage" }
        );
        report.check(&name, || {
            mode_rate(
                gpu,
                &mut renderer,
                &window,
                &reader,
                surface,
                mode,
                shm,
                rate_frames,
            )
        });
    }
    report.check(
        "x11 resize: OUT_OF_DATE, recreate, presenting continues",
        || x11_resize_check::resize(gpu, &mut renderer, &window, &reader, surface),
    );
    window.resize(SIZE)?;
    report.check(
        "x11 maintenance1: present fences signal, released images come back",
        || maintenance1_check::present_fences_and_release(gpu, &mut renderer, surface),
    );
    report.check("x11 depth-32 window shows OPAQUE frames opaque", || {
        x11_variant_checks::alpha_window(gpu, &mut renderer)
    });
    report.check("xlib exact pixels via the display's xcb connection", || {
        x11_variant_checks::xlib_pixels(gpu, &mut renderer, &reader)
    });
    Ok(())
}

fn surface_queries(
    gpu: &Gpu,
    window: &AppWindow,
    surface: vk::SurfaceKHR,
) -> Result<String, String> {
    // SAFETY: the surface struct and its window are alive.
    unsafe {
        if !wsi::surface_support(surface).map_err(|e| e.to_string())? {
            return Err("surface support is false".into());
        }
        let caps = wsi::surface_capabilities(&gpu.instance, gpu.physical_device, surface)
            .map_err(|e| e.to_string())?;
        if caps.current_extent != SIZE || caps.min_image_count < 2 || caps.max_image_count < 3 {
            return Err(format!("capabilities {caps:?}"));
        }
        let needed_usage =
            vk::ImageUsageFlags::COLOR_ATTACHMENT | vk::ImageUsageFlags::TRANSFER_DST;
        if !caps.supported_usage_flags.contains(needed_usage) {
            return Err(format!("usage {:?}", caps.supported_usage_flags));
        }
        let formats = wsi::surface_formats(&gpu.instance, gpu.physical_device, surface)
            .map_err(|e| e.to_string())?;
        for wanted in [vk::Format::B8G8R8A8_UNORM, vk::Format::B8G8R8A8_SRGB] {
            if !formats.iter().any(|format| format.format == wanted) {
                return Err(format!("{wanted:?} missing from {formats:?}"));
            }
        }
        let modes = wsi::surface_present_modes(surface).map_err(|e| e.to_string())?;
        for wanted in [
            vk::PresentModeKHR::FIFO,
            vk::PresentModeKHR::MAILBOX,
            vk::PresentModeKHR::IMMEDIATE,
        ] {
            if !modes.contains(&wanted) {
                return Err(format!("{wanted:?} missing from {modes:?}"));
            }
        }
        let visual = window.connection.setup().roots[0].root_visual;
        if !wsi::xcb_presentation_support(window.raw_connection(), visual) {
            return Err("xcb presentation support is false for the root visual".into());
        }
        Ok(format!(
            "extent {}x{}, {} formats, modes {modes:?}, usage {:?}",
            caps.current_extent.width,
            caps.current_extent.height,
            formats.len(),
            caps.supported_usage_flags
        ))
    }
}

pub fn use_shm(shm: bool) {
    // Read by the module when a swapchain is created; this program is single-threaded here.
    std::env::set_var("VENUS_RS_X11_SHM", if shm { "1" } else { "0" });
}

pub fn expected_path(shm: bool) -> PresentPath {
    if shm {
        PresentPath::X11Shm
    } else {
        PresentPath::X11PutImage
    }
}

pub fn path_of(swapchain: vk::SwapchainKHR) -> PresentPath {
    // SAFETY: a live handle from `create_swapchain`.
    unsafe { swapchain_handle::from_handle(swapchain) }
        .unwrap()
        .present_path()
}

/// Compares every pixel of the window with `expected(x, y)`.
pub fn compare(
    reader: &Reader,
    window: &AppWindow,
    extent: vk::Extent2D,
    expected: impl Fn(u32, u32) -> [u8; 3],
) -> Result<(), String> {
    let pixels = reader.read(window.window, extent)?;
    let mut wrong = 0usize;
    let mut first = None;
    for y in 0..extent.height {
        for x in 0..extent.width {
            let seen = pixels[(y * extent.width + x) as usize];
            let want = expected(x, y);
            if seen != want {
                wrong += 1;
                first.get_or_insert((x, y, seen, want));
            }
        }
    }
    match first {
        None => Ok(()),
        Some((x, y, seen, want)) => Err(format!(
            "{wrong} of {} pixels differ; first at ({x}, {y}): window {seen:?}, expected {want:?}",
            extent.width * extent.height
        )),
    }
}

fn exact_pixels(
    gpu: &Gpu,
    renderer: &mut Renderer<'_>,
    window: &AppWindow,
    reader: &Reader,
    surface: vk::SurfaceKHR,
    format: vk::Format,
    shm: bool,
) -> Result<String, String> {
    use_shm(shm);
    let swapchain = create_swapchain(
        gpu,
        surface,
        SIZE,
        format,
        vk::PresentModeKHR::IMMEDIATE,
        vk::SwapchainKHR::null(),
    )?;
    let result = (|| {
        let path = path_of(swapchain);
        if path != expected_path(shm) {
            return Err(format!(
                "present path {}, expected {}",
                path.name(),
                expected_path(shm).name()
            ));
        }
        let frames = 4;
        for frame in 0..frames {
            let presented = renderer
                .frame(swapchain, format, Content::Pattern(frame))
                .map_err(|e| format!("frame {frame}: acquire {e}"))?;
            if presented != vk::Result::SUCCESS {
                return Err(format!("frame {frame}: present {presented}"));
            }
        }
        compare(reader, window, SIZE, |x, y| {
            pattern_colour(x, y, frames - 1)
        })?;
        Ok(format!(
            "{frames} frames, every pixel of the last one matches, path {}",
            path.name()
        ))
    })();
    destroy_swapchain(renderer, swapchain);
    result
}

#[allow(clippy::too_many_arguments)]
fn mode_rate(
    gpu: &Gpu,
    renderer: &mut Renderer<'_>,
    window: &AppWindow,
    reader: &Reader,
    surface: vk::SurfaceKHR,
    mode: vk::PresentModeKHR,
    shm: bool,
    frames: u32,
) -> Result<String, String> {
    use_shm(shm);
    let format = vk::Format::B8G8R8A8_UNORM;
    let swapchain = create_swapchain(gpu, surface, SIZE, format, mode, vk::SwapchainKHR::null())?;
    let colour = |frame: u32| [(frame * 7) as u8, 255 - (frame * 3) as u8, 0x5a];
    let result = (|| {
        let started = Instant::now();
        for frame in 0..frames {
            let presented = renderer
                .frame(swapchain, format, Content::Solid(colour(frame)))
                .map_err(|e| format!("frame {frame}: acquire {e}"))?;
            if presented != vk::Result::SUCCESS {
                return Err(format!("frame {frame}: present {presented}"));
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let fps = f64::from(frames) / elapsed;
        compare(reader, window, SIZE, |_, _| colour(frames - 1))?;
        // SAFETY: a live handle from `create_swapchain`.
        let counted = unsafe { swapchain_handle::from_handle(swapchain) }
            .unwrap()
            .frames_presented();
        if counted != u64::from(frames) {
            return Err(format!("the frame counter says {counted}, not {frames}"));
        }
        let fifo = mode == vk::PresentModeKHR::FIFO;
        // FIFO waits for the refresh once the queue is full: the first frames (up to the swapchain's
        // images, at most 3 here) may go at once, every later one waits for a 60 Hz refresh (10 % slack
        // for the timer).
        let paced = frames.saturating_sub(3);
        if fifo && elapsed < 0.9 * f64::from(paced) / 60.0 {
            return Err(format!(
                "FIFO presented {frames} frames in {elapsed:.3} s: {paced} of them cannot have waited for a \
                 60 Hz refresh"
            ));
        }
        Ok(format!(
            "{frames} frames at {}x{} in {:.0} fps via {}{}",
            SIZE.width,
            SIZE.height,
            fps,
            path_of(swapchain).name(),
            if fifo { " (paced to 60 Hz)" } else { "" }
        ))
    })();
    destroy_swapchain(renderer, swapchain);
    result
}
