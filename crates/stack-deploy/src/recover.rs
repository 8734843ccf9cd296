//! What the commands for after (or during) a deploy share: waiting for a
//! stack to settle (`watch.rs`), and stopping (`cancel.rs`: CancelUpdateStack)
//! or rolling back (`rollback.rs`: RollbackStack or ContinueUpdateRollback, as
//! the stack's state requires) one stack, journaled.

use std::io::Write;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::Stack;
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use common::journal::Journal;
use common::{AwsResultExt, Cancel, Context, Error, Output, Render, Result};

use crate::events::describe_failure;
use crate::stack::{describe, outputs_of, status_of, wait_stack};
use crate::status::{Health, Op, classify, is_terminal, judge, next_step};

/// One stack after watch/cancel/rollback.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct OpResult {
    pub stack: String,
    /// watched | cancelled | rolled-back | continued-rollback | would-cancel | would-roll-back | none
    pub action: String,
    pub status: Option<String>,
    pub health: Option<Health>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub outputs: std::collections::BTreeMap<String, String>,
    #[serde(skip)]
    pub error: Option<Error>,
}

/// What `watch`, `cancel` and `rollback` print: one row per stack.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct OpReport {
    /// True when every stack ended as the command wants (its exit 0, so it
    /// equals the envelope's `ok`).
    pub ok: bool,
    pub dry_run: bool,
    pub stacks: Vec<OpResult>,
}

