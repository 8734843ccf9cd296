//! `db-snapshot restore`: restores a snapshot (an id, `latest`, or `-` for stdin)
//! into a NEW instance with the source's settings copied, waits until it is
//! available, and with `--swap` gives it the source's name (see `swap.rs`).
//! It never restores over anything: an existing target is refused.

use std::collections::BTreeMap;
use std::io::Read;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use common::duration::format_duration;
use common::{AwsResultExt, Context, Error, HumanDuration, Render, Result};

use crate::list;
use crate::naming::{self, Kind};
use crate::rds::{self, ClusterInfo, InstanceInfo, PlannedCall, Rds, Snap, Source, SourceArgs};
use crate::readback;
use crate::select;
use crate::swap::{self, SwapPlan, SwapResult};
use crate::wait;

#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "After an interrupted run (Ctrl-C, SIGTERM, a lost session; exit 130), or exit 5 or 7:\n\
  - interrupted or timed out while the restore was being made: it goes on in AWS; re-attach with\n    \
    `db-snapshot wait --instance NEW` (the exact command is printed), then, for --swap,\n    \
    `db-snapshot swap --instance SOURCE --with NEW`;\n\
  - interrupted or stopped during --swap: `db-snapshot swap --resume --instance SOURCE` (or the same\n    \
    restore command again) completes the swap, or puts the original back when the restored\n    \
    instance cannot serve; `--undo` puts the original back in any case.\n\
Re-running the same restore carries on with a target it already restored (tagged\n\
ltc:restored-from/ltc:restored-for) instead of restoring again."
)]
pub struct RestoreArgs {
    /// Snapshot id, `latest` (newest available), or `-` to read an id or the
    /// JSON printed by `create`/`latest` from stdin.
    #[arg(long, value_name = "ID|latest|-")]
    pub snapshot: String,

    /// The instance (or cluster) whose snapshot this is and whose settings are copied.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Identifier of the NEW instance (or cluster) to restore into; must not exist.
    #[arg(long, value_name = "NEW")]
    pub target: String,

    /// After the restore, rename SOURCE to <SOURCE>-pre-restore-<timestamp> and
    /// NEW to SOURCE, so applications keep the same endpoint (instances only).
    #[arg(long)]
    pub swap: bool,

    /// With `--snapshot latest`: only snapshots whose id starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,

    /// Give up waiting after this long (exit 5 with the command to re-attach).
    #[arg(long, default_value = "60m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

/// Which snapshot to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotSpec {
    Latest,
    Id(String),
}

#[derive(Debug)]
pub struct Validated {
    pub source: Source,
    pub target: String,
    pub snapshot: SnapshotSpec,
    pub swap: Option<SwapPlan>,
}

/// Everything checkable without AWS; `stdin` is read only for `--snapshot -`.
pub fn validate(args: &RestoreArgs, stdin: &mut dyn Read) -> Result<Validated> {
    let source = args.source.source()?;
    let kind = match source {
        Source::Instance(_) => Kind::Instance,
        Source::Cluster(_) => Kind::Cluster,
    };
    naming::validate(kind, &args.target)?;
    if matches!(source, Source::Cluster(_)) {
        writer_name(&args.target)?;
    }
    if args.target.eq_ignore_ascii_case(source.id()) {
        return Err(Error::usage(format!(
            "--target must be a new identifier, not the source {}; use --swap to take over its name",
            source.id()
        )));
    }
    if let Some(p) = &args.prefix {
        naming::validate(Kind::Prefix, p)?;
    }
    let snapshot = match args.snapshot.as_str() {
        "latest" => SnapshotSpec::Latest,
        "-" => {
            let mut text = String::new();
            stdin
                .take(1 << 20)
                .read_to_string(&mut text)
                .map_err(|e| Error::usage(format!("--snapshot -: could not read stdin: {e}")))?;
            SnapshotSpec::Id(naming::parse_snapshot_input(&text)?)
        }
        id => {
            naming::validate_snapshot_ref(id)?;
            SnapshotSpec::Id(id.to_owned())
        }
    };
    if args.prefix.is_some() && snapshot != SnapshotSpec::Latest {
        return Err(Error::usage("--prefix only applies to --snapshot latest"));
    }
    let swap = match (&source, args.swap) {
        (_, false) => None,
        (Source::Instance(id), true) => Some(SwapPlan::new(id, &args.target)?),
        (Source::Cluster(_), true) => {
            return Err(Error::usage(
                "--swap is supported for --instance only; restore the cluster and repoint applications to its endpoint",
            ));
        }
    };
    Ok(Validated {
        source,
        target: args.target.clone(),
        snapshot,
        swap,
    })
}

