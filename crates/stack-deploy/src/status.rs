//! What a CloudFormation stack status means for an operator: still moving,
//! healthy, rolled back, or stuck. Pure functions, and the `status` command.

use std::io::Write;

use aws_sdk_cloudformation::Client;
use futures::StreamExt;
use serde::Serialize;

use common::{Context, Error, Render, Result};

use crate::Selection;
use crate::graph::select;
use crate::manifest::Assembly;
use crate::stack::{describe, outputs_of, status_of};

/// `status`: live status, last update and outputs of stacks.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub sel: Selection,
}

/// The health behind a stack status string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// CREATE_COMPLETE, UPDATE_COMPLETE, IMPORT_COMPLETE.
    Ok,
    /// Any *_IN_PROGRESS except REVIEW_IN_PROGRESS: wait.
    InProgress,
    /// ROLLBACK_COMPLETE: a create failed and was rolled back; the stack must
    /// be deleted before it can be created again.
    CreateRolledBack,
    /// UPDATE_ROLLBACK_COMPLETE / IMPORT_ROLLBACK_COMPLETE: the last change
    /// failed and was undone; the stack runs the previous template.
    UpdateRolledBack,
    /// *_FAILED (including ROLLBACK_FAILED, UPDATE_ROLLBACK_FAILED): stuck,
    /// a human is needed.
    Failed,
    /// A change set was created but never executed.
    Review,
    /// DELETE_COMPLETE or not there at all.
    Missing,
}

pub fn classify(status: &str) -> Health {
    match status {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" => Health::Ok,
        "ROLLBACK_COMPLETE" => Health::CreateRolledBack,
        "UPDATE_ROLLBACK_COMPLETE" | "IMPORT_ROLLBACK_COMPLETE" => Health::UpdateRolledBack,
        "REVIEW_IN_PROGRESS" => Health::Review,
        "DELETE_COMPLETE" => Health::Missing,
        s if s.ends_with("_IN_PROGRESS") => Health::InProgress,
        s if s.ends_with("_FAILED") => Health::Failed,
        _ => Health::Failed,
    }
}

/// Whether a wait is over.
pub fn is_terminal(status: &str) -> bool {
    classify(status) != Health::InProgress
}

/// What an operation was trying to reach, to judge where it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    Create,
    Update,
    /// CancelUpdateStack: success is UPDATE_ROLLBACK_COMPLETE.
    Cancel,
    /// RollbackStack / ContinueUpdateRollback: success is a *ROLLBACK_COMPLETE.
    Rollback,
    /// Re-attached without knowing the operation: only a healthy stack is success.
    Watch,
}

/// The verdict on a terminal status after `op`: `Ok(())` or the error (with its
/// exit code) to report.
pub fn judge(op: Op, stack: &str, status: &str, reason: Option<&str>) -> Result<(), Error> {
    let health = classify(status);
    let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
    match (op, health) {
        (Op::Create | Op::Update | Op::Watch, Health::Ok) => Ok(()),
        (Op::Cancel, Health::UpdateRolledBack) => Ok(()),
        (Op::Rollback, Health::UpdateRolledBack | Health::CreateRolledBack) => Ok(()),
        (_, Health::InProgress) => Err(Error::Internal(format!(
            "stack {stack} judged while still {status}"
        ))),
        (_, Health::CreateRolledBack) => Err(Error::Reverted(format!(
            "stack {stack} failed to create and was rolled back (ROLLBACK_COMPLETE){why}; it cannot be updated: inspect it, then clear it with `aws cloudformation delete-stack --stack-name {stack}` and deploy again (stack-deploy never deletes stacks)"
        ))),
        (_, Health::UpdateRolledBack) => Err(Error::Reverted(format!(
            "stack {stack} update failed and was rolled back to its previous template ({status}){why}"
        ))),
        (_, Health::Failed) => Err(Error::RevertFailed(format!(
            "stack {stack} is {status}{why}; {}",
            next_step(stack, status)
        ))),
        (_, Health::Review) => Err(Error::CheckFailed(format!(
            "stack {stack} is REVIEW_IN_PROGRESS (a change set was never executed)"
        ))),
        (_, Health::Missing) => Err(Error::RevertFailed(format!(
            "stack {stack} is gone ({status}){why}"
        ))),
        (Op::Cancel | Op::Rollback, Health::Ok) => Err(Error::CheckFailed(format!(
            "stack {stack} ended {status}, not rolled back"
        ))),
    }
}

/// The command that moves a stuck stack on.
pub fn next_step(stack: &str, status: &str) -> String {
    match status {
        "UPDATE_ROLLBACK_FAILED" | "CREATE_FAILED" | "UPDATE_FAILED" => {
            format!("roll it back with `stack-deploy rollback {stack}` after fixing the cause")
        }
        "ROLLBACK_FAILED" | "DELETE_FAILED" => format!(
            "a human is needed: inspect the resources, then `aws cloudformation delete-stack --stack-name {stack}`"
        ),
        _ => "a human is needed".to_owned(),
    }
}

/// One stack as the `status` command shows it.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct StackStatus {
    pub stack: String,
    pub exists: bool,
    pub status: Option<String>,
    pub health: Health,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    pub outputs: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct StatusReport {
    pub stacks: Vec<StackStatus>,
    /// True when every stack exists and is CREATE/UPDATE_COMPLETE.
    pub all_ok: bool,
}

