//! The instance, the first physical device, a device with the optional features a program wishes for (each one
//! enabled only when offered, so that the program can say what it skipped), and its queues.

use super::owned::Owned;
use super::required::missing_commands;
use super::{check, version_text, wait_timeout_ns};
use ash::vk;
use std::cell::RefCell;
use std::ffi::CStr;
use std::time::Duration;

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

/// vkCmdBeginRendering from Vulkan 1.3 or from VK_KHR_dynamic_rendering (same signatures).
pub enum DynamicRendering {
    Core,
    Khr(ash::khr::dynamic_rendering::Device),
}

/// vkQueueSubmit2 and vkCmdPipelineBarrier2 from Vulkan 1.3 or from VK_KHR_synchronization2.
pub enum Synchronization2 {
    Core,
    Khr(ash::khr::synchronization2::Device),
}

/// One device and everything made from it. Objects registered with [`Gpu::own`] are destroyed in reverse order
/// when it is dropped, unless a submission could not be waited for (then they are left for process exit, since
/// destroying objects the device may still use is worse than leaking them in a program that is failing anyway).
pub struct Gpu {
    pub instance: ash::Instance,
    pub physical_device: vk::PhysicalDevice,
    pub properties: vk::PhysicalDeviceProperties,
    pub memory_properties: vk::PhysicalDeviceMemoryProperties,
    /// The version both the program and the device speak: min(requested, device).
    pub api_version: u32,
    pub device: ash::Device,
    pub queue_family: u32,
    pub queue_family_properties: vk::QueueFamilyProperties,
    pub queues: Vec<vk::Queue>,
    pub enabled: Features,
    pub dynamic_rendering: Option<DynamicRendering>,
    pub synchronization2: Option<Synchronization2>,
    pub command_pool: vk::CommandPool,
    owned: RefCell<Vec<Owned>>,
    /// Fences of submissions not yet waited for.
    pending: RefCell<Vec<vk::Fence>>,
    /// Kept last so that the loader library stays loaded until the instance is destroyed.
    _entry: ash::Entry,
}

/// Extension names of the optional features on devices older than the version that made them core.
const DYNAMIC_RENDERING_EXTENSION: &CStr = ash::khr::dynamic_rendering::NAME;
const SYNCHRONIZATION2_EXTENSION: &CStr = ash::khr::synchronization2::NAME;

impl Gpu {
    /// `application` is the program's name: it names the program in the watchdog's failure line too.
    pub fn new(application: &CStr, wishes: &Wishes) -> Result<Gpu, String> {
        super::watchdog::start(&application.to_string_lossy());
        // SAFETY: loads the system Vulkan loader; its entry points are called with valid arguments below.
        let entry = unsafe { ash::Entry::load() }
            .map_err(|e| format!("cannot load the Vulkan loader: {e}"))?;
        let app_info = vk::ApplicationInfo::default()
            .application_name(application)
            .api_version(wishes.api_version);
        let instance_info = vk::InstanceCreateInfo::default().application_info(&app_info);
        // SAFETY: the create info and what it points to live across the call.
        let instance = check("vkCreateInstance", unsafe {
            entry.create_instance(&instance_info, None)
        })?;
        match open_device(&instance, wishes) {
            Ok(opened) => Gpu::assemble(entry, instance, opened),
            Err(message) => {
                // SAFETY: nothing else was made from the instance.
                unsafe { instance.destroy_instance(None) };
                Err(message)
            }
        }
    }

