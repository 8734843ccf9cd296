//! `lb-switch undo`: put a listener's rules back as they were before the last
//! recorded change to it (a whole `shift` counts as one change; an `undo` too,
//! so a second undo redoes). Also the restore behind `maintenance off`.
//!
//! The journal records each change's listener snapshot before and after.
//! Before restoring, the live rules are compared with the recorded `after`:
//! when someone else changed them since, the restore refuses (exit 4) and
//! prints the difference, unless `--force`, which puts the recorded `before`
//! back whatever is live (deleting, modifying and recreating rules as needed).

use std::io::Write;

use common::journal::{Outcome, Record};
use common::{Context, Error, Render, Result};
use serde::Serialize;
use serde_json::{Value, json};

use crate::ListenerArgs;
use crate::elb::{self, Elb, Op, Snapshot};

#[derive(Debug, clap::Args)]
pub struct UndoArgs {
    #[command(flatten)]
    pub listener: ListenerArgs,

    /// Restore even when the rules were changed by someone else since the
    /// change being undone (their changes are overwritten).
    #[arg(long)]
    pub force: bool,
}

/// Top-level changes (`lb.maintenance-on`, `lb.shift` ...), not the steps and
/// reverts recorded inside a shift.
pub fn is_top_level(action: &str) -> bool {
    action
        .strip_prefix("lb.")
        .is_some_and(|rest| !rest.contains('.'))
}

/// The result of `maintenance` and `undo`.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ChangeResult {
    pub action: String,
    pub listener: String,
    pub dry_run: bool,
    /// False when nothing needed changing (or the change was refused).
    pub changed: bool,
    /// The calls made (or, with --dry-run, to be made), in order.
    pub calls_planned: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Set when the rules were changed by someone else since the recorded
    /// change: what differs, one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflict: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub before: Value,
    pub after: Value,
    pub elbv2_calls: u64,
    /// Mutating calls among them (CreateRule, DeleteRule, Modify*, SetRulePriorities).
    pub mutating_calls: u64,
}

impl ChangeResult {
    /// Nothing changed yet: the listener as read, before and after alike.
    pub fn unchanged(ctx: &Context, action: &str, listener: &str, live: Value) -> Self {
        ChangeResult {
            action: action.to_owned(),
            listener: listener.to_owned(),
            dry_run: ctx.dry_run(),
            changed: false,
            calls_planned: Vec::new(),
            rule_arn: None,
            priority: None,
            conflict: Vec::new(),
            note: None,
            before: live.clone(),
            after: live,
            elbv2_calls: 0,
            mutating_calls: 0,
        }
    }
}

impl Render for ChangeResult {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let verb = match (self.dry_run, self.changed, self.conflict.is_empty()) {
            (_, _, false) => "REFUSED: the rules were changed by someone else since",
            (true, true, _) => "would change",
            (_, false, _) => "unchanged",
            (false, true, _) => "changed",
        };
        writeln!(w, "{} {}: {verb}", self.action, self.listener)?;
        for c in &self.conflict {
            writeln!(w, "  {c}")?;
        }
        for c in &self.calls_planned {
            writeln!(w, "  {c}")?;
        }
        if let Some(n) = &self.note {
            writeln!(w, "{n}")?;
        }
        writeln!(
            w,
            "{} ELBv2 calls, {} mutating",
            self.elbv2_calls, self.mutating_calls
        )
    }
}

/// Mutating ELBv2 calls made so far.
pub fn mutating(elb: &Elb) -> u64 {
    elb.calls
        .by_operation()
        .iter()
        .filter(|(op, _)| {
            [
                "CreateRule",
                "DeleteRule",
                "ModifyRule",
                "ModifyListener",
                "SetRulePriorities",
            ]
            .contains(&op.as_str())
        })
        .map(|(_, n)| n)
        .sum()
}

/// The same rules regardless of ARNs (a recreated rule gets a new one).
pub fn equivalent(a: &Snapshot, b: &Snapshot) -> bool {
    let key = |s: &Snapshot| {
        s.rules
            .iter()
            .map(|r| (r.priority, r.conditions.clone(), r.actions.clone()))
            .collect::<Vec<_>>()
    };
    a.default_actions == b.default_actions && key(a) == key(b)
}

