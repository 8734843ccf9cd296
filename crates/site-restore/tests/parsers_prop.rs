//! Property tests of site-restore's input parsers: bucket, prefix, `--at` and
//! the manifest document. Any input gives a value or one short line, exit 2.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use site_restore::manifest::Manifest;
use site_restore::scope::{parse_at, validate_bucket, validate_prefix};

const MAX_CHARS: usize = 500;

fn assert_one_short_line(msg: &str) {
    testkit::assert_one_short_line(msg, MAX_CHARS);
}

fn any_text() -> BoxedStrategy<String> {
    testkit::prop::any_text(&["[a-z0-9.-]{0,80}"], 3000)
}

/// Manifests that are almost right: each field replaced by something odd.
fn manifest_text() -> impl Strategy<Value = String> {
    let odd = testkit::prop::odd_json(vec![serde_json::json!([])]);
    (0usize..9, odd, ".{0,300}").prop_map(|(field, value, key)| {
        let mut m = serde_json::json!({
            "format": "site-restore/manifest-v1",
            "bucket": "ltc-site",
            "prefix": "site/",
            "taken_at": "2026-12-01T00:00:00Z",
            "object_count": 1,
            "total_bytes": 3,
            "objects": {"site/index.html": {"version_id": "v1", "etag": "\"e\"", "size": 3,
                         "last_modified": "2026-12-01T00:00:00Z"}}
        });
        let names = [
            "format",
            "bucket",
            "prefix",
            "taken_at",
            "object_count",
            "total_bytes",
            "objects",
        ];
        match field {
            0..=6 => m[names[field]] = value,
            7 => m[key.as_str()] = value,
            _ => m["objects"][key.as_str()] = m["objects"]["site/index.html"].clone(),
        }
        m.to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn buckets_are_valid_or_one_line(raw in any_text()) {
        if let Err(e) = validate_bucket(&raw) {
            testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
        }
    }

    #[test]
    fn s3_shaped_buckets_are_accepted(b in "[a-z0-9][a-z0-9-]{1,61}[a-z0-9]") {
        prop_assert!(validate_bucket(&b).is_ok());
    }

    #[test]
    fn prefixes_are_valid_or_one_line(raw in any_text()) {
        if let Err(e) = validate_prefix(&raw) {
            assert_one_short_line(&e.to_string());
        }
    }

    #[test]
    fn at_is_a_past_time_or_one_line(raw in prop_oneof![any_text(), " {0,3000}2099-01-01T00:00:00Z", "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z"]) {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap();
        match parse_at(&raw, now) {
            Ok(t) => prop_assert!(t <= now),
            Err(e) => {
                testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
            }
        }
    }

    #[test]
    fn manifests_parse_or_say_one_line(text in prop_oneof![manifest_text(), any_text()]) {
        if let Err(e) = Manifest::parse(&text, "m.json") {
            testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
        }
    }
}
