//! `db-snapshot prune`: deletes old manual snapshots beyond the retention. Never
//! automated ones, never the newest; the selection is `select::prune_plan`.

use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use common::{AwsResultExt, Context, Error, HumanAge, Render, Result};

use crate::list::Aged;
use crate::naming::{self, Kind};
use crate::rds::{self, PlannedCall, Rds, Source, SourceArgs};
use crate::select::{self, Kept};

#[derive(Debug, Clone, clap::Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// How many of the newest manual snapshots to keep (at least 1).
    /// Checked by the command itself (not clap), so a bad value is answered in
    /// one short line.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep: String,

    /// Beyond the N kept, only delete snapshots older than this (e.g. 30d).
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<HumanAge>,

    /// Only consider snapshots whose id starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Deleted {
    #[serde(flatten)]
    pub snapshot: Aged,
    /// "deleting" once RDS accepted the request; "failed: ..." otherwise.
    pub result: String,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct PruneResult {
    pub source: Source,
    pub keep: usize,
    pub deleted: Vec<Deleted>,
    pub kept: Vec<Kept>,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<PlannedCall>,
    pub api_calls: u64,
}

impl Render for PruneResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        for d in &self.deleted {
            writeln!(
                w,
                "{verb} {} ({} old): {}",
                d.snapshot.snap.snapshot_id,
                d.snapshot.age.as_deref().unwrap_or("?"),
                d.result
            )?;
        }
        for k in &self.kept {
            writeln!(w, "kept {}: {}", k.snapshot_id, k.reason)?;
        }
        Ok(())
    }
}

/// `--keep`: a whole number from 1 to 10000, said plainly when it is not.
fn parse_keep(raw: &str) -> std::result::Result<usize, String> {
    let shown = naming::quoted(raw);
    let n: i128 = raw
        .trim()
        .parse()
        .map_err(|_| format!("--keep must be a whole number from 1 to 10000, got {shown}"))?;
    if !(1..=10_000).contains(&n) {
        return Err(format!(
            "--keep must be from 1 to 10000 (the newest snapshot is never pruned), got {n}"
        ));
    }
    Ok(n as usize)
}

pub async fn run(ctx: &Context, args: &PruneArgs) -> Result<()> {
    let source = args.source.source()?;
    let keep = parse_keep(&args.keep).map_err(Error::usage)?;
    if let Some(p) = &args.prefix {
        naming::validate(Kind::Prefix, p)?;
    }
    let rds = Rds::new(&ctx.aws().await?.config);
    rds::source_engine(&rds, &source).await?;
    let snaps = rds::list_snapshots(&rds, &source).await?;
    let now = Utc::now();
    let plan = select::prune_plan(
        &snaps,
        keep,
        args.older_than.map(|d| d.0),
        args.prefix.as_deref(),
        now,
    );
    let (op, param) = match source {
        Source::Instance(_) => ("DeleteDBSnapshot", "DBSnapshotIdentifier"),
        Source::Cluster(_) => ("DeleteDBClusterSnapshot", "DBClusterSnapshotIdentifier"),
    };
    let planned: Vec<PlannedCall> = plan
        .delete
        .iter()
        .map(|s| PlannedCall::new(op, json!({ param: s.snapshot_id })))
        .collect();
    let mut result = PruneResult {
        source: source.clone(),
        keep,
        deleted: Vec::new(),
        kept: plan.keep.clone(),
        dry_run: ctx.dry_run(),
        planned: Vec::new(),
        api_calls: 0,
    };
    if ctx.dry_run() || plan.delete.is_empty() {
        rds::announce(&ctx.out, &planned);
        result.deleted = plan
            .delete
            .into_iter()
            .map(|s| Deleted {
                snapshot: Aged::new(s, now),
                result: "not deleted (dry run)".into(),
            })
            .collect();
        result.planned = planned;
        result.api_calls = rds.calls();
        return ctx.out.result(&result);
    }

    ctx.begin_change(&format!(
        "delete {} snapshot(s) of {}",
        plan.delete.len(),
        source.describe()
    ))
    .await?;
    let journal = ctx.journal().await?;
    let mut failures = Vec::new();
    for snap in plan.delete {
        let id = snap.snapshot_id.clone();
        let change = journal.intent(
            "db.snapshot.delete",
            &source.snapshot_target(&id),
            serde_json::to_value(&snap).unwrap_or_default(),
        )?;
        let sent = match source {
            Source::Instance(_) => rds
                .client
                .delete_db_snapshot()
                .db_snapshot_identifier(&id)
                .send()
                .await
                .aws(op)
                .map(|o| o.db_snapshot().and_then(|s| s.status()).map(str::to_owned)),
            Source::Cluster(_) => rds
                .client
                .delete_db_cluster_snapshot()
                .db_cluster_snapshot_identifier(&id)
                .send()
                .await
                .aws(op)
                .map(|o| {
                    o.db_cluster_snapshot()
                        .and_then(|s| s.status())
                        .map(str::to_owned)
                }),
        };
        let outcome = match sent {
            Ok(status) => {
                let status = status.unwrap_or_else(|| "deleting".into());
                change.ok(json!({"snapshot": id, "status": status}))?;
                ctx.out.info(format!("deleted {id} ({status})"));
                status
            }
            Err(e) => {
                change.failed(serde_json::Value::Null, e.to_string())?;
                ctx.out.warn(format!("could not delete {id}: {e}"));
                failures.push(e);
                format!(
                    "failed: {}",
                    failures.last().map(|e| e.to_string()).unwrap_or_default()
                )
            }
        };
        result.deleted.push(Deleted {
            snapshot: Aged::new(snap, now),
            result: outcome,
        });
    }
    result.api_calls = rds.calls();
    ctx.out.result(&result)?;
    match failures.into_iter().next() {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_keep;

    #[test]
    fn keep_out_of_range_is_said_plainly() {
        assert_eq!(parse_keep("7"), Ok(7));
        for (raw, said) in [
            ("-1", "got -1"),
            ("0", "got 0"),
            ("99999999999999999999", "got 99999999999999999999"),
            ("seven", "got \"seven\""),
            ("1.5", "whole number"),
        ] {
            let err = parse_keep(raw).unwrap_err();
            assert!(err.contains(said), "{raw}: {err}");
        }
    }
}
