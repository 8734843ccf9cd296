//! site-restore: record the static site's S3 content by object version and
//! restore it (server-side copies and delete markers, nothing destroyed), then
//! invalidate CloudFront. The rollback step "restore previous static site content".

pub mod bucket;
pub mod diff;
mod examples;
pub mod invalidate;
pub mod manifest;
pub mod plan;
pub mod policy;
pub mod record;
pub mod restore;
pub mod retry;
pub mod scope;

use clap::Subcommand;
use common::Context;

common::declare_cli! {
    /// Record and restore the static site's S3 content by object version.
    #[command(
        name = "site-restore",
        version,
        after_help = common::cli::after_help(
            "  site-restore record --bucket ltc-site-prod > before-deploy.json\n  \
             site-restore diff --bucket ltc-site-prod --manifest before-deploy.json\n  \
             site-restore restore --bucket ltc-site-prod --manifest before-deploy.json --distribution E2ABC123 --env prod --yes\n  \
             site-restore restore --bucket ltc-site-prod --at 2026-05-01T09:00:00Z --dry-run"
        )
    )]
    Command
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print (and journal) the current version of every object: the manifest to
    /// keep before a deploy. Exactly this JSON is what --manifest accepts.
    Record(record::RecordArgs),
    /// Show what a restore would change: keys to restore to an older version,
    /// keys to remove (created since), keys to bring back (deleted since).
    Diff(diff::DiffArgs),
    /// Make the recorded versions current again (server-side copies; delete
    /// markers for keys that did not exist), then invalidate CloudFront.
    ///
    /// Interrupted (exit 130) or partly failed (exit 7)? Re-run the same
    /// command: it is idempotent. A key already holding its target content
    /// (same version, or same ETag and size) is left alone, so a re-run copies
    /// only what is left, and it also invalidates the paths an interrupted run
    /// changed (read from the journal). The first Ctrl-C (SIGINT, SIGTERM,
    /// SIGHUP) starts no new copy and lets those in flight finish; a second
    /// stops at once. Either way the journal records `interrupted` with what
    /// was done and left, and the undo command (the manifest before the run
    /// is in the journal intent).
    Restore(restore::RestoreArgs),
    /// Print the minimal IAM policy (JSON) the command line after `policy` needs,
    /// e.g. `site-restore policy restore --bucket ltc-site-prod --manifest m.json`.
    Policy(common::policy::PolicyArgs),
}

pub async fn run(ctx: Context, cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Record(args) => record::run(&ctx, &args).await?,
        Command::Diff(args) => diff::run(&ctx, &args).await?,
        Command::Restore(args) => restore::run(&ctx, &args).await?,
        Command::Policy(args) => policy::run(&ctx, &cli.globals, &args)?,
    }
    Ok(())
}
