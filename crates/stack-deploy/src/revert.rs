//! `revert --run RUN_ID`: puts back the templates, parameters and tags a
//! deploy run recorded before it changed each stack (`record.rs`), in reverse
//! dependency order, through the deploy's own per-stack path (`deploy_stack`:
//! the same decision, events, waits, journal and exit codes). Stacks the run
//! created are deleted only with `--delete-created`; a stack already equal to
//! its record is left alone.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use common::{
    AwsResultExt, Context, Error, HumanDuration, Poll, Render, Result, WaitOptions, poll_until,
};

use crate::graph::Graph;
use crate::manifest::{Assembly, TEMPLATE_BODY_LIMIT, TemplateParam, check_stack_name};
use crate::record::StackRecord;
use crate::roles::Roles;
use crate::stack::{
    Action, DeployOptions, Method, StackEnv, StackJob, StackResult, client_token, deploy_stack,
    describe, sha256, status_of,
};

/// `revert`: put back what a deploy run changed.
#[derive(Debug, Clone, clap::Args)]
pub struct RevertArgs {
    /// The deploy run (`run_id` in the deploy's JSON result; `run-state runs list`).
    #[arg(long, value_name = "RUN_ID")]
    pub run: String,
    /// Only these stacks (default: every stack the run recorded).
    #[arg(value_name = "STACK")]
    pub stacks: Vec<String>,
    /// The cloud assembly: its dependency graph orders the revert (else the
    /// reverse of the order the run recorded the stacks).
    #[arg(long, value_name = "DIR")]
    pub app: Option<PathBuf>,
    /// Also delete the stacks the run created (and everything in them).
    #[arg(long)]
    pub delete_created: bool,
    /// direct = UpdateStack; change-set = CreateChangeSet + ExecuteChangeSet.
    #[arg(long, value_enum, default_value_t)]
    pub method: Method,
    /// Stacks of one dependency level reverted at the same time.
    #[arg(long, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Use the caller's credentials instead of the deploy role the run used.
    #[arg(long)]
    pub no_assume_role: bool,
    /// Give up waiting after this long (exit 5; CloudFormation goes on).
    #[arg(long, default_value = "60m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

/// The revert's result document.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RevertReport {
    /// True when no stack failed and nothing interrupted the revert (its
    /// exit 0, so it equals the envelope's `ok`).
    pub ok: bool,
    pub dry_run: bool,
    /// The deploy run whose records were put back.
    pub run_id: String,
    /// The order the stacks were reverted in (each list at the same time).
    pub order: Vec<Vec<String>>,
    pub stacks: Vec<StackResult>,
    /// Stacks the run created, left in place without `--delete-created`.
    pub left_in_place: Vec<String>,
    pub duration: String,
    /// The revert's own time (`duration`); the envelope's, from the start of
    /// the process, is `envelope.duration_ms`.
    pub duration_ms: u64,
    pub api_calls: u32,
}

impl Render for RevertReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        crate::stack::write_table(w, &self.stacks)?;
        writeln!(
            w,
            "revert of run {}: {} in {} ({} API calls){}",
            self.run_id,
            if self.ok { "done" } else { "FAILED" },
            self.duration,
            self.api_calls,
            if self.dry_run { ", dry run" } else { "" }
        )
    }
}

