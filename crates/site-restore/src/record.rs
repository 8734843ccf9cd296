//! `record`: the manifest of what is live now, kept before a deploy.

use chrono::Utc;
use common::{Context, Result};
use serde_json::json;

use crate::bucket::{self, CallCounter};
use crate::manifest::Manifest;
use crate::plan;
use crate::scope::{self, ScopeArgs};

#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
}

pub async fn run(ctx: &Context, args: &RecordArgs) -> Result<()> {
    let scope = scope::scope_only(&args.scope)?;
    let aws = ctx.aws().await?;
    let s3 = bucket::s3_client(aws, &CallCounter::default());
    bucket::require_versioning(&s3, &scope.bucket).await?;
    let taken_at = Utc::now();
    let entries = bucket::list_versions(&s3, &scope.bucket, &scope.prefix).await?;
    let manifest = Manifest::new(
        &scope.bucket,
        &scope.prefix,
        taken_at,
        plan::current_state(&entries),
    );
    if !ctx.dry_run() {
        // Journaled so a restore can find the pre-deploy manifest even if the
        // printed copy was lost.
        let journal = ctx.journal().await?;
        let change = journal.intent("site.record", &scope.target(), serde_json::Value::Null)?;
        change.ok(json!({ "manifest": &manifest }))?;
    }
    ctx.out.info(format!(
        "recorded {} object(s), {} byte(s) under {}",
        manifest.object_count,
        manifest.total_bytes,
        scope.target()
    ));
    ctx.out.result(&manifest)
}
