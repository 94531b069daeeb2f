//! The secondary command buffer and indirect check. A compute shader started by vkCmdDispatchIndirect (its group
//! count read from a buffer) marks one slot per invocation and writes two draw commands into an indirect
//! buffer; a render pass whose subpass takes its contents from two secondary command buffers (recorded with
//! inheritance info) then draws with vkCmdDrawIndirect and vkCmdDrawIndexedIndirect from that buffer. The host
//! verifies the marks, the draw commands and the rendered pixels (three flat quads), and prints a digest of the
//! image.
//!
//! usage: secondary-check [--out FILE.png]

#![warn(clippy::undocumented_unsafe_blocks)]

use ash::vk;
use stages::{Buffers, ComputeStage, RenderStage};
use std::ffi::CStr;
use std::path::PathBuf;
use venus_rs_tests::vk_util::{
    finish, sha256_hex, usage_error, write_png, Args, Gpu, Wishes, COMPUTE_COMMANDS,
    GRAPHICS_COMMANDS, WORKGROUP_SIZE,
};

mod stages;

const NAME: &str = "secondary-check";
const USAGE: &str = "secondary-check [--out FILE.png]";
const SIZE: u32 = 256;
const EXTENT: vk::Extent2D = vk::Extent2D {
    width: SIZE,
    height: SIZE,
};
const COLOR_FORMAT: vk::Format = vk::Format::R8G8B8A8_UNORM;
const CLEAR_BYTES: [u8; 4] = [0, 0, 0, 255];
/// vkCmdDispatchIndirect reads this group count from a buffer; the marks buffer has room for more, so that a
/// wrong count shows.
const DISPATCH_GROUPS: u32 = 3;
const MARK_SLOTS: u32 = 8 * WORKGROUP_SIZE;

/// Secondary command buffers and indirect work, beyond compute and offscreen rendering.
const INDIRECT_COMMANDS: &[&CStr] = &[
    c"vkCmdDispatchIndirect",
    c"vkCmdDrawIndirect",
    c"vkCmdDrawIndexedIndirect",
    c"vkCmdBindIndexBuffer",
    c"vkCmdExecuteCommands",
];

/// A flat quad in pixel coordinates `[x0, x1) x [y0, y1)` with its colour.
struct Quad {
    rect: [u32; 4],
    color: [u8; 3],
}

/// The first two come from vkCmdDrawIndirect (12 vertices as triangles), the third from
/// vkCmdDrawIndexedIndirect (4 vertices, 6 indices, vertex offset 12).
const QUADS: [Quad; 3] = [
    Quad {
        rect: [16, 112, 16, 112],
        color: [255, 0, 0],
    },
    Quad {
        rect: [144, 240, 16, 112],
        color: [0, 255, 0],
    },
    Quad {
        rect: [16, 240, 144, 240],
        color: [0, 0, 255],
    },
];

/// VkDrawIndirectCommand (vertexCount, instanceCount, firstVertex, firstInstance) followed by
/// VkDrawIndexedIndirectCommand (indexCount, instanceCount, firstIndex, vertexOffset, firstInstance), as the
/// compute shader writes them into the indirect buffer.
const DRAW_WORDS: [u32; 9] = [12, 1, 0, 0, 6, 1, 0, 12, 0];
const INDEXED_OFFSET: u64 = 16;

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
        commands: &[COMPUTE_COMMANDS, GRAPHICS_COMMANDS, INDIRECT_COMMANDS],
        ..Wishes::default()
    };
    let gpu = Gpu::new(c"secondary-check", &wishes)?;
    let buffers = Buffers::new(&gpu)?;
    let compute = ComputeStage::new(&gpu, &buffers)?;
    let render = RenderStage::new(&gpu)?;
    let secondaries = [
        render.record_secondary(&gpu, &buffers, false)?,
        render.record_secondary(&gpu, &buffers, true)?,
    ];
    gpu.run_commands(
        "dispatch indirect, then the render pass",
        |command_buffer| {
            compute.record(&gpu, command_buffer, &buffers);
            render.record_primary(&gpu, command_buffer, &secondaries, &buffers.readback);
            Ok(())
        },
    )?;

    check_marks(&buffers.marks.read_all(&gpu)?)?;
    let words: Vec<u32> = buffers.indirect.read(&gpu, 0, DRAW_WORDS.len())?;
    if words != DRAW_WORDS {
        return Err(format!(
            "the indirect buffer holds {words:?}; the compute shader should have written {DRAW_WORDS:?}"
        ));
    }
    let pixels: Vec<u8> = buffers.readback.read_all(&gpu)?;
    check_pixels(&pixels)?;
    if let Some(path) = &options.out {
        write_png(path, SIZE, SIZE, &pixels)?;
    }
    Ok(format!(
        "{SIZE}x{SIZE} sha256={} (2 secondary command buffers in a render pass; vkCmdDrawIndirect + \
         vkCmdDrawIndexedIndirect from a buffer written by a vkCmdDispatchIndirect of {DISPATCH_GROUPS} groups) on {}",
        sha256_hex(&pixels),
        gpu.device_name()
    ))
}

/// Exactly the invocations of DISPATCH_GROUPS groups marked their slot.
fn check_marks(marks: &[u32]) -> Result<(), String> {
    let invocations = (DISPATCH_GROUPS * WORKGROUP_SIZE) as usize;
    for (index, &mark) in marks.iter().enumerate() {
        let expected = if index < invocations {
            index as u32 + 1
        } else {
            0
        };
        if mark != expected {
            return Err(format!(
                "mark {index} is {mark} (expected {expected}): vkCmdDispatchIndirect should have run \
                 {DISPATCH_GROUPS} groups of {WORKGROUP_SIZE}"
            ));
        }
    }
    Ok(())
}

/// Each quad's centre has its exact colour, and a point outside every quad the clear colour.
fn check_pixels(pixels: &[u8]) -> Result<(), String> {
    let pixel = |x: u32, y: u32| -> [u8; 4] {
        let at = ((y * SIZE + x) * 4) as usize;
        [pixels[at], pixels[at + 1], pixels[at + 2], pixels[at + 3]]
    };
    let mut expectations: Vec<(&str, u32, u32, [u8; 4])> = QUADS
        .iter()
        .zip([
            "indirect quad 1",
            "indirect quad 2",
            "indexed indirect quad",
        ])
        .map(|(quad, name)| {
            let [r, g, b] = quad.color;
            let [x0, x1, y0, y1] = quad.rect;
            (name, (x0 + x1) / 2, (y0 + y1) / 2, [r, g, b, 255])
        })
        .collect();
    expectations.push(("the background", 128, 128, CLEAR_BYTES));
    for (name, x, y, expected) in expectations {
        let got = pixel(x, y);
        if got != expected {
            return Err(format!(
                "pixel ({x}, {y}) in {name} is {got:?}, expected {expected:?}"
            ));
        }
    }
    Ok(())
}
