//! Reads one run folder (written by `runbooks/lib.sh`) and the run's journal
//! entries into a [`Report`]. The folder holds:
//! - `timeline.tsv`: one line per step, `NAME<TAB>MILLISECONDS<TAB>EXIT|skipped`;
//! - `transcript.log`: everything on stderr, runbook lines stamped `HH:MM:SS`
//!   (`== STEP (env ..)`, `$ COMMAND`, `error: BIN SUB exited N: ..`,
//!   `error: resume with: ..`);
//! - `STEP.NN.BIN-SUB.json`: each binary's stdout (JSON, or JSON lines);
//! - `STEP.probe-summary.json`: the downtime probe of a traffic step.
//!
//! Nothing here fails: what cannot be read becomes a warning on the page.

use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde_json::Value;

use common::journal::{Entry, Phase};

use super::model::*;

/// Binaries whose names hold a dash, to split `BIN-SUB` when the transcript
/// does not name the call.
const BINARIES: &[&str] = &[
    "stack-deploy",
    "dns-shift",
    "smoke-test",
    "health-gate",
    "db-snapshot",
    "site-restore",
    "ecs-revert",
    "lb-switch",
    "run-state",
    "fault-proxy",
    "notify",
];

/// Gathers the report of `run_id` from `run_dir` and the journal `entries`
/// (any run's; those of other runs are ignored).
pub fn collect(
    run_id: &str,
    run_dir: &Path,
    entries: &[Entry],
    exit_code: Option<i32>,
    now: DateTime<Utc>,
) -> Report {
    let mut r = Report {
        run_id: run_id.to_owned(),
        kind: kind_of(run_id),
        run_dir: run_dir.display().to_string(),
        exit_code,
        started: run_start(run_id),
        generated: now,
        ..Default::default()
    };
    let base_date = r
        .started
        .map(|t| t.date_naive())
        .or_else(|| mtime(&run_dir.join("transcript.log")).map(|t| t.date_naive()))
        .unwrap_or_else(|| now.date_naive());
    let lines = match std::fs::read_to_string(run_dir.join("transcript.log")) {
        Ok(text) => parse_transcript(&text, base_date),
        Err(e) => {
            r.warnings.push(format!(
                "transcript.log not read: {e} (no step start times)"
            ));
            Vec::new()
        }
    };
    let rows = match std::fs::read_to_string(run_dir.join("timeline.tsv")) {
        Ok(text) => parse_timeline(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            r.warnings.push(format!("timeline.tsv not read: {e}"));
            Vec::new()
        }
    };
    let header = last_header(&lines, &r.kind);
    r.env = header.as_ref().and_then(|h| h.env.clone()).or_else(|| {
        entries
            .iter()
            .find(|e| e.run_id.as_deref() == Some(run_id))
            .and_then(|e| e.env.clone())
    });
    let sections = sections(&lines);
    let files = list_files(run_dir, &mut r.warnings);
    let mut all = steps(&rows, &sections, &lines, header.as_ref(), r.started);
    let mut prev_end = r.started;
    for i in 0..all.len() {
        // Outputs are overwritten by a later attempt of the same step: they go
        // with its last attempt.
        let last_attempt = !all[i + 1..].iter().any(|s| s.name == all[i].name);
        let ran = !matches!(all[i].outcome, StepOutcome::NotRun | StepOutcome::Skipped);
        let step = &mut all[i];
        if step.outcome == StepOutcome::Skipped {
            step.start = prev_end;
        } else if ran {
            step.start = [step.start, prev_end].into_iter().flatten().max();
            // A step contains its calls: it cannot have started earlier than
            // its duration before its last output was written.
            let last_output = files
                .iter()
                .filter(|f| last_attempt && is_output_of(f, &step.name))
                .filter_map(|f| mtime(&run_dir.join(f)))
                .max();
            if let (Some(m), Some(ms), Some(s)) = (last_output, step.duration_ms, step.start) {
                step.start = Some(s.max(m - Duration::milliseconds(ms)));
            }
        }
        if let (Some(s), Some(ms)) = (step.start, step.duration_ms) {
            prev_end = Some(s + Duration::milliseconds(ms));
        }
        if !last_attempt || !ran {
            continue;
        }
        let step = &all[i];
        let section = sections.iter().rfind(|s| s.name == step.name);
        let found = calls(run_dir, &files, step, section, &lines, &mut r);
        all[i].calls = found;
    }
    r.steps = all;
    r.changes = changes(run_id, entries, &r.steps);
    for step in &mut r.steps {
        step.changes = r
            .changes
            .iter()
            .filter(|c| c.step.as_deref() == Some(step.name.as_str()))
            .count();
    }
    let mut series = std::mem::take(&mut r.dns);
    series.extend(weights(&r.changes));
    r.dns = tidy_weights(series);
    r.finished = r
        .steps
        .iter()
        .filter_map(|s| Some(s.start? + Duration::milliseconds(s.duration_ms?)))
        .chain(lines.iter().rev().find_map(|l| l.time))
        .max();
    r.failure = failure(&r, &rows, &sections, &lines, exit_code);
    r.status = match exit_code {
        Some(0) => Status::Succeeded,
        Some(_) => Status::Failed,
        None if r.failure.is_some() => Status::Failed,
        None if finished_cleanly(&lines, &r) => Status::Succeeded,
        None => Status::Incomplete,
    };
    r.files = files.into_iter().filter(|f| f != "report.html").collect();
    r
}

