//! virglrenderer's render-server protocol (server/render_protocol.h in virglrenderer 1.1;
//! venus-protocol.md §8): fixed-size little-endian structs on SOCK_SEQPACKET, one request per
//! message, descriptors as SCM_RIGHTS. Every request must have exactly its struct's size.

use std::fmt;

/// Client ops (VMM → server process).
pub mod client_op {
    pub const NOP: u32 = 0;
    pub const INIT: u32 = 1;
    pub const RESET: u32 = 2;
    pub const CREATE_CONTEXT: u32 = 3;
    pub const DESTROY_CONTEXT: u32 = 4;
}

/// Context ops (VMM → context worker).
pub mod context_op {
    pub const NOP: u32 = 0;
    pub const INIT: u32 = 1;
    pub const CREATE_RESOURCE: u32 = 2;
    pub const IMPORT_RESOURCE: u32 = 3;
    pub const DESTROY_RESOURCE: u32 = 4;
    pub const SUBMIT_CMD: u32 = 5;
    pub const SUBMIT_FENCE: u32 = 6;
}

pub const CONTEXT_NAME_BYTES: usize = 32;
/// Bytes of a SUBMIT_CMD carried inline; the rest follows as the next message.
pub const SUBMIT_CMD_INLINE_BYTES: usize = 256;
/// Most descriptors any request carries (INIT: timeline shmem + eventfd).
pub const MAX_REQUEST_FDS: usize = 2;
/// Large enough for every request, so an oversized one shows up as truncation.
pub const REQUEST_BUFFER_BYTES: usize = 512;

/// `VIRGL_RENDERER_CONTEXT_FLAG_CAPSET_ID_MASK`.
pub const CONTEXT_FLAG_CAPSET_ID_MASK: u32 = 0xff;
/// `VIRGL_RENDERER_BLOB_FLAG_USE_MAPPABLE`.
pub const BLOB_FLAG_MAPPABLE: u32 = 1;
/// `VIRGL_RENDERER_FENCE_FLAG_MERGEABLE`.
pub const FENCE_FLAG_MERGEABLE: u32 = 1;
/// `VIRGL_RESOURCE_FD_INVALID`.
pub const FD_TYPE_INVALID: i32 = -1;
/// `VIRGL_RENDERER_MAP_CACHE_CACHED`.
pub const MAP_CACHE_CACHED: u32 = 1;

/// `struct render_context_op_create_resource_reply`: fd_type, map_info and a 48-byte
/// `virgl_resource_vulkan_info` (device UUID, driver UUID, allocation size, memory type).
pub const CREATE_RESOURCE_REPLY_BYTES: usize = 56;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderProtocolError {
    Empty,
    UnknownOp {
        op: u32,
    },
    BadSize {
        op: &'static str,
        expected: usize,
        got: usize,
    },
    BadFdCount {
        op: &'static str,
        allowed: &'static str,
        got: usize,
    },
}

impl fmt::Display for RenderProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("a request of fewer than 4 bytes has no op"),
            Self::UnknownOp { op } => write!(f, "unknown op {op}"),
            Self::BadSize { op, expected, got } => {
                write!(
                    f,
                    "{op} request of {got} bytes; it must be exactly {expected}"
                )
            }
            Self::BadFdCount { op, allowed, got } => {
                write!(f, "{op} request with {got} descriptors; it takes {allowed}")
            }
        }
    }
}

impl std::error::Error for RenderProtocolError {}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8 bytes"))
}

fn op_of(bytes: &[u8]) -> Result<u32, RenderProtocolError> {
    if bytes.len() < 4 {
        return Err(RenderProtocolError::Empty);
    }
    Ok(u32_at(bytes, 0))
}

