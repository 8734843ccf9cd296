//! The gradual-shift engine that `dns-shift shift` (Route 53 weights) and
//! `lb-switch shift` (target-group weights of a load balancer's forward action)
//! share: steps, bake times, gates, revert on failure or signal, events and the
//! journal. A binary supplies a [`ShiftTarget`]: how weights are read, written
//! (only if the live state is still exactly the state they were read from) and
//! described; everything else is here, once.
//!
//! Each step: gates (unless fast track), a fresh read, one conditional write,
//! a wait until the change is live where the service has one (Route 53 INSYNC),
//! bake. After the last step the gates run once more, so the last bake is
//! checked too. A failing gate, an error or a signal (SIGINT, SIGTERM, SIGHUP
//! through `ctx.cancel()`) after the first change reverts to the starting
//! weights (at once, or back through the steps with [`RevertMode::Gradual`]) and
//! exits 6; a revert that fails exits 7 and prints the weights now live. A gate
//! failing before any change exits 4 with nothing changed; a signal then exits
//! 130. A second signal stops a revert at once (exit 7, journaled
//! `interrupted`, with the commands to check and undo).
//!
//! Someone else's change is never overwritten: when the fresh read shows
//! weights this shift did not write, or the conditional write is rejected, the
//! shift stops (exit 4, `stopped-conflict`) and reports the state as it now is;
//! it reverts its own earlier steps only while the live state still shows them,
//! and that revert is conditional too.
//!
//! stdout is a stream of JSON lines (`start`, `gate`, `step`, `revert`) ending
//! with a `summary` line that counts the AWS calls made: [`ShiftEvent`], with
//! the fields a binary adds typed by its [`ShiftTarget`] (so each binary's
//! `docs/schema/<binary>/shift.events.schema.json` is generated from types).
//!
//! The weight arithmetic (no AWS in it) is here too: shares, the weights of each
//! step, step parsing. How a step maps to weights:
//! - The working total is the sum of the starting weights, kept as it is when it
//!   lies in 100..=max (max: 255 for Route 53, 999 for a forward action). A
//!   smaller total is raised to 100 (so 10 % steps are representable) and a
//!   larger one lowered to max (so 100 % fits in one weight).
//! - At step `p` % the target gets `round(total * p / 100)`.
//! - The remainder is split among the *other* entries that carried weight at the
//!   start, in proportion to their starting weights (largest-remainder rounding,
//!   ties to the id that sorts first), so the weights always add up to the
//!   working total exactly.
//! - Entries at weight 0 at the start (a maintenance set, a drained group) stay at 0.
//!
//! Every step is computed from the starting weights, never from the previous
//! step, so rounding does not drift and a revert goes back to the exact start.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::gate::{AlarmSpec, GateResult, Gates};
use crate::journal::{Change, Outcome};
use crate::{Context, Error, Output, Result};

// ---------------------------------------------------------------------------
// Weight arithmetic

/// Weight per identifier (a set id, a target group name), ordered by identifier.
pub type Weights = BTreeMap<String, u32>;

/// Parses `--steps`: percentages of the total, strictly increasing, each in
/// 1..=100, the last exactly 100 (a shift ends with all traffic on the target).
pub fn parse_steps(raw: &str) -> std::result::Result<Vec<u8>, String> {
    let mut steps: Vec<u8> = Vec::new();
    for part in raw.split(',') {
        let p = part.trim().trim_end_matches('%');
        let n: i128 = p
            .parse()
            .map_err(|_| format!("--steps: {} is not a whole percentage", crate::quote(part)))?;
        if !(1..=100).contains(&n) {
            return Err(format!("--steps: each step must be 1..100, got {n}"));
        }
        let n = n as u8;
        if let Some(&prev) = steps.last()
            && n <= prev
        {
            return Err(format!(
                "--steps must be strictly increasing: {n} follows {prev}"
            ));
        }
        steps.push(n);
    }
    match steps.last() {
        Some(100) => Ok(steps),
        Some(last) => Err(format!(
            "--steps must end at 100 (all traffic on the target), last is {last}"
        )),
        None => Err("--steps is empty".into()),
    }
}

pub fn total(weights: &Weights) -> u32 {
    weights.values().sum()
}

/// Each entry's share of traffic in percent. With every weight at 0 each gets
/// an equal share (Route 53 answers for all sets with equal probability).
pub fn shares(weights: &Weights) -> BTreeMap<String, f64> {
    let t = total(weights);
    let n = weights.len();
    weights
        .iter()
        .map(|(id, &w)| {
            let share = if t == 0 {
                if n == 0 { 0.0 } else { 100.0 / n as f64 }
            } else {
                100.0 * f64::from(w) / f64::from(t)
            };
            (id.clone(), round2(share))
        })
        .collect()
}

/// One entry's share of traffic in percent (0 for an unknown id).
pub fn share_of(weights: &Weights, id: &str) -> f64 {
    shares(weights).get(id).copied().unwrap_or(0.0)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The total that step weights add up to (see the module comment).
pub fn working_total(start_total: u32, max_weight: u32) -> u32 {
    start_total.clamp(100, max_weight.max(100))
}

/// The weights that put `pct` % of traffic on `target`, computed from `start`,
/// no weight above `max_weight`.
pub fn weights_at(
    start: &Weights,
    target: &str,
    pct: u8,
    max_weight: u32,
) -> std::result::Result<Weights, String> {
    if !start.contains_key(target) {
        return Err(format!("no weighted set {target:?}"));
    }
    if pct > 100 {
        return Err(format!("{pct} % is more than 100 %"));
    }
    let w_total = working_total(total(start), max_weight);
    let target_w = (w_total * u32::from(pct) + 50) / 100;
    let remainder = w_total - target_w;

    let others: Vec<(&String, u32)> = start
        .iter()
        .filter(|(id, w)| id.as_str() != target && **w > 0)
        .map(|(id, w)| (id, *w))
        .collect();
    let others_sum: u32 = others.iter().map(|(_, w)| w).sum();
    if remainder > 0 && others_sum == 0 {
        return Err(format!(
            "no other set carries weight to take the remaining {} %",
            100 - pct
        ));
    }

    let mut out: Weights = start.keys().map(|id| (id.clone(), 0)).collect();
    out.insert(target.to_owned(), target_w);
    if remainder > 0 {
        // Largest-remainder split of `remainder` by the starting weights.
        let mut parts: Vec<(&String, u32, u32)> = others
            .iter()
            .map(|(id, w)| {
                let num = remainder * w;
                (*id, num / others_sum, num % others_sum)
            })
            .collect();
        let given: u32 = parts.iter().map(|p| p.1).sum();
        let mut left = remainder - given;
        let mut order: Vec<usize> = (0..parts.len()).collect();
        // Stable sort: equal fractions keep identifier order.
        order.sort_by(|&a, &b| parts[b].2.cmp(&parts[a].2));
        for i in order {
            if left == 0 {
                break;
            }
            parts[i].1 += 1;
            left -= 1;
        }
        for (id, w, _) in parts {
            out.insert(id.clone(), w);
        }
    }
    Ok(out)
}

/// One step of a planned shift.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Step {
    /// Requested share of the target, in percent.
    pub pct: u8,
    pub weights: Weights,
}

