//! What a command works on (bucket and prefix) and what it compares against (a
//! manifest or a point in time): parsed and checked before any AWS call, then
//! turned into a [`Plan`] from one version listing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use common::{Error, Result};
use serde::Serialize;

use crate::bucket;
use crate::manifest::{Manifest, ObjectRecord};
use crate::plan::{self, Plan, VersionEntry};

/// `--bucket` and `--prefix`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScopeArgs {
    /// The site's S3 bucket (must have versioning enabled).
    #[arg(long, value_name = "BUCKET")]
    pub bucket: String,

    /// Only keys starting with this (e.g. `site/`); default the whole bucket,
    /// or with --manifest the manifest's own prefix.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
}

/// `--manifest FILE|-` or `--at TIME`: exactly one.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct SourceArgs {
    /// A manifest printed by `site-restore record` (`-` reads stdin).
    #[arg(long, value_name = "FILE|-")]
    pub manifest: Option<String>,

    /// A past moment, RFC 3339 (e.g. 2026-05-01T09:00:00Z): the content is
    /// rebuilt from the version history. S3 keeps whole seconds.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

/// Operator input quoted for an error line, cut to 100 characters: the one
/// rule of `common::quote`.
pub use common::quote as quoted;

/// S3 keys (and so prefixes) are at most 1024 bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks a bucket name against S3's rules, so a typo fails here with exit 2.
pub fn validate_bucket(name: &str) -> Result<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends_ok = name
        .chars()
        .next()
        .zip(name.chars().last())
        .is_some_and(|(a, b)| a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric());
    if !(3..=63).contains(&name.len()) || !ok_chars || !ends_ok || name.contains("..") {
        return Err(Error::usage(format!(
            "bad bucket name {}: 3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit",
            quoted(name)
        )));
    }
    Ok(())
}

/// Parses `--at`; a moment in the future has no content to return to yet.
pub fn parse_at(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|e| {
            Error::usage(format!(
                "--at {} is not an RFC 3339 time ({e}); use e.g. 2026-05-01T09:00:00Z",
                quoted(raw)
            ))
        })?
        .with_timezone(&Utc);
    if at > now {
        return Err(Error::usage(format!(
            "--at {} is in the future (now is {}); pick a moment before the deploy to undo",
            quoted(raw.trim()),
            now.format("%Y-%m-%dT%H:%M:%SZ")
        )));
    }
    Ok(at)
}

/// What to return to.
#[derive(Debug, Clone)]
pub enum Wanted {
    Manifest {
        manifest: Box<Manifest>,
        source: String,
    },
    At(DateTime<Utc>),
}

/// Bucket and prefix, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub bucket: String,
    pub prefix: String,
}

impl Scope {
    /// The journal target, e.g. `s3://ltc-site-prod/site/`.
    pub fn target(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Checks a `--prefix`: a key's start, so at most 1024 bytes, no control characters.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.len() > MAX_KEY_BYTES || prefix.chars().any(char::is_control) {
        return Err(Error::usage(format!(
            "bad --prefix {}: at most {MAX_KEY_BYTES} bytes, no control characters (got {} bytes)",
            quoted(prefix),
            prefix.len()
        )));
    }
    Ok(())
}

/// Checks `--bucket`/`--prefix` alone (for `record`).
pub fn scope_only(args: &ScopeArgs) -> Result<Scope> {
    validate_bucket(&args.bucket)?;
    if let Some(p) = &args.prefix {
        validate_prefix(p)?;
    }
    Ok(Scope {
        bucket: args.bucket.clone(),
        prefix: args.prefix.clone().unwrap_or_default(),
    })
}

