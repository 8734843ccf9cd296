//! `scaling`: Application Auto Scaling of ECS services (each service's
//! scalable target on `ecs:service:DesiredCount`): show it, record it as a run
//! record before a deploy, restore min/max/suspended state from that record on
//! rollback, and suspend/resume dynamic and scheduled scaling while traffic
//! moves. `revert` and `scale` use the same calls.
//!
//! Every RegisterScalableTarget is journaled (intent with the state before,
//! outcome with the state after). The call sets absolute values, so sending it
//! again is harmless; an answer lost to a timeout or 5xx is read back with
//! DescribeScalableTargets before the outcome is decided.

use std::collections::BTreeMap;
use std::io::Write;

use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::types::{
    ScalableDimension, ScalableTarget, ServiceNamespace, SuspendedState,
};
use common::{AwsError, AwsResultExt, Context, Error, Render, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Services;
use crate::ecs::{CallCounter, answer_may_be_lost, journal_target};
use crate::taskdef::{check_resource, short_name};

pub use aws_sdk_applicationautoscaling::Client as AutoScalingClient;

/// Journal actions.
pub const ACTION_SUSPEND: &str = "ecs.scaling.suspend";
pub const ACTION_RESUME: &str = "ecs.scaling.resume";
pub const ACTION_RESTORE: &str = "ecs.scaling.restore";
pub const ACTION_LIMITS: &str = "ecs.scaling.limits";

/// The record's format, so a later reader can tell what it holds.
pub const RECORD_KIND: &str = "ecs-revert.scaling/1";

#[derive(Debug, clap::Args)]
pub struct ScalingArgs {
    #[command(subcommand)]
    pub command: ScalingCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ScalingCommand {
    /// Each service's scalable target: min, max, suspended state, policies, scheduled actions (read-only).
    Show(Services),
    /// Write what `show` reads as the run record scaling-<cluster>.json (before a deploy).
    ///
    /// Records are never overwritten: when the run already has one (a resumed
    /// deploy step), the first one is kept and the command succeeds.
    Record(RecordArgs),
    /// Put min, max and suspended state back as a run's record has them.
    ///
    /// Scaling policies and scheduled actions are NOT recreated or deleted:
    /// their differences from the record are listed as warnings (recreate them
    /// from the infrastructure code). A target that was not registered when the
    /// record was taken is left as it is (deregistering would delete its policies).
    Restore(RestoreArgs),
    /// Suspend dynamic scale-in, scale-out and scheduled scaling (while traffic moves).
    Suspend(Services),
    /// Resume dynamic scale-in, scale-out and scheduled scaling.
    Resume(Services),
}

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub target: Services,
    /// The run the record belongs to (default: LTC_RUN_ID, set by the runbooks).
    #[arg(long = "run", env = "LTC_RUN_ID", value_name = "RUN_ID")]
    pub run: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The run whose scaling record to restore (the deploy being rolled back).
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run: String,
    /// ECS cluster name (the record is scaling-<cluster>.json).
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: String,
    /// Only these services (default: every service in the record).
    #[arg(long = "service", value_name = "SERVICE", value_delimiter = ',')]
    pub services: Vec<String>,
}

/// Which kinds of scaling are suspended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, common::schemars::JsonSchema,
)]
#[schemars(crate = "common::schemars")]
pub struct Suspended {
    pub dynamic_scaling_in: bool,
    pub dynamic_scaling_out: bool,
    pub scheduled_scaling: bool,
}

impl Suspended {
    pub const ALL: Suspended = Suspended {
        dynamic_scaling_in: true,
        dynamic_scaling_out: true,
        scheduled_scaling: true,
    };
    pub const NONE: Suspended = Suspended {
        dynamic_scaling_in: false,
        dynamic_scaling_out: false,
        scheduled_scaling: false,
    };

    /// A field AWS leaves out means "not suspended".
    pub fn from_sdk(s: Option<&SuspendedState>) -> Suspended {
        Suspended {
            dynamic_scaling_in: s
                .and_then(|s| s.dynamic_scaling_in_suspended())
                .unwrap_or(false),
            dynamic_scaling_out: s
                .and_then(|s| s.dynamic_scaling_out_suspended())
                .unwrap_or(false),
            scheduled_scaling: s
                .and_then(|s| s.scheduled_scaling_suspended())
                .unwrap_or(false),
        }
    }

    /// All three fields, always: what is sent is what is meant.
    pub fn to_sdk(self) -> SuspendedState {
        SuspendedState::builder()
            .dynamic_scaling_in_suspended(self.dynamic_scaling_in)
            .dynamic_scaling_out_suspended(self.dynamic_scaling_out)
            .scheduled_scaling_suspended(self.scheduled_scaling)
            .build()
    }

    pub fn describe(self) -> String {
        if self == Self::NONE {
            return "none".into();
        }
        if self == Self::ALL {
            return "all".into();
        }
        let mut parts = Vec::new();
        if self.dynamic_scaling_in {
            parts.push("scale-in");
        }
        if self.dynamic_scaling_out {
            parts.push("scale-out");
        }
        if self.scheduled_scaling {
            parts.push("scheduled");
        }
        parts.join("+")
    }

