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
use std::ffi::CStr;
use std::path::PathBuf;
use venus_rs_tests::vk_util::{
    check, finish, image_barrier, sha256_hex, usage_error, version_text, write_png, Args, Buffer,
    Features, Gpu, GraphicsPipelineDesc, Image, ImageDesc, PipelineTarget, Wishes,
    GRAPHICS_COMMANDS,
};

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
const VERTEX_SPIRV: &[u8] = include_bytes!("../../shaders/scene.vert.spv");
const FRAGMENT_SPIRV: &[u8] = include_bytes!("../../shaders/scene.frag.spv");
/// The scene is rotated so that no edge is axis-aligned (MSAA then has partly covered pixels to resolve).
const ROTATION: f32 = 0.35;
const SCALE: f32 = 0.95;
const TINT: [f32; 4] = [0.9, 0.9, 0.9, 1.0];
const TEXTURE_SIZE: u32 = 8;

/// What the scene needs beyond plain offscreen rendering.
const SCENE_COMMANDS: &[&CStr] = &[
    c"vkCreateSampler",
    c"vkDestroySampler",
    c"vkCmdCopyBufferToImage",
    c"vkCmdBindDescriptorSets",
    c"vkCmdBindIndexBuffer",
    c"vkCmdDrawIndexed",
];

/// A quad of the scene in model space.
struct Quad {
    min: [f32; 2],
    max: [f32; 2],
    depth: f32,
    color: [f32; 3],
}

