//! The gates a shift must pass before every increase. Commands and CloudWatch
//! alarms are `common::gate`'s (shared with lb-switch); the Route 53 health
//! check of the target set is this crate's own. Gates fail closed: an error
//! while checking is a failed gate.

pub use common::gate::{
    AlarmSpec, AlarmState, GateResult, Gates, Matched, alarm_verdict, read_alarms, run_command,
};

use crate::route53::Route53;

/// The target set's Route 53 health check as a gate: passes when healthy.
pub async fn health_check_gate(r53: &Route53, id: &str) -> GateResult {
    match r53.health(id).await {
        Ok(h) => GateResult {
            kind: "health-check",
            name: id.to_owned(),
            passed: h.healthy,
            detail: format!(
                "{} ({} of {} checkers report success)",
                h.status, h.checkers_reporting_success, h.checkers
            ),
        },
        Err(e) => GateResult {
            kind: "health-check",
            name: id.to_owned(),
            passed: false,
            detail: format!("could not read the status: {e}"),
        },
    }
}