    fn cli_json(self) -> String {
        format!(
            "{{\"DynamicScalingInSuspended\":{},\"DynamicScalingOutSuspended\":{},\"ScheduledScalingSuspended\":{}}}",
            self.dynamic_scaling_in, self.dynamic_scaling_out, self.scheduled_scaling
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Policy {
    pub name: String,
    pub policy_type: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Scheduled {
    pub name: String,
    pub schedule: String,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub min: Option<i32>,
    #[serde(default)]
    pub max: Option<i32>,
}

/// One service's scalable target as read (or recorded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct TargetState {
    pub service: String,
    pub resource_id: String,
    /// False: the service has no scalable target (nothing scales it).
    pub registered: bool,
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub suspended: Suspended,
    #[serde(default)]
    pub policies: Vec<Policy>,
    #[serde(default)]
    pub scheduled_actions: Vec<Scheduled>,
}

impl TargetState {
    fn limits(&self) -> Value {
        json!({ "min": self.min, "max": self.max, "suspended": self.suspended })
    }
}

/// The run record `scaling-<cluster>.json`.
#[derive(Debug, Clone, Serialize, Deserialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ScalingRecord {
    pub kind: String,
    pub cluster: String,
    pub run_id: String,
    pub recorded_at: String,
    pub targets: Vec<TargetState>,
}

pub fn record_name(cluster: &str) -> String {
    format!("scaling-{}.json", short_name(cluster))
}

/// Application Auto Scaling's id of a service: `service/CLUSTER/SERVICE`.
pub fn resource_id(cluster: &str, service: &str) -> String {
    format!("service/{}/{}", short_name(cluster), short_name(service))
}

/// The command that shows a service's scalable target.
pub fn read_command(cluster: &str, service: &str) -> String {
    format!(
        "aws application-autoscaling describe-scalable-targets --service-namespace ecs --resource-ids {}",
        resource_id(cluster, service)
    )
}

/// The command that sets a target's limits and suspended state by hand.
pub fn register_command(cluster: &str, service: &str, want: &Want) -> String {
    let mut cmd = format!(
        "aws application-autoscaling register-scalable-target --service-namespace ecs --scalable-dimension ecs:service:DesiredCount --resource-id {}",
        resource_id(cluster, service)
    );
    if let Some(m) = want.min {
        cmd.push_str(&format!(" --min-capacity {m}"));
    }
    if let Some(m) = want.max {
        cmd.push_str(&format!(" --max-capacity {m}"));
    }
    if let Some(s) = want.suspended {
        cmd.push_str(&format!(" --suspended-state '{}'", s.cli_json()));
    }
    cmd
}

/// The Application Auto Scaling client and its call counter.
pub async fn client(ctx: &Context) -> Result<(Client, CallCounter)> {
    let aws = ctx.aws().await?;
    let counter = CallCounter::default();
    let conf = aws_sdk_applicationautoscaling::config::Builder::from(&aws.config)
        .interceptor(counter.clone())
        .build();
    Ok((Client::from_conf(conf), counter))
}

/// The scalable targets of `services`, by resource id (50 ids per call).
pub async fn describe_targets(
    client: &Client,
    cluster: &str,
    services: &[String],
) -> Result<BTreeMap<String, ScalableTarget>> {
    let ids: Vec<String> = services.iter().map(|s| resource_id(cluster, s)).collect();
    let mut found = BTreeMap::new();
    for chunk in ids.chunks(50) {
        let mut pages = client
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .set_resource_ids(Some(chunk.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for t in page.aws("DescribeScalableTargets")?.scalable_targets() {
                found.insert(t.resource_id().to_owned(), t.clone());
            }
        }
    }
    Ok(found)
}

fn state_of(cluster: &str, service: &str, t: Option<&ScalableTarget>) -> TargetState {
    TargetState {
        service: short_name(service).to_owned(),
        resource_id: resource_id(cluster, service),
        registered: t.is_some(),
        min: t.map(|t| t.min_capacity()),
        max: t.map(|t| t.max_capacity()),
        suspended: Suspended::from_sdk(t.and_then(|t| t.suspended_state())),
        policies: Vec::new(),
        scheduled_actions: Vec::new(),
    }
}

/// Each service's target; with `details`, also its policies and scheduled
/// actions (two more calls per registered service).
pub async fn read_states(
    client: &Client,
    cluster: &str,
    services: &[String],
    details: bool,
) -> Result<Vec<TargetState>> {
    let targets = describe_targets(client, cluster, services).await?;
    let mut out = Vec::new();
    for s in services {
        let mut st = state_of(cluster, s, targets.get(&resource_id(cluster, s)));
        if details && st.registered {
            let mut pages = client
                .describe_scaling_policies()
                .service_namespace(ServiceNamespace::Ecs)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .resource_id(&st.resource_id)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for p in page.aws("DescribeScalingPolicies")?.scaling_policies() {
                    st.policies.push(Policy {
                        name: p.policy_name().to_owned(),
                        policy_type: p.policy_type().as_str().to_owned(),
                        arn: p.policy_arn().to_owned(),
                    });
                }
            }
            let mut pages = client
                .describe_scheduled_actions()
                .service_namespace(ServiceNamespace::Ecs)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .resource_id(&st.resource_id)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for a in page.aws("DescribeScheduledActions")?.scheduled_actions() {
                    st.scheduled_actions.push(Scheduled {
                        name: a.scheduled_action_name().to_owned(),
                        schedule: a.schedule().to_owned(),
                        timezone: a.timezone().map(str::to_owned),
                        min: a.scalable_target_action().and_then(|t| t.min_capacity()),
                        max: a.scalable_target_action().and_then(|t| t.max_capacity()),
                    });
                }
            }
        }
        out.push(st);
    }
    Ok(out)
}

/// What one RegisterScalableTarget asks for; `None` leaves a value as it is.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Want {
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub suspended: Option<Suspended>,
}

impl Want {
    /// Whether `t` already shows everything asked for.
    pub fn holds(&self, t: &TargetState) -> bool {
        t.registered
            && self.min.is_none_or(|m| t.min == Some(m))
            && self.max.is_none_or(|m| t.max == Some(m))
            && self.suspended.is_none_or(|s| t.suspended == s)
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.min {
            parts.push(format!("min={m}"));
        }
        if let Some(m) = self.max {
            parts.push(format!("max={m}"));
        }
        if let Some(s) = self.suspended {
            parts.push(format!("suspended={}", s.describe()));
        }
        parts.join(", ")
    }
}

/// How a RegisterScalableTarget ended once read back.
#[derive(Debug)]
pub enum Applied {
    Done { read_back: bool, now: TargetState },
    Failed(AwsError),
    Unknown { error: AwsError, why: String },
}

