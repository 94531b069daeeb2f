//! The `moltenvk` profile: the guest sees only what MoltenVK 1.4 offers on Apple Silicon
//! ([`super::moltenvk_facts`]), whatever the host driver is.
//!
//! - Instances: MoltenVK's instance extensions; the host instance needs portability enumeration.
//! - Device extensions: the driver's (as the native host offers them) that MoltenVK has too, plus
//!   VK_KHR_portability_subset, which this profile answers itself (the driver is told nothing of
//!   it). No external memory, semaphore or fence file descriptor, no dma-buf.
//! - Features, limits and properties: the driver's, without what MoltenVK lacks (features
//!   cleared, maxima lowered and minima raised to MoltenVK's).
//! - External memory, semaphore and fence queries: MoltenVK's answers — host pointers are the only
//!   memory handle type (the host's own shared-memory path), no semaphore or fence handle type.
//! - What the profile hides is refused: a device with a hidden extension or feature gets the API's
//!   error; a create info naming a hidden handle type makes the context FATAL (the device said it
//!   has none, so only a broken guest asks).
//! - Host-visible memory goes only through the shared-memory path (memfd imported as a host
//!   pointer): on a driver without VK_EXT_external_memory_host it cannot be allocated.

use std::ffi::CStr;

use ash::vk;
use venus_rs_encoder::host::chain::ChainLink;
use venus_rs_encoder::host::types::{self, Ext};
use venus_rs_encoder::host::{
    AllocateMemoryArgs, Command, CreateDeviceArgs, CreateInstanceArgs,
    EnumerateDeviceExtensionPropertiesArgs, EnumerateInstanceExtensionPropertiesArgs,
};
use venus_rs_encoder::protocol::{EXTENSION_STRUCTS, PROTOCOL_EXTENSIONS};

use super::super::generated;
use super::super::instance::{
    extension_property, fill_array, instance_extensions, offered_by_protocol,
};
use super::super::physical_device::offered_device_extensions;
use super::super::translate::{required, Dispatch};
use super::moltenvk_facts as facts;
use crate::executor::ContextFatal;

pub(super) const DESCRIPTION: &str =
    "what MoltenVK 1.4.2 offers on Apple Silicon (M1-class GPU, macOS 15): no external fd, \
     VK_KHR_portability_subset, MoltenVK's features and limits";

const PORTABILITY_SUBSET: &str = "VK_KHR_portability_subset";
const PORTABILITY_ENUMERATION: &CStr = c"VK_KHR_portability_enumeration";

/// What the profile does once the driver has answered.
enum After {
    Nothing,
    /// Clear what MoltenVK lacks from the features.
    Features,
    /// As `Features`, and put the portability feature structs the guest chained back at these
    /// places of the chain (the driver never saw them).
    Features2 {
        portability: Vec<usize>,
    },
    Properties,
    Properties2 {
        portability: Vec<usize>,
    },
    /// A host-pointer buffer query: keep MoltenVK's handle types only.
    HostPointerBuffer,
    /// An image query for external memory of this handle type.
    ExternalImage {
        handle_type: i32,
    },
}

/// What screening decided.
enum Screened {
    /// The profile answered the command itself.
    Answered,
    /// The driver runs it.
    Run(After),
}

pub(super) fn dispatch(
    cx: &mut Dispatch<'_, '_>,
    command: &mut Command<'_>,
) -> Result<(), ContextFatal> {
    let after = match screen(cx, command)? {
        Screened::Answered => return Ok(()),
        Screened::Run(after) => after,
    };
    generated::dispatch::dispatch(cx, command)?;
    finish(command, after);
    Ok(())
}

