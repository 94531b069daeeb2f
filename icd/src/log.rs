//! `VENUS_RS_LOG=error|warn|info|debug|trace`: one line per message on stderr, prefixed `venus-rs:`.
//! Unset means errors only, so a working driver stays silent.

use std::sync::OnceLock;

pub const LOG_ENV: &str = "VENUS_RS_LOG";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    pub fn parse(text: &str) -> Option<Level> {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            "trace" => Some(Level::Trace),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

/// The level from `VENUS_RS_LOG`, read once. An unknown value is reported once and treated as `info`,
/// since whoever set it wanted to see something.
pub fn max_level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| match std::env::var(LOG_ENV) {
        Ok(text) => Level::parse(&text).unwrap_or_else(|| {
            eprintln!(
                "venus-rs: {LOG_ENV}={text:?} is not one of error, warn, info, debug, trace; using info"
            );
            Level::Info
        }),
        Err(_) => Level::Error,
    })
}

pub fn enabled(level: Level) -> bool {
    level <= max_level()
}

pub fn line(level: Level, message: std::fmt::Arguments<'_>) {
    eprintln!("venus-rs: {}: {message}", level.name());
}

/// `venus_log!(Level::Info, "...")` writes one line on stderr when the level is enabled.
#[macro_export]
macro_rules! venus_log {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::line($level, format_args!($($arg)*))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_order() {
        assert_eq!(Level::parse("INFO"), Some(Level::Info));
        assert_eq!(Level::parse(" trace "), Some(Level::Trace));
        assert_eq!(Level::parse("verbose"), None);
        assert!(Level::Error < Level::Info && Level::Info < Level::Trace);
    }
}
