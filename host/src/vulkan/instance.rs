//! Instances and enumeration: the loader calls, instance creation (the guest's layers refused,
//! its extensions limited to what the protocol offers, portability enumeration and validation
//! the host's own choice, the version capped) and the physical devices under the guest's ids.

use std::ffi::{c_char, CStr, CString};
use std::sync::Arc;

use ash::vk;
use ash::vk::Handle;
use venus_rs_encoder::host::types;
use venus_rs_encoder::host::{
    CreateInstanceArgs, DestroyInstanceArgs, EnumerateInstanceExtensionPropertiesArgs,
    EnumerateInstanceLayerPropertiesArgs, EnumerateInstanceVersionArgs,
    EnumeratePhysicalDeviceGroupsArgs, EnumeratePhysicalDevicesArgs,
};
use venus_rs_encoder::protocol::PROTOCOL_EXTENSIONS;

use super::availability::Availability;
use super::generated::fns::InstanceFns;
use super::generated::object_types as ot;
use super::objects::{Entry, InstanceObject, PhysicalDeviceObject};
use super::translate::{required, Dispatch};
use crate::executor::ContextFatal;

/// The highest Vulkan version this host exposes: the protocol (vk.xml 1.4.309) and the
/// generated dispatch cover 1.4; host image copy, its one optional part not run here, is hidden.
pub(crate) const MAX_API_VERSION: u32 = vk::make_api_version(0, 1, 4, 0);
/// Venus needs at least Vulkan 1.1 on the host.
const MIN_API_VERSION: u32 = vk::API_VERSION_1_1;

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";

pub(crate) fn cap_api_version(version: u32) -> u32 {
    let major_minor = |v: u32| (vk::api_version_major(v), vk::api_version_minor(v));
    if major_minor(version) > major_minor(MAX_API_VERSION) {
        vk::make_api_version(
            0,
            vk::api_version_major(MAX_API_VERSION),
            vk::api_version_minor(MAX_API_VERSION),
            vk::api_version_patch(version),
        )
    } else {
        version
    }
}

/// Fills an in/out count and optional array from the host's full list: the Vulkan two-call
/// idiom, with VK_INCOMPLETE when the guest's array is shorter.
pub(crate) fn fill_array<T>(
    count: &mut Option<u32>,
    out: &mut Option<Vec<T>>,
    mut host: Vec<T>,
) -> i32 {
    let available = host.len();
    match out {
        None => {
            *count = Some(available as u32);
            vk::Result::SUCCESS.as_raw()
        }
        Some(guest) => {
            let written = guest.len().min(available);
            host.truncate(written);
            *guest = host;
            *count = Some(written as u32);
            if written < available {
                vk::Result::INCOMPLETE.as_raw()
            } else {
                vk::Result::SUCCESS.as_raw()
            }
        }
    }
}

pub(crate) fn extension_property(property: &vk::ExtensionProperties) -> types::ExtensionProperties {
    types::ExtensionProperties {
        extension_name: property.extension_name.iter().map(|&c| c as u8).collect(),
        spec_version: property.spec_version,
    }
}

pub(crate) fn enumerate_instance_version(
    cx: &mut Dispatch<'_, '_>,
    a: &mut EnumerateInstanceVersionArgs,
) -> Result<(), ContextFatal> {
    // SAFETY: a loader entry point without arguments.
    let version = unsafe { cx.shared.entry()?.try_enumerate_instance_version() }
        .map_err(|e| ContextFatal::new(format!("the host loader failed: {e}")))?
        .unwrap_or(vk::API_VERSION_1_0);
    a.p_api_version = Some(cap_api_version(version));
    a.ret = vk::Result::SUCCESS.as_raw();
    Ok(())
}

