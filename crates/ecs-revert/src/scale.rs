//! `scale`: set the desired count by hand (the contingency when auto scaling
//! fails) and wait until that many tasks run.

use std::io::Write;

use common::{AwsResultExt, Context, Error, HumanDuration, Render, Result};
use serde::Serialize;
use serde_json::{Value, json};

use crate::Services;
use aws_sdk_ecs::Client;

use crate::ecs::{
    self, CallCounter, Update, client, describe_services, journal_target, verified_update,
};
use crate::revert::Call;
use crate::scaling;
use crate::steady::Expect;
use crate::taskdef::{parse_count, short_name};
use crate::watch::failure_error;
use crate::watch::{self, Settled, Watched, event_ids};

/// Journal action of a desired-count change.
pub const ACTION: &str = "ecs.scale";

/// Counts above this need `--force`: more is almost always a typo at 3 a.m.
pub const SANE_MAX: i32 = 1000;

#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    #[command(flatten)]
    pub target: Services,
    /// The number of tasks each service should run (0-1000; more needs --force).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub desired: String,
    /// Allow a desired count above 1000.
    #[arg(long)]
    pub force: bool,
    /// Make the change and return without waiting.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this long (exit 5). LTC_DEADLINE also applies.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

/// `scale` on the command line: the scale itself plus the auto scaling limits.
#[derive(Debug, clap::Args)]
pub struct ScaleCmd {
    #[command(flatten)]
    pub scale: ScaleArgs,
    /// When N is outside a service's auto scaling min/max, widen them to hold N
    /// (journaled) instead of only warning that Application Auto Scaling will undo it.
    #[arg(long)]
    pub adjust_limits: bool,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ScaleService {
    pub service: String,
    pub from_desired: i32,
    pub to_desired: i32,
    pub running: i32,
    /// `would-update`, `unchanged`, `updated`, `update-failed`, `steady`, `failed`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ScaleReport {
    pub cluster: String,
    pub dry_run: bool,
    pub waited: bool,
    pub services: Vec<ScaleService>,
    /// The UpdateService calls (`call_log`: `calls` is the envelope's).
    #[serde(rename = "call_log")]
    pub calls: Vec<Call>,
    pub ecs_calls: u64,
    /// After an interrupted or partial run: the commands to go on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next: Vec<String>,
    /// Auto scaling limits widened to hold N (--adjust-limits).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<scaling::Row>,
    /// N outside a service's auto scaling min/max (without --adjust-limits).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn scale_command(cluster: &str, service: &str, n: i32) -> String {
    format!(
        "ecs-revert scale --cluster {} --service {} --desired {n}",
        short_name(cluster),
        short_name(service)
    )
}

impl Render for ScaleReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        for s in &self.services {
            writeln!(
                w,
                "{}: desired {} -> {} [{}] ({} running)",
                s.service, s.from_desired, s.to_desired, s.state, s.running
            )?;
        }
        for c in &self.calls {
            let verb = if self.dry_run { "would call" } else { "called" };
            writeln!(w, "{verb} {c}")?;
        }
        for r in &self.limits {
            writeln!(
                w,
                "auto scaling limits of {}: {} [{}]",
                r.service,
                r.requested.describe(),
                r.state
            )?;
        }
        for x in &self.warnings {
            writeln!(w, "warning: {x}")?;
        }
        Ok(())
    }
}

pub async fn run(ctx: &Context, cmd: &ScaleCmd) -> Result<()> {
    let args = &cmd.scale;
    let names = args.target.validated()?;
    let n = parse_count(&args.desired, args.force, SANE_MAX)?;
    common::duration::env_deadline()?;
    let (client, counter) = client(ctx).await?;
    let (autoscaling, _) = scaling::client(ctx).await?;
    execute_with(
        ctx,
        args,
        &names,
        n,
        &client,
        &counter,
        Some((&autoscaling, cmd.adjust_limits)),
    )
    .await
}

/// The scale after the input checks, with the client given (tests pass a
/// mocked one), without looking at auto scaling.
pub async fn execute(
    ctx: &Context,
    args: &ScaleArgs,
    names: &[String],
    n: i32,
    client: &Client,
    counter: &CallCounter,
) -> Result<()> {
    execute_with(ctx, args, names, n, client, counter, None).await
}

