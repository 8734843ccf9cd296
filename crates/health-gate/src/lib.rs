//! health-gate: the strategy's alert thresholds as automatic gates. A TOML gates
//! file declares CloudWatch metrics (one batched GetMetricData per evaluation,
//! ratios computed here), alarm states, ECS task health, load-balancer target
//! health, auto-scaling activities, GuardDuty findings, TCP reachability (RDS and
//! ElastiCache endpoints by id) and operator commands; `check` evaluates them
//! once, `watch` repeatedly.

pub mod alarms;
pub mod check;
pub mod command;
pub mod connect;
pub mod ecs;
pub mod evaluate;
mod examples;
pub mod gatesfile;
pub mod guardduty;
pub mod metrics;
pub mod policy;
pub mod scaling;
pub mod targets;
pub mod watch;

use clap::Subcommand;
use common::Context;

common::declare_cli! {
    #[command(
        name = "health-gate",
        version,
        about = "Evaluate the strategy's health thresholds (CloudWatch, alarms, ECS, ELBv2 targets, auto scaling, GuardDuty, TCP, commands) as gates",
        after_help = common::cli::after_help(
            "  health-gate check --gates env/prod.gates.toml --env prod\n  \
             health-gate check --gates env/prod.gates.toml --strict\n  \
             health-gate watch --gates env/prod.gates.toml --for 24h --interval 1m --failure-limit 3"
        )
    )]
    Command
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate every gate once: exit 0 when no critical gate fails, 4 when one
    /// does (or more gates have no data than the file's inconclusive_limit).
    ///
    /// JSON on stdout (per gate: source, query, value, threshold, severity,
    /// verdict); a table on stderr. A mistake in the gates file is exit 2 with
    /// its line and column, before any call.
    Check(check::CheckArgs),
    /// Evaluate repeatedly; stop with exit 4 after --failure-limit failed
    /// evaluations in a row, exit 0 when the time is up without that.
    ///
    /// One JSON line per evaluation and a final summary line on stdout; a status
    /// line per evaluation on stderr. Ctrl-C (SIGINT, SIGTERM, SIGHUP) stops at
    /// once with the summary line and exit 130. Read-only: run it again to resume.
    Watch(watch::WatchArgs),
    /// Print the minimal IAM policy (JSON) the command line after `policy` needs,
    /// e.g. `health-gate policy check --gates env/prod.gates.toml`.
    Policy(common::policy::PolicyArgs),
}

pub async fn run(ctx: Context, cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Check(a) => check::run(&ctx, a).await?,
        Command::Watch(a) => watch::run(&ctx, a).await?,
        Command::Policy(a) => policy::run(&ctx, &cli.globals, a)?,
    }
    Ok(())
}
