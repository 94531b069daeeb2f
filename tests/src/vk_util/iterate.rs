//! The `iterate.comp` compute shader (one step of x -> 3x + 1 over every element of a storage buffer): the
//! programs' unit of device work whose result the host can predict exactly.

use super::{memory_barrier, Buffer, Gpu};
use ash::vk;

/// The shader's SPIR-V, for programs that make pipelines of their own from it.
pub const SPIRV: &[u8] = include_bytes!("../../shaders/iterate.comp.spv");
pub const WORKGROUP_SIZE: u32 = 64;

/// What the shader leaves in element `index` (which started as `index`) after `steps` steps.
pub fn iterate_expected(index: u32, steps: u32) -> u32 {
    (0..steps).fold(index, |x, _| x.wrapping_mul(3).wrapping_add(1))
}

/// Element `index` holds `index`: the starting contents the programs give an iterated buffer.
pub fn iterate_start(elements: u32) -> Vec<u32> {
    (0..elements).collect()
}

/// The compute pipeline for `iterate.comp` and its layout (one storage buffer, the element count pushed).
pub struct Iterate {
    set_layout: vk::DescriptorSetLayout,
    layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
}

fn bindings() -> [vk::DescriptorSetLayoutBinding<'static>; 1] {
    [vk::DescriptorSetLayoutBinding::default()
        .binding(0)
        .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
        .descriptor_count(1)
        .stage_flags(vk::ShaderStageFlags::COMPUTE)]
}

impl Iterate {
    pub fn new(gpu: &Gpu) -> Result<Iterate, String> {
        let set_layout = gpu.descriptor_set_layout(&bindings())?;
        let push = [vk::PushConstantRange::default()
            .stage_flags(vk::ShaderStageFlags::COMPUTE)
            .size(4)];
        let layout = gpu.pipeline_layout(&[set_layout], &push)?;
        let pipeline = gpu.compute_pipeline(SPIRV, layout, "iterate.comp")?;
        Ok(Iterate {
            set_layout,
            layout,
            pipeline,
        })
    }

    /// A descriptor set that points the shader at `buffer`.
    pub fn set_for(&self, gpu: &Gpu, buffer: &Buffer) -> Result<vk::DescriptorSet, String> {
        self.set_for_handle(gpu, buffer.handle)
    }

    /// A descriptor set that points the shader at the buffer `handle` (one that is never mapped, say).
    pub fn set_for_handle(
        &self,
        gpu: &Gpu,
        handle: vk::Buffer,
    ) -> Result<vk::DescriptorSet, String> {
        let set = gpu.descriptor_set(self.set_layout, &bindings())?;
        gpu.write_buffer_descriptor(set, 0, vk::DescriptorType::STORAGE_BUFFER, handle);
        Ok(set)
    }

    /// Binds the pipeline and `set` and pushes the element count, ready for dispatches.
    pub fn bind(
        &self,
        gpu: &Gpu,
        command_buffer: vk::CommandBuffer,
        set: vk::DescriptorSet,
        elements: u32,
    ) {
        // SAFETY: recording outside a render pass; the pipeline, layout and set belong to this device.
        unsafe {
            gpu.device.cmd_bind_pipeline(
                command_buffer,
                vk::PipelineBindPoint::COMPUTE,
                self.pipeline,
            );
            gpu.device.cmd_bind_descriptor_sets(
                command_buffer,
                vk::PipelineBindPoint::COMPUTE,
                self.layout,
                0,
                &[set],
                &[],
            );
            gpu.device.cmd_push_constants(
                command_buffer,
                self.layout,
                vk::ShaderStageFlags::COMPUTE,
                0,
                &elements.to_le_bytes(),
            );
        }
    }

    /// The pipeline layout, for programs that make more pipelines of the same shape.
    pub fn layout(&self) -> vk::PipelineLayout {
        self.layout
    }

    /// Records `steps` dispatches over `elements` elements, each step ordered after the previous one.
    pub fn record(
        &self,
        gpu: &Gpu,
        command_buffer: vk::CommandBuffer,
        set: vk::DescriptorSet,
        elements: u32,
        steps: u32,
    ) {
        self.bind(gpu, command_buffer, set, elements);
        let shader_access = vk::AccessFlags::SHADER_READ | vk::AccessFlags::SHADER_WRITE;
        for step in 0..steps {
            if step > 0 {
                memory_barrier(
                    gpu,
                    command_buffer,
                    (vk::PipelineStageFlags::COMPUTE_SHADER, shader_access),
                    (vk::PipelineStageFlags::COMPUTE_SHADER, shader_access),
                );
            }
            // SAFETY: the compute state is bound above.
            unsafe {
                gpu.device
                    .cmd_dispatch(command_buffer, elements.div_ceil(WORKGROUP_SIZE), 1, 1)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::iterate_expected;

    #[test]
    fn expected_values_follow_three_x_plus_one_with_wraparound() {
        assert_eq!(iterate_expected(5, 0), 5);
        assert_eq!(iterate_expected(5, 2), 49);
        assert_eq!(
            iterate_expected(u32::MAX, 1),
            u32::MAX.wrapping_mul(3).wrapping_add(1)
        );
    }
}
