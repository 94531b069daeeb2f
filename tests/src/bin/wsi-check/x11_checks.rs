//! The X11 checks: surface queries, exact pixels through both present paths and both byte orders,
//! FIFO/MAILBOX/IMMEDIATE and their rates, and a resize in the middle of a run.

use crate::renderer::{create_swapchain, destroy_swapchain, pattern_colour, Content, Renderer};
use crate::vulkan::Gpu;
use crate::x11_window::{AppWindow, Reader};
use crate::xlib_window::XlibWindow;
use crate::Report;
use ash::vk;
use std::time::Instant;
use vulkan_venus_rs::driver::wsi::icd_surface::{
    handle_of, IcdSurfaceBase, IcdSurfaceXcb, IcdSurfaceXlib, IcdWsiPlatform,
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
        || resize(gpu, &mut renderer, &window, &reader, surface),
    );
    window.resize(SIZE)?;
    report.check(
        "x11 maintenance1: present fences signal, released images come back",
        || present_fences_and_release(gpu, &mut renderer, surface),
    );
    report.check("x11 depth-32 window shows OPAQUE frames opaque", || {
        alpha_window(gpu, &mut renderer)
    });
    report.check("xlib exact pixels via the display's xcb connection", || {
        xlib_pixels(gpu, &mut renderer, &reader)
    });
    Ok(())
}

fn xlib_pixels(gpu: &Gpu, renderer: &mut Renderer<'_>, reader: &Reader) -> Result<String, String> {
    use_shm(true);
    let xlib = XlibWindow::open(SIZE)?;
    let surface_struct = IcdSurfaceXlib {
        base: IcdSurfaceBase {
            platform: IcdWsiPlatform::XLIB,
        },
        dpy: xlib.display,
        window: xlib.window.into(),
    };
    let surface = handle_of(&surface_struct);
    let visual = xlib.connection.setup().roots[0].root_visual;
    // SAFETY: a live display.
    if !unsafe { wsi::xlib_presentation_support(xlib.display, visual.into()) } {
        return Err("xlib presentation support is false".into());
    }
    // SAFETY: a live surface struct and window.
    let caps = unsafe { wsi::surface_capabilities(&gpu.instance, gpu.physical_device, surface) }
        .map_err(|e| e.to_string())?;
    if caps.current_extent != SIZE {
        return Err(format!("capabilities {:?}", caps.current_extent));
    }
    let format = vk::Format::B8G8R8A8_UNORM;
    let swapchain = create_swapchain(
        gpu,
        surface,
        SIZE,
        format,
        vk::PresentModeKHR::FIFO,
        vk::SwapchainKHR::null(),
    )?;
    let result = (|| {
        for frame in 0..3 {
            let presented = renderer
                .frame(swapchain, format, Content::Pattern(frame))
                .map_err(|e| format!("frame {frame}: acquire {e}"))?;
            if presented != vk::Result::SUCCESS {
                return Err(format!("frame {frame}: present {presented}"));
            }
        }
        let pixels = reader.read(xlib.window, SIZE)?;
        let wrong = (0..SIZE.height)
            .flat_map(|y| (0..SIZE.width).map(move |x| (x, y)))
            .filter(|&(x, y)| pixels[(y * SIZE.width + x) as usize] != pattern_colour(x, y, 2))
            .count();
        if wrong != 0 {
            return Err(format!("{wrong} pixels differ"));
        }
        Ok(format!(
            "3 FIFO frames on an XOpenDisplay window, every pixel matches, path {}",
            path_of(swapchain).name()
        ))
    })();
    destroy_swapchain(renderer, swapchain);
    result
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

fn use_shm(shm: bool) {
    // Read by the module when a swapchain is created; this program is single-threaded here.
    std::env::set_var("VENUS_RS_X11_SHM", if shm { "1" } else { "0" });
}

fn expected_path(shm: bool) -> PresentPath {
    if shm {
        PresentPath::X11Shm
    } else {
        PresentPath::X11PutImage
    }
}

fn path_of(swapchain: vk::SwapchainKHR) -> PresentPath {
    // SAFETY: a live handle from `create_swapchain`.
    unsafe { swapchain_handle::from_handle(swapchain) }
        .unwrap()
        .present_path()
}

/// Compares every pixel of the window with `expected(x, y)`.
fn compare(
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
        let fps = f64::from(frames) / started.elapsed().as_secs_f64();
        compare(reader, window, SIZE, |_, _| colour(frames - 1))?;
        // SAFETY: a live handle from `create_swapchain`.
        let counted = unsafe { swapchain_handle::from_handle(swapchain) }
            .unwrap()
            .frames_presented();
        if counted != u64::from(frames) {
            return Err(format!("the frame counter says {counted}, not {frames}"));
        }
        let fifo = mode == vk::PresentModeKHR::FIFO;
        if fifo && fps > 66.0 {
            return Err(format!(
                "FIFO ran at {fps:.1} fps, faster than a 60 Hz refresh"
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

fn resize(
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

fn present_fences_and_release(
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

fn alpha_window(gpu: &Gpu, renderer: &mut Renderer<'_>) -> Result<String, String> {
    let window = AppWindow::open_with_alpha(SIZE)?;
    let reader = Reader::connect()?;
    let surface_struct = IcdSurfaceXcb {
        base: IcdSurfaceBase {
            platform: IcdWsiPlatform::XCB,
        },
        connection: window.raw_connection(),
        window: window.window,
    };
    let surface = handle_of(&surface_struct);
    // SAFETY: a live surface struct and window.
    if !unsafe { wsi::surface_support(surface) }.map_err(|e| e.to_string())? {
        return Err("a depth-32 TrueColor window is not supported".into());
    }
    let format = vk::Format::R8G8B8A8_UNORM;
    let mut outcomes = Vec::new();
    for shm in [true, false] {
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
            for frame in 0..2 {
                let presented = renderer
                    .frame(swapchain, format, Content::Pattern(frame))
                    .map_err(|e| format!("frame {frame}: acquire {e}"))?;
                if presented != vk::Result::SUCCESS {
                    return Err(format!("frame {frame}: present {presented}"));
                }
            }
            let pixels = reader.read_bgrx(window.window, SIZE)?;
            let wrong = (0..SIZE.height)
                .flat_map(|y| (0..SIZE.width).map(move |x| (x, y)))
                .filter(|&(x, y)| {
                    let [r, g, b] = pattern_colour(x, y, 1);
                    pixels[(y * SIZE.width + x) as usize] != [b, g, r, 0xff]
                })
                .count();
            if wrong != 0 {
                return Err(format!(
                    "{wrong} pixels differ from the pattern with alpha 0xff"
                ));
            }
            Ok(path_of(swapchain).name())
        })();
        destroy_swapchain(renderer, swapchain);
        outcomes.push(result?);
    }
    Ok(format!(
        "pattern with varying alpha shown with alpha 0xff everywhere via {}",
        outcomes.join(" and ")
    ))
}
