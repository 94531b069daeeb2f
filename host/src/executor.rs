//! The narrow interface between the transport (rings, the context path, the servers) and the
//! Venus command decoder.
//!
//! The transport hands an executor whole spans of guest bytes; the executor decodes and runs
//! them and calls back into [`ExecutionContext`](crate::context::ExecutionContext) for
//! everything that touches the transport (reply streams, rings, seqno waits, fences).
//! [`crate::vulkan`] implements these traits with the generated decoder and the host's Vulkan
//! driver; [`MissingDecoder`] turns every non-empty stream into a context-FATAL error (for
//! tests of the transport alone).

use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use crate::context::ExecutionContext;

/// An error that stops the guest context it happened in (never the server): the context
/// path refuses further commands and every ring of the context gets the FATAL status bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFatal {
    reason: String,
}

impl ContextFatal {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ContextFatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ContextFatal {}

/// Where a stream came from; some MESA commands are only legal on one of the two paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchPath {
    /// EXECBUFFER / render-server SUBMIT_CMD / vtest SUBMIT_CMD2 bytes.
    Context,
    /// A ring's shared-memory buffer; the id is the guest-chosen ring id.
    Ring { id: u64 },
}

impl fmt::Display for DispatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Context => f.write_str("context path"),
            Self::Ring { id } => write!(f, "ring {id:#x}"),
        }
    }
}

/// Decodes and runs one path's command streams. One executor exists per path (the context
/// path and each ring), so it may keep per-path decoder state such as the reply stream.
pub trait StreamExecutor: Send {
    /// Runs every command in `stream`, which holds whole commands only. As commands finish,
    /// the executor reports how many bytes of `stream` are done through
    /// [`ExecutionContext::report_progress`] so that a ring's head advances command by command.
    fn execute(
        &mut self,
        stream: &[u8],
        ctx: &mut ExecutionContext<'_>,
    ) -> Result<(), ContextFatal>;
}

/// Makes the executors of one guest context; all of them share that context's object tables.
pub trait ContextExecutors: Send + Sync {
    fn executor_for(&self, path: DispatchPath) -> Box<dyn StreamExecutor>;

    /// A blob with blob_id ≠ 0: a descriptor of the shared memory behind the context's
    /// VkDeviceMemory `blob_id`, for a blob of `size` bytes.
    fn export_device_memory(&self, blob_id: u64, size: u64) -> Result<OwnedFd, String> {
        let _ = size;
        Err(format!(
            "blob_id {blob_id} names a VkDeviceMemory, and this executor has no device memory"
        ))
    }
}

/// Makes one [`ContextExecutors`] per guest context a server creates.
pub trait ExecutorProvider: Send + Sync {
    fn for_context(&self, context_id: u32) -> Arc<dyn ContextExecutors>;
}

/// An executor that runs nothing: every stream is a context-FATAL error that says so (tests
/// of the transport use it).
#[derive(Debug, Clone, Copy, Default)]
pub struct MissingDecoder;

struct MissingDecoderExecutor {
    path: DispatchPath,
}

impl StreamExecutor for MissingDecoderExecutor {
    fn execute(
        &mut self,
        stream: &[u8],
        _ctx: &mut ExecutionContext<'_>,
    ) -> Result<(), ContextFatal> {
        let command_type = stream
            .get(..4)
            .map(|bytes| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
        Err(ContextFatal::new(format!(
            "no command decoder in this build: cannot execute the {} bytes submitted on the {} \
             (first command type {})",
            stream.len(),
            self.path,
            command_type.map_or_else(|| "unknown".to_owned(), |t| t.to_string()),
        )))
    }
}

impl ContextExecutors for MissingDecoder {
    fn executor_for(&self, path: DispatchPath) -> Box<dyn StreamExecutor> {
        Box::new(MissingDecoderExecutor { path })
    }
}

impl ExecutorProvider for MissingDecoder {
    fn for_context(&self, _context_id: u32) -> Arc<dyn ContextExecutors> {
        Arc::new(MissingDecoder)
    }
}