/// RegisterScalableTarget for one service, its outcome decided by its answer
/// or, when the answer may be lost (no status, 5xx), by a read-back.
pub async fn register(client: &Client, cluster: &str, service: &str, want: &Want) -> Applied {
    let sent = client
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(resource_id(cluster, service))
        .set_min_capacity(want.min)
        .set_max_capacity(want.max)
        .set_suspended_state(want.suspended.map(Suspended::to_sdk))
        .send()
        .await
        .aws("RegisterScalableTarget");
    let read = || async {
        describe_targets(client, cluster, &[service.to_owned()])
            .await
            .map(|m| state_of(cluster, service, m.get(&resource_id(cluster, service))))
    };
    match sent {
        Ok(_) => match read().await {
            Ok(now) => Applied::Done {
                read_back: false,
                now,
            },
            // Accepted; the state after is what was asked.
            Err(_) => Applied::Done {
                read_back: false,
                now: TargetState {
                    service: short_name(service).to_owned(),
                    resource_id: resource_id(cluster, service),
                    registered: true,
                    min: want.min,
                    max: want.max,
                    suspended: want.suspended.unwrap_or_default(),
                    policies: Vec::new(),
                    scheduled_actions: Vec::new(),
                },
            },
        },
        Err(e) if answer_may_be_lost(&e) => match read().await {
            Ok(now) if want.holds(&now) => Applied::Done {
                read_back: true,
                now,
            },
            Ok(_) => Applied::Failed(e),
            Err(why) => Applied::Unknown {
                error: e,
                why: why.to_string(),
            },
        },
        Err(e) => Applied::Failed(e),
    }
}

/// One service's part of a scaling change, as reported.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Row {
    pub service: String,
    pub resource_id: String,
    /// `would-update`, `updated`, `unchanged`, `not-registered`, `update-failed`, `unknown`, `skipped`.
    pub state: String,
    pub before: Value,
    pub requested: Want,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Sets this service back as it was (after an update).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo: Option<String>,
    #[serde(skip)]
    pub error: Option<AwsError>,
}

/// A planned change: the state read and what to ask (None: no call).
#[derive(Debug, Clone)]
pub struct Plan {
    pub current: TargetState,
    pub want: Option<Want>,
    pub note: Option<String>,
}

/// The planned rows before any call (dry runs print these).
pub fn planned_rows(plans: &[Plan]) -> Vec<Row> {
    plans
        .iter()
        .map(|p| Row {
            service: p.current.service.clone(),
            resource_id: p.current.resource_id.clone(),
            state: match (&p.want, p.current.registered) {
                (Some(w), _) if w.holds(&p.current) => "unchanged",
                (Some(_), _) => "would-update",
                (None, false) => "not-registered",
                (None, true) => "unchanged",
            }
            .to_owned(),
            before: p.current.limits(),
            requested: p.want.unwrap_or_default(),
            after: None,
            reason: p.note.clone(),
            undo: None,
            error: None,
        })
        .collect()
}

/// Makes the planned calls one service at a time, each journaled (intent
/// with the state before, then the outcome). No further call is started after
/// a signal (those rows stay `would-update`); a call under way is let finish.
pub async fn apply(
    ctx: &Context,
    client: &Client,
    cluster: &str,
    action: &str,
    plans: &[Plan],
) -> Result<Vec<Row>> {
    apply_calls(ctx, client, cluster, action, plans, true).await
}

/// Like [`apply`], but also after a signal: for putting back what this
/// command itself changed (quick calls that leave nothing behind).
pub async fn apply_even_after_signal(
    ctx: &Context,
    client: &Client,
    cluster: &str,
    action: &str,
    plans: &[Plan],
) -> Result<Vec<Row>> {
    apply_calls(ctx, client, cluster, action, plans, false).await
}

