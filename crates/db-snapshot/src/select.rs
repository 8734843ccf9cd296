//! Choosing snapshots, as pure functions: the listing order, "the latest
//! available one", and what `prune` may delete (never automated ones, never the
//! newest, keep N, optionally only those older than a cut-off).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::rds::Snap;

/// Which snapshot types `list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(rename_all = "lowercase")]
pub enum TypeFilter {
    Manual,
    Automated,
    All,
}

impl TypeFilter {
    pub fn accepts(self, s: &Snap) -> bool {
        match self {
            TypeFilter::Manual => s.snapshot_type == "manual",
            TypeFilter::Automated => s.snapshot_type == "automated",
            TypeFilter::All => true,
        }
    }
}

/// Newest first. A snapshot without a creation time is still being made, so it
/// counts as the newest; ties are broken by name so the order is stable.
pub fn sort_newest_first(snaps: &mut [Snap]) {
    snaps.sort_by(|a, b| match (a.created, b.created) {
        (None, None) => b.snapshot_id.cmp(&a.snapshot_id),
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => y.cmp(&x).then_with(|| b.snapshot_id.cmp(&a.snapshot_id)),
    });
}

fn matches_prefix(s: &Snap, prefix: Option<&str>) -> bool {
    prefix.is_none_or(|p| s.snapshot_id.starts_with(p))
}

/// The snapshots `list` shows, newest first.
pub fn listing(mut snaps: Vec<Snap>, prefix: Option<&str>, filter: TypeFilter) -> Vec<Snap> {
    snaps.retain(|s| filter.accepts(s) && matches_prefix(s, prefix));
    sort_newest_first(&mut snaps);
    snaps
}

/// The newest snapshot that is available (restorable now), if any.
pub fn latest_available<'a>(snaps: &'a [Snap], prefix: Option<&str>) -> Option<&'a Snap> {
    snaps
        .iter()
        .filter(|s| s.is_available() && s.created.is_some() && matches_prefix(s, prefix))
        .max_by(|a, b| {
            a.created
                .cmp(&b.created)
                .then_with(|| a.snapshot_id.cmp(&b.snapshot_id))
        })
}

/// How old a snapshot is at `now` (zero if its clock is ahead of ours).
pub fn age(created: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Duration> {
    created.map(|c| (now - c).to_std().unwrap_or(Duration::ZERO))
}

/// What `prune` keeps, with the reason, and what it deletes.
#[derive(Debug, Clone, Serialize)]
pub struct PrunePlan {
    pub delete: Vec<Snap>,
    pub keep: Vec<Kept>,
}

#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Kept {
    pub snapshot_id: String,
    pub reason: String,
}

