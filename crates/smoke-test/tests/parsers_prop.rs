//! Property tests of smoke-test's input parsers: thresholds, status lists,
//! URLs, headers and whole checks files. Any input gives a value or one short
//! line (checks files: with its line and column).

use proptest::prelude::*;
use smoke_test::checks::{FileOptions, StatusSpec, parse_file, parse_url};
use smoke_test::get::{parse_header, parse_method};
use smoke_test::threshold::{Severity, parse};
use smoke_test::vars::Vars;

const MAX_CHARS: usize = 500;

fn assert_one_short_line(msg: &str) {
    testkit::assert_one_short_line(msg, MAX_CHARS);
}

fn any_text() -> BoxedStrategy<String> {
    testkit::prop::any_text(
        &[
            "(p[0-9]{1,3}|mean|error_rate|rps|[a-z]{1,200}) ?(<|<=|>|>=)? ?[0-9.]{0,20}(ms|s|us|%|[a-z]{0,300})?",
            "[0-9xX,-]{0,40}",
        ],
        3000,
    )
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// Checks files: a valid skeleton with one piece replaced by something odd.
fn checks_text() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just("name"),
        Just("url"),
        Just("path"),
        Just("method"),
        Just("expect_status"),
        Just("timeout"),
        Just("body_contains"),
        Just("max_latency"),
    ];
    let value = prop_oneof![
        ".{0,2000}".prop_map(|s| toml_string(&s)),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("[]".to_owned()),
        Just("{ x = 1 }".to_owned()),
        "[a-z$\\{\\}]{0,300}".prop_map(|s| toml_string(&s)),
    ];
    (field, value, any::<bool>()).prop_map(|(f, v, twice)| {
        let mut t =
            format!("[[check]]\nname = \"home\"\nurl = \"http://127.0.0.1:1/\"\n{f} = {v}\n");
        if twice {
            t.push_str(&t.clone());
        }
        t
    })
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn thresholds_parse_or_say_one_line(raw in any_text()) {
        for sev in [Severity::Critical, Severity::Warning] {
            if let Err(e) = parse(&raw, sev) {
                assert_one_short_line(&e);
            }
        }
    }

    #[test]
    fn latency_thresholds_are_read_in_ms(n in 0u32..100_000, unit in prop::sample::select(vec!["us", "ms", "s"])) {
        let t = parse(&format!("p95<{n}{unit}"), Severity::Critical).unwrap();
        let ms = match unit { "us" => f64::from(n) / 1000.0, "ms" => f64::from(n), _ => f64::from(n) * 1000.0 };
        prop_assert!((t.limit - ms).abs() < 1e-6, "{} vs {}", t.limit, ms);
    }

    #[test]
    fn statuses_urls_headers_and_methods_parse_or_say_one_line(raw in any_text()) {
        if let Err(e) = StatusSpec::parse(&raw) { assert_one_short_line(&e); }
        if let Err(e) = parse_url(&raw) { assert_one_short_line(&e); }
        if let Err(e) = parse_header(&raw) { assert_one_short_line(&e); }
        if let Err(e) = parse_method(&raw) { assert_one_short_line(&e); }
    }

    #[test]
    fn checks_files_parse_or_say_one_line_with_a_position(text in prop_oneof![checks_text(), any_text()]) {
        let vars = Vars::with_env(&[], no_env);
        if let Err(e) = parse_file("checks.toml", &text, &vars, &FileOptions::default()) {
            assert_one_short_line(&e.to_string());
            prop_assert!(e.line <= text.lines().count() + 1);
        }
    }
}
