//! The compute readback check: fills a host-visible storage buffer, runs a compute shader over it N times with
//! vkQueueSubmit + vkWaitForFences, maps the memory and verifies every element. Plain Vulkan, so it runs on any
//! driver: natively, through Mesa's Venus, or through ours.
//!
//! usage: compute-readback [--elements N] [--iterations N]
//! Prints `compute-readback: OK ...` and exits 0 when every element matches; otherwise names what failed.

use ash::vk;
use std::ffi::CStr;
use std::time::{Duration, Instant};

const SHADER: &[u8] = include_bytes!("../../shaders/iterate.comp.spv");
const WORKGROUP_SIZE: u32 = 64;
const FENCE_TIMEOUT: Duration = Duration::from_secs(20);

struct Options {
    elements: u32,
    iterations: u32,
}

fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("compute-readback: {message}\nusage: compute-readback [--elements N] [--iterations N]");
            std::process::exit(2);
        }
    };
    match run(&options) {
        Ok(report) => println!("compute-readback: OK {report}"),
        Err(message) => {
            eprintln!("compute-readback: FAILED: {message}");
            std::process::exit(1);
        }
    }
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        elements: 4096,
        iterations: 100,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || -> Result<u32, String> {
            let text = args.next().ok_or(format!("{arg} needs a value"))?;
            text.parse()
                .map_err(|_| format!("{arg} takes a positive whole number, not {text:?}"))
                .and_then(|n: u32| {
                    if n == 0 {
                        Err(format!("{arg} must be > 0"))
                    } else {
                        Ok(n)
                    }
                })
        };
        match arg.as_str() {
            "--elements" => options.elements = number()?,
            "--iterations" => options.iterations = number()?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

/// What the shader computes for element `index` after `iterations` steps.
fn expected_value(index: u32, iterations: u32) -> u32 {
    (0..iterations).fold(index, |x, _| x.wrapping_mul(3).wrapping_add(1))
}

fn check<T>(what: &str, result: Result<T, vk::Result>) -> Result<T, String> {
    result.map_err(|e| format!("{what}: {e:?}"))
}

fn run(options: &Options) -> Result<String, String> {
    // SAFETY: loading the system Vulkan loader; its entry points are called with valid arguments below.
    let entry =
        unsafe { ash::Entry::load() }.map_err(|e| format!("cannot load the Vulkan loader: {e}"))?;
    let app_info = vk::ApplicationInfo::default()
        .application_name(c"compute-readback")
        .api_version(vk::API_VERSION_1_1);
    let instance_info = vk::InstanceCreateInfo::default().application_info(&app_info);
    // SAFETY: the create info and what it points to live across the call.
    let instance = check("vkCreateInstance", unsafe {
        entry.create_instance(&instance_info, None)
    })?;
    let result = run_on_instance(&instance, options);
    // SAFETY: every child object was destroyed by run_on_instance.
    unsafe { instance.destroy_instance(None) };
    result
}

fn run_on_instance(instance: &ash::Instance, options: &Options) -> Result<String, String> {
    // SAFETY: valid instance.
    let physical_devices = check("vkEnumeratePhysicalDevices", unsafe {
        instance.enumerate_physical_devices()
    })?;
    let physical_device = *physical_devices.first().ok_or("no Vulkan device")?;
    // SAFETY: valid physical device from this instance.
    let properties = unsafe { instance.get_physical_device_properties(physical_device) };
    // SAFETY: the driver fills a NUL-terminated name.
    let device_name = unsafe { CStr::from_ptr(properties.device_name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: valid physical device.
    let families = unsafe { instance.get_physical_device_queue_family_properties(physical_device) };
    let family = families
        .iter()
        .position(|family| family.queue_flags.contains(vk::QueueFlags::COMPUTE))
        .ok_or("no compute queue family")? as u32;
    let priorities = [1.0];
    let queue_info = [vk::DeviceQueueCreateInfo::default()
        .queue_family_index(family)
        .queue_priorities(&priorities)];
    let device_info = vk::DeviceCreateInfo::default().queue_create_infos(&queue_info);
    // SAFETY: the create info and what it points to live across the call.
    let device = check("vkCreateDevice", unsafe {
        instance.create_device(physical_device, &device_info, None)
    })?;
    let result = Compute::new(instance, physical_device, &device, family, options)
        .and_then(|compute| {
            let outcome = compute.run(options);
            compute.destroy();
            outcome
        })
        .map(|timing| {
            format!(
                "{} elements x {} iterations on {device_name}; {timing}",
                options.elements, options.iterations
            )
        });
    // SAFETY: every object made from the device is destroyed, and the device is idle.
    unsafe { device.destroy_device(None) };
    result
}

/// Every object the check creates, so that all of them are destroyed on every path.
struct Compute<'d> {
    device: &'d ash::Device,
    queue: vk::Queue,
    buffer: vk::Buffer,
    memory: vk::DeviceMemory,
    memory_is_coherent: bool,
    size: vk::DeviceSize,
    shader: vk::ShaderModule,
    set_layout: vk::DescriptorSetLayout,
    pipeline_layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
    descriptor_pool: vk::DescriptorPool,
    command_pool: vk::CommandPool,
    command_buffer: vk::CommandBuffer,
    fence: vk::Fence,
}

impl<'d> Compute<'d> {
    fn new(
        instance: &ash::Instance,
        physical_device: vk::PhysicalDevice,
        device: &'d ash::Device,
        family: u32,
        options: &Options,
    ) -> Result<Compute<'d>, String> {
        let mut compute = Compute {
            device,
            // SAFETY: the device was created with one queue in this family.
            queue: unsafe { device.get_device_queue(family, 0) },
            buffer: vk::Buffer::null(),
            memory: vk::DeviceMemory::null(),
            memory_is_coherent: false,
            size: u64::from(options.elements) * 4,
            shader: vk::ShaderModule::null(),
            set_layout: vk::DescriptorSetLayout::null(),
            pipeline_layout: vk::PipelineLayout::null(),
            pipeline: vk::Pipeline::null(),
            descriptor_pool: vk::DescriptorPool::null(),
            command_pool: vk::CommandPool::null(),
            command_buffer: vk::CommandBuffer::null(),
            fence: vk::Fence::null(),
        };
        match compute.create(instance, physical_device, family, options) {
            Ok(()) => Ok(compute),
            Err(message) => {
                compute.destroy();
                Err(message)
            }
        }
    }

    fn create(
        &mut self,
        instance: &ash::Instance,
        physical_device: vk::PhysicalDevice,
        family: u32,
        options: &Options,
    ) -> Result<(), String> {
        let device = self.device;
        let buffer_info = vk::BufferCreateInfo::default()
            .size(self.size)
            .usage(vk::BufferUsageFlags::STORAGE_BUFFER)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        // SAFETY (this block and the calls below): valid device, create infos that outlive each call, and
        // handles made from this device.
        unsafe {
            self.buffer = check("vkCreateBuffer", device.create_buffer(&buffer_info, None))?;
            let requirements = device.get_buffer_memory_requirements(self.buffer);
            let memory_properties = instance.get_physical_device_memory_properties(physical_device);
            let (type_index, coherent) =
                host_visible_type(&memory_properties, requirements.memory_type_bits)
                    .ok_or("no host-visible memory type for a storage buffer")?;
            self.memory_is_coherent = coherent;
            let allocate_info = vk::MemoryAllocateInfo::default()
                .allocation_size(requirements.size)
                .memory_type_index(type_index);
            self.memory = check(
                "vkAllocateMemory",
                device.allocate_memory(&allocate_info, None),
            )?;
            check(
                "vkBindBufferMemory",
                device.bind_buffer_memory(self.buffer, self.memory, 0),
            )?;

            let code = ash::util::read_spv(&mut std::io::Cursor::new(SHADER))
                .map_err(|e| format!("the embedded SPIR-V is malformed: {e}"))?;
            let shader_info = vk::ShaderModuleCreateInfo::default().code(&code);
            self.shader = check(
                "vkCreateShaderModule",
                device.create_shader_module(&shader_info, None),
            )?;
            let bindings = [vk::DescriptorSetLayoutBinding::default()
                .binding(0)
                .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                .descriptor_count(1)
                .stage_flags(vk::ShaderStageFlags::COMPUTE)];
            let set_layout_info = vk::DescriptorSetLayoutCreateInfo::default().bindings(&bindings);
            self.set_layout = check(
                "vkCreateDescriptorSetLayout",
                device.create_descriptor_set_layout(&set_layout_info, None),
            )?;
            let push_ranges = [vk::PushConstantRange::default()
                .stage_flags(vk::ShaderStageFlags::COMPUTE)
                .size(4)];
            let set_layouts = [self.set_layout];
            let layout_info = vk::PipelineLayoutCreateInfo::default()
                .set_layouts(&set_layouts)
                .push_constant_ranges(&push_ranges);
            self.pipeline_layout = check(
                "vkCreatePipelineLayout",
                device.create_pipeline_layout(&layout_info, None),
            )?;
            let stage = vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::COMPUTE)
                .module(self.shader)
                .name(c"main");
            let pipeline_info = [vk::ComputePipelineCreateInfo::default()
                .stage(stage)
                .layout(self.pipeline_layout)];
            self.pipeline = device
                .create_compute_pipelines(vk::PipelineCache::null(), &pipeline_info, None)
                .map_err(|(_, e)| format!("vkCreateComputePipelines: {e:?}"))?[0];
            let pool_sizes = [vk::DescriptorPoolSize::default()
                .ty(vk::DescriptorType::STORAGE_BUFFER)
                .descriptor_count(1)];
            let pool_info = vk::DescriptorPoolCreateInfo::default()
                .max_sets(1)
                .pool_sizes(&pool_sizes);
            self.descriptor_pool = check(
                "vkCreateDescriptorPool",
                device.create_descriptor_pool(&pool_info, None),
            )?;
            let allocate_sets = vk::DescriptorSetAllocateInfo::default()
                .descriptor_pool(self.descriptor_pool)
                .set_layouts(&set_layouts);
            let set = check(
                "vkAllocateDescriptorSets",
                device.allocate_descriptor_sets(&allocate_sets),
            )?[0];
            let buffer_infos = [vk::DescriptorBufferInfo::default()
                .buffer(self.buffer)
                .range(vk::WHOLE_SIZE)];
            let writes = [vk::WriteDescriptorSet::default()
                .dst_set(set)
                .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                .buffer_info(&buffer_infos)];
            device.update_descriptor_sets(&writes, &[]);

            let command_pool_info = vk::CommandPoolCreateInfo::default().queue_family_index(family);
            self.command_pool = check(
                "vkCreateCommandPool",
                device.create_command_pool(&command_pool_info, None),
            )?;
            let command_buffer_info = vk::CommandBufferAllocateInfo::default()
                .command_pool(self.command_pool)
                .level(vk::CommandBufferLevel::PRIMARY)
                .command_buffer_count(1);
            self.command_buffer = check(
                "vkAllocateCommandBuffers",
                device.allocate_command_buffers(&command_buffer_info),
            )?[0];
            let begin = vk::CommandBufferBeginInfo::default();
            check(
                "vkBeginCommandBuffer",
                device.begin_command_buffer(self.command_buffer, &begin),
            )?;
            device.cmd_bind_pipeline(
                self.command_buffer,
                vk::PipelineBindPoint::COMPUTE,
                self.pipeline,
            );
            device.cmd_bind_descriptor_sets(
                self.command_buffer,
                vk::PipelineBindPoint::COMPUTE,
                self.pipeline_layout,
                0,
                &[set],
                &[],
            );
            device.cmd_push_constants(
                self.command_buffer,
                self.pipeline_layout,
                vk::ShaderStageFlags::COMPUTE,
                0,
                &options.elements.to_le_bytes(),
            );
            device.cmd_dispatch(
                self.command_buffer,
                options.elements.div_ceil(WORKGROUP_SIZE),
                1,
                1,
            );
            let to_host = [vk::MemoryBarrier::default()
                .src_access_mask(vk::AccessFlags::SHADER_WRITE)
                .dst_access_mask(vk::AccessFlags::HOST_READ | vk::AccessFlags::SHADER_READ)];
            device.cmd_pipeline_barrier(
                self.command_buffer,
                vk::PipelineStageFlags::COMPUTE_SHADER,
                vk::PipelineStageFlags::HOST | vk::PipelineStageFlags::COMPUTE_SHADER,
                vk::DependencyFlags::empty(),
                &to_host,
                &[],
                &[],
            );
            check(
                "vkEndCommandBuffer",
                device.end_command_buffer(self.command_buffer),
            )?;
            self.fence = check(
                "vkCreateFence",
                device.create_fence(&vk::FenceCreateInfo::default(), None),
            )?;
        }
        Ok(())
    }

    /// Fills the buffer, submits the shader `iterations` times, and verifies every element.
    fn run(&self, options: &Options) -> Result<String, String> {
        let device = self.device;
        // SAFETY: the memory is host-visible, not mapped elsewhere, and `size` fits the allocation.
        let mapped = check("vkMapMemory", unsafe {
            device.map_memory(self.memory, 0, self.size, vk::MemoryMapFlags::empty())
        })?
        .cast::<u32>();
        let elements = options.elements as usize;
        for index in 0..elements {
            // SAFETY: index < elements, and the mapping holds `elements` u32 values.
            unsafe { mapped.add(index).write_volatile(index as u32) };
        }
        let whole = [vk::MappedMemoryRange::default()
            .memory(self.memory)
            .size(vk::WHOLE_SIZE)];
        if !self.memory_is_coherent {
            // SAFETY: the range lies in the mapped memory.
            check("vkFlushMappedMemoryRanges", unsafe {
                device.flush_mapped_memory_ranges(&whole)
            })?;
        }
        let command_buffers = [self.command_buffer];
        let submit = [vk::SubmitInfo::default().command_buffers(&command_buffers)];
        let mut round_trips = Vec::with_capacity(options.iterations as usize);
        for iteration in 0..options.iterations {
            let started = Instant::now();
            // SAFETY: the command buffer is recorded and not pending (the previous submit's fence was waited on).
            unsafe {
                check(
                    "vkQueueSubmit",
                    device.queue_submit(self.queue, &submit, self.fence),
                )?;
                check(
                    &format!("vkWaitForFences (iteration {iteration})"),
                    device.wait_for_fences(&[self.fence], true, FENCE_TIMEOUT.as_nanos() as u64),
                )?;
                check("vkResetFences", device.reset_fences(&[self.fence]))?;
            }
            round_trips.push(started.elapsed());
        }
        if !self.memory_is_coherent {
            // SAFETY: the range lies in the mapped memory.
            check("vkInvalidateMappedMemoryRanges", unsafe {
                device.invalidate_mapped_memory_ranges(&whole)
            })?;
        }
        let mut mismatches = 0usize;
        let mut first_mismatch = None;
        for index in 0..elements {
            // SAFETY: index < elements, inside the mapping.
            let value = unsafe { mapped.add(index).read_volatile() };
            let expected = expected_value(index as u32, options.iterations);
            if value != expected {
                mismatches += 1;
                first_mismatch.get_or_insert((index, value, expected));
            }
        }
        // SAFETY: the memory is mapped and no pointer into it is used after this.
        unsafe { device.unmap_memory(self.memory) };
        if let Some((index, value, expected)) = first_mismatch {
            return Err(format!(
                "{mismatches} of {elements} elements are wrong; element {index} is {value:#x}, expected {expected:#x}"
            ));
        }
        round_trips.sort();
        let median = round_trips[round_trips.len() / 2];
        Ok(format!(
            "median submit+wait round trip {} us",
            median.as_micros()
        ))
    }

    fn destroy(&self) {
        let device = self.device;
        // SAFETY: every handle was made from this device (or is null, which destroy accepts), and waiting for
        // idle first means none is in use.
        unsafe {
            let _ = device.device_wait_idle();
            device.destroy_fence(self.fence, None);
            device.destroy_command_pool(self.command_pool, None);
            device.destroy_descriptor_pool(self.descriptor_pool, None);
            device.destroy_pipeline(self.pipeline, None);
            device.destroy_pipeline_layout(self.pipeline_layout, None);
            device.destroy_descriptor_set_layout(self.set_layout, None);
            device.destroy_shader_module(self.shader, None);
            device.destroy_buffer(self.buffer, None);
            device.free_memory(self.memory, None);
        }
    }
}

/// The first memory type allowed by `type_bits` that is host-visible, preferring coherent ones.
fn host_visible_type(
    properties: &vk::PhysicalDeviceMemoryProperties,
    type_bits: u32,
) -> Option<(u32, bool)> {
    let types = &properties.memory_types[..properties.memory_type_count as usize];
    let allowed = |index: usize, flags: vk::MemoryPropertyFlags| {
        type_bits & (1 << index) != 0 && types[index].property_flags.contains(flags)
    };
    let coherent = vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_COHERENT;
    (0..types.len())
        .find(|&index| allowed(index, coherent))
        .map(|index| (index as u32, true))
        .or_else(|| {
            (0..types.len())
                .find(|&index| allowed(index, vk::MemoryPropertyFlags::HOST_VISIBLE))
                .map(|index| (index as u32, false))
        })
}

#[cfg(test)]
mod tests {
    use super::expected_value;

    #[test]
    fn expected_values_follow_three_x_plus_one_with_wraparound() {
        assert_eq!(expected_value(5, 0), 5);
        assert_eq!(expected_value(5, 2), 49);
        assert_eq!(
            expected_value(u32::MAX, 1),
            u32::MAX.wrapping_mul(3).wrapping_add(1)
        );
    }
}