fn screen(cx: &mut Dispatch<'_, '_>, command: &mut Command<'_>) -> Result<Screened, ContextFatal> {
    Ok(match command {
        Command::EnumerateInstanceExtensionProperties(a) => {
            enumerate_instance_extensions(cx, a)?;
            Screened::Answered
        }
        Command::CreateInstance(a) => screen_create_instance(cx, a)?,
        Command::EnumerateDeviceExtensionProperties(a) => {
            enumerate_device_extensions(cx, a)?;
            Screened::Answered
        }
        Command::GetPhysicalDeviceFeatures(_) => Screened::Run(After::Features),
        Command::GetPhysicalDeviceFeatures2(a) => {
            let portability = a.p_features.as_mut().map_or_else(Vec::new, |features| {
                detach(&mut features.p_next, |ext| {
                    matches!(ext, Ext::PhysicalDevicePortabilitySubsetFeaturesKHR(_))
                })
            });
            Screened::Run(After::Features2 { portability })
        }
        Command::GetPhysicalDeviceProperties(_) => Screened::Run(After::Properties),
        Command::GetPhysicalDeviceProperties2(a) => {
            let portability = a.p_properties.as_mut().map_or_else(Vec::new, |properties| {
                detach(&mut properties.p_next, |ext| {
                    matches!(ext, Ext::PhysicalDevicePortabilitySubsetPropertiesKHR(_))
                })
            });
            Screened::Run(After::Properties2 { portability })
        }
        Command::CreateDevice(a) => screen_create_device(cx, a)?,
        Command::AllocateMemory(a) => screen_allocate_memory(cx, a)?,
        Command::CreateBuffer(a) => {
            for ext in a.p_create_info.iter().flat_map(|info| &info.p_next) {
                if let Ext::ExternalMemoryBufferCreateInfo(external) = ext {
                    refuse_memory_handle_types(
                        external.handle_types,
                        "VkExternalMemoryBufferCreateInfo",
                    )?;
                }
            }
            Screened::Run(After::Nothing)
        }
        Command::CreateImage(a) => {
            for ext in a.p_create_info.iter().flat_map(|info| &info.p_next) {
                if let Ext::ExternalMemoryImageCreateInfo(external) = ext {
                    refuse_memory_handle_types(
                        external.handle_types,
                        "VkExternalMemoryImageCreateInfo",
                    )?;
                }
            }
            Screened::Run(After::Nothing)
        }
        Command::CreateSemaphore(a) => {
            for ext in a.p_create_info.iter().flat_map(|info| &info.p_next) {
                if let Ext::ExportSemaphoreCreateInfo(export) = ext {
                    refuse_sync_handle_types(export.handle_types, "VkExportSemaphoreCreateInfo")?;
                }
            }
            Screened::Run(After::Nothing)
        }
        Command::CreateFence(a) => {
            for ext in a.p_create_info.iter().flat_map(|info| &info.p_next) {
                if let Ext::ExportFenceCreateInfo(export) = ext {
                    refuse_sync_handle_types(export.handle_types, "VkExportFenceCreateInfo")?;
                }
            }
            Screened::Run(After::Nothing)
        }
        Command::GetPhysicalDeviceExternalBufferProperties(a) => {
            cx.physical_device(a.physical_device)?;
            let handle_type =
                required(&a.p_external_buffer_info, "pExternalBufferInfo")?.handle_type as u32;
            if is_host_pointer(handle_type) {
                Screened::Run(After::HostPointerBuffer)
            } else {
                let properties = a
                    .p_external_buffer_properties
                    .as_mut()
                    .ok_or_else(|| ContextFatal::new("pExternalBufferProperties is NULL"))?;
                properties.external_memory_properties = types::ExternalMemoryProperties::default();
                Screened::Answered
            }
        }
        // MoltenVK answers no handle type for fences and semaphores.
        Command::GetPhysicalDeviceExternalFenceProperties(a) => {
            cx.physical_device(a.physical_device)?;
            let properties = a
                .p_external_fence_properties
                .as_mut()
                .ok_or_else(|| ContextFatal::new("pExternalFenceProperties is NULL"))?;
            properties.export_from_imported_handle_types = 0;
            properties.compatible_handle_types = 0;
            properties.external_fence_features = 0;
            Screened::Answered
        }
        Command::GetPhysicalDeviceExternalSemaphoreProperties(a) => {
            cx.physical_device(a.physical_device)?;
            let properties = a
                .p_external_semaphore_properties
                .as_mut()
                .ok_or_else(|| ContextFatal::new("pExternalSemaphoreProperties is NULL"))?;
            properties.export_from_imported_handle_types = 0;
            properties.compatible_handle_types = 0;
            properties.external_semaphore_features = 0;
            Screened::Answered
        }
        Command::GetPhysicalDeviceImageFormatProperties2(a) => {
            let handle_type = a.p_image_format_info.iter().find_map(|info| {
                info.p_next.iter().find_map(|ext| match ext {
                    Ext::PhysicalDeviceExternalImageFormatInfo(external) => {
                        Some(external.handle_type)
                    }
                    _ => None,
                })
            });
            Screened::Run(match handle_type {
                Some(handle_type) => After::ExternalImage { handle_type },
                None => After::Nothing,
            })
        }
        _ => Screened::Run(After::Nothing),
    })
}

