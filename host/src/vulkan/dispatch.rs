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

/// Device extensions offered to the guest (when the driver and the protocol have them): the
/// ones whose structs and commands this host handles. Mesa's Venus driver requires
/// VK_KHR_external_memory_fd of the renderer; the host never hands out fds itself (blobs
/// replace them), so the extension's structs are not needed.
const EXPOSED_DEVICE_EXTENSIONS: &[&CStr] = &[c"VK_KHR_external_memory_fd"];

fn result_code(result: vk::Result) -> i32 {
    result.as_raw()
}

fn cap_api_version(version: u32) -> u32 {
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
        Command::GetPhysicalDeviceProperties(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            let out = required(&args.p_properties, "pProperties")?;
            let _ = out;
            // SAFETY: `physical` is a live physical device of its instance.
            let properties = unsafe {
                physical
                    .instance
                    .instance
                    .get_physical_device_properties(physical.handle)
            };
            args.p_properties = Some(Box::new(exposed_properties(&properties)));
            Ok(())
        }
        Command::GetPhysicalDeviceProperties2(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            let out = args
                .p_properties
                .as_mut()
                .ok_or_else(|| ContextFatal::new("pProperties is NULL"))?;
            let mut chain = CChain::lower(&out.p_next)?;
            let mut c = vk::PhysicalDeviceProperties2 {
                p_next: chain.head(),
                ..Default::default()
            };
            // SAFETY: `c` heads a chain of boxed structs that outlive the call.
            unsafe {
                physical
                    .instance
                    .instance
                    .get_physical_device_properties2(physical.handle, &mut c)
            };
            out.properties = exposed_properties(&c.properties);
            out.p_next = chain.raise();
            Ok(())
        }
        Command::GetPhysicalDeviceFeatures(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            required(&args.p_features, "pFeatures")?;
            // SAFETY: a live physical device.
            let features = unsafe {
                physical
                    .instance
                    .instance
                    .get_physical_device_features(physical.handle)
            };
            args.p_features = Some(Box::new(FromC::from_c(&features)));
            Ok(())
        }
        Command::GetPhysicalDeviceFeatures2(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            let out = args
                .p_features
                .as_mut()
                .ok_or_else(|| ContextFatal::new("pFeatures is NULL"))?;
            let mut chain = CChain::lower(&out.p_next)?;
            let mut c = vk::PhysicalDeviceFeatures2 {
                p_next: chain.head(),
                ..Default::default()
            };
            // SAFETY: `c` heads a chain of boxed structs that outlive the call.
            unsafe {
                physical
                    .instance
                    .instance
                    .get_physical_device_features2(physical.handle, &mut c)
            };
            out.features = FromC::from_c(&c.features);
            out.p_next = chain.raise();
            Ok(())
        }
        Command::GetPhysicalDeviceQueueFamilyProperties(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            // SAFETY: a live physical device.
            let host = unsafe {
                physical
                    .instance
                    .instance
                    .get_physical_device_queue_family_properties(physical.handle)
            };
            fill_array(
                &mut args.p_queue_family_property_count,
                &mut args.p_queue_family_properties,
                host.iter().map(FromC::from_c).collect(),
            );
            Ok(())
        }
        Command::GetPhysicalDeviceQueueFamilyProperties2(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            let instance = &physical.instance.instance;
            // SAFETY: a live physical device.
            let available = unsafe {
                instance.get_physical_device_queue_family_properties2_len(physical.handle)
            };
            let Some(guest) = args.p_queue_family_properties.as_mut() else {
                args.p_queue_family_property_count = Some(available as u32);
                return Ok(());
            };
            let written = guest.len().min(available);
            guest.truncate(written);
            let mut chains = guest
                .iter()
                .map(|element| CChain::lower(&element.p_next))
                .collect::<Result<Vec<_>, _>>()?;
            let mut c: Vec<vk::QueueFamilyProperties2> = chains
                .iter_mut()
                .map(|chain| vk::QueueFamilyProperties2 {
                    p_next: chain.head(),
                    ..Default::default()
                })
                .collect();
            // SAFETY: every element heads a chain of boxed structs that outlive the call.
            unsafe {
                instance.get_physical_device_queue_family_properties2(physical.handle, &mut c)
            };
            for ((element, c), chain) in guest.iter_mut().zip(&c).zip(&chains) {
                element.queue_family_properties = FromC::from_c(&c.queue_family_properties);
                element.p_next = chain.raise();
            }
            args.p_queue_family_property_count = Some(written as u32);
            Ok(())
        }
        Command::GetPhysicalDeviceMemoryProperties(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            required(&args.p_memory_properties, "pMemoryProperties")?;
            // SAFETY: a live physical device.
            let properties = unsafe {
                physical
                    .instance
                    .instance
                    .get_physical_device_memory_properties(physical.handle)
            };
            args.p_memory_properties = Some(Box::new(FromC::from_c(&properties)));
            Ok(())
        }
        Command::GetPhysicalDeviceMemoryProperties2(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            let out = args
                .p_memory_properties
                .as_mut()
                .ok_or_else(|| ContextFatal::new("pMemoryProperties is NULL"))?;
            let mut chain = CChain::lower(&out.p_next)?;
            let mut c = vk::PhysicalDeviceMemoryProperties2 {
                p_next: chain.head(),
                ..Default::default()
            };
            // SAFETY: `c` heads a chain of boxed structs that outlive the call.
            unsafe {
                physical
                    .instance
                    .instance
                    .get_physical_device_memory_properties2(physical.handle, &mut c)
            };
            out.memory_properties = FromC::from_c(&c.memory_properties);
            out.p_next = chain.raise();
            Ok(())
        }
        Command::GetPhysicalDeviceFormatProperties(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            required(&args.p_format_properties, "pFormatProperties")?;
            // SAFETY: a live physical device; any format value is valid to ask about.
            let properties = unsafe {
                physical
                    .instance
                    .instance
                    .get_physical_device_format_properties(
                        physical.handle,
                        vk::Format::from_raw(args.format),
                    )
            };
            args.p_format_properties = Some(Box::new(FromC::from_c(&properties)));
            Ok(())
        }
        Command::GetPhysicalDeviceFormatProperties2(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            let out = args
                .p_format_properties
                .as_mut()
                .ok_or_else(|| ContextFatal::new("pFormatProperties is NULL"))?;
            let mut chain = CChain::lower(&out.p_next)?;
            let mut c = vk::FormatProperties2 {
                p_next: chain.head(),
                ..Default::default()
            };
            // SAFETY: `c` heads a chain of boxed structs that outlive the call.
            unsafe {
                physical
                    .instance
                    .instance
                    .get_physical_device_format_properties2(
                        physical.handle,
                        vk::Format::from_raw(args.format),
                        &mut c,
                    )
            };
            out.format_properties = FromC::from_c(&c.format_properties);
            out.p_next = chain.raise();
            Ok(())
        }
        Command::GetPhysicalDeviceImageFormatProperties(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            required(&args.p_image_format_properties, "pImageFormatProperties")?;
            // SAFETY: a live physical device; the driver validates the enum values.
            let result = unsafe {
                physical
                    .instance
                    .instance
                    .get_physical_device_image_format_properties(
                        physical.handle,
                        vk::Format::from_raw(args.format),
                        vk::ImageType::from_raw(args.ty),
                        vk::ImageTiling::from_raw(args.tiling),
                        vk::ImageUsageFlags::from_raw(args.usage),
                        vk::ImageCreateFlags::from_raw(args.flags),
                    )
            };
            match result {
                Ok(properties) => {
                    args.p_image_format_properties = Some(Box::new(FromC::from_c(&properties)));
                    args.ret = vk::Result::SUCCESS.as_raw();
                }
                Err(e) => args.ret = result_code(e),
            }
            Ok(())
        }
        Command::GetPhysicalDeviceImageFormatProperties2(args) => {
            let physical = shared.objects().physical_device(args.physical_device)?;
            let info = required(&args.p_image_format_info, "pImageFormatInfo")?;
            let mut info_chain = CChain::lower(&info.p_next)?;
            let mut c_info = vk::PhysicalDeviceImageFormatInfo2::default()
                .format(vk::Format::from_raw(info.format))
                .ty(vk::ImageType::from_raw(info.ty))
                .tiling(vk::ImageTiling::from_raw(info.tiling))
                .usage(vk::ImageUsageFlags::from_raw(info.usage))
                .flags(vk::ImageCreateFlags::from_raw(info.flags));
            c_info.p_next = info_chain.head();
            let out = args
                .p_image_format_properties
                .as_mut()
                .ok_or_else(|| ContextFatal::new("pImageFormatProperties is NULL"))?;
            let mut chain = CChain::lower(&out.p_next)?;
            let mut c = vk::ImageFormatProperties2 {
                p_next: chain.head(),
                ..Default::default()
            };
            // SAFETY: both structs head chains of boxed structs that outlive the call.
            let result = unsafe {
                physical
                    .instance
                    .instance
                    .get_physical_device_image_format_properties2(physical.handle, &c_info, &mut c)
            };
            out.image_format_properties = FromC::from_c(&c.image_format_properties);
            out.p_next = chain.raise();
            args.ret = match result {
                Ok(()) => vk::Result::SUCCESS.as_raw(),
                Err(e) => result_code(e),
            };
            Ok(())
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
        other => super::commands::run(shared, other, ctx)
            .or_else(|| super::pipeline::run(shared, other))
            .unwrap_or_else(|| {
                Err(ContextFatal::new(
                    "this command is not implemented by this host",
                ))
            }),
    }
}

/// What the guest may see of the device's properties: the version capped at what this host
/// exposes.
fn exposed_properties(
    properties: &vk::PhysicalDeviceProperties,
) -> types::PhysicalDeviceProperties {
    let mut typed: types::PhysicalDeviceProperties = FromC::from_c(properties);
    typed.api_version = cap_api_version(typed.api_version);
    typed
}

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
            let name = extension.extension_name_as_c_str().ok()?;
            if !EXPOSED_DEVICE_EXTENSIONS.contains(&name) {
                return None;
            }
            let name = name.to_str().ok()?;
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
