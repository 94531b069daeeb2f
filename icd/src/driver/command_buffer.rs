//! Command buffers record into a stream of their own in the guest: vkBeginCommandBuffer, every
//! vkCmd* and vkEndCommandBuffer are encoded there, and nothing reaches the ring until the
//! command buffer is submitted; then the whole recording goes to the host at once (through the
//! ring, or as an indirect stream in shared memory when it is large), as Mesa's Venus does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ash::vk;
use ash::vk::Handle;
use venus_rs_encoder::guest::GuestContext;
use venus_rs_encoder::wire::{EncodeError, Writer};

use crate::driver::device::device;
use crate::driver::generated::calls;
use crate::driver::handles::Dispatchable;
use crate::driver::host::Host;
use crate::driver::runtime::{command_buffer_of, guard_result, guard_void};
use crate::log::Level;
use crate::venus_log;

/// The first capacity of a recording; it doubles as needed.
const INITIAL_STREAM: usize = 4096;

#[derive(Default)]
struct Recording {
    /// Encoded commands in `stream[..used]`; the rest is room to encode into.
    stream: Vec<u8>,
    used: usize,
    /// The host has this recording.
    flushed: bool,
    /// A command that could not be encoded: the recording is invalid.
    error: Option<vk::Result>,
    /// Secondary command buffers this one executes: their streams go to the host first.
    secondaries: Vec<vk::CommandBuffer>,
}

impl Recording {
    fn restart(&mut self) {
        self.used = 0;
        self.flushed = false;
        self.error = None;
        self.secondaries.clear();
    }
}

pub struct CommandBuffer {
    host: Arc<Host>,
    device: vk::Device,
    recording: Mutex<Recording>,
}

pub type CommandBufferHandle = Dispatchable<CommandBuffer>;

impl CommandBuffer {
    /// The device the command buffer's pool belongs to.
    pub(crate) fn device(&self) -> vk::Device {
        self.device
    }

    fn recording(&self) -> MutexGuard<'_, Recording> {
        self.recording
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one command to the stream; `encode` writes it (the generated encoder).
    pub(crate) fn record(
        &self,
        what: &'static str,
        encode: impl Fn(&mut Writer<'_>, &GuestContext<'_>) -> Result<usize, EncodeError>,
    ) {
        let cx = self.host.guest_context();
        let mut recording = self.recording();
        if recording.error.is_some() {
            return;
        }
        loop {
            let used = recording.used;
            let mut writer = Writer::new(&mut recording.stream[used..]);
            match encode(&mut writer, &cx) {
                Ok(written) => {
                    recording.used += written;
                    return;
                }
                Err(EncodeError::BufferTooSmall { needed, .. }) => {
                    let grown = (recording.stream.len() * 2)
                        .max(used + needed)
                        .max(INITIAL_STREAM);
                    recording.stream.resize(grown, 0);
                }
                Err(error) => {
                    venus_log!(Level::Error, "{what}: cannot encode: {error}");
                    recording.error = Some(match error {
                        EncodeError::Unsupported(_) => vk::Result::ERROR_FEATURE_NOT_PRESENT,
                        _ => vk::Result::ERROR_OUT_OF_HOST_MEMORY,
                    });
                    return;
                }
            }
        }
    }

    /// Sends the recording to the host, once: its secondaries first.
    fn flush(&self) -> Result<(), vk::Result> {
        let mut recording = self.recording();
        if let Some(error) = recording.error {
            return Err(error);
        }
        if recording.flushed {
            return Ok(());
        }
        flush_command_buffers(&recording.secondaries)?;
        let stream = &recording.stream[..recording.used];
        self.host.send_stream("command buffer", stream)?;
        recording.flushed = true;
        Ok(())
    }
}

/// Sends the recordings of `handles` the host does not have yet.
pub(crate) fn flush_command_buffers(handles: &[vk::CommandBuffer]) -> Result<(), vk::Result> {
    for &handle in handles {
        command_buffer_of(handle)?.flush()?;
    }
    Ok(())
}

/// The command buffers of each command pool (their handles), which the pool frees with itself.
#[derive(Default)]
pub(crate) struct CommandPools(Mutex<HashMap<u64, Vec<u64>>>);

