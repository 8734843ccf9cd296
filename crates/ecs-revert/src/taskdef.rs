//! Task definition references (`api:3`, ARNs), the `--to` flag, and the names
//! operators type, all checked before any AWS call.
//!
//! The emulator stores a service's task definition exactly as it was passed
//! (`api:2`, not the ARN), so everything is compared as `family:revision`.

use std::fmt;

use serde::{Serialize, Serializer};

use common::{Error, Result};

/// A task definition as `family:revision`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, common::schemars::JsonSchema)]
// Serialized as `family:revision` (the Serialize impl below).
#[schemars(crate = "common::schemars", with = "String")]
pub struct TaskDefRef {
    pub family: String,
    pub revision: u32,
}

impl fmt::Display for TaskDefRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.family, self.revision)
    }
}

impl Serialize for TaskDefRef {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl TaskDefRef {
    pub fn new(family: impl Into<String>, revision: u32) -> Self {
        TaskDefRef {
            family: family.into(),
            revision,
        }
    }

    /// Reads `family:rev` or a task definition ARN as the service or a deployment
    /// reports it. `None` for a bare family (which means "latest" to ECS) or junk.
    pub fn parse_loose(s: &str) -> Option<TaskDefRef> {
        let tail = match s.rsplit_once("task-definition/") {
            Some((_, t)) => t,
            None => s,
        };
        let (family, rev) = tail.rsplit_once(':')?;
        let revision: u32 = rev.parse().ok().filter(|r| *r >= 1)?;
        valid_name(family).then(|| TaskDefRef::new(family, revision))
    }
}

/// What `--to` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A bare revision of each service's own family.
    Revision(u32),
    /// A definite `family:revision` (also from an ARN).
    Exact(TaskDefRef),
}

impl TargetSpec {
    /// Parses `--to`: `3`, `api:3` or `arn:aws:ecs:REGION:ACCOUNT:task-definition/api:3`.
    pub fn parse(raw: &str) -> Result<TargetSpec> {
        let s = raw.trim();
        let bad = |why: &str| {
            Error::usage(format!(
                "bad --to {}: {why} (use a revision like 3, family:revision like api:3, or a task definition ARN)",
                quoted(raw)
            ))
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.chars().all(|c| c.is_ascii_digit()) {
            return match s.parse::<u32>() {
                Ok(0) => Err(bad("revisions start at 1")),
                Ok(n) => Ok(TargetSpec::Revision(n)),
                Err(_) => Err(bad("revision too large")),
            };
        }
        if s.starts_with("arn:") {
            let ok_prefix = s.split(':').nth(2) == Some("ecs") && s.contains(":task-definition/");
            if !ok_prefix {
                return Err(bad("not an ECS task definition ARN"));
            }
        }
        let tail = s.rsplit_once("task-definition/").map_or(s, |(_, t)| t);
        let Some((family, rev)) = tail.rsplit_once(':') else {
            return Err(bad("no revision (ECS would take the latest; name one)"));
        };
        if !valid_name(family) {
            return Err(bad(
                "family names are 1-255 letters, digits, hyphens and underscores",
            ));
        }
        match rev.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(TargetSpec::Exact(TaskDefRef::new(family, n))),
            _ => Err(bad("the revision must be a whole number from 1")),
        }
    }

    /// The concrete target for a service currently on `current`.
    pub fn resolve(&self, current: &TaskDefRef) -> TaskDefRef {
        match self {
            TargetSpec::Revision(n) => TaskDefRef::new(current.family.clone(), *n),
            TargetSpec::Exact(t) => t.clone(),
        }
    }
}

/// ECS names (cluster, service, family): 1-255 letters, digits, `-`, `_`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Checks a `--cluster` or `--service` value: a name or an ECS ARN.
pub fn check_resource(kind: &str, raw: &str) -> Result<()> {
    let name = if raw.starts_with("arn:") {
        if raw.split(':').nth(2) != Some("ecs") {
            return Err(Error::usage(format!(
                "--{kind} {} is not an ECS ARN",
                quoted(raw)
            )));
        }
        raw.rsplit('/').next().unwrap_or_default()
    } else {
        raw
    };
    if valid_name(name) {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "bad --{kind} {}: ECS names are 1-255 letters, digits, hyphens and underscores (got {} characters)",
            quoted(raw),
            raw.chars().count()
        )))
    }
}

/// The short name from a name or an ARN (`.../cluster/ltc-prod` -> `ltc-prod`).
pub fn short_name(raw: &str) -> &str {
    raw.rsplit('/').next().unwrap_or(raw)
}

