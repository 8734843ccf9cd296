//! One evaluation of a gate set: every source kind asked once (concurrently),
//! each gate's observation turned into a verdict, and the decision: no counting
//! gate failed and no more inconclusive ones than the file tolerates.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::gatesfile::{Gate, GateSet, Kind, Severity, TcpTarget, trim_float};
use crate::{alarms, command, connect, ecs, guardduty, metrics, scaling, targets};

/// What a source saw for one gate.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A number the gate's rule decides on (no rule: a pass).
    Value {
        value: f64,
        detail: String,
    },
    /// Decided by the source itself (an alarm in ALARM, a refused connection).
    Fail {
        value: Option<f64>,
        detail: String,
    },
    Pass {
        value: Option<f64>,
        detail: String,
    },
    /// No data, or the source could not be read: never a pass.
    NoData(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One gate's line of the result.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct GateOutcome {
    pub name: String,
    pub severity: Severity,
    pub source: &'static str,
    pub query: String,
    pub value: Option<f64>,
    pub unit: String,
    /// The failing condition, e.g. `> 90%`.
    pub threshold: Option<String>,
    pub verdict: Verdict,
    pub detail: String,
}

/// The clients a gate set needs (None where no gate uses that service).
#[derive(Debug, Default, Clone)]
pub struct Clients {
    pub cloudwatch: Option<aws_sdk_cloudwatch::Client>,
    pub ecs: Option<aws_sdk_ecs::Client>,
    pub rds: Option<aws_sdk_rds::Client>,
    pub elasticache: Option<aws_sdk_elasticache::Client>,
    pub elb: Option<aws_sdk_elasticloadbalancingv2::Client>,
    pub autoscaling: Option<aws_sdk_applicationautoscaling::Client>,
    pub guardduty: Option<aws_sdk_guardduty::Client>,
}

/// Which AWS services a gate set calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub cloudwatch: bool,
    pub ecs: bool,
    pub rds: bool,
    pub elasticache: bool,
    pub elb: bool,
    pub autoscaling: bool,
    pub guardduty: bool,
}

impl Needs {
    pub fn any(&self) -> bool {
        self.cloudwatch
            || self.ecs
            || self.rds
            || self.elasticache
            || self.elb
            || self.autoscaling
            || self.guardduty
    }
}

pub fn needs(set: &GateSet) -> Needs {
    let any = |f: &dyn Fn(&Kind) -> bool| set.gates.iter().any(|g| f(&g.kind));
    Needs {
        cloudwatch: any(&|k| matches!(k, Kind::Metric(_) | Kind::Alarm(_))),
        ecs: any(&|k| matches!(k, Kind::Ecs { .. })),
        rds: any(&|k| {
            matches!(
                k,
                Kind::Tcp {
                    target: TcpTarget::RdsInstance(_),
                    ..
                }
            )
        }),
        elasticache: any(&|k| {
            matches!(
                k,
                Kind::Tcp {
                    target: TcpTarget::CacheCluster(_) | TcpTarget::ReplicationGroup(_),
                    ..
                }
            )
        }),
        elb: any(&|k| matches!(k, Kind::TargetHealth { .. })),
        autoscaling: any(&|k| matches!(k, Kind::Scaling { .. })),
        guardduty: any(&|k| matches!(k, Kind::GuardDuty { .. })),
    }
}

pub fn query_of(g: &Gate) -> String {
    match &g.kind {
        Kind::Metric(m) => metrics::describe(m),
        Kind::Alarm(specs) => alarms::describe_gate(specs),
        Kind::Ecs { cluster, services } => ecs::describe_gate(cluster, services),
        Kind::Tcp { target, timeout } => connect::describe_gate(target, *timeout),
        Kind::Command {
            command, secrets, ..
        } => command::describe_gate(command, secrets),
        Kind::TargetHealth { target_groups } => targets::describe_gate(target_groups),
        Kind::Scaling {
            namespace,
            resources,
            window,
        } => scaling::describe_gate(namespace, resources, *window),
        Kind::GuardDuty {
            detector,
            min_severity,
            window,
        } => guardduty::describe_gate(detector.as_deref(), *min_severity, *window),
    }
}

