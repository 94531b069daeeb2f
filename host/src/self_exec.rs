//! How a server names its own program to start its per-client or per-context processes.

use std::path::PathBuf;

/// The running program: `/proc/self/exe` where there is one, which still names this exact
/// program after its file was replaced or the folder holding it was unmounted (an upgrade, a
/// rebuild); the path it was started from elsewhere.
pub fn own_executable() -> Result<PathBuf, String> {
    let proc_exe = PathBuf::from("/proc/self/exe");
    if proc_exe.exists() {
        return Ok(proc_exe);
    }
    std::env::current_exe()
        .map_err(|e| format!("cannot find this program's path to start its processes: {e}"))
}

/// A command that starts this program again, under the name it was started with (so that its
/// log lines carry the same program name).
pub fn command(executable: &std::path::Path) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(executable);
    if let Some(name) = std::env::args_os().next() {
        command.arg0(name);
    }
    command
}