/// The steps that actually move traffic: steps at or below the target's current
/// share are skipped (a shift only ever increases), and so is a step whose
/// weights equal the previous ones.
pub fn plan_shift(
    start: &Weights,
    target: &str,
    steps: &[u8],
    max_weight: u32,
) -> std::result::Result<Vec<Step>, String> {
    if !start.contains_key(target) {
        return Err(format!("no weighted set {target:?}"));
    }
    let current = share_of(start, target);
    let mut planned: Vec<Step> = Vec::new();
    for &pct in steps {
        if f64::from(pct) <= current + 1e-9 {
            continue;
        }
        let weights = weights_at(start, target, pct, max_weight)?;
        let prev = planned.last().map(|s| &s.weights).unwrap_or(start);
        if &weights == prev {
            continue;
        }
        planned.push(Step { pct, weights });
    }
    Ok(planned)
}

/// The entries whose weight differs between `from` and `to`.
pub fn changed_sets(from: &Weights, to: &Weights) -> Vec<String> {
    to.iter()
        .filter(|(id, w)| from.get(*id) != Some(*w))
        .map(|(id, _)| id.clone())
        .collect()
}

/// `blue=90 green=10` for messages.
pub fn describe(weights: &Weights) -> String {
    weights
        .iter()
        .map(|(id, w)| format!("{id}={w}"))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------
// What a binary supplies

/// The words a binary's messages, events and journal entries use.
#[derive(Debug, Clone)]
pub struct Words {
    /// The binary (`dns-shift`), in change comments.
    pub command: &'static str,
    /// Journal action prefix (`dns` gives `dns.shift`, `dns.shift.step`, `dns.shift.revert`).
    pub action: &'static str,
    /// Prefix of the gate commands' environment (`DNS_SHIFT` gives `DNS_SHIFT_PERCENT` ...).
    pub env_prefix: &'static str,
    /// The service that accepts or rejects the writes (`Route 53`).
    pub service: &'static str,
    /// What is shifted (`record`, `listener`).
    pub thing: &'static str,
    /// The word for a change being live everywhere (`INSYNC`).
    pub settled: &'static str,
    /// The journal's key of the request sent (`change_batch`; the dry-run
    /// step event's is [`ShiftTarget::Request`]'s field).
    pub request_key: &'static str,
    /// Appended to a conflict's message: how to look and how to set weights by hand.
    pub conflict_hint: &'static str,
}

/// Which of the engine's writes this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A forward step (or a single change such as `set`).
    Step,
    /// A revert: writes every entry with its weight.
    Revert,
}

/// What a conditional write did.
#[derive(Debug)]
pub enum Written {
    /// Sent and accepted; live once the change with this id has settled.
    Sent(String),
    /// Sent and accepted; live at once (no change id to wait for).
    Live,
    /// Already applied (an answer lost and its retry rejected): nothing to wait for.
    AlreadyLive,
}

/// Why a conditional write did not go through.
#[derive(Debug)]
pub enum WriteError<S> {
    /// The live state differs from the state the write was conditional on:
    /// nothing was written; here is the state as it now is.
    Conflict(Box<S>),
    /// The write failed and a read-back shows the state exactly as it was:
    /// nothing of it was applied (a refusal such as AccessDenied). Journaled
    /// with that state as `after`, so an undo can tell it changed nothing.
    Unchanged(Error),
    /// Any other failure; whether anything was applied is not known.
    Failed(Error),
}

impl<S> From<Error> for WriteError<S> {
    fn from(e: Error) -> Self {
        WriteError::Failed(e)
    }
}

/// How weights are read, written and described for one shift (one Route 53
/// record, one listener's forward action).
#[allow(async_fn_in_trait)]
pub trait ShiftTarget {
    /// What one read returns: the weights and whatever else a conditional write
    /// needs (the record sets as read, the rule's whole action).
    type State: Clone;
    /// Fields naming what is shifted, first in `start` and `summary` events
    /// (flattened: a struct).
    type Identity: serde::Serialize + schemars::JsonSchema;
    /// The binary's own gate settings, in the `start` event's `gates` and the
    /// journal (flattened: a struct).
    type ExtraGates: serde::Serialize + schemars::JsonSchema;
    /// AWS call counts, last in the `summary` event (flattened: a struct).
    type Calls: serde::Serialize + schemars::JsonSchema;
    /// A step's milliseconds until live everywhere, under the binary's key
    /// (`insync_ms`; flattened: a struct of one field).
    type Settled: serde::Serialize + schemars::JsonSchema + From<u64>;
    /// The request a dry-run step would send ([`ShiftTarget::request`]),
    /// under the binary's key (`change_batch`; flattened: a struct of one field).
    type Request: serde::Serialize + schemars::JsonSchema + From<Option<Value>>;

    fn words(&self) -> &Words;
    /// The name in messages (`www.example.com.`, a listener's ARN).
    fn name(&self) -> String;
    /// The journal target.
    fn journal_target(&self) -> String;
    /// Fields naming what is shifted, first in `start` and `summary` events.
    fn identity(&self) -> Self::Identity;
    /// The gate commands' environment naming what is shifted (without the
    /// `_TO`, `_STEP`, `_PERCENT`, `_CURRENT_PERCENT` the engine adds).
    fn gate_env(&self) -> Vec<(String, String)>;
    /// The command that shows the live state (for messages after a failure).
    fn show_command(&self) -> String;
    /// The command that puts the starting weights back.
    fn undo_command(&self) -> String;

    fn weights(&self, state: &Self::State) -> Weights;
    fn with_weights(&self, state: &Self::State, weights: &Weights) -> Self::State;
    fn state_json(&self, state: &Self::State) -> Value;

    /// Reads the live state.
    async fn read(&self) -> Result<Self::State>;
    /// The request a write from `basis` to `weights` would send (journal and
    /// dry run); `None` when nothing would change.
    fn request(
        &self,
        basis: &Self::State,
        weights: &Weights,
        kind: WriteKind,
        comment: &str,
    ) -> Option<Value>;
    /// Writes `weights` only if the live state is still exactly `basis`.
    async fn write(
        &self,
        basis: &Self::State,
        weights: &Weights,
        kind: WriteKind,
        comment: &str,
    ) -> std::result::Result<Written, WriteError<Self::State>>;
    /// Waits until the change `id` (from [`Written::Sent`]) is live everywhere.
    async fn settle(&self, out: &Output, id: &str, timeout: Duration) -> Result<()>;

    /// Gates of the binary's own, checked after the commands and alarms.
    async fn extra_gates(&self) -> Vec<GateResult> {
        Vec::new()
    }
    /// Whether [`ShiftTarget::extra_gates`] checks anything.
    fn has_extra_gates(&self) -> bool {
        false
    }
    /// Fields describing those gates (start event, journal).
    fn extra_gate_fields(&self) -> Self::ExtraGates;
    /// AWS call counts for the summary line: JSON fields and a text.
    fn call_fields(&self) -> Self::Calls;
    fn calls_text(&self) -> String;
}

// ---------------------------------------------------------------------------
// One change: intent, conditional write, settle, outcome

