//! What MoltenVK 1.4 offers on Apple Silicon: the facts behind the `moltenvk` host profile.
//!
//! Read from MoltenVK's own sources, KhronosGroup/MoltenVK tag v1.4.2 (commit
//! db66022459ffb663aa2b50f6b018bc2e124f5edf):
//! - `MoltenVK/MoltenVK/Layers/MVKExtensions.def`: the extensions and the macOS version each needs;
//! - `MoltenVK/MoltenVK/GPUObjects/MVKDevice.mm`: `MVKMTLDeviceCapabilities` (GPU families),
//!   `initMetalFeatures`, `initFeatures`, `initLimits`, `initExtensions`, `getFeatures`,
//!   `getProperties`, `populateSubgroupProperties`, `initExternalMemoryProperties` and the
//!   `getExternal*Properties` queries;
//! - `MoltenVK/MoltenVK/GPUObjects/MVKDevice.h`: the `kMVKMax*` constants (descriptor sets are
//!   SPIRV-Cross's `kMaxArgumentBuffers`, 8, in `spirv_msl.hpp`);
//! - `Docs/MoltenVK_Runtime_UserGuide.md`: portability enumeration, "Known MoltenVK Limitations".
//!
//! The machine they describe is the one a Mac user runs Linux VMs on: an Apple M1-class GPU
//! (Metal GPU families Apple7, Mac2 and Metal3, tier-2 argument buffers), macOS 15, and MoltenVK's
//! default configuration (no Metal private API, MTLHeap where safe, Metal argument buffers on).
//! Values that MoltenVK asks Metal for at run time are taken for that machine and say so; values
//! that depend on the amount of memory (buffer sizes, heap sizes) are left to the host driver.

use ash::vk;
use venus_rs_encoder::host::types::{self, Ext};

/// MoltenVK reports the Vulkan version its instance was created with, at most 1.4.
pub(super) const API_VERSION: u32 = vk::make_api_version(0, 1, 4, 0);

/// The instance extensions of `MVKExtensions.def` that exist on macOS (the iOS surface does
/// not); the loader adds VK_KHR_portability_enumeration, which MoltenVK's instances need.
pub(super) const INSTANCE_EXTENSIONS: &[&str] = &[
    "VK_KHR_device_group_creation",
    "VK_KHR_external_fence_capabilities",
    "VK_KHR_external_memory_capabilities",
    "VK_KHR_external_semaphore_capabilities",
    "VK_KHR_get_physical_device_properties2",
    "VK_KHR_get_surface_capabilities2",
    "VK_KHR_surface",
    "VK_KHR_surface_maintenance1",
    "VK_KHR_surface_protected_capabilities",
    "VK_EXT_debug_report",
    "VK_EXT_debug_utils",
    "VK_EXT_headless_surface",
    "VK_EXT_layer_settings",
    "VK_EXT_metal_surface",
    "VK_EXT_surface_maintenance1",
    "VK_EXT_swapchain_colorspace",
    "VK_MVK_macos_surface",
    "VK_MVK_moltenvk",
    "VK_KHR_portability_enumeration",
];