/// `20261202T031000.123Z-deploy-1a2b3c` -> `deploy` (kinds may hold dashes).
pub fn kind_of(run_id: &str) -> String {
    let mut parts: Vec<&str> = run_id.split('-').collect();
    if parts.len() >= 3 && run_start(run_id).is_some() {
        parts.remove(0);
        parts.pop();
        return parts.join("-");
    }
    "run".into()
}

/// The start time the run id carries (UTC, to the millisecond).
pub fn run_start(run_id: &str) -> Option<DateTime<Utc>> {
    let stamp = run_id.split('-').next()?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ")
        .ok()
        .map(|t| Utc.from_utc_datetime(&t))
}

fn mtime(path: &Path) -> Option<DateTime<Utc>> {
    let t: SystemTime = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(DateTime::<Utc>::from(t))
}

/// One transcript line; `time` for the runbook's own stamped lines.
#[derive(Debug)]
pub(crate) struct Line {
    pub time: Option<DateTime<Utc>>,
    pub text: String,
}

/// Stamps are `HH:MM:SS` in UTC; the date is the run's, moved on by a day
/// whenever the clock goes back by more than 12 hours (a run past midnight).
pub(crate) fn parse_transcript(text: &str, date: NaiveDate) -> Vec<Line> {
    let mut day = 0i64;
    let mut last: Option<NaiveTime> = None;
    text.lines()
        .map(|raw| {
            let stamped = raw
                .get(..9)
                .filter(|p| p.ends_with(' '))
                .and_then(|p| NaiveTime::parse_from_str(&p[..8], "%H:%M:%S").ok());
            match stamped {
                Some(t) => {
                    if last.is_some_and(|l| l - t > Duration::hours(12)) {
                        day += 1;
                    }
                    last = Some(t);
                    let d = date + Duration::days(day);
                    Line {
                        time: Some(Utc.from_utc_datetime(&d.and_time(t))),
                        text: raw[9..].to_owned(),
                    }
                }
                None => Line {
                    time: None,
                    text: raw.to_owned(),
                },
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub name: String,
    pub ms: i64,
    /// None: skipped.
    pub code: Option<i32>,
}

pub(crate) fn parse_timeline(text: &str) -> Vec<Row> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let name = f.next()?.trim();
            let ms = f.next()?.trim().parse().ok()?;
            let code = match f.next()?.trim() {
                "skipped" => None,
                c => Some(c.parse().ok()?),
            };
            (!name.is_empty()).then(|| Row {
                name: name.to_owned(),
                ms,
                code,
            })
        })
        .collect()
}

/// The runbook's line `KIND: env ENV, run ID, steps A B C; run folder DIR`.
#[derive(Debug)]
pub(crate) struct Header {
    env: Option<String>,
    steps: Vec<String>,
}

fn last_header(lines: &[Line], kind: &str) -> Option<Header> {
    let prefix = format!("{kind}: env ");
    lines.iter().rev().find_map(|l| {
        let rest = l.text.strip_prefix(&prefix).filter(|_| l.time.is_some())?;
        let env = rest.split(',').next().map(|e| e.trim().to_owned());
        let steps = rest
            .split_once(", steps ")
            .map(|(_, s)| s.split(';').next().unwrap_or_default())
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        Some(Header { env, steps })
    })
}

/// A step's part of the transcript: from its `== NAME (` line to the next.
#[derive(Debug)]
pub(crate) struct Section {
    pub name: String,
    pub time: Option<DateTime<Utc>>,
    pub lines: std::ops::Range<usize>,
}

fn sections(lines: &[Line]) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.text.strip_prefix("== ").filter(|_| l.time.is_some()) else {
            continue;
        };
        let Some((name, _)) = rest.split_once(" (") else {
            continue;
        };
        if let Some(prev) = out.last_mut() {
            prev.lines.end = i;
        }
        out.push(Section {
            name: name.to_owned(),
            time: l.time,
            lines: i..lines.len(),
        });
    }
    out
}