/// A weight change that was made.
#[derive(Debug)]
pub struct Applied<S> {
    /// `None` when the change was live at once or already applied.
    pub change_id: Option<String>,
    /// The state as it now is.
    pub after: S,
    /// Set when the change was accepted but being live everywhere could not be
    /// confirmed (the wait ran out of time or its reads kept failing): the change
    /// is live (journaled `ok` with a note); this is the exit-5 error to end with.
    pub unconfirmed: Option<Error>,
}

/// Sends the change from `basis` (the state exactly as last read) to `new` as
/// one conditional write, journaled as `action`, and waits until it is live.
/// Someone else's change since the read: [`WriteError::Conflict`] with the state
/// as it is now, journaled as failed with it. A signal while waiting: journaled
/// `interrupted` (the change was sent) and `Error::Interrupted`.
#[allow(clippy::too_many_arguments)]
pub async fn apply<T: ShiftTarget>(
    ctx: &Context,
    target: &T,
    basis: &T::State,
    new: &Weights,
    action: &str,
    comment: &str,
    timeout: Duration,
) -> std::result::Result<Applied<T::State>, WriteError<T::State>> {
    let w = target.words();
    let request = target
        .request(basis, new, WriteKind::Step, comment)
        .ok_or_else(|| Error::Internal("apply called without a change".into()))?;
    let journal = ctx.journal().await?;
    let mut before = target.state_json(basis);
    before[w.request_key] = request;
    let change = journal.intent(action, &target.journal_target(), before)?;
    let after = target.with_weights(basis, new);
    // The write itself is never abandoned: it is one call, let finish and recorded.
    let written = match target.write(basis, new, WriteKind::Step, comment).await {
        Ok(w) => w,
        Err(WriteError::Conflict(live)) => {
            change.failed(
                target.state_json(&live),
                format!(
                    "rejected: changed by someone else since it was read (now {}); nothing of this change was applied",
                    describe(&target.weights(&live))
                ),
            )?;
            return Err(WriteError::Conflict(live));
        }
        Err(WriteError::Unchanged(e)) => {
            change.failed(target.state_json(basis), e.to_string())?;
            return Err(WriteError::Failed(e));
        }
        Err(WriteError::Failed(e)) => {
            change.failed(Value::Null, e.to_string())?;
            return Err(WriteError::Failed(e));
        }
    };
    let id = match written {
        Written::Sent(id) => id,
        Written::Live => {
            change.ok(target.state_json(&after))?;
            return Ok(Applied {
                change_id: None,
                after,
                unconfirmed: None,
            });
        }
        Written::AlreadyLive => {
            ctx.out.info(format!(
                "{}: the change was already applied (its answer was lost); {}",
                target.name(),
                describe(new)
            ));
            change.ok(target.state_json(&after))?;
            return Ok(Applied {
                change_id: None,
                after,
                unconfirmed: None,
            });
        }
    };
    ctx.out.info(format!(
        "{}: change {id} sent ({}); waiting until {}",
        target.name(),
        describe(new),
        w.settled
    ));
    let mut state = target.state_json(&after);
    state["change_id"] = Value::from(id.clone());
    let t0 = tokio::time::Instant::now();
    let waited = ctx
        .cancel()
        .run(target.settle(&ctx.out, &id, timeout))
        .await;
    match waited {
        Ok(()) => {
            change.ok(state)?;
            Ok(Applied {
                change_id: Some(id),
                after,
                unconfirmed: None,
            })
        }
        Err(Error::Interrupted) => {
            change.interrupted(
                state,
                format!(
                    "change {id} was sent; {} not confirmed; see `{}`",
                    w.settled,
                    target.show_command()
                ),
            )?;
            Err(WriteError::Failed(Error::Interrupted))
        }
        Err(e) => {
            // The change was accepted: it is live whether or not settling could be
            // seen. Never `failed`: ok with a note, and exit 5 with the re-attach.
            let show = target.show_command();
            let note = format!(
                "change {id} was accepted by {} ({}); {} not confirmed: {e}; check with `{show}`",
                w.service,
                describe(new),
                w.settled
            );
            change.finish(Outcome::Ok, state, Some(note.clone()))?;
            ctx.out.warn(note);
            let timeout = match e {
                Error::Timeout { .. } => e,
                other => Error::Timeout {
                    what: format!(
                        "change {id} to be {} (the change was accepted; the wait's reads failed: {other})",
                        w.settled
                    ),
                    waited: crate::duration::format_duration(t0.elapsed()),
                    reattach: Some(show),
                },
            };
            Ok(Applied {
                change_id: Some(id),
                after,
                unconfirmed: Some(timeout),
            })
        }
    }
}

// ---------------------------------------------------------------------------
// Events

/// One JSON line of a shift's stdout, tagged by `event` (the output layer adds
/// `ts` first, `crate::envelope::stamp_event`). Generic over the fields a
/// binary adds, which its [`ShiftTarget`] types: `I` names what is shifted
/// (`start`, `summary`), `G` its own gate settings (in `start`'s `gates`), `C`
/// its call counts (`summary`), `S` a step's time until live under the
/// binary's key (`insync_ms`), `R` a dry-run step's request under the
/// binary's key (`change_batch`). A binary names its instance (`Event`) so
/// that its tests publish the schema.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum ShiftEvent<I, G, C, S, R> {
    /// First line: what is shifted, from where, through which steps.
    Start(StartEvent<I, G>),
    /// One gate's verdict (before each step and after the last).
    Gate(GateEvent),
    /// A step applied, or with `--dry-run` the request it would send.
    Step(StepEvent<S, R>),
    /// One revert change, done or failed.
    Revert(RevertEvent),
    /// Last line: how the shift ended and the calls it made.
    Summary(SummaryEvent<I, C>),
}

/// The `start` event.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct StartEvent<I, G> {
    #[serde(flatten)]
    pub identity: I,
    /// The id traffic moves to.
    pub to: String,
    pub start_weights: Weights,
    /// Percent of traffic per id at the start.
    pub start_shares: BTreeMap<String, f64>,
    /// The steps that move traffic, with their weights.
    pub steps: Vec<Step>,
    /// Bake time after each step (`5m`).
    pub bake: String,
    pub gates: GatesEvent<G>,
    pub fast_track: bool,
    pub revert_mode: RevertMode,
    pub dry_run: bool,
}

/// The gates a shift checks (`start`'s `gates`).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct GatesEvent<G> {
    /// Gate commands that must exit 0.
    pub commands: Vec<String>,
    /// CloudWatch alarms (`name`, `prefix*`) that must not be in ALARM.
    pub alarms: Vec<String>,
    /// The binary's own gates.
    #[serde(flatten)]
    pub extra: G,
}

/// The `gate` event: one gate's verdict.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct GateEvent {
    /// `before step N` or `after the last step`.
    pub check: String,
    /// The step it was checked before (null after the last).
    pub step: Option<usize>,
    /// `command`, `alarm`, `health-check`, `target-health`.
    pub kind: String,
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// The `step` event.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct StepEvent<S, R> {
    /// 1-based.
    pub step: usize,
    /// Steps planned.
    pub of: usize,
    /// Requested share of the target, in percent.
    pub percent: u8,
    pub weights: Weights,
    /// Percent of traffic per id.
    pub shares: BTreeMap<String, f64>,
    #[serde(flatten)]
    pub outcome: StepOutcome<S, R>,
}

