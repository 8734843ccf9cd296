//! The `plan` command: the phases (like the strategy's "Stack Deployment
//! Order") and, for stacks that already exist, a template comparison: hashes
//! and which resources would be added, removed or modified.

use std::io::Write;

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use common::{AwsResultExt, Context, Render, Result};

use crate::Selection;
use crate::deploy::{describe, sha256, status_of};
use crate::graph::{Graph, select};
use crate::manifest::Assembly;
use crate::roles::{Roles, resolve_placeholders};
use crate::status::{Health, classify};

/// Resource-level differences between two templates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
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
        )
    }
}

pub async fn run(
    ctx: &Context,
    sel: &Selection,
    offline: bool,
    no_assume_role: bool,
) -> Result<()> {
    let assembly = Assembly::load(&sel.app)?;
    let selected = select(&assembly, &sel.stacks, sel.all, sel.with_deps)?;
    let graph = Graph::build(&assembly, &selected)?;
    let levels = graph.levels()?;
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
                note: None,
            });
        }
    }
    if !offline {
        let aws = ctx.aws().await?;
        let roles = Roles::new(aws.config.clone(), !no_assume_role);
        let region = roles.base_region();
        let mut own_account = None;
        if assembly.stacks.iter().any(|s| s.account.is_none()) {
            own_account = Some(roles.own_account().await?);
        }
        let previews = futures::stream::iter(stacks.iter().map(|p| {
            let art = assembly.stacks.iter().find(|s| s.stack_name == p.stack);
            let roles = &roles;
            let region = &region;
            let own_account = &own_account;
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
                preview(&cfn, &art.stack_name, &art.template).await
            }
        }))
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
        for (p, r) in stacks.iter_mut().zip(previews) {
            let (action, status, hash, changes, note) = r?;
            p.action = action;
            p.status = status;
            p.deployed_template_sha256 = hash;
            p.changes = changes;
            p.note = note;
        }
    }
    let report = PlanReport {
        phases: levels
            .iter()
            .map(|l| l.iter().map(|id| name(id)).collect())
            .collect(),
        stacks,
    };
    ctx.out.result(&report)
}

type Preview = (
    String,
    Option<String>,
    Option<String>,
    Option<TemplateDiff>,
    Option<String>,
);

async fn preview(cfn: &aws_sdk_cloudformation::Client, name: &str, local: &str) -> Result<Preview> {
    let Some(st) = describe(cfn, name).await? else {
        return Ok(("create".into(), None, None, None, None));
    };
    let status = status_of(&st);
    match classify(&status) {
        Health::Ok | Health::UpdateRolledBack => {}
        Health::Review | Health::Missing => {
            return Ok(("create".into(), Some(status), None, None, None));
        }
        _ => {
            let note = crate::status::judge(crate::status::Op::Watch, name, &status, None)
                .err()
                .map(|e| e.to_string());
            return Ok(("blocked".into(), Some(status), None, None, note));
        }
    }
    let deployed = cfn
        .get_template()
        .stack_name(name)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
        .send()
        .await
        .aws("GetTemplate")?
        .template_body()
        .unwrap_or_default()
        .to_owned();
    let old: Value = serde_json::from_str(&deployed).unwrap_or(Value::Null);
    let new: Value = serde_json::from_str(local).unwrap_or(Value::Null);
    let diff = diff_templates(&old, &new);
    let tags_params_note = Some(
        "template comparison only; parameters and tags are compared at deploy time".to_owned(),
    );
    let action = if diff.is_empty() {
        "unchanged"
    } else {
        "update"
    };
    Ok((
        action.into(),
        Some(status),
        Some(sha256(&deployed)),
        Some(diff),
        tags_params_note,
    ))
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
}
