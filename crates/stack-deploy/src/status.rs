//! What a CloudFormation stack status means for an operator: still moving,
//! healthy, rolled back, or stuck. Pure functions, and the `status` command.

use std::io::Write;

use serde::Serialize;

use common::{Error, Render};

/// The health behind a stack status string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
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
