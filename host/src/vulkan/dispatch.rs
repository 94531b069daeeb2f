//! Vulkan commands: each takes the decoded arguments, looks the guest's ids up in the
//! context's object tables, calls the driver, and fills the outputs the reply carries.
//! Results the driver returns go to the guest as VkResult; only a broken stream (bad ids,
//! unsupported structs) is a context error.

use std::ffi::{c_char, CStr};

use ash::vk::Handle;
use std::sync::Arc;

use ash::vk;
use venus_rs_encoder::host::types;
use venus_rs_encoder::host::Command;
use venus_rs_encoder::protocol::PROTOCOL_EXTENSIONS;

use super::convert::{CChain, FromC};
use super::objects::{HandleKind, HandleObject, InstanceObject, Object, PhysicalDeviceObject};
use super::{required, ContextObjects};
use crate::context::ExecutionContext;
use crate::executor::ContextFatal;

/// The highest Vulkan version this host exposes: the structs of newer core versions have no
/// conversions here (and ash 0.38 does not know them).
const MAX_API_VERSION: u32 = vk::API_VERSION_1_3;
/// Venus needs at least Vulkan 1.1 on the host.
const MIN_API_VERSION: u32 = vk::API_VERSION_1_1;

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";

fn result_code(result: vk::Result) -> i32 {
    result.as_raw()
}

pub(super) fn cap_api_version(version: u32) -> u32 {
    if vk::api_version_minor(version) > vk::api_version_minor(MAX_API_VERSION)
        || vk::api_version_major(version) > vk::api_version_major(MAX_API_VERSION)
    {
        vk::make_api_version(0, 1, 3, vk::api_version_patch(version))
    } else {
        version
    }
}

