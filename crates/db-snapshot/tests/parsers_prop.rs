//! Property tests of db-snapshot's input parsers: identifiers and the
//! `--snapshot -` stdin document. Any input gives a value or one short line.

use db_snapshot::naming::{Kind, parse_snapshot_input, validate, validate_snapshot_ref};
use proptest::prelude::*;

const MAX_CHARS: usize = 400;

fn assert_one_short_line(msg: &str) {
    testkit::assert_one_short_line(msg, MAX_CHARS);
}

fn any_text() -> BoxedStrategy<String> {
    testkit::prop::any_text(&["[a-zA-Z0-9:-]{0,300}"], 3000)
}

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(vec![
        Kind::Instance,
        Kind::Cluster,
        Kind::Snapshot,
        Kind::Prefix,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn identifiers_are_valid_or_rejected_in_one_line(k in kind(), raw in any_text()) {
        if let Err(e) = validate(k, &raw) {
            testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
        }
    }

    #[test]
    fn rds_shaped_names_are_accepted(head in "[a-z]", body in "([a-z0-9]{1,5}-){0,5}[a-z0-9]{1,5}") {
        let id = format!("{head}{body}");
        prop_assume!(id.len() <= 63);
        prop_assert!(validate(Kind::Instance, &id).is_ok(), "{}", id);
        let automated = format!("rds:{id}");
        prop_assert!(validate_snapshot_ref(&automated).is_ok());
    }

    #[test]
    fn names_breaking_a_rule_are_refused(id in prop_oneof!["[a-z][a-z0-9]{0,10}(--|_|\\.)[a-z0-9]{0,5}", "[a-z][a-z0-9]{0,10}-", "[0-9-][a-z0-9]{0,10}"]) {
        prop_assert!(validate(Kind::Snapshot, &id).is_err(), "{}", id);
    }

    #[test]
    fn snapshot_refs_are_checked_in_one_line(raw in any_text()) {
        if let Err(e) = validate_snapshot_ref(&raw) {
            assert_one_short_line(&e.to_string());
        }
    }

    #[test]
    fn stdin_documents_give_an_id_or_one_line(raw in prop_oneof![
        any_text(),
        any_text().prop_map(|s| format!("{{\"snapshot_id\": {}}}", serde_json::json!(s))),
        any_text().prop_map(|s| format!("{{\"snapshot_id\": {s}}}")),
        "[0-9]{0,400}".prop_map(|s| format!("{{\"snapshot\": {{\"snapshot_id\": {s}1}}}}")),
    ]) {
        match parse_snapshot_input(&raw) {
            Ok(id) => prop_assert!(validate_snapshot_ref(&id).is_ok()),
            Err(e) => {
                testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
            }
        }
    }
}