async fn apply_calls(
    ctx: &Context,
    client: &Client,
    cluster: &str,
    action: &str,
    plans: &[Plan],
    stop_on_signal: bool,
) -> Result<Vec<Row>> {
    let mut rows = planned_rows(plans);
    let journal = ctx.journal().await?;
    for (row, plan) in rows.iter_mut().zip(plans) {
        let Some(want) = plan.want.filter(|_| row.state == "would-update") else {
            continue;
        };
        if stop_on_signal && ctx.cancel().is_cancelled() {
            row.state = "skipped".into();
            row.reason = Some("not started: interrupted".into());
            continue;
        }
        let service = plan.current.service.as_str();
        let mut before = plan.current.limits();
        before["requested"] = serde_json::to_value(want).unwrap_or(Value::Null);
        let change = journal.intent(action, &journal_target(cluster, service), before)?;
        let undo_want = Want {
            min: want.min.and(plan.current.min),
            max: want.max.and(plan.current.max),
            suspended: want.suspended.map(|_| plan.current.suspended),
        };
        match register(client, cluster, service, &want).await {
            Applied::Done { read_back, now } => {
                ctx.out.info(format!(
                    "{service}: RegisterScalableTarget {} ({})",
                    if read_back {
                        "answer lost; DescribeScalableTargets shows it done"
                    } else {
                        "accepted"
                    },
                    want.describe()
                ));
                row.state = "updated".into();
                row.after = Some(now.limits());
                row.undo = plan
                    .current
                    .registered
                    .then(|| register_command(cluster, service, &undo_want));
                change.ok(now.limits())?;
            }
            Applied::Failed(e) => {
                ctx.out.warn(format!("{service}: {e}"));
                row.state = "update-failed".into();
                row.reason = Some(e.to_string());
                change.failed(Value::Null, e.to_string())?;
                row.error = Some(e);
            }
            Applied::Unknown { error, why } => {
                let msg = format!(
                    "{error}; whether the scalable target of {service} now has {} is unknown (read-back failed: {why}); check with: {}",
                    want.describe(),
                    read_command(cluster, service)
                );
                ctx.out.warn(format!("{service}: {msg}"));
                row.state = "unknown".into();
                row.reason = Some(msg.clone());
                row.undo = Some(register_command(cluster, service, &undo_want));
                change.unknown(json!({ "requested": want }), msg)?;
            }
        }
    }
    Ok(rows)
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ShowReport {
    pub cluster: String,
    pub targets: Vec<TargetState>,
    /// Application Auto Scaling requests made (retries included).
    pub autoscaling_calls: u64,
}

fn show_rows(targets: &[TargetState]) -> Vec<Vec<String>> {
    targets
        .iter()
        .map(|t| {
            let opt = |v: Option<i32>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
            vec![
                t.service.clone(),
                if t.registered { "yes" } else { "no" }.to_owned(),
                opt(t.min),
                opt(t.max),
                if t.registered {
                    t.suspended.describe()
                } else {
                    "-".into()
                },
                t.policies
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                t.scheduled_actions
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect()
}

const SHOW_HEADERS: [&str; 7] = [
    "SERVICE",
    "SCALABLE",
    "MIN",
    "MAX",
    "SUSPENDED",
    "POLICIES",
    "SCHEDULED",
];

impl Render for ShowReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        write!(
            w,
            "{}",
            common::output::table(&SHOW_HEADERS, &show_rows(&self.targets))
        )
    }
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RecordReport {
    pub cluster: String,
    pub run_id: String,
    pub record: String,
    /// Where it is kept (null in a dry run).
    pub location: Option<String>,
    /// True when the run already had this record: the first one was kept.
    pub already_recorded: bool,
    pub dry_run: bool,
    pub targets: Vec<TargetState>,
    pub autoscaling_calls: u64,
}

impl Render for RecordReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let verb = match (self.dry_run, self.already_recorded) {
            (true, _) => "dry run: would record",
            (_, true) => "already recorded (kept)",
            _ => "recorded",
        };
        writeln!(w, "{verb} {} for run {}", self.record, self.run_id)?;
        write!(
            w,
            "{}",
            common::output::table(&SHOW_HEADERS, &show_rows(&self.targets))
        )
    }
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ChangeReport {
    pub cluster: String,
    /// `suspend`, `resume` or `restore`.
    pub action: String,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub services: Vec<Row>,
    /// Policy and scheduled-action differences from the record (restore only): not changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_restored: Vec<String>,
    pub autoscaling_calls: u64,
}

impl Render for ChangeReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        if self.dry_run {
            writeln!(w, "dry run: nothing was changed")?;
        }
        for r in &self.services {
            writeln!(
                w,
                "{}: {} [{}] {}{}",
                r.service,
                self.action,
                r.state,
                r.requested.describe(),
                r.reason
                    .as_ref()
                    .map(|x| format!(" ({x})"))
                    .unwrap_or_default()
            )?;
        }
        for n in &self.not_restored {
            writeln!(w, "not restored: {n}")?;
        }
        Ok(())
    }
}

pub async fn run(ctx: &Context, args: &ScalingArgs) -> Result<()> {
    match &args.command {
        ScalingCommand::Show(t) => show(ctx, t).await,
        ScalingCommand::Record(a) => record(ctx, a).await,
        ScalingCommand::Restore(a) => restore(ctx, a).await,
        ScalingCommand::Suspend(t) => suspend_resume(ctx, t, true).await,
        ScalingCommand::Resume(t) => suspend_resume(ctx, t, false).await,
    }
}

async fn show(ctx: &Context, t: &Services) -> Result<()> {
    let names = t.validated()?;
    let (client, counter) = client(ctx).await?;
    let targets = ctx
        .cancel()
        .run(read_states(&client, &t.cluster, &names, true))
        .await?;
    ctx.out.result(&ShowReport {
        cluster: short_name(&t.cluster).to_owned(),
        targets,
        autoscaling_calls: counter.total(),
    })
}

async fn record(ctx: &Context, a: &RecordArgs) -> Result<()> {
    let names = a.target.validated()?;
    let run_id = a
        .run
        .clone()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Error::usage("no run id: pass --run RUN_ID or set LTC_RUN_ID"))?;
    common::state::validate_run_id(&run_id)?;
    let name = record_name(&a.target.cluster);
    let store = ctx.state().await?.cloned().ok_or_else(|| {
        Error::usage("no state tree to keep the record in (LTC_STATE or --state)")
    })?;
    let (client, counter) = client(ctx).await?;
    let targets = ctx
        .cancel()
        .run(read_states(&client, &a.target.cluster, &names, true))
        .await?;
    let mut report = RecordReport {
        cluster: short_name(&a.target.cluster).to_owned(),
        run_id: run_id.clone(),
        record: name.clone(),
        location: None,
        already_recorded: false,
        dry_run: ctx.dry_run(),
        targets,
        autoscaling_calls: counter.total(),
    };
    if ctx.dry_run() {
        ctx.out
            .info(format!("dry run: would record {name} for run {run_id}"));
        return ctx.out.result(&report);
    }
    if store.get_run_record(&run_id, &name)?.is_some() {
        ctx.out.warn(format!(
            "run {run_id} already has {name}; kept the first one (the state before the deploy); records are never overwritten"
        ));
        report.already_recorded = true;
        return ctx.out.result(&report);
    }
    let body = serde_json::to_vec_pretty(&ScalingRecord {
        kind: RECORD_KIND.into(),
        cluster: report.cluster.clone(),
        run_id: run_id.clone(),
        recorded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        targets: report.targets.clone(),
    })
    .map_err(|e| Error::Internal(format!("scaling record: {e}")))?;
    report.location = Some(store.put_run_record(&run_id, &name, &body)?);
    ctx.out.info(format!("recorded {name} for run {run_id}"));
    ctx.out.result(&report)
}

