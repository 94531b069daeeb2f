//! An X11 application whose window is resized while it presents, as a user drags a window edge: after
//! each resize the swapchain must report VK_ERROR_OUT_OF_DATE_KHR or VK_SUBOPTIMAL_KHR (from acquire
//! or present), the application recreates it at the surface's new extent with `oldSwapchain`, and
//! presenting goes on — checked by reading the window back from a second X client, which must show
//! the new frame's colour over the window's whole new size.
//!
//! Plain Vulkan through the loader (VK_KHR_xcb_surface on the application's own libxcb connection),
//! so it runs natively and in any pairing; it needs an X server (DISPLAY).
//!
//! usage: resize-check
//! Prints `resize-check: OK ...` or `resize-check: FAILED: reason`.

use std::time::{Duration, Instant};

use ash::vk;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;
use x11rb::xcb_ffi::XCBConnection;

/// The window's sizes, one per phase, and the colour each phase presents (exact in an UNORM image).
const PHASES: [((u16, u16), [f32; 3]); 3] = [
    ((320, 240), [1.0, 0.0, 0.0]),
    ((480, 360), [0.0, 1.0, 0.0]),
    ((200, 150), [0.0, 0.0, 1.0]),
];
/// Frames presented after a resize before the swapchain must have noticed it.
const FRAMES_TO_NOTICE: u32 = 10;
/// Frames presented in each phase once the swapchain matches the window.
const FRAMES_PER_PHASE: u32 = 5;
/// How long the window may take to show a presented frame.
const SHOW_LIMIT: Duration = Duration::from_secs(5);

fn check(what: &str, result: Result<(), vk::Result>) -> Result<(), String> {
    result.map_err(|e| format!("{what}: {e}"))
}

/// The application's window on its own libxcb connection (which the surface uses).
struct Window {
    connection: XCBConnection,
    window: xproto::Window,
}

impl Window {
    fn open((width, height): (u16, u16)) -> Result<Window, String> {
        let (connection, screen) =
            XCBConnection::connect(None).map_err(|e| format!("cannot connect to X: {e}"))?;
        let root = &connection.setup().roots[screen];
        let window = connection.generate_id().map_err(|e| e.to_string())?;
        // Override-redirect: no window manager decides the size, so the resize is the one asked for.
        let attributes = xproto::CreateWindowAux::new()
            .background_pixel(root.black_pixel)
            .override_redirect(1);
        connection
            .create_window(
                x11rb::COPY_DEPTH_FROM_PARENT,
                window,
                root.root,
                0,
                0,
                width,
                height,
                0,
                xproto::WindowClass::INPUT_OUTPUT,
                root.root_visual,
                &attributes,
            )
            .map_err(|e| e.to_string())?
            .check()
            .map_err(|e| format!("CreateWindow: {e}"))?;
        connection
            .map_window(window)
            .map_err(|e| e.to_string())?
            .check()
            .map_err(|e| format!("MapWindow: {e}"))?;
        Ok(Window { connection, window })
    }

    fn resize(&self, (width, height): (u16, u16)) -> Result<(), String> {
        let size = xproto::ConfigureWindowAux::new()
            .width(u32::from(width))
            .height(u32::from(height));
        self.connection
            .configure_window(self.window, &size)
            .map_err(|e| e.to_string())?
            .check()
            .map_err(|e| format!("ConfigureWindow: {e}"))
    }

    /// A round trip: the server has handled every request sent on this connection so far (the
    /// driver's image uploads included, when it presents on the application's connection).
    fn sync(&self) -> Result<(), String> {
        self.connection
            .get_input_focus()
            .map_err(|e| e.to_string())?
            .reply()
            .map(|_| ())
            .map_err(|e| format!("GetInputFocus: {e}"))
    }
}