fn finish(command: &mut Command<'_>, after: After) {
    match (command, after) {
        (Command::GetPhysicalDeviceFeatures(a), After::Features) => {
            if let Some(features) = a.p_features.as_mut() {
                facts::clear_missing_features(features, &mut Vec::new());
            }
        }
        (Command::GetPhysicalDeviceFeatures2(a), After::Features2 { portability }) => {
            if let Some(features) = a.p_features.as_mut() {
                facts::clear_missing_features(&mut features.features, &mut Vec::new());
                for ext in &mut features.p_next {
                    facts::clear_missing_chained_features(ext, &mut Vec::new());
                }
                reattach(&mut features.p_next, &portability, || {
                    Ext::PhysicalDevicePortabilitySubsetFeaturesKHR(Box::new(
                        facts::portability_features(),
                    ))
                });
            }
        }
        (Command::GetPhysicalDeviceProperties(a), After::Properties) => {
            if let Some(properties) = a.p_properties.as_mut() {
                restrict_properties(properties);
            }
        }
        (Command::GetPhysicalDeviceProperties2(a), After::Properties2 { portability }) => {
            if let Some(properties) = a.p_properties.as_mut() {
                restrict_properties(&mut properties.properties);
                for ext in &mut properties.p_next {
                    facts::restrict_chained_properties(ext);
                }
                reattach(&mut properties.p_next, &portability, || {
                    Ext::PhysicalDevicePortabilitySubsetPropertiesKHR(Box::new(
                        facts::portability_properties(),
                    ))
                });
            }
        }
        (Command::GetPhysicalDeviceExternalBufferProperties(a), After::HostPointerBuffer) => {
            if let Some(properties) = a.p_external_buffer_properties.as_mut() {
                keep_host_pointer_types(&mut properties.external_memory_properties);
            }
        }
        (
            Command::GetPhysicalDeviceImageFormatProperties2(a),
            After::ExternalImage { handle_type },
        ) => {
            for ext in a
                .p_image_format_properties
                .iter_mut()
                .flat_map(|p| &mut p.p_next)
            {
                if let Ext::ExternalImageFormatProperties(external) = ext {
                    if is_host_pointer(handle_type as u32) {
                        keep_host_pointer_types(&mut external.external_memory_properties);
                    } else {
                        // MoltenVK answers the query and says the handle type cannot be used.
                        external.external_memory_properties =
                            types::ExternalMemoryProperties::default();
                    }
                }
            }
        }
        _ => {}
    }
}

fn restrict_properties(properties: &mut types::PhysicalDeviceProperties) {
    let version = |v: u32| (vk::api_version_major(v), vk::api_version_minor(v));
    if version(properties.api_version) > version(facts::API_VERSION) {
        properties.api_version = vk::make_api_version(
            0,
            vk::api_version_major(facts::API_VERSION),
            vk::api_version_minor(facts::API_VERSION),
            vk::api_version_patch(properties.api_version),
        );
    }
    facts::restrict_limits(&mut properties.limits);
}

/// Takes the structs `detached` picks out of a chain; returns where they were.
fn detach(chain: &mut Vec<Ext<'_>>, detached: impl Fn(&Ext<'_>) -> bool) -> Vec<usize> {
    let places = chain
        .iter()
        .enumerate()
        .filter(|(_, ext)| detached(ext))
        .map(|(place, _)| place)
        .collect();
    chain.retain(|ext| !detached(ext));
    places
}

