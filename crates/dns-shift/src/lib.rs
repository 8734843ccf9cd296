//! dns-shift: show, set and gradually shift Route 53 weighted records, gated by
//! checks and reverting on failure; maintenance mode; undo from the journal.
//!
//! Modules: `weights` (the pure arithmetic), `route53` (reading records,
//! UPSERT ChangeBatches, INSYNC waits), `gates`, and one module per subcommand.

pub mod alarms;
pub mod apply;
pub mod args;
mod examples;
pub mod gates;
pub mod maintenance;
pub mod policy;
pub mod route53;
pub mod set;
pub mod shift;
pub mod show;
pub mod undo;
pub mod weights;

use clap::Subcommand;
use common::{Context, Result};

pub use args::{MAX_DURATION, RecordArgs, RecordSpec, parse_duration, quoted};

const EXAMPLES: &str = "  dns-shift show --zone example.com --record www.example.com
  dns-shift set --zone Z0123ABC --record www.example.com --weight blue=90 --weight green=10
  dns-shift shift --zone example.com --record www.example.com --to green \\
      --steps 10,25,50,100 --bake 5m --gate-cmd 'smoke-test run checks.toml --base-url https://green.example.com' \\
      --alarm 'ltc-prod-*' --health-check
  dns-shift shift --zone example.com --record www.example.com --to blue --steps 100 --fast-track --yes
  dns-shift maintenance on --zone example.com --record www.example.com
  dns-shift maintenance off --zone example.com --record www.example.com
  dns-shift undo --zone example.com --record www.example.com --dry-run
  dns-shift alarms --alarm 'ltc-prod-*' --alarm ltc-api-5xx";

common::declare_cli! {
    #[command(
        name = "dns-shift",
        version,
        about = "Show, set and gradually shift Route 53 weighted records, gated by checks, reverting on failure",
        after_help = common::cli::after_help(EXAMPLES)
    )]
    Command
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every weighted set of a record: weight, share of traffic, target, health.
    Show(show::ShowArgs),
    /// Set the weights of named sets in one change, then wait until it is INSYNC.
    Set(set::SetArgs),
    /// Move traffic to one set step by step, gated, reverting on failure.
    Shift(shift::ShiftArgs),
    /// Put all traffic on the maintenance set (on), or restore the weights from before (off).
    Maintenance(maintenance::MaintenanceArgs),
    /// Restore the weights from before the last recorded change to this record.
    Undo(undo::UndoArgs),
    /// Read CloudWatch alarms by name or prefix; exit 4 if one is in ALARM or a name matches none.
    Alarms(alarms::AlarmsArgs),
    /// Print the minimal IAM policy (JSON) the command line after `policy` needs,
    /// e.g. `dns-shift policy shift --zone Z0123ABC --record www.example.com --to green`.
    Policy(common::policy::PolicyArgs),
}

/// Returns `common::Error` rather than `anyhow::Error`: `common::cli::main`
/// finds the exit code by downcasting the boxed error, and an `anyhow::Error`
/// boxed that way hides the `common::Error` inside it (every failure became
/// exit 1).
pub async fn run(ctx: Context, cli: Cli) -> Result<()> {
    match cli.command {
        Command::Show(a) => show::run(&ctx, &a).await,
        Command::Set(a) => set::run(&ctx, &a).await,
        Command::Shift(a) => shift::run(&ctx, &a).await,
        Command::Maintenance(a) => maintenance::run(&ctx, &a).await,
        Command::Undo(a) => undo::run(&ctx, &a).await,
        Command::Alarms(a) => alarms::run(&ctx, &a).await,
        Command::Policy(a) => policy::run(&ctx, &cli.globals, &a),
    }
}
