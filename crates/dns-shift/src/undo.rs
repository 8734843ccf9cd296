//! `dns-shift undo`: restore the weights from before the last recorded change
//! to a record (a whole `shift` counts as one change; an `undo` too, so a
//! second undo redoes).

use common::journal::Outcome;
use common::{Context, Error, Result};

use crate::RecordArgs;
use crate::apply::{change_and_report, last_record, open, weights_before};
use crate::args::InsyncTimeout;
use crate::weights;

#[derive(Debug, clap::Args)]
pub struct UndoArgs {
    #[command(flatten)]
    pub record: RecordArgs,

    #[command(flatten)]
    pub insync: InsyncTimeout,
}

/// Top-level changes (`dns.set-weights`, `dns.shift`, `dns.maintenance-on` ...),
/// not the steps and reverts recorded inside a shift.
pub fn is_top_level(action: &str) -> bool {
    action
        .strip_prefix("dns.")
        .is_some_and(|rest| !rest.contains('.'))
}

pub async fn run(ctx: &Context, args: &UndoArgs) -> Result<()> {
    let spec = args.record.validate()?;
    let timeout = args.insync.parse()?;

    let (r53, group) = open(ctx, &spec).await?;
    let reader = crate::apply::journal_reader(ctx).await?;
    let record = last_record(ctx, &group.target(), is_top_level)
        .await?
        .ok_or_else(|| {
            Error::usage(format!(
                "no change to {} is recorded in the journal {}",
                group.name,
                reader.store().map_or_else(
                    || reader.path().display().to_string(),
                    |s| s.location("journal/")
                )
            ))
        })?;
    let before = weights_before(&group, &record)?;
    match record.outcome.as_ref().and_then(|o| o.outcome) {
        Some(Outcome::Ok) => {}
        other => ctx.out.warn(format!(
            "the change being undone ({}) ended {}",
            record.intent.action,
            match other {
                Some(o) => serde_json::to_value(o)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                None => "without an outcome".into(),
            }
        )),
    }
    let note = Some(format!(
        "undid {} of {} (journal entry {})",
        record.intent.action,
        record.intent.time.to_rfc3339(),
        record.intent.id
    ));
    change_and_report(
        ctx,
        &r53,
        &group,
        &before,
        "undo",
        &format!(
            "undo the last change to {} ({})",
            group.name,
            weights::describe(&before)
        ),
        timeout,
        note,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_reverts_inside_a_shift_are_not_undone_alone() {
        assert!(is_top_level("dns.shift"));
        assert!(is_top_level("dns.set-weights"));
        assert!(is_top_level("dns.undo"));
        assert!(!is_top_level("dns.shift.step"));
        assert!(!is_top_level("dns.shift.revert"));
        assert!(!is_top_level("ecs.revert"));
    }
}
