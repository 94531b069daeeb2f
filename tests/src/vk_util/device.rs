//! Device creation: the first physical device, the queue family a program needs, and the optional features it
//! wishes for, each enabled only when offered (core 1.2/1.3 or the KHR extension on an older device), so that
//! the program can say what it skipped.

use super::required::missing_commands;
use super::{check, version_text};
use ash::vk;
use std::ffi::CStr;

/// The queue family a program needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueKind {
    Compute,
    /// Graphics and compute (a graphics family may lack compute only on exotic drivers, which we refuse).
    Graphics,
}

/// Optional features: each is enabled when the device offers it, and left off (reported as absent) otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    pub timeline_semaphore: bool,
    pub host_query_reset: bool,
    pub synchronization2: bool,
    pub dynamic_rendering: bool,
    pub occlusion_query_precise: bool,
}

impl Features {
    fn any(&self) -> bool {
        *self != Features::default()
    }

    fn and(&self, other: &Features) -> Features {
        Features {
            timeline_semaphore: self.timeline_semaphore && other.timeline_semaphore,
            host_query_reset: self.host_query_reset && other.host_query_reset,
            synchronization2: self.synchronization2 && other.synchronization2,
            dynamic_rendering: self.dynamic_rendering && other.dynamic_rendering,
            occlusion_query_precise: self.occlusion_query_precise && other.occlusion_query_precise,
        }
    }
}

