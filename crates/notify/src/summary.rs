//! The summary of a run, read from what the runbooks leave in its folder
//! (`runbooks/lib.sh`): `timeline.tsv` (step, milliseconds, exit code or
//! `skipped`), each binary's JSON stdout as `STEP.NN.BINARY-SUBCOMMAND.json`,
//! the downtime probe's `STEP.probe-summary.json` and the transcript's
//! "resume with:" line; plus the journal entries of the run. A file that is
//! missing or unreadable is left out: a notification never fails for it.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// The events the runbooks send.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum, common::schemars::JsonSchema,
)]
#[schemars(crate = "common::schemars")]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    DeployStart,
    DeployStepFailed,
    DeployComplete,
    RollbackStart,
    RollbackStepFailed,
    RollbackComplete,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::DeployStart => "deploy-start",
            Event::DeployStepFailed => "deploy-step-failed",
            Event::DeployComplete => "deploy-complete",
            Event::RollbackStart => "rollback-start",
            Event::RollbackStepFailed => "rollback-step-failed",
            Event::RollbackComplete => "rollback-complete",
        }
    }

    /// `deploy` or `rollback`.
    pub fn kind(self) -> &'static str {
        match self {
            Event::DeployStart | Event::DeployStepFailed | Event::DeployComplete => "deploy",
            _ => "rollback",
        }
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Event::DeployStepFailed | Event::RollbackStepFailed)
    }

    /// What happened, in a few words: "deploy started".
    pub fn headline(self) -> &'static str {
        match self {
            Event::DeployStart => "deploy started",
            Event::DeployStepFailed => "deploy STOPPED: a step failed",
            Event::DeployComplete => "deploy completed",
            Event::RollbackStart => "ROLLBACK started",
            Event::RollbackStepFailed => "ROLLBACK STOPPED: a step failed",
            Event::RollbackComplete => "rollback completed",
        }
    }
}

/// Everything a notification says. Serialized as the SNS message.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Summary {
    pub event: Event,
    pub kind: &'static str,
    pub headline: String,
    pub env: String,
    pub run_id: String,
    pub operator: String,
    pub host: String,
    /// RFC 3339, UTC.
    #[schemars(with = "String")]
    pub time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<String>,
    /// Steps run so far, in order, from `timeline.tsv`.
    pub steps: Vec<StepRun>,
    /// Sum of the steps' durations.
    pub total_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<FailedStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
    pub figures: Figures,
    /// What the run changed (its journal entries, oldest first, at most [`MAX_CHANGES`]).
    pub changes: Vec<ChangeLine>,
    pub changes_total: usize,
    /// Parts that could not be read (e.g. the journal did not answer in time).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct StepRun {
    pub name: String,
    pub duration_ms: u64,
    /// `ok`, `failed` or `skipped`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct FailedStep {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
}

/// Key figures found in the run folder.
#[derive(Debug, Clone, Default, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Figures {
    /// smoke-test run / load / get results.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub smoke: Vec<SmokeFigure>,
    /// health-gate check / watch verdicts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub health_gates: Vec<GateFigure>,
    /// dns-shift shift results (the cutover).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficFigure>,
    /// Downtime probes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeFigure>,
}

