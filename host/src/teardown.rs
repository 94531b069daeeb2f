//! How a process that serves one context ends: once its peer is gone, the context is
//! released (rings stopped, driver objects destroyed) for at most [`TEARDOWN_LIMIT`], then the
//! process exits at once. A driver stuck on a guest's work cannot keep the process alive, and
//! no exit handler runs while driver threads may still be inside the driver.

use std::sync::mpsc;
use std::time::Duration;

/// How long releasing a context may take once its peer is gone.
pub const TEARDOWN_LIMIT: Duration = Duration::from_secs(10);

/// Tells the process that the peer is gone and the release of the context begins.
pub type Disconnected = Box<dyn FnOnce() + Send>;

/// Runs `serve` on a thread of its own and exits the process with the code it returns, or
/// with `timeout_code` once it has spent [`TEARDOWN_LIMIT`] after calling its
/// [`Disconnected`].
pub fn serve_then_exit(
    name: &str,
    timeout_code: i32,
    serve: impl FnOnce(Disconnected) -> i32 + Send + 'static,
) -> ! {
    let (disconnected_tx, disconnected) = mpsc::channel::<()>();
    let (done_tx, done) = mpsc::channel::<i32>();
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let on_disconnect: Disconnected = Box::new(move || {
                let _ = disconnected_tx.send(());
            });
            let code = serve(on_disconnect);
            let _ = done_tx.send(code);
        });
    if let Err(error) = spawned {
        crate::log!("{name}: starting its thread failed: {error}");
        exit_now(1);
    }
    // The peer may stay connected for as long as it likes; only the release is bounded. A
    // serving thread that ends without calling `disconnected` (a panic) ends the wait too.
    let _ = disconnected.recv();
    match done.recv_timeout(TEARDOWN_LIMIT) {
        Ok(code) => exit_now(code),
        Err(mpsc::RecvTimeoutError::Disconnected) => exit_now(1),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            crate::log!(
                "{name}: releasing the context took over {TEARDOWN_LIMIT:?}; exiting without it"
            );
            exit_now(timeout_code)
        }
    }
}

/// Ends the process at once: no exit handlers, no destructors of other threads' state.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}