/// Puts the profile's own answer back where `detach` took a struct from.
fn reattach<'a>(chain: &mut Vec<Ext<'a>>, places: &[usize], answer: impl Fn() -> Ext<'a>) {
    for &place in places {
        chain.insert(place.min(chain.len()), answer());
    }
}

fn is_host_pointer(handle_type: u32) -> bool {
    handle_type != 0 && handle_type & !facts::HOST_POINTER_HANDLE_TYPES == 0
}

fn keep_host_pointer_types(properties: &mut types::ExternalMemoryProperties) {
    properties.external_memory_features &= facts::HOST_POINTER_FEATURES;
    properties.export_from_imported_handle_types &= facts::HOST_POINTER_HANDLE_TYPES;
    properties.compatible_handle_types &= facts::HOST_POINTER_HANDLE_TYPES;
}

fn refuse_memory_handle_types(handle_types: u32, what: &str) -> Result<(), ContextFatal> {
    let hidden = handle_types & !facts::HOST_POINTER_HANDLE_TYPES;
    if hidden == 0 {
        return Ok(());
    }
    let fd = if hidden & facts::FD_MEMORY_HANDLE_TYPES != 0 {
        " (file descriptors)"
    } else {
        ""
    };
    Err(ContextFatal::new(format!(
        "{what} names memory handle types {hidden:#x}{fd}, which the moltenvk host profile \
         does not offer: only host pointers"
    )))
}

fn refuse_sync_handle_types(handle_types: u32, what: &str) -> Result<(), ContextFatal> {
    if handle_types == 0 {
        return Ok(());
    }
    Err(ContextFatal::new(format!(
        "{what} names handle types {handle_types:#x}, which the moltenvk host profile does not \
         offer: MoltenVK exports no semaphore or fence"
    )))
}

/// The loader's instance extensions that the protocol carries and MoltenVK has.
fn enumerate_instance_extensions(
    cx: &mut Dispatch<'_, '_>,
    a: &mut EnumerateInstanceExtensionPropertiesArgs<'_>,
) -> Result<(), ContextFatal> {
    if a.p_layer_name.is_some() {
        a.ret = vk::Result::ERROR_LAYER_NOT_PRESENT.as_raw();
        return Ok(());
    }
    let offered = instance_extensions(cx.shared.entry()?)
        .iter()
        .filter(|e| offered_by_protocol(e) && moltenvk_has_instance_extension(e))
        .map(extension_property)
        .collect();
    a.ret = fill_array(&mut a.p_property_count, &mut a.p_properties, offered);
    Ok(())
}

fn moltenvk_has_instance_extension(extension: &vk::ExtensionProperties) -> bool {
    extension
        .extension_name_as_c_str()
        .ok()
        .and_then(|name| name.to_str().ok())
        .is_some_and(|name| facts::INSTANCE_EXTENSIONS.contains(&name))
}

/// MoltenVK lists devices only to instances created with portability enumeration, which the host
/// instance gets whenever the loader offers it; without it, the guest hears why.
fn screen_create_instance(
    cx: &mut Dispatch<'_, '_>,
    a: &mut CreateInstanceArgs<'_>,
) -> Result<Screened, ContextFatal> {
    let info = required(&a.p_create_info, "pCreateInfo")?;
    for name in info.pp_enabled_extension_names.iter().flatten() {
        if !name
            .to_str()
            .is_ok_and(|name| facts::INSTANCE_EXTENSIONS.contains(&name))
        {
            crate::log!(
                "vkCreateInstance: the guest asked for {name:?}, which the moltenvk host profile \
                 does not offer"
            );
            a.ret = vk::Result::ERROR_EXTENSION_NOT_PRESENT.as_raw();
            return Ok(Screened::Answered);
        }
    }
    let loader_has_portability = instance_extensions(cx.shared.entry()?)
        .iter()
        .any(|e| e.extension_name_as_c_str() == Ok(PORTABILITY_ENUMERATION));
    if !loader_has_portability {
        crate::log!(
            "vkCreateInstance: the moltenvk host profile needs {PORTABILITY_ENUMERATION:?}, which \
             the host's Vulkan loader lacks (a loader older than 1.3.216)"
        );
        a.ret = vk::Result::ERROR_INCOMPATIBLE_DRIVER.as_raw();
        return Ok(Screened::Answered);
    }
    Ok(Screened::Run(After::Nothing))
}

