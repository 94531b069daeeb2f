//! The in-process harness of the executor fuzz targets (`host/fuzz`, feature `fuzzing`): a
//! whole context — decoder, object tables, handle translation, generated dispatch — on the
//! host's real Vulkan driver, with a device, a queue and a few blobs made once, serving one
//! input after the other.
//!
//! Between inputs the context is reset (rings stopped, the input's resources and objects
//! released, the FATAL state cleared) and its queue must drain; a device that does not
//! (the input left work that can never finish) is replaced with a fresh context, so no input
//! sees another's stuck device. What the executor must survive is in the input alone.

use std::sync::Arc;
use std::time::Duration;

use venus_rs_encoder::arbitrary::{self, Gen};
use venus_rs_encoder::host::types::{
    ApplicationInfo, CommandStreamDescriptionMESA, DeviceCreateInfo, DeviceQueueCreateInfo,
    DeviceQueueInfo2, DeviceQueueTimelineInfoMESA, Ext, InstanceCreateInfo,
    PhysicalDeviceTimelineSemaphoreFeatures,
};
use venus_rs_encoder::host::{
    Command, CreateDeviceArgs, CreateInstanceArgs, EnumeratePhysicalDevicesArgs,
    GetDeviceQueue2Args, SeekReplyCommandStreamMESAArgs, SetReplyCommandStreamMESAArgs,
};
use venus_rs_encoder::protocol::{COMMANDS, GENERATE_REPLY};
use venus_rs_encoder::wire::Writer;

use crate::context::{ContextOptions, GuestContext};
use crate::limits::{Cap, Limits};
use crate::vulkan::{DecoderOptions, VulkanContext, VulkanDecoder};

/// The ids of what every input finds made: an instance, its physical device, a device with
/// one queue (family 0, timeline 1).
pub const INSTANCE: u64 = 1;
pub const PHYSICAL_DEVICE: u64 = 2;
pub const DEVICE: u64 = 3;
pub const QUEUE: u64 = 4;
const BASELINE_OBJECTS: [u64; 4] = [INSTANCE, PHYSICAL_DEVICE, DEVICE, QUEUE];

/// Shared-memory blobs every input finds, ids 1..=8 (Mesa's recordings name ids in that
/// range for their rings, replies and streams); blob 1 is the reply window of generated
/// inputs.
pub const BLOB_COUNT: u32 = 8;
pub const BLOB_BYTES: u64 = 1 << 20;
pub const REPLY_BLOB: u32 = 1;
const BASELINE_BLOBS: [u32; BLOB_COUNT as usize] = [1, 2, 3, 4, 5, 6, 7, 8];

/// Handles of generated commands are drawn from 1..=HANDLES: the baseline objects and room
/// for the objects an input makes under ids it picks from the same range.
pub const HANDLES: u64 = 24;
/// Commands in one generated input at most.
const MAX_COMMANDS: usize = 24;

/// How long the queue may take to drain after an input.
const DRAIN_LIMIT: Duration = Duration::from_millis(500);

/// Caps small enough that no input can make the harness itself slow or large.
pub fn fuzz_limits() -> Limits {
    Limits::default()
        .with(Cap::Objects, 4096)
        .with(Cap::DeviceMemoryBytes, 256 << 20)
        .with(Cap::Blobs, 64)
        .with(Cap::BlobBytes, 256 << 20)
        .with(Cap::Rings, 8)
        .with(Cap::Instances, 4)
        .with(Cap::Devices, 4)
        .with(Cap::ReplyBytes, 4 << 20)
        .with(Cap::StreamBytes, 4 << 20)
        .with(Cap::ChainLength, 64)
        .with(Cap::ArrayLength, 1 << 16)
        .with(Cap::DecodeMemory, 32 << 20)
        .with(Cap::IdleWaitMs, 100)
}

fn encode(command: &Command<'_>, flags: u32, out: &mut Vec<u8>) {
    let mut counter = Writer::counting();
    command.encode(&mut counter, flags);
    let start = out.len();
    out.resize(start + counter.position(), 0);
    let mut writer = Writer::new(&mut out[start..]);
    command.encode(&mut writer, flags);
}

