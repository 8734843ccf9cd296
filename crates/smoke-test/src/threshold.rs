//! Threshold expressions (`p95<1000ms`, `error_rate<5%`, `rps>100`) and the release
//! strategy's alert thresholds, evaluated against a run's [`Summary`].
//!
//! An expression states the condition that must hold for the run to pass, the way
//! k6 does: `p95<1000ms` passes while P95 stays under one second.

use std::fmt;

use serde::Serialize;

use crate::report::Summary;

/// What a threshold looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Min,
    Mean,
    Max,
    /// A latency percentile, e.g. 95.0 or 99.9.
    Percentile(Percentile),
    /// Failed share of requests, in percent.
    ErrorRate,
    /// Requests per second over the run.
    Rps,
    /// Requests (or check executions) made.
    Count,
}

/// The percentiles reported (and therefore the ones a threshold may use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Percentile {
    P50,
    P90,
    P95,
    P99,
    P999,
}

impl Percentile {
    pub fn quantile(self) -> f64 {
        match self {
            Percentile::P50 => 0.50,
            Percentile::P90 => 0.90,
            Percentile::P95 => 0.95,
            Percentile::P99 => 0.99,
            Percentile::P999 => 0.999,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P90 => "p90",
            Percentile::P95 => "p95",
            Percentile::P99 => "p99",
            Percentile::P999 => "p99.9",
        }
    }
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Metric::Min => "min",
            Metric::Mean => "mean",
            Metric::Max => "max",
            Metric::Percentile(p) => p.name(),
            Metric::ErrorRate => "error_rate",
            Metric::Rps => "rps",
            Metric::Count => "count",
        }
    }

    fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::Min | Metric::Mean | Metric::Max | Metric::Percentile(_)
        )
    }

    fn parse(s: &str) -> Option<Metric> {
        Some(match s {
            "min" => Metric::Min,
            "mean" | "avg" => Metric::Mean,
            "max" => Metric::Max,
            "p50" | "median" => Metric::Percentile(Percentile::P50),
            "p90" => Metric::Percentile(Percentile::P90),
            "p95" => Metric::Percentile(Percentile::P95),
            "p99" => Metric::Percentile(Percentile::P99),
            "p99.9" | "p999" => Metric::Percentile(Percentile::P999),
            "error_rate" | "errors" => Metric::ErrorRate,
            "rps" | "requests_per_second" => Metric::Rps,
            "count" | "requests" => Metric::Count,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Lt => actual < limit,
            Op::Le => actual <= limit,
            Op::Gt => actual > limit,
            Op::Ge => actual >= limit,
        }
    }
}

/// How bad a broken threshold is: critical fails the command (exit 4); a warning
/// is printed and fails only with `--fail-on-warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
}

/// One parsed expression. The limit is kept in the metric's reporting unit:
/// milliseconds for latency, percent for the error rate, per second for rps.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric: Metric,
    pub op: Op,
    pub limit: f64,
    pub severity: Severity,
    /// Where it came from: "flag" or "strategy default".
    pub source: &'static str,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.metric.is_latency() {
            "ms"
        } else if self.metric == Metric::ErrorRate {
            "%"
        } else {
            ""
        };
        write!(
            f,
            "{}{}{}{}",
            self.metric.name(),
            self.op.symbol(),
            trim_number(self.limit),
            unit
        )
    }
}

fn trim_number(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Parses `METRIC OP VALUE[UNIT]`, e.g. `p95<1000ms`, `p99<=2s`, `error_rate<5%`,
/// `rps>100`. Latency needs a unit (us, ms, s), the error rate a percent sign.
pub fn parse(expr: &str, severity: Severity) -> Result<Threshold, String> {
    let q = common::quote(expr);
    let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let hint = "use e.g. 'p95<1000ms', 'p99<=2s', 'error_rate<5%', 'rps>100'";
    let pos = compact
        .find(['<', '>'])
        .ok_or_else(|| format!("bad threshold {q}: no comparison (<, <=, >, >=); {hint}"))?;
    let (name, rest) = compact.split_at(pos);
    let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = rest.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Op::Gt, v)
    } else {
        return Err(format!("bad threshold {q}: {hint}"));
    };
    let metric = Metric::parse(&name.to_ascii_lowercase()).ok_or_else(|| {
        format!(
            "bad threshold {q}: unknown metric {} (known: min, mean, max, p50, p90, \
             p95, p99, p99.9, error_rate, rps, count)",
            common::quote(name)
        )
    })?;
    let limit = if metric.is_latency() {
        parse_latency(value).map_err(|e| format!("bad threshold {q}: {e}"))?
    } else if metric == Metric::ErrorRate {
        let num = value.strip_suffix('%').ok_or_else(|| {
            format!("bad threshold {q}: the error rate needs a percent sign, e.g. error_rate<5%")
        })?;
        let v = parse_number(num).map_err(|e| format!("bad threshold {q}: {e}"))?;
        if v > 100.0 {
            return Err(format!("bad threshold {q}: an error rate is at most 100%"));
        }
        v
    } else {
        parse_number(value).map_err(|e| format!("bad threshold {q}: {e}"))?
    };
    Ok(Threshold {
        metric,
        op,
        limit,
        severity,
        source: "flag",
    })
}