impl Render for StatusReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let rows: Vec<Vec<String>> = self
            .stacks
            .iter()
            .map(|s| {
                vec![
                    s.stack.clone(),
                    s.status.clone().unwrap_or_else(|| "(not deployed)".into()),
                    s.last_updated.clone().unwrap_or_default(),
                    s.outputs.len().to_string(),
                ]
            })
            .collect();
        write!(
            w,
            "{}",
            common::output::table(&["STACK", "STATUS", "LAST UPDATE", "OUTPUTS"], &rows)
        )?;
        for s in &self.stacks {
            for (k, v) in &s.outputs {
                writeln!(w, "  {}.{k} = {v}", s.stack)?;
            }
        }
        Ok(())
    }
}

/// Stack names for `status`: through the manifest when it exists; plain
/// names are taken as they are when there is no assembly at hand.
fn status_names(sel: &Selection) -> Result<Vec<String>> {
    let manifest = sel.app.join("manifest.json");
    let plain = !sel.all
        && !sel.stacks.is_empty()
        && sel.stacks.iter().all(|s| !s.contains(['*', '?', '[']));
    if plain && !manifest.exists() {
        return Ok(sel.stacks.clone());
    }
    let assembly = Assembly::load(&sel.app)?;
    let ids = select(&assembly, &sel.stacks, sel.all, sel.with_deps)?;
    Ok(ids
        .iter()
        .filter_map(|id| assembly.stack(id))
        .map(|s| s.stack_name.clone())
        .collect())
}

pub async fn run(ctx: &Context, args: &StatusArgs) -> Result<()> {
    let sel = &args.sel;
    let names = status_names(sel)?;
    let aws = ctx.aws().await?;
    let cfn = Client::new(&aws.config);
    let looks = futures::stream::iter(names.iter().map(|n| {
        let cfn = cfn.clone();
        async move { describe(&cfn, n).await }
    }))
    .buffered(8)
    .collect::<Vec<_>>()
    .await;
    let mut stacks = Vec::new();
    for (name, look) in names.iter().zip(looks) {
        stacks.push(match look? {
            None => StackStatus {
                stack: name.clone(),
                exists: false,
                status: None,
                health: Health::Missing,
                reason: None,
                last_updated: None,
                outputs: Default::default(),
            },
            Some(s) => {
                let status = status_of(&s);
                let when = s
                    .last_updated_time()
                    .or(s.creation_time())
                    .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), 0))
                    .map(|t| t.to_rfc3339());
                StackStatus {
                    stack: name.clone(),
                    exists: true,
                    health: classify(&status),
                    status: Some(status),
                    reason: s.stack_status_reason().map(str::to_owned),
                    last_updated: when,
                    outputs: outputs_of(&s),
                }
            }
        });
    }
    let all_ok = stacks.iter().all(|s| s.health == Health::Ok);
    let bad: Vec<String> = stacks
        .iter()
        .filter(|s| s.health != Health::Ok)
        .map(|s| {
            format!(
                "{} {}",
                s.stack,
                s.status.as_deref().unwrap_or("not deployed")
            )
        })
        .collect();
    ctx.out.result(&StatusReport { stacks, all_ok })?;
    if all_ok {
        Ok(())
    } else {
        Err(Error::CheckFailed(format!(
            "not every stack is healthy: {}",
            bad.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify() {
        assert_eq!(classify("CREATE_COMPLETE"), Health::Ok);
        assert_eq!(
            classify("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
            Health::InProgress
        );
        assert_eq!(
            classify("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
            Health::InProgress
        );
        assert_eq!(classify("ROLLBACK_COMPLETE"), Health::CreateRolledBack);
        assert_eq!(
            classify("UPDATE_ROLLBACK_COMPLETE"),
            Health::UpdateRolledBack
        );
        assert_eq!(classify("UPDATE_ROLLBACK_FAILED"), Health::Failed);
        assert_eq!(classify("CREATE_FAILED"), Health::Failed);
        assert_eq!(classify("REVIEW_IN_PROGRESS"), Health::Review);
        assert!(!is_terminal("ROLLBACK_IN_PROGRESS"));
        assert!(is_terminal("ROLLBACK_COMPLETE"));
    }

    #[test]
    fn update_rollback_complete_is_a_failure_not_success() {
        let e = judge(
            Op::Update,
            "S",
            "UPDATE_ROLLBACK_COMPLETE",
            Some("Bucket: boom"),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 6);
        assert!(e.to_string().contains("Bucket: boom"), "{e}");
        // ... but it is what a cancel aims for.
        assert!(judge(Op::Cancel, "S", "UPDATE_ROLLBACK_COMPLETE", None).is_ok());
    }

    #[test]
    fn rolled_back_create_names_the_command_that_clears_it() {
        let e = judge(Op::Create, "S", "ROLLBACK_COMPLETE", None).unwrap_err();
        assert_eq!(e.exit_code(), 6);
        assert!(
            e.to_string()
                .contains("aws cloudformation delete-stack --stack-name S"),
            "{e}"
        );
    }

    #[test]
    fn stuck_states_need_a_human() {
        let e = judge(Op::Update, "S", "UPDATE_ROLLBACK_FAILED", None).unwrap_err();
        assert_eq!(e.exit_code(), 7);
        assert!(e.to_string().contains("stack-deploy rollback S"), "{e}");
        assert_eq!(
            judge(Op::Create, "S", "CREATE_FAILED", None)
                .unwrap_err()
                .exit_code(),
            7
        );
        assert!(judge(Op::Create, "S", "CREATE_COMPLETE", None).is_ok());
        assert_eq!(
            judge(Op::Rollback, "S", "UPDATE_COMPLETE", None)
                .unwrap_err()
                .exit_code(),
            4
        );
    }
}
