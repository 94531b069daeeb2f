//! Physical-device queries, answered generically: the guest's output structs (with whatever
//! pNext chain it sent) are lowered to C by the generated conversions, the driver fills them,
//! and they are raised back into the typed reply. Only what the guest may not see of the
//! host's identity is changed afterwards, as virglrenderer does (UUIDs, LUIDs, driver
//! identification and version), plus the API version this host caps.

use ash::vk;
use venus_rs_encoder::convert::{CType, Lowered};
use venus_rs_encoder::host::types::{self, Ext};
use venus_rs_encoder::host::Command;

use super::convert::no_handles;
use super::objects::PhysicalDeviceObject;
use super::ContextObjects;
use crate::executor::ContextFatal;

fn lower<T: CType>(value: T) -> Result<Lowered<T>, ContextFatal> {
    Lowered::one(value, &mut no_handles)
}

fn raised<T>(result: Result<T, venus_rs_encoder::convert::RaiseError>) -> Result<T, ContextFatal> {
    result.map_err(|e| ContextFatal::new(format!("reading back the driver's output: {e}")))
}

/// Fills the guest's output struct in place through `call`, which gets its C image.
fn fill<T: CType>(out: &mut T, call: impl FnOnce(*mut u8)) -> Result<(), ContextFatal> {
    let mut lowered = lower(std::mem::take(out))?;
    call(lowered.as_mut_ptr());
    *out = raised(lowered.raise())?;
    Ok(())
}

/// The Vulkan two-call idiom for arrays of output structs: `call(count, array)` with the
/// guest's capacity and the lowered array (null when the guest asked for the count only).
fn fill_list<T: CType>(
    count: &mut Option<u32>,
    out: &mut Option<Vec<T>>,
    call: impl FnOnce(&mut u32, *mut u8) -> vk::Result,
) -> Result<vk::Result, ContextFatal> {
    let mut n = count.unwrap_or(0);
    let result = match out.take() {
        None => call(&mut n, std::ptr::null_mut()),
        Some(list) => {
            n = n.min(list.len() as u32);
            let mut lowered = Lowered::many(list, &mut no_handles)?;
            let result = call(&mut n, lowered.as_mut_ptr());
            let mut list = raised(lowered.raise_all())?;
            list.truncate(n as usize);
            *out = Some(list);
            result
        }
    };
    *count = Some(n);
    Ok(result)
}

fn cap_api_version(properties: &mut types::PhysicalDeviceProperties) {
    properties.api_version = super::dispatch::cap_api_version(properties.api_version);
    properties.driver_version = 0;
}

/// This host executes no sparse binding (vkQueueBindSparse) yet, so, like virglrenderer's
/// pairing with the same guest, the guest is told of no sparse resource support at all.
fn hide_sparse_features(features: &mut types::PhysicalDeviceFeatures) {
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

/// The limits and properties that only mean something with the sparse features hidden above.
fn hide_sparse_properties(properties: &mut types::PhysicalDeviceProperties) {
    properties.limits.sparse_address_space_size = 0;
    properties.sparse_properties = Default::default();
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

fn required<'r, T>(value: &'r mut Option<T>, name: &str) -> Result<&'r mut T, ContextFatal> {
    value
        .as_mut()
        .ok_or_else(|| ContextFatal::new(format!("{name} is NULL")))
}

/// Runs `command` if it is a physical-device query.
pub(super) fn run(
    shared: &ContextObjects,
    command: &mut Command<'_>,
) -> Option<Result<(), ContextFatal>> {
    let physical_device = match command {
        Command::GetPhysicalDeviceFeatures(a) => a.physical_device,
        Command::GetPhysicalDeviceFeatures2(a) => a.physical_device,
        Command::GetPhysicalDeviceProperties(a) => a.physical_device,
        Command::GetPhysicalDeviceProperties2(a) => a.physical_device,
        Command::GetPhysicalDeviceFormatProperties(a) => a.physical_device,
        Command::GetPhysicalDeviceFormatProperties2(a) => a.physical_device,
        Command::GetPhysicalDeviceImageFormatProperties(a) => a.physical_device,
        Command::GetPhysicalDeviceImageFormatProperties2(a) => a.physical_device,
        Command::GetPhysicalDeviceQueueFamilyProperties(a) => a.physical_device,
        Command::GetPhysicalDeviceQueueFamilyProperties2(a) => a.physical_device,
        Command::GetPhysicalDeviceMemoryProperties(a) => a.physical_device,
        Command::GetPhysicalDeviceMemoryProperties2(a) => a.physical_device,
        Command::GetPhysicalDeviceSparseImageFormatProperties(a) => a.physical_device,
        Command::GetPhysicalDeviceSparseImageFormatProperties2(a) => a.physical_device,
        Command::GetPhysicalDeviceExternalBufferProperties(a) => a.physical_device,
        Command::GetPhysicalDeviceExternalSemaphoreProperties(a) => a.physical_device,
        Command::GetPhysicalDeviceExternalFenceProperties(a) => a.physical_device,
        Command::GetPhysicalDeviceToolProperties(a) => a.physical_device,
        _ => return None,
    };
    Some(
        shared
            .objects()
            .physical_device(physical_device)
            .and_then(|physical| answer(&physical, command)),
    )
}

