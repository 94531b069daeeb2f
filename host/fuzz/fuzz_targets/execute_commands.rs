//! The whole executor on structured inputs: each input becomes up to 24 commands of any type
//! of the protocol, built with the generated encoders, with counts, presence, handles (ids
//! 1..=24, among them the instance, physical device, device and queue every input finds),
//! pNext chains and values chosen by the fuzzer; run on a context with a device on the host's
//! driver. A FATAL context or a Vulkan error is an expected outcome; a crash, a panic
//! escaping the executor, a hang or unbounded memory is a bug.
#![no_main]

use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use venus_rs_host::fuzzing::{generated_stream, FuzzHarness};

static HARNESS: Mutex<Option<FuzzHarness>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut harness = HARNESS.lock().unwrap_or_else(|e| e.into_inner());
    let harness = harness.get_or_insert_with(FuzzHarness::new);
    harness.run(&generated_stream(data));
});
