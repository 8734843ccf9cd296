//! ecs-revert: revert ECS services to an earlier task definition, wait for
//! steady state, scale by hand. Nothing is ever deregistered.

pub mod ecs;
mod examples;
pub mod history;
pub mod policy;
pub mod previous;
pub mod revert;
pub mod scale;
pub mod scaling;
pub mod services;
pub mod status;
pub mod steady;
pub mod taskdef;
pub mod watch;

use clap::Subcommand;
use common::Context;

pub use services::{Services, WaitArgs};

common::declare_cli! {
    #[command(
        name = "ecs-revert",
        version,
        about = "Revert ECS services to an earlier task definition, wait for steady state, scale by hand",
        after_help = common::cli::after_help(
            "  ecs-revert status  --cluster ltc-prod --service api --service worker\n  \
             ecs-revert history --cluster ltc-prod --service api\n  \
             ecs-revert revert  --cluster ltc-prod --service api --service worker --dry-run\n  \
             ecs-revert revert  --cluster ltc-prod --service api --to 41 --env prod --yes\n  \
             ecs-revert wait    --cluster ltc-prod --service api --timeout 15m\n  \
             ecs-revert scale   --cluster ltc-prod --service api --desired 6 --adjust-limits\n  \
             ecs-revert scaling show    --cluster ltc-prod --service api --service worker\n  \
             ecs-revert scaling record  --cluster ltc-prod --service api --run \"$LTC_RUN_ID\"\n  \
             ecs-revert scaling restore --cluster ltc-prod --run 20261201T101500.000Z-deploy-1a2b3c\n  \
             ecs-revert scaling suspend --cluster ltc-prod --service api"
        )
    )]
    Command
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Per service: task definition in use, counts, deployments, recent events (read-only).
    Status(Services),
    /// The family's revisions newest first, marking the one in use and the one deployed before it (read-only).
    History(history::HistoryArgs),
    /// Point services at an earlier revision (default: the one deployed before) and wait for steady state.
    ///
    /// Interrupted (exit 130)? The first Ctrl-C (SIGINT, SIGTERM, SIGHUP) lets
    /// the UpdateService calls finish, stops the wait and journals
    /// `interrupted`: the change was made and ECS carries on. Re-attach with
    /// `ecs-revert wait ...`; `ecs-revert revert --to <the same target>` again
    /// is idempotent (no call, it only waits); a plain `ecs-revert revert`
    /// refuses to undo it and names the `--to` that would. Exit 7: only some
    /// services were changed, or an outcome is unknown; the result and stderr
    /// list where each service is and the commands to finish or undo.
    ///
    /// Auto scaling of the services being reverted is suspended (dynamic
    /// scale-in/out and scheduled) before the UpdateService calls and each
    /// service's previous suspended state is put back when the command ends
    /// (also on timeout, failure or a signal), unless --no-suspend-scaling.
    Revert(revert::RevertCmd),
    /// Re-attach to a rollout: wait until the services are steady (or failed).
    Wait(WaitArgs),
    /// Set the desired count by hand and wait until that many tasks run.
    ///
    /// Interrupted (exit 130): the counts set stay set; the same command again
    /// is idempotent (no call, it only waits). Exit 7: only some services were
    /// scaled, or an outcome is unknown; the result lists what to run next.
    ///
    /// A count outside a service's auto scaling min/max is moved back by
    /// Application Auto Scaling: that is warned about, and --adjust-limits
    /// widens min/max to hold it (journaled) before the count is set.
    Scale(scale::ScaleCmd),
    /// Application Auto Scaling of the services: show, record, restore, suspend, resume.
    Scaling(scaling::ScalingArgs),
    /// Print the minimal IAM policy (JSON) the command line after `policy` needs,
    /// e.g. `ecs-revert policy revert --cluster ltc-prod --service api`.
    Policy(common::policy::PolicyArgs),
}

pub async fn run(ctx: Context, cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Status(args) => status::run(&ctx, &args).await?,
        Command::History(args) => history::run(&ctx, &args).await?,
        Command::Revert(args) => revert::run(&ctx, &args).await?,
        Command::Wait(args) => revert::run_wait(&ctx, &args).await?,
        Command::Scale(args) => scale::run(&ctx, &args).await?,
        Command::Scaling(args) => scaling::run(&ctx, &args).await?,
        Command::Policy(args) => policy::run(&ctx, &cli.globals, &args)?,
    }
    Ok(())
}