/// A step applied, or the request a dry run would send.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum StepOutcome<S, R> {
    Applied {
        /// The change to wait for (null when it was live at once).
        change_id: Option<String>,
        /// Time from sending the change until it was live everywhere.
        #[serde(flatten)]
        settled: S,
    },
    DryRun {
        /// Always true.
        dry_run: bool,
        /// The request the step would send (null when nothing would change).
        #[serde(flatten)]
        request: R,
    },
}

/// The `revert` event: one revert change.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct RevertEvent {
    /// `gradual revert to step N` or `revert to the starting weights`.
    pub what: String,
    /// The weights this change writes.
    pub weights: Weights,
    #[serde(flatten)]
    pub outcome: RevertOutcome,
}

/// How a revert change ended.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum RevertOutcome {
    Done {
        /// The change sent (null when it was live at once).
        change_id: Option<String>,
        /// True.
        ok: bool,
        /// False when the change was accepted but being live everywhere could
        /// not be confirmed; absent when it was.
        #[serde(skip_serializing_if = "Option::is_none")]
        insync: Option<bool>,
    },
    Failed {
        /// False.
        ok: bool,
        error: String,
    },
}

/// The `summary` event, the last line.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct SummaryEvent<I, C> {
    /// `completed`, `unchanged`, `dry-run`, `stopped`, `stopped-conflict`,
    /// `reverted`, `interrupted` or `revert-failed`.
    pub result: String,
    #[serde(flatten)]
    pub identity: I,
    pub to: String,
    pub fast_track: bool,
    pub dry_run: bool,
    pub revert_mode: RevertMode,
    pub start_weights: Weights,
    /// The weights live at the end (null when unknown).
    pub final_weights: Option<Weights>,
    pub final_shares: Option<BTreeMap<String, f64>>,
    /// The percentages of the steps planned.
    pub steps_planned: Vec<u8>,
    pub steps_applied: usize,
    /// Why the shift did not complete (null when it did).
    pub reason: Option<String>,
    pub elapsed_ms: u64,
    #[serde(flatten)]
    pub calls: C,
}

/// The event type of a [`ShiftTarget`].
pub type EventOf<T> = ShiftEvent<
    <T as ShiftTarget>::Identity,
    <T as ShiftTarget>::ExtraGates,
    <T as ShiftTarget>::Calls,
    <T as ShiftTarget>::Settled,
    <T as ShiftTarget>::Request,
>;

// ---------------------------------------------------------------------------
// The shift

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RevertMode {
    /// Straight back to the starting weights in one change.
    Immediate,
    /// Back through the steps already applied, then the starting weights.
    Gradual,
}

/// A shift's settings, validated, with its plan.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The id traffic moves to.
    pub to: String,
    /// The steps that move traffic (see [`plan_shift`]).
    pub plan: Vec<Step>,
    pub bake: Duration,
    pub gate_cmds: Vec<String>,
    pub alarms: Vec<AlarmSpec>,
    pub revert: RevertMode,
    pub fast_track: bool,
    /// How long to wait for each change to settle.
    pub timeout: Duration,
    pub gate_timeout: Duration,
}

/// Why the forward run stopped.
#[derive(Debug)]
enum Failure<S> {
    Gate(String),
    Signal(&'static str),
    Error(Error),
    /// The fresh read before a step found weights this shift did not write: stop,
    /// and do not revert (that would undo their change too, e.g. an emergency
    /// maintenance on).
    Conflict {
        expected: Weights,
        live: Box<S>,
    },
    /// Step `step`'s conditional write was rejected: the state changed between
    /// the read and the write. Nothing of that write was applied.
    Rejected {
        step: usize,
        live: Box<S>,
    },
}

#[derive(Debug)]
struct Progress {
    /// A change has been sent (whether or not it took effect).
    sent: bool,
    /// Steps applied and settled.
    applied: usize,
}

/// The state as read after a failure.
enum LiveAfter<S> {
    /// Showing weights only this shift could have left: revert from it.
    Ours(S),
    /// Showing someone else's weights: leave it.
    Others(S),
    /// The read failed.
    Unknown,
}

/// Why a revert did not reach the starting weights.
#[derive(Debug)]
enum RevertStop<S> {
    /// A conditional revert was rejected: someone else changed the state.
    Conflict(Box<S>),
    /// A second signal: stopped at once; what is where.
    Hard(String),
    Failed(Error),
}

impl<S> From<Error> for RevertStop<S> {
    fn from(e: Error) -> Self {
        RevertStop::Failed(e)
    }
}

/// Runs a shift from `start` (the state as just read) through `settings.plan`.
pub async fn run<T: ShiftTarget>(
    ctx: &Context,
    target: &T,
    cw: Option<&aws_sdk_cloudwatch::Client>,
    start: T::State,
    settings: &Settings,
) -> Result<()> {
    let s = Shift {
        ctx,
        target,
        cw,
        start_w: target.weights(&start),
        start,
        gates: Gates {
            commands: settings.gate_cmds.clone(),
            alarms: settings.alarms.clone(),
            command_timeout: settings.gate_timeout,
        },
        opts: settings,
        plan: &settings.plan,
        started: Instant::now(),
    };
    s.run().await
}

struct Shift<'a, T: ShiftTarget> {
    ctx: &'a Context,
    target: &'a T,
    cw: Option<&'a aws_sdk_cloudwatch::Client>,
    start: T::State,
    start_w: Weights,
    plan: &'a [Step],
    gates: Gates,
    opts: &'a Settings,
    started: Instant,
}