/// Reads a run's scaling record of `cluster`.
pub async fn read_record(ctx: &Context, run_id: &str, cluster: &str) -> Result<ScalingRecord> {
    let name = record_name(cluster);
    let store = ctx.state().await?.ok_or_else(|| {
        Error::usage("no state tree to read the record from (LTC_STATE or --state)")
    })?;
    let body = store.get_run_record(run_id, &name)?.ok_or_else(|| {
        Error::NotFound(format!(
            "run {} has no record {name} (run-state runs show {})",
            common::quote(run_id),
            common::quote(run_id)
        ))
    })?;
    let rec: ScalingRecord = serde_json::from_slice(&body).map_err(|e| {
        Error::usage(format!(
            "record {name} of run {run_id} is not a scaling record: {e}"
        ))
    })?;
    if rec.kind != RECORD_KIND {
        return Err(Error::usage(format!(
            "record {name} of run {run_id} is {:?}, not {RECORD_KIND}",
            rec.kind
        )));
    }
    Ok(rec)
}

/// Names of `a` missing from `b`.
fn missing<'a>(a: &'a [String], b: &[String]) -> Vec<&'a str> {
    a.iter()
        .filter(|x| !b.contains(x))
        .map(String::as_str)
        .collect()
}

/// What restore will not change: policy and scheduled-action differences.
pub fn differences(recorded: &TargetState, now: &TargetState) -> Vec<String> {
    let names = |v: &[Policy]| v.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    let sched = |v: &[Scheduled]| v.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    let (rp, np) = (names(&recorded.policies), names(&now.policies));
    let (rs, ns) = (
        sched(&recorded.scheduled_actions),
        sched(&now.scheduled_actions),
    );
    let mut out = Vec::new();
    let s = &recorded.service;
    for p in missing(&rp, &np) {
        out.push(format!(
            "{s}: scaling policy {p} was there before and is gone (not recreated)"
        ));
    }
    for p in missing(&np, &rp) {
        out.push(format!(
            "{s}: scaling policy {p} is new since the record (left in place)"
        ));
    }
    for p in missing(&rs, &ns) {
        out.push(format!(
            "{s}: scheduled action {p} was there before and is gone (not recreated)"
        ));
    }
    for p in missing(&ns, &rs) {
        out.push(format!(
            "{s}: scheduled action {p} is new since the record (left in place)"
        ));
    }
    out
}

/// The restore plan of one service from its recorded and its current state.
pub fn restore_plan(recorded: &TargetState, now: &TargetState) -> Plan {
    if !recorded.registered {
        return Plan {
            current: now.clone(),
            want: None,
            note: now.registered.then(|| {
                "not registered when recorded; left as it is (deregistering would delete its policies)".to_owned()
            }),
        };
    }
    Plan {
        current: now.clone(),
        want: Some(Want {
            min: recorded.min,
            max: recorded.max,
            suspended: Some(recorded.suspended),
        }),
        note: None,
    }
}

async fn restore(ctx: &Context, a: &RestoreArgs) -> Result<()> {
    common::state::validate_run_id(&a.run)?;
    check_resource("cluster", &a.cluster)?;
    for s in &a.services {
        check_resource("service", s)?;
    }
    let rec = read_record(ctx, &a.run, &a.cluster).await?;
    let (client, counter) = client(ctx).await?;
    restore_with(ctx, a, rec, &client, &counter).await
}

/// The restore after the input checks and the record read, with the client
/// given (tests pass a mocked one).
pub async fn restore_with(
    ctx: &Context,
    a: &RestoreArgs,
    rec: ScalingRecord,
    client: &Client,
    counter: &CallCounter,
) -> Result<()> {
    let recorded: Vec<&TargetState> = rec
        .targets
        .iter()
        .filter(|t| a.services.is_empty() || a.services.iter().any(|s| short_name(s) == t.service))
        .collect();
    if let Some(s) = a
        .services
        .iter()
        .find(|s| !rec.targets.iter().any(|t| t.service == short_name(s)))
    {
        return Err(Error::usage(format!(
            "service {} is not in the scaling record of run {}",
            common::quote(s),
            a.run
        )));
    }
    let names: Vec<String> = recorded.iter().map(|t| t.service.clone()).collect();
    let now = ctx
        .cancel()
        .run(read_states(client, &a.cluster, &names, true))
        .await?;
    let mut not_restored = Vec::new();
    let plans: Vec<Plan> = recorded
        .iter()
        .zip(&now)
        .map(|(r, n)| {
            not_restored.extend(differences(r, n));
            restore_plan(r, n)
        })
        .collect();
    for n in &not_restored {
        ctx.out.warn(n.clone());
    }
    change_command(
        ctx,
        client,
        counter,
        &a.cluster,
        "restore",
        ACTION_RESTORE,
        plans,
        Some(a.run.clone()),
        not_restored,
    )
    .await
}

async fn suspend_resume(ctx: &Context, t: &Services, suspend: bool) -> Result<()> {
    let names = t.validated()?;
    let (client, counter) = client(ctx).await?;
    suspend_resume_with(ctx, t, &names, suspend, &client, &counter).await
}

/// `suspend` (true) or `resume` after the input checks, with the client
/// given (tests pass a mocked one). Idempotent: a target already in the
/// wanted state gets no call.
pub async fn suspend_resume_with(
    ctx: &Context,
    t: &Services,
    names: &[String],
    suspend: bool,
    client: &Client,
    counter: &CallCounter,
) -> Result<()> {
    let now = ctx
        .cancel()
        .run(read_states(client, &t.cluster, names, false))
        .await?;
    let want = if suspend {
        Suspended::ALL
    } else {
        Suspended::NONE
    };
    let plans = now
        .into_iter()
        .map(|n| Plan {
            want: n.registered.then_some(Want {
                suspended: Some(want),
                ..Default::default()
            }),
            note: (!n.registered).then(|| "no scalable target: nothing scales it".to_owned()),
            current: n,
        })
        .collect();
    let (verb, action) = if suspend {
        ("suspend", ACTION_SUSPEND)
    } else {
        ("resume", ACTION_RESUME)
    };
    change_command(
        ctx,
        client,
        counter,
        &t.cluster,
        verb,
        action,
        plans,
        None,
        Vec::new(),
    )
    .await
}