/// The newest top-level change to `listener` whose action `keep` accepts,
/// from everyone's journal (the environment's shared state), passing over
/// changes that failed having changed nothing: undoing a refused undo would
/// "restore" the rules it never touched and leave the real change in place.
pub async fn last_record(
    ctx: &Context,
    listener: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<Option<Record>> {
    Ok(ctx
        .journal_reader()
        .await?
        .records(|e| e.target == listener && keep(&e.action))?
        .into_iter()
        .find(|r| !failed_without_change(r)))
}

/// A change journaled `failed` whose outcome shows the rules as they were
/// before it. An outcome without a readable `after` is not known to have
/// changed nothing, so it is kept.
pub fn failed_without_change(r: &Record) -> bool {
    let Some(outcome) = r.outcome.as_ref() else {
        return false;
    };
    if outcome.outcome != Some(Outcome::Failed) {
        return false;
    }
    match (
        Snapshot::from_json(&r.intent.before),
        Snapshot::from_json(&outcome.after),
    ) {
        (Some(before), Some(after)) => equivalent(&before, &after),
        _ => false,
    }
}

/// Puts `record`'s `before` snapshot back on the listener, checking first that
/// the live rules are still as the record left them (its `after`).
pub async fn restore(
    ctx: &Context,
    elb: &Elb,
    listener: &str,
    record: &Record,
    action: &str,
    force: bool,
) -> Result<()> {
    let want = Snapshot::from_json(&record.intent.before).ok_or_else(|| {
        Error::usage(format!(
            "journal entry {} ({}) holds no listener rules",
            record.intent.id, record.intent.action
        ))
    })?;
    let recorded_after = record
        .outcome
        .as_ref()
        .and_then(|o| Snapshot::from_json(&o.after));
    match record.outcome.as_ref().and_then(|o| o.outcome) {
        Some(Outcome::Ok) => {}
        other => ctx.out.warn(format!(
            "the change being undone ({}) ended {}",
            record.intent.action,
            other
                .and_then(|o| serde_json::to_value(o).ok())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "without an outcome".into())
        )),
    }
    let live = ctx.cancel().run(elb.read_listener(listener)).await?;
    let mut result = ChangeResult::unchanged(ctx, action, listener, live.json());
    result.note = Some(format!(
        "restores the rules from before {} of {} (journal entry {})",
        record.intent.action,
        record.intent.time.to_rfc3339(),
        record.intent.id
    ));
    if equivalent(&want, &live) {
        result.note = Some("the rules are already as recorded before that change".into());
        result.elbv2_calls = elb.total();
        return ctx.out.result(&result);
    }
    let conflict = match &recorded_after {
        Some(after) => elb::diff(after, &live),
        None => vec!["the change has no recorded outcome to compare with".to_owned()],
    };
    if !conflict.is_empty() && !force {
        result.conflict = conflict.clone();
        result.elbv2_calls = elb.total();
        ctx.out.result(&result)?;
        return Err(Error::CheckFailed(format!(
            "the rules of {listener} were changed by someone else since {} ({}); not restoring over them (pass --force to overwrite): {}",
            record.intent.action,
            record.intent.id,
            conflict.join("; ")
        )));
    }
    if !conflict.is_empty() {
        ctx.out.warn(format!(
            "--force: overwriting changes made since {}: {}",
            record.intent.action,
            conflict.join("; ")
        ));
    }
    let ops = elb::reconcile(&want, &live);
    result.calls_planned = ops.iter().map(Op::json).collect();
    result.changed = !ops.is_empty();
    result.after = want.json();
    if ctx.dry_run() {
        result.elbv2_calls = elb.total();
        return ctx.out.result(&result);
    }
    ctx.begin_change(&format!("{action} on listener {listener}"))
        .await?;
    let journal = ctx.journal().await?;
    let mut before = live.json();
    before["calls"] = json!(result.calls_planned);
    before["undoes"] = json!(record.intent.id);
    let change = journal.intent(&format!("lb.{action}"), listener, before)?;
    for op in &ops {
        // Each call is let finish: a signal is honoured between calls only.
        if ctx.cancel().is_cancelled() {
            let now = elb
                .read_listener(listener)
                .await
                .map(|s| s.json())
                .unwrap_or(Value::Null);
            change.interrupted(
                now,
                format!(
                    "stopped by a signal before {}; re-run `lb-switch {action}` to finish",
                    op.json()
                ),
            )?;
            return Err(Error::Interrupted);
        }
        if let Err(e) = elb.run_op(listener, op).await {
            let now = elb
                .read_listener(listener)
                .await
                .map(|s| s.json())
                .unwrap_or(Value::Null);
            change.failed(now.clone(), format!("{} failed: {e}", op.json()))?;
            result.after = now;
            result.elbv2_calls = elb.total();
            result.mutating_calls = mutating(elb);
            ctx.out.result(&result)?;
            return Err(e);
        }
    }
    // Read back: the record of what is now live, and the proof of the restore.
    let now = elb.read_listener(listener).await?;
    result.after = now.json();
    result.elbv2_calls = elb.total();
    result.mutating_calls = mutating(elb);
    if !equivalent(&want, &now) {
        let msg = format!(
            "after the restore the rules read back differ from the recorded ones: {}",
            elb::diff(&want, &now).join("; ")
        );
        change.failed(now.json(), msg.clone())?;
        ctx.out.result(&result)?;
        return Err(Error::RevertFailed(msg));
    }
    change.ok(now.json())?;
    ctx.out.result(&result)
}

