//! secondary-check's stages: the buffers, the indirect compute dispatch, and the render pass fed by secondary
//! command buffers.

use super::{
    Quad, CLEAR_BYTES, COLOR_FORMAT, DISPATCH_GROUPS, DRAW_WORDS, EXTENT, INDEXED_OFFSET,
    MARK_SLOTS, QUADS, SIZE,
};
use ash::vk;
use venus_rs_tests::vk_util::{
    check, memory_barrier, Buffer, Gpu, GraphicsPipelineDesc, Image, ImageDesc, PipelineTarget,
};

const VERTEX_SPIRV: &[u8] = include_bytes!("../../../shaders/flat.vert.spv");
const FRAGMENT_SPIRV: &[u8] = include_bytes!("../../../shaders/flat.frag.spv");
const INDIRECT_SPIRV: &[u8] = include_bytes!("../../../shaders/indirect.comp.spv");
/// The buffers both stages use.
pub(super) struct Buffers {
    dispatch_args: Buffer,
    pub(super) marks: Buffer,
    pub(super) indirect: Buffer,
    vertices: Buffer,
    indices: Buffer,
    pub(super) readback: Buffer,
}

impl Buffers {
    pub(super) fn new(gpu: &Gpu) -> Result<Buffers, String> {
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
pub(super) struct ComputeStage {
    layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
    set: vk::DescriptorSet,
}

impl ComputeStage {
    pub(super) fn new(gpu: &Gpu, buffers: &Buffers) -> Result<ComputeStage, String> {
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
    pub(super) fn record(&self, gpu: &Gpu, command_buffer: vk::CommandBuffer, buffers: &Buffers) {
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
pub(super) struct RenderStage {
    render_pass: vk::RenderPass,
    framebuffer: vk::Framebuffer,
    pipeline: vk::Pipeline,
    color: Image,
}

impl RenderStage {
    pub(super) fn new(gpu: &Gpu) -> Result<RenderStage, String> {
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
    pub(super) fn record_secondary(
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
    pub(super) fn record_primary(
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
