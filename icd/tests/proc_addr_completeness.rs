//! What the device advertises is what it implements: every command of the core versions up to the
//! device's API version, and of every device extension it advertises (enabled), must resolve through
//! vkGetDeviceProcAddr — aliases included. The list of commands comes from the Vulkan registry
//! (the pinned vk.xml), not from the ICD's own table. Runs against the real virglrenderer vtest server
//! of the reference chroot.

// The vtest server harness of kernel-iface's tests, shared rather than copied.
#[path = "../../kernel-iface/tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::path::PathBuf;

use ash::vk;
use common::VtestServer;
use vk_parse::{ExtensionChild, InterfaceItem, RegistryChild};
use vulkan_venus_rs::driver::entry::vk_icdGetInstanceProcAddr;

/// What the registry says: each command's first parameter type, and what each core version and
/// each device extension requires (with the `depends` expression of the requiring block).
struct Registry {
    first_parameter: BTreeMap<String, String>,
    aliases: BTreeMap<String, String>,
    versions: BTreeMap<(u32, u32), Vec<String>>,
    extensions: BTreeMap<String, Vec<(Option<String>, String)>>,
}

fn registry() -> Registry {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../encoder-gen/data/vk.xml");
    let (parsed, _) = vk_parse::parse_file(&path).expect("the pinned vk.xml parses");
    let mut registry = Registry {
        first_parameter: BTreeMap::new(),
        aliases: BTreeMap::new(),
        versions: BTreeMap::new(),
        extensions: BTreeMap::new(),
    };
    let vulkan = |api: &Option<String>| {
        api.as_deref()
            .is_none_or(|a| a.split(',').any(|a| a == "vulkan"))
    };
    for child in &parsed.0 {
        match child {
            RegistryChild::Commands(commands) => {
                for command in &commands.children {
                    let vk_parse::Command::Definition(definition) = command else {
                        continue;
                    };
                    if let Some(alias) = &definition.alias {
                        registry
                            .aliases
                            .insert(definition.proto.name.clone(), alias.clone());
                        continue;
                    }
                    let first = definition
                        .params
                        .first()
                        .and_then(|p| p.definition.type_name.clone())
                        .unwrap_or_default();
                    registry
                        .first_parameter
                        .insert(definition.proto.name.clone(), first);
                }
            }
            RegistryChild::Feature(feature) if vulkan(&Some(feature.api.clone())) => {
                let Some(version) = feature.name.strip_prefix("VK_VERSION_") else {
                    continue;
                };
                let mut parts = version.split('_').map(|p| p.parse::<u32>().unwrap_or(0));
                let key = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
                for child in &feature.children {
                    if let ExtensionChild::Require { items, .. } = child {
                        for item in items {
                            if let InterfaceItem::Command { name, .. } = item {
                                registry.versions.entry(key).or_default().push(name.clone());
                            }
                        }
                    }
                }
            }
            RegistryChild::Extensions(extensions) => {
                for extension in &extensions.children {
                    let supported = extension
                        .supported
                        .as_deref()
                        .is_some_and(|s| s.split(',').any(|a| a == "vulkan"));
                    if !supported || extension.ext_type.as_deref() != Some("device") {
                        continue;
                    }
                    for child in &extension.children {
                        let ExtensionChild::Require {
                            items,
                            api,
                            depends,
                            extension: old_depends,
                            ..
                        } = child
                        else {
                            continue;
                        };
                        if !vulkan(api) {
                            continue;
                        }
                        let depends = depends.clone().or_else(|| old_depends.clone());
                        for item in items {
                            if let InterfaceItem::Command { name, .. } = item {
                                registry
                                    .extensions
                                    .entry(extension.name.clone())
                                    .or_default()
                                    .push((depends.clone(), name.clone()));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    registry
}

/// Evaluates a `depends` expression of vk.xml (`,` or, `+` and, parentheses) against a device.
fn satisfied(expression: &str, version: (u32, u32), enabled: &BTreeSet<String>) -> bool {
    let term = |name: &str| match name.strip_prefix("VK_VERSION_") {
        Some(v) => {
            let mut parts = v.split('_').map(|p| p.parse::<u32>().unwrap_or(0));
            (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) <= version
        }
        None => enabled.contains(name),
    };
    let flat = expression.replace(['(', ')'], "");
    flat.split(',')
        .any(|alternative| alternative.split('+').all(|name| term(name.trim())))
}

#[test]
#[ignore = "needs the reference chroot's virgl_test_server (cargo xtask setup); run by cargo xtask test"]
fn every_advertised_command_resolves_through_vk_get_device_proc_addr() {
    let registry = registry();
    let server = VtestServer::start();
    std::env::set_var("VENUS_RS_TRANSPORT", "vtest");
    std::env::set_var("VTEST_SOCKET_NAME", server.socket());
    // SAFETY: the ICD's vk_icdGetInstanceProcAddr is a vkGetInstanceProcAddr for its own commands.
    let entry = unsafe {
        ash::Entry::from_static_fn(ash::StaticFn {
            get_instance_proc_addr: vk_icdGetInstanceProcAddr,
        })
    };
    let app = vk::ApplicationInfo::default().api_version(vk::make_api_version(0, 1, 4, 0));
    // SAFETY: valid create infos throughout; the objects are destroyed at the end.
    unsafe {
        let instance = entry
            .create_instance(
                &vk::InstanceCreateInfo::default().application_info(&app),
                None,
            )
            .unwrap();
        let physical = instance.enumerate_physical_devices().unwrap()[0];
        let api = instance
            .get_physical_device_properties(physical)
            .api_version;
        let version = (vk::api_version_major(api), vk::api_version_minor(api));
        let advertised: Vec<CString> = instance
            .enumerate_device_extension_properties(physical)
            .unwrap()
            .iter()
            .map(|e| e.extension_name_as_c_str().unwrap().to_owned())
            // Two extensions the spec forbids enabling together with their successors.
            .filter(|name| {
                !matches!(
                    name.to_str(),
                    Ok("VK_EXT_buffer_device_address") | Ok("VK_AMD_negative_viewport_height")
                )
            })
            .collect();
        let enabled: BTreeSet<String> = advertised
            .iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        let names: Vec<*const std::ffi::c_char> = advertised.iter().map(|n| n.as_ptr()).collect();
        let priorities = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(0)
            .queue_priorities(&priorities)];
        let create = |names: &[*const std::ffi::c_char]| {
            instance.create_device(
                physical,
                &vk::DeviceCreateInfo::default()
                    .queue_create_infos(&queues)
                    .enabled_extension_names(names),
                None,
            )
        };
        let device = create(&names).unwrap_or_else(|e| {
            // Name the extensions that fail on their own: advertised but not creatable.
            let failing: Vec<&CString> = advertised
                .iter()
                .filter(|name| match create(&[name.as_ptr()]) {
                    Ok(device) => {
                        device.destroy_device(None);
                        false
                    }
                    Err(_) => true,
                })
                .collect();
            panic!(
                "vkCreateDevice with every advertised extension: {e}; alone failing: {failing:?}"
            )
        });

        let device_level = |command: &str| {
            let target = registry
                .aliases
                .get(command)
                .map_or(command, String::as_str);
            matches!(
                registry.first_parameter.get(target).map(String::as_str),
                Some("VkDevice" | "VkQueue" | "VkCommandBuffer")
            )
        };
        let mut required: BTreeSet<String> = registry
            .versions
            .iter()
            .filter(|(v, _)| **v <= version)
            .flat_map(|(_, commands)| commands.iter().cloned())
            .collect();
        for name in &enabled {
            for (depends, command) in registry.extensions.get(name).into_iter().flatten() {
                if depends
                    .as_deref()
                    .is_none_or(|d| satisfied(d, version, &enabled))
                {
                    required.insert(command.clone());
                }
            }
        }
        let mut missing = Vec::new();
        let mut checked = 0;
        for command in required.iter().filter(|c| device_level(c)) {
            checked += 1;
            let name = CString::new(command.as_str()).unwrap();
            if instance
                .get_device_proc_addr(device.handle(), name.as_ptr())
                .is_none()
            {
                missing.push(command.clone());
            }
        }
        device.destroy_device(None);
        instance.destroy_instance(None);
        assert!(
            missing.is_empty(),
            "Vulkan {}.{} with {} extensions: {} of {checked} device commands do not resolve: {missing:?}",
            version.0,
            version.1,
            enabled.len(),
            missing.len()
        );
        assert!(checked > 200, "only {checked} device commands were checked");
    }
}