    fn assemble(entry: ash::Entry, instance: ash::Instance, opened: Opened) -> Result<Gpu, String> {
        let Opened {
            physical_device,
            properties,
            api_version,
            device,
            queue_family,
            queue_family_properties,
            queue_count,
            enabled,
            dynamic_rendering_by_extension,
            synchronization2_by_extension,
        } = opened;
        let queues = (0..queue_count)
            // SAFETY: the device was created with `queue_count` queues in this family.
            .map(|index| unsafe { device.get_device_queue(queue_family, index) })
            .collect();
        let dynamic_rendering = enabled.dynamic_rendering.then(|| {
            if dynamic_rendering_by_extension {
                DynamicRendering::Khr(ash::khr::dynamic_rendering::Device::new(&instance, &device))
            } else {
                DynamicRendering::Core
            }
        });
        let synchronization2 = enabled.synchronization2.then(|| {
            if synchronization2_by_extension {
                Synchronization2::Khr(ash::khr::synchronization2::Device::new(&instance, &device))
            } else {
                Synchronization2::Core
            }
        });
        // SAFETY: valid physical device of this instance.
        let memory_properties =
            unsafe { instance.get_physical_device_memory_properties(physical_device) };
        let mut gpu = Gpu {
            instance,
            physical_device,
            properties,
            memory_properties,
            api_version,
            device,
            queue_family,
            queue_family_properties,
            queues,
            enabled,
            dynamic_rendering,
            synchronization2,
            command_pool: vk::CommandPool::null(),
            owned: RefCell::new(Vec::new()),
            pending: RefCell::new(Vec::new()),
            _entry: entry,
        };
        let pool_info = vk::CommandPoolCreateInfo::default().queue_family_index(queue_family);
        // SAFETY: valid device; the pool is destroyed with the other owned objects.
        gpu.command_pool = gpu.own(check("vkCreateCommandPool", unsafe {
            gpu.device.create_command_pool(&pool_info, None)
        })?);
        Ok(gpu)
    }

    /// Records `handle` for destruction when the Gpu is dropped, and hands it back.
    pub fn own<T: Into<Owned> + Copy>(&self, handle: T) -> T {
        self.owned.borrow_mut().push(handle.into());
        handle
    }

