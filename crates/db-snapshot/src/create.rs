//! `db-snapshot create`: a manual snapshot named `<prefix>-<id>-<UTC timestamp>`
//! (or the given id), tagged with who and why, waited for until available.
//! Re-running with the same `--snapshot-id` reports the existing snapshot.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use common::{AwsResultExt, Context, Error, HumanDuration, Render, Result};

use crate::naming::{self, Kind};
use crate::rds::{self, PlannedCall, Rds, Snap, Source, SourceArgs};
use crate::readback;
use crate::wait;

#[derive(Debug, Clone, clap::Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Name prefix; the snapshot is named <PREFIX>-<ID>-<YYYYMMDD-HHMMSS> (UTC).
    #[arg(long, default_value = "pre-deploy", value_name = "PREFIX")]
    pub prefix: String,

    /// Extra tag on the snapshot (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = common::cli::parse_key_value)]
    pub tags: Vec<(String, String)>,

    /// Exact snapshot id instead of a generated one; re-running with an existing,
    /// available id of the same source succeeds without creating another.
    #[arg(long, value_name = "ID")]
    pub snapshot_id: Option<String>,

    /// Give up waiting after this long (exit 5; the snapshot keeps going).
    #[arg(long, default_value = "60m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct CreateResult {
    pub snapshot_id: String,
    pub source: Source,
    /// False when the snapshot already existed (idempotent re-run) or in a dry run.
    pub created: bool,
    pub status: String,
    /// RFC 3339, UTC.
    #[schemars(with = "Option<String>")]
    pub snapshot_create_time: Option<DateTime<Utc>>,
    pub allocated_storage_gib: Option<i32>,
    pub engine: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<PlannedCall>,
    /// RDS requests this command sent.
    pub api_calls: u64,
}

impl Render for CreateResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        if self.dry_run {
            return writeln!(
                w,
                "dry run: would create snapshot {} of {}",
                self.snapshot_id,
                self.source.describe()
            );
        }
        writeln!(
            w,
            "snapshot {} of {} is {}{} ({} GiB, created {})",
            self.snapshot_id,
            self.source.describe(),
            self.status,
            if self.created {
                ""
            } else {
                " (already existed)"
            },
            self.allocated_storage_gib
                .map_or("?".to_owned(), |g| g.to_string()),
            self.snapshot_create_time
                .map_or("?".to_owned(), |t| t.to_rfc3339())
        )
    }
}

struct Validated {
    source: Source,
    snapshot_id: String,
    tags: BTreeMap<String, String>,
}

fn validate(args: &CreateArgs, now: DateTime<Utc>) -> Result<Validated> {
    let source = args.source.source()?;
    naming::validate(Kind::Prefix, &args.prefix)?;
    let mut tags = BTreeMap::new();
    for (k, v) in &args.tags {
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(Error::usage(format!(
                "tag key {}: keys starting with aws: are reserved by AWS",
                naming::quoted(k)
            )));
        }
        if k.len() > 128 || v.len() > 256 {
            return Err(Error::usage(format!(
                "tag {}: keys are at most 128 characters and values at most 256",
                naming::quoted(k)
            )));
        }
        tags.insert(k.clone(), v.clone());
    }
    let snapshot_id = match &args.snapshot_id {
        Some(id) => {
            naming::validate(Kind::Snapshot, id)?;
            id.clone()
        }
        None => naming::snapshot_name(&args.prefix, source.id(), now)?,
    };
    Ok(Validated {
        source,
        snapshot_id,
        tags,
    })
}

fn result_from(snap: &Snap, source: &Source, created: bool, rds: &Rds) -> CreateResult {
    CreateResult {
        snapshot_id: snap.snapshot_id.clone(),
        source: source.clone(),
        created,
        status: snap.status.clone(),
        snapshot_create_time: snap.created,
        allocated_storage_gib: snap.allocated_storage_gib,
        engine: snap.engine.clone(),
        tags: snap.tags.clone(),
        dry_run: false,
        planned: Vec::new(),
        api_calls: rds.calls(),
    }
}

pub async fn run(ctx: &Context, args: &CreateArgs) -> Result<()> {
    let v = validate(args, Utc::now())?;
    let rds = Rds::new(&ctx.aws().await?.config);
    let result = create(ctx, &rds, &v.source, &v.snapshot_id, v.tags, args.timeout).await?;
    ctx.out.result(&result)
}

