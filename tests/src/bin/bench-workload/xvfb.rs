//! A private X server for vkcube: Xvfb on a display it picks itself (`-displayfd`), stopped when dropped.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_LIMIT: Duration = Duration::from_secs(20);

pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    /// `Ok(None)` when there is no Xvfb here to start (a guest image has none).
    pub fn start() -> Result<Option<Xvfb>, String> {
        let (reader, writer) =
            rustix::pipe::pipe().map_err(|e| format!("cannot create a pipe for Xvfb: {e}"))?;
        let spawned = Command::new("Xvfb")
            .args(["-displayfd", &writer.as_raw_fd().to_string()])
            .args([
                "-noreset",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "1280x800x24",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot start Xvfb: {e}")),
        };
        drop(writer);
        let mut xvfb = Xvfb {
            child,
            display: String::new(),
        };
        xvfb.display = format!(":{}", read_display(reader, &mut xvfb.child)?);
        Ok(Some(xvfb))
    }
}

/// Reads the display number Xvfb writes once it accepts clients.
fn read_display(reader: OwnedFd, child: &mut Child) -> Result<u32, String> {
    rustix::fs::fcntl_setfl(&reader, rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| format!("Xvfb's pipe: {e}"))?;
    let mut pipe = std::fs::File::from(reader);
    let mut text = String::new();
    let started = Instant::now();
    loop {
        let mut chunk = [0u8; 32];
        match pipe.read(&mut chunk) {
            Ok(0) => return Err("Xvfb exited before it reported a display".into()),
            Ok(count) => text.push_str(&String::from_utf8_lossy(&chunk[..count])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("reading Xvfb's display: {e}")),
        }
        if text.ends_with('\n') {
            return text
                .trim()
                .parse()
                .map_err(|_| format!("Xvfb reported {text:?} as its display"));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "Xvfb exited ({status}) before it reported a display"
            ));
        }
        if started.elapsed() > START_LIMIT {
            return Err(format!(
                "Xvfb did not report a display within {} s",
                START_LIMIT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