/// The device extensions the profile offers: the native host's that MoltenVK has, and
/// VK_KHR_portability_subset.
fn offered(
    cx: &Dispatch<'_, '_>,
    physical_device: u64,
) -> Result<Vec<types::ExtensionProperties>, ContextFatal> {
    let physical = cx.physical_device(physical_device)?;
    let mut offered: Vec<types::ExtensionProperties> = offered_device_extensions(&physical)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| extension_name(e).is_some_and(facts::offers_device_extension))
        .collect();
    if !offered
        .iter()
        .any(|e| extension_name(e) == Some(PORTABILITY_SUBSET))
    {
        offered.push(types::ExtensionProperties {
            extension_name: PORTABILITY_SUBSET.bytes().collect(),
            spec_version: 1,
        });
    }
    Ok(offered)
}

fn extension_name(extension: &types::ExtensionProperties) -> Option<&str> {
    let name = extension.extension_name.split(|&b| b == 0).next()?;
    std::str::from_utf8(name).ok()
}

fn enumerate_device_extensions(
    cx: &mut Dispatch<'_, '_>,
    a: &mut EnumerateDeviceExtensionPropertiesArgs<'_>,
) -> Result<(), ContextFatal> {
    let offered = offered(cx, a.physical_device)?;
    if a.p_layer_name.is_some() {
        a.ret = vk::Result::ERROR_LAYER_NOT_PRESENT.as_raw();
        return Ok(());
    }
    a.ret = fill_array(&mut a.p_property_count, &mut a.p_properties, offered);
    Ok(())
}

/// Refuses a device with what the profile hides; takes out what only the profile answers for
/// (VK_KHR_portability_subset and its feature struct) when the driver has no such extension.
fn screen_create_device(
    cx: &mut Dispatch<'_, '_>,
    a: &mut CreateDeviceArgs<'_>,
) -> Result<Screened, ContextFatal> {
    let offered = offered(cx, a.physical_device)?;
    let physical = cx.physical_device(a.physical_device)?;
    let info = a
        .p_create_info
        .as_mut()
        .ok_or_else(|| ContextFatal::new("pCreateInfo is NULL"))?;
    let enabled: Vec<&str> = info
        .pp_enabled_extension_names
        .iter()
        .flatten()
        .map(|name| name.to_str().unwrap_or("(not UTF-8)"))
        .collect();
    if let Some(hidden) = enabled
        .iter()
        .find(|name| !offered.iter().any(|e| extension_name(e) == Some(**name)))
    {
        crate::log!(
            "vkCreateDevice: the guest asked for {hidden}, which the moltenvk host profile does \
             not offer"
        );
        a.ret = vk::Result::ERROR_EXTENSION_NOT_PRESENT.as_raw();
        return Ok(Screened::Answered);
    }
    if let Some(name) = info
        .p_next
        .iter()
        .find_map(|ext| struct_of_absent_extension(ext, &enabled))
    {
        crate::log!("vkCreateDevice: the guest chained {name}, whose extension it did not enable");
        a.ret = vk::Result::ERROR_EXTENSION_NOT_PRESENT.as_raw();
        return Ok(Screened::Answered);
    }
    let mut hidden = Vec::new();
    if let Some(features) = info.p_enabled_features.as_mut() {
        facts::clear_missing_features(features, &mut hidden);
    }
    for ext in &mut info.p_next {
        facts::clear_missing_chained_features(ext, &mut hidden);
    }
    if !hidden.is_empty() {
        crate::log!(
            "vkCreateDevice: the guest enabled features the moltenvk host profile does not \
             offer: {}",
            hidden.join(", ")
        );
        a.ret = vk::Result::ERROR_FEATURE_NOT_PRESENT.as_raw();
        return Ok(Screened::Answered);
    }
    let driver_has_portability = offered_device_extensions(&physical)
        .unwrap_or_default()
        .iter()
        .any(|e| extension_name(e) == Some(PORTABILITY_SUBSET));
    if !driver_has_portability {
        if let Some(names) = info.pp_enabled_extension_names.as_mut() {
            names.retain(|name| name.to_bytes() != PORTABILITY_SUBSET.as_bytes());
            info.enabled_extension_count = names.len() as u32;
        }
        info.p_next
            .retain(|ext| !matches!(ext, Ext::PhysicalDevicePortabilitySubsetFeaturesKHR(_)));
    }
    Ok(Screened::Run(After::Nothing))
}