impl Render for OpReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let rows: Vec<Vec<String>> = self
            .stacks
            .iter()
            .map(|s| {
                vec![
                    s.stack.clone(),
                    s.action.clone(),
                    s.status.clone().unwrap_or_default(),
                    s.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        write!(
            w,
            "{}",
            common::output::table(&["STACK", "ACTION", "STATUS", "REASON"], &rows)
        )
    }
}

pub(crate) fn finish(ctx: &Context, mut stacks: Vec<OpResult>) -> Result<()> {
    let first = stacks.iter_mut().find_map(|s| s.error.take());
    ctx.out.result(&OpReport {
        ok: first.is_none(),
        dry_run: ctx.dry_run(),
        stacks,
    })?;
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn op_result(stack: &str, action: &str) -> OpResult {
    OpResult {
        stack: stack.to_owned(),
        action: action.to_owned(),
        status: None,
        health: None,
        reason: None,
        outputs: Default::default(),
        error: None,
    }
}

pub(crate) fn check_names(stacks: &[String]) -> Result<()> {
    for s in stacks {
        if !(s.starts_with("arn:") && s.len() <= 2048) {
            crate::manifest::check_stack_name(s)?;
        }
    }
    Ok(())
}

/// Waits for one stack to settle (showing its events) and judges the end.
pub async fn watch_one(
    cfn: &Client,
    out: &Output,
    name: &str,
    op: Op,
    timeout: Duration,
    cancel: &Cancel,
) -> OpResult {
    let mut r = op_result(name, "watched");
    let mut calls = 0;
    match cancel
        .run(wait_stack(cfn, out, name, None, timeout, &mut calls, None))
        .await
    {
        Ok((stack, tracker)) => {
            let status = status_of(&stack);
            let reason = tracker
                .first_failure()
                .map(describe_failure)
                .or_else(|| stack.stack_status_reason().map(str::to_owned));
            r.health = Some(classify(&status));
            r.outputs = outputs_of(&stack);
            r.error = judge(op, name, &status, reason.as_deref()).err();
            r.status = Some(status);
            r.reason = reason;
        }
        Err(e) => {
            r.reason = Some(e.to_string());
            r.error = Some(e);
        }
    }
    r
}

/// `cancel` or `rollback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cancel,
    Rollback,
}

pub async fn cancel_or_rollback(
    ctx: &Context,
    stacks: &[String],
    timeout: Duration,
    kind: Kind,
) -> Result<()> {
    check_names(stacks)?;
    common::duration::effective_timeout(timeout)?;
    let verb = match kind {
        Kind::Cancel => "stop (cancel or wait for) the operations on",
        Kind::Rollback => "roll back",
    };
    let safety = crate::deploy::stack_safety(ctx, stacks.iter().map(String::as_str));
    ctx.begin_change_in(&safety, &format!("{verb} stack(s) {}", stacks.join(", ")))
        .await?;
    let aws = ctx.aws().await?;
    let cfn = Client::new(&aws.config);
    let journal = if ctx.dry_run() {
        None
    } else {
        Some(ctx.journal().await?)
    };
    let region = aws.region();
    // Every stack at once: the timeout bounds the whole command, not each stack.
    let results = futures::stream::iter(stacks.iter().map(|name| {
        recover_one(
            &cfn,
            &ctx.out,
            journal,
            &region,
            name,
            kind,
            ctx.dry_run(),
            timeout,
            ctx.cancel(),
        )
    }))
    .buffered(16)
    .collect::<Vec<_>>()
    .await;
    finish(ctx, results)
}

/// The stack as it is now, its status put in `r`; `None` (the error in `r`)
/// when it does not exist or cannot be read.
async fn look_up(cfn: &Client, name: &str, cancel: &Cancel, r: &mut OpResult) -> Option<Stack> {
    match cancel.run(describe(cfn, name)).await {
        Ok(Some(s)) => {
            let status = status_of(&s);
            r.health = Some(classify(&status));
            r.status = Some(status);
            Some(s)
        }
        Ok(None) => {
            r.error = Some(Error::NotFound(format!("stack {name} does not exist")));
            None
        }
        Err(e) => {
            r.error = Some(e);
            None
        }
    }
}

/// Cancels or rolls back one stack, as its current state allows, and waits.
#[allow(clippy::too_many_arguments)]
pub async fn recover_one(
    cfn: &Client,
    out: &Output,
    journal: Option<&Journal>,
    region: &str,
    name: &str,
    kind: Kind,
    dry_run: bool,
    timeout: Duration,
    cancel: &Cancel,
) -> OpResult {
    if kind == Kind::Cancel {
        return stop_one(cfn, out, journal, region, name, dry_run, timeout, cancel).await;
    }
    let mut r = op_result(name, "none");
    let Some(stack) = look_up(cfn, name, cancel, &mut r).await else {
        return r;
    };
    let status = status_of(&stack);
    // Which call the state needs.
    let (action, api, op) = match status.as_str() {
        "UPDATE_ROLLBACK_FAILED" => ("continued-rollback", "ContinueUpdateRollback", Op::Rollback),
        "CREATE_FAILED" | "UPDATE_FAILED" | "IMPORT_FAILED" => {
            ("rolled-back", "RollbackStack", Op::Rollback)
        }
        s => {
            r.error = Some(Error::CheckFailed(format!(
                "nothing to roll back: stack {name} is {s} (rollback applies to CREATE_FAILED, UPDATE_FAILED and UPDATE_ROLLBACK_FAILED)"
            )));
            return r;
        }
    };
    if dry_run {
        out.info(format!("dry run: would call {api} on {name} ({status})"));
        r.action = "would-roll-back".into();
        return r;
    }
    let target = format!("cloudformation:{region}/{name}");
    let journal_action = match api {
        "ContinueUpdateRollback" => "stack.continue-update-rollback",
        _ => "stack.rollback",
    };
    let change =
        match journal.map(|j| j.intent(journal_action, &target, json!({ "status": status }))) {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                r.error = Some(e);
                return r;
            }
            None => None,
        };
    let called = match api {
        "ContinueUpdateRollback" => cfn
            .continue_update_rollback()
            .stack_name(name)
            .send()
            .await
            .aws(api)
            .map(|_| ()),
        _ => cfn
            .rollback_stack()
            .stack_name(name)
            .send()
            .await
            .aws(api)
            .map(|_| ()),
    };
    if let Err(e) = called {
        // The emulator answers these with HTTP 500; say so rather than guess.
        let msg = e.to_string();
        if let Some(c) = change {
            let _ = c.failed(json!({ "status": status }), msg.clone());
        }
        r.reason = Some(msg);
        r.error = Some(Error::Aws(e));
        return r;
    }
    out.info(format!("{name}: {api} accepted; waiting"));
    let mut w = watch_one(cfn, out, name, op, timeout, cancel).await;
    w.action = action.to_owned();
    if let Some(c) = change {
        let after = json!({ "status": w.status });
        let _ = match &w.error {
            None => c.ok(after),
            Some(Error::Interrupted) => c.interrupted(
                after,
                format!("{api} was accepted; CloudFormation goes on: follow it with `stack-deploy watch {name}`"),
            ),
            Some(e) => c.failed(after, e.to_string()),
        };
    }
    w
}

