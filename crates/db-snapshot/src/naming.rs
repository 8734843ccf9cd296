//! RDS naming rules, checked before any AWS call, and the names this tool
//! generates: `<prefix>-<id>-<UTC timestamp>` snapshots and
//! `<SOURCE>-pre-restore-<timestamp>` for the instance moved aside by `--swap`.

use chrono::{DateTime, Utc};

use common::{Error, Result};

/// Longest DB instance or cluster identifier RDS accepts.
pub const MAX_DB_ID: usize = 63;
/// Longest DB snapshot identifier RDS accepts.
pub const MAX_SNAPSHOT_ID: usize = 255;
/// Prefix RDS gives automated snapshots (`rds:ltc-db-2026-11-27-03-33`).
pub const AUTOMATED_PREFIX: &str = "rds:";

/// What a name is for, to say so in the error message.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Instance,
    Cluster,
    Snapshot,
    Prefix,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Instance => "DB instance identifier",
            Kind::Cluster => "DB cluster identifier",
            Kind::Snapshot => "snapshot identifier",
            Kind::Prefix => "snapshot prefix",
        }
    }

    fn max(self) -> usize {
        match self {
            Kind::Instance | Kind::Cluster => MAX_DB_ID,
            Kind::Snapshot | Kind::Prefix => MAX_SNAPSHOT_ID,
        }
    }
}

/// Operator input quoted for an error line, cut to 100 characters: the one
/// rule of `common::quote`.
pub use common::quote as quoted;