fn unit_of(g: &Gate) -> String {
    match &g.kind {
        Kind::Metric(m) => m.unit.clone(),
        Kind::Ecs { .. } => "%".into(),
        Kind::Tcp { .. } => "ms".into(),
        Kind::Alarm(_) => " in ALARM".into(),
        Kind::Command { .. } => String::new(),
        Kind::TargetHealth { .. } => "%".into(),
        Kind::Scaling { .. } => " activities".into(),
        Kind::GuardDuty { .. } => " findings".into(),
    }
}

/// Turns an observation into the gate's line.
pub fn outcome(g: &Gate, obs: Observation) -> GateOutcome {
    let unit = unit_of(g);
    let threshold = g.rule.map(|r| r.label(&unit));
    let (value, verdict, detail) = match obs {
        Observation::Value { value, detail } => {
            let breached = g
                .rule
                .is_some_and(|r| r.comparison.breached(value, r.threshold));
            let v = if breached {
                Verdict::Fail
            } else {
                Verdict::Pass
            };
            (Some(value), v, detail)
        }
        Observation::Fail { value, detail } => (value, Verdict::Fail, detail),
        Observation::Pass { value, detail } => (value, Verdict::Pass, detail),
        Observation::NoData(detail) => (None, Verdict::Inconclusive, detail),
    };
    GateOutcome {
        name: g.name.clone(),
        severity: g.severity,
        source: g.kind.source(),
        query: query_of(g),
        value,
        unit,
        threshold,
        verdict,
        detail,
    }
}

/// Evaluates every gate once. Source kinds run concurrently; CloudWatch metrics
/// are one GetMetricData call for all metric gates.
pub async fn evaluate(set: &GateSet, clients: &Clients, now: DateTime<Utc>) -> Vec<GateOutcome> {
    let mut slots: Vec<Option<Observation>> = vec![None; set.gates.len()];

    let metric_idx: Vec<usize> = (0..set.gates.len())
        .filter(|i| matches!(set.gates[*i].kind, Kind::Metric(_)))
        .collect();
    let alarm_idx: Vec<usize> = (0..set.gates.len())
        .filter(|i| matches!(set.gates[*i].kind, Kind::Alarm(_)))
        .collect();

    let metrics_fut = async {
        let ms: Vec<_> = metric_idx
            .iter()
            .filter_map(|i| match &set.gates[*i].kind {
                Kind::Metric(m) => Some(m),
                _ => None,
            })
            .collect();
        match &clients.cloudwatch {
            Some(cw) => metrics::evaluate(cw, &ms, now).await,
            None => vec![Observation::NoData("no CloudWatch client".into()); ms.len()],
        }
    };
    let alarms_fut = async {
        let specs: Vec<&[crate::gatesfile::AlarmSpec]> = alarm_idx
            .iter()
            .filter_map(|i| match &set.gates[*i].kind {
                Kind::Alarm(s) => Some(s.as_slice()),
                _ => None,
            })
            .collect();
        if specs.is_empty() {
            return Vec::new();
        }
        match &clients.cloudwatch {
            Some(cw) => alarms::evaluate(cw, &specs).await,
            None => vec![Observation::NoData("no CloudWatch client".into()); specs.len()],
        }
    };
    let others_fut =
        futures::future::join_all(set.gates.iter().enumerate().filter_map(|(i, g)| {
            let fut: std::pin::Pin<
                Box<dyn std::future::Future<Output = (usize, Observation)> + Send + '_>,
            > = match &g.kind {
                Kind::Ecs { cluster, services } => Box::pin(async move {
                    let obs = match &clients.ecs {
                        Some(c) => ecs::evaluate(c, cluster, services).await,
                        None => Observation::NoData("no ECS client".into()),
                    };
                    (i, obs)
                }),
                Kind::Tcp { target, timeout } => Box::pin(async move {
                    let lookup = connect::Lookup {
                        rds: clients.rds.as_ref(),
                        elasticache: clients.elasticache.as_ref(),
                    };
                    (i, connect::evaluate(lookup, target, *timeout).await)
                }),
                Kind::TargetHealth { target_groups } => Box::pin(async move {
                    let obs = match &clients.elb {
                        Some(c) => targets::evaluate(c, target_groups).await,
                        None => Observation::NoData("no ELBv2 client".into()),
                    };
                    (i, obs)
                }),
                Kind::Scaling {
                    namespace,
                    resources,
                    window,
                } => Box::pin(async move {
                    let obs = match &clients.autoscaling {
                        Some(c) => scaling::evaluate(c, namespace, resources, *window, now).await,
                        None => Observation::NoData("no Application Auto Scaling client".into()),
                    };
                    (i, obs)
                }),
                Kind::GuardDuty {
                    detector,
                    min_severity,
                    window,
                } => Box::pin(async move {
                    let obs = match &clients.guardduty {
                        Some(c) => {
                            guardduty::evaluate(c, detector.as_deref(), *min_severity, *window, now)
                                .await
                        }
                        None => Observation::NoData("no GuardDuty client".into()),
                    };
                    (i, obs)
                }),
                Kind::Command {
                    command,
                    secrets,
                    timeout,
                } => Box::pin(
                    async move { (i, command::evaluate(command, secrets, *timeout).await) },
                ),
                _ => return None,
            };
            Some(fut)
        }));
    let (m, a, others) = tokio::join!(metrics_fut, alarms_fut, others_fut);
    for (i, obs) in metric_idx.iter().zip(m) {
        slots[*i] = Some(obs);
    }
    for (i, obs) in alarm_idx.iter().zip(a) {
        slots[*i] = Some(obs);
    }
    for (i, obs) in others {
        slots[i] = Some(obs);
    }
    set.gates
        .iter()
        .zip(slots)
        .map(|(g, obs)| {
            outcome(
                g,
                obs.unwrap_or_else(|| Observation::NoData("not evaluated".into())),
            )
        })
        .collect()
}

