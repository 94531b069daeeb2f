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
use venus_rs_encoder::convert::LoweredChain;
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

/// A handle map for structs that carry no handles the host translates yet: any handle in
/// them makes the context fatal, naming its type.
pub(crate) fn no_handles(object_type: i32, id: u64) -> Result<u64, ContextFatal> {
    Err(ContextFatal::new(format!(
        "a handle (VkObjectType {object_type}, id {id}) where this host translates none"
    )))
}

/// A pNext chain in C memory (generated lowering), in the order of the typed chain.
pub(crate) struct CChain<'a>(LoweredChain<'a>);

impl<'a> CChain<'a> {
    pub(crate) fn lower(chain: &[Ext<'a>]) -> Result<Self, ContextFatal> {
        LoweredChain::new(chain.to_vec(), &mut no_handles).map(Self)
    }

    /// The first struct, for the parent's pNext; null for an empty chain.
    pub(crate) fn head(&mut self) -> *mut c_void {
        self.0.head()
    }

    /// The chain's values after the driver filled them.
    pub(crate) fn raise(&self) -> Result<Vec<Ext<'a>>, ContextFatal> {
        self.0
            .raise()
            .map_err(|e| ContextFatal::new(format!("reading back a pNext chain: {e}")))
    }
}
