//! A per-image deadline (`--timeout`) carried by the worker thread that verifies the image, so every
//! network request made on its behalf stops when the image's time is up.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` with a deadline `timeout` from now (none when `timeout` is `None`).
pub fn scope<T>(timeout: Option<Duration>, f: impl FnOnce() -> T) -> T {
    let previous = DEADLINE.with(|d| d.replace(timeout.map(|t| Instant::now() + t)));
    let out = f();
    DEADLINE.with(|d| d.set(previous));
    out
}

/// Time left before the current deadline; `None` when there is none.
pub fn remaining() -> Option<Duration> {
    DEADLINE.with(|d| d.get()).map(|at| at.saturating_duration_since(Instant::now()))
}

/// Whether the current deadline has passed (never, without one).
pub fn expired() -> bool {
    remaining().is_some_and(|left| left.is_zero())
}

/// Parses `10m`, `30s`, `1h`, `500ms` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?} (expected e.g. 30s, 10m, 1h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 7.0 * 86_400.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn deadlines_nest_and_restore() {
        assert!(remaining().is_none());
        scope(Some(Duration::from_secs(60)), || {
            assert!(remaining().unwrap() > Duration::from_secs(59));
            scope(None, || assert!(remaining().is_none()));
            assert!(remaining().is_some());
        });
        assert!(remaining().is_none());
    }
}
