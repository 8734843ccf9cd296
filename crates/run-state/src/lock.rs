//! `run-state lock status|break|hold|new-run-id`: the environment's run lock
//! (taken by every mutating command through `common::state`).

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;

use common::state::{self, Acquired, LockInfo, LockRequest};
use common::{Context, Error, Render, Result};

#[derive(Debug, clap::Subcommand)]
pub enum LockCommand {
    /// Who holds the lock, since when, until when; and whether deploys are frozen.
    Status,
    /// Remove the lock whoever holds it (after checking that run is really dead);
    /// journaled with who broke whose lock and why.
    Break(BreakArgs),
    /// Take the lock for a run and keep it (renewing the lease) until SIGINT,
    /// SIGTERM or SIGHUP, or until --watch-pid exits. Prints one JSON line when
    /// it holds it (`held`), or `within-run` and exits when the run already
    /// holds it. For runbooks.
    Hold(HoldArgs),
    /// Print a new run id (UTC time, kind, random suffix).
    NewRunId {
        /// What kind of run, e.g. deploy or rollback.
        #[arg(default_value = "run")]
        kind: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct BreakArgs {
    /// Why (recorded in the journal).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, clap::Args)]
pub struct HoldArgs {
    /// The run id commands of this run carry in LTC_RUN_ID [default: LTC_RUN_ID].
    #[arg(long = "run", env = "LTC_RUN_ID", value_name = "RUN_ID")]
    pub run_id: String,

    /// What runs, as refused operators will see it.
    #[arg(long, default_value = "a runbook", value_name = "TEXT")]
    pub command: String,

    /// Release the lock when this process exits (the runbook's shell: `$$`).
    #[arg(long, value_name = "PID")]
    pub watch_pid: Option<u32>,

    /// This run deploys new code: refused (exit 8) while the environment is frozen.
    #[arg(long)]
    pub deploy: bool,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct LockStatus {
    pub env: String,
    pub location: String,
    pub held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockInfo>,
    pub expired: bool,
    pub frozen: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freeze: Option<state::FreezeInfo>,
}

impl Render for LockStatus {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match &self.lock {
            Some(l) if self.expired => writeln!(
                w,
                "{}: lock EXPIRED (free to take): {}",
                self.env,
                l.describe()
            )?,
            Some(l) => writeln!(w, "{}: locked: {}", self.env, l.describe())?,
            None => writeln!(w, "{}: not locked", self.env)?,
        }
        if let Some(f) = &self.freeze {
            writeln!(
                w,
                "{}: FROZEN by {} since {}: {}",
                self.env,
                f.by,
                f.since.to_rfc3339_opts(SecondsFormat::Secs, true),
                f.reason
            )?;
        }
        writeln!(w, "state: {}", self.location)
    }
}

/// What `lock new-run-id` prints: a result document like every command's
/// (it was a bare event line before issue 20), the id alone as text.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct NewRunId {
    pub run_id: String,
    pub kind: String,
}

impl Render for NewRunId {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(w, "{}", self.run_id)
    }
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct BreakResult {
    pub env: String,
    pub broke: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockInfo>,
    pub dry_run: bool,
}

impl Render for BreakResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match (&self.lock, self.dry_run, self.broke) {
            (None, _, _) => writeln!(w, "{}: not locked; nothing to break", self.env),
            (Some(l), true, _) => writeln!(w, "dry run: would break the lock of {}", l.describe()),
            (Some(l), false, _) => writeln!(w, "broke the lock of {}", l.describe()),
        }
    }
}

pub async fn run(ctx: &Context, cmd: &LockCommand) -> Result<()> {
    match cmd {
        LockCommand::Status => status(ctx).await,
        LockCommand::Break(a) => break_lock(ctx, a).await,
        LockCommand::Hold(a) => hold(ctx, a).await,
        LockCommand::NewRunId { kind } => {
            if kind.is_empty()
                || kind.len() > 30
                || !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(Error::usage(format!(
                    "run kind must be 1-30 of A-Z a-z 0-9 -, got {}",
                    common::quote(kind)
                )));
            }
            ctx.out.result(&NewRunId {
                run_id: state::new_run_id(kind),
                kind: kind.clone(),
            })
        }
    }
}

