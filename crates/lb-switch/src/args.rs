//! The arguments several subcommands share: naming one listener
//! (`--listener`, or `--load-balancer` with `--port`), and the parsing of
//! duration and percentage flags.

use common::{Error, Result};

use crate::elb::{Elb, parse_arn, validate_name};
use crate::show;

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
    common::duration::parse_flag_at_most(flag, raw, MAX_DURATION, "24h")
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
