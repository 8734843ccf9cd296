//! The manifest: which version of every key under a prefix was current at one
//! moment. `record` prints it; `diff` and `restore --manifest` read exactly that.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use common::{Error, Render, Result};

use crate::scope::{MAX_KEY_BYTES, quoted};
use serde::{Deserialize, Serialize};

/// Written into every manifest so a file of another shape is refused at once.
pub const FORMAT: &str = "site-restore/manifest-v1";

/// One key's recorded version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(deny_unknown_fields)]
pub struct ObjectRecord {
    pub version_id: String,
    pub etag: String,
    pub size: i64,
    #[schemars(with = "String")]
    pub last_modified: DateTime<Utc>,
}

/// The content of a bucket prefix at `taken_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(deny_unknown_fields)]
// As `record` prints it, the manifest also carries the result envelope's
// fields (docs/notes/output.md; `restore --manifest` strips them before
// parsing), so its published schema admits fields besides its own.
#[schemars(extend("additionalProperties" = true))]
pub struct Manifest {
    pub format: String,
    pub bucket: String,
    /// Empty for the whole bucket.
    pub prefix: String,
    #[schemars(with = "String")]
    pub taken_at: DateTime<Utc>,
    pub object_count: usize,
    pub total_bytes: i64,
    /// Key -> recorded version, sorted by key.
    pub objects: BTreeMap<String, ObjectRecord>,
}

impl Manifest {
    pub fn new(
        bucket: &str,
        prefix: &str,
        taken_at: DateTime<Utc>,
        objects: BTreeMap<String, ObjectRecord>,
    ) -> Self {
        Manifest {
            format: FORMAT.to_owned(),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            taken_at,
            object_count: objects.len(),
            total_bytes: objects.values().map(|o| o.size).sum(),
            objects,
        }
    }

    /// Parses and checks a manifest; every problem is a usage error (exit 2)
    /// naming `source` (the file name or "stdin").
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let bad = |why: String| Error::usage(format!("manifest {source} is not usable: {why}"));
        let expected = |e: serde_json::Error| {
            bad(format!(
                "{} (expected the JSON that `site-restore record` prints)",
                common::clip(&e.to_string())
            ))
        };
        // `record`'s saved stdout carries the result envelope (common::envelope);
        // the manifest itself is what is left without it.
        let doc: serde_json::Value = serde_json::from_str(text).map_err(expected)?;
        let m: Manifest = serde_json::from_value(common::envelope::strip(doc)).map_err(expected)?;
        crate::scope::validate_bucket(&m.bucket).map_err(|e| bad(e.to_string()))?;
        crate::scope::validate_prefix(&m.prefix).map_err(|e| bad(e.to_string()))?;
        if m.format != FORMAT {
            return Err(bad(format!(
                "format is {}, expected {FORMAT:?}",
                quoted(&m.format)
            )));
        }
        if m.object_count != m.objects.len() {
            return Err(bad(format!(
                "object_count says {} but it lists {} objects (truncated or edited?)",
                m.object_count,
                m.objects.len()
            )));
        }
        for (key, o) in &m.objects {
            if key.is_empty() {
                return Err(bad("an object has an empty key".into()));
            }
            let k = quoted(key);
            if key.len() > MAX_KEY_BYTES {
                return Err(bad(format!(
                    "key {k} is {} bytes; S3 keys are at most {MAX_KEY_BYTES}",
                    key.len()
                )));
            }
            if !key.starts_with(&m.prefix) {
                return Err(bad(format!(
                    "key {k} is outside the manifest's prefix {}",
                    quoted(&m.prefix)
                )));
            }
            if o.version_id.is_empty() || o.version_id.len() > MAX_KEY_BYTES {
                return Err(bad(format!("key {k} has an empty or overlong version_id")));
            }
            if o.size < 0 {
                return Err(bad(format!("key {k} has a negative size")));
            }
        }
        Ok(m)
    }

    /// Reads a manifest from a file, or from stdin for `-`.
    pub fn load(path: &str) -> Result<Self> {
        let (text, source) = if path == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::usage(format!("cannot read the manifest from stdin: {e}")))?;
            (s, "stdin".to_owned())
        } else {
            let s = std::fs::read_to_string(path)
                .map_err(|e| Error::usage(format!("cannot read manifest {}: {e}", quoted(path))))?;
            (s, path.to_owned())
        };
        Self::parse(&text, &source)
    }
}

/// The manifest is printed as JSON in every output mode, so `--output text`
/// still produces something `--manifest` accepts.
impl Render for Manifest {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let s = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        writeln!(w, "{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut objects = BTreeMap::new();
        objects.insert(
            "site/index.html".to_owned(),
            ObjectRecord {
                version_id: "v1".into(),
                etag: "\"abc\"".into(),
                size: 10,
                last_modified: "2026-01-01T00:00:00Z".parse().unwrap(),
            },
        );
        Manifest::new(
            "bucket",
            "site/",
            "2026-01-02T00:00:00Z".parse().unwrap(),
            objects,
        )
    }

    #[test]
    fn round_trips_through_its_own_json() {
        let m = sample();
        let text = serde_json::to_string_pretty(&m).unwrap();
        assert_eq!(Manifest::parse(&text, "f").unwrap(), m);
    }

    #[test]
    fn rejects_malformed_and_inconsistent_manifests() {
        let err = Manifest::parse("{not json", "f.json").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("f.json"), "{err}");

        let mut v = serde_json::to_value(sample()).unwrap();
        v["format"] = "other".into();
        let err = Manifest::parse(&v.to_string(), "f").unwrap_err();
        assert!(err.to_string().contains("format"), "{err}");

        let mut v = serde_json::to_value(sample()).unwrap();
        v["object_count"] = 5.into();
        let err = Manifest::parse(&v.to_string(), "f").unwrap_err();
        assert!(err.to_string().contains("object_count"), "{err}");

        let mut v = serde_json::to_value(sample()).unwrap();
        v["prefix"] = "other/".into();
        let err = Manifest::parse(&v.to_string(), "f").unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");

        let mut v = serde_json::to_value(sample()).unwrap();
        v["objects"]["site/index.html"]["version_id"] = "".into();
        assert!(Manifest::parse(&v.to_string(), "f").is_err());

        let mut v = serde_json::to_value(sample()).unwrap();
        v["objects"]["site/index.html"]
            .as_object_mut()
            .unwrap()
            .remove("etag");
        assert!(Manifest::parse(&v.to_string(), "f").is_err());
    }
}
