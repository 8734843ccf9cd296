//! The rename dance behind `restore --swap` (and `db-snapshot swap`) as a small
//! journaled state machine: SOURCE becomes `<SOURCE>-pre-restore-<timestamp>`
//! (step `aside`), then the replacement becomes SOURCE (step `promote`); undoing
//! is `back` (the original returns to SOURCE) after `demote` (the replacement
//! returns to its own name).
//!
//! The next step is always decided from what the three names hold right now
//! (read back, never assumed from what was last sent), and the plan (the three
//! names) from the journal's `db.swap` record, so `db-snapshot swap --resume
//! --instance SOURCE` (or the same `swap`/`restore --swap` command re-run)
//! continues any half state: it completes the swap when the replacement is
//! available, else puts the original back. A rename whose answer was lost is
//! read back (old name gone or renaming, new name present: it happened).
//!
//! Every name is checked free right before it is taken (the emulator silently
//! destroys an instance another is renamed onto; AWS refuses).
//!
//! Signals: on the first, a step that would empty SOURCE is not started; if
//! SOURCE is empty, the step that fills it is finished (promote when the
//! replacement is available, else back), then the swap is journaled
//! `interrupted` and exits 130 with the resume command. A second signal stops at
//! once (journaled, resume command printed).

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use common::journal::{Change, Journal, Outcome};
use common::{AwsResultExt, Context, Error, HumanDuration, Poll, Render, Result, WaitOptions};

use crate::naming::{self, Kind};
use crate::rds::{self, InstanceInfo, PlannedCall, Rds};

/// The journal action of a whole swap (its steps are `db.swap.<step>`).
pub const ACTION: &str = "db.swap";

/// `db-snapshot swap`: give SOURCE's name to another instance, or resume a swap
/// that was interrupted.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "After an interrupted or failed swap (Ctrl-C, a lost connection, exit 7 or 130),\n\
run `db-snapshot swap --resume --instance SOURCE` (or the same command again): it reads the\n\
journal and the instances and completes the swap, or puts the original back under SOURCE\n\
when the replacement is not available. Add --undo to put the original back in any case."
)]
pub struct SwapArgs {
    /// The instance applications use now (it is renamed aside).
    #[arg(long, value_name = "ID")]
    pub instance: String,

    /// The instance that takes its name (e.g. the restored one). Not needed with --resume.
    #[arg(long = "with", value_name = "ID", required_unless_present = "resume")]
    pub with: Option<String>,

    /// Continue the last unfinished swap of --instance found in the journal, from
    /// whatever state the instances are in now.
    #[arg(long)]
    pub resume: bool,

    /// With --resume: put the original instance back under its name instead of
    /// completing the swap.
    #[arg(long, requires = "resume")]
    pub undo: bool,

    /// Give up waiting for each rename after this long.
    #[arg(long, default_value = "30m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

/// The names before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
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

    /// The journal target every record of this swap uses.
    pub fn target(&self) -> String {
        journal_target(&self.source)
    }
}

fn journal_target(source: &str) -> String {
    format!("rds:instance/{source}")
}

fn rename_call(from: &str, to: &str) -> PlannedCall {
    PlannedCall::new(
        "ModifyDBInstance",
        json!({"DBInstanceIdentifier": from, "NewDBInstanceIdentifier": to, "ApplyImmediately": true}),
    )
}

/// The command that continues a swap of `source` from any state.
pub fn resume_command(source: &str) -> String {
    format!("db-snapshot swap --resume --instance {source}")
}

/// Where the swap is heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    /// The replacement ends up under SOURCE.
    Forward,
    /// The original ends up under SOURCE again.
    Back,
}

/// One rename of the dance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// SOURCE -> aside.
    Aside,
    /// replacement -> SOURCE.
    Promote,
    /// SOURCE (the replacement) -> its own name again.
    Demote,
    /// aside -> SOURCE (the original back).
    Back,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Aside => "aside",
            Step::Promote => "promote",
            Step::Demote => "demote",
            Step::Back => "back",
        }
    }

    fn names(self, plan: &SwapPlan) -> (&str, &str) {
        match self {
            Step::Aside => (&plan.source, &plan.aside),
            Step::Promote => (&plan.replacement, &plan.source),
            Step::Demote => (&plan.source, &plan.replacement),
            Step::Back => (&plan.aside, &plan.source),
        }
    }
}