fn meaning(code: i32) -> String {
    u8::try_from(code)
        .ok()
        .and_then(|c| common::exit::TABLE.iter().find(|e| e.code == c))
        .map_or_else(
            || "unexpected exit code".to_owned(),
            |e| e.meaning.to_owned(),
        )
}

fn steps(
    rows: &[Row],
    sections: &[Section],
    lines: &[Line],
    header: Option<&Header>,
    run_start: Option<DateTime<Utc>>,
) -> Vec<Step> {
    let mut out = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut prev_end = run_start;
    for row in rows {
        let start = match row.code {
            None => prev_end,
            Some(_) => {
                let k = seen.entry(row.name.as_str()).or_default();
                let section = sections.iter().filter(|s| s.name == row.name).nth(*k);
                *k += 1;
                // The stamp is cut to the second; a step cannot start before
                // the one before it ended.
                match (section.and_then(|s| s.time), prev_end) {
                    (Some(t), Some(p)) => Some(t.max(p)),
                    (t, p) => t.or(p),
                }
            }
        };
        prev_end = start
            .map(|s| s + Duration::milliseconds(row.ms))
            .or(prev_end);
        out.push(Step {
            name: row.name.clone(),
            start,
            duration_ms: Some(row.ms),
            outcome: match row.code {
                None => StepOutcome::Skipped,
                Some(0) => StepOutcome::Ok,
                Some(code) => StepOutcome::Failed {
                    code,
                    meaning: meaning(code),
                },
            },
            calls: Vec::new(),
            changes: 0,
        });
    }
    if rows.is_empty() {
        // A step script run on its own writes no timeline: its sections say it.
        for s in sections {
            let end = lines[s.lines.clone()]
                .iter()
                .rev()
                .find_map(|l| l.time)
                .or(s.time);
            let failed = lines[s.lines.clone()].iter().find_map(|l| {
                let rest = l
                    .text
                    .strip_prefix(&format!("error: step {} failed: exit ", s.name))?;
                rest.split_whitespace().next()?.parse::<i32>().ok()
            });
            out.push(Step {
                name: s.name.clone(),
                start: s.time,
                duration_ms: match (s.time, end) {
                    (Some(a), Some(b)) => Some((b - a).num_milliseconds()),
                    _ => None,
                },
                outcome: match failed {
                    Some(code) => StepOutcome::Failed {
                        code,
                        meaning: meaning(code),
                    },
                    None => StepOutcome::Ok,
                },
                calls: Vec::new(),
                changes: 0,
            });
        }
    }
    if let Some(h) = header {
        let ran: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        let missing: Vec<String> = h
            .steps
            .iter()
            .filter(|s| !ran.contains(&s.as_str()))
            .cloned()
            .collect();
        for name in missing {
            out.push(Step {
                name,
                start: None,
                duration_ms: None,
                outcome: StepOutcome::NotRun,
                calls: Vec::new(),
                changes: 0,
            });
        }
    }
    out
}

fn list_files(dir: &Path, warnings: &mut Vec<String>) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            names.sort();
            names
        }
        Err(e) => {
            warnings.push(format!("run folder not read: {e}"));
            Vec::new()
        }
    }
}

/// A `$ COMMAND` line of the transcript, split as the shell would read it back
/// (`rb::shell_quote` writes `printf %q` words).
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = cmd.chars();
    let mut any = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                any = true;
            }
            ' ' => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            _ => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// Reads an output file: one JSON document, or JSON lines (all of them).
fn read_json(path: &Path) -> Option<Vec<Value>> {
    let text = std::fs::read_to_string(path).ok()?;
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        return Some(vec![v]);
    }
    let docs: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (!docs.is_empty()).then_some(docs)
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The binary's own word on its result, whatever the field is called.
fn result_word(v: &Value) -> Option<String> {
    for key in ["ok", "all_ok", "passed"] {
        if let Some(b) = v.get(key).and_then(Value::as_bool) {
            return Some(if b { "ok" } else { "not ok" }.into());
        }
    }
    for key in ["verdict", "result", "outcome", "status"] {
        if let Some(s) = v.get(key).and_then(Value::as_str) {
            return Some(s.to_owned());
        }
    }
    None
}

/// `STEP.NN.BIN-SUB.json`, the output of one of the step's calls.
fn is_output_of(file: &str, step: &str) -> bool {
    file.strip_prefix(step)
        .and_then(|r| r.strip_prefix('.'))
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(seq, rest)| {
            !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()) && rest.ends_with(".json")
        })
}

