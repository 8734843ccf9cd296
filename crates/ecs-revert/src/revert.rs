//! `revert`: point each service at an earlier revision (default: the one
//! deployed before the one in use), then wait for steady state, all services in
//! parallel under one wait. Also `wait`, which re-attaches to a rollout.
//!
//! Every target is resolved and checked before the first change, so a bad one
//! changes nothing. Nothing is deregistered.

use std::io::Write;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{DeploymentControllerType, Service, TaskDefinitionStatus};
use common::journal::Outcome;
use common::{AwsResultExt, Context, Error, HumanDuration, Render, Result};
use serde::Serialize;
use serde_json::{Value, json};

use crate::ecs::{self, client, describe_services, journal_moves, journal_target};
use crate::history::{deployments_seen, revisions_seen};
use crate::previous::{Source, choose_previous};
use crate::steady::Expect;
use crate::taskdef::{TargetSpec, TaskDefRef, short_name};
use crate::watch::{self, Settled, Watched, event_ids};
use crate::{Services, WaitArgs};

/// Journal action of a task definition change.
pub const ACTION: &str = "ecs.revert";

#[derive(Debug, clap::Args)]
pub struct RevertArgs {
    #[command(flatten)]
    pub target: Services,
    /// Revert to this instead of the previously deployed revision: a revision of
    /// each service's own family (41), family:revision (api:41) or a task definition ARN.
    #[arg(long, value_name = "REVISION|FAMILY:REV|ARN")]
    pub to: Option<String>,
    /// Allow a target that is INACTIVE (deregistered) or of another family.
    #[arg(long)]
    pub force: bool,
    /// Make the change and return without waiting (then: ecs-revert wait ...).
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this long (exit 5; the rollout carries on). LTC_DEADLINE also applies.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

/// What will happen (or happened) to one service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceRevert {
    pub service: String,
    pub from: TaskDefRef,
    pub to: TaskDefRef,
    pub to_arn: String,
    /// `--to`, `journal`, `deployments` or `revision-1`.
    pub source: String,
    pub detail: String,
    /// `would-update`, `unchanged` (already on target), `updated` (not waited
    /// for), `update-failed`, `steady`, `failed`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub events: Vec<watch::EventLine>,
    #[serde(skip)]
    seen_events: std::collections::HashSet<String>,
}

/// One mutating call, listed for `--dry-run` and after a real run.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub operation: &'static str,
    pub cluster: String,
    pub service: String,
    #[serde(rename = "taskDefinition", skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    #[serde(rename = "desiredCount", skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i32>,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}(cluster={}, service={}",
            self.operation, self.cluster, self.service
        )?;
        if let Some(td) = &self.task_definition {
            write!(f, ", taskDefinition={td}")?;
        }
        if let Some(n) = self.desired_count {
            write!(f, ", desiredCount={n}")?;
        }
        write!(f, ")")
    }
}

#[derive(Debug, Serialize)]
pub struct RevertReport {
    pub cluster: String,
    pub dry_run: bool,
    pub waited: bool,
    pub services: Vec<ServiceRevert>,
    /// UpdateService calls made (or, with --dry-run, that would be made).
    pub calls: Vec<Call>,
    /// ECS API requests this command made (retries included).
    pub ecs_calls: u64,
}

impl Render for RevertReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        if self.dry_run {
            writeln!(w, "dry run: nothing was changed")?;
        }
        for s in &self.services {
            writeln!(
                w,
                "{}: {} -> {} [{}] (target from {}: {})",
                s.service, s.from, s.to, s.state, s.source, s.detail
            )?;
            if let Some(r) = &s.reason {
                writeln!(w, "  {r}")?;
            }
        }
        for c in &self.calls {
            let verb = if self.dry_run { "would call" } else { "called" };
            writeln!(w, "{verb} {c}")?;
        }
        Ok(())
    }
}

