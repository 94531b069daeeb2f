//! Streams Mesa's Venus driver sent, recorded with `VENUS_RS_RECORD` (the fixtures and how they
//! were made: `encoder/tests/fixtures/README.md`). Every command must decode with the host
//! decoder and encode back to the bytes Mesa sent, and the command sequence must be the one the
//! fixture's `.commands` file lists.
//!
//! Padding is the one exemption: Mesa does not initialize it (notes §3.1: `vn_cs_encoder_write`
//! copies the value and advances by the padded size), so its bytes are whatever the buffer held.
//! The exempt bytes are found exactly by encoding each command twice, with padding written as
//! 0x00 and as 0xff ([`Writer::with_padding`]): the bytes that differ between the two
//! encodings are the padding (the tail of byte arrays, strings and blobs, and the upper bytes of
//! 8- and 16-bit scalars), and every other byte must equal Mesa's.

use std::ops::Range;

use crate::host::{decode_command, Command, CommandHeader};
use crate::protocol::{command_name, GENERATE_REPLY};
use crate::wire::{Decoder, Limits, Writer};

/// The file format of `host/src/recording.rs`: this magic, then records of `u32 source`
/// (0 context, 1 ring, 2 indirect stream), `u64 ring id`, `u64 length` and the stream.
const MAGIC: &[u8; 8] = b"VNSREC01";
const RECORD_HEADER_LEN: usize = 4 + 8 + 8;

struct Fixture {
    name: &'static str,
    recording: &'static [u8],
    commands: &'static str,
    /// The apiVersion the program asks for in vkCreateInstance.
    api_version: u32,
}

const fn vulkan_version(major: u32, minor: u32, patch: u32) -> u32 {
    (major << 22) | (minor << 12) | patch
}

const VULKANINFO: Fixture = Fixture {
    name: "vulkaninfo",
    recording: include_bytes!("../tests/fixtures/vulkaninfo.rec"),
    commands: include_str!("../tests/fixtures/vulkaninfo.commands"),
    // vulkaninfo asks for the loader's version.
    api_version: vulkan_version(1, 4, 309),
};

const COMPUTE_READBACK: Fixture = Fixture {
    name: "compute-readback",
    recording: include_bytes!("../tests/fixtures/compute-readback.rec"),
    commands: include_str!("../tests/fixtures/compute-readback.commands"),
    api_version: vulkan_version(1, 1, 0),
};

const FIXTURES: [&Fixture; 2] = [&VULKANINFO, &COMPUTE_READBACK];

/// One recorded stream: where it ran and where its bytes lie in the recording.
struct Stream {
    source: &'static str,
    span: Range<usize>,
}

fn streams(recording: &[u8]) -> Result<Vec<Stream>, String> {
    if !recording.starts_with(MAGIC) {
        return Err("not a recording (no VNSREC01 magic)".to_owned());
    }
    let mut streams = Vec::new();
    let mut offset = MAGIC.len();
    while offset < recording.len() {
        let header = recording
            .get(offset..offset + RECORD_HEADER_LEN)
            .ok_or_else(|| format!("record header at byte {offset} is cut short"))?;
        let source = match u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) {
            0 => "context",
            1 => "ring",
            2 => "indirect",
            other => return Err(format!("record at byte {offset}: unknown source {other}")),
        };
        let len = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
        let start = offset + RECORD_HEADER_LEN;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|&end| end <= recording.len())
            .ok_or_else(|| format!("record at byte {offset} is cut short"))?;
        streams.push(Stream {
            source,
            span: start..end,
        });
        offset = end;
    }
    Ok(streams)
}

/// A decoded command and where its bytes lie in the recording.
struct Recorded<'a> {
    stream: usize,
    source: &'static str,
    span: Range<usize>,
    header: CommandHeader,
    command: Command<'a>,
}

impl Recorded<'_> {
    fn name(&self) -> &'static str {
        command_name(self.header.command_type).unwrap_or("?")
    }

    /// The line of the `.commands` files: stream index, source, name, and whether it asks for a
    /// reply.
    fn line(&self) -> String {
        let reply = if self.header.flags & GENERATE_REPLY != 0 {
            " reply"
        } else {
            ""
        };
        format!("{} {} {}{reply}", self.stream, self.source, self.name())
    }

    fn place(&self) -> String {
        format!(
            "stream #{} ({}) byte {} of the recording, {}",
            self.stream,
            self.source,
            self.span.start,
            self.name()
        )
    }
}

/// Decodes every command of every stream; each stream must decode to its last byte.
fn decode_recording(recording: &[u8]) -> Result<Vec<Recorded<'_>>, String> {
    let mut commands = Vec::new();
    for (index, stream) in streams(recording)?.into_iter().enumerate() {
        let mut decoder = Decoder::new(&recording[stream.span.clone()], Limits::default());
        while !decoder.is_empty() {
            let start = stream.span.start + decoder.position();
            let (header, command) = decode_command(&mut decoder).map_err(|e| {
                format!(
                    "stream #{index} ({}) byte {start} of the recording: {e}",
                    stream.source
                )
            })?;
            decoder.reset_temp();
            commands.push(Recorded {
                stream: index,
                source: stream.source,
                span: start..stream.span.start + decoder.position(),
                header,
                command,
            });
        }
    }
    Ok(commands)
}

