//! A swapchain: its images, which of them the application holds, and the present path to its window.
//!
//! Presenting one image: the application's semaphores are waited by a submission on the present queue
//! that copies the image into host-visible memory; the CPU waits for that submission's fence, hands
//! the pixels to the window system, and the image is free again before vkQueuePresentKHR returns.

use super::formats::PixelOrder;
use super::icd_surface::Surface;
use super::image_slots::{AcquireError, ImageSlots};
use super::readback::Readback;
use super::stats::FrameStats;
use super::surface_query::{MAX_IMAGE_COUNT, MIN_IMAGE_COUNT};
use super::swapchain_images::SwapchainImages;
use super::window::{self, Frame, PresentPath, WindowTarget};
use super::WsiDevice;
use crate::log::Level;
use crate::venus_log;
use ash::vk;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest a present waits for its copy before calling the device lost.
const COPY_WAIT: Duration = Duration::from_secs(20);

/// Everything a present changes, behind one lock.
struct PresentState {
    readback: Readback,
    target: Box<dyn WindowTarget>,
    /// Signalled by each present's copy submission; waited and reset by the same present.
    copy_fence: vk::Fence,
    mode: vk::PresentModeKHR,
    stats: FrameStats,
}

pub struct Swapchain {
    wsi: Arc<WsiDevice>,
    images: SwapchainImages,
    extent: vk::Extent2D,
    order: PixelOrder,
    slots: ImageSlots,
    present: Mutex<PresentState>,
    /// Replaced by a newer swapchain (oldSwapchain): no more acquires.
    retired: AtomicBool,
    /// A present found the window's size changed: no more acquires.
    out_of_date: AtomicBool,
}

/// One image of one swapchain in a vkQueuePresentKHR.
pub struct PresentRequest<'a> {
    pub swapchain: &'a Swapchain,
    pub image_index: u32,
    /// VK_EXT_swapchain_maintenance1: signalled once this present no longer uses anything.
    pub present_fence: vk::Fence,
    /// VK_EXT_swapchain_maintenance1: the present mode from now on.
    pub present_mode: Option<vk::PresentModeKHR>,
}

impl Swapchain {
    /// `vkCreateSwapchainKHR`. `old` is the application's `oldSwapchain`, which is retired.
    ///
    /// # Safety
    /// `info` must be a valid `VkSwapchainCreateInfoKHR` (valid pNext chain) whose surface is a loader
    /// surface with a live window and connection that outlive the swapchain.
    pub unsafe fn create(
        wsi: Arc<WsiDevice>,
        info: &vk::SwapchainCreateInfoKHR<'_>,
        old: Option<&Swapchain>,
    ) -> Result<Swapchain, vk::Result> {
        if let Some(old) = old {
            old.retired.store(true, Ordering::Release);
        }
        // SAFETY: per the caller.
        let surface = unsafe { Surface::from_handle(info.surface) }
            .ok_or(vk::Result::ERROR_SURFACE_LOST_KHR)?;
        let order =
            PixelOrder::of(info.image_format).ok_or(vk::Result::ERROR_FORMAT_NOT_SUPPORTED)?;
        let extent = info.image_extent;
        if extent.width == 0 || extent.height == 0 || info.image_array_layers != 1 {
            return Err(vk::Result::ERROR_INITIALIZATION_FAILED);
        }
        let count = info.min_image_count.clamp(MIN_IMAGE_COUNT, MAX_IMAGE_COUNT);
        // SAFETY: per the caller.
        let mut images = unsafe { SwapchainImages::new(&wsi, info, count) }?;
        let made = Self::make_present_state(&wsi, &surface, &images.images, info);
        let present = match made {
            Ok(present) => present,
            Err(error) => {
                images.destroy(&wsi.device);
                return Err(error);
            }
        };
        Ok(Swapchain {
            wsi,
            images,
            extent,
            order,
            slots: ImageSlots::new(count),
            present: Mutex::new(present),
            retired: AtomicBool::new(false),
            out_of_date: AtomicBool::new(false),
        })
    }