/// Checks everything before any AWS call: the bucket name, the manifest (read,
/// parsed, same bucket and prefix) or the time (parsed, not in the future).
pub fn resolve(
    args: &ScopeArgs,
    source: &SourceArgs,
    now: DateTime<Utc>,
) -> Result<(Scope, Wanted)> {
    validate_bucket(&args.bucket)?;
    if let Some(p) = &args.prefix {
        validate_prefix(p)?;
    }
    match (&source.manifest, &source.at) {
        (Some(path), None) => {
            let manifest = Manifest::load(path)?;
            let source = if path == "-" { "stdin" } else { path }.to_owned();
            if manifest.bucket != args.bucket {
                return Err(Error::usage(format!(
                    "manifest {source} was recorded for bucket {}, not {}; nothing was changed",
                    quoted(&manifest.bucket),
                    quoted(&args.bucket)
                )));
            }
            if let Some(p) = &args.prefix
                && *p != manifest.prefix
            {
                return Err(Error::usage(format!(
                    "manifest {source} was recorded for prefix {}, not {}; drop --prefix or record that prefix",
                    quoted(&manifest.prefix),
                    quoted(p)
                )));
            }
            let scope = Scope {
                bucket: args.bucket.clone(),
                prefix: manifest.prefix.clone(),
            };
            Ok((
                scope,
                Wanted::Manifest {
                    manifest: Box::new(manifest),
                    source,
                },
            ))
        }
        (None, Some(raw)) => {
            let at = parse_at(raw, now)?;
            Ok((scope_only(args)?, Wanted::At(at)))
        }
        _ => Err(Error::usage("give exactly one of --manifest or --at")),
    }
}

/// How the target was named, for output and the journal.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct TargetDesc {
    /// `manifest` or `time`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The manifest's `taken_at`, or `--at`.
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
}

impl Wanted {
    pub fn describe(&self) -> TargetDesc {
        match self {
            Wanted::Manifest { manifest, source } => TargetDesc {
                kind: "manifest",
                manifest: Some(source.clone()),
                at: manifest.taken_at,
            },
            Wanted::At(at) => TargetDesc {
                kind: "time",
                manifest: None,
                at: *at,
            },
        }
    }
}

/// One listing and everything derived from it.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub entries: Vec<VersionEntry>,
    pub current: BTreeMap<String, ObjectRecord>,
    pub plan: Plan,
    pub ambiguous: Vec<String>,
}

/// Lists the versions under the prefix and compares the wanted state with the
/// current one.
pub async fn compare(
    s3: &aws_sdk_s3::Client,
    scope: &Scope,
    wanted: &Wanted,
) -> Result<Comparison> {
    let entries = bucket::list_versions(s3, &scope.bucket, &scope.prefix).await?;
    Ok(compare_entries(entries, wanted))
}

/// The pure half of [`compare`].
pub fn compare_entries(entries: Vec<VersionEntry>, wanted: &Wanted) -> Comparison {
    let current = plan::current_state(&entries);
    let available = plan::versions_index(&entries);
    let (target, ambiguous) = match wanted {
        Wanted::Manifest { manifest, .. } => (manifest.objects.clone(), Vec::new()),
        Wanted::At(at) => {
            let s = plan::state_at(&entries, *at);
            (s.objects, s.ambiguous)
        }
    };
    let plan = plan::diff(&target, &current, &available);
    Comparison {
        entries,
        current,
        plan,
        ambiguous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["ltc-site-prod", "a.b.c", "abc", "123"] {
            assert!(validate_bucket(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "Upper",
            "has space",
            "-lead",
            "trail-",
            "a..b",
            "under_score",
            "",
        ] {
            assert_eq!(validate_bucket(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn at_must_be_rfc3339_and_not_in_the_future() {
        let now: DateTime<Utc> = "2026-05-01T10:00:00Z".parse().unwrap();
        assert_eq!(
            parse_at("2026-05-01T18:00:00+09:00", now).unwrap(),
            "2026-05-01T09:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let e = parse_at("2026-05-01T10:00:01Z", now).unwrap_err();
        assert!(e.to_string().contains("future"), "{e}");
        assert_eq!(parse_at("yesterday", now).unwrap_err().exit_code(), 2);
        assert!(parse_at("2026-05-01 09:00", now).is_err());
    }
}
