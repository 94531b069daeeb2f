//! Shader modules, layouts, descriptor sets and pipelines with the fixed state the programs share: triangle
//! lists, no culling, one viewport covering the whole target, no blending.

use super::{check, spirv_words, Gpu};
use ash::vk;

/// What a graphics pipeline renders into: a subpass of a render pass, or dynamic rendering with these formats.
#[derive(Clone, Copy, Debug)]
pub enum PipelineTarget {
    RenderPass(vk::RenderPass),
    Dynamic {
        color: vk::Format,
        /// `UNDEFINED` when there is no depth attachment.
        depth: vk::Format,
    },
}

pub struct GraphicsPipelineDesc<'a> {
    pub vertex_spirv: &'a [u8],
    pub fragment_spirv: &'a [u8],
    pub bindings: &'a [vk::VertexInputBindingDescription],
    pub attributes: &'a [vk::VertexInputAttributeDescription],
    pub layout: vk::PipelineLayout,
    pub extent: vk::Extent2D,
    pub samples: vk::SampleCountFlags,
    /// Depth test (LESS) and depth writes.
    pub depth_test: bool,
    pub target: PipelineTarget,
}

impl Gpu {
    pub fn shader_module(&self, spirv: &[u8], what: &str) -> Result<vk::ShaderModule, String> {
        let code = spirv_words(spirv)?;
        let info = vk::ShaderModuleCreateInfo::default().code(&code);
        // SAFETY: valid device; the code outlives the call.
        Ok(
            self.own(check(&format!("vkCreateShaderModule ({what})"), unsafe {
                self.device.create_shader_module(&info, None)
            })?),
        )
    }

    pub fn descriptor_set_layout(
        &self,
        bindings: &[vk::DescriptorSetLayoutBinding],
    ) -> Result<vk::DescriptorSetLayout, String> {
        let info = vk::DescriptorSetLayoutCreateInfo::default().bindings(bindings);
        // SAFETY: valid device and create info.
        Ok(self.own(check("vkCreateDescriptorSetLayout", unsafe {
            self.device.create_descriptor_set_layout(&info, None)
        })?))
    }

    pub fn pipeline_layout(
        &self,
        set_layouts: &[vk::DescriptorSetLayout],
        push_constants: &[vk::PushConstantRange],
    ) -> Result<vk::PipelineLayout, String> {
        let info = vk::PipelineLayoutCreateInfo::default()
            .set_layouts(set_layouts)
            .push_constant_ranges(push_constants);
        // SAFETY: valid device and create info.
        Ok(self.own(check("vkCreatePipelineLayout", unsafe {
            self.device.create_pipeline_layout(&info, None)
        })?))
    }

    /// One descriptor set of `layout`, from a pool of its own sized by `bindings` (the layout's bindings).
    pub fn descriptor_set(
        &self,
        layout: vk::DescriptorSetLayout,
        bindings: &[vk::DescriptorSetLayoutBinding],
    ) -> Result<vk::DescriptorSet, String> {
        let sizes: Vec<vk::DescriptorPoolSize> = bindings
            .iter()
            .map(|binding| {
                vk::DescriptorPoolSize::default()
                    .ty(binding.descriptor_type)
                    .descriptor_count(binding.descriptor_count)
            })
            .collect();
        let pool_info = vk::DescriptorPoolCreateInfo::default()
            .max_sets(1)
            .pool_sizes(&sizes);
        // SAFETY: valid device and create info.
        let pool = self.own(check("vkCreateDescriptorPool", unsafe {
            self.device.create_descriptor_pool(&pool_info, None)
        })?);
        let layouts = [layout];
        let allocate = vk::DescriptorSetAllocateInfo::default()
            .descriptor_pool(pool)
            .set_layouts(&layouts);
        // SAFETY: the pool has room for exactly this set.
        Ok(check("vkAllocateDescriptorSets", unsafe {
            self.device.allocate_descriptor_sets(&allocate)
        })?[0])
    }

    /// Points binding `binding` of `set` at the whole of `buffer`.
    pub fn write_buffer_descriptor(
        &self,
        set: vk::DescriptorSet,
        binding: u32,
        kind: vk::DescriptorType,
        buffer: vk::Buffer,
    ) {
        let buffers = [vk::DescriptorBufferInfo::default()
            .buffer(buffer)
            .range(vk::WHOLE_SIZE)];
        let write = [vk::WriteDescriptorSet::default()
            .dst_set(set)
            .dst_binding(binding)
            .descriptor_type(kind)
            .buffer_info(&buffers)];
        // SAFETY: valid set and buffer of this device; the set is not in use by pending work.
        unsafe { self.device.update_descriptor_sets(&write, &[]) };
    }

