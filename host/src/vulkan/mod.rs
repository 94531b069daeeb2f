//! The Venus command executor: decodes each command of a stream with the generated decoder
//! (`venus_rs_encoder::host`), runs the MESA transport commands through
//! [`ExecutionContext`], and runs every Vulkan command through the generated dispatch
//! (`generated/dispatch.rs`), which calls the driver through generated function tables (the
//! Vulkan loader is loaded at run time).
//!
//! One [`ContextObjects`] per guest context holds its object tables; each dispatch path (the
//! context path and every ring) gets its own [`PathExecutor`] with its own reply stream.
//!
//! Modules: `objects` (the object model and tables), `translate` (what a dispatch works with:
//! id translation, lowering), `generated` (function tables, object types, the dispatch of
//! every command), and one module per hand-written concern — `instance`, `physical_device`,
//! `device`, `queue` (+ `completion`), `memory`, `sync`, `command_buffer`, `descriptor`,
//! `render_pass`, `private_data` — each listed, with why, in `encoder-gen/data/host-dispatch.json`.
//! Every Vulkan command goes through the host profile (`profile`), which may narrow what the
//! guest sees of the driver.

mod availability;
mod command_buffer;
mod completion;
mod context_objects;
mod descriptor;
mod device;
mod generated;
mod instance;
mod memory;
mod objects;
mod physical_device;
mod preload;
mod private_data;
mod profile;
mod queue;
mod render_pass;
mod sync;
mod translate;

use std::os::fd::OwnedFd;
use std::sync::{Arc, OnceLock};

use venus_rs_encoder::host::types::{Ext, RingCreateInfoMESA};
use venus_rs_encoder::host::{decode_command, Command};
use venus_rs_encoder::protocol::{
    command_name, GENERATE_REPLY, PROTOCOL_EXTENSIONS, VK_XML_VERSION,
};
use venus_rs_encoder::wire::{DecodeError, DecodeErrorKind, Decoder, Writer};

use crate::capset::ProtocolLevel;
use crate::context::ExecutionContext;
use crate::executor::{
    ContextExecutors, ContextFatal, DispatchPath, ExecutorProvider, StreamExecutor,
};
use crate::limits::{check_single, Cap, Limits};
use crate::recording::{Recorder, Source};
use crate::reply_stream::ReplyStream;
use crate::ring::RingCreateInfo;

pub use context_objects::DecoderOptions;
use context_objects::{decoder_limits, ContextObjects};
pub use profile::{HostProfile, PROFILE_VARIABLE};
use translate::{required, Dispatch};

/// Extension numbers of the two protocol extensions, whose spec versions the capset carries.
const COMMAND_SERIALIZATION_EXTENSION: u32 = 384;
const VENUS_PROTOCOL_EXTENSION: u32 = 385;

/// The protocol level of the generated decoder: what the capset advertises.
pub fn protocol_level() -> ProtocolLevel {
    let spec_version = |number: u32| {
        PROTOCOL_EXTENSIONS
            .iter()
            .find(|(_, n, _)| *n == number)
            .map_or(1, |(_, _, spec)| *spec)
    };
    ProtocolLevel {
        vk_xml_version: VK_XML_VERSION,
        command_serialization_spec_version: spec_version(COMMAND_SERIALIZATION_EXTENSION),
        venus_protocol_spec_version: spec_version(VENUS_PROTOCOL_EXTENSION),
        extension_numbers: PROTOCOL_EXTENSIONS.iter().map(|(_, n, _)| *n).collect(),
    }
}

/// Makes one [`VulkanContext`] per guest context; loads the Vulkan loader when the first
/// context is made, so that a host without one still serves the transport and each context
/// learns why its Vulkan commands fail.
pub struct VulkanDecoder {
    entry: OnceLock<Result<Arc<ash::Entry>, String>>,
    options: DecoderOptions,
}

impl VulkanDecoder {
    pub fn new(options: DecoderOptions) -> Self {
        Self {
            entry: OnceLock::new(),
            options,
        }
    }

    fn entry(&self) -> Result<Arc<ash::Entry>, String> {
        self.entry
            .get_or_init(|| {
                // SAFETY: loading the system Vulkan loader runs its initialisers; it is the
                // library this program exists to call.
                let entry = unsafe { ash::Entry::load() }.map_err(|e| {
                    format!("loading the Vulkan loader (libvulkan.so.1) failed: {e}")
                })?;
                Ok(Arc::new(entry))
            })
            .clone()
    }
}

impl VulkanDecoder {
    /// The executors of a new context.
    pub fn context(&self, context_id: u32) -> Arc<VulkanContext> {
        Arc::new(VulkanContext {
            shared: Arc::new(ContextObjects::new(
                context_id,
                self.entry(),
                self.options.clone(),
                Recorder::from_env(context_id),
            )),
        })
    }
}

impl ExecutorProvider for VulkanDecoder {
    fn for_context(&self, context_id: u32) -> Arc<dyn ContextExecutors> {
        self.context(context_id)
    }
}

