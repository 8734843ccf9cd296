//! `status`: per service the task definition in use, desired/running/pending,
//! deployments (status, rollout state, counts) and the last few service events.

use std::io::Write;

use aws_sdk_ecs::types::{Deployment, Service};
use common::{Context, Render, Result};
use serde::Serialize;

use crate::Services;
use crate::ecs::{client, describe_services};
use crate::steady::{Expect, Verdict, evaluate};
use crate::taskdef::TaskDefRef;
use crate::watch::{EventLine, RECENT_EVENTS, event_lines};

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct StatusReport {
    pub cluster: String,
    pub services: Vec<ServiceStatus>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ServiceStatus {
    pub service: String,
    pub status: String,
    /// `family:revision` (the emulator stores what was passed; real ECS an ARN).
    pub task_definition: Option<TaskDefRef>,
    pub task_definition_raw: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    /// `steady`, `in-progress` or `failed`, by the same rules `revert` waits on.
    pub state: &'static str,
    pub state_detail: Option<String>,
    pub deployments: Vec<DeploymentView>,
    pub events: Vec<EventLine>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct DeploymentView {
    pub id: String,
    pub status: String,
    pub task_definition: Option<TaskDefRef>,
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed_tasks: i32,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl DeploymentView {
    pub fn of(d: &Deployment) -> Self {
        DeploymentView {
            id: d.id().unwrap_or_default().to_owned(),
            status: d.status().unwrap_or_default().to_owned(),
            task_definition: d.task_definition().and_then(TaskDefRef::parse_loose),
            rollout_state: d.rollout_state().map(|s| s.as_str().to_owned()),
            rollout_state_reason: d.rollout_state_reason().map(str::to_owned),
            desired: d.desired_count(),
            running: d.running_count(),
            pending: d.pending_count(),
            failed_tasks: d.failed_tasks(),
            created_at: d.created_at().map(|t| t.to_string()),
            updated_at: d.updated_at().map(|t| t.to_string()),
        }
    }
}

impl ServiceStatus {
    pub fn of(svc: &Service) -> Self {
        let eval = evaluate(
            svc,
            &Expect {
                target: None,
                desired: None,
                rollout: true,
            },
        );
        let (state, state_detail) = match eval.verdict {
            Verdict::Steady => ("steady", None),
            Verdict::Pending(s) => ("in-progress", Some(s)),
            Verdict::Failed(s) => ("failed", Some(s)),
        };
        ServiceStatus {
            service: svc.service_name().unwrap_or_default().to_owned(),
            status: svc.status().unwrap_or_default().to_owned(),
            task_definition: svc.task_definition().and_then(TaskDefRef::parse_loose),
            task_definition_raw: svc.task_definition().unwrap_or_default().to_owned(),
            desired: svc.desired_count(),
            running: svc.running_count(),
            pending: svc.pending_count(),
            state,
            state_detail,
            deployments: svc.deployments().iter().map(DeploymentView::of).collect(),
            events: event_lines(svc, RECENT_EVENTS),
            notes: eval.notes,
        }
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), T::to_string)
}

impl Render for StatusReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        for s in &self.services {
            writeln!(
                w,
                "{} ({}): {}  {}/{} running, {} pending  [{}{}]",
                s.service,
                self.cluster,
                opt(&s.task_definition),
                s.running,
                s.desired,
                s.pending,
                s.state,
                s.state_detail
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )?;
            let rows: Vec<Vec<String>> = s
                .deployments
                .iter()
                .map(|d| {
                    vec![
                        d.status.clone(),
                        opt(&d.task_definition),
                        opt(&d.rollout_state),
                        format!("{}/{}", d.running, d.desired),
                        d.pending.to_string(),
                        d.failed_tasks.to_string(),
                    ]
                })
                .collect();
            write!(
                w,
                "{}",
                common::output::table(
                    &[
                        "DEPLOYMENT",
                        "TASK DEFINITION",
                        "ROLLOUT",
                        "RUNNING",
                        "PENDING",
                        "FAILED"
                    ],
                    &rows
                )
            )?;
            for e in &s.events {
                writeln!(w, "  {} {}", e.time, e.message)?;
            }
            for n in &s.notes {
                writeln!(w, "  note: {n}")?;
            }
        }
        Ok(())
    }
}

pub async fn run(ctx: &Context, args: &Services) -> Result<()> {
    let names = args.validated()?;
    let (client, _) = client(ctx).await?;
    let services = describe_services(&client, &args.cluster, &names).await?;
    let report = StatusReport {
        cluster: crate::taskdef::short_name(&args.cluster).to_owned(),
        services: services.iter().map(ServiceStatus::of).collect(),
    };
    ctx.out.result(&report)
}