/// The settings a restore copies from the source instance. Default parameter
/// and option groups (`default.*`, `default:*`) are left to RDS, which applies
/// the default for the snapshot's engine version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceSettings {
    pub instance_class: Option<String>,
    pub subnet_group: Option<String>,
    pub security_groups: Vec<String>,
    pub parameter_group: Option<String>,
    pub option_group: Option<String>,
    pub multi_az: Option<bool>,
    pub storage_type: Option<String>,
    pub deletion_protection: Option<bool>,
    pub port: Option<i32>,
    pub iam_auth: Option<bool>,
    pub log_exports: Vec<String>,
    pub publicly_accessible: Option<bool>,
    pub auto_minor_version_upgrade: Option<bool>,
    pub copy_tags_to_snapshot: Option<bool>,
    pub ca_certificate: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// The source's tags without AWS-reserved ones, plus where the copy came from.
fn restored_tags(
    source_tags: &BTreeMap<String, String>,
    snapshot_id: &str,
    source_id: &str,
) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = source_tags
        .iter()
        .filter(|(k, _)| !k.starts_with("aws:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.insert("ltc:restored-from".into(), rds::tag_value(snapshot_id));
    tags.insert("ltc:restored-for".into(), rds::tag_value(source_id));
    tags
}

/// Pure: what to ask RDS for, from the source as described.
pub fn settings_from(src: &InstanceInfo, snapshot_id: &str) -> InstanceSettings {
    let tags = restored_tags(&src.tags, snapshot_id, &src.instance_id);
    InstanceSettings {
        instance_class: src.instance_class.clone(),
        subnet_group: src.subnet_group.clone(),
        security_groups: src.security_groups.clone(),
        parameter_group: src
            .parameter_groups
            .first()
            .filter(|g| !g.starts_with("default."))
            .cloned(),
        option_group: src
            .option_groups
            .first()
            .filter(|g| !g.starts_with("default:"))
            .cloned(),
        multi_az: src.multi_az,
        storage_type: src.storage_type.clone(),
        deletion_protection: src.deletion_protection,
        // RestoreDBInstanceFromDBSnapshot turns these off or to defaults unless they
        // are given: an application using IAM auth could not log in after a rollback.
        // IOPS and throughput are left to RDS, which takes them from the snapshot
        // (giving gp3 baseline values below 400 GiB is rejected).
        port: src.port,
        iam_auth: src.iam_auth,
        log_exports: src.log_exports.clone(),
        publicly_accessible: src.publicly_accessible,
        auto_minor_version_upgrade: src.auto_minor_version_upgrade,
        copy_tags_to_snapshot: src.copy_tags_to_snapshot,
        ca_certificate: src.ca_certificate.clone(),
        tags,
    }
}

/// Settings copied to a restored Aurora cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSettings {
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub subnet_group: Option<String>,
    pub security_groups: Vec<String>,
    pub parameter_group: Option<String>,
    pub port: Option<i32>,
    pub deletion_protection: Option<bool>,
    pub tags: BTreeMap<String, String>,
}

pub fn cluster_settings_from(src: &ClusterInfo, snapshot_id: &str) -> ClusterSettings {
    let tags = restored_tags(&src.tags, snapshot_id, &src.cluster_id);
    ClusterSettings {
        engine: src.engine.clone(),
        engine_version: src.engine_version.clone(),
        subnet_group: src.subnet_group.clone(),
        security_groups: src.security_groups.clone(),
        parameter_group: src
            .parameter_group
            .clone()
            .filter(|g| !g.starts_with("default.")),
        port: src.port,
        deletion_protection: src.deletion_protection,
        tags,
    }
}