/// The body of `create`, separate from argument handling so tests can drive it
/// with a mocked client.
pub async fn create(
    ctx: &Context,
    rds: &Rds,
    source: &Source,
    snapshot_id: &str,
    mut tags: BTreeMap<String, String>,
    timeout: HumanDuration,
) -> Result<CreateResult> {
    let engine = rds::source_engine(rds, source).await?;

    if let Some(existing) = rds::find_snapshot(rds, source, snapshot_id).await? {
        if existing.source != source.id() {
            return Err(Error::usage(format!(
                "snapshot {snapshot_id} already exists and was taken from {}, not {}; choose another --snapshot-id",
                existing.source,
                source.id()
            )));
        }
        ctx.out.info(format!(
            "snapshot {snapshot_id} already exists ({}); not creating another",
            existing.progress_text()
        ));
        let snap = if existing.is_available() {
            existing
        } else {
            wait::snapshot_available(ctx, rds, source, snapshot_id, timeout.0).await?
        };
        return Ok(result_from(&snap, source, false, rds));
    }

    // Who and why, from the same context the journal records.
    let jctx = ctx.journal().await?.context().clone();
    if let Some(actor) = &jctx.actor {
        tags.insert("ltc:created-by".into(), rds::tag_value(actor));
    }
    if let Some(reason) = &jctx.reason {
        tags.insert("ltc:reason".into(), rds::tag_value(reason));
    }
    tags.insert("ltc:tool".into(), "db-snapshot".into());

    let (op, id_param, src_param) = match source {
        Source::Instance(_) => (
            "CreateDBSnapshot",
            "DBSnapshotIdentifier",
            "DBInstanceIdentifier",
        ),
        Source::Cluster(_) => (
            "CreateDBClusterSnapshot",
            "DBClusterSnapshotIdentifier",
            "DBClusterIdentifier",
        ),
    };
    let planned = vec![PlannedCall::new(
        op,
        json!({ id_param: snapshot_id, src_param: source.id(), "Tags": tags }),
    )];
    if ctx.dry_run() {
        rds::announce(&ctx.out, &planned);
        return Ok(CreateResult {
            snapshot_id: snapshot_id.to_owned(),
            source: source.clone(),
            created: false,
            status: "not created (dry run)".into(),
            snapshot_create_time: None,
            allocated_storage_gib: None,
            engine,
            tags,
            dry_run: true,
            planned,
            api_calls: rds.calls(),
        });
    }

    ctx.begin_change(&format!(
        "create snapshot {snapshot_id} of {}",
        source.describe()
    ))
    .await?;
    let journal = ctx.journal().await?;
    let change = journal.intent(
        "db.snapshot.create",
        &source.snapshot_target(snapshot_id),
        json!({ "source": source, "snapshot": null }),
    )?;
    let sent = match source {
        Source::Instance(id) => rds
            .client
            .create_db_snapshot()
            .db_instance_identifier(id)
            .db_snapshot_identifier(snapshot_id)
            .set_tags(Some(rds::to_tags(&tags)))
            .send()
            .await
            .aws(op)
            .map(|o| o.db_snapshot().map(Snap::from)),
        Source::Cluster(id) => rds
            .client
            .create_db_cluster_snapshot()
            .db_cluster_identifier(id)
            .db_cluster_snapshot_identifier(snapshot_id)
            .set_tags(Some(rds::to_tags(&tags)))
            .send()
            .await
            .aws(op)
            .map(|o| o.db_cluster_snapshot().map(Snap::from)),
    };
    let change = match sent {
        Ok(_) => change,
        Err(e) => {
            let found = readback::snapshot(rds, source, snapshot_id, &tags).await;
            let read_cmd = match source {
                Source::Instance(_) => {
                    format!("aws rds describe-db-snapshots --db-snapshot-identifier {snapshot_id}")
                }
                Source::Cluster(_) => format!(
                    "aws rds describe-db-cluster-snapshots --db-cluster-snapshot-identifier {snapshot_id}"
                ),
            };
            let what = format!("creating snapshot {snapshot_id}");
            readback::settle(ctx, change, e, found, &what, &read_cmd)?.0
        }
    };
    ctx.out.info(format!(
        "creating snapshot {snapshot_id} of {}",
        source.describe()
    ));
    let reattach = format!(
        "db-snapshot wait {} --snapshot {snapshot_id}",
        source.flag()
    );
    let waited = wait::snapshot_available(ctx, rds, source, snapshot_id, timeout.0).await;
    let snap = wait::record_wait(
        change,
        waited,
        |s| json!({"snapshot": snapshot_id, "status": s.status}),
        json!({"snapshot": snapshot_id, "status": "creating"}),
        &reattach,
    )?;
    Ok(result_from(&snap, source, true, rds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> CreateArgs {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct T {
            #[command(flatten)]
            a: CreateArgs,
        }
        let mut argv = vec!["t"];
        argv.extend_from_slice(extra);
        T::parse_from(argv).a
    }

    #[test]
    fn generated_name_uses_prefix_source_and_utc_time() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T03:30:05Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let v = validate(&args(&["--instance", "ltc-db"]), now).unwrap();
        assert_eq!(v.snapshot_id, "pre-deploy-ltc-db-20261127-033005");
        let v = validate(
            &args(&["--cluster", "ltc-aurora", "--prefix", "hotfix"]),
            now,
        )
        .unwrap();
        assert_eq!(v.snapshot_id, "hotfix-ltc-aurora-20261127-033005");
    }

    #[test]
    fn bad_prefix_tag_or_id_is_a_usage_error() {
        let now = Utc::now();
        for bad in [
            vec!["--instance", "ltc-db", "--prefix", "9lives"],
            vec!["--instance", "ltc-db", "--tag", "aws:x=1"],
            vec!["--instance", "ltc-db", "--snapshot-id", "a--b"],
            vec!["--instance", "ltc_db"],
        ] {
            let err = validate(&args(&bad), now).err().unwrap();
            assert_eq!(err.exit_code(), 2, "{bad:?}: {err}");
        }
    }
}