/// The scale; with `autoscaling` (client, adjust), N is checked against each
/// service's auto scaling min/max first: a warning, or with adjust the limits
/// widened (journaled) before the count is set.
pub async fn execute_with(
    ctx: &Context,
    args: &ScaleArgs,
    names: &[String],
    n: i32,
    client: &Client,
    counter: &CallCounter,
    autoscaling: Option<(&scaling::AutoScalingClient, bool)>,
) -> Result<()> {
    let cluster = args.target.cluster.as_str();
    let services = ctx
        .cancel()
        .run(describe_services(client, cluster, names))
        .await?;
    let (warnings, limit_plans) = match autoscaling {
        Some((a, adjust)) => match ctx
            .cancel()
            .run(scaling::read_states(a, cluster, names, false))
            .await
        {
            Ok(targets) => scaling::limit_plans(&targets, n, adjust),
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) => (
                vec![format!(
                    "could not read the auto scaling limits ({e}); a count outside them would be moved back"
                )],
                Vec::new(),
            ),
        },
        None => (Vec::new(), Vec::new()),
    };
    for w in &warnings {
        ctx.out.warn(w.clone());
    }
    let mut rows: Vec<ScaleService> = services
        .iter()
        .map(|s| ScaleService {
            service: s.service_name().unwrap_or_default().to_owned(),
            from_desired: s.desired_count(),
            to_desired: n,
            running: s.running_count(),
            state: if s.desired_count() == n {
                "unchanged".into()
            } else {
                "would-update".into()
            },
            reason: None,
        })
        .collect();
    let calls: Vec<Call> = rows
        .iter()
        .filter(|r| r.state == "would-update")
        .map(|r| Call {
            operation: "UpdateService",
            cluster: cluster.to_owned(),
            service: r.service.clone(),
            task_definition: None,
            desired_count: Some(n),
        })
        .collect();
    if ctx.dry_run() {
        let limits = scaling::planned_rows(&limit_plans);
        for r in &limits {
            ctx.out.info(format!(
                "dry run: would call RegisterScalableTarget(resourceId={}, {})",
                r.resource_id,
                r.requested.describe()
            ));
        }
        for c in &calls {
            ctx.out.info(format!("dry run: would call {c}"));
        }
        return ctx.out.result(&ScaleReport {
            cluster: short_name(cluster).to_owned(),
            dry_run: true,
            waited: false,
            services: rows,
            calls,
            ecs_calls: counter.total(),
            next: Vec::new(),
            limits,
            warnings,
        });
    }
    if !calls.is_empty() || !limit_plans.is_empty() {
        ctx.begin_change(&format!(
            "scale {} ECS service(s) in cluster {} to {n} tasks",
            calls.len(),
            short_name(cluster)
        ))
        .await?;
    }

    let cancel = ctx.cancel();
    cancel.check()?;
    let mut limits = Vec::new();
    if let (Some((a, _)), false) = (autoscaling, limit_plans.is_empty()) {
        // Widen first, so Application Auto Scaling does not move the new count back.
        limits = scaling::apply(ctx, a, cluster, scaling::ACTION_LIMITS, &limit_plans).await?;
        for r in limits.iter().filter(|r| r.state != "updated") {
            ctx.out.warn(format!(
                "{}: the auto scaling limits were not widened ({}); Application Auto Scaling may move the count back",
                r.service,
                r.reason.as_deref().unwrap_or(&r.state)
            ));
        }
    }
    let journal = ctx.journal().await?;
    let mut update_error = None;
    let mut unknown = false;
    let mut changes = Vec::new();
    for (row, svc) in rows.iter_mut().zip(&services) {
        if row.state != "would-update" {
            continue;
        }
        // A signal between services: start no further UpdateService.
        if cancel.is_cancelled() {
            break;
        }
        let before = json!({
            "desired": row.from_desired,
            "running": row.running,
            "pending": svc.pending_count(),
            "requested_desired": n,
            "task_definition": svc.task_definition()
                .and_then(crate::taskdef::TaskDefRef::parse_loose)
                .map(|t| t.to_string()),
        });
        let change = journal.intent(ACTION, &journal_target(cluster, &row.service), before)?;
        let sent = client
            .update_service()
            .cluster(cluster)
            .service(&row.service)
            .desired_count(n)
            .send()
            .await
            .aws("UpdateService")
            .map(|_| ());
        match verified_update(client, cluster, &row.service, sent, |s| {
            s.desired_count() == n
        })
        .await
        {
            Update::Done { .. } => {
                row.state = "updated".into();
                changes.push((row.service.clone(), change));
            }
            Update::Failed(e) => {
                row.state = "update-failed".into();
                row.reason = Some(e.to_string());
                change.failed(Value::Null, e.to_string())?;
                ctx.out.warn(format!("{}: {e}", row.service));
                update_error.get_or_insert(Error::Aws(e));
            }
            Update::Unknown { error, why } => {
                let msg = format!(
                    "{error}; whether {} now wants {n} tasks is unknown (read-back failed: {why}); check with: {}",
                    row.service,
                    ecs::read_command(cluster, &row.service)
                );
                row.state = "unknown".into();
                row.reason = Some(msg.clone());
                change.unknown(json!({ "requested_desired": n }), msg.clone())?;
                ctx.out.warn(format!("{}: {msg}", row.service));
                unknown = true;
            }
        }
    }

    let watched: Vec<Watched> = rows
        .iter()
        .zip(&services)
        .filter(|(r, _)| r.state == "updated" || r.state == "unchanged")
        .map(|(r, svc)| Watched {
            service: r.service.clone(),
            expect: Expect {
                target: None,
                desired: Some(n),
                rollout: false,
            },
            seen_events: Some(event_ids(svc)),
        })
        .collect();
    let reattach = args.target.reattach(
        &watched
            .iter()
            .map(|w| w.service.clone())
            .collect::<Vec<_>>(),
    );
    let waited = !args.no_wait && !watched.is_empty() && !cancel.is_cancelled();
    let mut wait_error = None;
    if waited {
        match cancel
            .run(watch::wait_all(
                &ctx.out,
                client,
                cluster,
                &watched,
                args.timeout.0,
                format!("{reattach} (or: ecs-revert status --cluster {cluster} --service ...)"),
            ))
            .await
        {
            Ok(settled) => {
                for s in &settled {
                    if let Some(r) = rows.iter_mut().find(|r| r.service == s.service) {
                        r.state = s.state.to_owned();
                        r.reason = s.reason.clone();
                        r.running = s.running;
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
    // What to run next: finish the services not (known to be) scaled, undo the scaled ones.
    let mut next = Vec::new();
    for r in &rows {
        match r.state.as_str() {
            "would-update" | "update-failed" | "unknown" => {
                next.push(format!("finish: {}", scale_command(cluster, &r.service, n)));
            }
            _ if r.from_desired != n => next.push(format!(
                "undo: {}",
                scale_command(cluster, &r.service, r.from_desired)
            )),
            _ => {}
        }
    }
    let interrupted = cancel.is_cancelled();
    for (service, change) in changes {
        let Some(r) = rows.iter().find(|r| r.service == service) else {
            continue;
        };
        let after = json!({"desired": n, "running": r.running, "state": r.state});
        if interrupted {
            change.interrupted(
                after,
                format!(
                    "interrupted while waiting; the desired count was set to {n} and ECS carries on; re-attach: {reattach}; \
                     {} again is idempotent (no call, it only waits); undo: {}",
                    scale_command(cluster, &service, n),
                    scale_command(cluster, &service, r.from_desired)
                ),
            )?;
            continue;
        }
        match r.state.as_str() {
            "steady" => change.ok(after)?,
            "updated" if !waited => change.finish(
                common::journal::Outcome::Ok,
                after,
                Some("not waited for the tasks to run".into()),
            )?,
            "failed" => change.failed(after, r.reason.clone().unwrap_or_default())?,
            _ => change.failed(after, "timed out waiting; tasks may still be starting")?,
        }
    }
    let changed = rows
        .iter()
        .filter(|r| {
            r.from_desired != n
                && !matches!(
                    r.state.as_str(),
                    "would-update" | "update-failed" | "unknown"
                )
        })
        .count();
    let partial = unknown || (update_error.is_some() && changed > 0);
    if !(interrupted || partial) {
        next.clear();
    }
    if partial || interrupted {
        for r in &rows {
            ctx.out.warn(format!(
                "{}: desired {} -> {} [{}]",
                r.service, r.from_desired, r.to_desired, r.state
            ));
        }
    }
    ctx.out.result(&ScaleReport {
        cluster: short_name(cluster).to_owned(),
        dry_run: false,
        waited,
        services: rows,
        calls,
        ecs_calls: counter.total(),
        next: next.clone(),
        limits,
        warnings,
    })?;
    if interrupted {
        ctx.out.warn(format!("interrupted: {}", next.join("; ")));
        return Err(Error::Interrupted);
    }
    if partial {
        return Err(Error::RevertFailed(format!(
            "the desired count was set on only some services, or the outcome is unknown: {}",
            next.join("; ")
        )));
    }
    match (update_error, wait_error) {
        (Some(e), _) | (None, Some(e)) => Err(e),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
    use aws_sdk_ecs::types::Service;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use common::cancel::SignalKind;
    use common::journal::{Journal, Outcome, Phase};
    use common::{Cancel, GlobalArgs, Output};

    use super::*;

    fn svc(desired: i32, running: i32) -> DescribeServicesOutput {
        DescribeServicesOutput::builder()
            .services(
                Service::builder()
                    .service_name("api")
                    .status("ACTIVE")
                    .task_definition("api:4")
                    .desired_count(desired)
                    .running_count(running)
                    .pending_count(0)
                    .build(),
            )
            .build()
    }

    fn args(no_wait: bool) -> ScaleArgs {
        ScaleArgs {
            target: Services {
                cluster: "ltc".into(),
                services: vec!["api".into()],
            },
            desired: "6".into(),
            force: false,
            no_wait,
            timeout: "10m".parse().unwrap(),
        }
    }

    fn ctx(dir: &tempfile::TempDir, cancel: &Cancel) -> Context {
        let globals = GlobalArgs {
            journal: Some(dir.path().join("j.jsonl")),
            ..Default::default()
        };
        let (out, _o, _e) = Output::captured(true);
        Context::with_output("ecs-revert", &globals, out).with_cancel(cancel.clone())
    }

    fn outcome(dir: &tempfile::TempDir) -> common::journal::Entry {
        Journal::read_entries(&dir.path().join("j.jsonl"))
            .unwrap()
            .into_iter()
            .find(|e| e.phase == Phase::Outcome)
            .unwrap()
    }

    // Issue 14: the UpdateService reached ECS, its answers were lost (500s);
    // DescribeServices shows desiredCount 6, so it happened.
    #[tokio::test(start_paused = true)]
    async fn lost_update_answer_is_read_back_as_done() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = Cancel::new();
        let describe = mock!(Client::describe_services)
            .sequence()
            .output(|| svc(2, 2))
            .output(|| svc(6, 2))
            .build();
        let lost = mock!(Client::update_service)
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe, &lost]);
        execute(
            &ctx(&dir, &cancel),
            &args(true),
            &["api".into()],
            6,
            &client,
            &CallCounter::default(),
        )
        .await
        .unwrap();
        assert_eq!(describe.num_calls(), 2);
        assert_eq!(outcome(&dir).outcome, Some(Outcome::Ok));
    }

    #[tokio::test(start_paused = true)]
    async fn signal_during_the_wait_journals_interrupted_and_exits_130() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = Cancel::new();
        let describe = mock!(Client::describe_services)
            .sequence()
            .output(|| svc(2, 2))
            .output(|| svc(6, 3))
            .repeatedly()
            .build();
        let update =
            mock!(Client::update_service).then_output(|| UpdateServiceOutput::builder().build());
        let client = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe, &update]);
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(20)).await;
            c.trigger(SignalKind::Interrupt);
        });
        let err = execute(
            &ctx(&dir, &cancel),
            &args(false),
            &["api".into()],
            6,
            &client,
            &CallCounter::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 130);
        assert_eq!(update.num_calls(), 1);
        let o = outcome(&dir);
        assert_eq!(o.outcome, Some(Outcome::Interrupted));
        let msg = o.message.unwrap();
        assert!(
            msg.contains(
                "ecs-revert scale --cluster ltc --service api --desired 6 again is idempotent"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("undo: ecs-revert scale --cluster ltc --service api --desired 2"),
            "{msg}"
        );
    }
}
