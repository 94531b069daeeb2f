//! Host answers kept for the life of a physical device: what a query returns cannot change, so the
//! first answer serves every later query, as Mesa's Venus does.
//!
//! A [`CachedChain`] owns the extension structs of one output struct (`pNext`), chained in storage of
//! its own and filled by the host once. Later queries copy each of the application's structs from it by
//! `sType`; a struct it lacks sends the query to the host again.

use std::mem::size_of;

use ash::vk;
use venus_rs_encoder::protocol::{HostProtocol, EXTENSION_STRUCTS, PROTOCOL_EXTENSIONS};

/// One struct an output chain may carry: its `sType` and its size in the C layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainedStruct {
    pub s_type: vk::StructureType,
    pub size: usize,
}

macro_rules! chained {
    ($($ty:ident),* $(,)?) => {
        &[$(ChainedStruct {
            s_type: <vk::$ty<'static> as vk::TaggedStructure>::STRUCTURE_TYPE,
            size: size_of::<vk::$ty<'static>>(),
        }),*]
    };
}

/// Every struct that extends VkPhysicalDeviceFeatures2 in both ash and the protocol.
pub const FEATURE_STRUCTS: &[ChainedStruct] = chained![
    PhysicalDevicePrivateDataFeatures,
    PhysicalDeviceVariablePointersFeatures,
    PhysicalDeviceMultiviewFeatures,
    PhysicalDevice16BitStorageFeatures,
    PhysicalDeviceShaderSubgroupExtendedTypesFeatures,
    PhysicalDeviceSamplerYcbcrConversionFeatures,
    PhysicalDeviceProtectedMemoryFeatures,
    PhysicalDeviceBlendOperationAdvancedFeaturesEXT,
    PhysicalDeviceMultiDrawFeaturesEXT,
    PhysicalDeviceInlineUniformBlockFeatures,
    PhysicalDeviceMaintenance4Features,
    PhysicalDeviceMaintenance5FeaturesKHR,
    PhysicalDeviceMaintenance6FeaturesKHR,
    PhysicalDeviceShaderDrawParametersFeatures,
    PhysicalDeviceShaderFloat16Int8Features,
    PhysicalDeviceHostQueryResetFeatures,
    PhysicalDeviceGlobalPriorityQueryFeaturesKHR,
    PhysicalDeviceDescriptorIndexingFeatures,
    PhysicalDeviceTimelineSemaphoreFeatures,
    PhysicalDevice8BitStorageFeatures,
    PhysicalDeviceConditionalRenderingFeaturesEXT,
    PhysicalDeviceVulkanMemoryModelFeatures,
    PhysicalDeviceShaderAtomicInt64Features,
    PhysicalDeviceShaderAtomicFloatFeaturesEXT,
    PhysicalDeviceShaderAtomicFloat2FeaturesEXT,
    PhysicalDeviceVertexAttributeDivisorFeaturesKHR,
    PhysicalDeviceTransformFeedbackFeaturesEXT,
    PhysicalDeviceComputeShaderDerivativesFeaturesNV,
    PhysicalDeviceMeshShaderFeaturesEXT,
    PhysicalDeviceAccelerationStructureFeaturesKHR,
    PhysicalDeviceRayTracingPipelineFeaturesKHR,
    PhysicalDeviceRayQueryFeaturesKHR,
    PhysicalDeviceRayTracingMaintenance1FeaturesKHR,
    PhysicalDeviceScalarBlockLayoutFeatures,
    PhysicalDeviceUniformBufferStandardLayoutFeatures,
    PhysicalDeviceDepthClipEnableFeaturesEXT,
    PhysicalDeviceBufferDeviceAddressFeatures,
    PhysicalDeviceBufferDeviceAddressFeaturesEXT,
    PhysicalDeviceImagelessFramebufferFeatures,
    PhysicalDeviceTextureCompressionASTCHDRFeatures,
    PhysicalDeviceYcbcrImageArraysFeaturesEXT,
    PhysicalDeviceShaderClockFeaturesKHR,
    PhysicalDeviceIndexTypeUint8FeaturesKHR,
    PhysicalDeviceFragmentShaderInterlockFeaturesEXT,
    PhysicalDeviceSeparateDepthStencilLayoutsFeatures,
    PhysicalDeviceTexelBufferAlignmentFeaturesEXT,
    PhysicalDeviceSubgroupSizeControlFeatures,
    PhysicalDeviceLineRasterizationFeaturesKHR,
    PhysicalDevicePipelineCreationCacheControlFeatures,
    PhysicalDeviceVulkan11Features,
    PhysicalDeviceVulkan12Features,
    PhysicalDeviceVulkan13Features,
    PhysicalDeviceCustomBorderColorFeaturesEXT,
    PhysicalDeviceBorderColorSwizzleFeaturesEXT,
    PhysicalDeviceExtendedDynamicStateFeaturesEXT,
    PhysicalDeviceExtendedDynamicState2FeaturesEXT,
    PhysicalDeviceExtendedDynamicState3FeaturesEXT,
    PhysicalDeviceZeroInitializeWorkgroupMemoryFeatures,
    PhysicalDeviceRobustness2FeaturesEXT,
    PhysicalDeviceImageRobustnessFeatures,
    PhysicalDevice4444FormatsFeaturesEXT,
    PhysicalDeviceShaderImageAtomicInt64FeaturesEXT,
    PhysicalDeviceFragmentShadingRateFeaturesKHR,
    PhysicalDeviceShaderTerminateInvocationFeatures,
    PhysicalDeviceImage2DViewOf3DFeaturesEXT,
    PhysicalDeviceImageSlicedViewOf3DFeaturesEXT,
    PhysicalDeviceMutableDescriptorTypeFeaturesEXT,
    PhysicalDeviceDepthClipControlFeaturesEXT,
    PhysicalDeviceVertexInputDynamicStateFeaturesEXT,
    PhysicalDeviceColorWriteEnableFeaturesEXT,
    PhysicalDeviceSynchronization2Features,
    PhysicalDeviceHostImageCopyFeaturesEXT,
    PhysicalDevicePrimitivesGeneratedQueryFeaturesEXT,
    PhysicalDeviceLegacyDitheringFeaturesEXT,
    PhysicalDevicePipelineProtectedAccessFeaturesEXT,
    PhysicalDeviceYcbcr2Plane444FormatsFeaturesEXT,
    PhysicalDeviceProvokingVertexFeaturesEXT,
    PhysicalDeviceShaderIntegerDotProductFeatures,
    PhysicalDeviceFragmentShaderBarycentricFeaturesKHR,
    PhysicalDeviceDynamicRenderingFeatures,
    PhysicalDeviceImageViewMinLodFeaturesEXT,
    PhysicalDeviceGraphicsPipelineLibraryFeaturesEXT,
    PhysicalDeviceNestedCommandBufferFeaturesEXT,
    PhysicalDeviceNonSeamlessCubeMapFeaturesEXT,
    PhysicalDevicePipelineRobustnessFeaturesEXT,
    PhysicalDeviceDepthClampZeroOneFeaturesEXT,
    PhysicalDeviceDepthBiasControlFeaturesEXT,
    PhysicalDeviceRayTracingPositionFetchFeaturesKHR,
    PhysicalDeviceCooperativeMatrixFeaturesKHR,
    PhysicalDeviceShaderMaximalReconvergenceFeaturesKHR,
    PhysicalDeviceShaderSubgroupRotateFeaturesKHR,
    PhysicalDeviceShaderExpectAssumeFeaturesKHR,
    PhysicalDeviceShaderFloatControls2FeaturesKHR,
    PhysicalDeviceDynamicRenderingLocalReadFeaturesKHR,
    PhysicalDeviceShaderQuadControlFeaturesKHR,
    PhysicalDevicePortabilitySubsetFeaturesKHR,
];

