//! Human durations (`500ms`, `30s`, `5m`, `1h30m`) for every `--timeout`/`--bake`
//! flag, and the runbook-wide `LTC_DEADLINE`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// A duration flag value; parses `500ms`, `30s`, `5m`, `1h30m`, `0s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty duration (use e.g. 500ms, 30s, 5m)".into());
        }
        if t.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("{t:?} has no unit (use e.g. {t}s or {t}m)"));
        }
        humantime::parse_duration(t)
            .map(HumanDuration)
            .map_err(|e| format!("bad duration {t:?}: {e} (use e.g. 500ms, 30s, 5m)"))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", format_duration(self.0))
    }
}

impl serde::Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Short human form: `850ms`, `12.3s`, `4m05s`, `1h02m`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// Reads `LTC_DEADLINE` (RFC 3339). A malformed value is a usage error rather than
/// being ignored: a runbook that set a deadline must not run without one.
pub fn env_deadline() -> Result<Option<DateTime<Utc>>> {
    match std::env::var("LTC_DEADLINE") {
        Ok(raw) if !raw.trim().is_empty() => parse_deadline(&raw).map(Some),
        _ => Ok(None),
    }
}

pub fn parse_deadline(raw: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Error::usage(format!(
                "LTC_DEADLINE must be an RFC 3339 time like 2026-11-27T04:00:00Z, got {raw:?}: {e}"
            ))
        })
}

/// How long a wait may take: the smaller of `timeout` and the time left until
/// `LTC_DEADLINE`. Zero when the deadline has already passed.
pub fn effective_timeout(timeout: Duration) -> Result<Duration> {
    Ok(bounded_by(timeout, env_deadline()?, Utc::now()))
}

pub fn bounded_by(
    timeout: Duration,
    deadline: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Duration {
    match deadline {
        Some(d) => {
            let left = (d - now).to_std().unwrap_or(Duration::ZERO);
            timeout.min(left)
        }
        None => timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(
            "500ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            "30s".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(30)
        );
        assert_eq!(
            "5m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(300)
        );
        assert_eq!(
            "1h30m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(5400)
        );
        assert_eq!("0s".parse::<HumanDuration>().unwrap().0, Duration::ZERO);
    }

    #[test]
    fn rejects_bare_numbers_and_junk() {
        assert!(
            "30".parse::<HumanDuration>()
                .unwrap_err()
                .contains("no unit")
        );
        assert!("soon".parse::<HumanDuration>().is_err());
        assert!("".parse::<HumanDuration>().is_err());
        assert!("-5s".parse::<HumanDuration>().is_err());
    }

    #[test]
    fn formats_short() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_millis(12_300)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn deadline_bounds_timeout() {
        let now = Utc::now();
        let d = now + chrono::Duration::seconds(10);
        assert_eq!(
            bounded_by(Duration::from_secs(60), Some(d), now),
            Duration::from_secs(10)
        );
        assert_eq!(
            bounded_by(Duration::from_secs(5), Some(d), now),
            Duration::from_secs(5)
        );
        let past = now - chrono::Duration::seconds(1);
        assert_eq!(
            bounded_by(Duration::from_secs(5), Some(past), now),
            Duration::ZERO
        );
    }

    #[test]
    fn malformed_deadline_is_usage_error() {
        assert_eq!(parse_deadline("tomorrow").unwrap_err().exit_code(), 2);
        assert!(parse_deadline("2026-11-27T04:00:00Z").is_ok());
    }
}