/// Fills an in/out count and optional array from the host's full list: the Vulkan
/// two-call idiom, with VK_INCOMPLETE when the guest's array is shorter.
fn fill_array<T>(count: &mut Option<u32>, out: &mut Option<Vec<T>>, mut host: Vec<T>) -> i32 {
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

pub(super) fn run(
    shared: &ContextObjects,
    command: &mut Command<'_>,
    ctx: &mut ExecutionContext<'_>,
) -> Result<(), ContextFatal> {
    match command {
        Command::EnumerateInstanceVersion(args) => {
            // SAFETY: a loader entry point without arguments.
            let version = unsafe { shared.entry()?.try_enumerate_instance_version() }
                .map_err(|e| ContextFatal::new(format!("the host loader failed: {e}")))?
                .unwrap_or(vk::API_VERSION_1_0);
            args.p_api_version = Some(cap_api_version(version));
            args.ret = vk::Result::SUCCESS.as_raw();
            Ok(())
        }
        Command::EnumerateInstanceExtensionProperties(args) => {
            if args.p_layer_name.is_some() {
                args.ret = result_code(vk::Result::ERROR_LAYER_NOT_PRESENT);
                return Ok(());
            }
            // SAFETY: a loader entry point with no layer name.
            let host = unsafe {
                shared
                    .entry()?
                    .enumerate_instance_extension_properties(None)
            };
            args.ret = match host {
                Ok(list) => fill_array(
                    &mut args.p_property_count,
                    &mut args.p_properties,
                    list.iter().map(FromC::from_c).collect(),
                ),
                Err(e) => result_code(e),
            };
            Ok(())
        }
        Command::EnumerateInstanceLayerProperties(args) => {
            // The host's layers are its own business; the guest sees none.
            args.ret = fill_array(
                &mut args.p_property_count,
                &mut args.p_properties,
                Vec::new(),
            );
            Ok(())
        }
        Command::CreateInstance(args) => create_instance(shared, args),
        Command::DestroyInstance(args) => {
            let instance = shared.objects().remove_instance(args.instance)?;
            if let Some(instance) = instance {
                drop_instance(instance);
            }
            Ok(())
        }
        Command::CreateDevice(args) => super::device::create_device(shared, args),
        Command::DestroyDevice(args) => super::device::destroy_device(shared, args.device),
        Command::GetDeviceQueue2(args) => super::device::get_device_queue2(shared, args),
        Command::EnumeratePhysicalDevices(args) => enumerate_physical_devices(shared, args),
        Command::EnumeratePhysicalDeviceGroups(args) => {
            enumerate_physical_device_groups(shared, args)
        }
        Command::EnumerateDeviceExtensionProperties(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            if args.p_layer_name.is_some() {
                args.ret = result_code(vk::Result::ERROR_LAYER_NOT_PRESENT);
                return Ok(());
            }
            args.ret = match exposed_device_extensions(&physical) {
                Ok(list) => fill_array(&mut args.p_property_count, &mut args.p_properties, list),
                Err(e) => result_code(e),
            };
            Ok(())
        }
        Command::EnumerateDeviceLayerProperties(args) => {
            shared.objects().physical_device(args.physical_device)?;
            args.ret = fill_array(
                &mut args.p_property_count,
                &mut args.p_properties,
                Vec::new(),
            );
            Ok(())
        }
        other => super::query::run(shared, other)
            .or_else(|| super::commands::run(shared, other, ctx))
            .or_else(|| super::pipeline::run(shared, other))
            .unwrap_or_else(|| {
                Err(ContextFatal::new(
                    "this command is not implemented by this host",
                ))
            }),
    }
}

/// Device extensions offered to the guest: every one of the driver's that the protocol
/// covers (spec version capped at the protocol's), as virglrenderer offers. Commands of an
/// offered extension that the dispatcher does not run yet make the context fatal, naming the
/// command (host/README.md lists them).
fn exposed_device_extensions(
    physical: &PhysicalDeviceObject,
) -> Result<Vec<types::ExtensionProperties>, vk::Result> {
    // SAFETY: a live physical device.
    let host = unsafe {
        physical
            .instance
            .instance
            .enumerate_device_extension_properties(physical.handle)
    }?;
    Ok(host
        .iter()
        .filter_map(|extension| {
            let name = extension.extension_name_as_c_str().ok()?.to_str().ok()?;
            let (_, _, protocol_spec) = PROTOCOL_EXTENSIONS.iter().find(|(n, _, _)| *n == name)?;
            let mut typed: types::ExtensionProperties = FromC::from_c(extension);
            typed.spec_version = typed.spec_version.min(*protocol_spec);
            Some(typed)
        })
        .collect())
}

fn has_instance_layer(entry: &ash::Entry, layer: &CStr) -> bool {
    // SAFETY: a loader entry point without arguments.
    unsafe { entry.enumerate_instance_layer_properties() }
        .unwrap_or_default()
        .iter()
        .any(|l| l.layer_name_as_c_str() == Ok(layer))
}

fn has_instance_extension(entry: &ash::Entry, extension: &CStr) -> bool {
    // SAFETY: a loader entry point with no layer name.
    unsafe { entry.enumerate_instance_extension_properties(None) }
        .unwrap_or_default()
        .iter()
        .any(|e| e.extension_name_as_c_str() == Ok(extension))
}

fn create_instance(
    shared: &ContextObjects,
    args: &mut venus_rs_encoder::host::CreateInstanceArgs<'_>,
) -> Result<(), ContextFatal> {
    let id = *required(&args.p_instance, "pInstance")?;
    shared.objects().check_free(id, "VkInstance")?;
    let entry = shared.entry()?;
    let info = required(&args.p_create_info, "pCreateInfo")?;
    if !info.p_next.is_empty() {
        // Mesa strips everything; nothing the host converts extends VkInstanceCreateInfo.
        CChain::lower(&info.p_next)?;
    }

    let requested = info
        .p_application_info
        .as_ref()
        .map_or(vk::API_VERSION_1_0, |app| app.api_version);
    let api_version = cap_api_version(requested.max(MIN_API_VERSION));
    let application_name = info
        .p_application_info
        .as_ref()
        .and_then(|app| app.p_application_name);
    let engine_name = info
        .p_application_info
        .as_ref()
        .and_then(|app| app.p_engine_name);
    let mut app = vk::ApplicationInfo::default().api_version(api_version);
    if let Some(app_info) = info.p_application_info.as_ref() {
        app = app
            .application_version(app_info.application_version)
            .engine_version(app_info.engine_version);
    }
    if let Some(name) = application_name {
        app = app.application_name(name);
    }
    if let Some(name) = engine_name {
        app = app.engine_name(name);
    }

    let mut layers: Vec<*const c_char> = info
        .pp_enabled_layer_names
        .iter()
        .flatten()
        .map(|name| name.as_ptr())
        .collect();
    if shared.options.validate {
        if has_instance_layer(entry, VALIDATION_LAYER) {
            crate::log!("VENUS_RS_VALIDATE=1: host instance created with {VALIDATION_LAYER:?}");
            layers.push(VALIDATION_LAYER.as_ptr());
        } else {
            crate::log!("VENUS_RS_VALIDATE=1, but the host has no {VALIDATION_LAYER:?}");
        }
    }
    let mut extensions: Vec<*const c_char> = info
        .pp_enabled_extension_names
        .iter()
        .flatten()
        .map(|name| name.as_ptr())
        .collect();
    let mut flags = vk::InstanceCreateFlags::from_raw(info.flags);
    let portability = ash::khr::portability_enumeration::NAME;
    if has_instance_extension(entry, portability) {
        extensions.push(portability.as_ptr());
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
            shared
                .objects()
                .insert(id, Object::Instance(Arc::new(InstanceObject { instance })))?;
            args.ret = vk::Result::SUCCESS.as_raw();
        }
        Err(e) => args.ret = result_code(e),
    }
    Ok(())
}