/// The device extensions of `MVKExtensions.def` that macOS 15 has: every DEVICE line except those
/// marked unsupported everywhere (KHR/AMD_draw_indirect_count, KHR_shader_atomic_int64) and
/// VK_EXT_sampler_filter_minmax (macOS 26). None of them passes a file descriptor.
pub(super) const DEVICE_EXTENSIONS: &[&str] = &[
    "VK_KHR_16bit_storage",
    "VK_KHR_8bit_storage",
    "VK_KHR_bind_memory2",
    "VK_KHR_buffer_device_address",
    "VK_KHR_calibrated_timestamps",
    "VK_KHR_copy_commands2",
    "VK_KHR_create_renderpass2",
    "VK_KHR_dedicated_allocation",
    "VK_KHR_deferred_host_operations",
    "VK_KHR_depth_stencil_resolve",
    "VK_KHR_descriptor_update_template",
    "VK_KHR_device_group",
    "VK_KHR_driver_properties",
    "VK_KHR_dynamic_rendering",
    "VK_KHR_dynamic_rendering_local_read",
    "VK_KHR_external_fence",
    "VK_KHR_external_memory",
    "VK_KHR_external_semaphore",
    "VK_KHR_format_feature_flags2",
    "VK_KHR_fragment_shader_barycentric",
    "VK_KHR_get_memory_requirements2",
    "VK_KHR_global_priority",
    "VK_KHR_image_format_list",
    "VK_KHR_imageless_framebuffer",
    "VK_KHR_incremental_present",
    "VK_KHR_index_type_uint8",
    "VK_KHR_line_rasterization",
    "VK_KHR_load_store_op_none",
    "VK_KHR_maintenance1",
    "VK_KHR_maintenance2",
    "VK_KHR_maintenance3",
    "VK_KHR_maintenance4",
    "VK_KHR_maintenance5",
    "VK_KHR_maintenance6",
    "VK_KHR_maintenance7",
    "VK_KHR_maintenance8",
    "VK_KHR_maintenance9",
    "VK_KHR_map_memory2",
    "VK_KHR_multiview",
    "VK_KHR_portability_subset",
    "VK_KHR_present_id",
    "VK_KHR_present_id2",
    "VK_KHR_present_wait",
    "VK_KHR_present_wait2",
    "VK_KHR_push_descriptor",
    "VK_KHR_relaxed_block_layout",
    "VK_KHR_robustness2",
    "VK_KHR_sampler_mirror_clamp_to_edge",
    "VK_KHR_sampler_ycbcr_conversion",
    "VK_KHR_separate_depth_stencil_layouts",
    "VK_KHR_shader_draw_parameters",
    "VK_KHR_shader_expect_assume",
    "VK_KHR_shader_float_controls",
    "VK_KHR_shader_float_controls2",
    "VK_KHR_shader_float16_int8",
    "VK_KHR_shader_fma",
    "VK_KHR_shader_integer_dot_product",
    "VK_KHR_shader_maximal_reconvergence",
    "VK_KHR_shader_non_semantic_info",
    "VK_KHR_shader_quad_control",
    "VK_KHR_shader_relaxed_extended_instruction",
    "VK_KHR_shader_subgroup_extended_types",
    "VK_KHR_shader_subgroup_rotate",
    "VK_KHR_shader_subgroup_uniform_control_flow",
    "VK_KHR_shader_terminate_invocation",
    "VK_KHR_spirv_1_4",
    "VK_KHR_storage_buffer_storage_class",
    "VK_KHR_swapchain",
    "VK_KHR_swapchain_maintenance1",
    "VK_KHR_swapchain_mutable_format",
    "VK_KHR_synchronization2",
    "VK_KHR_timeline_semaphore",
    "VK_KHR_uniform_buffer_standard_layout",
    "VK_KHR_variable_pointers",
    "VK_KHR_vertex_attribute_divisor",
    "VK_KHR_vulkan_memory_model",
    "VK_KHR_zero_initialize_workgroup_memory",
    "VK_EXT_4444_formats",
    "VK_EXT_buffer_device_address",
    "VK_EXT_calibrated_timestamps",
    "VK_EXT_debug_marker",
    "VK_EXT_depth_clip_control",
    "VK_EXT_descriptor_indexing",
    "VK_EXT_extended_dynamic_state",
    "VK_EXT_extended_dynamic_state2",
    "VK_EXT_extended_dynamic_state3",
    "VK_EXT_external_memory_host",
    "VK_EXT_external_memory_metal",
    "VK_EXT_fragment_shader_interlock",
    "VK_EXT_global_priority",
    "VK_EXT_global_priority_query",
    "VK_EXT_hdr_metadata",
    "VK_EXT_host_image_copy",
    "VK_EXT_host_query_reset",
    "VK_EXT_image_2d_view_of_3d",
    "VK_EXT_image_robustness",
    "VK_EXT_index_type_uint8",
    "VK_EXT_inline_uniform_block",
    "VK_EXT_legacy_dithering",
    "VK_EXT_line_rasterization",
    "VK_EXT_load_store_op_none",
    "VK_EXT_memory_budget",
    "VK_EXT_metal_objects",
    "VK_EXT_non_seamless_cube_map",
    "VK_EXT_pipeline_creation_cache_control",
    "VK_EXT_pipeline_creation_feedback",
    "VK_EXT_pipeline_robustness",
    "VK_EXT_post_depth_coverage",
    "VK_EXT_primitive_topology_list_restart",
    "VK_EXT_private_data",
    "VK_EXT_provoking_vertex",
    "VK_EXT_robustness2",
    "VK_EXT_sample_locations",
    "VK_EXT_scalar_block_layout",
    "VK_EXT_separate_stencil_usage",
    "VK_EXT_shader_atomic_float",
    "VK_EXT_shader_demote_to_helper_invocation",
    "VK_EXT_shader_stencil_export",
    "VK_EXT_shader_subgroup_ballot",
    "VK_EXT_shader_subgroup_vote",
    "VK_EXT_shader_viewport_index_layer",
    "VK_EXT_subgroup_size_control",
    "VK_EXT_swapchain_maintenance1",
    "VK_EXT_texel_buffer_alignment",
    "VK_EXT_texture_compression_astc_hdr",
    "VK_EXT_tooling_info",
    "VK_EXT_vertex_attribute_divisor",
    "VK_AMD_gpu_shader_half_float",
    "VK_AMD_negative_viewport_height",
    "VK_AMD_shader_image_load_store_lod",
    "VK_AMD_shader_trinary_minmax",
    "VK_GOOGLE_display_timing",
    "VK_IMG_format_pvrtc",
    "VK_INTEL_shader_integer_functions2",
    "VK_NV_fragment_shader_barycentric",
];

