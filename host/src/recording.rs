//! Stream recording: with `VENUS_RS_RECORD=DIR`, every stream a context executes (context
//! path, rings and the streams of vkExecuteCommandStreamsMESA, in execution order) is
//! appended to `DIR/venus-<pid>-context-<id>.rec`. `venus-rs-trace FILE` prints a recording
//! as Vulkan calls with their arguments.
//!
//! Format (little-endian): the 8-byte magic `VNSREC01`, then records of
//! `u32 source` (0 context path, 1 ring, 2 indirect stream), `u64 ring id` (0 for the context
//! path), `u64 length` and the stream bytes.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::executor::DispatchPath;

pub const RECORD_DIR_ENV: &str = "VENUS_RS_RECORD";
const MAGIC: &[u8; 8] = b"VNSREC01";
const HEADER_LEN: usize = 4 + 8 + 8;

/// Where a recorded stream ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Path(DispatchPath),
    /// A stream of vkExecuteCommandStreamsMESA, run on the given path.
    Indirect(DispatchPath),
}

pub struct Record {
    pub source: Source,
    pub bytes: Vec<u8>,
}

/// Appends one context's streams to its recording file.
pub struct Recorder {
    file: Mutex<File>,
    path: PathBuf,
}

impl Recorder {
    /// A recorder for `context_id` when `VENUS_RS_RECORD` names a directory.
    pub fn from_env(context_id: u32) -> Option<Self> {
        Self::create(
            &PathBuf::from(std::env::var_os(RECORD_DIR_ENV)?),
            context_id,
        )
    }

    /// A recorder writing into `dir`; `None` (with a log line) when the file cannot be made.
    pub fn create(dir: &Path, context_id: u32) -> Option<Self> {
        let path = dir.join(format!(
            "venus-{}-context-{context_id}.rec",
            std::process::id()
        ));
        let opened = std::fs::create_dir_all(dir)
            .and_then(|()| File::create(&path))
            .and_then(|mut file| file.write_all(MAGIC).map(|()| file));
        match opened {
            Ok(file) => {
                crate::log!(
                    "context {context_id}: recording streams to {}",
                    path.display()
                );
                Some(Self {
                    file: Mutex::new(file),
                    path,
                })
            }
            Err(e) => {
                crate::log!("{RECORD_DIR_ENV}: cannot record to {}: {e}", path.display());
                None
            }
        }
    }

    /// Appends a stream; a failed write is logged, never fatal to the context.
    pub fn record(&self, source: Source, bytes: &[u8]) {
        let (kind, path) = match source {
            Source::Path(path) => (
                if path == DispatchPath::Context {
                    0u32
                } else {
                    1
                },
                path,
            ),
            Source::Indirect(path) => (2, path),
        };
        let ring_id = match path {
            DispatchPath::Context => 0,
            DispatchPath::Ring { id } => id,
        };
        let mut record = Vec::with_capacity(HEADER_LEN + bytes.len());
        record.extend(kind.to_le_bytes());
        record.extend(ring_id.to_le_bytes());
        record.extend((bytes.len() as u64).to_le_bytes());
        record.extend(bytes);
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = file.write_all(&record) {
            crate::log!("recording to {} failed: {e}", self.path.display());
        }
    }
}

/// Parses a recording file's contents.
pub fn read_records(bytes: &[u8]) -> Result<Vec<Record>, String> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or("not a venus-rs recording (no VNSREC01 magic)")?;
    let mut records = Vec::new();
    let mut offset = 0usize;
    while offset < rest.len() {
        let header = rest
            .get(offset..offset + HEADER_LEN)
            .ok_or_else(|| format!("record header at byte {} is cut short", offset + 8))?;
        let kind = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
        let ring_id = u64::from_le_bytes(header[4..12].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
        let start = offset + HEADER_LEN;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|&end| end <= rest.len())
            .ok_or_else(|| format!("record at byte {} is cut short", offset + 8))?;
        let path = if ring_id == 0 && kind == 0 {
            DispatchPath::Context
        } else {
            DispatchPath::Ring { id: ring_id }
        };
        let source = match kind {
            0 | 1 => Source::Path(path),
            2 if ring_id == 0 => Source::Indirect(DispatchPath::Context),
            2 => Source::Indirect(path),
            other => {
                return Err(format!(
                    "record at byte {}: unknown source {other}",
                    offset + 8
                ))
            }
        };
        records.push(Record {
            source,
            bytes: rest[start..end].to_vec(),
        });
        offset = end;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("venus-rs-record-test-{}", std::process::id()));
        let recorder = Recorder::create(&dir, 7).expect("a recorder");
        recorder.record(Source::Path(DispatchPath::Context), &[1, 2, 3, 4]);
        recorder.record(Source::Path(DispatchPath::Ring { id: 9 }), &[5; 8]);
        recorder.record(Source::Indirect(DispatchPath::Ring { id: 9 }), &[6; 4]);
        let bytes = std::fs::read(&recorder.path).unwrap();
        let records = read_records(&bytes).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].source, Source::Path(DispatchPath::Context));
        assert_eq!(records[0].bytes, [1, 2, 3, 4]);
        assert_eq!(
            records[1].source,
            Source::Path(DispatchPath::Ring { id: 9 })
        );
        assert_eq!(
            records[2].source,
            Source::Indirect(DispatchPath::Ring { id: 9 })
        );
        assert!(read_records(&bytes[..bytes.len() - 1]).is_err());
        assert!(read_records(b"garbage!").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