impl Figures {
    pub fn is_empty(&self) -> bool {
        self.smoke.is_empty()
            && self.health_gates.is_empty()
            && self.traffic.is_empty()
            && self.probes.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct SmokeFigure {
    pub step: String,
    /// `run`, `load` or `get`.
    pub command: String,
    pub verdict: String,
    pub requests: u64,
    pub failures: u64,
    pub error_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    pub thresholds: Vec<ThresholdFigure>,
}

#[derive(Debug, Clone, Serialize, PartialEq, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ThresholdFigure {
    pub threshold: String,
    pub severity: String,
    pub actual: f64,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct GateFigure {
    pub step: String,
    pub passed: bool,
    pub pass: u64,
    pub fail: u64,
    pub inconclusive: u64,
    pub reason: String,
    /// Names of the gates that failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct TrafficFigure {
    pub step: String,
    pub record: String,
    pub result: String,
    pub final_weights: Value,
    pub steps_applied: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ProbeFigure {
    pub step: String,
    pub requests: u64,
    pub failures: u64,
    pub longest_gap_ms: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ChangeLine {
    /// RFC 3339, UTC.
    #[schemars(with = "String")]
    pub time: DateTime<Utc>,
    pub binary: String,
    pub action: String,
    pub target: String,
    /// `ok`, `failed`, `reverted` ... or `unfinished` (no outcome recorded).
    pub outcome: String,
}

/// At most this many changes are listed (the count says how many there were).
pub const MAX_CHANGES: usize = 40;

/// The steps in `timeline.tsv` (missing file: none).
pub fn read_timeline(dir: &Path) -> Vec<StepRun> {
    let Ok(text) = std::fs::read_to_string(dir.join("timeline.tsv")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let name = f.next()?.trim();
            let ms = f.next()?.trim().parse::<u64>().ok()?;
            let code = f.next()?.trim();
            if name.is_empty() {
                return None;
            }
            let (outcome, exit_code) = match code {
                "skipped" => ("skipped", None),
                "0" => ("ok", Some(0)),
                c => ("failed", c.parse::<i64>().ok()),
            };
            Some(StepRun {
                name: name.to_owned(),
                duration_ms: ms,
                outcome: outcome.to_owned(),
                exit_code,
            })
        })
        .collect()
}

/// The failed step: the one named (`--step`), with its exit code from the
/// timeline when it is there, else the timeline's last failed step.
pub fn failed_step(steps: &[StepRun], named: Option<&str>) -> Option<FailedStep> {
    let found = match named {
        Some(n) => steps.iter().rev().find(|s| s.name == n),
        None => steps.iter().rev().find(|s| s.outcome == "failed"),
    };
    let name = named
        .map(str::to_owned)
        .or_else(|| found.map(|s| s.name.clone()))?;
    let exit_code = found.and_then(|s| s.exit_code).filter(|c| *c != 0);
    let meaning = exit_code.and_then(|c| {
        common::exit::TABLE
            .iter()
            .find(|e| i64::from(e.code) == c)
            .map(|e| e.meaning.to_owned())
    });
    Some(FailedStep {
        name,
        exit_code,
        meaning,
    })
}

/// The last "resume with: ..." command of the transcript.
pub fn resume_command(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("transcript.log")).ok()?;
    text.lines()
        .rev()
        .find_map(|l| {
            l.split_once("resume with: ")
                .map(|(_, c)| c.trim().to_owned())
        })
        .filter(|c| !c.is_empty())
}

/// The run folder's JSON outputs, sorted by name (so by step order within a
/// step): (step, binary-subcommand, file).
fn outputs(dir: &Path) -> Vec<(String, String, std::path::PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            // STEP.NN.BINARY-SUB.json or STEP.probe-summary.json
            let mut parts = name.trim_end_matches(".json").splitn(3, '.');
            let step = parts.next()?.to_owned();
            let second = parts.next()?;
            let what = match parts.next() {
                Some(rest) if second.chars().all(|c| c.is_ascii_digit()) => rest.to_owned(),
                None if second == "probe-summary" => second.to_owned(),
                _ => return None,
            };
            Some((step, what, p))
        })
        .collect()
}

