//! The flags every command shares: how requests are made and which
//! thresholds apply.

use std::path::PathBuf;

use clap::Args;
use common::HumanDuration;

use crate::threshold::{self, Threshold};

/// How requests are made (every command).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP")]
pub struct HttpArgs {
    /// Per-request timeout (a checks file may set its own).
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub timeout: HumanDuration,

    /// Trust this PEM CA certificate (bundle) too, e.g. a private staging CA.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Fail when an https server's certificate expires in fewer than N days.
    #[arg(long, value_name = "N")]
    pub min_cert_days: Option<u32>,
}

/// Which thresholds apply and how strictly (every command).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Thresholds")]
pub struct ThresholdArgs {
    /// Critical threshold that must hold, e.g. 'p95<1000ms', 'error_rate<5%', 'p99<=2s',
    /// 'rps>100' (metrics: min mean max p50 p90 p95 p99 p99.9 error_rate rps count).
    /// Replaces the strategy's critical defaults (error_rate<=5%, p95<=2000ms). Repeatable.
    #[arg(long = "threshold", value_name = "EXPR", value_parser = threshold::parse_critical)]
    pub critical: Vec<Threshold>,

    /// Warning threshold (printed; fails only with --fail-on-warning). Replaces the
    /// strategy's warning default (p95<=1000ms). Repeatable.
    #[arg(long = "warn-threshold", value_name = "EXPR", value_parser = threshold::parse_warning)]
    pub warning: Vec<Threshold>,

    /// Apply only the thresholds given as flags, not the strategy's defaults.
    #[arg(long)]
    pub no_default_thresholds: bool,

    /// Exit 4 on a broken warning threshold too.
    #[arg(long)]
    pub fail_on_warning: bool,
}

impl ThresholdArgs {
    pub fn effective(&self) -> Vec<Threshold> {
        threshold::effective(&self.critical, &self.warning, self.no_default_thresholds)
    }
}
