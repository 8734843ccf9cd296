//! Waiting for snapshots and instances with the shared poll helper (first look at
//! once, then 250 ms growing to a 10 s cap; `--timeout` and `LTC_DEADLINE`), the
//! percent RDS reports shown on stderr, and `db-snapshot wait` to re-attach after
//! a timeout.

use std::time::Duration;

use serde::Serialize;

use common::journal::{Change, Outcome};
use common::{AwsError, Context, Error, HumanDuration, Poll, Render, Result, WaitOptions};

use crate::naming;
use crate::rds::{self, ClusterInfo, InstanceInfo, Rds, Snap, Source, SourceArgs};

/// Statuses an instance or cluster does not leave on its own.
pub const STUCK_STATES: [&str; 7] = [
    "failed",
    "incompatible-restore",
    "incompatible-parameters",
    "incompatible-network",
    "incompatible-option-group",
    "storage-full",
    "inaccessible-encryption-credentials",
];

/// Failed reads in a row a wait looks past: the one budget of `common::wait`.
pub use common::wait::{READ_RETRIES, is_transient};

fn stuck(operation: &str, what: &str, status: &str) -> Error {
    Error::Aws(AwsError {
        operation: operation.to_owned(),
        code: Some(status.to_owned()),
        message: format!("{what} is {status}; it will not become available on its own"),
        status: None,
    })
}

/// Runs a wait unless a signal arrives first; then says how to re-attach (what
/// is waited for goes on in AWS) and returns `Interrupted` (exit 130).
async fn observed<T>(
    ctx: &Context,
    opts: &WaitOptions,
    wait: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let r = ctx.cancel().run(wait).await;
    if matches!(r, Err(Error::Interrupted)) {
        ctx.out.warn(match &opts.reattach {
            Some(cmd) => format!(
                "interrupted while waiting for {}; it goes on in AWS: re-attach with: {cmd}",
                opts.what
            ),
            None => format!("interrupted while waiting for {}", opts.what),
        });
    }
    r
}

/// Records the outcome of a change whose call was accepted and whose result was
/// then waited for: `ok` when it is ready, `interrupted` on a signal (`now` says
/// what is where, the message how to re-attach), `ok` with a note when the wait
/// timed out (the change was made and goes on), `failed` otherwise.
pub fn record_wait<T>(
    change: Change<'_>,
    waited: Result<T>,
    ready: impl FnOnce(&T) -> serde_json::Value,
    now: serde_json::Value,
    reattach: &str,
) -> Result<T> {
    match waited {
        Ok(v) => {
            change.ok(ready(&v))?;
            Ok(v)
        }
        Err(Error::Interrupted) => {
            change.interrupted(
                now,
                format!("stopped waiting on a signal; the change goes on in AWS; re-attach with: {reattach}"),
            )?;
            Err(Error::Interrupted)
        }
        Err(e @ Error::Timeout { .. }) => {
            change.finish(
                Outcome::Ok,
                now,
                Some(format!(
                    "accepted; still in progress when the wait timed out; re-attach with: {reattach}"
                )),
            )?;
            Err(e)
        }
        Err(e) => {
            change.failed(now, e.to_string())?;
            Err(e)
        }
    }
}

/// Waits until the snapshot is available, showing status and percent.
pub async fn snapshot_available(
    ctx: &Context,
    rds: &Rds,
    source: &Source,
    snapshot_id: &str,
    timeout: Duration,
) -> Result<Snap> {
    let opts = WaitOptions::new(format!("snapshot {snapshot_id}"), timeout).reattach(format!(
        "db-snapshot wait {} --snapshot {snapshot_id}",
        source.flag()
    ));
    let wait = common::poll_until(&ctx.out, &opts, || async {
        match rds::find_snapshot(rds, source, snapshot_id).await? {
            None => Err(Error::NotFound(format!(
                "snapshot {snapshot_id} no longer exists (deleted while waiting?)"
            ))),
            Some(s) if s.is_available() => Ok(Poll::Done(s)),
            Some(s) if matches!(s.status.as_str(), "failed" | "deleted" | "deleting") => {
                Err(stuck(
                    "CreateDBSnapshot",
                    &format!("snapshot {snapshot_id}"),
                    &s.status,
                ))
            }
            Some(s) => Ok(Poll::Pending(s.progress_text())),
        }
    });
    observed(ctx, &opts, wait).await
}