pub async fn run(ctx: &Context, args: &UndoArgs) -> Result<()> {
    let spec = args.listener.validate()?;
    let elb = crate::open(ctx).await?;
    let listener = ctx.cancel().run(spec.resolve(&elb)).await?;
    let reader = ctx.journal_reader().await?;
    let record = last_record(ctx, &listener, is_top_level)
        .await?
        .ok_or_else(|| {
            Error::usage(format!(
                "no change to {listener} is recorded in the journal {}",
                reader.store().map_or_else(
                    || reader.path().display().to_string(),
                    |s| s.location("journal/")
                )
            ))
        })?;
    restore(ctx, &elb, &listener, &record, "undo", args.force).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(weight_green: u32) -> Value {
        json!({
            "listener_arn": "arn:l",
            "default_rule_arn": "arn:l/default",
            "default_actions": [{"Type": "forward", "green": weight_green}],
            "rules": [],
        })
    }

    fn record(outcome: &str, before: Value, after: Value) -> Record {
        let entry = |phase: &str, before: Value, after: Value, outcome: Option<&str>| {
            serde_json::from_value::<common::journal::Entry>(json!({
                "id": "c1", "phase": phase, "time": "2026-12-03T08:00:00Z",
                "binary": "lb-switch", "action": "lb.undo", "target": "arn:l",
                "before": before, "after": after, "outcome": outcome,
            }))
            .expect("entry")
        };
        Record {
            intent: entry("intent", before, Value::Null, None),
            outcome: Some(entry("outcome", Value::Null, after, Some(outcome))),
        }
    }

    #[test]
    fn a_failed_change_that_changed_nothing_is_not_the_one_undone() {
        // A refused undo: the rules after are the rules before.
        assert!(failed_without_change(&record(
            "failed",
            snap(100),
            snap(100)
        )));
        // Failed part-way, rules moved: still the change to undo.
        assert!(!failed_without_change(&record(
            "failed",
            snap(0),
            snap(100)
        )));
        // Done: undone as usual.
        assert!(!failed_without_change(&record("ok", snap(0), snap(0))));
        // No readable outcome: not known to have changed nothing.
        assert!(!failed_without_change(&record(
            "failed",
            snap(0),
            Value::Null
        )));
    }

    #[test]
    fn steps_and_reverts_inside_a_shift_are_not_undone_alone() {
        assert!(is_top_level("lb.shift"));
        assert!(is_top_level("lb.maintenance-on"));
        assert!(is_top_level("lb.undo"));
        assert!(!is_top_level("lb.shift.step"));
        assert!(!is_top_level("lb.shift.revert"));
        assert!(!is_top_level("dns.shift"));
    }
}