/// The common end of suspend, resume and restore: dry run or lock, the
/// calls, the report, and the exit (7 when only some services changed or an
/// outcome is unknown, 3 when every call failed, 130 after a signal).
#[allow(clippy::too_many_arguments)]
async fn change_command(
    ctx: &Context,
    client: &Client,
    counter: &CallCounter,
    cluster: &str,
    verb: &str,
    action: &str,
    plans: Vec<Plan>,
    run_id: Option<String>,
    not_restored: Vec<String>,
) -> Result<()> {
    let planned = planned_rows(&plans);
    let to_change = planned.iter().filter(|r| r.state == "would-update").count();
    let report = |services: Vec<Row>, dry_run: bool| ChangeReport {
        cluster: short_name(cluster).to_owned(),
        action: verb.to_owned(),
        dry_run,
        run_id: run_id.clone(),
        services,
        not_restored: not_restored.clone(),
        autoscaling_calls: counter.total(),
    };
    for r in planned.iter().filter(|r| r.state == "not-registered") {
        ctx.out.warn(format!(
            "{}: no scalable target; nothing to {verb}",
            r.service
        ));
    }
    if ctx.dry_run() {
        for r in planned.iter().filter(|r| r.state == "would-update") {
            ctx.out.info(format!(
                "dry run: would call RegisterScalableTarget(resourceId={}, {})",
                r.resource_id,
                r.requested.describe()
            ));
        }
        return ctx.out.result(&report(planned, true));
    }
    if to_change > 0 {
        ctx.begin_change(&format!(
            "{verb} auto scaling of {to_change} ECS service(s) in cluster {}",
            short_name(cluster)
        ))
        .await?;
    }
    ctx.cancel().check()?;
    let rows = apply(ctx, client, cluster, action, &plans).await?;
    let outcome = judge(&rows);
    ctx.out.result(&report(rows, false))?;
    outcome
}