/// The last JSON document of a file (a JSON-lines stream ends with its summary).
fn last_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        return Some(v);
    }
    text.lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
        .unwrap_or(0)
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The key figures of the run folder.
pub fn read_figures(dir: &Path) -> Figures {
    let mut f = Figures::default();
    for (step, what, path) in outputs(dir) {
        let Some(v) = last_json(&path) else { continue };
        match what.as_str() {
            "smoke-test-run" | "smoke-test-load" | "smoke-test-get" => {
                if v.get("verdict").is_none() {
                    continue;
                }
                let lat = &v["latency_ms"];
                f.smoke.push(SmokeFigure {
                    step,
                    command: what.trim_start_matches("smoke-test-").to_owned(),
                    verdict: s(&v["verdict"]),
                    requests: u(&v["count"]),
                    failures: u(&v["failures"]),
                    error_rate: v["error_rate"].as_f64().unwrap_or(0.0),
                    requests_per_second: v["requests_per_second"].as_f64(),
                    p50_ms: lat["p50"].as_f64(),
                    p95_ms: lat["p95"].as_f64(),
                    p99_ms: lat["p99"].as_f64(),
                    thresholds: v["thresholds"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|t| ThresholdFigure {
                                    threshold: s(&t["threshold"]),
                                    severity: s(&t["severity"]),
                                    actual: t["actual"].as_f64().unwrap_or(0.0),
                                    passed: t["passed"].as_bool().unwrap_or(false),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
            "health-gate-check" | "health-gate-watch" => {
                if v.get("passed").is_none() {
                    continue;
                }
                f.health_gates.push(GateFigure {
                    step,
                    passed: v["passed"].as_bool().unwrap_or(false),
                    pass: u(&v["pass"]),
                    fail: u(&v["fail"]),
                    inconclusive: u(&v["inconclusive"]),
                    reason: s(&v["reason"]),
                    failed: v["failed"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| {
                                    x.as_str()
                                        .map(str::to_owned)
                                        .or_else(|| x["name"].as_str().map(str::to_owned))
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
            "dns-shift-shift" => {
                if v["event"] != "summary" {
                    continue;
                }
                f.traffic.push(TrafficFigure {
                    step,
                    record: s(&v["record"]),
                    result: s(&v["result"]),
                    final_weights: v["final_weights"].clone(),
                    steps_applied: u(&v["steps_applied"]),
                    reason: v["reason"].as_str().map(str::to_owned),
                });
            }
            "probe-summary" => {
                f.probes.push(ProbeFigure {
                    step,
                    requests: u(&v["requests"]),
                    failures: u(&v["failures"]),
                    longest_gap_ms: u(&v["longest_gap_ms"]),
                });
            }
            _ => {}
        }
    }
    f
}

/// The run's changes from journal records (newest first, as
/// `Journal::records` gives them): oldest first, notify's own left out.
pub fn changes(records: &[common::journal::Record]) -> (Vec<ChangeLine>, usize) {
    let mut lines: Vec<ChangeLine> = records
        .iter()
        .rev()
        .filter(|r| r.intent.binary != "notify")
        .map(|r| ChangeLine {
            time: r.intent.time,
            binary: r.intent.binary.clone(),
            action: r.intent.action.clone(),
            target: r.intent.target.clone(),
            outcome: r
                .outcome
                .as_ref()
                .and_then(|o| o.outcome)
                .and_then(|o| serde_json::to_value(o).ok())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "unfinished".to_owned()),
        })
        .collect();
    let total = lines.len();
    if total > MAX_CHANGES {
        // Keep the newest: the last changes say where the run stands.
        lines.drain(..total - MAX_CHANGES);
    }
    (lines, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn timeline_gives_steps_and_the_failed_one() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "timeline.tsv",
            "preflight\t3872\t0\nrollback-database\t0\tskipped\ndeploy-application\t7720\t4\nbroken line\n",
        );
        let steps = read_timeline(d.path());
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[1].outcome, "skipped");
        assert_eq!(steps[2].exit_code, Some(4));
        let f = failed_step(&steps, None).unwrap();
        assert_eq!(f.name, "deploy-application");
        assert_eq!(f.meaning.as_deref(), Some("a check failed"));
        let named = failed_step(&steps, Some("validate")).unwrap();
        assert_eq!((named.name.as_str(), named.exit_code), ("validate", None));
        assert!(failed_step(&steps[..2], None).is_none());
        assert!(read_timeline(&d.path().join("missing")).is_empty());
    }

    #[test]
    fn figures_come_from_the_outputs_and_bad_files_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "validate.02.smoke-test-load.json",
            r#"{"command":"load","verdict":"pass","count":5615,"failures":0,"error_rate":0,"requests_per_second":1861.9,
               "latency_ms":{"p50":0.558,"p95":8.043,"p99":12.663},
               "thresholds":[{"threshold":"p95<=2000ms","severity":"critical","actual":8.043,"passed":true}]}"#,
        );
        write(
            d.path(),
            "validate.06.health-gate-check.json",
            r#"{"passed":false,"pass":8,"fail":1,"inconclusive":0,"failed":["db-cpu-critical"],"reason":"1 critical gate failed"}"#,
        );
        write(
            d.path(),
            "dns-cutover.02.dns-shift-shift.json",
            "{\"event\":\"start\"}\n{\"event\":\"summary\",\"result\":\"completed\",\"record\":\"www.x.\",\"final_weights\":{\"blue\":0,\"green\":100},\"steps_applied\":4,\"reason\":null}\n",
        );
        write(
            d.path(),
            "dns-cutover.probe-summary.json",
            r#"{"event":"summary","requests":44,"failures":0,"longest_gap_ms":0}"#,
        );
        write(d.path(), "preflight.07.smoke-test-run.json", "not json");
        write(d.path(), "assessment.json", r#"{"verdict":"pass"}"#);
        let f = read_figures(d.path());
        assert_eq!(f.smoke.len(), 1);
        assert_eq!(f.smoke[0].command, "load");
        assert_eq!(f.smoke[0].p95_ms, Some(8.043));
        assert_eq!(f.smoke[0].thresholds[0].threshold, "p95<=2000ms");
        assert_eq!(f.health_gates[0].failed, vec!["db-cpu-critical"]);
        assert!(!f.health_gates[0].passed);
        assert_eq!(f.traffic[0].steps_applied, 4);
        assert_eq!(f.traffic[0].final_weights["green"], 100);
        assert_eq!(f.probes[0].requests, 44);
    }

    #[test]
    fn resume_is_the_last_resume_line() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "transcript.log",
            "13:00:00 error: resume with: old\n13:01:00 error: deploy stopped\n13:01:00 error: resume with: LTC_RUN_ID=r runbooks/deploy.sh --env x --from validate\n",
        );
        assert_eq!(
            resume_command(d.path()).as_deref(),
            Some("LTC_RUN_ID=r runbooks/deploy.sh --env x --from validate")
        );
    }
}
