//! Every object a program creates is recorded here and destroyed in reverse order when the [`super::Gpu`] goes
//! away, so that no path (success or any failure) leaks an object that the validation layer would report.

use ash::vk;

/// Declares the handle kinds the programs create, with the call that destroys each.
macro_rules! owned_handles {
    ($($kind:ident => $destroy:ident),* $(,)?) => {
        /// One object owned by the device.
        #[derive(Clone, Copy, Debug)]
        pub enum Owned {
            $($kind(vk::$kind),)*
        }

        $(impl From<vk::$kind> for Owned {
            fn from(handle: vk::$kind) -> Owned {
                Owned::$kind(handle)
            }
        })*

        impl Owned {
            /// # Safety
            /// The handle was made from `device`, and no pending device work uses it.
            pub unsafe fn destroy(self, device: &ash::Device) {
                // SAFETY: the caller guarantees the handle belongs to `device` and is idle.
                unsafe {
                    match self {
                        $(Owned::$kind(handle) => device.$destroy(handle, None),)*
                    }
                }
            }
        }
    };
}

owned_handles! {
    Buffer => destroy_buffer,
    DeviceMemory => free_memory,
    Image => destroy_image,
    ImageView => destroy_image_view,
    Sampler => destroy_sampler,
    ShaderModule => destroy_shader_module,
    Pipeline => destroy_pipeline,
    PipelineLayout => destroy_pipeline_layout,
    DescriptorSetLayout => destroy_descriptor_set_layout,
    DescriptorPool => destroy_descriptor_pool,
    RenderPass => destroy_render_pass,
    Framebuffer => destroy_framebuffer,
    CommandPool => destroy_command_pool,
    Fence => destroy_fence,
    Semaphore => destroy_semaphore,
    Event => destroy_event,
    QueryPool => destroy_query_pool,
}
