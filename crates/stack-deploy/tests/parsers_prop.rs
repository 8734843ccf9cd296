//! Property tests of stack-deploy's input parsers: stack names, rollback
//! alarms and the cloud assembly manifest. Any input gives a value or one
//! short line, exit 2, before any AWS call.

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use stack_deploy::alarms;
use stack_deploy::manifest::{Assembly, check_stack_name};

const MAX_CHARS: usize = 500;

fn any_text() -> BoxedStrategy<String> {
    testkit::prop::any_text(
        &[
            "[A-Za-z0-9:/_-]{0,300}",
            "arn:aws:cloudwatch:[a-z0-9-]{0,15}:[0-9]{0,12}:alarm:.{0,300}",
        ],
        3000,
    )
}

/// Assembly manifests that are almost right: one field replaced by something odd.
fn manifest_text() -> impl Strategy<Value = String> {
    let odd = testkit::prop::odd_json(vec![serde_json::json!({}), serde_json::json!(["a", "b"])]);
    (0usize..6, odd).prop_map(|(field, value)| {
        let mut m = serde_json::json!({
            "version": "36.0.0",
            "artifacts": {
                "Stack-a": {
                    "type": "aws:cloudformation:stack",
                    "environment": "aws://123456789012/ap-northeast-1",
                    "properties": {"templateFile": "Stack-a.template.json"},
                    "dependencies": []
                }
            }
        });
        match field {
            0 => m["version"] = value,
            1 => m["artifacts"] = value,
            2 => m["artifacts"]["Stack-a"]["type"] = value,
            3 => m["artifacts"]["Stack-a"]["properties"] = value,
            4 => m["artifacts"]["Stack-a"]["dependencies"] = value,
            _ => m["artifacts"]["Stack-a"]["environment"] = value,
        }
        m.to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn stack_names_are_valid_or_one_line(raw in any_text()) {
        if let Err(e) = check_stack_name(&raw) {
            testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
        }
    }

    #[test]
    fn cloudformation_shaped_names_are_accepted(name in "[A-Za-z][A-Za-z0-9-]{0,127}") {
        prop_assert!(check_stack_name(&name).is_ok());
    }

    #[test]
    fn rollback_alarms_are_valid_or_one_line(raw in prop::collection::vec(any_text(), 0..4), minutes in prop::option::of(0u64..400)) {
        let monitoring = minutes.map(|m| Duration::from_secs(m * 60));
        if let Err(e) = alarms::validate(&raw, monitoring) {
            testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
        }
    }

    #[test]
    fn assembly_manifests_parse_or_say_one_line(text in prop_oneof![manifest_text(), any_text()]) {
        if let Err(e) = Assembly::parse(Path::new("cdk.out"), &text) {
            testkit::prop::assert_refused(e.exit_code(), &e.to_string(), MAX_CHARS);
        }
    }
}