fn parse_number(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{} is not a non-negative number", common::quote(s))),
    }
}

/// A latency limit in milliseconds.
fn parse_latency(s: &str) -> Result<f64, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!(
                "{} has no unit (use us, ms or s, e.g. 500ms)",
                common::quote(s)
            )
        })?;
    let (num, unit) = s.split_at(split);
    let v = parse_number(num)?;
    let factor = match unit {
        "us" | "µs" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        _ => {
            return Err(format!(
                "unknown unit {} (use us, ms or s)",
                common::quote(unit)
            ));
        }
    };
    Ok(v * factor)
}

/// clap value parser for `--threshold`.
pub fn parse_critical(s: &str) -> Result<Threshold, String> {
    parse(s, Severity::Critical)
}

/// clap value parser for `--warn-threshold`.
pub fn parse_warning(s: &str) -> Result<Threshold, String> {
    parse(s, Severity::Warning)
}

/// The strategy's "Alert Thresholds": critical when the error rate is over 5 % or
/// P95 over 2000 ms; warning when P95 is over 1000 ms.
pub fn strategy_defaults() -> (Vec<Threshold>, Vec<Threshold>) {
    let t = |metric, limit, severity| Threshold {
        metric,
        op: Op::Le,
        limit,
        severity,
        source: "strategy default",
    };
    (
        vec![
            t(Metric::ErrorRate, 5.0, Severity::Critical),
            t(
                Metric::Percentile(Percentile::P95),
                2000.0,
                Severity::Critical,
            ),
        ],
        vec![t(
            Metric::Percentile(Percentile::P95),
            1000.0,
            Severity::Warning,
        )],
    )
}

/// Chooses the thresholds in force: the flags' per severity, the strategy's
/// where no flag of that severity was given (unless defaults are turned off).
pub fn effective(
    critical: &[Threshold],
    warning: &[Threshold],
    no_defaults: bool,
) -> Vec<Threshold> {
    let (def_crit, def_warn) = strategy_defaults();
    let mut out = Vec::new();
    if critical.is_empty() && !no_defaults {
        out.extend(def_crit);
    } else {
        out.extend(critical.iter().cloned());
    }
    if warning.is_empty() && !no_defaults {
        out.extend(def_warn);
    } else {
        out.extend(warning.iter().cloned());
    }
    out
}

/// The verdict on one threshold.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Outcome {
    pub threshold: String,
    pub severity: Severity,
    pub source: &'static str,
    /// The measured value in the threshold's unit; null when there was nothing to measure.
    pub actual: Option<f64>,
    pub passed: bool,
    /// Why it failed, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The metric's value in the threshold's unit, `None` when there is no sample
/// (no latency without a response).
pub fn actual(metric: Metric, s: &Summary) -> Option<f64> {
    let l = s.latency_ms.as_ref();
    match metric {
        Metric::Min => l.map(|l| l.min),
        Metric::Mean => l.map(|l| l.mean),
        Metric::Max => l.map(|l| l.max),
        Metric::Percentile(p) => l.map(|l| match p {
            Percentile::P50 => l.p50,
            Percentile::P90 => l.p90,
            Percentile::P95 => l.p95,
            Percentile::P99 => l.p99,
            Percentile::P999 => l.p99_9,
        }),
        Metric::ErrorRate => (s.count > 0).then_some(s.error_rate * 100.0),
        Metric::Rps => Some(s.requests_per_second),
        Metric::Count => Some(s.count as f64),
    }
}

