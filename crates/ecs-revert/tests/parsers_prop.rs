//! Property tests of ecs-revert's input parsers: `--to`, `--cluster`/`--service`
//! and `--desired`. Any input gives a value or one short line, exit 2.

use ecs_revert::taskdef::{TargetSpec, TaskDefRef, check_resource, parse_count};
use proptest::prelude::*;

const MAX_CHARS: usize = 400;

fn any_text() -> BoxedStrategy<String> {
    testkit::prop::any_text(
        &[
            "-?[0-9]{0,25}",
            "(arn:aws:ecs:[a-z0-9-]{0,12}:[0-9]{0,12}:task-definition/)?[a-zA-Z0-9_:-]{0,300}",
        ],
        3000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn to_is_a_target_or_one_line(raw in any_text()) {
        if let Err(e) = TargetSpec::parse(&raw) {
            testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
        }
    }

    #[test]
    fn family_revision_and_arn_forms_agree(family in "[a-zA-Z0-9_-]{1,60}", rev in 1u32..1_000_000) {
        let want = TaskDefRef::new(family.clone(), rev);
        let current = TaskDefRef::new("other", 1);
        let short = TargetSpec::parse(&format!("{family}:{rev}")).unwrap();
        let arn = TargetSpec::parse(&format!("arn:aws:ecs:ap-northeast-1:123456789012:task-definition/{family}:{rev}")).unwrap();
        prop_assert_eq!(short.resolve(&current), want.clone());
        prop_assert_eq!(arn.resolve(&current), want);
    }

    #[test]
    fn a_bare_revision_keeps_the_family(rev in 1u32..u32::MAX) {
        let current = TaskDefRef::new("api", 7);
        prop_assert_eq!(TargetSpec::parse(&rev.to_string()).unwrap().resolve(&current), TaskDefRef::new("api", rev));
    }

    #[test]
    fn resources_are_checked_in_one_line(raw in any_text()) {
        if let Err(e) = check_resource("cluster", &raw) {
            testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
        }
    }

    #[test]
    fn desired_counts_are_in_range_or_refused(raw in any_text(), force in any::<bool>()) {
        match parse_count(&raw, force, 100) {
            Ok(n) => prop_assert!(n >= 0 && (force || n <= 100)),
            Err(e) => {
                testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
            }
        }
    }

    #[test]
    fn every_count_in_range_is_read_exactly(n in 0i32..=100) {
        prop_assert_eq!(parse_count(&n.to_string(), false, 100).unwrap(), n);
    }
}