/// Device extensions of the list above that `initExtensions` turns off on this machine.
pub(super) const TURNED_OFF_AT_RUN_TIME: &[(&str, &str)] = &[
    (
        "VK_KHR_shader_quad_control",
        "quad control flow is off on Apple GPUs",
    ),
    (
        "VK_EXT_legacy_dithering",
        "needs the Metal private API (off by default)",
    ),
    (
        "VK_EXT_non_seamless_cube_map",
        "needs the Metal private API (off by default)",
    ),
    (
        "VK_EXT_primitive_topology_list_restart",
        "needs the Metal private API (off by default)",
    ),
    (
        "VK_EXT_provoking_vertex",
        "needs the Metal private API (off by default)",
    ),
];

/// Whether MoltenVK offers the device extension on this machine.
pub(super) fn offers_device_extension(name: &str) -> bool {
    DEVICE_EXTENSIONS.contains(&name)
        && !TURNED_OFF_AT_RUN_TIME
            .iter()
            .any(|(turned_off, _)| *turned_off == name)
}

/// External memory handle types MoltenVK's memory can be imported from on this machine (besides
/// its Metal objects, which no other driver has): host pointers. Every other handle type, every
/// file descriptor among them, is answered with no support.
pub(super) const HOST_POINTER_HANDLE_TYPES: u32 =
    vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT.as_raw()
        | vk::ExternalMemoryHandleTypeFlags::HOST_MAPPED_FOREIGN_MEMORY_EXT.as_raw();

/// What MoltenVK answers for a host-pointer handle type: importable only.
pub(super) const HOST_POINTER_FEATURES: u32 = vk::ExternalMemoryFeatureFlags::IMPORTABLE.as_raw();

/// File-descriptor handle types, which the profile never offers (MoltenVK answers no external
/// fence or semaphore handle type at all, and no fd memory handle type).
pub(super) const FD_MEMORY_HANDLE_TYPES: u32 = vk::ExternalMemoryHandleTypeFlags::OPAQUE_FD
    .as_raw()
    | vk::ExternalMemoryHandleTypeFlags::DMA_BUF_EXT.as_raw();

/// Clears each listed member of a feature struct that is set, naming it in `found`.
macro_rules! clear {
    ($found:ident, $features:expr, $struct_name:literal, [$($member:ident),+ $(,)?]) => {{
        $(
            if $features.$member != 0 {
                $features.$member = 0;
                $found.push(concat!($struct_name, ".", stringify!($member)));
            }
        )+
    }};
}

/// VkPhysicalDeviceFeatures members `initFeatures` leaves false on this machine.
pub(super) fn clear_missing_features(
    features: &mut types::PhysicalDeviceFeatures,
    found: &mut Vec<&'static str>,
) {
    clear!(
        found,
        features,
        "VkPhysicalDeviceFeatures",
        [
            geometry_shader,
            // Off unless the Metal private API is.
            logic_op,
            wide_lines,
            // Apple10 GPUs only.
            depth_bounds,
            // Also a documented limitation (User Guide).
            pipeline_statistics_query,
            shader_storage_image_multisample,
            shader_cull_distance,
            shader_float64,
            shader_resource_residency,
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
        ]
    );
}

