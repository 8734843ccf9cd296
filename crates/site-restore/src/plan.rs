//! The pure part: from a bucket's version listing, what is current, what was
//! current at a given time, and what must change to return to a target state.
//! No AWS calls here, so every rule is unit-tested.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::manifest::ObjectRecord;

/// What a listing entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Version { etag: String, size: i64 },
    DeleteMarker,
}

/// One entry of ListObjectVersions (a version or a delete marker), in the order
/// S3 returned it (each key's versions newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    pub key: String,
    pub version_id: String,
    pub is_latest: bool,
    pub last_modified: DateTime<Utc>,
    pub kind: EntryKind,
}

impl VersionEntry {
    fn record(&self) -> Option<ObjectRecord> {
        match &self.kind {
            EntryKind::Version { etag, size } => Some(ObjectRecord {
                version_id: self.version_id.clone(),
                etag: etag.clone(),
                size: *size,
                last_modified: self.last_modified,
            }),
            EntryKind::DeleteMarker => None,
        }
    }
}

fn by_key(entries: &[VersionEntry]) -> BTreeMap<&str, Vec<&VersionEntry>> {
    let mut map: BTreeMap<&str, Vec<&VersionEntry>> = BTreeMap::new();
    for e in entries {
        map.entry(e.key.as_str()).or_default().push(e);
    }
    map
}

/// The content now: every key whose latest entry is a version (a key whose
/// latest entry is a delete marker does not exist).
pub fn current_state(entries: &[VersionEntry]) -> BTreeMap<String, ObjectRecord> {
    let mut out = BTreeMap::new();
    for (key, list) in by_key(entries) {
        let latest = list
            .iter()
            .find(|e| e.is_latest)
            .copied()
            .or_else(|| newest(&list, None).0);
        if let Some(rec) = latest.and_then(|e| e.record()) {
            out.insert(key.to_owned(), rec);
        }
    }
    out
}

/// The content at a past moment, and the keys whose state at that moment cannot
/// be told apart from the listing alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateAt {
    pub objects: BTreeMap<String, ObjectRecord>,
    /// A version and a delete marker of the key carry the same (whole-second)
    /// time, so which came last is unknown; the version was taken.
    pub ambiguous: Vec<String>,
}

/// The newest entry at or before `at` (all entries when `None`), and whether
/// the choice was a guess between a version and a delete marker of the same second.
fn newest<'a>(
    list: &[&'a VersionEntry],
    at: Option<DateTime<Utc>>,
) -> (Option<&'a VersionEntry>, bool) {
    let candidates: Vec<&VersionEntry> = list
        .iter()
        .copied()
        .filter(|e| at.is_none_or(|t| e.last_modified <= t))
        .collect();
    let Some(max) = candidates.iter().map(|e| e.last_modified).max() else {
        return (None, false);
    };
    let tied: Vec<&VersionEntry> = candidates
        .into_iter()
        .filter(|e| e.last_modified == max)
        .collect();
    if let Some(latest) = tied.iter().find(|e| e.is_latest) {
        return (Some(latest), false);
    }
    // Versions of one key are listed newest first, so the first version listed
    // is the newest of its second; against a delete marker of the same second
    // the order is unknown.
    let first_version = tied
        .iter()
        .find(|e| matches!(e.kind, EntryKind::Version { .. }));
    let has_marker = tied
        .iter()
        .any(|e| matches!(e.kind, EntryKind::DeleteMarker));
    match first_version {
        Some(v) => (Some(v), has_marker),
        None => (tied.first().copied(), false),
    }
}

/// Reconstructs the content at `at` from the listing, delete markers included:
/// for each key the newest entry not after `at`; a delete marker (or no entry
/// yet) means the key did not exist.
pub fn state_at(entries: &[VersionEntry], at: DateTime<Utc>) -> StateAt {
    let mut out = StateAt::default();
    for (key, list) in by_key(entries) {
        let (entry, ambiguous) = newest(&list, Some(at));
        if ambiguous {
            out.ambiguous.push(key.to_owned());
        }
        if let Some(rec) = entry.and_then(|e| e.record()) {
            out.objects.insert(key.to_owned(), rec);
        }
    }
    out
}

/// Every version (not delete markers) in the listing, by key and version id.
pub fn versions_index(entries: &[VersionEntry]) -> HashMap<(String, String), ObjectRecord> {
    entries
        .iter()
        .filter_map(|e| {
            e.record()
                .map(|r| ((e.key.clone(), e.version_id.clone()), r))
        })
        .collect()
}

/// A key to copy an older version onto.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Copy {
    pub key: String,
    /// The version current now (`None`: the key is deleted now).
    pub from_version: Option<String>,
    pub to_version: String,
    pub size: i64,
    /// The target version's ETag: a read-back after a lost CopyObject answer
    /// compares the key's current ETag and size with it.
    #[serde(skip)]
    pub etag: String,
}

