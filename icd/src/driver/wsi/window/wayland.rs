//! Presenting to a Wayland surface from the CPU: each frame is copied into a wl_shm buffer that the
//! compositor is not using, attached to the application's wl_surface, damaged and committed.
//!
//! Everything runs on the application's `wl_display` through libwayland (loaded at run time) with an
//! event queue of our own, so the application's events are never read or dispatched here. FIFO waits
//! for the compositor's frame callback of the previous present (bounded, so a hidden window does not
//! stall the application forever); MAILBOX and IMMEDIATE never wait for the compositor.

use super::shm_memory::SharedMemory;
use super::{Frame, PresentPath, WindowTarget};
use crate::driver::wsi::formats::{copy_as_bgrx, BYTES_PER_PIXEL};
use crate::log::Level;
use crate::venus_log;
use ash::vk;
use std::ffi::c_void;
use std::time::{Duration, Instant};
use wayland_backend::client::{Backend, ObjectId};
use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_registry, wl_shm, wl_shm_pool, wl_surface,
};
use wayland_client::{Connection, Dispatch, EventQueue, Proxy, QueueHandle};

/// Buffers in flight at most; a compositor holds one or two.
const MAX_BUFFERS: usize = 4;
/// The longest a present waits for the compositor (a release or a frame callback).
const COMPOSITOR_WAIT: Duration = Duration::from_secs(1);

/// Any failure of the connection: the compositor is gone or killed our client.
fn lost<E>(_: E) -> vk::Result {
    vk::Result::ERROR_SURFACE_LOST_KHR
}

pub fn libwayland_is_available() -> bool {
    wayland_sys::client::is_lib_available()
}

struct ShmBuffer {
    buffer: wl_buffer::WlBuffer,
    memory: SharedMemory,
    extent: vk::Extent2D,
}

/// What our event queue's events change.
#[derive(Default)]
struct QueueState {
    shm: Option<wl_shm::WlShm>,
    /// Per buffer index: the compositor still reads it.
    busy: Vec<bool>,
    /// The frame callback of the last FIFO present has fired (or none is pending).
    frame_done: bool,
}

pub struct WaylandTarget {
    connection: Connection,
    queue: EventQueue<QueueState>,
    state: QueueState,
    surface: wl_surface::WlSurface,
    buffers: Vec<ShmBuffer>,
}

// SAFETY: the wl_surface pointer is the application's; libwayland proxies may be used from any thread,
// and every use of this target is serialized by the swapchain's lock.
unsafe impl Send for WaylandTarget {}

impl WaylandTarget {
    /// # Safety
    /// `display` and `surface` must be the application's live `wl_display*` and `wl_surface*` and
    /// outlive the target.
    pub unsafe fn connect(
        display: *mut c_void,
        surface: *mut c_void,
    ) -> Result<WaylandTarget, vk::Result> {
        if display.is_null() || surface.is_null() || !libwayland_is_available() {
            return Err(vk::Result::ERROR_SURFACE_LOST_KHR);
        }
        // SAFETY: a live display that outlives the backend, per the caller; a foreign display is never
        // disconnected by the backend.
        let backend = unsafe { Backend::from_foreign_display(display.cast()) };
        let connection = Connection::from_backend(backend);
        // SAFETY: a live wl_surface proxy of that display, per the caller.
        let surface_id =
            unsafe { ObjectId::from_ptr(wl_surface::WlSurface::interface(), surface.cast()) }
                .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)?;
        let surface = wl_surface::WlSurface::from_id(&connection, surface_id)
            .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)?;
        let mut queue = connection.new_event_queue();
        let handle = queue.handle();
        let mut state = QueueState {
            frame_done: true,
            ..QueueState::default()
        };
        let _registry = connection.display().get_registry(&handle, ());
        queue
            .roundtrip(&mut state)
            .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)?;
        if state.shm.is_none() {
            venus_log!(Level::Error, "wsi: the Wayland compositor offers no wl_shm");
            return Err(vk::Result::ERROR_SURFACE_LOST_KHR);
        }
        Ok(WaylandTarget {
            connection,
            queue,
            state,
            surface,
            buffers: Vec::new(),
        })
    }

    /// Reads and dispatches our queue's events, waiting up to `timeout` for some to arrive.
    fn dispatch(&mut self, timeout: Duration) -> Result<(), vk::Result> {
        self.connection.flush().map_err(lost)?;
        if self.queue.dispatch_pending(&mut self.state).map_err(lost)? > 0 {
            return Ok(());
        }
        if let Some(guard) = self.queue.prepare_read() {
            let fd = guard.connection_fd();
            let mut poll = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            let timeout = rustix::event::Timespec::try_from(timeout).ok();
            let ready = rustix::event::poll(&mut poll, timeout.as_ref()).unwrap_or(0);
            if ready > 0 {
                guard.read().map_err(lost)?;
            }
            // A guard dropped without reading cancels the read.
        }
        self.queue.dispatch_pending(&mut self.state).map_err(lost)?;
        Ok(())
    }

    /// A buffer of `extent` the compositor is done with: a free one, a new one, or one released within
    /// the wait. `None` when the compositor holds them all past the wait (the frame is dropped).
    fn free_buffer(&mut self, extent: vk::Extent2D) -> Result<Option<usize>, vk::Result> {
        // Buffers of an older size are never reused (swapchain extents are fixed, but be safe).
        let deadline = Instant::now() + COMPOSITOR_WAIT;
        loop {
            let free = (0..self.buffers.len())
                .find(|index| !self.state.busy[*index] && self.buffers[*index].extent == extent);
            if let Some(index) = free {
                return Ok(Some(index));
            }
            if self.buffers.len() < MAX_BUFFERS {
                return self.add_buffer(extent).map(Some);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.dispatch(left)?;
        }
    }

    fn add_buffer(&mut self, extent: vk::Extent2D) -> Result<usize, vk::Result> {
        let Some(shm) = self.state.shm.as_ref() else {
            return Err(vk::Result::ERROR_SURFACE_LOST_KHR);
        };
        let stride = extent.width as usize * BYTES_PER_PIXEL;
        let size = stride * extent.height as usize;
        let memory = SharedMemory::new("venus-rs-wl-shm", size)
            .map_err(|_| vk::Result::ERROR_OUT_OF_HOST_MEMORY)?;
        let handle = self.queue.handle();
        let index = self.buffers.len();
        let pool = shm.create_pool(memory.fd(), size as i32, &handle, ());
        let buffer = pool.create_buffer(
            0,
            extent.width as i32,
            extent.height as i32,
            stride as i32,
            wl_shm::Format::Xrgb8888,
            &handle,
            index,
        );
        // The buffer keeps the pool's memory alive in the compositor.
        pool.destroy();
        self.buffers.push(ShmBuffer {
            buffer,
            memory,
            extent,
        });
        self.state.busy.push(false);
        Ok(index)
    }
}

