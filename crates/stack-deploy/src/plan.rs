//! The `plan` command: the phases (like the strategy's "Stack Deployment
//! Order") and, for stacks that already exist, a template comparison: hashes
//! and which resources would be added, removed or modified. With `--changes`,
//! CloudFormation's own preview per stack (`preview.rs`), which also says which
//! resources would be replaced.

use std::io::Write;

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use common::{Context, Render, Result};

use crate::Selection;
use crate::graph::{Graph, select};
use crate::manifest::Assembly;
use crate::manifest::TEMPLATE_BODY_LIMIT;
use crate::preview::{self, ResourceChange};
use crate::roles::{Roles, resolve_placeholders};
use crate::stack::{StackJob, describe, differences, parameters_of, sha256, status_of, tags_of};
use crate::status::{Health, classify};

/// Resource-level differences between two templates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct TemplateDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
    /// Outputs, Parameters, Conditions ... that differ.
    pub other_sections: Vec<String>,
}

impl TemplateDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.modified.is_empty()
            && self.other_sections.is_empty()
    }
}

/// Compares two templates' Resources (by logical id) and other sections.
pub fn diff_templates(old: &Value, new: &Value) -> TemplateDiff {
    let empty = serde_json::Map::new();
    let res = |v: &Value| {
        v.get("Resources")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (o, n) = (res(old), res(new));
    let mut d = TemplateDiff::default();
    for (k, v) in &n {
        match o.get(k) {
            None => d.added.push(format!("{k} ({})", type_of(v))),
            Some(ov) if ov != v => d.modified.push(format!("{k} ({})", type_of(v))),
            _ => {}
        }
    }
    for (k, v) in &o {
        if !n.contains_key(k) {
            d.removed.push(format!("{k} ({})", type_of(v)));
        }
    }
    let oo = old.as_object().unwrap_or(&empty);
    let no = new.as_object().unwrap_or(&empty);
    let mut sections: Vec<&String> = oo.keys().chain(no.keys()).collect();
    sections.sort();
    sections.dedup();
    for s in sections {
        if s != "Resources" && oo.get(s) != no.get(s) {
            d.other_sections.push(s.clone());
        }
    }
    d
}

fn type_of(v: &Value) -> &str {
    v.get("Type").and_then(Value::as_str).unwrap_or("?")
}

#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct PlanStack {
    pub stack: String,
    pub phase: usize,
    pub depends_on: Vec<String>,
    /// Dependencies outside the selection (assumed deployed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_dependencies: Vec<String>,
    pub template_sha256: String,
    pub file_assets: usize,
    /// create | update | unchanged | blocked | unknown (offline)
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_template_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<TemplateDiff>,
    /// With `--changes`: CloudFormation's preview (change set) for an update, or
    /// every resource of the template as `Add` for a new stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_changes: Option<Vec<ResourceChange>>,
    /// With `--changes`: resources that would (or may) be replaced, or removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_or_removed: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct PlanReport {
    /// Stack names by phase: each phase may run in parallel once the previous is done.
    pub phases: Vec<Vec<String>>,
    pub stacks: Vec<PlanStack>,
}

impl Render for PlanReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        for (i, p) in self.phases.iter().enumerate() {
            let how = if p.len() > 1 { " (parallel)" } else { "" };
            writeln!(w, "Phase {}{how}: {}", i + 1, p.join(", "))?;
        }
        let rows: Vec<Vec<String>> = self
            .stacks
            .iter()
            .map(|s| {
                let changes = s
                    .changes
                    .as_ref()
                    .map(|c| {
                        format!(
                            "+{} -{} ~{}",
                            c.added.len(),
                            c.removed.len(),
                            c.modified.len()
                        )
                    })
                    .unwrap_or_default();
                vec![
                    s.stack.clone(),
                    s.action.clone(),
                    s.status.clone().unwrap_or_default(),
                    changes,
                ]
            })
            .collect();
        write!(
            w,
            "{}",
            common::output::table(&["STACK", "ACTION", "STATUS", "RESOURCES"], &rows)
        )?;
        for s in &self.stacks {
            let Some(changes) = s.resource_changes.as_ref().filter(|c| !c.is_empty()) else {
                continue;
            };
            writeln!(w, "{}:", s.stack)?;
            for c in changes {
                let sign = match c.action.as_str() {
                    "Add" => "+",
                    "Remove" => "-",
                    _ => "~",
                };
                let mut line = format!("  {sign} {} ({})", c.logical_id, c.resource_type);
                if c.may_replace() {
                    line.push_str(&format!(
                        "  REPLACE ({})",
                        c.replacement.as_deref().unwrap_or("?")
                    ));
                }
                if !c.causes.is_empty() {
                    line.push_str(&format!(": {}", c.causes.join(", ")));
                }
                writeln!(w, "{line}")?;
            }
        }
        Ok(())
    }
}