fn set_reply(out: &mut Vec<u8>) {
    encode(
        &Command::SetReplyCommandStreamMESA(SetReplyCommandStreamMESAArgs {
            p_stream: Some(Box::new(CommandStreamDescriptionMESA {
                resource_id: REPLY_BLOB,
                offset: 0,
                size: BLOB_BYTES,
            })),
        }),
        0,
        out,
    );
}

/// The commands that make the baseline objects.
fn prologue() -> Vec<u8> {
    let mut out = Vec::new();
    set_reply(&mut out);
    let instance = InstanceCreateInfo {
        p_application_info: Some(Box::new(ApplicationInfo {
            api_version: 1 << 22 | 2 << 12,
            ..ApplicationInfo::default()
        })),
        ..InstanceCreateInfo::default()
    };
    let commands = [
        Command::CreateInstance(CreateInstanceArgs {
            p_create_info: Some(Box::new(instance)),
            p_instance: Some(INSTANCE),
            ret: 0,
        }),
        Command::EnumeratePhysicalDevices(EnumeratePhysicalDevicesArgs {
            instance: INSTANCE,
            p_physical_device_count: Some(1),
            p_physical_devices: Some(vec![PHYSICAL_DEVICE]),
            ret: 0,
        }),
        Command::CreateDevice(CreateDeviceArgs {
            physical_device: PHYSICAL_DEVICE,
            p_create_info: Some(Box::new(DeviceCreateInfo {
                p_next: vec![Ext::PhysicalDeviceTimelineSemaphoreFeatures(Box::new(
                    PhysicalDeviceTimelineSemaphoreFeatures {
                        p_next: Vec::new(),
                        timeline_semaphore: 1,
                    },
                ))],
                queue_create_info_count: 1,
                p_queue_create_infos: Some(vec![DeviceQueueCreateInfo {
                    queue_family_index: 0,
                    queue_count: 1,
                    p_queue_priorities: Some(vec![1.0]),
                    ..DeviceQueueCreateInfo::default()
                }]),
                ..DeviceCreateInfo::default()
            })),
            p_device: Some(DEVICE),
            ret: 0,
        }),
        Command::GetDeviceQueue2(GetDeviceQueue2Args {
            device: DEVICE,
            p_queue_info: Some(Box::new(DeviceQueueInfo2 {
                p_next: vec![Ext::DeviceQueueTimelineInfoMESA(Box::new(
                    DeviceQueueTimelineInfoMESA {
                        p_next: Vec::new(),
                        ring_idx: 1,
                    },
                ))],
                flags: 0,
                queue_family_index: 0,
                queue_index: 0,
            })),
            p_queue: Some(QUEUE),
        }),
    ];
    for command in &commands {
        encode(command, GENERATE_REPLY, &mut out);
        seek_reply(&mut out);
    }
    out
}

fn seek_reply(out: &mut Vec<u8>) {
    encode(
        &Command::SeekReplyCommandStreamMESA(SeekReplyCommandStreamMESAArgs { position: 0 }),
        0,
        out,
    );
}

/// A stream of up to [`MAX_COMMANDS`] commands built from `bytes`: each a command type the
/// input picks among all the protocol's, with every count, presence, handle (in
/// 1..=[`HANDLES`]) and value the input's, replies asked for as the input says.
pub fn generated_stream(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    set_reply(&mut out);
    for (command, flags) in generated_commands(bytes) {
        encode(&command, flags, &mut out);
        seek_reply(&mut out);
    }
    out
}

/// The commands (with their flags) [`generated_stream`] builds from `bytes`, for reading a
/// crashing input back (`cargo run -p venus-rs-host --features fuzzing --example
/// fuzz-input -- FILE`).
pub fn generated_commands(bytes: &[u8]) -> Vec<(Command<'static>, u32)> {
    let mut g = Gen::from_bytes(bytes, HANDLES);
    let mut commands = Vec::new();
    for _ in 0..MAX_COMMANDS {
        if g.exhausted() {
            break;
        }
        let info = &COMMANDS[g.choose(COMMANDS.len() as u64) as usize];
        let flags = g.choose(2) as u32 * GENERATE_REPLY;
        if let Some(command) = arbitrary::command(info.command_type, &mut g) {
            commands.push((command, flags));
        }
    }
    commands
}

