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
use std::ffi::CStr;
use std::path::PathBuf;
use venus_rs_tests::vk_util::{
    check, finish, memory_barrier, sha256_hex, usage_error, write_png, Args, Buffer, Gpu,
    GraphicsPipelineDesc, Image, ImageDesc, PipelineTarget, Wishes, COMPUTE_COMMANDS,
    GRAPHICS_COMMANDS, WORKGROUP_SIZE,
};

const NAME: &str = "secondary-check";
const USAGE: &str = "secondary-check [--out FILE.png]";
const SIZE: u32 = 256;
const EXTENT: vk::Extent2D = vk::Extent2D {
    width: SIZE,
    height: SIZE,
};
const COLOR_FORMAT: vk::Format = vk::Format::R8G8B8A8_UNORM;
const CLEAR_BYTES: [u8; 4] = [0, 0, 0, 255];
const VERTEX_SPIRV: &[u8] = include_bytes!("../../shaders/flat.vert.spv");
const FRAGMENT_SPIRV: &[u8] = include_bytes!("../../shaders/flat.frag.spv");
const INDIRECT_SPIRV: &[u8] = include_bytes!("../../shaders/indirect.comp.spv");
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

/// The buffers both stages use.
struct Buffers {
    dispatch_args: Buffer,
    marks: Buffer,
    indirect: Buffer,
    vertices: Buffer,
    indices: Buffer,
    readback: Buffer,
}

impl Buffers {
    fn new(gpu: &Gpu) -> Result<Buffers, String> {
        let dispatch_args = gpu.host_buffer(
            12,
            vk::BufferUsageFlags::INDIRECT_BUFFER,
            "dispatch arguments",
        )?;
        dispatch_args.write(gpu, 0, &[DISPATCH_GROUPS, 1, 1])?;
        let marks = gpu.host_buffer(
            u64::from(MARK_SLOTS) * 4,
            vk::BufferUsageFlags::STORAGE_BUFFER,
            "marks",
        )?;
        // Zero-filled by host_buffer: the draws draw nothing unless the compute shader writes them.
        let indirect = gpu.host_buffer(
            (DRAW_WORDS.len() * 4) as u64,
            vk::BufferUsageFlags::STORAGE_BUFFER | vk::BufferUsageFlags::INDIRECT_BUFFER,
            "indirect draw commands",
        )?;
        let mut vertex_data: Vec<f32> = Vec::new();
        for quad in &QUADS[..2] {
            let corners = corners(quad);
            for corner in [0, 1, 2, 2, 1, 3] {
                vertex_data.extend(corners[corner]);
            }
        }
        for corner in corners(&QUADS[2]) {
            vertex_data.extend(corner);
        }
        let vertices = gpu.host_buffer(
            (vertex_data.len() * 4) as u64,
            vk::BufferUsageFlags::VERTEX_BUFFER,
            "vertices",
        )?;
        vertices.write(gpu, 0, &vertex_data)?;
        let indices = gpu.host_buffer(12, vk::BufferUsageFlags::INDEX_BUFFER, "indices")?;
        indices.write(gpu, 0, &[0u16, 1, 2, 2, 1, 3])?;
        let readback = gpu.host_buffer(
            u64::from(SIZE * SIZE * 4),
            vk::BufferUsageFlags::TRANSFER_DST,
            "readback",
        )?;
        Ok(Buffers {
            dispatch_args,
            marks,
            indirect,
            vertices,
            indices,
            readback,
        })
    }
}

/// A quad's four corners as (x, y, r, g, b) vertices in clip space: top-left, top-right, bottom-left,
/// bottom-right.
fn corners(quad: &Quad) -> [[f32; 5]; 4] {
    let ndc = |pixel: u32| pixel as f32 / SIZE as f32 * 2.0 - 1.0;
    let [r, g, b] = quad.color.map(|c| f32::from(c) / 255.0);
    let [x0, x1, y0, y1] = quad.rect.map(ndc);
    [
        [x0, y0, r, g, b],
        [x1, y0, r, g, b],
        [x0, y1, r, g, b],
        [x1, y1, r, g, b],
    ]
}

/// indirect.comp and its descriptor set.
struct ComputeStage {
    layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
    set: vk::DescriptorSet,
}

impl ComputeStage {
    fn new(gpu: &Gpu, buffers: &Buffers) -> Result<ComputeStage, String> {
        let bindings = [0, 1].map(|binding| {
            vk::DescriptorSetLayoutBinding::default()
                .binding(binding)
                .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                .descriptor_count(1)
                .stage_flags(vk::ShaderStageFlags::COMPUTE)
        });
        let set_layout = gpu.descriptor_set_layout(&bindings)?;
        let push = [vk::PushConstantRange::default()
            .stage_flags(vk::ShaderStageFlags::COMPUTE)
            .size((DRAW_WORDS.len() * 4) as u32)];
        let layout = gpu.pipeline_layout(&[set_layout], &push)?;
        let pipeline = gpu.compute_pipeline(INDIRECT_SPIRV, layout, "indirect.comp")?;
        let set = gpu.descriptor_set(set_layout, &bindings)?;
        let storage = vk::DescriptorType::STORAGE_BUFFER;
        gpu.write_buffer_descriptor(set, 0, storage, buffers.marks.handle);
        gpu.write_buffer_descriptor(set, 1, storage, buffers.indirect.handle);
        Ok(ComputeStage {
            layout,
            pipeline,
            set,
        })
    }

