//! The `deploy` command: validate everything offline, confirm, check the
//! bootstrap version, publish assets, then run the ready pool over the
//! selected stacks and report each one.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Serialize;
use tokio::time::Instant;

use common::{Context, Error, HumanDuration, Render, Result};

use crate::assets::{self, AssetResult};
use crate::graph::{Graph, select};
use crate::manifest::{Assembly, StackArtifact, TEMPLATE_BODY_LIMIT, TEMPLATE_URL_LIMIT};
use crate::roles::{Roles, resolve_placeholders, url_suffix};
use crate::stack::{
    Action, DeployOptions, Known, Method, StackEnv, StackJob, StackResult, deploy_stack_known,
};
use crate::{Selection, scheduler};

/// `deploy`: deploy stacks, each as soon as its dependencies are done.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub sel: Selection,
    /// Stacks deployed at the same time.
    #[arg(long, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// direct = CreateStack/UpdateStack; change-set = CreateChangeSet + ExecuteChangeSet.
    #[arg(long, value_enum, default_value_t)]
    pub method: Method,
    /// Parameter for one stack, STACK:KEY=VALUE (repeat for more).
    #[arg(long = "parameters", value_name = "STACK:KEY=VALUE")]
    pub parameters: Vec<String>,
    /// Leave a failed stack as it is (CREATE_FAILED/UPDATE_FAILED) for inspection.
    #[arg(long)]
    pub no_rollback: bool,
    /// Use the caller's credentials instead of the manifest's deploy and publishing roles.
    #[arg(long)]
    pub no_assume_role: bool,
    /// Give up waiting after this long (exit 5; the deploy goes on in AWS).
    #[arg(long, default_value = "60m", value_name = "DURATION")]
    pub timeout: HumanDuration,
    /// CloudWatch alarm (name or ARN, up to 5) that makes CloudFormation roll
    /// an update back by itself when it fires (RollbackConfiguration).
    #[arg(long = "rollback-alarm", value_name = "NAME|ARN", num_args = 1..)]
    pub rollback_alarms: Vec<String>,
    /// How long CloudFormation keeps watching the alarms after the stack
    /// operation completed (whole minutes, at most 180m).
    #[arg(long, value_name = "DURATION", requires = "rollback_alarms")]
    pub monitoring_time: Option<HumanDuration>,
}

/// `--parameters STACK:KEY=VALUE`, checked against the selected stacks'
/// templates. Returns artifact id -> (key -> value).
pub fn parse_parameters(
    assembly: &Assembly,
    selected: &[String],
    raw: &[String],
) -> Result<HashMap<String, BTreeMap<String, String>>> {
    let mut out: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for p in raw {
        let bad = |why: &str| {
            Error::usage(format!(
                "bad --parameters {p:?}: {why} (expected STACK:KEY=VALUE)"
            ))
        };
        let (stack, rest) = p.split_once(':').ok_or_else(|| bad("no STACK: prefix"))?;
        let (key, value) = rest.split_once('=').ok_or_else(|| bad("no =VALUE"))?;
        if stack.is_empty() || key.is_empty() {
            return Err(bad("empty stack or key"));
        }
        let art = assembly
            .stacks
            .iter()
            .find(|s| s.id == stack || s.stack_name == stack)
            .ok_or_else(|| bad(&format!("no stack {stack:?} in the assembly")))?;
        if !selected.contains(&art.id) {
            return Err(bad(&format!("stack {stack:?} is not selected")));
        }
        if !art.template_parameters.contains_key(key) {
            let known: Vec<&str> = art.template_parameters.keys().map(String::as_str).collect();
            return Err(bad(&format!(
                "stack {stack} has no parameter {key:?} (it has: {})",
                known.join(", ")
            )));
        }
        let entry = out.entry(art.id.clone()).or_default();
        if entry.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(bad("given twice"));
        }
    }
    Ok(out)
}

/// The environment name for the production guard: `--env`, else what the
/// stack names end with (`...-prod` is production even without `--env`).
pub fn effective_env(ctx_env: Option<&str>, stacks: &[&StackArtifact]) -> Option<String> {
    env_of_stacks(ctx_env, stacks.iter().map(|s| s.stack_name.as_str()))
}

