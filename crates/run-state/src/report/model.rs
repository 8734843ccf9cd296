//! What a run report shows, gathered by `collect` and drawn by `render`: plain
//! data, so each half can be tested without the other.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// Everything the page shows about one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub run_id: String,
    /// `deploy`, `rollback`, or a step name when a step ran on its own.
    pub kind: String,
    pub env: Option<String>,
    pub run_dir: String,
    pub status: Status,
    /// The runbook's exit code when the runbook said it (`--exit-code`).
    pub exit_code: Option<i32>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub steps: Vec<Step>,
    pub changes: Vec<Change>,
    pub dns: Vec<WeightSeries>,
    pub latency: Vec<Latency>,
    pub probes: Vec<Probe>,
    pub gates: Vec<GateCheck>,
    pub failure: Option<Failure>,
    /// Files of the run folder, for the operator who wants the raw outputs.
    pub files: Vec<String>,
    /// What could not be read (journal, a malformed output): shown, never fatal.
    pub warnings: Vec<String>,
    pub generated: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Succeeded,
    Failed,
    /// Neither a failure nor every planned step finished (still running, or
    /// killed without a word).
    #[default]
    Incomplete,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Failed => "FAILED",
            Status::Incomplete => "incomplete",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum StepOutcome {
    Ok,
    Failed {
        code: i32,
        meaning: String,
    },
    Skipped,
    /// Planned for this run but never started (an earlier step failed).
    NotRun,
}

/// One step script of the runbook (one row of `timeline.tsv`).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub start: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub outcome: StepOutcome,
    pub calls: Vec<Call>,
    /// Journaled changes whose intent falls inside this step.
    pub changes: usize,
}

/// One binary call inside a step (one JSON output file), or its downtime probe.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub binary: String,
    pub subcommand: String,
    /// The output file, relative to the run folder.
    pub file: String,
    pub start: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    /// Exit code; None when the transcript does not say (treated as 0 by the
    /// runbook, which logs every non-zero exit).
    pub exit: Option<i32>,
    /// The exit code was one the step reads on (`rb::bin_allowing`).
    pub expected: bool,
    /// The binary's own word on its result (`ok`, `verdict`, `result` ...).
    pub result: Option<String>,
    pub background: bool,
}

impl Call {
    pub fn failed(&self) -> bool {
        self.exit.is_some_and(|c| c != 0) && !self.expected
    }
}

/// One journaled change of this run: intent plus outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub id: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub step: Option<String>,
    pub binary: String,
    pub action: String,
    pub target: String,
    /// None: no outcome entry (the change is still running, or its process died).
    pub outcome: Option<String>,
    pub before: Value,
    pub after: Value,
    pub message: Option<String>,
    pub actor: Option<String>,
    pub reason: Option<String>,
}

/// The weights of one weighted record (or listener) at points in time.
#[derive(Debug, Clone, Serialize)]
pub struct WeightSeries {
    pub target: String,
    /// Every name that ever had a weight, in first-seen order.
    pub names: Vec<String>,
    pub points: Vec<WeightPoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeightPoint {
    pub time: Option<DateTime<Utc>>,
    /// Where the value comes from, e.g. `dns.shift.step ok` or `read (preflight)`.
    pub source: String,
    pub weights: Vec<(String, f64)>,
}

/// One smoke-test run or load result.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub step: String,
    pub file: String,
    pub command: String,
    pub target: String,
    pub verdict: Option<String>,
    pub count: Option<f64>,
    pub error_rate: Option<f64>,
    pub requests_per_second: Option<f64>,
    /// (name, ms): min, p50, p90, p95, p99, p99.9, max as present.
    pub percentiles: Vec<(String, f64)>,
    pub thresholds: Vec<Threshold>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Threshold {
    pub threshold: String,
    pub severity: String,
    pub actual: Option<f64>,
    /// The limit parsed from the threshold text (`p95<=2000ms` -> 2000).
    pub limit: Option<f64>,
    pub passed: bool,
}

/// The downtime probe of a traffic step (`smoke-test probe` summary).
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub step: String,
    pub file: String,
    pub verdict: Option<String>,
    pub requests: Option<f64>,
    pub failures: Option<f64>,
    pub longest_gap_ms: Option<f64>,
    pub urls: Vec<ProbeUrl>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeUrl {
    pub url: String,
    pub must_serve: bool,
    pub requests: Option<f64>,
    pub failures: Option<f64>,
    pub longest_gap_ms: Option<f64>,
}

/// One look at the health gates: a `health-gate check`, or the gates a
/// `dns-shift shift` evaluated between its steps.
#[derive(Debug, Clone, Serialize)]
pub struct GateCheck {
    pub step: String,
    pub file: String,
    pub source: String,
    pub at: Option<String>,
    pub passed: Option<bool>,
    pub summary: String,
    pub gates: Vec<Gate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub when: String,
    pub name: String,
    pub severity: String,
    pub value: String,
    pub threshold: String,
    pub verdict: String,
    pub passed: bool,
    pub detail: String,
}

/// Where a failed run stopped and how to go on.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub step: Option<String>,
    pub code: Option<i32>,
    pub meaning: String,
    pub resume: Option<String>,
    /// The error lines the transcript holds for that step.
    pub errors: Vec<String>,
}