fn encode(command: &Recorded<'_>, padding: u8) -> Result<Vec<u8>, String> {
    let mut counter = Writer::counting();
    command.command.encode(&mut counter, command.header.flags);
    let mut bytes = vec![0; counter.position()];
    let mut writer = Writer::with_padding(&mut bytes, padding);
    command.command.encode(&mut writer, command.header.flags);
    writer
        .finish(0)
        .map_err(|e| format!("{}: {e}", command.place()))?;
    Ok(bytes)
}

#[derive(Debug, Default)]
struct RoundTrip {
    commands: usize,
    bytes: usize,
    padding: usize,
    /// Padding bytes Mesa left non-zero (the reason padding cannot be compared).
    nonzero_padding: usize,
}

/// Re-encodes every command and compares it with the recorded bytes, padding excepted.
fn re_encode(recording: &[u8], commands: &[Recorded<'_>]) -> Result<RoundTrip, String> {
    let mut totals = RoundTrip::default();
    for command in commands {
        let sent = &recording[command.span.clone()];
        let zero_padded = encode(command, 0x00)?;
        let one_padded = encode(command, 0xff)?;
        if zero_padded.len() != sent.len() {
            return Err(format!(
                "{}: re-encodes to {} bytes, Mesa sent {}",
                command.place(),
                zero_padded.len(),
                sent.len()
            ));
        }
        for (i, &byte) in sent.iter().enumerate() {
            if zero_padded[i] != one_padded[i] {
                totals.padding += 1;
                totals.nonzero_padding += usize::from(byte != 0);
            } else if zero_padded[i] != byte {
                return Err(format!(
                    "{}: byte {i} of the command re-encodes as {:#04x}, Mesa sent {byte:#04x}",
                    command.place(),
                    zero_padded[i]
                ));
            }
        }
        totals.commands += 1;
        totals.bytes += sent.len();
    }
    Ok(totals)
}

fn compare_sequence(commands: &[Recorded<'_>], expected: &str) -> Result<(), String> {
    let found: Vec<String> = commands.iter().map(Recorded::line).collect();
    let expected: Vec<&str> = expected.lines().collect();
    if let Some(i) = (0..found.len().max(expected.len()))
        .find(|&i| found.get(i).map(String::as_str) != expected.get(i).copied())
    {
        return Err(format!(
            "command {i}: decoded {:?}, the .commands file has {:?}",
            found.get(i),
            expected.get(i)
        ));
    }
    Ok(())
}

/// The whole check of one recording against its `.commands` file.
fn check(recording: &[u8], expected: &str) -> Result<RoundTrip, String> {
    let commands = decode_recording(recording)?;
    compare_sequence(&commands, expected)?;
    re_encode(recording, &commands)
}

#[test]
fn mesa_recordings_re_encode_byte_for_byte_except_padding() {
    for fixture in FIXTURES {
        let totals = check(fixture.recording, fixture.commands)
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
        eprintln!("{}: {totals:?}", fixture.name);
        assert_eq!(totals.commands, fixture.commands.lines().count());
        // Application and extension names are strings, so the padding exemption is exercised.
        assert!(totals.padding > 0, "{}: no padding compared", fixture.name);
    }
}

/// Mesa's instance creation (`vn_instance_init_ring`, then the renderer version query, then
/// vkCreateInstance with the reply stream set before each synchronous call) opens every
/// recording, and the teardown closes it.
#[test]
fn mesa_recordings_open_and_close_as_mesa_does() {
    let opening = [
        "0 context vkCreateRingMESA",
        "1 ring vkSetReplyCommandStreamMESA",
        "1 ring vkEnumerateInstanceVersion reply",
        "2 ring vkSetReplyCommandStreamMESA",
        "2 ring vkCreateInstance reply",
    ];
    let closing = [
        "ring vkDestroyDevice",
        "ring vkSetReplyCommandStreamMESA",
        "ring vkDestroyInstance reply",
        "context vkDestroyRingMESA",
    ];
    for fixture in FIXTURES {
        let commands = decode_recording(fixture.recording).expect(fixture.name);
        let lines: Vec<String> = commands.iter().map(Recorded::line).collect();
        assert_eq!(lines[..opening.len()], opening, "{}", fixture.name);
        let last: Vec<&str> = lines[lines.len() - closing.len()..]
            .iter()
            .map(|line| line.split_once(' ').expect("index").1)
            .collect();
        assert_eq!(last, closing, "{}", fixture.name);
        let api_version = commands.iter().find_map(|c| match &c.command {
            Command::CreateInstance(args) => args
                .p_create_info
                .as_ref()?
                .p_application_info
                .as_ref()
                .map(|app| (app.p_application_name, app.api_version)),
            _ => None,
        });
        let (name, version) = api_version.expect("vkCreateInstance has application info");
        assert_eq!(
            name.map(|n| n.to_bytes()),
            Some(fixture.name.as_bytes()),
            "application name"
        );
        assert_eq!(version, fixture.api_version, "{}", fixture.name);
    }
}

/// compute-readback records one dispatch over 256 elements (64 per workgroup, the element
/// count as its push constant) and submits it three times; Mesa adds its fence-feedback command
/// buffer (vkCmdFillBuffer) to each submit, and makes vkDeviceWaitIdle a fourth, fenced submit of
/// a feedback command buffer alone.
#[test]
fn compute_recording_holds_the_dispatch_and_its_submits() {
    let commands = decode_recording(COMPUTE_READBACK.recording).expect("decodes");
    let names: Vec<&str> = commands.iter().map(Recorded::name).collect();
    let recorded = [
        "vkBeginCommandBuffer",
        "vkCmdBindPipeline",
        "vkCmdBindDescriptorSets",
        "vkCmdPushConstants",
        "vkCmdDispatch",
        "vkCmdPipelineBarrier",
        "vkEndCommandBuffer",
    ];
    assert!(
        names.windows(recorded.len()).any(|w| w == recorded),
        "no recorded dispatch in {names:?}"
    );
    let dispatches: Vec<(u64, [u32; 3])> = commands
        .iter()
        .filter_map(|c| match &c.command {
            Command::CmdDispatch(a) => Some((
                a.command_buffer,
                [a.group_count_x, a.group_count_y, a.group_count_z],
            )),
            _ => None,
        })
        .collect();
    let [(dispatch_buffer, groups)] = dispatches[..] else {
        panic!("one vkCmdDispatch expected, found {dispatches:?}");
    };
    assert_eq!(groups, [4, 1, 1]);
    let push_constants: Vec<&[u8]> = commands
        .iter()
        .filter_map(|c| match &c.command {
            Command::CmdPushConstants(a) => a.p_values.as_deref(),
            _ => None,
        })
        .collect();
    assert_eq!(push_constants, [256u32.to_le_bytes().as_slice()]);
    let submitted: Vec<Vec<u64>> = commands
        .iter()
        .filter_map(|c| match &c.command {
            Command::QueueSubmit(a) => Some(
                a.p_submits
                    .iter()
                    .flatten()
                    .flat_map(|s| s.p_command_buffers.iter().flatten().copied())
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    let with_dispatch =
        |buffers: &Vec<u64>| buffers.contains(&dispatch_buffer) && buffers.len() == 2;
    assert!(
        submitted.len() == 4
            && submitted[..3].iter().all(with_dispatch)
            && submitted[3].len() == 1
            && submitted[3][0] != dispatch_buffer,
        "submitted command buffers: {submitted:?}"
    );
}

/// Changed bytes fail the check, except padding, which is exempt byte by byte and no further.
#[test]
fn changed_recording_bytes_fail_the_check() {
    let fixture = &VULKANINFO;
    let commands = decode_recording(fixture.recording).expect("decodes");
    let create_instance = commands
        .iter()
        .find(|c| matches!(c.command, Command::CreateInstance(_)))
        .expect("vkCreateInstance");
    // The command's first padding byte: the one after "vulkaninfo\0" (11 bytes).
    let zero_padded = encode(create_instance, 0x00).expect("encodes");
    let one_padded = encode(create_instance, 0xff).expect("encodes");
    let padding = (0..zero_padded.len())
        .find(|&i| zero_padded[i] != one_padded[i])
        .expect("vkCreateInstance has padding");
    let padding = create_instance.span.start + padding;
    assert_eq!(fixture.recording[padding - 11..padding], *b"vulkaninfo\0");
    let changed = |at: usize, value: u8| {
        let mut bytes = fixture.recording.to_vec();
        assert_ne!(bytes[at], value, "a change");
        bytes[at] = value;
        check(&bytes, fixture.commands)
    };

    assert!(changed(padding, 0xa5).is_ok(), "padding is exempt");
    // The string's NUL, right before the padding.
    let error = changed(padding - 1, b'x').expect_err("a string without its NUL");
    assert!(error.contains("vkCreateInstance"), "{error}");
    // The marker of pCreateInfo (u64 1 after the 8-byte header): any non-zero value decodes as
    // "present", so only the byte-for-byte comparison notices.
    let error = changed(create_instance.span.start + 8, 2).expect_err("a marker of 2");
    assert!(
        error.contains("byte 8 of the command re-encodes as 0x01"),
        "{error}"
    );
    // The command type: vkCreateInstance (0) becomes vkDestroyInstance (1).
    let error = changed(create_instance.span.start, 1).expect_err("another command");
    assert!(error.contains("vkDestroyInstance"), "{error}");
    // A recording without its last byte ends inside its last stream.
    assert!(check(
        &fixture.recording[..fixture.recording.len() - 1],
        fixture.commands
    )
    .is_err());
}
