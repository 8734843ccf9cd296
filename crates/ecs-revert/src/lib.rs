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
pub mod status;
pub mod steady;
pub mod taskdef;
pub mod watch;

use clap::{Parser, Subcommand};
use common::{Context, GlobalArgs, HasGlobals, HumanDuration, Result};

use crate::taskdef::{check_resource, short_name};

#[derive(Debug, Parser)]
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
pub struct Cli {
    #[command(flatten)]
    pub globals: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

impl HasGlobals for Cli {
    fn globals(&self) -> &GlobalArgs {
        &self.globals
    }
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

/// The services a command works on.
#[derive(Debug, Clone, clap::Args)]
pub struct Services {
    /// ECS cluster name or ARN.
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: String,
    /// Service name or ARN; repeat (or separate with commas) for several.
    #[arg(
        long = "service",
        value_name = "SERVICE",
        required = true,
        value_delimiter = ','
    )]
    pub services: Vec<String>,
}

impl Services {
    /// Checks names before any call; returns the service names without duplicates.
    pub fn validated(&self) -> Result<Vec<String>> {
        check_resource("cluster", &self.cluster)?;
        let mut out: Vec<String> = Vec::new();
        for s in &self.services {
            check_resource("service", s)?;
            if !out.iter().any(|o| short_name(o) == short_name(s)) {
                out.push(s.clone());
            }
        }
        Ok(out)
    }

    /// The command that re-attaches to a wait on these services.
    pub fn reattach(&self, services: &[String]) -> String {
        let mut cmd = format!("ecs-revert wait --cluster {}", self.cluster);
        for s in services {
            cmd.push_str(&format!(" --service {s}"));
        }
        cmd
    }
}

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub target: Services,
    /// Give up after this long (exit 5; the rollout carries on). LTC_DEADLINE also applies.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Context::new("ecs-revert", &cli.globals);
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