/// The near (green) quad is drawn first and the far (red) one last: only the depth test keeps green in front
/// where they overlap.
const QUADS: [Quad; 2] = [
    Quad {
        min: [-0.65, -0.65],
        max: [0.35, 0.35],
        depth: 0.25,
        color: [0.3, 1.0, 0.3],
    },
    Quad {
        min: [-0.35, -0.35],
        max: [0.65, 0.65],
        depth: 0.75,
        color: [1.0, 0.35, 0.35],
    },
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

/// What both renderings share: geometry, uniforms, the texture and the descriptor set that binds them.
struct Scene {
    pipeline_layout: vk::PipelineLayout,
    set: vk::DescriptorSet,
    vertices: Buffer,
    indices: Buffer,
    index_count: u32,
}

impl Scene {
    fn new(gpu: &Gpu) -> Result<Scene, String> {
        let mut vertex_data: Vec<f32> = Vec::new();
        let mut index_data: Vec<u16> = Vec::new();
        for quad in &QUADS {
            let base = (vertex_data.len() / 8) as u16;
            for (x, y, u, v) in [
                (quad.min[0], quad.min[1], 0.0, 0.0),
                (quad.max[0], quad.min[1], 1.0, 0.0),
                (quad.min[0], quad.max[1], 0.0, 1.0),
                (quad.max[0], quad.max[1], 1.0, 1.0),
            ] {
                vertex_data.extend_from_slice(&[x, y, quad.depth, u, v]);
                vertex_data.extend_from_slice(&quad.color);
            }
            index_data.extend([0, 1, 2, 2, 1, 3].map(|corner| base + corner));
        }
        let vertices = gpu.host_buffer(
            (vertex_data.len() * 4) as u64,
            vk::BufferUsageFlags::VERTEX_BUFFER,
            "vertices",
        )?;
        vertices.write(gpu, 0, &vertex_data)?;
        let indices = gpu.host_buffer(
            (index_data.len() * 2) as u64,
            vk::BufferUsageFlags::INDEX_BUFFER,
            "indices",
        )?;
        indices.write(gpu, 0, &index_data)?;
        let uniforms = gpu.host_buffer(80, vk::BufferUsageFlags::UNIFORM_BUFFER, "uniforms")?;
        uniforms.write(gpu, 0, &transform_columns())?;
        uniforms.write(gpu, 64, &TINT)?;

        let texture = upload_texture(gpu)?;
        let sampler_info = vk::SamplerCreateInfo::default()
            .mag_filter(vk::Filter::NEAREST)
            .min_filter(vk::Filter::NEAREST)
            .mipmap_mode(vk::SamplerMipmapMode::NEAREST)
            .address_mode_u(vk::SamplerAddressMode::CLAMP_TO_EDGE)
            .address_mode_v(vk::SamplerAddressMode::CLAMP_TO_EDGE)
            .address_mode_w(vk::SamplerAddressMode::CLAMP_TO_EDGE)
            .max_lod(0.0);
        // SAFETY: valid device and create info.
        let sampler = gpu.own(check("vkCreateSampler", unsafe {
            gpu.device.create_sampler(&sampler_info, None)
        })?);

        let bindings = [
            vk::DescriptorSetLayoutBinding::default()
                .binding(0)
                .descriptor_type(vk::DescriptorType::UNIFORM_BUFFER)
                .descriptor_count(1)
                .stage_flags(vk::ShaderStageFlags::VERTEX),
            vk::DescriptorSetLayoutBinding::default()
                .binding(1)
                .descriptor_type(vk::DescriptorType::COMBINED_IMAGE_SAMPLER)
                .descriptor_count(1)
                .stage_flags(vk::ShaderStageFlags::FRAGMENT),
        ];
        let set_layout = gpu.descriptor_set_layout(&bindings)?;
        let pipeline_layout = gpu.pipeline_layout(&[set_layout], &[])?;
        let set = gpu.descriptor_set(set_layout, &bindings)?;
        gpu.write_buffer_descriptor(set, 0, vk::DescriptorType::UNIFORM_BUFFER, uniforms.handle);
        let image_info = [vk::DescriptorImageInfo::default()
            .sampler(sampler)
            .image_view(texture.view)
            .image_layout(vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)];
        let write = [vk::WriteDescriptorSet::default()
            .dst_set(set)
            .dst_binding(1)
            .descriptor_type(vk::DescriptorType::COMBINED_IMAGE_SAMPLER)
            .image_info(&image_info)];
        // SAFETY: valid set, sampler and view of this device; the set is not in use.
        unsafe { gpu.device.update_descriptor_sets(&write, &[]) };
        Ok(Scene {
            pipeline_layout,
            set,
            vertices,
            indices,
            index_count: index_data.len() as u32,
        })
    }

    fn pipeline(
        &self,
        gpu: &Gpu,
        target: PipelineTarget,
        what: &str,
    ) -> Result<vk::Pipeline, String> {
        let bindings = [vk::VertexInputBindingDescription::default()
            .binding(0)
            .stride(8 * 4)
            .input_rate(vk::VertexInputRate::VERTEX)];
        let attributes = [
            vk::VertexInputAttributeDescription::default()
                .location(0)
                .format(vk::Format::R32G32B32_SFLOAT)
                .offset(0),
            vk::VertexInputAttributeDescription::default()
                .location(1)
                .format(vk::Format::R32G32_SFLOAT)
                .offset(3 * 4),
            vk::VertexInputAttributeDescription::default()
                .location(2)
                .format(vk::Format::R32G32B32_SFLOAT)
                .offset(5 * 4),
        ];
        gpu.graphics_pipeline(
            &GraphicsPipelineDesc {
                vertex_spirv: VERTEX_SPIRV,
                fragment_spirv: FRAGMENT_SPIRV,
                bindings: &bindings,
                attributes: &attributes,
                layout: self.pipeline_layout,
                extent: EXTENT,
                samples: SAMPLES,
                depth_test: true,
                target,
            },
            what,
        )
    }

    fn draw(&self, gpu: &Gpu, command_buffer: vk::CommandBuffer, pipeline: vk::Pipeline) {
        // SAFETY: recording inside a render pass (or rendering) compatible with `pipeline`; every bound object
        // belongs to this device and outlives the submission.
        unsafe {
            let device = &gpu.device;
            device.cmd_bind_pipeline(command_buffer, vk::PipelineBindPoint::GRAPHICS, pipeline);
            device.cmd_bind_descriptor_sets(
                command_buffer,
                vk::PipelineBindPoint::GRAPHICS,
                self.pipeline_layout,
                0,
                &[self.set],
                &[],
            );
            device.cmd_bind_vertex_buffers(command_buffer, 0, &[self.vertices.handle], &[0]);
            device.cmd_bind_index_buffer(
                command_buffer,
                self.indices.handle,
                0,
                vk::IndexType::UINT16,
            );
            device.cmd_draw_indexed(command_buffer, self.index_count, 1, 0, 0, 0);
        }
    }
}

/// The scene transform as the four columns of a std140 mat4: rotation about z, uniform scale, depth kept.
fn transform_columns() -> [f32; 16] {
    let (sin, cos) = ROTATION.sin_cos();
    [
        SCALE * cos,
        SCALE * sin,
        0.0,
        0.0,
        -SCALE * sin,
        SCALE * cos,
        0.0,
        0.0,
        0.0,
        0.0,
        1.0,
        0.0,
        0.0,
        0.0,
        0.0,
        1.0,
    ]
}

/// The pixel that a model-space point lands on.
fn pixel_of(x: f32, y: f32) -> (usize, usize) {
    let m = transform_columns();
    let ndc_x = m[0] * x + m[4] * y;
    let ndc_y = m[1] * x + m[5] * y;
    let to_pixel = |ndc: f32| ((ndc + 1.0) * 0.5 * SIZE as f32) as usize;
    (to_pixel(ndc_x), to_pixel(ndc_y))
}

/// An 8x8 checkerboard of white and grey texels, copied from a staging buffer into an optimal-tiling image and
/// left in SHADER_READ_ONLY_OPTIMAL.
fn upload_texture(gpu: &Gpu) -> Result<Image, String> {
    let texels: Vec<u8> = (0..TEXTURE_SIZE * TEXTURE_SIZE)
        .flat_map(|index| {
            let (x, y) = (index % TEXTURE_SIZE, index / TEXTURE_SIZE);
            let level = if (x + y) % 2 == 0 { 255 } else { 170 };
            [level, level, level, 255]
        })
        .collect();
    let staging = gpu.host_buffer(
        texels.len() as u64,
        vk::BufferUsageFlags::TRANSFER_SRC,
        "texture staging",
    )?;
    staging.write(gpu, 0, &texels)?;
    let texture = gpu.image(
        &ImageDesc {
            format: COLOR_FORMAT,
            extent: vk::Extent2D {
                width: TEXTURE_SIZE,
                height: TEXTURE_SIZE,
            },
            samples: vk::SampleCountFlags::TYPE_1,
            usage: vk::ImageUsageFlags::SAMPLED | vk::ImageUsageFlags::TRANSFER_DST,
            aspect: vk::ImageAspectFlags::COLOR,
        },
        "texture",
    )?;
    gpu.run_commands("texture upload", |command_buffer| {
        image_barrier(
            gpu,
            command_buffer,
            &texture,
            (
                vk::ImageLayout::UNDEFINED,
                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
            ),
            (
                vk::PipelineStageFlags::TOP_OF_PIPE,
                vk::AccessFlags::empty(),
            ),
            (
                vk::PipelineStageFlags::TRANSFER,
                vk::AccessFlags::TRANSFER_WRITE,
            ),
        );
        let region = [vk::BufferImageCopy::default()
            .image_subresource(texture.subresource_layers())
            .image_extent(texture.desc.extent.into())];
        // SAFETY: recording outside a render pass; the image is in TRANSFER_DST_OPTIMAL and the staging buffer
        // holds every texel.
        unsafe {
            gpu.device.cmd_copy_buffer_to_image(
                command_buffer,
                staging.handle,
                texture.handle,
                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                &region,
            )
        };
        image_barrier(
            gpu,
            command_buffer,
            &texture,
            (
                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL,
            ),
            (
                vk::PipelineStageFlags::TRANSFER,
                vk::AccessFlags::TRANSFER_WRITE,
            ),
            (
                vk::PipelineStageFlags::FRAGMENT_SHADER,
                vk::AccessFlags::SHADER_READ,
            ),
        );
        Ok(())
    })?;
    Ok(texture)
}

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

fn render_with_render_pass(
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

fn render_with_dynamic_rendering(
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