/// `cancel` for one stack: leave it still, whatever it is doing. An update is
/// cancelled (CancelUpdateStack) and its rollback waited for; what cannot be
/// cancelled (a create, a rollback, a cleanup, a delete) is waited for; a
/// pending change set of a REVIEW_IN_PROGRESS stack is deleted; a stack at
/// rest is left alone. Success is a stack at rest, in whatever state it rests.
#[allow(clippy::too_many_arguments)]
pub async fn stop_one(
    cfn: &Client,
    out: &Output,
    journal: Option<&Journal>,
    region: &str,
    name: &str,
    dry_run: bool,
    timeout: Duration,
    cancel: &Cancel,
) -> OpResult {
    let mut r = op_result(name, "none");
    let Some(stack) = look_up(cfn, name, cancel, &mut r).await else {
        return r;
    };
    let status = status_of(&stack);
    let target = format!("cloudformation:{region}/{name}");
    match (classify(&status), status.as_str()) {
        (Health::Review, _) => {
            if dry_run {
                out.info(format!(
                    "dry run: would delete the pending change sets of {name} (REVIEW_IN_PROGRESS)"
                ));
                r.action = "would-delete-change-sets".into();
                return r;
            }
            match delete_pending_change_sets(cfn, out, journal, &target, name).await {
                Ok(0) => {}
                Ok(_) => r.action = "deleted-change-sets".into(),
                Err(e) => {
                    r.reason = Some(e.to_string());
                    r.error = Some(e);
                    return r;
                }
            }
            // A change set that was executing moves the stack on: follow it.
            let mut w = settle(cfn, out, name, timeout, cancel).await;
            w.action = r.action;
            w
        }
        (Health::InProgress, "UPDATE_IN_PROGRESS") => {
            if dry_run {
                out.info(format!(
                    "dry run: would call CancelUpdateStack on {name} (UPDATE_IN_PROGRESS)"
                ));
                r.action = "would-cancel".into();
                return r;
            }
            cancel_update(cfn, out, journal, &target, name, timeout, cancel).await
        }
        (Health::InProgress, s) => {
            out.info(format!(
                "{name} is {s}: {} cannot be cancelled; waiting until it settles",
                what_runs(s)
            ));
            if dry_run {
                r.action = "would-wait".into();
                return r;
            }
            let mut w = settle(cfn, out, name, timeout, cancel).await;
            w.action = "waited".into();
            w
        }
        (_, s) => {
            out.info(format!("{name} is {s}: at rest, nothing to stop"));
            if classify(s) == Health::Failed {
                out.warn(format!("{name} rests in {s}; {}", next_step(name, s)));
            }
            r.outputs = outputs_of(&stack);
            r
        }
    }
}

/// What a `*_IN_PROGRESS` status is doing, for the waiting message.
fn what_runs(status: &str) -> &'static str {
    if status.contains("CLEANUP") {
        "the cleanup after an update"
    } else if status.contains("ROLLBACK") {
        "a rollback"
    } else if status.starts_with("CREATE") {
        "a create"
    } else if status.starts_with("DELETE") {
        "a delete"
    } else if status.starts_with("IMPORT") {
        "an import"
    } else {
        "this operation"
    }
}

