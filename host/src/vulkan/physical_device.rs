//! The physical-device queries that change what the guest sees: features this host cannot run
//! hidden (sparse binding, host image copy), the API version capped, the host's identity hidden
//! as virglrenderer does, and only the extensions this host's dispatch covers offered. The
//! other queries are generated pass-throughs.

use ash::vk;
use venus_rs_encoder::convert::{CType, Lowered};
use venus_rs_encoder::host::types::{self, Ext};
use venus_rs_encoder::host::{
    EnumerateDeviceExtensionPropertiesArgs, EnumerateDeviceLayerPropertiesArgs,
    GetPhysicalDeviceFeatures2Args, GetPhysicalDeviceFeaturesArgs,
    GetPhysicalDeviceProperties2Args, GetPhysicalDevicePropertiesArgs,
    GetPhysicalDeviceSparseImageFormatProperties2Args,
    GetPhysicalDeviceSparseImageFormatPropertiesArgs, GetPhysicalDeviceToolPropertiesArgs,
};
use venus_rs_encoder::protocol::PROTOCOL_EXTENSIONS;

use super::generated::unsupported::UNSUPPORTED_EXTENSIONS;
use super::instance::{cap_api_version, extension_property, fill_array};
use super::objects::PhysicalDeviceObject;
use super::translate::{raise_one, unavailable, Dispatch};
use crate::executor::ContextFatal;

fn no_handles(object_type: i32, id: u64) -> Result<u64, ContextFatal> {
    Err(ContextFatal::new(format!(
        "a query result names object {id} (type {object_type}), which no query may"
    )))
}

/// Lets `call` fill the guest's output struct through its C image.
fn fill<T: CType>(
    out: &mut Option<Box<T>>,
    call: impl FnOnce(*mut u8),
) -> Result<(), ContextFatal> {
    let value = out.take().map_or_else(T::default, |b| *b);
    let mut lowered = Lowered::one(value, &mut no_handles)?;
    call(lowered.as_mut_ptr());
    *out = raise_one(Some(lowered))?;
    Ok(())
}

/// This host executes no sparse binding (vkQueueBindSparse), so the guest is told of no
/// sparse support, as virglrenderer's pairing with the same guest does.
fn hide_unsupported_features(features: &mut types::PhysicalDeviceFeatures) {
    features.sparse_binding = 0;
    features.sparse_residency_buffer = 0;
    features.sparse_residency_image2_d = 0;
    features.sparse_residency_image3_d = 0;
    features.sparse_residency2_samples = 0;
    features.sparse_residency4_samples = 0;
    features.sparse_residency8_samples = 0;
    features.sparse_residency16_samples = 0;
    features.sparse_residency_aliased = 0;
}

