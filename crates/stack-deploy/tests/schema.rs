//! stack-deploy's published JSON Schemas (docs/schema/stack-deploy/, see
//! docs/notes/output.md): each is generated from the command's output type
//! plus the envelope, and the committed files are the generated ones.
//! The real output is validated where the CLI tests read it:
//! `testkit::json_stdout` checks every result against the schema its envelope
//! names (tests/cli.rs runs every command on moto).
//! Regenerate: `LTC_UPDATE_SCHEMAS=1 cargo test -p stack-deploy --test schema`.

use common::schemars::JsonSchema;
use serde_json::Value;
use stack_deploy::{deploy, plan, recover, revert, status};

const BINARY: &str = "stack-deploy";

fn result<T: JsonSchema>(command: &str) -> (String, Value) {
    common::schema::entry::<T>(BINARY, command)
}

/// Every command with a JSON result and the type it prints (`watch`,
/// `cancel` and `rollback` print the same report, one row per stack). Not
/// here: `policy` prints a bare IAM document. Stack events go to stderr, not
/// stdout, so no command has event lines.
fn schemas() -> Vec<(String, Value)> {
    vec![
        result::<plan::PlanReport>("plan"),
        result::<deploy::DeployReport>("deploy"),
        result::<revert::RevertReport>("revert"),
        result::<status::StatusReport>("status"),
        result::<recover::OpReport>("watch"),
        result::<recover::OpReport>("cancel"),
        result::<recover::OpReport>("rollback"),
    ]
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    if let Err(e) = common::schema::check_binary(&testkit::workspace_root(), BINARY, &schemas()) {
        panic!("{e}");
    }
}
