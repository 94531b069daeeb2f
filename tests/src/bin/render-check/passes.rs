//! render-check's two renderings of the scene into images of their own: a render pass with a resolve
//! attachment, and dynamic rendering with a resolve image view; each ends with the copy for the host.

use super::scene::Scene;
use super::{CLEAR_COLOR, COLOR_FORMAT, EXTENT, SAMPLES, SIZE};
use ash::vk;
use venus_rs_tests::vk_util::{
    check, image_barrier, Buffer, Gpu, Image, ImageDesc, PipelineTarget,
};

/// The images one rendering draws into and the buffer its result is read back through. Each rendering gets its
/// own, so that the second cannot pass by finding the first one's pixels.
struct Targets {
    color: Image,
    depth: Image,
    resolve: Image,
    readback: Buffer,
}

impl Targets {
    fn new(gpu: &Gpu, depth_format: vk::Format, what: &str) -> Result<Targets, String> {
        let color = gpu.image(
            &ImageDesc {
                format: COLOR_FORMAT,
                extent: EXTENT,
                samples: SAMPLES,
                usage: vk::ImageUsageFlags::COLOR_ATTACHMENT,
                aspect: vk::ImageAspectFlags::COLOR,
            },
            &format!("{what} multisampled colour"),
        )?;
        let depth = gpu.image(
            &ImageDesc {
                format: depth_format,
                extent: EXTENT,
                samples: SAMPLES,
                usage: vk::ImageUsageFlags::DEPTH_STENCIL_ATTACHMENT,
                aspect: vk::ImageAspectFlags::DEPTH,
            },
            &format!("{what} depth"),
        )?;
        let resolve = gpu.image(
            &ImageDesc {
                format: COLOR_FORMAT,
                extent: EXTENT,
                samples: vk::SampleCountFlags::TYPE_1,
                usage: vk::ImageUsageFlags::COLOR_ATTACHMENT | vk::ImageUsageFlags::TRANSFER_SRC,
                aspect: vk::ImageAspectFlags::COLOR,
            },
            &format!("{what} resolve"),
        )?;
        let readback = gpu.host_buffer(
            u64::from(SIZE * SIZE * 4),
            vk::BufferUsageFlags::TRANSFER_DST,
            &format!("{what} readback"),
        )?;
        Ok(Targets {
            color,
            depth,
            resolve,
            readback,
        })
    }
}

pub(super) fn render_with_render_pass(
    gpu: &Gpu,
    scene: &Scene,
    depth_format: vk::Format,
) -> Result<Vec<u8>, String> {
    let targets = Targets::new(gpu, depth_format, "render pass")?;
    let render_pass = create_render_pass(gpu, depth_format)?;
    let views = [targets.color.view, targets.depth.view, targets.resolve.view];
    let framebuffer_info = vk::FramebufferCreateInfo::default()
        .render_pass(render_pass)
        .attachments(&views)
        .width(SIZE)
        .height(SIZE)
        .layers(1);
    // SAFETY: valid device; the views match the render pass's attachments.
    let framebuffer = gpu.own(check("vkCreateFramebuffer", unsafe {
        gpu.device.create_framebuffer(&framebuffer_info, None)
    })?);
    let pipeline = scene.pipeline(
        gpu,
        PipelineTarget::RenderPass(render_pass),
        "render pass pipeline",
    )?;
    gpu.run_commands("render pass", |command_buffer| {
        let clear_values = [
            vk::ClearValue {
                color: vk::ClearColorValue {
                    float32: CLEAR_COLOR,
                },
            },
            vk::ClearValue {
                depth_stencil: vk::ClearDepthStencilValue {
                    depth: 1.0,
                    stencil: 0,
                },
            },
        ];
        let begin = vk::RenderPassBeginInfo::default()
            .render_pass(render_pass)
            .framebuffer(framebuffer)
            .render_area(vk::Rect2D::default().extent(EXTENT))
            .clear_values(&clear_values);
        // SAFETY: recording a primary command buffer outside any render pass.
        unsafe {
            gpu.device
                .cmd_begin_render_pass(command_buffer, &begin, vk::SubpassContents::INLINE)
        };
        scene.draw(gpu, command_buffer, pipeline);
        // SAFETY: inside the render pass begun above; it leaves the resolve image in TRANSFER_SRC_OPTIMAL.
        unsafe { gpu.device.cmd_end_render_pass(command_buffer) };
        gpu.record_image_readback(command_buffer, &targets.resolve, &targets.readback);
        Ok(())
    })?;
    targets.readback.read_all(gpu)
}