#[cfg(feature = "fuzzing")]
impl VulkanContext {
    /// Forgets every object but those `keep` names (the fuzz targets' reset between inputs).
    pub fn retain_objects(&self, keep: &[u64]) {
        let removed = self.shared.objects().retain_ids(keep);
        // Released outside the table lock: releasing may call the driver.
        drop(removed);
    }

    /// Who each of `ids` is (an address per live entry, 0 for a free id): the fuzz targets
    /// check that an input left the baseline objects themselves, not others under their ids.
    pub fn identities(&self, ids: &[u64]) -> Vec<usize> {
        let objects = self.shared.objects();
        ids.iter().map(|&id| objects.identity(id)).collect()
    }

    /// Whether the work submitted to queue `queue_id` drains within `limit`.
    pub fn queue_drains(&self, queue_id: u64, limit: std::time::Duration) -> bool {
        let Ok(queue) = self
            .shared
            .objects()
            .object(queue_id, generated::object_types::QUEUE)
        else {
            return false;
        };
        queue::wait_queue_idle(queue.device(), &queue, limit) == Ok(0)
    }
}

/// The executors of one guest context.
pub struct VulkanContext {
    shared: Arc<ContextObjects>,
}

impl ContextExecutors for VulkanContext {
    fn executor_for(&self, path: DispatchPath) -> Box<dyn StreamExecutor> {
        Box::new(PathExecutor {
            path,
            shared: Arc::clone(&self.shared),
            reply: ReplyStream::default(),
            in_indirect_stream: false,
        })
    }

    fn export_device_memory(&self, blob_id: u64, size: u64) -> Result<OwnedFd, String> {
        memory::export(&self.shared, blob_id, size)
    }
}

/// Runs the streams of one dispatch path.
pub struct PathExecutor {
    path: DispatchPath,
    shared: Arc<ContextObjects>,
    reply: ReplyStream,
    /// vkExecuteCommandStreamsMESA is running (it may not nest).
    in_indirect_stream: bool,
}

impl StreamExecutor for PathExecutor {
    fn execute(
        &mut self,
        stream: &[u8],
        ctx: &mut ExecutionContext<'_>,
    ) -> Result<(), ContextFatal> {
        self.run_stream(stream, ctx, true)
    }
}

impl PathExecutor {
    fn run_stream(
        &mut self,
        stream: &[u8],
        ctx: &mut ExecutionContext<'_>,
        report_progress: bool,
    ) -> Result<(), ContextFatal> {
        if let Some(recorder) = &self.shared.recorder {
            let source = if self.in_indirect_stream {
                Source::Indirect(self.path)
            } else {
                Source::Path(self.path)
            };
            recorder.record(source, stream);
        }
        let mut decoder = Decoder::new(stream, decoder_limits(&self.shared.options.limits));
        while !decoder.is_empty() {
            decoder.reset_temp();
            let start = decoder.position();
            let (header, mut command) = decode_command(&mut decoder).map_err(|e| {
                ContextFatal::new(format!(
                    "cannot decode the command at byte {start}: {e}{}",
                    cap_named_by(&e, &self.shared.options.limits)
                ))
            })?;
            let name = command_name(header.command_type).unwrap_or("unknown command");
            self.run_command(&mut command, ctx)
                .map_err(|e| ContextFatal::new(format!("{name}: {e}")))?;
            if header.flags & GENERATE_REPLY != 0 {
                self.write_reply(&command)
                    .map_err(|e| ContextFatal::new(format!("{name} reply: {e}")))?;
            }
            if report_progress {
                ctx.report_progress(decoder.position());
            }
        }
        Ok(())
    }

    fn write_reply(&mut self, command: &Command<'_>) -> Result<(), ContextFatal> {
        let mut counter = Writer::counting();
        command.encode_reply(&mut counter);
        // Sized before anything is allocated: a reply the guest's window cannot hold, or past
        // the cap, ends the context without building it.
        let size = counter.position();
        check_single(
            self.shared.context_id,
            Cap::ReplyBytes,
            self.shared.options.limits.get(Cap::ReplyBytes),
            size as u64,
        )
        .map_err(|e| ContextFatal::new(e.to_string()))?;
        self.reply.check_room(size)?;
        let mut bytes = vec![0u8; size];
        let mut writer = Writer::new(&mut bytes);
        command.encode_reply(&mut writer);
        writer
            .finish(0)
            .map_err(|e| ContextFatal::new(format!("encoding failed: {e}")))?;
        self.reply.write(&bytes)
    }

