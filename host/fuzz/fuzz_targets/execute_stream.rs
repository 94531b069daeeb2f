//! The whole executor on raw bytes: each input is a command stream run on the context path of
//! a context with a device on the host's driver (lavapipe in the reference chroot), through
//! the decoder, the object tables, handle translation and the generated dispatch. Seeded
//! with Mesa's recorded streams. A FATAL context is an expected outcome; a crash, a panic
//! escaping the executor, a hang or unbounded memory is a bug.
#![no_main]

use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use venus_rs_host::fuzzing::FuzzHarness;

static HARNESS: Mutex<Option<FuzzHarness>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut harness = HARNESS.lock().unwrap_or_else(|e| e.into_inner());
    let harness = harness.get_or_insert_with(FuzzHarness::new);
    // Streams are whole dwords; the executor sees what a transport would hand it.
    let whole = data.len() / 4 * 4;
    harness.run(&data[..whole]);
});