    /// The indirect dispatch, then a barrier that hands its writes to the indirect draws and the host.
    fn record(&self, gpu: &Gpu, command_buffer: vk::CommandBuffer, buffers: &Buffers) {
        let words: Vec<u8> = DRAW_WORDS.iter().flat_map(|w| w.to_le_bytes()).collect();
        // SAFETY: recording outside a render pass; the compute state is bound before the dispatch and the
        // argument buffer holds a VkDispatchIndirectCommand at offset 0.
        unsafe {
            let device = &gpu.device;
            device.cmd_bind_pipeline(
                command_buffer,
                vk::PipelineBindPoint::COMPUTE,
                self.pipeline,
            );
            device.cmd_bind_descriptor_sets(
                command_buffer,
                vk::PipelineBindPoint::COMPUTE,
                self.layout,
                0,
                &[self.set],
                &[],
            );
            device.cmd_push_constants(
                command_buffer,
                self.layout,
                vk::ShaderStageFlags::COMPUTE,
                0,
                &words,
            );
            device.cmd_dispatch_indirect(command_buffer, buffers.dispatch_args.handle, 0);
        }
        memory_barrier(
            gpu,
            command_buffer,
            (
                vk::PipelineStageFlags::COMPUTE_SHADER,
                vk::AccessFlags::SHADER_WRITE,
            ),
            (
                vk::PipelineStageFlags::DRAW_INDIRECT | vk::PipelineStageFlags::HOST,
                vk::AccessFlags::INDIRECT_COMMAND_READ | vk::AccessFlags::HOST_READ,
            ),
        );
    }
}

/// The render pass, its framebuffer and the pipeline the secondary command buffers draw with.
struct RenderStage {
    render_pass: vk::RenderPass,
    framebuffer: vk::Framebuffer,
    pipeline: vk::Pipeline,
    color: Image,
}

impl RenderStage {
    fn new(gpu: &Gpu) -> Result<RenderStage, String> {
        let color = gpu.image(
            &ImageDesc {
                format: COLOR_FORMAT,
                extent: EXTENT,
                samples: vk::SampleCountFlags::TYPE_1,
                usage: vk::ImageUsageFlags::COLOR_ATTACHMENT | vk::ImageUsageFlags::TRANSFER_SRC,
                aspect: vk::ImageAspectFlags::COLOR,
            },
            "colour target",
        )?;
        let render_pass = create_render_pass(gpu)?;
        let views = [color.view];
        let framebuffer_info = vk::FramebufferCreateInfo::default()
            .render_pass(render_pass)
            .attachments(&views)
            .width(SIZE)
            .height(SIZE)
            .layers(1);
        // SAFETY: valid device; the view matches the render pass's attachment.
        let framebuffer = gpu.own(check("vkCreateFramebuffer", unsafe {
            gpu.device.create_framebuffer(&framebuffer_info, None)
        })?);
        let layout = gpu.pipeline_layout(&[], &[])?;
        let bindings = [vk::VertexInputBindingDescription::default()
            .binding(0)
            .stride(5 * 4)
            .input_rate(vk::VertexInputRate::VERTEX)];
        let attributes = [
            vk::VertexInputAttributeDescription::default()
                .location(0)
                .format(vk::Format::R32G32_SFLOAT)
                .offset(0),
            vk::VertexInputAttributeDescription::default()
                .location(1)
                .format(vk::Format::R32G32B32_SFLOAT)
                .offset(2 * 4),
        ];
        let pipeline = gpu.graphics_pipeline(
            &GraphicsPipelineDesc {
                vertex_spirv: VERTEX_SPIRV,
                fragment_spirv: FRAGMENT_SPIRV,
                bindings: &bindings,
                attributes: &attributes,
                layout,
                extent: EXTENT,
                samples: vk::SampleCountFlags::TYPE_1,
                depth_test: false,
                target: PipelineTarget::RenderPass(render_pass),
            },
            "flat pipeline",
        )?;
        Ok(RenderStage {
            render_pass,
            framebuffer,
            pipeline,
            color,
        })
    }

