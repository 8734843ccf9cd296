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
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use common::{AwsResultExt, Context, Error, Poll, Render, Result, WaitOptions, poll_until};

use crate::deploy::{
    Action, DeployOptions, Method, StackEnv, StackJob, StackResult, client_token, deploy_stack,
    describe, sha256, status_of,
};
use crate::graph::Graph;
use crate::manifest::{Assembly, TEMPLATE_BODY_LIMIT, TemplateParam, check_stack_name};
use crate::record::StackRecord;
use crate::roles::Roles;

#[derive(Debug, Clone)]
pub struct RevertArgs {
    pub run: String,
    pub stacks: Vec<String>,
    pub app: Option<PathBuf>,
    pub delete_created: bool,
    pub method: Method,
    pub concurrency: usize,
    pub no_assume_role: bool,
    pub timeout: Duration,
}

/// The revert's result document.
#[derive(Debug, Serialize)]
pub struct RevertReport {
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
    pub duration_ms: u64,
    pub api_calls: u32,
}

impl Render for RevertReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let rows: Vec<Vec<String>> = self
            .stacks
            .iter()
            .map(|s| {
                vec![
                    s.stack.clone(),
                    serde_json::to_value(s.action)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    s.status.clone().unwrap_or_default(),
                    s.duration.clone(),
                    s.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        write!(
            w,
            "{}",
            common::output::table(&["STACK", "ACTION", "STATUS", "TIME", "REASON"], &rows)
        )?;
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
    crate::run::https_url(Some(&format!("s3://{bucket}/{key}")), endpoint, region)
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
    common::duration::effective_timeout(args.timeout)?;

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
    if ctx.globals.env_name.is_none() {
        // No --env: stack names ending in -prod count as production, as for deploy.
        let mut safety = ctx.safety.clone();
        safety.env = records.iter().find_map(|r| {
            let suffix = r.stack.rsplit('-').next()?;
            common::guard::is_production_name(suffix).then(|| suffix.to_owned())
        });
        safety.confirm(&action)?;
    }
    ctx.begin_change(&action).await?;
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
            deadline: t0 + args.timeout,
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
        results = revert_levels(&order, &items, args.delete_created, args.concurrency).await;
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
