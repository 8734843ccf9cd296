//! One JSON Schema per command, generated from the command's own Rust output
//! type and the [`Envelope`] (issue 20, `docs/notes/output.md`), published as
//! `docs/schema/<binary>/<command>.schema.json`.
//!
//! Each crate's `tests/schema.rs` lists its commands and their output types,
//! checks that the committed files are the generated ones ([`check_committed`])
//! and validates the real stdout of its binary against them (`testkit::schema`).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::envelope::Envelope;

/// The environment variable that makes [`check_committed`] write the
/// generated schema instead of comparing (`LTC_UPDATE_SCHEMAS=1 cargo test ...`).
pub const UPDATE_VAR: &str = "LTC_UPDATE_SCHEMAS";

/// The schema of one command's JSON result: `T`'s own fields (the type's
/// schema at the top) and, through `allOf`, the envelope every result carries.
/// The title is `<binary> <command>`.
pub fn result_schema<T: JsonSchema + ?Sized>(binary: &str, command: &str) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    // First, so that the envelope is a definition the root can refer to.
    let envelope = generator.subschema_for::<Envelope>();
    let schema = generator.root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Value::Object(map) = &mut value {
        map.insert("title".into(), Value::String(format!("{binary} {command}")));
        let envelope = envelope.to_value();
        match map.get_mut("allOf") {
            Some(Value::Array(all)) => all.push(envelope),
            _ => {
                map.insert("allOf".into(), Value::Array(vec![envelope]));
            }
        }
    }
    first_keys(value)
}

/// `$schema`, `title` and `description` first: what a reader looks for.
fn first_keys(value: Value) -> Value {
    let Value::Object(mut map) = value else {
        return value;
    };
    let mut out = serde_json::Map::with_capacity(map.len());
    for key in ["$schema", "title", "description"] {
        if let Some(v) = map.remove(key) {
            out.insert(key.into(), v);
        }
    }
    out.extend(map);
    Value::Object(out)
}

/// The schema of one command's event lines (JSON lines on stdout, each with
/// the `ts` that [`crate::envelope::stamp_event`] adds). Title
/// `<binary> <command> events`.
pub fn event_schema<T: JsonSchema + ?Sized>(binary: &str, command: &str) -> Value {
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    if let Value::Object(map) = &mut value {
        map.insert(
            "title".into(),
            Value::String(format!("{binary} {command} events")),
        );
    }
    first_keys(value)
}

/// A command's schema file name and its [`result_schema`], as each crate's
/// `tests/schema.rs` lists them for [`check_binary`].
pub fn entry<T: JsonSchema + ?Sized>(binary: &str, command: &str) -> (String, Value) {
    (file_name(command), result_schema::<T>(binary, command))
}

// Only described, never built: [`events_entry`] publishes its schema (the
// `ts` is added by `crate::envelope::stamp_event`). The doc comment below is
// the published schema's description.
/// One JSON line on stdout: `ts`, which every event line gets first, and the
/// event's own fields.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct Stamped<T> {
    /// When the line was printed (RFC 3339, UTC, milliseconds, `Z`).
    #[schemars(regex(pattern = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"))]
    ts: String,
    #[serde(flatten)]
    event: T,
}

/// A command's event-line schema file name and its schema: `T` (the type of
/// one line, e.g. an enum tagged by `event`) with the `ts` every line gets,
/// titled `<binary> <command> events`; for [`check_binary`] beside the
/// [`entry`]s (`<command>.events.schema.json`, see `docs/notes/output.md`).
pub fn events_entry<T: JsonSchema>(binary: &str, command: &str) -> (String, Value) {
    (
        events_file_name(command),
        event_schema::<Stamped<T>>(binary, command),
    )
}

/// The file name of a command's schema: `lock status` -> `lock-status.schema.json`.
pub fn file_name(command: &str) -> String {
    format!("{}.schema.json", command.replace(' ', "-"))
}

/// The file name of a command's event-line schema: `<command>.events.schema.json`.
pub fn events_file_name(command: &str) -> String {
    format!("{}.events.schema.json", command.replace(' ', "-"))
}

