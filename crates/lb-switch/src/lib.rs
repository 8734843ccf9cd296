//! lb-switch: an Application Load Balancer listener as a traffic switch. Show
//! its rules, target-group weights and target health; put up a maintenance
//! page (a top-priority rule) and take it down again exactly as recorded;
//! shift traffic between target groups step by step with the same engine,
//! gates and exit codes as `dns-shift shift`; undo the last change; check
//! target health.
//!
//! Modules: `elb` (ARNs, the client, rule snapshots and restoring them), and
//! one module per subcommand.

pub mod elb;
mod examples;
pub mod health;
pub mod maintenance;
pub mod policy;
pub mod shift;
pub mod show;
pub mod undo;

use clap::{Parser, Subcommand};
use common::{Context, Error, GlobalArgs, HasGlobals, HumanDuration, Result};

use crate::elb::{Elb, parse_arn, validate_name};

const EXAMPLES: &str = "  lb-switch show --load-balancer ltc-prod
  lb-switch maintenance on --listener arn:aws:elasticloadbalancing:...:listener/app/ltc-prod/... \\
      --body maintenance.html --content-type text/html
  lb-switch maintenance on --listener ARN --target-group ltc-maintenance
  lb-switch maintenance off --listener ARN
  lb-switch shift --listener ARN --to ltc-green --steps 10,50,100 --bake 2m \\
      --gate-cmd 'smoke-test run checks.toml --base-url https://green.example.com' --alarm 'ltc-prod-*'
  lb-switch undo --listener ARN --dry-run
  lb-switch health --target-group ARN --target-group ARN --min-healthy 50%";

#[derive(Debug, Parser)]
#[command(
    name = "lb-switch",
    version,
    about = "Maintenance page, gradual target-group shifts and target health on an ELBv2 listener",
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

/// Names one listener: `--listener ARN`, or `--load-balancer NAME --port N`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListenerArgs {
    /// The listener's ARN.
    #[arg(
        long,
        value_name = "ARN",
        allow_hyphen_values = true,
        conflicts_with = "load_balancer"
    )]
    pub listener: Option<String>,

    /// The load balancer's name (with --port), instead of --listener.
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    pub load_balancer: Option<String>,

    /// The listener's port on --load-balancer.
    #[arg(long, value_name = "PORT", requires = "load_balancer")]
    pub port: Option<i64>,
}

/// A validated [`ListenerArgs`].
#[derive(Debug, Clone)]
pub enum ListenerSpec {
    Arn(String),
    ByPort { load_balancer: String, port: i32 },
}

impl ListenerArgs {
    pub fn validate(&self) -> Result<ListenerSpec> {
        match (&self.listener, &self.load_balancer, self.port) {
            (Some(arn), None, None) => {
                parse_arn("--listener", arn, "listener")?;
                Ok(ListenerSpec::Arn(arn.trim().to_owned()))
            }
            (None, Some(lb), Some(port)) => {
                let name = validate_name("--load-balancer", lb)?;
                if !(1..=65535).contains(&port) {
                    return Err(Error::usage(format!("--port must be 1-65535, got {port}")));
                }
                Ok(ListenerSpec::ByPort {
                    load_balancer: name,
                    port: port as i32,
                })
            }
            (None, Some(_), None) => Err(Error::usage(
                "--load-balancer needs --port to name one listener (or give --listener ARN)",
            )),
            _ => Err(Error::usage(
                "name the listener: --listener ARN, or --load-balancer NAME --port N",
            )),
        }
    }
}

impl ListenerSpec {
    /// The listener's ARN (two reads when it is named by load balancer and port).
    pub async fn resolve(&self, elb: &Elb) -> Result<String> {
        match self {
            ListenerSpec::Arn(a) => Ok(a.clone()),
            ListenerSpec::ByPort {
                load_balancer,
                port,
            } => {
                let lb = show::load_balancer(elb, load_balancer).await?;
                let listeners = show::listeners_of(elb, &lb.arn).await?;
                listeners
                    .into_iter()
                    .find(|l| l.port() == Some(*port))
                    .and_then(|l| l.listener_arn)
                    .ok_or_else(|| {
                        Error::usage(format!(
                            "load balancer {load_balancer} has no listener on port {port}"
                        ))
                    })
            }
        }
    }
}

/// The longest `--bake`, `--timeout` or `--gate-timeout` accepted.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Parses a duration flag given as text, so a bad value is one line, exit 2.
pub fn parse_duration(flag: &str, raw: &str) -> Result<std::time::Duration> {
    if raw.chars().count() > 32 {
        return Err(Error::usage(format!(
            "{flag} must be a duration such as 30s, 5m or 1h, got {}",
            common::quote(raw)
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

/// Parses a percentage flag (`50`, `50%`, `99.5%`), 0 to 100.
pub fn parse_percent(flag: &str, raw: &str) -> Result<f64> {
    let t = raw.trim().trim_end_matches('%').trim();
    match t.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(Error::usage(format!(
            "{flag} must be a percentage 0-100 such as 50%, got {}",
            common::quote(raw)
        ))),
    }
}

/// The ELBv2 client of this command (after all input was validated).
pub async fn open(ctx: &Context) -> Result<Elb> {
    let aws = ctx.aws().await?;
    Ok(Elb::new(&aws.config, common::calls::CallCounter::default()))
}

/// Returns `common::Error` so `common::cli::main` finds the exit code.
pub async fn run(cli: Cli) -> Result<()> {
    let ctx = Context::new("lb-switch", &cli.globals);
    match cli.command {
        Command::Show(a) => show::run(&ctx, &a).await,
        Command::Maintenance(a) => maintenance::run(&ctx, &a).await,
        Command::Shift(a) => shift::run(&ctx, &a).await,
        Command::Undo(a) => undo::run(&ctx, &a).await,
        Command::Health(a) => health::run(&ctx, &a).await,
        Command::Policy(a) => policy::run(&ctx, &cli.globals, &a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_durations_are_checked() {
        assert_eq!(parse_percent("--min-healthy", "50%").unwrap(), 50.0);
        assert_eq!(parse_percent("--min-healthy", "99.5").unwrap(), 99.5);
        assert!(parse_percent("--min-healthy", "101%").is_err());
        assert!(parse_percent("--min-healthy", "-1").is_err());
        assert!(parse_percent("--min-healthy", "half").is_err());
        assert!(parse_duration("--bake", "2m").is_ok());
        assert!(parse_duration("--bake", "48h").is_err());
    }
}
