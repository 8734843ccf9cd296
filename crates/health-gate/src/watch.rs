//! `health-gate watch`: the check, repeatedly, for a while (the strategy's
//! post-deployment watch). It stops at the first sustained breach: `--failure-limit`
//! failed evaluations IN A ROW (a passing evaluation resets the count). Argo
//! Rollouts' `failureLimit` instead counts failures over the whole analysis and
//! fails when it is exceeded; its `consecutiveErrorLimit` is the in-a-row rule for
//! errors. In a row is chosen here so one blip in a 24 h watch does not add up
//! with another hours later, while a real breach stops the watch within
//! `failure-limit x interval`. Inconclusive evaluations (more no-data than the file
//! tolerates) count as failed: no data is never healthy.

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::calls::CallCounter;
use common::{Context, Error, HumanDuration, Result};
use serde::Serialize;

use crate::check::{GatesArgs, clients};
use crate::evaluate::{self, Calls, GateOutcome};

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub gates: GatesArgs,
    /// How long to watch (at most 48h; LTC_DEADLINE shortens it). Read-only:
    /// after a dropped session run the same command again for the time left.
    #[arg(long = "for", value_name = "DURATION", default_value = "30m")]
    pub duration: HumanDuration,
    /// Time between the starts of two evaluations (at least 1s).
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    pub interval: HumanDuration,
    /// Stop (exit 4) after this many failed evaluations in a row (1-100).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub failure_limit: u32,
}

/// One JSON line of `watch` (`docs/schema/health-gate/watch.events.schema.json`),
/// tagged by `type`; the output layer adds `ts` first.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WatchEvent<'a> {
    /// One evaluation of the gates.
    Evaluation(EvaluationEvent<'a>),
    /// The last line: how the watch ended.
    Summary(Summary),
}

/// The `evaluation` line.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct EvaluationEvent<'a> {
    /// When the evaluation started (RFC 3339, UTC).
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
    /// 1-based.
    pub evaluation: u32,
    pub passed: bool,
    /// Failed evaluations in a row, this one included.
    pub consecutive_failures: u32,
    pub failure_limit: u32,
    pub reason: &'a str,
    pub gates: &'a [GateOutcome],
}

/// The `summary` line.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Summary {
    /// When the watch ended (RFC 3339, UTC).
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
    /// healthy (watched the whole time), breached, or interrupted.
    pub result: &'static str,
    pub evaluations: u32,
    pub failed_evaluations: u32,
    pub consecutive_failures: u32,
    /// How long it watched (`30m`).
    pub watched: String,
    pub reason: String,
    /// Requests per operation.
    pub calls: Calls,
}

fn validate(args: &WatchArgs) -> Result<()> {
    if args.interval.0 < Duration::from_secs(1) {
        return Err(Error::usage("--interval must be at least 1s"));
    }
    if args.duration.0.is_zero() || args.duration.0 > Duration::from_secs(48 * 3600) {
        return Err(Error::usage("--for must be above 0 and at most 48h"));
    }
    if !(1..=100).contains(&args.failure_limit) {
        return Err(Error::usage("--failure-limit must be from 1 to 100"));
    }
    Ok(())
}

pub async fn run(ctx: &Context, args: &WatchArgs) -> Result<()> {
    validate(args)?;
    let set = args.gates.load()?;
    let watch_for = common::duration::effective_timeout(args.duration.0)?;
    let calls = CallCounter::default();
    let clients = clients(ctx, &set, &calls).await?;
    let started = tokio::time::Instant::now();
    let deadline = started + watch_for;
    let (mut n, mut failed, mut in_a_row) = (0u32, 0u32, 0u32);
    let summary = |result: &'static str, reason: String, n, failed, in_a_row| Summary {
        at: Utc::now(),
        result,
        evaluations: n,
        failed_evaluations: failed,
        consecutive_failures: in_a_row,
        watched: common::duration::format_duration(started.elapsed()),
        reason,
        calls: calls.by_operation(),
    };
    // A signal while evaluating or sleeping: the summary so far, then the error.
    let interrupted = |e: Error, n, failed, in_a_row| -> Result<()> {
        let why = "stopped by a signal".into();
        emit_summary(ctx, summary("interrupted", why, n, failed, in_a_row))?;
        Err(e)
    };
    loop {
        let at = Utc::now();
        let outcomes = match ctx
            .cancel()
            .run(async { Ok(evaluate::evaluate(&set, &clients, at).await) })
            .await
        {
            Ok(o) => o,
            Err(e) => return interrupted(e, n, failed, in_a_row),
        };
        n += 1;
        let d = evaluate::decide(
            &outcomes,
            args.gates.strict,
            set.settings.inconclusive_limit,
        );
        if d.passed {
            in_a_row = 0;
        } else {
            failed += 1;
            in_a_row += 1;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let ev = WatchEvent::Evaluation(EvaluationEvent {
            at,
            evaluation: n,
            passed: d.passed,
            consecutive_failures: in_a_row,
            failure_limit: args.failure_limit,
            reason: &d.reason,
            gates: &outcomes,
        });
        ctx.out.event(&ev, || {
            format!(
                "{} #{n} {}: {}",
                at.format("%H:%M:%SZ"),
                if d.passed { "pass" } else { "FAIL" },
                d.reason
            )
        })?;
        ctx.out.info(format!(
            "{} evaluation {n}: {} pass, {} fail, {} inconclusive; failed in a row {in_a_row}/{}; {} left",
            at.format("%H:%M:%SZ"),
            d.pass,
            d.fail,
            d.inconclusive,
            args.failure_limit,
            common::duration::format_duration(left)
        ));
        if in_a_row >= args.failure_limit {
            ctx.out.human(evaluate::table(&outcomes));
            let reason = format!(
                "{in_a_row} evaluations in a row failed (limit {}): {}",
                args.failure_limit, d.reason
            );
            emit_summary(
                ctx,
                summary("breached", reason.clone(), n, failed, in_a_row),
            )?;
            return Err(Error::CheckFailed(reason));
        }
        let next = tokio::time::Instant::now() + args.interval.0;
        if next > deadline {
            let reason = format!(
                "no sustained breach in {} ({n} evaluations, {failed} failed)",
                common::duration::format_duration(watch_for)
            );
            emit_summary(ctx, summary("healthy", reason, n, failed, in_a_row))?;
            return Ok(());
        }
        let slept = ctx
            .cancel()
            .run(async {
                tokio::time::sleep_until(next).await;
                Ok(())
            })
            .await;
        if let Err(e) = slept {
            return interrupted(e, n, failed, in_a_row);
        }
    }
}

fn emit_summary(ctx: &Context, s: Summary) -> Result<()> {
    let info = format!(
        "watch {}: {} evaluations, {} failed, watched {}: {}",
        s.result, s.evaluations, s.failed_evaluations, s.watched, s.reason
    );
    let text = format!("{}: {}", s.result, s.reason);
    ctx.out.event(&WatchEvent::Summary(s), || text)?;
    ctx.out.info(info);
    Ok(())
}
