//! ecs-revert's published JSON Schemas (docs/schema/ecs-revert/, see
//! docs/notes/output.md): each is generated from the command's output type
//! plus the envelope, and the committed files are the generated ones.
//! The real output is validated where the CLI tests read it:
//! `testkit::json_stdout` checks every result against the schema its envelope
//! names (tests/cli.rs and tests/scaling.rs run every command on moto).
//! Regenerate: `LTC_UPDATE_SCHEMAS=1 cargo test -p ecs-revert --test schema`.

use common::schemars::JsonSchema;
use ecs_revert::{history, revert, scale, scaling, status};
use serde_json::Value;

const BINARY: &str = "ecs-revert";

fn result<T: JsonSchema>(command: &str) -> (String, Value) {
    common::schema::entry::<T>(BINARY, command)
}

/// Every command with a JSON result and the type it prints (`policy` prints a
/// bare IAM document).
fn schemas() -> Vec<(String, Value)> {
    vec![
        result::<status::StatusReport>("status"),
        result::<history::HistoryReport>("history"),
        result::<revert::RevertReport>("revert"),
        result::<revert::WaitReport>("wait"),
        result::<scale::ScaleReport>("scale"),
        result::<scaling::ShowReport>("scaling show"),
        result::<scaling::RecordReport>("scaling record"),
        result::<scaling::ChangeReport>("scaling restore"),
        result::<scaling::ChangeReport>("scaling suspend"),
        result::<scaling::ChangeReport>("scaling resume"),
    ]
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    if let Err(e) = common::schema::check_binary(&testkit::workspace_root(), BINARY, &schemas()) {
        panic!("{e}");
    }
}

/// The revert's list of UpdateService calls is `call_log` (it was `calls`,
/// which is now the envelope's request count: docs/notes/output.md).
#[test]
fn revert_and_scale_list_their_calls_as_call_log() {
    for (file, schema) in schemas()
        .iter()
        .filter(|(f, _)| f == "revert.schema.json" || f == "scale.schema.json")
    {
        assert!(schema["properties"]["call_log"].is_object(), "{file}");
        assert!(schema["properties"].get("calls").is_none(), "{file}");
    }
}