/// Host image copy needs the MESA copy commands, which this host does not run.
fn hide_unsupported_chained_features(chain: &mut [Ext<'_>]) {
    for ext in chain {
        match ext {
            Ext::PhysicalDeviceVulkan14Features(f) => f.host_image_copy = 0,
            Ext::PhysicalDeviceHostImageCopyFeatures(f) => f.host_image_copy = 0,
            _ => {}
        }
    }
}

fn hide_sparse_properties(properties: &mut types::PhysicalDeviceProperties) {
    properties.limits.sparse_address_space_size = 0;
    properties.sparse_properties = Default::default();
}

fn adjust_properties(properties: &mut types::PhysicalDeviceProperties) {
    properties.api_version = cap_api_version(properties.api_version);
    properties.driver_version = 0;
    hide_sparse_properties(properties);
}

/// What virglrenderer hides of the host's identity in a properties chain.
fn hide_identity(chain: &mut [Ext<'_>]) {
    for ext in chain {
        match ext {
            Ext::PhysicalDeviceVulkan11Properties(p) => {
                p.device_uuid = vec![0; vk::UUID_SIZE];
                p.driver_uuid = vec![0; vk::UUID_SIZE];
                p.device_luid = vec![0; vk::LUID_SIZE];
                p.device_node_mask = 0;
                p.device_luid_valid = 0;
            }
            Ext::PhysicalDeviceIDProperties(p) => {
                p.device_uuid = vec![0; vk::UUID_SIZE];
                p.driver_uuid = vec![0; vk::UUID_SIZE];
                p.device_luid = vec![0; vk::LUID_SIZE];
                p.device_node_mask = 0;
                p.device_luid_valid = 0;
            }
            Ext::PhysicalDeviceVulkan12Properties(p) => {
                p.driver_id = 0;
                p.driver_name = vec![0; vk::MAX_DRIVER_NAME_SIZE];
                p.driver_info = vec![0; vk::MAX_DRIVER_INFO_SIZE];
                p.conformance_version = Default::default();
            }
            Ext::PhysicalDeviceDriverProperties(p) => {
                p.driver_id = 0;
                p.driver_name = vec![0; vk::MAX_DRIVER_NAME_SIZE];
                p.driver_info = vec![0; vk::MAX_DRIVER_INFO_SIZE];
                p.conformance_version = Default::default();
            }
            _ => {}
        }
    }
}

pub(crate) fn get_physical_device_features(
    cx: &mut Dispatch<'_, '_>,
    a: &mut GetPhysicalDeviceFeaturesArgs,
) -> Result<(), ContextFatal> {
    let physical = cx.physical_device(a.physical_device)?;
    let f = physical
        .instance
        .fns
        .get_physical_device_features
        .ok_or_else(|| unavailable("vkGetPhysicalDeviceFeatures"))?;
    a.p_features.get_or_insert_with(Default::default);
    // SAFETY: a live physical device and a lowered output struct.
    fill(&mut a.p_features, |p| unsafe { f(physical.raw, p.cast()) })?;
    if let Some(features) = a.p_features.as_mut() {
        hide_unsupported_features(features);
    }
    Ok(())
}

pub(crate) fn get_physical_device_features2(
    cx: &mut Dispatch<'_, '_>,
    a: &mut GetPhysicalDeviceFeatures2Args<'_>,
) -> Result<(), ContextFatal> {
    let physical = cx.physical_device(a.physical_device)?;
    let f = physical
        .instance
        .fns
        .get_physical_device_features2
        .ok_or_else(|| unavailable("vkGetPhysicalDeviceFeatures2"))?;
    if a.p_features.is_none() {
        return Err(ContextFatal::new("pFeatures is NULL"));
    }
    // SAFETY: a live physical device and a lowered output chain.
    fill(&mut a.p_features, |p| unsafe { f(physical.raw, p.cast()) })?;
    if let Some(features) = a.p_features.as_mut() {
        hide_unsupported_features(&mut features.features);
        hide_unsupported_chained_features(&mut features.p_next);
    }
    Ok(())
}

pub(crate) fn get_physical_device_properties(
    cx: &mut Dispatch<'_, '_>,
    a: &mut GetPhysicalDevicePropertiesArgs,
) -> Result<(), ContextFatal> {
    let physical = cx.physical_device(a.physical_device)?;
    let f = physical
        .instance
        .fns
        .get_physical_device_properties
        .ok_or_else(|| unavailable("vkGetPhysicalDeviceProperties"))?;
    a.p_properties.get_or_insert_with(Default::default);
    // SAFETY: a live physical device and a lowered output struct.
    fill(&mut a.p_properties, |p| unsafe {
        f(physical.raw, p.cast())
    })?;
    if let Some(properties) = a.p_properties.as_mut() {
        adjust_properties(properties);
    }
    Ok(())
}

pub(crate) fn get_physical_device_properties2(
    cx: &mut Dispatch<'_, '_>,
    a: &mut GetPhysicalDeviceProperties2Args<'_>,
) -> Result<(), ContextFatal> {
    let physical = cx.physical_device(a.physical_device)?;
    let f = physical
        .instance
        .fns
        .get_physical_device_properties2
        .ok_or_else(|| unavailable("vkGetPhysicalDeviceProperties2"))?;
    if a.p_properties.is_none() {
        return Err(ContextFatal::new("pProperties is NULL"));
    }
    // SAFETY: a live physical device and a lowered output chain.
    fill(&mut a.p_properties, |p| unsafe {
        f(physical.raw, p.cast())
    })?;
    if let Some(properties) = a.p_properties.as_mut() {
        adjust_properties(&mut properties.properties);
        hide_identity(&mut properties.p_next);
    }
    Ok(())
}

pub(crate) fn get_physical_device_sparse_image_format_properties(
    cx: &mut Dispatch<'_, '_>,
    a: &mut GetPhysicalDeviceSparseImageFormatPropertiesArgs,
) -> Result<(), ContextFatal> {
    cx.physical_device(a.physical_device)?;
    fill_array(&mut a.p_property_count, &mut a.p_properties, Vec::new());
    Ok(())
}

pub(crate) fn get_physical_device_sparse_image_format_properties2(
    cx: &mut Dispatch<'_, '_>,
    a: &mut GetPhysicalDeviceSparseImageFormatProperties2Args<'_>,
) -> Result<(), ContextFatal> {
    cx.physical_device(a.physical_device)?;
    fill_array(&mut a.p_property_count, &mut a.p_properties, Vec::new());
    Ok(())
}

fn device_api_version(physical: &PhysicalDeviceObject) -> u32 {
    // SAFETY: a live physical device.
    unsafe {
        physical
            .instance
            .ash
            .get_physical_device_properties(vk::PhysicalDevice::from_raw(physical.raw))
    }
    .api_version
}

use ash::vk::Handle as _;

pub(crate) fn get_physical_device_tool_properties(
    cx: &mut Dispatch<'_, '_>,
    a: &mut GetPhysicalDeviceToolPropertiesArgs<'_>,
) -> Result<(), ContextFatal> {
    let physical = cx.physical_device(a.physical_device)?;
    let entry_point = physical.instance.fns.get_physical_device_tool_properties;
    let (true, Some(f)) = (
        device_api_version(&physical) >= vk::API_VERSION_1_3,
        entry_point,
    ) else {
        // A 1.3 entry point: older devices have no tools to report.
        a.ret = fill_array(&mut a.p_tool_count, &mut a.p_tool_properties, Vec::new());
        return Ok(());
    };
    let mut count = a.p_tool_count.unwrap_or(0);
    let result = match a.p_tool_properties.take() {
        None => {
            // SAFETY: a live physical device; counting only.
            unsafe {
                f(
                    physical.raw,
                    std::ptr::from_mut(&mut count).cast(),
                    std::ptr::null_mut(),
                )
            }
        }
        Some(list) => {
            count = count.min(list.len() as u32);
            let mut lowered = Lowered::many(list, &mut no_handles)?;
            // SAFETY: a live physical device and `count` lowered output structs.
            let result = unsafe {
                f(
                    physical.raw,
                    std::ptr::from_mut(&mut count).cast(),
                    lowered.as_mut_ptr().cast(),
                )
            };
            let mut list = super::translate::raise_many(Some(lowered))?.unwrap_or_default();
            list.truncate(count as usize);
            a.p_tool_properties = Some(list);
            result
        }
    };
    a.p_tool_count = Some(count);
    a.ret = result;
    Ok(())
}

/// The device extensions offered to the guest: the driver's, where the protocol carries them
/// and this host runs all their commands, spec version capped at the protocol's.
pub(crate) fn offered_device_extensions(
    physical: &PhysicalDeviceObject,
) -> Result<Vec<types::ExtensionProperties>, vk::Result> {
    // SAFETY: a live physical device.
    let host = unsafe {
        physical
            .instance
            .ash
            .enumerate_device_extension_properties(vk::PhysicalDevice::from_raw(physical.raw))
    }?;
    Ok(host
        .iter()
        .filter_map(|extension| {
            let name = extension.extension_name_as_c_str().ok()?.to_str().ok()?;
            if UNSUPPORTED_EXTENSIONS.contains(&name) {
                return None;
            }
            let (_, _, protocol_spec) = PROTOCOL_EXTENSIONS.iter().find(|(n, _, _)| *n == name)?;
            let mut offered = extension_property(extension);
            offered.spec_version = offered.spec_version.min(*protocol_spec);
            Some(offered)
        })
        .collect())
}

pub(crate) fn enumerate_device_extension_properties(
    cx: &mut Dispatch<'_, '_>,
    a: &mut EnumerateDeviceExtensionPropertiesArgs<'_>,
) -> Result<(), ContextFatal> {
    let physical = cx.physical_device(a.physical_device)?;
    if a.p_layer_name.is_some() {
        a.ret = vk::Result::ERROR_LAYER_NOT_PRESENT.as_raw();
        return Ok(());
    }
    a.ret = match offered_device_extensions(&physical) {
        Ok(list) => fill_array(&mut a.p_property_count, &mut a.p_properties, list),
        Err(e) => e.as_raw(),
    };
    Ok(())
}

pub(crate) fn enumerate_device_layer_properties(
    cx: &mut Dispatch<'_, '_>,
    a: &mut EnumerateDeviceLayerPropertiesArgs,
) -> Result<(), ContextFatal> {
    cx.physical_device(a.physical_device)?;
    a.ret = fill_array(&mut a.p_property_count, &mut a.p_properties, Vec::new());
    Ok(())
}