/// Engines that can restore each other's snapshots are the same string in RDS.
fn check_engine(snap: &Snap, source_engine: Option<&str>, source: &Source) -> Result<()> {
    if let (Some(se), Some(te)) = (snap.engine.as_deref(), source_engine)
        && !se.eq_ignore_ascii_case(te)
    {
        return Err(Error::usage(format!(
            "snapshot {} is of engine {se}, but {} runs {te}; refusing to restore across engines",
            snap.snapshot_id,
            source.describe()
        )));
    }
    Ok(())
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RestoreResult {
    pub snapshot_id: String,
    /// RFC 3339, UTC.
    #[schemars(with = "Option<String>")]
    pub snapshot_created: Option<DateTime<Utc>>,
    /// How old the data is: everything written after this is not in the restore.
    pub snapshot_age: Option<String>,
    pub source: Source,
    pub target: String,
    /// Settings copied from the source.
    pub settings: serde_json::Value,
    pub status: String,
    pub endpoint: Option<String>,
    pub port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapResult>,
    /// For a cluster: the writer instance created in it, like the source's writer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer_instance: Option<String>,
    /// When the restore is half made (exit 7): what is where, and the commands
    /// to finish or undo it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inventory: Option<serde_json::Value>,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<PlannedCall>,
    pub api_calls: u64,
}

impl RestoreResult {
    /// What the instance and the cluster paths report before anything is
    /// restored (all a dry run reports, with its planned calls).
    fn before_restore(
        ctx: &Context,
        snap: &Snap,
        age: Option<String>,
        v: &Validated,
        settings: &impl Serialize,
    ) -> Self {
        RestoreResult {
            snapshot_id: snap.snapshot_id.clone(),
            snapshot_created: snap.created,
            snapshot_age: age,
            source: v.source.clone(),
            target: v.target.clone(),
            settings: serde_json::to_value(settings).unwrap_or_default(),
            status: "not restored (dry run)".into(),
            endpoint: None,
            port: None,
            swap: None,
            writer_instance: None,
            inventory: None,
            dry_run: ctx.dry_run(),
            planned: Vec::new(),
            api_calls: 0,
        }
    }

    /// A dry run's result: the calls it would make, announced and listed.
    fn into_dry_run(mut self, ctx: &Context, rds: &Rds, planned: Vec<PlannedCall>) -> Self {
        rds::announce(&ctx.out, &planned);
        self.planned = planned;
        self.api_calls = rds.calls();
        self
    }
}

impl Render for RestoreResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        if self.dry_run {
            return writeln!(
                w,
                "dry run: would restore {} into {} ({} calls listed above)",
                self.snapshot_id,
                self.target,
                self.planned.len()
            );
        }
        writeln!(
            w,
            "restored {} ({} old) into {}: {} at {}",
            self.snapshot_id,
            self.snapshot_age.as_deref().unwrap_or("?"),
            self.target,
            self.status,
            self.endpoint.as_deref().unwrap_or("(no endpoint)")
        )?;
        if let Some(s) = &self.swap {
            writeln!(
                w,
                "swapped: the restored instance is now {}; the original is {}",
                s.replacement_now_named, s.original_now_named
            )?;
        }
        Ok(())
    }
}

pub async fn run(ctx: &Context, args: &RestoreArgs) -> Result<()> {
    let v = if args.snapshot == "-" {
        validate(args, &mut std::io::stdin().lock())?
    } else {
        validate(args, &mut std::io::empty())?
    };
    let rds = Rds::new(&ctx.aws().await?.config);
    // Re-running `restore --swap` after an interrupted swap continues that swap
    // (the source may be renamed aside right now, so it is looked up first).
    if let Some(plan) = &v.swap
        && let Some(resumed) =
            swap::resume_if_unfinished(ctx, &rds, &plan.source, &plan.replacement, args.timeout.0)
                .await?
    {
        return ctx.out.result(&resumed);
    }
    let result = restore(ctx, &rds, &v, args.prefix.as_deref(), args.timeout).await?;
    ctx.out.result(&result)
}

async fn resolve_snapshot(rds: &Rds, v: &Validated, prefix: Option<&str>) -> Result<Snap> {
    let snap = match &v.snapshot {
        SnapshotSpec::Latest => list::find_latest(rds, &v.source, prefix).await?,
        SnapshotSpec::Id(id) => rds::find_snapshot(rds, &v.source, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("snapshot {id} not found")))?,
    };
    if !snap.is_available() {
        return Err(Error::usage(format!(
            "snapshot {} is {}, not available; wait with `db-snapshot wait {} --snapshot {}`",
            snap.snapshot_id,
            snap.progress_text(),
            v.source.flag(),
            snap.snapshot_id
        )));
    }
    Ok(snap)
}

/// The body of `restore`, separate so tests can drive it with a mocked client.
pub async fn restore(
    ctx: &Context,
    rds: &Rds,
    v: &Validated,
    prefix: Option<&str>,
    timeout: HumanDuration,
) -> Result<RestoreResult> {
    match &v.source {
        Source::Instance(id) => restore_instance(ctx, rds, v, id, prefix, timeout).await,
        Source::Cluster(id) => restore_cluster(ctx, rds, v, id, prefix, timeout).await,
    }
}

fn announce_age(ctx: &Context, snap: &Snap, target: &str) -> Option<String> {
    let age = select::age(snap.created, Utc::now()).map(format_duration);
    ctx.out.info(format!(
        "snapshot {} was taken {} ({} ago): anything written since then will not be in {target}",
        snap.snapshot_id,
        snap.created
            .map_or("at an unknown time".into(), |t| t.to_rfc3339()),
        age.as_deref().unwrap_or("?"),
    ));
    age
}

