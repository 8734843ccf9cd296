//! smoke-test's published JSON Schemas (docs/schema/smoke-test/, see
//! docs/notes/output.md): each is generated from the command's output type
//! plus the envelope, and the committed files are the generated ones.
//! The real output is validated where the CLI tests read it:
//! `testkit::json_stdout` checks every result against the schema its envelope
//! names (tests/cli.rs runs the commands against HTTP servers on 127.0.0.1),
//! and every line `probe` prints is checked against `probe.events.schema.json`
//! (tests/probe.rs).
//! Regenerate: `LTC_UPDATE_SCHEMAS=1 cargo test -p smoke-test --test schema`.

use common::schemars::JsonSchema;
use serde_json::Value;
use smoke_test::check_run::{GetSettings, LoadSettings, Plan, RunSettings};
use smoke_test::probe::ProbeEvent;
use smoke_test::verdict::Report;

const BINARY: &str = "smoke-test";

fn result<T: JsonSchema>(command: &str) -> (String, Value) {
    common::schema::entry::<T>(BINARY, command)
}

/// What `get`, `run` and `load` print: the report, or with --dry-run the
/// plan with the command's settings.
#[derive(JsonSchema)]
#[schemars(crate = "common::schemars", untagged)]
#[allow(dead_code)]
enum Output<S> {
    Report(Box<Report>),
    Plan(Plan<S>),
}

/// Every command with a JSON result and the type it prints (the report's
/// own `command` is the envelope's, so it validates), and `probe`'s event
/// lines (its dry-run plan and its summary are events too; no result
/// document). Not here: `policy` prints a bare IAM document.
fn schemas() -> Vec<(String, Value)> {
    vec![
        result::<Output<GetSettings>>("get"),
        result::<Output<RunSettings>>("run"),
        result::<Output<LoadSettings>>("load"),
        common::schema::events_entry::<ProbeEvent<'static>>(BINARY, "probe"),
    ]
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    if let Err(e) = common::schema::check_binary(&testkit::workspace_root(), BINARY, &schemas()) {
        panic!("{e}");
    }
}