/// Waits until a second client sees the window at `size`, every pixel `colour`.
fn expect_window(
    reader: &RustConnection,
    window: &Window,
    size: (u16, u16),
    colour: [f32; 3],
) -> Result<(), String> {
    let expected = colour.map(|c| (c * 255.0).round() as u8);
    let deadline = Instant::now() + SHOW_LIMIT;
    loop {
        window.sync()?;
        let image = reader
            .get_image(
                xproto::ImageFormat::Z_PIXMAP,
                window.window,
                0,
                0,
                size.0,
                size.1,
                !0,
            )
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| format!("GetImage {}x{}: {e}", size.0, size.1))?;
        // Depth 24 on a little-endian server: B, G, R, unused.
        let wrong = image
            .data
            .chunks_exact(4)
            .filter(|bgrx| [bgrx[2], bgrx[1], bgrx[0]] != expected)
            .count();
        if wrong == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "after {} s the {}x{} window still has {wrong} pixels that are not {expected:?}",
                SHOW_LIMIT.as_secs(),
                size.0,
                size.1
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Vulkan {
    _entry: ash::Entry,
    instance: ash::Instance,
    surface_fns: ash::khr::surface::Instance,
    surface: vk::SurfaceKHR,
    physical_device: vk::PhysicalDevice,
    device: ash::Device,
    swapchain_fns: ash::khr::swapchain::Device,
    queue: vk::Queue,
    command_pool: vk::CommandPool,
    device_name: String,
}

impl Vulkan {
    fn new(window: &Window) -> Result<Vulkan, String> {
        // SAFETY: loads the system's Vulkan loader.
        let entry = unsafe { ash::Entry::load() }.map_err(|e| format!("no Vulkan loader: {e}"))?;
        let extensions = [
            ash::khr::surface::NAME.as_ptr(),
            ash::khr::xcb_surface::NAME.as_ptr(),
        ];
        let application = vk::ApplicationInfo::default()
            .application_name(c"resize-check")
            .api_version(vk::API_VERSION_1_1);
        let create_info = vk::InstanceCreateInfo::default()
            .application_info(&application)
            .enabled_extension_names(&extensions);
        // SAFETY: valid create info; the instance is destroyed in Drop.
        let instance = unsafe { entry.create_instance(&create_info, None) }
            .map_err(|e| format!("vkCreateInstance with VK_KHR_xcb_surface: {e}"))?;
        let surface_fns = ash::khr::surface::Instance::new(&entry, &instance);
        let xcb_fns = ash::khr::xcb_surface::Instance::new(&entry, &instance);
        let surface_info = vk::XcbSurfaceCreateInfoKHR::default()
            .connection(window.connection.get_raw_xcb_connection())
            .window(window.window);
        // SAFETY: a live xcb connection and window, which outlive the surface.
        let surface = unsafe { xcb_fns.create_xcb_surface(&surface_info, None) }
            .map_err(|e| format!("vkCreateXcbSurfaceKHR: {e}"))?;
        // SAFETY: a live instance.
        let physical_devices = unsafe { instance.enumerate_physical_devices() }
            .map_err(|e| format!("vkEnumeratePhysicalDevices: {e}"))?;
        let (physical_device, family) = physical_devices
            .iter()
            .find_map(|&physical_device| {
                // SAFETY: a physical device of this instance.
                let families = unsafe {
                    instance.get_physical_device_queue_family_properties(physical_device)
                };
                families.iter().enumerate().find_map(|(index, family)| {
                    let index = index as u32;
                    // SAFETY: a physical device, a family index and a surface of this instance.
                    let presents = unsafe {
                        surface_fns.get_physical_device_surface_support(
                            physical_device,
                            index,
                            surface,
                        )
                    }
                    .unwrap_or(false);
                    (family.queue_flags.contains(vk::QueueFlags::GRAPHICS) && presents)
                        .then_some((physical_device, index))
                })
            })
            .ok_or("no device has a graphics queue that presents to the window")?;
        // SAFETY: a physical device of this instance.
        let properties = unsafe { instance.get_physical_device_properties(physical_device) };
        let device_name = properties
            .device_name_as_c_str()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let priorities = [1.0];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(family)
            .queue_priorities(&priorities)];
        let device_extensions = [ash::khr::swapchain::NAME.as_ptr()];
        let device_info = vk::DeviceCreateInfo::default()
            .queue_create_infos(&queues)
            .enabled_extension_names(&device_extensions);
        // SAFETY: valid create info; the device is destroyed in Drop.
        let device = unsafe { instance.create_device(physical_device, &device_info, None) }
            .map_err(|e| format!("vkCreateDevice with VK_KHR_swapchain: {e}"))?;
        // SAFETY: the family was created with one queue.
        let queue = unsafe { device.get_device_queue(family, 0) };
        let pool_info = vk::CommandPoolCreateInfo::default()
            .queue_family_index(family)
            .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER);
        // SAFETY: valid create info.
        let command_pool = unsafe { device.create_command_pool(&pool_info, None) }
            .map_err(|e| format!("vkCreateCommandPool: {e}"))?;
        let swapchain_fns = ash::khr::swapchain::Device::new(&instance, &device);
        Ok(Vulkan {
            _entry: entry,
            instance,
            surface_fns,
            surface,
            physical_device,
            device,
            swapchain_fns,
            queue,
            command_pool,
            device_name,
        })
    }

    /// A swapchain at the surface's current extent (the window's size), replacing `old`.
    fn swapchain(&self, old: vk::SwapchainKHR) -> Result<Swapchain, String> {
        // SAFETY: the surface and physical device of this instance.
        let capabilities = unsafe {
            self.surface_fns
                .get_physical_device_surface_capabilities(self.physical_device, self.surface)
        }
        .map_err(|e| format!("vkGetPhysicalDeviceSurfaceCapabilitiesKHR: {e}"))?;
        // SAFETY: as above.
        let formats = unsafe {
            self.surface_fns
                .get_physical_device_surface_formats(self.physical_device, self.surface)
        }
        .map_err(|e| format!("vkGetPhysicalDeviceSurfaceFormatsKHR: {e}"))?;
        let format = formats
            .iter()
            .find(|f| f.format == vk::Format::B8G8R8A8_UNORM)
            .ok_or("the surface offers no B8G8R8A8_UNORM format")?;
        if !capabilities
            .supported_usage_flags
            .contains(vk::ImageUsageFlags::TRANSFER_DST)
        {
            return Err("swapchain images cannot be transfer destinations".into());
        }
        let mut image_count = capabilities.min_image_count.max(2);
        if capabilities.max_image_count != 0 {
            image_count = image_count.min(capabilities.max_image_count);
        }
        let extent = capabilities.current_extent;
        let info = vk::SwapchainCreateInfoKHR::default()
            .surface(self.surface)
            .min_image_count(image_count)
            .image_format(format.format)
            .image_color_space(format.color_space)
            .image_extent(extent)
            .image_array_layers(1)
            .image_usage(vk::ImageUsageFlags::TRANSFER_DST)
            .image_sharing_mode(vk::SharingMode::EXCLUSIVE)
            .pre_transform(capabilities.current_transform)
            .composite_alpha(vk::CompositeAlphaFlagsKHR::OPAQUE)
            .present_mode(vk::PresentModeKHR::FIFO)
            .clipped(true)
            .old_swapchain(old);
        // SAFETY: valid create info for this device's surface; `old` (if any) is retired by it.
        let handle = unsafe { self.swapchain_fns.create_swapchain(&info, None) }.map_err(|e| {
            format!(
                "vkCreateSwapchainKHR {}x{}: {e}",
                extent.width, extent.height
            )
        })?;
        // SAFETY: a swapchain of this device.
        let images = unsafe { self.swapchain_fns.get_swapchain_images(handle) }
            .map_err(|e| format!("vkGetSwapchainImagesKHR: {e}"))?;
        Ok(Swapchain {
            handle,
            images,
            extent,
        })
    }

    /// Clears the next image to `colour` and presents it. Returns the result that tells whether
    /// the swapchain still fits the window: SUCCESS, SUBOPTIMAL_KHR or ERROR_OUT_OF_DATE_KHR.
    fn present_frame(
        &self,
        swapchain: &Swapchain,
        frame: &Frame,
        colour: [f32; 3],
    ) -> Result<vk::Result, String> {
        // SAFETY: a swapchain, semaphore of this device; the semaphore is unsignalled (each frame
        // waits for the previous submission's fence before reusing it).
        let acquired = unsafe {
            self.swapchain_fns.acquire_next_image(
                swapchain.handle,
                u64::MAX,
                frame.acquired,
                vk::Fence::null(),
            )
        };
        let (index, suboptimal_acquire) = match acquired {
            Ok(acquired) => acquired,
            Err(vk::Result::ERROR_OUT_OF_DATE_KHR) => return Ok(vk::Result::ERROR_OUT_OF_DATE_KHR),
            Err(e) => return Err(format!("vkAcquireNextImageKHR: {e}")),
        };
        let image = swapchain.images[index as usize];
        let range = vk::ImageSubresourceRange::default()
            .aspect_mask(vk::ImageAspectFlags::COLOR)
            .level_count(1)
            .layer_count(1);
        let to_transfer = vk::ImageMemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::empty())
            .dst_access_mask(vk::AccessFlags::TRANSFER_WRITE)
            .old_layout(vk::ImageLayout::UNDEFINED)
            .new_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .image(image)
            .subresource_range(range);
        let to_present = vk::ImageMemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
            .dst_access_mask(vk::AccessFlags::empty())
            .old_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
            .new_layout(vk::ImageLayout::PRESENT_SRC_KHR)
            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .image(image)
            .subresource_range(range);
        let clear = vk::ClearColorValue {
            float32: [colour[0], colour[1], colour[2], 1.0],
        };
        let command_buffer = frame.command_buffer;
        // SAFETY: the command buffer is not in use (its last submission's fence was waited for);
        // every handle belongs to this device.
        unsafe {
            check(
                "vkResetCommandBuffer",
                self.device
                    .reset_command_buffer(command_buffer, vk::CommandBufferResetFlags::empty()),
            )?;
            check(
                "vkBeginCommandBuffer",
                self.device.begin_command_buffer(
                    command_buffer,
                    &vk::CommandBufferBeginInfo::default()
                        .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT),
                ),
            )?;
            self.device.cmd_pipeline_barrier(
                command_buffer,
                vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::TRANSFER,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &[to_transfer],
            );
            self.device.cmd_clear_color_image(
                command_buffer,
                image,
                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                &clear,
                &[range],
            );
            self.device.cmd_pipeline_barrier(
                command_buffer,
                vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::BOTTOM_OF_PIPE,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &[to_present],
            );
            check(
                "vkEndCommandBuffer",
                self.device.end_command_buffer(command_buffer),
            )?;
        }
        let wait = [frame.acquired];
        let stages = [vk::PipelineStageFlags::TRANSFER];
        let command_buffers = [command_buffer];
        let rendered = [frame.rendered];
        let submit = vk::SubmitInfo::default()
            .wait_semaphores(&wait)
            .wait_dst_stage_mask(&stages)
            .command_buffers(&command_buffers)
            .signal_semaphores(&rendered);
        // SAFETY: the fence is unsignalled; all handles belong to this device.
        unsafe {
            check("vkResetFences", self.device.reset_fences(&[frame.done]))?;
            check(
                "vkQueueSubmit",
                self.device.queue_submit(self.queue, &[submit], frame.done),
            )?;
        }
        let swapchains = [swapchain.handle];
        let indices = [index];
        let present = vk::PresentInfoKHR::default()
            .wait_semaphores(&rendered)
            .swapchains(&swapchains)
            .image_indices(&indices);
        // SAFETY: the image was acquired and its rendering signals `rendered`.
        let presented = unsafe { self.swapchain_fns.queue_present(self.queue, &present) };
        // SAFETY: a fence of this device, just submitted.
        unsafe {
            check(
                "vkWaitForFences",
                self.device.wait_for_fences(&[frame.done], true, u64::MAX),
            )?;
        }
        match presented {
            Ok(true) => Ok(vk::Result::SUBOPTIMAL_KHR),
            Ok(false) if suboptimal_acquire => Ok(vk::Result::SUBOPTIMAL_KHR),
            Ok(false) => Ok(vk::Result::SUCCESS),
            Err(vk::Result::ERROR_OUT_OF_DATE_KHR) => Ok(vk::Result::ERROR_OUT_OF_DATE_KHR),
            Err(e) => Err(format!("vkQueuePresentKHR: {e}")),
        }
    }

    fn frame(&self) -> Result<Frame, String> {
        let allocate = vk::CommandBufferAllocateInfo::default()
            .command_pool(self.command_pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: valid create infos; the objects are destroyed with the device in Drop.
        unsafe {
            Ok(Frame {
                command_buffer: self
                    .device
                    .allocate_command_buffers(&allocate)
                    .map_err(|e| format!("vkAllocateCommandBuffers: {e}"))?[0],
                acquired: self
                    .device
                    .create_semaphore(&vk::SemaphoreCreateInfo::default(), None)
                    .map_err(|e| format!("vkCreateSemaphore: {e}"))?,
                rendered: self
                    .device
                    .create_semaphore(&vk::SemaphoreCreateInfo::default(), None)
                    .map_err(|e| format!("vkCreateSemaphore: {e}"))?,
                done: self
                    .device
                    .create_fence(&vk::FenceCreateInfo::default(), None)
                    .map_err(|e| format!("vkCreateFence: {e}"))?,
            })
        }
    }

    fn destroy_frame(&self, frame: Frame) {
        // SAFETY: idle objects of this device (the fence of their last use was waited for).
        unsafe {
            self.device.destroy_semaphore(frame.acquired, None);
            self.device.destroy_semaphore(frame.rendered, None);
            self.device.destroy_fence(frame.done, None);
        }
    }
}