/// What the three names hold at one moment.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub source: Option<InstanceInfo>,
    pub aside: Option<InstanceInfo>,
    pub replacement: Option<InstanceInfo>,
}

fn available(i: &Option<InstanceInfo>) -> bool {
    i.as_ref().is_some_and(|i| i.status == "available")
}

fn renaming(i: &Option<InstanceInfo>) -> bool {
    i.as_ref().is_some_and(|i| i.status == "renaming")
}

fn status(i: &Option<InstanceInfo>) -> &str {
    i.as_ref().map_or("absent", |i| i.status.as_str())
}

/// Statuses an instance does not leave on its own.
fn stuck(i: &Option<InstanceInfo>) -> bool {
    i.as_ref()
        .is_some_and(|i| crate::wait::STUCK_STATES.contains(&i.status.as_str()))
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// SOURCE holds what the goal wants, available.
    Done,
    /// A signal arrived and SOURCE is held by an available instance: stop here.
    Stop,
    Act(Step),
    /// A rename or a status change is settling; look again.
    Wait(String),
    /// No step leads on from here without a person.
    Stuck(String),
}

/// The next step from what the names hold (pure, so each half state is tested).
/// After a signal (`cancelled`) no step that empties SOURCE is started.
pub fn decide(seen: &Seen, goal: Goal, cancelled: bool) -> Next {
    let (s, a, r) = (&seen.source, &seen.aside, &seen.replacement);
    for (what, i) in [("source", s), ("aside", a), ("replacement", r)] {
        if renaming(i) {
            return Next::Wait(format!("the {what} name is being renamed"));
        }
    }
    match (goal, s.is_some(), a.is_some(), r.is_some()) {
        // The replacement is under SOURCE, the original aside.
        (Goal::Forward, true, true, false) if available(s) => Next::Done,
        // The original is under SOURCE, the replacement under its own name.
        (Goal::Back, true, false, true) if available(s) => Next::Done,
        _ if cancelled && available(s) => Next::Stop,
        (Goal::Forward, true, true, false) | (Goal::Back, true, false, true) => {
            Next::Wait(format!("SOURCE is {}", status(s)))
        }
        (Goal::Forward, true, false, true) => {
            if available(r) && available(s) {
                Next::Act(Step::Aside)
            } else if stuck(r) {
                Next::Stuck(format!(
                    "the replacement is {}; it will not become available",
                    status(r)
                ))
            } else {
                Next::Wait(format!(
                    "SOURCE is {}, the replacement {}",
                    status(s),
                    status(r)
                ))
            }
        }
        // SOURCE is empty: fill it, with the replacement if it can serve.
        (Goal::Forward, false, true, true) => {
            if available(r) {
                Next::Act(Step::Promote)
            } else if (stuck(r) || cancelled) && available(a) {
                Next::Act(Step::Back)
            } else {
                Next::Wait(format!(
                    "the replacement is {}, the original {}",
                    status(r),
                    status(a)
                ))
            }
        }
        // RDS refuses to rename an instance that is not available.
        (Goal::Back, false, true, true) if available(a) => Next::Act(Step::Back),
        (Goal::Back, true, true, false) if available(s) => Next::Act(Step::Demote),
        (Goal::Back, false, true, true) | (Goal::Back, true, true, false) => Next::Wait(format!(
            "the original is {}, SOURCE {}",
            status(a),
            status(s)
        )),
        // One name vanished and its new one is not visible yet: a rename settling.
        (_, false, false, true) | (_, false, true, false) => Next::Wait(
            "a rename is settling (an old name is gone, its new one not yet visible)".into(),
        ),
        _ => Next::Stuck(format!(
            "unexpected names: SOURCE {}, aside {}, replacement {}",
            status(s),
            status(a),
            status(r)
        )),
    }
}

