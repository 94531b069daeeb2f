//! A raw vtest client that speaks exactly what a test tells it to: the hostile guest.
//! Requests that the server answers return `None` once the server has closed the connection
//! (which is how a vtest client learns that its context went FATAL).

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use venus_rs_host::fd_passing::recv_with_fds;
use venus_rs_host::vtest::protocol::{command, submit_flags};
use venus_rs_shmem::SharedMemory;

pub struct VtestClient {
    stream: UnixStream,
    name: String,
}

/// A blob the server made, mapped here.
pub struct Blob {
    pub res_id: u32,
    pub memory: SharedMemory,
    _fd: OwnedFd,
}

impl VtestClient {
    pub fn connect(socket: &Path, name: &str) -> VtestClient {
        let stream = UnixStream::connect(socket).expect("connect to the server");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("set a read timeout");
        VtestClient {
            stream,
            name: name.to_owned(),
        }
    }

    fn send_raw(&mut self, length: u32, command: u32, payload: &[u8]) -> bool {
        let mut bytes = length.to_le_bytes().to_vec();
        bytes.extend(command.to_le_bytes());
        bytes.extend(payload);
        self.stream.write_all(&bytes).is_ok()
    }

    pub fn send(&mut self, command: u32, words: &[u32]) -> bool {
        let payload: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.send_raw(words.len() as u32, command, &payload)
    }

    pub fn receive(&mut self, command: u32) -> Option<Vec<u32>> {
        let mut header = [0u8; 8];
        self.stream.read_exact(&mut header).ok()?;
        let length = u32::from_le_bytes(header[0..4].try_into().unwrap());
        assert_eq!(
            u32::from_le_bytes(header[4..8].try_into().unwrap()),
            command,
            "a reply to another command"
        );
        let mut payload = vec![0u8; length as usize * 4];
        self.stream.read_exact(&mut payload).ok()?;
        Some(
            payload
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        )
    }

    pub fn receive_fd(&mut self) -> Option<OwnedFd> {
        let mut byte = [0u8; 1];
        let mut received = recv_with_fds(self.stream.as_fd(), &mut byte, 1).ok()?;
        received.fds.pop()
    }

    /// Mesa's start-up sequence up to CONTEXT_INIT.
    pub fn handshake(&mut self) {
        let mut name = self.name.clone().into_bytes();
        name.push(0);
        assert!(self.send_raw(name.len() as u32, command::CREATE_RENDERER, &name));
        assert!(self.send(command::PROTOCOL_VERSION, &[4]));
        assert_eq!(self.receive(command::PROTOCOL_VERSION), Some(vec![4]));
        assert!(self.send(command::GET_CAPSET, &[4, 0]));
        let capset = self.receive(command::GET_CAPSET).expect("the capset");
        assert_eq!(capset[0], 1, "the Venus capset is valid");
        assert!(self.send(command::CONTEXT_INIT, &[4]));
    }

    /// The handshake with whatever protocol version the server agrees to (virglrenderer's
    /// vtest server speaks 3 where ours speaks 4).
    pub fn handshake_any_version(&mut self) {
        let mut name = self.name.clone().into_bytes();
        name.push(0);
        assert!(self.send_raw(name.len() as u32, command::CREATE_RENDERER, &name));
        assert!(self.send(command::PROTOCOL_VERSION, &[4]));
        let version = self.receive(command::PROTOCOL_VERSION).expect("a version")[0];
        assert!(version >= 3, "vtest protocol {version}");
        assert!(self.send(command::GET_CAPSET, &[4, 0]));
        let capset = self.receive(command::GET_CAPSET).expect("the capset");
        assert_eq!(capset[0], 1, "the Venus capset is valid");
        assert!(self.send(command::CONTEXT_INIT, &[4]));
    }

    /// A request the server answers: true while the connection (and so the context) lives,
    /// and everything sent before it has been executed.
    pub fn roundtrip(&mut self) -> bool {
        self.send(command::GET_PARAM, &[1]) && self.receive(command::GET_PARAM).is_some()
    }

    /// RESOURCE_CREATE_BLOB (HOST3D); None when the server refuses (closes the connection).
    pub fn create_blob(&mut self, flags: u32, size: u64, blob_id: u64) -> Option<(u32, OwnedFd)> {
        let sent = self.send(
            command::RESOURCE_CREATE_BLOB,
            &[
                2,
                flags,
                size as u32,
                (size >> 32) as u32,
                blob_id as u32,
                (blob_id >> 32) as u32,
            ],
        );
        if !sent {
            return None;
        }
        let res_id = self.receive(command::RESOURCE_CREATE_BLOB)?[0];
        Some((res_id, self.receive_fd()?))
    }

    /// A shared-memory blob (blob_id 0, MAPPABLE), mapped.
    pub fn shm_blob(&mut self, size: u64) -> Option<Blob> {
        let (res_id, fd) = self.create_blob(1, size, 0)?;
        let memory = SharedMemory::map(fd.as_fd(), 0, size).expect("map the blob");
        Some(Blob {
            res_id,
            memory,
            _fd: fd,
        })
    }

    /// SUBMIT_CMD2 with one batch on the context path (signalling `syncs` on `ring_idx`).
    pub fn submit(&mut self, commands: &[u8], ring_idx: Option<u32>, syncs: &[(u32, u64)]) -> bool {
        assert_eq!(commands.len() % 4, 0, "streams are whole dwords");
        let cmd_offset = 1 + 8;
        let cmd_size = (commands.len() / 4) as u32;
        let flags = if ring_idx.is_some() {
            submit_flags::RING_IDX
        } else {
            0
        };
        let mut words = vec![
            1,
            flags,
            cmd_offset,
            cmd_size,
            cmd_offset + cmd_size,
            syncs.len() as u32,
            ring_idx.unwrap_or(0),
            0,
            0,
        ];
        words.extend(
            commands
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap())),
        );
        for &(id, value) in syncs {
            words.extend([id, value as u32, (value >> 32) as u32]);
        }
        self.send(command::SUBMIT_CMD2, &words)
    }

    pub fn sync_create(&mut self, value: u64) -> Option<u32> {
        if !self.send(command::SYNC_CREATE, &[value as u32, (value >> 32) as u32]) {
            return None;
        }
        Some(self.receive(command::SYNC_CREATE)?[0])
    }

    /// SYNC_WAIT; the eventfd the server hands back.
    pub fn sync_wait(&mut self, sync_id: u32, value: u64, timeout_ms: u32) -> Option<OwnedFd> {
        let sent = self.send(
            command::SYNC_WAIT,
            &[0, timeout_ms, sync_id, value as u32, (value >> 32) as u32],
        );
        if !sent {
            return None;
        }
        self.receive(command::SYNC_WAIT)?;
        self.receive_fd()
    }

    /// The connection has been closed by the server.
    pub fn closed(&mut self) -> bool {
        !self.roundtrip()
    }
}