/// The exit of a set of rows: 130 after a signal, 7 when some changed and
/// some did not (or an outcome is unknown), the first failure when none changed.
pub fn judge(rows: &[Row]) -> Result<()> {
    let updated = rows.iter().filter(|r| r.state == "updated").count();
    let failed: Vec<&Row> = rows.iter().filter(|r| r.state == "update-failed").collect();
    let unknown = rows.iter().any(|r| r.state == "unknown");
    let skipped = rows.iter().any(|r| r.state == "skipped");
    let inventory = || {
        rows.iter()
            .map(|r| {
                let mut s = format!("{}: {}", r.service, r.state);
                if let Some(u) = &r.undo {
                    s.push_str(&format!(" (undo: {u})"));
                }
                if let Some(why) = &r.reason {
                    s.push_str(&format!(" ({why})"));
                }
                s
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    if skipped {
        return Err(Error::Interrupted);
    }
    if unknown || (!failed.is_empty() && updated > 0) {
        return Err(Error::RevertFailed(format!(
            "the scaling change was applied to only some services, or an outcome is unknown: {}",
            inventory()
        )));
    }
    if let Some(f) = failed.first() {
        return Err(match &f.error {
            Some(e) => Error::Aws(e.clone()),
            None => Error::Internal(format!("{}: update failed", f.service)),
        });
    }
    Ok(())
}

/// `scale --desired N` against the targets: a warning per service whose
/// min/max does not hold N (Application Auto Scaling would undo the count),
/// and, with `adjust`, the plans that widen min/max to hold N.
pub fn limit_plans(targets: &[TargetState], n: i32, adjust: bool) -> (Vec<String>, Vec<Plan>) {
    let mut warnings = Vec::new();
    let mut plans = Vec::new();
    for t in targets {
        let (Some(min), Some(max)) = (t.min, t.max) else {
            continue;
        };
        if !t.registered || (min..=max).contains(&n) {
            continue;
        }
        if adjust {
            plans.push(Plan {
                current: t.clone(),
                want: Some(Want {
                    min: Some(min.min(n)),
                    max: Some(max.max(n)),
                    suspended: None,
                }),
                note: None,
            });
        } else {
            warnings.push(format!(
                "{}: desired {n} is outside its auto scaling limits min {min} max {max}; Application Auto Scaling will move it back into that range (pass --adjust-limits to widen them, or suspend scaling: ecs-revert scaling suspend)",
                t.service
            ));
        }
    }
    (warnings, plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(min: i32, max: i32, suspended: Suspended) -> TargetState {
        TargetState {
            service: "api".into(),
            resource_id: "service/ltc/api".into(),
            registered: true,
            min: Some(min),
            max: Some(max),
            suspended,
            policies: Vec::new(),
            scheduled_actions: Vec::new(),
        }
    }

    #[test]
    fn limits_warn_or_widen_only_when_n_is_outside() {
        let t = vec![target(2, 6, Suspended::NONE)];
        assert_eq!(limit_plans(&t, 4, false).0.len(), 0);
        let (w, p) = limit_plans(&t, 10, false);
        assert!(
            w[0].contains("outside its auto scaling limits min 2 max 6"),
            "{w:?}"
        );
        assert!(p.is_empty());
        let (w, p) = limit_plans(&t, 1, true);
        assert!(w.is_empty());
        assert_eq!(p[0].want.unwrap().min, Some(1));
        assert_eq!(p[0].want.unwrap().max, Some(6));
    }

    #[test]
    fn restore_plan_leaves_a_target_the_record_did_not_have() {
        let mut rec = target(2, 6, Suspended::NONE);
        rec.registered = false;
        let p = restore_plan(&rec, &target(1, 3, Suspended::ALL));
        assert!(p.want.is_none());
        assert!(p.note.unwrap().contains("left as it is"));
        let p = restore_plan(
            &target(2, 6, Suspended::NONE),
            &target(1, 3, Suspended::ALL),
        );
        assert_eq!(
            p.want,
            Some(Want {
                min: Some(2),
                max: Some(6),
                suspended: Some(Suspended::NONE)
            })
        );
        assert_eq!(planned_rows(&[p])[0].state, "would-update");
    }

    #[test]
    fn differences_name_policies_gone_and_new() {
        let mut rec = target(2, 6, Suspended::NONE);
        rec.policies.push(Policy {
            name: "cpu".into(),
            policy_type: "TargetTrackingScaling".into(),
            arn: "a".into(),
        });
        let mut now = target(2, 6, Suspended::NONE);
        now.scheduled_actions.push(Scheduled {
            name: "night".into(),
            schedule: "cron(0 22 * * ? *)".into(),
            timezone: None,
            min: Some(1),
            max: Some(1),
        });
        let d = differences(&rec, &now);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("policy cpu was there before and is gone (not recreated)"));
        assert!(d[1].contains("scheduled action night is new since the record (left in place)"));
    }

    #[test]
    fn register_command_sends_all_three_suspended_fields() {
        let c = register_command(
            "ltc",
            "api",
            &Want {
                suspended: Some(Suspended::NONE),
                ..Default::default()
            },
        );
        assert!(c.ends_with("--resource-id service/ltc/api --suspended-state '{\"DynamicScalingInSuspended\":false,\"DynamicScalingOutSuspended\":false,\"ScheduledScalingSuspended\":false}'"), "{c}");
    }
}

/// Lost answers, throttling and a restore of a suspended state, against the
/// real SDK client with `aws-smithy-mocks` (the emulator never loses an answer
/// or throttles).
#[cfg(test)]
mod mock_tests {
    use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::DescribeScalableTargetsOutput;
    use aws_sdk_applicationautoscaling::operation::describe_scaling_policies::DescribeScalingPoliciesOutput;
    use aws_sdk_applicationautoscaling::operation::describe_scheduled_actions::DescribeScheduledActionsOutput;
    use aws_sdk_applicationautoscaling::operation::register_scalable_target::RegisterScalableTargetOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use common::journal::{Entry, Journal, Outcome, Phase};
    use common::output::Captured;
    use common::{Cancel, GlobalArgs, Output};

    use super::*;

    fn target(min: i32, max: i32, s: Suspended) -> DescribeScalableTargetsOutput {
        DescribeScalableTargetsOutput::builder()
            .scalable_targets(
                ScalableTarget::builder()
                    .service_namespace(ServiceNamespace::Ecs)
                    .resource_id("service/ltc/api")
                    .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                    .min_capacity(min)
                    .max_capacity(max)
                    .role_arn("arn:aws:iam::123456789012:role/aas")
                    .creation_time(aws_smithy_types::DateTime::from_secs(0))
                    .suspended_state(s.to_sdk())
                    .build()
                    .expect("target"),
            )
            .build()
    }

    struct Run {
        ctx: Context,
        journal: std::path::PathBuf,
        stdout: Captured,
        _dir: tempfile::TempDir,
    }

    fn setup() -> Run {
        let dir = tempfile::tempdir().expect("dir");
        let journal = dir.path().join("journal.jsonl");
        let globals = GlobalArgs {
            journal: Some(journal.clone()),
            ..Default::default()
        };
        let (out, stdout, _stderr) = Output::captured(true);
        let ctx = Context::with_output("ecs-revert", &globals, out).with_cancel(Cancel::new());
        Run {
            ctx,
            journal,
            stdout,
            _dir: dir,
        }
    }

    fn services() -> Services {
        Services {
            cluster: "ltc".into(),
            services: vec!["api".into()],
        }
    }

    fn entries(path: &std::path::Path) -> Vec<Entry> {
        Journal::read_entries(path).expect("journal")
    }

    fn outcome(path: &std::path::Path) -> Entry {
        entries(path)
            .into_iter()
            .find(|e| e.phase == Phase::Outcome)
            .expect("an outcome")
    }

    async fn suspend(r: &Run, client: &Client) -> Result<()> {
        suspend_resume_with(
            &r.ctx,
            &services(),
            &["api".into()],
            true,
            client,
            &CallCounter::default(),
        )
        .await
    }

    // Issue 14's rule for RegisterScalableTarget: the request reached AWS,
    // every answer was lost (500s, the SDK's own retries included); the
    // read-back shows the target suspended, so it happened: journal ok, exit 0.
    #[tokio::test(start_paused = true)]
    async fn lost_register_answer_is_read_back_and_journaled_ok() {
        let r = setup();
        let describe = mock!(Client::describe_scalable_targets)
            .sequence()
            .output(|| target(1, 4, Suspended::NONE))
            .output(|| target(1, 4, Suspended::ALL))
            .build();
        let lost = mock!(Client::register_scalable_target)
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build();
        let client = mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            [&describe, &lost]
        );
        suspend(&r, &client).await.expect("suspended");
        assert_eq!(lost.num_calls(), 3, "the SDK's own attempts");
        assert_eq!(describe.num_calls(), 2, "plan and read-back");
        let o = outcome(&r.journal);
        assert_eq!(o.outcome, Some(Outcome::Ok));
        assert_eq!(o.after["suspended"]["dynamic_scaling_in"], true);
        let v: Value = serde_json::from_str(&r.stdout.text()).expect("json");
        assert_eq!(v["services"][0]["state"], "updated");
    }

    // A 5xx, then the retry answered: the same absolute request twice is harmless.
    #[tokio::test(start_paused = true)]
    async fn first_attempt_lost_then_retry_answered_is_ok_without_a_read_back_decision() {
        let r = setup();
        let describe = mock!(Client::describe_scalable_targets)
            .sequence()
            .output(|| target(1, 4, Suspended::NONE))
            .output(|| target(1, 4, Suspended::ALL))
            .build();
        let register = mock!(Client::register_scalable_target)
            .sequence()
            .http_status(503, None)
            .output(|| RegisterScalableTargetOutput::builder().build())
            .build();
        let client = mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            [&describe, &register]
        );
        suspend(&r, &client).await.expect("suspended");
        assert_eq!(register.num_calls(), 2);
        assert_eq!(outcome(&r.journal).outcome, Some(Outcome::Ok));
    }

    // Throttling is retried by the SDK (with backoff) and the change goes through.
    #[tokio::test(start_paused = true)]
    async fn throttled_register_is_retried_and_succeeds() {
        let r = setup();
        let describe = mock!(Client::describe_scalable_targets)
            .sequence()
            .output(|| target(1, 4, Suspended::NONE))
            .output(|| target(1, 4, Suspended::ALL))
            .build();
        let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
        let register = mock!(Client::register_scalable_target)
            .sequence()
            .http_status(400, Some(throttled.into()))
            .http_status(400, Some(throttled.into()))
            .output(|| RegisterScalableTargetOutput::builder().build())
            .build();
        let client = mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            [&describe, &register]
        );
        suspend(&r, &client).await.expect("suspended");
        assert_eq!(register.num_calls(), 3, "two throttled, one accepted");
        assert_eq!(outcome(&r.journal).outcome, Some(Outcome::Ok));
    }

    // Lost answers and a read-back that fails too: unknown, exit 7, with the
    // read command in the journal.
    #[tokio::test(start_paused = true)]
    async fn lost_answer_and_failed_read_back_is_unknown_exit_7() {
        let r = setup();
        let describe = mock!(Client::describe_scalable_targets)
            .sequence()
            .output(|| target(1, 4, Suspended::NONE))
            .http_status(500, None)
            .repeatedly()
            .build();
        let lost = mock!(Client::register_scalable_target)
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build();
        let client = mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            [&describe, &lost]
        );
        let err = suspend(&r, &client).await.expect_err("unknown");
        assert_eq!(err.exit_code(), 7, "{err}");
        let o = outcome(&r.journal);
        assert_eq!(o.outcome, Some(Outcome::Unknown));
        let msg = o.message.unwrap_or_default();
        assert!(
            msg.contains("aws application-autoscaling describe-scalable-targets --service-namespace ecs --resource-ids service/ltc/api"),
            "{msg}"
        );
        assert!(
            err.to_string()
                .contains("undo: aws application-autoscaling register-scalable-target"),
            "{err}"
        );
    }

    // A refusal (4xx) changes nothing: exit 3, journal failed with no after.
    #[tokio::test(start_paused = true)]
    async fn refused_register_is_failed_exit_3() {
        let r = setup();
        let describe =
            mock!(Client::describe_scalable_targets).then_output(|| target(1, 4, Suspended::NONE));
        let refused = mock!(Client::register_scalable_target)
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"AccessDeniedException","message":"no"}"#.into()),
            )
            .build();
        let client = mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            [&describe, &refused]
        );
        let err = suspend(&r, &client).await.expect_err("refused");
        assert_eq!(err.exit_code(), 3, "{err}");
        let o = outcome(&r.journal);
        assert_eq!(o.outcome, Some(Outcome::Failed));
        assert!(o.after.is_null());
        assert_eq!(describe.num_calls(), 1, "a 4xx is not read back");
    }

    // Restore of a recorded partly suspended state: the request carries all
    // three suspended fields and the recorded min/max exactly.
    #[tokio::test(start_paused = true)]
    async fn restore_puts_back_a_recorded_suspended_state() {
        let r = setup();
        let recorded = Suspended {
            dynamic_scaling_in: true,
            dynamic_scaling_out: false,
            scheduled_scaling: true,
        };
        let describe = mock!(Client::describe_scalable_targets)
            .sequence()
            .output(|| target(3, 10, Suspended::NONE))
            .output(move || target(2, 6, recorded))
            .build();
        let policies = mock!(Client::describe_scaling_policies)
            .then_output(|| DescribeScalingPoliciesOutput::builder().build());
        let scheduled = mock!(Client::describe_scheduled_actions)
            .then_output(|| DescribeScheduledActionsOutput::builder().build());
        let register = mock!(Client::register_scalable_target)
            .match_requests(move |req| {
                let s = req.suspended_state();
                req.min_capacity() == Some(2)
                    && req.max_capacity() == Some(6)
                    && s.and_then(|s| s.dynamic_scaling_in_suspended()) == Some(true)
                    && s.and_then(|s| s.dynamic_scaling_out_suspended()) == Some(false)
                    && s.and_then(|s| s.scheduled_scaling_suspended()) == Some(true)
            })
            .then_output(|| RegisterScalableTargetOutput::builder().build());
        let client = mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            [&describe, &policies, &scheduled, &register]
        );
        let rec = ScalingRecord {
            kind: RECORD_KIND.into(),
            cluster: "ltc".into(),
            run_id: "r1".into(),
            recorded_at: "2026-12-01T00:00:00Z".into(),
            targets: vec![TargetState {
                service: "api".into(),
                resource_id: "service/ltc/api".into(),
                registered: true,
                min: Some(2),
                max: Some(6),
                suspended: recorded,
                policies: Vec::new(),
                scheduled_actions: Vec::new(),
            }],
        };
        let args = RestoreArgs {
            run: "r1".into(),
            cluster: "ltc".into(),
            services: Vec::new(),
        };
        restore_with(&r.ctx, &args, rec, &client, &CallCounter::default())
            .await
            .expect("restored");
        assert_eq!(register.num_calls(), 1, "the one matching request");
        let e = entries(&r.journal);
        assert_eq!(e[0].action, ACTION_RESTORE);
        assert_eq!(e[0].before["min"], 3);
        assert_eq!(
            e[0].before["requested"]["suspended"]["scheduled_scaling"],
            true
        );
        assert_eq!(e[1].outcome, Some(Outcome::Ok));
        assert_eq!(e[1].after["max"], 6);
        let v: Value = serde_json::from_str(&r.stdout.text()).expect("json");
        assert_eq!(v["services"][0]["state"], "updated");
    }
}