    pub fn compute_pipeline(
        &self,
        spirv: &[u8],
        layout: vk::PipelineLayout,
        what: &str,
    ) -> Result<vk::Pipeline, String> {
        let module = self.shader_module(spirv, what)?;
        let stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(module)
            .name(c"main");
        let info = [vk::ComputePipelineCreateInfo::default()
            .stage(stage)
            .layout(layout)];
        // SAFETY: valid device; the create info and what it points to live across the call.
        let pipelines = unsafe {
            self.device
                .create_compute_pipelines(vk::PipelineCache::null(), &info, None)
        }
        .map_err(|(_, e)| format!("vkCreateComputePipelines ({what}): {e:?}"))?;
        Ok(self.own(pipelines[0]))
    }

    pub fn graphics_pipeline(
        &self,
        desc: &GraphicsPipelineDesc,
        what: &str,
    ) -> Result<vk::Pipeline, String> {
        let vertex = self.shader_module(desc.vertex_spirv, what)?;
        let fragment = self.shader_module(desc.fragment_spirv, what)?;
        let stages = [
            vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::VERTEX)
                .module(vertex)
                .name(c"main"),
            vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::FRAGMENT)
                .module(fragment)
                .name(c"main"),
        ];
        let vertex_input = vk::PipelineVertexInputStateCreateInfo::default()
            .vertex_binding_descriptions(desc.bindings)
            .vertex_attribute_descriptions(desc.attributes);
        let input_assembly = vk::PipelineInputAssemblyStateCreateInfo::default()
            .topology(vk::PrimitiveTopology::TRIANGLE_LIST);
        let viewports = [vk::Viewport::default()
            .width(desc.extent.width as f32)
            .height(desc.extent.height as f32)
            .max_depth(1.0)];
        let scissors = [vk::Rect2D::default().extent(desc.extent)];
        let viewport = vk::PipelineViewportStateCreateInfo::default()
            .viewports(&viewports)
            .scissors(&scissors);
        let rasterization = vk::PipelineRasterizationStateCreateInfo::default()
            .polygon_mode(vk::PolygonMode::FILL)
            .cull_mode(vk::CullModeFlags::NONE)
            .front_face(vk::FrontFace::COUNTER_CLOCKWISE)
            .line_width(1.0);
        let multisample =
            vk::PipelineMultisampleStateCreateInfo::default().rasterization_samples(desc.samples);
        let depth = vk::PipelineDepthStencilStateCreateInfo::default()
            .depth_test_enable(desc.depth_test)
            .depth_write_enable(desc.depth_test)
            .depth_compare_op(vk::CompareOp::LESS)
            .max_depth_bounds(1.0);
        let blend_attachments = [vk::PipelineColorBlendAttachmentState::default()
            .color_write_mask(vk::ColorComponentFlags::RGBA)];
        let blend =
            vk::PipelineColorBlendStateCreateInfo::default().attachments(&blend_attachments);
        let color_formats;
        let mut rendering = vk::PipelineRenderingCreateInfo::default();
        let mut info = vk::GraphicsPipelineCreateInfo::default()
            .stages(&stages)
            .vertex_input_state(&vertex_input)
            .input_assembly_state(&input_assembly)
            .viewport_state(&viewport)
            .rasterization_state(&rasterization)
            .multisample_state(&multisample)
            .depth_stencil_state(&depth)
            .color_blend_state(&blend)
            .layout(desc.layout);
        match desc.target {
            PipelineTarget::RenderPass(render_pass) => info = info.render_pass(render_pass),
            PipelineTarget::Dynamic { color, depth } => {
                color_formats = [color];
                rendering = rendering
                    .color_attachment_formats(&color_formats)
                    .depth_attachment_format(depth);
                info = info.push_next(&mut rendering);
            }
        }
        // SAFETY: valid device; the create info and everything it points to live across the call.
        let pipelines = unsafe {
            self.device
                .create_graphics_pipelines(vk::PipelineCache::null(), &[info], None)
        }
        .map_err(|(_, e)| format!("vkCreateGraphicsPipelines ({what}): {e:?}"))?;
        Ok(self.own(pipelines[0]))
    }
}
