//! `diff`: what a restore would change, read-only. `restore --dry-run` prints
//! the same report.

use std::io::Write;

use chrono::Utc;
use common::{Context, Render, Result};
use serde::Serialize;

use crate::bucket::{self, CallCounter};
use crate::plan::Plan;
use crate::scope::{self, Comparison, Scope, ScopeArgs, SourceArgs, TargetDesc, Wanted};

#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// The difference between the current content and the target.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct DiffReport {
    pub bucket: String,
    pub prefix: String,
    pub target: TargetDesc,
    /// Number of keys that would change.
    pub changes: usize,
    #[serde(flatten)]
    pub plan: Plan,
    /// Keys whose state at --at is a guess (a version and a delete marker in the same second).
    pub ambiguous: Vec<String>,
}

impl DiffReport {
    pub fn new(scope: &Scope, wanted: &Wanted, cmp: &Comparison) -> Self {
        DiffReport {
            bucket: scope.bucket.clone(),
            prefix: scope.prefix.clone(),
            target: wanted.describe(),
            changes: cmp.plan.change_count(),
            plan: cmp.plan.clone(),
            ambiguous: cmp.ambiguous.clone(),
        }
    }

    /// Warnings an operator must see whatever the output format.
    pub fn warn(&self, ctx: &Context) {
        for key in &self.ambiguous {
            ctx.out.warn(format!(
                "{key}: a version and a delete marker share the same second near --at; took the version (use a manifest for an exact restore)"
            ));
        }
        if !self.plan.missing.is_empty() {
            ctx.out.warn(format!(
                "{} recorded version(s) no longer exist in the bucket (e.g. {} {}): a restore cannot be complete",
                self.plan.missing.len(),
                self.plan.missing[0].key,
                self.plan.missing[0].version_id
            ));
        }
    }

    pub fn write_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            w,
            "s3://{}/{} against {} ({}): {} to restore, {} to remove, {} to bring back, {} unchanged",
            self.bucket,
            self.prefix,
            self.target.manifest.as_deref().unwrap_or("time"),
            self.target.at.format("%Y-%m-%dT%H:%M:%SZ"),
            self.plan.restore.len(),
            self.plan.remove.len(),
            self.plan.bring_back.len(),
            self.plan.unchanged
        )?;
        let mut rows: Vec<Vec<String>> = Vec::new();
        for c in &self.plan.restore {
            rows.push(vec![
                "restore".into(),
                c.key.clone(),
                c.from_version.clone().unwrap_or_default(),
                c.to_version.clone(),
            ]);
        }
        for c in &self.plan.bring_back {
            rows.push(vec![
                "bring back".into(),
                c.key.clone(),
                "(deleted)".into(),
                c.to_version.clone(),
            ]);
        }
        for r in &self.plan.remove {
            rows.push(vec![
                "remove".into(),
                r.key.clone(),
                r.current_version.clone(),
                "(delete marker)".into(),
            ]);
        }
        for m in &self.plan.missing {
            rows.push(vec![
                "MISSING".into(),
                m.key.clone(),
                String::new(),
                m.version_id.clone(),
            ]);
        }
        if !rows.is_empty() {
            write!(
                w,
                "{}",
                common::output::table(&["ACTION", "KEY", "NOW", "TARGET"], &rows)
            )?;
        }
        Ok(())
    }
}

impl Render for DiffReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        self.write_text(w)
    }
}

pub async fn run(ctx: &Context, args: &DiffArgs) -> Result<()> {
    let (scope, wanted) = scope::resolve(&args.scope, &args.source, Utc::now())?;
    let aws = ctx.aws().await?;
    let s3 = bucket::s3_client(aws, &CallCounter::default());
    bucket::require_versioning(&s3, &scope.bucket).await?;
    let cmp = scope::compare(&s3, &scope, &wanted).await?;
    let report = DiffReport::new(&scope, &wanted, &cmp);
    report.warn(ctx);
    ctx.out.result(&report)
}
