//! `run-state report --run RUN_ID [--run-dir DIR] [--out FILE]`: one
//! self-contained HTML page of a runbook run (`report.html` in its run folder):
//! the timeline of steps and the binary calls inside them, every journaled
//! change with before/after, traffic weights over time, smoke/load latency
//! against thresholds, health-gate values and, on failure, the first failing
//! step and the command to resume. `collect` reads, `render` draws.

pub mod collect;
pub mod model;
pub mod render;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use common::journal::{Entry, Journal, Phase};
use common::{Context, Error, Render, Result};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The run to report on (the runbook's LTC_RUN_ID).
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run_id: String,

    /// The run folder [default: $LTC_RUNS_DIR/RUN_ID, else .ltc/runs/RUN_ID].
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,

    /// Where to write the page [default: report.html in the run folder].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// The runbook's exit code, when it is known (runbooks pass it): 0 is a
    /// success, anything else a failure, whatever the run folder shows.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub exit_code: Option<i32>,
}

/// What `run-state report` prints (stdout, one JSON document).
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ReportResult {
    pub run_id: String,
    pub path: String,
    pub status: model::Status,
    pub steps: usize,
    /// The binary calls inside the steps (not `calls`: that is the envelope's).
    #[serde(rename = "binary_calls")]
    pub calls: usize,
    pub changes: usize,
    pub failed_step: Option<String>,
    pub resume: Option<String>,
    pub bytes: usize,
    pub warnings: Vec<String>,
}

impl Render for ReportResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(
            w,
            "run report {} ({}, {} step(s), {} change(s){}): {}",
            self.run_id,
            self.status.word(),
            self.steps,
            self.changes,
            self.failed_step
                .as_deref()
                .map(|s| format!(", failed at {s}"))
                .unwrap_or_default(),
            self.path
        )
    }
}

fn default_run_dir(run_id: &str) -> PathBuf {
    std::env::var_os("LTC_RUNS_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(".ltc/runs"), PathBuf::from)
        .join(run_id)
}

/// The journal entries: the shared tree's and the local file's, each entry
/// once (an outcome written locally whose shared copy failed still shows).
async fn entries(ctx: &Context, warnings: &mut Vec<String>) -> Vec<Entry> {
    let mut all: Vec<Entry> = Vec::new();
    match ctx.journal_reader().await {
        Ok(j) => match j.entries() {
            Ok(e) => all.extend(e),
            Err(e) => warnings.push(format!("shared journal not read: {e:#}")),
        },
        Err(e) => warnings.push(format!("shared journal not read: {e:#}")),
    }
    let local = ctx
        .globals
        .journal
        .clone()
        .unwrap_or_else(Journal::default_path);
    match Journal::read_entries(&local) {
        Ok(e) => all.extend(e),
        Err(e) => warnings.push(format!("local journal not read: {e:#}")),
    }
    let mut seen: HashSet<(String, Phase)> = HashSet::new();
    all.retain(|e| seen.insert((e.id.clone(), e.phase)));
    all.sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
    all
}

/// Writes `text` to `path` whole or not at all (a temporary file, then rename).
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report.html".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(format!("failed to write {}", path.display()), e)
        })
}

pub async fn run(ctx: &Context, args: &ReportArgs) -> Result<()> {
    common::state::validate_run_id(&args.run_id)?;
    let dir = args
        .run_dir
        .clone()
        .unwrap_or_else(|| default_run_dir(&args.run_id));
    if !dir.is_dir() {
        return Err(Error::usage(format!(
            "no run folder {} (pass --run-dir, or set LTC_RUNS_DIR)",
            common::quote(&dir.display().to_string())
        )));
    }
    let out = args.out.clone().unwrap_or_else(|| dir.join("report.html"));
    let mut warnings = Vec::new();
    let entries = entries(ctx, &mut warnings).await;
    let mut report = collect::collect(
        &args.run_id,
        &dir,
        &entries,
        args.exit_code,
        chrono::Utc::now(),
    );
    report.warnings.extend(warnings);
    for w in &report.warnings {
        ctx.out.warn(w);
    }
    let html = render::render(&report);
    if !ctx.dry_run() {
        write_atomic(&out, &html)?;
    }
    ctx.out.result(&ReportResult {
        run_id: report.run_id.clone(),
        path: out.display().to_string(),
        status: report.status,
        steps: report.steps.len(),
        calls: report.steps.iter().map(|s| s.calls.len()).sum(),
        changes: report.changes.len(),
        failed_step: report.failure.as_ref().and_then(|f| f.step.clone()),
        resume: report.failure.as_ref().and_then(|f| f.resume.clone()),
        bytes: html.len(),
        warnings: report.warnings,
    })
}