/// Resolves and checks one service's target; makes only read calls.
async fn plan_one(
    client: &Client,
    ctx: &Context,
    cluster: &str,
    svc: &Service,
    spec: Option<&TargetSpec>,
    force: bool,
) -> Result<ServiceRevert> {
    let name = svc.service_name().unwrap_or_default().to_owned();
    if let Some(t) = svc.deployment_controller().map(|c| c.r#type())
        && *t != DeploymentControllerType::Ecs
    {
        return Err(Error::usage(format!(
            "service {name} uses the {} deployment controller; ecs-revert reverts ECS-controlled services only (nothing was changed)",
            t.as_str()
        )));
    }
    let current = ecs::current_revision(client, svc).await?;
    let (target, source, detail) = match spec {
        Some(spec) => {
            let t = spec.resolve(&current);
            (t, "--to".to_owned(), "named with --to".to_owned())
        }
        None => {
            let moves = journal_moves(&ecs::journal_path(ctx), &journal_target(cluster, &name))?;
            let deployments = deployments_seen(svc);
            let mut prev = choose_previous(&current, &moves, &deployments, &[]);
            if prev
                .as_ref()
                .is_some_and(|p| p.source == Source::RevisionMinusOne)
            {
                // Only ACTIVE revisions can be the default target.
                let revs = ecs::list_revisions(client, &current.family, false).await?;
                prev = choose_previous(&current, &moves, &deployments, &revisions_seen(&revs));
            }
            let Some(p) = prev else {
                return Err(Error::usage(format!(
                    "service {name} is on {current}, the family's first revision: nothing earlier to revert to (nothing was changed)"
                )));
            };
            if let Some(why) = &p.undoes_rollback {
                return Err(Error::usage(format!(
                    "service {name}: {why}; pass --to {} to roll forward on purpose, or --to REVISION to go further back (nothing was changed)",
                    p.task_definition
                )));
            }
            (p.task_definition, p.source.to_string(), p.detail)
        }
    };
    let td = ecs::describe_task_definition(client, &target.to_string()).await?;
    let found = ecs::task_def_ref(&td).unwrap_or_else(|| target.clone());
    if found.family != current.family && !force {
        return Err(Error::usage(format!(
            "refusing to move service {name} from {current} to {found}: another family; pass --force if you mean it (nothing was changed)"
        )));
    }
    if td.status() == Some(&TaskDefinitionStatus::Inactive) && !force {
        return Err(Error::usage(format!(
            "refusing to move service {name} to {found}: it is INACTIVE (deregistered); AWS may refuse or stop supporting it; pass --force, or pick an ACTIVE revision with --to (nothing was changed)"
        )));
    }
    let state = if found == current {
        "unchanged"
    } else {
        "would-update"
    };
    Ok(ServiceRevert {
        service: name,
        from: current,
        to: found,
        to_arn: td.task_definition_arn().unwrap_or_default().to_owned(),
        source,
        detail,
        state: state.to_owned(),
        reason: None,
        desired: svc.desired_count(),
        running: svc.running_count(),
        events: Vec::new(),
        seen_events: event_ids(svc),
    })
}

fn update_call(cluster: &str, p: &ServiceRevert) -> Call {
    Call {
        operation: "UpdateService",
        cluster: cluster.to_owned(),
        service: p.service.clone(),
        task_definition: Some(if p.to_arn.is_empty() {
            p.to.to_string()
        } else {
            p.to_arn.clone()
        }),
        desired_count: None,
    }
}

/// The exit for services that ended failed: exit 4 with the reason and events.
pub fn failure_error(failed: &[&Settled]) -> Error {
    let parts: Vec<String> = failed
        .iter()
        .map(|s| {
            let events: Vec<&str> = s
                .events
                .iter()
                .take(3)
                .map(|e| e.message.as_str())
                .collect();
            format!(
                "{}: {}{}",
                s.service,
                s.reason.as_deref().unwrap_or("failed"),
                if events.is_empty() {
                    String::new()
                } else {
                    format!(" (latest events: {})", events.join(" | "))
                }
            )
        })
        .collect();
    Error::CheckFailed(format!("rollout failed for {}", parts.join("; ")))
}

pub async fn run(ctx: &Context, args: &RevertArgs) -> Result<()> {
    let names = args.target.validated()?;
    let spec = args.to.as_deref().map(TargetSpec::parse).transpose()?;
    common::duration::env_deadline()?;
    let cluster = args.target.cluster.as_str();

    let (client, counter) = client(ctx).await?;
    let services = describe_services(&client, cluster, &names).await?;
    let plans = futures::future::try_join_all(
        services
            .iter()
            .map(|svc| plan_one(&client, ctx, cluster, svc, spec.as_ref(), args.force)),
    )
    .await?;
    let mut plans = plans;
    let calls: Vec<Call> = plans
        .iter()
        .filter(|p| p.state == "would-update")
        .map(|p| update_call(cluster, p))
        .collect();
    for p in &plans {
        ctx.out.info(format!(
            "{}: {} -> {} (target from {}: {})",
            p.service, p.from, p.to, p.source, p.detail
        ));
    }

    if ctx.dry_run() {
        for c in &calls {
            ctx.out.info(format!("dry run: would call {c}"));
        }
        return ctx.out.result(&RevertReport {
            cluster: short_name(cluster).to_owned(),
            dry_run: true,
            waited: false,
            services: plans,
            calls,
            ecs_calls: counter.total(),
        });
    }
    if !calls.is_empty() {
        ctx.begin_change(&format!(
            "revert {} ECS service(s) in cluster {}",
            calls.len(),
            short_name(cluster)
        ))
        .await?;
    }

    let journal = ctx.journal().await?;
    // Intent first (flushed), then the call; all services in parallel.
    let updates = plans.iter().filter(|p| p.state == "would-update").map(|p| {
        let client = &client;
        async move {
            let before = json!({
                "task_definition": p.from.to_string(),
                "requested_task_definition": p.to.to_string(),
                "requested_task_definition_arn": p.to_arn,
                "source": p.source,
                "desired": p.desired,
                "running": p.running,
            });
            let change = journal.intent(ACTION, &journal_target(cluster, &p.service), before)?;
            let call = update_call(cluster, p);
            let res = client
                .update_service()
                .cluster(cluster)
                .service(&p.service)
                .set_task_definition(call.task_definition.clone())
                .send()
                .await
                .aws("UpdateService");
            Ok::<_, Error>((p.service.clone(), change, res))
        }
    });
    let results = futures::future::try_join_all(updates).await?;
    let mut changes = Vec::new();
    let mut update_error: Option<Error> = None;
    for (service, change, res) in results {
        let Some(p) = plans.iter_mut().find(|p| p.service == service) else {
            continue;
        };
        match res {
            Ok(_) => {
                p.state = "updated".to_owned();
                ctx.out
                    .info(format!("{service}: UpdateService accepted {}", p.to));
                changes.push((service, change));
            }
            Err(e) => {
                p.state = "update-failed".to_owned();
                p.reason = Some(e.to_string());
                change.failed(Value::Null, e.to_string())?;
                ctx.out.warn(format!("{service}: {e}"));
                update_error.get_or_insert(Error::Aws(e));
            }
        }
    }

    let watched: Vec<Watched> = plans
        .iter()
        .filter(|p| p.state == "updated" || p.state == "unchanged")
        .map(|p| Watched {
            service: p.service.clone(),
            expect: Expect {
                target: Some(p.to.clone()),
                desired: None,
                rollout: true,
            },
            seen_events: Some(p.seen_events.clone()),
        })
        .collect();
    let waited = !args.no_wait && !watched.is_empty();
    let mut wait_error = None;
    if waited {
        let reattach = args.target.reattach(
            &watched
                .iter()
                .map(|w| w.service.clone())
                .collect::<Vec<_>>(),
        );
        match watch::wait_all(
            &ctx.out,
            &client,
            cluster,
            &watched,
            args.timeout.0,
            reattach,
        )
        .await
        {
            Ok(settled) => {
                for s in &settled {
                    if let Some(p) = plans.iter_mut().find(|p| p.service == s.service) {
                        p.state = s.state.to_owned();
                        p.reason = s.reason.clone();
                        p.desired = s.desired;
                        p.running = s.running;
                        p.events = s.events.clone();
                    }
                }
                let failed: Vec<&Settled> = settled.iter().filter(|s| s.failed()).collect();
                if !failed.is_empty() {
                    wait_error = Some(failure_error(&failed));
                }
            }
            Err(e) => wait_error = Some(e),
        }
    }

    for (service, change) in changes {
        let Some(p) = plans.iter().find(|p| p.service == service) else {
            continue;
        };
        let after = json!({
            "task_definition": p.to.to_string(),
            "state": p.state,
            "desired": p.desired,
            "running": p.running,
        });
        match p.state.as_str() {
            "steady" => change.ok(after)?,
            "failed" => change.failed(after, p.reason.clone().unwrap_or_default())?,
            "updated" if !waited => change.finish(
                Outcome::Ok,
                after,
                Some("not waited for steady state".into()),
            )?,
            _ => change.failed(
                after,
                "timed out waiting for steady state; the rollout may still be running",
            )?,
        }
    }

    ctx.out.result(&RevertReport {
        cluster: short_name(cluster).to_owned(),
        dry_run: false,
        waited,
        services: plans,
        calls,
        ecs_calls: counter.total(),
    })?;
    match (update_error, wait_error) {
        (Some(e), _) | (None, Some(e)) => Err(e),
        (None, None) => Ok(()),
    }
}

#[derive(Debug, Serialize)]
pub struct WaitReport {
    pub cluster: String,
    pub services: Vec<Settled>,
    pub ecs_calls: u64,
}

impl Render for WaitReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        for s in &self.services {
            writeln!(
                w,
                "{}: {} on {} ({}/{} running){}",
                s.service,
                s.state,
                s.task_definition
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), |t| t.to_string()),
                s.running,
                s.desired,
                s.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )?;
        }
        Ok(())
    }
}

/// `wait`: re-attach to rollouts; steady means settled on whatever revision
/// each service points at when the wait starts.
pub async fn run_wait(ctx: &Context, args: &WaitArgs) -> Result<()> {
    let names = args.target.validated()?;
    common::duration::env_deadline()?;
    let cluster = args.target.cluster.as_str();
    let (client, counter) = client(ctx).await?;
    let services = describe_services(&client, cluster, &names).await?;
    let mut watched = Vec::new();
    for svc in &services {
        watched.push(Watched {
            service: svc.service_name().unwrap_or_default().to_owned(),
            expect: Expect {
                target: Some(ecs::current_revision(&client, svc).await?),
                desired: None,
                rollout: true,
            },
            seen_events: None,
        });
    }
    let reattach = args.target.reattach(&names);
    let settled = watch::wait_all(
        &ctx.out,
        &client,
        cluster,
        &watched,
        args.timeout.0,
        reattach,
    )
    .await?;
    ctx.out.result(&WaitReport {
        cluster: short_name(cluster).to_owned(),
        services: settled.clone(),
        ecs_calls: counter.total(),
    })?;
    let failed: Vec<&Settled> = settled.iter().filter(|s| s.failed()).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failure_error(&failed))
    }
}
