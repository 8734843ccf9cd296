//! The rename dance behind `restore --swap` (and `db-snapshot swap`): SOURCE
//! becomes `<SOURCE>-pre-restore-<timestamp>`, then the restored instance
//! becomes SOURCE, waiting after each, so applications keep their endpoint name.
//!
//! Every name is checked free right before it is taken (the emulator silently
//! destroys an instance another is renamed onto; AWS refuses). A failure after
//! the first rename exits 7 and says which instance has which name now, found
//! by each instance's resource id, with the commands to finish or undo.

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use common::{AwsResultExt, Context, Error, HumanDuration, Render, Result};

use crate::naming::{self, Kind};
use crate::rds::{self, InstanceInfo, PlannedCall, Rds};
use crate::wait;

/// `db-snapshot swap`: finish a restore whose `--swap` step did not run.
#[derive(Debug, Clone, clap::Args)]
pub struct SwapArgs {
    /// The instance applications use now (it is renamed aside).
    #[arg(long, value_name = "ID")]
    pub instance: String,

    /// The instance that takes its name (e.g. the restored one).
    #[arg(long = "with", value_name = "ID")]
    pub with: String,

    /// Give up waiting for each rename after this long.
    #[arg(long, default_value = "30m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

/// The names before and after.
#[derive(Debug, Clone)]
pub struct SwapPlan {
    /// The instance applications use (named `source` before the swap).
    pub source: String,
    /// The instance that takes over the name.
    pub replacement: String,
    /// Where the source goes.
    pub aside: String,
}

impl SwapPlan {
    pub fn new(source: &str, replacement: &str) -> Result<Self> {
        naming::validate(Kind::Instance, source)?;
        naming::validate(Kind::Instance, replacement)?;
        if source.eq_ignore_ascii_case(replacement) {
            return Err(Error::usage(format!("cannot swap {source} with itself")));
        }
        Ok(SwapPlan {
            source: source.to_owned(),
            replacement: replacement.to_owned(),
            aside: naming::pre_restore_name(source, Utc::now())?,
        })
    }

    pub fn planned_calls(&self) -> Vec<PlannedCall> {
        vec![
            rename_call(&self.source, &self.aside),
            rename_call(&self.replacement, &self.source),
        ]
    }
}

fn rename_call(from: &str, to: &str) -> PlannedCall {
    PlannedCall::new(
        "ModifyDBInstance",
        json!({"DBInstanceIdentifier": from, "NewDBInstanceIdentifier": to, "ApplyImmediately": true}),
    )
}

/// What the swap did.
#[derive(Debug, Clone, Serialize)]
pub struct SwapResult {
    /// The original instance's name now.
    pub original_now_named: String,
    /// The replacement's name now (the source's old name).
    pub replacement_now_named: String,
    pub endpoint: Option<rds::Endpoint>,
}

#[derive(Debug, Serialize)]
pub struct SwapCommandResult {
    #[serde(flatten)]
    pub swap: Option<SwapResult>,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<PlannedCall>,
    pub api_calls: u64,
}

impl Render for SwapCommandResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match &self.swap {
            Some(s) => writeln!(
                w,
                "swapped: {} now serves as {}; the original is {}",
                s.replacement_now_named, s.replacement_now_named, s.original_now_named
            ),
            None => writeln!(w, "dry run: would rename as listed above"),
        }
    }
}

/// Checks before any change: both instances exist, the replacement is
/// available, the aside name is free. Returns both instances as they are.
pub async fn preflight(rds: &Rds, plan: &SwapPlan) -> Result<(InstanceInfo, InstanceInfo)> {
    let source = rds::get_instance(rds, &plan.source).await?;
    let replacement = rds::get_instance(rds, &plan.replacement).await?;
    if replacement.status != "available" {
        return Err(Error::usage(format!(
            "{} is {}, not available; wait with `db-snapshot wait --instance {}` first",
            plan.replacement, replacement.status, plan.replacement
        )));
    }
    refuse_if_taken(rds, &plan.aside).await?;
    Ok((source, replacement))
}

async fn refuse_if_taken(rds: &Rds, name: &str) -> Result<()> {
    if let Some(i) = rds::find_instance(rds, name).await? {
        return Err(Error::usage(format!(
            "the name {name} is already taken by an instance ({}); refusing to rename onto it",
            i.status
        )));
    }
    Ok(())
}

async fn rename(rds: &Rds, from: &str, to: &str) -> Result<()> {
    rds.client
        .modify_db_instance()
        .db_instance_identifier(from)
        .new_db_instance_identifier(to)
        .apply_immediately(true)
        .send()
        .await
        .aws("ModifyDBInstance")?;
    Ok(())
}

/// Who holds `name` now, by resource id: "the original instance", "the restored
/// instance", another instance, nothing, or unknown.
async fn holder(
    rds: &Rds,
    name: &str,
    original: &InstanceInfo,
    replacement: &InstanceInfo,
) -> String {
    match rds::find_instance(rds, name).await {
        Ok(None) => format!("nothing is named {name}"),
        Ok(Some(i)) => {
            // Resource ids survive renames; when they do not tell the two apart
            // (the emulator gives every instance the same one) say so.
            let who = if original.resource_id == replacement.resource_id {
                "an instance"
            } else if i.resource_id.is_some() && i.resource_id == original.resource_id {
                "the original instance"
            } else if i.resource_id.is_some() && i.resource_id == replacement.resource_id {
                "the restored instance"
            } else {
                "another instance"
            };
            format!("{who} is named {name} ({})", i.status)
        }
        Err(e) => format!("unknown who is named {name} ({e})"),
    }
}

