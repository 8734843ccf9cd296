//! The webhook's message: Slack-compatible JSON, a `text` line (shown in
//! notifications and by clients without blocks) plus `blocks` (header,
//! fields, steps, figures, changes, and for a failure the step and the resume
//! command). Within Slack's limits: header 150 characters, section text 3000,
//! at most 10 fields and 50 blocks.

use serde_json::{Value, json};

use crate::summary::Summary;

const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 2900;

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One line for the `text` field and the SNS subject's base.
pub fn one_line(sum: &Summary) -> String {
    let mut line = format!(
        "{}: {} in {} (run {}, by {})",
        sum.kind, sum.headline, sum.env, sum.run_id, sum.operator
    );
    if let Some(f) = &sum.failed_step {
        line.push_str(&format!(" at step {}", f.name));
        if let Some(c) = f.exit_code {
            line.push_str(&format!(" (exit {c})"));
        }
    }
    line
}

fn ms(ms: u64) -> String {
    if ms >= 60_000 {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

fn section(text: String) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": cut(&text, SECTION_MAX) } })
}

/// The figures as short lines.
pub fn figure_lines(sum: &Summary) -> Vec<String> {
    let f = &sum.figures;
    let mut lines = Vec::new();
    for s in &f.smoke {
        let mut l = format!(
            "smoke-test {} ({}): {}, {} requests, {} failed",
            s.command, s.step, s.verdict, s.requests, s.failures
        );
        if let (Some(p50), Some(p95), Some(p99)) = (s.p50_ms, s.p95_ms, s.p99_ms) {
            l.push_str(&format!(
                ", p50 {p50:.1} ms, p95 {p95:.1} ms, p99 {p99:.1} ms"
            ));
        }
        let th: Vec<String> = s
            .thresholds
            .iter()
            .map(|t| {
                format!(
                    "{} {} (actual {:.1})",
                    t.threshold,
                    if t.passed { "ok" } else { "BREACHED" },
                    t.actual
                )
            })
            .collect();
        if !th.is_empty() {
            l.push_str(&format!("; {}", th.join(", ")));
        }
        lines.push(l);
    }
    for g in &f.health_gates {
        let mut l = format!(
            "health gates ({}): {}, {} pass, {} fail, {} inconclusive: {}",
            g.step,
            if g.passed { "passed" } else { "FAILED" },
            g.pass,
            g.fail,
            g.inconclusive,
            g.reason
        );
        if !g.failed.is_empty() {
            l.push_str(&format!(" [{}]", g.failed.join(", ")));
        }
        lines.push(l);
    }
    for t in &f.traffic {
        let weights = t
            .final_weights
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let mut l = format!(
            "traffic ({}): {} {}, {} step(s), weights {}",
            t.step, t.record, t.result, t.steps_applied, weights
        );
        if let Some(r) = &t.reason {
            l.push_str(&format!(": {r}"));
        }
        lines.push(l);
    }
    for p in &f.probes {
        lines.push(format!(
            "downtime probe ({}): {} requests, {} failed, longest gap {} ms",
            p.step, p.requests, p.failures, p.longest_gap_ms
        ));
    }
    lines
}

/// The Slack-compatible payload.
pub fn payload(sum: &Summary) -> Value {
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": cut(&format!("{} — {}", sum.headline, sum.env), HEADER_MAX) } }),
        json!({ "type": "section", "fields": [
            { "type": "mrkdwn", "text": cut(&format!("*Environment*\n{}", sum.env), 1900) },
            { "type": "mrkdwn", "text": cut(&format!("*Run*\n`{}`", sum.run_id), 1900) },
            { "type": "mrkdwn", "text": cut(&format!("*Operator*\n{} on {}", sum.operator, sum.host), 1900) },
            { "type": "mrkdwn", "text": format!("*Event*\n{}", sum.event.name()) },
        ] }),
    ];
    if let Some(m) = &sum.message {
        blocks.push(section(m.clone()));
    }
    if let Some(f) = &sum.failed_step {
        let mut t = format!("*Failed step:* `{}`", f.name);
        if let Some(c) = f.exit_code {
            t.push_str(&format!(" exit {c}"));
        }
        if let Some(m) = &f.meaning {
            t.push_str(&format!(" ({m})"));
        }
        if let Some(r) = &sum.resume {
            t.push_str(&format!("\n*Resume with:*\n```{r}```"));
        }
        blocks.push(section(t));
    }
    if !sum.steps.is_empty() {
        let rows: Vec<String> = sum
            .steps
            .iter()
            .map(|s| {
                let code = match (s.outcome.as_str(), s.exit_code) {
                    ("failed", Some(c)) => format!("FAILED (exit {c})"),
                    (o, _) => o.to_owned(),
                };
                format!("{:<24} {:>9}  {}", s.name, ms(s.duration_ms), code)
            })
            .collect();
        blocks.push(section(format!(
            "*Steps* ({} in {})\n```{}```",
            sum.steps.len(),
            ms(sum.total_ms),
            rows.join("\n")
        )));
    }
    let figures = figure_lines(sum);
    if !figures.is_empty() {
        blocks.push(section(format!(
            "*Key figures*\n{}",
            figures
                .iter()
                .map(|l| format!("• {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )));
    }
    if sum.changes_total > 0 {
        let rows: Vec<String> = sum
            .changes
            .iter()
            .map(|c| {
                format!(
                    "{} {} {} {}",
                    c.time.format("%H:%M:%S"),
                    c.action,
                    c.target,
                    c.outcome
                )
            })
            .collect();
        let more = if sum.changes_total > sum.changes.len() {
            format!(" (the last {} shown)", sum.changes.len())
        } else {
            String::new()
        };
        blocks.push(section(format!(
            "*Changes* ({}{more})\n```{}```",
            sum.changes_total,
            rows.join("\n")
        )));
    }
    let mut context = Vec::new();
    if let Some(d) = &sum.run_dir {
        context.push(format!("run folder {d}"));
    }
    context.extend(sum.notes.iter().cloned());
    if !context.is_empty() {
        blocks.push(json!({ "type": "context", "elements": [
            { "type": "mrkdwn", "text": cut(&context.join("; "), SECTION_MAX) }
        ] }));
    }
    json!({ "text": one_line(sum), "blocks": blocks })
}