fn exact(op: &'static str, bytes: &[u8], expected: usize) -> Result<(), RenderProtocolError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(RenderProtocolError::BadSize {
            op,
            expected,
            got: bytes.len(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRequest {
    Nop,
    Init { flags: u32 },
    Reset,
    CreateContext { ctx_id: u32, name: String },
    DestroyContext { ctx_id: u32 },
}

pub fn parse_client_request(bytes: &[u8]) -> Result<ClientRequest, RenderProtocolError> {
    Ok(match op_of(bytes)? {
        client_op::NOP => {
            exact("NOP", bytes, 4)?;
            ClientRequest::Nop
        }
        client_op::INIT => {
            exact("INIT", bytes, 8)?;
            ClientRequest::Init {
                flags: u32_at(bytes, 4),
            }
        }
        client_op::RESET => {
            exact("RESET", bytes, 4)?;
            ClientRequest::Reset
        }
        client_op::CREATE_CONTEXT => {
            exact("CREATE_CONTEXT", bytes, 8 + CONTEXT_NAME_BYTES)?;
            let name = bytes[8..].split(|&b| b == 0).next().unwrap_or_default();
            ClientRequest::CreateContext {
                ctx_id: u32_at(bytes, 4),
                name: String::from_utf8_lossy(name).into_owned(),
            }
        }
        client_op::DESTROY_CONTEXT => {
            exact("DESTROY_CONTEXT", bytes, 8)?;
            ClientRequest::DestroyContext {
                ctx_id: u32_at(bytes, 4),
            }
        }
        op => return Err(RenderProtocolError::UnknownOp { op }),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextRequest {
    Nop,
    /// Followed by the timeline shmem fd and optionally a fence eventfd.
    Init {
        flags: u32,
        shmem_size: u64,
    },
    CreateResource {
        res_id: u32,
        blob_id: u64,
        blob_size: u64,
        blob_flags: u32,
    },
    /// Followed by one fd.
    ImportResource {
        res_id: u32,
        fd_type: i32,
        size: u64,
    },
    DestroyResource {
        res_id: u32,
    },
    /// `inline` holds the first min(size, 256) bytes; the rest comes as the next message.
    SubmitCmd {
        size: u32,
        inline: Vec<u8>,
    },
    SubmitFence {
        flags: u32,
        ring_index: u32,
        seqno: u32,
    },
}

pub fn parse_context_request(
    bytes: &[u8],
    fd_count: usize,
) -> Result<ContextRequest, RenderProtocolError> {
    let fds = |op: &'static str, allowed: &'static str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(RenderProtocolError::BadFdCount {
                op,
                allowed,
                got: fd_count,
            })
        }
    };
    Ok(match op_of(bytes)? {
        context_op::NOP => {
            exact("NOP", bytes, 4)?;
            fds("NOP", "none", fd_count == 0)?;
            ContextRequest::Nop
        }
        context_op::INIT => {
            exact("INIT", bytes, 16)?;
            fds("INIT", "1 or 2", (1..=2).contains(&fd_count))?;
            ContextRequest::Init {
                flags: u32_at(bytes, 4),
                shmem_size: u64_at(bytes, 8),
            }
        }
        context_op::CREATE_RESOURCE => {
            exact("CREATE_RESOURCE", bytes, 32)?;
            fds("CREATE_RESOURCE", "none", fd_count == 0)?;
            ContextRequest::CreateResource {
                res_id: u32_at(bytes, 4),
                blob_id: u64_at(bytes, 8),
                blob_size: u64_at(bytes, 16),
                blob_flags: u32_at(bytes, 24),
            }
        }
        context_op::IMPORT_RESOURCE => {
            exact("IMPORT_RESOURCE", bytes, 24)?;
            fds("IMPORT_RESOURCE", "exactly 1", fd_count == 1)?;
            ContextRequest::ImportResource {
                res_id: u32_at(bytes, 4),
                fd_type: u32_at(bytes, 8) as i32,
                size: u64_at(bytes, 16),
            }
        }
        context_op::DESTROY_RESOURCE => {
            exact("DESTROY_RESOURCE", bytes, 8)?;
            fds("DESTROY_RESOURCE", "none", fd_count == 0)?;
            ContextRequest::DestroyResource {
                res_id: u32_at(bytes, 4),
            }
        }
        context_op::SUBMIT_CMD => {
            exact("SUBMIT_CMD", bytes, 8 + SUBMIT_CMD_INLINE_BYTES)?;
            fds("SUBMIT_CMD", "none", fd_count == 0)?;
            let size = u32_at(bytes, 4);
            let inline_len = (size as usize).min(SUBMIT_CMD_INLINE_BYTES);
            ContextRequest::SubmitCmd {
                size,
                inline: bytes[8..8 + inline_len].to_vec(),
            }
        }
        context_op::SUBMIT_FENCE => {
            exact("SUBMIT_FENCE", bytes, 16)?;
            fds("SUBMIT_FENCE", "none", fd_count == 0)?;
            ContextRequest::SubmitFence {
                flags: u32_at(bytes, 4),
                ring_index: u32_at(bytes, 8),
                seqno: u32_at(bytes, 12),
            }
        }
        op => return Err(RenderProtocolError::UnknownOp { op }),
    })
}

/// The CREATE_RESOURCE reply; the Vulkan info stays zero because only SHM blobs are made.
pub fn create_resource_reply(fd_type: i32, map_info: u32) -> [u8; CREATE_RESOURCE_REPLY_BYTES] {
    let mut reply = [0u8; CREATE_RESOURCE_REPLY_BYTES];
    reply[0..4].copy_from_slice(&fd_type.to_le_bytes());
    reply[4..8].copy_from_slice(&map_info.to_le_bytes());
    reply
}

/// Request encoders, for the tests that play the VMM.
pub mod encode {
    use super::*;

    fn words(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    pub fn client_init(flags: u32) -> Vec<u8> {
        words(&[client_op::INIT, flags])
    }

    pub fn create_context(ctx_id: u32, name: &str) -> Vec<u8> {
        let mut bytes = words(&[client_op::CREATE_CONTEXT, ctx_id]);
        let mut field = [0u8; CONTEXT_NAME_BYTES];
        let len = name.len().min(CONTEXT_NAME_BYTES - 1);
        field[..len].copy_from_slice(&name.as_bytes()[..len]);
        bytes.extend(field);
        bytes
    }

    pub fn destroy_context(ctx_id: u32) -> Vec<u8> {
        words(&[client_op::DESTROY_CONTEXT, ctx_id])
    }

    pub fn context_init(flags: u32, shmem_size: u64) -> Vec<u8> {
        let mut bytes = words(&[context_op::INIT, flags]);
        bytes.extend(shmem_size.to_le_bytes());
        bytes
    }

    pub fn create_resource(res_id: u32, blob_id: u64, blob_size: u64, blob_flags: u32) -> Vec<u8> {
        let mut bytes = words(&[context_op::CREATE_RESOURCE, res_id]);
        bytes.extend(blob_id.to_le_bytes());
        bytes.extend(blob_size.to_le_bytes());
        bytes.extend(words(&[blob_flags, 0]));
        bytes
    }

    pub fn import_resource(res_id: u32, fd_type: i32, size: u64) -> Vec<u8> {
        let mut bytes = words(&[context_op::IMPORT_RESOURCE, res_id, fd_type as u32, 0]);
        bytes.extend(size.to_le_bytes());
        bytes
    }

    pub fn destroy_resource(res_id: u32) -> Vec<u8> {
        words(&[context_op::DESTROY_RESOURCE, res_id])
    }

    /// The SUBMIT_CMD message and, for streams over 256 bytes, the follow-up message.
    pub fn submit_cmd(stream: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut bytes = words(&[context_op::SUBMIT_CMD, stream.len() as u32]);
        let inline = stream.len().min(SUBMIT_CMD_INLINE_BYTES);
        let mut field = [0u8; SUBMIT_CMD_INLINE_BYTES];
        field[..inline].copy_from_slice(&stream[..inline]);
        bytes.extend(field);
        let rest = (stream.len() > inline).then(|| stream[inline..].to_vec());
        (bytes, rest)
    }

    pub fn submit_fence(flags: u32, ring_index: u32, seqno: u32) -> Vec<u8> {
        words(&[context_op::SUBMIT_FENCE, flags, ring_index, seqno])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_sizes_match_virglrenderer_structs() {
        assert_eq!(encode::client_init(0).len(), 8);
        assert_eq!(encode::create_context(1, "x").len(), 40);
        assert_eq!(encode::destroy_context(1).len(), 8);
        assert_eq!(encode::context_init(4, 256).len(), 16);
        assert_eq!(encode::create_resource(1, 0, 4096, 1).len(), 32);
        assert_eq!(encode::import_resource(1, 2, 4096).len(), 24);
        assert_eq!(encode::destroy_resource(1).len(), 8);
        assert_eq!(encode::submit_cmd(&[0; 4]).0.len(), 264);
        assert_eq!(encode::submit_fence(1, 2, 3).len(), 16);
    }

    #[test]
    fn client_requests_round_trip() {
        assert_eq!(
            parse_client_request(&encode::create_context(7, "vulkaninfo")).unwrap(),
            ClientRequest::CreateContext {
                ctx_id: 7,
                name: "vulkaninfo".to_owned()
            }
        );
        assert_eq!(
            parse_client_request(&encode::client_init(0x1234)).unwrap(),
            ClientRequest::Init { flags: 0x1234 }
        );
        // A name filling all 32 bytes has no NUL and is taken whole.
        let mut full = encode::create_context(1, "");
        full[8..].fill(b'a');
        assert_eq!(
            parse_client_request(&full).unwrap(),
            ClientRequest::CreateContext {
                ctx_id: 1,
                name: "a".repeat(32)
            }
        );
    }

    #[test]
    fn sizes_must_be_exact_and_ops_known() {
        let mut long_init = encode::client_init(0);
        long_init.push(0);
        assert!(matches!(
            parse_client_request(&long_init),
            Err(RenderProtocolError::BadSize {
                expected: 8,
                got: 9,
                ..
            })
        ));
        assert_eq!(
            parse_client_request(&[1, 0]),
            Err(RenderProtocolError::Empty)
        );
        assert_eq!(
            parse_client_request(&5u32.to_le_bytes()),
            Err(RenderProtocolError::UnknownOp { op: 5 })
        );
        assert!(parse_context_request(&encode::submit_fence(1, 0, 1)[..12], 0).is_err());
        assert_eq!(
            parse_context_request(&7u32.to_le_bytes(), 0),
            Err(RenderProtocolError::UnknownOp { op: 7 })
        );
    }

    #[test]
    fn descriptor_counts_are_checked() {
        let init = encode::context_init(4, 256);
        assert!(parse_context_request(&init, 0).is_err());
        parse_context_request(&init, 1).unwrap();
        parse_context_request(&init, 2).unwrap();
        assert!(parse_context_request(&init, 3).is_err());
        let import = encode::import_resource(3, 2, 4096);
        assert!(parse_context_request(&import, 0).is_err());
        assert_eq!(
            parse_context_request(&import, 1).unwrap(),
            ContextRequest::ImportResource {
                res_id: 3,
                fd_type: 2,
                size: 4096
            }
        );
        assert!(parse_context_request(&encode::destroy_resource(1), 1).is_err());
    }

    #[test]
    fn submit_cmd_keeps_only_the_inline_part() {
        let stream: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let (first, rest) = encode::submit_cmd(&stream);
        assert_eq!(rest.as_deref(), Some(&stream[256..]));
        assert_eq!(
            parse_context_request(&first, 0).unwrap(),
            ContextRequest::SubmitCmd {
                size: 300,
                inline: stream[..256].to_vec()
            }
        );
        let (small, none) = encode::submit_cmd(&stream[..12]);
        assert!(none.is_none());
        assert_eq!(
            parse_context_request(&small, 0).unwrap(),
            ContextRequest::SubmitCmd {
                size: 12,
                inline: stream[..12].to_vec()
            }
        );
    }

    #[test]
    fn create_resource_reply_layout() {
        let reply = create_resource_reply(2, MAP_CACHE_CACHED);
        assert_eq!(reply.len(), 56);
        assert_eq!(&reply[0..8], &[2, 0, 0, 0, 1, 0, 0, 0]);
        assert!(reply[8..].iter().all(|&b| b == 0));
        assert_eq!(&create_resource_reply(FD_TYPE_INVALID, 0)[0..4], &[0xff; 4]);
    }
}