/// Instance extensions the protocol covers (the host's own layers never show).
pub(crate) fn enumerate_instance_extension_properties(
    cx: &mut Dispatch<'_, '_>,
    a: &mut EnumerateInstanceExtensionPropertiesArgs<'_>,
) -> Result<(), ContextFatal> {
    if a.p_layer_name.is_some() {
        a.ret = vk::Result::ERROR_LAYER_NOT_PRESENT.as_raw();
        return Ok(());
    }
    // SAFETY: a loader entry point with no layer name.
    let host = unsafe {
        cx.shared
            .entry()?
            .enumerate_instance_extension_properties(None)
    };
    a.ret = match host {
        Ok(list) => fill_array(
            &mut a.p_property_count,
            &mut a.p_properties,
            list.iter()
                .filter(|e| offered_by_protocol(e))
                .map(extension_property)
                .collect(),
        ),
        Err(e) => e.as_raw(),
    };
    Ok(())
}

pub(crate) fn offered_by_protocol(extension: &vk::ExtensionProperties) -> bool {
    extension
        .extension_name_as_c_str()
        .ok()
        .and_then(|name| name.to_str().ok())
        .is_some_and(|name| PROTOCOL_EXTENSIONS.iter().any(|(n, _, _)| *n == name))
}

pub(crate) fn enumerate_instance_layer_properties(
    _cx: &mut Dispatch<'_, '_>,
    a: &mut EnumerateInstanceLayerPropertiesArgs,
) -> Result<(), ContextFatal> {
    a.ret = fill_array(&mut a.p_property_count, &mut a.p_properties, Vec::new());
    Ok(())
}

fn has_instance_layer(entry: &ash::Entry, layer: &CStr) -> bool {
    // SAFETY: a loader entry point without arguments.
    unsafe { entry.enumerate_instance_layer_properties() }
        .unwrap_or_default()
        .iter()
        .any(|l| l.layer_name_as_c_str() == Ok(layer))
}

pub(crate) fn instance_extensions(entry: &ash::Entry) -> Vec<vk::ExtensionProperties> {
    // SAFETY: a loader entry point with no layer name.
    unsafe { entry.enumerate_instance_extension_properties(None) }.unwrap_or_default()
}