/// The name of `ext` when only extensions introduce it and the guest enabled none of them.
fn struct_of_absent_extension(ext: &Ext<'_>, enabled: &[&str]) -> Option<&'static str> {
    let (_, name, gate) = EXTENSION_STRUCTS
        .iter()
        .find(|(s_type, _, _)| *s_type == ext.stype())?;
    if gate.api != 0 || gate.venus_spec != 0 {
        return None;
    }
    let enabled_one = gate.exts.iter().any(|number| {
        PROTOCOL_EXTENSIONS
            .iter()
            .any(|(known, n, _)| n == number && enabled.contains(known))
    });
    (!enabled_one).then_some(*name)
}

/// Host-visible memory is only ever the host's shared memory; export handle types other than
/// host pointers are hidden.
fn screen_allocate_memory(
    cx: &mut Dispatch<'_, '_>,
    a: &mut AllocateMemoryArgs<'_>,
) -> Result<Screened, ContextFatal> {
    let device = cx.device(a.device)?;
    let info = required(&a.p_allocate_info, "pAllocateInfo")?;
    for ext in &info.p_next {
        if let Ext::ExportMemoryAllocateInfo(export) = ext {
            refuse_memory_handle_types(export.handle_types, "VkExportMemoryAllocateInfo")?;
        }
    }
    let host_visible = device
        .memory_types
        .get(info.memory_type_index as usize)
        .is_some_and(|&flags| flags & vk::MemoryPropertyFlags::HOST_VISIBLE.as_raw() != 0);
    if host_visible && !device.external_memory_host {
        crate::log!(
            "vkAllocateMemory: the moltenvk host profile maps host-visible memory only as shared \
             memory imported with VK_EXT_external_memory_host, which this driver lacks"
        );
        a.ret = vk::Result::ERROR_OUT_OF_DEVICE_MEMORY.as_raw();
        return Ok(Screened::Answered);
    }
    Ok(Screened::Run(After::Nothing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_host_pointers_are_memory_handle_types_of_the_profile() {
        let host_allocation = vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT.as_raw();
        assert!(is_host_pointer(host_allocation));
        assert!(!is_host_pointer(0));
        for fd in [
            vk::ExternalMemoryHandleTypeFlags::OPAQUE_FD,
            vk::ExternalMemoryHandleTypeFlags::DMA_BUF_EXT,
        ] {
            assert!(!is_host_pointer(fd.as_raw()));
            let refused = refuse_memory_handle_types(fd.as_raw() | host_allocation, "X")
                .unwrap_err()
                .reason()
                .to_owned();
            assert!(refused.contains("file descriptors"), "{refused}");
        }
        assert!(refuse_memory_handle_types(host_allocation, "X").is_ok());
        assert!(refuse_sync_handle_types(0, "X").is_ok());
        assert!(refuse_sync_handle_types(
            vk::ExternalSemaphoreHandleTypeFlags::SYNC_FD.as_raw(),
            "X"
        )
        .is_err());
    }

    #[test]
    fn the_profile_offers_no_file_descriptor_extension() {
        for fd in [
            "VK_KHR_external_memory_fd",
            "VK_EXT_external_memory_dma_buf",
            "VK_KHR_external_semaphore_fd",
            "VK_KHR_external_fence_fd",
            "VK_EXT_image_drm_format_modifier",
            "VK_EXT_queue_family_foreign",
        ] {
            assert!(!facts::offers_device_extension(fd), "{fd}");
        }
        assert!(facts::offers_device_extension(PORTABILITY_SUBSET));
        assert!(!facts::offers_device_extension("VK_EXT_provoking_vertex"));
    }

    #[test]
    fn detached_structs_come_back_where_they_were() {
        let mut chain = vec![
            Ext::PhysicalDeviceVulkan11Features(Box::default()),
            Ext::PhysicalDevicePortabilitySubsetFeaturesKHR(Box::default()),
            Ext::PhysicalDeviceVulkan12Features(Box::default()),
        ];
        let places = detach(&mut chain, |ext| {
            matches!(ext, Ext::PhysicalDevicePortabilitySubsetFeaturesKHR(_))
        });
        assert_eq!(places, vec![1]);
        assert_eq!(chain.len(), 2);
        reattach(&mut chain, &places, || {
            Ext::PhysicalDevicePortabilitySubsetFeaturesKHR(Box::new(facts::portability_features()))
        });
        let Ext::PhysicalDevicePortabilitySubsetFeaturesKHR(answer) = &chain[1] else {
            panic!("{chain:?}");
        };
        assert_eq!(
            (answer.triangle_fans, answer.point_polygons),
            (vk::TRUE, vk::FALSE)
        );
        assert!(matches!(chain[2], Ext::PhysicalDeviceVulkan12Features(_)));
    }

    #[test]
    fn enabling_a_feature_moltenvk_lacks_is_named() {
        let mut features = types::PhysicalDeviceFeatures {
            geometry_shader: vk::TRUE,
            tessellation_shader: vk::TRUE,
            ..Default::default()
        };
        let mut found = Vec::new();
        facts::clear_missing_features(&mut features, &mut found);
        assert_eq!(found, vec!["VkPhysicalDeviceFeatures.geometry_shader"]);
        assert_eq!(
            (features.geometry_shader, features.tessellation_shader),
            (0, 1)
        );
        let mut portability = Ext::PhysicalDevicePortabilitySubsetFeaturesKHR(Box::new(
            types::PhysicalDevicePortabilitySubsetFeaturesKHR {
                point_polygons: vk::TRUE,
                triangle_fans: vk::TRUE,
                ..Default::default()
            },
        ));
        let mut found = Vec::new();
        facts::clear_missing_chained_features(&mut portability, &mut found);
        assert_eq!(
            found,
            vec!["VkPhysicalDevicePortabilitySubsetFeaturesKHR.point_polygons"]
        );
    }

    #[test]
    fn limits_only_get_stricter() {
        let mut limits = types::PhysicalDeviceLimits {
            max_image_dimension2_d: 16384 * 2,
            max_push_constants_size: 128,
            min_uniform_buffer_offset_alignment: 4,
            min_storage_buffer_offset_alignment: 256,
            line_width_range: vec![1.0, 255.0],
            viewport_bounds_range: vec![-65536.0, 65535.0],
            framebuffer_color_sample_counts: 0x1f,
            ..Default::default()
        };
        facts::restrict_limits(&mut limits);
        assert_eq!(limits.max_image_dimension2_d, 16384);
        assert_eq!(limits.max_push_constants_size, 128, "already lower");
        assert_eq!(limits.min_uniform_buffer_offset_alignment, 16);
        assert_eq!(
            limits.min_storage_buffer_offset_alignment, 256,
            "already stricter"
        );
        assert_eq!(limits.line_width_range, vec![1.0, 1.0]);
        assert_eq!(limits.viewport_bounds_range, vec![-32768.0, 32767.0]);
        assert_eq!(limits.framebuffer_color_sample_counts, 0xf);
    }

    #[test]
    fn structs_of_extensions_the_guest_did_not_enable_are_named() {
        let robustness = Ext::PhysicalDeviceRobustness2FeaturesEXT(Box::default());
        assert_eq!(
            struct_of_absent_extension(&robustness, &[]),
            Some("VkPhysicalDeviceRobustness2FeaturesEXT")
        );
        assert_eq!(
            struct_of_absent_extension(&robustness, &["VK_EXT_robustness2"]),
            None
        );
        let core = Ext::PhysicalDeviceVulkan12Features(Box::default());
        assert_eq!(struct_of_absent_extension(&core, &[]), None);
    }
}