/// Members of the chained feature structs that `getFeatures` answers false on this machine, for
/// the structs of the extensions and versions the profile can offer.
pub(super) fn clear_missing_chained_features(ext: &mut Ext<'_>, found: &mut Vec<&'static str>) {
    match ext {
        Ext::PhysicalDeviceFeatures2(f) => clear_missing_features(&mut f.features, found),
        Ext::PhysicalDeviceVulkan11Features(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceVulkan11Features",
            [
                multiview_geometry_shader,
                multiview_tessellation_shader,
                protected_memory
            ]
        ),
        Ext::PhysicalDeviceMultiviewFeatures(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceMultiviewFeatures",
            [multiview_geometry_shader, multiview_tessellation_shader]
        ),
        Ext::PhysicalDeviceProtectedMemoryFeatures(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceProtectedMemoryFeatures",
            [protected_memory]
        ),
        Ext::PhysicalDeviceVulkan12Features(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceVulkan12Features",
            [
                draw_indirect_count,
                shader_buffer_int64_atomics,
                shader_shared_int64_atomics,
                // Sampler reduction needs an Apple10 GPU and macOS 26.
                sampler_filter_minmax,
                buffer_device_address_capture_replay,
                buffer_device_address_multi_device,
                vulkan_memory_model_availability_visibility_chains,
            ]
        ),
        Ext::PhysicalDeviceShaderAtomicInt64Features(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceShaderAtomicInt64Features",
            [shader_buffer_int64_atomics, shader_shared_int64_atomics]
        ),
        Ext::PhysicalDeviceBufferDeviceAddressFeatures(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceBufferDeviceAddressFeatures",
            [
                buffer_device_address_capture_replay,
                buffer_device_address_multi_device
            ]
        ),
        Ext::PhysicalDeviceBufferDeviceAddressFeaturesEXT(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceBufferDeviceAddressFeaturesEXT",
            [
                buffer_device_address_capture_replay,
                buffer_device_address_multi_device
            ]
        ),
        Ext::PhysicalDeviceVulkanMemoryModelFeatures(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceVulkanMemoryModelFeatures",
            [vulkan_memory_model_availability_visibility_chains]
        ),
        Ext::PhysicalDeviceVulkan14Features(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceVulkan14Features",
            [
                rectangular_lines,
                smooth_lines,
                stippled_rectangular_lines,
                stippled_bresenham_lines,
                stippled_smooth_lines,
                pipeline_protected_access,
            ]
        ),
        Ext::PhysicalDeviceLineRasterizationFeatures(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceLineRasterizationFeatures",
            [
                rectangular_lines,
                smooth_lines,
                stippled_rectangular_lines,
                stippled_bresenham_lines,
                stippled_smooth_lines,
            ]
        ),
        Ext::PhysicalDevicePipelineProtectedAccessFeatures(f) => clear!(
            found,
            f,
            "VkPhysicalDevicePipelineProtectedAccessFeatures",
            [pipeline_protected_access]
        ),
        Ext::PhysicalDeviceRobustness2FeaturesEXT(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceRobustness2FeaturesEXT",
            [robust_buffer_access2, null_descriptor]
        ),
        Ext::PhysicalDeviceExtendedDynamicState2FeaturesEXT(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceExtendedDynamicState2FeaturesEXT",
            [extended_dynamic_state2_logic_op]
        ),
        Ext::PhysicalDeviceExtendedDynamicState3FeaturesEXT(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceExtendedDynamicState3FeaturesEXT",
            [
                extended_dynamic_state3_tessellation_domain_origin,
                extended_dynamic_state3_rasterization_samples,
                extended_dynamic_state3_sample_mask,
                extended_dynamic_state3_alpha_to_coverage_enable,
                extended_dynamic_state3_alpha_to_one_enable,
                extended_dynamic_state3_logic_op_enable,
                extended_dynamic_state3_color_blend_enable,
                extended_dynamic_state3_color_blend_equation,
                extended_dynamic_state3_color_write_mask,
                extended_dynamic_state3_rasterization_stream,
                extended_dynamic_state3_conservative_rasterization_mode,
                extended_dynamic_state3_extra_primitive_overestimation_size,
                extended_dynamic_state3_color_blend_advanced,
                // Off unless the Metal private API is.
                extended_dynamic_state3_provoking_vertex_mode,
                extended_dynamic_state3_line_stipple_enable,
                extended_dynamic_state3_depth_clip_negative_one_to_one,
                extended_dynamic_state3_viewport_w_scaling_enable,
                extended_dynamic_state3_viewport_swizzle,
                extended_dynamic_state3_coverage_to_color_enable,
                extended_dynamic_state3_coverage_to_color_location,
                extended_dynamic_state3_coverage_modulation_mode,
                extended_dynamic_state3_coverage_modulation_table_enable,
                extended_dynamic_state3_coverage_modulation_table,
                extended_dynamic_state3_coverage_reduction_mode,
                extended_dynamic_state3_representative_fragment_test_enable,
                extended_dynamic_state3_shading_rate_image_enable,
            ]
        ),
        Ext::PhysicalDeviceShaderAtomicFloatFeaturesEXT(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceShaderAtomicFloatFeaturesEXT",
            [
                shader_buffer_float64_atomics,
                shader_buffer_float64_atomic_add,
                shader_shared_float64_atomics,
                shader_shared_float64_atomic_add,
                shader_image_float32_atomics,
                shader_image_float32_atomic_add,
                sparse_image_float32_atomics,
                sparse_image_float32_atomic_add,
            ]
        ),
        Ext::PhysicalDeviceFragmentShaderInterlockFeaturesEXT(f) => clear!(
            found,
            f,
            "VkPhysicalDeviceFragmentShaderInterlockFeaturesEXT",
            [fragment_shader_shading_rate_interlock]
        ),
        // The members `portability_features` answers false.
        Ext::PhysicalDevicePortabilitySubsetFeaturesKHR(f) => clear!(
            found,
            f,
            "VkPhysicalDevicePortabilitySubsetFeaturesKHR",
            [
                point_polygons,
                sampler_mip_lod_bias,
                tessellation_isolines,
                tessellation_point_mode,
            ]
        ),
        _ => {}
    }
}

/// The portability subset `getFeatures` answers on this machine: only point polygons, sampler
/// mip LOD bias (Apple10 GPUs) and isoline or point-mode tessellation are missing.
pub(super) fn portability_features<'a>() -> types::PhysicalDevicePortabilitySubsetFeaturesKHR<'a> {
    types::PhysicalDevicePortabilitySubsetFeaturesKHR {
        p_next: Vec::new(),
        constant_alpha_color_blend_factors: vk::TRUE,
        events: vk::TRUE,
        image_view_format_reinterpretation: vk::TRUE,
        image_view_format_swizzle: vk::TRUE,
        // Placement heaps (MTLHeap where safe, an Apple2+ GPU).
        image_view2_d_on3_d_image: vk::TRUE,
        multisample_array_image: vk::TRUE,
        // Depth sample compare (Apple3+).
        mutable_comparison_samplers: vk::TRUE,
        point_polygons: vk::FALSE,
        sampler_mip_lod_bias: vk::FALSE,
        separate_stencil_mask_ref: vk::TRUE,
        // Metal's pull-model interpolation (Apple7 and Mac2 GPUs have it).
        shader_sample_rate_interpolation_functions: vk::TRUE,
        tessellation_isolines: vk::FALSE,
        tessellation_point_mode: vk::FALSE,
        triangle_fans: vk::TRUE,
        vertex_attribute_access_beyond_stride: vk::TRUE,
    }
}

