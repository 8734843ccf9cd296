//! site-restore's published JSON Schemas (docs/schema/site-restore/, see
//! docs/notes/output.md): each is generated from the command's output type
//! plus the envelope, and the committed files are the generated ones.
//! The real output is validated where the CLI tests read it:
//! `testkit::json_stdout` checks every result against the schema its envelope
//! names (tests/cli.rs runs every command on moto).
//! Regenerate: `LTC_UPDATE_SCHEMAS=1 cargo test -p site-restore --test schema`.

use common::schemars::JsonSchema;
use serde_json::Value;
use site_restore::{diff, manifest, restore};

const BINARY: &str = "site-restore";

fn result<T: JsonSchema>(command: &str) -> (String, Value) {
    common::schema::entry::<T>(BINARY, command)
}

/// Every command with a JSON result and the type it prints. Not here:
/// `policy` prints a bare IAM document.
fn schemas() -> Vec<(String, Value)> {
    vec![
        result::<manifest::Manifest>("record"),
        result::<diff::DiffReport>("diff"),
        result::<restore::RestoreReport>("restore"),
    ]
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    if let Err(e) = common::schema::check_binary(&testkit::workspace_root(), BINARY, &schemas()) {
        panic!("{e}");
    }
}

/// The restore's requests per operation are `calls_by_operation` (it was
/// `calls`, which is now the envelope's request count: docs/notes/output.md).
#[test]
fn restore_counts_its_requests_per_operation_as_calls_by_operation() {
    let (_, schema) = result::<restore::RestoreReport>("restore");
    assert_eq!(
        schema["properties"]["calls_by_operation"]["type"], "object",
        "{schema:#}"
    );
    assert!(schema["properties"].get("calls").is_none(), "{schema:#}");
}
