//! What `set`, `maintenance` and `undo` share, and each step of `shift` uses:
//! open a record (zone, weighted sets), apply one weight change as one
//! conditional ChangeBatch with its journal entries, wait until INSYNC.

use std::io::Write;
use std::time::Duration;

use common::journal::{Journal, Record};
use common::{Context, Error, Render, Result};
use serde::Serialize;
use serde_json::Value;

use crate::RecordSpec;
#[cfg(doc)]
use crate::route53::Written;
use crate::route53::{CallCounter, RecordGroup, Route53, WriteError, batch_json};
use crate::shift::Route53Target;
use crate::weights::{self, Weights};

/// Loads AWS (after all input was validated), resolves the zone and reads the
/// record's weighted sets.
pub async fn open(ctx: &Context, spec: &RecordSpec) -> Result<(Route53, RecordGroup)> {
    let aws = ctx.aws().await?;
    let r53 = Route53::new(&aws.config, CallCounter::default());
    // Reads only: a signal here ends the command at once (exit 130).
    let group = ctx
        .cancel()
        .run(async {
            let zone_id = r53.resolve_zone(&spec.zone).await?;
            r53.read_group(&zone_id, &spec.name, spec.rtype.as_ref())
                .await
        })
        .await?;
    Ok((r53, group))
}

