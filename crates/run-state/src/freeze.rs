//! `run-state freeze|unfreeze`: the strategy's "prevent new code deployments".
//! While frozen, `stack-deploy deploy` and `runbooks/deploy.sh` exit 8 before any
//! call; rollbacks and every other command still work.

use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use common::state::{self, Cond, FreezeInfo, Write};
use common::{Context, Error, Render, Result};

#[derive(Debug, clap::Args)]
pub struct FreezeArgs {
    /// Why (shown to everyone who is refused).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, clap::Args)]
pub struct UnfreezeArgs {}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct FreezeResult {
    pub env: String,
    pub frozen: bool,
    /// False when it already was as asked.
    pub changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freeze: Option<FreezeInfo>,
    pub dry_run: bool,
}

impl Render for FreezeResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let pre = if self.dry_run {
            "dry run: would be "
        } else {
            ""
        };
        match (&self.freeze, self.frozen) {
            (Some(f), true) => writeln!(
                w,
                "{pre}{} frozen by {}: {}{}",
                self.env,
                f.by,
                f.reason,
                if self.changed { "" } else { " (already)" }
            ),
            _ => writeln!(
                w,
                "{pre}{} not frozen{}",
                self.env,
                if self.changed { "" } else { " (already)" }
            ),
        }
    }
}

pub async fn freeze(ctx: &Context, args: &FreezeArgs) -> Result<()> {
    let reason = crate::reason(&args.reason)?;
    let store = crate::store(ctx).await?;
    if let Some(f) = state::freeze_status(store)? {
        return ctx.out.result(&FreezeResult {
            env: store.env().to_owned(),
            frozen: true,
            changed: false,
            freeze: Some(f),
            dry_run: ctx.dry_run(),
        });
    }
    let info = FreezeInfo {
        by: crate::actor(ctx).await?,
        reason,
        since: Utc::now(),
    };
    if ctx.dry_run() {
        return ctx.out.result(&FreezeResult {
            env: store.env().to_owned(),
            frozen: true,
            changed: true,
            freeze: Some(info),
            dry_run: true,
        });
    }
    let journal = ctx.journal().await?;
    let change = journal.intent(
        "state.freeze",
        &store.location(state::FREEZE_KEY),
        json!(null),
    )?;
    let body = serde_json::to_vec_pretty(&info).map_err(|e| Error::Internal(e.to_string()))?;
    match store.put(state::FREEZE_KEY, &body, Cond::Absent)? {
        Write::Done(_) => {
            change.ok(json!(info))?;
            ctx.out.result(&FreezeResult {
                env: store.env().to_owned(),
                frozen: true,
                changed: true,
                freeze: Some(info),
                dry_run: false,
            })
        }
        // Someone froze it between our read and write: theirs stands.
        Write::Conflict => {
            let theirs = state::freeze_status(store)?;
            change.ok(json!(theirs))?;
            ctx.out.result(&FreezeResult {
                env: store.env().to_owned(),
                frozen: true,
                changed: false,
                freeze: theirs,
                dry_run: false,
            })
        }
    }
}

pub async fn unfreeze(ctx: &Context, _args: &UnfreezeArgs) -> Result<()> {
    let store = crate::store(ctx).await?;
    let Some(current) = store.get(state::FREEZE_KEY)? else {
        return ctx.out.result(&FreezeResult {
            env: store.env().to_owned(),
            frozen: false,
            changed: false,
            freeze: None,
            dry_run: ctx.dry_run(),
        });
    };
    let before: Option<FreezeInfo> = serde_json::from_slice(&current.body).ok();
    if ctx.dry_run() {
        return ctx.out.result(&FreezeResult {
            env: store.env().to_owned(),
            frozen: false,
            changed: true,
            freeze: before,
            dry_run: true,
        });
    }
    ctx.safety
        .confirm(&format!("lift the deploy freeze of {}", store.env()))?;
    let journal = ctx.journal().await?;
    let change = journal.intent(
        "state.unfreeze",
        &store.location(state::FREEZE_KEY),
        json!(before),
    )?;
    match store.delete(state::FREEZE_KEY, Some(&current.etag))? {
        Write::Done(_) => {
            change.ok(json!(null))?;
            ctx.out.result(&FreezeResult {
                env: store.env().to_owned(),
                frozen: false,
                changed: true,
                freeze: before,
                dry_run: false,
            })
        }
        Write::Conflict => {
            change.failed(json!(null), "the freeze changed while lifting it")?;
            Err(Error::CheckFailed(format!(
                "the freeze of {} changed while lifting it; look again with run-state lock status",
                store.env()
            )))
        }
    }
}