async fn restore_instance(
    ctx: &Context,
    rds: &Rds,
    v: &Validated,
    source_id: &str,
    prefix: Option<&str>,
    timeout: HumanDuration,
) -> Result<RestoreResult> {
    let src = rds::get_instance(rds, source_id).await?;
    let snap = resolve_snapshot(rds, v, prefix).await?;
    check_engine(&snap, src.engine.as_deref(), &v.source)?;
    let age = announce_age(ctx, &snap, &v.target);
    // A target restored from this very snapshot for this source by an earlier
    // run (its tags say so) is carried on with, not restored again.
    let mut earlier = false;
    if let Some(t) = rds::find_instance(rds, &v.target).await? {
        if let Some(why) = readback::not_our_restore(
            &format!("target {}", v.target),
            &t.tags,
            &snap.snapshot_id,
            source_id,
        ) {
            return Err(Error::usage(format!(
                "{why} ({}); refusing to restore over it: choose another --target",
                t.status
            )));
        }
        ctx.out.info(format!(
            "{} was already restored from {} by an earlier run ({}): carrying on with it",
            v.target, snap.snapshot_id, t.status
        ));
        earlier = true;
    }
    if let Some(plan) = &v.swap
        && let Some(t) = rds::find_instance(rds, &plan.aside).await?
    {
        return Err(Error::usage(format!(
            "--swap would rename {} to {}, but that name is taken ({}); retry in a second",
            plan.source, plan.aside, t.status
        )));
    }

    let settings = settings_from(&src, &snap.snapshot_id);
    let mut planned = vec![PlannedCall::new(
        "RestoreDBInstanceFromDBSnapshot",
        json!({
            "DBInstanceIdentifier": v.target,
            "DBSnapshotIdentifier": snap.snapshot_id,
            "settings": settings,
        }),
    )];
    if let Some(plan) = &v.swap {
        planned.extend(plan.planned_calls());
    }
    let mut result = RestoreResult::before_restore(ctx, &snap, age, v, &settings);
    if ctx.dry_run() {
        return Ok(result.into_dry_run(ctx, rds, planned));
    }

    ctx.begin_change(&match &v.swap {
        Some(plan) => format!(
            "restore {} into {} and then swap it in as {} (the current one becomes {})",
            snap.snapshot_id, v.target, plan.source, plan.aside
        ),
        None => format!(
            "restore {} into new instance {}",
            snap.snapshot_id, v.target
        ),
    })
    .await?;
    let mut reattach = format!("db-snapshot wait --instance {}", v.target);
    if let Some(plan) = &v.swap {
        reattach.push_str(&format!(
            " && db-snapshot swap --instance {} --with {}",
            plan.source, plan.replacement
        ));
    }
    let journal = ctx.journal().await?;
    let restored = if earlier {
        wait::instance_available(ctx, rds, &v.target, timeout.0, Some(reattach.clone())).await?
    } else {
        let change = journal.intent(
            "db.restore",
            &format!("rds:instance/{}", v.target),
            json!({"target": null, "snapshot": snap.snapshot_id, "source": src}),
        )?;
        let change = match send_restore(rds, &v.target, &snap.snapshot_id, &settings).await {
            Ok(()) => change,
            Err(e) => {
                let found =
                    readback::restored_instance(rds, &v.target, &snap.snapshot_id, source_id).await;
                let what = format!("restoring {} into {}", snap.snapshot_id, v.target);
                let read_cmd = format!(
                    "aws rds describe-db-instances --db-instance-identifier {}",
                    v.target
                );
                readback::settle(ctx, change, e, found, &what, &read_cmd)?.0
            }
        };
        ctx.out
            .info(format!("restoring {} into {}", snap.snapshot_id, v.target));
        let waited =
            wait::instance_available(ctx, rds, &v.target, timeout.0, Some(reattach.clone())).await;
        if let Err(e) = &waited
            && !matches!(e, Error::Timeout { .. })
        {
            ctx.out.warn(format!(
                "{source_id} was not touched and still serves under its own name"
            ));
        }
        let waited = match (waited, &v.swap) {
            // Restored, not seen available: a partial change when a swap was to
            // follow (exit 7 with what is where), `unknown` in the journal.
            (Err(e), Some(plan)) if wait::is_transient(&e) => {
                let msg =
                    swap_inventory(v, plan, source_id, &format!("waiting for it failed: {e}"));
                change.unknown(
                    json!({"target": v.target, "status": "unknown", "source": source_id, "source_touched": false}),
                    msg.clone(),
                )?;
                return Err(Error::RevertFailed(msg));
            }
            (w, _) => w,
        };
        wait::record_wait(
            change,
            waited,
            |i| json!({"target": v.target, "status": i.status}),
            json!({"target": v.target, "status": "restoring", "source": source_id, "source_touched": false}),
            &reattach,
        )?
    };
    result.status = restored.status.clone();
    result.endpoint = restored.endpoint.as_ref().map(|e| e.address.clone());
    result.port = restored.endpoint.as_ref().and_then(|e| e.port);

    if let Some(plan) = &v.swap {
        if ctx.cancel().is_cancelled() {
            ctx.out.warn(format!(
                "interrupted before the swap: {} is restored and available, {} was not touched; \
                 to swap: db-snapshot swap --instance {} --with {}",
                v.target, plan.source, plan.source, plan.replacement
            ));
            return Err(Error::Interrupted);
        }
        // Whatever stops the swap's preflight (a read failing, throttled, or an
        // instance in a state the swap refuses), this command has restored: a
        // partial change, exit 7 with what is where.
        let (original, replacement) = match swap::preflight(rds, plan).await {
            Ok(p) => p,
            Err(e) => {
                return Err(Error::RevertFailed(swap_inventory(
                    v,
                    plan,
                    source_id,
                    &format!("the swap's preflight failed: {e}"),
                )));
            }
        };
        let done = match swap::swap(ctx, rds, plan, &original, &replacement, timeout.0).await {
            Ok(d) => d,
            // Already "human needed" with the inventory, or interrupted, or timed out
            // with its re-attach command: as they are.
            Err(e @ (Error::RevertFailed(_) | Error::Interrupted | Error::Timeout { .. })) => {
                return Err(e);
            }
            // The swap failed before renaming anything, but this command did restore:
            // a partial change (exit 7) with what is where, not a plain failure.
            Err(e) => {
                return Err(Error::RevertFailed(swap_inventory(
                    v,
                    plan,
                    source_id,
                    &format!("the swap failed before renaming anything: {e}"),
                )));
            }
        };
        result.endpoint = done.endpoint.as_ref().map(|e| e.address.clone());
        result.port = done.endpoint.as_ref().and_then(|e| e.port);
        result.swap = Some(done);
    }
    result.api_calls = rds.calls();
    Ok(result)
}