fn drop_instance(instance: Arc<InstanceObject>) {
    match Arc::try_unwrap(instance) {
        // SAFETY: the guest destroyed the instance and nothing else refers to it.
        Ok(instance) => unsafe { instance.instance.destroy_instance(None) },
        Err(_) => crate::log!("vkDestroyInstance: the instance still has devices; leaving it"),
    }
}

fn enumerate_physical_devices(
    shared: &ContextObjects,
    args: &mut venus_rs_encoder::host::EnumeratePhysicalDevicesArgs,
) -> Result<(), ContextFatal> {
    let instance = shared.objects().instance(args.instance)?;
    // SAFETY: a live instance.
    let host = match unsafe { instance.instance.enumerate_physical_devices() } {
        Ok(list) => list,
        Err(e) => {
            args.ret = result_code(e);
            return Ok(());
        }
    };
    let Some(ids) = args.p_physical_devices.as_mut() else {
        args.p_physical_device_count = Some(host.len() as u32);
        args.ret = vk::Result::SUCCESS.as_raw();
        return Ok(());
    };
    let written = ids.len().min(host.len());
    ids.truncate(written);
    let mut objects = shared.objects();
    for (&id, &handle) in ids.iter().zip(&host) {
        match objects.physical_device_id(handle) {
            // The guest enumerates again with the ids it chose before.
            Some(known) if known == id => {}
            Some(known) => {
                return Err(ContextFatal::new(format!(
                    "physical device id {id} was given before as {known}"
                )))
            }
            None => objects.insert(
                id,
                Object::PhysicalDevice(Arc::new(PhysicalDeviceObject {
                    instance: Arc::clone(&instance),
                    handle,
                })),
            )?,
        }
    }
    args.p_physical_device_count = Some(written as u32);
    args.ret = if written < host.len() {
        vk::Result::INCOMPLETE.as_raw()
    } else {
        vk::Result::SUCCESS.as_raw()
    };
    Ok(())
}

