//! The rendering check: an offscreen scene drawn with a graphics pipeline — vertex, index and uniform buffers, a
//! texture uploaded through a staging buffer and sampled in the fragment shader, a depth test between two
//! overlapping quads, 4x MSAA colour resolved into a single-sample image — read back with
//! vkCmdCopyImageToBuffer. The same scene is drawn a second time with dynamic rendering (Vulkan 1.3 or
//! VK_KHR_dynamic_rendering; skipped with a note when the device has neither) and both images must be identical.
//!
//! usage: render-check [--out FILE.png]
//! Prints `render-check: OK 256x256 sha256=<digest of the RGBA pixels> (...)`; the end-to-end tests compare
//! that digest with the one the program prints natively on lavapipe.

#![warn(clippy::undocumented_unsafe_blocks)]

use ash::vk;
use passes::{render_with_dynamic_rendering, render_with_render_pass};
use scene::{pixel_of, Scene};
use std::ffi::CStr;
use std::path::PathBuf;
use venus_rs_tests::vk_util::{
    finish, sha256_hex, usage_error, version_text, write_png, Args, Features, Gpu, Wishes,
    GRAPHICS_COMMANDS,
};

mod passes;
mod scene;

const NAME: &str = "render-check";
const USAGE: &str = "render-check [--out FILE.png]";
const SIZE: u32 = 256;
const EXTENT: vk::Extent2D = vk::Extent2D {
    width: SIZE,
    height: SIZE,
};
const COLOR_FORMAT: vk::Format = vk::Format::R8G8B8A8_UNORM;
const SAMPLES: vk::SampleCountFlags = vk::SampleCountFlags::TYPE_4;
/// Alpha 0, so that pixels on a resolved edge (partly scene, partly clear colour) have a fractional alpha.
const CLEAR_COLOR: [f32; 4] = [0.0, 0.2, 0.4, 0.0];
const CLEAR_BYTES: [u8; 4] = [0, 51, 102, 0];

/// What the scene needs beyond plain offscreen rendering.
const SCENE_COMMANDS: &[&CStr] = &[
    c"vkCreateSampler",
    c"vkDestroySampler",
    c"vkCmdCopyBufferToImage",
    c"vkCmdBindDescriptorSets",
    c"vkCmdBindIndexBuffer",
    c"vkCmdDrawIndexed",
];

struct Options {
    out: Option<PathBuf>,
}