/// The portability subset properties: vertex buffer strides need no alignment on Apple5+ GPUs.
pub(super) fn portability_properties<'a>() -> types::PhysicalDevicePortabilitySubsetPropertiesKHR<'a>
{
    types::PhysicalDevicePortabilitySubsetPropertiesKHR {
        p_next: Vec::new(),
        min_vertex_input_binding_stride_alignment: 1,
    }
}

/// Lowers a maximum the guest may use to MoltenVK's.
fn at_most<T: PartialOrd>(value: &mut T, moltenvk: T) {
    if *value > moltenvk {
        *value = moltenvk;
    }
}

/// Raises a minimum (an alignment, a granularity, the low end of a range) to MoltenVK's.
fn at_least<T: PartialOrd>(value: &mut T, moltenvk: T) {
    if *value < moltenvk {
        *value = moltenvk;
    }
}

/// Keeps only the flags MoltenVK has too.
fn within(flags: &mut u32, moltenvk: u32) {
    *flags &= moltenvk;
}

/// Sample counts Metal supports for textures on this machine: 1, 2, 4 and 8.
const SAMPLE_COUNTS: u32 = 0xf;
/// Textures a stage may use: Apple6 GPUs have 128, raised to 256 with tier-2 argument buffers.
const PER_STAGE_TEXTURES: u32 = 256;
const PER_STAGE_BUFFERS: u32 = 31;
const PER_STAGE_SAMPLERS: u32 = 16;
/// Vertex outputs and fragment inputs (Apple4+ and Mac GPUs).
const INTERSTAGE_COMPONENTS: u32 = 124;
const TESSELLATION_PATCH_SIZE: u32 = 32;
/// Texture width and height (Apple3+ GPUs), and array layers.
const TEXTURE_DIMENSION: u32 = 16384;
const TEXTURE_LAYERS: u32 = 2048;