async fn status(ctx: &Context) -> Result<()> {
    let store = crate::store(ctx).await?;
    let lock = state::lock_status(store)?;
    let freeze = state::freeze_status(store)?;
    ctx.out.result(&LockStatus {
        env: store.env().to_owned(),
        location: store.location(state::LOCK_KEY),
        held: lock.is_some(),
        expired: lock.as_ref().is_some_and(|(l, _)| l.expired(Utc::now())),
        lock: lock.map(|(l, _)| l),
        frozen: freeze.is_some(),
        freeze,
    })
}

async fn break_lock(ctx: &Context, args: &BreakArgs) -> Result<()> {
    let reason = crate::reason(&args.reason)?;
    let store = crate::store(ctx).await?;
    let current = state::lock_status(store)?.map(|(l, _)| l);
    let Some(held) = current else {
        return ctx.out.result(&BreakResult {
            env: store.env().to_owned(),
            broke: false,
            lock: None,
            dry_run: ctx.dry_run(),
        });
    };
    if ctx.dry_run() {
        return ctx.out.result(&BreakResult {
            env: store.env().to_owned(),
            broke: false,
            lock: Some(held),
            dry_run: true,
        });
    }
    // Not begin_change: breaking the lock must not need the lock.
    ctx.safety
        .confirm(&format!("break the run lock of {}", held.describe()))?;
    let journal = ctx.journal().await?;
    let change = journal.intent(
        "state.lock-break",
        &store.location(state::LOCK_KEY),
        json!({ "lock": held, "reason": reason }),
    )?;
    match state::break_lock(store) {
        Ok(broken) => {
            change.ok(json!({ "lock": null }))?;
            ctx.out.warn(format!(
                "broke the lock of {}",
                broken.as_ref().unwrap_or(&held).describe()
            ));
            ctx.out.result(&BreakResult {
                env: store.env().to_owned(),
                broke: broken.is_some(),
                lock: broken.or(Some(held)),
                dry_run: false,
            })
        }
        Err(e) => {
            change.failed(serde_json::Value::Null, e.to_string())?;
            Err(e)
        }
    }
}

async fn hold(ctx: &Context, args: &HoldArgs) -> Result<()> {
    state::validate_run_id(&args.run_id)?;
    if args.command.is_empty() || args.command.len() > 300 {
        return Err(Error::usage("--command must be 1-300 characters"));
    }
    let store = crate::store(ctx).await?;
    let req = LockRequest {
        holder: crate::actor(ctx).await?,
        command: args.command.clone(),
        run_id: Some(args.run_id.clone()),
        lease: state::lease_from_env()?,
    };
    if ctx.dry_run() {
        return ctx.out.event(
            &json!({"event": "dry-run", "env": store.env(), "run_id": args.run_id}),
            || "dry run: would take the lock".into(),
        );
    }
    if args.deploy {
        state::refuse_if_frozen(store)?;
    }
    let acquired = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || state::acquire(&store, &req))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??
    };
    let guard = match acquired {
        Acquired::WithinRun(info) => {
            return ctx.out.event(
                &json!({"event": "within-run", "env": store.env(), "run_id": info.run_id, "lock": info}),
                || format!("run {} already holds the lock of {}", args.run_id, store.env()),
            );
        }
        Acquired::Held(g) => g,
    };
    ctx.out.event(
        &json!({"event": "held", "env": store.env(), "run_id": args.run_id, "lock": guard.info()}),
        || {
            format!(
                "holding the lock of {} for run {}",
                store.env(),
                args.run_id
            )
        },
    )?;
    let why = loop {
        tokio::select! {
            () = ctx.cancel().cancelled() => break "signal",
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                if guard.lost() {
                    break "lost";
                }
                if let Some(pid) = args.watch_pid
                    && !std::path::Path::new(&format!("/proc/{pid}")).exists()
                {
                    break "watched process exited";
                }
            }
        }
    };
    let lost = guard.lost();
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    ctx.out.event(
        &json!({"event": if lost { "lost" } else { "released" }, "env": store.env(), "run_id": args.run_id, "why": why}),
        || format!("released the lock of {} ({why})", store.env()),
    )?;
    if lost {
        return Err(Error::CheckFailed(format!(
            "the lock of {} was broken or taken while run {} held it",
            store.env(),
            args.run_id
        )));
    }
    Ok(())
}
