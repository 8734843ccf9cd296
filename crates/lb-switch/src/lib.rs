//! lb-switch: an Application Load Balancer listener as a traffic switch. Show
//! its rules, target-group weights and target health; put up a maintenance
//! page (a top-priority rule) and take it down again exactly as recorded;
//! shift traffic between target groups step by step with the same engine,
//! gates and exit codes as `dns-shift shift`; undo the last change; check
//! target health.
//!
//! Modules: `elb` (ARNs, the client, rule snapshots and restoring them), and
//! one module per subcommand.

pub mod args;
pub mod elb;
mod examples;
pub mod health;
pub mod maintenance;
pub mod policy;
pub mod shift;
pub mod show;
pub mod undo;

use clap::Subcommand;
use common::{Context, Result};

pub use args::{ListenerArgs, ListenerSpec, MAX_DURATION, parse_duration, parse_percent};
pub use elb::open;

const EXAMPLES: &str = "  lb-switch show --load-balancer ltc-prod
  lb-switch maintenance on --listener arn:aws:elasticloadbalancing:...:listener/app/ltc-prod/... \\
      --body maintenance.html --content-type text/html
  lb-switch maintenance on --listener ARN --target-group ltc-maintenance
  lb-switch maintenance off --listener ARN
  lb-switch shift --listener ARN --to ltc-green --steps 10,50,100 --bake 2m \\
      --gate-cmd 'smoke-test run checks.toml --base-url https://green.example.com' --alarm 'ltc-prod-*'
  lb-switch undo --listener ARN --dry-run
  lb-switch health --target-group ARN --target-group ARN --min-healthy 50%";

common::declare_cli! {
    #[command(
        name = "lb-switch",
        version,
        about = "Maintenance page, gradual target-group shifts and target health on an ELBv2 listener",
        after_help = common::cli::after_help(EXAMPLES)
    )]
    Command
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Listeners, rules, actions, target groups with weights, and target health.
    Show(show::ShowArgs),
    /// Put up a maintenance rule in front of every other (on), or restore the rules from before it (off).
    Maintenance(maintenance::MaintenanceArgs),
    /// Move traffic to one target group step by step, gated, reverting on failure.
    Shift(shift::ShiftArgs),
    /// Restore the listener's rules from before the last recorded change to it.
    Undo(undo::UndoArgs),
    /// Healthy share of each target group; exit 4 when one is below --min-healthy.
    Health(health::HealthArgs),
    /// Print the minimal IAM policy (JSON) the command line after `policy` needs, e.g.
    /// `lb-switch policy shift --listener ARN --to ltc-green`
    Policy(common::policy::PolicyArgs),
}

/// Returns `common::Error` so `common::cli::main` finds the exit code.
pub async fn run(ctx: Context, cli: Cli) -> Result<()> {
    match cli.command {
        Command::Show(a) => show::run(&ctx, &a).await,
        Command::Maintenance(a) => maintenance::run(&ctx, &a).await,
        Command::Shift(a) => shift::run(&ctx, &a).await,
        Command::Undo(a) => undo::run(&ctx, &a).await,
        Command::Health(a) => health::run(&ctx, &a).await,
        Command::Policy(a) => policy::run(&ctx, &cli.globals, &a),
    }
}
