//! How long the host may show no sign of life before the guest gives up on it.
//!
//! A host that stops consuming (SIGSTOP, a hung VMM, a dead render-server worker) must turn a
//! waiting Vulkan call into `VK_ERROR_DEVICE_LOST` instead of a hang. A host that is merely busy
//! (a pipeline compile, a big submit) keeps showing signs of life — its ring monitor sets the
//! ALIVE status bit, its head moves, its socket answers — so only their absence counts.

use std::time::Duration;

/// The environment variable that overrides [`DEFAULT_STALL_TIMEOUT`], in seconds (decimals allowed).
pub const STALL_TIMEOUT_ENV: &str = "VENUS_RS_STALL_TIMEOUT";

pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Shorter would mistake scheduling hiccups of a loaded machine for a dead host.
const MIN_STALL_TIMEOUT: Duration = Duration::from_millis(500);
/// Longer is no longer a bound anyone waits for.
const MAX_STALL_TIMEOUT: Duration = Duration::from_secs(3600);

/// The stall timeout from `VENUS_RS_STALL_TIMEOUT`, or the default when it is unset.
pub fn stall_timeout_from_env() -> Result<Duration, String> {
    stall_timeout_from_value(std::env::var(STALL_TIMEOUT_ENV))
}

fn stall_timeout_from_value(value: Result<String, std::env::VarError>) -> Result<Duration, String> {
    match value {
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_STALL_TIMEOUT),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(format!("{STALL_TIMEOUT_ENV} is not valid UTF-8"))
        }
        Ok(text) => {
            parse_stall_timeout(&text).map_err(|e| format!("{STALL_TIMEOUT_ENV}={text:?}: {e}"))
        }
    }
}

/// Seconds, e.g. `10` or `2.5`.
pub fn parse_stall_timeout(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    let timeout = Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(MIN_STALL_TIMEOUT..=MAX_STALL_TIMEOUT).contains(&timeout) {
        return Err(format!(
            "{seconds} s is outside {:?} to {:?}",
            MIN_STALL_TIMEOUT, MAX_STALL_TIMEOUT
        ));
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::env::VarError;

    #[test]
    fn unset_means_ten_seconds() {
        assert_eq!(
            stall_timeout_from_value(Err(VarError::NotPresent)),
            Ok(Duration::from_secs(10))
        );
    }

    #[test]
    fn whole_and_fractional_seconds_parse() {
        assert_eq!(parse_stall_timeout("3"), Ok(Duration::from_secs(3)));
        assert_eq!(
            parse_stall_timeout(" 2.5 "),
            Ok(Duration::from_millis(2500))
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_the_reason() {
        for bad in ["", "ten", "-1", "0", "0.1", "1e9", "NaN", "inf"] {
            let err = stall_timeout_from_value(Ok(bad.into())).unwrap_err();
            assert!(err.starts_with("VENUS_RS_STALL_TIMEOUT="), "{bad:?}: {err}");
            assert!(
                err.contains("not a number") || err.contains("outside"),
                "{bad:?}: {err}"
            );
        }
    }
}