fn answer(physical: &PhysicalDeviceObject, command: &mut Command<'_>) -> Result<(), ContextFatal> {
    let instance = &physical.instance.instance;
    let pd = physical.handle;
    let v10 = instance.fp_v1_0();
    let v11 = instance.fp_v1_1();
    // SAFETY (every driver call below): `pd` is a live physical device of `instance`, and
    // every pointer is the C image of a guest struct lowered for this call, alive until the
    // call returns and raised afterwards; enum and flag values are the guest's valid-usage
    // business, which the driver (or its validation layer) checks.
    match command {
        Command::GetPhysicalDeviceFeatures(a) => {
            let out = a.p_features.get_or_insert_with(Default::default);
            fill(out.as_mut(), |p| unsafe {
                (v10.get_physical_device_features)(pd, p.cast())
            })?;
            hide_sparse_features(out);
            Ok(())
        }
        Command::GetPhysicalDeviceFeatures2(a) => {
            let out = required(&mut a.p_features, "pFeatures")?;
            fill(out.as_mut(), |p| unsafe {
                (v11.get_physical_device_features2)(pd, p.cast())
            })?;
            hide_sparse_features(&mut out.features);
            Ok(())
        }
        Command::GetPhysicalDeviceProperties(a) => {
            let out = a.p_properties.get_or_insert_with(Default::default);
            fill(out.as_mut(), |p| unsafe {
                (v10.get_physical_device_properties)(pd, p.cast())
            })?;
            cap_api_version(out);
            hide_sparse_properties(out);
            Ok(())
        }
        Command::GetPhysicalDeviceProperties2(a) => {
            let out = required(&mut a.p_properties, "pProperties")?;
            fill(out.as_mut(), |p| unsafe {
                (v11.get_physical_device_properties2)(pd, p.cast())
            })?;
            cap_api_version(&mut out.properties);
            hide_sparse_properties(&mut out.properties);
            hide_identity(&mut out.p_next);
            Ok(())
        }
        Command::GetPhysicalDeviceFormatProperties(a) => {
            let format = vk::Format::from_raw(a.format);
            let out = a.p_format_properties.get_or_insert_with(Default::default);
            fill(out.as_mut(), |p| unsafe {
                (v10.get_physical_device_format_properties)(pd, format, p.cast())
            })
        }
        Command::GetPhysicalDeviceFormatProperties2(a) => {
            let format = vk::Format::from_raw(a.format);
            let out = required(&mut a.p_format_properties, "pFormatProperties")?;
            fill(out.as_mut(), |p| unsafe {
                (v11.get_physical_device_format_properties2)(pd, format, p.cast())
            })
        }
        Command::GetPhysicalDeviceImageFormatProperties(a) => {
            let mut result = vk::Result::SUCCESS;
            let out = a
                .p_image_format_properties
                .get_or_insert_with(Default::default);
            fill(out.as_mut(), |p| {
                result = unsafe {
                    (v10.get_physical_device_image_format_properties)(
                        pd,
                        vk::Format::from_raw(a.format),
                        vk::ImageType::from_raw(a.ty),
                        vk::ImageTiling::from_raw(a.tiling),
                        vk::ImageUsageFlags::from_raw(a.usage),
                        vk::ImageCreateFlags::from_raw(a.flags),
                        p.cast(),
                    )
                }
            })?;
            a.ret = result.as_raw();
            Ok(())
        }
        Command::GetPhysicalDeviceImageFormatProperties2(a) => {
            let info = required(&mut a.p_image_format_info, "pImageFormatInfo")?;
            let mut info = lower(info.as_ref().clone())?;
            let out = required(&mut a.p_image_format_properties, "pImageFormatProperties")?;
            let mut result = vk::Result::SUCCESS;
            fill(out.as_mut(), |p| {
                result = unsafe {
                    (v11.get_physical_device_image_format_properties2)(
                        pd,
                        info.as_mut_ptr().cast(),
                        p.cast(),
                    )
                }
            })?;
            a.ret = result.as_raw();
            Ok(())
        }
        Command::GetPhysicalDeviceQueueFamilyProperties(a) => fill_list(
            &mut a.p_queue_family_property_count,
            &mut a.p_queue_family_properties,
            |n, p| {
                unsafe { (v10.get_physical_device_queue_family_properties)(pd, n, p.cast()) };
                vk::Result::SUCCESS
            },
        )
        .map(drop),
        Command::GetPhysicalDeviceQueueFamilyProperties2(a) => fill_list(
            &mut a.p_queue_family_property_count,
            &mut a.p_queue_family_properties,
            |n, p| {
                unsafe { (v11.get_physical_device_queue_family_properties2)(pd, n, p.cast()) };
                vk::Result::SUCCESS
            },
        )
        .map(drop),
        Command::GetPhysicalDeviceMemoryProperties(a) => {
            let out = a.p_memory_properties.get_or_insert_with(Default::default);
            fill(out.as_mut(), |p| unsafe {
                (v10.get_physical_device_memory_properties)(pd, p.cast())
            })
        }
        Command::GetPhysicalDeviceMemoryProperties2(a) => {
            let out = required(&mut a.p_memory_properties, "pMemoryProperties")?;
            fill(out.as_mut(), |p| unsafe {
                (v11.get_physical_device_memory_properties2)(pd, p.cast())
            })
        }
        Command::GetPhysicalDeviceSparseImageFormatProperties(a) => {
            let (format, ty, samples, usage, tiling) = (
                vk::Format::from_raw(a.format),
                vk::ImageType::from_raw(a.ty),
                vk::SampleCountFlags::from_raw(a.samples as u32),
                vk::ImageUsageFlags::from_raw(a.usage),
                vk::ImageTiling::from_raw(a.tiling),
            );
            fill_list(&mut a.p_property_count, &mut a.p_properties, |n, p| {
                unsafe {
                    (v10.get_physical_device_sparse_image_format_properties)(
                        pd,
                        format,
                        ty,
                        samples,
                        usage,
                        tiling,
                        n,
                        p.cast(),
                    )
                };
                vk::Result::SUCCESS
            })
            .map(drop)
        }
        Command::GetPhysicalDeviceSparseImageFormatProperties2(a) => {
            let info = required(&mut a.p_format_info, "pFormatInfo")?;
            let mut info = lower(info.as_ref().clone())?;
            let info = info.as_mut_ptr();
            fill_list(&mut a.p_property_count, &mut a.p_properties, |n, p| {
                unsafe {
                    (v11.get_physical_device_sparse_image_format_properties2)(
                        pd,
                        info.cast(),
                        n,
                        p.cast(),
                    )
                };
                vk::Result::SUCCESS
            })
            .map(drop)
        }
        Command::GetPhysicalDeviceExternalBufferProperties(a) => {
            let info = required(&mut a.p_external_buffer_info, "pExternalBufferInfo")?;
            let mut info = lower(info.as_ref().clone())?;
            let out = required(
                &mut a.p_external_buffer_properties,
                "pExternalBufferProperties",
            )?;
            fill(out.as_mut(), |p| unsafe {
                (v11.get_physical_device_external_buffer_properties)(
                    pd,
                    info.as_mut_ptr().cast(),
                    p.cast(),
                )
            })
        }
        Command::GetPhysicalDeviceExternalSemaphoreProperties(a) => {
            let info = required(&mut a.p_external_semaphore_info, "pExternalSemaphoreInfo")?;
            let mut info = lower(info.as_ref().clone())?;
            let out = required(
                &mut a.p_external_semaphore_properties,
                "pExternalSemaphoreProperties",
            )?;
            fill(out.as_mut(), |p| unsafe {
                (v11.get_physical_device_external_semaphore_properties)(
                    pd,
                    info.as_mut_ptr().cast(),
                    p.cast(),
                )
            })
        }
        Command::GetPhysicalDeviceExternalFenceProperties(a) => {
            let info = required(&mut a.p_external_fence_info, "pExternalFenceInfo")?;
            let mut info = lower(info.as_ref().clone())?;
            let out = required(
                &mut a.p_external_fence_properties,
                "pExternalFenceProperties",
            )?;
            fill(out.as_mut(), |p| unsafe {
                (v11.get_physical_device_external_fence_properties)(
                    pd,
                    info.as_mut_ptr().cast(),
                    p.cast(),
                )
            })
        }
        Command::GetPhysicalDeviceToolProperties(a) => {
            // A 1.3 entry point: older devices have no tools to report.
            if physical_api_version(physical) < vk::API_VERSION_1_3 {
                a.p_tool_count = Some(0);
                a.p_tool_properties = a.p_tool_properties.take().map(|_| Vec::new());
                a.ret = vk::Result::SUCCESS.as_raw();
                return Ok(());
            }
            let v13 = instance.fp_v1_3();
            let result = fill_list(
                &mut a.p_tool_count,
                &mut a.p_tool_properties,
                |n, p| unsafe { (v13.get_physical_device_tool_properties)(pd, n, p.cast()) },
            )?;
            a.ret = result.as_raw();
            Ok(())
        }
        _ => Err(ContextFatal::new("not a physical-device query")),
    }
}

fn physical_api_version(physical: &PhysicalDeviceObject) -> u32 {
    // SAFETY: a live physical device.
    unsafe {
        physical
            .instance
            .instance
            .get_physical_device_properties(physical.handle)
    }
    .api_version
}
