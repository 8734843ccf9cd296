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

use crate::ecs::{
    self, CallCounter, Update, client, describe_services, journal_moves, journal_target,
    verified_update,
};
use crate::history::{deployments_seen, revisions_seen};
use crate::previous::{Source, choose_previous};
use crate::scaling;
use crate::steady::Expect;
use crate::taskdef::{TargetSpec, TaskDefRef, short_name};
use crate::watch::{self, Settled, Watched, event_ids, failure_error};
use crate::{Services, WaitArgs};

/// Journal action of a task definition change (defined next to the journal
/// reads in `ecs`, so the AWS layer does not import this command).
pub use crate::ecs::ACTION;

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

/// `revert` on the command line: the revert itself plus how it treats auto scaling.
#[derive(Debug, clap::Args)]
pub struct RevertCmd {
    #[command(flatten)]
    pub revert: RevertArgs,
    /// Leave Application Auto Scaling alone during the revert (default: suspend
    /// it for the reverted services and put each one's previous state back after).
    #[arg(long)]
    pub no_suspend_scaling: bool,
}

/// Auto scaling around a revert: suspended before, previous state put back after.
#[derive(Debug, Clone, Default, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ScalingSteps {
    pub suspend: Vec<scaling::Row>,
    pub restore: Vec<scaling::Row>,
}

impl ScalingSteps {
    fn is_empty(&self) -> bool {
        self.suspend.is_empty() && self.restore.is_empty()
    }
}

/// What will happen (or happened) to one service.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
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
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
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

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RevertReport {
    pub cluster: String,
    pub dry_run: bool,
    pub waited: bool,
    pub services: Vec<ServiceRevert>,
    /// UpdateService calls made (or, with --dry-run, that would be made).
    /// `call_log`, not `calls`: that is the envelope's count of requests.
    #[serde(rename = "call_log")]
    pub calls: Vec<Call>,
    /// ECS API requests this command made (retries included).
    pub ecs_calls: u64,
    /// Set when the run was interrupted or changed only some services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Next>,
    /// Auto scaling suspended for the revert and put back after.
    #[serde(skip_serializing_if = "ScalingSteps::is_empty")]
    pub scaling: ScalingSteps,
}

/// Where each service is after an interrupted or partial run, and what to run next.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Next {
    /// `interrupted`, `partial` or `unknown`.
    pub state: &'static str,
    pub inventory: Vec<Inventory>,
    /// Re-attaches to the rollouts that were started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reattach: Option<String>,
    /// Finish the change: the services not (known to be) changed yet.
    pub finish: Vec<String>,
    /// Undo it: the services that were changed, back where they were.
    pub undo: Vec<String>,
}

/// One service's place after an interrupted or partial run.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Inventory {
    pub service: String,
    /// What it points at now (`unknown` when the read-back failed).
    pub task_definition: String,
    /// What this run asked for.
    pub target: String,
    /// Where it was before.
    pub before: String,
    pub state: String,
}

impl Next {
    /// One line per service and the commands, for stderr and the error.
    pub fn text(&self) -> String {
        let mut lines: Vec<String> = self
            .inventory
            .iter()
            .map(|i| {
                format!(
                    "{}: on {} (target {}, before {}) [{}]",
                    i.service, i.task_definition, i.target, i.before, i.state
                )
            })
            .collect();
        if let Some(r) = &self.reattach {
            lines.push(format!("re-attach: {r}"));
        }
        for f in &self.finish {
            lines.push(format!("finish: {f}"));
        }
        for u in &self.undo {
            lines.push(format!("undo: {u}"));
        }
        lines.join("; ")
    }
}

fn revert_command(cluster: &str, service: &str, to: &TaskDefRef) -> String {
    format!(
        "ecs-revert revert --cluster {} --service {} --to {to}",
        short_name(cluster),
        short_name(service)
    )
}