/// `initLimits` for this machine, applied to the host driver's limits: each maximum lowered and
/// each minimum raised to MoltenVK's. Limits MoltenVK asks Metal for in bytes of memory (buffer
/// ranges) and values it reports as unlimited are left to the host driver.
pub(super) fn restrict_limits(l: &mut types::PhysicalDeviceLimits) {
    at_most(&mut l.max_image_dimension1_d, TEXTURE_DIMENSION);
    at_most(&mut l.max_image_dimension2_d, TEXTURE_DIMENSION);
    at_most(&mut l.max_image_dimension3_d, TEXTURE_LAYERS);
    at_most(&mut l.max_image_dimension_cube, TEXTURE_DIMENSION);
    at_most(&mut l.max_image_array_layers, TEXTURE_LAYERS);
    at_most(&mut l.max_texel_buffer_elements, TEXTURE_DIMENSION * 4096);
    at_most(&mut l.max_push_constants_size, 4096);
    at_most(&mut l.max_bound_descriptor_sets, 8);
    at_most(&mut l.max_per_stage_descriptor_samplers, PER_STAGE_SAMPLERS);
    at_most(
        &mut l.max_per_stage_descriptor_uniform_buffers,
        PER_STAGE_BUFFERS,
    );
    at_most(
        &mut l.max_per_stage_descriptor_storage_buffers,
        PER_STAGE_BUFFERS,
    );
    at_most(
        &mut l.max_per_stage_descriptor_sampled_images,
        PER_STAGE_TEXTURES,
    );
    at_most(
        &mut l.max_per_stage_descriptor_storage_images,
        PER_STAGE_TEXTURES,
    );
    at_most(
        &mut l.max_per_stage_descriptor_input_attachments,
        PER_STAGE_TEXTURES,
    );
    at_most(
        &mut l.max_per_stage_resources,
        PER_STAGE_BUFFERS + PER_STAGE_TEXTURES,
    );
    // A set may hold five stages' worth.
    at_most(&mut l.max_descriptor_set_samplers, 5 * PER_STAGE_SAMPLERS);
    at_most(
        &mut l.max_descriptor_set_uniform_buffers,
        5 * PER_STAGE_BUFFERS,
    );
    at_most(
        &mut l.max_descriptor_set_uniform_buffers_dynamic,
        5 * PER_STAGE_BUFFERS,
    );
    at_most(
        &mut l.max_descriptor_set_storage_buffers,
        5 * PER_STAGE_BUFFERS,
    );
    at_most(
        &mut l.max_descriptor_set_storage_buffers_dynamic,
        5 * PER_STAGE_BUFFERS,
    );
    at_most(
        &mut l.max_descriptor_set_sampled_images,
        5 * PER_STAGE_TEXTURES,
    );
    at_most(
        &mut l.max_descriptor_set_storage_images,
        5 * PER_STAGE_TEXTURES,
    );
    at_most(
        &mut l.max_descriptor_set_input_attachments,
        5 * PER_STAGE_TEXTURES,
    );
    at_most(&mut l.max_vertex_input_attributes, 31);
    at_most(&mut l.max_vertex_input_bindings, 31);
    at_most(&mut l.max_vertex_output_components, INTERSTAGE_COMPONENTS);
    at_most(&mut l.max_tessellation_generation_level, 64);
    at_most(&mut l.max_tessellation_patch_size, TESSELLATION_PATCH_SIZE);
    at_most(
        &mut l.max_tessellation_control_per_vertex_input_components,
        INTERSTAGE_COMPONENTS,
    );
    at_most(
        &mut l.max_tessellation_control_per_vertex_output_components,
        INTERSTAGE_COMPONENTS,
    );
    // Eight components are kept for the tessellation levels.
    let per_patch = (INTERSTAGE_COMPONENTS - 8).max(120);
    at_most(
        &mut l.max_tessellation_control_per_patch_output_components,
        per_patch,
    );
    at_most(
        &mut l.max_tessellation_control_total_output_components,
        TESSELLATION_PATCH_SIZE * INTERSTAGE_COMPONENTS + per_patch,
    );
    at_most(
        &mut l.max_tessellation_evaluation_input_components,
        INTERSTAGE_COMPONENTS,
    );
    at_most(
        &mut l.max_tessellation_evaluation_output_components,
        INTERSTAGE_COMPONENTS,
    );
    // No geometry shaders.
    l.max_geometry_shader_invocations = 0;
    l.max_geometry_input_components = 0;
    l.max_geometry_output_components = 0;
    l.max_geometry_output_vertices = 0;
    l.max_geometry_total_output_components = 0;
    at_most(&mut l.max_fragment_input_components, INTERSTAGE_COMPONENTS);
    at_most(&mut l.max_fragment_output_attachments, 8);
    at_most(&mut l.max_fragment_dual_src_attachments, 1);
    at_most(
        &mut l.max_fragment_combined_output_resources,
        PER_STAGE_BUFFERS + PER_STAGE_TEXTURES,
    );
    // Metal's threadgroup memory and threads per threadgroup on Apple GPUs.
    at_most(&mut l.max_compute_shared_memory_size, 32768);
    at_most(&mut l.max_compute_work_group_invocations, 1024);
    for size in &mut l.max_compute_work_group_size {
        at_most(size, 1024);
    }
    at_most(&mut l.sub_pixel_precision_bits, 8);
    at_most(&mut l.sub_texel_precision_bits, 8);
    at_most(&mut l.mipmap_precision_bits, 8);
    at_most(&mut l.max_sampler_lod_bias, 15.999);
    at_most(&mut l.max_sampler_anisotropy, 16.0);
    at_most(&mut l.max_viewports, 16);
    for dimension in &mut l.max_viewport_dimensions {
        at_most(dimension, TEXTURE_DIMENSION);
    }
    if let [low, high] = &mut l.viewport_bounds_range[..] {
        let bound = 2.0 * TEXTURE_DIMENSION as f32;
        at_least(low, -bound);
        at_most(high, bound - 1.0);
    }
    at_most(&mut l.viewport_sub_pixel_bits, 0);
    at_least(&mut l.min_memory_map_alignment, 64);
    // Metal's buffer alignment on Apple3+ GPUs.
    at_least(&mut l.min_uniform_buffer_offset_alignment, 16);
    at_least(&mut l.min_storage_buffer_offset_alignment, 16);
    at_least(&mut l.buffer_image_granularity, 16);
    at_least(&mut l.non_coherent_atom_size, 16);
    at_least(&mut l.optimal_buffer_copy_offset_alignment, 16);
    at_least(&mut l.min_texel_offset, -8);
    at_most(&mut l.max_texel_offset, 7);
    at_least(&mut l.min_texel_gather_offset, -8);
    at_most(&mut l.max_texel_gather_offset, 7);
    at_least(&mut l.min_interpolation_offset, -0.5);
    at_most(&mut l.max_interpolation_offset, 0.5);
    at_most(&mut l.sub_pixel_interpolation_offset_bits, 4);
    at_most(&mut l.max_framebuffer_width, TEXTURE_DIMENSION);
    at_most(&mut l.max_framebuffer_height, TEXTURE_DIMENSION);
    at_most(&mut l.max_framebuffer_layers, TEXTURE_LAYERS);
    for counts in [
        &mut l.framebuffer_color_sample_counts,
        &mut l.framebuffer_depth_sample_counts,
        &mut l.framebuffer_stencil_sample_counts,
        &mut l.framebuffer_no_attachments_sample_counts,
        &mut l.sampled_image_color_sample_counts,
        &mut l.sampled_image_integer_sample_counts,
        &mut l.sampled_image_depth_sample_counts,
        &mut l.sampled_image_stencil_sample_counts,
    ] {
        within(counts, SAMPLE_COUNTS);
    }
    within(
        &mut l.storage_image_sample_counts,
        vk::SampleCountFlags::TYPE_1.as_raw(),
    );
    at_most(&mut l.max_color_attachments, 8);
    at_most(&mut l.max_sample_mask_words, 1);
    at_most(&mut l.max_clip_distances, 8);
    l.max_cull_distances = 0;
    at_most(&mut l.max_combined_clip_and_cull_distances, 8);
    at_most(&mut l.discrete_queue_priorities, 2);
    if let [_, largest] = &mut l.point_size_range[..] {
        // Apple GPUs.
        at_most(largest, 511.0);
    }
    at_least(&mut l.point_size_granularity, 0.125);
    // No wide lines: width 1 only.
    if let [_, widest] = &mut l.line_width_range[..] {
        at_most(widest, 1.0);
    }
    l.line_width_granularity = 0.0;
}

