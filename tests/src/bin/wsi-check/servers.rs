//! The display servers the checks present to, started as children of this program (which runs inside
//! the reference chroot, where Xvfb and weston are installed) and killed when dropped.

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Xvfb on a display it picks itself; returns the server and its DISPLAY value.
pub fn start_xvfb() -> Result<(Server, String), String> {
    let (reader, writer) = rustix::pipe::pipe().map_err(|e| format!("pipe: {e}"))?;
    let child = Command::new("Xvfb")
        .args(["-displayfd", &writer.as_raw_fd().to_string()])
        .args(["-nolisten", "tcp", "-screen", "0", "1280x800x24"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start Xvfb: {e}"))?;
    let server = Server { child };
    drop(writer);
    let mut line = String::new();
    BufReader::new(std::fs::File::from(reader))
        .read_line(&mut line)
        .map_err(|e| format!("reading Xvfb's display number: {e}"))?;
    let number: u32 = line
        .trim()
        .parse()
        .map_err(|_| format!("Xvfb reported no display number ({line:?})"))?;
    Ok((server, format!(":{number}")))
}

/// Headless weston with the pixman renderer (so its output can be captured), on a socket of its own
/// in a fresh XDG_RUNTIME_DIR. Returns the server, the runtime dir and the socket name.
pub fn start_weston() -> Result<(Server, PathBuf, String), String> {
    let runtime = std::env::temp_dir().join(format!("wsi-check-xdg-{}", std::process::id()));
    std::fs::create_dir_all(&runtime).map_err(|e| format!("{}: {e}", runtime.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("{}: {e}", runtime.display()))?;
    let socket = "wsi-check-wayland".to_string();
    let log = runtime.join("weston.log");
    let child = Command::new("weston")
        .args([
            "--backend=headless",
            "--renderer=pixman",
            "--shell=kiosk",
            "--debug",
            "--width=800",
            "--height=600",
            "--idle-time=0",
        ])
        .arg(format!("--socket={socket}"))
        .arg(format!("--log={}", log.display()))
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start weston: {e}"))?;
    let server = Server { child };
    let started = Instant::now();
    while !runtime.join(&socket).exists() {
        if started.elapsed() > Duration::from_secs(20) {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("weston made no socket in 20 s; its log:\n{text}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((server, runtime, socket))
}