/// One context on the driver, made with the baseline.
struct Session {
    vulkan: Arc<VulkanContext>,
    context: GuestContext,
    /// Who the baseline objects are, to tell them from others an input made under their ids.
    baseline: Vec<usize>,
}

impl Session {
    fn new(decoder: &VulkanDecoder, context_id: u32) -> Result<Session, String> {
        let vulkan = decoder.context(context_id);
        let options = ContextOptions {
            seqno_wait_timeout: Duration::from_millis(50),
            ring_stop_timeout: Duration::from_secs(2),
            idle_recheck: Duration::from_millis(50),
            limits: fuzz_limits(),
        };
        let mut context = GuestContext::new(
            context_id,
            Arc::clone(&vulkan) as _,
            Box::new(|_, _| {}),
            options,
        );
        for res_id in BASELINE_BLOBS {
            context
                .create_shm_resource(res_id, BLOB_BYTES)
                .map_err(|e| e.to_string())?;
        }
        context
            .submit_cmd(&prologue())
            .map_err(|e| format!("the prologue failed: {e}"))?;
        let baseline = vulkan.identities(&BASELINE_OBJECTS);
        Ok(Session {
            vulkan,
            context,
            baseline,
        })
    }
}

/// Runs inputs through one context at a time.
pub struct FuzzHarness {
    decoder: VulkanDecoder,
    session: Session,
    next_context_id: u32,
    /// Inputs that left a device whose work never drained (and so got a fresh one).
    pub replaced_devices: u64,
}

impl FuzzHarness {
    /// Loads the driver and makes the baseline; panics if the host has no working driver
    /// (a fuzz target without one tests nothing).
    pub fn new() -> FuzzHarness {
        let decoder = VulkanDecoder::new(DecoderOptions {
            limits: fuzz_limits(),
            ..DecoderOptions::default()
        });
        let session = Session::new(&decoder, 1)
            .unwrap_or_else(|e| panic!("no Vulkan driver to fuzz against (VK_DRIVER_FILES?): {e}"));
        FuzzHarness {
            decoder,
            session,
            next_context_id: 2,
            replaced_devices: 0,
        }
    }

    /// Runs `stream` on the context path, then resets for the next input; true if the
    /// context survived the stream (FATAL is an expected outcome, never a failure).
    pub fn run(&mut self, stream: &[u8]) -> bool {
        let survived = self.session.context.submit_cmd(stream).is_ok();
        self.reset();
        survived
    }

    fn reset(&mut self) {
        let session = &mut self.session;
        session.context.reset_for_fuzzing(&BASELINE_BLOBS);
        session.vulkan.retain_objects(&BASELINE_OBJECTS);
        // Every input starts from the same objects: one that destroyed or replaced any of
        // them gets a fresh session, as does one whose work never drains.
        let intact = session.vulkan.identities(&BASELINE_OBJECTS) == session.baseline;
        if intact && session.vulkan.queue_drains(QUEUE, DRAIN_LIMIT) {
            return;
        }
        if intact {
            self.replaced_devices += 1;
        }
        let context_id = self.next_context_id;
        self.next_context_id += 1;
        // The stuck device is left behind (the executor leaks what it cannot destroy).
        self.session = Session::new(&self.decoder, context_id).expect("a fresh session");
    }
}

impl Default for FuzzHarness {
    fn default() -> Self {
        Self::new()
    }
}

/// The commands of a `VENUS_RS_RECORD` recording as one stream: the context path's and the
/// rings' in the order they ran (indirect streams run from blobs, which hold other bytes
/// here), for seeding the raw-bytes target.
pub fn recorded_commands(recording: &[u8]) -> Result<Vec<u8>, String> {
    Ok(crate::recording::read_records(recording)?
        .into_iter()
        .filter(|record| matches!(record.source, crate::recording::Source::Path(_)))
        .flat_map(|record| record.bytes)
        .collect())
}