/// Exit 7 with what is known: who holds each of the three names, and how to go on.
async fn halfway(
    rds: &Rds,
    plan: &SwapPlan,
    original: &InstanceInfo,
    replacement: &InstanceInfo,
    what: &str,
    cause: &Error,
) -> Error {
    let mut states = Vec::new();
    for name in [&plan.aside, &plan.replacement, &plan.source] {
        states.push(holder(rds, name, original, replacement).await);
    }
    Error::RevertFailed(format!(
        "swap stopped halfway: {what}: {cause}. Now: {}. To finish: aws rds modify-db-instance \
         --db-instance-identifier {} --new-db-instance-identifier {} --apply-immediately; \
         to undo: aws rds modify-db-instance --db-instance-identifier {} \
         --new-db-instance-identifier {} --apply-immediately",
        states.join("; "),
        plan.replacement,
        plan.source,
        plan.aside,
        plan.source
    ))
}

/// Runs both renames (call [`preflight`] first, and confirm). The caller has
/// already decided this is not a dry run.
pub async fn swap(
    ctx: &Context,
    rds: &Rds,
    plan: &SwapPlan,
    original: &InstanceInfo,
    replacement: &InstanceInfo,
    timeout: Duration,
) -> Result<SwapResult> {
    let journal = ctx.journal().await?;

    // 1. SOURCE -> SOURCE-pre-restore-TS
    refuse_if_taken(rds, &plan.aside).await?;
    let change = journal.intent(
        "db.rename",
        &format!("rds:instance/{}", plan.source),
        json!({"name": plan.source, "new_name": plan.aside, "resource_id": original.resource_id}),
    )?;
    if let Err(e) = rename(rds, &plan.source, &plan.aside).await {
        change.failed(serde_json::Value::Null, e.to_string())?;
        // Did anything move? Usually not: then it is a plain AWS failure (exit 3).
        return Err(match rds::find_instance(rds, &plan.source).await {
            Ok(Some(i)) if i.status != "renaming" => {
                let Error::Aws(mut aws) = e else {
                    return Err(e);
                };
                aws.message = format!(
                    "{}; nothing was renamed: {} and {} keep their names",
                    aws.message, plan.source, plan.replacement
                );
                Error::Aws(aws)
            }
            _ => {
                halfway(
                    rds,
                    plan,
                    original,
                    replacement,
                    &format!("renaming {} to {} failed", plan.source, plan.aside),
                    &e,
                )
                .await
            }
        });
    }
    change.ok(json!({"name": plan.aside}))?;
    ctx.out.info(format!(
        "renamed {} to {}; waiting",
        plan.source, plan.aside
    ));
    let waited = async {
        wait::instance_available(ctx, rds, &plan.aside, timeout, None).await?;
        wait::instance_gone(ctx, rds, &plan.source, timeout).await
    }
    .await;
    if let Err(e) = waited {
        let what = format!("waiting for {} to become {}", plan.source, plan.aside);
        return Err(halfway(rds, plan, original, replacement, &what, &e).await);
    }

    // 2. NEW -> SOURCE
    let step2 = async {
        refuse_if_taken(rds, &plan.source).await?;
        let change = journal.intent(
            "db.rename",
            &format!("rds:instance/{}", plan.replacement),
            json!({"name": plan.replacement, "new_name": plan.source, "resource_id": replacement.resource_id}),
        )?;
        match rename(rds, &plan.replacement, &plan.source).await {
            Ok(()) => change.ok(json!({"name": plan.source}))?,
            Err(e) => {
                change.failed(serde_json::Value::Null, e.to_string())?;
                return Err(e);
            }
        }
        ctx.out.info(format!(
            "renamed {} to {}; waiting",
            plan.replacement, plan.source
        ));
        let now = wait::instance_available(ctx, rds, &plan.source, timeout, None).await?;
        wait::instance_gone(ctx, rds, &plan.replacement, timeout).await?;
        Ok(now)
    }
    .await;
    match step2 {
        Ok(now) => Ok(SwapResult {
            original_now_named: plan.aside.clone(),
            replacement_now_named: plan.source.clone(),
            endpoint: now.endpoint,
        }),
        Err(e) => {
            let what = format!("renaming {} to {}", plan.replacement, plan.source);
            Err(halfway(rds, plan, original, replacement, &what, &e).await)
        }
    }
}

pub async fn run(ctx: &Context, args: &SwapArgs) -> Result<()> {
    let plan = SwapPlan::new(&args.instance, &args.with)?;
    let rds = Rds::new(&ctx.aws().await?.config);
    let (original, replacement) = preflight(&rds, &plan).await?;
    let planned = plan.planned_calls();
    if ctx.dry_run() {
        rds::announce(&ctx.out, &planned);
        return ctx.out.result(&SwapCommandResult {
            swap: None,
            dry_run: true,
            planned,
            api_calls: rds.calls(),
        });
    }
    ctx.begin_change(&format!(
        "rename {} to {} and {} to {}",
        plan.source, plan.aside, plan.replacement, plan.source
    ))
    .await?;
    let done = swap(ctx, &rds, &plan, &original, &replacement, args.timeout.0).await?;
    ctx.out.result(&SwapCommandResult {
        swap: Some(done),
        dry_run: false,
        planned: Vec::new(),
        api_calls: rds.calls(),
    })
}
