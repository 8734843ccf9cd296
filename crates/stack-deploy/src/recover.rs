//! The commands for after (or during) a deploy: `status`, `watch` (re-attach),
//! `cancel` (CancelUpdateStack) and `rollback` (RollbackStack or
//! ContinueUpdateRollback, as the stack's state requires).

use std::io::Write;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use common::journal::Journal;
use common::{AwsResultExt, Context, Error, Output, Render, Result};

use crate::Selection;
use crate::deploy::{describe, outputs_of, status_of, wait_stack};
use crate::events::describe_failure;
use crate::graph::select;
use crate::manifest::Assembly;
use crate::status::{Health, Op, StackStatus, StatusReport, classify, judge};

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

pub async fn status(ctx: &Context, sel: &Selection) -> Result<()> {
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

/// One stack after watch/cancel/rollback.
#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
pub struct OpReport {
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

fn finish(ctx: &Context, mut stacks: Vec<OpResult>) -> Result<()> {
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

fn check_names(stacks: &[String]) -> Result<()> {
    for s in stacks {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok && !s.starts_with("arn:") {
            return Err(Error::usage(format!(
                "{s:?} is not a CloudFormation stack name (letters, digits and hyphens, starting with a letter)"
            )));
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
) -> OpResult {
    let mut r = op_result(name, "watched");
    let mut calls = 0;
    match wait_stack(cfn, out, name, None, timeout, &mut calls, true).await {
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

pub async fn watch(ctx: &Context, stacks: &[String], timeout: Duration) -> Result<()> {
    check_names(stacks)?;
    common::duration::effective_timeout(timeout)?;
    let aws = ctx.aws().await?;
    let cfn = Client::new(&aws.config);
    let results = futures::stream::iter(stacks.iter().map(|n| {
        let cfn = cfn.clone();
        async move { watch_one(&cfn, &ctx.out, n, Op::Watch, timeout).await }
    }))
    .buffered(16)
    .collect::<Vec<_>>()
    .await;
    finish(ctx, results)
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
        Kind::Cancel => "cancel the update of",
        Kind::Rollback => "roll back",
    };
    ctx.begin_change(&format!("{verb} stack(s) {}", stacks.join(", ")))
        .await?;
    let aws = ctx.aws().await?;
    let cfn = Client::new(&aws.config);
    let journal = if ctx.dry_run() {
        None
    } else {
        Some(ctx.journal().await?)
    };
    let region = aws.region();
    let mut results = Vec::new();
    for name in stacks {
        results.push(
            recover_one(
                &cfn,
                &ctx.out,
                journal,
                &region,
                name,
                kind,
                ctx.dry_run(),
                timeout,
            )
            .await,
        );
    }
    finish(ctx, results)
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
) -> OpResult {
    let mut r = op_result(name, "none");
    let stack = match describe(cfn, name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            r.error = Some(Error::NotFound(format!("stack {name} does not exist")));
            return r;
        }
        Err(e) => {
            r.error = Some(e);
            return r;
        }
    };
    let status = status_of(&stack);
    r.status = Some(status.clone());
    r.health = Some(classify(&status));
    // Which call the state needs.
    let (action, api, op) = match (kind, status.as_str()) {
        (Kind::Cancel, "UPDATE_IN_PROGRESS") => ("cancelled", "CancelUpdateStack", Op::Cancel),
        (Kind::Cancel, s) => {
            let hint = if s == "CREATE_IN_PROGRESS" {
                " (a create cannot be cancelled; wait for it, or delete the stack)"
            } else {
                ""
            };
            r.error = Some(Error::CheckFailed(format!(
                "nothing to cancel: stack {name} is {s}, not UPDATE_IN_PROGRESS{hint}"
            )));
            return r;
        }
        (Kind::Rollback, "UPDATE_ROLLBACK_FAILED") => {
            ("continued-rollback", "ContinueUpdateRollback", Op::Rollback)
        }
        (Kind::Rollback, "CREATE_FAILED" | "UPDATE_FAILED" | "IMPORT_FAILED") => {
            ("rolled-back", "RollbackStack", Op::Rollback)
        }
        (Kind::Rollback, s) => {
            r.error = Some(Error::CheckFailed(format!(
                "nothing to roll back: stack {name} is {s} (rollback applies to CREATE_FAILED, UPDATE_FAILED and UPDATE_ROLLBACK_FAILED)"
            )));
            return r;
        }
    };
    if dry_run {
        out.info(format!("dry run: would call {api} on {name} ({status})"));
        r.action = format!(
            "would-{}",
            if kind == Kind::Cancel {
                "cancel"
            } else {
                "roll-back"
            }
        );
        return r;
    }
    let target = format!("cloudformation:{region}/{name}");
    let journal_action = match api {
        "CancelUpdateStack" => "stack.cancel-update",
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
        "CancelUpdateStack" => cfn
            .cancel_update_stack()
            .stack_name(name)
            .send()
            .await
            .aws(api)
            .map(|_| ()),
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
    let mut w = watch_one(cfn, out, name, op, timeout).await;
    w.action = action.to_owned();
    if let Some(c) = change {
        let after = json!({ "status": w.status });
        let _ = match &w.error {
            None => c.ok(after),
            Some(e) => c.failed(after, e.to_string()),
        };
    }
    w
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
    use crate::deploy::tests::{described, output};

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
        )
        .await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.action, "continued-rollback");
        assert_eq!(r.status.as_deref(), Some("UPDATE_ROLLBACK_COMPLETE"));
        assert_eq!(cont.num_calls(), 1);
    }
}