/// The environment a command on these stacks acts in: `--env` when given,
/// else the production suffix of the first stack name that has one (`web-prod`
/// is production). Every stack command takes this environment's confirmation
/// and run lock, so a revert, cancel or rollback of `*-prod` stacks without
/// `--env` waits on the same lock as the deploy it follows.
pub fn env_of_stacks<'a>(
    ctx_env: Option<&str>,
    names: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    if let Some(e) = ctx_env {
        return Some(e.to_owned());
    }
    names.into_iter().find_map(|name| {
        let suffix = name.rsplit('-').next()?;
        common::guard::is_production_name(suffix).then(|| suffix.to_owned())
    })
}

/// `ctx`'s safety settings in the environment of these stacks ([`env_of_stacks`]).
pub fn stack_safety<'a>(
    ctx: &Context,
    names: impl IntoIterator<Item = &'a str>,
) -> common::guard::Safety {
    let mut safety = ctx.safety.clone();
    safety.env = env_of_stacks(ctx.globals.env_name.as_deref(), names);
    safety
}

/// The deploy's result document.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct DeployReport {
    /// False when a stack or an upload failed. Not the envelope's `ok` (exit
    /// 0): where they differ (an interrupted deploy), the envelope's is
    /// `envelope.ok`.
    pub ok: bool,
    pub dry_run: bool,
    /// Who ran the command (before any role was assumed).
    pub caller: String,
    pub method: Method,
    pub phases: Vec<Vec<String>>,
    pub stacks: Vec<StackResult>,
    pub assets: Vec<AssetResult>,
    pub duration: String,
    /// The deploy's own time (`duration`); the envelope's, from the start of
    /// the process, is `envelope.duration_ms`.
    pub duration_ms: u64,
    /// Every AWS call made (STS, SSM, S3, CloudWatch, CloudFormation).
    pub api_calls: u32,
    /// The run whose records hold each changed stack's state before this
    /// deploy (`stack-deploy revert --run RUN_ID` puts it back); none in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Records written by this deploy (`stack-<StackName>.json`).
    pub records: Vec<String>,
    /// The alarms CloudFormation watches to roll an update back by itself.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollback_alarms: Vec<String>,
}

impl Render for DeployReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        crate::stack::write_table(w, &self.stacks)?;
        for s in &self.stacks {
            for (k, v) in &s.outputs {
                writeln!(w, "  {}.{k} = {v}", s.stack)?;
            }
        }
        writeln!(
            w,
            "{} in {} ({} API calls){}",
            if self.ok { "done" } else { "FAILED" },
            self.duration,
            self.api_calls,
            if self.dry_run { ", dry run" } else { "" }
        )
    }
}

/// Pages of DescribeStacks read for the up-front listing before giving up on
/// it (an account with that many stacks: each stack describes itself).
const LISTING_PAGES: u32 = 3;

/// For each stack target, the template this toolkit last deployed to it and
/// the stack's last-updated time then, from the newest journaled create or
/// update when it ended ok (a later failed, interrupted or deleting change
/// leaves nothing known).
fn deployed_templates(j: &common::journal::Journal) -> HashMap<String, (String, String)> {
    let records = j
        .records(|e| e.action.starts_with("stack."))
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let mut known = HashMap::new();
    for r in records {
        if !seen.insert(r.intent.target.clone()) {
            continue;
        }
        let Some(o) = &r.outcome else { continue };
        if o.outcome != Some(common::journal::Outcome::Ok) {
            continue;
        }
        if let (Some(sha), Some(at)) = (
            o.after["template_sha256"].as_str(),
            o.after["last_updated"].as_str(),
        ) {
            known.insert(r.intent.target.clone(), (sha.to_owned(), at.to_owned()));
        }
    }
    known
}