/// A key that did not exist in the target state: gets a delete marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Removal {
    pub key: String,
    pub current_version: String,
}

/// A recorded version that the bucket no longer has (deleted permanently).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Missing {
    pub key: String,
    pub version_id: String,
}

/// What must change to return to the target state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Plan {
    /// Keys that exist now with other content: copy the target version back.
    pub restore: Vec<Copy>,
    /// Keys that exist now but did not then: add a delete marker.
    pub remove: Vec<Removal>,
    /// Keys deleted since: copy the target version back.
    pub bring_back: Vec<Copy>,
    /// Keys whose current content is already the target's.
    pub unchanged: usize,
    /// Target versions the bucket no longer holds: the restore cannot be complete.
    pub missing: Vec<Missing>,
}

impl Plan {
    pub fn change_count(&self) -> usize {
        self.restore.len() + self.remove.len() + self.bring_back.len()
    }

    pub fn is_empty(&self) -> bool {
        self.change_count() == 0
    }

    /// Keys that change, sorted.
    pub fn changed_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .restore
            .iter()
            .chain(&self.bring_back)
            .map(|c| c.key.as_str())
            .chain(self.remove.iter().map(|r| r.key.as_str()))
            .collect();
        keys.sort_unstable();
        keys
    }

    /// The copies, restores first then bring-backs.
    pub fn copies(&self) -> impl Iterator<Item = &Copy> {
        self.restore.iter().chain(&self.bring_back)
    }
}

/// Same content: the very version, or a version with the same ETag and size
/// (a copy made by an earlier restore, or an identical re-upload). This is what
/// makes a second restore change nothing.
pub fn same_content(a: &ObjectRecord, b: &ObjectRecord) -> bool {
    a.version_id == b.version_id || (a.etag == b.etag && a.size == b.size)
}