/// The inventory and commands after a run where not everything went through.
fn next_steps(
    state: &'static str,
    cluster: &str,
    plans: &[ServiceRevert],
    reattach: Option<String>,
) -> Next {
    let mut finish = Vec::new();
    let mut undo = Vec::new();
    let inventory = plans
        .iter()
        .map(|p| {
            let now = match p.state.as_str() {
                "update-failed" | "would-update" => p.from.to_string(),
                "unknown" => "unknown".to_owned(),
                _ => p.to.to_string(),
            };
            match p.state.as_str() {
                "update-failed" | "unknown" | "would-update" => {
                    finish.push(revert_command(cluster, &p.service, &p.to));
                }
                _ if p.from == p.to => {}
                _ => undo.push(revert_command(cluster, &p.service, &p.from)),
            }
            Inventory {
                service: p.service.clone(),
                task_definition: now,
                target: p.to.to_string(),
                before: p.from.to_string(),
                state: p.state.clone(),
            }
        })
        .collect();
    Next {
        state,
        inventory,
        reattach,
        finish,
        undo,
    }
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
        for r in &self.scaling.suspend {
            writeln!(
                w,
                "auto scaling of {}: suspended for the revert [{}]",
                r.service, r.state
            )?;
        }
        for r in &self.scaling.restore {
            writeln!(
                w,
                "auto scaling of {}: put back ({}) [{}]",
                r.service,
                r.requested.describe(),
                r.state
            )?;
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
            let journal = ctx.journal_reader().await?;
            if let Some(t) = ecs::unfinished_revert(&journal, &journal_target(cluster, &name))? {
                ctx.out.info(format!(
                    "service {name}: the last revert (to {t}) was interrupted before it finished; finishing it"
                ));
                (
                    t,
                    "resume".to_owned(),
                    "finishing an interrupted revert".to_owned(),
                )
            } else {
                let moves = journal_moves(&journal, &journal_target(cluster, &name))?;
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

pub async fn run(ctx: &Context, cmd: &RevertCmd) -> Result<()> {
    let args = &cmd.revert;
    let names = args.target.validated()?;
    let spec = args.to.as_deref().map(TargetSpec::parse).transpose()?;
    common::duration::env_deadline()?;
    let (client, counter) = client(ctx).await?;
    let autoscaling = if cmd.no_suspend_scaling {
        None
    } else {
        Some(scaling::client(ctx).await?.0)
    };
    execute_with(
        ctx,
        args,
        &names,
        spec.as_ref(),
        &client,
        &counter,
        autoscaling.as_ref(),
    )
    .await
}

/// The revert after the input checks, with the client given (tests pass a
/// mocked one), leaving auto scaling alone.
pub async fn execute(
    ctx: &Context,
    args: &RevertArgs,
    names: &[String],
    spec: Option<&TargetSpec>,
    client: &Client,
    counter: &CallCounter,
) -> Result<()> {
    execute_with(ctx, args, names, spec, client, counter, None).await
}

/// The scaling plans that suspend every registered target of `services` not
/// already fully suspended. A failed read does not stop a rollback: it is
/// warned about and the revert goes on without suspending.
async fn suspend_plans(
    ctx: &Context,
    autoscaling: &scaling::AutoScalingClient,
    cluster: &str,
    services: &[String],
) -> Result<Vec<scaling::Plan>> {
    if services.is_empty() {
        return Ok(Vec::new());
    }
    match ctx
        .cancel()
        .run(scaling::read_states(autoscaling, cluster, services, false))
        .await
    {
        Ok(states) => Ok(states
            .into_iter()
            .filter(|s| s.registered && s.suspended != scaling::Suspended::ALL)
            .map(|s| scaling::Plan {
                current: s,
                want: Some(scaling::Want {
                    suspended: Some(scaling::Suspended::ALL),
                    ..Default::default()
                }),
                note: None,
            })
            .collect()),
        Err(Error::Interrupted) => Err(Error::Interrupted),
        Err(e) => {
            ctx.out.warn(format!(
                "could not read the auto scaling of the services ({e}); reverting without suspending it"
            ));
            Ok(Vec::new())
        }
    }
}

/// Puts back the suspended state each service had before the revert; the
/// calls are made even after a signal (they are quick and leave nothing
/// suspended by us). Returns the rows and, when some could not be put back,
/// the commands that do it.
async fn restore_scaling(
    ctx: &Context,
    autoscaling: &scaling::AutoScalingClient,
    cluster: &str,
    suspend_plans: &[scaling::Plan],
    suspended: &[scaling::Row],
) -> Result<(Vec<scaling::Row>, Vec<String>)> {
    let plans: Vec<scaling::Plan> = suspend_plans
        .iter()
        .zip(suspended)
        .filter(|(_, r)| r.state == "updated" || r.state == "unknown")
        .map(|(p, _)| scaling::Plan {
            current: scaling::TargetState {
                suspended: scaling::Suspended::ALL,
                ..p.current.clone()
            },
            want: Some(scaling::Want {
                suspended: Some(p.current.suspended),
                ..Default::default()
            }),
            note: None,
        })
        .collect();
    let rows =
        scaling::apply_even_after_signal(ctx, autoscaling, cluster, scaling::ACTION_RESUME, &plans)
            .await?;
    let left: Vec<String> = rows
        .iter()
        .zip(&plans)
        .filter(|(r, _)| r.state != "updated")
        .map(|(r, p)| {
            format!(
                "{}: auto scaling is still suspended ({}); put it back with: {}",
                r.service,
                r.reason.as_deref().unwrap_or(&r.state),
                scaling::register_command(cluster, &r.service, &p.want.unwrap_or_default())
            )
        })
        .collect();
    for l in &left {
        ctx.out.warn(l.clone());
    }
    Ok((rows, left))
}

/// The revert, with Application Auto Scaling suspended around it when
/// `autoscaling` is given.
pub async fn execute_with(
    ctx: &Context,
    args: &RevertArgs,
    names: &[String],
    spec: Option<&TargetSpec>,
    client: &Client,
    counter: &CallCounter,
    autoscaling: Option<&scaling::AutoScalingClient>,
) -> Result<()> {
    let cluster = args.target.cluster.as_str();
    let cancel = ctx.cancel();
    let services = cancel
        .run(describe_services(client, cluster, names))
        .await?;
    let plans = cancel
        .run(futures::future::try_join_all(services.iter().map(|svc| {
            plan_one(client, ctx, cluster, svc, spec, args.force)
        })))
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

    let to_update: Vec<String> = plans
        .iter()
        .filter(|p| p.state == "would-update")
        .map(|p| p.service.clone())
        .collect();
    let suspend = match autoscaling {
        Some(a) => suspend_plans(ctx, a, cluster, &to_update).await?,
        None => Vec::new(),
    };
    let mut scaling_steps = ScalingSteps::default();

    if ctx.dry_run() {
        for c in &calls {
            ctx.out.info(format!("dry run: would call {c}"));
        }
        scaling_steps.suspend = scaling::planned_rows(&suspend);
        for r in &scaling_steps.suspend {
            ctx.out.info(format!(
                "dry run: would suspend auto scaling of {} during the revert (RegisterScalableTarget {}), then put back {}",
                r.service, r.resource_id, r.before["suspended"]
            ));
        }
        return ctx.out.result(&RevertReport {
            cluster: short_name(cluster).to_owned(),
            dry_run: true,
            waited: false,
            services: plans,
            calls,
            ecs_calls: counter.total(),
            next: None,
            scaling: scaling_steps,
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

    cancel.check()?;
    if let (Some(a), false) = (autoscaling, suspend.is_empty()) {
        // So Application Auto Scaling does not change the counts while the
        // revert rolls out; a failure is warned about, not a reason to stop.
        scaling_steps.suspend =
            scaling::apply(ctx, a, cluster, scaling::ACTION_SUSPEND, &suspend).await?;
    }
    let journal = ctx.journal().await?;
    // Intent first (flushed), then the call; all services in parallel. The
    // calls are quick and are let finish on a signal; a lost answer is read back.
    let updates = plans
        .iter()
        .filter(|p| p.state == "would-update")
        .map(|p| async move {
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
            let sent = client
                .update_service()
                .cluster(cluster)
                .service(&p.service)
                .set_task_definition(call.task_definition.clone())
                .send()
                .await
                .aws("UpdateService")
                .map(|_| ());
            let update = verified_update(client, cluster, &p.service, sent, |svc| {
                svc.task_definition().and_then(TaskDefRef::parse_loose) == Some(p.to.clone())
            })
            .await;
            Ok::<_, Error>((p.service.clone(), change, update))
        });
    let results = futures::future::try_join_all(updates).await?;
    let mut changes = Vec::new();
    let mut update_error: Option<Error> = None;
    let mut unknown = false;
    for (service, change, update) in results {
        let Some(p) = plans.iter_mut().find(|p| p.service == service) else {
            continue;
        };
        match update {
            Update::Done { read_back } => {
                p.state = "updated".to_owned();
                ctx.out.info(format!(
                    "{service}: UpdateService {} {}",
                    if read_back {
                        "answer lost; DescribeServices shows it on"
                    } else {
                        "accepted"
                    },
                    p.to
                ));
                changes.push((service, change));
            }
            Update::Failed(e) => {
                p.state = "update-failed".to_owned();
                p.reason = Some(e.to_string());
                change.failed(Value::Null, e.to_string())?;
                ctx.out.warn(format!("{service}: {e}"));
                update_error.get_or_insert(Error::Aws(e));
            }
            Update::Unknown { error, why } => {
                let msg = format!(
                    "{error}; whether {service} now points at {} is unknown (read-back failed: {why}); check with: {}",
                    p.to,
                    ecs::read_command(cluster, &service)
                );
                p.state = "unknown".to_owned();
                p.reason = Some(msg.clone());
                change.unknown(
                    json!({ "requested_task_definition": p.to.to_string() }),
                    msg.clone(),
                )?;
                ctx.out.warn(format!("{service}: {msg}"));
                unknown = true;
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
    let reattach = (!watched.is_empty()).then(|| {
        args.target.reattach(
            &watched
                .iter()
                .map(|w| w.service.clone())
                .collect::<Vec<_>>(),
        )
    });
    let waited = !args.no_wait && !watched.is_empty() && !cancel.is_cancelled();
    let mut wait_error = None;
    if let (true, Some(reattach)) = (waited, &reattach) {
        match cancel
            .run(watch::wait_all(
                &ctx.out,
                client,
                cluster,
                &watched,
                args.timeout.0,
                reattach.clone(),
            ))
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

    let mut scaling_left = Vec::new();
    if let (Some(a), false) = (autoscaling, scaling_steps.suspend.is_empty()) {
        let (rows, left) =
            restore_scaling(ctx, a, cluster, &suspend, &scaling_steps.suspend).await?;
        scaling_steps.restore = rows;
        scaling_left = left;
    }

    if cancel.is_cancelled() {
        // The changes were made (ECS carries on with the rollouts); say where
        // everything is and how to go on.
        let signal = cancel.signal().map_or("a signal", |s| s.name());
        let next = next_steps("interrupted", cluster, &plans, reattach.clone());
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
            change.interrupted(
                after,
                format!(
                    "interrupted by {signal} while waiting for steady state; the change was made (UpdateService accepted {to}) \
                     and ECS carries on with the rollout; re-attach: {reattach}; {again} again is idempotent (no call, \
                     it only waits); a plain `ecs-revert revert` refuses to undo this revert; undo: {undo}",
                    to = p.to,
                    reattach = reattach.as_deref().unwrap_or_default(),
                    again = revert_command(cluster, &p.service, &p.to),
                    undo = revert_command(cluster, &p.service, &p.from),
                ),
            )?;
        }
        ctx.out.result(&RevertReport {
            cluster: short_name(cluster).to_owned(),
            dry_run: false,
            waited,
            services: plans,
            calls,
            ecs_calls: counter.total(),
            next: Some(next.clone()),
            scaling: scaling_steps,
        })?;
        ctx.out.warn(format!("interrupted: {}", next.text()));
        return Err(Error::Interrupted);
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

    // Partly applied (some services changed, others not or unknown): exit 7
    // with the inventory and the commands to finish or undo.
    let changed = plans
        .iter()
        .filter(|p| p.from != p.to && !matches!(p.state.as_str(), "update-failed" | "unknown"))
        .count();
    let next = (unknown || (update_error.is_some() && changed > 0)).then(|| {
        next_steps(
            if unknown { "unknown" } else { "partial" },
            cluster,
            &plans,
            reattach.clone(),
        )
    });
    if let Some(n) = &next {
        for i in &n.inventory {
            ctx.out.warn(format!(
                "{}: on {} (target {}, before {}) [{}]",
                i.service, i.task_definition, i.target, i.before, i.state
            ));
        }
    }
    ctx.out.result(&RevertReport {
        cluster: short_name(cluster).to_owned(),
        dry_run: false,
        waited,
        services: plans,
        calls,
        ecs_calls: counter.total(),
        next: next.clone(),
        scaling: scaling_steps,
    })?;
    if let Some(n) = next {
        let what = if unknown {
            "the outcome of an UpdateService is unknown"
        } else {
            "the revert was applied to only some services"
        };
        return Err(Error::RevertFailed(format!("{what}: {}", n.text())));
    }
    match (update_error, wait_error) {
        (Some(e), _) | (None, Some(e)) => Err(e),
        (None, None) if !scaling_left.is_empty() => Err(Error::RevertFailed(format!(
            "the revert is done but auto scaling was not put back: {}",
            scaling_left.join("; ")
        ))),
        (None, None) => Ok(()),
    }
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
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
    // Nothing is changed here: a signal just stops the wait (exit 130).
    let settled = ctx
        .cancel()
        .run(watch::wait_all(
            &ctx.out,
            &client,
            cluster,
            &watched,
            args.timeout.0,
            reattach,
        ))
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

/// Lost answers, partial reverts and signals, against the real SDK client with
/// `aws-smithy-mocks` (the emulator never loses an answer).
#[cfg(test)]
mod mock_tests {
    use aws_sdk_ecs::Client;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
    use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service, TaskDefinition};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use common::cancel::SignalKind;
    use common::journal::{Entry, Journal, Phase};
    use common::output::Captured;
    use common::{Cancel, GlobalArgs, Output};

    use super::*;

    fn service(name: &str, td: &str, running: i32, rollout: DeploymentRolloutState) -> Service {
        Service::builder()
            .service_name(name)
            .status("ACTIVE")
            .task_definition(td)
            .running_count(running)
            .desired_count(2)
            .pending_count(0)
            .deployments(
                Deployment::builder()
                    .id("d1")
                    .status("PRIMARY")
                    .task_definition(td)
                    .rollout_state(rollout)
                    .running_count(running)
                    .desired_count(2)
                    .build(),
            )
            .build()
    }

    fn described(services: Vec<Service>) -> DescribeServicesOutput {
        DescribeServicesOutput::builder()
            .set_services(Some(services))
            .build()
    }

    /// Every requested service on `<name>:<rev>`, steady.
    fn on_revision(rev: u32) -> aws_smithy_mocks::Rule {
        mock!(Client::describe_services).then_compute_output(move |r| {
            described(
                r.services()
                    .iter()
                    .map(|n| {
                        service(
                            n,
                            &format!("{n}:{rev}"),
                            2,
                            DeploymentRolloutState::Completed,
                        )
                    })
                    .collect(),
            )
        })
    }

    fn task_definitions() -> aws_smithy_mocks::Rule {
        mock!(Client::describe_task_definition).then_compute_output(|r| {
            let name = r.task_definition().unwrap_or_default().to_owned();
            let (family, rev) = name.rsplit_once(':').unwrap();
            DescribeTaskDefinitionOutput::builder()
                .task_definition(
                    TaskDefinition::builder()
                        .family(family)
                        .revision(rev.parse().unwrap())
                        .status(TaskDefinitionStatus::Active)
                        .task_definition_arn(format!(
                            "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/{name}"
                        ))
                        .build(),
                )
                .build()
        })
    }

    fn args(services: &[&str], no_wait: bool) -> RevertArgs {
        RevertArgs {
            target: Services {
                cluster: "ltc".into(),
                services: services.iter().map(|s| s.to_string()).collect(),
            },
            to: Some("3".into()),
            force: false,
            no_wait,
            timeout: "10m".parse().unwrap(),
        }
    }

    struct Run {
        ctx: Context,
        cancel: Cancel,
        journal: std::path::PathBuf,
        stdout: Captured,
        _dir: tempfile::TempDir,
    }

    fn setup() -> Run {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.jsonl");
        let globals = GlobalArgs {
            journal: Some(journal.clone()),
            ..Default::default()
        };
        let (out, stdout, _stderr) = Output::captured(true);
        let cancel = Cancel::new();
        let ctx = Context::with_output("ecs-revert", &globals, out).with_cancel(cancel.clone());
        Run {
            ctx,
            cancel,
            journal,
            stdout,
            _dir: dir,
        }
    }

    fn outcome(path: &std::path::Path, service: &str) -> Entry {
        Journal::read_entries(path)
            .unwrap()
            .into_iter()
            .find(|e| e.phase == Phase::Outcome && e.target == format!("ecs:ltc/{service}"))
            .unwrap()
    }

    async fn revert(r: &Run, a: &RevertArgs, client: &Client) -> Result<()> {
        let names = a.target.validated().unwrap();
        let spec = a.to.as_deref().map(TargetSpec::parse).transpose().unwrap();
        execute(
            &r.ctx,
            a,
            &names,
            spec.as_ref(),
            client,
            &CallCounter::default(),
        )
        .await
    }

    // Issue 14: a revert applied to api but refused for worker exited 3; it is
    // exit 7 with where each service is and the commands to finish or undo.
    #[tokio::test(start_paused = true)]
    async fn partial_revert_is_exit_7_with_an_inventory_and_the_commands() {
        let r = setup();
        let describe = on_revision(4);
        let tds = task_definitions();
        let ok = mock!(Client::update_service)
            .match_requests(|u| u.service() == Some("api"))
            .then_output(|| UpdateServiceOutput::builder().build());
        let refused = mock!(Client::update_service)
            .match_requests(|u| u.service() == Some("worker"))
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"AccessDeniedException","message":"not allowed"}"#.into()),
            )
            .build();
        let client = mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&describe, &tds, &ok, &refused]
        );
        let err = revert(&r, &args(&["api", "worker"], true), &client)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 7);
        let msg = err.to_string();
        for needle in [
            "api: on api:3 (target api:3, before api:4) [updated]",
            "worker: on worker:4 (target worker:3, before worker:4) [update-failed]",
            "finish: ecs-revert revert --cluster ltc --service worker --to worker:3",
            "undo: ecs-revert revert --cluster ltc --service api --to api:4",
        ] {
            assert!(msg.contains(needle), "{needle:?} in {msg}");
        }
        let v: Value = serde_json::from_str(&r.stdout.text()).unwrap();
        assert_eq!(v["next"]["state"], "partial");
        assert_eq!(v["next"]["inventory"][1]["task_definition"], "worker:4");
        assert_eq!(v["next"]["inventory"][0]["task_definition"], "api:3");
        assert_eq!(outcome(&r.journal, "api").outcome, Some(Outcome::Ok));
        assert_eq!(outcome(&r.journal, "worker").outcome, Some(Outcome::Failed));
    }

    // Issue 14: UpdateService reached ECS but every answer was lost (500s);
    // DescribeServices shows the service on the target, so it happened.
    #[tokio::test(start_paused = true)]
    async fn lost_update_service_answer_is_read_back_and_counted_done() {
        let r = setup();
        let describe = mock!(Client::describe_services)
            .sequence()
            .output(|| {
                described(vec![service(
                    "api",
                    "api:4",
                    2,
                    DeploymentRolloutState::Completed,
                )])
            })
            .output(|| {
                described(vec![service(
                    "api",
                    "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/api:3",
                    2,
                    DeploymentRolloutState::InProgress,
                )])
            })
            .build();
        let tds = task_definitions();
        let lost = mock!(Client::update_service)
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe, &tds, &lost]);
        revert(&r, &args(&["api"], true), &client).await.unwrap();
        assert_eq!(lost.num_calls(), 3, "the SDK's own attempts");
        assert_eq!(describe.num_calls(), 2, "plan and read-back");
        let o = outcome(&r.journal, "api");
        assert_eq!(o.outcome, Some(Outcome::Ok));
        let v: Value = serde_json::from_str(&r.stdout.text()).unwrap();
        assert_eq!(v["services"][0]["state"], "updated");
        assert!(v.get("next").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn signal_during_the_wait_journals_interrupted_and_exits_130() {
        let r = setup();
        let describe = mock!(Client::describe_services)
            .sequence()
            .output(|| {
                described(vec![service(
                    "api",
                    "api:4",
                    2,
                    DeploymentRolloutState::Completed,
                )])
            })
            .output(|| {
                described(vec![service(
                    "api",
                    "api:3",
                    0,
                    DeploymentRolloutState::InProgress,
                )])
            })
            .repeatedly()
            .build();
        let tds = task_definitions();
        let update =
            mock!(Client::update_service).then_output(|| UpdateServiceOutput::builder().build());
        let client = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe, &tds, &update]);
        let c = r.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            c.trigger(SignalKind::Hangup);
        });
        let err = revert(&r, &args(&["api"], false), &client)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 130);
        assert_eq!(update.num_calls(), 1);
        assert!(describe.num_calls() >= 3, "it was waiting");
        let o = outcome(&r.journal, "api");
        assert_eq!(o.outcome, Some(Outcome::Interrupted));
        let msg = o.message.unwrap();
        for needle in [
            "SIGHUP",
            "re-attach: ecs-revert wait --cluster ltc --service api",
            "ecs-revert revert --cluster ltc --service api --to api:3 again is idempotent",
            "undo: ecs-revert revert --cluster ltc --service api --to api:4",
        ] {
            assert!(msg.contains(needle), "{needle:?} in {msg}");
        }
        let v: Value = serde_json::from_str(&r.stdout.text()).unwrap();
        assert_eq!(v["next"]["state"], "interrupted");
    }
}