pub async fn deploy(ctx: &Context, args: DeployArgs) -> Result<()> {
    let t0 = Instant::now();
    // Everything that can be wrong with the input is found here, before any call.
    let assembly = Assembly::load(&args.sel.app)?;
    let selected = select(
        &assembly,
        &args.sel.stacks,
        args.sel.all,
        args.sel.with_deps,
    )?;
    let graph = Graph::build(&assembly, &selected)?;
    let phases = graph.levels()?;
    let params = parse_parameters(&assembly, &selected, &args.parameters)?;
    let rollback_alarms =
        crate::alarms::validate(&args.rollback_alarms, args.monitoring_time.map(|m| m.0))?;
    common::duration::effective_timeout(args.timeout.0)?;
    let arts: Vec<&StackArtifact> = selected
        .iter()
        .filter_map(|id| assembly.stack(id))
        .collect();
    for s in &arts {
        if s.template.len() > TEMPLATE_URL_LIMIT {
            return Err(Error::usage(format!(
                "stack {}: template is {} bytes, over CloudFormation's {TEMPLATE_URL_LIMIT}-byte limit for a template given by URL; CloudFormation would refuse it (split the stack)",
                s.id,
                s.template.len()
            )));
        }
        if s.template.len() > TEMPLATE_BODY_LIMIT && s.template_asset_url.is_none() {
            return Err(Error::usage(format!(
                "stack {}: template is {} bytes (over CloudFormation's {TEMPLATE_BODY_LIMIT}-byte inline limit) and the manifest names no stackTemplateAssetObjectUrl to upload it to",
                s.id,
                s.template.len()
            )));
        }
    }
    for (id, ext) in &graph.external {
        ctx.out.info(format!(
            "{id} depends on {} (not selected; assumed deployed)",
            ext.join(", ")
        ));
    }

    let mut safety = ctx.safety.clone();
    safety.env = effective_env(ctx.globals.env_name.as_deref(), &arts);
    ctx.begin_deploy(
        &safety,
        &format!("deploy {} stack(s) ({})", arts.len(), selected.join(", ")),
    )
    .await?;

    let cancel = ctx.cancel();
    cancel.check()?;
    let aws = ctx.aws().await?;
    let roles = Roles::new(aws.config.clone(), !args.no_assume_role);
    let calls = AtomicU32::new(0);
    let region = roles.base_region();

    // ${AWS::AccountId} for stacks whose environment leaves it open.
    let mut own_account = None;
    if arts.iter().any(|s| s.account.is_none()) {
        own_account = Some(roles.own_account().await?);
    }
    let account_of = |s: &StackArtifact| {
        s.account
            .clone()
            .or_else(|| own_account.clone())
            .unwrap_or_default()
    };
    let region_of = |s: &StackArtifact| s.region.clone().unwrap_or_else(|| region.clone());
    // A stack's account, region and deploy role (placeholders resolved).
    let placed = |s: &StackArtifact| {
        let (acct, reg) = (account_of(s), region_of(s));
        let role = s
            .assume_role_arn
            .as_deref()
            .map(|r| resolve_placeholders(r, &acct, &reg));
        (acct, reg, role)
    };

    // Every session (the caller's, each deploy role, each file-publishing
    // role), each bootstrap check and one listing of the stacks per deploy
    // session (so no stack needs to describe itself before it starts).
    let mut wanted: Vec<(Option<String>, String)> = vec![(None, region.clone())];
    let mut checks: Vec<crate::survey::Check> = Vec::new();
    let mut listings: Vec<(Option<String>, String)> = Vec::new();
    for s in &arts {
        let (acct, reg, role) = placed(s);
        wanted.push((role.clone(), reg.clone()));
        if let (Some(param), Some(need)) = (&s.bootstrap_parameter, s.requires_bootstrap_version)
            && !checks.iter().any(|c| c.param == *param && c.region == reg)
        {
            checks.push(crate::survey::Check {
                param: param.clone(),
                need,
                account: acct.clone(),
                region: reg.clone(),
                role: role.clone(),
            });
        }
        // `--no-assume-role` makes every session the caller's own.
        let key = (role.filter(|_| !args.no_assume_role), reg.clone());
        if !listings.contains(&key) {
            listings.push(key);
        }
        for a in assets::needed(s) {
            let areg = a.region.clone().unwrap_or_else(|| region.clone());
            let role = a
                .assume_role_arn
                .as_deref()
                .map(|r| resolve_placeholders(r, &acct, &areg));
            wanted.push((role, areg));
        }
    }
    wanted.sort();
    wanted.dedup();
    // The rollback alarms, resolved before anything is uploaded or changed
    // (a round trip of its own, only when alarms are named).
    let mut alarm_arns = Vec::new();
    let rollback = match &rollback_alarms {
        None => None,
        Some(ra) => {
            if ra
                .alarms
                .iter()
                .any(|a| matches!(a, crate::alarms::AlarmRef::Name(_)))
            {
                calls.fetch_add(1, Ordering::Relaxed);
            }
            let cw = aws_sdk_cloudwatch::Client::new(roles.base());
            alarm_arns = cancel.run(crate::alarms::resolve(&cw, &ra.alarms)).await?;
            ctx.out.info(format!(
                "CloudFormation rolls an update back by itself when one of these alarms fires{}: {}",
                ra.monitoring_minutes
                    .map(|m| format!(" (and for {m} min after the stack operation ends)"))
                    .unwrap_or_default(),
                alarm_arns.join(", ")
            ));
            Some(crate::alarms::configuration(
                &alarm_arns,
                ra.monitoring_minutes,
            ))
        }
    };

    // One round trip before the first stack can start: the sessions, and
    // beside them the bootstrap checks and the listings with the caller's own
    // credentials (`survey.rs` says when those stand in for the roles').
    // A listing pays off from two stacks on; refused (a policy naming each
    // stack) or too long, each stack describes itself as before.
    let survey = crate::survey::survey(
        &roles,
        &wanted,
        &checks,
        &listings,
        arts.len() > 1,
        LISTING_PAGES,
        &calls,
    );
    // Assets are looked up (HEAD) and uploaded from the start too, each as soon
    // as its publishing role's session is made: content-addressed and
    // additive, so an upload next to a failing check harms nothing; the
    // check's verdict comes first. File assets alone: only the stacks that
    // need them wait for them (below); docker images (which can end in a usage
    // error before anything is changed) are all published before any stack
    // starts.
    let publish = cancel.run(assets::publish(
        ctx,
        &roles,
        &arts,
        account_of,
        ctx.dry_run(),
        aws.endpoint_overridden,
        &calls,
    ));
    let early = arts.iter().any(|s| !s.image_assets.is_empty());
    let (done_tx, done_rx) = tokio::sync::watch::channel(None::<Option<String>>);
    let publishing = async {
        let r = publish.await;
        // Some(None): published; Some(Some(why)): failed.
        done_tx.send_replace(Some(r.as_ref().err().map(ToString::to_string)));
        r
    };
    let mut publishing = std::pin::pin!(futures::FutureExt::fuse(publishing));
    let mut published = None;
    let surveyed = if early {
        let (c, p) = cancel
            .run(async { Ok(tokio::join!(survey, &mut publishing)) })
            .await?;
        published = Some(p);
        c
    } else {
        cancel
            .run(async {
                let mut survey = std::pin::pin!(survey);
                // The uploads go on while the sessions, checks and listings are made.
                tokio::select! {
                    r = &mut survey => Ok(r),
                    p = &mut publishing => {
                        published = Some(p);
                        Ok(survey.await)
                    }
                }
            })
            .await?
    };
    let listed = surveyed?;
    if early && let Some(Err(e)) = published {
        return Err(e);
    }
    let caller = roles.session(None, None).await?.identity;
    let mut sessions = HashMap::new();
    for s in &arts {
        let (_, reg, role) = placed(s);
        sessions.insert(
            s.id.clone(),
            roles.session(role.as_deref(), Some(&reg)).await?,
        );
    }
    // The stacks that need a file asset published before they start.
    let needs_assets: std::collections::HashSet<&str> = arts
        .iter()
        .filter(|s| !assets::needed(s).is_empty())
        .map(|s| s.id.as_str())
        .collect();

    // Uploads are additive and content-addressed: a signal during them leaves
    // nothing to record; stop here before any stack is touched.
    cancel.check()?;

    let journal = if ctx.dry_run() {
        None
    } else {
        Some(ctx.journal().await?)
    };
    // Each existing stack's state before its first change goes into the run's
    // records (the runbook's run, else a run of its own); dry runs record nothing.
    let recorder = match journal {
        None => None,
        Some(j) => {
            let run_id = j
                .context()
                .run_id
                .clone()
                .unwrap_or_else(|| common::state::new_run_id("deploy"));
            ctx.state()
                .await?
                .map(|store| crate::record::Recorder::new(store.clone(), run_id))
        }
    };
    // A completed stack's last events are read while its dependents start.
    let late = crate::stack::LateEvents::default();
    let opts = DeployOptions {
        method: args.method,
        no_rollback: args.no_rollback,
        dry_run: ctx.dry_run(),
        deadline: t0 + args.timeout.0,
        cancel: cancel.clone(),
        rollback,
        reverts: None,
    };
    // A journal on this machine (a file, or a state folder) is read for free;
    // one in S3 would cost more calls than it saves.
    let journaled = match journal {
        Some(j)
            if j.store()
                .is_none_or(|s| !s.location("").starts_with("s3://")) =>
        {
            deployed_templates(j)
        }
        _ => HashMap::new(),
    };
    let endpoint = aws.config.endpoint_url().map(str::to_owned);
    let mut jobs: HashMap<String, (StackJob, StackEnv<'_>, Known)> = HashMap::new();
    for s in &arts {
        let (acct, reg) = (account_of(s), region_of(s));
        let session = &sessions[&s.id];
        let deploy_role = if args.no_assume_role {
            None
        } else {
            s.assume_role_arn
                .as_deref()
                .map(|r| resolve_placeholders(r, &acct, &reg))
        };
        let template_url = (s.template.len() > TEMPLATE_BODY_LIMIT)
            .then(|| https_url(s.template_asset_url.as_deref(), endpoint.as_deref(), &reg))
            .flatten();
        let job = StackJob {
            template_url,
            ..StackJob::for_artifact(
                s,
                params.get(&s.id).cloned().unwrap_or_default(),
                &acct,
                &reg,
            )
        };
        let env = StackEnv {
            cfn: aws_sdk_cloudformation::Client::new(&session.config),
            out: &ctx.out,
            journal,
            opts: &opts,
            identity: session.identity.clone(),
            region: reg,
            recorder: recorder.as_ref(),
            deploy_role,
            late: Some(&late),
        };
        let known = Known {
            described: listed
                .get(&(session.role_arn.clone(), env.region.clone()))
                .and_then(Option::as_ref)
                .map(|all| all.get(&s.stack_name).cloned()),
            deployed: journaled
                .get(&format!("cloudformation:{}/{}", env.region, s.stack_name))
                .cloned(),
        };
        jobs.insert(s.id.clone(), (job, env, known));
    }

    ctx.out.info(format!(
        "deploying {} stack(s) in {} phase(s), up to {} at a time",
        arts.len(),
        phases.len(),
        args.concurrency
    ));
    let concurrency = usize::from(args.concurrency);
    let jobs_ref = &jobs;
    let (needs_ref, done_ref) = (&needs_assets, &done_rx);
    // On the first signal each running stack stops waiting (CloudFormation
    // goes on), journals `interrupted` and counts as not ok, so the pool
    // starts nothing new; a stack the pool starts in that instant returns at once.
    let pool = scheduler::run(&graph, concurrency, |id| async move {
        let (job, env, known) = &jobs_ref[&id];
        if needs_ref.contains(id.as_str()) {
            // Its assets first (the other stacks did not wait for them).
            let mut done = done_ref.clone();
            let failed = match done.wait_for(Option::is_some).await {
                Ok(v) => v.clone().flatten(),
                Err(_) => Some("publishing ended without a verdict".to_owned()),
            };
            if let Some(why) = failed
                && !env.opts.cancel.is_cancelled()
            {
                let r = StackResult::skipped(
                    &job.stack_name,
                    &job.template,
                    &format!("not started: its assets could not be published: {why}"),
                );
                return ((r, Instant::now()), false);
            }
        }
        if env.opts.cancel.is_cancelled() {
            let r =
                StackResult::skipped(&job.stack_name, &job.template, "not started: interrupted");
            return ((r, Instant::now()), false);
        }
        let r = deploy_stack_known(env, job, known).await;
        let ok = r.ok();
        ((r, Instant::now()), ok)
    });
    let pending = published.is_none();
    let (mut outcomes, pending_assets) = tokio::join!(pool, async {
        if pending {
            Some(publishing.as_mut().await)
        } else {
            None
        }
    });
    // The detached events reads end before the result (a second signal drops them).
    let late_calls = tokio::select! {
        calls = late.join() => calls,
        () = cancel.hard_cancelled() => Default::default(),
    };
    let (asset_results, asset_error) = match published.or(pending_assets) {
        Some(Ok(v)) => (v, None),
        Some(Err(e)) => (Vec::new(), Some(e)),
        None => (
            Vec::new(),
            Some(Error::Internal("asset publishing did not finish".into())),
        ),
    };
    if let Some(e) = &asset_error
        && !cancel.is_cancelled()
    {
        ctx.out.warn(format!("asset publishing failed: {e}"));
    }

    // Results in phase order; the first failure (in time) decides the exit.
    let mut stacks = Vec::new();
    let mut first_fail: Option<(Instant, usize)> = None;
    for id in phases.iter().flatten() {
        let art = assembly
            .stack(id)
            .ok_or_else(|| Error::Internal(id.clone()))?;
        match outcomes.get(id).and_then(|o| o.as_ref()) {
            Some(_) => {}
            None => stacks.push(StackResult::skipped(
                &art.stack_name,
                &art.template,
                if cancel.is_cancelled() {
                    "not started: interrupted"
                } else if asset_error.is_some() {
                    "not started: asset publishing failed"
                } else {
                    "not started: an earlier stack failed"
                },
            )),
        }
    }
    let mut ordered = Vec::new();
    for id in phases.iter().flatten() {
        if let Some(Some((mut r, at))) = outcomes.remove(id) {
            r.api_calls += late_calls.get(&r.stack).copied().unwrap_or(0);
            ordered.push((r, at));
        }
    }
    let mut timed_out = Vec::new();
    for (r, at) in ordered {
        if let Some(e) = &r.error {
            if matches!(e, Error::Timeout { .. }) {
                timed_out.push(r.stack.clone());
            }
            if first_fail.is_none_or(|(t, _)| at < t) {
                first_fail = Some((at, stacks.len()));
            }
        }
        stacks.push(r);
    }
    // Keep the report in phase order: skipped ones were pushed first; sort back.
    let order: HashMap<String, usize> = phases
        .iter()
        .flatten()
        .filter_map(|id| assembly.stack(id))
        .enumerate()
        .map(|(i, s)| (s.stack_name.clone(), i))
        .collect();
    let fail_name = first_fail.map(|(_, i)| stacks[i].stack.clone());
    stacks.sort_by_key(|s| order.get(&s.stack).copied().unwrap_or(usize::MAX));

    let cfn_calls: u32 = stacks.iter().map(|s| s.api_calls).sum();
    let total_calls =
        cfn_calls + calls.load(Ordering::Relaxed) + roles.calls.load(Ordering::Relaxed);
    let elapsed = t0.elapsed();
    let mut report = DeployReport {
        ok: fail_name.is_none() && asset_error.is_none(),
        dry_run: ctx.dry_run(),
        caller,
        method: args.method,
        phases: phases
            .iter()
            .map(|l| {
                l.iter()
                    .filter_map(|id| assembly.stack(id))
                    .map(|s| s.stack_name.clone())
                    .collect()
            })
            .collect(),
        stacks,
        assets: asset_results,
        duration: common::duration::format_duration(elapsed),
        duration_ms: elapsed.as_millis() as u64,
        api_calls: total_calls,
        run_id: recorder.as_ref().map(|r| r.run_id.clone()),
        records: recorder.as_ref().map(|r| r.written()).unwrap_or_default(),
        rollback_alarms: alarm_arns,
    };
    if let Some(r) = &recorder
        && !report.records.is_empty()
    {
        ctx.out.info(format!(
            "recorded {} stack(s) as they were before this deploy in run {}: undo with `stack-deploy revert --run {}`",
            report.records.len(),
            r.run_id,
            r.run_id
        ));
    }
    if cancel.is_cancelled() {
        // CloudFormation cannot be called back: say what is still moving and
        // how to follow it; each such stack's journal outcome is `interrupted`.
        let moving: Vec<&str> = report
            .stacks
            .iter()
            .filter(|s| s.action == Action::Interrupted)
            .map(|s| s.stack.as_str())
            .collect();
        if moving.is_empty() {
            ctx.out
                .warn("interrupted: no stack operation was in flight; nothing new was started");
        } else {
            ctx.out.warn(format!(
                "interrupted: nothing new was started; CloudFormation goes on with {}: follow it with `stack-deploy watch {}`, or re-run the same deploy, which waits for them and carries on",
                moving.join(", "),
                moving.join(" ")
            ));
        }
        ctx.out.result(&report)?;
        return Err(Error::Interrupted);
    }
    let error = match &fail_name {
        // The uploads failed and no stack did: the uploads' error decides.
        None => asset_error,
        Some(name) => {
            let skipped = report
                .stacks
                .iter()
                .filter(|s| s.action == Action::Skipped)
                .count();
            if skipped > 0 {
                ctx.out.warn(format!(
                    "{skipped} stack(s) not started because {name} failed"
                ));
            }
            if !timed_out.is_empty() {
                Some(Error::Timeout {
                    what: format!("stacks {}", timed_out.join(", ")),
                    waited: common::duration::format_duration(elapsed),
                    reattach: Some(format!("stack-deploy watch {}", timed_out.join(" "))),
                })
            } else {
                report
                    .stacks
                    .iter_mut()
                    .find(|s| &s.stack == name)
                    .and_then(|s| s.error.take())
            }
        }
    };
    ctx.out.result(&report)?;
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `s3://bucket/key` as the https URL CloudFormation fetches (path style on
/// a custom endpoint, which must contain `localhost` for the emulator).
pub fn https_url(s3_url: Option<&str>, endpoint: Option<&str>, region: &str) -> Option<String> {
    let rest = s3_url?.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    Some(match endpoint {
        Some(ep) => format!("{}/{bucket}/{key}", ep.trim_end_matches('/')),
        None => format!("https://s3.{region}.{}/{bucket}/{key}", url_suffix(region)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::fixture;

    #[test]
    fn parameters_are_checked_against_the_templates() {
        let a = fixture();
        let sel: Vec<String> = a.stacks.iter().map(|s| s.id.clone()).collect();
        let p = parse_parameters(
            &a,
            &sel,
            &["LightningTalk-Api-prod:ApiImageTag=v:2=x".into()],
        )
        .unwrap();
        assert_eq!(p["LightningTalk-Api-prod"]["ApiImageTag"], "v:2=x");
        for bad in [
            "ApiImageTag=v2",
            "LightningTalk-Api-prod:ApiImageTag",
            "LightningTalk-Nope-prod:ApiImageTag=v2",
            "LightningTalk-Api-prod:Nope=v2",
            ":x=y",
        ] {
            let e = parse_parameters(&a, &sel, &[bad.into()]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains("STACK:KEY=VALUE"), "{e}");
        }
    }

    #[test]
    fn stacks_named_prod_are_production_without_env() {
        let a = fixture();
        let arts: Vec<&StackArtifact> = a.stacks.iter().collect();
        assert_eq!(effective_env(None, &arts).as_deref(), Some("prod"));
        assert_eq!(
            effective_env(Some("staging"), &arts).as_deref(),
            Some("staging")
        );
    }

    #[test]
    fn template_urls() {
        assert_eq!(
            https_url(
                Some("s3://b/k.json"),
                Some("http://localhost:5000/"),
                "ap-northeast-1"
            )
            .unwrap(),
            "http://localhost:5000/b/k.json"
        );
        assert_eq!(
            https_url(Some("s3://b/k.json"), None, "cn-north-1").unwrap(),
            "https://s3.cn-north-1.amazonaws.com.cn/b/k.json"
        );
    }
}