    fn run_command(
        &mut self,
        command: &mut Command<'_>,
        ctx: &mut ExecutionContext<'_>,
    ) -> Result<(), ContextFatal> {
        match command {
            Command::SetReplyCommandStreamMESA(args) => {
                let stream = required(&args.p_stream, "pStream")?;
                let memory = ctx.shm_resource(stream.resource_id)?;
                self.reply.set(&memory, stream.offset, stream.size)
            }
            Command::SeekReplyCommandStreamMESA(args) => self.reply.seek(args.position),
            Command::ExecuteCommandStreamsMESA(args) => self.execute_command_streams(
                args.p_streams.as_deref().unwrap_or_default(),
                args.p_reply_positions.as_deref(),
                ctx,
            ),
            Command::CreateRingMESA(args) => {
                let info = ring_create_info(required(&args.p_create_info, "pCreateInfo")?)?;
                ctx.create_ring(args.ring, &info)
            }
            Command::DestroyRingMESA(args) => ctx.destroy_ring(args.ring),
            Command::NotifyRingMESA(args) => ctx.notify_ring(args.ring),
            Command::WriteRingExtraMESA(args) => {
                ctx.write_ring_extra(args.ring, args.offset, args.value)
            }
            Command::SubmitVirtqueueSeqnoMESA(args) => {
                ctx.submit_virtqueue_seqno(args.ring, args.seqno)
            }
            Command::WaitVirtqueueSeqnoMESA(args) => ctx.wait_virtqueue_seqno(args.seqno),
            Command::WaitRingSeqnoMESA(args) => ctx.wait_ring_seqno(args.ring, args.seqno),
            vulkan => profile::dispatch(
                &mut Dispatch {
                    shared: &self.shared,
                    transport: ctx,
                },
                vulkan,
            ),
        }
    }

    fn execute_command_streams(
        &mut self,
        streams: &[venus_rs_encoder::host::types::CommandStreamDescriptionMESA],
        reply_positions: Option<&[u64]>,
        ctx: &mut ExecutionContext<'_>,
    ) -> Result<(), ContextFatal> {
        if self.in_indirect_stream {
            return Err(ContextFatal::new("command streams may not nest"));
        }
        if streams.is_empty() {
            return Err(ContextFatal::new("streamCount is 0"));
        }
        self.in_indirect_stream = true;
        let result = streams.iter().enumerate().try_for_each(|(index, stream)| {
            let memory = ctx.shm_resource(stream.resource_id)?;
            let window = memory
                .window(stream.offset, stream.size)
                .map_err(|e| ContextFatal::new(format!("stream {index}: {e}")))?;
            // The stream is copied out of guest memory before it runs: only up to the cap.
            check_single(
                self.shared.context_id,
                Cap::StreamBytes,
                self.shared.options.limits.get(Cap::StreamBytes),
                window.size(),
            )
            .map_err(|e| ContextFatal::new(format!("stream {index}: {e}")))?;
            let mut bytes = vec![0u8; window.size() as usize];
            window
                .read_bytes(0, &mut bytes)
                .map_err(|e| ContextFatal::new(format!("stream {index}: {e}")))?;
            if let Some(position) = reply_positions.and_then(|p| p.get(index)) {
                self.reply.seek(*position)?;
            }
            self.run_stream(&bytes, ctx, false)
                .map_err(|e| ContextFatal::new(format!("stream {index}: {e}")))
        });
        self.in_indirect_stream = false;
        result
    }
}

/// Which cap a decode error hit, if it hit one: " (cap NAME = value)".
fn cap_named_by(error: &DecodeError, limits: &Limits) -> String {
    let cap = match error.kind {
        DecodeErrorKind::CountTooLarge(n) if n > limits.get(Cap::ArrayLength) => {
            Some(Cap::ArrayLength)
        }
        DecodeErrorKind::TempMemoryExceeded => Some(Cap::DecodeMemory),
        DecodeErrorKind::ChainTooLong => Some(Cap::ChainLength),
        _ => None,
    };
    cap.map(|cap| format!(" (cap {cap} = {})", limits.get(cap)))
        .unwrap_or_default()
}

fn ring_create_info(info: &RingCreateInfoMESA<'_>) -> Result<RingCreateInfo, ContextFatal> {
    let mut monitor_period_us = None;
    let mut priority = None;
    for ext in &info.p_next {
        match ext {
            Ext::RingMonitorInfoMESA(monitor) => {
                monitor_period_us = Some(monitor.max_reporting_period_microseconds)
            }
            Ext::RingPriorityInfoMESA(p) => priority = Some(p.priority),
            other => {
                use venus_rs_encoder::host::chain::ChainLink;
                return Err(ContextFatal::new(format!(
                    "structure type {} cannot extend VkRingCreateInfoMESA",
                    other.stype()
                )));
            }
        }
    }
    Ok(RingCreateInfo {
        flags: info.flags,
        resource_id: info.resource_id,
        offset: info.offset,
        size: info.size,
        idle_timeout_ns: info.idle_timeout,
        head_offset: info.head_offset,
        tail_offset: info.tail_offset,
        status_offset: info.status_offset,
        buffer_offset: info.buffer_offset,
        buffer_size: info.buffer_size,
        extra_offset: info.extra_offset,
        extra_size: info.extra_size,
        monitor_period_us,
        priority,
    })
}
