//! Draws a [`Report`] as one self-contained HTML page: inline CSS, one inline
//! script (a self-check of the page's own structure, allowed by its SHA-256 in
//! the Content-Security-Policy, so no other script can run and nothing is
//! fetched), no fonts, no images. Every value goes through [`esc`]: journal
//! values and transcript lines may hold operator input.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::collect::fmt_num;
use super::model::*;

/// HTML-escapes text for element content and quoted attribute values.
pub use common::markup::escape as esc;

/// The page's only script: checks the page has every section and one timeline
/// row per step, logs `console.error` for each problem (the browser test fails
/// on any console error) and sets `data-selfcheck` on the body.
const SELF_CHECK: &str = r##"(function () {
  "use strict";
  var problems = [];
  ["summary", "timeline", "changes", "dns", "latency", "gates", "files"].forEach(function (id) {
    if (!document.getElementById(id)) problems.push("section #" + id + " is missing");
  });
  var want = Number(document.body.getAttribute("data-steps"));
  var rows = document.querySelectorAll("#timeline tbody tr.step").length;
  if (rows !== want) problems.push("the timeline has " + rows + " step rows, the run " + want);
  if (document.body.getAttribute("data-status") === "failed" && !document.getElementById("failure"))
    problems.push("a failed run without its failure section");
  if (document.scripts.length !== 1) problems.push(document.scripts.length + " scripts, only the report's own may be here");
  problems.forEach(function (p) { console.error("run report self-check: " + p); });
  document.body.setAttribute("data-selfcheck", problems.length ? "failed" : "ok");
})();"##;

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0 auto; padding: 16px 24px 48px; max-width: 1400px; color: #1a1a1a; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #ddd; }
h3 { font-size: 14px; margin: 16px 0 6px; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; word-break: break-all; margin: 4px 0; background: #f6f6f6; padding: 6px 8px; border-radius: 4px; max-height: 360px; overflow: auto; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
th, td { text-align: left; vertical-align: top; padding: 3px 8px; border-bottom: 1px solid #e6e6e6; }
th { background: #f3f3f3; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; font-size: 12px; }
.ok { color: #14622e; }
.fail { color: #b00020; font-weight: 600; }
.warn { color: #8a5a00; }
.muted { color: #777; }
.badge.ok { background: #dff3e4; }
.badge.fail { background: #fde0e0; }
.badge.warn { background: #fff0cc; }
.badge.muted { background: #eee; }
#failure { border: 2px solid #b00020; background: #fff5f5; padding: 8px 16px 12px; border-radius: 6px; margin: 16px 0; }
#failure h2 { color: #b00020; border: 0; margin-top: 8px; }
tr.step td { font-weight: 600; background: #fafafa; }
tr.step.fail td { background: #fde8e8; }
tr.call td:first-child { padding-left: 28px; font-weight: 400; }
tr.call.fail td { background: #fff3f3; }
td.bar { width: 38%; min-width: 240px; }
.track { position: relative; height: 14px; background: #f0f0f0; border-radius: 2px; }
.track > div { position: absolute; top: 0; height: 14px; border-radius: 2px; min-width: 2px; }
.b-ok { background: #3d8c55; }
.b-fail { background: #d0312d; }
.b-skip { background: #bbb; }
.b-bg { background: #9bb7e0; }
tr.call .track > div.b-ok { background: #86bf98; }
.stack { display: flex; height: 14px; min-width: 200px; border-radius: 2px; overflow: hidden; background: #eee; }
.stack > div { height: 14px; }
.threshold { display: grid; grid-template-columns: 4em 9em 5em 5em 1fr; gap: 6px; align-items: center; }
.limit { position: relative; height: 10px; background: #eee; border-radius: 2px; min-width: 80px; }
.limit > div { height: 10px; border-radius: 2px; min-width: 2px; }
table.changes { table-layout: fixed; }
table.changes td { overflow-wrap: anywhere; word-break: break-word; }
tr.step td:first-child, tr.call td:first-child { white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: middle; }
details summary { cursor: pointer; color: #1d4f91; }
ul.errors { margin: 4px 0; padding-left: 18px; }
ul.errors li { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; white-space: pre-wrap; word-break: break-all; }
.legend span { margin-right: 14px; }
"#;

const PALETTE: &[&str] = &[
    "#2f6fd0", "#2e9d48", "#8e44ad", "#d68910", "#17a2b8", "#c0392b", "#7f8c8d",
];

fn colour(name: &str, i: usize) -> &'static str {
    match name {
        "blue" => "#2f6fd0",
        "green" => "#2e9d48",
        "maintenance" => "#9a9a9a",
        _ => PALETTE[i % PALETTE.len()],
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The CSP source allowing exactly the self-check script.
pub fn script_hash() -> String {
    format!(
        "'sha256-{}'",
        base64(&Sha256::digest(SELF_CHECK.as_bytes()))
    )
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".into(), |t| t.format("%H:%M:%S%.3f").to_string())
}

fn full_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".into(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// `812 ms`, `4.9 s`, `2 m 05 s`.
pub fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{} m {:02} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

fn offset(t: Option<DateTime<Utc>>, t0: Option<DateTime<Utc>>) -> String {
    match (t, t0) {
        (Some(t), Some(t0)) => format!("+{:.1} s", (t - t0).num_milliseconds() as f64 / 1000.0),
        _ => "-".into(),
    }
}

/// Compact JSON cut to `max` characters.
fn compact(v: &Value, max: usize) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    if s.chars().count() > max {
        format!("{}...", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}

/// The top-level fields a change moved: (field, before, after).
pub fn diff(before: &Value, after: &Value) -> Vec<(String, String, String)> {
    match (before.as_object(), after.as_object()) {
        (Some(b), Some(a)) => a
            .iter()
            .filter(|(k, v)| b.get(*k) != Some(*v))
            .map(|(k, v)| {
                (
                    k.clone(),
                    b.get(k).map_or_else(|| "-".into(), |x| compact(x, 160)),
                    compact(v, 160),
                )
            })
            .take(8)
            .collect(),
        _ if before.is_null() && after.is_null() => Vec::new(),
        _ => vec![(String::new(), compact(before, 160), compact(after, 160))],
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn outcome_class(outcome: Option<&str>) -> &'static str {
    match outcome {
        Some("ok") => "ok",
        Some("reverted") => "warn",
        None => "warn",
        Some(_) => "fail",
    }
}

struct Span {
    t0: Option<DateTime<Utc>>,
    ms: f64,
}

impl Span {
    fn bar(
        &self,
        start: Option<DateTime<Utc>>,
        ms: Option<i64>,
        class: &str,
        title: &str,
    ) -> String {
        let (Some(t0), Some(s)) = (self.t0, start) else {
            return String::new();
        };
        let left = ((s - t0).num_milliseconds() as f64 / self.ms * 100.0).clamp(0.0, 100.0);
        let width = (ms.unwrap_or(0) as f64 / self.ms * 100.0).clamp(0.0, 100.0 - left);
        format!(
            r#"<div class="track"><div class="{class}" style="left:{left:.2}%;width:{width:.2}%" title="{}"></div></div>"#,
            esc(title)
        )
    }
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let failed_step = r.failure.as_ref().and_then(|f| f.step.clone());
    let title = format!(
        "{} {} {}{}",
        r.kind,
        r.env.as_deref().unwrap_or(""),
        r.status.word(),
        failed_step
            .as_deref()
            .map(|s| format!(" at {s}"))
            .unwrap_or_default()
    );
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src {hash}; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - run {run}</title>
<style>{STYLE}</style>
</head>
<body data-run="{run}" data-status="{status}" data-steps="{steps}" data-changes="{changes}">
"#,
        hash = script_hash(),
        title = esc(&title),
        run = esc(&r.run_id),
        status = match r.status {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Incomplete => "incomplete",
        },
        steps = r.steps.len(),
        changes = r.changes.len(),
    );
    summary(&mut h, r, &title);
    if let Some(f) = &r.failure {
        failure(&mut h, f);
    }
    timeline(&mut h, r);
    changes(&mut h, r);
    dns(&mut h, r);
    latency(&mut h, r);
    gates(&mut h, r);
    files(&mut h, r);
    let _ = write!(
        h,
        "<footer class=\"muted\"><p>Written {} by <code>run-state report --run {}</code> from the run folder and the journal. Times are UTC; step starts come from the transcript's stamps (to the second) and call ends from their output files.</p></footer>\n<script>{SELF_CHECK}</script>\n</body>\n</html>\n",
        esc(&full_time(Some(r.generated))),
        esc(&r.run_id)
    );
    h
}

fn summary(h: &mut String, r: &Report, title: &str) {
    let class = match r.status {
        Status::Succeeded => "ok",
        Status::Failed => "fail",
        Status::Incomplete => "warn",
    };
    let total = match (r.started, r.finished) {
        (Some(a), Some(b)) => Some((b - a).num_milliseconds()),
        _ => None,
    };
    let _ = write!(
        h,
        r#"<header id="summary">
<h1>{title} <span class="badge {class}">{status}</span></h1>
<dl class="facts">
<dt>Run</dt><dd class="mono">{run}</dd>
<dt>Environment</dt><dd>{env}</dd>
<dt>Started</dt><dd>{started}</dd>
<dt>Finished</dt><dd>{finished} ({total})</dd>
<dt>Steps</dt><dd>{ok} ok, {failed} failed, {skipped} skipped, {notrun} not run</dd>
<dt>Changes</dt><dd>{changes} journaled</dd>
<dt>Exit code</dt><dd>{exit}</dd>
<dt>Run folder</dt><dd class="mono">{dir}</dd>
</dl>
"#,
        title = esc(&format!("{} {}", r.kind, r.env.as_deref().unwrap_or(""))),
        status = esc(r.status.word()),
        run = esc(&r.run_id),
        env = esc(r.env.as_deref().unwrap_or("-")),
        started = esc(&full_time(r.started)),
        finished = esc(&full_time(r.finished)),
        total = esc(&duration(total)),
        ok = r
            .steps
            .iter()
            .filter(|s| s.outcome == StepOutcome::Ok)
            .count(),
        failed = r
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, StepOutcome::Failed { .. }))
            .count(),
        skipped = r
            .steps
            .iter()
            .filter(|s| s.outcome == StepOutcome::Skipped)
            .count(),
        notrun = r
            .steps
            .iter()
            .filter(|s| s.outcome == StepOutcome::NotRun)
            .count(),
        changes = r.changes.len(),
        exit = r
            .exit_code
            .map_or_else(|| "not given".to_owned(), |c| c.to_string()),
        dir = esc(&r.run_dir),
    );
    let _ = title;
    if !r.warnings.is_empty() {
        h.push_str("<p class=\"warn\">Not everything could be read:</p><ul class=\"errors\">");
        for w in &r.warnings {
            let _ = write!(h, "<li>{}</li>", esc(w));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</header>\n");
}

fn failure(h: &mut String, f: &Failure) {
    let _ = write!(
        h,
        "<section id=\"failure\">\n<h2>Stopped{}: exit {} ({})</h2>\n",
        f.step
            .as_deref()
            .map(|s| format!(" at step <code>{}</code>", esc(s)))
            .unwrap_or_else(|| " before any step failed".into()),
        f.code.map_or_else(|| "?".into(), |c| c.to_string()),
        esc(&f.meaning)
    );
    match &f.resume {
        Some(cmd) => {
            let _ = write!(
                h,
                "<p>Resume with (after reading the errors below):</p>\n<pre id=\"resume\">{}</pre>\n",
                esc(cmd)
            );
        }
        None => h.push_str("<p>No resume command: the run stopped before its first step; re-run the runbook.</p>\n"),
    }
    if !f.errors.is_empty() {
        h.push_str("<p>What the transcript says:</p>\n<ul class=\"errors\">\n");
        for e in &f.errors {
            let _ = writeln!(h, "<li>{}</li>", esc(e));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
}

fn timeline(h: &mut String, r: &Report) {
    let t0 = r
        .steps
        .iter()
        .filter_map(|s| s.start)
        .chain(r.started)
        .min();
    let end = r.finished.or(t0);
    let ms = match (t0, end) {
        (Some(a), Some(b)) => ((b - a).num_milliseconds() as f64).max(1.0),
        _ => 1.0,
    };
    let span = Span { t0, ms };
    let _ = write!(
        h,
        "<section id=\"timeline\">\n<h2>Timeline: {} step(s), {} call(s)</h2>\n<table>\n<thead><tr><th>Step / call</th><th>Start</th><th class=\"num\">Offset</th><th class=\"num\">Duration</th><th>Outcome</th><th>Changes</th><th>{} .. {}</th></tr></thead>\n<tbody>\n",
        r.steps.len(),
        r.steps.iter().map(|s| s.calls.len()).sum::<usize>(),
        esc(&time(t0)),
        esc(&time(end)),
    );
    for s in &r.steps {
        let (class, bar, word) = match &s.outcome {
            StepOutcome::Ok => ("ok", "b-ok", "ok".to_owned()),
            StepOutcome::Failed { code, meaning } => {
                ("fail", "b-fail", format!("FAILED: exit {code} ({meaning})"))
            }
            StepOutcome::Skipped => ("muted", "b-skip", "skipped".to_owned()),
            StepOutcome::NotRun => ("muted", "b-skip", "not run".to_owned()),
        };
        let _ = writeln!(
            h,
            "<tr class=\"step {class}\" data-step=\"{name}\"><td>{name}</td><td class=\"mono\">{start}</td><td class=\"num\">{off}</td><td class=\"num\">{dur}</td><td class=\"{class}\">{word}</td><td class=\"num\">{changes}</td><td class=\"bar\">{bar}</td></tr>",
            name = esc(&s.name),
            start = esc(&time(s.start)),
            off = esc(&offset(s.start, t0)),
            dur = esc(&duration(s.duration_ms)),
            word = esc(&word),
            changes = if s.changes > 0 {
                s.changes.to_string()
            } else {
                String::new()
            },
            bar = span.bar(
                s.start,
                s.duration_ms,
                bar,
                &format!("{} {}", s.name, duration(s.duration_ms))
            ),
        );
        for c in &s.calls {
            let (class, bar) = if c.failed() {
                ("fail", "b-fail")
            } else if c.background {
                ("", "b-bg")
            } else {
                ("", "b-ok")
            };
            let word = match (c.exit, c.expected) {
                (Some(0), _) | (None, _) => c.result.clone().unwrap_or_else(|| "ok".into()),
                (Some(code), true) => format!("exit {code} (read on)"),
                (Some(code), false) => format!(
                    "exit {code}{}",
                    c.result
                        .as_deref()
                        .map(|r| format!(", {r}"))
                        .unwrap_or_default()
                ),
            };
            let label = format!(
                "{} {}{}",
                c.binary,
                c.subcommand,
                if c.background { " (background)" } else { "" }
            );
            let _ = writeln!(
                h,
                "<tr class=\"call {class}\"><td><span class=\"mono\" title=\"{file}\">{label}</span></td><td class=\"mono\">{start}</td><td class=\"num\">{off}</td><td class=\"num\">{dur}</td><td class=\"{wclass}\">{word}</td><td></td><td class=\"bar\">{bar}</td></tr>",
                label = esc(&label),
                file = esc(&c.file),
                start = esc(&time(c.start)),
                off = esc(&offset(c.start, t0)),
                dur = esc(&duration(c.duration_ms)),
                wclass = if c.failed() {
                    "fail"
                } else if matches!(c.result.as_deref(), Some("fail" | "failed" | "not ok")) {
                    "warn"
                } else {
                    ""
                },
                word = esc(&word),
                bar = span.bar(
                    c.start,
                    c.duration_ms,
                    bar,
                    &format!("{label} {}", duration(c.duration_ms))
                ),
            );
        }
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn changes(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<section id=\"changes\">\n<h2>Changes: {} journaled</h2>\n",
        r.changes.len()
    );
    if r.changes.is_empty() {
        h.push_str("<p class=\"muted\">No change of this run is in the journal (a dry run, or a run that changed nothing).</p>\n</section>\n");
        return;
    }
    h.push_str("<table class=\"changes\">\n<colgroup><col style=\"width:8%\"><col style=\"width:10%\"><col style=\"width:12%\"><col style=\"width:18%\"><col style=\"width:7%\"><col></colgroup>\n<thead><tr><th>Time</th><th>Step</th><th>Action</th><th>Target</th><th>Outcome</th><th>Before &rarr; after</th></tr></thead>\n<tbody>\n");
    for c in &r.changes {
        let d = diff(&c.before, &c.after);
        let mut cell = String::new();
        if d.is_empty() {
            cell.push_str("<span class=\"muted\">no before/after recorded</span>");
        }
        for (k, b, a) in &d {
            let _ = write!(
                cell,
                "<div class=\"mono\">{}{} &rarr; {}</div>",
                if k.is_empty() {
                    String::new()
                } else {
                    format!("<b>{}</b>: ", esc(k))
                },
                esc(b),
                esc(a)
            );
        }
        if let Some(m) = &c.message {
            let _ = write!(cell, "<div class=\"warn\">{}</div>", esc(m));
        }
        if let Some(reason) = &c.reason {
            let _ = write!(cell, "<div class=\"muted\">reason: {}</div>", esc(reason));
        }
        let _ = write!(
            cell,
            "<details><summary>full before / after</summary><p class=\"muted\">before</p><pre>{}</pre><p class=\"muted\">after</p><pre>{}</pre></details>",
            esc(&pretty(&c.before)),
            esc(&pretty(&c.after))
        );
        let outcome = c.outcome.as_deref();
        let _ = writeln!(
            h,
            "<tr class=\"change\"><td class=\"mono\">{start}<br><span class=\"muted\">{took}</span></td><td>{step}</td><td class=\"mono\">{bin}<br>{action}</td><td class=\"mono\">{target}</td><td class=\"{oc}\">{outcome}</td><td>{cell}</td></tr>",
            start = esc(&time(Some(c.start))),
            took = esc(&c
                .end
                .map(|e| duration(Some((e - c.start).num_milliseconds())))
                .unwrap_or_default()),
            step = esc(c.step.as_deref().unwrap_or("-")),
            bin = esc(&c.binary),
            action = esc(&c.action),
            target = esc(&c.target),
            oc = outcome_class(outcome),
            outcome = esc(outcome.unwrap_or("no outcome recorded")),
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn dns(h: &mut String, r: &Report) {
    h.push_str("<section id=\"dns\">\n<h2>Traffic weights over time</h2>\n");
    if r.dns.is_empty() {
        h.push_str("<p class=\"muted\">No weighted record was read or changed in this run.</p>\n");
    }
    let t0 = r.started;
    for s in &r.dns {
        let _ = write!(
            h,
            "<h3 class=\"mono\">{}</h3>\n<p class=\"legend\">",
            esc(&s.target)
        );
        for (i, n) in s.names.iter().enumerate() {
            let _ = write!(
                h,
                "<span><i class=\"swatch\" style=\"background:{}\"></i>{}</span>",
                colour(n, i),
                esc(n)
            );
        }
        h.push_str(
            "</p>\n<table>\n<thead><tr><th>Time</th><th class=\"num\">Offset</th><th>From</th>",
        );
        for n in &s.names {
            let _ = write!(h, "<th class=\"num\">{}</th>", esc(n));
        }
        h.push_str("<th>Share</th></tr></thead>\n<tbody>\n");
        for p in &s.points {
            let total: f64 = p.weights.iter().map(|(_, w)| w.max(0.0)).sum();
            let _ = write!(
                h,
                "<tr class=\"weights\"><td class=\"mono\">{}</td><td class=\"num\">{}</td><td>{}</td>",
                esc(&time(p.time)),
                esc(&offset(p.time, t0)),
                esc(&p.source)
            );
            for n in &s.names {
                let w = p.weights.iter().find(|(k, _)| k == n).map(|(_, w)| *w);
                let _ = write!(
                    h,
                    "<td class=\"num\">{}</td>",
                    w.map_or_else(|| "-".into(), fmt_num)
                );
            }
            h.push_str("<td><div class=\"stack\">");
            for (i, n) in s.names.iter().enumerate() {
                let w = p
                    .weights
                    .iter()
                    .find(|(k, _)| k == n)
                    .map_or(0.0, |(_, w)| w.max(0.0));
                if total > 0.0 && w > 0.0 {
                    let _ = write!(
                        h,
                        "<div style=\"width:{:.2}%;background:{}\" title=\"{} {}%\"></div>",
                        w / total * 100.0,
                        colour(n, i),
                        esc(n),
                        fmt_num((w / total * 1000.0).round() / 10.0)
                    );
                }
            }
            h.push_str("</div></td></tr>\n");
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
}

fn latency(h: &mut String, r: &Report) {
    h.push_str(
        "<section id=\"latency\">\n<h2>Smoke and load tests: latency against thresholds</h2>\n",
    );
    if r.latency.is_empty() {
        h.push_str("<p class=\"muted\">No smoke or load test ran in this run.</p>\n");
    } else {
        let names = ["min", "p50", "p90", "p95", "p99", "p99.9", "max"];
        h.push_str("<table>\n<thead><tr><th>Step</th><th>Test</th><th>Verdict</th><th class=\"num\">Requests</th><th class=\"num\">Errors</th>");
        for n in names {
            let _ = write!(h, "<th class=\"num\">{n} ms</th>");
        }
        h.push_str("<th>Thresholds: verdict, limit, severity, actual, actual/limit</th></tr></thead>\n<tbody>\n");
        for l in &r.latency {
            let vclass = match l.verdict.as_deref() {
                Some("pass" | "ok") => "ok",
                Some(_) => "fail",
                None => "muted",
            };
            let _ = write!(
                h,
                "<tr class=\"latency\"><td>{step}</td><td><span class=\"mono\">smoke-test {cmd}</span><br><span class=\"muted\">{file}</span></td><td class=\"{vclass}\">{verdict}</td><td class=\"num\">{count}</td><td class=\"num\">{errors}</td>",
                step = esc(&l.step),
                cmd = esc(&l.command),
                file = esc(&l.file),
                verdict = esc(l.verdict.as_deref().unwrap_or("-")),
                count = l.count.map_or_else(|| "-".into(), fmt_num),
                errors = l
                    .error_rate
                    .map_or_else(|| "-".into(), |e| format!("{}%", fmt_num(e * 100.0))),
            );
            for n in names {
                let v = l.percentiles.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
                let _ = write!(
                    h,
                    "<td class=\"num\">{}</td>",
                    v.map_or_else(|| "-".into(), fmt_num)
                );
            }
            h.push_str("<td>");
            for t in &l.thresholds {
                let class = if t.passed { "ok" } else { "fail" };
                let fill = match (t.actual, t.limit) {
                    (Some(a), Some(lim)) if lim > 0.0 => (a / lim * 100.0).clamp(0.0, 100.0),
                    _ => 0.0,
                };
                let _ = write!(
                    h,
                    "<div class=\"threshold\"><span class=\"{class}\">{word}</span><span class=\"mono\">{name}</span><span class=\"muted\">{sev}</span><span class=\"num\">{actual}</span><div class=\"limit\" title=\"actual / limit\"><div class=\"{bar}\" style=\"width:{fill:.1}%\"></div></div></div>",
                    word = if t.passed { "ok" } else { "FAILED" },
                    name = esc(&t.threshold),
                    sev = esc(&t.severity),
                    actual = t.actual.map_or_else(|| "-".into(), fmt_num),
                    bar = if t.passed { "b-ok" } else { "b-fail" },
                );
            }
            h.push_str("</td></tr>\n");
        }
        h.push_str("</tbody>\n</table>\n");
    }
    if !r.probes.is_empty() {
        h.push_str("<h3>Downtime probes</h3>\n<table>\n<thead><tr><th>Step</th><th>URL</th><th class=\"num\">Requests</th><th class=\"num\">Failed</th><th class=\"num\">Longest gap</th></tr></thead>\n<tbody>\n");
        for p in &r.probes {
            for u in &p.urls {
                let failed = u.failures.unwrap_or(0.0) > 0.0;
                let class = match (failed, u.must_serve) {
                    (true, true) => "fail",
                    (true, false) => "warn",
                    _ => "ok",
                };
                let _ = writeln!(
                    h,
                    "<tr class=\"probe\"><td>{step}</td><td class=\"mono\">{url}{must}</td><td class=\"num\">{req}</td><td class=\"num {class}\">{fail}</td><td class=\"num\">{gap}</td></tr>",
                    step = esc(&p.step),
                    url = esc(&u.url),
                    must = if u.must_serve {
                        " <b>(must serve)</b>"
                    } else {
                        ""
                    },
                    req = u.requests.map_or_else(|| "-".into(), fmt_num),
                    fail = u.failures.map_or_else(|| "-".into(), fmt_num),
                    gap = u
                        .longest_gap_ms
                        .map_or_else(|| "-".into(), |g| format!("{} ms", fmt_num(g))),
                );
            }
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
}

fn gates(h: &mut String, r: &Report) {
    h.push_str("<section id=\"gates\">\n<h2>Health gates</h2>\n");
    if r.gates.is_empty() {
        h.push_str("<p class=\"muted\">No health gate was checked in this run.</p>\n");
    }
    for g in &r.gates {
        let (class, word) = match g.passed {
            Some(true) => ("ok", "passed"),
            Some(false) => ("fail", "FAILED"),
            None => ("muted", "?"),
        };
        let _ = write!(
            h,
            "<h3>{step}: <span class=\"mono\">{src}</span> <span class=\"badge {class}\">{word}</span> <span class=\"muted\">{summary}{at}</span></h3>\n<table>\n<thead><tr>{when}<th>Gate</th><th>Severity</th><th class=\"num\">Value</th><th>Fails if</th><th>Verdict</th><th>Detail</th></tr></thead>\n<tbody>\n",
            step = esc(&g.step),
            src = esc(&g.source),
            summary = esc(&g.summary),
            at =
                g.at.as_deref()
                    .map(|a| format!(" at {}", esc(a)))
                    .unwrap_or_default(),
            when = if g.gates.iter().any(|x| !x.when.is_empty()) {
                "<th>When</th>"
            } else {
                ""
            },
        );
        let with_when = g.gates.iter().any(|x| !x.when.is_empty());
        for x in &g.gates {
            let vclass = match (x.passed, x.verdict.as_str()) {
                (true, _) => "ok",
                (false, "inconclusive") => "warn",
                _ => "fail",
            };
            let _ = writeln!(
                h,
                "<tr class=\"gate {vclass}\">{when}<td class=\"mono\">{name}</td><td>{sev}</td><td class=\"num\">{value}</td><td>{thr}</td><td class=\"{vclass}\">{verdict}</td><td>{detail}</td></tr>",
                when = if with_when {
                    format!("<td>{}</td>", esc(&x.when))
                } else {
                    String::new()
                },
                name = esc(&x.name),
                sev = esc(&x.severity),
                value = esc(&x.value),
                thr = esc(&x.threshold),
                verdict = esc(&x.verdict),
                detail = esc(&x.detail),
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
}

fn files(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<section id=\"files\">\n<h2>Files of the run folder ({})</h2>\n<p class=\"mono\">",
        r.files.len()
    );
    for (i, f) in r.files.iter().enumerate() {
        if i > 0 {
            h.push_str(" &middot; ");
        }
        let _ = write!(h, "<a href=\"{0}\">{0}</a>", esc(f));
    }
    h.push_str("</p>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            esc(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn base64_matches_the_rfc_examples() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(Some(812)), "812 ms");
        assert_eq!(duration(Some(4_950)), "5.0 s");
        assert_eq!(duration(Some(125_000)), "2 m 05 s");
        assert_eq!(duration(None), "-");
    }

    #[test]
    fn diff_shows_only_what_moved() {
        let d = diff(
            &serde_json::json!({"weights": {"blue": 100}, "zone": "Z", "request": 1}),
            &serde_json::json!({"weights": {"blue": 90}, "zone": "Z"}),
        );
        assert_eq!(
            d,
            vec![(
                "weights".to_owned(),
                r#"{"blue":100}"#.to_owned(),
                r#"{"blue":90}"#.to_owned()
            )]
        );
    }
}