/// Every struct that extends VkPhysicalDeviceProperties2 in both ash and the protocol, except one that
/// points at arrays the application owns (VkPhysicalDeviceHostImageCopyPropertiesEXT).
pub const PROPERTY_STRUCTS: &[ChainedStruct] = chained![
    PhysicalDeviceMultiDrawPropertiesEXT,
    PhysicalDevicePushDescriptorPropertiesKHR,
    PhysicalDeviceDriverProperties,
    PhysicalDeviceIDProperties,
    PhysicalDeviceMultiviewProperties,
    PhysicalDeviceSubgroupProperties,
    PhysicalDevicePointClippingProperties,
    PhysicalDeviceProtectedMemoryProperties,
    PhysicalDeviceSamplerFilterMinmaxProperties,
    PhysicalDeviceSampleLocationsPropertiesEXT,
    PhysicalDeviceBlendOperationAdvancedPropertiesEXT,
    PhysicalDeviceInlineUniformBlockProperties,
    PhysicalDeviceMaintenance3Properties,
    PhysicalDeviceMaintenance4Properties,
    PhysicalDeviceMaintenance5PropertiesKHR,
    PhysicalDeviceMaintenance6PropertiesKHR,
    PhysicalDeviceFloatControlsProperties,
    PhysicalDeviceConservativeRasterizationPropertiesEXT,
    PhysicalDeviceDescriptorIndexingProperties,
    PhysicalDeviceTimelineSemaphoreProperties,
    PhysicalDeviceVertexAttributeDivisorPropertiesEXT,
    PhysicalDeviceVertexAttributeDivisorPropertiesKHR,
    PhysicalDevicePCIBusInfoPropertiesEXT,
    PhysicalDeviceDepthStencilResolveProperties,
    PhysicalDeviceTransformFeedbackPropertiesEXT,
    PhysicalDeviceMeshShaderPropertiesEXT,
    PhysicalDeviceAccelerationStructurePropertiesKHR,
    PhysicalDeviceRayTracingPipelinePropertiesKHR,
    PhysicalDeviceTexelBufferAlignmentProperties,
    PhysicalDeviceSubgroupSizeControlProperties,
    PhysicalDeviceLineRasterizationPropertiesKHR,
    PhysicalDeviceVulkan11Properties,
    PhysicalDeviceVulkan12Properties,
    PhysicalDeviceVulkan13Properties,
    PhysicalDeviceCustomBorderColorPropertiesEXT,
    PhysicalDeviceExtendedDynamicState3PropertiesEXT,
    PhysicalDeviceRobustness2PropertiesEXT,
    PhysicalDeviceFragmentShadingRatePropertiesKHR,
    PhysicalDeviceProvokingVertexPropertiesEXT,
    PhysicalDeviceShaderIntegerDotProductProperties,
    PhysicalDeviceGraphicsPipelineLibraryPropertiesEXT,
    PhysicalDeviceNestedCommandBufferPropertiesEXT,
    PhysicalDevicePipelineRobustnessPropertiesEXT,
    PhysicalDeviceCooperativeMatrixPropertiesKHR,
    PhysicalDevicePortabilitySubsetPropertiesKHR,
];