/// Counts and the decision of one evaluation.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Decision {
    pub passed: bool,
    pub pass: usize,
    pub fail: usize,
    pub inconclusive: usize,
    /// Failing gates that decide (critical; warning too with --strict).
    pub failed: Vec<String>,
    /// Inconclusive gates that count against the limit.
    pub inconclusive_counted: Vec<String>,
    pub inconclusive_limit: u32,
    /// Failing warnings reported without failing the check (no --strict).
    pub warnings: Vec<String>,
    pub reason: String,
}

/// `s` cut to at most `max` characters (on a character boundary).
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

pub fn decide(outcomes: &[GateOutcome], strict: bool, inconclusive_limit: u32) -> Decision {
    let counts = |s: Severity| s == Severity::Critical || (strict && s == Severity::Warning);
    let names = |f: &dyn Fn(&GateOutcome) -> bool| -> Vec<String> {
        outcomes
            .iter()
            .filter(|o| f(o))
            .map(|o| o.name.clone())
            .collect()
    };
    let failed = names(&|o| counts(o.severity) && o.verdict == Verdict::Fail);
    let inconclusive_counted = names(&|o| counts(o.severity) && o.verdict == Verdict::Inconclusive);
    let warnings = names(&|o| {
        !counts(o.severity) && o.severity == Severity::Warning && o.verdict == Verdict::Fail
    });
    let too_many = inconclusive_counted.len() > inconclusive_limit as usize;
    let passed = failed.is_empty() && !too_many;
    let mut reasons = Vec::new();
    if !failed.is_empty() {
        reasons.push(format!("failed: {}", failed.join(", ")));
    }
    if too_many {
        // Each with why it had no data: an operator at the final line must
        // see "access denied: ... ecs:ListTasks" or "no datapoints", not
        // only a gate name.
        let why: Vec<String> = outcomes
            .iter()
            .filter(|o| counts(o.severity) && o.verdict == Verdict::Inconclusive)
            .map(|o| match o.detail.trim() {
                "" => o.name.clone(),
                d => format!("{} ({})", o.name, cut(d, 240)),
            })
            .collect();
        reasons.push(format!(
            "{} inconclusive (no data) where {} tolerated: {}",
            inconclusive_counted.len(),
            inconclusive_limit,
            why.join(", ")
        ));
    }
    if passed {
        reasons.push(if warnings.is_empty() {
            "no critical gate failed".into()
        } else {
            format!(
                "no critical gate failed; warnings (fail only with --strict): {}",
                warnings.join(", ")
            )
        });
    }
    Decision {
        passed,
        pass: outcomes
            .iter()
            .filter(|o| o.verdict == Verdict::Pass)
            .count(),
        fail: outcomes
            .iter()
            .filter(|o| o.verdict == Verdict::Fail)
            .count(),
        inconclusive: outcomes
            .iter()
            .filter(|o| o.verdict == Verdict::Inconclusive)
            .count(),
        failed,
        inconclusive_counted,
        inconclusive_limit,
        warnings,
        reason: reasons.join("; "),
    }
}

