//! X11 surfaces other than a depth-24 xcb window: an Xlib display's window (VkIcdSurfaceXlib), and a
//! depth-32 ARGB window that must show OPAQUE frames with alpha 0xff.

use crate::renderer::{create_swapchain, destroy_swapchain, pattern_colour, Content, Renderer};
use crate::vulkan::Gpu;
use crate::x11_checks::{path_of, use_shm, SIZE};
use crate::x11_window::{AppWindow, Reader};
use crate::xlib_window::XlibWindow;
use ash::vk;
use vulkan_venus_rs::driver::wsi;
use vulkan_venus_rs::driver::wsi::icd_surface::{
    handle_of, IcdSurfaceBase, IcdSurfaceXcb, IcdSurfaceXlib, IcdWsiPlatform,
};
use x11rb::connection::Connection;

pub fn xlib_pixels(
    gpu: &Gpu,
    renderer: &mut Renderer<'_>,
    reader: &Reader,
) -> Result<String, String> {
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

pub fn alpha_window(gpu: &Gpu, renderer: &mut Renderer<'_>) -> Result<String, String> {
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
