//! `dns-shift shift`: move traffic to one weighted set through increasing steps.
//!
//! Each step: gates (unless `--fast-track`), one UPSERT ChangeBatch, wait until
//! INSYNC, bake. After the last step the gates run once more, so the last bake
//! is checked too. A failing gate, an error, SIGINT or SIGTERM after the first
//! change reverts to the starting weights (at once, or back through the steps
//! with `--revert gradual`) and exits 6; a revert that fails exits 7 and prints
//! the weights now live. A gate failing before any change exits 4 with nothing
//! changed; a signal then exits 130.
//!
//! stdout is a stream of JSON lines (`start`, `gate`, `step`, `revert`) ending
//! with a `summary` line that counts the AWS calls made.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::journal::{Change, Outcome};
use common::{Context, Error, Result};
use serde_json::{Value, json};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::apply::{apply_weights, check_known_sets, open};
use crate::gates::{AlarmSpec, Gates};
use crate::route53::{RecordGroup, Route53, batch_json};
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

    /// How long to hold each step after it is INSYNC before checking the gates again.
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
    /// Someone else changed the weights since our last step: stop, and do not
    /// revert (that would undo their change too, e.g. an emergency maintenance on).
    Conflict {
        expected: Weights,
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

struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    fn new() -> Result<Signals> {
        let map = |e| Error::io("failed to install the signal handlers", e);
        Ok(Signals {
            int: signal(SignalKind::interrupt()).map_err(map)?,
            term: signal(SignalKind::terminate()).map_err(map)?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
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

        let mut signals = Signals::new()?;
        let progress = Mutex::new(Progress {
            sent: false,
            applied: 0,
        });
        let outcome = tokio::select! {
            r = self.forward(&progress) => r,
            s = signals.recv() => Err(Failure::Signal(s)),
        };
        let (sent, applied) = {
            let p = progress.lock().unwrap_or_else(|p| p.into_inner());
            (p.sent, p.applied)
        };
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
        let failure = match failure {
            Failure::Conflict { live, .. } => {
                let msg = format!("{reason}; stopped after {applied} step(s) without reverting");
                return self.stop_for_conflict(umbrella, applied, &live, msg);
            }
            f => f,
        };
        if !sent {
            umbrella.failed(self.start.state_json(), reason.clone())?;
            self.summary("stopped", 0, Some(&start_w), Some(&reason))?;
            return Err(match failure {
                Failure::Gate(m) => Error::CheckFailed(format!(
                    "gate failed before the first step, nothing was changed: {m}"
                )),
                Failure::Signal(_) => Error::Interrupted,
                Failure::Error(e) => e,
                Failure::Conflict { .. } => Error::CheckFailed(reason),
            });
        }

        // Someone else may have changed the record while the shift baked (say, an
        // emergency maintenance on): reverting to the start would undo that too.
        if let Some(live) = self.changed_by_others(applied).await {
            let msg = format!(
                "{reason}; NOT reverted: the weights were changed by someone else meanwhile (found {})",
                weights::describe(&live.weights())
            );
            return self.stop_for_conflict(umbrella, applied, &live, msg);
        }
        self.ctx.out.warn(format!(
            "{reason}; reverting to {}",
            weights::describe(&start_w)
        ));
        match self.revert(applied, &mut signals).await {
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
            Err(revert_err) => {
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

    /// Gates, then the step, then INSYNC and bake, for every step; gates once
    /// more at the end.
    async fn forward(&self, progress: &Mutex<Progress>) -> std::result::Result<(), Failure> {
        let mut current = self.start.clone();
        for (i, step) in self.plan.iter().enumerate() {
            self.run_gates(Some(i), &current).await?;
            // Before the first step the record was read a moment ago, unless gates
            // ran since.
            let gates_ran = !self.opts.fast_track && !self.gates.is_empty();
            if i > 0 || gates_ran {
                self.unchanged_since(&current).await?;
            }
            progress.lock().unwrap_or_else(|p| p.into_inner()).sent = true;
            let t0 = Instant::now();
            let (change_id, after) = apply_weights(
                self.ctx,
                self.r53,
                &current,
                &step.weights,
                "dns.shift.step",
                &self.comment(i),
                self.opts.timeout,
            )
            .await
            .map_err(Failure::Error)?;
            current = after;
            progress.lock().unwrap_or_else(|p| p.into_inner()).applied = i + 1;
            self.event(
                json!({
                    "event": "step",
                    "step": i + 1,
                    "of": self.plan.len(),
                    "percent": step.pct,
                    "weights": step.weights,
                    "shares": weights::shares(&step.weights),
                    "change_id": change_id,
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
                tokio::time::sleep(self.opts.bake).await;
            }
        }
        self.run_gates(None, &current).await
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
    /// what a shift writes; other fields are copied from this fresh read.
    async fn unchanged_since(&self, expected: &RecordGroup) -> std::result::Result<(), Failure> {
        let live = self.read_live().await.map_err(Failure::Error)?;
        if live.weights() == expected.weights() {
            return Ok(());
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

    /// The live record, when its weights are none the shift could have left: not the
    /// last step applied, nor the one that failed (it may or may not have gone
    /// through), nor the start (a revert to it would change nothing). `None` also
    /// when the record cannot be read: the revert then goes ahead, as it did before
    /// this check.
    async fn changed_by_others(&self, applied: usize) -> Option<RecordGroup> {
        let live = self.read_live().await.ok()?;
        let mut ours = vec![self.start.weights()];
        if let Some(last) = applied.checked_sub(1).and_then(|k| self.plan.get(k)) {
            ours.push(last.weights.clone());
        }
        if let Some(next) = self.plan.get(applied) {
            ours.push(next.weights.clone());
        }
        (!ours.contains(&live.weights())).then_some(live)
    }

    /// Back to the starting weights. Gradual: through the applied steps in
    /// reverse first (a signal then switches to an immediate revert). The last
    /// change always UPSERTs every set, so whatever an interrupted step left
    /// live, the start is restored exactly; a read-back confirms it.
    async fn revert(&self, applied: usize, signals: &mut Signals) -> Result<()> {
        let start_w = self.start.weights();
        if self.opts.revert == RevertMode::Gradual && applied > 1 {
            let back = async {
                for k in (0..applied - 1).rev() {
                    let w = &self.plan[k].weights;
                    self.revert_change(w, &format!("gradual revert to step {}", k + 1))
                        .await?;
                    if !self.opts.fast_track && !self.opts.bake.is_zero() {
                        tokio::time::sleep(self.opts.bake).await;
                    }
                }
                Ok::<_, Error>(())
            };
            tokio::select! {
                r = back => r?,
                s = signals.recv() => {
                    self.ctx.out.warn(format!("{s} during the gradual revert: reverting at once"));
                }
            }
        }
        // Signals are no longer listened to: the revert to the start finishes.
        self.revert_change(&start_w, "revert to the starting weights")
            .await?;
        let live = self.read_live().await?;
        if live.weights() != start_w {
            return Err(Error::Internal(format!(
                "after the revert the weights read back are {}, not {}",
                weights::describe(&live.weights()),
                weights::describe(&start_w)
            )));
        }
        Ok(())
    }

    async fn revert_change(&self, w: &Weights, what: &str) -> Result<()> {
        let journal = self.ctx.journal().await?;
        let assumed = self.start.with_weights(w);
        let batch = assumed
            .full_batch(w, &format!("dns-shift shift to {}: {what}", self.opts.to))
            .ok_or_else(|| Error::Internal("empty revert batch".into()))?;
        let mut before = json!({"revert_to": w});
        before["change_batch"] = batch_json(&self.start.zone_id, &batch);
        let change = journal.intent("dns.shift.revert", &self.start.target(), before)?;
        let res = async {
            let id = self.r53.send_batch(&self.start.zone_id, batch).await?;
            self.r53
                .wait_insync(
                    &self.ctx.out,
                    &id,
                    self.opts.timeout,
                    &crate::apply::reattach(&self.start),
                )
                .await?;
            Ok::<_, Error>(id)
        }
        .await;
        match res {
            Ok(id) => {
                change.ok(assumed.state_json())?;
                self.event(
                    json!({"event": "revert", "what": what, "weights": w, "change_id": id, "ok": true}),
                    || format!("revert: {what}: {} INSYNC", weights::describe(w)),
                )
            }
            Err(e) => {
                change.failed(Value::Null, e.to_string())?;
                let _ = self.event(
                    json!({"event": "revert", "what": what, "weights": w, "ok": false, "error": e.to_string()}),
                    || format!("revert: {what}: FAILED: {e}"),
                );
                Err(e)
            }
        }
    }
}
