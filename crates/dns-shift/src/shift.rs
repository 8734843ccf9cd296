//! `dns-shift shift`: move traffic to one weighted set through increasing steps.
//!
//! Each step: gates (unless `--fast-track`), a fresh read, one conditional
//! ChangeBatch (DELETE of every set as read + CREATE with the new weight), wait
//! until INSYNC, bake. After the last step the gates run once more, so the last
//! bake is checked too. A failing gate, an error or a signal (SIGINT, SIGTERM,
//! SIGHUP through `ctx.cancel()`) after the first change reverts to the starting
//! weights (at once, or back through the steps with `--revert gradual`) and
//! exits 6; a revert that fails exits 7 and prints the weights now live. A gate
//! failing before any change exits 4 with nothing changed; a signal then exits
//! 130. A second signal stops a revert at once (exit 7, journaled
//! `interrupted`, with the commands to check and undo).
//!
//! Someone else's change is never overwritten: when the fresh read shows
//! weights this shift did not write, or Route 53 rejects the conditional batch,
//! the shift stops (exit 4, `stopped-conflict`) and reports the record as it
//! now is; it reverts its own earlier steps only while the record still shows
//! them, and that revert is conditional too.
//!
//! stdout is a stream of JSON lines (`start`, `gate`, `step`, `revert`) ending
//! with a `summary` line that counts the AWS calls made.

use std::future::Future;
use std::time::{Duration, Instant};

use common::journal::{Change, Outcome};
use common::{Context, Error, Result};
use serde_json::{Value, json};

use crate::apply::{apply_weights, check_known_sets, open, reattach};
use crate::gates::{AlarmSpec, Gates};
use crate::route53::{RecordGroup, Route53, WriteError, Written, batch_json};
use crate::weights::{self, Step, Weights, validate_set_id};
use crate::{RecordArgs, parse_duration};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RevertMode {
    /// Straight back to the starting weights in one change.
    Immediate,
    /// Back through the steps already applied, then the starting weights.
    Gradual,
}

#[derive(Debug, clap::Args)]
pub struct ShiftArgs {
    #[command(flatten)]
    pub record: RecordArgs,

    /// The set to move traffic to (its SetIdentifier).
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub to: String,

    /// Target's share at each step, percent of the total: increasing, ending at 100.
    #[arg(
        long,
        default_value = "10,25,50,100",
        value_name = "P,P,...",
        allow_hyphen_values = true
    )]
    pub steps: String,

    /// How long to hold each step after it is INSYNC before checking the gates again (at most 24h).
    #[arg(
        long,
        default_value = "5m",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub bake: String,

    /// Command that must exit 0 before every increase (run with `sh -c`, output to
    /// stderr; sees DNS_SHIFT_PERCENT, DNS_SHIFT_STEP ...). Repeatable.
    #[arg(long = "gate-cmd", value_name = "CMD")]
    pub gate_cmds: Vec<String>,

    /// CloudWatch alarm NAME, or PREFIX*, that must not be in ALARM before every
    /// increase. An alarm that does not exist fails the gate. Repeatable.
    #[arg(long = "alarm", value_name = "NAME|PREFIX*")]
    pub alarms: Vec<String>,

    /// Require the target set's Route 53 health check to be healthy before every increase.
    #[arg(long)]
    pub health_check: bool,

    /// On a failed gate, an error, SIGINT or SIGTERM: back to the starting weights at once, or step by step.
    #[arg(long, value_enum, default_value_t = RevertMode::Immediate)]
    pub revert: RevertMode,

    /// Emergency: skip bake times and gates. Recorded as such in the journal and output.
    #[arg(long)]
    pub fast_track: bool,

    /// How long to wait for each change to be INSYNC.
    #[arg(
        long,
        default_value = "5m",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub timeout: String,

    /// How long one gate command may run before it is killed and fails.
    #[arg(
        long,
        default_value = "5m",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub gate_timeout: String,
}

