//! The `cancel` command: leave stacks still (CancelUpdateStack, then wait for
//! UPDATE_ROLLBACK_COMPLETE; wait for what cannot be cancelled; delete the
//! pending change set of a REVIEW_IN_PROGRESS stack). The per-stack work is in
//! `recover.rs`.

use common::{Context, HumanDuration, Result};

use crate::recover::{Kind, cancel_or_rollback};

/// `cancel`: the stacks and how long to wait.
#[derive(Debug, Clone, clap::Args)]
pub struct CancelArgs {
    #[arg(required = true, value_name = "STACK")]
    pub stacks: Vec<String>,
    /// Give up waiting after this long (exit 5; CloudFormation goes on).
    #[arg(long, default_value = "60m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

pub async fn run(ctx: &Context, args: &CancelArgs) -> Result<()> {
    cancel_or_rollback(ctx, &args.stacks, args.timeout.0, Kind::Cancel).await
}
