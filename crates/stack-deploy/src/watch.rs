//! The `watch` command: re-attach to stacks in progress (after a timeout, an
//! interrupted or a killed deploy) and wait for each to settle, with its events.

use std::time::Duration;

use aws_sdk_cloudformation::Client;
use futures::StreamExt;

use common::{Context, HumanDuration, Result};

use crate::recover::{check_names, finish, watch_one};
use crate::status::Op;

/// `watch`: the stacks and how long to wait.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// CloudFormation stack names.
    #[arg(required = true, value_name = "STACK")]
    pub stacks: Vec<String>,
    #[arg(long, default_value = "60m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

pub async fn run(ctx: &Context, args: &WatchArgs) -> Result<()> {
    watch(ctx, &args.stacks, args.timeout.0).await
}

pub async fn watch(ctx: &Context, stacks: &[String], timeout: Duration) -> Result<()> {
    check_names(stacks)?;
    common::duration::effective_timeout(timeout)?;
    let aws = ctx.aws().await?;
    let cfn = Client::new(&aws.config);
    let results = futures::stream::iter(stacks.iter().map(|n| {
        let cfn = cfn.clone();
        async move { watch_one(&cfn, &ctx.out, n, Op::Watch, timeout, ctx.cancel()).await }
    }))
    .buffered(16)
    .collect::<Vec<_>>()
    .await;
    finish(ctx, results)
}