/// What is where after the restore of a `--swap` was made but the swap could
/// not start (a read kept failing), and the commands that carry on.
fn swap_inventory(v: &Validated, plan: &SwapPlan, source_id: &str, why: &str) -> String {
    format!(
        "{} was restored and NOT swapped ({why}); {source_id} is untouched and still serves under its own name, \
         {} holds the restored copy; continue with: db-snapshot wait --instance {} && db-snapshot swap --instance {} --with {} \
         (or run the same restore command again: it carries on with the instance it restored); \
         or drop the copy: aws rds delete-db-instance --db-instance-identifier {} --skip-final-snapshot",
        v.target, v.target, v.target, plan.source, plan.replacement, v.target
    )
}

/// RestoreDBInstanceFromDBSnapshot with the copied settings.
async fn send_restore(
    rds: &Rds,
    target: &str,
    snapshot_id: &str,
    settings: &InstanceSettings,
) -> std::result::Result<(), common::AwsError> {
    rds.client
        .restore_db_instance_from_db_snapshot()
        .db_instance_identifier(target)
        .db_snapshot_identifier(snapshot_id)
        .set_db_instance_class(settings.instance_class.clone())
        .set_db_subnet_group_name(settings.subnet_group.clone())
        .set_vpc_security_group_ids(
            (!settings.security_groups.is_empty()).then(|| settings.security_groups.clone()),
        )
        .set_db_parameter_group_name(settings.parameter_group.clone())
        .set_option_group_name(settings.option_group.clone())
        .set_multi_az(settings.multi_az)
        .set_storage_type(settings.storage_type.clone())
        .set_deletion_protection(settings.deletion_protection)
        .set_port(settings.port)
        .set_enable_iam_database_authentication(settings.iam_auth)
        .set_enable_cloudwatch_logs_exports(
            (!settings.log_exports.is_empty()).then(|| settings.log_exports.clone()),
        )
        .set_publicly_accessible(settings.publicly_accessible)
        .set_auto_minor_version_upgrade(settings.auto_minor_version_upgrade)
        .set_copy_tags_to_snapshot(settings.copy_tags_to_snapshot)
        .set_ca_certificate_identifier(settings.ca_certificate.clone())
        .set_tags(Some(rds::to_tags(&settings.tags)))
        .send()
        .await
        .aws("RestoreDBInstanceFromDBSnapshot")?;
    Ok(())
}

