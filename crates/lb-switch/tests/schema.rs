//! lb-switch's published JSON Schemas (docs/schema/lb-switch/, see
//! docs/notes/output.md): each is generated from the command's output type
//! plus the envelope, and the committed files are the generated ones.
//! The real output is validated where the CLI tests read it:
//! `testkit::json_stdout` checks every result against the schema its envelope
//! names (tests/cli.rs runs every command on moto), `testkit::json_lines_of`
//! every event line of `shift` against `shift.events.schema.json`.
//! Regenerate: `LTC_UPDATE_SCHEMAS=1 cargo test -p lb-switch --test schema`.

use common::schemars::JsonSchema;
use lb_switch::{health, shift, show, undo};
use serde_json::Value;

const BINARY: &str = "lb-switch";

fn result<T: JsonSchema>(command: &str) -> (String, Value) {
    common::schema::entry::<T>(BINARY, command)
}

/// Every command with a JSON result and the type it prints (`maintenance on`
/// and `off` are one command, `on`/`off` an argument), and `shift`'s event
/// lines (`common::shift::ShiftEvent` with lb-switch's fields; no result
/// document). Not here: `policy` prints a bare IAM document.
fn schemas() -> Vec<(String, Value)> {
    vec![
        result::<show::ShowResult>("show"),
        result::<undo::ChangeResult>("maintenance"),
        result::<undo::ChangeResult>("undo"),
        result::<health::HealthResult>("health"),
        common::schema::events_entry::<shift::Event>(BINARY, "shift"),
    ]
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    if let Err(e) = common::schema::check_binary(&testkit::workspace_root(), BINARY, &schemas()) {
        panic!("{e}");
    }
}
