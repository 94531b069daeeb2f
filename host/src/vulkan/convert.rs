//! Conversions between the wire's typed structs (`venus_rs_encoder::host::types`) and the C
//! structs the driver takes (`ash::vk`).
//!
//! The encoder crate decodes into typed Rust values; the driver needs C memory. For plain
//! structs (scalars, fixed arrays and nested plain structs) one line per struct lists its
//! members, and [`FromC`] / [`ToC`] convert member by member; the compiler checks every name
//! and type against ash. `pNext` chains become a [`CChain`] of boxed C structs linked in order.
//! Structs without a conversion here are refused with a context error that names them, and
//! the extensions that would bring them are not offered to the guest.
//!
//! The generator could emit all of this (it already computes every C layout for the guest
//! side); until it does, the list below covers what Venus guests send for the core versions
//! this host exposes.

use std::ffi::{c_char, c_void};

use ash::vk;
use venus_rs_encoder::host::chain::ChainLink;
use venus_rs_encoder::host::types::{self, Ext};
use venus_rs_encoder::protocol::EXTENSION_STRUCTS;

use crate::executor::ContextFatal;

/// A typed (wire) value made from the driver's C value.
pub(crate) trait FromC<C> {
    fn from_c(c: &C) -> Self;
}

/// The driver's C value for a typed (wire) value.
pub(crate) trait ToC<C> {
    fn to_c(&self) -> C;
}

macro_rules! same_scalar {
    ($($t:ty),*) => {$(
        impl FromC<$t> for $t {
            fn from_c(c: &$t) -> Self {
                *c
            }
        }
        impl ToC<$t> for $t {
            fn to_c(&self) -> $t {
                *self
            }
        }
    )*};
}
same_scalar!(u8, u32, i32, u64, f32);

/// size_t is always 8 bytes on the wire.
impl FromC<usize> for u64 {
    fn from_c(c: &usize) -> Self {
        *c as u64
    }
}

impl ToC<usize> for u64 {
    fn to_c(&self) -> usize {
        *self as usize
    }
}

impl FromC<c_char> for u8 {
    fn from_c(c: &c_char) -> Self {
        *c as u8
    }
}

impl ToC<c_char> for u8 {
    fn to_c(&self) -> c_char {
        *self as c_char
    }
}

/// Bitmask and enum newtypes travel as their raw value.
macro_rules! raw_newtype {
    ($raw:ty => $($t:ident),* $(,)?) => {$(
        impl FromC<vk::$t> for $raw {
            fn from_c(c: &vk::$t) -> Self {
                c.as_raw()
            }
        }
        impl ToC<vk::$t> for $raw {
            fn to_c(&self) -> vk::$t {
                vk::$t::from_raw(*self)
            }
        }
    )*};
}
raw_newtype!(u32 =>
    SampleCountFlags,
    QueueFlags,
    MemoryPropertyFlags,
    MemoryHeapFlags,
    FormatFeatureFlags,
    ShaderStageFlags,
    SubgroupFeatureFlags,
    ResolveModeFlags,
    ExternalMemoryFeatureFlags,
    ExternalMemoryHandleTypeFlags,
);
raw_newtype!(u64 => FormatFeatureFlags2);
raw_newtype!(u32 => MemoryAllocateFlags, ImageAspectFlags);
raw_newtype!(i32 =>
    SemaphoreType,
    PhysicalDeviceType,
    PointClippingBehavior,
    DriverId,
    ShaderFloatControlsIndependence,
);

/// Fixed-size arrays: the decoder has already checked that the wire sent exactly `N`.
impl<T: FromC<C>, C, const N: usize> FromC<[C; N]> for Vec<T> {
    fn from_c(c: &[C; N]) -> Self {
        c.iter().map(T::from_c).collect()
    }
}

impl<T: ToC<C>, C: Default + Copy, const N: usize> ToC<[C; N]> for Vec<T> {
    fn to_c(&self) -> [C; N] {
        let mut out = [C::default(); N];
        for (slot, value) in out.iter_mut().zip(self) {
            *slot = value.to_c();
        }
        out
    }
}