fn main() {
    let options = parse_options().unwrap_or_else(|message| usage_error(NAME, USAGE, &message));
    finish(NAME, run(&options));
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options { out: None };
    let mut args = Args::from_env();
    while let Some(option) = args.next_option() {
        match option.as_str() {
            "--out" => options.out = Some(PathBuf::from(args.value(&option)?)),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn run(options: &Options) -> Result<String, String> {
    let wishes = Wishes {
        features: Features {
            dynamic_rendering: true,
            ..Features::default()
        },
        commands: &[GRAPHICS_COMMANDS, SCENE_COMMANDS],
        ..Wishes::default()
    };
    let gpu = Gpu::new(c"render-check", &wishes)?;
    let depth_format = depth_format(&gpu)?;
    let limits = &gpu.properties.limits;
    if !limits.framebuffer_color_sample_counts.contains(SAMPLES)
        || !limits.framebuffer_depth_sample_counts.contains(SAMPLES)
    {
        return Err("the device cannot render 4x MSAA colour and depth".into());
    }
    let scene = Scene::new(&gpu)?;

    let render_pass_pixels = render_with_render_pass(&gpu, &scene, depth_format)?;
    check_pixels(&render_pass_pixels).map_err(|e| format!("render pass image: {e}"))?;
    let digest = sha256_hex(&render_pass_pixels);
    if let Some(path) = &options.out {
        write_png(path, SIZE, SIZE, &render_pass_pixels)?;
    }

    let mode = if gpu.dynamic_rendering.is_some() {
        let dynamic_pixels = render_with_dynamic_rendering(&gpu, &scene, depth_format)?;
        compare_images(&render_pass_pixels, &dynamic_pixels)?;
        "render pass + dynamic rendering".to_string()
    } else {
        format!(
            "render pass only: dynamic rendering not offered (Vulkan {} device without VK_KHR_dynamic_rendering)",
            version_text(gpu.properties.api_version)
        )
    };
    Ok(format!(
        "{SIZE}x{SIZE} sha256={digest} ({mode}; 4x MSAA, {depth_format:?} depth) on {}",
        gpu.device_name()
    ))
}

/// D32_SFLOAT when the device can render to it, else D16_UNORM (which every device must support).
fn depth_format(gpu: &Gpu) -> Result<vk::Format, String> {
    for format in [vk::Format::D32_SFLOAT, vk::Format::D16_UNORM] {
        // SAFETY: valid physical device.
        let properties = unsafe {
            gpu.instance
                .get_physical_device_format_properties(gpu.physical_device, format)
        };
        if properties
            .optimal_tiling_features
            .contains(vk::FormatFeatureFlags::DEPTH_STENCIL_ATTACHMENT)
        {
            return Ok(format);
        }
    }
    Err("neither D32_SFLOAT nor D16_UNORM can be a depth attachment".into())
}

/// Checks what the scene must look like, independently of the exact pixel values: clear colour in a corner,
/// each quad where only it lies, the near quad where they overlap (the depth test), and resolved edge pixels
/// with a fractional alpha (the 4x MSAA resolve).
fn check_pixels(pixels: &[u8]) -> Result<(), String> {
    let pixel = |(x, y): (usize, usize)| -> [u8; 4] {
        let at = (y * SIZE as usize + x) * 4;
        [pixels[at], pixels[at + 1], pixels[at + 2], pixels[at + 3]]
    };
    let corner = pixel((0, 0));
    if corner
        .iter()
        .zip(CLEAR_BYTES)
        .any(|(&got, want)| got.abs_diff(want) > 1)
    {
        return Err(format!(
            "pixel (0, 0) is {corner:?}, not the clear colour {CLEAR_BYTES:?}"
        ));
    }
    for (what, model, want_green) in [
        ("the near quad alone", (-0.5, -0.5), true),
        ("the far quad alone", (0.5, 0.5), false),
        ("the overlap (depth test)", (0.0, 0.0), true),
    ] {
        let at = pixel_of(model.0, model.1);
        let [red, green, _, alpha] = pixel(at);
        let green_wins = u16::from(green) > u16::from(red) + 40;
        let red_wins = u16::from(red) > u16::from(green) + 40;
        if alpha != 255 || (want_green && !green_wins) || (!want_green && !red_wins) {
            return Err(format!(
                "pixel {at:?} in {what} is {:?}; expected an opaque {} pixel",
                pixel(at),
                if want_green { "green" } else { "red" }
            ));
        }
    }
    let partial = pixels
        .chunks_exact(4)
        .filter(|texel| texel[3] != 0 && texel[3] != 255)
        .count();
    if partial == 0 {
        return Err("no pixel has a fractional alpha: the 4x MSAA edges were not resolved".into());
    }
    Ok(())
}

fn compare_images(render_pass: &[u8], dynamic: &[u8]) -> Result<(), String> {
    let differing: Vec<usize> = render_pass
        .chunks_exact(4)
        .zip(dynamic.chunks_exact(4))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(index, _)| index)
        .collect();
    match differing.first() {
        None => Ok(()),
        Some(&first) => {
            let (x, y) = (first % SIZE as usize, first / SIZE as usize);
            Err(format!(
                "the dynamic rendering image differs from the render pass image in {} pixels; first at ({x}, {y}): \
                 {:?} vs {:?}",
                differing.len(),
                &render_pass[first * 4..first * 4 + 4],
                &dynamic[first * 4..first * 4 + 4]
            ))
        }
    }
}
