//! The end of every command: thresholds and certificates judged, one JSON report
//! on stdout, the human summary on stderr, and the exit code (0 pass, 4 a check,
//! threshold or certificate failed, 130 interrupted). Secrets are masked in all
//! three.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::check_run::CheckResult;
use crate::report::{Summary, render_summary};
use crate::threshold::{self, Outcome, Severity, Threshold};
use crate::tls::CertStatus;
use crate::vars::Masker;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

/// Settings of a load run, echoed in its report.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct LoadInfo {
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub duration_limit_ms: Option<u128>,
    pub requests_limit: Option<u64>,
    /// True with `--rate`: latency counts from each request's scheduled send time.
    pub coordinated_omission_corrected: bool,
    /// What ended the run: "duration", "requests" or "interrupted".
    pub stopped_by: &'static str,
}

/// The one JSON document a command prints.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Report {
    /// The command (`get`, `run` or `load`): the same as the envelope's.
    pub command: &'static str,
    pub target: String,
    pub verdict: Verdict,
    /// Why the verdict is not "pass", one line each.
    pub problems: Vec<String>,
    #[serde(flatten)]
    pub summary: Summary,
    pub thresholds: Vec<Outcome>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<CertStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    pub interrupted: bool,
}

/// What a command hands over at the end.
#[derive(Debug)]
pub struct Finished<'a> {
    pub command: &'static str,
    pub target: String,
    pub summary: Summary,
    pub histogram: &'a Histogram<u64>,
    pub thresholds: Vec<Threshold>,
    pub tls: Vec<CertStatus>,
    pub load: Option<LoadInfo>,
    pub checks: Vec<CheckResult>,
    pub interrupted: bool,
    pub fail_on_warning: bool,
}

/// Decides, reports and returns the error that carries the exit code.
pub fn conclude(ctx: &common::Context, f: Finished<'_>, masker: &Masker) -> common::Result<()> {
    let outcomes = threshold::evaluate(&f.thresholds, &f.summary);
    let mut critical = Vec::new();
    let mut warnings = Vec::new();
    for c in f.checks.iter().filter(|c| !c.passed) {
        critical.push(format!(
            "check {:?} failed: {}",
            c.name,
            c.reasons.join("; ")
        ));
    }
    for o in outcomes.iter().filter(|o| !o.passed) {
        let line = format!(
            "threshold {} ({}) broken: {}",
            o.threshold,
            o.source,
            o.reason.as_deref().unwrap_or("")
        );
        match o.severity {
            Severity::Critical => critical.push(line),
            Severity::Warning => warnings.push(line),
        }
    }
    for t in f.tls.iter().filter(|t| !t.passed) {
        critical.push(format!(
            "certificate of {}: {}",
            t.origin,
            t.reason.as_deref().unwrap_or("")
        ));
    }
    let verdict = if !critical.is_empty() {
        Verdict::Fail
    } else if !warnings.is_empty() {
        Verdict::Warn
    } else {
        Verdict::Pass
    };
    let problems: Vec<String> = critical.iter().chain(&warnings).cloned().collect();

    let report = Report {
        command: f.command,
        target: f.target,
        verdict,
        problems: problems.clone(),
        summary: f.summary,
        thresholds: outcomes,
        tls: f.tls,
        load: f.load,
        checks: f.checks,
        interrupted: f.interrupted,
    };

    ctx.out
        .human(masker.mask(&render_text(&report, f.histogram)));
    for w in &warnings {
        ctx.out.warn(masker.mask(w));
    }
    let mut json = serde_json::to_value(&report)
        .map_err(|e| common::Error::Internal(format!("cannot serialize the report: {e}")))?;
    masker.mask_json(&mut json);
    ctx.out.result(&Printed {
        json,
        line: masker.mask(&verdict_line(&report)),
    })?;

    if f.interrupted {
        return Err(common::Error::Interrupted);
    }
    let failing: &[String] = match verdict {
        Verdict::Fail => &critical,
        Verdict::Warn if f.fail_on_warning => &warnings,
        _ => return Ok(()),
    };
    let more = if failing.len() > 1 {
        format!(" (and {} more problems, see the report)", failing.len() - 1)
    } else {
        String::new()
    };
    Err(common::Error::CheckFailed(
        masker.mask(&format!("{}{more}", failing[0])),
    ))
}

/// The result as printed: JSON, or one line for `--output text`.
struct Printed {
    json: serde_json::Value,
    line: String,
}

impl Serialize for Printed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

impl common::Render for Printed {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(w, "{}", self.line)
    }
}

fn verdict_line(r: &Report) -> String {
    let word = match r.verdict {
        Verdict::Pass => "PASS",
        Verdict::Warn => "WARN",
        Verdict::Fail => "FAIL",
    };
    let p95 = r
        .summary
        .latency_ms
        .as_ref()
        .map_or("n/a".to_owned(), |l| format!("{}ms", l.p95));
    format!(
        "{word} {} {}: {} requests, {:.2}% errors, p95 {p95}",
        r.command,
        r.target,
        r.summary.count,
        r.summary.error_rate * 100.0
    )
}

/// The human summary for stderr.
pub fn render_text(r: &Report, hist: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", verdict_line(r));
    if r.interrupted {
        out.push_str("  interrupted: figures cover only what ran before the signal\n");
    }
    if let Some(l) = &r.load {
        let _ = writeln!(
            out,
            "  load: concurrency {}, {}{}",
            l.concurrency,
            match l.rate {
                Some(rate) => format!("rate {rate}/s (latency from scheduled send time)"),
                None => "as fast as answers come (closed loop)".to_owned(),
            },
            format_args!(", stopped by {}", l.stopped_by)
        );
    }
    for c in &r.checks {
        let latency = c.latency_ms.map_or("-".to_owned(), |l| {
            format!("{}ms", crate::report::fmt_ms(l))
        });
        let status = c.status.map_or("---".to_owned(), |s| s.to_string());
        let iter = if c.iteration > 1 {
            format!(" #{}", c.iteration)
        } else {
            String::new()
        };
        let tries = if c.attempts > 1 {
            format!(" ({} attempts)", c.attempts)
        } else {
            String::new()
        };
        if c.passed {
            let _ = writeln!(
                out,
                "  ok    {status} {latency:>9}  {}{iter}{tries}",
                c.name
            );
        } else {
            let _ = writeln!(
                out,
                "  FAIL  {status} {latency:>9}  {}{iter}{tries}: {}",
                c.name,
                c.reasons.join("; ")
            );
        }
    }
    out.push_str(&render_summary(&r.summary, hist));
    for t in &r.thresholds {
        let mark = match (t.passed, t.severity) {
            (true, _) => "ok  ",
            (false, Severity::Critical) => "FAIL",
            (false, Severity::Warning) => "WARN",
        };
        let actual = t.actual.map_or("n/a".to_owned(), crate::report::fmt_ms);
        let _ = writeln!(
            out,
            "  threshold {mark} {} [{} {}] actual {actual}",
            t.threshold,
            match t.severity {
                Severity::Critical => "critical",
                Severity::Warning => "warning",
            },
            t.source
        );
    }
    for c in &r.tls {
        let _ = writeln!(
            out,
            "  certificate {} {}: {}",
            if c.passed { "ok  " } else { "FAIL" },
            c.origin,
            match (&c.reason, c.days_left) {
                (Some(reason), _) => reason.clone(),
                (None, Some(d)) => format!("expires in {d} days"),
                (None, None) => String::new(),
            }
        );
    }
    out
}