    /// A secondary command buffer that continues the render pass: binds its own state (nothing is inherited
    /// but the render pass) and draws indirectly, indexed or not.
    fn record_secondary(
        &self,
        gpu: &Gpu,
        buffers: &Buffers,
        indexed: bool,
    ) -> Result<vk::CommandBuffer, String> {
        let what = if indexed {
            "secondary: vkCmdDrawIndexedIndirect"
        } else {
            "secondary: vkCmdDrawIndirect"
        };
        let command_buffer = gpu.command_buffer(vk::CommandBufferLevel::SECONDARY)?;
        let inheritance = vk::CommandBufferInheritanceInfo::default()
            .render_pass(self.render_pass)
            .subpass(0)
            .framebuffer(self.framebuffer);
        let begin = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::RENDER_PASS_CONTINUE)
            .inheritance_info(&inheritance);
        // SAFETY: a freshly allocated secondary command buffer; the inheritance info names a live render pass
        // and framebuffer; every bound buffer belongs to this device and outlives the submission.
        unsafe {
            let device = &gpu.device;
            check(
                &format!("vkBeginCommandBuffer ({what})"),
                device.begin_command_buffer(command_buffer, &begin),
            )?;
            device.cmd_bind_pipeline(
                command_buffer,
                vk::PipelineBindPoint::GRAPHICS,
                self.pipeline,
            );
            device.cmd_bind_vertex_buffers(command_buffer, 0, &[buffers.vertices.handle], &[0]);
            if indexed {
                device.cmd_bind_index_buffer(
                    command_buffer,
                    buffers.indices.handle,
                    0,
                    vk::IndexType::UINT16,
                );
                device.cmd_draw_indexed_indirect(
                    command_buffer,
                    buffers.indirect.handle,
                    INDEXED_OFFSET,
                    1,
                    20,
                );
            } else {
                device.cmd_draw_indirect(command_buffer, buffers.indirect.handle, 0, 1, 16);
            }
            check(
                &format!("vkEndCommandBuffer ({what})"),
                device.end_command_buffer(command_buffer),
            )?;
        }
        Ok(command_buffer)
    }

    /// The render pass with its contents from the secondaries, then the copy of the image for the host.
    fn record_primary(
        &self,
        gpu: &Gpu,
        command_buffer: vk::CommandBuffer,
        secondaries: &[vk::CommandBuffer],
        readback: &Buffer,
    ) {
        let clear = [vk::ClearValue {
            color: vk::ClearColorValue {
                float32: CLEAR_BYTES.map(|c| f32::from(c) / 255.0),
            },
        }];
        let begin = vk::RenderPassBeginInfo::default()
            .render_pass(self.render_pass)
            .framebuffer(self.framebuffer)
            .render_area(vk::Rect2D::default().extent(EXTENT))
            .clear_values(&clear);
        // SAFETY: recording a primary command buffer outside any render pass; the secondaries were recorded
        // for this render pass's subpass 0 with RENDER_PASS_CONTINUE.
        unsafe {
            gpu.device.cmd_begin_render_pass(
                command_buffer,
                &begin,
                vk::SubpassContents::SECONDARY_COMMAND_BUFFERS,
            );
            gpu.device.cmd_execute_commands(command_buffer, secondaries);
            gpu.device.cmd_end_render_pass(command_buffer);
        }
        gpu.record_image_readback(command_buffer, &self.color, readback);
    }
}

/// Cleared, stored, left in TRANSFER_SRC_OPTIMAL for the copy.
fn create_render_pass(gpu: &Gpu) -> Result<vk::RenderPass, String> {
    let attachments = [vk::AttachmentDescription::default()
        .format(COLOR_FORMAT)
        .samples(vk::SampleCountFlags::TYPE_1)
        .load_op(vk::AttachmentLoadOp::CLEAR)
        .store_op(vk::AttachmentStoreOp::STORE)
        .stencil_load_op(vk::AttachmentLoadOp::DONT_CARE)
        .stencil_store_op(vk::AttachmentStoreOp::DONT_CARE)
        .initial_layout(vk::ImageLayout::UNDEFINED)
        .final_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL)];
    let color_refs = [vk::AttachmentReference::default()
        .attachment(0)
        .layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)];
    let subpasses = [vk::SubpassDescription::default()
        .pipeline_bind_point(vk::PipelineBindPoint::GRAPHICS)
        .color_attachments(&color_refs)];
    let dependencies = [
        vk::SubpassDependency::default()
            .src_subpass(vk::SUBPASS_EXTERNAL)
            .dst_subpass(0)
            .src_stage_mask(vk::PipelineStageFlags::COLOR_ATTACHMENT_OUTPUT)
            .dst_stage_mask(vk::PipelineStageFlags::COLOR_ATTACHMENT_OUTPUT)
            .dst_access_mask(vk::AccessFlags::COLOR_ATTACHMENT_WRITE),
        vk::SubpassDependency::default()
            .src_subpass(0)
            .dst_subpass(vk::SUBPASS_EXTERNAL)
            .src_stage_mask(vk::PipelineStageFlags::COLOR_ATTACHMENT_OUTPUT)
            .src_access_mask(vk::AccessFlags::COLOR_ATTACHMENT_WRITE)
            .dst_stage_mask(vk::PipelineStageFlags::TRANSFER)
            .dst_access_mask(vk::AccessFlags::TRANSFER_READ),
    ];
    let info = vk::RenderPassCreateInfo::default()
        .attachments(&attachments)
        .subpasses(&subpasses)
        .dependencies(&dependencies);
    // SAFETY: valid device; the create info and what it points to live across the call.
    Ok(gpu.own(check("vkCreateRenderPass", unsafe {
        gpu.device.create_render_pass(&info, None)
    })?))
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
