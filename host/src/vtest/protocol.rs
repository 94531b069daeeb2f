//! The vtest wire format (virglrenderer's vtest_protocol.h; venus-protocol.md §7), parsed
//! from untrusted bytes with safe code only.
//!
//! Every message is a two-dword header `[length, command]` and a payload. The length counts
//! payload dwords, except for CREATE_RENDERER where it counts bytes.

use std::fmt;
use std::ops::Range;

use crate::timelines::TIMELINE_COUNT;

/// The command, parameter, blob and flag numbers are the ones the guest's vtest transport speaks,
/// defined once in the guest's transport crate.
pub use venus_rs_kernel_iface::vtest::protocol::{
    blob_flags, blob_type, command, param, submit_flags, DEFAULT_SOCKET_PATH, HEADER_BYTES,
    SUBMIT_CMD2_BATCH_DWORDS, SYNC_WAIT_FLAG_ANY,
};

/// The newest version this server speaks; Venus needs at least [`MIN_PROTOCOL_VERSION`].
pub const PROTOCOL_VERSION: u32 = 4;
pub const MIN_PROTOCOL_VERSION: u32 = 3;

/// Limits on what a client may make the server read into memory in one message.
pub const MAX_RENDERER_NAME_BYTES: usize = 1024 * 1024;
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024 * 1024;