pub(crate) fn create_instance(
    cx: &mut Dispatch<'_, '_>,
    a: &mut CreateInstanceArgs<'_>,
) -> Result<(), ContextFatal> {
    let id = *required(&a.p_instance, "pInstance")?;
    cx.objects().check_free(id, ot::INSTANCE)?;
    let Ok(charge) = cx.shared.usage.instances.charge(1) else {
        // The instances cap (logged): the error vkCreateInstance has for running out.
        a.ret = vk::Result::ERROR_OUT_OF_HOST_MEMORY.as_raw();
        return Ok(());
    };
    let entry = cx.shared.entry()?;
    let info = required(&a.p_create_info, "pCreateInfo")?;
    if !info.p_next.is_empty() {
        return Err(ContextFatal::new(
            "nothing the protocol carries extends VkInstanceCreateInfo",
        ));
    }
    if info.enabled_layer_count != 0 {
        // Host layers run in the host with the host's privileges: never the guest's choice.
        a.ret = vk::Result::ERROR_LAYER_NOT_PRESENT.as_raw();
        return Ok(());
    }
    let available = instance_extensions(entry);
    let mut extensions: Vec<*const c_char> = Vec::new();
    // The same names, owned: what the instance's commands may come from.
    let mut enabled: Vec<CString> = Vec::new();
    for name in info.pp_enabled_extension_names.iter().flatten() {
        let offered = available
            .iter()
            .any(|e| e.extension_name_as_c_str() == Ok(name) && offered_by_protocol(e));
        if !offered {
            crate::log!("vkCreateInstance: the guest asked for instance extension {name:?}, which is not offered");
            a.ret = vk::Result::ERROR_EXTENSION_NOT_PRESENT.as_raw();
            return Ok(());
        }
        extensions.push(name.as_ptr());
        enabled.push(CString::from(*name));
    }
    let requested = info
        .p_application_info
        .as_ref()
        .map_or(vk::API_VERSION_1_0, |app| app.api_version);
    let api_version = cap_api_version(requested.max(MIN_API_VERSION));
    let mut app = vk::ApplicationInfo::default().api_version(api_version);
    if let Some(app_info) = info.p_application_info.as_ref() {
        app = app
            .application_version(app_info.application_version)
            .engine_version(app_info.engine_version);
        if let Some(name) = app_info.p_application_name {
            app = app.application_name(name);
        }
        if let Some(name) = app_info.p_engine_name {
            app = app.engine_name(name);
        }
    }
    let mut layers: Vec<*const c_char> = Vec::new();
    if cx.shared.options.validate {
        if has_instance_layer(entry, VALIDATION_LAYER) {
            crate::log!("VENUS_RS_VALIDATE=1: host instance created with {VALIDATION_LAYER:?}");
            layers.push(VALIDATION_LAYER.as_ptr());
        } else {
            crate::log!("VENUS_RS_VALIDATE=1, but the host has no {VALIDATION_LAYER:?}");
        }
    }
    let mut flags = vk::InstanceCreateFlags::empty();
    let portability = ash::khr::portability_enumeration::NAME;
    if available
        .iter()
        .any(|e| e.extension_name_as_c_str() == Ok(portability))
    {
        // Portability drivers (MoltenVK) list no device without it.
        if !extensions.contains(&portability.as_ptr()) {
            extensions.push(portability.as_ptr());
            enabled.push(portability.to_owned());
        }
        flags |= vk::InstanceCreateFlags::ENUMERATE_PORTABILITY_KHR;
    }
    let create_info = vk::InstanceCreateInfo::default()
        .flags(flags)
        .application_info(&app)
        .enabled_layer_names(&layers)
        .enabled_extension_names(&extensions);
    // SAFETY: every pointer in `create_info` points into `info`, `app` or the vectors above,
    // which outlive the call.
    match unsafe { entry.create_instance(&create_info, None) } {
        Ok(instance) => {
            let raw = instance.handle().as_raw();
            let available = instance_availability(&instance, api_version, &enabled);
            let fns = InstanceFns::load(
                |name| {
                    // SAFETY: a live instance and a NUL-terminated name.
                    unsafe { entry.get_instance_proc_addr(instance.handle(), name.as_ptr()) }
                },
                |command_type| available.allows(command_type),
            );
            cx.objects().insert(
                id,
                Entry::Instance(Arc::new(InstanceObject {
                    raw,
                    fns,
                    ash: instance,
                    api_version,
                    extensions: enabled,
                    _charge: charge,
                })),
            )?;
            a.ret = vk::Result::SUCCESS.as_raw();
        }
        Err(e) => a.ret = e.as_raw(),
    }
    Ok(())
}

/// What an instance's commands may be: its version and extensions, and for the commands of
/// physical devices, the version and device extensions every physical device has.
fn instance_availability(
    instance: &ash::Instance,
    api_version: u32,
    enabled: &[CString],
) -> Availability {
    // SAFETY: a live instance; the queries take only handles it returned.
    let physical = unsafe { instance.enumerate_physical_devices() }.unwrap_or_default();
    let mut api = api_version;
    let mut common: Option<Vec<CString>> = None;
    for &device in &physical {
        // SAFETY: as above.
        let properties = unsafe { instance.get_physical_device_properties(device) };
        api = api.min(properties.api_version);
        // SAFETY: as above.
        let names: Vec<CString> = unsafe { instance.enumerate_device_extension_properties(device) }
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e.extension_name_as_c_str().ok().map(CStr::to_owned))
            .collect();
        common = Some(match common {
            None => names,
            Some(previous) => previous.into_iter().filter(|n| names.contains(n)).collect(),
        });
    }
    let device_extensions = common.unwrap_or_default();
    Availability::new(
        api,
        enabled
            .iter()
            .chain(&device_extensions)
            .map(CString::as_c_str),
    )
}

pub(crate) fn destroy_instance(
    cx: &mut Dispatch<'_, '_>,
    a: &mut DestroyInstanceArgs,
) -> Result<(), ContextFatal> {
    let removed = cx.objects().remove_instance(a.instance)?;
    drop(removed);
    Ok(())
}

