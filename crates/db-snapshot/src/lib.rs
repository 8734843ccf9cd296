//! `db-snapshot`: snapshot an RDS instance or Aurora cluster before a deploy,
//! find the latest snapshot, restore it into a new instance (optionally taking
//! over the old one's name), verify it, and prune old manual snapshots.

pub mod create;
mod examples;
#[cfg(test)]
mod fault_tests;
pub mod list;
#[cfg(test)]
mod mock_tests;
pub mod naming;
pub mod policy;
pub mod prune;
pub mod rds;
pub mod readback;
pub mod restore;
pub mod select;
pub mod swap;
pub mod verify;
pub mod wait;

use clap::Subcommand;
use common::Context;

common::declare_cli! {
    /// Snapshot, find, restore and verify Lightning Talk Circle databases (RDS / Aurora).
    #[command(
        name = "db-snapshot",
        version,
        after_help = common::cli::after_help(
            "  db-snapshot create --instance ltc-db-prod --reason \"release 42\"\n  \
             db-snapshot list --instance ltc-db-prod --manual\n  \
             db-snapshot latest --instance ltc-db-prod\n  \
             db-snapshot latest --instance ltc-db-prod | db-snapshot restore --snapshot - --instance ltc-db-prod --target ltc-db-prod-r1 --dry-run\n  \
             db-snapshot restore --snapshot latest --instance ltc-db-prod --target ltc-db-prod-r1 --swap --env prod --yes\n  \
             db-snapshot swap --resume --instance ltc-db-prod --env prod --yes   # after an interrupted swap\n  \
             db-snapshot verify --instance ltc-db-prod --against ltc-db-prod-pre-restore-20261127-033000 --check-cmd 'psql -h \"$LTC_DB_HOST\" -c \"select 1\"'\n  \
             db-snapshot prune --instance ltc-db-prod --keep 7 --older-than 30d --prefix pre-deploy\n  \
             db-snapshot wait --instance ltc-db-prod --snapshot pre-deploy-ltc-db-prod-20261127-033000"
        )
    )]
    Command
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take a manual snapshot now and wait until it is available.
    Create(create::CreateArgs),
    /// List snapshots, newest first, with their age.
    List(list::ListArgs),
    /// The newest available snapshot and its age (exit 3 if there is none).
    Latest(list::LatestArgs),
    /// Restore a snapshot into a NEW instance with the source's settings; --swap takes over the name.
    Restore(restore::RestoreArgs),
    /// Rename an instance aside and give its name to another (what restore --swap does).
    Swap(swap::SwapArgs),
    /// Check an instance is available, matches a source, and passes a data check (exit 4 if not).
    Verify(verify::VerifyArgs),
    /// Delete old manual snapshots beyond --keep (never automated ones, never the newest).
    Prune(prune::PruneArgs),
    /// Wait for a snapshot or instance again after a timeout (re-attach).
    Wait(wait::WaitArgs),
    /// Print the minimal IAM policy (JSON) the command line after `policy` needs,
    /// e.g. `db-snapshot policy create --instance ltc-db-prod`.
    Policy(common::policy::PolicyArgs),
}

pub async fn run(ctx: Context, cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Create(a) => create::run(&ctx, a).await?,
        Command::List(a) => list::run_list(&ctx, a).await?,
        Command::Latest(a) => list::run_latest(&ctx, a).await?,
        Command::Restore(a) => restore::run(&ctx, a).await?,
        Command::Swap(a) => swap::run(&ctx, a).await?,
        Command::Verify(a) => verify::run(&ctx, a).await?,
        Command::Prune(a) => prune::run(&ctx, a).await?,
        Command::Wait(a) => wait::run(&ctx, a).await?,
        Command::Policy(a) => policy::run(&ctx, &cli.globals, a)?,
    }
    Ok(())
}