impl<T: ShiftTarget> Shift<'_, T> {
    fn w(&self) -> &Words {
        self.target.words()
    }

    fn event(&self, value: EventOf<T>, text: impl FnOnce() -> String) -> Result<()> {
        self.ctx.out.event(&value, text)
    }

    /// The `step` event of plan step `i` (0-based), applied or a dry run.
    fn step_event(
        &self,
        i: usize,
        step: &Step,
        outcome: StepOutcome<T::Settled, T::Request>,
    ) -> EventOf<T> {
        ShiftEvent::Step(StepEvent {
            step: i + 1,
            of: self.plan.len(),
            percent: step.pct,
            weights: step.weights.clone(),
            shares: shares(&step.weights),
            outcome,
        })
    }

    fn has_gates(&self) -> bool {
        !self.gates.is_empty() || self.target.has_extra_gates()
    }

    fn reason(&self, f: &Failure<T::State>) -> String {
        match f {
            Failure::Gate(m) => format!("gate failed: {m}"),
            Failure::Signal(s) => format!("{s} received"),
            Failure::Error(e) => e.to_string(),
            Failure::Conflict { expected, live } => format!(
                "the weights were changed by someone else: expected {}, found {}",
                describe(expected),
                describe(&self.target.weights(live))
            ),
            Failure::Rejected { step, live } => format!(
                "the {} was changed by someone else while step {step} was being written ({} rejected the conditional change, nothing of it was applied): found {}",
                self.w().thing,
                self.w().service,
                describe(&self.target.weights(live))
            ),
        }
    }

    fn summary(
        &self,
        result: &str,
        applied: usize,
        final_weights: Option<&Weights>,
        reason: Option<&str>,
    ) -> Result<()> {
        let v = ShiftEvent::Summary(SummaryEvent {
            result: result.to_owned(),
            identity: self.target.identity(),
            to: self.opts.to.clone(),
            fast_track: self.opts.fast_track,
            dry_run: self.ctx.dry_run(),
            revert_mode: self.opts.revert,
            start_weights: self.start_w.clone(),
            final_weights: final_weights.cloned(),
            final_shares: final_weights.map(shares),
            steps_planned: self.plan.iter().map(|s| s.pct).collect(),
            steps_applied: applied,
            reason: reason.map(str::to_owned),
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            calls: self.target.call_fields(),
        });
        let text = format!(
            "summary: {result}; {applied} of {} steps applied; weights {}; {}",
            self.plan.len(),
            final_weights
                .map(describe)
                .unwrap_or_else(|| "unknown".into()),
            self.target.calls_text()
        );
        self.event(v, || text)
    }

    /// The gates as the journal records them: the alarms counted.
    fn gates_json(&self, alarms: Value) -> Value {
        let mut g = Map::new();
        g.insert("commands".into(), json!(self.opts.gate_cmds));
        g.insert("alarms".into(), alarms);
        if let Ok(Value::Object(extra)) = serde_json::to_value(self.target.extra_gate_fields()) {
            g.extend(extra);
        }
        Value::Object(g)
    }

    async fn run(&self) -> Result<()> {
        let start_w = self.start_w.clone();
        let opts = self.opts;
        let name = self.target.name();
        let start_event = ShiftEvent::Start(StartEvent {
            identity: self.target.identity(),
            to: opts.to.clone(),
            start_weights: start_w.clone(),
            start_shares: shares(&start_w),
            steps: self.plan.to_vec(),
            bake: crate::duration::format_duration(opts.bake),
            gates: GatesEvent {
                commands: opts.gate_cmds.clone(),
                alarms: self.gates.alarms.iter().map(AlarmSpec::label).collect(),
                extra: self.target.extra_gate_fields(),
            },
            fast_track: opts.fast_track,
            revert_mode: opts.revert,
            dry_run: self.ctx.dry_run(),
        });
        self.event(start_event, || {
            format!(
                "shift {name} to {}: from {} through {} %",
                opts.to,
                describe(&start_w),
                self.plan
                    .iter()
                    .map(|s| s.pct.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        if self.plan.is_empty() {
            self.ctx.out.info(format!(
                "{} already has {} % of traffic: nothing to shift",
                opts.to,
                share_of(&start_w, &opts.to)
            ));
            return self.summary("unchanged", 0, Some(&start_w), None);
        }
        if opts.fast_track {
            self.ctx.out.warn(
                "FAST TRACK: bake times and gates are skipped; this is recorded in the journal",
            );
        }
        if self.ctx.dry_run() {
            return self.dry_run();
        }
        self.ctx
            .begin_change(&format!(
                "shift traffic on {name} to {}{}",
                opts.to,
                if opts.fast_track { " (FAST TRACK)" } else { "" }
            ))
            .await?;

        let journal = self.ctx.journal().await?;
        let mut before = self.target.state_json(&self.start);
        before["shift"] = json!({
            "to": opts.to,
            "steps": self.plan.iter().map(|s| s.pct).collect::<Vec<_>>(),
            "bake": crate::duration::format_duration(opts.bake),
            "fast_track": opts.fast_track,
            "revert": opts.revert,
            "gates": self.gates_json(json!(opts.alarms.len())),
        });
        let umbrella = journal.intent(
            &format!("{}.shift", self.w().action),
            &self.target.journal_target(),
            before,
        )?;

        let mut progress = Progress {
            sent: false,
            applied: 0,
        };
        // Not raced against the signal: the forward run observes `ctx.cancel()`
        // between steps and while it waits, and lets a change in flight finish.
        let outcome = self.forward(&mut progress).await;
        let Progress { sent, applied } = progress;
        // A first change the service refused for want of rights was never
        // applied: nothing to revert, and the exit code is the AWS error's (3),
        // not "reverted" (6).
        let sent = sent
            && !(applied == 0
                && matches!(&outcome, Err(Failure::Error(Error::Aws(e))) if crate::policy::is_denied(e)));
        let failure = match outcome {
            Ok(()) => {
                let last = self
                    .plan
                    .last()
                    .map(|s| s.weights.clone())
                    .unwrap_or_default();
                umbrella.ok(self
                    .target
                    .state_json(&self.target.with_weights(&self.start, &last)))?;
                self.summary("completed", applied, Some(&last), None)?;
                return Ok(());
            }
            Err(f) => f,
        };
        let reason = self.reason(&failure);
        let after_signal = matches!(failure, Failure::Signal(_));
        let start_json = self.target.state_json(&self.start);
        // Where the revert starts from: the state as read now, when it shows
        // only what this shift wrote.
        let basis = match failure {
            Failure::Conflict { live, .. } => {
                let msg = format!("{reason}; stopped after {applied} step(s) without reverting");
                return self.stop_for_conflict(umbrella, applied, &live, msg);
            }
            Failure::Rejected { live, .. } => {
                // Our earlier steps are reverted only while the state still shows
                // them (someone changed another field, say a TTL); else theirs stays.
                let ours = applied.checked_sub(1).map(|k| &self.plan[k].weights);
                if ours.is_some_and(|w| *w == self.target.weights(&live)) {
                    *live
                } else {
                    let msg =
                        format!("{reason}; stopped after {applied} step(s) without reverting");
                    return self.stop_for_conflict(umbrella, applied, &live, msg);
                }
            }
            f if !sent => {
                self.summary("stopped", 0, Some(&start_w), Some(&reason))?;
                return Err(match f {
                    Failure::Signal(_) => {
                        umbrella.interrupted(
                            start_json,
                            format!("{reason} before the first change; nothing was changed"),
                        )?;
                        Error::Interrupted
                    }
                    Failure::Gate(m) => {
                        umbrella.failed(start_json, reason.clone())?;
                        Error::CheckFailed(format!(
                            "gate failed before the first step, nothing was changed: {m}"
                        ))
                    }
                    Failure::Error(e) => {
                        umbrella.failed(start_json, reason.clone())?;
                        e
                    }
                    Failure::Conflict { .. } | Failure::Rejected { .. } => {
                        umbrella.failed(start_json, reason.clone())?;
                        Error::CheckFailed(reason)
                    }
                });
            }
            _ => match self.live_after_failure(applied).await {
                // Someone else may have changed the state while the shift baked
                // (say, an emergency maintenance on): reverting would undo that too.
                LiveAfter::Others(live) => {
                    let msg = format!(
                        "{reason}; NOT reverted: the weights were changed by someone else meanwhile (found {})",
                        describe(&self.target.weights(&live))
                    );
                    return self.stop_for_conflict(umbrella, applied, &live, msg);
                }
                LiveAfter::Ours(live) => live,
                // Revert from what this shift last wrote; if that is not what is
                // live, the conditional revert is rejected.
                LiveAfter::Unknown => self.target.with_weights(
                    &self.start,
                    &applied
                        .checked_sub(1)
                        .map(|k| self.plan[k].weights.clone())
                        .unwrap_or_else(|| start_w.clone()),
                ),
            },
        };
        self.ctx
            .out
            .warn(format!("{reason}; reverting to {}", describe(&start_w)));
        match self.revert(applied, basis, after_signal).await {
            Ok(()) => {
                umbrella.finish(Outcome::Reverted, start_json, Some(reason.clone()))?;
                self.summary("reverted", applied, Some(&start_w), Some(&reason))?;
                Err(Error::Reverted(format!(
                    "{reason}; reverted {name} to the starting weights {}",
                    describe(&start_w)
                )))
            }
            Err(RevertStop::Conflict(live)) => {
                let msg = format!(
                    "{reason}; the revert was rejected: the {} was changed by someone else meanwhile (found {}), NOT reverted further",
                    self.w().thing,
                    describe(&self.target.weights(&live))
                );
                self.stop_for_conflict(umbrella, applied, &live, msg)
            }
            Err(RevertStop::Hard(where_now)) => {
                let msg = format!(
                    "{reason}; a second signal stopped the revert at once: {where_now}; check with `{}`; put back the starting weights {} with `{}`",
                    self.target.show_command(),
                    describe(&start_w),
                    self.target.undo_command()
                );
                umbrella.interrupted(json!({ "what_is_where": where_now }), msg.clone())?;
                self.summary("interrupted", applied, None, Some(&msg))?;
                Err(Error::RevertFailed(msg))
            }
            Err(RevertStop::Failed(revert_err)) => {
                let live = self.target.read().await;
                let (live_w, live_text) = match &live {
                    Ok(g) => {
                        let w = self.target.weights(g);
                        let text = describe(&w);
                        (Some(w), text)
                    }
                    Err(e) => (None, format!("unknown (could not read them: {e})")),
                };
                let msg = format!(
                    "{reason}; the revert to {} FAILED: {revert_err}; live weights of {name} now: {live_text}",
                    describe(&start_w),
                );
                umbrella.finish(
                    Outcome::RevertFailed,
                    live.as_ref()
                        .map(|g| self.target.state_json(g))
                        .unwrap_or(Value::Null),
                    Some(msg.clone()),
                )?;
                self.summary("revert-failed", applied, live_w.as_ref(), Some(&msg))?;
                Err(Error::RevertFailed(msg))
            }
        }
    }

    fn dry_run(&self) -> Result<()> {
        let mut current = self.start.clone();
        for (i, step) in self.plan.iter().enumerate() {
            let request =
                self.target
                    .request(&current, &step.weights, WriteKind::Step, &self.comment(i));
            let v = self.step_event(
                i,
                step,
                StepOutcome::DryRun {
                    dry_run: true,
                    request: T::Request::from(request),
                },
            );
            self.event(v, || {
                format!(
                    "step {}/{} ({} %): would set {}",
                    i + 1,
                    self.plan.len(),
                    step.pct,
                    describe(&step.weights)
                )
            })?;
            current = self.target.with_weights(&current, &step.weights);
        }
        self.ctx
            .out
            .info("dry run: nothing was changed; gates and bake times were not run");
        let last = self.plan.last().map(|s| &s.weights);
        self.summary("dry-run", 0, last, None)
    }

    fn comment(&self, i: usize) -> String {
        format!(
            "{} shift to {} step {}/{} ({} %){}",
            self.w().command,
            self.opts.to,
            i + 1,
            self.plan.len(),
            self.plan[i].pct,
            if self.opts.fast_track {
                " FAST TRACK"
            } else {
                ""
            }
        )
    }

    /// The failure a signal means, named after the first one.
    fn signalled(&self) -> Failure<T::State> {
        Failure::Signal(self.ctx.cancel().signal().map_or("a signal", |k| k.name()))
    }

    /// Runs a read, a wait or a gate unless a signal arrives first (never a
    /// change: that is let finish so its outcome can be recorded).
    async fn interruptible<R>(
        &self,
        fut: impl Future<Output = std::result::Result<R, Failure<T::State>>>,
    ) -> std::result::Result<R, Failure<T::State>> {
        tokio::select! {
            biased;
            () = self.ctx.cancel().cancelled() => Err(self.signalled()),
            r = fut => r,
        }
    }

    /// Gates, then a fresh read, then the step, settle and bake, for every step;
    /// gates once more at the end. A signal is noticed between steps and while
    /// gates, reads, waits and bakes are pending.
    async fn forward(&self, progress: &mut Progress) -> std::result::Result<(), Failure<T::State>> {
        let mut current = self.start.clone();
        for (i, step) in self.plan.iter().enumerate() {
            self.interruptible(self.run_gates(Some(i), &current))
                .await?;
            // Before the first step the state was read a moment ago, unless gates
            // ran since. The fresh read is also what the conditional write is
            // conditional on.
            let gates_ran = !self.opts.fast_track && self.has_gates();
            if i > 0 || gates_ran {
                current = self.interruptible(self.unchanged_since(&current)).await?;
            }
            if self.ctx.cancel().is_cancelled() {
                return Err(self.signalled());
            }
            progress.sent = true;
            let t0 = Instant::now();
            let applied = match apply(
                self.ctx,
                self.target,
                &current,
                &step.weights,
                &format!("{}.shift.step", self.w().action),
                &self.comment(i),
                self.opts.timeout,
            )
            .await
            {
                Ok(a) => a,
                Err(WriteError::Conflict(live)) => {
                    return Err(Failure::Rejected { step: i + 1, live });
                }
                Err(WriteError::Failed(Error::Interrupted)) => return Err(self.signalled()),
                Err(WriteError::Failed(e) | WriteError::Unchanged(e)) => {
                    return Err(Failure::Error(e));
                }
            };
            current = applied.after;
            // Accepted counts as applied (it is live), confirmed or not: the
            // revert must know it.
            progress.applied = i + 1;
            if let Some(e) = applied.unconfirmed {
                return Err(Failure::Error(e));
            }
            let v = self.step_event(
                i,
                step,
                StepOutcome::Applied {
                    change_id: applied.change_id.clone(),
                    settled: T::Settled::from(t0.elapsed().as_millis() as u64),
                },
            );
            self.event(v, || {
                format!(
                    "step {}/{} ({} %): {} {}",
                    i + 1,
                    self.plan.len(),
                    step.pct,
                    describe(&step.weights),
                    self.w().settled
                )
            })
            .map_err(Failure::Error)?;
            if !self.opts.fast_track && !self.opts.bake.is_zero() {
                self.ctx.out.info(format!(
                    "baking {} at {} % on {}",
                    crate::duration::format_duration(self.opts.bake),
                    step.pct,
                    self.opts.to
                ));
                self.interruptible(async {
                    tokio::time::sleep(self.opts.bake).await;
                    Ok(())
                })
                .await?;
            }
        }
        self.interruptible(self.run_gates(None, &current)).await
    }

    /// Ends a shift that found someone else's change: records it as failed with
    /// the live state and leaves that state alone (exit 4).
    fn stop_for_conflict(
        &self,
        umbrella: Change<'_>,
        applied: usize,
        live: &T::State,
        msg: String,
    ) -> Result<()> {
        let msg = format!("{msg}, so their change stays; {}", self.w().conflict_hint);
        umbrella.failed(self.target.state_json(live), msg.clone())?;
        self.summary(
            "stopped-conflict",
            applied,
            Some(&self.target.weights(live)),
            Some(&msg),
        )?;
        Err(Error::CheckFailed(msg))
    }

    /// Reads the state again right before a step: gates and bake times can take
    /// minutes, and a write built from an old read would silently undo a change
    /// someone made meanwhile. Compares the weights (and so the ids), which is
    /// what a shift writes; the step is then written conditionally on this fresh
    /// read, so a change in the moments between this read and the write is
    /// rejected.
    async fn unchanged_since(
        &self,
        expected: &T::State,
    ) -> std::result::Result<T::State, Failure<T::State>> {
        let live = self.target.read().await.map_err(Failure::Error)?;
        let expected_w = self.target.weights(expected);
        if self.target.weights(&live) == expected_w {
            return Ok(live);
        }
        Err(Failure::Conflict {
            expected: expected_w,
            live: Box::new(live),
        })
    }

    /// The gates before step `next` (or after the last step when `None`).
    async fn run_gates(
        &self,
        next: Option<usize>,
        current: &T::State,
    ) -> std::result::Result<(), Failure<T::State>> {
        if self.opts.fast_track || !self.has_gates() {
            return Ok(());
        }
        let (label, pct) = match next {
            Some(i) => (format!("before step {}", i + 1), self.plan[i].pct),
            None => ("after the last step".to_owned(), 100),
        };
        let cur_share = share_of(&self.target.weights(current), &self.opts.to);
        let p = self.w().env_prefix;
        let mut env = self.target.gate_env();
        env.extend([
            (format!("{p}_TO"), self.opts.to.clone()),
            (
                format!("{p}_STEP"),
                next.map(|i| (i + 1).to_string())
                    .unwrap_or_else(|| "final".into()),
            ),
            (format!("{p}_PERCENT"), pct.to_string()),
            (format!("{p}_CURRENT_PERCENT"), cur_share.to_string()),
        ]);
        let mut results = self.gates.check(self.cw, &env).await;
        results.extend(self.target.extra_gates().await);
        let mut failed = Vec::new();
        for r in &results {
            self.event(
                ShiftEvent::Gate(GateEvent {
                    check: label.clone(),
                    step: next.map(|i| i + 1),
                    kind: r.kind.to_owned(),
                    name: r.name.clone(),
                    passed: r.passed,
                    detail: r.detail.clone(),
                }),
                || {
                    format!(
                        "gate {label}: {} {}: {} ({})",
                        r.kind,
                        r.name,
                        if r.passed { "passed" } else { "FAILED" },
                        r.detail
                    )
                },
            )
            .map_err(Failure::Error)?;
            if !r.passed {
                failed.push(format!("{} {:?} {}", r.kind, r.name, r.detail));
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Failure::Gate(format!("{label}: {}", failed.join("; "))))
        }
    }

    /// The state as read after a failure, and whether its weights are ones this
    /// shift could have left: the start, the last step applied, or the step that
    /// failed (it may or may not have gone through).
    async fn live_after_failure(&self, applied: usize) -> LiveAfter<T::State> {
        let Ok(live) = self.target.read().await else {
            return LiveAfter::Unknown;
        };
        let mut ours = vec![self.start_w.clone()];
        if let Some(last) = applied.checked_sub(1).and_then(|k| self.plan.get(k)) {
            ours.push(last.weights.clone());
        }
        if let Some(next) = self.plan.get(applied) {
            ours.push(next.weights.clone());
        }
        if ours.contains(&self.target.weights(&live)) {
            LiveAfter::Ours(live)
        } else {
            LiveAfter::Others(live)
        }
    }

    /// Back to the starting weights from `basis` (the state as last read or
    /// written). Gradual: through the applied steps in reverse first; a new
    /// signal then switches to an immediate revert. Every revert change is
    /// conditional on the state being as this shift left it, and the last one
    /// writes every entry with its starting weight; a read-back confirms it. A
    /// second signal stops at once.
    async fn revert(
        &self,
        applied: usize,
        mut basis: T::State,
        after_signal: bool,
    ) -> std::result::Result<(), RevertStop<T::State>> {
        let cancel = self.ctx.cancel();
        let start_w = &self.start_w;
        // The signal that switches a gradual revert to an immediate one: the
        // first, or when a signal caused the revert, the second (which also stops
        // the immediate revert at once).
        let switch = || async {
            if after_signal {
                cancel.hard_cancelled().await
            } else {
                cancel.cancelled().await
            }
        };
        let switched = || {
            if after_signal {
                cancel.is_hard()
            } else {
                cancel.is_cancelled()
            }
        };
        if self.opts.revert == RevertMode::Gradual && applied > 1 {
            for k in (0..applied - 1).rev() {
                if switched() {
                    break;
                }
                basis = self
                    .revert_change(
                        &basis,
                        &self.plan[k].weights,
                        &format!("gradual revert to step {}", k + 1),
                    )
                    .await?;
                if !self.opts.fast_track && !self.opts.bake.is_zero() {
                    tokio::select! {
                        () = switch() => {}
                        () = tokio::time::sleep(self.opts.bake) => {}
                    }
                }
            }
            if switched() {
                let name = cancel.signal().map_or("a signal", |k| k.name());
                self.ctx.out.warn(format!(
                    "{name} during the gradual revert: reverting at once"
                ));
            }
        }
        if cancel.is_hard() {
            return Err(RevertStop::Hard(format!(
                "the weights are {} as this shift last wrote them, not the starting ones",
                describe(&self.target.weights(&basis))
            )));
        }
        self.revert_change(&basis, start_w, "revert to the starting weights")
            .await?;
        let live = tokio::select! {
            biased;
            () = cancel.hard_cancelled() => {
                return Err(RevertStop::Hard(format!(
                    "the revert to {} went out and was {}, not read back",
                    describe(start_w),
                    self.w().settled
                )));
            }
            r = self.target.read() => r?,
        };
        let live_w = self.target.weights(&live);
        if &live_w != start_w {
            return Err(RevertStop::Failed(Error::Internal(format!(
                "after the revert the weights read back are {}, not {}",
                describe(&live_w),
                describe(start_w)
            ))));
        }
        Ok(())
    }

    /// One conditional revert change from `basis` to `w`, journaled as
    /// `<action>.shift.revert`; returns the state as it now is.
    async fn revert_change(
        &self,
        basis: &T::State,
        w: &Weights,
        what: &str,
    ) -> std::result::Result<T::State, RevertStop<T::State>> {
        let words = self.w();
        let journal = self.ctx.journal().await?;
        let comment = format!("{} shift to {}: {what}", words.command, self.opts.to);
        let request = self
            .target
            .request(basis, w, WriteKind::Revert, &comment)
            .ok_or_else(|| Error::Internal("empty revert batch".into()))?;
        let mut before = self.target.state_json(basis);
        before["revert_to"] = json!(w);
        before[words.request_key] = request;
        let change = journal.intent(
            &format!("{}.shift.revert", words.action),
            &self.target.journal_target(),
            before,
        )?;
        let after = self.target.with_weights(basis, w);
        let revert_event = |outcome: RevertOutcome| {
            ShiftEvent::Revert(RevertEvent {
                what: what.to_owned(),
                weights: w.clone(),
                outcome,
            })
        };
        let failed_event = |e: &str| {
            let _ = self.event(
                revert_event(RevertOutcome::Failed {
                    ok: false,
                    error: e.to_owned(),
                }),
                || format!("revert: {what}: FAILED: {e}"),
            );
        };
        let id = match self
            .target
            .write(basis, w, WriteKind::Revert, &comment)
            .await
        {
            Ok(Written::Sent(id)) => Some(id),
            Ok(Written::AlreadyLive | Written::Live) => None,
            Err(WriteError::Conflict(live)) => {
                let msg = format!(
                    "rejected: changed by someone else (now {}); nothing of this revert was applied",
                    describe(&self.target.weights(&live))
                );
                change.failed(self.target.state_json(&live), msg.clone())?;
                failed_event(&msg);
                return Err(RevertStop::Conflict(live));
            }
            Err(WriteError::Unchanged(e)) => {
                change.failed(self.target.state_json(basis), e.to_string())?;
                failed_event(&e.to_string());
                return Err(RevertStop::Failed(e));
            }
            Err(WriteError::Failed(e)) => {
                change.failed(Value::Null, e.to_string())?;
                failed_event(&e.to_string());
                return Err(RevertStop::Failed(e));
            }
        };
        if let Some(id) = &id {
            let wait = self.target.settle(&self.ctx.out, id, self.opts.timeout);
            // Only a second signal stops the wait: the revert is what the first asked for.
            let waited = tokio::select! {
                biased;
                () = self.ctx.cancel().hard_cancelled() => None,
                r = wait => Some(r),
            };
            match waited {
                None => {
                    let mut state = self.target.state_json(&after);
                    state["change_id"] = json!(id);
                    let where_now = format!(
                        "revert change {id} to {} was sent, {} not confirmed",
                        describe(w),
                        words.settled
                    );
                    change.interrupted(state, where_now.clone())?;
                    return Err(RevertStop::Hard(where_now));
                }
                Some(Err(e)) => {
                    // Accepted, not seen settled: the revert is live (never
                    // `failed`); the read-back after the last revert decides.
                    let mut state = self.target.state_json(&after);
                    state["change_id"] = json!(id);
                    let note = format!(
                        "revert change {id} to {} was accepted by {}; {} not confirmed: {e}",
                        describe(w),
                        words.service,
                        words.settled
                    );
                    self.ctx.out.warn(note.clone());
                    change.finish(Outcome::Ok, state, Some(note))?;
                    self.event(
                        revert_event(RevertOutcome::Done {
                            change_id: Some(id.clone()),
                            ok: true,
                            insync: Some(false),
                        }),
                        || {
                            format!(
                                "revert: {what}: {} accepted, {} not confirmed",
                                describe(w),
                                words.settled
                            )
                        },
                    )?;
                    return Ok(after);
                }
                Some(Ok(())) => {}
            }
        }
        change.ok(self.target.state_json(&after))?;
        self.event(
            revert_event(RevertOutcome::Done {
                change_id: id.clone(),
                ok: true,
                insync: None,
            }),
            || format!("revert: {what}: {} {}", describe(w), words.settled),
        )?;
        Ok(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(pairs: &[(&str, u32)]) -> Weights {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[derive(serde::Serialize, schemars::JsonSchema)]
    struct Ms {
        insync_ms: u64,
    }
    #[derive(serde::Serialize, schemars::JsonSchema)]
    struct Req {
        change_batch: Option<Value>,
    }
    type Ev = ShiftEvent<(), (), (), Ms, Req>;

    fn line(e: &Ev) -> String {
        serde_json::to_string(e).unwrap()
    }

    /// The typed events print the JSON the engine printed when it built them
    /// as maps: same keys, same order, same nulls.
    #[test]
    fn events_serialize_as_before() {
        let step = |outcome| {
            ShiftEvent::Step(StepEvent {
                step: 1,
                of: 2,
                percent: 50,
                weights: w(&[("blue", 50), ("green", 50)]),
                shares: shares(&w(&[("blue", 50), ("green", 50)])),
                outcome,
            })
        };
        assert_eq!(
            line(&step(StepOutcome::Applied {
                change_id: Some("C1".into()),
                settled: Ms { insync_ms: 7 }
            })),
            r#"{"event":"step","step":1,"of":2,"percent":50,"weights":{"blue":50,"green":50},"shares":{"blue":50.0,"green":50.0},"change_id":"C1","insync_ms":7}"#
        );
        assert_eq!(
            line(&step(StepOutcome::DryRun {
                dry_run: true,
                request: Req { change_batch: None }
            })),
            r#"{"event":"step","step":1,"of":2,"percent":50,"weights":{"blue":50,"green":50},"shares":{"blue":50.0,"green":50.0},"dry_run":true,"change_batch":null}"#
        );
        let revert = |outcome| {
            ShiftEvent::Revert(RevertEvent {
                what: "revert to the starting weights".into(),
                weights: w(&[("blue", 1)]),
                outcome,
            })
        };
        let head =
            r#"{"event":"revert","what":"revert to the starting weights","weights":{"blue":1},"#;
        assert_eq!(
            line(&revert(RevertOutcome::Failed {
                ok: false,
                error: "denied".into()
            })),
            format!(r#"{head}"ok":false,"error":"denied"}}"#)
        );
        assert_eq!(
            line(&revert(RevertOutcome::Done {
                change_id: None,
                ok: true,
                insync: None
            })),
            format!(r#"{head}"change_id":null,"ok":true}}"#)
        );
        assert_eq!(
            line(&revert(RevertOutcome::Done {
                change_id: Some("C2".into()),
                ok: true,
                insync: Some(false)
            })),
            format!(r#"{head}"change_id":"C2","ok":true,"insync":false}}"#)
        );
        assert_eq!(
            line(&ShiftEvent::Gate(GateEvent {
                check: "after the last step".into(),
                step: None,
                kind: "command".into(),
                name: "true".into(),
                passed: true,
                detail: "exit 0".into(),
            })),
            r#"{"event":"gate","check":"after the last step","step":null,"kind":"command","name":"true","passed":true,"detail":"exit 0"}"#
        );
    }

    #[test]
    fn a_larger_maximum_keeps_larger_totals() {
        // A forward action allows weights up to 999: a total of 500 stays 500.
        let start = w(&[("blue", 500), ("green", 0)]);
        let at = weights_at(&start, "green", 10, 999).unwrap();
        assert_eq!(at, w(&[("blue", 450), ("green", 50)]));
        // Route 53's 255 lowers it.
        let at = weights_at(&start, "green", 10, 255).unwrap();
        assert_eq!(at, w(&[("blue", 229), ("green", 26)]));
        let plan = plan_shift(&w(&[("blue", 1), ("green", 0)]), "green", &[50, 100], 999).unwrap();
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[1].weights, w(&[("blue", 0), ("green", 100)]));
    }
}