    pub fn device_name(&self) -> String {
        // SAFETY: the driver fills a NUL-terminated name.
        unsafe { CStr::from_ptr(self.properties.device_name.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// The device's own API version as `1.2`.
    pub fn device_version_text(&self) -> String {
        version_text(self.properties.api_version)
    }

    /// Queue `index`, or the last queue when the family has fewer.
    pub fn queue(&self, index: usize) -> vk::Queue {
        self.queues[index.min(self.queues.len() - 1)]
    }

    pub fn fence(&self, signaled: bool) -> Result<vk::Fence, String> {
        let flags = if signaled {
            vk::FenceCreateFlags::SIGNALED
        } else {
            vk::FenceCreateFlags::empty()
        };
        let info = vk::FenceCreateInfo::default().flags(flags);
        // SAFETY: valid device and create info.
        Ok(self.own(check("vkCreateFence", unsafe {
            self.device.create_fence(&info, None)
        })?))
    }

    pub fn binary_semaphore(&self) -> Result<vk::Semaphore, String> {
        let info = vk::SemaphoreCreateInfo::default();
        // SAFETY: valid device and create info.
        Ok(self.own(check("vkCreateSemaphore (binary)", unsafe {
            self.device.create_semaphore(&info, None)
        })?))
    }

    pub fn timeline_semaphore(&self, initial_value: u64) -> Result<vk::Semaphore, String> {
        let mut kind = vk::SemaphoreTypeCreateInfo::default()
            .semaphore_type(vk::SemaphoreType::TIMELINE)
            .initial_value(initial_value);
        let info = vk::SemaphoreCreateInfo::default().push_next(&mut kind);
        // SAFETY: valid device; the chained struct outlives the call.
        Ok(self.own(check("vkCreateSemaphore (timeline)", unsafe {
            self.device.create_semaphore(&info, None)
        })?))
    }

    pub fn event(&self) -> Result<vk::Event, String> {
        let info = vk::EventCreateInfo::default();
        // SAFETY: valid device and create info.
        Ok(self.own(check("vkCreateEvent", unsafe {
            self.device.create_event(&info, None)
        })?))
    }

    /// vkQueueSubmit with a fence that [`Gpu::wait_fence`] must wait for.
    pub fn submit(
        &self,
        queue: vk::Queue,
        submits: &[vk::SubmitInfo],
        fence: vk::Fence,
        what: &str,
    ) -> Result<(), String> {
        // SAFETY: the caller's submit infos point at recorded command buffers and live semaphores.
        check(&format!("vkQueueSubmit ({what})"), unsafe {
            self.device.queue_submit(queue, submits, fence)
        })?;
        self.pending.borrow_mut().push(fence);
        Ok(())
    }

    /// vkQueueSubmit2 (Vulkan 1.3 or VK_KHR_synchronization2) with a fence that [`Gpu::wait_fence`] waits for.
    pub fn submit2(
        &self,
        queue: vk::Queue,
        submits: &[vk::SubmitInfo2],
        fence: vk::Fence,
        what: &str,
    ) -> Result<(), String> {
        let what = format!("vkQueueSubmit2 ({what})");
        // SAFETY: the caller's submit infos point at recorded command buffers and live semaphores.
        let result = unsafe {
            match &self.synchronization2 {
                Some(Synchronization2::Core) => self.device.queue_submit2(queue, submits, fence),
                Some(Synchronization2::Khr(khr)) => khr.queue_submit2(queue, submits, fence),
                None => return Err(format!("{what}: synchronization2 is not enabled")),
            }
        };
        check(&what, result)?;
        self.pending.borrow_mut().push(fence);
        Ok(())
    }

    /// Waits (bounded) for `fence`; the error names `what` was waited for.
    pub fn wait_fence(&self, fence: vk::Fence, what: &str) -> Result<(), String> {
        // SAFETY: valid fence of this device.
        let result = unsafe {
            self.device
                .wait_for_fences(&[fence], true, wait_timeout_ns())
        };
        super::watchdog::progress("vkWaitForFences");
        match result {
            Ok(()) => {
                self.pending
                    .borrow_mut()
                    .retain(|&pending| pending != fence);
                Ok(())
            }
            Err(vk::Result::TIMEOUT) => Err(format!(
                "vkWaitForFences ({what}) timed out after {} s",
                super::WAIT_TIMEOUT.as_secs()
            )),
            Err(e) => Err(format!("vkWaitForFences ({what}): {e:?}")),
        }
    }

    /// Allocates a command buffer of `level` from the Gpu's pool (freed with the pool).
    pub fn command_buffer(
        &self,
        level: vk::CommandBufferLevel,
    ) -> Result<vk::CommandBuffer, String> {
        let info = vk::CommandBufferAllocateInfo::default()
            .command_pool(self.command_pool)
            .level(level)
            .command_buffer_count(1);
        // SAFETY: valid device and pool.
        Ok(check("vkAllocateCommandBuffers", unsafe {
            self.device.allocate_command_buffers(&info)
        })?[0])
    }

    /// A primary command buffer with what `record` puts in it.
    pub fn record(
        &self,
        what: &str,
        record: impl FnOnce(vk::CommandBuffer) -> Result<(), String>,
    ) -> Result<vk::CommandBuffer, String> {
        let command_buffer = self.command_buffer(vk::CommandBufferLevel::PRIMARY)?;
        let begin = vk::CommandBufferBeginInfo::default();
        // SAFETY: a freshly allocated command buffer in the initial state.
        check(&format!("vkBeginCommandBuffer ({what})"), unsafe {
            self.device.begin_command_buffer(command_buffer, &begin)
        })?;
        record(command_buffer)?;
        // SAFETY: the command buffer is recording.
        check(&format!("vkEndCommandBuffer ({what})"), unsafe {
            self.device.end_command_buffer(command_buffer)
        })?;
        Ok(command_buffer)
    }

    /// Submits `command_buffer` alone on the first queue and waits (bounded) for it.
    pub fn submit_and_wait(
        &self,
        command_buffer: vk::CommandBuffer,
        what: &str,
    ) -> Result<(), String> {
        let fence = self.fence(false)?;
        let command_buffers = [command_buffer];
        let submit = [vk::SubmitInfo::default().command_buffers(&command_buffers)];
        self.submit(self.queue(0), &submit, fence, what)?;
        self.wait_fence(fence, what)
    }

    /// Records, submits and waits for a one-shot command buffer.
    pub fn run_commands(
        &self,
        what: &str,
        record: impl FnOnce(vk::CommandBuffer) -> Result<(), String>,
    ) -> Result<(), String> {
        let command_buffer = self.record(what, record)?;
        self.submit_and_wait(command_buffer, what)
    }

    /// vkCmdBeginRendering through whichever of core 1.3 or VK_KHR_dynamic_rendering is enabled.
    pub fn cmd_begin_rendering(
        &self,
        command_buffer: vk::CommandBuffer,
        info: &vk::RenderingInfo,
    ) -> Result<(), String> {
        // SAFETY: the caller records into a command buffer of this device with a valid rendering info.
        unsafe {
            match &self.dynamic_rendering {
                Some(DynamicRendering::Core) => {
                    self.device.cmd_begin_rendering(command_buffer, info)
                }
                Some(DynamicRendering::Khr(khr)) => khr.cmd_begin_rendering(command_buffer, info),
                None => return Err("dynamic rendering is not enabled".into()),
            }
        }
        Ok(())
    }

    pub fn cmd_end_rendering(&self, command_buffer: vk::CommandBuffer) -> Result<(), String> {
        // SAFETY: the caller began rendering in this command buffer.
        unsafe {
            match &self.dynamic_rendering {
                Some(DynamicRendering::Core) => self.device.cmd_end_rendering(command_buffer),
                Some(DynamicRendering::Khr(khr)) => khr.cmd_end_rendering(command_buffer),
                None => return Err("dynamic rendering is not enabled".into()),
            }
        }
        Ok(())
    }

    /// vkCmdPipelineBarrier2 through whichever of core 1.3 or VK_KHR_synchronization2 is enabled.
    pub fn cmd_pipeline_barrier2(
        &self,
        command_buffer: vk::CommandBuffer,
        dependency: &vk::DependencyInfo,
    ) -> Result<(), String> {
        // SAFETY: the caller records into a command buffer of this device with a valid dependency info.
        unsafe {
            match &self.synchronization2 {
                Some(Synchronization2::Core) => self
                    .device
                    .cmd_pipeline_barrier2(command_buffer, dependency),
                Some(Synchronization2::Khr(khr)) => {
                    khr.cmd_pipeline_barrier2(command_buffer, dependency)
                }
                None => return Err("synchronization2 is not enabled".into()),
            }
        }
        Ok(())
    }
}

impl Drop for Gpu {
    fn drop(&mut self) {
        let pending = self.pending.take();
        if !pending.is_empty() {
            // A short wait: on the success path every fence was already waited for; what is left here comes
            // from a failure, and a hung device must not hang the exit.
            // SAFETY: valid fences of this device.
            let idle = unsafe {
                self.device.wait_for_fences(
                    &pending,
                    true,
                    Duration::from_secs(2).as_nanos() as u64,
                )
            };
            if idle.is_err() {
                return;
            }
        }
        for owned in self.owned.take().into_iter().rev() {
            // SAFETY: every owned object was made from this device, and no submitted work is pending.
            unsafe { owned.destroy(&self.device) };
        }
        // SAFETY: every child object is destroyed; the instance outlives the device.
        unsafe {
            self.device.destroy_device(None);
            self.instance.destroy_instance(None);
        }
    }
}

/// What `open_device` made, before the Gpu holds it.
struct Opened {
    physical_device: vk::PhysicalDevice,
    properties: vk::PhysicalDeviceProperties,
    api_version: u32,
    device: ash::Device,
    queue_family: u32,
    queue_family_properties: vk::QueueFamilyProperties,
    queue_count: u32,
    enabled: Features,
    dynamic_rendering_by_extension: bool,
    synchronization2_by_extension: bool,
}

/// What the device offers of [`Features`], and through which extension when not core.
struct Offered {
    features: Features,
    dynamic_rendering_by_extension: bool,
    synchronization2_by_extension: bool,
}

fn open_device(instance: &ash::Instance, wishes: &Wishes) -> Result<Opened, String> {
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
