//! Which revision was deployed before the one in use: the default target of
//! `revert` and the "deployed before" mark of `history`.
//!
//! Users asked for "the revision that was running before this deploy", not
//! "revision minus one". Sources, in order of trust:
//! 1. the journal, when this toolkit made the change;
//! 2. the service's own deployments (an older deployment still listed while a
//!    rollout drains);
//! 3. the newest ACTIVE revision below the current one ("revision-1").

use serde::Serialize;

use crate::taskdef::TaskDefRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub enum Source {
    #[serde(rename = "journal")]
    Journal,
    #[serde(rename = "deployments")]
    Deployments,
    #[serde(rename = "revision-1")]
    RevisionMinusOne,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Journal => "journal",
            Source::Deployments => "deployments",
            Source::RevisionMinusOne => "revision-1",
        })
    }
}

/// One change to the service recorded by `ecs-revert revert`, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalMove {
    pub from: TaskDefRef,
    pub to: TaskDefRef,
    pub time: String,
}

/// A deployment as DescribeServices lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentSeen {
    pub task_definition: Option<TaskDefRef>,
    pub status: String,
    /// Seconds since the epoch; newer deployments sort first.
    pub created_at: i64,
}

/// A revision of the family and whether it can still be deployed.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionSeen {
    pub revision: u32,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Previous {
    pub task_definition: TaskDefRef,
    pub source: Source,
    /// How it was found, in a sentence.
    pub detail: String,
    /// Set when the current revision was put in place by an ecs-revert rollback
    /// and going "back" would re-deploy the revision that was rolled back from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undoes_rollback: Option<String>,
}