pub fn command_name(command: u32) -> &'static str {
    match command {
        command::GET_CAPS => "GET_CAPS",
        command::RESOURCE_CREATE => "RESOURCE_CREATE",
        command::RESOURCE_UNREF => "RESOURCE_UNREF",
        command::TRANSFER_GET => "TRANSFER_GET",
        command::TRANSFER_PUT => "TRANSFER_PUT",
        command::SUBMIT_CMD => "SUBMIT_CMD",
        command::RESOURCE_BUSY_WAIT => "RESOURCE_BUSY_WAIT",
        command::CREATE_RENDERER => "CREATE_RENDERER",
        command::GET_CAPS2 => "GET_CAPS2",
        command::PING_PROTOCOL_VERSION => "PING_PROTOCOL_VERSION",
        command::PROTOCOL_VERSION => "PROTOCOL_VERSION",
        command::RESOURCE_CREATE2 => "RESOURCE_CREATE2",
        command::TRANSFER_GET2 => "TRANSFER_GET2",
        command::TRANSFER_PUT2 => "TRANSFER_PUT2",
        command::GET_PARAM => "GET_PARAM",
        command::GET_CAPSET => "GET_CAPSET",
        command::CONTEXT_INIT => "CONTEXT_INIT",
        command::RESOURCE_CREATE_BLOB => "RESOURCE_CREATE_BLOB",
        command::SYNC_CREATE => "SYNC_CREATE",
        command::SYNC_UNREF => "SYNC_UNREF",
        command::SYNC_READ => "SYNC_READ",
        command::SYNC_WRITE => "SYNC_WRITE",
        command::SYNC_WAIT => "SYNC_WAIT",
        command::SUBMIT_CMD2 => "SUBMIT_CMD2",
        25..=command::LAST_VERSION_4 => "a DRM native-context command",
        _ => "an unknown command",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    PayloadTooLarge {
        command: u32,
        bytes: u64,
        limit: usize,
    },
    BadLength {
        command: u32,
        expected: usize,
        got: usize,
    },
    Malformed {
        command: u32,
        what: String,
    },
    Unsupported {
        command: u32,
        what: String,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PayloadTooLarge {
                command,
                bytes,
                limit,
            } => write!(
                f,
                "{} ({command}) announces {bytes} payload bytes; the limit is {limit}",
                command_name(*command)
            ),
            Self::BadLength {
                command,
                expected,
                got,
            } => write!(
                f,
                "{} ({command}) carries {got} payload dwords; it takes {expected}",
                command_name(*command)
            ),
            Self::Malformed { command, what } => {
                write!(
                    f,
                    "malformed {} ({command}): {what}",
                    command_name(*command)
                )
            }
            Self::Unsupported { command, what } => {
                write!(f, "{} ({command}): {what}", command_name(*command))
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub length: u32,
    pub command: u32,
}

impl Header {
    pub const SIZE: usize = HEADER_BYTES;

    pub fn parse(bytes: [u8; Self::SIZE]) -> Self {
        Self {
            length: u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            command: u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }

    /// How many payload bytes follow, after checking the limits.
    pub fn payload_bytes(&self) -> Result<usize, ProtocolError> {
        let (bytes, limit) = if self.command == command::CREATE_RENDERER {
            (u64::from(self.length), MAX_RENDERER_NAME_BYTES)
        } else {
            (u64::from(self.length) * 4, MAX_PAYLOAD_BYTES)
        };
        if bytes > limit as u64 {
            return Err(ProtocolError::PayloadTooLarge {
                command: self.command,
                bytes,
                limit,
            });
        }
        Ok(bytes as usize)
    }
}

/// A sync id with the value to wait for or signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPoint {
    pub sync_id: u32,
    pub value: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The fence timeline the batch's syncs are signaled on; None signals them at once.
    pub ring_idx: Option<u32>,
    /// Byte range of the Venus command stream inside the SUBMIT_CMD2 payload.
    pub commands: Range<usize>,
    pub syncs: Vec<SyncPoint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    CreateRenderer {
        name: String,
    },
    PingProtocolVersion,
    ProtocolVersion {
        version: u32,
    },
    ResourceBusyWait {
        handle: u32,
        flags: u32,
    },
    GetParam {
        param: u32,
    },
    GetCapset {
        id: u32,
        version: u32,
    },
    ContextInit {
        capset_id: u32,
    },
    ResourceCreateBlob {
        blob_type: u32,
        flags: u32,
        size: u64,
        blob_id: u64,
    },
    ResourceUnref {
        res_id: u32,
    },
    SyncCreate {
        value: u64,
    },
    SyncUnref {
        sync_id: u32,
    },
    SyncRead {
        sync_id: u32,
    },
    SyncWrite {
        point: SyncPoint,
    },
    SyncWait {
        any: bool,
        timeout_ms: u32,
        points: Vec<SyncPoint>,
    },
    SubmitCmd2 {
        batches: Vec<Batch>,
    },
}

fn words(payload: &[u8]) -> Vec<u32> {
    payload
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn u64_from(low: u32, high: u32) -> u64 {
    u64::from(low) | (u64::from(high) << 32)
}

fn sync_points(command: u32, words: &[u32]) -> Result<Vec<SyncPoint>, ProtocolError> {
    if !words.len().is_multiple_of(3) {
        return Err(ProtocolError::Malformed {
            command,
            what: format!(
                "{} sync dwords are not a whole number of (id, value) triples",
                words.len()
            ),
        });
    }
    Ok(words
        .chunks_exact(3)
        .map(|w| SyncPoint {
            sync_id: w[0],
            value: u64_from(w[1], w[2]),
        })
        .collect())
}

/// Parses one request. `protocol_version` is the version negotiated so far (0 before
/// PROTOCOL_VERSION), which decides how SUBMIT_CMD2 batches are read.
pub fn parse_request(
    header: Header,
    payload: &[u8],
    protocol_version: u32,
) -> Result<Request, ProtocolError> {
    let command = header.command;
    if command == command::CREATE_RENDERER {
        let name = payload.split(|&b| b == 0).next().unwrap_or_default();
        return Ok(Request::CreateRenderer {
            name: String::from_utf8_lossy(name).into_owned(),
        });
    }
    let w = words(payload);
    let fixed = |expected: usize| {
        if w.len() == expected {
            Ok(())
        } else {
            Err(ProtocolError::BadLength {
                command,
                expected,
                got: w.len(),
            })
        }
    };
    Ok(match command {
        command::PING_PROTOCOL_VERSION => {
            fixed(0)?;
            Request::PingProtocolVersion
        }
        command::PROTOCOL_VERSION => {
            fixed(1)?;
            Request::ProtocolVersion { version: w[0] }
        }
        command::RESOURCE_BUSY_WAIT => {
            fixed(2)?;
            Request::ResourceBusyWait {
                handle: w[0],
                flags: w[1],
            }
        }
        command::GET_PARAM => {
            fixed(1)?;
            Request::GetParam { param: w[0] }
        }
        command::GET_CAPSET => {
            fixed(2)?;
            Request::GetCapset {
                id: w[0],
                version: w[1],
            }
        }
        command::CONTEXT_INIT => {
            fixed(1)?;
            Request::ContextInit { capset_id: w[0] }
        }
        command::RESOURCE_CREATE_BLOB => {
            fixed(6)?;
            Request::ResourceCreateBlob {
                blob_type: w[0],
                flags: w[1],
                size: u64_from(w[2], w[3]),
                blob_id: u64_from(w[4], w[5]),
            }
        }
        command::RESOURCE_UNREF => {
            fixed(1)?;
            Request::ResourceUnref { res_id: w[0] }
        }
        command::SYNC_CREATE => {
            fixed(2)?;
            Request::SyncCreate {
                value: u64_from(w[0], w[1]),
            }
        }
        command::SYNC_UNREF => {
            fixed(1)?;
            Request::SyncUnref { sync_id: w[0] }
        }
        command::SYNC_READ => {
            fixed(1)?;
            Request::SyncRead { sync_id: w[0] }
        }
        command::SYNC_WRITE => {
            fixed(3)?;
            Request::SyncWrite {
                point: SyncPoint {
                    sync_id: w[0],
                    value: u64_from(w[1], w[2]),
                },
            }
        }
        command::SYNC_WAIT => {
            if w.len() < 2 {
                return Err(ProtocolError::Malformed {
                    command,
                    what: format!("{} dwords cannot hold flags and timeout", w.len()),
                });
            }
            Request::SyncWait {
                any: w[0] & SYNC_WAIT_FLAG_ANY != 0,
                timeout_ms: w[1],
                points: sync_points(command, &w[2..])?,
            }
        }
        command::SUBMIT_CMD2 => Request::SubmitCmd2 {
            batches: parse_batches(&w, protocol_version)?,
        },
        command::GET_CAPS
        | command::RESOURCE_CREATE
        | command::TRANSFER_GET
        | command::TRANSFER_PUT
        | command::SUBMIT_CMD
        | command::GET_CAPS2
        | command::RESOURCE_CREATE2
        | command::TRANSFER_GET2
        | command::TRANSFER_PUT2 => {
            return Err(ProtocolError::Unsupported {
                command,
                what: "a virgl (OpenGL) command; this server serves Venus only".to_owned(),
            })
        }
        25..=command::LAST_VERSION_4 => {
            return Err(ProtocolError::Unsupported {
                command,
                what: "DRM native contexts are not served; Venus does not use them".to_owned(),
            })
        }
        _ => {
            return Err(ProtocolError::Unsupported {
                command,
                what: "no such vtest command".to_owned(),
            })
        }
    })
}

fn parse_batches(w: &[u32], protocol_version: u32) -> Result<Vec<Batch>, ProtocolError> {
    let command = command::SUBMIT_CMD2;
    let malformed = |what: String| ProtocolError::Malformed { command, what };
    let Some((&count, rest)) = w.split_first() else {
        return Err(malformed("no batch count".to_owned()));
    };
    let headers_dwords = (count as usize)
        .checked_mul(SUBMIT_CMD2_BATCH_DWORDS)
        .filter(|&dwords| dwords <= rest.len())
        .ok_or_else(|| {
            malformed(format!(
                "{count} batch headers do not fit {} dwords",
                w.len()
            ))
        })?;
    let known_flags =
        submit_flags::RING_IDX | submit_flags::IN_FENCE_FD | submit_flags::OUT_FENCE_FD;

    let mut batches = Vec::with_capacity(count as usize);
    for (index, header) in rest[..headers_dwords]
        .chunks_exact(SUBMIT_CMD2_BATCH_DWORDS)
        .enumerate()
    {
        let [flags, cmd_offset, cmd_size, sync_offset, sync_count, ring_idx, in_syncobjs, out_syncobjs] =
            header
                .try_into()
                .expect("chunks are SUBMIT_CMD2_BATCH_DWORDS long");
        if flags & !known_flags != 0
            || (protocol_version < 4 && flags & !submit_flags::RING_IDX != 0)
        {
            return Err(malformed(format!(
                "batch {index} has unknown flags {flags:#x}"
            )));
        }
        if flags & (submit_flags::IN_FENCE_FD | submit_flags::OUT_FENCE_FD) != 0
            || (protocol_version >= 4 && (in_syncobjs != 0 || out_syncobjs != 0))
        {
            return Err(ProtocolError::Unsupported {
                command,
                what: format!(
                    "batch {index} asks for fence fds or DRM syncobjs, which need a DRM native \
                     context; Venus signals through vtest syncs"
                ),
            });
        }
        if ring_idx >= TIMELINE_COUNT {
            return Err(malformed(format!(
                "batch {index} names ring_idx {ring_idx}; there are {TIMELINE_COUNT} timelines"
            )));
        }
        let range = |offset: u32, dwords: u64, what: &str| {
            let end = u64::from(offset) + dwords;
            if end > w.len() as u64 {
                Err(malformed(format!(
                    "batch {index}'s {what} [{offset}, {end}) lies outside the {}-dword payload",
                    w.len()
                )))
            } else {
                Ok(offset as usize..end as usize)
            }
        };
        let commands = range(cmd_offset, u64::from(cmd_size), "commands")?;
        let syncs = range(sync_offset, u64::from(sync_count) * 3, "syncs")?;
        batches.push(Batch {
            ring_idx: (flags & submit_flags::RING_IDX != 0).then_some(ring_idx),
            commands: commands.start * 4..commands.end * 4,
            syncs: sync_points(command, &w[syncs])?,
        });
    }
    Ok(batches)
}

/// A response: header `[words.len(), command]` followed by `words`.
pub fn response(command: u32, words: &[u32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(Header::SIZE + words.len() * 4);
    bytes.extend((words.len() as u32).to_le_bytes());
    bytes.extend(command.to_le_bytes());
    for word in words {
        bytes.extend(word.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn parse(command: u32, words: &[u32], version: u32) -> Result<Request, ProtocolError> {
        let header = Header {
            length: words.len() as u32,
            command,
        };
        parse_request(header, &payload(words), version)
    }

    #[test]
    fn create_renderer_length_counts_bytes() {
        let header = Header::parse([6, 0, 0, 0, 8, 0, 0, 0]);
        assert_eq!(header.payload_bytes().unwrap(), 6);
        assert_eq!(
            parse_request(header, b"vkcube", 0).unwrap(),
            Request::CreateRenderer {
                name: "vkcube".to_owned()
            }
        );
        let too_long = Header {
            length: 2 * 1024 * 1024,
            command: command::CREATE_RENDERER,
        };
        assert!(too_long.payload_bytes().is_err());
    }

    #[test]
    fn other_lengths_count_dwords_and_are_limited() {
        let header = Header {
            length: 6,
            command: command::RESOURCE_CREATE_BLOB,
        };
        assert_eq!(header.payload_bytes().unwrap(), 24);
        let huge = Header {
            length: u32::MAX,
            command: command::SUBMIT_CMD2,
        };
        assert!(matches!(
            huge.payload_bytes(),
            Err(ProtocolError::PayloadTooLarge { .. })
        ));
    }

    #[test]
    fn fixed_size_requests_must_have_their_exact_size() {
        assert_eq!(
            parse(command::RESOURCE_CREATE_BLOB, &[2, 1, 4096, 0, 0, 0], 3).unwrap(),
            Request::ResourceCreateBlob {
                blob_type: 2,
                flags: 1,
                size: 4096,
                blob_id: 0
            }
        );
        assert_eq!(
            parse(command::SYNC_WRITE, &[5, 1, 2], 3).unwrap(),
            Request::SyncWrite {
                point: SyncPoint {
                    sync_id: 5,
                    value: 0x2_0000_0001
                }
            }
        );
        assert!(matches!(
            parse(command::GET_PARAM, &[1, 2], 3),
            Err(ProtocolError::BadLength {
                expected: 1,
                got: 2,
                ..
            })
        ));
        assert!(parse(command::PING_PROTOCOL_VERSION, &[0], 3).is_err());
    }

    #[test]
    fn sync_wait_needs_whole_triples() {
        assert_eq!(
            parse(command::SYNC_WAIT, &[1, 100, 7, 3, 0], 3).unwrap(),
            Request::SyncWait {
                any: true,
                timeout_ms: 100,
                points: vec![SyncPoint {
                    sync_id: 7,
                    value: 3
                }]
            }
        );
        assert!(parse(command::SYNC_WAIT, &[0, 100, 7, 3], 3).is_err());
        assert!(parse(command::SYNC_WAIT, &[0], 3).is_err());
    }

    /// Mesa's layout: count, 8-dword batch headers, command streams, then sync triples.
    #[test]
    fn submit_cmd2_batches_are_located() {
        let mut words = vec![1, submit_flags::RING_IDX, 9, 2, 11, 1, 3, 0, 0];
        words.extend([0xaa, 0xbb]); // commands at dword 9
        words.extend([4, 10, 0]); // sync 4 := 10
        let request = parse(command::SUBMIT_CMD2, &words, 3).unwrap();
        assert_eq!(
            request,
            Request::SubmitCmd2 {
                batches: vec![Batch {
                    ring_idx: Some(3),
                    commands: 36..44,
                    syncs: vec![SyncPoint {
                        sync_id: 4,
                        value: 10
                    }],
                }]
            }
        );
    }

    #[test]
    fn submit_cmd2_rejects_bad_batches() {
        let batch = |flags: u32, cmd: (u32, u32), sync: (u32, u32), ring: u32, objs: (u32, u32)| {
            vec![1, flags, cmd.0, cmd.1, sync.0, sync.1, ring, objs.0, objs.1]
        };
        // Offsets past the payload, with and without overflow.
        assert!(parse(
            command::SUBMIT_CMD2,
            &batch(0, (9, 1), (0, 0), 0, (0, 0)),
            3
        )
        .is_err());
        assert!(parse(
            command::SUBMIT_CMD2,
            &batch(0, (u32::MAX, u32::MAX), (0, 0), 0, (0, 0)),
            3
        )
        .is_err());
        assert!(parse(
            command::SUBMIT_CMD2,
            &batch(0, (0, 0), (8, 1), 0, (0, 0)),
            3
        )
        .is_err());
        // Too many batch headers for the payload.
        assert!(parse(command::SUBMIT_CMD2, &[u32::MAX, 0, 0], 3).is_err());
        assert!(parse(command::SUBMIT_CMD2, &[], 3).is_err());
        // ring_idx past the last timeline.
        assert!(parse(
            command::SUBMIT_CMD2,
            &batch(1, (0, 0), (0, 0), 64, (0, 0)),
            3
        )
        .is_err());
        // Unknown flags, and fence fds / syncobjs which only DRM native contexts use.
        assert!(parse(
            command::SUBMIT_CMD2,
            &batch(8, (0, 0), (0, 0), 0, (0, 0)),
            4
        )
        .is_err());
        assert!(parse(
            command::SUBMIT_CMD2,
            &batch(4, (0, 0), (0, 0), 0, (0, 0)),
            3
        )
        .is_err());
        assert!(matches!(
            parse(
                command::SUBMIT_CMD2,
                &batch(5, (0, 0), (0, 0), 0, (0, 0)),
                4
            ),
            Err(ProtocolError::Unsupported { .. })
        ));
        assert!(parse(
            command::SUBMIT_CMD2,
            &batch(1, (0, 0), (0, 0), 0, (1, 0)),
            4
        )
        .is_err());
        // Before protocol 4 the syncobj counts are not read.
        parse(
            command::SUBMIT_CMD2,
            &batch(1, (0, 0), (0, 0), 0, (1, 0)),
            3,
        )
        .unwrap();
        // An empty batch list is fine.
        assert_eq!(
            parse(command::SUBMIT_CMD2, &[0], 3).unwrap(),
            Request::SubmitCmd2 { batches: vec![] }
        );
    }

    #[test]
    fn non_venus_commands_are_refused_by_name() {
        let error = parse(command::SUBMIT_CMD, &[0], 3).unwrap_err();
        assert!(error.to_string().contains("Venus only"), "{error}");
        assert!(parse(30, &[], 4).is_err());
        assert!(parse(1000, &[], 4).is_err());
    }

    #[test]
    fn responses_carry_their_dword_count() {
        assert_eq!(
            response(command::GET_PARAM, &[1, 64]),
            payload(&[2, command::GET_PARAM, 1, 64])
        );
        assert_eq!(
            response(command::PING_PROTOCOL_VERSION, &[]),
            payload(&[0, 10])
        );
    }
}