/// What the swap did.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct SwapResult {
    /// The original instance's name now.
    pub original_now_named: String,
    /// The replacement's name now (the source's old name after a swap).
    pub replacement_now_named: String,
    pub endpoint: Option<rds::Endpoint>,
}

/// One name and what holds it, for the inventory printed when a person is needed.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct NameHolder {
    pub name: String,
    /// `original`, `replacement`, `an instance` (cannot tell) or null (free).
    pub holder: Option<String>,
    pub status: Option<String>,
}

/// Which instance holds which name, and how to go on.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Inventory {
    pub names: Vec<NameHolder>,
    /// Completes the swap, or puts the original back if the replacement cannot serve.
    pub resume: String,
    /// Puts the original back under SOURCE.
    pub undo: String,
}

impl Inventory {
    fn text(&self) -> String {
        self.names
            .iter()
            .map(|n| match (&n.holder, &n.status) {
                (Some(h), Some(s)) => format!("{h} is named {} ({s})", n.name),
                _ => format!("nothing is named {}", n.name),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The JSON printed on stdout when a swap stops short (exit 7 or 130).
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct SwapStopped {
    pub outcome: &'static str,
    pub plan: SwapPlan,
    pub inventory: Inventory,
    pub message: String,
}

impl Render for SwapStopped {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(w, "swap {}: {}", self.outcome, self.inventory.text())?;
        writeln!(w, "to continue: {}", self.inventory.resume)?;
        writeln!(w, "to undo: {}", self.inventory.undo)
    }
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct SwapCommandResult {
    #[serde(flatten)]
    pub swap: Option<SwapResult>,
    /// True when this run continued an earlier, unfinished swap.
    pub resumed: bool,
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
                "{} serves as {}; the original is {}",
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
    if let Some(i) = rds::find_instance(rds, &plan.aside).await? {
        return Err(Error::usage(format!(
            "the name {} is already taken by an instance ({}); refusing to rename onto it",
            plan.aside, i.status
        )));
    }
    Ok((source, replacement))
}

/// The last swap of `source` in the journal that did not finish (no outcome,
/// or interrupted, unknown or needing a person): its plan and goal.
pub fn unfinished(journal: &Journal, source: &str) -> Result<Option<(SwapPlan, Goal, Ids)>> {
    let target = journal_target(source);
    let Some(last) = journal
        .records(|e| e.action == ACTION && e.target == target)?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let finished = last
        .outcome
        .as_ref()
        .and_then(|o| o.outcome)
        .is_some_and(|o| matches!(o, Outcome::Ok | Outcome::Reverted | Outcome::Failed));
    if finished {
        return Ok(None);
    }
    let before = &last.intent.before;
    let plan: SwapPlan = serde_json::from_value(before["plan"].clone()).map_err(|e| {
        Error::Internal(format!(
            "journal record {} of the swap of {source} has no readable plan: {e}",
            last.intent.id
        ))
    })?;
    let goal = serde_json::from_value(before["goal"].clone()).unwrap_or(Goal::Forward);
    let ids = serde_json::from_value(before["ids"].clone()).unwrap_or_default();
    Ok(Some((plan, goal, ids)))
}

/// The instances' resource ids (they survive renames on AWS; the emulator gives
/// every instance the same one), to name who holds which name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ids {
    pub original: Option<String>,
    pub replacement: Option<String>,
}

impl Ids {
    pub fn of(original: &InstanceInfo, replacement: &InstanceInfo) -> Self {
        Ids {
            original: original.resource_id.clone(),
            replacement: replacement.resource_id.clone(),
        }
    }

    fn who(&self, i: &InstanceInfo) -> &'static str {
        if self.original == self.replacement {
            "an instance"
        } else if i.resource_id.is_some() && i.resource_id == self.original {
            "the original instance"
        } else if i.resource_id.is_some() && i.resource_id == self.replacement {
            "the restored instance"
        } else {
            "another instance"
        }
    }
}

async fn look(rds: &Rds, plan: &SwapPlan) -> Result<Seen> {
    Ok(Seen {
        aside: rds::find_instance(rds, &plan.aside).await?,
        replacement: rds::find_instance(rds, &plan.replacement).await?,
        source: rds::find_instance(rds, &plan.source).await?,
    })
}

fn inventory(plan: &SwapPlan, ids: &Ids, seen: &Seen) -> Inventory {
    let names = [
        (&plan.source, &seen.source),
        (&plan.aside, &seen.aside),
        (&plan.replacement, &seen.replacement),
    ]
    .into_iter()
    .map(|(name, i)| NameHolder {
        name: name.clone(),
        holder: i.as_ref().map(|i| ids.who(i).to_owned()),
        status: i.as_ref().map(|i| i.status.clone()),
    })
    .collect();
    Inventory {
        names,
        resume: resume_command(&plan.source),
        undo: format!("{} --undo", resume_command(&plan.source)),
    }
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

/// Why a step did not happen.
enum StepError {
    /// RDS refused and the read-back shows nothing moved.
    Refused(Error),
    /// The answer was lost and the read-back could not decide.
    Unknown(String),
}

/// One rename, journaled; a failed call is read back before anything is decided.
async fn step(
    ctx: &Context,
    rds: &Rds,
    journal: &Journal,
    plan: &SwapPlan,
    step: Step,
) -> Result<std::result::Result<(), StepError>> {
    let (from, to) = step.names(plan);
    let change = journal.intent(
        &format!("{ACTION}.{}", step.name()),
        &plan.target(),
        json!({"name": from, "new_name": to}),
    )?;
    ctx.out
        .info(format!("{} step: renaming {from} to {to}", step.name()));
    let Err(e) = rename(rds, from, to).await else {
        change.ok(json!({"name": to}))?;
        return Ok(Ok(()));
    };
    // A lost answer (a 5xx or reset after RDS took the request, or the SDK's
    // retry refused because the first attempt already renamed) looks like a
    // failure: what the names hold now decides.
    let read_once = || async {
        Ok::<_, Error>((
            rds::find_instance(rds, from).await?,
            rds::find_instance(rds, to).await?,
        ))
    };
    let mut read = read_once().await;
    // A 5xx or no answer at all may mean RDS took the request and shows it a
    // moment later: look once more before calling it refused.
    let ambiguous = match &e {
        Error::Aws(a) => a.status.is_none_or(|s| s >= 500),
        _ => true,
    };
    if ambiguous && matches!(&read, Ok((Some(old), None)) if old.status != "renaming") {
        tokio::time::sleep(Duration::from_secs(5)).await;
        read = read_once().await;
    }
    match read {
        Ok((old, new)) if new.is_some() || old.is_none() || renaming(&old) => {
            ctx.out.warn(format!(
                "the answer to renaming {from} to {to} was lost ({e}), but reading back shows it happened"
            ));
            change.ok(json!({"name": to, "read_back": true, "lost_answer": e.to_string()}))?;
            Ok(Ok(()))
        }
        Ok(_) => {
            change.failed(json!({"name": from}), e.to_string())?;
            Ok(Err(StepError::Refused(e)))
        }
        Err(read_err) => {
            let msg = format!(
                "renaming {from} to {to} got no clear answer ({e}) and reading back failed ({read_err}); \
                 check with: aws rds describe-db-instances --db-instance-identifier {to}"
            );
            change.unknown(serde_json::Value::Null, msg.clone())?;
            Ok(Err(StepError::Unknown(msg)))
        }
    }
}

/// Looks at the names until a step can be taken, the goal is reached, or a
/// person is needed. A signal interrupts the wait so the caller can re-decide.
async fn next(
    ctx: &Context,
    rds: &Rds,
    plan: &SwapPlan,
    goal: Goal,
    timeout: Duration,
    last: &mut Seen,
) -> Result<Next> {
    let cancelled = ctx.cancel().is_cancelled();
    let opts = WaitOptions::new(format!("the swap of {}", plan.source), timeout)
        .reattach(resume_command(&plan.source));
    let seen_cell = std::cell::RefCell::new(None);
    let poll = common::poll_until(&ctx.out, &opts, || async {
        let seen = look(rds, plan).await?;
        let n = decide(&seen, goal, cancelled);
        *seen_cell.borrow_mut() = Some(seen);
        Ok(match n {
            Next::Wait(why) => Poll::Pending(why),
            n => Poll::Done(n),
        })
    });
    let cancel = ctx.cancel();
    let r = if cancelled {
        tokio::select! {
            biased;
            () = cancel.hard_cancelled() => Err(Error::Interrupted),
            r = poll => r,
        }
    } else {
        tokio::select! {
            biased;
            // Re-decide with the signal in mind (see `decide`).
            () = cancel.cancelled() => Ok(Next::Wait("signal".into())),
            r = poll => r,
        }
    };
    if let Some(seen) = seen_cell.into_inner() {
        *last = seen;
    }
    r
}

/// Runs the swap (or its undo) to the end from whatever state the names are in.
/// The caller has confirmed the change and decided this is not a dry run.
pub async fn drive(
    ctx: &Context,
    rds: &Rds,
    plan: &SwapPlan,
    ids: &Ids,
    goal: Goal,
    timeout: Duration,
    resumed: bool,
) -> Result<SwapResult> {
    let journal = ctx.journal().await?;
    let whole = journal.intent(
        ACTION,
        &plan.target(),
        json!({"plan": plan, "goal": goal, "ids": ids, "resumed": resumed}),
    )?;
    let mut goal_now = goal;
    let mut renamed = false;
    let mut last = Seen::default();
    let stop = |seen: &Seen, outcome: &'static str, message: String| -> Result<Inventory> {
        let inv = inventory(plan, ids, seen);
        ctx.out.result(&SwapStopped {
            outcome,
            plan: plan.clone(),
            inventory: inv.clone(),
            message,
        })?;
        Ok(inv)
    };
    // Stopped by a signal: the inventory as last seen, the journal's outcome
    // and the warning all say `msg`.
    let interrupted = |whole: Change, seen: &Seen, msg: String| -> Result<SwapResult> {
        let inv = stop(seen, "interrupted", msg.clone())?;
        whole.interrupted(serde_json::to_value(&inv).unwrap_or_default(), msg.clone())?;
        ctx.out.warn(msg);
        Err(Error::Interrupted)
    };
    loop {
        let n = match next(ctx, rds, plan, goal_now, timeout, &mut last).await {
            Ok(Next::Wait(_)) => continue,
            Ok(n) => n,
            Err(Error::Interrupted) => {
                // Second signal: stop at once, with what was seen last.
                let msg = format!(
                    "stopped at once on a second signal; as last seen: {}; continue with: {}",
                    inventory(plan, ids, &last).text(),
                    resume_command(&plan.source)
                );
                return interrupted(whole, &last, msg);
            }
            Err(e) if !renamed && !resumed => {
                // Nothing renamed yet (a fresh swap): the names could not be
                // read, or the instances did not settle in time.
                whole.failed(serde_json::Value::Null, e.to_string())?;
                return Err(e);
            }
            Err(e) => {
                return Err(human(ctx, rds, plan, ids, whole, &e.to_string()).await);
            }
        };
        match n {
            Next::Done => {
                let holder = last.source.clone();
                let result = match goal_now {
                    Goal::Forward => SwapResult {
                        original_now_named: plan.aside.clone(),
                        replacement_now_named: plan.source.clone(),
                        endpoint: holder.and_then(|i| i.endpoint),
                    },
                    Goal::Back => SwapResult {
                        original_now_named: plan.source.clone(),
                        replacement_now_named: plan.replacement.clone(),
                        endpoint: holder.and_then(|i| i.endpoint),
                    },
                };
                let after = json!({"source_holds": if goal_now == Goal::Forward { "replacement" } else { "original" }});
                if goal_now == goal && ctx.cancel().is_cancelled() {
                    // The step in flight completed it; still a stop on a signal.
                    let msg = format!(
                        "interrupted after the {} of {} completed ({} serves under it); `{}` records it as done",
                        if goal == Goal::Forward {
                            "swap"
                        } else {
                            "undo"
                        },
                        plan.source,
                        if goal == Goal::Forward {
                            "the replacement"
                        } else {
                            "the original"
                        },
                        resume_command(&plan.source)
                    );
                    return interrupted(whole, &last, msg);
                }
                if goal_now == goal {
                    match goal {
                        Goal::Forward => whole.ok(after)?,
                        Goal::Back => whole.finish(Outcome::Reverted, after, None)?,
                    }
                    return Ok(result);
                }
                // Fell back: the original is under SOURCE again.
                if ctx.cancel().is_cancelled() {
                    let msg = format!(
                        "interrupted: the original is back under {}; to swap again: {}",
                        plan.source,
                        resume_command(&plan.source)
                    );
                    return interrupted(whole, &last, msg);
                }
                let msg = format!(
                    "the replacement {} could not serve ({}); the original is back under {}",
                    plan.replacement,
                    status(&last.replacement),
                    plan.source
                );
                whole.finish(Outcome::Reverted, after, Some(msg.clone()))?;
                return Err(Error::Reverted(msg));
            }
            Next::Stop => {
                let msg = format!(
                    "interrupted with {} serving under {}; continue with: {}",
                    if renamed || goal_now == Goal::Back {
                        "an available instance"
                    } else {
                        "the original instance"
                    },
                    plan.source,
                    resume_command(&plan.source)
                );
                return interrupted(whole, &last, msg);
            }
            Next::Stuck(why) => {
                return Err(human(ctx, rds, plan, ids, whole, &why).await);
            }
            Next::Wait(_) => continue,
            Next::Act(s) => {
                if s == Step::Back || s == Step::Demote {
                    goal_now = Goal::Back;
                }
                if s == Step::Back && goal == Goal::Forward {
                    ctx.out.warn(format!(
                        "the replacement {} is {}: putting the original back under {}",
                        plan.replacement,
                        status(&last.replacement),
                        plan.source
                    ));
                }
                match step(ctx, rds, journal, plan, s).await? {
                    Ok(()) => renamed = true,
                    Err(StepError::Refused(e)) if !renamed && s == Step::Aside => {
                        // Nothing moved: a plain AWS failure.
                        let msg = format!(
                            "{e}; nothing was renamed: {} and {} keep their names",
                            plan.source, plan.replacement
                        );
                        whole.failed(serde_json::Value::Null, msg)?;
                        return Err(match e {
                            Error::Aws(mut aws) => {
                                aws.message = format!(
                                    "{}; nothing was renamed: {} and {} keep their names",
                                    aws.message, plan.source, plan.replacement
                                );
                                Error::Aws(aws)
                            }
                            e => e,
                        });
                    }
                    Err(StepError::Refused(e)) => {
                        let (from, to) = s.names(plan);
                        let what = format!("renaming {from} to {to} failed: {e}");
                        return Err(human(ctx, rds, plan, ids, whole, &what).await);
                    }
                    Err(StepError::Unknown(msg)) => {
                        return Err(human(ctx, rds, plan, ids, whole, &msg).await);
                    }
                }
            }
        }
    }
}

/// Exit 7: the inventory (read now), the resume and undo commands, and the raw
/// AWS commands, in the message, the journal and the JSON on stdout.
async fn human(
    ctx: &Context,
    rds: &Rds,
    plan: &SwapPlan,
    ids: &Ids,
    whole: common::journal::Change<'_>,
    what: &str,
) -> Error {
    let seen = look(rds, plan).await;
    let inv = match &seen {
        Ok(seen) => inventory(plan, ids, seen),
        Err(_) => inventory(plan, ids, &Seen::default()),
    };
    let now = match &seen {
        Ok(_) => inv.text(),
        Err(e) => format!("unknown who holds the names ({e})"),
    };
    let msg = format!(
        "swap stopped halfway: {what}. Now: {now}. To finish (or put the original back if the \
         replacement cannot serve): {}; to undo: {}. By hand: aws rds modify-db-instance \
         --db-instance-identifier {} --new-db-instance-identifier {} --apply-immediately \
         (finish), or --db-instance-identifier {} --new-db-instance-identifier {} (undo)",
        inv.resume, inv.undo, plan.replacement, plan.source, plan.aside, plan.source
    );
    if let Err(e) = ctx.out.result(&SwapStopped {
        outcome: "human-needed",
        plan: plan.clone(),
        inventory: inv.clone(),
        message: msg.clone(),
    }) {
        ctx.out.warn(format!("could not print the result: {e}"));
    }
    if let Err(e) = whole.finish(
        Outcome::RevertFailed,
        serde_json::to_value(&inv).unwrap_or_default(),
        Some(msg.clone()),
    ) {
        ctx.out.warn(format!("could not journal the outcome: {e}"));
    }
    Error::RevertFailed(msg)
}

/// A fresh swap: preflight, then [`drive`] forward.
pub async fn swap(
    ctx: &Context,
    rds: &Rds,
    plan: &SwapPlan,
    original: &InstanceInfo,
    replacement: &InstanceInfo,
    timeout: Duration,
) -> Result<SwapResult> {
    let ids = Ids::of(original, replacement);
    drive(ctx, rds, plan, &ids, Goal::Forward, timeout, false).await
}

/// Continues the unfinished swap of `source` (from the journal) toward `goal`
/// (its own goal when `None`).
pub async fn resume(
    ctx: &Context,
    rds: &Rds,
    source: &str,
    goal: Option<Goal>,
    timeout: Duration,
) -> Result<SwapCommandResult> {
    let journal = ctx.journal().await?;
    let Some((plan, was, ids)) = unfinished(journal, source)? else {
        return Err(Error::usage(format!(
            "no unfinished swap of {source} in the journal {}: nothing to resume",
            journal.path().display()
        )));
    };
    let goal = goal.unwrap_or(was);
    let seen = look(rds, &plan).await?;
    ctx.out.info(format!(
        "resuming the swap of {source} ({}): {}",
        match goal {
            Goal::Forward => format!(
                "{} takes the name, the original goes to {}",
                plan.replacement, plan.aside
            ),
            Goal::Back => "putting the original back".to_owned(),
        },
        inventory(&plan, &ids, &seen).text()
    ));
    if ctx.dry_run() {
        let n = decide(&seen, goal, false);
        ctx.out.info(format!("dry run: next would be {n:?}"));
        return Ok(SwapCommandResult {
            swap: None,
            resumed: true,
            dry_run: true,
            planned: plan.planned_calls(),
            api_calls: rds.calls(),
        });
    }
    ctx.begin_change(&format!("resume the swap of {source}"))
        .await?;
    let done = drive(ctx, rds, &plan, &ids, goal, timeout, true).await?;
    Ok(SwapCommandResult {
        swap: Some(done),
        resumed: true,
        dry_run: false,
        planned: Vec::new(),
        api_calls: rds.calls(),
    })
}

/// When `source` has an unfinished swap: resume it if it was with `replacement`,
/// else refuse (exit 2) until it is resumed or undone.
pub async fn resume_if_unfinished(
    ctx: &Context,
    rds: &Rds,
    source: &str,
    replacement: &str,
    timeout: Duration,
) -> Result<Option<SwapCommandResult>> {
    let journal = ctx.journal().await?;
    match unfinished(journal, source)? {
        None => Ok(None),
        Some((plan, _, _)) if plan.replacement == replacement => {
            ctx.out.info(format!(
                "the journal holds an unfinished swap of {source} with {replacement}: continuing it"
            ));
            resume(ctx, rds, source, None, timeout).await.map(Some)
        }
        Some((plan, _, _)) => Err(Error::usage(format!(
            "{source} has an unfinished swap with {} (aside name {}); finish it first with `{}` \
             or undo it with `{} --undo`",
            plan.replacement,
            plan.aside,
            resume_command(source),
            resume_command(source)
        ))),
    }
}

pub async fn run(ctx: &Context, args: &SwapArgs) -> Result<()> {
    naming::validate(Kind::Instance, &args.instance)?;
    if args.resume {
        if let Some(w) = &args.with {
            naming::validate(Kind::Instance, w)?;
        }
        let rds = Rds::new(&ctx.aws().await?.config);
        let goal = args.undo.then_some(Goal::Back);
        let result = resume(ctx, &rds, &args.instance, goal, args.timeout.0).await?;
        return ctx.out.result(&result);
    }
    let with = args.with.as_deref().unwrap_or_default();
    let plan = SwapPlan::new(&args.instance, with)?;
    let rds = Rds::new(&ctx.aws().await?.config);
    if let Some(result) =
        resume_if_unfinished(ctx, &rds, &plan.source, with, args.timeout.0).await?
    {
        return ctx.out.result(&result);
    }
    let (original, replacement) = preflight(&rds, &plan).await?;
    let planned = plan.planned_calls();
    if ctx.dry_run() {
        rds::announce(&ctx.out, &planned);
        return ctx.out.result(&SwapCommandResult {
            swap: None,
            resumed: false,
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
        resumed: false,
        dry_run: false,
        planned: Vec::new(),
        api_calls: rds.calls(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(status: &str) -> Option<InstanceInfo> {
        Some(InstanceInfo::from(
            &aws_sdk_rds::types::DbInstance::builder()
                .db_instance_identifier("x")
                .db_instance_status(status)
                .build(),
        ))
    }

    fn seen(s: Option<&str>, a: Option<&str>, r: Option<&str>) -> Seen {
        Seen {
            source: s.and_then(at),
            aside: a.and_then(at),
            replacement: r.and_then(at),
        }
    }

    #[test]
    fn each_half_state_has_one_next_step() {
        use Goal::{Back, Forward};
        let av = Some("available");
        let cases: Vec<(Seen, Goal, bool, Next)> = vec![
            // Nothing done yet.
            (seen(av, None, av), Forward, false, Next::Act(Step::Aside)),
            (seen(av, None, av), Forward, true, Next::Stop),
            (seen(av, None, av), Back, false, Next::Done),
            // SOURCE empty: fill it.
            (seen(None, av, av), Forward, false, Next::Act(Step::Promote)),
            (seen(None, av, av), Forward, true, Next::Act(Step::Promote)),
            (
                seen(None, av, Some("failed")),
                Forward,
                false,
                Next::Act(Step::Back),
            ),
            (
                seen(None, av, Some("modifying")),
                Forward,
                true,
                Next::Act(Step::Back),
            ),
            (seen(None, av, av), Back, false, Next::Act(Step::Back)),
            // Swapped.
            (seen(av, av, None), Forward, false, Next::Done),
            (seen(av, av, None), Forward, true, Next::Done),
            (seen(av, av, None), Back, false, Next::Act(Step::Demote)),
            (seen(av, av, None), Back, true, Next::Stop),
        ];
        for (s, goal, cancelled, want) in cases {
            assert_eq!(
                decide(&s, goal, cancelled),
                want,
                "{s:?} {goal:?} {cancelled}"
            );
        }
        // Settling or busy: wait.
        for s in [
            seen(None, None, av),
            seen(None, av, None),
            seen(Some("renaming"), None, av),
            seen(None, av, Some("modifying")),
            seen(None, Some("backing-up"), Some("modifying")),
        ] {
            assert!(
                matches!(decide(&s, Goal::Forward, false), Next::Wait(_)),
                "{s:?}"
            );
        }
        // A busy original is not renamed even after a signal.
        assert!(matches!(
            decide(
                &seen(None, Some("backing-up"), Some("creating")),
                Goal::Forward,
                true
            ),
            Next::Wait(_)
        ));
        // Three instances, or none: a person decides.
        assert!(matches!(
            decide(&seen(av, av, av), Goal::Forward, false),
            Next::Stuck(_)
        ));
        assert!(matches!(
            decide(&seen(None, None, None), Goal::Forward, false),
            Next::Stuck(_)
        ));
    }
}