/// The shader stages subgroup operations work in: fragment, compute and tessellation control.
const SUBGROUP_STAGES: u32 = vk::ShaderStageFlags::FRAGMENT.as_raw()
    | vk::ShaderStageFlags::COMPUTE.as_raw()
    | vk::ShaderStageFlags::TESSELLATION_CONTROL.as_raw();
/// Inline uniform blocks: 4 KiB each, 30 per stage (a stage's 31 buffers but the push constants').
const INLINE_UNIFORM_BLOCK_SIZE: u32 = 4096;
const PER_STAGE_INLINE_UNIFORM_BLOCKS: u32 = PER_STAGE_BUFFERS - 1;

/// The chained property structs `getProperties` answers on this machine, applied like the limits.
pub(super) fn restrict_chained_properties(ext: &mut Ext<'_>) {
    match ext {
        Ext::PhysicalDeviceVulkan11Properties(p) => {
            within(&mut p.subgroup_supported_stages, SUBGROUP_STAGES);
            at_most(&mut p.max_multiview_view_count, 32);
            at_most(&mut p.max_per_set_descriptors, max_per_set_descriptors());
        }
        Ext::PhysicalDeviceSubgroupProperties(p) => {
            within(&mut p.supported_stages, SUBGROUP_STAGES);
        }
        Ext::PhysicalDeviceMultiviewProperties(p) => {
            at_most(&mut p.max_multiview_view_count, 32);
        }
        Ext::PhysicalDeviceMaintenance3Properties(p) => {
            at_most(&mut p.max_per_set_descriptors, max_per_set_descriptors());
        }
        Ext::PhysicalDeviceVulkan12Properties(p) => {
            restrict_float_controls(FloatControls {
                denorm_behavior_independence: &mut p.denorm_behavior_independence,
                rounding_mode_independence: &mut p.rounding_mode_independence,
                unsupported: [
                    &mut p.shader_signed_zero_inf_nan_preserve_float64,
                    &mut p.shader_denorm_preserve_float16,
                    &mut p.shader_denorm_preserve_float32,
                    &mut p.shader_denorm_preserve_float64,
                    &mut p.shader_denorm_flush_to_zero_float16,
                    &mut p.shader_denorm_flush_to_zero_float32,
                    &mut p.shader_denorm_flush_to_zero_float64,
                    &mut p.shader_rounding_mode_rte_float64,
                    &mut p.shader_rounding_mode_rtz_float16,
                    &mut p.shader_rounding_mode_rtz_float32,
                    &mut p.shader_rounding_mode_rtz_float64,
                ],
            });
            p.shader_uniform_buffer_array_non_uniform_indexing_native = 0;
            p.shader_storage_buffer_array_non_uniform_indexing_native = 0;
            p.quad_divergent_implicit_lod = 0;
            at_most(
                &mut p.max_per_stage_descriptor_update_after_bind_input_attachments,
                PER_STAGE_TEXTURES,
            );
            at_most(
                &mut p.max_descriptor_set_update_after_bind_input_attachments,
                5 * PER_STAGE_TEXTURES,
            );
            within(&mut p.supported_depth_resolve_modes, DEPTH_RESOLVE_MODES);
            within(
                &mut p.supported_stencil_resolve_modes,
                STENCIL_RESOLVE_MODES,
            );
            p.filter_minmax_single_component_formats = 0;
            p.filter_minmax_image_component_mapping = 0;
            within(
                &mut p.framebuffer_integer_color_sample_counts,
                SAMPLE_COUNTS,
            );
        }
        Ext::PhysicalDeviceFloatControlsProperties(p) => {
            restrict_float_controls(FloatControls {
                denorm_behavior_independence: &mut p.denorm_behavior_independence,
                rounding_mode_independence: &mut p.rounding_mode_independence,
                unsupported: [
                    &mut p.shader_signed_zero_inf_nan_preserve_float64,
                    &mut p.shader_denorm_preserve_float16,
                    &mut p.shader_denorm_preserve_float32,
                    &mut p.shader_denorm_preserve_float64,
                    &mut p.shader_denorm_flush_to_zero_float16,
                    &mut p.shader_denorm_flush_to_zero_float32,
                    &mut p.shader_denorm_flush_to_zero_float64,
                    &mut p.shader_rounding_mode_rte_float64,
                    &mut p.shader_rounding_mode_rtz_float16,
                    &mut p.shader_rounding_mode_rtz_float32,
                    &mut p.shader_rounding_mode_rtz_float64,
                ],
            });
        }
        Ext::PhysicalDeviceDepthStencilResolveProperties(p) => {
            within(&mut p.supported_depth_resolve_modes, DEPTH_RESOLVE_MODES);
            within(
                &mut p.supported_stencil_resolve_modes,
                STENCIL_RESOLVE_MODES,
            );
        }
        Ext::PhysicalDeviceSamplerFilterMinmaxProperties(p) => {
            p.filter_minmax_single_component_formats = 0;
            p.filter_minmax_image_component_mapping = 0;
        }
        Ext::PhysicalDeviceVulkan13Properties(p) => {
            at_most(
                &mut p.max_inline_uniform_block_size,
                INLINE_UNIFORM_BLOCK_SIZE,
            );
            at_most(
                &mut p.max_per_stage_descriptor_inline_uniform_blocks,
                PER_STAGE_INLINE_UNIFORM_BLOCKS,
            );
            at_most(
                &mut p.max_per_stage_descriptor_update_after_bind_inline_uniform_blocks,
                PER_STAGE_INLINE_UNIFORM_BLOCKS,
            );
            at_most(
                &mut p.max_descriptor_set_inline_uniform_blocks,
                4 * PER_STAGE_INLINE_UNIFORM_BLOCKS,
            );
            at_most(
                &mut p.max_descriptor_set_update_after_bind_inline_uniform_blocks,
                4 * PER_STAGE_INLINE_UNIFORM_BLOCKS,
            );
        }
        Ext::PhysicalDeviceInlineUniformBlockProperties(p) => {
            at_most(
                &mut p.max_inline_uniform_block_size,
                INLINE_UNIFORM_BLOCK_SIZE,
            );
            at_most(
                &mut p.max_per_stage_descriptor_inline_uniform_blocks,
                PER_STAGE_INLINE_UNIFORM_BLOCKS,
            );
            at_most(
                &mut p.max_per_stage_descriptor_update_after_bind_inline_uniform_blocks,
                PER_STAGE_INLINE_UNIFORM_BLOCKS,
            );
            at_most(
                &mut p.max_descriptor_set_inline_uniform_blocks,
                4 * PER_STAGE_INLINE_UNIFORM_BLOCKS,
            );
            at_most(
                &mut p.max_descriptor_set_update_after_bind_inline_uniform_blocks,
                4 * PER_STAGE_INLINE_UNIFORM_BLOCKS,
            );
        }
        Ext::PhysicalDeviceVulkan14Properties(p) => {
            at_most(&mut p.line_sub_pixel_precision_bits, 4);
            at_most(
                &mut p.max_push_descriptors,
                PER_STAGE_BUFFERS + PER_STAGE_TEXTURES,
            );
            p.block_texel_view_compatible_multiple_layers = 0;
        }
        Ext::PhysicalDeviceLineRasterizationProperties(p) => {
            at_most(&mut p.line_sub_pixel_precision_bits, 4);
        }
        Ext::PhysicalDevicePushDescriptorProperties(p) => {
            at_most(
                &mut p.max_push_descriptors,
                PER_STAGE_BUFFERS + PER_STAGE_TEXTURES,
            );
        }
        _ => {}
    }
}