/// The validated arguments (all checked before any AWS call).
#[derive(Debug, Clone)]
pub struct ShiftOptions {
    pub to: String,
    pub steps: Vec<u8>,
    pub bake: Duration,
    pub gate_cmds: Vec<String>,
    pub alarms: Vec<AlarmSpec>,
    pub health_check: bool,
    pub revert: RevertMode,
    pub fast_track: bool,
    pub timeout: Duration,
    pub gate_timeout: Duration,
}

impl ShiftArgs {
    pub fn validate(&self) -> Result<ShiftOptions> {
        validate_set_id(&self.to).map_err(|e| Error::usage(format!("--to: {e}")))?;
        let steps = weights::parse_steps(&self.steps).map_err(Error::usage)?;
        let alarms = self
            .alarms
            .iter()
            .map(|a| AlarmSpec::parse(a))
            .collect::<Result<Vec<_>>>()?;
        if let Some(empty) = self.gate_cmds.iter().find(|c| c.trim().is_empty()) {
            return Err(Error::usage(format!(
                "--gate-cmd {} is empty",
                crate::quoted(empty)
            )));
        }
        Ok(ShiftOptions {
            to: self.to.trim().to_owned(),
            steps,
            bake: parse_duration("--bake", &self.bake)?,
            gate_cmds: self.gate_cmds.clone(),
            alarms,
            health_check: self.health_check,
            revert: self.revert,
            fast_track: self.fast_track,
            timeout: parse_duration("--timeout", &self.timeout)?,
            gate_timeout: parse_duration("--gate-timeout", &self.gate_timeout)?,
        })
    }
}

pub async fn run(ctx: &Context, args: &ShiftArgs) -> Result<()> {
    let spec = args.record.validate()?;
    let opts = args.validate()?;
    let (r53, group) = open(ctx, &spec).await?;
    let config = ctx.aws().await?.config.clone();
    let cw = (!opts.alarms.is_empty() && !opts.fast_track).then(|| {
        let conf = aws_sdk_cloudwatch::config::Builder::from(&config)
            .interceptor(r53.calls.clone())
            .build();
        aws_sdk_cloudwatch::Client::from_conf(conf)
    });
    shift(ctx, &r53, cw.as_ref(), group, &opts).await
}

/// Why the forward run stopped.
#[derive(Debug)]
enum Failure {
    Gate(String),
    Signal(&'static str),
    Error(Error),
    /// The fresh read before a step found weights this shift did not write: stop,
    /// and do not revert (that would undo their change too, e.g. an emergency
    /// maintenance on).
    Conflict {
        expected: Weights,
        live: Box<RecordGroup>,
    },
    /// Route 53 rejected step `step`'s conditional batch: the record changed
    /// between the read and the write. Nothing of that batch was applied.
    Rejected {
        step: usize,
        live: Box<RecordGroup>,
    },
}

impl Failure {
    fn reason(&self) -> String {
        match self {
            Failure::Gate(m) => format!("gate failed: {m}"),
            Failure::Signal(s) => format!("{s} received"),
            Failure::Error(e) => e.to_string(),
            Failure::Conflict { expected, live } => format!(
                "the weights were changed by someone else: expected {}, found {}",
                weights::describe(expected),
                weights::describe(&live.weights())
            ),
            Failure::Rejected { step, live } => format!(
                "the record was changed by someone else while step {step} was being written (Route 53 rejected the conditional change, nothing of it was applied): found {}",
                weights::describe(&live.weights())
            ),
        }
    }
}

#[derive(Debug)]
struct Progress {
    /// A change has been sent (whether or not it took effect).
    sent: bool,
    /// Steps applied and INSYNC.
    applied: usize,
}

/// The record as read after a failure.
enum LiveAfter {
    /// Showing weights only this shift could have left: revert from it.
    Ours(RecordGroup),
    /// Showing someone else's weights: leave it.
    Others(RecordGroup),
    /// The read failed.
    Unknown,
}

/// Why a revert did not reach the starting weights.
#[derive(Debug)]
enum RevertStop {
    /// Route 53 rejected a conditional revert: someone else changed the record.
    Conflict(Box<RecordGroup>),
    /// A second signal: stopped at once; what is where.
    Hard(String),
    Failed(Error),
}

impl From<Error> for RevertStop {
    fn from(e: Error) -> Self {
        RevertStop::Failed(e)
    }
}

/// One shift, after validation and the first read.
struct Shift<'a> {
    ctx: &'a Context,
    r53: &'a Route53,
    cw: Option<&'a aws_sdk_cloudwatch::Client>,
    start: RecordGroup,
    plan: Vec<Step>,
    gates: Gates,
    opts: &'a ShiftOptions,
    started: Instant,
}