/// `plan`: the phases and, for stacks that exist, what would change.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub sel: Selection,
    /// Phases only: no AWS call, no change preview.
    #[arg(long)]
    pub offline: bool,
    /// Use the caller's credentials instead of the manifest's deploy role.
    #[arg(long)]
    pub no_assume_role: bool,
    /// Ask CloudFormation what each update would do, resource by resource, and
    /// which resources it would replace (creates and deletes a change set).
    #[arg(long, conflicts_with = "offline")]
    pub changes: bool,
    /// Parameter for one stack, STACK:KEY=VALUE, as `deploy` would get it.
    #[arg(long = "parameters", value_name = "STACK:KEY=VALUE")]
    pub parameters: Vec<String>,
    /// Exit 4 when the preview replaces or removes a resource.
    #[arg(long, requires = "changes")]
    pub fail_on_replace: bool,
}

/// What one stack's look at AWS found.
#[derive(Debug, Default)]
struct Look {
    action: String,
    status: Option<String>,
    deployed_hash: Option<String>,
    changes: Option<TemplateDiff>,
    resource_changes: Option<Vec<ResourceChange>>,
    note: Option<String>,
}

pub async fn run(ctx: &Context, opts: &PlanArgs) -> Result<()> {
    let sel = &opts.sel;
    if opts.offline && opts.changes {
        return Err(common::Error::usage(
            "--changes needs AWS (it creates a preview change set); drop --offline",
        ));
    }
    let assembly = Assembly::load(&sel.app)?;
    let selected = select(&assembly, &sel.stacks, sel.all, sel.with_deps)?;
    let graph = Graph::build(&assembly, &selected)?;
    let levels = graph.levels()?;
    let params = crate::deploy::parse_parameters(&assembly, &selected, &opts.parameters)?;
    let name = |id: &str| {
        assembly
            .stack(id)
            .map(|s| s.stack_name.clone())
            .unwrap_or_else(|| id.to_owned())
    };
    let mut stacks = Vec::new();
    for (phase, level) in levels.iter().enumerate() {
        for id in level {
            let Some(s) = assembly.stack(id) else {
                continue;
            };
            stacks.push(PlanStack {
                stack: s.stack_name.clone(),
                phase: phase + 1,
                depends_on: graph.deps_of(id).iter().map(|d| name(d)).collect(),
                external_dependencies: graph
                    .external
                    .get(id)
                    .map(|e| e.iter().map(|d| name(d)).collect())
                    .unwrap_or_default(),
                template_sha256: sha256(&s.template),
                file_assets: crate::assets::needed(s).len(),
                action: "unknown".into(),
                status: None,
                deployed_template_sha256: None,
                changes: None,
                resource_changes: None,
                replaced_or_removed: None,
                note: None,
            });
        }
    }
    // A dry run creates no preview change set: it is a write, however harmless.
    let with_changes = opts.changes && !ctx.dry_run();
    if opts.changes && ctx.dry_run() {
        ctx.out
            .info("dry run: no preview change sets are created; showing the template comparison");
    }
    if !opts.offline {
        let aws = ctx.aws().await?;
        let roles = Roles::new(aws.config.clone(), !opts.no_assume_role);
        let region = roles.base_region();
        let mut own_account = None;
        if assembly.stacks.iter().any(|s| s.account.is_none()) {
            own_account = Some(roles.own_account().await?);
        }
        let looks = futures::stream::iter(stacks.iter().map(|p| {
            let art = assembly.stacks.iter().find(|s| s.stack_name == p.stack);
            let roles = &roles;
            let region = &region;
            let own_account = &own_account;
            let params = &params;
            async move {
                let art = art.ok_or_else(|| common::Error::Internal(p.stack.clone()))?;
                let reg = art.region.clone().unwrap_or_else(|| region.clone());
                let acct = art
                    .account
                    .clone()
                    .or(own_account.clone())
                    .unwrap_or_default();
                let role = art
                    .assume_role_arn
                    .as_deref()
                    .map(|r| resolve_placeholders(r, &acct, &reg));
                let session = roles.session(role.as_deref(), Some(&reg)).await?;
                let cfn = aws_sdk_cloudformation::Client::new(&session.config);
                let job = StackJob::for_artifact(
                    art,
                    params.get(&art.id).cloned().unwrap_or_default(),
                    &acct,
                    &reg,
                );
                look(&cfn, &ctx.out, &job, with_changes).await
            }
        }))
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
        for (p, r) in stacks.iter_mut().zip(looks) {
            let l = r?;
            p.action = l.action;
            p.status = l.status;
            p.deployed_template_sha256 = l.deployed_hash;
            p.changes = l.changes;
            p.replaced_or_removed = l
                .resource_changes
                .as_ref()
                .map(|c| c.iter().filter(|c| c.is_risky()).count());
            p.resource_changes = l.resource_changes;
            p.note = l.note;
        }
    }
    let risky: Vec<String> = stacks
        .iter()
        .flat_map(|p| preview::risky(&p.stack, p.resource_changes.as_deref().unwrap_or(&[])))
        .collect();
    for r in &risky {
        ctx.out.warn(r);
    }
    let report = PlanReport {
        phases: levels
            .iter()
            .map(|l| l.iter().map(|id| name(id)).collect())
            .collect(),
        stacks,
    };
    ctx.out.result(&report)?;
    if opts.fail_on_replace {
        preview::refuse_risky(&risky)?;
    }
    Ok(())
}