/// Groups name physical devices by the ids the guest chose in vkEnumeratePhysicalDevices.
fn enumerate_physical_device_groups(
    shared: &ContextObjects,
    args: &mut venus_rs_encoder::host::EnumeratePhysicalDeviceGroupsArgs<'_>,
) -> Result<(), ContextFatal> {
    let instance = shared.objects().instance(args.instance)?;
    // SAFETY: a live instance.
    let available = match unsafe { instance.instance.enumerate_physical_device_groups_len() } {
        Ok(n) => n,
        Err(e) => {
            args.ret = result_code(e);
            return Ok(());
        }
    };
    let Some(guest) = args.p_physical_device_group_properties.as_mut() else {
        args.p_physical_device_group_count = Some(available as u32);
        args.ret = vk::Result::SUCCESS.as_raw();
        return Ok(());
    };
    if guest.iter().any(|group| !group.p_next.is_empty()) {
        return Err(ContextFatal::new(
            "nothing this host converts extends VkPhysicalDeviceGroupProperties",
        ));
    }
    let mut host = vec![vk::PhysicalDeviceGroupProperties::default(); available];
    // SAFETY: a live instance and an array of `available` default-initialised structs.
    if let Err(e) = unsafe {
        instance
            .instance
            .enumerate_physical_device_groups(&mut host)
    } {
        args.ret = result_code(e);
        return Ok(());
    }
    let written = guest.len().min(available);
    guest.truncate(written);
    let objects = shared.objects();
    for (group, host_group) in guest.iter_mut().zip(&host) {
        let members = &host_group.physical_devices[..host_group.physical_device_count as usize];
        let mut ids = vec![0u64; vk::MAX_DEVICE_GROUP_SIZE];
        for (slot, &handle) in ids.iter_mut().zip(members) {
            *slot = objects.physical_device_id(handle).ok_or_else(|| {
                ContextFatal::new(
                    "a device group names a physical device the guest has not enumerated",
                )
            })?;
        }
        group.physical_device_count = host_group.physical_device_count;
        group.physical_devices = ids;
        group.subset_allocation = host_group.subset_allocation;
    }
    args.p_physical_device_group_count = Some(written as u32);
    args.ret = if written < available {
        vk::Result::INCOMPLETE.as_raw()
    } else {
        vk::Result::SUCCESS.as_raw()
    };
    Ok(())
}

/// Destroys a non-dispatchable object the guest no longer has.
pub(super) fn destroy_handle(handle: &HandleObject) {
    let device = &handle.device.device;
    // SAFETY: the object was created on this device and the guest can no longer name it.
    unsafe {
        match handle.kind {
            HandleKind::Fence => device.destroy_fence(vk::Fence::from_raw(handle.raw), None),
            HandleKind::Semaphore => {
                device.destroy_semaphore(vk::Semaphore::from_raw(handle.raw), None)
            }
            HandleKind::CommandPool => {
                device.destroy_command_pool(vk::CommandPool::from_raw(handle.raw), None)
            }
            HandleKind::Buffer => device.destroy_buffer(vk::Buffer::from_raw(handle.raw), None),
            HandleKind::Image => device.destroy_image(vk::Image::from_raw(handle.raw), None),
            HandleKind::ShaderModule => {
                device.destroy_shader_module(vk::ShaderModule::from_raw(handle.raw), None)
            }
            HandleKind::DescriptorSetLayout => device
                .destroy_descriptor_set_layout(vk::DescriptorSetLayout::from_raw(handle.raw), None),
            HandleKind::PipelineLayout => {
                device.destroy_pipeline_layout(vk::PipelineLayout::from_raw(handle.raw), None)
            }
            HandleKind::Pipeline => {
                device.destroy_pipeline(vk::Pipeline::from_raw(handle.raw), None)
            }
            HandleKind::PipelineCache => {
                device.destroy_pipeline_cache(vk::PipelineCache::from_raw(handle.raw), None)
            }
            HandleKind::DescriptorPool => {
                device.destroy_descriptor_pool(vk::DescriptorPool::from_raw(handle.raw), None)
            }
            HandleKind::Sampler => device.destroy_sampler(vk::Sampler::from_raw(handle.raw), None),
            // Sets go with their pool (freed explicitly by vkFreeDescriptorSets).
            HandleKind::DescriptorSet => {}
            HandleKind::DeviceMemory => {
                device.free_memory(vk::DeviceMemory::from_raw(handle.raw), None)
            }
        }
    }
}
