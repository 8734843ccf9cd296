//! Deploying one stack (create, update or nothing when unchanged) and waiting
//! for it with live events; the per-stack result. The whole-assembly flow
//! (validation, bootstrap check, assets, the ready pool) is in `deploy.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, Parameter, Stack, Tag};
use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use common::journal::Journal;
use common::{AwsResultExt, Error, Output, Poll, Result, WaitOptions, poll_until};

use crate::events::{Tracker, describe_failure, fetch_new};
use crate::status::{Health, Op, classify, is_terminal, judge, next_step};

/// `--method`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    Serialize,
    common::schemars::JsonSchema,
)]
#[schemars(crate = "common::schemars")]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// CreateStack/UpdateStack (works with the emulator; fewest calls).
    #[default]
    Direct,
    /// CreateChangeSet, then ExecuteChangeSet.
    ChangeSet,
}

/// What was done to a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    Failed,
    Skipped,
    /// A signal stopped the wait; CloudFormation goes on (`stack-deploy watch`).
    Interrupted,
    WouldCreate,
    WouldUpdate,
    /// `revert --delete-created`: a stack the reverted run created, deleted.
    Deleted,
    WouldDelete,
    /// `revert` without `--delete-created`: a stack the run created, kept.
    LeftInPlace,
}

/// Options shared by every stack of one deploy.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub method: Method,
    pub no_rollback: bool,
    pub dry_run: bool,
    /// When the whole command must be done by (`--timeout`; `LTC_DEADLINE`
    /// is applied again inside each wait).
    pub deadline: Instant,
    /// The process's one shutdown path: waits stop on the first signal (the
    /// outcome is journaled `interrupted`), mutating calls are let finish.
    pub cancel: common::Cancel,
    /// `--rollback-alarm`/`--monitoring-time`: CloudFormation rolls the
    /// operation back by itself when one of the alarms fires.
    pub rollback: Option<aws_sdk_cloudformation::types::RollbackConfiguration>,
    /// Set by `revert --run RUN`: the journal's intents name the run reverted.
    pub reverts: Option<String>,
}

/// One stack to deploy, everything resolved.
#[derive(Debug, Clone)]
pub struct StackJob {
    pub stack_name: String,
    pub template: String,
    /// Parameters the template declares.
    pub template_parameters: BTreeMap<String, crate::manifest::TemplateParam>,
    /// `--parameters` for this stack.
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// CloudFormation service role (resolved `cloudFormationExecutionRoleArn`).
    pub exec_role: Option<String>,
    /// Set when the template is over the inline limit.
    pub template_url: Option<String>,
    pub termination_protection: bool,
    /// The bucket of the template's asset (`s3://bucket/...`), kept in the
    /// run record so a revert can upload a big template there.
    pub template_bucket: Option<String>,
}

impl StackJob {
    /// The job for one artifact: its template, tags and service role (placeholders
    /// resolved for `account` and `region`), with the given `--parameters`. The
    /// template goes inline; the deploy sets `template_url` when it is too big.
    pub fn for_artifact(
        art: &crate::manifest::StackArtifact,
        parameters: BTreeMap<String, String>,
        account: &str,
        region: &str,
    ) -> StackJob {
        StackJob {
            stack_name: art.stack_name.clone(),
            template: art.template.clone(),
            template_parameters: art.template_parameters.clone(),
            parameters,
            tags: art.tags.clone(),
            exec_role: art
                .cfn_exec_role_arn
                .as_deref()
                .map(|r| crate::roles::resolve_placeholders(r, account, region)),
            template_url: None,
            termination_protection: art.termination_protection,
            template_bucket: art
                .template_asset_url
                .as_deref()
                .and_then(|u| u.strip_prefix("s3://"))
                .and_then(|r| r.split('/').next())
                .map(str::to_owned),
        }
    }
}

/// Where and how to deploy one stack.
#[derive(Debug, Clone)]
pub struct StackEnv<'a> {
    pub cfn: Client,
    pub out: &'a Output,
    pub journal: Option<&'a Journal>,
    pub opts: &'a DeployOptions,
    pub identity: String,
    pub region: String,
    /// Where the state before the first change is recorded (`None`: not recorded).
    pub recorder: Option<&'a crate::record::Recorder>,
    /// The role assumed for this stack (kept in the record).
    pub deploy_role: Option<String>,
    /// Where a completed stack's last events read goes on while its
    /// dependents start (`None`: the wait reads them itself).
    pub late: Option<&'a LateEvents>,
}

/// What a deploy already knows about a stack before its turn comes, so the
/// stack does not read it again: the listing of every stack made once up
/// front, and the template this toolkit last deployed to it (journal).
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// `Some(None)`: a complete listing did not have the stack (it does not
    /// exist); `Some(Some(s))`: its description from that listing; `None`:
    /// unknown, the stack describes itself first.
    pub described: Option<Option<Stack>>,
    /// `(template sha256, the stack's last-updated time)` as journaled when
    /// this toolkit last created or updated it; when the stack's last-updated
    /// time is still that one, its template is still that one.
    pub deployed: Option<(String, String)>,
}

/// The stack's last change time (LastUpdatedTime, else CreationTime) as
/// `secs.nanos`: any create, update or rollback moves it.
pub fn last_updated_of(s: &Stack) -> Option<String> {
    s.last_updated_time()
        .or(s.creation_time())
        .map(|t| format!("{}.{:09}", t.secs(), t.subsec_nanos()))
}

/// The stacks the caller's credentials see in this region (DescribeStacks
/// with no name), by name; `None` when there are more than `max_pages` pages
/// (each stack then describes itself). Deleted stacks do not count.
pub async fn list_stacks(
    cfn: &Client,
    max_pages: u32,
    calls: &std::sync::atomic::AtomicU32,
) -> Result<Option<std::collections::HashMap<String, Stack>>> {
    let mut all = std::collections::HashMap::new();
    let mut token: Option<String> = None;
    for _ in 0..max_pages {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = cfn
            .describe_stacks()
            .set_next_token(token.clone())
            .send()
            .await
            .aws("DescribeStacks")?;
        for st in out.stacks() {
            if let Some(name) = st.stack_name()
                && status_of(st) != "DELETE_COMPLETE"
            {
                all.insert(name.to_owned(), st.clone());
            }
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(Some(all));
        }
    }
    Ok(None)
}

/// The result line of one stack.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct StackResult {
    pub stack: String,
    pub action: Action,
    pub status: Option<String>,
    pub duration: String,
    pub duration_ms: u64,
    pub outputs: BTreeMap<String, String>,
    pub template_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_as: Option<String>,
    /// CloudFormation calls made for this stack.
    pub api_calls: u32,
    /// The run record of the stack's state before this deploy changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(skip)]
    pub error: Option<Error>,
}

impl StackResult {
    pub fn skipped(stack: &str, template: &str, why: &str) -> StackResult {
        StackResult {
            stack: stack.to_owned(),
            action: Action::Skipped,
            status: None,
            duration: "0ms".into(),
            duration_ms: 0,
            outputs: BTreeMap::new(),
            template_sha256: sha256(template),
            reason: Some(why.to_owned()),
            deployed_as: None,
            api_calls: 0,
            record: None,
            error: None,
        }
    }

    pub fn ok(&self) -> bool {
        self.error.is_none() && self.action != Action::Failed && self.action != Action::Skipped
    }
}

/// The table of stack results deploy and revert print: one row a stack.
pub fn write_table(w: &mut dyn std::io::Write, stacks: &[StackResult]) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = stacks
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
    )
}