/// Multisampled colour and depth cleared and discarded, the resolve image stored and left ready for the copy.
fn create_render_pass(gpu: &Gpu, depth_format: vk::Format) -> Result<vk::RenderPass, String> {
    let attachments = [
        vk::AttachmentDescription::default()
            .format(COLOR_FORMAT)
            .samples(SAMPLES)
            .load_op(vk::AttachmentLoadOp::CLEAR)
            .store_op(vk::AttachmentStoreOp::DONT_CARE)
            .stencil_load_op(vk::AttachmentLoadOp::DONT_CARE)
            .stencil_store_op(vk::AttachmentStoreOp::DONT_CARE)
            .initial_layout(vk::ImageLayout::UNDEFINED)
            .final_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL),
        vk::AttachmentDescription::default()
            .format(depth_format)
            .samples(SAMPLES)
            .load_op(vk::AttachmentLoadOp::CLEAR)
            .store_op(vk::AttachmentStoreOp::DONT_CARE)
            .stencil_load_op(vk::AttachmentLoadOp::DONT_CARE)
            .stencil_store_op(vk::AttachmentStoreOp::DONT_CARE)
            .initial_layout(vk::ImageLayout::UNDEFINED)
            .final_layout(vk::ImageLayout::DEPTH_STENCIL_ATTACHMENT_OPTIMAL),
        vk::AttachmentDescription::default()
            .format(COLOR_FORMAT)
            .samples(vk::SampleCountFlags::TYPE_1)
            .load_op(vk::AttachmentLoadOp::DONT_CARE)
            .store_op(vk::AttachmentStoreOp::STORE)
            .stencil_load_op(vk::AttachmentLoadOp::DONT_CARE)
            .stencil_store_op(vk::AttachmentStoreOp::DONT_CARE)
            .initial_layout(vk::ImageLayout::UNDEFINED)
            .final_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL),
    ];
    let color_refs = [vk::AttachmentReference::default()
        .attachment(0)
        .layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)];
    let resolve_refs = [vk::AttachmentReference::default()
        .attachment(2)
        .layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)];
    let depth_ref = vk::AttachmentReference::default()
        .attachment(1)
        .layout(vk::ImageLayout::DEPTH_STENCIL_ATTACHMENT_OPTIMAL);
    let subpasses = [vk::SubpassDescription::default()
        .pipeline_bind_point(vk::PipelineBindPoint::GRAPHICS)
        .color_attachments(&color_refs)
        .resolve_attachments(&resolve_refs)
        .depth_stencil_attachment(&depth_ref)];
    let attachment_stages = vk::PipelineStageFlags::COLOR_ATTACHMENT_OUTPUT
        | vk::PipelineStageFlags::EARLY_FRAGMENT_TESTS
        | vk::PipelineStageFlags::LATE_FRAGMENT_TESTS;
    let dependencies = [
        vk::SubpassDependency::default()
            .src_subpass(vk::SUBPASS_EXTERNAL)
            .dst_subpass(0)
            .src_stage_mask(attachment_stages)
            .dst_stage_mask(attachment_stages)
            .dst_access_mask(
                vk::AccessFlags::COLOR_ATTACHMENT_WRITE
                    | vk::AccessFlags::DEPTH_STENCIL_ATTACHMENT_READ
                    | vk::AccessFlags::DEPTH_STENCIL_ATTACHMENT_WRITE,
            ),
        // The resolve is written at the colour output stage; the copy reads it afterwards.
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

pub(super) fn render_with_dynamic_rendering(
    gpu: &Gpu,
    scene: &Scene,
    depth_format: vk::Format,
) -> Result<Vec<u8>, String> {
    let targets = Targets::new(gpu, depth_format, "dynamic rendering")?;
    let pipeline = scene.pipeline(
        gpu,
        PipelineTarget::Dynamic {
            color: COLOR_FORMAT,
            depth: depth_format,
        },
        "dynamic rendering pipeline",
    )?;
    let color_output = (
        vk::PipelineStageFlags::COLOR_ATTACHMENT_OUTPUT,
        vk::AccessFlags::COLOR_ATTACHMENT_WRITE,
    );
    let nothing = (
        vk::PipelineStageFlags::TOP_OF_PIPE,
        vk::AccessFlags::empty(),
    );
    gpu.run_commands("dynamic rendering", |command_buffer| {
        for image in [&targets.color, &targets.resolve] {
            image_barrier(
                gpu,
                command_buffer,
                image,
                (
                    vk::ImageLayout::UNDEFINED,
                    vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL,
                ),
                nothing,
                color_output,
            );
        }
        image_barrier(
            gpu,
            command_buffer,
            &targets.depth,
            (
                vk::ImageLayout::UNDEFINED,
                vk::ImageLayout::DEPTH_STENCIL_ATTACHMENT_OPTIMAL,
            ),
            nothing,
            (
                vk::PipelineStageFlags::EARLY_FRAGMENT_TESTS
                    | vk::PipelineStageFlags::LATE_FRAGMENT_TESTS,
                vk::AccessFlags::DEPTH_STENCIL_ATTACHMENT_READ
                    | vk::AccessFlags::DEPTH_STENCIL_ATTACHMENT_WRITE,
            ),
        );
        let color_attachment = [vk::RenderingAttachmentInfo::default()
            .image_view(targets.color.view)
            .image_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
            .resolve_mode(vk::ResolveModeFlags::AVERAGE)
            .resolve_image_view(targets.resolve.view)
            .resolve_image_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
            .load_op(vk::AttachmentLoadOp::CLEAR)
            .store_op(vk::AttachmentStoreOp::DONT_CARE)
            .clear_value(vk::ClearValue {
                color: vk::ClearColorValue {
                    float32: CLEAR_COLOR,
                },
            })];
        let depth_attachment = vk::RenderingAttachmentInfo::default()
            .image_view(targets.depth.view)
            .image_layout(vk::ImageLayout::DEPTH_STENCIL_ATTACHMENT_OPTIMAL)
            .load_op(vk::AttachmentLoadOp::CLEAR)
            .store_op(vk::AttachmentStoreOp::DONT_CARE)
            .clear_value(vk::ClearValue {
                depth_stencil: vk::ClearDepthStencilValue {
                    depth: 1.0,
                    stencil: 0,
                },
            });
        let rendering = vk::RenderingInfo::default()
            .render_area(vk::Rect2D::default().extent(EXTENT))
            .layer_count(1)
            .color_attachments(&color_attachment)
            .depth_attachment(&depth_attachment);
        gpu.cmd_begin_rendering(command_buffer, &rendering)?;
        scene.draw(gpu, command_buffer, pipeline);
        gpu.cmd_end_rendering(command_buffer)?;
        image_barrier(
            gpu,
            command_buffer,
            &targets.resolve,
            (
                vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL,
                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
            ),
            color_output,
            (
                vk::PipelineStageFlags::TRANSFER,
                vk::AccessFlags::TRANSFER_READ,
            ),
        );
        gpu.record_image_readback(command_buffer, &targets.resolve, &targets.readback);
        Ok(())
    })?;
    targets.readback.read_all(gpu)
}
