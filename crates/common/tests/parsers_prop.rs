//! Property tests of the parsers every binary shares: whatever an operator (or
//! a runbook's typo) passes, the answer is a value or ONE short line, never a
//! panic, and the input is never echoed whole.

use std::str::FromStr;

use common::HumanDuration;
use common::duration::{MAX_DURATION, parse_deadline};
use common::state::{Root, validate_run_id};
use proptest::prelude::*;

/// One line, short enough to read at 3 a.m., even for a 100 kB input.
const MAX_CHARS: usize = 400;

fn assert_one_short_line(msg: &str) {
    testkit::assert_one_short_line(msg, MAX_CHARS);
}

fn any_text() -> BoxedStrategy<String> {
    testkit::prop::any_text(&["[0-9]{0,30}[a-z]{0,6}", "[0-9a-z ./:_-]{0,300}"], 2000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn durations_parse_or_say_one_line(raw in any_text()) {
        match HumanDuration::from_str(&raw) {
            Ok(d) => prop_assert!(d.0 <= MAX_DURATION),
            Err(e) => assert_one_short_line(&e),
        }
    }

    #[test]
    fn valid_durations_are_read_exactly(n in 0u64..100_000, unit in prop::sample::select(vec!["ms", "s", "m", "h"])) {
        let ms = match unit { "ms" => n, "s" => n * 1000, "m" => n * 60_000, _ => n * 3_600_000 };
        let got = HumanDuration::from_str(&format!("{n}{unit}"));
        if ms <= MAX_DURATION.as_millis() as u64 {
            prop_assert_eq!(got.unwrap().0.as_millis() as u64, ms);
        } else {
            assert_one_short_line(&got.unwrap_err());
        }
    }

    #[test]
    fn a_long_garbage_unit_is_not_echoed_whole(n in 1u32..99, unit in "[a-z]{150,400}") {
        let e = HumanDuration::from_str(&format!("{n}{unit}")).unwrap_err();
        assert_one_short_line(&e);
        prop_assert!(!e.contains(&unit), "echoed whole: {e}");
    }

    #[test]
    fn deadlines_parse_or_say_one_line(raw in any_text()) {
        if let Err(e) = parse_deadline(&raw) {
            testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
        }
    }

    #[test]
    fn rfc3339_deadlines_round_trip(secs in 0i64..4_000_000_000) {
        let t = chrono::DateTime::from_timestamp(secs, 0).unwrap();
        prop_assert_eq!(parse_deadline(&t.to_rfc3339()).unwrap(), t);
    }

    #[test]
    fn state_roots_parse_or_say_one_line(raw in any_text()) {
        if let Err(e) = Root::parse(&raw) {
            testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
        }
    }

    #[test]
    fn s3_roots_keep_bucket_and_prefix(bucket in "[a-z0-9][a-z0-9-]{1,40}[a-z0-9]", prefix in "[a-z0-9]{1,10}(/[a-z0-9]{1,10}){0,3}") {
        let root = Root::parse(&format!("s3://{bucket}/{prefix}")).unwrap();
        let shown = root.describe();
        prop_assert!(shown.contains(&bucket) && shown.contains(&prefix), "{}", shown);
    }

    #[test]
    fn run_ids_are_checked_in_one_line(raw in any_text()) {
        if let Err(e) = validate_run_id(&raw) {
            testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
        }
    }

    #[test]
    fn new_run_ids_always_validate(kind in "[a-z]{1,12}") {
        prop_assert!(validate_run_id(&common::state::new_run_id(&kind)).is_ok());
    }

    #[test]
    fn quote_bounds_any_input(raw in any_text()) {
        let q = common::quote(&raw);
        prop_assert!(!q.contains('\n'));
        // 100 characters, escaped (at most ~10 bytes each), plus the count.
        prop_assert!(q.chars().count() <= 100 * 10 + 40);
    }
}