/// `docs/schema/<binary>/` under the workspace root.
pub fn binary_dir(workspace_root: &Path, binary: &str) -> PathBuf {
    workspace_root.join("docs/schema").join(binary)
}

/// The text a schema is committed as: pretty JSON and a final newline.
pub fn text(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Compares the committed file at `path` with `schema`; with
/// [`UPDATE_VAR`] set, writes it first (creating the folder). The error names
/// the file and how to regenerate it.
pub fn check_committed(path: &Path, schema: &Value) -> std::result::Result<(), String> {
    let generated = text(schema);
    if std::env::var_os(UPDATE_VAR).is_some_and(|v| !v.is_empty()) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, &generated).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed == generated {
        Ok(())
    } else {
        Err(format!(
            "{} is not the schema generated from the command's Rust types; \
             regenerate it with {UPDATE_VAR}=1 and the same cargo test command",
            path.display()
        ))
    }
}

/// Checks every `(command, schema)` of a binary against
/// `docs/schema/<binary>/`, and that the folder holds no other schema (a
/// command that went). Returns every problem, one per line.
pub fn check_binary(
    workspace_root: &Path,
    binary: &str,
    schemas: &[(String, Value)],
) -> std::result::Result<(), String> {
    let dir = binary_dir(workspace_root, binary);
    let mut problems = Vec::new();
    let mut expected = Vec::new();
    for (file, schema) in schemas {
        expected.push(file.clone());
        if let Err(e) = check_committed(&dir.join(file), schema) {
            problems.push(e);
        }
    }
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".schema.json") && !expected.contains(&name) {
                problems.push(format!(
                    "{} is no command's schema any more; delete it",
                    dir.join(&name).display()
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A result.
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Sample {
        /// A zone.
        zone: String,
        weights: Vec<u8>,
    }

    #[test]
    fn result_schema_has_the_types_fields_and_the_envelope() {
        let s = result_schema::<Sample>("dns-shift", "show");
        assert_eq!(s["title"], "dns-shift show");
        assert_eq!(s["properties"]["zone"]["type"], "string");
        assert_eq!(s["allOf"], json!([{"$ref": "#/$defs/Envelope"}]));
        assert_eq!(s["$defs"]["Envelope"]["title"], "ltc result envelope");
        assert!(s["$defs"]["Calls"].is_object());
    }

    /// Event lines, as `common::shift` and the binaries print them.
    #[derive(serde::Serialize, schemars::JsonSchema)]
    #[serde(tag = "event", rename_all = "lowercase")]
    #[allow(dead_code)]
    enum SampleEvent {
        Start { to: String },
        Summary { result: String },
    }

    #[test]
    fn events_entry_requires_ts_and_the_events_fields() {
        let (file, s) = events_entry::<SampleEvent>("dns-shift", "shift");
        assert_eq!(file, "shift.events.schema.json");
        assert_eq!(s["title"], "dns-shift shift events");
        let v = jsonschema::validator_for(&s).unwrap();
        let line = |e: &SampleEvent| crate::envelope::stamp_event(serde_json::to_value(e).unwrap());
        let start = line(&SampleEvent::Start { to: "green".into() });
        assert!(v.is_valid(&start), "{start:#}\n{s:#}");
        let summary = line(&SampleEvent::Summary {
            result: "completed".into(),
        });
        assert!(v.is_valid(&summary), "{summary:#}\n{s:#}");
        // No ts, a ts of another format, an unknown event, a missing field.
        assert!(!v.is_valid(&json!({"event": "start", "to": "green"})));
        assert!(!v.is_valid(&json!({"ts": "yesterday", "event": "start", "to": "green"})));
        let ts = start["ts"].clone();
        assert!(!v.is_valid(&json!({"ts": ts, "event": "stop", "to": "green"})));
        assert!(!v.is_valid(&json!({"ts": ts, "event": "summary", "to": "green"})));
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name("lock status"), "lock-status.schema.json");
        assert_eq!(events_file_name("shift"), "shift.events.schema.json");
    }
}
