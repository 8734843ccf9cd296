//! dns-shift's published JSON Schemas (docs/schema/dns-shift/, see
//! docs/notes/output.md): each is generated from the command's output type
//! plus the envelope, and the committed files are the generated ones.
//! The real output is validated where the CLI tests read it:
//! `testkit::json_stdout` checks every result against the schema its envelope
//! names (tests/cli.rs runs every command on moto), `testkit::json_lines_of`
//! every event line of `shift` against `shift.events.schema.json`.
//! Regenerate: `LTC_UPDATE_SCHEMAS=1 cargo test -p dns-shift --test schema`.

use common::schemars::JsonSchema;
use dns_shift::{alarms, apply, shift, show};
use serde_json::Value;

const BINARY: &str = "dns-shift";

fn result<T: JsonSchema>(command: &str) -> (String, Value) {
    common::schema::entry::<T>(BINARY, command)
}

/// Every command with a JSON result and the type it prints (`maintenance on`
/// and `off` are one command, `on`/`off` an argument), and `shift`'s event
/// lines (`common::shift::ShiftEvent` with dns-shift's fields; no result
/// document). Not here: `policy` prints a bare IAM document.
fn schemas() -> Vec<(String, Value)> {
    vec![
        result::<show::ShowResult>("show"),
        result::<apply::WeightsResult>("set"),
        result::<apply::WeightsResult>("maintenance"),
        result::<apply::WeightsResult>("undo"),
        result::<alarms::AlarmsResult>("alarms"),
        common::schema::events_entry::<shift::Event>(BINARY, "shift"),
    ]
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    if let Err(e) = common::schema::check_binary(&testkit::workspace_root(), BINARY, &schemas()) {
        panic!("{e}");
    }
}

/// The schema of `common::gate::AlarmState` describes exactly the fields it
/// serializes.
#[test]
fn the_alarm_state_schema_has_the_serialized_fields() {
    let (_, s) = result::<alarms::AlarmsResult>("alarms");
    let state = &s["$defs"]["AlarmState"];
    let real = serde_json::to_value(common::gate::AlarmState {
        name: "api-5xx".into(),
        state: "ALARM".into(),
    })
    .unwrap();
    let mut fields: Vec<&String> = real.as_object().unwrap().keys().collect();
    fields.sort();
    let mut described: Vec<&String> = state["properties"].as_object().unwrap().keys().collect();
    described.sort();
    assert_eq!(fields, described, "{s:#}");
    assert_eq!(state["required"].as_array().unwrap().len(), fields.len());
}
