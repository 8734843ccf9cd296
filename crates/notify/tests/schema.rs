//! notify's published JSON Schema (docs/schema/notify/, see
//! docs/notes/output.md): generated from `send`'s output type plus the
//! envelope; the committed file is the generated one.
//! The real output is validated where the CLI tests read it:
//! `testkit::json_stdout` checks every result against the schema its envelope
//! names (tests/cli.rs).
//! Regenerate: `LTC_UPDATE_SCHEMAS=1 cargo test -p notify --test schema`.

use common::schemars::JsonSchema;
use notify::send;
use serde_json::Value;

const BINARY: &str = "notify";

fn result<T: JsonSchema>(command: &str) -> (String, Value) {
    common::schema::entry::<T>(BINARY, command)
}

/// Every command with a JSON result and the type it prints. Not here:
/// `policy` prints a bare IAM document.
fn schemas() -> Vec<(String, Value)> {
    vec![result::<send::SendResult>("send")]
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    if let Err(e) = common::schema::check_binary(&testkit::workspace_root(), BINARY, &schemas()) {
        panic!("{e}");
    }
}