/// `plain`: a struct without sType; `chained`: one with sType and pNext (its typed `p_next`
/// stays empty: chains are converted as a whole by [`CChain`]).
macro_rules! convert_struct {
    (plain $name:ident { $($field:ident),* $(,)? }) => {
        impl FromC<vk::$name> for types::$name {
            fn from_c(c: &vk::$name) -> Self {
                Self { $($field: FromC::from_c(&c.$field),)* }
            }
        }
        impl ToC<vk::$name> for types::$name {
            fn to_c(&self) -> vk::$name {
                let mut c = vk::$name::default();
                $(c.$field = self.$field.to_c();)*
                c
            }
        }
    };
    (chained $name:ident { $($field:ident),* $(,)? }) => {
        impl FromC<vk::$name<'static>> for types::$name<'_> {
            fn from_c(c: &vk::$name<'static>) -> Self {
                Self { p_next: Vec::new(), $($field: FromC::from_c(&c.$field),)* }
            }
        }
        impl ToC<vk::$name<'static>> for types::$name<'_> {
            fn to_c(&self) -> vk::$name<'static> {
                let mut c = vk::$name::default();
                $(c.$field = self.$field.to_c();)*
                c
            }
        }
    };
}

convert_struct!(plain PhysicalDeviceFeatures {
    robust_buffer_access,
    full_draw_index_uint32,
    image_cube_array,
    independent_blend,
    geometry_shader,
    tessellation_shader,
    sample_rate_shading,
    dual_src_blend,
    logic_op,
    multi_draw_indirect,
    draw_indirect_first_instance,
    depth_clamp,
    depth_bias_clamp,
    fill_mode_non_solid,
    depth_bounds,
    wide_lines,
    large_points,
    alpha_to_one,
    multi_viewport,
    sampler_anisotropy,
    texture_compression_etc2,
    texture_compression_astc_ldr,
    texture_compression_bc,
    occlusion_query_precise,
    pipeline_statistics_query,
    vertex_pipeline_stores_and_atomics,
    fragment_stores_and_atomics,
    shader_tessellation_and_geometry_point_size,
    shader_image_gather_extended,
    shader_storage_image_extended_formats,
    shader_storage_image_multisample,
    shader_storage_image_read_without_format,
    shader_storage_image_write_without_format,
    shader_uniform_buffer_array_dynamic_indexing,
    shader_sampled_image_array_dynamic_indexing,
    shader_storage_buffer_array_dynamic_indexing,
    shader_storage_image_array_dynamic_indexing,
    shader_clip_distance,
    shader_cull_distance,
    shader_float64,
    shader_int64,
    shader_int16,
    shader_resource_residency,
    shader_resource_min_lod,
    sparse_binding,
    sparse_residency_buffer,
    sparse_residency_image2_d,
    sparse_residency_image3_d,
    sparse_residency2_samples,
    sparse_residency4_samples,
    sparse_residency8_samples,
    sparse_residency16_samples,
    sparse_residency_aliased,
    variable_multisample_rate,
    inherited_queries,
});
convert_struct!(plain PhysicalDeviceProperties {
    api_version,
    driver_version,
    vendor_id,
    device_id,
    device_type,
    device_name,
    pipeline_cache_uuid,
    limits,
    sparse_properties,
});
convert_struct!(plain PhysicalDeviceLimits {
    max_image_dimension1_d,
    max_image_dimension2_d,
    max_image_dimension3_d,
    max_image_dimension_cube,
    max_image_array_layers,
    max_texel_buffer_elements,
    max_uniform_buffer_range,
    max_storage_buffer_range,
    max_push_constants_size,
    max_memory_allocation_count,
    max_sampler_allocation_count,
    buffer_image_granularity,
    sparse_address_space_size,
    max_bound_descriptor_sets,
    max_per_stage_descriptor_samplers,
    max_per_stage_descriptor_uniform_buffers,
    max_per_stage_descriptor_storage_buffers,
    max_per_stage_descriptor_sampled_images,
    max_per_stage_descriptor_storage_images,
    max_per_stage_descriptor_input_attachments,
    max_per_stage_resources,
    max_descriptor_set_samplers,
    max_descriptor_set_uniform_buffers,
    max_descriptor_set_uniform_buffers_dynamic,
    max_descriptor_set_storage_buffers,
    max_descriptor_set_storage_buffers_dynamic,
    max_descriptor_set_sampled_images,
    max_descriptor_set_storage_images,
    max_descriptor_set_input_attachments,
    max_vertex_input_attributes,
    max_vertex_input_bindings,
    max_vertex_input_attribute_offset,
    max_vertex_input_binding_stride,
    max_vertex_output_components,
    max_tessellation_generation_level,
    max_tessellation_patch_size,
    max_tessellation_control_per_vertex_input_components,
    max_tessellation_control_per_vertex_output_components,
    max_tessellation_control_per_patch_output_components,
    max_tessellation_control_total_output_components,
    max_tessellation_evaluation_input_components,
    max_tessellation_evaluation_output_components,
    max_geometry_shader_invocations,
    max_geometry_input_components,
    max_geometry_output_components,
    max_geometry_output_vertices,
    max_geometry_total_output_components,
    max_fragment_input_components,
    max_fragment_output_attachments,
    max_fragment_dual_src_attachments,
    max_fragment_combined_output_resources,
    max_compute_shared_memory_size,
    max_compute_work_group_count,
    max_compute_work_group_invocations,
    max_compute_work_group_size,
    sub_pixel_precision_bits,
    sub_texel_precision_bits,
    mipmap_precision_bits,
    max_draw_indexed_index_value,
    max_draw_indirect_count,
    max_sampler_lod_bias,
    max_sampler_anisotropy,
    max_viewports,
    max_viewport_dimensions,
    viewport_bounds_range,
    viewport_sub_pixel_bits,
    min_memory_map_alignment,
    min_texel_buffer_offset_alignment,
    min_uniform_buffer_offset_alignment,
    min_storage_buffer_offset_alignment,
    min_texel_offset,
    max_texel_offset,
    min_texel_gather_offset,
    max_texel_gather_offset,
    min_interpolation_offset,
    max_interpolation_offset,
    sub_pixel_interpolation_offset_bits,
    max_framebuffer_width,
    max_framebuffer_height,
    max_framebuffer_layers,
    framebuffer_color_sample_counts,
    framebuffer_depth_sample_counts,
    framebuffer_stencil_sample_counts,
    framebuffer_no_attachments_sample_counts,
    max_color_attachments,
    sampled_image_color_sample_counts,
    sampled_image_integer_sample_counts,
    sampled_image_depth_sample_counts,
    sampled_image_stencil_sample_counts,
    storage_image_sample_counts,
    max_sample_mask_words,
    timestamp_compute_and_graphics,
    timestamp_period,
    max_clip_distances,
    max_cull_distances,
    max_combined_clip_and_cull_distances,
    discrete_queue_priorities,
    point_size_range,
    line_width_range,
    point_size_granularity,
    line_width_granularity,
    strict_lines,
    standard_sample_locations,
    optimal_buffer_copy_offset_alignment,
    optimal_buffer_copy_row_pitch_alignment,
    non_coherent_atom_size,
});
convert_struct!(plain PhysicalDeviceSparseProperties {
    residency_standard2_d_block_shape,
    residency_standard2_d_multisample_block_shape,
    residency_standard3_d_block_shape,
    residency_aligned_mip_size,
    residency_non_resident_strict,
});
convert_struct!(plain QueueFamilyProperties {
    queue_flags,
    queue_count,
    timestamp_valid_bits,
    min_image_transfer_granularity,
});
convert_struct!(plain Extent3D {
    width,
    height,
    depth,
});
convert_struct!(plain MemoryType {
    property_flags,
    heap_index,
});
convert_struct!(plain MemoryHeap {
    size,
    flags,
});
convert_struct!(plain PhysicalDeviceMemoryProperties {
    memory_type_count,
    memory_types,
    memory_heap_count,
    memory_heaps,
});
convert_struct!(plain FormatProperties {
    linear_tiling_features,
    optimal_tiling_features,
    buffer_features,
});
convert_struct!(plain ImageFormatProperties {
    max_extent,
    max_mip_levels,
    max_array_layers,
    sample_counts,
    max_resource_size,
});
convert_struct!(plain ExtensionProperties {
    extension_name,
    spec_version,
});
convert_struct!(plain ConformanceVersion {
    major,
    minor,
    subminor,
    patch,
});
convert_struct!(chained PhysicalDeviceVulkan11Features {
    storage_buffer16_bit_access,
    uniform_and_storage_buffer16_bit_access,
    storage_push_constant16,
    storage_input_output16,
    multiview,
    multiview_geometry_shader,
    multiview_tessellation_shader,
    variable_pointers_storage_buffer,
    variable_pointers,
    protected_memory,
    sampler_ycbcr_conversion,
    shader_draw_parameters,
});
convert_struct!(chained PhysicalDeviceVulkan12Features {
    sampler_mirror_clamp_to_edge,
    draw_indirect_count,
    storage_buffer8_bit_access,
    uniform_and_storage_buffer8_bit_access,
    storage_push_constant8,
    shader_buffer_int64_atomics,
    shader_shared_int64_atomics,
    shader_float16,
    shader_int8,
    descriptor_indexing,
    shader_input_attachment_array_dynamic_indexing,
    shader_uniform_texel_buffer_array_dynamic_indexing,
    shader_storage_texel_buffer_array_dynamic_indexing,
    shader_uniform_buffer_array_non_uniform_indexing,
    shader_sampled_image_array_non_uniform_indexing,
    shader_storage_buffer_array_non_uniform_indexing,
    shader_storage_image_array_non_uniform_indexing,
    shader_input_attachment_array_non_uniform_indexing,
    shader_uniform_texel_buffer_array_non_uniform_indexing,
    shader_storage_texel_buffer_array_non_uniform_indexing,
    descriptor_binding_uniform_buffer_update_after_bind,
    descriptor_binding_sampled_image_update_after_bind,
    descriptor_binding_storage_image_update_after_bind,
    descriptor_binding_storage_buffer_update_after_bind,
    descriptor_binding_uniform_texel_buffer_update_after_bind,
    descriptor_binding_storage_texel_buffer_update_after_bind,
    descriptor_binding_update_unused_while_pending,
    descriptor_binding_partially_bound,
    descriptor_binding_variable_descriptor_count,
    runtime_descriptor_array,
    sampler_filter_minmax,
    scalar_block_layout,
    imageless_framebuffer,
    uniform_buffer_standard_layout,
    shader_subgroup_extended_types,
    separate_depth_stencil_layouts,
    host_query_reset,
    timeline_semaphore,
    buffer_device_address,
    buffer_device_address_capture_replay,
    buffer_device_address_multi_device,
    vulkan_memory_model,
    vulkan_memory_model_device_scope,
    vulkan_memory_model_availability_visibility_chains,
    shader_output_viewport_index,
    shader_output_layer,
    subgroup_broadcast_dynamic_id,
});
convert_struct!(chained PhysicalDeviceVulkan13Features {
    robust_image_access,
    inline_uniform_block,
    descriptor_binding_inline_uniform_block_update_after_bind,
    pipeline_creation_cache_control,
    private_data,
    shader_demote_to_helper_invocation,
    shader_terminate_invocation,
    subgroup_size_control,
    compute_full_subgroups,
    synchronization2,
    texture_compression_astc_hdr,
    shader_zero_initialize_workgroup_memory,
    dynamic_rendering,
    shader_integer_dot_product,
    maintenance4,
});
convert_struct!(chained PhysicalDeviceVulkan11Properties {
    device_uuid,
    driver_uuid,
    device_luid,
    device_node_mask,
    device_luid_valid,
    subgroup_size,
    subgroup_supported_stages,
    subgroup_supported_operations,
    subgroup_quad_operations_in_all_stages,
    point_clipping_behavior,
    max_multiview_view_count,
    max_multiview_instance_index,
    protected_no_fault,
    max_per_set_descriptors,
    max_memory_allocation_size,
});
convert_struct!(chained PhysicalDeviceVulkan12Properties {
    driver_id,
    driver_name,
    driver_info,
    conformance_version,
    denorm_behavior_independence,
    rounding_mode_independence,
    shader_signed_zero_inf_nan_preserve_float16,
    shader_signed_zero_inf_nan_preserve_float32,
    shader_signed_zero_inf_nan_preserve_float64,
    shader_denorm_preserve_float16,
    shader_denorm_preserve_float32,
    shader_denorm_preserve_float64,
    shader_denorm_flush_to_zero_float16,
    shader_denorm_flush_to_zero_float32,
    shader_denorm_flush_to_zero_float64,
    shader_rounding_mode_rte_float16,
    shader_rounding_mode_rte_float32,
    shader_rounding_mode_rte_float64,
    shader_rounding_mode_rtz_float16,
    shader_rounding_mode_rtz_float32,
    shader_rounding_mode_rtz_float64,
    max_update_after_bind_descriptors_in_all_pools,
    shader_uniform_buffer_array_non_uniform_indexing_native,
    shader_sampled_image_array_non_uniform_indexing_native,
    shader_storage_buffer_array_non_uniform_indexing_native,
    shader_storage_image_array_non_uniform_indexing_native,
    shader_input_attachment_array_non_uniform_indexing_native,
    robust_buffer_access_update_after_bind,
    quad_divergent_implicit_lod,
    max_per_stage_descriptor_update_after_bind_samplers,
    max_per_stage_descriptor_update_after_bind_uniform_buffers,
    max_per_stage_descriptor_update_after_bind_storage_buffers,
    max_per_stage_descriptor_update_after_bind_sampled_images,
    max_per_stage_descriptor_update_after_bind_storage_images,
    max_per_stage_descriptor_update_after_bind_input_attachments,
    max_per_stage_update_after_bind_resources,
    max_descriptor_set_update_after_bind_samplers,
    max_descriptor_set_update_after_bind_uniform_buffers,
    max_descriptor_set_update_after_bind_uniform_buffers_dynamic,
    max_descriptor_set_update_after_bind_storage_buffers,
    max_descriptor_set_update_after_bind_storage_buffers_dynamic,
    max_descriptor_set_update_after_bind_sampled_images,
    max_descriptor_set_update_after_bind_storage_images,
    max_descriptor_set_update_after_bind_input_attachments,
    supported_depth_resolve_modes,
    supported_stencil_resolve_modes,
    independent_resolve_none,
    independent_resolve,
    filter_minmax_single_component_formats,
    filter_minmax_image_component_mapping,
    max_timeline_semaphore_value_difference,
    framebuffer_integer_color_sample_counts,
});
convert_struct!(chained PhysicalDeviceVulkan13Properties {
    min_subgroup_size,
    max_subgroup_size,
    max_compute_workgroup_subgroups,
    required_subgroup_size_stages,
    max_inline_uniform_block_size,
    max_per_stage_descriptor_inline_uniform_blocks,
    max_per_stage_descriptor_update_after_bind_inline_uniform_blocks,
    max_descriptor_set_inline_uniform_blocks,
    max_descriptor_set_update_after_bind_inline_uniform_blocks,
    max_inline_uniform_total_size,
    integer_dot_product8_bit_unsigned_accelerated,
    integer_dot_product8_bit_signed_accelerated,
    integer_dot_product8_bit_mixed_signedness_accelerated,
    integer_dot_product4x8_bit_packed_unsigned_accelerated,
    integer_dot_product4x8_bit_packed_signed_accelerated,
    integer_dot_product4x8_bit_packed_mixed_signedness_accelerated,
    integer_dot_product16_bit_unsigned_accelerated,
    integer_dot_product16_bit_signed_accelerated,
    integer_dot_product16_bit_mixed_signedness_accelerated,
    integer_dot_product32_bit_unsigned_accelerated,
    integer_dot_product32_bit_signed_accelerated,
    integer_dot_product32_bit_mixed_signedness_accelerated,
    integer_dot_product64_bit_unsigned_accelerated,
    integer_dot_product64_bit_signed_accelerated,
    integer_dot_product64_bit_mixed_signedness_accelerated,
    integer_dot_product_accumulating_saturating8_bit_unsigned_accelerated,
    integer_dot_product_accumulating_saturating8_bit_signed_accelerated,
    integer_dot_product_accumulating_saturating8_bit_mixed_signedness_accelerated,
    integer_dot_product_accumulating_saturating4x8_bit_packed_unsigned_accelerated,
    integer_dot_product_accumulating_saturating4x8_bit_packed_signed_accelerated,
    integer_dot_product_accumulating_saturating4x8_bit_packed_mixed_signedness_accelerated,
    integer_dot_product_accumulating_saturating16_bit_unsigned_accelerated,
    integer_dot_product_accumulating_saturating16_bit_signed_accelerated,
    integer_dot_product_accumulating_saturating16_bit_mixed_signedness_accelerated,
    integer_dot_product_accumulating_saturating32_bit_unsigned_accelerated,
    integer_dot_product_accumulating_saturating32_bit_signed_accelerated,
    integer_dot_product_accumulating_saturating32_bit_mixed_signedness_accelerated,
    integer_dot_product_accumulating_saturating64_bit_unsigned_accelerated,
    integer_dot_product_accumulating_saturating64_bit_signed_accelerated,
    integer_dot_product_accumulating_saturating64_bit_mixed_signedness_accelerated,
    storage_texel_buffer_offset_alignment_bytes,
    storage_texel_buffer_offset_single_texel_alignment,
    uniform_texel_buffer_offset_alignment_bytes,
    uniform_texel_buffer_offset_single_texel_alignment,
    max_buffer_size,
});
convert_struct!(chained FormatProperties3 {
    linear_tiling_features,
    optimal_tiling_features,
    buffer_features,
});
convert_struct!(chained PhysicalDeviceIDProperties {
    device_uuid,
    driver_uuid,
    device_luid,
    device_node_mask,
    device_luid_valid,
});
convert_struct!(chained PhysicalDeviceDriverProperties {
    driver_id,
    driver_name,
    driver_info,
    conformance_version,
});
convert_struct!(plain ExternalMemoryProperties {
    external_memory_features,
    export_from_imported_handle_types,
    compatible_handle_types,
});

