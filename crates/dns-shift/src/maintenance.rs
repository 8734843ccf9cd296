//! `dns-shift maintenance on|off`: all traffic to the maintenance set, and back
//! to the weights it had before (remembered in the journal).

use common::{Context, Error, Result};

use crate::RecordArgs;
use crate::apply::{
    change_and_report, check_known_sets, last_record, open, recorded_weights, weights_before,
};
use crate::args::InsyncTimeout;
use crate::weights::{self, validate_set_id};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    On,
    Off,
}

#[derive(Debug, clap::Args)]
pub struct MaintenanceArgs {
    /// on: 100 % to the maintenance set; off: restore the weights from before `on`.
    #[arg(value_enum)]
    pub mode: Mode,

    #[command(flatten)]
    pub record: RecordArgs,

    /// The maintenance set's identifier.
    #[arg(
        long = "set",
        default_value = "maintenance",
        value_name = "ID",
        allow_hyphen_values = true
    )]
    pub set_id: String,

    #[command(flatten)]
    pub insync: InsyncTimeout,
}

pub const ACTION_ON: &str = "dns.maintenance-on";

pub async fn run(ctx: &Context, args: &MaintenanceArgs) -> Result<()> {
    let spec = args.record.validate()?;
    validate_set_id(&args.set_id).map_err(|e| Error::usage(format!("--set: {e}")))?;
    let timeout = args.insync.parse()?;

    let (r53, group) = open(ctx, &spec).await?;
    check_known_sets(&group, [&args.set_id])?;
    let live = group.weights();
    match args.mode {
        Mode::On => {
            let new = weights::weights_at(&live, &args.set_id, 100).map_err(Error::usage)?;
            let already = weights::share_of(&live, &args.set_id) >= 100.0;
            let (new, note) = if already {
                (
                    live.clone(),
                    Some(format!("{} already has all traffic", args.set_id)),
                )
            } else {
                (new, None)
            };
            change_and_report(
                ctx,
                &r53,
                &group,
                &new,
                "maintenance-on",
                &format!(
                    "put {} into maintenance (all traffic to {})",
                    group.name, args.set_id
                ),
                timeout,
                note,
            )
            .await
        }
        Mode::Off => {
            let record = last_record(ctx, &group.target(), |a| a == ACTION_ON).await?.ok_or_else(|| {
                Error::usage(format!(
                    "no `maintenance on` for {} is recorded in the journal; choose the weights with `dns-shift set`",
                    group.name
                ))
            })?;
            let before = weights_before(&group, &record)?;
            let on_weights = record
                .outcome
                .as_ref()
                .and_then(|o| recorded_weights(&o.after));
            if on_weights.as_ref().is_some_and(|w| w != &live) {
                ctx.out.warn(format!(
                    "the weights changed since maintenance was turned on ({}); restoring the ones from before it anyway",
                    weights::describe(&live)
                ));
            }
            let note = Some(format!(
                "restored the weights from before `maintenance on` at {} (journal entry {})",
                record.intent.time.to_rfc3339(),
                record.intent.id
            ));
            change_and_report(
                ctx,
                &r53,
                &group,
                &before,
                "maintenance-off",
                &format!(
                    "take {} out of maintenance ({})",
                    group.name,
                    weights::describe(&before)
                ),
                timeout,
                note,
            )
            .await
        }
    }
}