/// Waits until the DB instance `id` exists and is available. `reattach` is the
/// command printed on timeout.
pub async fn instance_available(
    ctx: &Context,
    rds: &Rds,
    id: &str,
    timeout: Duration,
    reattach: Option<String>,
) -> Result<InstanceInfo> {
    let mut opts = WaitOptions::new(format!("DB instance {id}"), timeout);
    opts.reattach = reattach;
    // Reads that fail after the SDK's attempts (5xx, reset, lost answer) are
    // looked at again by poll_until (common::wait::READ_RETRIES in a row): what
    // is waited for was already asked for, a failed look says nothing about it.
    let wait = common::poll_until(&ctx.out, &opts, || async {
        let found = rds::find_instance(rds, id).await?;
        match found {
            // Just after a restore or rename the new name can take a moment to appear.
            None => Ok(Poll::Pending("not visible yet".to_owned())),
            Some(i) if i.status == "available" => Ok(Poll::Done(i)),
            Some(i) if STUCK_STATES.contains(&i.status.as_str()) => Err(stuck(
                "DescribeDBInstances",
                &format!("DB instance {id}"),
                &i.status,
            )),
            Some(i) => Ok(Poll::Pending(i.status)),
        }
    });
    observed(ctx, &opts, wait).await
}

/// Waits until the DB cluster `id` exists and is available.
pub async fn cluster_available(
    ctx: &Context,
    rds: &Rds,
    id: &str,
    timeout: Duration,
    reattach: Option<String>,
) -> Result<ClusterInfo> {
    let mut opts = WaitOptions::new(format!("DB cluster {id}"), timeout);
    opts.reattach = reattach;
    let wait = common::poll_until(&ctx.out, &opts, || async {
        match rds::find_cluster(rds, id).await? {
            None => Ok(Poll::Pending("not visible yet".to_owned())),
            Some(c) if c.status == "available" => Ok(Poll::Done(c)),
            Some(c) if STUCK_STATES.contains(&c.status.as_str()) => Err(stuck(
                "DescribeDBClusters",
                &format!("DB cluster {id}"),
                &c.status,
            )),
            Some(c) => Ok(Poll::Pending(c.status)),
        }
    });
    observed(ctx, &opts, wait).await
}

/// Waits until nothing is named `id` any more (the old name after a rename).
pub async fn instance_gone(ctx: &Context, rds: &Rds, id: &str, timeout: Duration) -> Result<()> {
    let opts = WaitOptions::new(format!("the name {id} to be free"), timeout);
    let wait = common::poll_until(&ctx.out, &opts, || async {
        Ok(match rds::find_instance(rds, id).await? {
            None => Poll::Done(()),
            Some(i) => Poll::Pending(format!("still in use ({})", i.status)),
        })
    });
    observed(ctx, &opts, wait).await
}

/// `db-snapshot wait`: re-attach to a snapshot, restore or rename that timed out.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Wait for this snapshot to become available (else wait for the instance/cluster).
    #[arg(long, value_name = "SNAPSHOT_ID")]
    pub snapshot: Option<String>,

    /// Give up after this long (exit 5); LTC_DEADLINE also applies.
    #[arg(long, default_value = "60m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct WaitResult {
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
}

impl Render for WaitResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match (&self.snapshot, &self.instance, &self.cluster) {
            (Some(s), _, _) => writeln!(w, "snapshot {} is {}", s.snapshot_id, s.status),
            (_, Some(i), _) => writeln!(
                w,
                "DB instance {} is {} at {}",
                i.instance_id,
                i.status,
                i.endpoint
                    .as_ref()
                    .map(|e| e.address.as_str())
                    .unwrap_or("(no endpoint)")
            ),
            (_, _, Some(c)) => writeln!(
                w,
                "DB cluster {} is {} at {}",
                c.cluster_id,
                c.status,
                c.endpoint.as_deref().unwrap_or("(no endpoint)")
            ),
            _ => Ok(()),
        }
    }
}

pub async fn run(ctx: &Context, args: &WaitArgs) -> Result<()> {
    let source = args.source.source()?;
    if let Some(s) = &args.snapshot {
        naming::validate_snapshot_ref(s)?;
    }
    let rds = Rds::new(&ctx.aws().await?.config);
    let timeout = args.timeout.0;
    let mut result = WaitResult {
        source: source.clone(),
        snapshot: None,
        instance: None,
        cluster: None,
    };
    match (&args.snapshot, &source) {
        (Some(snap), _) => {
            result.snapshot = Some(snapshot_available(ctx, &rds, &source, snap, timeout).await?);
        }
        (None, Source::Instance(id)) => {
            rds::get_instance(&rds, id).await?;
            let reattach = format!("db-snapshot wait --instance {id}");
            result.instance =
                Some(instance_available(ctx, &rds, id, timeout, Some(reattach)).await?);
        }
        (None, Source::Cluster(id)) => {
            rds::get_cluster(&rds, id).await?;
            let reattach = format!("db-snapshot wait --cluster {id}");
            result.cluster = Some(cluster_available(ctx, &rds, id, timeout, Some(reattach)).await?);
        }
    }
    ctx.out.result(&result)
}
