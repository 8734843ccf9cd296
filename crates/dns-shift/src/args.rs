//! The arguments several subcommands share (`--zone`/`--record`/`--type`) and
//! the parsing of their duration flags.

use common::Result;

use crate::route53;

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

/// `--timeout`: how long a change may take to reach INSYNC (set, shift,
/// maintenance, undo).
#[derive(Debug, Clone, clap::Args)]
pub struct InsyncTimeout {
    /// How long to wait for each change to be INSYNC.
    #[arg(
        long,
        default_value = "5m",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub timeout: String,
}

impl InsyncTimeout {
    pub fn parse(&self) -> Result<std::time::Duration> {
        parse_duration("--timeout", &self.timeout)
    }
}

/// The longest `--bake`, `--timeout` or `--gate-timeout` accepted: a shift that
/// bakes for years with traffic moved is a typo, not a plan.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Parses a duration flag given as text, so a bad value is one line, exit 2.
/// At most [`MAX_DURATION`].
pub fn parse_duration(flag: &str, raw: &str) -> Result<std::time::Duration> {
    common::duration::parse_flag_at_most(flag, raw, MAX_DURATION, "24h")
}

/// Operator input quoted for an error line, cut to 100 characters: the one
/// rule of `common::quote`.
pub use common::quote as quoted;
