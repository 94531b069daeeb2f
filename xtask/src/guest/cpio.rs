//! Writer for the "newc" cpio format, the one Linux unpacks as an initramfs. Linux also accepts several archives
//! concatenated, which is how a per-run archive is laid over the guest image.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

/// Owner, group and modification time recorded for an entry.
#[derive(Clone, Copy, Default)]
pub struct Stamp {
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
}

impl Stamp {
    fn of(metadata: &std::fs::Metadata) -> Stamp {
        Stamp {
            uid: metadata.uid(),
            gid: metadata.gid(),
            mtime: u32::try_from(metadata.mtime().max(0)).unwrap_or(u32::MAX),
        }
    }
}

pub struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_inode: u32,
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> CpioWriter<W> {
        CpioWriter {
            out,
            written: 0,
            next_inode: 1,
        }
    }

    pub fn directory(&mut self, path: &str, permissions: u32, stamp: Stamp) -> io::Result<()> {
        self.header(path, S_IFDIR | (permissions & 0o7777), stamp, 0, (0, 0))
    }

    pub fn symlink(&mut self, path: &str, target: &[u8], stamp: Stamp) -> io::Result<()> {
        self.header(path, S_IFLNK | 0o777, stamp, target.len(), (0, 0))?;
        self.body(target)?;
        self.pad()
    }

    pub fn char_device(
        &mut self,
        path: &str,
        permissions: u32,
        device: (u32, u32),
    ) -> io::Result<()> {
        self.header(
            path,
            S_IFCHR | (permissions & 0o7777),
            Stamp::default(),
            0,
            device,
        )
    }

    pub fn file_from_memory(
        &mut self,
        path: &str,
        permissions: u32,
        data: &[u8],
    ) -> io::Result<()> {
        self.header(
            path,
            S_IFREG | (permissions & 0o7777),
            Stamp::default(),
            data.len(),
            (0, 0),
        )?;
        self.body(data)?;
        self.pad()
    }

    /// Copies a host file, keeping its permission bits; owner and time are the given stamp.
    pub fn file_from_disk(&mut self, path: &str, source: &Path, stamp: Stamp) -> io::Result<()> {
        let file = File::open(source)?;
        let metadata = file.metadata()?;
        let size = usize::try_from(metadata.len()).map_err(|_| too_big(source))?;
        let permissions = metadata.permissions().mode() & 0o7777;
        self.header(path, S_IFREG | permissions, stamp, size, (0, 0))?;
        let copied = io::copy(&mut file.take(metadata.len()), &mut self.out)?;
        if copied != metadata.len() {
            return Err(io::Error::other(format!(
                "{} changed size while being archived ({} bytes expected, {copied} read)",
                source.display(),
                metadata.len()
            )));
        }
        self.written += copied;
        self.pad()
    }

    /// Archives everything under `root` (not following symlinks), parents before children, in name order so
    /// the same tree always gives the same archive. Archive paths are relative to `root`.
    pub fn tree(&mut self, root: &Path) -> io::Result<()> {
        self.tree_below(root, "")
    }

    fn tree_below(&mut self, dir: &Path, prefix: &str) -> io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<io::Result<_>>()?;
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_str().ok_or_else(|| {
                io::Error::other(format!(
                    "{}: file name is not UTF-8",
                    entry.path().display()
                ))
            })?;
            let path = format!("{prefix}{name}");
            let metadata = entry.path().symlink_metadata()?;
            let stamp = Stamp::of(&metadata);
            let kind = metadata.file_type();
            if kind.is_dir() {
                self.directory(&path, metadata.mode(), stamp)?;
                self.tree_below(&entry.path(), &format!("{path}/"))?;
            } else if kind.is_symlink() {
                let target = std::fs::read_link(entry.path())?;
                self.symlink(&path, target.as_os_str().as_encoded_bytes(), stamp)?;
            } else if kind.is_file() {
                self.file_from_disk(&path, &entry.path(), stamp)?;
            } else {
                return Err(io::Error::other(format!(
                    "{}: only directories, files and symlinks can be archived",
                    entry.path().display()
                )));
            }
        }
        Ok(())
    }

    /// Writes the trailer and pads the archive to 512 bytes, so that another archive can follow it.
    pub fn finish(mut self) -> io::Result<W> {
        self.header("TRAILER!!!", 0, Stamp::default(), 0, (0, 0))?;
        let padding = (512 - self.written % 512) % 512;
        self.out.write_all(&vec![0; padding as usize])?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn header(
        &mut self,
        path: &str,
        mode: u32,
        stamp: Stamp,
        size: usize,
        device: (u32, u32),
    ) -> io::Result<()> {
        if path.as_bytes().contains(&0) {
            return Err(io::Error::other(format!(
                "{path:?}: NUL in an archive path"
            )));
        }
        let size = u32::try_from(size).map_err(|_| too_big(Path::new(path)))?;
        let inode = self.next_inode;
        self.next_inode += 1;
        let fields = [
            inode,
            mode,
            stamp.uid,
            stamp.gid,
            1,
            stamp.mtime,
            size,
            0,
            0,
            device.0,
            device.1,
            path.len() as u32 + 1,
            0,
        ];
        let mut header = String::from("070701");
        for field in fields {
            header.push_str(&format!("{field:08x}"));
        }
        self.body(header.as_bytes())?;
        self.body(path.as_bytes())?;
        self.body(&[0])?;
        self.pad()
    }

    fn body(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// newc aligns every header and every file body to 4 bytes.
    fn pad(&mut self) -> io::Result<()> {
        let padding = (4 - self.written % 4) % 4;
        self.body(&[0; 3][..padding as usize])
    }
}

fn too_big(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{}: newc cpio entries are limited to 4 GiB",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(header: &[u8], index: usize) -> u32 {
        let start = 6 + index * 8;
        u32::from_str_radix(std::str::from_utf8(&header[start..start + 8]).unwrap(), 16).unwrap()
    }

    #[test]
    fn entries_are_aligned_and_the_archive_ends_on_a_block() {
        let mut writer = CpioWriter::new(Vec::new());
        writer
            .directory("venus-rs", 0o755, Stamp::default())
            .unwrap();
        writer
            .file_from_memory("venus-rs/run-id", 0o644, b"abc\n")
            .unwrap();
        writer.symlink("bin", b"usr/bin", Stamp::default()).unwrap();
        let archive = writer.finish().unwrap();
        assert_eq!(archive.len() % 512, 0);

        let mut offset = 0;
        let mut names = Vec::new();
        loop {
            let header = &archive[offset..offset + 110];
            assert_eq!(&header[..6], b"070701");
            let name_size = field(header, 11) as usize;
            let body_size = field(header, 6) as usize;
            let name = &archive[offset + 110..offset + 110 + name_size - 1];
            names.push(String::from_utf8(name.to_vec()).unwrap());
            let body_start = (offset + 110 + name_size).next_multiple_of(4);
            if name == b"venus-rs/run-id" {
                assert_eq!(&archive[body_start..body_start + body_size], b"abc\n");
                assert_eq!(field(header, 1), S_IFREG | 0o644);
            }
            offset = (body_start + body_size).next_multiple_of(4);
            if name == b"TRAILER!!!" {
                break;
            }
        }
        assert_eq!(names, ["venus-rs", "venus-rs/run-id", "bin", "TRAILER!!!"]);
        assert!(archive[offset..].iter().all(|&b| b == 0));
    }
}