/// Waits (events shown, signal-aware) until the stack is at rest.
async fn settle(
    cfn: &Client,
    out: &Output,
    name: &str,
    timeout: Duration,
    cancel: &Cancel,
) -> OpResult {
    let mut r = op_result(name, "waited");
    let mut calls = 0;
    match cancel
        .run(wait_stack(cfn, out, name, None, timeout, &mut calls, None))
        .await
    {
        Ok((stack, tracker)) => {
            let status = status_of(&stack);
            let health = classify(&status);
            if health == Health::Failed {
                out.warn(format!(
                    "{name} came to rest in {status}; {}",
                    next_step(name, &status)
                ));
            } else {
                out.info(format!("{name}: at rest in {status}"));
            }
            r.reason = tracker
                .first_failure()
                .map(describe_failure)
                .or_else(|| stack.stack_status_reason().map(str::to_owned));
            r.health = Some(health);
            r.outputs = outputs_of(&stack);
            r.status = Some(status);
        }
        // It was there a moment ago: a delete finished (DELETE_IN_PROGRESS ends
        // with the stack gone by name). Nothing moves any more.
        Err(Error::NotFound(_)) => {
            out.info(format!("{name}: deleted (DELETE_COMPLETE); at rest"));
            r.status = Some("DELETE_COMPLETE".into());
            r.health = Some(Health::Missing);
        }
        Err(e) => {
            r.reason = Some(e.to_string());
            r.error = Some(e);
        }
    }
    r
}

/// CancelUpdateStack (with a client token) and the wait for the rollback. An
/// error from the call is decided by reading the stack back: the update may
/// just have finished (nothing left to cancel: at rest is success), or the
/// cancel may have landed with its answer lost (the rollback is running).
async fn cancel_update(
    cfn: &Client,
    out: &Output,
    journal: Option<&Journal>,
    target: &str,
    name: &str,
    timeout: Duration,
    cancel: &Cancel,
) -> OpResult {
    let change = match journal.map(|j| {
        j.intent(
            "stack.cancel-update",
            target,
            json!({ "status": "UPDATE_IN_PROGRESS" }),
        )
    }) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            let mut r = op_result(name, "none");
            r.error = Some(e);
            return r;
        }
        None => None,
    };
    let token = crate::stack::client_token(change.as_ref().map(|c| c.id()));
    let called = cfn
        .cancel_update_stack()
        .stack_name(name)
        .client_request_token(&token)
        .send()
        .await
        .aws("CancelUpdateStack");
    if let Err(e) = called {
        out.warn(format!(
            "{name}: {e}; reading the stack back to see where it is"
        ));
        match describe(cfn, name).await {
            Ok(Some(s)) if is_terminal(&status_of(&s)) => {
                // The update ended (or was rolled back) before the cancel reached it.
                let status = status_of(&s);
                out.info(format!(
                    "{name}: the update already ended ({status}); nothing left to cancel"
                ));
                if let Some(c) = change {
                    let _ = c.ok(json!({ "status": status, "note": "already at rest; CancelUpdateStack refused" }));
                }
                let mut r = op_result(name, "settled");
                r.health = Some(classify(&status));
                r.outputs = outputs_of(&s);
                r.reason = Some(format!("already at rest; CancelUpdateStack answered: {e}"));
                r.status = Some(status);
                return r;
            }
            Ok(Some(s)) if status_of(&s) != "UPDATE_IN_PROGRESS" => {
                // Rolling back or cleaning up: the cancel (or the update's own
                // end) is under way; wait for it below.
                out.info(format!(
                    "{name} is {}: waiting until it settles",
                    status_of(&s)
                ));
            }
            Ok(Some(_)) => {
                // Still updating: the cancel did not take.
                let msg = e.to_string();
                if let Some(c) = change {
                    let _ = c.failed(json!({ "status": "UPDATE_IN_PROGRESS" }), msg.clone());
                }
                let mut r = op_result(name, "none");
                r.status = Some("UPDATE_IN_PROGRESS".into());
                r.health = Some(Health::InProgress);
                r.reason = Some(msg);
                r.error = Some(Error::Aws(e));
                return r;
            }
            Ok(None) => {
                let msg = format!("{e}; and stack {name} is gone");
                if let Some(c) = change {
                    let _ = c.failed(json!({ "status": null }), msg.clone());
                }
                let mut r = op_result(name, "none");
                r.error = Some(Error::NotFound(msg));
                return r;
            }
            Err(read) => {
                let msg = format!(
                    "{e}; the read-back failed too ({read}): whether the update was cancelled is unknown; look with `stack-deploy watch {name}`"
                );
                if let Some(c) = change {
                    let _ = c.unknown(
                        json!({ "status": "unknown", "client_request_token": token }),
                        msg.clone(),
                    );
                }
                let mut r = op_result(name, "none");
                r.reason = Some(msg.clone());
                r.error = Some(Error::RevertFailed(msg));
                return r;
            }
        }
    } else {
        out.info(format!(
            "{name}: CancelUpdateStack accepted; waiting for the rollback"
        ));
    }
    let mut w = settle(cfn, out, name, timeout, cancel).await;
    w.action = "cancelled".into();
    if let Some(c) = change {
        let after = json!({ "status": w.status });
        let _ = match &w.error {
            None => c.ok(after),
            Some(Error::Interrupted) => c.interrupted(
                after,
                format!("CancelUpdateStack was accepted; CloudFormation goes on rolling back: follow it with `stack-deploy watch {name}`"),
            ),
            Some(e) => c.failed(after, e.to_string()),
        };
    }
    if w.error.is_none() && w.status.as_deref() == Some("UPDATE_COMPLETE") {
        w.reason = Some("the update finished before the cancel took effect".into());
    }
    w
}