/// What VkFormatProperties2 can carry that does not change: VkDrmFormatModifierPropertiesList*EXT point
/// at arrays the application owns and are always asked from the host.
pub const FORMAT_STRUCTS: &[ChainedStruct] =
    chained![FormatProperties3, SubpassResolvePerformanceQueryEXT];

pub const QUEUE_FAMILY_STRUCTS: &[ChainedStruct] = chained![QueueFamilyGlobalPriorityPropertiesKHR];

/// What the device the structs go to offers: its Vulkan version as the host instance sees it and its
/// extensions (vk.xml numbers), on a host whose protocol is `protocol`.
pub struct HostDevice<'a> {
    pub protocol: &'a HostProtocol,
    pub api_version: u32,
    pub extensions: &'a [u32],
}

impl HostDevice<'_> {
    /// The structs of `table` that the protocol carries and the host's device has, by its version or
    /// one of its extensions; the others would be invalid to chain.
    pub fn supported(&self, table: &[ChainedStruct]) -> Vec<ChainedStruct> {
        table
            .iter()
            .copied()
            .filter(|chained| {
                let Some((_, _, gate)) = EXTENSION_STRUCTS
                    .iter()
                    .find(|(s_type, _, _)| *s_type == chained.s_type.as_raw())
                else {
                    return false;
                };
                let core = gate.api != 0 && self.api_version & !0xfff >= gate.api;
                let by_extension = gate
                    .exts
                    .iter()
                    .any(|number| self.extensions.contains(number));
                self.protocol.allows(gate) && (core || by_extension)
            })
            .collect()
    }
}

/// The vk.xml number of a device extension the protocol knows.
pub fn extension_number(name: &str) -> Option<u32> {
    PROTOCOL_EXTENSIONS
        .iter()
        .find(|(known, _, _)| *known == name)
        .map(|(_, number, _)| *number)
}

/// The extension structs of one output struct, in storage this cache owns.
pub struct CachedChain {
    /// Each struct's bytes (8-byte aligned, as every Vulkan struct's alignment is at most 8), linked
    /// through their `pNext` in this order. The boxes never move, so the links stay valid.
    structs: Vec<(ChainedStruct, Box<[u64]>)>,
}

const HEADER_SIZE: usize = size_of::<vk::BaseOutStructure<'static>>();

impl CachedChain {
    /// Zeroed structs of the given types, each with its `sType`, chained in order.
    pub fn new(types: &[ChainedStruct]) -> CachedChain {
        let mut structs: Vec<(ChainedStruct, Box<[u64]>)> = types
            .iter()
            .map(|chained| {
                let mut storage = vec![0u64; chained.size.div_ceil(8)].into_boxed_slice();
                storage[0] = chained.s_type.as_raw() as u32 as u64;
                (*chained, storage)
            })
            .collect();
        let mut next: u64 = 0;
        for (_, storage) in structs.iter_mut().rev() {
            // The second word of every struct is pNext.
            storage[1] = next;
            next = storage.as_mut_ptr() as u64;
        }
        CachedChain { structs }
    }

    pub fn len(&self) -> usize {
        self.structs.len()
    }

    /// The head of the chain, for the `pNext` of the struct the host fills; NULL when empty. The host
    /// writes through it, so it must only be used while `self` is borrowed mutably.
    pub fn head(&mut self) -> *mut std::ffi::c_void {
        self.structs
            .first_mut()
            .map_or(std::ptr::null_mut(), |(_, storage)| {
                storage.as_mut_ptr().cast()
            })
    }