async fn restore_cluster(
    ctx: &Context,
    rds: &Rds,
    v: &Validated,
    source_id: &str,
    prefix: Option<&str>,
    timeout: HumanDuration,
) -> Result<RestoreResult> {
    let src = rds::get_cluster(rds, source_id).await?;
    let snap = resolve_snapshot(rds, v, prefix).await?;
    check_engine(&snap, src.engine.as_deref(), &v.source)?;
    let age = announce_age(ctx, &snap, &v.target);
    if let Some(t) = rds::find_cluster(rds, &v.target).await? {
        return Err(Error::usage(format!(
            "target cluster {} already exists ({}); refusing to restore over it: choose another --target",
            v.target, t.status
        )));
    }
    let settings = cluster_settings_from(&src, &snap.snapshot_id);
    // A restored cluster has no instances: applications cannot use it until one is
    // added. Give it a writer like the source's (same class), named after the target.
    let writer = match &src.writer {
        Some(w) => Some((writer_name(&v.target)?, rds::get_instance(rds, w).await?)),
        None => None,
    };
    let mut planned = vec![PlannedCall::new(
        "RestoreDBClusterFromSnapshot",
        json!({"DBClusterIdentifier": v.target, "SnapshotIdentifier": snap.snapshot_id, "settings": settings}),
    )];
    if let Some((name, like)) = &writer {
        planned.push(PlannedCall::new(
            "CreateDBInstance",
            json!({"DBInstanceIdentifier": name, "DBClusterIdentifier": v.target,
                   "DBInstanceClass": like.instance_class, "Engine": settings.engine}),
        ));
    }
    let mut result = RestoreResult::before_restore(ctx, &snap, age, v, &settings);
    if ctx.dry_run() {
        return Ok(result.into_dry_run(ctx, rds, planned));
    }
    ctx.begin_change(&format!(
        "restore {} into new cluster {}",
        snap.snapshot_id, v.target
    ))
    .await?;
    let journal = ctx.journal().await?;
    let change = journal.intent(
        "db.restore",
        &format!("rds:cluster/{}", v.target),
        json!({"target": null, "snapshot": snap.snapshot_id, "source": src}),
    )?;
    let sent = rds
        .client
        .restore_db_cluster_from_snapshot()
        .db_cluster_identifier(&v.target)
        .snapshot_identifier(&snap.snapshot_id)
        .set_engine(settings.engine.clone())
        .set_engine_version(settings.engine_version.clone())
        .set_db_subnet_group_name(settings.subnet_group.clone())
        .set_vpc_security_group_ids(
            (!settings.security_groups.is_empty()).then(|| settings.security_groups.clone()),
        )
        .set_db_cluster_parameter_group_name(settings.parameter_group.clone())
        .set_port(settings.port)
        .set_deletion_protection(settings.deletion_protection)
        .set_tags(Some(rds::to_tags(&settings.tags)))
        .send()
        .await
        .aws("RestoreDBClusterFromSnapshot");
    let change = match sent {
        Ok(_) => change,
        Err(e) => {
            let found =
                readback::restored_cluster(rds, &v.target, &snap.snapshot_id, source_id).await;
            let what = format!("restoring {} into cluster {}", snap.snapshot_id, v.target);
            let read_cmd = format!(
                "aws rds describe-db-clusters --db-cluster-identifier {}",
                v.target
            );
            readback::settle(ctx, change, e, found, &what, &read_cmd)?.0
        }
    };
    let reattach = format!("db-snapshot wait --cluster {}", v.target);
    let waited =
        wait::cluster_available(ctx, rds, &v.target, timeout.0, Some(reattach.clone())).await;
    let restored = wait::record_wait(
        change,
        waited,
        |c| json!({"target": v.target, "status": c.status}),
        json!({"target": v.target, "status": "restoring"}),
        &reattach,
    )?;
    result.status = restored.status;
    result.endpoint = restored.endpoint;
    result.port = restored.port;
    match &writer {
        Some((name, like)) => {
            let added = add_writer(ctx, rds, &v.target, name, like, &settings, &snap.snapshot_id, source_id, timeout).await;
            match added {
                Ok(()) => result.writer_instance = Some(name.clone()),
                Err(e @ (Error::Interrupted | Error::Timeout { .. })) => return Err(e),
                Err(e) => {
                    // Half made: a cluster nobody can connect to. A person decides.
                    let cluster_status = result.status.clone();
                    let class = like.instance_class.as_deref().unwrap_or("CLASS");
                    let engine = settings.engine.as_deref().unwrap_or("ENGINE");
                    let writer_now = match rds::find_instance(rds, name).await {
                        Ok(Some(i)) => i.status,
                        Ok(None) => "absent".to_owned(),
                        Err(re) => format!("unknown ({re})"),
                    };
                    let finish = format!(
                        "aws rds create-db-instance --db-instance-identifier {name} --db-cluster-identifier {} --db-instance-class {class} --engine {engine}",
                        v.target
                    );
                    let undo = format!(
                        "aws rds delete-db-cluster --db-cluster-identifier {} --skip-final-snapshot",
                        v.target
                    );
                    let msg = format!(
                        "restore half made: cluster {} is {} but its writer {name} could not be added ({e}). \
                         Now: cluster {} {}; instance {name} {writer_now}; {source_id} untouched. \
                         To finish: {finish}; to undo: {undo}",
                        v.target, cluster_status, v.target, cluster_status
                    );
                    result.status = "partial".into();
                    result.inventory = Some(json!({
                        "cluster": {"id": v.target, "status": cluster_status},
                        "writer": {"id": name, "status": writer_now},
                        "source": {"id": source_id, "touched": false},
                        "finish": finish,
                        "undo": undo,
                    }));
                    result.api_calls = rds.calls();
                    ctx.out.result(&result)?;
                    return Err(Error::RevertFailed(msg));
                }
            }
        }
        None => ctx.out.warn(format!(
            "cluster {} has no DB instances yet ({source_id} has no writer to copy): add one before pointing applications at it",
            v.target
        )),
    }
    result.api_calls = rds.calls();
    Ok(result)
}