fn calls(
    run_dir: &Path,
    files: &[String],
    step: &Step,
    section: Option<&Section>,
    lines: &[Line],
    r: &mut Report,
) -> Vec<Call> {
    let prefix = format!("{}.", step.name);
    let mut outputs: Vec<(u32, &str, &str)> = files
        .iter()
        .filter_map(|f| {
            let rest = f.strip_prefix(&prefix)?.strip_suffix(".json")?;
            let (seq, key) = rest.split_once('.')?;
            Some((seq.parse().ok()?, key, f.as_str()))
        })
        .collect();
    outputs.sort();
    // The step's `$ ` lines, in order: (index, time, words).
    let commands: Vec<(usize, Option<DateTime<Utc>>, Vec<String>)> = section
        .map(|s| {
            s.lines
                .clone()
                .filter_map(|i| {
                    let l = &lines[i];
                    let cmd = l.text.strip_prefix("$ ").filter(|_| l.time.is_some())?;
                    (!cmd.ends_with(" &")).then(|| (i, l.time, words(cmd)))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut used = 0usize;
    let mut out: Vec<Call> = Vec::new();
    let step_start = step.start;
    for (_, key, file) in outputs {
        let path = run_dir.join(file);
        let found = commands[used..].iter().position(|(_, _, w)| {
            w.len() >= 2 && {
                let bin = w[0].rsplit('/').next().unwrap_or_default();
                format!("{bin}-{}", w[1]) == key
            }
        });
        let (binary, subcommand, line_time, exit, expected) = match found {
            Some(p) => {
                let (idx, time, w) = &commands[used + p];
                used += p + 1;
                let bin = w[0].rsplit('/').next().unwrap_or_default().to_owned();
                let next = commands
                    .get(used)
                    .map_or(section.map_or(lines.len(), |s| s.lines.end), |c| c.0);
                let (exit, expected) = exit_of(&lines[idx + 1..next], &bin, &w[1]);
                (bin, w[1].clone(), *time, exit, expected)
            }
            None => {
                let (bin, sub) = split_key(key);
                (bin, sub, None, None, false)
            }
        };
        let docs = read_json(&path);
        if docs.is_none() && std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
            r.warnings.push(format!("{file}: not JSON"));
        }
        let last = docs
            .as_ref()
            .and_then(|d| d.last())
            .cloned()
            .unwrap_or(Value::Null);
        let own_ms = num(&last, "duration_ms").or_else(|| num(&last, "elapsed_ms"));
        let end = mtime(&path);
        let prev_end = out
            .iter()
            .filter(|c| !c.background)
            .filter_map(|c| Some(c.start? + Duration::milliseconds(c.duration_ms?)))
            .max();
        let mut start = [line_time, prev_end, step_start]
            .into_iter()
            .flatten()
            .max();
        if let (Some(e), Some(ms), Some(s)) = (end, own_ms, start) {
            let own_start = e - Duration::milliseconds(ms as i64);
            if own_start > s {
                start = Some(own_start);
            }
        }
        let duration_ms = match (start, end) {
            (Some(s), Some(e)) => Some((e - s).num_milliseconds().max(0)),
            _ => own_ms.map(|m| m as i64),
        };
        if let Some(docs) = &docs {
            observe(r, &step.name, file, &binary, &subcommand, docs, end);
        }
        out.push(Call {
            result: result_word(&last),
            binary,
            subcommand,
            file: file.to_owned(),
            start,
            duration_ms,
            exit,
            expected,
            background: false,
        });
    }
    let probe = format!("{}.probe-summary.json", step.name);
    if files.contains(&probe)
        && let Some(v) = read_json(&run_dir.join(&probe)).and_then(|d| d.last().cloned())
    {
        let start = text(&v, "started")
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc));
        out.push(Call {
            binary: "smoke-test".into(),
            subcommand: "probe".into(),
            file: probe.clone(),
            start,
            duration_ms: num(&v, "duration_ms").map(|m| m as i64),
            exit: None,
            expected: false,
            result: result_word(&v),
            background: true,
        });
        r.probes.push(Probe {
            step: step.name.clone(),
            file: probe,
            verdict: text(&v, "verdict"),
            requests: num(&v, "requests"),
            failures: num(&v, "failures"),
            longest_gap_ms: num(&v, "longest_gap_ms"),
            urls: v
                .get("urls")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|u| ProbeUrl {
                            url: text(u, "url").unwrap_or_default(),
                            must_serve: u.get("expect_serving").and_then(Value::as_bool)
                                == Some(true),
                            requests: num(u, "requests"),
                            failures: num(u, "failures"),
                            longest_gap_ms: num(u, "longest_gap_ms"),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    out
}

fn split_key(key: &str) -> (String, String) {
    for b in BINARIES {
        if let Some(sub) = key.strip_prefix(b).and_then(|s| s.strip_prefix('-')) {
            return ((*b).to_owned(), sub.to_owned());
        }
    }
    match key.split_once('-') {
        Some((b, s)) => (b.to_owned(), s.to_owned()),
        None => (key.to_owned(), String::new()),
    }
}

/// The exit code `rb::bin` logged for this call (none logged: 0).
fn exit_of(after: &[Line], bin: &str, sub: &str) -> (Option<i32>, bool) {
    let needle = format!("error: {bin} {sub} exited ");
    let mut code = None;
    let mut expected = false;
    for l in after.iter().filter(|l| l.time.is_some()) {
        if let Some(rest) = l.text.strip_prefix(&needle) {
            code = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok());
        } else if l.text.starts_with("(exit ") && l.text.contains("is expected here") {
            expected = true;
        }
    }
    (Some(code.unwrap_or(0)), expected && code.is_some())
}

/// What an output says about latency, gates and weights.
fn observe(
    r: &mut Report,
    step: &str,
    file: &str,
    binary: &str,
    sub: &str,
    docs: &[Value],
    end: Option<DateTime<Utc>>,
) {
    let last = docs.last().cloned().unwrap_or(Value::Null);
    if let Some(lat) = last.get("latency_ms").filter(|v| v.is_object()) {
        let percentiles = [
            ("min", "min"),
            ("p50", "p50"),
            ("p90", "p90"),
            ("p95", "p95"),
            ("p99", "p99"),
            ("p99.9", "p99_9"),
            ("max", "max"),
        ]
        .iter()
        .filter_map(|(label, key)| Some(((*label).to_owned(), num(lat, key)?)))
        .collect();
        r.latency.push(Latency {
            step: step.to_owned(),
            file: file.to_owned(),
            command: text(&last, "command").unwrap_or_else(|| sub.to_owned()),
            target: text(&last, "target").unwrap_or_default(),
            verdict: text(&last, "verdict").or_else(|| result_word(&last)),
            count: num(&last, "count"),
            error_rate: num(&last, "error_rate"),
            requests_per_second: num(&last, "requests_per_second"),
            percentiles,
            thresholds: last
                .get("thresholds")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(threshold).collect())
                .unwrap_or_default(),
        });
    }
    if let Some(gates) = last.get("gates").and_then(Value::as_array) {
        let list: Vec<Gate> = gates
            .iter()
            .map(|g| {
                let value = match (g.get("value").and_then(Value::as_f64), text(g, "unit")) {
                    (Some(v), unit) => format!("{}{}", round(v), unit.unwrap_or_default()),
                    (None, _) => "-".into(),
                };
                let verdict = text(g, "verdict").unwrap_or_default();
                Gate {
                    when: String::new(),
                    name: text(g, "name").unwrap_or_default(),
                    severity: text(g, "severity").unwrap_or_default(),
                    value,
                    threshold: text(g, "threshold").unwrap_or_else(|| "-".into()),
                    passed: verdict == "pass",
                    verdict,
                    detail: text(g, "detail").unwrap_or_default(),
                }
            })
            .collect();
        let summary = format!(
            "{} pass, {} fail, {} inconclusive{}",
            num(&last, "pass").unwrap_or(0.0),
            num(&last, "fail").unwrap_or(0.0),
            num(&last, "inconclusive").unwrap_or(0.0),
            text(&last, "reason")
                .map(|s| format!(": {s}"))
                .unwrap_or_default()
        );
        r.gates.push(GateCheck {
            step: step.to_owned(),
            file: file.to_owned(),
            source: format!("{binary} {sub}"),
            at: text(&last, "at"),
            passed: last.get("passed").and_then(Value::as_bool),
            summary,
            gates: list,
        });
    }
    // dns-shift shift: the gates it looked at between its steps.
    let shift_gates: Vec<Gate> = docs
        .iter()
        .filter(|d| d.get("event").and_then(Value::as_str) == Some("gate"))
        .map(|g| {
            let passed = g.get("passed").and_then(Value::as_bool) == Some(true);
            Gate {
                when: text(g, "check").unwrap_or_default(),
                name: text(g, "name").unwrap_or_default(),
                severity: text(g, "kind").unwrap_or_default(),
                value: "-".into(),
                threshold: "-".into(),
                verdict: if passed { "pass" } else { "fail" }.into(),
                passed,
                detail: text(g, "detail").unwrap_or_default(),
            }
        })
        .collect();
    if !shift_gates.is_empty() {
        let failed = shift_gates.iter().filter(|g| !g.passed).count();
        r.gates.push(GateCheck {
            step: step.to_owned(),
            file: file.to_owned(),
            source: format!("{binary} {sub} (between traffic steps)"),
            at: None,
            passed: Some(failed == 0),
            summary: format!("{} checks, {failed} failed", shift_gates.len()),
            gates: shift_gates,
        });
    }
    // dns-shift alarms: {passed, checks: [{alarm, passed, detail}]}
    if let Some(checks) = last
        .get("checks")
        .and_then(Value::as_array)
        .filter(|c| c.iter().all(|x| x.get("alarm").is_some()) && !c.is_empty())
    {
        let gates: Vec<Gate> = checks
            .iter()
            .map(|c| {
                let passed = c.get("passed").and_then(Value::as_bool) == Some(true);
                Gate {
                    when: String::new(),
                    name: text(c, "alarm").unwrap_or_default(),
                    severity: "alarm".into(),
                    value: "-".into(),
                    threshold: "-".into(),
                    verdict: if passed { "pass" } else { "fail" }.into(),
                    passed,
                    detail: text(c, "detail").unwrap_or_default(),
                }
            })
            .collect();
        r.gates.push(GateCheck {
            step: step.to_owned(),
            file: file.to_owned(),
            source: format!("{binary} {sub}"),
            at: None,
            passed: last.get("passed").and_then(Value::as_bool),
            summary: format!("{} alarm pattern(s)", gates.len()),
            gates,
        });
    }
    // dns-shift show: the weights as read.
    if let (Some(sets), Some(zone), Some(record)) = (
        last.get("sets").and_then(Value::as_array),
        text(&last, "zone_id"),
        text(&last, "record"),
    ) {
        let weights: Vec<(String, f64)> = sets
            .iter()
            .filter_map(|s| Some((text(s, "set_id")?, num(s, "weight")?)))
            .collect();
        if !weights.is_empty() {
            let target = format!(
                "route53:{zone}/{record}/{}",
                text(&last, "type").unwrap_or_default()
            );
            r.dns.push(WeightSeries {
                target,
                names: Vec::new(),
                points: vec![WeightPoint {
                    time: end,
                    source: format!("read by {binary} {sub} ({step})"),
                    weights,
                }],
            });
        }
    }
}

fn round(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{:.3}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

pub(crate) fn fmt_num(v: f64) -> String {
    round(v)
}

fn threshold(t: &Value) -> Threshold {
    let name = text(t, "threshold").unwrap_or_default();
    Threshold {
        limit: parse_limit(&name),
        severity: text(t, "severity").unwrap_or_default(),
        actual: num(t, "actual"),
        passed: t.get("passed").and_then(Value::as_bool) == Some(true),
        threshold: name,
    }
}

/// `p95<=2000ms` -> 2000, `error_rate<=5%` -> 0.05 (the actual is a fraction).
fn parse_limit(s: &str) -> Option<f64> {
    let (metric, rest) = s.split_once("<=").or_else(|| s.split_once('<'))?;
    let rest = rest.trim();
    if let Some(pct) = rest.strip_suffix('%') {
        let v: f64 = pct.trim().parse().ok()?;
        return Some(if metric.contains("rate") {
            v / 100.0
        } else {
            v
        });
    }
    let (digits, unit) = rest.split_at(
        rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len()),
    );
    let v: f64 = digits.parse().ok()?;
    Some(match unit {
        "s" => v * 1000.0,
        "us" | "µs" => v / 1000.0,
        _ => v,
    })
}

fn changes(run_id: &str, entries: &[Entry], steps: &[Step]) -> Vec<Change> {
    let mine: Vec<Entry> = entries
        .iter()
        .filter(|e| e.run_id.as_deref() == Some(run_id))
        .map(common::redact::journal_entry)
        .collect();
    let mut out: Vec<Change> = mine
        .iter()
        .filter(|e| e.phase == Phase::Intent)
        .map(|i| {
            let o = mine
                .iter()
                .find(|o| o.phase == Phase::Outcome && o.id == i.id);
            Change {
                id: i.id.clone(),
                start: i.time,
                end: o.map(|o| o.time),
                step: step_at(steps, &i.binary, i.time),
                binary: i.binary.clone(),
                action: i.action.clone(),
                target: i.target.clone(),
                outcome: o.and_then(|o| {
                    o.outcome
                        .and_then(|x| serde_json::to_value(x).ok())
                        .and_then(|v| v.as_str().map(str::to_owned))
                }),
                before: i.before.clone(),
                after: o.map(|o| o.after.clone()).unwrap_or(Value::Null),
                message: o
                    .and_then(|o| o.message.clone())
                    .or_else(|| i.message.clone()),
                actor: i.actor.clone(),
                reason: i.reason.clone(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.start.cmp(&b.start).then(a.id.cmp(&b.id)));
    out
}

/// The step a change of `binary` at `t` was made in: the step of the first
/// call of that binary that ended at or after `t` (call ends are exact, their
/// starts only close), else the step whose span holds `t`, else the last one
/// started before it.
fn step_at(steps: &[Step], binary: &str, t: DateTime<Utc>) -> Option<String> {
    let by_call = steps
        .iter()
        .flat_map(|s| s.calls.iter().map(move |c| (s, c)))
        .filter(|(_, c)| c.binary == binary && !c.background)
        .filter_map(|(s, c)| {
            let start = c.start?;
            let end = start + Duration::milliseconds(c.duration_ms?);
            (start - Duration::seconds(1) <= t && t <= end).then_some((end, s))
        })
        .min_by_key(|(end, _)| *end)
        .map(|(_, s)| s.name.clone());
    by_call.or_else(|| {
        let started = |s: &&Step| s.start.is_some_and(|st| st <= t);
        steps
            .iter()
            .filter(started)
            .find(|s| {
                s.start
                    .zip(s.duration_ms)
                    .is_some_and(|(st, ms)| t <= st + Duration::milliseconds(ms))
            })
            .or_else(|| steps.iter().filter(started).max_by_key(|s| s.start))
            .map(|s| s.name.clone())
    })
}

/// A `weights` object of numbers, in its own order.
fn weights_of(v: &Value) -> Option<Vec<(String, f64)>> {
    let w = v.get("weights")?.as_object()?;
    let out: Vec<(String, f64)> = w
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
        .collect();
    (!out.is_empty() && out.len() == w.len()).then_some(out)
}

/// Weights before and after each journaled change that carries them (DNS
/// weighted records; any change with a `weights` object of numbers).
fn weights(changes: &[Change]) -> Vec<WeightSeries> {
    Vec::from_iter(changes.iter().flat_map(|c| {
        let mut pts = Vec::new();
        if let Some(w) = weights_of(&c.before) {
            pts.push((
                c.target.clone(),
                WeightPoint {
                    time: Some(c.start),
                    source: format!("before {}", c.action),
                    weights: w,
                },
            ));
        }
        if let Some(w) = weights_of(&c.after) {
            pts.push((
                c.target.clone(),
                WeightPoint {
                    time: c.end,
                    source: format!(
                        "{} {}",
                        c.action,
                        c.outcome.as_deref().unwrap_or("no outcome")
                    ),
                    weights: w,
                },
            ));
        }
        pts
    }))
    .into_iter()
    .fold(Vec::<WeightSeries>::new(), |mut acc, (target, p)| {
        push_point(&mut acc, &target, p);
        acc
    })
}

pub(crate) fn push_point(series: &mut Vec<WeightSeries>, target: &str, p: WeightPoint) {
    let idx = match series.iter().position(|s| s.target == target) {
        Some(i) => i,
        None => {
            series.push(WeightSeries {
                target: target.to_owned(),
                names: Vec::new(),
                points: Vec::new(),
            });
            series.len() - 1
        }
    };
    series[idx].points.push(p);
}

/// Sorts each series by time and drops a point equal to the one before it;
/// fills `names`.
pub(crate) fn tidy_weights(series: Vec<WeightSeries>) -> Vec<WeightSeries> {
    let mut merged: Vec<WeightSeries> = Vec::new();
    for s in series {
        for p in s.points {
            push_point(&mut merged, &s.target, p);
        }
    }
    for s in &mut merged {
        s.points.sort_by_key(|p| p.time);
        let mut kept: Vec<WeightPoint> = Vec::new();
        for p in std::mem::take(&mut s.points) {
            let same = kept.last().is_some_and(|k| {
                let mut a = k.weights.clone();
                let mut b = p.weights.clone();
                a.sort_by(|x, y| x.0.cmp(&y.0));
                b.sort_by(|x, y| x.0.cmp(&y.0));
                a == b
            });
            if !same {
                kept.push(p);
            }
        }
        for p in &kept {
            for (n, _) in &p.weights {
                if !s.names.contains(n) {
                    s.names.push(n.clone());
                }
            }
        }
        s.points = kept;
    }
    merged
}

fn finished_cleanly(lines: &[Line], r: &Report) -> bool {
    let done = format!("{} finished: ", r.kind);
    lines
        .iter()
        .any(|l| l.time.is_some() && l.text.starts_with(&done))
        && !r.steps.iter().any(|s| s.outcome == StepOutcome::NotRun)
}

fn failure(
    r: &Report,
    rows: &[Row],
    sections: &[Section],
    lines: &[Line],
    exit_code: Option<i32>,
) -> Option<Failure> {
    // The first failure no later attempt of the same step got past.
    let mut open: Option<&Row> = None;
    for row in rows {
        match (open, row.code) {
            (None, Some(c)) if c != 0 => open = Some(row),
            (Some(o), Some(0)) if o.name == row.name => open = None,
            _ => {}
        }
    }
    let from_steps = if rows.is_empty() {
        r.steps.iter().find_map(|s| match &s.outcome {
            StepOutcome::Failed { code, .. } => Some((s.name.clone(), *code)),
            _ => None,
        })
    } else {
        open.and_then(|o| Some((o.name.clone(), o.code?)))
    };
    if from_steps.is_none() && exit_code.is_none_or(|c| c == 0) {
        return None;
    }
    let resume = lines
        .iter()
        .rev()
        .find_map(|l| l.text.strip_prefix("error: resume with: "))
        .map(str::to_owned);
    let (step, code) = match &from_steps {
        Some((s, c)) => (Some(s.clone()), Some(*c)),
        None => (None, exit_code),
    };
    let resume = resume.or_else(|| {
        let s = step.as_ref()?;
        Some(format!(
            "LTC_RUN_ID={} runbooks/{}.sh --env {} --from {s}",
            r.run_id,
            r.kind,
            r.env.as_deref().unwrap_or("ENV")
        ))
    });
    let range = match &step {
        Some(s) => sections
            .iter()
            .rfind(|x| &x.name == s)
            .map_or(0..lines.len(), |x| x.lines.clone()),
        None => 0..lines.len(),
    };
    let errors: Vec<String> = lines[range]
        .iter()
        .filter(|l| l.text.starts_with("error: ") || l.text.starts_with("warning: gate failed"))
        .filter(|l| !l.text.starts_with("error: resume with: "))
        .map(|l| {
            let t: String = l.text.chars().take(600).collect();
            match l.time {
                Some(tm) => format!("{} {t}", tm.format("%H:%M:%S")),
                None => t,
            }
        })
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Some(Failure {
        step,
        code,
        meaning: code.map_or_else(|| "unknown".into(), meaning),
        resume,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_and_start_come_from_the_run_id() {
        assert_eq!(kind_of("20261202T031000.123Z-deploy-1a2b3c"), "deploy");
        assert_eq!(
            kind_of("20261202T031000.123Z-dns-cutover-1a2b3c"),
            "dns-cutover"
        );
        assert_eq!(kind_of("my-run"), "run");
        assert_eq!(
            run_start("20261202T031000.123Z-deploy-1a2b3c").map(|t| t.to_rfc3339()),
            Some("2026-12-02T03:10:00.123+00:00".into())
        );
    }

    #[test]
    fn a_run_past_midnight_moves_to_the_next_day() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let lines = parse_transcript("23:59:58 == a (env x)\nplain\n00:00:03 == b (env x)\n", d);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].time, None);
        assert_eq!(lines[1].text, "plain");
        assert_eq!(
            lines[2].time.map(|t| t.to_rfc3339()),
            Some("2026-12-03T00:00:03+00:00".into())
        );
        assert_eq!(lines[2].text, "== b (env x)");
    }

    #[test]
    fn timeline_rows_with_bad_lines_skipped() {
        let rows = parse_timeline("a\t10\t0\nb\t0\tskipped\nbroken\nc\tx\t0\nd\t5\t6\n");
        assert_eq!(
            rows,
            vec![
                Row {
                    name: "a".into(),
                    ms: 10,
                    code: Some(0)
                },
                Row {
                    name: "b".into(),
                    ms: 0,
                    code: None
                },
                Row {
                    name: "d".into(),
                    ms: 5,
                    code: Some(6)
                },
            ]
        );
    }

    #[test]
    fn shell_quoted_words_read_back() {
        assert_eq!(
            words(r"/a\ b/dns-shift shift --steps 10\,25 --gate-cmd x\ \>\&2"),
            vec![
                "/a b/dns-shift",
                "shift",
                "--steps",
                "10,25",
                "--gate-cmd",
                "x >&2"
            ]
        );
    }

    #[test]
    fn threshold_limits_in_the_actual_units() {
        assert_eq!(parse_limit("p95<=2000ms"), Some(2000.0));
        assert_eq!(parse_limit("p99<=1.5s"), Some(1500.0));
        assert_eq!(parse_limit("error_rate<=5%"), Some(0.05));
        assert_eq!(parse_limit("nonsense"), None);
    }

    #[test]
    fn call_keys_split_on_known_binaries() {
        assert_eq!(
            split_key("ecs-revert-scaling"),
            ("ecs-revert".into(), "scaling".into())
        );
        assert_eq!(split_key("tool-sub"), ("tool".into(), "sub".into()));
    }
}