/// The per-gate table for people (stderr).
pub fn table(outcomes: &[GateOutcome]) -> String {
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            let sev = match o.severity {
                Severity::Critical => "critical",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            vec![
                o.name.clone(),
                sev.into(),
                o.source.into(),
                o.value
                    .map(|v| format!("{}{}", trim_float(v), o.unit))
                    .unwrap_or_else(|| "-".into()),
                o.threshold.clone().unwrap_or_else(|| "-".into()),
                o.verdict.as_str().into(),
                format!("{} | {}", o.query, o.detail),
            ]
        })
        .collect();
    common::output::table(
        &[
            "GATE",
            "SEVERITY",
            "SOURCE",
            "VALUE",
            "FAILS IF",
            "VERDICT",
            "QUERY | DETAIL",
        ],
        &rows,
    )
}

/// Elapsed milliseconds since `t`.
pub fn ms_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Calls per operation, for results.
pub type Calls = BTreeMap<String, u64>;

#[cfg(test)]
mod tests {
    use super::*;

    fn o(name: &str, severity: Severity, verdict: Verdict) -> GateOutcome {
        GateOutcome {
            name: name.into(),
            severity,
            source: "cloudwatch",
            query: String::new(),
            value: None,
            unit: String::new(),
            threshold: None,
            verdict,
            detail: String::new(),
        }
    }

    #[test]
    fn critical_failures_fail_warnings_only_when_strict() {
        let all = vec![
            o("db-cpu", Severity::Critical, Verdict::Pass),
            o("p95-warn", Severity::Warning, Verdict::Fail),
            o("note", Severity::Info, Verdict::Fail),
        ];
        let d = decide(&all, false, 0);
        assert!(d.passed, "{d:?}");
        assert_eq!(d.warnings, vec!["p95-warn"]);
        let d = decide(&all, true, 0);
        assert!(!d.passed);
        assert_eq!(d.failed, vec!["p95-warn"]);
        let mut all = all;
        all[0].verdict = Verdict::Fail;
        assert!(!decide(&all, false, 0).passed);
    }

    #[test]
    fn too_many_inconclusive_says_why_each_had_no_data() {
        let mut denied = o("api-tasks", Severity::Critical, Verdict::Inconclusive);
        denied.detail = "task health not read: ListTasks failed (AccessDenied, HTTP 403): \
                         access denied: this caller may not perform ecs:ListTasks"
            .into();
        let d = decide(&[denied], false, 0);
        assert!(!d.passed);
        assert!(
            d.reason.contains(
                "1 inconclusive (no data) where 0 tolerated: api-tasks (task health not read: \
                 ListTasks failed"
            ) && d.reason.contains("ecs:ListTasks)"),
            "{}",
            d.reason
        );
        assert_eq!(d.inconclusive_counted, ["api-tasks"]);
        assert_eq!(cut(&"x".repeat(300), 240).len(), 243);
    }

    #[test]
    fn no_data_is_never_a_pass_unless_tolerated() {
        let all = vec![
            o("db-cpu", Severity::Critical, Verdict::Inconclusive),
            o("cache", Severity::Warning, Verdict::Inconclusive),
        ];
        let d = decide(&all, false, 0);
        assert!(!d.passed);
        assert!(
            d.reason
                .contains("1 inconclusive (no data) where 0 tolerated: db-cpu"),
            "{}",
            d.reason
        );
        assert!(decide(&all, false, 1).passed);
        assert!(
            !decide(&all, true, 1).passed,
            "strict counts the warning too"
        );
    }
}