/// Checks `--desired`: a whole number from 0; above `limit` needs `--force`.
pub fn parse_count(raw: &str, force: bool, limit: i32) -> Result<i32> {
    let n: i64 = raw.trim().parse().map_err(|_| {
        Error::usage(format!(
            "desired count must be a whole number 0-{limit}, got {}",
            quoted(raw)
        ))
    })?;
    if n < 0 {
        return Err(Error::usage(format!(
            "desired count must be 0-{limit}, got {n}"
        )));
    }
    let n = i32::try_from(n).map_err(|_| {
        Error::usage(format!(
            "desired count must be 0-{limit} (more with --force, at most {}), got {n}",
            i32::MAX
        ))
    })?;
    if n > limit && !force {
        return Err(Error::usage(format!(
            "desired count must be 0-{limit}, got {n}; more than {limit} tasks looks like a typo: pass --force if you mean it"
        )));
    }
    Ok(n)
}

/// Operator input quoted for an error line, cut to 100 characters: the one
/// rule of `common::quote`.
pub use common::quote as quoted;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_parse_accepts_what_services_report() {
        assert_eq!(
            TaskDefRef::parse_loose("api:2"),
            Some(TaskDefRef::new("api", 2))
        );
        assert_eq!(
            TaskDefRef::parse_loose(
                "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/api-worker:14"
            ),
            Some(TaskDefRef::new("api-worker", 14))
        );
        assert_eq!(TaskDefRef::parse_loose("api"), None);
        assert_eq!(TaskDefRef::parse_loose("api:0"), None);
        assert_eq!(TaskDefRef::parse_loose("a b:1"), None);
    }

    #[test]
    fn to_flag_forms() {
        assert_eq!(TargetSpec::parse("3").unwrap(), TargetSpec::Revision(3));
        assert_eq!(
            TargetSpec::parse("api:3").unwrap(),
            TargetSpec::Exact(TaskDefRef::new("api", 3))
        );
        assert_eq!(
            TargetSpec::parse("arn:aws:ecs:ap-northeast-1:1:task-definition/api:3").unwrap(),
            TargetSpec::Exact(TaskDefRef::new("api", 3))
        );
        let cur = TaskDefRef::new("api", 4);
        assert_eq!(
            TargetSpec::Revision(2).resolve(&cur),
            TaskDefRef::new("api", 2)
        );
    }

    #[test]
    fn to_flag_rejects_junk_with_usage_errors() {
        for bad in [
            "",
            "0",
            "-1",
            "api",
            "api:",
            "api:x",
            "api:0",
            "api:-2",
            "a b:1",
            "99999999999",
            "arn:aws:s3:::bucket/api:1",
        ] {
            let err = TargetSpec::parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
            assert!(err.to_string().contains("--to"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("4", false, 1000).unwrap(), 4);
        assert_eq!(parse_count("0", false, 1000).unwrap(), 0);
        assert_eq!(parse_count("-1", false, 1000).unwrap_err().exit_code(), 2);
        assert_eq!(parse_count("two", false, 1000).unwrap_err().exit_code(), 2);
        assert_eq!(parse_count("5000", false, 1000).unwrap_err().exit_code(), 2);
        assert_eq!(parse_count("5000", true, 1000).unwrap(), 5000);
        assert_eq!(
            parse_count("99999999999", true, 1000)
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn count_messages_are_plain_and_long_inputs_quoted_short() {
        assert_eq!(
            parse_count("-1", false, 1000).unwrap_err().to_string(),
            "desired count must be 0-1000, got -1"
        );
        let e = parse_count(&"9".repeat(5000), false, 1000).unwrap_err();
        assert!(e.to_string().contains("(5000 characters)"), "{e}");
        assert!(e.to_string().len() < 200, "{}", e.to_string().len());
        let e = check_resource("service", &"x".repeat(100_000)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().len() < 250, "{}", e.to_string().len());
        assert!(check_resource("cluster", &"c".repeat(255)).is_ok());
        assert!(check_resource("cluster", &"c".repeat(256)).is_err());
        let e = TargetSpec::parse(&format!("api:{}", "1".repeat(3000))).unwrap_err();
        assert!(e.to_string().len() < 300, "{e}");
    }

    #[test]
    fn resource_names() {
        assert!(check_resource("cluster", "ltc-prod").is_ok());
        assert!(check_resource("cluster", "arn:aws:ecs:ap-northeast-1:1:cluster/ltc").is_ok());
        assert!(check_resource("service", "").is_err());
        assert!(check_resource("service", "api;rm").is_err());
        assert!(check_resource("service", "arn:aws:s3:::x").is_err());
        assert_eq!(short_name("arn:aws:ecs:r:1:service/c/api"), "api");
    }
}