pub fn sha256(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The stack, or `None` when CloudFormation says it does not exist.
pub async fn describe(cfn: &Client, name: &str) -> Result<Option<Stack>> {
    match cfn
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .aws("DescribeStacks")
    {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e) if e.has_code("ValidationError") && e.message.contains("does not exist") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn status_of(s: &Stack) -> String {
    s.stack_status()
        .map(|x| x.as_str().to_owned())
        .unwrap_or_default()
}

pub fn outputs_of(s: &Stack) -> BTreeMap<String, String> {
    s.outputs()
        .iter()
        .filter_map(|o| {
            Some((
                o.output_key()?.to_owned(),
                o.output_value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

pub(crate) fn parameters_of(s: &Stack) -> BTreeMap<String, String> {
    s.parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_owned(),
                p.parameter_value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

pub(crate) fn tags_of(s: &Stack) -> BTreeMap<String, String> {
    s.tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect()
}

/// Same template? Compared as JSON so formatting differences do not count.
pub fn same_template(deployed: &str, local: &str) -> bool {
    if deployed == local {
        return true;
    }
    match (
        serde_json::from_str::<Value>(deployed),
        serde_json::from_str::<Value>(local),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Why a deployed stack differs from the job, empty when it does not.
pub fn differences(
    job: &StackJob,
    deployed_template: &str,
    current_params: &BTreeMap<String, String>,
    current_tags: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut why = Vec::new();
    if !same_template(deployed_template, &job.template) {
        why.push("template".to_owned());
    }
    for (k, v) in &job.parameters {
        if current_params.get(k) != Some(v) {
            why.push(format!("parameter {k}"));
        }
    }
    if current_tags != &job.tags {
        why.push("tags".to_owned());
    }
    why
}

fn capabilities() -> Vec<Capability> {
    vec![
        Capability::CapabilityIam,
        Capability::CapabilityNamedIam,
        Capability::CapabilityAutoExpand,
    ]
}

fn cfn_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Parameters for CreateStack (explicit only) or UpdateStack: explicit
/// values; the others keep their previous values, as the CDK CLI does. The
/// previous value is sent as a value (the emulator cannot `UsePreviousValue` a
/// parameter that was defaulted at create); NoEcho ones (shown masked) use
/// `UsePreviousValue`; SSM-typed ones with a default (CDK's BootstrapVersion)
/// are left to their default so CloudFormation resolves them again.
fn cfn_parameters(job: &StackJob, existing: Option<&BTreeMap<String, String>>) -> Vec<Parameter> {
    let mut out = Vec::new();
    for (name, formal) in &job.template_parameters {
        let b = Parameter::builder().parameter_key(name);
        if let Some(v) = job.parameters.get(name) {
            out.push(b.parameter_value(v).build());
            continue;
        }
        let Some(prev) = existing.and_then(|e| e.get(name)) else {
            continue;
        };
        if formal.ssm && formal.default.is_some() {
            continue;
        }
        if formal.no_echo {
            out.push(b.use_previous_value(true).build());
        } else {
            out.push(b.parameter_value(prev).build());
        }
    }
    out
}

/// Deploys one stack and waits for it. Never panics; failures are in the result.
pub async fn deploy_stack(env: &StackEnv<'_>, job: &StackJob) -> StackResult {
    deploy_stack_known(env, job, &Known::default()).await
}

/// [`deploy_stack`] with what the deploy already knows of the stack.
pub async fn deploy_stack_known(env: &StackEnv<'_>, job: &StackJob, known: &Known) -> StackResult {
    let t0 = Instant::now();
    let mut calls = 0u32;
    let mut status = None;
    let mut record = None;
    let mut why = None;
    let res = deploy_inner(
        env,
        job,
        known,
        &mut Progress {
            calls: &mut calls,
            last_status: &mut status,
            record: &mut record,
            why: &mut why,
        },
    )
    .await;
    let elapsed = t0.elapsed();
    let mut r = StackResult {
        stack: job.stack_name.clone(),
        action: Action::Failed,
        status,
        duration: common::duration::format_duration(elapsed),
        duration_ms: elapsed.as_millis() as u64,
        outputs: BTreeMap::new(),
        template_sha256: sha256(&job.template),
        reason: why,
        deployed_as: Some(env.identity.clone()),
        api_calls: calls,
        record,
        error: None,
    };
    match res {
        Ok((action, stack)) => {
            r.action = action;
            if let Some(s) = stack {
                r.status = Some(status_of(&s));
                r.outputs = outputs_of(&s);
            }
        }
        Err(Error::Interrupted) => {
            r.action = Action::Interrupted;
            r.reason = Some(format!(
                "interrupted; CloudFormation goes on with anything it started: follow it with `stack-deploy watch {}`",
                job.stack_name
            ));
            r.error = Some(Error::Interrupted);
        }
        Err(e) => {
            r.reason = Some(e.to_string());
            r.error = Some(e);
        }
    }
    r
}

/// What [`deploy_inner`] leaves behind whatever its outcome.
struct Progress<'p> {
    calls: &'p mut u32,
    last_status: &'p mut Option<String>,
    record: &'p mut Option<String>,
    /// Why the stack was left as it is (an unchanged stack says how that was known).
    why: &'p mut Option<String>,
}

async fn deploy_inner(
    env: &StackEnv<'_>,
    job: &StackJob,
    known: &Known,
    progress: &mut Progress<'_>,
) -> Result<(Action, Option<Stack>)> {
    let calls = &mut *progress.calls;
    let last_status = &mut *progress.last_status;
    let record = &mut *progress.record;
    let name = &job.stack_name;
    let out = env.out;
    let cancel = &env.opts.cancel;
    cancel.check()?;
    let mut existing = match &known.described {
        Some(listed) => listed.clone(),
        None => {
            *calls += 1;
            cancel.run(describe(&env.cfn, name)).await?
        }
    };
    // An operation already running (an earlier deploy that was interrupted or
    // killed, or CloudFormation still cleaning up): wait for it, then carry on.
    if let Some(st) = &existing
        && classify(&status_of(st)) == Health::InProgress
    {
        existing = Some(settle_first(env, name, &status_of(st), calls).await?);
    }
    let target = format!("cloudformation:{}/{name}", env.region);
    let mut op = Op::Create;
    let mut before = json!({ "status": null });
    let mut current_params = None;
    let mut prior = None;
    if let Some(st) = &existing {
        let status = status_of(st);
        *last_status = Some(status.clone());
        match classify(&status) {
            Health::Ok | Health::UpdateRolledBack => {
                let local_sha = sha256(&job.template);
                // Unchanged since this toolkit deployed this very template: no
                // need to read the template back.
                let still_ours = known.deployed.as_ref().is_some_and(|(sha, at)| {
                    *sha == local_sha && last_updated_of(st).as_deref() == Some(at.as_str())
                });
                let deployed = if still_ours {
                    job.template.clone()
                } else {
                    *calls += 1;
                    cancel.run(deployed_template(&env.cfn, name)).await?
                };
                let params = parameters_of(st);
                let why = differences(job, &deployed, &params, &tags_of(st));
                before = json!({
                    "status": status,
                    "template_sha256": sha256(&deployed),
                    "parameters": params,
                });
                if why.is_empty() && classify(&status) == Health::Ok {
                    let how = if still_ours {
                        "the template this toolkit last deployed to it (journal), the stack not updated since"
                    } else {
                        "the deployed template read back"
                    };
                    let reason = format!(
                        "not deployed: nothing changed ({status}; template, parameters and tags are the deployed ones, compared with {how})"
                    );
                    out.info(format!("{name}: unchanged ({status})"));
                    *progress.why = Some(reason);
                    return Ok((Action::Unchanged, existing));
                }
                out.info(format!("{name}: {} changed", why.join(", ")));
                prior = Some(crate::record::StackRecord::existing(
                    st,
                    &deployed,
                    &env.region,
                ));
                current_params = Some(params);
                op = Op::Update;
            }
            Health::InProgress => {
                return Err(Error::Internal(format!(
                    "stack {name} still {status} after waiting for it"
                )));
            }
            Health::CreateRolledBack => {
                return Err(judge(Op::Create, name, &status, None)
                    .err()
                    .map(|e| Error::CheckFailed(format!("cannot deploy: {e}")))
                    .unwrap_or_else(|| Error::Internal("unreachable".into())));
            }
            Health::Review if env.opts.method == Method::ChangeSet => {}
            Health::Review => {
                return Err(Error::CheckFailed(format!(
                    "stack {name} is REVIEW_IN_PROGRESS (an unexecuted change set): deploy with --method change-set, or delete it"
                )));
            }
            Health::Failed => {
                return Err(Error::CheckFailed(format!(
                    "cannot deploy stack {name}: it is {status}; {}",
                    next_step(name, &status)
                )));
            }
            Health::Missing => {}
        }
    }

    if env.opts.dry_run {
        let action = if op == Op::Create {
            Action::WouldCreate
        } else {
            Action::WouldUpdate
        };
        out.info(format!(
            "dry run: would {} stack {name}",
            if op == Op::Create { "create" } else { "update" }
        ));
        return Ok((action, existing));
    }

    // Last point where a signal stops the stack with nothing sent.
    cancel.check()?;
    // What the stack is before the first change, for `revert --run`.
    if let Some(rec) = env.recorder {
        let mut r = prior.unwrap_or_else(|| crate::record::StackRecord::created(name, &env.region));
        r.deploy_role = env.deploy_role.clone();
        r.template_bucket = job.template_bucket.clone();
        r.new_template_sha256 = Some(sha256(&job.template));
        *record = Some(rec.record(&r)?);
    }
    let action_name = if op == Op::Create {
        "stack.create"
    } else {
        "stack.update"
    };
    if let Value::Object(m) = &mut before {
        m.insert("deployed_as".into(), json!(env.identity));
        m.insert("new_template_sha256".into(), json!(sha256(&job.template)));
        if let Some(run) = &env.opts.reverts {
            m.insert("reverts_run".into(), json!(run));
        }
        if let Some(rec) = record.as_ref() {
            m.insert("record".into(), json!(rec));
        }
    }
    let change = match env.journal {
        Some(j) => Some(j.intent(action_name, &target, before)?),
        None => None,
    };
    // The idempotency key: the SDK's retries and CloudFormation see the same
    // token for this one intent, and the read-back recognises the stack by it.
    let token = client_token(change.as_ref().map(|c| c.id()));
    let watch = format!("stack-deploy watch {name}");

    let started = Utc::now();
    let kick = async {
        match env.opts.method {
            Method::Direct => {
                start_direct(
                    env,
                    job,
                    op,
                    current_params.as_ref(),
                    &token,
                    started,
                    calls,
                )
                .await
            }
            Method::ChangeSet => {
                start_change_set(env, job, op, current_params.as_ref(), &token, calls).await
            }
        }
    };
    // A mutating call is let finish; only a second signal stops waiting for it.
    let kicked = tokio::select! {
        biased;
        r = kick => r,
        () = cancel.hard_cancelled() => Err(Error::Interrupted),
    };
    match kicked {
        Ok(Kicked::Started) => {}
        Ok(Kicked::NoChanges) => {
            // CloudFormation found nothing to change.
            if let Some(c) = change {
                c.ok(json!({ "status": last_status, "note": "no changes to perform" }))?;
            }
            out.info(format!(
                "{name}: unchanged (CloudFormation found no changes)"
            ));
            *progress.why = Some("not deployed: CloudFormation found no changes to perform".into());
            return Ok((Action::Unchanged, existing));
        }
        Ok(Kicked::Unknown(why)) => {
            let msg = format!(
                "{why}; whether the {} of {name} started is unknown: look with `{watch}` or `aws cloudformation describe-stack-events --stack-name {name}` (client request token {token})",
                op_word(op)
            );
            if let Some(c) = change {
                c.unknown(
                    json!({ "status": "unknown", "client_request_token": token }),
                    msg.clone(),
                )?;
            }
            return Err(Error::RevertFailed(msg));
        }
        Err(Error::Interrupted) => {
            if let Some(c) = change {
                c.interrupted(
                    json!({ "status": last_status, "client_request_token": token }),
                    format!("stopped by a signal while the {} request was in flight or being prepared; CloudFormation goes on with anything it started: follow it with `{watch}`, or re-run the same deploy, which carries on", op_word(op)),
                )?;
            }
            return Err(Error::Interrupted);
        }
        Err(e) => {
            if let Some(c) = change {
                c.failed(json!({ "status": last_status }), e.to_string())?;
            }
            return Err(e);
        }
    }
    out.info(format!("{name}: {} started", op_word(op)));

    let since = (op == Op::Update).then(|| started - chrono::Duration::seconds(60));
    let left = env.opts.deadline.saturating_duration_since(Instant::now());
    let waited = cancel
        .run(wait_stack(
            &env.cfn, out, name, since, left, calls, env.late,
        ))
        .await;
    let (stack, tracker) = match waited {
        Ok(v) => v,
        Err(Error::Interrupted) => {
            if let Some(c) = change {
                c.interrupted(
                    json!({ "status": last_status, "client_request_token": token, "note": "CloudFormation goes on" }),
                    format!("stopped by a signal while waiting; CloudFormation goes on with the {} of {name}: follow it with `{watch}`", op_word(op)),
                )?;
            }
            return Err(Error::Interrupted);
        }
        Err(e) => {
            if let Some(c) = change {
                c.failed(json!({ "status": "unknown" }), e.to_string())?;
            }
            return Err(e);
        }
    };
    let status = status_of(&stack);
    *last_status = Some(status.clone());
    let reason = tracker
        .first_failure()
        .map(describe_failure)
        .or_else(|| stack.stack_status_reason().map(str::to_owned));
    let after = json!({
        "status": status,
        "template_sha256": sha256(&job.template),
        "outputs": outputs_of(&stack),
        "last_updated": last_updated_of(&stack),
    });
    match judge(op, name, &status, reason.as_deref()) {
        Ok(()) => {
            if let Some(c) = change {
                c.ok(after)?;
            }
            let action = if op == Op::Create {
                Action::Created
            } else {
                Action::Updated
            };
            out.info(format!("{name}: {status}"));
            Ok((action, Some(stack)))
        }
        Err(e) => {
            if let Some(c) = change {
                c.failed(after, e.to_string())?;
            }
            Err(e)
        }
    }
}

fn op_word(op: Op) -> &'static str {
    if op == Op::Create { "create" } else { "update" }
}

/// The original template of a deployed stack.
pub(crate) async fn deployed_template(cfn: &Client, name: &str) -> Result<String> {
    Ok(cfn
        .get_template()
        .stack_name(name)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
        .send()
        .await
        .aws("GetTemplate")?
        .template_body()
        .unwrap_or_default()
        .to_owned())
}

/// A ClientRequestToken (`[a-zA-Z0-9][-a-zA-Z0-9]*`, at most 128) for one
/// intent: derived from its journal id, or from the time without a journal.
pub(crate) fn client_token(change_id: Option<&str>) -> String {
    let raw = change_id
        .map(str::to_owned)
        .unwrap_or_else(|| Utc::now().format("%Y%m%dT%H%M%S%9f").to_string());
    let clean: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("stack-deploy-{clean}").chars().take(128).collect()
}

/// A stack found `*_IN_PROGRESS` before a deploy: wait until it settles (with
/// its events), bounded by the deploy's deadline and stopped by a signal. When
/// the journal holds an intent for this stack without an outcome (a killed
/// deploy), the wait is journaled as `stack.resume` naming it.
async fn settle_first(
    env: &StackEnv<'_>,
    name: &str,
    status: &str,
    calls: &mut u32,
) -> Result<Stack> {
    let target = format!("cloudformation:{}/{name}", env.region);
    let orphan = match env.journal {
        Some(j) => j
            .last_change("stack.", &target)?
            .filter(|r| r.outcome.is_none())
            .map(|r| r.intent.id),
        None => None,
    };
    env.out.info(format!(
        "{name} is {status}: an operation is already running{}; waiting for it to settle before deploying",
        if orphan.is_some() {
            " (an earlier deploy ended without recording its outcome)"
        } else {
            ""
        }
    ));
    let change = match (env.journal, &orphan) {
        (Some(j), Some(id)) => Some(j.intent(
            "stack.resume",
            &target,
            json!({ "status": status, "resumes": id }),
        )?),
        _ => None,
    };
    let left = env.opts.deadline.saturating_duration_since(Instant::now());
    let waited = env
        .opts
        .cancel
        .run(wait_stack(&env.cfn, env.out, name, None, left, calls, None))
        .await;
    match waited {
        Ok((stack, _)) => {
            let now = status_of(&stack);
            env.out
                .info(format!("{name}: the running operation ended {now}"));
            if let Some(c) = change {
                c.ok(json!({ "status": now, "outputs": outputs_of(&stack) }))?;
            }
            Ok(stack)
        }
        Err(Error::Interrupted) => {
            if let Some(c) = change {
                c.interrupted(
                    json!({ "status": status }),
                    format!("stopped by a signal while waiting; follow it with `stack-deploy watch {name}`"),
                )?;
            }
            Err(Error::Interrupted)
        }
        Err(e) => {
            if let Some(c) = change {
                c.failed(json!({ "status": status }), e.to_string())?;
            }
            Err(e)
        }
    }
}

/// What starting a stack operation came to.
#[derive(Debug)]
enum Kicked {
    /// CloudFormation accepted it (answered, or found by the read-back).
    Started,
    /// CloudFormation found nothing to change.
    NoChanges,
    /// The answer was lost and the read-back could not decide.
    Unknown(String),
}

/// Whether an error on a mutating call may hide a request that reached
/// CloudFormation: 5xx, no response, or the retry's "already exists"/"in
/// progress" answer to our own first attempt.
fn ambiguous(e: &common::AwsError) -> bool {
    e.status.is_none_or(|s| s >= 500)
        || e.has_code("AlreadyExistsException")
        || e.has_code("InvalidChangeSetStatus")
        || e.message.contains("_IN_PROGRESS state")
}

/// After an ambiguous answer to CreateStack/UpdateStack: is the operation
/// running on the stack the one this intent asked for? By the client request
/// token on the stack's events; where events carry no token, by the same
/// template and tags on a stack changed since `started`.
async fn read_back(
    env: &StackEnv<'_>,
    job: &StackJob,
    op: Op,
    token: &str,
    started: chrono::DateTime<Utc>,
    calls: &mut u32,
) -> std::result::Result<bool, String> {
    let name = &job.stack_name;
    *calls += 1;
    let stack = match describe(&env.cfn, name).await {
        Ok(Some(s)) => s,
        // No stack: a create did not happen (an update cannot make one vanish).
        Ok(None) if op == Op::Create => return Ok(false),
        Ok(None) => return Err(format!("stack {name} is gone")),
        Err(e) => return Err(format!("the read-back failed ({e})")),
    };
    *calls += 1;
    let mut tokens_seen = false;
    match env
        .cfn
        .describe_stack_events()
        .stack_name(name)
        .send()
        .await
        .aws("DescribeStackEvents")
    {
        Ok(page) => {
            for e in page.stack_events() {
                if let Some(t) = e.client_request_token() {
                    tokens_seen = true;
                    if t == token {
                        return Ok(true);
                    }
                }
            }
        }
        Err(e) => env.out.warn(format!(
            "{name}: events unreadable for the read-back ({e}); comparing template and tags instead"
        )),
    }
    if tokens_seen {
        // Events name the tokens of their operations and none is ours.
        return Ok(false);
    }
    let status = status_of(&stack);
    let changed_at = stack
        .last_updated_time()
        .or(stack.creation_time())
        .and_then(|t| chrono::DateTime::<Utc>::from_timestamp(t.secs(), 0));
    let recent = changed_at.is_some_and(|t| t >= started - chrono::Duration::seconds(60));
    let right_kind = match op {
        Op::Create => status.starts_with("CREATE_") || status.starts_with("ROLLBACK_"),
        _ => status.starts_with("UPDATE_"),
    };
    if !recent || !right_kind {
        return Ok(false);
    }
    *calls += 1;
    match deployed_template(&env.cfn, name).await {
        Ok(t) => Ok(same_template(&t, &job.template) && tags_of(&stack) == job.tags),
        Err(e) => Err(format!("the read-back could not read the template ({e})")),
    }
}

fn no_changes(e: &common::AwsError) -> bool {
    e.message.contains("No updates are to be performed")
}

/// CreateStack/UpdateStack with this intent's ClientRequestToken. An
/// ambiguous error (the answer lost, the SDK's retry meeting our own first
/// attempt) is decided by reading the stack back.
async fn start_direct(
    env: &StackEnv<'_>,
    job: &StackJob,
    op: Op,
    current_params: Option<&BTreeMap<String, String>>,
    token: &str,
    started: chrono::DateTime<Utc>,
    calls: &mut u32,
) -> Result<Kicked> {
    *calls += 1;
    let sent = if op == Op::Create {
        env.cfn
            .create_stack()
            .stack_name(&job.stack_name)
            .set_template_body(job.template_url.is_none().then(|| job.template.clone()))
            .set_template_url(job.template_url.clone())
            .set_parameters(Some(cfn_parameters(job, None)))
            .set_capabilities(Some(capabilities()))
            .set_tags(Some(cfn_tags(&job.tags)))
            .set_role_arn(job.exec_role.clone())
            .disable_rollback(env.opts.no_rollback)
            .enable_termination_protection(job.termination_protection)
            .set_rollback_configuration(env.opts.rollback.clone())
            .client_request_token(token)
            .send()
            .await
            .aws("CreateStack")
            .map(drop)
    } else {
        env.cfn
            .update_stack()
            .stack_name(&job.stack_name)
            .set_template_body(job.template_url.is_none().then(|| job.template.clone()))
            .set_template_url(job.template_url.clone())
            .set_parameters(Some(cfn_parameters(job, current_params)))
            .set_capabilities(Some(capabilities()))
            .set_tags(Some(cfn_tags(&job.tags)))
            .set_role_arn(job.exec_role.clone())
            .disable_rollback(env.opts.no_rollback)
            .set_rollback_configuration(env.opts.rollback.clone())
            .client_request_token(token)
            .send()
            .await
            .aws("UpdateStack")
            .map(drop)
    };
    match sent {
        Ok(()) => Ok(Kicked::Started),
        Err(e) if op == Op::Update && no_changes(&e) => Ok(Kicked::NoChanges),
        Err(e) if ambiguous(&e) => {
            env.out.warn(format!(
                "{}: {e}; reading the stack back to see whether this request started it",
                job.stack_name
            ));
            match read_back(env, job, op, token, started, calls).await {
                Ok(true) => {
                    env.out.info(format!(
                        "{}: the {} was started by this deploy (its answer was lost)",
                        job.stack_name,
                        op_word(op)
                    ));
                    Ok(Kicked::Started)
                }
                Ok(false) => Err(e.into()),
                Err(why) => Ok(Kicked::Unknown(format!("{e}; {why}"))),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// CreateChangeSet for `job`, exactly as a deploy sends it; `plan --changes`
/// previews with the same request, so the preview shows what the deploy would do.
pub(crate) fn change_set_request(
    cfn: &Client,
    job: &StackJob,
    current_params: Option<&BTreeMap<String, String>>,
    name: &str,
    kind: aws_sdk_cloudformation::types::ChangeSetType,
) -> aws_sdk_cloudformation::operation::create_change_set::builders::CreateChangeSetFluentBuilder {
    cfn.create_change_set()
        .stack_name(&job.stack_name)
        .change_set_name(name)
        .change_set_type(kind)
        .set_template_body(job.template_url.is_none().then(|| job.template.clone()))
        .set_template_url(job.template_url.clone())
        .set_parameters(Some(cfn_parameters(job, current_params)))
        .set_capabilities(Some(capabilities()))
        .set_tags(Some(cfn_tags(&job.tags)))
        .set_role_arn(job.exec_role.clone())
}

/// Whether a FAILED change set's status reason says it was empty.
pub(crate) fn empty_change_set(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// CreateChangeSet, wait for it, ExecuteChangeSet, then wait until the
/// execution has started; `Ok(false)` when the change set was empty.
async fn start_change_set(
    env: &StackEnv<'_>,
    job: &StackJob,
    op: Op,
    current_params: Option<&BTreeMap<String, String>>,
    token: &str,
    calls: &mut u32,
) -> Result<Kicked> {
    use aws_sdk_cloudformation::types::{ChangeSetStatus, ChangeSetType, ExecutionStatus};
    let cs_name = format!("stack-deploy-{}", Utc::now().format("%Y%m%d%H%M%S%3f"));
    let stack = job.stack_name.as_str();
    let kind = if op == Op::Create {
        ChangeSetType::Create
    } else {
        ChangeSetType::Update
    };
    *calls += 1;
    let n = std::sync::atomic::AtomicU32::new(0);
    let look = || async {
        n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        env.cfn
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(&cs_name)
            .send()
            .await
            .aws("DescribeChangeSet")
    };
    if let Err(e) = change_set_request(&env.cfn, job, current_params, &cs_name, kind)
        .set_rollback_configuration(env.opts.rollback.clone())
        .client_token(token)
        .send()
        .await
        .aws("CreateChangeSet")
    {
        if !ambiguous(&e) {
            return Err(e.into());
        }
        // The name is this call's own (down to the millisecond): if a change
        // set by that name exists, this request made it.
        match look().await {
            Ok(_) => env.out.info(format!(
                "{stack}: change set {cs_name} was created by this deploy (its answer was lost)"
            )),
            Err(r) if r.has_code("ChangeSetNotFound") => return Err(e.into()),
            Err(r) => {
                *calls += n.swap(0, std::sync::atomic::Ordering::Relaxed);
                return Ok(Kicked::Unknown(format!(
                    "{e}; the read-back failed ({r}): look with `aws cloudformation describe-change-set --stack-name {stack} --change-set-name {cs_name}`"
                )));
            }
        }
    }
    // The change set is not executed until it is CREATE_COMPLETE; a timeout
    // leaves it for a human to look at (watching the stack would show nothing).
    let inspect = format!(
        "aws cloudformation describe-change-set --stack-name {stack} --change-set-name {cs_name}"
    );
    let left = env.opts.deadline.saturating_duration_since(Instant::now());
    let opts = WaitOptions::new(format!("change set {cs_name} of {stack}"), left)
        .reattach(inspect.clone());
    let delete = || async {
        env.cfn
            .delete_change_set()
            .stack_name(stack)
            .change_set_name(&cs_name)
            .send()
            .await
            .aws("DeleteChangeSet")
    };
    let created = env
        .opts
        .cancel
        .run(poll_until(env.out, &opts, || async {
            let d = look().await?;
            let reason = d.status_reason().unwrap_or_default().to_owned();
            Ok(match d.status() {
                Some(ChangeSetStatus::CreateComplete) => Poll::Done((true, reason)),
                Some(ChangeSetStatus::Failed) => Poll::Done((false, reason)),
                other => Poll::Pending(
                    other
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| "unknown".into()),
                ),
            })
        }))
        .await;
    *calls += n.swap(0, std::sync::atomic::Ordering::Relaxed);
    if matches!(created, Err(Error::Interrupted)) {
        // Nothing was executed: take the unexecuted change set away so the
        // stack is left as it was (a CREATE one leaves it REVIEW_IN_PROGRESS).
        *calls += 1;
        if let Err(e) = delete().await {
            env.out.warn(format!(
                "{stack}: could not delete change set {cs_name}: {e}; `aws cloudformation delete-change-set --stack-name {stack} --change-set-name {cs_name}`"
            ));
        }
        return Err(Error::Interrupted);
    }
    let (complete, reason) = created?;
    if !complete {
        *calls += 1;
        if let Err(e) = delete().await {
            env.out.warn(format!(
                "{stack}: could not delete change set {cs_name}: {e}"
            ));
        }
        if empty_change_set(&reason) {
            return Ok(Kicked::NoChanges);
        }
        let left_behind = if op == Op::Create {
            format!(
                "; the stack is left empty in REVIEW_IN_PROGRESS (deploy again with --method change-set, or `aws cloudformation delete-stack --stack-name {stack}`)"
            )
        } else {
            String::new()
        };
        return Err(Error::CheckFailed(format!(
            "change set {cs_name} for {stack} failed: {reason}{left_behind}"
        )));
    }
    *calls += 1;
    if let Err(e) = env
        .cfn
        .execute_change_set()
        .stack_name(stack)
        .change_set_name(&cs_name)
        .disable_rollback(env.opts.no_rollback)
        .client_request_token(token)
        .send()
        .await
        .aws("ExecuteChangeSet")
    {
        if !ambiguous(&e) {
            return Err(e.into());
        }
        // Executed when the change set has left AVAILABLE.
        let read = look().await;
        *calls += n.swap(0, std::sync::atomic::Ordering::Relaxed);
        match read {
            Ok(d) if d.execution_status() == Some(&ExecutionStatus::Available) => {
                return Err(e.into());
            }
            Ok(_) => env.out.info(format!(
                "{stack}: change set {cs_name} was executed by this deploy (its answer was lost)"
            )),
            Err(r) => {
                return Ok(Kicked::Unknown(format!(
                    "{e}; the read-back failed ({r}): look with `{inspect}`"
                )));
            }
        }
    }
    // ExecuteChangeSet only starts the operation. Until the change set leaves
    // AVAILABLE the stack may still show its previous settled status
    // (REVIEW_IN_PROGRESS, *_COMPLETE), which the stack wait would take as
    // the end of the deploy.
    let left = env.opts.deadline.saturating_duration_since(Instant::now());
    let opts = WaitOptions::new(
        format!("execution of change set {cs_name} of {stack}"),
        left,
    )
    .reattach(format!("stack-deploy watch {stack}"));
    let started = env
        .opts
        .cancel
        .run(poll_until(env.out, &opts, || async {
            match look().await {
                Ok(d) => Ok(match d.execution_status() {
                    Some(ExecutionStatus::Available) => Poll::Pending("AVAILABLE".to_owned()),
                    _ => Poll::Done(()),
                }),
                // Gone (executed and cleaned up): the operation has started.
                Err(e) if e.has_code("ChangeSetNotFound") => Ok(Poll::Done(())),
                Err(e) => Err(e.into()),
            }
        }))
        .await;
    *calls += n.load(std::sync::atomic::Ordering::Relaxed);
    started?;
    Ok(Kicked::Started)
}

/// Events reads that outlive the waits that started them: given to
/// [`wait_stack`], a look that finds the stack complete ends the wait at once
/// and its events read goes on here, joined by the command before its
/// result, so the stacks that depend on this one start a round trip sooner
/// (issue 22). Failures still wait for their events, which carry the reason.
/// Dropping it stops the reads.
#[derive(Debug, Default)]
pub struct LateEvents {
    reads: std::sync::Mutex<tokio::task::JoinSet<(String, u32)>>,
}

impl LateEvents {
    fn spawn(&self, stack: String, read: impl Future<Output = u32> + Send + 'static) {
        if let Ok(mut set) = self.reads.lock() {
            set.spawn(async move { (stack, read.await) });
        }
    }

    /// Waits for every read still running; the calls each stack's reads made.
    pub async fn join(&self) -> BTreeMap<String, u32> {
        let mut set = match self.reads.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(_) => return BTreeMap::new(),
        };
        let mut calls = BTreeMap::new();
        while let Some(done) = set.join_next().await {
            if let Ok((stack, n)) = done {
                *calls.entry(stack).or_insert(0) += n;
            }
        }
        calls
    }
}

/// What one look's events read shares with the wait.
#[derive(Clone)]
struct EventsView {
    cfn: Client,
    out: Output,
    name: String,
    tracker: Arc<tokio::sync::Mutex<Tracker>>,
    /// Reads that failed in a row (warned about once per streak).
    failing: Arc<std::sync::atomic::AtomicU32>,
}

impl EventsView {
    /// Reads the new events; the calls made.
    async fn read(&self) -> (Result<Vec<crate::events::Event>>, u32) {
        let mut calls = 0;
        let mut tracker = self.tracker.lock().await;
        let r = fetch_new(&self.cfn, &self.name, &mut tracker, &mut calls).await;
        (r, calls)
    }

    /// Prints what `read` found. Read side by side with the status, the
    /// events may predate it: once the stack has ended (`status` terminal),
    /// they are read again unless its own final event is in, so the operator
    /// sees the end and a failure's first cause. The calls made.
    async fn show(&self, read: Result<Vec<crate::events::Event>>, status: &str) -> u32 {
        let mut calls = 0;
        let read = match read {
            Ok(mut events) if is_terminal(status) => {
                let mut tracker = self.tracker.lock().await;
                let ended = tracker
                    .history
                    .iter()
                    .any(|e| e.resource_type == "AWS::CloudFormation::Stack" && e.status == status);
                if ended {
                    Ok(events)
                } else {
                    fetch_new(&self.cfn, &self.name, &mut tracker, &mut calls)
                        .await
                        .map(|more| {
                            events.extend(more);
                            events
                        })
                }
            }
            other => other,
        };
        use std::sync::atomic::Ordering::Relaxed;
        match read {
            Ok(events) => {
                self.failing.store(0, Relaxed);
                for e in events {
                    self.out.info(e.line(&self.name));
                }
            }
            Err(e) if self.failing.fetch_add(1, Relaxed) == 0 => self.out.warn(format!(
                "{}: stack events unavailable ({e}); still following the stack's status",
                self.name
            )),
            Err(_) => {}
        }
        calls
    }
}

/// Waits until the stack leaves every *_IN_PROGRESS state, printing its new
/// events on stderr (with `late`, a complete stack's last ones after the
/// wait: see [`LateEvents`]). Returns the final description and the events
/// seen (none when they went to `late`). The verdict comes from the stack's status
/// alone: events are for display and the failure reason, and a failed
/// events read is a warning, never an end.
pub async fn wait_stack(
    cfn: &Client,
    out: &Output,
    name: &str,
    since: Option<chrono::DateTime<Utc>>,
    timeout: Duration,
    calls: &mut u32,
    late: Option<&LateEvents>,
) -> Result<(Stack, Tracker)> {
    use std::sync::atomic::Ordering::Relaxed;
    let view = EventsView {
        cfn: cfn.clone(),
        out: out.clone(),
        name: name.to_owned(),
        tracker: Arc::new(tokio::sync::Mutex::new(Tracker::new(since))),
        failing: Arc::default(),
    };
    let looked = Arc::new(std::sync::atomic::AtomicU32::new(0));
    // Set when the last events read went to `late`, which owns the tracker now.
    let detached = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opts = WaitOptions::new(format!("stack {name}"), timeout)
        .reattach(format!("stack-deploy watch {name}"));
    let res = poll_until(out, &opts, || {
        let view = view.clone();
        let looked = looked.clone();
        let detached = detached.clone();
        async move {
            looked.fetch_add(1, Relaxed);
            // The status and the events are read at the same time: one round
            // trip a look, not two, on the deploy's critical path. The events
            // read is a task of its own so that it can outlive the look
            // (`late`); dropping the set (a signal) stops it.
            let mut reading = tokio::task::JoinSet::new();
            let v = view.clone();
            reading.spawn(async move { v.read().await });
            let stack = describe(&view.cfn, &view.name).await;
            let status = match &stack {
                Ok(Some(s)) => Some(status_of(s)),
                _ => None,
            };
            if let (Some(late), Some(st)) = (late, &status)
                && classify(st) == Health::Ok
            {
                let (st, v) = (st.clone(), view.clone());
                detached.store(true, Relaxed);
                late.spawn(view.name.clone(), async move {
                    match reading.join_next().await {
                        Some(Ok((read, n))) => n + v.show(read, &st).await,
                        _ => 0,
                    }
                });
            } else if let Some(Ok((read, n))) = reading.join_next().await {
                looked.fetch_add(n, Relaxed);
                let n = view.show(read, status.as_deref().unwrap_or("")).await;
                looked.fetch_add(n, Relaxed);
            }
            let stack = stack?
                .ok_or_else(|| Error::NotFound(format!("stack {} does not exist", view.name)))?;
            Ok(match status {
                Some(st) if is_terminal(&st) => Poll::Done(stack),
                Some(st) => Poll::Pending(st),
                None => Poll::Pending(String::new()),
            })
        }
    })
    .await;
    *calls += looked.load(Relaxed);
    let tracker = if detached.load(Relaxed) {
        // Not locked: the detached read may hold it for a while.
        Tracker::new(since)
    } else {
        std::mem::take(&mut *view.tracker.lock().await)
    };
    Ok((res?, tracker))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    mod change_set;
    mod record;

    fn job() -> StackJob {
        StackJob {
            stack_name: "S".into(),
            template: r#"{"Resources":{"A":{"Type":"AWS::SNS::Topic"}}}"#.into(),
            template_parameters: [
                (
                    "Tag".to_string(),
                    crate::manifest::TemplateParam {
                        default: Some("v1".into()),
                        ..Default::default()
                    },
                ),
                (
                    "BootstrapVersion".to_string(),
                    crate::manifest::TemplateParam {
                        default: Some("/cdk-bootstrap/hnb659fds/version".into()),
                        ssm: true,
                        no_echo: false,
                    },
                ),
            ]
            .into(),
            parameters: BTreeMap::new(),
            tags: [("Project".to_string(), "LTC".to_string())].into(),
            exec_role: None,
            template_url: None,
            termination_protection: false,
            template_bucket: None,
        }
    }

    // ---- SDK-level mocks for what the emulator cannot do ----

    use std::sync::Mutex;

    use aws_sdk_cloudformation::config::retry::RetryConfig;
    use aws_sdk_cloudformation::operation::create_stack::CreateStackOutput;
    use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
    use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
    use aws_sdk_cloudformation::operation::update_stack::UpdateStackOutput;
    use aws_sdk_cloudformation::types::{ResourceStatus, StackEvent, StackStatus};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::DateTime as SmithyTime;
    use aws_smithy_types::body::SdkBody;
    use common::journal::{Journal, JournalContext};
    use common::output::Captured;

    /// Deploys `job` with `cfn` and a journal of its own: the result, the
    /// journal's entries afterwards and what went to stderr.
    pub(crate) async fn deploy_journaled(
        cfn: Client,
        job: &StackJob,
        o: &DeployOptions,
    ) -> (StackResult, Vec<common::journal::Entry>, Captured) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let (out, err) = output();
        let r = deploy_stack(&env_for(cfn, &out, Some(&journal), o), job).await;
        (r, journal.entries().unwrap(), err)
    }

    pub(crate) fn output() -> (Output, Captured) {
        let (out, _stdout, err) = Output::captured(true);
        (out, err)
    }

    pub(crate) fn stack(status: &str) -> Stack {
        Stack::builder()
            .stack_name("S")
            .stack_id("arn:aws:cloudformation:ap-northeast-1:123456789012:stack/S/1")
            .creation_time(SmithyTime::from_secs(1_800_000_000))
            .stack_status(StackStatus::from(status))
            .parameters(
                Parameter::builder()
                    .parameter_key("Tag")
                    .parameter_value("v1")
                    .build(),
            )
            .tags(Tag::builder().key("Project").value("LTC").build())
            .build()
    }

    pub(crate) fn described(status: &str) -> DescribeStacksOutput {
        DescribeStacksOutput::builder()
            .stacks(stack(status))
            .build()
    }

    fn aws_error(status: u16, code: &str, message: &str) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(format!(
                "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>"
            )),
        )
    }

    fn does_not_exist() -> HttpResponse {
        aws_error(400, "ValidationError", "Stack with id S does not exist")
    }

    fn throttled() -> HttpResponse {
        aws_error(400, "Throttling", "Rate exceeded")
    }

    pub(crate) fn event(
        id: &str,
        secs: i64,
        logical: &str,
        ty: &str,
        status: &str,
        reason: Option<&str>,
    ) -> StackEvent {
        StackEvent::builder()
            .stack_id("arn:aws:cloudformation:ap-northeast-1:123456789012:stack/S/1")
            .stack_name("S")
            .event_id(id)
            .timestamp(SmithyTime::from_secs(1_800_000_000 + secs))
            .logical_resource_id(logical)
            .resource_type(ty)
            .resource_status(ResourceStatus::from(status))
            .set_resource_status_reason(reason.map(str::to_owned))
            .build()
    }

    pub(crate) fn env_for<'a>(
        cfn: Client,
        out: &'a Output,
        journal: Option<&'a Journal>,
        opts: &'a DeployOptions,
    ) -> StackEnv<'a> {
        StackEnv {
            cfn,
            out,
            journal,
            opts,
            identity: "arn:aws:sts::123456789012:assumed-role/deploy/x".into(),
            region: "ap-northeast-1".into(),
            recorder: None,
            deploy_role: None,
            late: None,
        }
    }

    fn opts(timeout: Duration) -> DeployOptions {
        DeployOptions {
            method: Method::Direct,
            no_rollback: false,
            dry_run: false,
            deadline: Instant::now() + timeout,
            cancel: common::Cancel::new(),
            rollback: None,
            reverts: None,
        }
    }

    const STACK: &str = "AWS::CloudFormation::Stack";

    fn template_output() -> GetTemplateOutput {
        GetTemplateOutput::builder()
            .template_body(job().template)
            .build()
    }

    // The redeploy fast path: listed and journaled as deployed by us, at the
    // stack's current last-updated time: unchanged with no call of its own.
    #[tokio::test]
    async fn a_stack_listed_and_journaled_unchanged_costs_no_call() {
        let describe = mock!(Client::describe_stacks).then_output(|| described("CREATE_COMPLETE"));
        let get = mock!(Client::get_template).then_output(template_output);
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &get]
        );
        let (out, _err) = output();
        let o = opts(Duration::from_secs(60));
        let listed = stack("CREATE_COMPLETE");
        let known = Known {
            deployed: Some((sha256(&job().template), last_updated_of(&listed).unwrap())),
            described: Some(Some(listed)),
        };
        let r = deploy_stack_known(&env_for(cfn, &out, None, &o), &job(), &known).await;
        assert_eq!(r.action, Action::Unchanged, "{:?}", r.reason);
        // Reported as not deployed, with how the sameness was known.
        let reason = r.reason.clone().unwrap_or_default();
        assert!(
            reason.starts_with("not deployed: nothing changed (CREATE_COMPLETE")
                && reason.contains("(journal), the stack not updated since"),
            "{reason}"
        );
        assert!(r.ok());
        assert_eq!(r.api_calls, 0);
        assert_eq!(describe.num_calls(), 0);
        assert_eq!(get.num_calls(), 0);
    }

    // Someone changed the stack after our journaled deploy (its last-updated
    // time moved): the journal is not trusted, the template is read back.
    #[tokio::test]
    async fn a_stack_updated_since_the_journaled_deploy_has_its_template_read() {
        let get = mock!(Client::get_template).then_output(template_output);
        let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &[&get]);
        let (out, _err) = output();
        let o = opts(Duration::from_secs(60));
        let known = Known {
            deployed: Some((sha256(&job().template), "1700000000.000000000".into())),
            described: Some(Some(stack("UPDATE_COMPLETE"))),
        };
        let r = deploy_stack_known(&env_for(cfn, &out, None, &o), &job(), &known).await;
        assert_eq!(r.action, Action::Unchanged, "{:?}", r.reason);
        assert!(
            r.reason
                .as_deref()
                .is_some_and(|w| w.contains("the deployed template read back")),
            "{:?}",
            r.reason
        );
        assert_eq!(get.num_calls(), 1);
        assert_eq!(r.api_calls, 1);
    }

    // Listed as absent: created without describing it first; the status and
    // the events are read in the same look, and the final event is shown.
    #[tokio::test]
    async fn a_stack_listed_absent_is_created_without_a_first_describe() {
        let describe = mock!(Client::describe_stacks).then_output(|| described("CREATE_COMPLETE"));
        let create = create_ok();
        let events = mock!(Client::describe_stack_events).then_output(created_events);
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &create, &events]
        );
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let (out, err) = output();
        let o = opts(Duration::from_secs(60));
        let known = Known {
            described: Some(None),
            deployed: None,
        };
        let r = deploy_stack_known(&env_for(cfn, &out, Some(&journal), &o), &job(), &known).await;
        assert_eq!(r.action, Action::Created, "{:?}", r.reason);
        assert_eq!(describe.num_calls(), 1, "only the look after the create");
        assert_eq!(create.num_calls(), 1);
        assert_eq!(
            events.num_calls(),
            1,
            "the final event came with the status"
        );
        assert_eq!(r.api_calls, 3);
        assert!(err.text().contains("CREATE_COMPLETE"), "{}", err.text());
        // The journal keeps what a later redeploy needs to skip the read-back.
        let entries = journal.entries().unwrap();
        let after = &entries.last().unwrap().after;
        assert_eq!(after["template_sha256"], sha256(&job().template));
        assert_eq!(after["last_updated"], "1800000000.000000000");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_create_ends_rolled_back_with_the_failing_resource_and_the_clearing_command() {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .http_response(does_not_exist)
            .output(|| described("CREATE_IN_PROGRESS"))
            .times(2)
            .output(|| described("ROLLBACK_IN_PROGRESS"))
            .output(|| described("ROLLBACK_COMPLETE"))
            .repeatedly()
            .build();
        let create = create_ok();
        let events = mock!(Client::describe_stack_events).then_output(|| {
            DescribeStackEventsOutput::builder()
                .set_stack_events(Some(vec![
                    event("6", 6, "S", STACK, "ROLLBACK_COMPLETE", None),
                    event(
                        "5",
                        5,
                        "S",
                        STACK,
                        "ROLLBACK_IN_PROGRESS",
                        Some("The following resource(s) failed to create: [SiteBucket]"),
                    ),
                    event(
                        "4",
                        4,
                        "Queue",
                        "AWS::SQS::Queue",
                        "CREATE_FAILED",
                        Some("Resource creation cancelled"),
                    ),
                    event(
                        "3",
                        3,
                        "SiteBucket",
                        "AWS::S3::Bucket",
                        "CREATE_FAILED",
                        Some("ltc-site already exists"),
                    ),
                    event(
                        "2",
                        2,
                        "SiteBucket",
                        "AWS::S3::Bucket",
                        "CREATE_IN_PROGRESS",
                        None,
                    ),
                    event(
                        "1",
                        1,
                        "S",
                        STACK,
                        "CREATE_IN_PROGRESS",
                        Some("User Initiated"),
                    ),
                ]))
                .build()
        });
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &create, &events]
        );
        let o = opts(Duration::from_secs(3600));
        let (r, entries, err) = deploy_journaled(cfn, &job(), &o).await;

        assert_eq!(r.action, Action::Failed);
        assert_eq!(r.status.as_deref(), Some("ROLLBACK_COMPLETE"));
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.exit_code(), 6);
        let msg = e.to_string();
        assert!(
            msg.contains("SiteBucket (AWS::S3::Bucket) CREATE_FAILED: ltc-site already exists"),
            "{msg}"
        );
        assert!(
            msg.contains("aws cloudformation delete-stack --stack-name S"),
            "{msg}"
        );
        assert!(
            err.text().contains("CREATE_FAILED"),
            "events on stderr: {}",
            err.text()
        );
        // Each event shown once although every look returned all of them.
        assert_eq!(
            err.text().matches("ltc-site already exists").count(),
            1,
            "{}",
            err.text()
        );
        assert_eq!(create.num_calls(), 1);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].action, "stack.create");
        assert_eq!(entries[1].after["status"], "ROLLBACK_COMPLETE");
        assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Failed));
    }

    #[tokio::test(start_paused = true)]
    async fn update_rolled_back_is_a_failure_with_this_operations_reason() {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .output(|| described("UPDATE_COMPLETE"))
            .output(|| described("UPDATE_IN_PROGRESS"))
            .output(|| described("UPDATE_ROLLBACK_IN_PROGRESS"))
            .output(|| described("UPDATE_ROLLBACK_COMPLETE"))
            .repeatedly()
            .build();
        let template = mock!(Client::get_template)
            .then_output(|| GetTemplateOutput::builder().template_body("{}").build());
        let update = mock!(Client::update_stack)
            .then_output(|| UpdateStackOutput::builder().stack_id("S/1").build());
        let events = mock!(Client::describe_stack_events).then_output(|| {
            DescribeStackEventsOutput::builder()
                .set_stack_events(Some(vec![
                    event("13", 13, "S", STACK, "UPDATE_ROLLBACK_COMPLETE", None),
                    event(
                        "12",
                        12,
                        "S",
                        STACK,
                        "UPDATE_ROLLBACK_IN_PROGRESS",
                        Some("The following resource(s) failed to update: [A]"),
                    ),
                    event(
                        "11",
                        11,
                        "A",
                        "AWS::SNS::Topic",
                        "UPDATE_FAILED",
                        Some("Invalid parameter: DisplayName"),
                    ),
                    event(
                        "10",
                        10,
                        "S",
                        STACK,
                        "UPDATE_IN_PROGRESS",
                        Some("User Initiated"),
                    ),
                    // An earlier operation's failure must not be blamed.
                    event(
                        "2",
                        2,
                        "A",
                        "AWS::SNS::Topic",
                        "UPDATE_FAILED",
                        Some("old failure"),
                    ),
                    event(
                        "1",
                        1,
                        "S",
                        STACK,
                        "UPDATE_IN_PROGRESS",
                        Some("User Initiated"),
                    ),
                ]))
                .build()
        });
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &template, &update, &events]
        );
        let (out, _err) = output();
        let o = opts(Duration::from_secs(3600));
        let r = deploy_stack(&env_for(cfn, &out, None, &o), &job()).await;
        assert_eq!(r.action, Action::Failed);
        assert_eq!(r.status.as_deref(), Some("UPDATE_ROLLBACK_COMPLETE"));
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.exit_code(), 6);
        assert!(
            e.to_string().contains("Invalid parameter: DisplayName"),
            "{e}"
        );
        assert!(!e.to_string().contains("old failure"), "{e}");
        assert_eq!(update.num_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_while_polling_is_retried_not_surfaced() {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .http_response(does_not_exist)
            .http_response(throttled)
            .times(3)
            .output(|| described("CREATE_IN_PROGRESS"))
            .http_response(throttled)
            .output(|| described("CREATE_COMPLETE"))
            .repeatedly()
            .build();
        let create = create_ok();
        let events = mock!(Client::describe_stack_events)
            .sequence()
            .http_response(throttled)
            .output(|| DescribeStackEventsOutput::builder().build())
            .repeatedly()
            .build();
        // No SDK retries: the poll loop itself must absorb the throttling.
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &create, &events],
            |c| c.retry_config(RetryConfig::disabled())
        );
        let (out, err) = output();
        let o = opts(Duration::from_secs(3600));
        let r = deploy_stack(&env_for(cfn, &out, None, &o), &job()).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.action, Action::Created);
        assert_eq!(r.status.as_deref(), Some("CREATE_COMPLETE"));
        assert!(err.text().contains("throttled"), "{}", err.text());
    }

    /// The events of a create that completed, newest first: the stack's
    /// "User Initiated" start and its CREATE_COMPLETE.
    fn created_events() -> DescribeStackEventsOutput {
        DescribeStackEventsOutput::builder()
            .stack_events(event("2", 2, "S", STACK, "CREATE_COMPLETE", None))
            .stack_events(event(
                "1",
                1,
                "S",
                STACK,
                "CREATE_IN_PROGRESS",
                Some("User Initiated"),
            ))
            .build()
    }

    /// A complete stack whose events read is slow (throttled, retried by the
    /// SDK with backoff) and the time a wait (its events detached or not) took to return; what
    /// stderr held then; and, once the late reads are joined, the time, what
    /// stderr held and the calls they made.
    async fn wait_with_slow_events(
        detach: bool,
    ) -> (Duration, String, Duration, String, BTreeMap<String, u32>) {
        // The status read is throttled once, so the events read is under way
        // (holding the tracker) when the status comes.
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .http_response(throttled)
            .output(|| described("CREATE_COMPLETE"))
            .repeatedly()
            .build();
        let events = mock!(Client::describe_stack_events)
            .sequence()
            .http_response(throttled)
            .times(3)
            .output(created_events)
            .repeatedly()
            .build();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &events],
            |c| c.retry_config(RetryConfig::standard().with_max_attempts(4))
        );
        let (out, err) = output();
        let late = LateEvents::default();
        let detached_to = detach.then_some(&late);
        let t0 = Instant::now();
        let mut calls = 0;
        let (stack, _) = wait_stack(
            &cfn,
            &out,
            "S",
            None,
            Duration::from_secs(600),
            &mut calls,
            detached_to,
        )
        .await
        .unwrap();
        assert_eq!(status_of(&stack), "CREATE_COMPLETE");
        let (returned, at_return) = (t0.elapsed(), err.text());
        let late_calls = late.join().await;
        (returned, at_return, t0.elapsed(), err.text(), late_calls)
    }

    // Issue 22: the dependents of a complete stack need not wait for its
    // events. Detached, the wait returns on the status; the events are read
    // and printed by the late task, joined before the result, and counted.
    #[tokio::test(start_paused = true)]
    async fn a_complete_stack_detaches_its_events_read_and_the_join_prints_and_counts_them() {
        let (returned, at_return, joined, after, late_calls) = wait_with_slow_events(true).await;
        assert!(!at_return.contains("CREATE_COMPLETE"), "{at_return}");
        assert!(
            returned < joined,
            "returned at {returned:?}, before the events read ended at {joined:?}"
        );
        assert_eq!(
            after.matches("CREATE_COMPLETE").count(),
            1,
            "each event once: {after}"
        );
        assert_eq!(
            after.matches("User Initiated").count(),
            1,
            "each event once: {after}"
        );
        assert_eq!(late_calls, BTreeMap::from([("S".to_string(), 1)]));

        // Awaited (watch, status), the same wait returns only with its events.
        let (returned, at_return, _, _, late_calls) = wait_with_slow_events(false).await;
        assert_eq!(
            at_return.matches("CREATE_COMPLETE").count(),
            1,
            "{at_return}"
        );
        assert!(returned > Duration::ZERO, "the backoff is inside the wait");
        assert!(late_calls.is_empty());
    }

    /// DescribeStacks: absent (the look before the create), then
    /// CREATE_IN_PROGRESS for `looks` (at least 1) looks (for ever with `None`), then CREATE_COMPLETE.
    fn creating_stack(looks: Option<usize>) -> aws_smithy_mocks::Rule {
        let b = mock!(Client::describe_stacks)
            .sequence()
            .http_response(does_not_exist)
            .output(|| described("CREATE_IN_PROGRESS"));
        match looks {
            Some(n) => b
                .times(n)
                .output(|| described("CREATE_COMPLETE"))
                .repeatedly()
                .build(),
            None => b.repeatedly().build(),
        }
    }

    /// CreateStack accepted (stack id `S/1`).
    fn create_ok() -> aws_smithy_mocks::Rule {
        mock!(Client::create_stack)
            .then_output(|| CreateStackOutput::builder().stack_id("S/1").build())
    }

    /// DescribeStackEvents with no event.
    fn no_events() -> aws_smithy_mocks::Rule {
        mock!(Client::describe_stack_events)
            .then_output(|| DescribeStackEventsOutput::builder().build())
    }

    /// A client whose stack is created in `looks` looks, and its CreateStack rule.
    fn creating(looks: usize) -> (Client, aws_smithy_mocks::Rule) {
        let describe = creating_stack(Some(looks));
        let create = create_ok();
        let events = no_events();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &create, &events]
        );
        (cfn, create)
    }

    // Scheduling by the graph through the real per-stack deploy: `c` needs
    // only `a`; `b` (same phase as `a`, unrelated) takes minutes. `c` is
    // created and done while `b` is still in progress, not after the phase.
    #[tokio::test(start_paused = true)]
    async fn a_stack_whose_dependencies_are_done_does_not_wait_for_a_slow_stack_of_their_phase() {
        let graph = crate::graph::Graph::from_edges(&["a", "b", "c"], &[("c", "a")]).unwrap();
        assert_eq!(
            graph.levels().unwrap(),
            vec![
                vec!["a".to_string(), "b".to_string()],
                vec!["c".to_string()]
            ]
        );
        let clients: std::collections::HashMap<&str, (Client, aws_smithy_mocks::Rule)> =
            [("a", creating(1)), ("b", creating(30)), ("c", creating(1))].into();
        let (out, _) = output();
        let o = opts(Duration::from_secs(3600));
        let t0 = Instant::now();
        let known = Known::default();
        let (clients_ref, out_ref, o_ref, known_ref) = (&clients, &out, &o, &known);
        let ends = crate::scheduler::run(&graph, 4, |id| async move {
            let env = env_for(clients_ref[id.as_str()].0.clone(), out_ref, None, o_ref);
            let r = deploy_stack_known(&env, &job(), known_ref).await;
            let ok = r.ok();
            ((r.action, t0.elapsed()), ok)
        })
        .await;
        let end = |id: &str| ends[id].unwrap();
        for id in ["a", "b", "c"] {
            assert_eq!(end(id).0, Action::Created, "{id}");
            assert_eq!(clients[id].1.num_calls(), 1, "{id} created once");
        }
        assert!(
            end("c").1 < Duration::from_secs(5),
            "c ends right after a: {:?}",
            end("c").1
        );
        assert!(
            end("b").1 > Duration::from_secs(60),
            "b is the slow one: {:?}",
            end("b").1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_progress_is_polled_with_backoff_until_done() {
        let describe = creating_stack(Some(40));
        let create = create_ok();
        let events = no_events();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &create, &events]
        );
        let (out, _) = output();
        let o = opts(Duration::from_secs(3600));
        let t0 = Instant::now();
        let r = deploy_stack(&env_for(cfn, &out, None, &o), &job()).await;
        assert_eq!(r.action, Action::Created);
        assert_eq!(describe.num_calls(), 42);
        // 41 looks: quick at first, then every 10 s: about 5-6 minutes, not 41 x 250 ms.
        let waited = t0.elapsed();
        assert!(
            waited > Duration::from_secs(300) && waited < Duration::from_secs(420),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stack_that_never_settles_times_out_with_the_watch_command() {
        let describe = creating_stack(None);
        let create = create_ok();
        let events = no_events();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &create, &events]
        );
        let o = opts(Duration::from_secs(120));
        let (r, entries, _) = deploy_journaled(cfn, &job(), &o).await;
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.exit_code(), 5);
        assert!(e.to_string().contains("stack-deploy watch S"), "{e}");
        assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Failed));
    }

    #[test]
    fn unchanged_needs_same_template_parameters_and_tags() {
        let j = job();
        let params: BTreeMap<String, String> = [("Tag".to_string(), "v1".to_string())].into();
        let tags = j.tags.clone();
        let pretty = "{\n  \"Resources\": {\"A\": {\"Type\": \"AWS::SNS::Topic\"}}\n}";
        assert!(differences(&j, pretty, &params, &tags).is_empty());
        let mut j2 = j.clone();
        j2.parameters.insert("Tag".into(), "v2".into());
        assert_eq!(
            differences(&j2, pretty, &params, &tags),
            vec!["parameter Tag"]
        );
        assert_eq!(
            differences(&j, "{}", &params, &BTreeMap::new()),
            vec!["template", "tags"]
        );
    }

    #[test]
    fn update_keeps_previous_values_of_parameters_not_given() {
        let mut j = job();
        let existing: BTreeMap<String, String> = [
            ("Tag".to_string(), "v1".to_string()),
            ("BootstrapVersion".to_string(), "21".to_string()),
        ]
        .into();
        let p = cfn_parameters(&j, Some(&existing));
        assert_eq!(
            p.len(),
            1,
            "the SSM-typed default is left to CloudFormation: {p:?}"
        );
        assert_eq!(p[0].parameter_key(), Some("Tag"));
        assert_eq!(p[0].parameter_value(), Some("v1"));
        assert_eq!(cfn_parameters(&j, None).len(), 0);
        j.template_parameters.get_mut("Tag").unwrap().no_echo = true;
        assert_eq!(
            cfn_parameters(&j, Some(&existing))[0].use_previous_value(),
            Some(true)
        );
        j.template_parameters.get_mut("Tag").unwrap().no_echo = false;
        j.parameters.insert("Tag".into(), "v3".into());
        let p = cfn_parameters(&j, Some(&existing));
        assert_eq!(p[0].parameter_value(), Some("v3"));
    }

    // ---- issue 14: lost answers, events failing, signals, killed deploys ----

    fn retrying(
        c: aws_sdk_cloudformation::config::Builder,
    ) -> aws_sdk_cloudformation::config::Builder {
        c.retry_config(RetryConfig::standard().with_max_attempts(3))
    }

    fn already_exists() -> HttpResponse {
        aws_error(400, "AlreadyExistsException", "Stack [S] already exists")
    }

    fn server_error() -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(500).unwrap(),
            SdkBody::from("<html><body>Internal Server Error</body></html>"),
        )
    }

    /// A CreateStack rule that answers 500 (the request "reached AWS"), then
    /// AlreadyExists to the SDK's retry, recording the token of every attempt.
    fn lost_create(tokens: Arc<Mutex<Vec<String>>>) -> aws_smithy_mocks::Rule {
        mock!(Client::create_stack)
            .match_requests(move |req| {
                tokens
                    .lock()
                    .unwrap()
                    .push(req.client_request_token().unwrap_or_default().to_owned());
                true
            })
            .sequence()
            .http_response(server_error)
            .http_response(already_exists)
            .build()
    }

    fn start_event(token: Option<String>) -> DescribeStackEventsOutput {
        let mut e = event(
            "1",
            1,
            "S",
            STACK,
            "CREATE_IN_PROGRESS",
            Some("User Initiated"),
        );
        e.client_request_token = token;
        DescribeStackEventsOutput::builder().stack_events(e).build()
    }

    // Regression (issue 14): the SDK's retry met AlreadyExists for the stack its
    // own first attempt created; the deploy journaled `failed` and exited 3.
    #[tokio::test(start_paused = true)]
    async fn a_lost_create_answer_then_already_exists_is_our_create_and_journaled_ok() {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let create = lost_create(tokens.clone());
        let describe = creating_stack(Some(2));
        let t = tokens.clone();
        let events = mock!(Client::describe_stack_events)
            .then_output(move || start_event(t.lock().unwrap().first().cloned()));
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&create, &describe, &events],
            retrying
        );
        let o = opts(Duration::from_secs(3600));
        let (r, entries, err) = deploy_journaled(cfn, &job(), &o).await;

        assert!(r.error.is_none(), "{:?} {}", r.error, err.text());
        assert_eq!(r.action, Action::Created);
        assert_eq!(r.status.as_deref(), Some("CREATE_COMPLETE"));
        // The SDK retried (two attempts) one operation whose input carries this
        // intent's token (the mock matches rules once per operation, so one input
        // is seen; both attempts serialize it).
        assert_eq!(create.num_calls(), 2);
        let sent = tokens.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].starts_with("stack-deploy-"), "{sent:?}");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].action, "stack.create");
        assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Ok));
        assert_eq!(entries[1].after["status"], "CREATE_COMPLETE");
        assert!(
            err.text().contains("started by this deploy"),
            "{}",
            err.text()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn already_exists_for_someone_elses_create_is_still_a_failure() {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let create = lost_create(tokens);
        let describe = creating_stack(None);
        let events = mock!(Client::describe_stack_events)
            .then_output(|| start_event(Some("someone-else-1".into())));
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&create, &describe, &events],
            retrying
        );
        let o = opts(Duration::from_secs(3600));
        let (r, entries, _err) = deploy_journaled(cfn, &job(), &o).await;
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(e.to_string().contains("AlreadyExistsException"), "{e}");
        assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Failed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_answer_that_cannot_be_read_back_is_unknown_exit_7_with_the_read_command() {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let create = lost_create(tokens);
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .http_response(does_not_exist)
            .http_response(server_error)
            .repeatedly()
            .build();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&create, &describe],
            retrying
        );
        let o = opts(Duration::from_secs(3600));
        let (r, entries, _err) = deploy_journaled(cfn, &job(), &o).await;
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.exit_code(), 7, "{e}");
        assert!(e.to_string().contains("stack-deploy watch S"), "{e}");
        assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Unknown));
    }

    // Regression (issue 14): three failed DescribeStackEvents calls journaled
    // a stack as failed although it reached CREATE_COMPLETE.
    #[tokio::test(start_paused = true)]
    async fn events_failing_while_the_stack_completes_do_not_decide_the_outcome() {
        let describe = creating_stack(Some(3));
        let create = create_ok();
        let events = mock!(Client::describe_stack_events).then_http_response(server_error);
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &create, &events],
            retrying
        );
        let o = opts(Duration::from_secs(3600));
        let (r, entries, err) = deploy_journaled(cfn, &job(), &o).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.action, Action::Created);
        // Every look's events read failed, each after the SDK's retries.
        assert!(events.num_calls() >= 12, "{}", events.num_calls());
        assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Ok));
        assert_eq!(
            err.text().matches("stack events unavailable").count(),
            1,
            "{}",
            err.text()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_while_waiting_journals_interrupted_and_names_watch() {
        let describe = creating_stack(None);
        let create = create_ok();
        let events = no_events();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &create, &events]
        );
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let (out, _err) = output();
        let o = opts(Duration::from_secs(3600));
        let signal = o.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            signal.trigger(common::cancel::SignalKind::Interrupt);
        });
        let t0 = Instant::now();
        let r = deploy_stack(&env_for(cfn, &out, Some(&journal), &o), &job()).await;
        assert!(t0.elapsed() < Duration::from_secs(40), "{:?}", t0.elapsed());
        assert_eq!(r.action, Action::Interrupted);
        assert_eq!(r.error.as_ref().unwrap().exit_code(), 130);
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .contains("stack-deploy watch S"),
            "{:?}",
            r.reason
        );
        // CloudFormation was asked once and left running: no second call.
        assert_eq!(create.num_calls(), 1);
        let entries = journal.entries().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[1].outcome,
            Some(common::journal::Outcome::Interrupted)
        );
        assert!(
            entries[1]
                .message
                .as_deref()
                .unwrap()
                .contains("stack-deploy watch S"),
            "{:?}",
            entries[1].message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_before_the_stack_starts_sends_nothing() {
        let describe = mock!(Client::describe_stacks).then_http_response(does_not_exist);
        let create = create_ok();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &create]
        );
        let (out, _err) = output();
        let o = opts(Duration::from_secs(3600));
        o.cancel.trigger(common::cancel::SignalKind::Terminate);
        let r = deploy_stack(&env_for(cfn, &out, None, &o), &job()).await;
        assert_eq!(r.error.as_ref().unwrap().exit_code(), 130);
        assert_eq!(create.num_calls(), 0);
        assert_eq!(describe.num_calls(), 0);
    }

    // Issue 14: a SIGKILLed deploy leaves an intent without outcome and the
    // stack CREATE_IN_PROGRESS; the same deploy run again waits for it, records
    // what became of it, and carries on (here: nothing left to do).
    #[tokio::test(start_paused = true)]
    async fn re_running_a_killed_deploy_waits_for_the_stack_and_carries_on() {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .output(|| described("CREATE_IN_PROGRESS"))
            .times(3)
            .output(|| described("CREATE_COMPLETE"))
            .repeatedly()
            .build();
        let template = mock!(Client::get_template).then_output(|| {
            GetTemplateOutput::builder()
                .template_body(job().template)
                .build()
        });
        let create = create_ok();
        let events = no_events();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &template, &create, &events]
        );
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
        let killed = journal
            .intent(
                "stack.create",
                "cloudformation:ap-northeast-1/S",
                json!({ "status": null }),
            )
            .unwrap();
        let killed_id = killed.id().to_owned();
        // SIGKILL: no outcome line, not even the drop guard's.
        std::mem::forget(killed);
        let (out, err) = output();
        let o = opts(Duration::from_secs(3600));
        let r = deploy_stack(&env_for(cfn, &out, Some(&journal), &o), &job()).await;
        assert!(r.error.is_none(), "{:?} {}", r.error, err.text());
        assert_eq!(r.action, Action::Unchanged);
        assert_eq!(r.status.as_deref(), Some("CREATE_COMPLETE"));
        assert_eq!(create.num_calls(), 0);
        let entries = journal.entries().unwrap();
        let resume: Vec<_> = entries
            .iter()
            .filter(|e| e.action == "stack.resume")
            .collect();
        assert_eq!(resume.len(), 2, "{entries:?}");
        assert_eq!(resume[0].before["resumes"], killed_id);
        assert_eq!(resume[1].outcome, Some(common::journal::Outcome::Ok));
        assert_eq!(resume[1].after["status"], "CREATE_COMPLETE");
        assert!(
            err.text().contains("waiting for it to settle"),
            "{}",
            err.text()
        );
    }

    fn updated_now(status: &str) -> DescribeStacksOutput {
        let mut s = stack(status);
        s.last_updated_time = Some(SmithyTime::from_secs(Utc::now().timestamp()));
        DescribeStacksOutput::builder().stacks(s).build()
    }

    // Where events carry no tokens (the emulator records none), a lost
    // UpdateStack answer is recognised by the stack having just started an
    // update to exactly this template with these tags.
    #[tokio::test(start_paused = true)]
    async fn a_lost_update_answer_is_recognised_by_template_and_tags_when_events_name_no_token() {
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .output(|| described("UPDATE_COMPLETE"))
            .output(|| updated_now("UPDATE_IN_PROGRESS"))
            .times(2)
            .output(|| updated_now("UPDATE_COMPLETE"))
            .repeatedly()
            .build();
        let template = mock!(Client::get_template)
            .sequence()
            .output(|| GetTemplateOutput::builder().template_body("{}").build())
            .output(|| {
                GetTemplateOutput::builder()
                    .template_body(job().template)
                    .build()
            })
            .repeatedly()
            .build();
        let update = mock!(Client::update_stack)
            .sequence()
            .http_response(server_error)
            .http_response(|| {
                aws_error(
                    400,
                    "ValidationError",
                    "Stack:arn:aws:cloudformation:ap-northeast-1:123456789012:stack/S/1 is in UPDATE_IN_PROGRESS state and can not be updated.",
                )
            })
            .build();
        let events = no_events();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &template, &update, &events],
            retrying
        );
        let o = opts(Duration::from_secs(3600));
        let (r, entries, err) = deploy_journaled(cfn, &job(), &o).await;
        assert!(r.error.is_none(), "{:?} {}", r.error, err.text());
        assert_eq!(r.action, Action::Updated);
        assert_eq!(update.num_calls(), 2);
        assert_eq!(entries[0].action, "stack.update");
        assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Ok));
    }
}