/// Compares the target state with the current one. Target versions are looked
/// up in `available` (the listing), which is authoritative for ETag and size; a
/// target version not found there is reported as missing.
pub fn diff(
    target: &BTreeMap<String, ObjectRecord>,
    current: &BTreeMap<String, ObjectRecord>,
    available: &HashMap<(String, String), ObjectRecord>,
) -> Plan {
    let mut plan = Plan::default();
    for (key, wanted) in target {
        let Some(wanted) = available.get(&(key.clone(), wanted.version_id.clone())) else {
            plan.missing.push(Missing {
                key: key.clone(),
                version_id: wanted.version_id.clone(),
            });
            continue;
        };
        match current.get(key) {
            Some(now) if same_content(now, wanted) => plan.unchanged += 1,
            Some(now) => plan.restore.push(Copy {
                key: key.clone(),
                from_version: Some(now.version_id.clone()),
                to_version: wanted.version_id.clone(),
                size: wanted.size,
                etag: wanted.etag.clone(),
            }),
            None => plan.bring_back.push(Copy {
                key: key.clone(),
                from_version: None,
                to_version: wanted.version_id.clone(),
                size: wanted.size,
                etag: wanted.etag.clone(),
            }),
        }
    }
    for (key, now) in current {
        if !target.contains_key(key) {
            plan.remove.push(Removal {
                key: key.clone(),
                current_version: now.version_id.clone(),
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        format!("2026-01-01T{s}Z").parse().unwrap()
    }

    fn v(key: &str, id: &str, at: &str, etag: &str, latest: bool) -> VersionEntry {
        VersionEntry {
            key: key.into(),
            version_id: id.into(),
            is_latest: latest,
            last_modified: t(at),
            kind: EntryKind::Version {
                etag: etag.into(),
                size: etag.len() as i64,
            },
        }
    }

    fn dm(key: &str, id: &str, at: &str, latest: bool) -> VersionEntry {
        VersionEntry {
            key: key.into(),
            version_id: id.into(),
            is_latest: latest,
            last_modified: t(at),
            kind: EntryKind::DeleteMarker,
        }
    }

    /// Deploy 1 at 10:00 (a, b, gone), deploy 2 at 11:00 (a changed, new added,
    /// gone deleted), deploy 3 at 12:00 (b deleted, gone brought back).
    fn history() -> Vec<VersionEntry> {
        vec![
            v("a", "a2", "11:00:00", "A2", true),
            v("a", "a1", "10:00:00", "A1", false),
            v("b", "b1", "10:00:00", "B1", false),
            v("gone", "g2", "12:00:00", "G2", true),
            v("gone", "g1", "10:00:00", "G1", false),
            v("new", "n1", "11:00:00", "N1", true),
            dm("b", "bd", "12:00:00", true),
            dm("gone", "gd", "11:00:00", false),
        ]
    }

    fn ids(m: &BTreeMap<String, ObjectRecord>) -> Vec<(String, String)> {
        m.iter()
            .map(|(k, r)| (k.clone(), r.version_id.clone()))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn current_state_skips_keys_whose_latest_is_a_delete_marker() {
        let now = current_state(&history());
        assert_eq!(
            ids(&now),
            pairs(&[("a", "a2"), ("gone", "g2"), ("new", "n1")])
        );
    }

    #[test]
    fn state_at_follows_versions_and_delete_markers_through_time() {
        let h = history();
        assert!(state_at(&h, t("09:59:59")).objects.is_empty());
        assert_eq!(
            ids(&state_at(&h, t("10:30:00")).objects),
            pairs(&[("a", "a1"), ("b", "b1"), ("gone", "g1")])
        );
        // Exactly at a deploy's second counts that deploy in.
        assert_eq!(
            ids(&state_at(&h, t("11:00:00")).objects),
            pairs(&[("a", "a2"), ("b", "b1"), ("new", "n1")])
        );
        assert_eq!(
            ids(&state_at(&h, t("13:00:00")).objects),
            ids(&current_state(&h))
        );
    }

    #[test]
    fn state_at_takes_the_newest_version_of_a_second_and_flags_marker_ties() {
        // Two versions within one second: listed newest first.
        let h = vec![
            v("k", "new", "10:00:00", "X", false),
            v("k", "old", "10:00:00", "Y", false),
            dm("k", "d", "11:00:00", true),
        ];
        let s = state_at(&h, t("10:00:00"));
        assert_eq!(s.objects["k"].version_id, "new");
        assert!(s.ambiguous.is_empty());

        // A version and a delete marker within one second: unknown order.
        let h = vec![
            v("k", "v", "10:00:00", "X", false),
            dm("k", "d", "10:00:00", false),
            v("k", "v2", "11:00:00", "Z", true),
        ];
        let s = state_at(&h, t("10:30:00"));
        assert_eq!(s.ambiguous, vec!["k".to_owned()]);
        assert_eq!(s.objects["k"].version_id, "v");
    }

    #[test]
    fn diff_sorts_keys_into_restore_remove_bring_back_and_unchanged() {
        let h = history();
        let target = state_at(&h, t("10:30:00")).objects;
        let plan = diff(&target, &current_state(&h), &versions_index(&h));
        assert_eq!(
            plan.restore,
            vec![
                Copy {
                    key: "a".into(),
                    from_version: Some("a2".into()),
                    to_version: "a1".into(),
                    size: 2,
                    etag: "A1".into()
                },
                // g2 is current now, g1 was then: other content.
                Copy {
                    key: "gone".into(),
                    from_version: Some("g2".into()),
                    to_version: "g1".into(),
                    size: 2,
                    etag: "G1".into()
                }
            ]
        );
        assert_eq!(
            plan.bring_back,
            vec![Copy {
                key: "b".into(),
                from_version: None,
                to_version: "b1".into(),
                size: 2,
                etag: "B1".into()
            }]
        );
        assert_eq!(
            plan.remove,
            vec![Removal {
                key: "new".into(),
                current_version: "n1".into()
            }]
        );
        assert_eq!(plan.unchanged, 0);
        assert_eq!(plan.change_count(), 4);
        assert_eq!(plan.changed_keys(), vec!["a", "b", "gone", "new"]);
    }

    #[test]
    fn content_equal_versions_count_as_unchanged_so_a_second_run_is_a_no_op() {
        // After a restore, "a" has a new version (a copy of a1: same ETag).
        let mut h = history();
        h[0].is_latest = false;
        h.insert(0, v("a", "a3-copy", "13:00:00", "A1", true));
        let target: BTreeMap<_, _> = [("a".to_owned(), h[2].record().unwrap())].into();
        let current = current_state(&h);
        let plan = diff(&target, &current, &versions_index(&h));
        assert!(plan.restore.is_empty(), "{plan:?}");
        assert_eq!(plan.unchanged, 1);
        // Everything else under the prefix is not in the target: removed.
        assert_eq!(plan.remove.len(), 2);
    }

    #[test]
    fn target_versions_no_longer_in_the_bucket_are_missing() {
        let h = history();
        let mut target = BTreeMap::new();
        target.insert(
            "a".to_owned(),
            ObjectRecord {
                version_id: "purged".into(),
                etag: "\"x\"".into(),
                size: 1,
                last_modified: t("09:00:00"),
            },
        );
        let plan = diff(&target, &current_state(&h), &versions_index(&h));
        assert_eq!(
            plan.missing,
            vec![Missing {
                key: "a".into(),
                version_id: "purged".into()
            }]
        );
        assert!(plan.restore.is_empty());
    }

    #[test]
    fn manifest_etag_is_not_trusted_over_the_listing() {
        // A manifest claiming the current ETag for an old version must not hide a change.
        let h = history();
        let mut forged = h[1].record().unwrap(); // a1
        forged.etag = "A2".into();
        forged.size = 2;
        let target: BTreeMap<_, _> = [("a".to_owned(), forged)].into();
        let plan = diff(&target, &current_state(&h), &versions_index(&h));
        assert_eq!(plan.restore.len(), 1);
    }
}