/// Checks RDS naming rules: 1 to `max` letters, digits or hyphens, starting with
/// a letter, no double hyphen, no trailing hyphen.
pub fn validate(kind: Kind, id: &str) -> Result<()> {
    let what = kind.noun();
    let bad = |why: &str| Err(Error::usage(format!("bad {what} {}: {why}", quoted(id))));
    if id.is_empty() {
        return bad("it is empty");
    }
    if id.len() > kind.max() {
        return bad(&format!(
            "it is {} characters long, the limit is {}",
            id.len(),
            kind.max()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return bad(&format!(
            "{c:?} is not allowed (letters, digits and hyphens only)"
        ));
    }
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return bad("it must start with a letter");
    }
    if id.contains("--") {
        return bad("it must not contain two hyphens in a row");
    }
    if id.ends_with('-') {
        return bad("it must not end with a hyphen");
    }
    Ok(())
}

/// A snapshot someone refers to (not one we create): a valid name, or an
/// automated snapshot's `rds:` name.
pub fn validate_snapshot_ref(id: &str) -> Result<()> {
    match id.strip_prefix(AUTOMATED_PREFIX) {
        Some(rest) => validate(Kind::Snapshot, rest).map_err(|_| {
            Error::usage(format!(
                "bad snapshot identifier {}: after \"rds:\" it must follow RDS naming rules",
                quoted(id)
            ))
        }),
        None => validate(Kind::Snapshot, id),
    }
}

/// The UTC timestamp used in generated names: `20261127-033000`.
pub fn timestamp(now: DateTime<Utc>) -> String {
    now.format("%Y%m%d-%H%M%S").to_string()
}

/// `<prefix>-<source>-<timestamp>`, validated.
pub fn snapshot_name(prefix: &str, source: &str, now: DateTime<Utc>) -> Result<String> {
    let name = format!("{prefix}-{source}-{}", timestamp(now));
    validate(Kind::Snapshot, &name)?;
    Ok(name)
}

/// `<source>-pre-restore-<timestamp>`, the name `--swap` moves the source to.
pub fn pre_restore_name(source: &str, now: DateTime<Utc>) -> Result<String> {
    let name = format!("{source}-pre-restore-{}", timestamp(now));
    if name.len() > MAX_DB_ID {
        return Err(Error::usage(format!(
            "--swap would rename {source:?} to {name:?}, which is longer than {MAX_DB_ID} characters; \
             use an instance identifier of at most {} characters or restore without --swap",
            MAX_DB_ID - (name.len() - source.len())
        )));
    }
    validate(Kind::Instance, &name)?;
    Ok(name)
}

/// What `restore --snapshot -` read from stdin: a bare id, or the JSON document
/// `create`/`latest` print (its `snapshot_id`).
pub fn parse_snapshot_input(input: &str) -> Result<String> {
    let text = input.trim();
    if text.is_empty() {
        return Err(Error::usage(
            "--snapshot - read nothing from stdin (pipe a snapshot id or the JSON from `db-snapshot latest`)",
        ));
    }
    let id = if text.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::usage(format!("--snapshot -: stdin is not valid JSON: {e}")))?;
        v.get("snapshot_id")
            .or_else(|| v.get("snapshot").and_then(|s| s.get("snapshot_id")))
            .and_then(|s| s.as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::usage("--snapshot -: the JSON on stdin has no \"snapshot_id\" field")
            })?
    } else if text.lines().count() == 1 && !text.contains(char::is_whitespace) {
        text.to_owned()
    } else {
        return Err(Error::usage(
            "--snapshot -: expected one snapshot id or one JSON document on stdin",
        ));
    };
    validate_snapshot_ref(&id)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T03:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn accepts_good_names() {
        for id in ["ltc-db", "a", "LtcDb1", "a-b-c-9"] {
            assert!(validate(Kind::Instance, id).is_ok(), "{id}");
        }
        assert!(validate(Kind::Instance, &"a".repeat(63)).is_ok());
        assert!(validate(Kind::Snapshot, &"a".repeat(255)).is_ok());
    }

    #[test]
    fn rejects_each_broken_rule_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("1db", "start with a letter"),
            ("-db", "start with a letter"),
            ("ltc--db", "two hyphens"),
            ("ltc-db-", "end with a hyphen"),
            ("ltc_db", "not allowed"),
            ("ltc.db", "not allowed"),
            ("ltc db", "not allowed"),
        ];
        for (id, why) in cases {
            let err = validate(Kind::Instance, id).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(why), "{id}: {err}");
        }
        let long = "a".repeat(64);
        assert!(
            validate(Kind::Instance, &long)
                .unwrap_err()
                .to_string()
                .contains("limit is 63")
        );
        assert!(validate(Kind::Snapshot, &long).is_ok());
        assert!(validate(Kind::Snapshot, &"a".repeat(256)).is_err());
    }

    #[test]
    fn long_input_is_quoted_cut_to_100_characters() {
        let long = format!("{}_", "a".repeat(100_000));
        let err = validate(Kind::Instance, &long).unwrap_err().to_string();
        assert!(err.len() < 300, "{} characters: {}", err.len(), &err[..300]);
        assert!(err.contains("(100001 characters)"), "{err}");
        assert_eq!(quoted("ltc-db"), "\"ltc-db\"");
    }

    #[test]
    fn automated_snapshot_names_are_accepted_as_references_only() {
        assert!(validate_snapshot_ref("rds:ltc-db-2026-11-27-03-33").is_ok());
        assert!(validate(Kind::Snapshot, "rds:ltc-db-2026-11-27-03-33").is_err());
        assert!(validate_snapshot_ref("rds:").is_err());
        assert!(validate_snapshot_ref("rds:--x").is_err());
    }

    #[test]
    fn generated_names_follow_the_pattern() {
        assert_eq!(
            snapshot_name("pre-deploy", "ltc-db", now()).unwrap(),
            "pre-deploy-ltc-db-20261127-033000"
        );
        assert_eq!(
            pre_restore_name("ltc-db", now()).unwrap(),
            "ltc-db-pre-restore-20261127-033000"
        );
        // 35 characters is the longest source that still fits.
        assert!(pre_restore_name(&"a".repeat(35), now()).is_ok());
        let err = pre_restore_name(&"a".repeat(36), now()).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("at most 35"), "{err}");
    }

    #[test]
    fn stdin_takes_a_bare_id_or_the_json_of_latest() {
        assert_eq!(parse_snapshot_input("snap-1\n").unwrap(), "snap-1");
        assert_eq!(
            parse_snapshot_input(r#"{"snapshot_id": "rds:ltc-db-2026", "age": "1h"}"#).unwrap(),
            "rds:ltc-db-2026"
        );
        assert_eq!(
            parse_snapshot_input(r#"{"snapshot": {"snapshot_id": "s1"}}"#).unwrap(),
            "s1"
        );
        for bad in ["", "{nope", r#"{"id": "x"}"#, "a b", "bad--id"] {
            assert_eq!(
                parse_snapshot_input(bad).unwrap_err().exit_code(),
                2,
                "{bad}"
            );
        }
    }
}