    fn make_present_state(
        wsi: &WsiDevice,
        surface: &Surface,
        images: &[vk::Image],
        info: &vk::SwapchainCreateInfoKHR<'_>,
    ) -> Result<PresentState, vk::Result> {
        let device = &wsi.device;
        let mut readback = Readback::new(wsi, images, info.image_extent)?;
        // SAFETY: the surface's window and connection outlive the swapchain, per `create`'s caller.
        let target = match unsafe { window::connect(surface, info.image_extent) } {
            Ok(target) => target,
            Err(error) => {
                readback.destroy(device);
                return Err(error);
            }
        };
        // SAFETY: a live device.
        let copy_fence = match unsafe { device.create_fence(&vk::FenceCreateInfo::default(), None) }
        {
            Ok(fence) => fence,
            Err(error) => {
                readback.destroy(device);
                return Err(error);
            }
        };
        let label = format!(
            "{}x{} {:?} {:?} {} images on {}",
            info.image_extent.width,
            info.image_extent.height,
            info.image_format,
            info.present_mode,
            images.len(),
            surface.platform_name()
        );
        Ok(PresentState {
            readback,
            stats: FrameStats::new(label, target.path()),
            target,
            copy_fence,
            mode: info.present_mode,
        })
    }

    /// `vkGetSwapchainImagesKHR`.
    pub fn images(&self) -> &[vk::Image] {
        &self.images.images
    }

    pub fn extent(&self) -> vk::Extent2D {
        self.extent
    }

    /// How presents reach the window.
    pub fn present_path(&self) -> PresentPath {
        self.lock_present().target.path()
    }

    /// Frames presented so far.
    pub fn frames_presented(&self) -> u64 {
        self.lock_present().stats.frames()
    }

    /// `vkAcquireNextImageKHR`: Ok((index, SUCCESS)); Err(NOT_READY or TIMEOUT) when no image is free
    /// in time; Err(ERROR_OUT_OF_DATE_KHR) once retired or resized. `semaphore` and `fence` (either may be
    /// null) are signalled by an empty submission through the device's [`super::QueueAccess`].
    pub fn acquire(
        &self,
        timeout_ns: u64,
        semaphore: vk::Semaphore,
        fence: vk::Fence,
    ) -> Result<(u32, vk::Result), vk::Result> {
        if self.retired.load(Ordering::Acquire) || self.out_of_date.load(Ordering::Acquire) {
            return Err(vk::Result::ERROR_OUT_OF_DATE_KHR);
        }
        let index = self
            .slots
            .acquire(timeout_ns)
            .map_err(|error| match error {
                AcquireError::NotReady => vk::Result::NOT_READY,
                AcquireError::Timeout => vk::Result::TIMEOUT,
            })?;
        if semaphore != vk::Semaphore::null() || fence != vk::Fence::null() {
            let signal = [semaphore];
            let signals: &[vk::Semaphore] = if semaphore == vk::Semaphore::null() {
                &[]
            } else {
                &signal
            };
            let submit = vk::SubmitInfo::default().signal_semaphores(signals);
            let device = &self.wsi.device;
            let submitted = self.wsi.acquire_queue.with_queue(&mut |queue| {
                // SAFETY: the queue is ours alone meanwhile; the application's semaphore is unsignalled and
                // its fence unsignalled, as vkAcquireNextImageKHR requires of it.
                unsafe { device.queue_submit(queue, std::slice::from_ref(&submit), fence) }
            });
            if let Err(error) = submitted {
                self.slots.give_back(index);
                return Err(error);
            }
        }
        Ok((index, vk::Result::SUCCESS))
    }

    /// `vkReleaseSwapchainImagesEXT`: gives acquired, unpresented images back.
    pub fn release(&self, indices: &[u32]) -> Result<(), vk::Result> {
        for index in indices {
            if !self.slots.give_back(*index) {
                venus_log!(
                    Level::Error,
                    "wsi: release of image {index}, which is not acquired"
                );
                return Err(vk::Result::ERROR_UNKNOWN);
            }
        }
        Ok(())
    }

    /// Presents one acquired image: waits `wait_semaphores` and copies on `queue` (of queue family
    /// `queue_family`), waits for the copy, shows the pixels. The image is free again afterwards,
    /// whatever the result.
    pub(super) fn present_one(
        &self,
        queue: vk::Queue,
        queue_family: u32,
        request: &PresentRequest<'_>,
        wait_semaphores: &[vk::Semaphore],
    ) -> vk::Result {
        let index = request.image_index;
        if !self.slots.is_held(index) {
            venus_log!(
                Level::Error,
                "wsi: present of image {index}, which is not acquired"
            );
            return vk::Result::ERROR_UNKNOWN;
        }
        let result = self.copy_and_show(queue, queue_family, request, wait_semaphores);
        self.slots.give_back(index);
        if result == vk::Result::ERROR_OUT_OF_DATE_KHR {
            self.out_of_date.store(true, Ordering::Release);
        }
        result
    }

