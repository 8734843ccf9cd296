//! db-snapshot's published JSON Schemas (docs/schema/db-snapshot/, see
//! docs/notes/output.md): each is generated from the command's output type
//! plus the envelope, and the committed files are the generated ones.
//! The real output is validated where the CLI tests read it:
//! `testkit::json_stdout` checks every result against the schema its envelope
//! names (tests/cli.rs runs every command on moto).
//! Regenerate: `LTC_UPDATE_SCHEMAS=1 cargo test -p db-snapshot --test schema`.

use common::schemars::JsonSchema;
use db_snapshot::{create, list, prune, restore, swap, verify, wait};
use serde_json::Value;

const BINARY: &str = "db-snapshot";

fn result<T: JsonSchema>(command: &str) -> (String, Value) {
    common::schema::entry::<T>(BINARY, command)
}

/// What `swap` prints: the swap done (or, with --dry-run, planned), or where
/// it stopped short (exit 7 or 130) with what is where.
#[derive(JsonSchema)]
#[schemars(crate = "common::schemars", untagged)]
#[allow(dead_code)]
enum SwapOutput {
    Done(swap::SwapCommandResult),
    Stopped(swap::SwapStopped),
}

/// What `restore` prints: the restore, or (with --swap, after an unfinished
/// swap) that swap resumed, or where its swap stopped short.
#[derive(JsonSchema)]
#[schemars(crate = "common::schemars", untagged)]
#[allow(dead_code)]
enum RestoreOutput {
    Restored(Box<restore::RestoreResult>),
    SwapResumed(swap::SwapCommandResult),
    SwapStopped(swap::SwapStopped),
}

/// Every command with a JSON result and the type it prints. Not here:
/// `policy` prints a bare IAM document.
fn schemas() -> Vec<(String, Value)> {
    vec![
        result::<create::CreateResult>("create"),
        result::<list::ListResult>("list"),
        result::<list::LatestResult>("latest"),
        result::<RestoreOutput>("restore"),
        result::<SwapOutput>("swap"),
        result::<verify::VerifyResult>("verify"),
        result::<prune::PruneResult>("prune"),
        result::<wait::WaitResult>("wait"),
    ]
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    if let Err(e) = common::schema::check_binary(&testkit::workspace_root(), BINARY, &schemas()) {
        panic!("{e}");
    }
}
