//! `run-state journal [--run RUN_ID] [--follow]`: the environment's shared
//! journal (everyone's intents and outcomes), oldest first, as JSON lines.

use std::collections::HashSet;
use std::time::Duration;

use common::journal::{Entry, Phase};
use common::{Context, Result};

#[derive(Debug, clap::Args)]
pub struct JournalArgs {
    /// Only entries of this run.
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run_id: Option<String>,

    /// Keep printing new entries until interrupted.
    #[arg(long)]
    pub follow: bool,
}

fn line(e: &Entry) -> String {
    format!(
        "{} {:<7} {:<22} {:<40} {}{}",
        e.time.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        match e.phase {
            Phase::Intent => "intent",
            Phase::Outcome => "outcome",
        },
        e.action,
        e.target,
        e.outcome
            .and_then(|o| serde_json::to_value(o).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        e.actor
            .as_deref()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default()
    )
}

pub async fn run(ctx: &Context, args: &JournalArgs) -> Result<()> {
    if let Some(r) = &args.run_id {
        common::state::validate_run_id(r)?;
    }
    let journal = ctx.journal().await?;
    let mut seen: HashSet<(String, Phase)> = HashSet::new();
    loop {
        for e in journal.entries()? {
            if args.run_id.is_some() && e.run_id != args.run_id {
                continue;
            }
            if seen.insert((e.id.clone(), e.phase)) {
                ctx.out.event(&e, || line(&e))?;
            }
        }
        if !args.follow {
            return Ok(());
        }
        tokio::select! {
            () = ctx.cancel().cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