/// Descriptors a set may hold: four stages of buffers, textures and samplers, at least 1024.
fn max_per_set_descriptors() -> u32 {
    (4 * (PER_STAGE_BUFFERS + PER_STAGE_TEXTURES + PER_STAGE_SAMPLERS)).max(1024)
}

/// Depth resolve modes with Metal's depth resolve (Apple3+ GPUs); stencil resolves sample 0 only.
const DEPTH_RESOLVE_MODES: u32 = vk::ResolveModeFlags::SAMPLE_ZERO.as_raw()
    | vk::ResolveModeFlags::MIN.as_raw()
    | vk::ResolveModeFlags::MAX.as_raw();
const STENCIL_RESOLVE_MODES: u32 = vk::ResolveModeFlags::SAMPLE_ZERO.as_raw();

/// The float-control guarantees of a properties struct (Vulkan 1.2's or the extension's).
struct FloatControls<'s> {
    denorm_behavior_independence: &'s mut i32,
    rounding_mode_independence: &'s mut i32,
    /// The guarantees MoltenVK does not give: float64 ones, denormals, round-toward-zero.
    unsupported: [&'s mut u32; 11],
}

/// MoltenVK gives no independence between bit widths and only the float16/float32 guarantees
/// above.
fn restrict_float_controls(controls: FloatControls<'_>) {
    *controls.denorm_behavior_independence = vk::ShaderFloatControlsIndependence::NONE.as_raw();
    *controls.rounding_mode_independence = vk::ShaderFloatControlsIndependence::NONE.as_raw();
    for guarantee in controls.unsupported {
        *guarantee = 0;
    }
}