impl CommandPools {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Vec<u64>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// # Safety
/// `handle` must be a live command buffer made by [`allocate_command_buffers`], which no one
/// uses any more.
unsafe fn release(handle: u64) {
    // SAFETY: per the caller, the box allocate_command_buffers leaked.
    drop(unsafe { Box::from_raw(handle as *mut CommandBufferHandle) });
}

impl Drop for CommandPools {
    fn drop(&mut self) {
        for handle in self.lock().drain().flat_map(|(_, buffers)| buffers) {
            // SAFETY: the device is going, and its command buffers with it.
            unsafe { release(handle) };
        }
    }
}

pub(crate) unsafe extern "system" fn allocate_command_buffers(
    handle: vk::Device,
    p_allocate_info: *const vk::CommandBufferAllocateInfo<'_>,
    p_command_buffers: *mut vk::CommandBuffer,
) -> vk::Result {
    guard_result("vkAllocateCommandBuffers", || {
        // SAFETY: a VkDevice of this ICD and a valid allocate info per valid usage.
        let (device, info) = unsafe { (device(handle), &*p_allocate_info) };
        let host = device.object.host();
        let mut handles = Vec::with_capacity(info.command_buffer_count as usize);
        for index in 0..info.command_buffer_count as usize {
            let buffer = Dispatchable::new(CommandBuffer {
                host: Arc::clone(host),
                device: handle,
                recording: Mutex::new(Recording::default()),
            });
            let raw = Box::into_raw(buffer) as u64;
            handles.push(raw);
            // SAFETY: the output array holds commandBufferCount handles per valid usage.
            unsafe { *p_command_buffers.add(index) = vk::CommandBuffer::from_raw(raw) };
        }
        device
            .object
            .command_pools
            .lock()
            .entry(info.command_pool.as_raw())
            .or_default()
            .extend(&handles);
        // SAFETY: the application's allocate info; the output array holds the new handles,
        // whose ids the host adopts.
        unsafe { calls::send_allocate_command_buffers(host, handle, info, p_command_buffers) }?;
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn free_command_buffers(
    handle: vk::Device,
    command_pool: vk::CommandPool,
    command_buffer_count: u32,
    p_command_buffers: *const vk::CommandBuffer,
) {
    guard_void("vkFreeCommandBuffers", || {
        // SAFETY: a VkDevice of this ICD per valid usage.
        let device = unsafe { device(handle) };
        // SAFETY: the application's handles, which the host frees.
        unsafe {
            calls::send_free_command_buffers(
                device.object.host(),
                handle,
                command_pool,
                command_buffer_count,
                p_command_buffers,
            )
        }?;
        let freed = if command_buffer_count == 0 {
            &[][..]
        } else {
            // SAFETY: the array holds commandBufferCount handles per valid usage.
            unsafe { std::slice::from_raw_parts(p_command_buffers, command_buffer_count as usize) }
        };
        let mut pools = device.object.command_pools.lock();
        let buffers = pools.entry(command_pool.as_raw()).or_default();
        for raw in freed.iter().map(|b| b.as_raw()).filter(|&raw| raw != 0) {
            if let Some(index) = buffers.iter().position(|&b| b == raw) {
                buffers.swap_remove(index);
                // SAFETY: a command buffer of this pool, freed by the application.
                unsafe { release(raw) };
            }
        }
        Ok(())
    })
}

pub(crate) unsafe extern "system" fn destroy_command_pool(
    handle: vk::Device,
    command_pool: vk::CommandPool,
    p_allocator: *const vk::AllocationCallbacks<'_>,
) {
    guard_void("vkDestroyCommandPool", || {
        if command_pool.is_null() {
            return Ok(());
        }
        // SAFETY: a VkDevice of this ICD per valid usage.
        let device = unsafe { device(handle) };
        let buffers = device
            .object
            .command_pools
            .lock()
            .remove(&command_pool.as_raw())
            .unwrap_or_default();
        for raw in buffers {
            // SAFETY: a command buffer of the pool, which goes with it.
            unsafe { release(raw) };
        }
        // SAFETY: the application's pool, which it no longer uses.
        unsafe {
            calls::send_destroy_command_pool(
                device.object.host(),
                handle,
                command_pool,
                p_allocator,
            )
        }
    })
}

pub(crate) unsafe extern "system" fn reset_command_pool(
    handle: vk::Device,
    command_pool: vk::CommandPool,
    flags: vk::CommandPoolResetFlags,
) -> vk::Result {
    guard_result("vkResetCommandPool", || {
        // SAFETY: a VkDevice of this ICD per valid usage.
        let device = unsafe { device(handle) };
        let buffers = device
            .object
            .command_pools
            .lock()
            .get(&command_pool.as_raw())
            .cloned()
            .unwrap_or_default();
        for raw in buffers {
            command_buffer_of(vk::CommandBuffer::from_raw(raw))?
                .recording()
                .restart();
        }
        // SAFETY: the application's pool.
        unsafe {
            calls::send_reset_command_pool(device.object.host(), handle, command_pool, flags)
        }?;
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn begin_command_buffer(
    handle: vk::CommandBuffer,
    p_begin_info: *const vk::CommandBufferBeginInfo<'_>,
) -> vk::Result {
    guard_result("vkBeginCommandBuffer", || {
        let buffer = command_buffer_of(handle)?;
        buffer.recording().restart();
        // SAFETY: the application's begin info, valid per valid usage.
        unsafe { calls::record_begin_command_buffer(buffer, handle, p_begin_info) };
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn end_command_buffer(handle: vk::CommandBuffer) -> vk::Result {
    guard_result("vkEndCommandBuffer", || {
        let buffer = command_buffer_of(handle)?;
        // SAFETY: no pointer arguments.
        unsafe { calls::record_end_command_buffer(buffer, handle) };
        Ok(buffer.recording().error.unwrap_or(vk::Result::SUCCESS))
    })
}

/// The host never saw the recording being dropped, or sees the next one replace it (a
/// recording begins with vkBeginCommandBuffer, which resets on the host).
pub(crate) unsafe extern "system" fn reset_command_buffer(
    handle: vk::CommandBuffer,
    _flags: vk::CommandBufferResetFlags,
) -> vk::Result {
    guard_result("vkResetCommandBuffer", || {
        command_buffer_of(handle)?.recording().restart();
        Ok(vk::Result::SUCCESS)
    })
}

pub(crate) unsafe extern "system" fn cmd_execute_commands(
    handle: vk::CommandBuffer,
    command_buffer_count: u32,
    p_command_buffers: *const vk::CommandBuffer,
) {
    guard_void("vkCmdExecuteCommands", || {
        let buffer = command_buffer_of(handle)?;
        // SAFETY: the application's secondaries, valid per valid usage.
        unsafe {
            calls::record_cmd_execute_commands(
                buffer,
                handle,
                command_buffer_count,
                p_command_buffers,
            )
        };
        if command_buffer_count > 0 {
            // SAFETY: the array holds commandBufferCount handles per valid usage.
            let secondaries = unsafe {
                std::slice::from_raw_parts(p_command_buffers, command_buffer_count as usize)
            };
            buffer
                .recording()
                .secondaries
                .extend_from_slice(secondaries);
        }
        Ok(())
    })
}