/// What a program asks of the device.
#[derive(Clone, Copy, Debug)]
pub struct Wishes {
    /// The API version the program is written against (VkApplicationInfo::apiVersion).
    pub api_version: u32,
    pub queue_kind: QueueKind,
    /// How many queues of the family the program would like (it gets at most what the family has).
    pub queues: u32,
    pub features: Features,
    /// The device commands the program calls beyond vk_util's own ([`super::BASE_COMMANDS`]) and its enabled
    /// features': checked after device creation, so that a driver lacking one fails with a list, not an abort.
    pub commands: &'static [&'static [&'static CStr]],
}

impl Default for Wishes {
    fn default() -> Wishes {
        Wishes {
            api_version: vk::API_VERSION_1_3,
            queue_kind: QueueKind::Graphics,
            queues: 1,
            features: Features::default(),
            commands: &[],
        }
    }
}

/// Extension names of the optional features on devices older than the version that made them core.
const DYNAMIC_RENDERING_EXTENSION: &CStr = ash::khr::dynamic_rendering::NAME;
const SYNCHRONIZATION2_EXTENSION: &CStr = ash::khr::synchronization2::NAME;

/// What `open_device` made, before the Gpu holds it.
pub(super) struct Opened {
    pub(super) physical_device: vk::PhysicalDevice,
    pub(super) properties: vk::PhysicalDeviceProperties,
    pub(super) api_version: u32,
    pub(super) device: ash::Device,
    pub(super) queue_family: u32,
    pub(super) queue_family_properties: vk::QueueFamilyProperties,
    pub(super) queue_count: u32,
    pub(super) enabled: Features,
    pub(super) dynamic_rendering_by_extension: bool,
    pub(super) synchronization2_by_extension: bool,
}

/// What the device offers of [`Features`], and through which extension when not core.
struct Offered {
    features: Features,
    dynamic_rendering_by_extension: bool,
    synchronization2_by_extension: bool,
}

pub(super) fn open_device(instance: &ash::Instance, wishes: &Wishes) -> Result<Opened, String> {
    // SAFETY: valid instance.
    let physical_devices = check("vkEnumeratePhysicalDevices", unsafe {
        instance.enumerate_physical_devices()
    })?;
    let physical_device = *physical_devices.first().ok_or("no Vulkan device")?;
    // SAFETY: valid physical device of this instance.
    let properties = unsafe { instance.get_physical_device_properties(physical_device) };
    let api_version = wishes.api_version.min(properties.api_version);
    // SAFETY: valid physical device.
    let families = unsafe { instance.get_physical_device_queue_family_properties(physical_device) };
    let needed = match wishes.queue_kind {
        QueueKind::Compute => vk::QueueFlags::COMPUTE,
        QueueKind::Graphics => vk::QueueFlags::GRAPHICS | vk::QueueFlags::COMPUTE,
    };
    let queue_family = families
        .iter()
        .position(|family| family.queue_flags.contains(needed))
        .ok_or_else(|| format!("no queue family with {needed:?}"))?;
    let queue_family_properties = families[queue_family];
    let queue_count = wishes
        .queues
        .clamp(1, queue_family_properties.queue_count.max(1));

    let offered = if wishes.features.any() {
        offered_features(instance, physical_device, api_version, &wishes.features)?
    } else {
        Offered {
            features: Features::default(),
            dynamic_rendering_by_extension: false,
            synchronization2_by_extension: false,
        }
    };
    let enabled = wishes.features.and(&offered.features);

    let mut extensions = Vec::new();
    if enabled.dynamic_rendering && offered.dynamic_rendering_by_extension {
        extensions.push(DYNAMIC_RENDERING_EXTENSION.as_ptr());
    }
    if enabled.synchronization2 && offered.synchronization2_by_extension {
        extensions.push(SYNCHRONIZATION2_EXTENSION.as_ptr());
    }
    let basic = vk::PhysicalDeviceFeatures::default()
        .occlusion_query_precise(enabled.occlusion_query_precise);
    let mut core12 = vk::PhysicalDeviceVulkan12Features::default()
        .timeline_semaphore(enabled.timeline_semaphore)
        .host_query_reset(enabled.host_query_reset);
    let mut core13 = vk::PhysicalDeviceVulkan13Features::default()
        .synchronization2(enabled.synchronization2)
        .dynamic_rendering(enabled.dynamic_rendering);
    let mut dynamic_rendering_khr =
        vk::PhysicalDeviceDynamicRenderingFeatures::default().dynamic_rendering(true);
    let mut synchronization2_khr =
        vk::PhysicalDeviceSynchronization2Features::default().synchronization2(true);
    let priorities = vec![1.0f32; queue_count as usize];
    let queue_info = [vk::DeviceQueueCreateInfo::default()
        .queue_family_index(queue_family as u32)
        .queue_priorities(&priorities)];
    let mut device_info = vk::DeviceCreateInfo::default()
        .queue_create_infos(&queue_info)
        .enabled_extension_names(&extensions)
        .enabled_features(&basic);
    if enabled.timeline_semaphore || enabled.host_query_reset {
        device_info = device_info.push_next(&mut core12);
    }
    if (enabled.synchronization2 && !offered.synchronization2_by_extension)
        || (enabled.dynamic_rendering && !offered.dynamic_rendering_by_extension)
    {
        device_info = device_info.push_next(&mut core13);
    }
    if enabled.dynamic_rendering && offered.dynamic_rendering_by_extension {
        device_info = device_info.push_next(&mut dynamic_rendering_khr);
    }
    if enabled.synchronization2 && offered.synchronization2_by_extension {
        device_info = device_info.push_next(&mut synchronization2_khr);
    }
    // SAFETY: the create info and every struct it points to live across the call.
    let device = check("vkCreateDevice", unsafe {
        instance.create_device(physical_device, &device_info, None)
    })?;
    let program_commands: Vec<&CStr> = wishes.commands.concat();
    let missing = missing_commands(
        instance,
        device.handle(),
        &program_commands,
        &enabled,
        offered.dynamic_rendering_by_extension,
        offered.synchronization2_by_extension,
    );
    if !missing.is_empty() {
        // SAFETY: nothing was made from the device yet.
        unsafe { device.destroy_device(None) };
        return Err(format!(
            "the driver provides no entry point for {} command(s) this program calls: {}",
            missing.len(),
            missing.join(", ")
        ));
    }
    Ok(Opened {
        physical_device,
        properties,
        api_version,
        device,
        queue_family: queue_family as u32,
        queue_family_properties,
        queue_count,
        enabled,
        dynamic_rendering_by_extension: offered.dynamic_rendering_by_extension,
        synchronization2_by_extension: offered.synchronization2_by_extension,
    })
}

/// Queries the wished-for features the way the device's version allows: core 1.2/1.3 feature structs, or the
/// KHR extension structs on a device older than 1.3.
fn offered_features(
    instance: &ash::Instance,
    physical_device: vk::PhysicalDevice,
    api_version: u32,
    wished: &Features,
) -> Result<Offered, String> {
    if api_version < vk::API_VERSION_1_1 {
        return Err(format!(
            "the device offers Vulkan {}; this program needs 1.1 to query features",
            version_text(api_version)
        ));
    }
    let has_extension = |name: &CStr| -> Result<bool, String> {
        // SAFETY: valid physical device.
        let extensions = check("vkEnumerateDeviceExtensionProperties", unsafe {
            instance.enumerate_device_extension_properties(physical_device)
        })?;
        Ok(extensions
            .iter()
            .any(|extension| extension.extension_name_as_c_str() == Ok(name)))
    };
    let core12 = api_version >= vk::API_VERSION_1_2;
    let core13 = api_version >= vk::API_VERSION_1_3;
    // The extension needs VK_KHR_depth_stencil_resolve and VK_KHR_create_renderpass2, both core in 1.2.
    let dynamic_rendering_by_extension = core12
        && !core13
        && wished.dynamic_rendering
        && has_extension(DYNAMIC_RENDERING_EXTENSION)?;
    let synchronization2_by_extension =
        !core13 && wished.synchronization2 && has_extension(SYNCHRONIZATION2_EXTENSION)?;

    let mut features12 = vk::PhysicalDeviceVulkan12Features::default();
    let mut features13 = vk::PhysicalDeviceVulkan13Features::default();
    let mut dynamic_rendering = vk::PhysicalDeviceDynamicRenderingFeatures::default();
    let mut synchronization2 = vk::PhysicalDeviceSynchronization2Features::default();
    let basic = {
        let mut query = vk::PhysicalDeviceFeatures2::default();
        if core12 {
            query = query.push_next(&mut features12);
        }
        if core13 {
            query = query.push_next(&mut features13);
        }
        if dynamic_rendering_by_extension {
            query = query.push_next(&mut dynamic_rendering);
        }
        if synchronization2_by_extension {
            query = query.push_next(&mut synchronization2);
        }
        // SAFETY: valid physical device; every chained struct outlives the call.
        unsafe { instance.get_physical_device_features2(physical_device, &mut query) };
        query.features
    };
    Ok(Offered {
        features: Features {
            timeline_semaphore: core12 && features12.timeline_semaphore == vk::TRUE,
            host_query_reset: core12 && features12.host_query_reset == vk::TRUE,
            synchronization2: (core13 && features13.synchronization2 == vk::TRUE)
                || (synchronization2_by_extension && synchronization2.synchronization2 == vk::TRUE),
            dynamic_rendering: (core13 && features13.dynamic_rendering == vk::TRUE)
                || (dynamic_rendering_by_extension
                    && dynamic_rendering.dynamic_rendering == vk::TRUE),
            occlusion_query_precise: basic.occlusion_query_precise == vk::TRUE,
        },
        dynamic_rendering_by_extension,
        synchronization2_by_extension,
    })
}