/// Runs a shift on an already read record (the mock tests enter here).
pub async fn shift(
    ctx: &Context,
    r53: &Route53,
    cw: Option<&aws_sdk_cloudwatch::Client>,
    group: RecordGroup,
    opts: &ShiftOptions,
) -> Result<()> {
    let started = Instant::now();
    check_known_sets(&group, [&opts.to])?;
    let health_check = if opts.health_check {
        let hc = group
            .set(&opts.to)
            .and_then(|r| r.health_check_id.clone())
            .ok_or_else(|| {
                Error::usage(format!(
                    "--health-check: set {} of {} has no health check",
                    opts.to, group.name
                ))
            })?;
        Some(hc)
    } else {
        None
    };
    let plan =
        weights::plan_shift(&group.weights(), &opts.to, &opts.steps).map_err(Error::usage)?;
    let gates = Gates {
        commands: opts.gate_cmds.clone(),
        alarms: opts.alarms.clone(),
        health_check,
        command_timeout: opts.gate_timeout,
    };
    let s = Shift {
        ctx,
        r53,
        cw,
        start: group,
        plan,
        gates,
        opts,
        started,
    };
    s.run().await
}

impl Shift<'_> {
    fn event(&self, value: Value, text: impl FnOnce() -> String) -> Result<()> {
        self.ctx.out.event(&value, text)
    }

    fn summary(
        &self,
        result: &str,
        applied: usize,
        final_weights: Option<&Weights>,
        reason: Option<&str>,
    ) -> Result<()> {
        let calls = self.r53.calls.by_service_operation();
        let r53_calls = self.r53.calls.service_total("route53");
        let cw_calls = self.r53.calls.service_total("cloudwatch");
        let v = json!({
            "event": "summary",
            "result": result,
            "zone_id": self.start.zone_id,
            "record": self.start.name,
            "type": self.start.rtype.as_str(),
            "to": self.opts.to,
            "fast_track": self.opts.fast_track,
            "dry_run": self.ctx.dry_run(),
            "revert_mode": self.opts.revert,
            "start_weights": self.start.weights(),
            "final_weights": final_weights,
            "final_shares": final_weights.map(weights::shares),
            "steps_planned": self.plan.iter().map(|s| s.pct).collect::<Vec<_>>(),
            "steps_applied": applied,
            "reason": reason,
            "elapsed_ms": self.started.elapsed().as_millis() as u64,
            "route53_calls": r53_calls,
            "cloudwatch_calls": cw_calls,
            "calls": calls,
        });
        let text = format!(
            "summary: {result}; {applied} of {} steps applied; weights {}; {r53_calls} Route 53 calls, {cw_calls} CloudWatch calls",
            self.plan.len(),
            final_weights
                .map(weights::describe)
                .unwrap_or_else(|| "unknown".into()),
        );
        self.event(v, || text)
    }

    async fn run(&self) -> Result<()> {
        let start_w = self.start.weights();
        let opts = self.opts;
        self.event(
            json!({
                "event": "start",
                "zone_id": self.start.zone_id,
                "record": self.start.name,
                "type": self.start.rtype.as_str(),
                "to": opts.to,
                "start_weights": start_w,
                "start_shares": weights::shares(&start_w),
                "steps": self.plan,
                "bake": common::duration::format_duration(opts.bake),
                "gates": {
                    "commands": opts.gate_cmds,
                    "alarms": self.gates.alarms.iter().map(AlarmSpec::label).collect::<Vec<_>>(),
                    "health_check": self.gates.health_check,
                },
                "fast_track": opts.fast_track,
                "revert_mode": opts.revert,
                "dry_run": self.ctx.dry_run(),
            }),
            || {
                format!(
                    "shift {} to {}: from {} through {} %",
                    self.start.name,
                    opts.to,
                    weights::describe(&start_w),
                    self.plan
                        .iter()
                        .map(|s| s.pct.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        )?;
        if self.plan.is_empty() {
            self.ctx.out.info(format!(
                "{} already has {} % of traffic: nothing to shift",
                opts.to,
                weights::share_of(&start_w, &opts.to)
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
                "shift traffic on {} to {}{}",
                self.start.name,
                opts.to,
                if opts.fast_track { " (FAST TRACK)" } else { "" }
            ))
            .await?;

        let journal = self.ctx.journal().await?;
        let mut before = self.start.state_json();
        before["shift"] = json!({
            "to": opts.to,
            "steps": self.plan.iter().map(|s| s.pct).collect::<Vec<_>>(),
            "bake": common::duration::format_duration(opts.bake),
            "fast_track": opts.fast_track,
            "revert": opts.revert,
            "gates": {"commands": opts.gate_cmds, "alarms": opts.alarms.len(), "health_check": self.gates.health_check},
        });
        let umbrella = journal.intent("dns.shift", &self.start.target(), before)?;

        let mut progress = Progress {
            sent: false,
            applied: 0,
        };
        // Not raced against the signal: the forward run observes `ctx.cancel()`
        // between steps and while it waits, and lets a change in flight finish.
        let outcome = self.forward(&mut progress).await;
        let Progress { sent, applied } = progress;
        let failure = match outcome {
            Ok(()) => {
                let last = self
                    .plan
                    .last()
                    .map(|s| s.weights.clone())
                    .unwrap_or_default();
                umbrella.ok(self.start.with_weights(&last).state_json())?;
                self.summary("completed", applied, Some(&last), None)?;
                return Ok(());
            }
            Err(f) => f,
        };
        let reason = failure.reason();
        let after_signal = matches!(failure, Failure::Signal(_));
        // Where the revert starts from: the record as read now, when it shows
        // only what this shift wrote.
        let basis = match failure {
            Failure::Conflict { live, .. } => {
                let msg = format!("{reason}; stopped after {applied} step(s) without reverting");
                return self.stop_for_conflict(umbrella, applied, &live, msg);
            }
            Failure::Rejected { live, .. } => {
                // Our earlier steps are reverted only while the record still shows
                // them (someone changed another field, say a TTL); else theirs stays.
                let ours = applied.checked_sub(1).map(|k| &self.plan[k].weights);
                if ours.is_some_and(|w| *w == live.weights()) {
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
                            self.start.state_json(),
                            format!("{reason} before the first change; nothing was changed"),
                        )?;
                        Error::Interrupted
                    }
                    Failure::Gate(m) => {
                        umbrella.failed(self.start.state_json(), reason.clone())?;
                        Error::CheckFailed(format!(
                            "gate failed before the first step, nothing was changed: {m}"
                        ))
                    }
                    Failure::Error(e) => {
                        umbrella.failed(self.start.state_json(), reason.clone())?;
                        e
                    }
                    Failure::Conflict { .. } | Failure::Rejected { .. } => {
                        umbrella.failed(self.start.state_json(), reason.clone())?;
                        Error::CheckFailed(reason)
                    }
                });
            }
            _ => match self.live_after_failure(applied).await {
                // Someone else may have changed the record while the shift baked
                // (say, an emergency maintenance on): reverting would undo that too.
                LiveAfter::Others(live) => {
                    let msg = format!(
                        "{reason}; NOT reverted: the weights were changed by someone else meanwhile (found {})",
                        weights::describe(&live.weights())
                    );
                    return self.stop_for_conflict(umbrella, applied, &live, msg);
                }
                LiveAfter::Ours(live) => live,
                // Revert from what this shift last wrote; if that is not what is
                // live, Route 53 rejects the conditional revert.
                LiveAfter::Unknown => self.start.with_weights(
                    &applied
                        .checked_sub(1)
                        .map(|k| self.plan[k].weights.clone())
                        .unwrap_or_else(|| start_w.clone()),
                ),
            },
        };
        self.ctx.out.warn(format!(
            "{reason}; reverting to {}",
            weights::describe(&start_w)
        ));
        match self.revert(applied, basis, after_signal).await {
            Ok(()) => {
                umbrella.finish(
                    Outcome::Reverted,
                    self.start.state_json(),
                    Some(reason.clone()),
                )?;
                self.summary("reverted", applied, Some(&start_w), Some(&reason))?;
                Err(Error::Reverted(format!(
                    "{reason}; reverted {} to the starting weights {}",
                    self.start.name,
                    weights::describe(&start_w)
                )))
            }
            Err(RevertStop::Conflict(live)) => {
                let msg = format!(
                    "{reason}; the revert was rejected: the record was changed by someone else meanwhile (found {}), NOT reverted further",
                    weights::describe(&live.weights())
                );
                self.stop_for_conflict(umbrella, applied, &live, msg)
            }
            Err(RevertStop::Hard(where_now)) => {
                let msg = format!(
                    "{reason}; a second signal stopped the revert at once: {where_now}; check with `{}`; put back the starting weights {} with `dns-shift undo --zone {} --record {} --type {}`",
                    reattach(&self.start),
                    weights::describe(&start_w),
                    self.start.zone_id,
                    self.start.name,
                    self.start.rtype.as_str()
                );
                umbrella.interrupted(json!({ "what_is_where": where_now }), msg.clone())?;
                self.summary("interrupted", applied, None, Some(&msg))?;
                Err(Error::RevertFailed(msg))
            }
            Err(RevertStop::Failed(revert_err)) => {
                let live = self.read_live().await;
                let (live_w, live_text) = match &live {
                    Ok(g) => (Some(g.weights()), weights::describe(&g.weights())),
                    Err(e) => (None, format!("unknown (could not read them: {e})")),
                };
                let msg = format!(
                    "{reason}; the revert to {} FAILED: {revert_err}; live weights of {} now: {live_text}",
                    weights::describe(&start_w),
                    self.start.name
                );
                umbrella.finish(
                    Outcome::RevertFailed,
                    live.as_ref()
                        .map(RecordGroup::state_json)
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
            let batch = current
                .change_batch(&step.weights, &self.comment(i))
                .map(|b| batch_json(&current.zone_id, &b));
            self.event(
                json!({
                    "event": "step",
                    "step": i + 1,
                    "of": self.plan.len(),
                    "percent": step.pct,
                    "weights": step.weights,
                    "shares": weights::shares(&step.weights),
                    "dry_run": true,
                    "change_batch": batch,
                }),
                || {
                    format!(
                        "step {}/{} ({} %): would set {}",
                        i + 1,
                        self.plan.len(),
                        step.pct,
                        weights::describe(&step.weights)
                    )
                },
            )?;
            current = current.with_weights(&step.weights);
        }
        self.ctx
            .out
            .info("dry run: nothing was changed; gates and bake times were not run");
        let last = self.plan.last().map(|s| &s.weights);
        self.summary("dry-run", 0, last, None)
    }

    fn comment(&self, i: usize) -> String {
        format!(
            "dns-shift shift to {} step {}/{} ({} %){}",
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
    fn signalled(&self) -> Failure {
        Failure::Signal(self.ctx.cancel().signal().map_or("a signal", |k| k.name()))
    }

    /// Runs a read, a wait or a gate unless a signal arrives first (never a
    /// change: that is let finish so its outcome can be recorded).
    async fn interruptible<T>(
        &self,
        fut: impl Future<Output = std::result::Result<T, Failure>>,
    ) -> std::result::Result<T, Failure> {
        tokio::select! {
            biased;
            () = self.ctx.cancel().cancelled() => Err(self.signalled()),
            r = fut => r,
        }
    }

    /// Gates, then a fresh read, then the step, INSYNC and bake, for every step;
    /// gates once more at the end. A signal is noticed between steps and while
    /// gates, reads, INSYNC waits and bakes are pending.
    async fn forward(&self, progress: &mut Progress) -> std::result::Result<(), Failure> {
        let mut current = self.start.clone();
        for (i, step) in self.plan.iter().enumerate() {
            self.interruptible(self.run_gates(Some(i), &current))
                .await?;
            // Before the first step the record was read a moment ago, unless gates
            // ran since. The fresh read is also what the conditional batch deletes.
            let gates_ran = !self.opts.fast_track && !self.gates.is_empty();
            if i > 0 || gates_ran {
                current = self.interruptible(self.unchanged_since(&current)).await?;
            }
            if self.ctx.cancel().is_cancelled() {
                return Err(self.signalled());
            }
            progress.sent = true;
            let t0 = Instant::now();
            let applied = match apply_weights(
                self.ctx,
                self.r53,
                &current,
                &step.weights,
                "dns.shift.step",
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
                Err(WriteError::Failed(e)) => return Err(Failure::Error(e)),
            };
            current = applied.after;
            // Accepted counts as applied (it is live), confirmed INSYNC or not:
            // the revert must know it.
            progress.applied = i + 1;
            if let Some(e) = applied.unconfirmed {
                return Err(Failure::Error(e));
            }
            self.event(
                json!({
                    "event": "step",
                    "step": i + 1,
                    "of": self.plan.len(),
                    "percent": step.pct,
                    "weights": step.weights,
                    "shares": weights::shares(&step.weights),
                    "change_id": applied.change_id,
                    "insync_ms": t0.elapsed().as_millis() as u64,
                }),
                || {
                    format!(
                        "step {}/{} ({} %): {} INSYNC",
                        i + 1,
                        self.plan.len(),
                        step.pct,
                        weights::describe(&step.weights)
                    )
                },
            )
            .map_err(Failure::Error)?;
            if !self.opts.fast_track && !self.opts.bake.is_zero() {
                self.ctx.out.info(format!(
                    "baking {} at {} % on {}",
                    common::duration::format_duration(self.opts.bake),
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

    /// Ends a shift that found someone else's change on the record: records it as
    /// failed with the live state and leaves that state alone (exit 4).
    fn stop_for_conflict(
        &self,
        umbrella: Change<'_>,
        applied: usize,
        live: &RecordGroup,
        msg: String,
    ) -> Result<()> {
        let msg = format!(
            "{msg}, so their change stays; see `dns-shift show`, and `dns-shift set` to put weights back by hand"
        );
        umbrella.failed(live.state_json(), msg.clone())?;
        self.summary(
            "stopped-conflict",
            applied,
            Some(&live.weights()),
            Some(&msg),
        )?;
        Err(Error::CheckFailed(msg))
    }

    /// The record as Route 53 has it now.
    async fn read_live(&self) -> Result<RecordGroup> {
        self.r53
            .read_group(
                &self.start.zone_id,
                &self.start.name,
                Some(&self.start.rtype),
            )
            .await
    }

    /// Reads the record again right before a step: gates and bake times can take
    /// minutes, and an UPSERT built from an old read would silently undo a change
    /// someone made meanwhile. Compares the weights (and so the set ids), which is
    /// what a shift writes; the step is then written over this fresh read (its
    /// DELETE is the record exactly as read now), so a change in the moments
    /// between this read and the write makes Route 53 reject the step.
    async fn unchanged_since(
        &self,
        expected: &RecordGroup,
    ) -> std::result::Result<RecordGroup, Failure> {
        let live = self.read_live().await.map_err(Failure::Error)?;
        if live.weights() == expected.weights() {
            return Ok(live);
        }
        Err(Failure::Conflict {
            expected: expected.weights(),
            live: Box::new(live),
        })
    }

    /// The gates before step `next` (or after the last step when `None`).
    async fn run_gates(
        &self,
        next: Option<usize>,
        current: &RecordGroup,
    ) -> std::result::Result<(), Failure> {
        if self.opts.fast_track || self.gates.is_empty() {
            return Ok(());
        }
        let (label, pct) = match next {
            Some(i) => (format!("before step {}", i + 1), self.plan[i].pct),
            None => ("after the last step".to_owned(), 100),
        };
        let cur_share = weights::share_of(&current.weights(), &self.opts.to);
        let env = vec![
            ("DNS_SHIFT_ZONE_ID".to_owned(), self.start.zone_id.clone()),
            ("DNS_SHIFT_RECORD".to_owned(), self.start.name.clone()),
            (
                "DNS_SHIFT_TYPE".to_owned(),
                self.start.rtype.as_str().to_owned(),
            ),
            ("DNS_SHIFT_TO".to_owned(), self.opts.to.clone()),
            (
                "DNS_SHIFT_STEP".to_owned(),
                next.map(|i| (i + 1).to_string())
                    .unwrap_or_else(|| "final".into()),
            ),
            ("DNS_SHIFT_PERCENT".to_owned(), pct.to_string()),
            (
                "DNS_SHIFT_CURRENT_PERCENT".to_owned(),
                cur_share.to_string(),
            ),
        ];
        let results = self.gates.check(self.r53, self.cw, &env).await;
        let mut failed = Vec::new();
        for r in &results {
            self.event(
                json!({
                    "event": "gate",
                    "check": label,
                    "step": next.map(|i| i + 1),
                    "kind": r.kind,
                    "name": r.name,
                    "passed": r.passed,
                    "detail": r.detail,
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

    /// The record as read after a failure, and whether its weights are ones
    /// this shift could have left: the start, the last step applied, or the step
    /// that failed (it may or may not have gone through).
    async fn live_after_failure(&self, applied: usize) -> LiveAfter {
        let Ok(live) = self.read_live().await else {
            return LiveAfter::Unknown;
        };
        let mut ours = vec![self.start.weights()];
        if let Some(last) = applied.checked_sub(1).and_then(|k| self.plan.get(k)) {
            ours.push(last.weights.clone());
        }
        if let Some(next) = self.plan.get(applied) {
            ours.push(next.weights.clone());
        }
        if ours.contains(&live.weights()) {
            LiveAfter::Ours(live)
        } else {
            LiveAfter::Others(live)
        }
    }

    /// Back to the starting weights from `basis` (the record as last read or
    /// written). Gradual: through the applied steps in reverse first; a new
    /// signal then switches to an immediate revert. Every revert change is
    /// conditional on the record being as this shift left it, and the last one
    /// writes every set with its starting weight; a read-back confirms it. A
    /// second signal stops at once.
    async fn revert(
        &self,
        applied: usize,
        mut basis: RecordGroup,
        after_signal: bool,
    ) -> std::result::Result<(), RevertStop> {
        let cancel = self.ctx.cancel();
        let start_w = self.start.weights();
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
                weights::describe(&basis.weights())
            )));
        }
        self.revert_change(&basis, &start_w, "revert to the starting weights")
            .await?;
        let live = tokio::select! {
            biased;
            () = cancel.hard_cancelled() => {
                return Err(RevertStop::Hard(format!(
                    "the revert to {} went out and was INSYNC, not read back",
                    weights::describe(&start_w)
                )));
            }
            r = self.read_live() => r?,
        };
        if live.weights() != start_w {
            return Err(RevertStop::Failed(Error::Internal(format!(
                "after the revert the weights read back are {}, not {}",
                weights::describe(&live.weights()),
                weights::describe(&start_w)
            ))));
        }
        Ok(())
    }

    /// One conditional revert change from `basis` to `w`, journaled as
    /// `dns.shift.revert`; returns the record as it now is.
    async fn revert_change(
        &self,
        basis: &RecordGroup,
        w: &Weights,
        what: &str,
    ) -> std::result::Result<RecordGroup, RevertStop> {
        let journal = self.ctx.journal().await?;
        let batch = basis
            .full_batch(w, &format!("dns-shift shift to {}: {what}", self.opts.to))
            .ok_or_else(|| Error::Internal("empty revert batch".into()))?;
        let mut before = basis.state_json();
        before["revert_to"] = json!(w);
        before["change_batch"] = batch_json(&self.start.zone_id, &batch);
        let change = journal.intent("dns.shift.revert", &self.start.target(), before)?;
        let after = basis.with_weights(w);
        let failed_event = |e: &str| {
            let _ = self.event(
                json!({"event": "revert", "what": what, "weights": w, "ok": false, "error": e}),
                || format!("revert: {what}: FAILED: {e}"),
            );
        };
        let id = match self.r53.write(basis, batch, w).await {
            Ok(Written::Sent(id)) => Some(id),
            Ok(Written::AlreadyLive) => None,
            Err(WriteError::Conflict(live)) => {
                let msg = format!(
                    "rejected: changed by someone else (now {}); nothing of this revert was applied",
                    weights::describe(&live.weights())
                );
                change.failed(live.state_json(), msg.clone())?;
                failed_event(&msg);
                return Err(RevertStop::Conflict(live));
            }
            Err(WriteError::Failed(e)) => {
                change.failed(Value::Null, e.to_string())?;
                failed_event(&e.to_string());
                return Err(RevertStop::Failed(e));
            }
        };
        if let Some(id) = &id {
            let show = reattach(&self.start);
            let wait = self
                .r53
                .wait_insync(&self.ctx.out, id, self.opts.timeout, &show);
            // Only a second signal stops the wait: the revert is what the first asked for.
            let waited = tokio::select! {
                biased;
                () = self.ctx.cancel().hard_cancelled() => None,
                r = wait => Some(r),
            };
            match waited {
                None => {
                    let mut state = after.state_json();
                    state["change_id"] = json!(id);
                    let where_now = format!(
                        "revert change {id} to {} was sent, INSYNC not confirmed",
                        weights::describe(w)
                    );
                    change.interrupted(state, where_now.clone())?;
                    return Err(RevertStop::Hard(where_now));
                }
                Some(Err(e)) => {
                    // Accepted, INSYNC not seen: the revert is live (never
                    // `failed`); the read-back after the last revert decides.
                    let mut state = after.state_json();
                    state["change_id"] = json!(id);
                    let note = format!(
                        "revert change {id} to {} was accepted by Route 53; INSYNC not confirmed: {e}",
                        weights::describe(w)
                    );
                    self.ctx.out.warn(note.clone());
                    change.finish(Outcome::Ok, state, Some(note))?;
                    self.event(
                        json!({"event": "revert", "what": what, "weights": w, "change_id": id, "ok": true, "insync": false}),
                        || format!("revert: {what}: {} accepted, INSYNC not confirmed", weights::describe(w)),
                    )?;
                    return Ok(after);
                }
                Some(Ok(())) => {}
            }
        }
        change.ok(after.state_json())?;
        self.event(
            json!({"event": "revert", "what": what, "weights": w, "change_id": id, "ok": true}),
            || format!("revert: {what}: {} INSYNC", weights::describe(w)),
        )?;
        Ok(after)
    }
}