pub(crate) fn enumerate_physical_devices(
    cx: &mut Dispatch<'_, '_>,
    a: &mut EnumeratePhysicalDevicesArgs,
) -> Result<(), ContextFatal> {
    let instance = cx.instance(a.instance)?;
    // SAFETY: a live instance.
    let host = match unsafe { instance.ash.enumerate_physical_devices() } {
        Ok(list) => list,
        Err(e) => {
            a.ret = e.as_raw();
            return Ok(());
        }
    };
    let Some(ids) = a.p_physical_devices.as_mut() else {
        a.p_physical_device_count = Some(host.len() as u32);
        a.ret = vk::Result::SUCCESS.as_raw();
        return Ok(());
    };
    let written = ids.len().min(host.len());
    ids.truncate(written);
    let mut objects = cx.objects();
    for (&id, &handle) in ids.iter().zip(&host) {
        match objects.id_of(ot::PHYSICAL_DEVICE, handle.as_raw()) {
            // The guest enumerates again with the ids it chose before.
            Some(known) if known == id => {}
            Some(known) => {
                return Err(ContextFatal::new(format!(
                    "physical device id {id} was given before as {known}"
                )))
            }
            None => objects.insert(
                id,
                Entry::PhysicalDevice(Arc::new(PhysicalDeviceObject {
                    instance: Arc::clone(&instance),
                    raw: handle.as_raw(),
                })),
            )?,
        }
    }
    a.p_physical_device_count = Some(written as u32);
    a.ret = if written < host.len() {
        vk::Result::INCOMPLETE.as_raw()
    } else {
        vk::Result::SUCCESS.as_raw()
    };
    Ok(())
}

/// Groups name physical devices by the ids the guest chose in vkEnumeratePhysicalDevices.
pub(crate) fn enumerate_physical_device_groups(
    cx: &mut Dispatch<'_, '_>,
    a: &mut EnumeratePhysicalDeviceGroupsArgs<'_>,
) -> Result<(), ContextFatal> {
    let instance = cx.instance(a.instance)?;
    // SAFETY: a live instance.
    let available = match unsafe { instance.ash.enumerate_physical_device_groups_len() } {
        Ok(n) => n,
        Err(e) => {
            a.ret = e.as_raw();
            return Ok(());
        }
    };
    let Some(guest) = a.p_physical_device_group_properties.as_mut() else {
        a.p_physical_device_group_count = Some(available as u32);
        a.ret = vk::Result::SUCCESS.as_raw();
        return Ok(());
    };
    if guest.iter().any(|group| !group.p_next.is_empty()) {
        return Err(ContextFatal::new(
            "nothing the protocol carries extends VkPhysicalDeviceGroupProperties",
        ));
    }
    let mut host = vec![vk::PhysicalDeviceGroupProperties::default(); available];
    // SAFETY: a live instance and an array of `available` default-initialised structs.
    if let Err(e) = unsafe { instance.ash.enumerate_physical_device_groups(&mut host) } {
        a.ret = e.as_raw();
        return Ok(());
    }
    let written = guest.len().min(available);
    guest.truncate(written);
    let objects = cx.objects();
    for (group, host_group) in guest.iter_mut().zip(&host) {
        let members = &host_group.physical_devices[..host_group.physical_device_count as usize];
        let mut ids = vec![0u64; vk::MAX_DEVICE_GROUP_SIZE];
        for (slot, &handle) in ids.iter_mut().zip(members) {
            *slot = objects
                .id_of(ot::PHYSICAL_DEVICE, handle.as_raw())
                .ok_or_else(|| {
                    ContextFatal::new(
                        "a device group names a physical device the guest has not enumerated",
                    )
                })?;
        }
        group.physical_device_count = host_group.physical_device_count;
        group.physical_devices = ids;
        group.subset_allocation = host_group.subset_allocation;
    }
    a.p_physical_device_group_count = Some(written as u32);
    a.ret = if written < available {
        vk::Result::INCOMPLETE.as_raw()
    } else {
        vk::Result::SUCCESS.as_raw()
    };
    Ok(())
}