/// The job that puts `rec` back: its template, every recorded parameter the
/// template declares, its tags and service role. Like a deploy, NoEcho
/// parameters (recorded masked) keep their current value and SSM-typed ones
/// with a default (CDK's BootstrapVersion) are resolved by CloudFormation again.
pub fn job_from_record(rec: &StackRecord) -> Result<StackJob> {
    let template = rec.template.clone().ok_or_else(|| {
        Error::CheckFailed(format!(
            "the record of {} holds no template (it was created by the run)",
            rec.stack
        ))
    })?;
    let template_parameters: BTreeMap<String, TemplateParam> =
        match serde_json::from_str::<Value>(&template) {
            Ok(parsed) => crate::manifest::template_parameters(&parsed),
            // A YAML template: every recorded parameter is the template's.
            Err(_) => rec
                .parameters
                .keys()
                .map(|k| (k.clone(), TemplateParam::default()))
                .collect(),
        };
    let parameters = rec
        .parameters
        .iter()
        .filter(|(k, _)| {
            template_parameters
                .get(*k)
                .is_some_and(|p| !(p.no_echo || (p.ssm && p.default.is_some())))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(StackJob {
        stack_name: rec.stack.clone(),
        template,
        template_parameters,
        parameters,
        tags: rec.tags.clone(),
        exec_role: rec.role_arn.clone(),
        template_url: None,
        termination_protection: rec.termination_protection,
        template_bucket: rec.template_bucket.clone(),
    })
}

/// The order to revert in: the reverse of the assembly's dependency levels
/// when there is one (stacks it does not know first), else the reverse of
/// the order the records were written.
pub fn revert_order(
    records: &[StackRecord],
    assembly: Option<&Assembly>,
) -> Result<Vec<Vec<String>>> {
    let Some(a) = assembly else {
        return Ok(records
            .iter()
            .rev()
            .map(|r| vec![r.stack.clone()])
            .collect());
    };
    // Levels of the whole assembly, so a dependency through a stack the run
    // did not record (Api between Database and StaticSite) still orders them.
    let all: Vec<String> = a.stacks.iter().map(|s| s.id.clone()).collect();
    let levels = Graph::build(a, &all)?.levels()?;
    let recorded = |id: &String| {
        a.stack(id)
            .is_some_and(|s| records.iter().any(|r| r.stack == s.stack_name))
    };
    let mut order: Vec<Vec<String>> = records
        .iter()
        .rev()
        .filter(|r| !a.stacks.iter().any(|s| s.stack_name == r.stack))
        .map(|r| vec![r.stack.clone()])
        .collect();
    for level in levels.iter().rev() {
        let names: Vec<String> = level
            .iter()
            .filter(|id| recorded(id))
            .filter_map(|id| a.stack(id))
            .map(|s| s.stack_name.clone())
            .collect();
        if !names.is_empty() {
            order.push(names);
        }
    }
    Ok(order)
}

/// One stack to revert, with where and how.
pub struct Item<'a> {
    pub record: StackRecord,
    pub env: StackEnv<'a>,
    /// Set when the recorded template is over the inline limit (uploaded).
    pub template_url: Option<String>,
}

/// Reverts `order` level by level (a level's stacks at most `concurrency` at
/// a time); after a failure or a signal nothing new starts.
pub async fn revert_levels(
    order: &[Vec<String>],
    items: &HashMap<String, Item<'_>>,
    delete_created: bool,
    concurrency: usize,
) -> Vec<StackResult> {
    let mut results = Vec::new();
    let mut stop: Option<&'static str> = None;
    for level in order {
        if stop.is_none()
            && let Some(cancel) = items.values().next().map(|i| &i.env.opts.cancel)
            && cancel.is_cancelled()
        {
            stop = Some("not started: interrupted");
        }
        if let Some(why) = stop {
            for name in level {
                let template = items[name].record.template.clone().unwrap_or_default();
                results.push(StackResult::skipped(name, &template, why));
            }
            continue;
        }
        let done: Vec<StackResult> = futures::stream::iter(level.iter().map(|name| {
            let item = &items[name];
            async move { revert_one(item, delete_created).await }
        }))
        .buffered(concurrency.max(1))
        .collect()
        .await;
        if done.iter().any(|r| r.action == Action::Interrupted) {
            stop = Some("not started: interrupted");
        } else if done.iter().any(|r| !r.ok()) {
            stop = Some("not started: an earlier stack failed");
        }
        results.extend(done);
    }
    results
}

async fn revert_one(item: &Item<'_>, delete_created: bool) -> StackResult {
    let rec = &item.record;
    if rec.created {
        if delete_created {
            return delete_stack(&item.env, &rec.stack).await;
        }
        item.env.out.warn(format!(
            "{}: created by the run; left in place (its data!): pass --delete-created to delete it",
            rec.stack
        ));
        let mut r = StackResult::skipped(&rec.stack, "", "created by the run; left in place");
        r.action = Action::LeftInPlace;
        return r;
    }
    match job_from_record(rec) {
        Ok(mut job) => {
            job.template_url = item.template_url.clone();
            deploy_stack(&item.env, &job).await
        }
        Err(e) => {
            let mut r = StackResult::skipped(&rec.stack, "", &e.to_string());
            r.action = Action::Failed;
            r.error = Some(e);
            r
        }
    }
}

/// Deletes a stack the reverted run created, journaled `stack.delete`, and
/// waits until it is gone.
pub async fn delete_stack(env: &StackEnv<'_>, name: &str) -> StackResult {
    let t0 = Instant::now();
    let mut calls = 0u32;
    let mut last = None;
    let res = delete_inner(env, name, &mut calls, &mut last).await;
    let elapsed = t0.elapsed();
    let mut r = StackResult::skipped(name, "", "");
    r.reason = None;
    r.status = last;
    r.duration = common::duration::format_duration(elapsed);
    r.duration_ms = elapsed.as_millis() as u64;
    r.api_calls = calls;
    r.deployed_as = Some(env.identity.clone());
    match res {
        Ok(action) => r.action = action,
        Err(Error::Interrupted) => {
            r.action = Action::Interrupted;
            r.reason = Some(format!(
                "interrupted; CloudFormation goes on with the delete: `aws cloudformation describe-stacks --stack-name {name}`"
            ));
            r.error = Some(Error::Interrupted);
        }
        Err(e) => {
            r.action = Action::Failed;
            r.reason = Some(e.to_string());
            r.error = Some(e);
        }
    }
    r
}

async fn delete_inner(
    env: &StackEnv<'_>,
    name: &str,
    calls: &mut u32,
    last: &mut Option<String>,
) -> Result<Action> {
    let cancel = &env.opts.cancel;
    cancel.check()?;
    *calls += 1;
    let Some(stack) = cancel.run(describe(&env.cfn, name)).await? else {
        env.out.info(format!("{name}: already gone"));
        *last = Some("DELETE_COMPLETE".into());
        return Ok(Action::Deleted);
    };
    let status = status_of(&stack);
    *last = Some(status.clone());
    let id = stack.stack_id().unwrap_or(name).to_owned();
    if env.opts.dry_run {
        env.out.info(format!(
            "dry run: would delete stack {name} ({status}), created by the run"
        ));
        return Ok(Action::WouldDelete);
    }
    let target = format!("cloudformation:{}/{name}", env.region);
    let mut before = json!({ "status": status, "stack_id": id });
    if let (Value::Object(m), Some(run)) = (&mut before, &env.opts.reverts) {
        m.insert("reverts_run".into(), json!(run));
    }
    let change = match env.journal {
        Some(j) => Some(j.intent("stack.delete", &target, before)?),
        None => None,
    };
    let token = client_token(change.as_ref().map(|c| c.id()));
    *calls += 1;
    // DeleteStack is idempotent: after a lost answer the wait below reads
    // the world back (a stack deleting or gone is this request's doing).
    let sent = tokio::select! {
        biased;
        r = env.cfn.delete_stack().stack_name(&id).client_request_token(&token).send() => Some(r.aws("DeleteStack").map(drop)),
        () = cancel.hard_cancelled() => None,
    };
    match sent {
        Some(Ok(())) => {}
        None => {
            if let Some(c) = change {
                c.interrupted(
                    json!({ "status": status, "client_request_token": token }),
                    format!("stopped by a second signal while DeleteStack was in flight; look with `aws cloudformation describe-stacks --stack-name {id}`"),
                )?;
            }
            return Err(Error::Interrupted);
        }
        Some(Err(e)) if e.status.is_none_or(|s| s >= 500) => {
            env.out.warn(format!(
                "{name}: {e}; reading the stack back to see whether the delete started"
            ));
        }
        Some(Err(e)) => {
            if let Some(c) = change {
                c.failed(json!({ "status": status }), e.to_string())?;
            }
            return Err(e.into());
        }
    }
    env.out.info(format!("{name}: delete started"));
    let left = env.opts.deadline.saturating_duration_since(Instant::now());
    let opts = WaitOptions::new(format!("delete of stack {name}"), left).reattach(format!(
        "aws cloudformation describe-stacks --stack-name {id}"
    ));
    let n = AtomicU32::new(0);
    let waited = cancel
        .run(poll_until(env.out, &opts, || async {
            n.fetch_add(1, Ordering::Relaxed);
            match describe(&env.cfn, &id).await? {
                None => Ok(Poll::Done("DELETE_COMPLETE".to_owned())),
                Some(s) => {
                    let st = status_of(&s);
                    if st == "DELETE_COMPLETE" || st == "DELETE_FAILED" {
                        Ok(Poll::Done(st))
                    } else {
                        Ok(Poll::Pending(st))
                    }
                }
            }
        }))
        .await;
    *calls += n.load(Ordering::Relaxed);
    match waited {
        Ok(st) if st == "DELETE_COMPLETE" => {
            *last = Some(st.clone());
            if let Some(c) = change {
                c.ok(json!({ "status": st }))?;
            }
            env.out.info(format!("{name}: DELETE_COMPLETE"));
            Ok(Action::Deleted)
        }
        Ok(st) => {
            *last = Some(st.clone());
            let msg = format!(
                "stack {name} is {st}: some resources could not be deleted; look with `aws cloudformation describe-stack-events --stack-name {id}`, then delete it again (`aws cloudformation delete-stack --stack-name {id}`, with --retain-resources for what must stay)"
            );
            if let Some(c) = change {
                c.failed(json!({ "status": st }), msg.clone())?;
            }
            Err(Error::RevertFailed(msg))
        }
        Err(Error::Interrupted) => {
            if let Some(c) = change {
                c.interrupted(
                    json!({ "status": "DELETE_IN_PROGRESS", "client_request_token": token }),
                    format!("stopped by a signal while waiting; CloudFormation goes on deleting {name}: `aws cloudformation describe-stacks --stack-name {id}`"),
                )?;
            }
            Err(Error::Interrupted)
        }
        Err(e) => {
            if let Some(c) = change {
                c.failed(json!({ "status": "unknown" }), e.to_string())?;
            }
            Err(e)
        }
    }
}

/// Uploads a recorded template over the inline limit to `bucket` (key: its
/// sha256, content-addressed like the assembly's own assets; left alone when
/// present) and returns the URL CloudFormation fetches.
async fn upload_template(
    config: &aws_config::SdkConfig,
    bucket: &str,
    template: &str,
    endpoint: Option<&str>,
    region: &str,
    calls: &AtomicU32,
) -> Result<String> {
    let key = format!("{}.json", sha256(template));
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(endpoint.is_some())
            .build(),
    );
    calls.fetch_add(1, Ordering::Relaxed);
    let present = match s3
        .head_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .aws("HeadObject")
    {
        Ok(_) => true,
        Err(e) if e.status == Some(404) || e.has_code("NotFound") || e.has_code("NoSuchKey") => {
            false
        }
        Err(e) => return Err(e.into()),
    };
    if !present {
        calls.fetch_add(1, Ordering::Relaxed);
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from(template.as_bytes().to_vec()))
            .send()
            .await
            .aws("PutObject")?;
    }
    crate::deploy::https_url(Some(&format!("s3://{bucket}/{key}")), endpoint, region)
        .ok_or_else(|| Error::Internal(format!("no URL for s3://{bucket}/{key}")))
}

