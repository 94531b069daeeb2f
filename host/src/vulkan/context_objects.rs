//! What every dispatch path of one guest context shares: the Vulkan loader, the decoder's
//! settings, the stream recorder and the object table.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::objects::ObjectTable;
use super::profile::HostProfile;
use crate::executor::ContextFatal;
use crate::recording::Recorder;

/// Settings from the environment.
#[derive(Debug, Clone, Default)]
pub struct DecoderOptions {
    /// `VENUS_RS_VALIDATE=1`: enable the Khronos validation layer in every host instance.
    pub validate: bool,
    /// `VENUS_RS_HOST_PROFILE`: what the guest sees of the driver.
    pub profile: HostProfile,
}

impl DecoderOptions {
    /// The settings the environment gives; an unknown profile is an error.
    pub fn from_env() -> Result<Self, String> {
        Ok(Self {
            validate: std::env::var("VENUS_RS_VALIDATE").is_ok_and(|v| v == "1"),
            profile: HostProfile::from_env()?,
        })
    }
}

pub(crate) struct ContextObjects {
    pub(crate) context_id: u32,
    entry: Result<Arc<ash::Entry>, String>,
    pub(crate) options: DecoderOptions,
    pub(crate) recorder: Option<Recorder>,
    objects: Mutex<ObjectTable>,
}

impl ContextObjects {
    pub(crate) fn new(
        context_id: u32,
        entry: Result<Arc<ash::Entry>, String>,
        options: DecoderOptions,
        recorder: Option<Recorder>,
    ) -> Self {
        Self {
            context_id,
            entry,
            options,
            recorder,
            objects: Mutex::new(ObjectTable::default()),
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