/// Fails with exit 2 unless every id names a weighted set of the record.
pub fn check_known_sets<'a>(
    group: &RecordGroup,
    ids: impl IntoIterator<Item = &'a String>,
) -> Result<()> {
    let known = group.weights();
    for id in ids {
        if !known.contains_key(id) {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            return Err(Error::usage(format!(
                "no weighted set {id:?} in {} (sets: {})",
                group.name,
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// The command that shows the record again after a timed-out wait.
pub fn reattach(group: &RecordGroup) -> String {
    format!(
        "dns-shift show --zone {} --record {} --type {}",
        group.zone_id,
        group.name,
        group.rtype.as_str()
    )
}

/// A weight change that was made (`change_id` is `None` when Route 53 had
/// already applied it: an answer lost, see [`Written::AlreadyLive`]).
pub type Applied = common::shift::Applied<RecordGroup>;

/// Sends the change from `group` (the record exactly as last read) to `new`
/// weights as one conditional batch, journaled as `action`, and waits until
/// INSYNC. Someone else's change since the read: [`WriteError::Conflict`] with
/// the record as it is now, journaled as failed with it. A signal while waiting
/// for INSYNC: journaled `interrupted` (the change was sent) and
/// `Error::Interrupted`. The one change of `common::shift::apply`, which the
/// shift engine uses for each step too.
pub async fn apply_weights(
    ctx: &Context,
    r53: &Route53,
    group: &RecordGroup,
    new: &Weights,
    action: &str,
    comment: &str,
    timeout: Duration,
) -> std::result::Result<Applied, WriteError> {
    let target = Route53Target::new(r53, group);
    common::shift::apply(ctx, &target, group, new, action, comment, timeout)
        .await
        .map_err(|e| match e {
            common::shift::WriteError::Conflict(live) => WriteError::Conflict(live),
            common::shift::WriteError::Failed(e) => WriteError::Failed(e),
            common::shift::WriteError::Unchanged(e) => WriteError::Unchanged(e),
        })
}

/// The result of `set`, `maintenance` and `undo`.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct WeightsResult {
    pub action: String,
    pub zone_id: String,
    pub record: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub dry_run: bool,
    /// False when the weights were already as asked (nothing was sent).
    pub changed: bool,
    pub before: Weights,
    pub after: Weights,
    /// Share of traffic per set after the change, in percent.
    pub shares: std::collections::BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// The ChangeBatch sent (or, with --dry-run, the one that would be sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_batch: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// True when Route 53 rejected the change because someone else changed the
    /// record since it was read; `after` then holds their (live) weights.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub conflict: bool,
    pub route53_calls: u64,
}

impl Render for WeightsResult {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let verb = match (self.dry_run, self.changed, self.conflict) {
            (_, _, true) => {
                "NOT changed: someone else changed the record since it was read (AFTER is theirs)"
            }
            (true, true, _) => "would change",
            (_, false, _) => "unchanged",
            (false, true, _) => "changed",
        };
        writeln!(
            w,
            "{} {} {} ({}): {verb}",
            self.action, self.record, self.rtype, self.zone_id
        )?;
        let rows: Vec<Vec<String>> = self
            .after
            .iter()
            .map(|(id, after)| {
                let before = self.before.get(id).copied().unwrap_or_default();
                vec![
                    id.clone(),
                    before.to_string(),
                    after.to_string(),
                    format!("{:.2} %", self.shares.get(id).copied().unwrap_or_default()),
                ]
            })
            .collect();
        write!(
            w,
            "{}",
            common::output::table(&["SET", "BEFORE", "AFTER", "SHARE"], &rows)
        )?;
        if let Some(b) = &self.change_batch
            && self.dry_run
        {
            writeln!(w, "{}", serde_json::to_string_pretty(b).unwrap_or_default())?;
        }
        if let Some(n) = &self.note {
            writeln!(w, "{n}")?;
        }
        Ok(())
    }
}

/// Applies `new` (or, with `--dry-run`, only shows it) and prints the result.
#[allow(clippy::too_many_arguments)]
pub async fn change_and_report(
    ctx: &Context,
    r53: &Route53,
    group: &RecordGroup,
    new: &Weights,
    action: &str,
    confirm_what: &str,
    timeout: Duration,
    note: Option<String>,
) -> Result<()> {
    let before = group.weights();
    let comment = format!("dns-shift {action}");
    let batch = group.change_batch(new, &comment);
    let mut result = WeightsResult {
        action: action.to_owned(),
        zone_id: group.zone_id.clone(),
        record: group.name.clone(),
        rtype: group.rtype.as_str().to_owned(),
        dry_run: ctx.dry_run(),
        changed: batch.is_some(),
        before: before.clone(),
        after: before.clone(),
        shares: weights::shares(&before),
        change_id: None,
        change_batch: batch.as_ref().map(|b| batch_json(&group.zone_id, b)),
        note,
        conflict: false,
        route53_calls: 0,
    };
    if batch.is_some() {
        result.after = new.clone();
        result.shares = weights::shares(new);
        if !ctx.dry_run() {
            ctx.begin_change(confirm_what).await?;
            match apply_weights(
                ctx,
                r53,
                group,
                new,
                &format!("dns.{action}"),
                &comment,
                timeout,
            )
            .await
            {
                Ok(applied) => {
                    result.change_id = applied.change_id;
                    if let Some(e) = applied.unconfirmed {
                        // Changed, not confirmed INSYNC: the result says so, exit 5.
                        let n = "the change was accepted by Route 53; INSYNC was not confirmed";
                        result.note = Some(match result.note.take() {
                            Some(prev) => format!("{prev}\n{n}"),
                            None => n.to_owned(),
                        });
                        result.route53_calls = r53.calls.service_total("route53");
                        ctx.out.result(&result)?;
                        return Err(e);
                    }
                }
                Err(WriteError::Conflict(live)) => {
                    // Nothing was changed: report their state, not ours.
                    result.changed = false;
                    result.conflict = true;
                    result.after = live.weights();
                    result.shares = weights::shares(&result.after);
                    result.route53_calls = r53.calls.service_total("route53");
                    ctx.out.result(&result)?;
                    return Err(WriteError::Conflict(live).into_error());
                }
                Err(WriteError::Failed(e) | WriteError::Unchanged(e)) => return Err(e),
            }
        }
    }
    result.route53_calls = r53.calls.service_total("route53");
    ctx.out.result(&result)
}

/// The journal for reading only (no STS call to name the caller): everyone's
/// entries from the environment's shared state, so an undo on one machine sees
/// a change made on another.
pub async fn journal_reader(ctx: &Context) -> Result<Journal> {
    ctx.journal_reader().await
}

/// The weights recorded as `before` (or `after`) in a journal entry.
pub fn recorded_weights(state: &Value) -> Option<Weights> {
    let obj = state.get("weights")?.as_object()?;
    obj.iter()
        .map(|(k, v)| Some((k.clone(), u32::try_from(v.as_u64()?).ok()?)))
        .collect()
}

/// The newest recorded change to `target` whose action `keep` accepts.
pub async fn last_record(
    ctx: &Context,
    target: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<Option<Record>> {
    Ok(journal_reader(ctx)
        .await?
        .records(|e| e.target == target && keep(&e.action))?
        .into_iter()
        .find(|r| !failed_without_change(r)))
}

/// A change journaled `failed` whose outcome shows the weights it started
/// from: it changed nothing (a refused write, read back unchanged). Undoing it
/// would "restore" weights it never touched and leave the real change in place,
/// so [`last_record`] passes over it. An outcome without readable weights is not
/// known to have changed nothing, so it is kept.
pub fn failed_without_change(r: &Record) -> bool {
    let Some(outcome) = r.outcome.as_ref() else {
        return false;
    };
    if outcome.outcome != Some(common::journal::Outcome::Failed) {
        return false;
    }
    match (
        recorded_weights(&r.intent.before),
        recorded_weights(&outcome.after),
    ) {
        (Some(before), Some(after)) => before == after,
        _ => false,
    }
}

/// The weights a journal entry recorded from before its change, once
/// [`check_recorded`] finds the record's sets unchanged since.
pub fn weights_before(group: &RecordGroup, record: &Record) -> Result<Weights> {
    let id = &record.intent.id;
    let before = recorded_weights(&record.intent.before)
        .ok_or_else(|| Error::usage(format!("journal entry {id} holds no weights")))?;
    check_recorded(group, &before, &format!("journal entry {id}"))?;
    Ok(before)
}

/// Checks that journaled weights still fit the record's sets.
pub fn check_recorded(group: &RecordGroup, recorded: &Weights, what: &str) -> Result<()> {
    let live = group.weights();
    let recorded_ids: Vec<&String> = recorded.keys().collect();
    let live_ids: Vec<&String> = live.keys().collect();
    if recorded_ids != live_ids {
        return Err(Error::usage(format!(
            "{what} names sets {} but {} now has {}; set the weights with `dns-shift set`",
            weights::describe(recorded),
            group.name,
            weights::describe(&live)
        )));
    }
    if recorded.values().any(|&w| w > weights::MAX_WEIGHT) {
        return Err(Error::usage(format!(
            "{what} holds a weight over 255: {}",
            weights::describe(recorded)
        )));
    }
    Ok(())
}
