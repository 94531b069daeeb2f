//! Host decoder on arbitrary bytes: decode every command of the stream; whatever decodes must
//! re-encode its reply without panicking. Errors are expected; panics, overflows and
//! unbounded allocations are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venus_rs_encoder::host::decode_command;
use venus_rs_encoder::wire::{Decoder, Limits, Writer};

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::new(data, Limits {
            temp_memory: 16 << 20,
            ..Limits::default()
        });
    let mut reply = [0u8; 4096];
    while !d.is_empty() {
        match decode_command(&mut d) {
            Ok((_, command)) => {
                let mut w = Writer::new(&mut reply);
                command.encode_reply(&mut w);
                let mut again = Writer::counting();
                command.encode(&mut again, 0);
            }
            Err(_) => break,
        }
    }
});