/// `<target>-writer`, within the 63 characters an instance identifier may have.
fn writer_name(target: &str) -> Result<String> {
    let name = format!("{target}-writer");
    naming::validate(Kind::Instance, &name).map_err(|_| {
        Error::usage(format!(
            "--target {target} is too long to name its writer instance {name} (at most 56 characters for a cluster)"
        ))
    })?;
    Ok(name)
}

/// Creates the restored cluster's writer instance and waits for it. A failed
/// call is read back (an instance under `name` tagged as this restore is ours).
#[allow(clippy::too_many_arguments)]
async fn add_writer(
    ctx: &Context,
    rds: &Rds,
    cluster: &str,
    name: &str,
    like: &InstanceInfo,
    settings: &ClusterSettings,
    snapshot_id: &str,
    source_id: &str,
    timeout: HumanDuration,
) -> Result<()> {
    let journal = ctx.journal().await?;
    let change = journal.intent(
        "db.restore.writer",
        &format!("rds:instance/{name}"),
        json!({"instance": null, "cluster": cluster, "like": like.instance_id}),
    )?;
    let sent = rds
        .client
        .create_db_instance()
        .db_instance_identifier(name)
        .db_cluster_identifier(cluster)
        .set_engine(settings.engine.clone())
        .set_db_instance_class(like.instance_class.clone())
        .set_tags(Some(rds::to_tags(&settings.tags)))
        .send()
        .await
        .aws("CreateDBInstance");
    let change = match sent {
        Ok(_) => change,
        Err(e) => {
            let found = readback::restored_instance(rds, name, snapshot_id, source_id).await;
            let what = format!("adding writer {name} to cluster {cluster}");
            let read_cmd = format!("aws rds describe-db-instances --db-instance-identifier {name}");
            match readback::settle(ctx, change, e, found, &what, &read_cmd) {
                Ok((change, _)) => change,
                Err(e) => {
                    ctx.out.warn(format!(
                        "cluster {cluster} was restored but has no instance: add one before pointing applications at it"
                    ));
                    return Err(e);
                }
            }
        }
    };
    ctx.out.info(format!(
        "adding writer instance {name} to cluster {cluster}"
    ));
    let reattach = format!("db-snapshot wait --instance {name}");
    let waited = wait::instance_available(ctx, rds, name, timeout.0, Some(reattach.clone())).await;
    wait::record_wait(
        change,
        waited,
        |i| json!({"instance": name, "cluster": cluster, "status": i.status}),
        json!({"instance": name, "cluster": cluster, "status": "creating"}),
        &reattach,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> RestoreArgs {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct T {
            #[command(flatten)]
            a: RestoreArgs,
        }
        let mut argv = vec!["t"];
        argv.extend_from_slice(extra);
        T::parse_from(argv).a
    }

    #[test]
    fn snapshot_spec_from_id_latest_or_stdin() {
        let base = [
            "--instance",
            "ltc-db",
            "--target",
            "ltc-db-new",
            "--snapshot",
        ];
        let with = |s: &str| {
            let mut v = base.to_vec();
            v.push(s);
            args(&v)
        };
        let v = validate(&with("latest"), &mut std::io::empty()).unwrap();
        assert_eq!(v.snapshot, SnapshotSpec::Latest);
        let v = validate(&with("rds:ltc-db-2026-11-27-03-33"), &mut std::io::empty()).unwrap();
        assert_eq!(
            v.snapshot,
            SnapshotSpec::Id("rds:ltc-db-2026-11-27-03-33".into())
        );
        let mut stdin: &[u8] = br#"{"snapshot_id":"pre-deploy-ltc-db-20261127-033000"}"#;
        let v = validate(&with("-"), &mut stdin).unwrap();
        assert_eq!(
            v.snapshot,
            SnapshotSpec::Id("pre-deploy-ltc-db-20261127-033000".into())
        );
    }

    #[test]
    fn refuses_bad_targets_and_swap_shapes() {
        let cases: Vec<Vec<&str>> = vec![
            vec![
                "--instance",
                "ltc-db",
                "--target",
                "ltc-db",
                "--snapshot",
                "s1",
            ],
            vec![
                "--instance",
                "ltc-db",
                "--target",
                "LTC-DB",
                "--snapshot",
                "s1",
            ],
            vec![
                "--instance",
                "ltc-db",
                "--target",
                "new--db",
                "--snapshot",
                "s1",
            ],
            vec![
                "--instance",
                "ltc-db",
                "--target",
                "n",
                "--snapshot",
                "bad_id",
            ],
            vec![
                "--cluster",
                "ltc-aurora",
                "--target",
                "n",
                "--snapshot",
                "s1",
                "--swap",
            ],
            vec![
                "--instance",
                "ltc-db",
                "--target",
                "n",
                "--snapshot",
                "s1",
                "--prefix",
                "p",
            ],
            vec![
                "--instance",
                "a234567890123456789012345678901234567",
                "--target",
                "n",
                "--snapshot",
                "s1",
                "--swap",
            ],
        ];
        for c in cases {
            let err = validate(&args(&c), &mut std::io::empty()).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{c:?}: {err}");
        }
    }

    #[test]
    fn settings_are_copied_and_defaults_left_to_rds() {
        let src = InstanceInfo {
            instance_id: "ltc-db".into(),
            status: "available".into(),
            engine: Some("postgres".into()),
            engine_version: Some("16.4".into()),
            instance_class: Some("db.r6g.large".into()),
            subnet_group: Some("ltc-private".into()),
            security_groups: vec!["sg-1".into(), "sg-2".into()],
            parameter_groups: vec!["ltc-pg16".into()],
            option_groups: vec!["default:postgres-16".into()],
            multi_az: Some(true),
            storage_type: Some("gp3".into()),
            allocated_storage_gib: Some(100),
            deletion_protection: Some(true),
            port: Some(6543),
            iam_auth: Some(true),
            log_exports: vec!["postgresql".into(), "upgrade".into()],
            publicly_accessible: Some(false),
            auto_minor_version_upgrade: Some(false),
            copy_tags_to_snapshot: Some(true),
            ca_certificate: Some("rds-ca-rsa2048-g1".into()),
            tags: [
                ("app".to_owned(), "ltc".to_owned()),
                ("aws:cloudformation:stack-name".to_owned(), "x".to_owned()),
            ]
            .into_iter()
            .collect(),
            endpoint: None,
            resource_id: None,
        };
        let s = settings_from(&src, "snap-1");
        assert_eq!(s.instance_class.as_deref(), Some("db.r6g.large"));
        assert_eq!(s.subnet_group.as_deref(), Some("ltc-private"));
        assert_eq!(s.security_groups, ["sg-1", "sg-2"]);
        assert_eq!(s.parameter_group.as_deref(), Some("ltc-pg16"));
        assert_eq!(s.option_group, None);
        assert_eq!(s.multi_az, Some(true));
        assert_eq!(s.storage_type.as_deref(), Some("gp3"));
        assert_eq!(s.deletion_protection, Some(true));
        assert_eq!(s.port, Some(6543));
        assert_eq!(s.iam_auth, Some(true));
        assert_eq!(s.log_exports, ["postgresql", "upgrade"]);
        assert_eq!(s.publicly_accessible, Some(false));
        assert_eq!(s.auto_minor_version_upgrade, Some(false));
        assert_eq!(s.copy_tags_to_snapshot, Some(true));
        assert_eq!(s.ca_certificate.as_deref(), Some("rds-ca-rsa2048-g1"));
        assert_eq!(s.tags.get("app").map(String::as_str), Some("ltc"));
        assert_eq!(
            s.tags.get("ltc:restored-from").map(String::as_str),
            Some("snap-1")
        );
        assert!(!s.tags.keys().any(|k| k.starts_with("aws:")));
    }
}