impl WindowTarget for WaylandTarget {
    fn path(&self) -> PresentPath {
        PresentPath::WaylandShm
    }

    fn show(&mut self, frame: &Frame<'_>) -> Result<vk::Result, vk::Result> {
        // Collect releases and frame callbacks that already arrived, without waiting.
        self.dispatch(Duration::ZERO)?;
        let Some(index) = self.free_buffer(frame.extent)? else {
            venus_log!(
                Level::Debug,
                "wsi: the compositor holds every buffer; frame dropped"
            );
            return Ok(vk::Result::SUCCESS);
        };
        let fifo = matches!(
            frame.mode,
            vk::PresentModeKHR::FIFO | vk::PresentModeKHR::FIFO_RELAXED
        );
        if fifo {
            let deadline = Instant::now() + COMPOSITOR_WAIT;
            while !self.state.frame_done {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                self.dispatch(left)?;
            }
        }
        let buffer = &mut self.buffers[index];
        copy_as_bgrx(
            frame.pixels,
            &mut buffer.memory.bytes_mut()[..frame.pixels.len()],
            frame.order,
        );
        let (width, height) = (frame.extent.width as i32, frame.extent.height as i32);
        self.surface.attach(Some(&buffer.buffer), 0, 0);
        if self.surface.version() >= 4 {
            self.surface.damage_buffer(0, 0, width, height);
        } else {
            self.surface.damage(0, 0, width, height);
        }
        if fifo {
            self.state.frame_done = false;
            let _callback = self.surface.frame(&self.queue.handle(), ());
        }
        self.surface.commit();
        self.state.busy[index] = true;
        self.connection
            .flush()
            .map_err(|_| vk::Result::ERROR_SURFACE_LOST_KHR)?;
        Ok(vk::Result::SUCCESS)
    }
}

impl Drop for WaylandTarget {
    fn drop(&mut self) {
        for buffer in self.buffers.drain(..) {
            buffer.buffer.destroy();
        }
        let _ = self.connection.flush();
    }
}

impl Dispatch<wl_registry::WlRegistry, ()> for QueueState {
    fn event(
        state: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        handle: &QueueHandle<Self>,
    ) {
        if let wl_registry::Event::Global {
            name, interface, ..
        } = event
        {
            if interface == wl_shm::WlShm::interface().name && state.shm.is_none() {
                state.shm = Some(registry.bind(name, 1, handle, ()));
            }
        }
    }
}

impl Dispatch<wl_shm::WlShm, ()> for QueueState {
    fn event(
        _: &mut Self,
        _: &wl_shm::WlShm,
        _: wl_shm::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        // Format announcements: XRGB8888, the only format used, is mandatory for every compositor.
    }
}

impl Dispatch<wl_shm_pool::WlShmPool, ()> for QueueState {
    fn event(
        _: &mut Self,
        _: &wl_shm_pool::WlShmPool,
        _: wl_shm_pool::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        // wl_shm_pool has no events.
    }
}

impl Dispatch<wl_buffer::WlBuffer, usize> for QueueState {
    fn event(
        state: &mut Self,
        _: &wl_buffer::WlBuffer,
        event: wl_buffer::Event,
        index: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event {
            if let Some(busy) = state.busy.get_mut(*index) {
                *busy = false;
            }
        }
    }
}

impl Dispatch<wl_callback::WlCallback, ()> for QueueState {
    fn event(
        state: &mut Self,
        _: &wl_callback::WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            state.frame_done = true;
        }
    }
}
