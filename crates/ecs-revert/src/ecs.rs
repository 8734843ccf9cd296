//! The ECS calls every command shares: the client (with a call counter, so the
//! result can say how many requests it made), DescribeServices in batches of
//! ten with "missing" turned into a one-line not-found, the family's revisions,
//! and what the journal says this toolkit did to a service.

use std::collections::BTreeMap;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{Service, TaskDefinition, TaskDefinitionStatus};
use common::journal::Journal;
use common::{AwsError, AwsResultExt, Error, Result};

use crate::previous::JournalMove;
use crate::taskdef::{TaskDefRef, short_name};

/// Journal action of a task definition change.
pub const ACTION: &str = "ecs.revert";

// Counts HTTP requests (retries included) made by a client (`total`).
pub use common::calls::CallCounter;

/// The ECS client for this invocation and its call counter.
pub async fn client(ctx: &common::Context) -> Result<(Client, CallCounter)> {
    let aws = ctx.aws().await?;
    let counter = CallCounter::default();
    let conf = aws_sdk_ecs::config::Builder::from(&aws.config)
        .interceptor(counter.clone())
        .build();
    Ok((Client::from_conf(conf), counter))
}

/// Not-found errors in the operator's words; other errors unchanged.
fn not_found(e: AwsError, cluster: &str) -> Error {
    if e.has_code("ClusterNotFoundException") {
        Error::NotFound(format!("cluster {cluster:?} not found ({e})"))
    } else if e.has_code("ServiceNotFoundException") || e.has_code("ServiceNotActiveException") {
        Error::NotFound(format!(
            "service not found or not active in cluster {cluster:?} ({e})"
        ))
    } else {
        Error::Aws(e)
    }
}

/// Describes `services` (names or ARNs) in `cluster`, in the order asked, ten per
/// call. A missing or inactive service is a not-found error naming it.
pub async fn describe_services(
    client: &Client,
    cluster: &str,
    services: &[String],
) -> Result<Vec<Service>> {
    let mut found: BTreeMap<String, Service> = BTreeMap::new();
    for chunk in services.chunks(10) {
        let out = client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .aws("DescribeServices")
            .map_err(|e| not_found(e, cluster))?;
        if let Some(f) = out.failures().first() {
            let which = f.arn().map_or("?", short_name);
            let reason = f.reason().unwrap_or("MISSING");
            return Err(Error::NotFound(format!(
                "service {which:?} not found in cluster {cluster:?} ({reason})"
            )));
        }
        for s in out.services() {
            found.insert(s.service_name().unwrap_or_default().to_owned(), s.clone());
        }
    }
    services
        .iter()
        .map(|name| {
            found.get(short_name(name)).cloned().ok_or_else(|| {
                Error::NotFound(format!("service {name:?} not found in cluster {cluster:?}"))
            })
        })
        .collect()
}

/// The revision a service points at; resolves a bare family ("latest") with a call.
pub async fn current_revision(client: &Client, svc: &Service) -> Result<TaskDefRef> {
    let raw = svc.task_definition().unwrap_or_default();
    if let Some(t) = TaskDefRef::parse_loose(raw) {
        return Ok(t);
    }
    let td = describe_task_definition(client, raw).await?;
    task_def_ref(&td).ok_or_else(|| {
        Error::Internal(format!("task definition {raw:?} has no family or revision"))
    })
}

pub fn task_def_ref(td: &TaskDefinition) -> Option<TaskDefRef> {
    let family = td.family()?;
    let rev = u32::try_from(td.revision()).ok().filter(|r| *r >= 1)?;
    Some(TaskDefRef::new(family, rev))
}

/// DescribeTaskDefinition, with an unknown revision as a one-line not-found.
pub async fn describe_task_definition(client: &Client, name: &str) -> Result<TaskDefinition> {
    let out = client
        .describe_task_definition()
        .task_definition(name)
        .send()
        .await
        .aws("DescribeTaskDefinition")
        .map_err(|e| {
            if e.has_code("ClientException") {
                Error::NotFound(format!("task definition {name} not found ({e})"))
            } else {
                Error::Aws(e)
            }
        })?;
    out.task_definition()
        .cloned()
        .ok_or_else(|| Error::NotFound(format!("task definition {name} not found")))
}

/// One revision of a family as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub task_definition: TaskDefRef,
    pub arn: String,
    pub active: bool,
}

/// The revisions of `family` (ACTIVE, and INACTIVE when asked), newest first.
/// The family prefix filter also matches longer names (`api` finds
/// `api-worker`), so the family is checked exactly.
pub async fn list_revisions(
    client: &Client,
    family: &str,
    include_inactive: bool,
) -> Result<Vec<Revision>> {
    let mut out = Vec::new();
    let statuses = if include_inactive {
        vec![TaskDefinitionStatus::Active, TaskDefinitionStatus::Inactive]
    } else {
        vec![TaskDefinitionStatus::Active]
    };
    for status in statuses {
        let active = status == TaskDefinitionStatus::Active;
        let mut pages = client
            .list_task_definitions()
            .family_prefix(family)
            .status(status)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.aws("ListTaskDefinitions")?;
            for arn in page.task_definition_arns() {
                if let Some(t) = TaskDefRef::parse_loose(arn).filter(|t| t.family == family) {
                    out.push(Revision {
                        task_definition: t,
                        arn: arn.clone(),
                        active,
                    });
                }
            }
        }
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.task_definition.revision));
    out.dedup_by(|a, b| a.task_definition == b.task_definition);
    Ok(out)
}