/// Evaluates every threshold. A threshold with nothing to measure fails: a run
/// that got no answer has not shown that it is fast enough.
pub fn evaluate(thresholds: &[Threshold], s: &Summary) -> Vec<Outcome> {
    thresholds
        .iter()
        .map(|t| {
            let actual = actual(t.metric, s);
            let (passed, reason) = match actual {
                None => (
                    false,
                    Some(format!(
                        "no {} to measure: no request got a response",
                        t.metric.name()
                    )),
                ),
                Some(v) if t.op.holds(v, t.limit) => (true, None),
                Some(v) => (
                    false,
                    Some(format!(
                        "{} is {}{}",
                        t.metric.name(),
                        trim_number(v),
                        if t.metric.is_latency() {
                            "ms"
                        } else if t.metric == Metric::ErrorRate {
                            "%"
                        } else {
                            ""
                        }
                    )),
                ),
            };
            Outcome {
                threshold: t.to_string(),
                severity: t.severity,
                source: t.source,
                actual: actual.map(|v| (v * 1000.0).round() / 1000.0),
                passed,
                reason,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{LatencySummary, Summary};

    fn summary(p95: f64, error_rate: f64, rps: f64) -> Summary {
        Summary {
            count: 100,
            successes: (100.0 * (1.0 - error_rate)) as u64,
            failures: (100.0 * error_rate) as u64,
            error_rate,
            requests_per_second: rps,
            latency_ms: Some(LatencySummary {
                min: 1.0,
                mean: 10.0,
                p50: 5.0,
                p90: 20.0,
                p95,
                p99: p95 * 2.0,
                p99_9: p95 * 3.0,
                max: p95 * 4.0,
            }),
            ..Summary::default()
        }
    }

    #[test]
    fn parses_the_documented_forms() {
        let t = parse("p95<1000ms", Severity::Critical).unwrap();
        assert_eq!(t.metric, Metric::Percentile(Percentile::P95));
        assert_eq!(t.op, Op::Lt);
        assert_eq!(t.limit, 1000.0);
        let t = parse("p99<=2s", Severity::Critical).unwrap();
        assert_eq!((t.op, t.limit), (Op::Le, 2000.0));
        let t = parse("error_rate<5%", Severity::Critical).unwrap();
        assert_eq!((t.metric, t.limit), (Metric::ErrorRate, 5.0));
        let t = parse("rps > 100", Severity::Critical).unwrap();
        assert_eq!((t.metric, t.op, t.limit), (Metric::Rps, Op::Gt, 100.0));
        let t = parse("p99.9<250us", Severity::Warning).unwrap();
        assert_eq!(t.metric, Metric::Percentile(Percentile::P999));
        assert!((t.limit - 0.25).abs() < 1e-9);
        assert_eq!(t.severity, Severity::Warning);
        assert_eq!(
            parse("P95 >= 1.5s", Severity::Critical)
                .unwrap()
                .to_string(),
            "p95>=1500ms"
        );
    }

    #[test]
    fn rejects_what_an_operator_could_misread() {
        for (bad, needle) in [
            ("p95<1000", "no unit"),
            ("p95<1000m", "unknown unit"),
            ("error_rate<5", "percent sign"),
            ("error_rate<150%", "at most 100%"),
            ("p42<1s", "unknown metric"),
            ("p95=1s", "no comparison"),
            ("p95<", "no unit"),
            ("rps>fast", "not a non-negative number"),
            ("p95<-1ms", "not a non-negative number"),
            ("", "no comparison"),
        ] {
            let err = parse(bad, Severity::Critical).unwrap_err();
            assert!(err.contains(needle), "{bad:?}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn strategy_defaults_apply_without_flags() {
        let all = effective(&[], &[], false);
        let names: Vec<String> = all.iter().map(|t| t.to_string()).collect();
        assert_eq!(names, ["error_rate<=5%", "p95<=2000ms", "p95<=1000ms"]);
        assert_eq!(all[2].severity, Severity::Warning);
        // A critical flag replaces the critical defaults but keeps the warning.
        let mine = parse_critical("p99<500ms").unwrap();
        let all = effective(std::slice::from_ref(&mine), &[], false);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], mine);
        assert_eq!(all[1].severity, Severity::Warning);
        assert!(effective(&[], &[], true).is_empty());
    }

    #[test]
    fn strategy_boundaries_are_inclusive_of_the_limit() {
        // "over 5 %" is critical, exactly 5 % is not.
        let (crit, warn) = strategy_defaults();
        let at = summary(2000.0, 0.05, 10.0);
        assert!(evaluate(&crit, &at).iter().all(|o| o.passed));
        let over = summary(2000.5, 0.051, 10.0);
        let out = evaluate(&crit, &over);
        assert!(out.iter().all(|o| !o.passed), "{out:?}");
        assert_eq!(out[0].reason.as_deref(), Some("error_rate is 5.1%"));
        assert_eq!(out[1].reason.as_deref(), Some("p95 is 2000.5ms"));
        let slowish = summary(1500.0, 0.0, 10.0);
        assert!(!evaluate(&warn, &slowish)[0].passed);
        assert!(evaluate(&crit, &slowish).iter().all(|o| o.passed));
    }

    #[test]
    fn nothing_measured_fails_latency_thresholds() {
        let s = Summary {
            count: 3,
            failures: 3,
            error_rate: 1.0,
            ..Summary::default()
        };
        let out = evaluate(&[parse_critical("p95<1s").unwrap()], &s);
        assert!(!out[0].passed);
        assert_eq!(out[0].actual, None);
        assert!(out[0].reason.as_deref().unwrap().contains("no p95"));
    }

    #[test]
    fn rps_and_count_compare_plainly() {
        let s = summary(10.0, 0.0, 250.0);
        let out = evaluate(
            &[
                parse_critical("rps>100").unwrap(),
                parse_critical("rps>300").unwrap(),
                parse_critical("count>=100").unwrap(),
            ],
            &s,
        );
        assert_eq!(
            out.iter().map(|o| o.passed).collect::<Vec<_>>(),
            [true, false, true]
        );
    }
}
