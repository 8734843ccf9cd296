//! run-state: the operator's handle on an environment's shared state (the tree
//! described in `common::state`): who holds the run lock and breaking it, the
//! deploy freeze, per-run records and the shared journal.
//!
//! One module per subcommand: `lock`, `freeze`, `runs`, `journal`, `report`.

mod examples;
pub mod freeze;
pub mod journal;
pub mod lock;
pub mod policy;
pub mod report;
pub mod runs;
mod shared;

use clap::Subcommand;
use common::{Context, Result};

pub(crate) use shared::{actor, reason, store};

const EXAMPLES: &str = "  run-state lock status --env prod
  run-state lock break --env prod --reason 'holder crashed at 03:12, checked with alice'
  run-state lock hold --env prod --run \"$LTC_RUN_ID\" --command runbooks/deploy.sh   # runbooks
  run-state freeze --env prod --reason 'incident 42: no deploys'
  run-state unfreeze --env prod
  run-state runs list --env prod
  run-state runs show --env prod 20261202T031000.123Z-deploy-1a2b3c
  run-state journal --env prod --run 20261202T031000.123Z-deploy-1a2b3c --follow
  run-state report --env prod --run 20261202T031000.123Z-deploy-1a2b3c --run-dir .ltc/runs/20261202T031000.123Z-deploy-1a2b3c

Shared state lives at LTC_STATE (s3://BUCKET/PREFIX, or a folder; default: a
`state` folder beside the journal). Every binary takes the environment's lock
before its first change; a refused command exits 8 and changes nothing.";

common::declare_cli! {
    #[command(
        name = "run-state",
        version,
        about = "Run lock, deploy freeze, run records and the shared journal of an environment",
        after_help = common::cli::after_help(EXAMPLES)
    )]
    Command
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The run lock: status, break, hold (for runbooks), new run ids.
    #[command(subcommand)]
    Lock(lock::LockCommand),
    /// Refuse deploys of new code in this environment (rollbacks still work).
    Freeze(freeze::FreezeArgs),
    /// Lift the freeze.
    Unfreeze(freeze::UnfreezeArgs),
    /// Per-run records (site manifest, snapshot id, weights before ...), never overwritten.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// The shared journal: every intent and outcome, oldest first, as JSON lines.
    Journal(journal::JournalArgs),
    /// Write a run's report.html (timeline, changes, weights, latency, gates,
    /// where it failed and how to resume) from its run folder and the journal.
    Report(report::ReportArgs),
    /// Print the minimal IAM policy (JSON) the command line after `policy` needs
    /// on the S3 state tree, e.g. `run-state policy lock status --env prod`.
    Policy(common::policy::PolicyArgs),
}

pub async fn run(ctx: Context, cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Lock(c) => lock::run(&ctx, c).await?,
        Command::Freeze(a) => freeze::freeze(&ctx, a).await?,
        Command::Unfreeze(a) => freeze::unfreeze(&ctx, a).await?,
        Command::Runs(c) => runs::run(&ctx, c).await?,
        Command::Journal(a) => journal::run(&ctx, a).await?,
        Command::Report(a) => report::run(&ctx, a).await?,
        Command::Policy(a) => policy::run(&ctx, &cli.globals, a)?,
    }
    Ok(())
}