    fn copy_and_show(
        &self,
        queue: vk::Queue,
        queue_family: u32,
        request: &PresentRequest<'_>,
        wait_semaphores: &[vk::Semaphore],
    ) -> vk::Result {
        let device = &self.wsi.device;
        let mut state = self.lock_present();
        if let Some(mode) = request.present_mode {
            state.mode = mode;
        }
        let index = request.image_index as usize;
        let state = &mut *state;
        let command_buffers = if state.target.wants_pixels() {
            match state.readback.command_buffer(device, queue_family, index) {
                Ok(command_buffer) => vec![command_buffer],
                Err(error) => return error,
            }
        } else {
            Vec::new()
        };
        let stage = if command_buffers.is_empty() {
            vk::PipelineStageFlags::ALL_COMMANDS
        } else {
            vk::PipelineStageFlags::TRANSFER
        };
        let stages = vec![stage; wait_semaphores.len()];
        let submit = vk::SubmitInfo::default()
            .wait_semaphores(wait_semaphores)
            .wait_dst_stage_mask(&stages)
            .command_buffers(&command_buffers);
        // SAFETY: the application holds the queue for vkQueuePresentKHR; the command buffer is not pending
        // (every present waits for its copy) and the fence is unsignalled (reset after each wait).
        let waited = unsafe {
            device
                .queue_submit(queue, std::slice::from_ref(&submit), state.copy_fence)
                .and_then(|()| {
                    device.wait_for_fences(&[state.copy_fence], true, COPY_WAIT.as_nanos() as u64)
                })
        };
        match waited {
            Ok(()) => {}
            Err(vk::Result::TIMEOUT) => {
                venus_log!(
                    Level::Error,
                    "wsi: the copy of a presented image did not finish within {} s",
                    COPY_WAIT.as_secs()
                );
                return vk::Result::ERROR_DEVICE_LOST;
            }
            Err(error) => return error,
        }
        // SAFETY: the fence has signalled and nothing else waits for it.
        if let Err(error) = unsafe { device.reset_fences(&[state.copy_fence]) } {
            return error;
        }
        let pixels: &[u8] = if command_buffers.is_empty() {
            &[]
        } else {
            match state.readback.pixels(device, index) {
                Ok(pixels) => pixels,
                Err(error) => return error,
            }
        };
        let frame = Frame {
            pixels,
            extent: self.extent,
            order: self.order,
            mode: state.mode,
        };
        let shown = state.target.show(&frame);
        // An out-of-date frame was still handed to the window (X11 clips it); a lost surface's was not.
        if matches!(shown, Ok(_) | Err(vk::Result::ERROR_OUT_OF_DATE_KHR)) {
            state.stats.count_frame();
        }
        if request.present_fence != vk::Fence::null() {
            // The present fence follows the copy in queue order, and the copy is complete already.
            // SAFETY: as for the copy's submission; the application's fence is unsignalled.
            let signalled = unsafe {
                device.queue_submit(queue, &[vk::SubmitInfo::default()], request.present_fence)
            };
            if let Err(error) = signalled {
                return error;
            }
        }
        match shown {
            Ok(result) | Err(result) => result,
        }
    }

    fn lock_present(&self) -> std::sync::MutexGuard<'_, PresentState> {
        // Every field stays valid across a panic in another present; carry on.
        self.present
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for Swapchain {
    /// `vkDestroySwapchainKHR`.
    fn drop(&mut self) {
        let device = &self.wsi.device;
        let state = self
            .present
            .get_mut()
            .unwrap_or_else(|poison| poison.into_inner());
        state.readback.destroy(device);
        // SAFETY: no submission of ours is pending (each present waited for its fence).
        unsafe { device.destroy_fence(state.copy_fence, None) };
        self.images.destroy(device);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swapchain_may_be_used_from_any_thread() {
        // Acquire and present may come from different application threads.
        fn shared<T: Send + Sync>() {}
        shared::<Swapchain>();
    }
}
