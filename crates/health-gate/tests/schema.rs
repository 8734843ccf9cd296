//! health-gate's published JSON Schema (docs/schema/health-gate/, see
//! docs/notes/output.md): generated from `check`'s output type plus the
//! envelope; the committed file is the generated one.
//! The real output is validated where the CLI tests read it:
//! `testkit::json_stdout` checks every result against the schema its envelope
//! names (tests/cli.rs).
//! Regenerate: `LTC_UPDATE_SCHEMAS=1 cargo test -p health-gate --test schema`.

use common::schemars::JsonSchema;
use health_gate::check;
use serde_json::Value;

const BINARY: &str = "health-gate";

fn result<T: JsonSchema>(command: &str) -> (String, Value) {
    common::schema::entry::<T>(BINARY, command)
}

/// Every command with a JSON result and the type it prints. Not here:
/// `watch` prints event lines (one per round and a summary), no result
/// document; `policy` prints a bare IAM document.
fn schemas() -> Vec<(String, Value)> {
    vec![result::<check::CheckResult>("check")]
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
