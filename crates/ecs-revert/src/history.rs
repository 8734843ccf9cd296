//! `history`: the family's revisions (ACTIVE and INACTIVE) newest first, marking
//! the one in use and the one deployed before it, with the source of that answer.

use std::io::Write;

use aws_sdk_ecs::types::Service;
use common::{Context, Render, Result};
use serde::Serialize;

use crate::ecs::{self, Revision, client, describe_services, journal_moves, journal_target};
use crate::previous::{DeploymentSeen, Previous, RevisionSeen, choose_previous};
use crate::taskdef::{TaskDefRef, check_resource, short_name};

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// ECS cluster name or ARN.
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: String,
    /// Service name or ARN.
    #[arg(long, value_name = "SERVICE")]
    pub service: String,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct HistoryReport {
    pub cluster: String,
    pub service: String,
    pub family: String,
    pub in_use: TaskDefRef,
    /// The revision deployed before the one in use, and how that was found
    /// (`journal`, `deployments` or `revision-1`); null for a first revision.
    pub deployed_before: Option<Previous>,
    pub revisions: Vec<RevisionRow>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RevisionRow {
    pub task_definition: TaskDefRef,
    pub revision: u32,
    pub status: &'static str,
    pub arn: String,
    pub in_use: bool,
    pub deployed_before: bool,
}

impl Render for HistoryReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            w,
            "{} ({}): family {}, in use {}",
            self.service, self.cluster, self.family, self.in_use
        )?;
        match &self.deployed_before {
            Some(p) => writeln!(
                w,
                "deployed before it: {} (source: {}; {})",
                p.task_definition, p.source, p.detail
            )?,
            None => writeln!(w, "deployed before it: none (first revision)")?,
        }
        let rows: Vec<Vec<String>> = self
            .revisions
            .iter()
            .map(|r| {
                let mark = match (r.in_use, r.deployed_before) {
                    (true, _) => "in use",
                    (_, true) => "deployed before",
                    _ => "",
                };
                vec![
                    r.task_definition.to_string(),
                    r.status.to_owned(),
                    mark.to_owned(),
                ]
            })
            .collect();
        write!(
            w,
            "{}",
            common::output::table(&["REVISION", "STATUS", ""], &rows)
        )
    }
}

/// The deployments of a service as the previous-revision chooser sees them.
pub fn deployments_seen(svc: &Service) -> Vec<DeploymentSeen> {
    svc.deployments()
        .iter()
        .map(|d| DeploymentSeen {
            task_definition: d.task_definition().and_then(TaskDefRef::parse_loose),
            status: d.status().unwrap_or_default().to_owned(),
            created_at: d.created_at().map_or(0, |t| t.secs()),
        })
        .collect()
}

pub fn revisions_seen(revs: &[Revision]) -> Vec<RevisionSeen> {
    revs.iter()
        .map(|r| RevisionSeen {
            revision: r.task_definition.revision,
            active: r.active,
        })
        .collect()
}

pub async fn run(ctx: &Context, args: &HistoryArgs) -> Result<()> {
    check_resource("cluster", &args.cluster)?;
    check_resource("service", &args.service)?;
    // Everyone's entries (shared state), read without an STS call.
    let journal = ctx.journal_reader().await?;
    let (client, _) = client(ctx).await?;
    let svc = describe_services(&client, &args.cluster, std::slice::from_ref(&args.service))
        .await?
        .remove(0);
    let current = ecs::current_revision(&client, &svc).await?;
    let revisions = ecs::list_revisions(&client, &current.family, true).await?;
    let moves = journal_moves(&journal, &journal_target(&args.cluster, &args.service))?;
    let previous = choose_previous(
        &current,
        &moves,
        &deployments_seen(&svc),
        &revisions_seen(&revisions),
    );
    let rows = revisions
        .iter()
        .map(|r| RevisionRow {
            task_definition: r.task_definition.clone(),
            revision: r.task_definition.revision,
            status: if r.active { "ACTIVE" } else { "INACTIVE" },
            arn: r.arn.clone(),
            in_use: r.task_definition == current,
            deployed_before: previous
                .as_ref()
                .is_some_and(|p| p.task_definition == r.task_definition),
        })
        .collect();
    let report = HistoryReport {
        cluster: short_name(&args.cluster).to_owned(),
        service: short_name(&args.service).to_owned(),
        family: current.family.clone(),
        in_use: current,
        deployed_before: previous,
        revisions: rows,
    };
    ctx.out.result(&report)
}
