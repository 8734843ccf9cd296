//! dns-shift: show, set and gradually shift Route 53 weighted records, gated by
//! checks and reverting on failure; maintenance mode; undo from the journal.
//!
//! Modules: `weights` (the pure arithmetic), `route53` (reading records,
//! UPSERT ChangeBatches, INSYNC waits), `gates`, and one module per subcommand.

pub mod alarms;
pub mod apply;
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

use clap::{Parser, Subcommand};
use common::{Context, Error, GlobalArgs, HasGlobals, HumanDuration, Result};

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

#[derive(Debug, Parser)]
#[command(
    name = "dns-shift",
    version,
    about = "Show, set and gradually shift Route 53 weighted records, gated by checks, reverting on failure",
    after_help = common::cli::after_help(EXAMPLES)
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

/// Names one record: `--zone`, `--record`, optional `--type`.
#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    /// Hosted zone: its id (Z0123ABC) or its domain name (example.com).
    #[arg(long, value_name = "ZONE", allow_hyphen_values = true)]
    pub zone: String,

    /// Record name, e.g. www.example.com (the trailing dot is optional).
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    pub record: String,

    /// Record type (A, AAAA, CNAME ...) [default: the one type with weighted sets].
    #[arg(long = "type", value_name = "TYPE", allow_hyphen_values = true)]
    pub rtype: Option<String>,
}

/// A validated [`RecordArgs`].
#[derive(Debug, Clone)]
pub struct RecordSpec {
    pub zone: String,
    pub name: String,
    pub rtype: Option<aws_sdk_route53::types::RrType>,
}

impl RecordArgs {
    pub fn validate(&self) -> Result<RecordSpec> {
        route53::validate_zone_arg(&self.zone)?;
        let name = route53::validate_record_name(&self.record)?;
        let rtype = self.rtype.as_deref().map(route53::parse_type).transpose()?;
        Ok(RecordSpec {
            zone: self.zone.trim().to_owned(),
            name,
            rtype,
        })
    }
}

/// The longest `--bake`, `--timeout` or `--gate-timeout` accepted: a shift that
/// bakes for years with traffic moved is a typo, not a plan.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Parses a duration flag given as text, so a bad value is one line, exit 2.
/// At most [`MAX_DURATION`].
pub fn parse_duration(flag: &str, raw: &str) -> Result<std::time::Duration> {
    if raw.chars().count() > 32 {
        return Err(Error::usage(format!(
            "{flag} must be a duration such as 30s, 5m or 1h, got {}",
            quoted(raw)
        )));
    }
    let d = raw
        .parse::<HumanDuration>()
        .map(|d| d.0)
        .map_err(|e| Error::usage(format!("{flag}: {e}")))?;
    if d > MAX_DURATION {
        return Err(Error::usage(format!(
            "{flag} must be at most 24h, got {}",
            raw.trim()
        )));
    }
    Ok(d)
}

/// Operator input quoted for an error line, cut to 100 characters: the one
/// rule of `common::quote`.
pub use common::quote as quoted;

/// Returns `common::Error` rather than `anyhow::Error`: `common::cli::main`
/// finds the exit code by downcasting the boxed error, and an `anyhow::Error`
/// boxed that way hides the `common::Error` inside it (every failure became
/// exit 1).
pub async fn run(cli: Cli) -> Result<()> {
    let ctx = Context::new("dns-shift", &cli.globals);
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
