//! The `rollback` command: roll back a failed stack (RollbackStack, or
//! ContinueUpdateRollback from UPDATE_ROLLBACK_FAILED). The per-stack work is
//! in `recover.rs`.

use common::{Context, HumanDuration, Result};

use crate::recover::{Kind, cancel_or_rollback};

/// `rollback`: the stacks and how long to wait.
#[derive(Debug, Clone, clap::Args)]
pub struct RollbackArgs {
    #[arg(required = true, value_name = "STACK")]
    pub stacks: Vec<String>,
    #[arg(long, default_value = "60m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

pub async fn run(ctx: &Context, args: &RollbackArgs) -> Result<()> {
    cancel_or_rollback(ctx, &args.stacks, args.timeout.0, Kind::Rollback).await
}