/// Auto scaling around a revert under a signal and a failed put-back, against
/// the real SDK clients with `aws-smithy-mocks`.
#[cfg(test)]
mod scaling_mock_tests {
    use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::DescribeScalableTargetsOutput;
    use aws_sdk_applicationautoscaling::operation::register_scalable_target::RegisterScalableTargetOutput;
    use aws_sdk_applicationautoscaling::types::{
        ScalableDimension, ScalableTarget, ServiceNamespace,
    };
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
    use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, TaskDefinition};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use common::cancel::SignalKind;
    use common::journal::{Journal, Phase};
    use common::{Cancel, GlobalArgs, Output};

    use super::*;
    use crate::scaling::Suspended;

    fn svc(td: &str, running: i32, rollout: DeploymentRolloutState) -> DescribeServicesOutput {
        DescribeServicesOutput::builder()
            .services(
                Service::builder()
                    .service_name("api")
                    .status("ACTIVE")
                    .task_definition(td)
                    .desired_count(2)
                    .running_count(running)
                    .pending_count(0)
                    .deployments(
                        Deployment::builder()
                            .id("d1")
                            .status("PRIMARY")
                            .task_definition(td)
                            .rollout_state(rollout)
                            .running_count(running)
                            .desired_count(2)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn target(s: Suspended) -> DescribeScalableTargetsOutput {
        DescribeScalableTargetsOutput::builder()
            .scalable_targets(
                ScalableTarget::builder()
                    .service_namespace(ServiceNamespace::Ecs)
                    .resource_id("service/ltc/api")
                    .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                    .min_capacity(1)
                    .max_capacity(4)
                    .role_arn("arn:aws:iam::123456789012:role/aas")
                    .creation_time(aws_smithy_types::DateTime::from_secs(0))
                    .suspended_state(s.to_sdk())
                    .build()
                    .expect("target"),
            )
            .build()
    }

    fn ecs_client(running_after: i32, rollout: DeploymentRolloutState) -> Client {
        let describe = mock!(Client::describe_services)
            .sequence()
            .output(|| svc("api:4", 2, DeploymentRolloutState::Completed))
            .output(move || svc("api:3", running_after, rollout.clone()))
            .repeatedly()
            .build();
        let tds = mock!(Client::describe_task_definition).then_output(|| {
            DescribeTaskDefinitionOutput::builder()
                .task_definition(
                    TaskDefinition::builder()
                        .family("api")
                        .revision(3)
                        .status(TaskDefinitionStatus::Active)
                        .task_definition_arn(
                            "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/api:3",
                        )
                        .build(),
                )
                .build()
        });
        let update =
            mock!(Client::update_service).then_output(|| UpdateServiceOutput::builder().build());
        mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe, &tds, &update])
    }

    fn args() -> RevertArgs {
        RevertArgs {
            target: Services {
                cluster: "ltc".into(),
                services: vec!["api".into()],
            },
            to: Some("3".into()),
            force: false,
            no_wait: false,
            timeout: "10m".parse().expect("duration"),
        }
    }

    // Before: scale-in only suspended (an operator's choice). A signal during the
    // wait still puts that state back (the calls are quick), then exit 130.
    #[tokio::test(start_paused = true)]
    async fn signal_during_the_wait_still_puts_the_previous_scaling_state_back() {
        let dir = tempfile::tempdir().expect("dir");
        let journal = dir.path().join("j.jsonl");
        let globals = GlobalArgs {
            journal: Some(journal.clone()),
            ..Default::default()
        };
        let (out, _o, _e) = Output::captured(true);
        let cancel = Cancel::new();
        let ctx = Context::with_output("ecs-revert", &globals, out).with_cancel(cancel.clone());
        let before = Suspended {
            dynamic_scaling_in: true,
            ..Suspended::NONE
        };
        let ecs = ecs_client(0, DeploymentRolloutState::InProgress);
        let targets = mock!(aws_sdk_applicationautoscaling::Client::describe_scalable_targets)
            .sequence()
            .output(move || target(before))
            .output(|| target(Suspended::ALL))
            .output(move || target(before))
            .build();
        let register = mock!(aws_sdk_applicationautoscaling::Client::register_scalable_target)
            .then_output(|| RegisterScalableTargetOutput::builder().build());
        let aas = mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            [&targets, &register]
        );
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            c.trigger(SignalKind::Terminate);
        });
        let spec = TargetSpec::parse("3").expect("spec");
        let err = execute_with(
            &ctx,
            &args(),
            &["api".into()],
            Some(&spec),
            &ecs,
            &CallCounter::default(),
            Some(&aas),
        )
        .await
        .expect_err("interrupted");
        assert_eq!(err.exit_code(), 130);
        assert_eq!(register.num_calls(), 2, "suspend, then put back");
        let entries = Journal::read_entries(&journal).expect("journal");
        let resume = entries
            .iter()
            .find(|e| e.action == scaling::ACTION_RESUME && e.phase == Phase::Outcome)
            .expect("put back journaled");
        assert_eq!(resume.outcome, Some(Outcome::Ok));
        assert_eq!(resume.after["suspended"]["dynamic_scaling_in"], true);
        assert_eq!(resume.after["suspended"]["dynamic_scaling_out"], false);
    }

    // The revert went through but the put-back was refused: the operator must
    // act, so exit 7 with the command that puts scaling back.
    #[tokio::test(start_paused = true)]
    async fn refused_put_back_after_a_good_revert_is_exit_7_with_the_command() {
        let dir = tempfile::tempdir().expect("dir");
        let globals = GlobalArgs {
            journal: Some(dir.path().join("j.jsonl")),
            ..Default::default()
        };
        let (out, _o, _e) = Output::captured(true);
        let ctx = Context::with_output("ecs-revert", &globals, out).with_cancel(Cancel::new());
        let ecs = ecs_client(2, DeploymentRolloutState::Completed);
        let targets = mock!(aws_sdk_applicationautoscaling::Client::describe_scalable_targets)
            .sequence()
            .output(|| target(Suspended::NONE))
            .output(|| target(Suspended::ALL))
            .build();
        let register = mock!(aws_sdk_applicationautoscaling::Client::register_scalable_target)
            .sequence()
            .output(|| RegisterScalableTargetOutput::builder().build())
            .http_status(
                400,
                Some(r#"{"__type":"AccessDeniedException","message":"no"}"#.into()),
            )
            .build();
        let aas = mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            [&targets, &register]
        );
        let spec = TargetSpec::parse("3").expect("spec");
        let err = execute_with(
            &ctx,
            &args(),
            &["api".into()],
            Some(&spec),
            &ecs,
            &CallCounter::default(),
            Some(&aas),
        )
        .await
        .expect_err("scaling left suspended");
        assert_eq!(err.exit_code(), 7, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("the revert is done but auto scaling was not put back"),
            "{msg}"
        );
        assert!(
            msg.contains("--resource-id service/ltc/api --suspended-state '{\"DynamicScalingInSuspended\":false"),
            "{msg}"
        );
    }
}