/// Decides what `prune` deletes. Only available manual snapshots matching the
/// prefix are candidates; the newest `keep` of them stay (and `keep` is at least
/// one, so the newest always stays); beyond that, with `older_than`, only those
/// older than the cut-off go. The newest available snapshot of any type is never
/// deleted, whatever the arguments.
pub fn prune_plan(
    snaps: &[Snap],
    keep: usize,
    older_than: Option<Duration>,
    prefix: Option<&str>,
    now: DateTime<Utc>,
) -> PrunePlan {
    let keep = keep.max(1);
    let newest_overall = latest_available(snaps, None).map(|s| s.snapshot_id.clone());
    let mut sorted = snaps.to_vec();
    sort_newest_first(&mut sorted);
    let mut plan = PrunePlan {
        delete: Vec::new(),
        keep: Vec::new(),
    };
    let mut kept_candidates = 0usize;
    for s in sorted {
        let reason = if !s.is_manual() {
            Some(format!("{} snapshot (never pruned)", s.snapshot_type))
        } else if !matches_prefix(&s, prefix) {
            Some("does not match the prefix".to_owned())
        } else if !s.is_available() || s.created.is_none() {
            Some(format!(
                "status {} (only available snapshots are pruned)",
                s.status
            ))
        } else if newest_overall.as_deref() == Some(s.snapshot_id.as_str()) {
            kept_candidates += 1;
            Some("newest snapshot".to_owned())
        } else if kept_candidates < keep {
            kept_candidates += 1;
            Some(format!("within the newest {keep}"))
        } else if let Some(min_age) = older_than
            && age(s.created, now).is_some_and(|a| a < min_age)
        {
            Some(format!(
                "younger than {}",
                common::duration::format_duration(min_age)
            ))
        } else {
            None
        };
        match reason {
            Some(reason) => plan.keep.push(Kept {
                snapshot_id: s.snapshot_id.clone(),
                reason,
            }),
            None => plan.delete.push(s),
        }
    }
    plan
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;

    pub(crate) fn at(minutes_ago: i64) -> Option<DateTime<Utc>> {
        Some(now() - chrono::Duration::minutes(minutes_ago))
    }

    pub(crate) fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T04:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    pub(crate) fn snap(id: &str, kind: &str, status: &str, minutes_ago: Option<i64>) -> Snap {
        Snap {
            snapshot_id: id.into(),
            source: "ltc-db".into(),
            snapshot_type: kind.into(),
            status: status.into(),
            created: minutes_ago.and_then(at),
            engine: Some("postgres".into()),
            engine_version: None,
            allocated_storage_gib: Some(20),
            percent_progress: None,
            tags: BTreeMap::new(),
        }
    }

    fn ids(snaps: &[Snap]) -> Vec<&str> {
        snaps.iter().map(|s| s.snapshot_id.as_str()).collect()
    }

    #[test]
    fn listing_is_newest_first_with_in_progress_on_top() {
        let snaps = vec![
            snap("old", "manual", "available", Some(300)),
            snap("rds:auto", "automated", "available", Some(60)),
            snap("making", "manual", "creating", None),
            snap("mid", "manual", "available", Some(120)),
        ];
        assert_eq!(
            ids(&listing(snaps.clone(), None, TypeFilter::All)),
            ["making", "rds:auto", "mid", "old"]
        );
        assert_eq!(
            ids(&listing(snaps.clone(), None, TypeFilter::Manual)),
            ["making", "mid", "old"]
        );
        assert_eq!(
            ids(&listing(snaps.clone(), None, TypeFilter::Automated)),
            ["rds:auto"]
        );
        assert_eq!(ids(&listing(snaps, Some("mi"), TypeFilter::All)), ["mid"]);
    }

    #[test]
    fn latest_skips_unavailable_and_honours_prefix() {
        let snaps = vec![
            snap("pre-deploy-a", "manual", "available", Some(300)),
            snap("rds:auto", "automated", "available", Some(60)),
            snap("pre-deploy-b", "manual", "creating", Some(5)),
            snap("failed-one", "manual", "failed", Some(1)),
        ];
        assert_eq!(
            latest_available(&snaps, None).map(|s| s.snapshot_id.as_str()),
            Some("rds:auto")
        );
        assert_eq!(
            latest_available(&snaps, Some("pre-deploy")).map(|s| s.snapshot_id.as_str()),
            Some("pre-deploy-a")
        );
        assert!(latest_available(&snaps, Some("nope")).is_none());
        assert!(latest_available(&[], None).is_none());
    }

    #[test]
    fn prune_keeps_n_newest_manual_and_never_automated() {
        let snaps = vec![
            snap("m1", "manual", "available", Some(10)),
            snap("m2", "manual", "available", Some(20)),
            snap("m3", "manual", "available", Some(30)),
            snap("m4", "manual", "available", Some(40)),
            snap("rds:a1", "automated", "available", Some(5)),
            snap("rds:a2", "automated", "available", Some(5000)),
        ];
        let plan = prune_plan(&snaps, 2, None, None, now());
        assert_eq!(ids(&plan.delete), ["m3", "m4"]);
        assert!(
            plan.keep
                .iter()
                .any(|k| k.snapshot_id == "rds:a2" && k.reason.contains("automated"))
        );
    }

    #[test]
    fn prune_older_than_spares_recent_snapshots_beyond_keep() {
        let snaps = vec![
            snap("m1", "manual", "available", Some(10)),
            snap("m2", "manual", "available", Some(60 * 24 * 2)),
            snap("m3", "manual", "available", Some(60 * 24 * 40)),
        ];
        let plan = prune_plan(
            &snaps,
            1,
            Some(Duration::from_secs(30 * 86_400)),
            None,
            now(),
        );
        assert_eq!(ids(&plan.delete), ["m3"]);
        assert!(
            plan.keep
                .iter()
                .any(|k| k.snapshot_id == "m2" && k.reason.starts_with("younger"))
        );
    }

    #[test]
    fn prune_never_deletes_the_newest_even_with_keep_zero() {
        let snaps = vec![
            snap("only", "manual", "available", Some(10_000)),
            snap("older", "manual", "available", Some(20_000)),
        ];
        let plan = prune_plan(&snaps, 0, Some(Duration::from_secs(1)), None, now());
        assert_eq!(ids(&plan.delete), ["older"]);
        assert_eq!(plan.keep[0].snapshot_id, "only");
    }

    #[test]
    fn prune_leaves_in_progress_and_other_prefixes_alone() {
        let snaps = vec![
            snap("pre-deploy-1", "manual", "available", Some(10)),
            snap("pre-deploy-2", "manual", "creating", Some(20)),
            snap("keepme-3", "manual", "available", Some(30)),
            snap("pre-deploy-4", "manual", "available", Some(40)),
        ];
        let plan = prune_plan(&snaps, 1, None, Some("pre-deploy"), now());
        assert_eq!(ids(&plan.delete), ["pre-deploy-4"]);
    }
}
