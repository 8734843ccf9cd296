//! stack-deploy: deploys a synthesized CDK cloud assembly (`cdk.out`) to
//! CloudFormation in dependency order, and watches, cancels and rolls back
//! stacks. Talks to CloudFormation directly; no CDK CLI needed at deploy time.

pub mod alarms;
pub mod archive;
pub mod assets;
pub mod cancel;
pub mod deploy;
pub mod events;
mod examples;
pub mod graph;
pub mod manifest;
pub mod plan;
pub mod policy;
pub mod preview;
pub mod record;
pub mod recover;
pub mod revert;
pub mod roles;
pub mod rollback;
pub mod scheduler;
pub mod stack;
pub mod status;
pub mod survey;
pub mod watch;

use clap::Subcommand;

use common::Context;

pub use crate::graph::Selection;

common::declare_cli! {
    #[command(
        name = "stack-deploy",
        version,
        about = "Deploy a CDK cloud assembly to CloudFormation in dependency phases; watch, cancel, roll back",
        after_help = common::cli::after_help(
            "  stack-deploy plan --app cdk.out --all\n  \
             stack-deploy plan --app cdk.out --all --changes --fail-on-replace\n  \
             stack-deploy deploy --app cdk.out --all --env prod --yes\n  \
             stack-deploy deploy --app cdk.out LightningTalk-Api-prod --parameters LightningTalk-Api-prod:ApiImageTag=v2.0.1 --yes\n  \
             stack-deploy status --app cdk.out --all\n  \
             stack-deploy watch LightningTalk-Api-prod\n  \
             stack-deploy deploy --app cdk.out --all --rollback-alarm ltc-critical-5xx --monitoring-time 10m --yes\n  \
             stack-deploy revert --run 20261202T043000.000Z-deploy-1a2b3c --app cdk.out --dry-run\n  \
             stack-deploy rollback LightningTalk-Api-prod --yes"
        )
    )]
    Command
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the phases (dependency levels) and, for stacks that exist, what would change.
    Plan(plan::PlanArgs),
    /// Deploy stacks, each as soon as its dependencies are done.
    ///
    /// Interrupted (Ctrl-C, SIGTERM, SIGHUP; exit 130): nothing new starts and
    /// CloudFormation goes on with the stacks in flight; follow them with
    /// `stack-deploy watch <stacks>` (printed), or run the same deploy again: it
    /// waits for a stack still in progress and carries on. The same holds after
    /// the process was killed.
    Deploy(deploy::DeployArgs),
    /// Put back what a deploy run changed: each stack's template, parameters
    /// and tags as recorded before that run, in reverse dependency order.
    ///
    /// Works on stacks that deployed cleanly (UPDATE_COMPLETE) but are bad.
    /// Stacks the run created are left in place unless --delete-created (their
    /// data goes with them). A stack already equal to its record is skipped.
    /// `--dry-run` lists what would change. Interrupted (exit 130): run the
    /// same revert again.
    Revert(revert::RevertArgs),
    /// Live status, last update and outputs of stacks (exit 4 unless all are healthy).
    Status(status::StatusArgs),
    /// Re-attach to stacks in progress (after a timeout, an interrupted or a
    /// killed deploy) and wait for them; exit 0 when each ends healthy.
    Watch(watch::WatchArgs),
    /// Leave stacks still: cancel an update (CancelUpdateStack, then wait for
    /// UPDATE_ROLLBACK_COMPLETE), wait for what cannot be cancelled (create,
    /// rollback, cleanup), delete the pending change set of a REVIEW_IN_PROGRESS
    /// stack. Exit 0 once every stack is at rest, in whatever state.
    Cancel(cancel::CancelArgs),
    /// Roll back a failed stack (RollbackStack, or ContinueUpdateRollback from UPDATE_ROLLBACK_FAILED).
    Rollback(rollback::RollbackArgs),
    /// Print the minimal IAM policy (JSON) the command line after `policy` needs,
    /// e.g. `stack-deploy policy deploy --app cdk.out --all --no-assume-role`.
    Policy(common::policy::PolicyArgs),
}

pub async fn run(ctx: Context, cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Plan(args) => plan::run(&ctx, &args).await?,
        Command::Deploy(args) => deploy::deploy(&ctx, args).await?,
        Command::Revert(args) => revert::revert(&ctx, args).await?,
        Command::Status(args) => status::run(&ctx, &args).await?,
        Command::Watch(args) => watch::run(&ctx, &args).await?,
        Command::Cancel(args) => cancel::run(&ctx, &args).await?,
        Command::Rollback(args) => rollback::run(&ctx, &args).await?,
        Command::Policy(args) => policy::run(&ctx, &cli.globals, &args)?,
    }
    Ok(())
}
