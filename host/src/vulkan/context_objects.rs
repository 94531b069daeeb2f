//! What every dispatch path of one guest context shares: the Vulkan loader, the decoder's
//! settings, the stream recorder and the object table.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use venus_rs_encoder::wire;

use super::objects::ObjectTable;
use super::profile::HostProfile;
use crate::executor::ContextFatal;
use crate::limits::{Cap, Limits, Usage};
use crate::recording::Recorder;

/// Settings from the environment.
#[derive(Debug, Clone, Default)]
pub struct DecoderOptions {
    /// `VENUS_RS_VALIDATE=1`: enable the Khronos validation layer in every host instance.
    pub validate: bool,
    /// `VENUS_RS_HOST_PROFILE`: what the guest sees of the driver.
    pub profile: HostProfile,
    /// The per-context caps (`VENUS_RS_MAX_*`).
    pub limits: Limits,
}

impl DecoderOptions {
    /// The settings the environment gives; an unknown profile or a malformed cap is an error.
    pub fn from_env() -> Result<Self, String> {
        Ok(Self {
            validate: std::env::var("VENUS_RS_VALIDATE").is_ok_and(|v| v == "1"),
            profile: HostProfile::from_env()?,
            limits: Limits::from_env()?,
        })
    }
}

/// What a context holds of the caps the executor enforces.
pub(crate) struct ExecutorUsage {
    pub(crate) objects: Arc<Usage>,
    pub(crate) device_memory: Arc<Usage>,
    pub(crate) instances: Arc<Usage>,
    pub(crate) devices: Arc<Usage>,
}

impl ExecutorUsage {
    fn new(context_id: u32, limits: &Limits) -> Self {
        Self {
            objects: Usage::new(context_id, Cap::Objects, limits),
            device_memory: Usage::new(context_id, Cap::DeviceMemoryBytes, limits),
            instances: Usage::new(context_id, Cap::Instances, limits),
            devices: Usage::new(context_id, Cap::Devices, limits),
        }
    }
}

/// The decoder's limits for one command, from the caps.
pub(crate) fn decoder_limits(limits: &Limits) -> wire::Limits {
    let size = |cap| usize::try_from(limits.get(cap)).unwrap_or(usize::MAX);
    wire::Limits {
        temp_memory: size(Cap::DecodeMemory),
        max_array_len: size(Cap::ArrayLength),
        max_chain: size(Cap::ChainLength),
    }
}

pub(crate) struct ContextObjects {
    pub(crate) context_id: u32,
    entry: Result<Arc<ash::Entry>, String>,
    pub(crate) options: DecoderOptions,
    pub(crate) recorder: Option<Recorder>,
    pub(crate) usage: ExecutorUsage,
    objects: Mutex<ObjectTable>,
}

impl ContextObjects {
    pub(crate) fn new(
        context_id: u32,
        entry: Result<Arc<ash::Entry>, String>,
        options: DecoderOptions,
        recorder: Option<Recorder>,
    ) -> Self {
        let usage = ExecutorUsage::new(context_id, &options.limits);
        let objects = Mutex::new(ObjectTable::new(Arc::clone(&usage.objects)));
        Self {
            context_id,
            entry,
            options,
            recorder,
            usage,
            objects,
        }
    }

    pub(crate) fn entry(&self) -> Result<&ash::Entry, ContextFatal> {
        self.entry
            .as_deref()
            .map_err(|e| ContextFatal::new(e.clone()))
    }

    pub(crate) fn objects(&self) -> MutexGuard<'_, ObjectTable> {
        // The table stays consistent across a panic (which already made the context FATAL).
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ContextObjects {
    fn drop(&mut self) {
        let count = self.objects().clear();
        // The driver objects went with their last references (children before parents).
        crate::log!(
            "context {}: {count} host Vulkan objects released",
            self.context_id
        );
    }
}