/// Deletes the change sets of a REVIEW_IN_PROGRESS stack that have not been
/// executed (each journaled); returns how many. Executing ones are left: the
/// stack wait follows them.
async fn delete_pending_change_sets(
    cfn: &Client,
    out: &Output,
    journal: Option<&Journal>,
    target: &str,
    name: &str,
) -> Result<usize> {
    use aws_sdk_cloudformation::types::ExecutionStatus;
    let mut pending = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = cfn
            .list_change_sets()
            .stack_name(name)
            .set_next_token(token.clone())
            .send()
            .await
            .aws("ListChangeSets")?;
        for cs in page.summaries() {
            let executing = matches!(
                cs.execution_status(),
                Some(ExecutionStatus::ExecuteInProgress | ExecutionStatus::ExecuteComplete)
            );
            if let (Some(id), false) = (cs.change_set_name(), executing) {
                pending.push(id.to_owned());
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for cs in &pending {
        let change = match journal {
            Some(j) => Some(j.intent(
                "stack.delete-change-set",
                target,
                json!({ "status": "REVIEW_IN_PROGRESS", "change_set": cs }),
            )?),
            None => None,
        };
        let deleted = cfn
            .delete_change_set()
            .stack_name(name)
            .change_set_name(cs)
            .send()
            .await
            .aws("DeleteChangeSet");
        match deleted {
            Ok(_) => {
                out.info(format!("{name}: deleted the pending change set {cs}"));
                if let Some(c) = change {
                    c.ok(json!({ "change_set": cs, "deleted": true }))?;
                }
            }
            // Already gone (deleted by a retry of this call, or by someone else).
            Err(e) if e.has_code("ChangeSetNotFound") => {
                if let Some(c) = change {
                    c.ok(json!({ "change_set": cs, "deleted": true, "note": "already gone" }))?;
                }
            }
            Err(e) => {
                if let Some(c) = change {
                    c.failed(json!({ "change_set": cs }), e.to_string())?;
                }
                return Err(e.into());
            }
        }
    }
    Ok(pending.len())
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudformation::operation::continue_update_rollback::ContinueUpdateRollbackOutput;
    use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use common::journal::{JournalContext, Outcome};

    use super::*;
    use crate::stack::tests::{described, output};

    #[tokio::test(start_paused = true)]
    async fn emulator_style_500_on_rollback_is_reported_with_its_http_status() {
        let describe = mock!(Client::describe_stacks).then_output(|| described("UPDATE_FAILED"));
        let rollback = mock!(Client::rollback_stack).then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(500).unwrap(),
                SdkBody::from("<html><body>Internal Server Error</body></html>"),
            )
        });
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &rollback],
            |c| c.retry_config(aws_sdk_cloudformation::config::retry::RetryConfig::disabled())
        );
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let (out, _) = output();
        let r = recover_one(
            &cfn,
            &out,
            Some(&j),
            "ap-northeast-1",
            "S",
            Kind::Rollback,
            false,
            Duration::from_secs(60),
            &Cancel::new(),
        )
        .await;
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("RollbackStack failed"), "{e}");
        assert!(e.to_string().contains("HTTP 500"), "{e}");
        let entries = Journal::read_entries(&dir.path().join("j.jsonl")).unwrap();
        assert_eq!(entries[0].action, "stack.rollback");
        assert_eq!(entries[1].outcome, Some(Outcome::Failed));
    }

    #[tokio::test(start_paused = true)]
    async fn update_rollback_failed_is_continued_and_waited_for() {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .output(|| described("UPDATE_ROLLBACK_FAILED"))
            .output(|| described("UPDATE_ROLLBACK_IN_PROGRESS"))
            .output(|| described("UPDATE_ROLLBACK_COMPLETE"))
            .repeatedly()
            .build();
        let cont = mock!(Client::continue_update_rollback)
            .then_output(|| ContinueUpdateRollbackOutput::builder().build());
        let events = mock!(Client::describe_stack_events)
            .then_output(|| DescribeStackEventsOutput::builder().build());
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &cont, &events]
        );
        let (out, _) = output();
        let r = recover_one(
            &cfn,
            &out,
            None,
            "ap-northeast-1",
            "S",
            Kind::Rollback,
            false,
            Duration::from_secs(600),
            &Cancel::new(),
        )
        .await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.action, "continued-rollback");
        assert_eq!(r.status.as_deref(), Some("UPDATE_ROLLBACK_COMPLETE"));
        assert_eq!(cont.num_calls(), 1);
    }

    // ---- `cancel`: every state ends with the stack at rest (issue 21 item 2) ----

    use aws_sdk_cloudformation::operation::cancel_update_stack::CancelUpdateStackOutput;
    use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
    use aws_sdk_cloudformation::operation::list_change_sets::ListChangeSetsOutput;
    use aws_sdk_cloudformation::types::{ChangeSetSummary, ExecutionStatus};

    fn no_events() -> aws_smithy_mocks::Rule {
        mock!(Client::describe_stack_events)
            .then_output(|| DescribeStackEventsOutput::builder().build())
    }

    fn cancel_rule() -> aws_smithy_mocks::Rule {
        mock!(Client::cancel_update_stack)
            .then_output(|| CancelUpdateStackOutput::builder().build())
    }

    async fn stop(cfn: &Client, out: &Output, j: Option<&Journal>, timeout: u64) -> OpResult {
        stop_one(
            cfn,
            out,
            j,
            "ap-northeast-1",
            "S",
            false,
            Duration::from_secs(timeout),
            &Cancel::new(),
        )
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_of_an_update_calls_cancel_update_stack_and_waits_for_the_rollback() {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .output(|| described("UPDATE_IN_PROGRESS"))
            .output(|| described("UPDATE_ROLLBACK_IN_PROGRESS"))
            .times(2)
            .output(|| described("UPDATE_ROLLBACK_COMPLETE"))
            .repeatedly()
            .build();
        let tokens = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let t = tokens.clone();
        let cancel = mock!(Client::cancel_update_stack)
            .match_requests(move |r| {
                t.lock()
                    .unwrap()
                    .push(r.client_request_token().unwrap_or_default().to_owned());
                true
            })
            .then_output(|| CancelUpdateStackOutput::builder().build());
        let events = no_events();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &cancel, &events]
        );
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let (out, err) = output();
        let r = stop(&cfn, &out, Some(&j), 600).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.action, "cancelled");
        assert_eq!(r.status.as_deref(), Some("UPDATE_ROLLBACK_COMPLETE"));
        assert_eq!(cancel.num_calls(), 1);
        assert!(tokens.lock().unwrap()[0].starts_with("stack-deploy-"));
        let entries = Journal::read_entries(&dir.path().join("j.jsonl")).unwrap();
        assert_eq!(entries[0].action, "stack.cancel-update");
        assert_eq!(entries[1].outcome, Some(Outcome::Ok));
        assert_eq!(entries[1].after["status"], "UPDATE_ROLLBACK_COMPLETE");
        assert!(
            err.text()
                .contains("waiting for stack S: UPDATE_ROLLBACK_IN_PROGRESS"),
            "{}",
            err.text()
        );
    }

    // The cancel races the update finishing: CancelUpdateStack answers
    // ValidationError because the stack just reached UPDATE_COMPLETE. Read
    // back: at rest, so the stack is still and the command succeeds.
    #[tokio::test(start_paused = true)]
    async fn cancel_that_races_the_update_finishing_reads_back_and_is_ok() {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .output(|| described("UPDATE_IN_PROGRESS"))
            .output(|| described("UPDATE_COMPLETE"))
            .repeatedly()
            .build();
        let cancel = mock!(Client::cancel_update_stack).then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(400).unwrap(),
                SdkBody::from(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>CancelUpdateStack cannot be called from current stack status</Message></Error><RequestId>1</RequestId></ErrorResponse>",
                ),
            )
        });
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &cancel]
        );
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let (out, _) = output();
        let r = stop(&cfn, &out, Some(&j), 600).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.action, "settled");
        assert_eq!(r.status.as_deref(), Some("UPDATE_COMPLETE"));
        assert_eq!(cancel.num_calls(), 1);
        let entries = Journal::read_entries(&dir.path().join("j.jsonl")).unwrap();
        assert_eq!(entries[1].outcome, Some(Outcome::Ok));
        assert_eq!(entries[1].after["status"], "UPDATE_COMPLETE");
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_answered_500_while_still_updating_is_an_aws_failure() {
        let describe =
            mock!(Client::describe_stacks).then_output(|| described("UPDATE_IN_PROGRESS"));
        let cancel = mock!(Client::cancel_update_stack).then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(500).unwrap(),
                SdkBody::from("<html><body>Internal Server Error</body></html>"),
            )
        });
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &cancel],
            |c| c.retry_config(aws_sdk_cloudformation::config::retry::RetryConfig::disabled())
        );
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let (out, _) = output();
        let r = stop(&cfn, &out, Some(&j), 600).await;
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("HTTP 500"), "{e}");
        let entries = Journal::read_entries(&dir.path().join("j.jsonl")).unwrap();
        assert_eq!(entries[1].outcome, Some(Outcome::Failed));
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_waits_for_every_state_that_cannot_be_cancelled() {
        for (from, to) in [
            ("CREATE_IN_PROGRESS", "CREATE_COMPLETE"),
            ("CREATE_IN_PROGRESS", "ROLLBACK_COMPLETE"),
            ("ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"),
            ("UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"),
            ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"),
            (
                "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                "UPDATE_ROLLBACK_COMPLETE",
            ),
            ("IMPORT_ROLLBACK_IN_PROGRESS", "IMPORT_ROLLBACK_COMPLETE"),
            ("UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_FAILED"),
        ] {
            let describe = mock!(Client::describe_stacks)
                .sequence()
                .output(move || described(from))
                .times(3)
                .output(move || described(to))
                .repeatedly()
                .build();
            let cancel = cancel_rule();
            let events = no_events();
            let cfn = mock_client!(
                aws_sdk_cloudformation,
                RuleMode::MatchAny,
                &[&describe, &cancel, &events]
            );
            let dir = tempfile::tempdir().unwrap();
            let j = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
            let (out, err) = output();
            let r = stop(&cfn, &out, Some(&j), 600).await;
            assert!(r.error.is_none(), "{from}: {:?}", r.error);
            assert_eq!(r.action, "waited", "{from}");
            assert_eq!(r.status.as_deref(), Some(to), "{from}");
            assert_eq!(cancel.num_calls(), 0, "{from}");
            assert!(
                err.text()
                    .contains("cannot be cancelled; waiting until it settles")
                    && err.text().contains(&format!("waiting for stack S: {from}")),
                "{from}: {}",
                err.text()
            );
            // Waiting changes nothing: nothing journaled.
            assert!(
                Journal::read_entries(&dir.path().join("j.jsonl"))
                    .unwrap()
                    .is_empty()
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_of_a_delete_in_progress_waits_until_the_stack_is_gone() {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .output(|| described("DELETE_IN_PROGRESS"))
            .times(2)
            .http_response(|| {
                HttpResponse::new(
                    StatusCode::try_from(400).unwrap(),
                    SdkBody::from(
                        "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id S does not exist</Message></Error><RequestId>1</RequestId></ErrorResponse>",
                    ),
                )
            })
            .repeatedly()
            .build();
        let cancel = cancel_rule();
        let events = no_events();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &cancel, &events]
        );
        let (out, _) = output();
        let r = stop(&cfn, &out, None, 600).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.action, "waited");
        assert_eq!(r.status.as_deref(), Some("DELETE_COMPLETE"));
        assert_eq!(cancel.num_calls(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_of_a_create_that_never_settles_times_out_naming_watch() {
        let describe =
            mock!(Client::describe_stacks).then_output(|| described("CREATE_IN_PROGRESS"));
        let events = no_events();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &events]
        );
        let (out, _) = output();
        let r = stop(&cfn, &out, None, 120).await;
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.exit_code(), 5);
        assert!(e.to_string().contains("stack-deploy watch S"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_of_review_in_progress_deletes_the_pending_change_set() {
        let describe =
            mock!(Client::describe_stacks).then_output(|| described("REVIEW_IN_PROGRESS"));
        let list = mock!(Client::list_change_sets).then_output(|| {
            ListChangeSetsOutput::builder()
                .summaries(
                    ChangeSetSummary::builder()
                        .change_set_name("stack-deploy-20261202")
                        .execution_status(ExecutionStatus::Available)
                        .build(),
                )
                .build()
        });
        let delete = mock!(Client::delete_change_set)
            .match_requests(|r| r.change_set_name() == Some("stack-deploy-20261202"))
            .then_output(|| DeleteChangeSetOutput::builder().build());
        let cancel = cancel_rule();
        let events = no_events();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &list, &delete, &cancel, &events]
        );
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let (out, _) = output();
        let r = stop(&cfn, &out, Some(&j), 600).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.action, "deleted-change-sets");
        assert_eq!(r.status.as_deref(), Some("REVIEW_IN_PROGRESS"));
        assert_eq!(delete.num_calls(), 1);
        assert_eq!(cancel.num_calls(), 0);
        let entries = Journal::read_entries(&dir.path().join("j.jsonl")).unwrap();
        assert_eq!(entries[0].action, "stack.delete-change-set");
        assert_eq!(entries[0].before["change_set"], "stack-deploy-20261202");
        assert_eq!(entries[1].outcome, Some(Outcome::Ok));
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_of_a_stack_at_rest_does_nothing_and_succeeds() {
        for status in [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "ROLLBACK_COMPLETE",
            "UPDATE_ROLLBACK_FAILED",
        ] {
            let describe = mock!(Client::describe_stacks).then_output(move || described(status));
            let cancel = cancel_rule();
            let events = no_events();
            let cfn = mock_client!(
                aws_sdk_cloudformation,
                RuleMode::MatchAny,
                &[&describe, &cancel, &events]
            );
            let (out, _) = output();
            let r = stop(&cfn, &out, None, 600).await;
            assert!(r.error.is_none(), "{status}: {:?}", r.error);
            assert_eq!(r.action, "none");
            assert_eq!(r.status.as_deref(), Some(status));
            assert_eq!(describe.num_calls(), 1, "{status}");
            assert_eq!(cancel.num_calls() + events.num_calls(), 0, "{status}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_while_cancel_waits_journals_interrupted() {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .output(|| described("UPDATE_IN_PROGRESS"))
            .output(|| described("UPDATE_ROLLBACK_IN_PROGRESS"))
            .repeatedly()
            .build();
        let cancel = cancel_rule();
        let events = no_events();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &cancel, &events]
        );
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let (out, _) = output();
        let signal = Cancel::new();
        let s = signal.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(20)).await;
            s.trigger(common::cancel::SignalKind::Interrupt);
        });
        let r = stop_one(
            &cfn,
            &out,
            Some(&j),
            "ap-northeast-1",
            "S",
            false,
            Duration::from_secs(600),
            &signal,
        )
        .await;
        assert_eq!(r.error.as_ref().unwrap().exit_code(), 130);
        let entries = Journal::read_entries(&dir.path().join("j.jsonl")).unwrap();
        assert_eq!(entries[1].outcome, Some(Outcome::Interrupted));
        assert!(
            entries[1]
                .message
                .as_deref()
                .unwrap()
                .contains("stack-deploy watch S")
        );
    }
}