/// The journal key of a service: `ecs:CLUSTER/SERVICE` (short names, so it is the
/// same whether the operator typed names or ARNs).
pub fn journal_target(cluster: &str, service: &str) -> String {
    format!("ecs:{}/{}", short_name(cluster), short_name(service))
}

/// Task definition moves ecs-revert recorded for `target`, newest first, from
/// `journal`: everyone's entries in the shared state (`ctx.journal_reader()`),
/// so a revert on another machine sees what a colleague's deploy recorded. A
/// move whose UpdateService call failed (outcome with no `after`) did not happen.
pub fn journal_moves(journal: &Journal, target: &str) -> Result<Vec<JournalMove>> {
    let entries = journal.entries()?;
    let mut moves = Vec::new();
    for e in entries.iter().rev() {
        if e.phase != common::journal::Phase::Intent || e.target != target || e.action != ACTION {
            continue;
        }
        let outcome = entries
            .iter()
            .find(|o| o.phase == common::journal::Phase::Outcome && o.id == e.id);
        if outcome.is_some_and(|o| o.after.is_null()) {
            continue;
        }
        let get = |k: &str| {
            e.before
                .get(k)
                .and_then(|v| v.as_str())
                .and_then(TaskDefRef::parse_loose)
        };
        if let (Some(from), Some(to)) = (get("task_definition"), get("requested_task_definition")) {
            moves.push(JournalMove {
                from,
                to,
                time: e.time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            });
        }
    }
    Ok(moves)
}

/// The task definition the newest revert of `target` asked for, when that
/// revert never recorded a finished outcome (killed: no outcome; interrupted or
/// unknown): re-running `revert` finishes that revert rather than choosing a
/// new "previous", which after the change landed would be the release just
/// rolled back from.
pub fn unfinished_revert(journal: &Journal, target: &str) -> Result<Option<TaskDefRef>> {
    use common::journal::{Outcome, Phase};
    let entries = journal.entries()?;
    let Some(intent) = entries
        .iter()
        .rev()
        .find(|e| e.phase == Phase::Intent && e.target == target && e.action == ACTION)
    else {
        return Ok(None);
    };
    let outcome = entries
        .iter()
        .find(|o| o.phase == Phase::Outcome && o.id == intent.id)
        .and_then(|o| o.outcome);
    if !matches!(
        outcome,
        None | Some(Outcome::Interrupted | Outcome::Unknown)
    ) {
        return Ok(None);
    }
    Ok(intent
        .before
        .get("requested_task_definition")
        .and_then(|v| v.as_str())
        .and_then(TaskDefRef::parse_loose))
}

/// How an UpdateService ended once read back.
#[derive(Debug)]
pub enum Update {
    /// Applied; `read_back`: the answer was lost and DescribeServices shows it.
    Done { read_back: bool },
    /// Refused, or lost and the read-back shows the service unchanged.
    Failed(AwsError),
    /// Lost and the read-back failed too.
    Unknown { error: AwsError, why: String },
}

/// A failure after which the request may have reached ECS: no answer
/// (timeout, reset) or a 5xx.
pub fn answer_may_be_lost(e: &AwsError) -> bool {
    e.status.is_none_or(|s| s >= 500)
}

/// Decides an UpdateService's outcome: its own answer, or after a possibly
/// lost answer a DescribeServices read-back where `took` says whether the
/// service shows the change (taskDefinition or desiredCount equals the request).
pub async fn verified_update(
    client: &Client,
    cluster: &str,
    service: &str,
    sent: std::result::Result<(), AwsError>,
    took: impl Fn(&Service) -> bool,
) -> Update {
    match sent {
        Ok(()) => Update::Done { read_back: false },
        Err(e) if answer_may_be_lost(&e) => {
            match describe_services(client, cluster, &[service.to_owned()]).await {
                Ok(s) if s.first().is_some_and(&took) => Update::Done { read_back: true },
                Ok(_) => Update::Failed(e),
                Err(why) => Update::Unknown {
                    error: e,
                    why: why.to_string(),
                },
            }
        }
        Err(e) => Update::Failed(e),
    }
}

/// The command that shows a service's task definition and desired count.
pub fn read_command(cluster: &str, service: &str) -> String {
    format!(
        "aws ecs describe-services --cluster {} --services {} --query 'services[0].[taskDefinition,desiredCount]'",
        short_name(cluster),
        short_name(service)
    )
}