/// Finds the revision deployed before `current`. `None` when nothing earlier exists.
pub fn choose_previous(
    current: &TaskDefRef,
    journal: &[JournalMove],
    deployments: &[DeploymentSeen],
    revisions: &[RevisionSeen],
) -> Option<Previous> {
    if let Some(m) = journal
        .iter()
        .find(|m| m.to == *current && m.from != *current)
    {
        let rolled_back = m.from.family == m.to.family && m.from.revision > m.to.revision;
        return Some(Previous {
            task_definition: m.from.clone(),
            source: Source::Journal,
            detail: format!(
                "ecs-revert moved the service from {} to {} at {}",
                m.from, m.to, m.time
            ),
            undoes_rollback: rolled_back.then(|| {
                format!(
                    "{current} is in use because ecs-revert rolled back from {} at {}; going back would re-deploy {}",
                    m.from, m.time, m.from
                )
            }),
        });
    }

    let mut older: Vec<&DeploymentSeen> = deployments
        .iter()
        .filter(|d| d.status != "PRIMARY")
        .filter(|d| d.task_definition.as_ref().is_some_and(|t| t != current))
        .collect();
    older.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    if let Some(d) = older.first()
        && let Some(td) = &d.task_definition
    {
        return Some(Previous {
            task_definition: td.clone(),
            source: Source::Deployments,
            detail: format!(
                "the service still lists a {} deployment of {td} (a rollout is draining it)",
                d.status
            ),
            undoes_rollback: None,
        });
    }

    let newest_active_below = revisions
        .iter()
        .filter(|r| r.active && r.revision < current.revision)
        .map(|r| r.revision)
        .max();
    match newest_active_below {
        Some(rev) => {
            let skipped = current.revision - 1 - rev;
            let detail = if skipped == 0 {
                format!(
                    "no journal entry or older deployment; {}:{rev} is the revision below {current}",
                    current.family
                )
            } else {
                format!(
                    "no journal entry or older deployment; {}:{rev} is the newest ACTIVE revision below {current} ({skipped} INACTIVE skipped)",
                    current.family
                )
            };
            Some(Previous {
                task_definition: TaskDefRef::new(current.family.clone(), rev),
                source: Source::RevisionMinusOne,
                detail,
                undoes_rollback: None,
            })
        }
        None if current.revision > 1 => Some(Previous {
            task_definition: TaskDefRef::new(current.family.clone(), current.revision - 1),
            source: Source::RevisionMinusOne,
            detail: format!(
                "no journal entry, older deployment or ACTIVE revision below {current}; using revision - 1"
            ),
            undoes_rollback: None,
        }),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn td(rev: u32) -> TaskDefRef {
        TaskDefRef::new("api", rev)
    }

    fn revs(active: &[u32], inactive: &[u32]) -> Vec<RevisionSeen> {
        let mut v: Vec<RevisionSeen> = active
            .iter()
            .map(|&r| RevisionSeen {
                revision: r,
                active: true,
            })
            .chain(inactive.iter().map(|&r| RevisionSeen {
                revision: r,
                active: false,
            }))
            .collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.revision));
        v
    }

    #[test]
    fn journal_wins_and_names_its_source() {
        let journal = vec![JournalMove {
            from: td(2),
            to: td(4),
            time: "t".into(),
        }];
        let p = choose_previous(&td(4), &journal, &[], &revs(&[1, 2, 3, 4], &[])).unwrap();
        assert_eq!(p.task_definition, td(2));
        assert_eq!(p.source, Source::Journal);
        assert!(p.undoes_rollback.is_none(), "2 -> 4 was a move forward");
    }

    #[test]
    fn journal_entry_of_a_rollback_is_flagged() {
        // ecs-revert moved 4 -> 3; "deployed before 3" is 4, the bad one.
        let journal = vec![JournalMove {
            from: td(4),
            to: td(3),
            time: "t".into(),
        }];
        let p = choose_previous(&td(3), &journal, &[], &revs(&[1, 2, 3, 4], &[])).unwrap();
        assert_eq!(p.task_definition, td(4));
        assert!(p.undoes_rollback.is_some());
    }

    #[test]
    fn journal_entries_for_other_revisions_are_ignored() {
        let journal = vec![JournalMove {
            from: td(1),
            to: td(2),
            time: "t".into(),
        }];
        let p = choose_previous(&td(4), &journal, &[], &revs(&[1, 2, 3, 4], &[])).unwrap();
        assert_eq!(p.source, Source::RevisionMinusOne);
        assert_eq!(p.task_definition, td(3));
    }

    #[test]
    fn draining_deployment_is_the_previous_one() {
        let deps = vec![
            DeploymentSeen {
                task_definition: Some(td(4)),
                status: "PRIMARY".into(),
                created_at: 200,
            },
            DeploymentSeen {
                task_definition: Some(td(1)),
                status: "ACTIVE".into(),
                created_at: 50,
            },
            DeploymentSeen {
                task_definition: Some(td(2)),
                status: "ACTIVE".into(),
                created_at: 100,
            },
        ];
        let p = choose_previous(&td(4), &[], &deps, &revs(&[1, 2, 3, 4], &[])).unwrap();
        assert_eq!(p.task_definition, td(2), "newest older deployment");
        assert_eq!(p.source, Source::Deployments);
    }

    #[test]
    fn inactive_revisions_are_skipped_and_said_so() {
        let p = choose_previous(&td(4), &[], &[], &revs(&[1, 2, 4], &[3])).unwrap();
        assert_eq!(p.task_definition, td(2));
        assert!(p.detail.contains("1 INACTIVE skipped"), "{}", p.detail);
    }

    #[test]
    fn all_older_inactive_falls_back_to_minus_one() {
        let p = choose_previous(&td(4), &[], &[], &revs(&[4], &[1, 2, 3])).unwrap();
        assert_eq!(p.task_definition, td(3));
        assert_eq!(p.source, Source::RevisionMinusOne);
    }

    #[test]
    fn first_revision_has_no_previous() {
        assert!(choose_previous(&td(1), &[], &[], &revs(&[1], &[])).is_none());
    }
}