pub async fn revert(ctx: &Context, args: RevertArgs) -> Result<()> {
    let t0 = Instant::now();
    // Input first: nothing is read before it is known to be well formed.
    common::state::validate_run_id(&args.run)?;
    for s in &args.stacks {
        check_stack_name(s)?;
    }
    let assembly = args.app.as_deref().map(Assembly::load).transpose()?;
    common::duration::effective_timeout(args.timeout.0)?;

    let store = ctx
        .state()
        .await?
        .ok_or_else(|| Error::Internal("revert needs the environment's state".into()))?;
    let mut records = crate::record::load(store, &args.run)?;
    if records.is_empty() && !store.list_runs()?.contains(&args.run) {
        return Err(Error::usage(format!(
            "no run {} in {} (run-state runs list)",
            common::quote(&args.run),
            store.location("runs/")
        )));
    }
    if !args.stacks.is_empty() {
        for s in &args.stacks {
            if !records.iter().any(|r| &r.stack == s) {
                return Err(Error::usage(format!(
                    "run {} recorded no stack {} (it has: {})",
                    args.run,
                    common::quote(s),
                    records
                        .iter()
                        .map(|r| r.stack.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        records.retain(|r| args.stacks.contains(&r.stack));
    }
    for r in &records {
        check_stack_name(&r.stack)?;
    }
    let order = revert_order(&records, assembly.as_ref())?;
    let by_name: HashMap<String, StackRecord> = records
        .iter()
        .map(|r| (r.stack.clone(), r.clone()))
        .collect();
    let left_in_place: Vec<String> = if args.delete_created {
        Vec::new()
    } else {
        order
            .iter()
            .flatten()
            .filter(|n| by_name[*n].created)
            .cloned()
            .collect()
    };
    if records.is_empty() {
        ctx.out.info(format!(
            "run {} recorded no stack (its deploy changed none); nothing to revert",
            args.run
        ));
    }

    let action = format!(
        "revert {} stack(s) to their state before run {}",
        records.len(),
        args.run
    );
    // No --env: stack names ending in -prod count as production, as for deploy
    // (the confirmation and the run lock of that environment).
    let safety = crate::deploy::stack_safety(ctx, records.iter().map(|r| r.stack.as_str()));
    ctx.begin_change_in(&safety, &action).await?;
    let cancel = ctx.cancel();
    cancel.check()?;

    let mut api_calls = 0u32;
    let mut results = Vec::new();
    if !records.is_empty() {
        let aws = ctx.aws().await?;
        let roles = Roles::new(aws.config.clone(), !args.no_assume_role);
        let calls = AtomicU32::new(0);
        let endpoint = aws.config.endpoint_url().map(str::to_owned);
        let journal = if ctx.dry_run() {
            None
        } else {
            Some(ctx.journal().await?)
        };
        let opts = DeployOptions {
            method: args.method,
            no_rollback: false,
            dry_run: ctx.dry_run(),
            deadline: t0 + args.timeout.0,
            cancel: cancel.clone(),
            rollback: None,
            reverts: Some(args.run.clone()),
        };
        let mut items: HashMap<String, Item<'_>> = HashMap::new();
        for rec in &records {
            let art = assembly
                .as_ref()
                .and_then(|a| a.stacks.iter().find(|s| s.stack_name == rec.stack));
            let role = rec.deploy_role.clone();
            let region = if rec.region.is_empty() {
                roles.base_region()
            } else {
                rec.region.clone()
            };
            let session = roles.session(role.as_deref(), Some(&region)).await?;
            let mut template_url = None;
            if let Some(t) = rec.template.as_deref()
                && t.len() > TEMPLATE_BODY_LIMIT
                && !rec.created
            {
                let bucket = art
                    .and_then(|a| a.template_asset_url.as_deref())
                    .and_then(|u| u.strip_prefix("s3://"))
                    .and_then(|r| r.split('/').next())
                    .map(str::to_owned)
                    .or_else(|| rec.template_bucket.clone())
                    .ok_or_else(|| {
                        Error::usage(format!(
                            "{}: the recorded template is {} bytes (over {TEMPLATE_BODY_LIMIT}) and no assets bucket is known: pass --app with the assembly",
                            rec.stack,
                            t.len()
                        ))
                    })?;
                if !ctx.dry_run() {
                    template_url = Some(
                        upload_template(
                            &session.config,
                            &bucket,
                            t,
                            endpoint.as_deref(),
                            &region,
                            &calls,
                        )
                        .await?,
                    );
                }
            }
            let env = StackEnv {
                cfn: aws_sdk_cloudformation::Client::new(&session.config),
                out: &ctx.out,
                journal,
                opts: &opts,
                identity: session.identity.clone(),
                region,
                recorder: None,
                deploy_role: role,
                late: None,
            };
            items.insert(
                rec.stack.clone(),
                Item {
                    record: rec.clone(),
                    env,
                    template_url,
                },
            );
            cancel.check()?;
        }
        ctx.out.info(format!(
            "reverting {} stack(s) to their state before run {}, in this order: {}",
            records.len(),
            args.run,
            order
                .iter()
                .map(|l| l.join(" + "))
                .collect::<Vec<_>>()
                .join(" -> ")
        ));
        results = revert_levels(
            &order,
            &items,
            args.delete_created,
            usize::from(args.concurrency),
        )
        .await;
        api_calls = results.iter().map(|r| r.api_calls).sum::<u32>()
            + calls.load(Ordering::Relaxed)
            + roles.calls.load(Ordering::Relaxed);
    }

    let elapsed = t0.elapsed();
    let first_error = results.iter_mut().find_map(|r| r.error.take());
    let interrupted = cancel.is_cancelled();
    let mut report = RevertReport {
        ok: first_error.is_none() && !interrupted,
        dry_run: ctx.dry_run(),
        run_id: args.run.clone(),
        order,
        stacks: results,
        left_in_place,
        duration: common::duration::format_duration(elapsed),
        duration_ms: elapsed.as_millis() as u64,
        api_calls,
    };
    if !report.left_in_place.is_empty() {
        ctx.out.warn(format!(
            "left in place (created by run {}; `--delete-created` deletes them and their data): {}",
            args.run,
            report.left_in_place.join(", ")
        ));
    }
    if interrupted {
        let moving: Vec<&str> = report
            .stacks
            .iter()
            .filter(|s| s.action == Action::Interrupted)
            .map(|s| s.stack.as_str())
            .collect();
        ctx.out.warn(format!(
            "interrupted: nothing new was started{}; run the same revert again to carry on",
            if moving.is_empty() {
                String::new()
            } else {
                format!(
                    "; CloudFormation goes on with {}: follow it with `stack-deploy watch {}`",
                    moving.join(", "),
                    moving.join(" ")
                )
            }
        ));
        report.ok = false;
        ctx.out.result(&report)?;
        return Err(Error::Interrupted);
    }
    ctx.out.result(&report)?;
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use aws_sdk_cloudformation::Client;
    use aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput;
    use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
    use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
    use aws_sdk_cloudformation::operation::update_stack::UpdateStackOutput;
    use aws_sdk_cloudformation::types::{Parameter, Stack, StackStatus, Tag};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use common::journal::{Journal, JournalContext, Outcome};

    use super::*;
    use crate::stack::tests::output;

    const GOOD: &str = r#"{"Parameters":{"Tag":{"Type":"String","Default":"v1"},"BootstrapVersion":{"Type":"AWS::SSM::Parameter::Value<String>","Default":"/cdk-bootstrap/hnb659fds/version"}},"Resources":{"A":{"Type":"AWS::SNS::Topic"}}}"#;
    const BAD: &str = r#"{"Parameters":{"Tag":{"Type":"String","Default":"v1"},"BootstrapVersion":{"Type":"AWS::SSM::Parameter::Value<String>","Default":"/cdk-bootstrap/hnb659fds/version"}},"Resources":{"A":{"Type":"AWS::SNS::Topic"},"Bad":{"Type":"AWS::SQS::Queue"}}}"#;

    fn named(name: &str, status: &str, tag: &str) -> DescribeStacksOutput {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name(name)
                    .stack_id(format!(
                        "arn:aws:cloudformation:ap-northeast-1:123456789012:stack/{name}/1"
                    ))
                    .creation_time(aws_smithy_types::DateTime::from_secs(1_800_000_000))
                    .stack_status(StackStatus::from(status))
                    .parameters(
                        Parameter::builder()
                            .parameter_key("Tag")
                            .parameter_value(tag)
                            .build(),
                    )
                    .parameters(
                        Parameter::builder()
                            .parameter_key("BootstrapVersion")
                            .parameter_value("21")
                            .build(),
                    )
                    .tags(Tag::builder().key("Project").value("LTC").build())
                    .build(),
            )
            .build()
    }

    fn rec(name: &str, at: &str) -> StackRecord {
        StackRecord {
            stack: name.into(),
            recorded_at: at.into(),
            region: "ap-northeast-1".into(),
            template: Some(GOOD.into()),
            parameters: [
                ("Tag".to_string(), "v1".to_string()),
                ("BootstrapVersion".to_string(), "21".to_string()),
            ]
            .into(),
            tags: [("Project".to_string(), "LTC".to_string())].into(),
            ..StackRecord::default()
        }
    }

    fn opts() -> DeployOptions {
        DeployOptions {
            method: Method::Direct,
            no_rollback: false,
            dry_run: false,
            deadline: Instant::now() + Duration::from_secs(600),
            cancel: common::Cancel::new(),
            rollback: None,
            reverts: Some("run-1".into()),
        }
    }

    /// A stack's own mock client: live template `live` with parameter Tag=`tag`;
    /// an UpdateStack (logged with the stack's name) brings it to UPDATE_COMPLETE.
    fn live_stack(
        name: &'static str,
        live: &'static str,
        tag: &'static str,
        log: Arc<Mutex<Vec<String>>>,
    ) -> (Client, aws_smithy_mocks::Rule) {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .output(move || named(name, "UPDATE_COMPLETE", tag))
            .output(move || named(name, "UPDATE_IN_PROGRESS", tag))
            .output(move || named(name, "UPDATE_COMPLETE", "v1"))
            .repeatedly()
            .build();
        let template = mock!(Client::get_template)
            .then_output(move || GetTemplateOutput::builder().template_body(live).build());
        let update = mock!(Client::update_stack)
            .match_requests(move |r| {
                // What is put back: the recorded template and parameter value;
                // the SSM-typed default is left to CloudFormation.
                let params: Vec<(String, String)> = r
                    .parameters()
                    .iter()
                    .map(|p| {
                        (
                            p.parameter_key().unwrap_or_default().to_owned(),
                            p.parameter_value().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                log.lock().unwrap().push(name.to_owned());
                r.template_body() == Some(GOOD)
                    && params == vec![("Tag".to_owned(), "v1".to_owned())]
                    && r.client_request_token().is_some()
            })
            .then_output(|| UpdateStackOutput::builder().stack_id("x").build());
        let events = mock!(Client::describe_stack_events)
            .then_output(|| DescribeStackEventsOutput::builder().build());
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &template, &update, &events]
        );
        (cfn, update)
    }

    fn item<'a>(
        record: StackRecord,
        cfn: Client,
        out: &'a common::Output,
        journal: Option<&'a Journal>,
        opts: &'a DeployOptions,
    ) -> Item<'a> {
        Item {
            record,
            env: crate::stack::tests::env_for(cfn, out, journal, opts),
            template_url: None,
        }
    }

    #[test]
    fn the_order_is_the_assembly_levels_reversed_else_the_records_reversed() {
        let a = crate::manifest::fixture();
        let recs: Vec<StackRecord> = ["Database", "StaticSite", "Monitoring", "Observability"]
            .iter()
            .enumerate()
            .map(|(i, s)| rec(&format!("LightningTalk-{s}-prod"), &format!("t{i}")))
            .collect();
        let order = revert_order(&recs, Some(&a)).unwrap();
        // StaticSite depends on Database only through Api (not recorded): still after it.
        assert_eq!(
            order,
            vec![
                vec![
                    "LightningTalk-Monitoring-prod".to_owned(),
                    "LightningTalk-Observability-prod".to_owned()
                ],
                vec!["LightningTalk-StaticSite-prod".to_owned()],
                vec!["LightningTalk-Database-prod".to_owned()],
            ]
        );
        let order = revert_order(&[rec("A", "t1"), rec("B", "t2")], None).unwrap();
        assert_eq!(order, vec![vec!["B".to_owned()], vec!["A".to_owned()]]);
    }

    #[tokio::test(start_paused = true)]
    async fn revert_goes_in_reverse_order_skips_stacks_equal_to_their_record_and_keeps_created_ones()
     {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (a_cfn, a_update) = live_stack("A", GOOD, "v1", log.clone());
        let (b_cfn, b_update) = live_stack("B", BAD, "v1", log.clone());
        let (c_cfn, c_update) = live_stack("C", GOOD, "v2", log.clone());
        // D was created by the run: without --delete-created nothing is called.
        let d_describe =
            mock!(Client::describe_stacks).then_output(|| named("D", "CREATE_COMPLETE", "v1"));
        let d_delete =
            mock!(Client::delete_stack).then_output(|| DeleteStackOutput::builder().build());
        let d_cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&d_describe, &d_delete]
        );
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let (out, err) = output();
        let o = opts();
        let mut d = rec("D", "t4");
        d.created = true;
        d.template = None;
        let items: HashMap<String, Item<'_>> = [
            (
                "A".to_owned(),
                item(rec("A", "t1"), a_cfn, &out, Some(&journal), &o),
            ),
            (
                "B".to_owned(),
                item(rec("B", "t2"), b_cfn, &out, Some(&journal), &o),
            ),
            (
                "C".to_owned(),
                item(rec("C", "t3"), c_cfn, &out, Some(&journal), &o),
            ),
            ("D".to_owned(), item(d, d_cfn, &out, Some(&journal), &o)),
        ]
        .into();
        let order: Vec<Vec<String>> = ["D", "C", "B", "A"]
            .iter()
            .map(|s| vec![s.to_string()])
            .collect();
        let results = revert_levels(&order, &items, false, 4).await;

        let got: Vec<(&str, Action)> = results
            .iter()
            .map(|r| (r.stack.as_str(), r.action))
            .collect();
        assert_eq!(
            got,
            vec![
                ("D", Action::LeftInPlace),
                ("C", Action::Updated),
                ("B", Action::Updated),
                ("A", Action::Unchanged),
            ]
        );
        // C (a parameter differs) before B (the template differs); A equal: no call.
        assert_eq!(*log.lock().unwrap(), vec!["C", "B"]);
        assert_eq!(
            (
                a_update.num_calls(),
                b_update.num_calls(),
                c_update.num_calls()
            ),
            (0, 1, 1)
        );
        assert_eq!((d_describe.num_calls(), d_delete.num_calls()), (0, 0));
        assert!(
            err.text().contains("D: created by the run; left in place"),
            "{}",
            err.text()
        );
        let entries = Journal::read_entries(&dir.path().join("j.jsonl")).unwrap();
        let intents: Vec<(&str, &str)> = entries
            .iter()
            .filter(|e| e.outcome.is_none())
            .map(|e| {
                (
                    e.action.as_str(),
                    e.before["reverts_run"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            intents,
            vec![("stack.update", "run-1"), ("stack.update", "run-1")]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_failed_stack_nothing_further_is_reverted() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (a_cfn, a_update) = live_stack("A", BAD, "v1", log.clone());
        let failing = mock!(Client::describe_stacks)
            .then_output(|| named("B", "UPDATE_ROLLBACK_FAILED", "v1"));
        let b_cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &[&failing]);
        let (out, _err) = output();
        let o = opts();
        let items: HashMap<String, Item<'_>> = [
            ("A".to_owned(), item(rec("A", "t1"), a_cfn, &out, None, &o)),
            ("B".to_owned(), item(rec("B", "t2"), b_cfn, &out, None, &o)),
        ]
        .into();
        let order = vec![vec!["B".to_owned()], vec!["A".to_owned()]];
        let results = revert_levels(&order, &items, false, 4).await;
        assert_eq!(results[0].action, Action::Failed);
        assert_eq!(results[0].error.as_ref().unwrap().exit_code(), 4);
        assert_eq!(results[1].action, Action::Skipped);
        assert_eq!(a_update.num_calls(), 0);
    }

    fn gone() -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(
                "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id D does not exist</Message></Error><RequestId>1</RequestId></ErrorResponse>",
            ),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn delete_created_deletes_the_created_stack_and_waits_until_it_is_gone() {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .output(|| named("D", "CREATE_COMPLETE", "v1"))
            .output(|| named("D", "DELETE_IN_PROGRESS", "v1"))
            .times(2)
            .http_response(gone)
            .build();
        let delete = mock!(Client::delete_stack)
            .match_requests(|r| {
                r.stack_name()
                    == Some("arn:aws:cloudformation:ap-northeast-1:123456789012:stack/D/1")
                    && r.client_request_token()
                        .is_some_and(|t| t.starts_with("stack-deploy-"))
            })
            .then_output(|| DeleteStackOutput::builder().build());
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &delete]
        );
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let (out, _err) = output();
        let o = opts();
        let mut d = rec("D", "t1");
        d.created = true;
        d.template = None;
        let items: HashMap<String, Item<'_>> =
            [("D".to_owned(), item(d, cfn, &out, Some(&journal), &o))].into();
        let results = revert_levels(&[vec!["D".to_owned()]], &items, true, 4).await;
        assert_eq!(
            results[0].action,
            Action::Deleted,
            "{:?}",
            results[0].reason
        );
        assert_eq!(results[0].status.as_deref(), Some("DELETE_COMPLETE"));
        assert_eq!(delete.num_calls(), 1);
        let entries = Journal::read_entries(&dir.path().join("j.jsonl")).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].action, "stack.delete");
        assert_eq!(entries[0].before["reverts_run"], "run-1");
        assert_eq!(entries[1].outcome, Some(Outcome::Ok));
    }
}
