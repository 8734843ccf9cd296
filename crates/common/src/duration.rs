//! Human durations (`500ms`, `30s`, `5m`, `1h30m`) for every `--timeout`/`--bake`
//! flag, and the runbook-wide `LTC_DEADLINE`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// The longest duration any flag accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// A duration flag value; parses `500ms`, `30s`, `5m`, `1h30m`, `0s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

/// The oldest age an age flag accepts (ten years).
pub const MAX_AGE: Duration = Duration::from_secs(3650 * 24 * 3600);

/// An age flag value (how old something is, e.g. a snapshot for `prune --older-than 30d`):
/// parsed like [`HumanDuration`] but up to [`MAX_AGE`], since it is never waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanAge(pub Duration);

impl FromStr for HumanAge {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let d = parse_human(s)?;
        if d > MAX_AGE {
            let q = crate::quote(s.trim());
            return Err(format!("age {q} is longer than the 10 years allowed"));
        }
        Ok(HumanAge(d))
    }
}

impl fmt::Display for HumanAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", format_duration(self.0))
    }
}

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let d = parse_human(s)?;
        // No wait, bake or watch of this toolkit is meant to outlast a week; a
        // typo such as `9999999999w` must not bake with traffic half moved.
        if d > MAX_DURATION {
            let q = crate::quote(s.trim());
            return Err(format!("duration {q} is longer than the 7 days allowed"));
        }
        Ok(HumanDuration(d))
    }
}

/// `500ms`, `30s`, `5m`, `1h30m`, `30d` -> a duration; a number needs a unit.
fn parse_human(s: &str) -> std::result::Result<Duration, String> {
    {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty duration (use e.g. 500ms, 30s, 5m)".into());
        }
        let q = crate::quote(t);
        if t.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("{q} has no unit (use e.g. 30s or 5m)"));
        }
        let d = humantime::parse_duration(t).map_err(|e| {
            // humantime's own message quotes the unit whole, however long.
            let why = match e {
                humantime::DurationError::UnknownUnit { unit, .. } => {
                    format!("unknown unit {}", crate::quote(&unit))
                }
                humantime::DurationError::NumberOverflow => "number too large".to_owned(),
                other => crate::clip(&other.to_string()),
            };
            format!("bad duration {q}: {why} (use e.g. 500ms, 30s, 5m)")
        })?;
        Ok(d)
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

/// Parses a duration flag taken as text (so a bad value is one usage line,
/// exit 2, with the flag named) and at most `max`, written `max_text` in the
/// message. dns-shift and lb-switch read `--bake`, `--timeout` and
/// `--gate-timeout` with it, capped at 24h.
pub fn parse_flag_at_most(
    flag: &str,
    raw: &str,
    max: Duration,
    max_text: &str,
) -> Result<Duration> {
    if raw.chars().count() > 32 {
        return Err(Error::usage(format!(
            "{flag} must be a duration such as 30s, 5m or 1h, got {}",
            crate::quote(raw)
        )));
    }
    let d = raw
        .parse::<HumanDuration>()
        .map(|d| d.0)
        .map_err(|e| Error::usage(format!("{flag}: {e}")))?;
    if d > max {
        return Err(Error::usage(format!(
            "{flag} must be at most {max_text}, got {}",
            raw.trim()
        )));
    }
    Ok(d)
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
                "LTC_DEADLINE must be an RFC 3339 time like 2026-11-27T04:00:00Z, got {}: {e}",
                crate::quote(raw)
            ))
        })
}

/// Checked before any call: a deadline that has already passed would let a
/// change go out with no time left to wait for it, so nothing starts.
pub fn check_deadline_not_passed(now: DateTime<Utc>) -> Result<()> {
    refuse_passed(env_deadline()?, now)
}

fn refuse_passed(deadline: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<()> {
    if let Some(d) = deadline
        && d <= now
    {
        return Err(Error::usage(format!(
            "LTC_DEADLINE {} has already passed; nothing was started",
            d.to_rfc3339()
        )));
    }
    Ok(())
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
    #[test]
    fn a_capped_flag_names_itself_and_its_cap() {
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(
            parse_flag_at_most("--bake", "2m", day, "24h").unwrap(),
            Duration::from_secs(120)
        );
        let over = parse_flag_at_most("--bake", "48h", day, "24h").unwrap_err();
        assert_eq!(over.to_string(), "--bake must be at most 24h, got 48h");
        let long = parse_flag_at_most("--timeout", &"9".repeat(40), day, "24h").unwrap_err();
        assert!(
            long.to_string()
                .starts_with("--timeout must be a duration such as"),
            "{long}"
        );
        let bad = parse_flag_at_most("--timeout", "soon", day, "24h").unwrap_err();
        assert!(bad.to_string().starts_with("--timeout: "), "{bad}");
        assert_eq!(bad.exit_code(), crate::exit::USAGE);
    }

    #[test]
    fn durations_over_a_week_and_past_deadlines_are_refused() {
        let e = "9999999999w".parse::<HumanDuration>().unwrap_err();
        assert!(e.contains("longer than the 7 days"), "{e}");
        let age: HumanAge = "30d".parse().expect("30 days is an age");
        assert_eq!(age.0, Duration::from_secs(30 * 24 * 3600));
        let e = "20000d".parse::<HumanAge>().expect_err("over ten years");
        assert!(e.contains("longer than the 10 years"), "{e}");
        assert!("7d".parse::<HumanDuration>().is_ok());
        let long = format!("{}s", "9".repeat(10_000));
        let e = long.parse::<HumanDuration>().unwrap_err();
        assert!(e.len() < 300, "{}", e.len());
        let now = Utc::now();
        let past = parse_deadline("2026-01-01T00:00:00Z\n").unwrap();
        let e = refuse_passed(Some(past), now).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("already passed"), "{e}");
        assert!(refuse_passed(Some(now + chrono::Duration::minutes(5)), now).is_ok());
        assert!(refuse_passed(None, now).is_ok());
    }

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