/// The name of an sType, for error messages.
pub(crate) fn structure_name(s_type: i32) -> String {
    EXTENSION_STRUCTS
        .iter()
        .find(|(value, _, _)| *value == s_type)
        .map_or_else(
            || format!("sType {s_type}"),
            |(_, name, _)| (*name).to_owned(),
        )
}

macro_rules! chain_nodes {
    ($($name:ident),* $(,)?) => {
        /// One C struct of a pNext chain; boxed so that its address survives the linking.
        pub(crate) enum CNode {
            $($name(Box<vk::$name<'static>>),)*
        }

        impl CNode {
            fn lower(ext: &Ext<'_>) -> Result<Self, ContextFatal> {
                match ext {
                    $(Ext::$name(typed) => Ok(Self::$name(Box::new(typed.as_ref().to_c()))),)*
                    other => Err(ContextFatal::new(format!(
                        "{} in a pNext chain is not supported by this host",
                        structure_name(other.stype())
                    ))),
                }
            }

            fn raise<'a>(&self) -> Ext<'a> {
                match self {
                    $(Self::$name(c) => Ext::$name(Box::new(FromC::from_c(c.as_ref()))),)*
                }
            }

            fn base(&mut self) -> *mut vk::BaseOutStructure<'static> {
                match self {
                    $(Self::$name(c) => std::ptr::from_mut(c.as_mut()).cast(),)*
                }
            }
        }
    };
}

convert_struct!(chained PhysicalDeviceFeatures2 { features });
convert_struct!(chained PhysicalDevice16BitStorageFeatures {
    storage_buffer16_bit_access,
    uniform_and_storage_buffer16_bit_access,
    storage_push_constant16,
    storage_input_output16,
});
convert_struct!(chained PhysicalDeviceMultiviewFeatures {
    multiview,
    multiview_geometry_shader,
    multiview_tessellation_shader,
});
convert_struct!(chained PhysicalDeviceVariablePointersFeatures {
    variable_pointers_storage_buffer,
    variable_pointers,
});
convert_struct!(chained PhysicalDeviceProtectedMemoryFeatures {
    protected_memory,
});
convert_struct!(chained PhysicalDeviceSamplerYcbcrConversionFeatures {
    sampler_ycbcr_conversion,
});
convert_struct!(chained PhysicalDeviceShaderDrawParametersFeatures {
    shader_draw_parameters,
});
convert_struct!(chained PhysicalDeviceMaintenance3Properties {
    max_per_set_descriptors,
    max_memory_allocation_size,
});
convert_struct!(chained PhysicalDeviceMultiviewProperties {
    max_multiview_view_count,
    max_multiview_instance_index,
});
convert_struct!(chained PhysicalDevicePointClippingProperties {
    point_clipping_behavior,
});
convert_struct!(chained PhysicalDeviceProtectedMemoryProperties {
    protected_no_fault,
});
convert_struct!(chained PhysicalDeviceSubgroupProperties {
    subgroup_size,
    supported_stages,
    supported_operations,
    quad_operations_in_all_stages,
});
convert_struct!(plain ImageSubresourceRange {
    aspect_mask,
    base_mip_level,
    level_count,
    base_array_layer,
    layer_count,
});
convert_struct!(plain MemoryRequirements {
    size,
    alignment,
    memory_type_bits,
});
convert_struct!(chained SemaphoreTypeCreateInfo {
    semaphore_type,
    initial_value,
});
convert_struct!(chained MemoryAllocateFlagsInfo { flags, device_mask });
convert_struct!(chained ExternalMemoryBufferCreateInfo { handle_types });
convert_struct!(chained MemoryDedicatedRequirements {
    prefers_dedicated_allocation,
    requires_dedicated_allocation,
});

chain_nodes!(
    PhysicalDeviceFeatures2,
    PhysicalDevice16BitStorageFeatures,
    PhysicalDeviceMultiviewFeatures,
    PhysicalDeviceVariablePointersFeatures,
    PhysicalDeviceProtectedMemoryFeatures,
    PhysicalDeviceSamplerYcbcrConversionFeatures,
    PhysicalDeviceShaderDrawParametersFeatures,
    PhysicalDeviceMaintenance3Properties,
    PhysicalDeviceMultiviewProperties,
    PhysicalDevicePointClippingProperties,
    PhysicalDeviceProtectedMemoryProperties,
    PhysicalDeviceSubgroupProperties,
    SemaphoreTypeCreateInfo,
    MemoryAllocateFlagsInfo,
    MemoryDedicatedRequirements,
    ExternalMemoryBufferCreateInfo,
    PhysicalDeviceVulkan11Features,
    PhysicalDeviceVulkan12Features,
    PhysicalDeviceVulkan13Features,
    PhysicalDeviceVulkan11Properties,
    PhysicalDeviceVulkan12Properties,
    PhysicalDeviceVulkan13Properties,
    PhysicalDeviceIDProperties,
    PhysicalDeviceDriverProperties,
    FormatProperties3,
);

/// A pNext chain in C memory, in the order of the typed chain.
pub(crate) struct CChain {
    nodes: Vec<CNode>,
}

impl CChain {
    pub(crate) fn lower(chain: &[Ext<'_>]) -> Result<Self, ContextFatal> {
        let mut nodes = chain
            .iter()
            .map(CNode::lower)
            .collect::<Result<Vec<_>, _>>()?;
        let bases: Vec<_> = nodes.iter_mut().map(CNode::base).collect();
        for pair in bases.windows(2) {
            // SAFETY: both pointers are boxed C structs owned by `nodes`; every Vulkan struct
            // with sType starts with the VkBaseOutStructure header.
            unsafe { (*pair[0]).p_next = pair[1] };
        }
        Ok(Self { nodes })
    }

    /// The first struct, for the parent's pNext; null for an empty chain.
    pub(crate) fn head(&mut self) -> *mut c_void {
        self.nodes
            .first_mut()
            .map_or(std::ptr::null_mut(), |node| node.base().cast())
    }

    /// The chain's values after the driver filled them.
    pub(crate) fn raise<'a>(&self) -> Vec<Ext<'a>> {
        self.nodes.iter().map(CNode::raise).collect()
    }
}
