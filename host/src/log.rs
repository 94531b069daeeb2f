//! One-line log messages on stderr, prefixed with the program name so that lines from the
//! vtest server, the render server and its context workers can be told apart in a shared log.

use std::sync::OnceLock;

fn program_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::args()
            .next()
            .and_then(|arg0| {
                std::path::Path::new(&arg0)
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "venus-rs-host".to_owned())
    })
}

/// Writes one line; use the [`log!`](crate::log!) macro. The line goes out in one write, so
/// that lines of processes sharing a log (a server and its workers) never interleave.
pub fn line(message: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let line = format!("{}[{}]: {}\n", program_name(), std::process::id(), message);
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `log!("context {id}: ...")` writes one line on stderr.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}
