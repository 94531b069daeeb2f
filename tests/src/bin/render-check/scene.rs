//! render-check's scene: two overlapping textured quads, the uniforms that place them, the texture and the
//! descriptor set binding both, and where a model-space point lands in the image.

use super::{COLOR_FORMAT, EXTENT, SAMPLES, SIZE};
use ash::vk;
use venus_rs_tests::vk_util::{
    check, image_barrier, Buffer, Gpu, GraphicsPipelineDesc, Image, ImageDesc, PipelineTarget,
};

const VERTEX_SPIRV: &[u8] = include_bytes!("../../../shaders/scene.vert.spv");
const FRAGMENT_SPIRV: &[u8] = include_bytes!("../../../shaders/scene.frag.spv");
/// The scene is rotated so that no edge is axis-aligned (MSAA then has partly covered pixels to resolve).
const ROTATION: f32 = 0.35;
const SCALE: f32 = 0.95;
const TINT: [f32; 4] = [0.9, 0.9, 0.9, 1.0];
const TEXTURE_SIZE: u32 = 8;

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

/// What both renderings share: geometry, uniforms, the texture and the descriptor set that binds them.
pub(super) struct Scene {
    pipeline_layout: vk::PipelineLayout,
    set: vk::DescriptorSet,
    vertices: Buffer,
    indices: Buffer,
    index_count: u32,
}

impl Scene {
    pub(super) fn new(gpu: &Gpu) -> Result<Scene, String> {
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

    pub(super) fn pipeline(
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

    pub(super) fn draw(
        &self,
        gpu: &Gpu,
        command_buffer: vk::CommandBuffer,
        pipeline: vk::Pipeline,
    ) {
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
pub(super) fn pixel_of(x: f32, y: f32) -> (usize, usize) {
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
