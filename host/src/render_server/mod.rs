//! A drop-in for virglrenderer's render server (`virgl_render_server`): QEMU's
//! libvirglrenderer starts it through `RENDER_SERVER_EXEC_PATH` with `--socket-fd N` and
//! forwards each guest context's Venus stream to it.
//!
//! The Venus capset the guest sees is produced inside libvirglrenderer in the VMM, not
//! here, so the decoder must accept the protocol level of that library.

pub mod protocol;
pub mod server;
pub mod worker;

pub use server::RenderServer;
pub use worker::{run_worker, WorkerArgs};
