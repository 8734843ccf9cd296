//! After a mutating call fails, read the world back before deciding: a request
//! that reached RDS but whose answer was lost (a 5xx, timeout or reset, then the
//! SDK's retry meeting `DBSnapshotAlreadyExists`/`DBInstanceAlreadyExists`)
//! made the resource. The deterministic name this intent chose is the
//! idempotency key; the read proves the resource is ours (same source, the
//! tags this tool puts on it). Only when the read cannot decide is the outcome
//! `unknown` (exit 7 with the read command).

use std::collections::BTreeMap;

use serde_json::Value;

use common::journal::Change;
use common::{AwsError, Context, Error, Result};

use crate::rds::{self, ClusterInfo, InstanceInfo, Rds, Snap, Source};

/// What the read-back found under the name the call asked for.
#[derive(Debug)]
pub enum Verdict<T> {
    /// It exists and is ours: the call worked, only its answer was lost.
    Ours(T),
    /// Nothing under that name: the call did not take effect.
    Absent,
    /// Something else holds the name (why).
    NotOurs(String),
    /// The read failed too.
    Unreadable(Error),
}

fn verdict<T>(read: Result<Option<T>>, ours: impl FnOnce(&T) -> Option<String>) -> Verdict<T> {
    match read {
        Ok(None) => Verdict::Absent,
        Ok(Some(v)) => match ours(&v) {
            None => Verdict::Ours(v),
            Some(why) => Verdict::NotOurs(why),
        },
        Err(e) => Verdict::Unreadable(e),
    }
}

/// A snapshot is ours when it was taken from our source and, if it carries
/// `ltc:created-by`, by us.
pub async fn snapshot(
    rds: &Rds,
    source: &Source,
    id: &str,
    our_tags: &BTreeMap<String, String>,
) -> Verdict<Snap> {
    verdict(rds::find_snapshot(rds, source, id).await, |s| {
        if s.source != source.id() {
            return Some(format!(
                "snapshot {id} exists but was taken from {}, not {}",
                s.source,
                source.id()
            ));
        }
        let key = "ltc:created-by";
        match (s.tags.get(key), our_tags.get(key)) {
            (Some(theirs), Some(ours)) if theirs != ours => Some(format!(
                "snapshot {id} exists but was created by {theirs}, not {ours}"
            )),
            _ => None,
        }
    })
}

/// Why tags do not show a restore of `snapshot` for `source`, or `None`.
pub fn not_our_restore(
    what: &str,
    tags: &BTreeMap<String, String>,
    snapshot: &str,
    source: &str,
) -> Option<String> {
    let from = tags.get("ltc:restored-from").map(String::as_str);
    let for_ = tags.get("ltc:restored-for").map(String::as_str);
    if from == Some(rds::tag_value(snapshot).as_str())
        && for_ == Some(rds::tag_value(source).as_str())
    {
        None
    } else {
        Some(format!(
            "{what} exists but is not a restore of {snapshot} for {source} (tags ltc:restored-from={}, ltc:restored-for={})",
            from.unwrap_or("none"),
            for_.unwrap_or("none")
        ))
    }
}

/// An instance restored from `snapshot` for `source` (its tags say so).
pub async fn restored_instance(
    rds: &Rds,
    id: &str,
    snapshot: &str,
    source: &str,
) -> Verdict<InstanceInfo> {
    verdict(rds::find_instance(rds, id).await, |i| {
        not_our_restore(&format!("DB instance {id}"), &i.tags, snapshot, source)
    })
}

/// A cluster restored from `snapshot` for `source` (its tags say so).
pub async fn restored_cluster(
    rds: &Rds,
    id: &str,
    snapshot: &str,
    source: &str,
) -> Verdict<ClusterInfo> {
    verdict(rds::find_cluster(rds, id).await, |c| {
        not_our_restore(&format!("DB cluster {id}"), &c.tags, snapshot, source)
    })
}

/// Decides a failed call from the read-back. `Ok` hands the change back (still
/// open: the caller waits and then records the outcome); otherwise the change
/// is recorded `failed` (exit 3) or `unknown` (exit 7 with `read_cmd`).
pub fn settle<'a, T>(
    ctx: &Context,
    change: Change<'a>,
    err: AwsError,
    found: Verdict<T>,
    what: &str,
    read_cmd: &str,
) -> Result<(Change<'a>, T)> {
    match found {
        Verdict::Ours(v) => {
            ctx.out.warn(format!(
                "the answer to {what} was lost ({err}), but reading back shows it was made: carrying on"
            ));
            Ok((change, v))
        }
        Verdict::Absent => {
            change.failed(Value::Null, err.to_string())?;
            Err(err.into())
        }
        Verdict::NotOurs(why) => {
            change.failed(Value::Null, format!("{err}; {why}"))?;
            let mut err = err;
            err.message = format!("{}; {why}", err.message);
            Err(err.into())
        }
        Verdict::Unreadable(read) => {
            let msg = format!(
                "{what}: no clear answer ({err}) and reading back failed ({read}); whether it was made \
                 is unknown: check with: {read_cmd}"
            );
            change.unknown(Value::Null, msg.clone())?;
            Err(Error::RevertFailed(msg))
        }
    }
}