impl Drop for Vulkan {
    fn drop(&mut self) {
        // SAFETY: the application's own objects, idle after vkDeviceWaitIdle, destroyed children
        // first.
        unsafe {
            let _ = self.device.device_wait_idle();
            self.device.destroy_command_pool(self.command_pool, None);
            self.device.destroy_device(None);
            self.surface_fns.destroy_surface(self.surface, None);
            self.instance.destroy_instance(None);
        }
    }
}

struct Swapchain {
    handle: vk::SwapchainKHR,
    images: Vec<vk::Image>,
    extent: vk::Extent2D,
}

/// What one frame in flight uses. Frames are presented one at a time, so one set serves them all,
/// across swapchains too: an acquire that failed signals nothing, and a present that failed still
/// performs its semaphore wait.
struct Frame {
    command_buffer: vk::CommandBuffer,
    acquired: vk::Semaphore,
    rendered: vk::Semaphore,
    done: vk::Fence,
}

fn result_name(result: vk::Result) -> &'static str {
    match result {
        vk::Result::SUBOPTIMAL_KHR => "SUBOPTIMAL",
        vk::Result::ERROR_OUT_OF_DATE_KHR => "OUT_OF_DATE",
        _ => "SUCCESS",
    }
}

fn run() -> Result<String, String> {
    let (first_size, first_colour) = PHASES[0];
    let window = Window::open(first_size)?;
    let (reader, _) =
        x11rb::connect(None).map_err(|e| format!("cannot connect a reader to X: {e}"))?;
    let vulkan = Vulkan::new(&window)?;
    let frame = vulkan.frame()?;
    let mut swapchain = vulkan.swapchain(vk::SwapchainKHR::null())?;
    let mut report = vec![format!(
        "{}x{}",
        swapchain.extent.width, swapchain.extent.height
    )];
    let mut presented = 0u32;
    let mut colour = first_colour;
    for (phase, &(size, phase_colour)) in PHASES.iter().enumerate() {
        if phase > 0 {
            window.resize(size)?;
            window.sync()?;
            // The old swapchain must notice within a few frames; until then its frames are valid.
            let mut noticed = None;
            for _ in 0..FRAMES_TO_NOTICE {
                let result = vulkan.present_frame(&swapchain, &frame, colour)?;
                presented += 1;
                if result != vk::Result::SUCCESS {
                    noticed = Some(result);
                    break;
                }
            }
            let noticed = noticed.ok_or(format!(
                "{FRAMES_TO_NOTICE} frames after resizing the window to {}x{}, the swapchain \
                 still reported neither OUT_OF_DATE nor SUBOPTIMAL",
                size.0, size.1
            ))?;
            let replacement = vulkan.swapchain(swapchain.handle)?;
            let retired = std::mem::replace(&mut swapchain, replacement);
            // SAFETY: the retired swapchain's presented work is done (each frame's fence waited).
            unsafe {
                check("vkDeviceWaitIdle", vulkan.device.device_wait_idle())?;
                vulkan.swapchain_fns.destroy_swapchain(retired.handle, None);
            }
            if (swapchain.extent.width, swapchain.extent.height)
                != (u32::from(size.0), u32::from(size.1))
            {
                return Err(format!(
                    "the surface's current extent is {}x{} after resizing the window to {}x{}",
                    swapchain.extent.width, swapchain.extent.height, size.0, size.1
                ));
            }
            report.push(format!(
                "{} then {}x{}",
                result_name(noticed),
                size.0,
                size.1
            ));
            colour = phase_colour;
        }
        for _ in 0..FRAMES_PER_PHASE {
            let result = vulkan.present_frame(&swapchain, &frame, colour)?;
            presented += 1;
            if result != vk::Result::SUCCESS {
                return Err(format!(
                    "a swapchain matching the {}x{} window reported {}",
                    swapchain.extent.width,
                    swapchain.extent.height,
                    result_name(result)
                ));
            }
        }
        expect_window(&reader, &window, size, colour)?;
    }
    // SAFETY: idle once the queue is: the last present's semaphore wait is a queue operation.
    unsafe {
        check("vkDeviceWaitIdle", vulkan.device.device_wait_idle())?;
        vulkan
            .swapchain_fns
            .destroy_swapchain(swapchain.handle, None);
    }
    vulkan.destroy_frame(frame);
    Ok(format!(
        "{}; {presented} frames, each size shown whole by another client, on {}",
        report.join(" -> "),
        vulkan.device_name
    ))
}

fn main() {
    match run() {
        Ok(summary) => println!("resize-check: OK {summary}"),
        Err(reason) => {
            println!("resize-check: FAILED: {reason}");
            std::process::exit(1);
        }
    }
}