    /// Fills each struct of the application's chain from `node` on that this cache holds, leaving
    /// `sType` and `pNext` alone. Returns whether every struct was either filled or is in `filled_by_icd`.
    ///
    /// # Safety
    /// `node` must be NULL or a valid, writable Vulkan output chain.
    pub unsafe fn fill(
        &self,
        mut node: *mut vk::BaseOutStructure<'_>,
        filled_by_icd: &[vk::StructureType],
    ) -> bool {
        let mut complete = true;
        while !node.is_null() {
            // SAFETY: every struct of a valid chain starts with sType and pNext.
            let (s_type, next) = unsafe { ((*node).s_type, (*node).p_next) };
            match self.structs.iter().find(|(c, _)| c.s_type == s_type) {
                Some((chained, storage)) => {
                    // SAFETY: the application's struct has this sType, so it is `chained.size` bytes long;
                    // the cached one is at least as long; both start with the header that is skipped.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            storage.as_ptr().cast::<u8>().add(HEADER_SIZE),
                            node.cast::<u8>().add(HEADER_SIZE),
                            chained.size - HEADER_SIZE,
                        );
                    }
                }
                None => complete &= filled_by_icd.contains(&s_type),
            }
            node = next;
        }
        complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole_protocol() -> HostProtocol {
        HostProtocol::everything()
    }

    #[test]
    fn the_tables_hold_distinct_structs_with_headers() {
        for table in [
            FEATURE_STRUCTS,
            PROPERTY_STRUCTS,
            FORMAT_STRUCTS,
            QUEUE_FAMILY_STRUCTS,
        ] {
            for (index, chained) in table.iter().enumerate() {
                assert!(chained.size > HEADER_SIZE, "{chained:?}");
                assert!(
                    !table[..index].iter().any(|c| c.s_type == chained.s_type),
                    "{chained:?} twice"
                );
            }
        }
    }

    #[test]
    fn structs_need_the_devices_version_or_extension() {
        let protocol = whole_protocol();
        let vulkan12 = chained![PhysicalDeviceVulkan12Features][0];
        let line = chained![PhysicalDeviceLineRasterizationFeaturesKHR][0];
        let at = |api_version, extensions: &[u32]| {
            HostDevice {
                protocol: &protocol,
                api_version,
                extensions,
            }
            .supported(&[vulkan12, line])
        };
        assert_eq!(at(vk::API_VERSION_1_1, &[]), vec![]);
        assert_eq!(at(vk::make_api_version(0, 1, 2, 200), &[]), vec![vulkan12]);
        let line_number = extension_number("VK_EXT_line_rasterization").unwrap();
        assert_eq!(at(vk::API_VERSION_1_1, &[line_number]), vec![line]);
    }

    #[test]
    fn a_cached_chain_fills_what_it_holds_and_reports_the_rest() {
        let mut cache = CachedChain::new(chained![
            PhysicalDeviceVulkan11Features,
            PhysicalDeviceLineRasterizationFeaturesKHR
        ]);
        // What the host would do: fill the chain behind the head.
        let head = cache
            .head()
            .cast::<vk::PhysicalDeviceVulkan11Features<'_>>();
        // SAFETY: the head is a Vulkan11Features struct the cache owns, borrowed mutably here.
        unsafe {
            (*head).multiview = vk::TRUE;
            let line = (*head)
                .p_next
                .cast::<vk::PhysicalDeviceLineRasterizationFeaturesKHR<'_>>();
            (*line).bresenham_lines = vk::TRUE;
        }

        let mut line = vk::PhysicalDeviceLineRasterizationFeaturesKHR::default();
        let mut v11 = vk::PhysicalDeviceVulkan11Features {
            p_next: std::ptr::addr_of_mut!(line).cast(),
            ..Default::default()
        };
        // SAFETY: a valid chain of two application structs.
        let complete = unsafe { cache.fill(std::ptr::addr_of_mut!(v11).cast(), &[]) };
        assert!(complete);
        assert_eq!((v11.multiview, line.bresenham_lines), (vk::TRUE, vk::TRUE));
        assert_eq!(
            v11.p_next,
            std::ptr::addr_of_mut!(line).cast(),
            "pNext kept"
        );

        let mut drm = vk::PhysicalDeviceDrmPropertiesEXT::default();
        v11.p_next = std::ptr::addr_of_mut!(drm).cast();
        // SAFETY: as above.
        unsafe {
            assert!(!cache.fill(std::ptr::addr_of_mut!(v11).cast(), &[]));
            assert!(cache.fill(
                std::ptr::addr_of_mut!(v11).cast(),
                &[vk::StructureType::PHYSICAL_DEVICE_DRM_PROPERTIES_EXT]
            ));
        }
    }
}