async fn look(
    cfn: &aws_sdk_cloudformation::Client,
    out: &common::Output,
    job: &StackJob,
    with_changes: bool,
) -> Result<Look> {
    let name = job.stack_name.as_str();
    let Some(st) = describe(cfn, name).await? else {
        return Ok(Look {
            action: "create".into(),
            resource_changes: with_changes.then(|| preview::additions(&job.template)),
            ..Look::default()
        });
    };
    let status = status_of(&st);
    match classify(&status) {
        Health::Ok | Health::UpdateRolledBack => {}
        Health::Review | Health::Missing => {
            return Ok(Look {
                action: "create".into(),
                status: Some(status),
                resource_changes: with_changes.then(|| preview::additions(&job.template)),
                ..Look::default()
            });
        }
        _ => {
            let note = crate::status::judge(crate::status::Op::Watch, name, &status, None)
                .err()
                .map(|e| e.to_string());
            return Ok(Look {
                action: "blocked".into(),
                status: Some(status),
                note,
                ..Look::default()
            });
        }
    }
    let deployed = crate::stack::deployed_template(cfn, name).await?;
    let old: Value = serde_json::from_str(&deployed).unwrap_or(Value::Null);
    let new: Value = serde_json::from_str(&job.template).unwrap_or(Value::Null);
    let diff = diff_templates(&old, &new);
    let current_params = parameters_of(&st);
    let mut why = differences(job, &deployed, &current_params, &tags_of(&st));
    // As in the deploy: after a rolled-back update the stack is updated again even
    // when nothing differs.
    if why.is_empty() && classify(&status) != Health::Ok {
        why.push(format!("status {status}"));
    }
    let mut l = Look {
        action: if why.is_empty() {
            "unchanged"
        } else {
            "update"
        }
        .into(),
        status: Some(status),
        deployed_hash: Some(sha256(&deployed)),
        changes: Some(diff),
        note: (!why.is_empty()).then(|| format!("differs in: {}", why.join(", "))),
        ..Look::default()
    };
    if !with_changes || why.is_empty() {
        return Ok(l);
    }
    if job.template.len() > TEMPLATE_BODY_LIMIT {
        l.note = Some(format!(
            "no change-set preview: the template is over the {TEMPLATE_BODY_LIMIT}-byte inline limit and plan uploads nothing; `stack-deploy deploy --method change-set` shows it"
        ));
        return Ok(l);
    }
    let p =
        preview::preview_update(cfn, out, job, &current_params, preview::PREVIEW_TIMEOUT).await?;
    if let Some(n) = p.note {
        l.note = Some(n);
    }
    l.resource_changes = Some(p.changes);
    Ok(l)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn diff_finds_added_removed_modified_and_sections() {
        let old = json!({"Resources": {
            "A": {"Type": "AWS::S3::Bucket"},
            "B": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "x"}},
            "C": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {"O": {"Value": "1"}}});
        let new = json!({"Resources": {
            "A": {"Type": "AWS::S3::Bucket"},
            "B": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "y"}},
            "D": {"Type": "AWS::Logs::LogGroup"}},
            "Outputs": {"O": {"Value": "2"}}});
        let d = diff_templates(&old, &new);
        assert_eq!(d.added, vec!["D (AWS::Logs::LogGroup)"]);
        assert_eq!(d.removed, vec!["C (AWS::SQS::Queue)"]);
        assert_eq!(d.modified, vec!["B (AWS::SNS::Topic)"]);
        assert_eq!(d.other_sections, vec!["Outputs"]);
        assert!(diff_templates(&old, &old).is_empty());
    }

    #[tokio::test]
    async fn a_rolled_back_update_is_planned_as_an_update_even_with_nothing_different() {
        use aws_sdk_cloudformation::Client;
        use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};

        let job = StackJob {
            stack_name: "S".into(),
            template: r#"{"Resources":{"A":{"Type":"AWS::SNS::Topic"}}}"#.into(),
            template_parameters: Default::default(),
            parameters: Default::default(),
            tags: [("Project".to_string(), "LTC".to_string())].into(),
            exec_role: None,
            template_url: None,
            termination_protection: false,
            template_bucket: None,
        };
        for (status, action, note) in [
            ("UPDATE_COMPLETE", "unchanged", None),
            (
                "UPDATE_ROLLBACK_COMPLETE",
                "update",
                Some("differs in: status UPDATE_ROLLBACK_COMPLETE"),
            ),
        ] {
            let describe = mock!(Client::describe_stacks)
                .then_output(move || crate::stack::tests::described(status));
            let body = job.template.clone();
            let template = mock!(Client::get_template)
                .then_output(move || GetTemplateOutput::builder().template_body(&body).build());
            let cfn = mock_client!(
                aws_sdk_cloudformation,
                RuleMode::MatchAny,
                &[&describe, &template]
            );
            let (out, _stdout, _stderr) = common::Output::captured(true);
            let l = look(&cfn, &out, &job, false).await.unwrap();
            assert_eq!(l.action, action, "{status}");
            assert_eq!(l.note.as_deref(), note, "{status}");
        }
    }

    #[test]
    fn text_lists_each_resource_change_and_flags_replacements() {
        let change =
            |action: &str, id: &str, replacement: Option<&str>, causes: &[&str]| ResourceChange {
                logical_id: id.into(),
                resource_type: "AWS::RDS::DBInstance".into(),
                action: action.into(),
                replacement: replacement.map(str::to_owned),
                physical_id: None,
                scope: vec![],
                causes: causes.iter().map(|c| c.to_string()).collect(),
            };
        let report = PlanReport {
            phases: vec![vec!["Db".into()]],
            stacks: vec![PlanStack {
                stack: "Db".into(),
                phase: 1,
                depends_on: vec![],
                external_dependencies: vec![],
                template_sha256: "x".into(),
                file_assets: 0,
                action: "update".into(),
                status: Some("UPDATE_COMPLETE".into()),
                deployed_template_sha256: None,
                changes: None,
                resource_changes: Some(vec![
                    change(
                        "Modify",
                        "Main",
                        Some("True"),
                        &["Properties.Engine (recreation: Always)"],
                    ),
                    change("Modify", "Replica", Some("False"), &[]),
                    change("Add", "New", None, &[]),
                    change("Remove", "Old", None, &[]),
                ]),
                replaced_or_removed: Some(2),
                note: None,
            }],
        };
        let mut text = Vec::new();
        report.render_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let tail: Vec<&str> = text.lines().skip_while(|l| *l != "Db:").collect();
        assert_eq!(
            tail,
            [
                "Db:",
                "  ~ Main (AWS::RDS::DBInstance)  REPLACE (True): Properties.Engine (recreation: Always)",
                "  ~ Replica (AWS::RDS::DBInstance)",
                "  + New (AWS::RDS::DBInstance)",
                "  - Old (AWS::RDS::DBInstance)",
            ],
            "{text}"
        );
    }
}
