//! health-gate's published JSON Schema (docs/schema/health-gate/, see
//! docs/notes/output.md): `check`'s, generated from its output type plus the
//! envelope, and `watch`'s event lines (`watch.events.schema.json`); the
//! committed files are the generated ones.
//! The real output is validated where the CLI tests read it:
//! `testkit::json_stdout` checks every result against the schema its envelope
//! names, `testkit::json_lines_of` every line of `watch` (tests/cli.rs).
//! Regenerate: `LTC_UPDATE_SCHEMAS=1 cargo test -p health-gate --test schema`.

use common::schemars::JsonSchema;
use health_gate::{check, watch};
use serde_json::Value;

const BINARY: &str = "health-gate";

fn result<T: JsonSchema>(command: &str) -> (String, Value) {
    common::schema::entry::<T>(BINARY, command)
}

/// Every command with a JSON result and the type it prints, and `watch`'s
/// event lines (one per evaluation and a summary, tagged by `type`; no result
/// document). Not here: `policy` prints a bare IAM document.
fn schemas() -> Vec<(String, Value)> {
    vec![
        result::<check::CheckResult>("check"),
        common::schema::events_entry::<watch::WatchEvent<'static>>(BINARY, "watch"),
    ]
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    if let Err(e) = common::schema::check_binary(&testkit::workspace_root(), BINARY, &schemas()) {
        panic!("{e}");
    }
}

/// The check's requests per operation are `calls_by_operation` (it was
/// `calls`, which is now the envelope's request count: docs/notes/output.md).
#[test]
fn check_counts_its_requests_per_operation_as_calls_by_operation() {
    let (_, schema) = result::<check::CheckResult>("check");
    assert_eq!(
        schema["properties"]["calls_by_operation"]["type"], "object",
        "{schema:#}"
    );
    assert!(schema["properties"].get("calls").is_none(), "{schema:#}");
}
