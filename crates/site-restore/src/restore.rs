//! `restore`: make the target versions current again with server-side copies
//! (no download), hide keys that did not exist with delete markers (nothing is
//! destroyed, so the restore itself can be undone), verify by listing again,
//! then invalidate CloudFront.
//!
//! Under faults: a copy or delete whose answer was lost is read back (HeadObject)
//! before it is called failed; the invalidation carries a CallerReference per
//! journal intent and is read back by it. On a signal no new change starts, the
//! ones in flight finish (a second signal abandons them), the outcome is
//! journaled `interrupted` with the paths still to invalidate, and the same
//! command re-run finishes the job: it does only what is left.
//!
//! Refused part-way (AccessDenied on some change while others went through):
//! the changes this run made are undone, each by deleting the exact version it
//! created (the copy's new version, the delete marker), which needs
//! `s3:DeleteObjectVersion` and never removes anything that existed before the
//! run. A fresh listing then checks every key is back at its version from
//! before; the outcome is journaled with what was undone, and the command
//! exits 6 (failed and reverted cleanly) with the denial, naming the missing
//! action, as its last line. A denial is not transient, so finishing later is
//! no use until the grant is fixed, and a half-restored site is worse than the
//! one before.
//! Other failures (and a rollback that cannot be completed: a version unknown
//! because an answer was lost, the version delete refused) keep the partial
//! restore: exit 7 with the commands to finish or undo it.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::Utc;
use common::journal::{Journal, Outcome};
use common::{AwsError, AwsResultExt, Context, Error, HumanDuration, Render, Result};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use crate::bucket::{self, CallCounter};
use crate::diff::DiffReport;
use crate::invalidate::{self, Creation, InvalidationReport};
use crate::manifest::{Manifest, ObjectRecord};
use crate::plan::{self, Plan};
use crate::retry;
use crate::scope::{self, Scope, ScopeArgs, SourceArgs, Wanted, quoted};

/// CopyObject copies at most 5 GiB; larger objects need a multipart copy.
pub const MAX_COPY_BYTES: i64 = 5 * 1024 * 1024 * 1024;
const MAX_CONCURRENCY: usize = 256;
/// Journal action of a restore.
pub const ACTION: &str = "site.restore";
/// Keys listed by name in an interrupted outcome (the counts are always whole).
const KEYS_LISTED: usize = 20;

#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub source: SourceArgs,

    /// CloudFront distribution to invalidate for the changed paths, and wait for.
    #[arg(long, value_name = "ID")]
    pub distribution: Option<String>,

    /// Copies and deletes in flight at once (1-256).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,

    /// How long to wait for the invalidation (LTC_DEADLINE may shorten it).
    #[arg(long, default_value = "15m", value_name = "DURATION")]
    pub timeout: HumanDuration,

    /// Invalidate the whole prefix even when no object changed (e.g. an earlier
    /// run restored the objects but its invalidation failed, and this journal
    /// does not know it).
    #[arg(long, requires = "distribution")]
    pub force_invalidation: bool,
}

impl RestoreArgs {
    /// This restore as a command line, to re-run after an interrupt or a
    /// partial failure (global flags such as --env/--yes are not repeated).
    pub fn command(&self) -> String {
        let mut c = format!("site-restore restore --bucket {}", self.scope.bucket);
        if let Some(p) = &self.scope.prefix {
            c.push_str(&format!(" --prefix {}", sh_quote(p)));
        }
        match (&self.source.manifest, &self.source.at) {
            (Some(m), _) if m == "-" => c.push_str(" --manifest - (the same manifest on stdin)"),
            (Some(m), _) => c.push_str(&format!(" --manifest {}", sh_quote(m))),
            (None, Some(at)) => c.push_str(&format!(" --at {}", sh_quote(at))),
            (None, None) => {}
        }
        if let Some(d) = &self.distribution {
            c.push_str(&format!(" --distribution {d}"));
        }
        c
    }
}

/// Quotes for a POSIX shell when needed.
fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:+=@%".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// One change that did not go through.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Failure {
    pub key: String,
    pub action: &'static str,
    pub error: String,
    /// The refusal, when the change was refused for want of rights.
    #[serde(skip)]
    pub denial: Option<AwsError>,
}

/// A change this run made: the key and the version it created (a copy's new
/// version or a delete marker); `None` when only a read-back confirmed it.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Made {
    pub key: String,
    pub version_id: Option<String>,
}

/// The undoing of a restore refused part-way.
#[derive(Debug, Clone, Default, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RolledBack {
    /// Versions this run created and deleted again.
    pub undone: Vec<Made>,
    /// Changes left in place, with why.
    pub not_undone: Vec<Failure>,
    /// A fresh listing shows every key at its version from before the run.
    pub verified: bool,
    /// Why the check failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

impl RolledBack {
    /// Everything undone and checked: the bucket is as before the run.
    pub fn complete(&self) -> bool {
        self.not_undone.is_empty() && self.verified
    }

    /// Sets `verified`/`check` from a listing taken after the undo (`now`,
    /// or why it failed): every key must be at its version in `before`.
    fn check_against(
        &mut self,
        now: std::result::Result<&BTreeMap<String, ObjectRecord>, &Error>,
        before: &BTreeMap<String, ObjectRecord>,
    ) {
        let now = match now {
            Ok(now) => now,
            Err(e) => {
                self.verified = false;
                self.check = Some(format!("the checking listing failed: {e}"));
                return;
            }
        };
        let differ: std::collections::BTreeSet<&String> = now
            .keys()
            .chain(before.keys())
            .filter(|k| now.get(*k).map(|r| &r.version_id) != before.get(*k).map(|r| &r.version_id))
            .collect();
        self.verified = differ.is_empty();
        self.check = differ.first().map(|k| {
            format!(
                "{} key(s) not at their version from before the run (first: {k})",
                differ.len()
            )
        });
    }
}

/// What was done.
#[derive(Debug, Clone, Default, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Applied {
    /// Versions copied back onto their keys.
    pub copied: usize,
    /// Delete markers added.
    pub delete_markers: usize,
    /// Of the above: changes whose answer was lost (an error) but whose key a
    /// read-back (HeadObject) shows as wanted.
    pub confirmed_by_read_back: usize,
    pub failed: Vec<Failure>,
    /// Changes not started because of a signal.
    pub not_started: usize,
    /// Changes in flight when a second signal arrived: not waited for, so they
    /// may or may not have happened (a re-run finds out).
    pub abandoned: usize,
    /// The changes made (copied or hidden) and the versions they created,
    /// sorted by key.
    #[serde(skip)]
    pub made: Vec<Made>,
    /// Keys not started, sorted.
    #[serde(skip)]
    pub not_started_keys: Vec<String>,
    /// Keys abandoned in flight, sorted.
    #[serde(skip)]
    pub abandoned_keys: Vec<String>,
}

impl Applied {
    pub fn done(&self) -> usize {
        self.copied + self.delete_markers
    }
    pub fn left(&self) -> usize {
        self.not_started + self.abandoned + self.failed.len()
    }
}

/// The result of `restore` (with `--dry-run`: the diff, plus what CloudFront would get).
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RestoreReport {
    pub dry_run: bool,
    #[serde(flatten)]
    pub diff: DiffReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
    /// Set when a denial part-way made the run undo its changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<RolledBack>,
    /// A fresh listing after the changes matches the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Paths sent (or, in a dry run, that would be sent) to CloudFront.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalidation_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalidation: Option<InvalidationReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_id: Option<String>,
    /// Set when the run stopped early (signal) or changed only part: what to run next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<NextSteps>,
    /// HTTP requests per AWS operation, retries included.
    /// `calls_by_operation`, not `calls`: that is the envelope's request count
    /// (docs/notes/output.md).
    #[serde(rename = "calls_by_operation")]
    pub calls: BTreeMap<String, u64>,
    pub elapsed_ms: u64,
}

/// After an interrupted or partly failed restore: the commands to go on.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct NextSteps {
    /// `interrupted` or `partial`.
    pub state: &'static str,
    pub done: usize,
    pub left: usize,
    /// Re-running the same restore finishes it (idempotent: done keys are unchanged).
    pub finish: String,
    /// Puts back what was live before this run (the intent's manifest).
    pub undo: String,
}

impl Render for RestoreReport {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        if self.dry_run {
            writeln!(w, "DRY RUN: nothing was changed")?;
        }
        self.diff.write_text(w)?;
        if let Some(a) = &self.applied {
            writeln!(
                w,
                "copied {}, delete markers {}, failed {}, not started {}, abandoned {}; verified: {}",
                a.copied,
                a.delete_markers,
                a.failed.len(),
                a.not_started,
                a.abandoned,
                self.verified.unwrap_or(false)
            )?;
            for f in &a.failed {
                writeln!(w, "  FAILED {} {}: {}", f.action, f.key, f.error)?;
            }
        }
        if let Some(r) = &self.rolled_back {
            writeln!(
                w,
                "refused part-way: undone {}, not undone {}; as before the run: {}",
                r.undone.len(),
                r.not_undone.len(),
                r.complete()
            )?;
            for f in &r.not_undone {
                writeln!(w, "  NOT UNDONE {}: {}", f.key, f.error)?;
            }
        }
        if let Some(i) = &self.invalidation {
            writeln!(
                w,
                "invalidation {} on {}: {} ({} path(s))",
                i.id,
                i.distribution,
                i.status,
                i.paths.len()
            )?;
        } else if let Some(p) = &self.invalidation_paths {
            writeln!(w, "would invalidate {} path(s): {}", p.len(), p.join(" "))?;
        }
        if let Some(n) = &self.next {
            writeln!(w, "{}: {} done, {} left", n.state, n.done, n.left)?;
            writeln!(w, "  finish: {}", n.finish)?;
            writeln!(w, "  undo:   {}", n.undo)?;
        }
        Ok(())
    }
}

/// Checks the flags that need no AWS call.
fn validate(args: &RestoreArgs) -> Result<()> {
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        return Err(Error::usage(format!(
            "--concurrency must be 1-{MAX_CONCURRENCY}, got {}",
            args.concurrency
        )));
    }
    if let Some(d) = &args.distribution {
        validate_distribution(d)?;
    }
    Ok(())
}

/// CloudFront distribution ids: capital letters and digits (AWS makes 13-14).
pub fn validate_distribution(d: &str) -> Result<()> {
    if d.is_empty()
        || d.len() > 32
        || !d
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Err(Error::usage(format!(
            "bad distribution id {}: expected 1-32 capital letters and digits, e.g. E2ABC123DEF456",
            quoted(d)
        )));
    }
    Ok(())
}

/// Refuses, before any change, what cannot be done completely.
fn preflight(plan: &Plan) -> Result<()> {
    if let Some(m) = plan.missing.first() {
        return Err(Error::CheckFailed(format!(
            "{} target version(s) no longer exist in the bucket (first: {} version {}); nothing was changed",
            plan.missing.len(),
            m.key,
            m.version_id
        )));
    }
    let large: Vec<&plan::Copy> = plan.copies().filter(|c| c.size > MAX_COPY_BYTES).collect();
    if let Some(first) = large.first() {
        return Err(Error::CheckFailed(format!(
            "{} object(s) are larger than the 5 GiB a single server-side copy allows (first: {} at {} bytes); \
             site-restore does not do multipart copies: restore those by hand (aws s3api upload-part-copy) \
             or narrow --prefix; nothing was changed",
            large.len(),
            first.key,
            first.size
        )));
    }
    Ok(())
}

enum Op<'a> {
    Copy(&'a plan::Copy),
    Remove(&'a plan::Removal),
}

impl Op<'_> {
    fn key(&self) -> &str {
        match self {
            Op::Copy(c) => &c.key,
            Op::Remove(r) => &r.key,
        }
    }
    fn action(&self) -> &'static str {
        match self {
            Op::Copy(_) => "copy",
            Op::Remove(_) => "delete-marker",
        }
    }
}

/// Makes one change; the version it created, when S3 says.
async fn apply_one(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    op: &Op<'_>,
) -> Result<Option<String>, AwsError> {
    match op {
        Op::Copy(c) => {
            let source = invalidate::copy_source(bucket, &c.key, &c.to_version);
            s3.copy_object()
                .bucket(bucket)
                .key(&c.key)
                .copy_source(&source)
                .customize()
                .config_override(retry::s3(s3))
                .send()
                .await
                .aws("CopyObject")
                .map(|o| o.version_id().map(str::to_owned))
        }
        Op::Remove(r) => s3
            .delete_object()
            .bucket(bucket)
            .key(&r.key)
            .customize()
            .config_override(retry::s3(s3))
            .send()
            .await
            .aws("DeleteObject")
            .map(|o| o.version_id().map(str::to_owned)),
    }
}

/// A failure after which the request may have reached S3: no answer (timeout,
/// reset) or a 5xx.
fn answer_may_be_lost(e: &AwsError) -> bool {
    e.status.is_none_or(|s| s >= 500)
}

/// Reads the key back: is it what `op` wanted? A copy is right when the key's
/// current ETag and size are the target version's (a copy makes a new version
/// with the same content); a removal is right when the key is gone (404).
async fn read_back(s3: &aws_sdk_s3::Client, bucket: &str, op: &Op<'_>) -> Result<bool, String> {
    let head = s3.head_object().bucket(bucket).key(op.key()).send().await;
    match (op, head) {
        (Op::Copy(c), Ok(h)) => Ok(h.version_id() == Some(c.to_version.as_str())
            || (h.e_tag() == Some(c.etag.as_str()) && h.content_length() == Some(c.size))),
        (Op::Copy(_), Err(e)) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
            Ok(false)
        }
        (Op::Remove(_), Ok(_)) => Ok(false),
        (Op::Remove(_), Err(e)) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
            Ok(true)
        }
        (_, Err(e)) => Err(common::error::aws_error("HeadObject", e).to_string()),
    }
}

enum Status {
    /// `version`: what the change created (`None` after a read-back: the
    /// current version may as well be someone else's write).
    Done {
        read_back: bool,
        version: Option<String>,
    },
    Failed {
        error: String,
        denial: Option<AwsError>,
    },
    NotStarted,
    Abandoned,
}

/// One change, and on an error that may hide a lost answer, a read-back.
async fn apply_verified(s3: &aws_sdk_s3::Client, bucket: &str, op: &Op<'_>) -> Status {
    let failed = |error: String| Status::Failed {
        error,
        denial: None,
    };
    match apply_one(s3, bucket, op).await {
        Ok(version) => Status::Done {
            read_back: false,
            version,
        },
        Err(e) if answer_may_be_lost(&e) => match read_back(s3, bucket, op).await {
            Ok(true) => {
                tracing::info!(key = op.key(), error = %e, "answer lost; read-back shows the key as wanted");
                Status::Done {
                    read_back: true,
                    version: None,
                }
            }
            Ok(false) => failed(e.to_string()),
            Err(why) => failed(format!("{e} (read-back failed too: {why})")),
        },
        Err(e) => Status::Failed {
            error: e.to_string(),
            denial: common::policy::is_denied(&e).then_some(e),
        },
    }
}

/// Runs every change with at most `concurrency` in flight. After the first
/// signal (`ctx.cancel()`) no new change starts and those in flight finish;
/// after a second, those in flight are abandoned.
pub async fn apply(
    ctx: &Context,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    plan: &Plan,
    concurrency: usize,
) -> Applied {
    let cancel = ctx.cancel();
    let ops: Vec<Op<'_>> = plan
        .copies()
        .map(Op::Copy)
        .chain(plan.remove.iter().map(Op::Remove))
        .collect();
    let total = ops.len();
    let bar = ctx.out.fancy_progress().then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} objects [{elapsed_precise}, {eta} left] {msg}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let done = AtomicUsize::new(0);
    let step = (total / 10).max(1);
    let results: Vec<(Op<'_>, Status)> = futures::stream::iter(ops)
        .map(|op| {
            let bar = bar.clone();
            let done = &done;
            async move {
                if cancel.is_cancelled() {
                    return (op, Status::NotStarted);
                }
                let status = tokio::select! {
                    biased;
                    r = apply_verified(s3, bucket, &op) => r,
                    () = cancel.hard_cancelled() => Status::Abandoned,
                };
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                match &bar {
                    Some(b) => b.inc(1),
                    None if n.is_multiple_of(step) || n == total => {
                        ctx.out.info(format!("{n}/{total} changes done"));
                    }
                    None => {}
                }
                (op, status)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut applied = Applied::default();
    for (op, status) in results {
        match status {
            Status::NotStarted => {
                applied.not_started += 1;
                applied.not_started_keys.push(op.key().to_owned());
            }
            Status::Abandoned => {
                applied.abandoned += 1;
                applied.abandoned_keys.push(op.key().to_owned());
            }
            Status::Done { read_back, version } => {
                match op {
                    Op::Copy(_) => applied.copied += 1,
                    Op::Remove(_) => applied.delete_markers += 1,
                }
                applied.confirmed_by_read_back += usize::from(read_back);
                applied.made.push(Made {
                    key: op.key().to_owned(),
                    version_id: version,
                });
            }
            Status::Failed { error, denial } => applied.failed.push(Failure {
                key: op.key().to_owned(),
                action: op.action(),
                error,
                denial,
            }),
        }
    }
    applied.failed.sort_by(|a, b| a.key.cmp(&b.key));
    applied.made.sort_by(|a, b| a.key.cmp(&b.key));
    applied.not_started_keys.sort();
    applied.abandoned_keys.sort();
    applied
}

/// Paths an earlier, interrupted (or killed: an intent without outcome)
/// restore of `target` changed but did not invalidate, and that earlier run's
/// journal id; none once a later invalidation resumed it.
fn pending_invalidation(journal: &Journal, target: &str) -> Result<Option<(String, Vec<String>)>> {
    let Some(last) = journal.last_change(ACTION, target)? else {
        return Ok(None);
    };
    // No outcome at all: that run was killed (SIGKILL, power) somewhere between
    // its intent and its outcome. Treated like an interrupted one: the paths it
    // planned to change (recorded in its intent) are invalidated by the re-run.
    let pending = match &last.outcome {
        None => &last.intent.before["invalidation_planned"],
        Some(o) if o.outcome == Some(Outcome::Interrupted) => &o.after["invalidation_pending"],
        Some(_) => return Ok(None),
    };
    let paths: Vec<String> = pending
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if paths.is_empty() {
        return Ok(None);
    }
    let id = last.intent.id.clone();
    let resumed = journal
        .records(|e| e.action == "site.invalidate" && e.before["resumes"] == id.as_str())?
        .iter()
        .any(|r| {
            r.outcome
                .as_ref()
                .is_some_and(|o| o.outcome == Some(Outcome::Ok))
        });
    Ok((!resumed).then_some((id, paths)))
}

/// `new` and `pending` together, sorted, one wildcard for the prefix past the limit.
fn merge_paths(new: Vec<String>, pending: &[String], wildcard_path: String) -> Vec<String> {
    let mut all = new;
    all.extend(pending.iter().cloned());
    all.sort();
    all.dedup();
    if all.len() > invalidate::PATH_LIMIT {
        vec![wildcard_path]
    } else {
        all
    }
}

pub async fn run(ctx: &Context, args: &RestoreArgs) -> Result<()> {
    let started = Instant::now();
    validate(args)?;
    let (scope, wanted) = scope::resolve(&args.scope, &args.source, Utc::now())?;

    let aws = ctx.aws().await?;
    let counter = CallCounter::default();
    let s3 = bucket::s3_client(aws, &counter);
    let cf = args
        .distribution
        .as_ref()
        .map(|_| bucket::cloudfront_client(aws, &counter));
    execute(ctx, args, &scope, &wanted, &s3, cf, &counter, started).await
}

/// The restore after the input checks, with the clients given (tests pass
/// mocked ones).
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    ctx: &Context,
    args: &RestoreArgs,
    scope: &Scope,
    wanted: &Wanted,
    s3: &aws_sdk_s3::Client,
    cf: Option<aws_sdk_cloudfront::Client>,
    counter: &CallCounter,
    started: Instant,
) -> Result<()> {
    let cancel = ctx.cancel();
    cancel
        .run(bucket::require_versioning(s3, &scope.bucket))
        .await?;
    // The distribution is checked before any change, not discovered missing after.
    let cloudfront = match (&args.distribution, cf) {
        (Some(id), Some(cf)) => {
            let origin_path = cancel
                .run(invalidate::origin_path_for(&cf, id, &scope.bucket))
                .await?;
            if origin_path.is_none() {
                ctx.out.warn(format!(
                    "no origin of distribution {id} points at bucket {}; invalidating keys as paths",
                    scope.bucket
                ));
            }
            Some((cf, id.clone(), origin_path.unwrap_or_default()))
        }
        _ => None,
    };

    let cmp = cancel.run(scope::compare(s3, scope, wanted)).await?;
    let diff = DiffReport::new(scope, wanted, &cmp);
    diff.warn(ctx);
    // What an interrupted earlier run of this restore left to invalidate.
    let pending = match &cloudfront {
        Some(_) => pending_invalidation(ctx.journal().await?, &scope.target())?,
        None => None,
    };
    if let Some((id, p)) = &pending {
        ctx.out.info(format!(
            "an earlier restore ({id}) was interrupted before invalidating {} path(s); they are invalidated with this run",
            p.len()
        ));
    }
    let pending_paths: &[String] = pending.as_ref().map_or(&[], |(_, p)| p.as_slice());
    let paths_for = |keys: &[&str]| -> Option<Vec<String>> {
        cloudfront.as_ref().map(|(_, _, origin)| {
            let new = if keys.is_empty() && args.force_invalidation {
                vec![wildcard(&scope.prefix, origin)]
            } else {
                invalidate::invalidation_paths(keys, &scope.prefix, origin)
            };
            merge_paths(new, pending_paths, wildcard(&scope.prefix, origin))
        })
    };

    let mut report = RestoreReport {
        dry_run: ctx.dry_run(),
        invalidation_paths: paths_for(&cmp.plan.changed_keys()).filter(|p| !p.is_empty()),
        diff,
        applied: None,
        rolled_back: None,
        verified: None,
        invalidation: None,
        journal_id: None,
        next: None,
        calls: BTreeMap::new(),
        elapsed_ms: 0,
    };
    let finish = |report: &mut RestoreReport| {
        report.calls = counter.by_operation();
        report.elapsed_ms = started.elapsed().as_millis() as u64;
    };
    let resumes = pending.as_ref().map(|(id, _)| id.as_str());

    if ctx.dry_run() {
        finish(&mut report);
        ctx.out.result(&report)?;
        // The real run would stop here too: say so with the same exit code.
        return preflight(&cmp.plan);
    }
    preflight(&cmp.plan)?;

    if cmp.plan.is_empty() {
        ctx.out.info(format!(
            "{} already matches the target ({} object(s)); nothing to change",
            scope.target(),
            cmp.plan.unchanged
        ));
        report.applied = Some(Applied::default());
        report.verified = Some(true);
        if args.force_invalidation || pending.is_some() {
            ctx.begin_change(&format!("invalidate {} on CloudFront", scope.target()))
                .await?;
            let r = invalidate_step(ctx, args, &cloudfront, &report, resumes).await;
            report.invalidation = r?;
        }
        finish(&mut report);
        return ctx.out.result(&report);
    }

    ctx.begin_change(&format!(
        "restore {} key(s) in {}",
        cmp.plan.change_count(),
        scope.target()
    ))
    .await?;
    cancel.check()?;

    let journal = ctx.journal().await?;
    let before = Manifest::new(
        &scope.bucket,
        &scope.prefix,
        Utc::now(),
        cmp.current.clone(),
    );
    let change = journal.intent(
        ACTION,
        &scope.target(),
        json!({
            "manifest": before,
            "target": wanted.describe(),
            "restore": cmp.plan.restore.len(),
            "remove": cmp.plan.remove.len(),
            "bring_back": cmp.plan.bring_back.len(),
            // What a re-run invalidates if this run is killed before its outcome.
            "invalidation_planned": paths_for(&cmp.plan.changed_keys()).unwrap_or_default(),
        }),
    )?;
    let journal_id = change.id().to_owned();
    report.journal_id = Some(journal_id.clone());
    let undo = undo_command(journal, &journal_id, scope);
    ctx.out.info(format!(
        "restoring {} key(s) in {} ({} in flight at most)",
        cmp.plan.change_count(),
        scope.target(),
        args.concurrency
    ));

    let applied = apply(ctx, s3, &scope.bucket, &cmp.plan, args.concurrency).await;
    let total = cmp.plan.change_count();

    if cancel.is_cancelled() {
        // Stop here: no listing, no invalidation. Everything done so far and
        // everything abandoned (it may have happened) still needs invalidating.
        let touched: Vec<&str> = applied
            .made
            .iter()
            .map(|m| m.key.as_str())
            .chain(applied.abandoned_keys.iter().map(String::as_str))
            .collect();
        let pending_now = paths_for(&touched).unwrap_or_default();
        let signal = cancel.signal().map_or("a signal", |s| s.name());
        let finish_cmd = args.command();
        let after = json!({
            "applied": &applied,
            "done": applied.done(),
            "left": applied.left(),
            "abandoned_keys": applied.abandoned_keys.iter().take(KEYS_LISTED).collect::<Vec<_>>(),
            "not_started_keys": applied.not_started_keys.iter().take(KEYS_LISTED).collect::<Vec<_>>(),
            "failed_keys": applied.failed.iter().map(|f| &f.key).take(KEYS_LISTED).collect::<Vec<_>>(),
            "invalidation_pending": pending_now,
        });
        let msg = format!(
            "interrupted by {signal} after {} of {total} change(s) ({} left{}); \
             finish with the same command (it does only what is left{}): {finish_cmd}; undo: {undo}",
            applied.done(),
            applied.left(),
            if applied.abandoned > 0 {
                format!(
                    ", {} abandoned in flight: the re-run checks them",
                    applied.abandoned
                )
            } else {
                String::new()
            },
            if cloudfront.is_some() {
                " and invalidates the paths this run changed"
            } else {
                ""
            },
        );
        change.interrupted(after, msg.clone())?;
        report.next = Some(NextSteps {
            state: "interrupted",
            done: applied.done(),
            left: applied.left(),
            finish: finish_cmd,
            undo,
        });
        report.invalidation_paths = None;
        report.applied = Some(applied);
        finish(&mut report);
        ctx.out.result(&report)?;
        ctx.out.warn(msg);
        return Err(Error::Interrupted);
    }

    // Refused part-way: put back what this run did (module docs).
    let denial = applied.failed.iter().find_map(|f| f.denial.clone());
    let rollback = match &denial {
        Some(d) if applied.done() > 0 => {
            ctx.out.warn(format!(
                "{d}; undoing the {} change(s) already made",
                applied.done()
            ));
            Some(roll_back(s3, scope, &applied.made, args.concurrency).await)
        }
        _ => None,
    };

    // The truth after the changes, for the journal and to verify; after a
    // rollback the same listing checks every key is back as before the run.
    let after = verify(s3, scope, wanted).await;
    let mut rollback = rollback;
    if let Some(r) = rollback.as_mut() {
        r.check_against(after.as_ref().map(|(m, _)| &m.objects), &cmp.current);
    }
    let undone = rollback.as_ref().is_some_and(RolledBack::complete);
    let (mut after_json, verified) = match &after {
        Ok((m, left)) => (
            json!({ "manifest": m, "applied": &applied, "left": left }),
            *left == 0,
        ),
        Err(e) => (
            json!({ "applied": &applied, "listing_error": e.to_string() }),
            false,
        ),
    };
    if let Some(r) = &rollback {
        after_json["rolled_back"] = json!(r);
    }
    report.verified = Some(verified);
    report.rolled_back = rollback.clone();
    let partial = !applied.failed.is_empty() && applied.done() > 0 && !undone;
    // Said with the partial outcome when a rollback was tried and fell short.
    let rollback_note = match &rollback {
        Some(r) if !undone => format!(
            "; undoing after the denial fell short: {} undone, {} not{}{}",
            r.undone.len(),
            r.not_undone.len(),
            r.not_undone
                .first()
                .map_or_else(String::new, |f| format!(" (first: {}: {})", f.key, f.error)),
            r.check
                .as_deref()
                .map_or_else(String::new, |c| format!("; {c}"))
        ),
        _ => String::new(),
    };
    // Every change was confirmed one by one (answer or read-back); only the
    // verifying listing failed: the restore is done, not `failed` (exit 0 with
    // a warning and the command that checks it).
    let unverified = match &after {
        Err(e) if applied.failed.is_empty() => Some(format!(
            "all {total} change(s) were applied and each confirmed; the verifying listing failed ({e}); check with: {}",
            args.command()
                .split(" --distribution ")
                .next()
                .unwrap_or_default()
                .replacen("site-restore restore", "site-restore diff", 1)
        )),
        _ => None,
    };
    if let Some(note) = &unverified {
        report.verified = None;
        ctx.out.warn(note.clone());
        change.finish(Outcome::Ok, after_json, Some(note.clone()))?;
    } else if applied.failed.is_empty() && verified {
        change.ok(after_json)?;
    } else {
        let why = if undone {
            format!(
                "{} of {total} change(s) refused ({}); the {} change(s) made were undone, \
                 each by deleting the version it created; a fresh listing shows every key as before",
                applied.failed.len(),
                denial.as_ref().map(ToString::to_string).unwrap_or_default(),
                applied.done()
            )
        } else if partial {
            format!(
                "{} of {total} change(s) failed, {} done{rollback_note}; finish: {}; undo: {undo}",
                applied.failed.len(),
                applied.done(),
                args.command()
            )
        } else if !applied.failed.is_empty() {
            format!("all {total} change(s) failed; nothing was changed")
        } else {
            "a fresh listing does not match the target".to_owned()
        };
        // Put back cleanly after a denial: `reverted`, as the exit code says.
        let outcome = if undone {
            Outcome::Reverted
        } else {
            Outcome::Failed
        };
        change.finish(outcome, after_json, Some(why))?;
    }
    if partial {
        report.next = Some(NextSteps {
            state: "partial",
            done: applied.done(),
            left: applied.left(),
            finish: args.command(),
            undo: undo.clone(),
        });
    }

    // Invalidate what did change, even after a partial failure: those objects
    // are live at the origin now.
    let changed: Vec<&str> = applied.made.iter().map(|m| m.key.as_str()).collect();
    report.invalidation_paths = paths_for(&changed).filter(|p| !p.is_empty());
    report.applied = Some(applied.clone());
    let invalidation = if report.invalidation_paths.is_some() {
        invalidate_step(ctx, args, &cloudfront, &report, resumes).await
    } else {
        Ok(None)
    };
    let invalidation_error = match invalidation {
        Ok(i) => {
            report.invalidation = i;
            None
        }
        Err(e) => Some(e),
    };
    finish(&mut report);
    ctx.out.result(&report)?;

    if let Some(first) = applied.failed.first() {
        let msg = format!(
            "{} of {total} change(s) failed (first: {} {}: {}); {} were applied",
            applied.failed.len(),
            first.action,
            first.key,
            first.error,
            applied.done(),
        );
        if let (true, Some(d)) = (undone, &denial) {
            // Failed and put back cleanly: exit 6, as for every reverted
            // change; the denial leads the last line, naming the missing action.
            return Err(Error::Reverted(format!(
                "{d}; the {} change(s) made before it were undone: {} is as before the run",
                applied.done(),
                scope.target()
            )));
        }
        if partial {
            return Err(Error::RevertFailed(format!(
                "{msg}{rollback_note}; {} is partly restored: finish with the same command (it does only what is left): {}; or undo: {undo}",
                scope.target(),
                args.command()
            )));
        }
        return Err(Error::Aws(AwsError {
            operation: "restore".into(),
            code: None,
            message: format!("{msg}; nothing was changed; re-run when the cause is fixed"),
            status: None,
        }));
    }
    if let Some(e) = invalidation_error {
        return Err(e);
    }
    if unverified.is_some() {
        return Ok(());
    }
    after?;
    if !verified {
        return Err(Error::CheckFailed(format!(
            "after the restore a fresh listing of {} still differs from the target (changed by someone else meanwhile?); run diff to see",
            scope.target()
        )));
    }
    Ok(())
}

/// Undoes the changes `made` by deleting each version it created (a version
/// delete never touches what existed before the run; deleting a version that
/// is already gone succeeds, so retries are safe). Whether every key is back
/// is checked afterwards on the run's verifying listing
/// ([`RolledBack::check_against`]).
async fn roll_back(
    s3: &aws_sdk_s3::Client,
    scope: &Scope,
    made: &[Made],
    concurrency: usize,
) -> RolledBack {
    let bucket = scope.bucket.as_str();
    let results: Vec<(Made, Result<(), String>)> = futures::stream::iter(made.iter().cloned())
        .map(|m| async move {
            let Some(v) = m.version_id.clone() else {
                let why = "the version it created is unknown (its answer was lost; a read-back confirmed it)";
                return (m, Err(why.to_owned()));
            };
            let r = s3
                .delete_object()
                .bucket(bucket)
                .key(&m.key)
                .version_id(&v)
                .customize()
                .config_override(retry::s3(s3))
                .send()
                .await
                // Not "DeleteObject": a denial must not name the wrong action.
                .aws("DeleteObjectVersion")
                .map(|_| ())
                .map_err(|e| e.to_string());
            (m, r)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut out = RolledBack::default();
    for (m, r) in results {
        match r {
            Ok(()) => out.undone.push(m),
            Err(error) => out.not_undone.push(Failure {
                key: m.key,
                action: "undo",
                error,
                denial: None,
            }),
        }
    }
    out.undone.sort_by(|a, b| a.key.cmp(&b.key));
    out.not_undone.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// The command that puts back what was live before the restore journaled as
/// `id`: its intent holds the manifest.
fn undo_command(journal: &Journal, id: &str, scope: &Scope) -> String {
    let file = format!("before-{id}.json");
    format!(
        "jq -c 'select(.id == \"{id}\" and .phase == \"intent\") | .before.manifest' {} > {file} && \
         site-restore restore --bucket {} --manifest {file}",
        sh_quote(&journal.path().display().to_string()),
        scope.bucket
    )
}

fn wildcard(prefix: &str, origin: &str) -> String {
    let o = origin.trim_matches('/');
    let rel = if o.is_empty() {
        Some(prefix)
    } else {
        prefix
            .strip_prefix(o)
            .map(|r| r.strip_prefix('/').unwrap_or(r))
    };
    format!("/{}*", invalidate::encode_key(rel.unwrap_or_default()))
}

/// Lists again: the manifest after the changes and how many keys still differ.
async fn verify(
    s3: &aws_sdk_s3::Client,
    scope: &Scope,
    wanted: &Wanted,
) -> Result<(Manifest, usize)> {
    let cmp = scope::compare(s3, scope, wanted).await?;
    let m = Manifest::new(&scope.bucket, &scope.prefix, Utc::now(), cmp.current);
    Ok((m, cmp.plan.change_count() + cmp.plan.missing.len()))
}

/// Creates the invalidation for the report's paths (journaled, CallerReference
/// from the intent id so every retry is the same request) and waits for it.
/// `resumes`: the journal id of an interrupted restore whose paths are included.
async fn invalidate_step(
    ctx: &Context,
    args: &RestoreArgs,
    cloudfront: &Option<(aws_sdk_cloudfront::Client, String, String)>,
    report: &RestoreReport,
    resumes: Option<&str>,
) -> Result<Option<InvalidationReport>> {
    let (Some((cf, id, origin)), Some(paths)) = (cloudfront, &report.invalidation_paths) else {
        return Ok(None);
    };
    let paths = if paths.is_empty() {
        vec![wildcard(&report.diff.prefix, origin)]
    } else {
        paths.clone()
    };
    invalidate_journaled(ctx, cf, id, paths, resumes, args.timeout.0)
        .await
        .map(Some)
}

/// The journaled invalidation: intent, create (read back when the answer was
/// lost), wait; the outcome says `ok`, `failed`, `unknown` (exit 7 with the
/// read command) or `interrupted` (exit 130 with the wait command).
pub async fn invalidate_journaled(
    ctx: &Context,
    cf: &aws_sdk_cloudfront::Client,
    distribution: &str,
    paths: Vec<String>,
    resumes: Option<&str>,
    timeout: std::time::Duration,
) -> Result<InvalidationReport> {
    let journal = ctx.journal().await?;
    let mut before = json!({ "paths": &paths });
    if let Some(r) = resumes {
        before["resumes"] = json!(r);
    }
    let change = journal.intent(
        "site.invalidate",
        &format!("cloudfront:{distribution}"),
        before,
    )?;
    let reference = format!("site-restore-{}", change.id());
    let created = invalidate::create(&ctx.out, cf, distribution, &paths, &reference).await;
    let (inv_id, read_back) = match created {
        Ok(Creation::Created { id, read_back }) => (id, read_back),
        Ok(Creation::NotCreated(e)) => {
            change.failed(json!({ "caller_reference": reference }), e.to_string())?;
            return Err(e.into());
        }
        Ok(Creation::Unknown { error, why }) => {
            let msg = format!(
                "{error}; whether invalidation {reference} was created is unknown ({why}); check with: {}; \
                 if it is not there, re-run the restore with --force-invalidation",
                invalidate::read_command(distribution, &reference)
            );
            change.unknown(json!({ "caller_reference": reference }), msg.clone())?;
            return Err(Error::RevertFailed(msg));
        }
        Err(e) => {
            change.failed(json!({ "caller_reference": reference }), e.to_string())?;
            return Err(e);
        }
    };
    ctx.out.info(format!(
        "{} invalidation {inv_id} on {distribution} for {} path(s)",
        if read_back {
            "found (answer lost, read back)"
        } else {
            "created"
        },
        paths.len()
    ));
    let mut after = json!({
        "id": inv_id,
        "caller_reference": reference,
        "read_back": read_back,
    });
    match invalidate::wait(&ctx.out, ctx.cancel(), cf, distribution, &inv_id, timeout).await {
        Ok(status) => {
            after["status"] = json!(status);
            change.ok(after)?;
            Ok(InvalidationReport {
                distribution: distribution.to_owned(),
                id: inv_id,
                paths,
                status,
            })
        }
        Err(Error::Interrupted) => {
            let msg = format!(
                "interrupted while waiting; invalidation {inv_id} was created and CloudFront carries on; wait with: {}",
                invalidate::wait_command(distribution, &inv_id)
            );
            change.interrupted(after, msg.clone())?;
            ctx.out.warn(msg);
            Err(Error::Interrupted)
        }
        Err(e) => {
            change.failed(after, e.to_string())?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn args(concurrency: usize, distribution: Option<&str>) -> RestoreArgs {
        RestoreArgs {
            scope: ScopeArgs {
                bucket: "b".into(),
                prefix: None,
            },
            source: SourceArgs {
                manifest: None,
                at: None,
            },
            distribution: distribution.map(str::to_owned),
            concurrency,
            timeout: "1m".parse().unwrap(),
            force_invalidation: false,
        }
    }

    #[test]
    fn concurrency_and_distribution_are_checked() {
        assert!(validate(&args(16, Some("E2ABC123"))).is_ok());
        assert_eq!(validate(&args(0, None)).unwrap_err().exit_code(), 2);
        assert_eq!(validate(&args(1000, None)).unwrap_err().exit_code(), 2);
        assert_eq!(
            validate(&args(1, Some("e2/../x"))).unwrap_err().exit_code(),
            2
        );
    }

    #[test]
    fn objects_over_five_gib_are_refused_before_any_change() {
        let plan = Plan {
            restore: vec![plan::Copy {
                key: "video.mp4".into(),
                from_version: Some("a".into()),
                to_version: "b".into(),
                size: MAX_COPY_BYTES + 1,
                etag: String::new(),
            }],
            ..Default::default()
        };
        let e = preflight(&plan).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(e.to_string().contains("video.mp4"), "{e}");
    }

    #[test]
    fn wildcard_respects_prefix_and_origin_path() {
        assert_eq!(wildcard("", ""), "/*");
        assert_eq!(wildcard("site/", ""), "/site/*");
        assert_eq!(wildcard("site/", "/site"), "/*");
        assert_eq!(wildcard("a b/", ""), "/a%20b/*");
    }

    use aws_sdk_s3::Client;
    use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
    use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const SLOW_DOWN: &str =
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

    fn ctx() -> Context {
        Context::with_output(
            "site-restore",
            &common::GlobalArgs::default(),
            common::Output::with_writers(
                true,
                Box::new(std::io::sink()),
                Box::new(std::io::sink()),
            ),
        )
    }

    fn copy(key: &str, to: &str) -> plan::Copy {
        plan::Copy {
            key: key.into(),
            from_version: Some("now".into()),
            to_version: to.into(),
            size: 1,
            etag: format!("\"etag-{to}\""),
        }
    }

    fn three_copies_and_a_removal() -> Plan {
        Plan {
            restore: vec![copy("a", "va"), copy("dir/ü b.txt", "v+1")],
            bring_back: vec![copy("slow", "vs")],
            remove: vec![plan::Removal {
                key: "new.js".into(),
                current_version: "vn".into(),
            }],
            ..Default::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_down_on_copy_is_retried_with_backoff_until_it_succeeds() {
        let slow = mock!(Client::copy_object)
            .match_requests(|r| r.key() == Some("slow"))
            .sequence()
            .http_status(503, Some(SLOW_DOWN.into()))
            .times(7)
            .output(|| CopyObjectOutput::builder().build())
            .build();
        // The CopySource must arrive URL-encoded, version id included.
        let others = mock!(Client::copy_object)
            .match_requests(|r| {
                matches!(
                    (r.key(), r.copy_source()),
                    (Some("a"), Some("bkt/a?versionId=va"))
                        | (
                            Some("dir/ü b.txt"),
                            Some("bkt/dir/%C3%BC%20b.txt?versionId=v%2B1")
                        )
                )
            })
            .then_output(|| CopyObjectOutput::builder().build());
        let delete = mock!(Client::delete_object)
            .match_requests(|r| r.key() == Some("new.js") && r.version_id().is_none())
            .then_output(|| DeleteObjectOutput::builder().delete_marker(true).build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&slow, &others, &delete]);
        let started = tokio::time::Instant::now();
        let applied = apply(&ctx(), &s3, "bkt", &three_copies_and_a_removal(), 4).await;
        assert!(applied.failed.is_empty(), "{:?}", applied.failed);
        assert_eq!((applied.copied, applied.delete_markers), (3, 1));
        assert_eq!(slow.num_calls(), 8);
        assert_eq!(others.num_calls(), 2);
        // More throttles than the operator's 3 attempts, each waited out with
        // the SDK's backoff.
        assert!(started.elapsed() >= Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn endless_slow_down_is_reported_per_key_and_the_rest_still_applied() {
        let slow = mock!(Client::copy_object)
            .match_requests(|r| r.key() == Some("slow"))
            .sequence()
            .http_status(503, Some(SLOW_DOWN.into()))
            .repeatedly()
            .build();
        let others = mock!(Client::copy_object)
            .match_requests(|r| r.key() != Some("slow"))
            .then_output(|| CopyObjectOutput::builder().build());
        let delete =
            mock!(Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
        // The read-back after the last 503 shows the key still on other content.
        let head_slow = mock!(Client::head_object)
            .match_requests(|r| r.key() == Some("slow"))
            .then_output(|| head("\"still-the-new-one\"", 1));
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&slow, &others, &delete, &head_slow]
        );
        let applied = apply(&ctx(), &s3, "bkt", &three_copies_and_a_removal(), 2).await;
        assert_eq!((applied.copied, applied.delete_markers), (2, 1));
        assert_eq!(applied.failed.len(), 1);
        assert_eq!(applied.failed[0].key, "slow");
        assert!(
            applied.failed[0].error.contains("SlowDown"),
            "{:?}",
            applied.failed
        );
        assert!(slow.num_calls() >= 6, "{}", slow.num_calls());
        assert_eq!(head_slow.num_calls(), 1);
    }

    #[tokio::test]
    async fn after_an_interrupt_no_new_change_starts() {
        let any = mock!(Client::copy_object).then_output(|| CopyObjectOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&any]);
        let cancel = common::Cancel::new();
        cancel.trigger(common::cancel::SignalKind::Interrupt);
        let applied = apply(
            &ctx().with_cancel(cancel),
            &s3,
            "bkt",
            &three_copies_and_a_removal(),
            4,
        )
        .await;
        assert_eq!(applied.not_started, 4);
        assert_eq!(any.num_calls(), 0);
    }

    use aws_sdk_s3::operation::get_bucket_versioning::GetBucketVersioningOutput;
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
    use aws_sdk_s3::types::{BucketVersioningStatus, ObjectVersion};
    use common::cancel::SignalKind;
    use common::journal::{Entry, Phase};

    fn head(etag: &str, size: i64) -> HeadObjectOutput {
        HeadObjectOutput::builder()
            .e_tag(etag)
            .content_length(size)
            .version_id("fresh-copy")
            .build()
    }

    fn not_found() -> HeadObjectError {
        HeadObjectError::NotFound(aws_sdk_s3::types::error::NotFound::builder().build())
    }

    // Regression (issue 14): a CopyObject whose request reached S3 but whose
    // answer was lost was counted failed although the key held the target.
    #[tokio::test(start_paused = true)]
    async fn lost_copy_and_delete_answers_are_done_when_head_object_shows_the_target() {
        // "a": every attempt answers 500 (the copy went through, the answers
        // were lost); the read-back sees the target's ETag and size.
        let lost = mock!(Client::copy_object)
            .match_requests(|r| r.key() == Some("a"))
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build();
        // "slow": 500 once, then the SDK's own retry succeeds: no read-back.
        let retried = mock!(Client::copy_object)
            .match_requests(|r| r.key() == Some("slow"))
            .sequence()
            .http_status(500, None)
            .output(|| CopyObjectOutput::builder().build())
            .build();
        // The third copy's answer is lost and the key holds something else.
        let wrong = mock!(Client::copy_object)
            .match_requests(|r| r.key() == Some("dir/ü b.txt"))
            .sequence()
            .http_status(503, None)
            .repeatedly()
            .build();
        let delete = mock!(Client::delete_object)
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build();
        let head_a = mock!(Client::head_object)
            .match_requests(|r| r.key() == Some("a"))
            .then_output(|| head("\"etag-va\"", 1));
        let head_wrong = mock!(Client::head_object)
            .match_requests(|r| r.key() == Some("dir/ü b.txt"))
            .then_output(|| head("\"someone-else\"", 1));
        let head_removed = mock!(Client::head_object)
            .match_requests(|r| r.key() == Some("new.js"))
            .then_error(not_found);
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [
                &lost,
                &retried,
                &wrong,
                &delete,
                &head_a,
                &head_wrong,
                &head_removed
            ]
        );
        let applied = apply(&ctx(), &s3, "bkt", &three_copies_and_a_removal(), 4).await;
        assert_eq!((applied.copied, applied.delete_markers), (2, 1));
        assert_eq!(applied.confirmed_by_read_back, 2, "a and new.js");
        assert_eq!(applied.failed.len(), 1, "{:?}", applied.failed);
        assert_eq!(applied.failed[0].key, "dir/ü b.txt");
        assert!(
            applied.failed[0].error.contains("503"),
            "{:?}",
            applied.failed
        );
        assert_eq!(retried.num_calls(), 2);
        assert_eq!(head_a.num_calls(), 1);
        assert_eq!(head_removed.num_calls(), 1);
        let done: Vec<&str> = applied.made.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(done, ["a", "new.js", "slow"]);
    }

    fn version(key: &str, id: &str, latest: bool, secs: i64) -> ObjectVersion {
        ObjectVersion::builder()
            .key(key)
            .version_id(id)
            .is_latest(latest)
            .last_modified(aws_smithy_types::DateTime::from_secs(secs))
            .e_tag(format!("\"etag-{id}\""))
            .size(1)
            .build()
    }

    const KEYS: [&str; 4] = ["k1", "k2", "k3", "k4"];

    /// Four keys, each with an old version (the target) under a newer one.
    fn listing() -> ListObjectVersionsOutput {
        let mut b = ListObjectVersionsOutput::builder().is_truncated(false);
        for k in KEYS {
            b = b
                .versions(version(k, &format!("new-{k}"), true, 200))
                .versions(version(k, &format!("old-{k}"), false, 100));
        }
        b.build()
    }

    fn wanted_old() -> Wanted {
        let objects = KEYS
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    crate::manifest::ObjectRecord {
                        version_id: format!("old-{k}"),
                        etag: format!("\"etag-old-{k}\""),
                        size: 1,
                        last_modified: chrono::DateTime::from_timestamp(100, 0).unwrap(),
                    },
                )
            })
            .collect();
        Wanted::Manifest {
            manifest: Box::new(Manifest::new("bkt", "", Utc::now(), objects)),
            source: "before.json".into(),
        }
    }

    fn restore_args(concurrency: usize) -> RestoreArgs {
        let mut a = args(concurrency, None);
        a.scope.bucket = "bkt".into();
        a.source.manifest = Some("before.json".into());
        a
    }

    /// A context whose journal is a file in `dir` and whose signals are `cancel`'s.
    fn journaled(
        dir: &tempfile::TempDir,
        cancel: &common::Cancel,
    ) -> (Context, std::path::PathBuf) {
        let path = dir.path().join("journal.jsonl");
        let globals = common::GlobalArgs {
            journal: Some(path.clone()),
            ..Default::default()
        };
        let out = common::Output::with_writers(
            true,
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        );
        let ctx = Context::with_output("site-restore", &globals, out).with_cancel(cancel.clone());
        (ctx, path)
    }

    fn outcomes(path: &std::path::Path, action: &str) -> Vec<Entry> {
        Journal::read_entries(path)
            .unwrap()
            .into_iter()
            .filter(|e| e.phase == Phase::Outcome && e.action == action)
            .collect()
    }

    fn s3_reads() -> (aws_smithy_mocks::Rule, aws_smithy_mocks::Rule) {
        (
            mock!(Client::get_bucket_versioning).then_output(|| {
                GetBucketVersioningOutput::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build()
            }),
            mock!(Client::list_object_versions).then_output(listing),
        )
    }

    async fn run_restore(
        ctx: &Context,
        args: &RestoreArgs,
        s3: &Client,
        cf: Option<aws_sdk_cloudfront::Client>,
    ) -> Result<()> {
        let (scope, _) = scope::resolve(
            &ScopeArgs {
                bucket: "bkt".into(),
                prefix: None,
            },
            &SourceArgs {
                manifest: None,
                at: Some("2020-01-01T00:00:00Z".into()),
            },
            Utc::now(),
        )
        .unwrap();
        execute(
            ctx,
            args,
            &scope,
            &wanted_old(),
            s3,
            cf,
            &CallCounter::default(),
            Instant::now(),
        )
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn first_signal_mid_restore_finishes_the_copy_in_flight_journals_interrupted_and_exits_130()
     {
        let dir = tempfile::tempdir().unwrap();
        let cancel = common::Cancel::new();
        let (ctx, path) = journaled(&dir, &cancel);
        let (versioning, list) = s3_reads();
        // The operator presses Ctrl-C while the first copy is on the wire.
        let c = cancel.clone();
        let copy = mock!(Client::copy_object).then_compute_output(move |_| {
            c.trigger(SignalKind::Interrupt);
            CopyObjectOutput::builder().build()
        });
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&versioning, &list, &copy]);
        let err = run_restore(&ctx, &restore_args(1), &s3, None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Interrupted));
        assert_eq!(err.exit_code(), 130);
        assert_eq!(copy.num_calls(), 1, "no new copy after the signal");
        // The listing ran once (the plan), not again to verify.
        assert_eq!(list.num_calls(), 1);
        let o = outcomes(&path, ACTION);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].outcome, Some(Outcome::Interrupted));
        assert_eq!(o[0].after["done"], 1);
        assert_eq!(o[0].after["left"], 3);
        assert_eq!(o[0].after["applied"]["not_started"], 3);
        let msg = o[0].message.as_deref().unwrap();
        assert!(msg.contains("SIGINT after 1 of 4"), "{msg}");
        assert!(
            msg.contains("site-restore restore --bucket bkt --manifest before.json"),
            "{msg}"
        );
        assert!(msg.contains("undo: jq"), "{msg}");
    }

    // Chaos trial 200016: every change made, then the verifying listing failed
    // (503 x3 after the SDK's attempts): journaled failed, exit 3, site restored.
    #[tokio::test(start_paused = true)]
    async fn a_verifying_listing_that_fails_after_every_change_was_made_is_ok_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = common::Cancel::new();
        let (ctx, path) = journaled(&dir, &cancel);
        let (versioning, _) = s3_reads();
        let list = mock!(Client::list_object_versions)
            .sequence()
            .output(listing)
            .http_status(503, None)
            .repeatedly()
            .build();
        let copy = mock!(Client::copy_object).then_output(|| CopyObjectOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&versioning, &list, &copy]);
        run_restore(&ctx, &restore_args(2), &s3, None)
            .await
            .unwrap();
        assert_eq!(copy.num_calls(), 4);
        // The plan, then the verifying call that failed after its attempts.
        assert!(list.num_calls() > 2, "{}", list.num_calls());
        let o = outcomes(&path, ACTION);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].outcome, Some(Outcome::Ok));
        let msg = o[0].message.as_deref().unwrap();
        assert!(msg.contains("all 4 change(s) were applied"), "{msg}");
        assert!(msg.contains("verifying listing failed"), "{msg}");
        assert!(
            msg.contains("site-restore diff --bucket bkt --manifest before.json"),
            "{msg}"
        );
        assert!(
            o[0].after["listing_error"]
                .as_str()
                .unwrap()
                .contains("503")
        );
    }

    // The listing BEFORE any change still fails with exit 3 and journals nothing.
    #[tokio::test(start_paused = true)]
    async fn a_listing_that_fails_before_any_change_exits_3() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = common::Cancel::new();
        let (ctx, path) = journaled(&dir, &cancel);
        let (versioning, _) = s3_reads();
        let list = mock!(Client::list_object_versions)
            .sequence()
            .http_status(503, None)
            .repeatedly()
            .build();
        let copy = mock!(Client::copy_object).then_output(|| CopyObjectOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&versioning, &list, &copy]);
        let err = run_restore(&ctx, &restore_args(2), &s3, None)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 3, "{err}");
        assert_eq!(copy.num_calls(), 0);
        assert!(!path.exists() || outcomes(&path, ACTION).is_empty());
    }

    // A run killed (SIGKILL) between its intent and its outcome left no
    // outcome: the re-run must invalidate what it planned to change.
    #[test]
    fn an_intent_without_outcome_leaves_its_planned_paths_to_invalidate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::new(path.clone(), Default::default());
        let change = journal
            .intent(
                ACTION,
                "s3://bkt/",
                json!({"restore": 2, "invalidation_planned": ["/a.html", "/b.js"]}),
            )
            .unwrap();
        let id = change.id().to_owned();
        // Killed: no outcome is ever written (a dropped Change would say unknown).
        std::mem::forget(change);
        let (found, paths) = pending_invalidation(&journal, "s3://bkt/")
            .unwrap()
            .unwrap();
        assert_eq!(found, id);
        assert_eq!(paths, vec!["/a.html".to_owned(), "/b.js".to_owned()]);
        // Once an invalidation that resumes it is ok, nothing is pending.
        let inv = journal
            .intent("site.invalidate", "cloudfront:E1", json!({"resumes": id}))
            .unwrap();
        inv.ok(json!({})).unwrap();
        assert!(
            pending_invalidation(&journal, "s3://bkt/")
                .unwrap()
                .is_none()
        );
        // An intent without outcome written before this field existed: nothing.
        let other = dir.path().join("old.jsonl");
        let old = Journal::new(other, Default::default());
        std::mem::forget(
            old.intent(ACTION, "s3://bkt/", json!({"restore": 1}))
                .unwrap(),
        );
        assert!(pending_invalidation(&old, "s3://bkt/").unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn second_signal_abandons_the_copy_in_flight_and_still_journals() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = common::Cancel::new();
        let (ctx, path) = journaled(&dir, &cancel);
        let (versioning, list) = s3_reads();
        // k1's copy hangs in backoff (S3 keeps answering 503) ...
        let stuck = mock!(Client::copy_object)
            .match_requests(|r| r.key() == Some("k1"))
            .sequence()
            .http_status(503, None)
            .repeatedly()
            .build();
        // ... while k2's copy succeeds and the operator presses Ctrl-C twice.
        let c = cancel.clone();
        let twice = mock!(Client::copy_object)
            .match_requests(|r| r.key() != Some("k1"))
            .then_compute_output(move |_| {
                c.trigger(SignalKind::Interrupt);
                c.trigger(SignalKind::Interrupt);
                CopyObjectOutput::builder().build()
            });
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&versioning, &list, &stuck, &twice]
        );
        let err = run_restore(&ctx, &restore_args(2), &s3, None)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 130);
        assert_eq!(twice.num_calls(), 1);
        let o = outcomes(&path, ACTION);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].outcome, Some(Outcome::Interrupted));
        assert_eq!(o[0].after["applied"]["abandoned"], 1);
        assert_eq!(o[0].after["abandoned_keys"], json!(["k1"]));
        assert_eq!(o[0].after["applied"]["not_started"], 2);
        assert_eq!(o[0].after["done"], 1);
    }

    // Issue 14: a restore that changed some keys and failed on others exited 3;
    // it is exit 7 with the counts and the commands to finish or undo. (Not a
    // denial: that one is undone, below.)
    #[tokio::test(start_paused = true)]
    async fn partly_failed_restore_is_exit_7_with_finish_and_undo() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = common::Cancel::new();
        let (ctx, path) = journaled(&dir, &cancel);
        let (versioning, list) = s3_reads();
        // An archived source version cannot be copied (S3 answers 403 too).
        let denied = mock!(Client::copy_object)
            .match_requests(|r| r.key() == Some("k2"))
            .sequence()
            .http_status(
                403,
                Some(
                    "<Error><Code>InvalidObjectState</Code><Message>archived</Message></Error>"
                        .into(),
                ),
            )
            .build();
        let fine = mock!(Client::copy_object)
            .match_requests(|r| r.key() != Some("k2"))
            .then_output(|| CopyObjectOutput::builder().build());
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&versioning, &list, &denied, &fine]
        );
        let err = run_restore(&ctx, &restore_args(2), &s3, None)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 7);
        let msg = err.to_string();
        assert!(msg.contains("1 of 4 change(s) failed"), "{msg}");
        assert!(msg.contains("3 were applied"), "{msg}");
        assert!(
            msg.contains("finish with the same command (it does only what is left): site-restore restore --bucket bkt --manifest before.json"),
            "{msg}"
        );
        assert!(msg.contains("or undo: jq"), "{msg}");
        // A definite refusal (403) is not read back.
        assert_eq!(denied.num_calls(), 1);
        let o = outcomes(&path, ACTION);
        assert_eq!(o[0].outcome, Some(Outcome::Failed));
        assert_eq!(o[0].after["applied"]["copied"], 3);
    }

    const DENIED: &str = "<Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/u \
        is not authorized to perform: s3:PutObject</Message></Error>";

    /// Copies that succeed with a new version `made-KEY`, except k2's: refused.
    fn copies_with_k2_refused() -> (aws_smithy_mocks::Rule, aws_smithy_mocks::Rule) {
        (
            mock!(Client::copy_object)
                .match_requests(|r| r.key() == Some("k2"))
                .sequence()
                .http_status(403, Some(DENIED.into()))
                .build(),
            mock!(Client::copy_object)
                .match_requests(|r| r.key() != Some("k2"))
                .then_compute_output(|r| {
                    CopyObjectOutput::builder()
                        .version_id(format!("made-{}", r.key().unwrap_or_default()))
                        .build()
                }),
        )
    }

    // Issue 16: refused part-way, the restore deletes exactly the versions it
    // created, checks every key is back, and exits 6 (reverted) naming the action.
    #[tokio::test(start_paused = true)]
    async fn refused_part_way_the_restore_deletes_the_versions_it_made_and_exits_6() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = common::Cancel::new();
        let (ctx, path) = journaled(&dir, &cancel);
        let (versioning, list) = s3_reads();
        let (denied, fine) = copies_with_k2_refused();
        let deleted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let d = deleted.clone();
        let undo = mock!(Client::delete_object)
            .match_requests(move |r| {
                d.lock().unwrap().push(format!(
                    "{}@{}",
                    r.key().unwrap_or_default(),
                    r.version_id().unwrap_or("NONE")
                ));
                true
            })
            .then_output(|| DeleteObjectOutput::builder().build());
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&versioning, &list, &denied, &fine, &undo]
        );
        let err = run_restore(&ctx, &restore_args(2), &s3, None)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 6, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("may not perform s3:PutObject"),
            "the action is named: {msg}"
        );
        assert!(
            msg.contains(
                "the 3 change(s) made before it were undone: s3://bkt/ is as before the run"
            ),
            "{msg}"
        );
        let mut d = deleted.lock().unwrap().clone();
        d.sort();
        assert_eq!(d, ["k1@made-k1", "k3@made-k3", "k4@made-k4"]);
        // The plan, then one listing for the journal's after that also
        // checks the rollback.
        assert_eq!(list.num_calls(), 2);
        let o = outcomes(&path, ACTION);
        assert_eq!(o[0].outcome, Some(Outcome::Reverted));
        let r = &o[0].after["rolled_back"];
        assert_eq!(r["undone"].as_array().unwrap().len(), 3);
        assert_eq!(r["not_undone"], json!([]));
        assert_eq!(r["verified"], true);
        let why = o[0].message.as_deref().unwrap();
        assert!(why.contains("3 change(s) made were undone"), "{why}");
    }

    // When the undoing is refused too, the partial restore stays: exit 7 with
    // what was not undone, and the commands to finish or undo.
    #[tokio::test(start_paused = true)]
    async fn a_rollback_refused_too_leaves_a_partial_restore_with_exit_7() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = common::Cancel::new();
        let (ctx, path) = journaled(&dir, &cancel);
        let (versioning, list) = s3_reads();
        let (denied, fine) = copies_with_k2_refused();
        let undo = mock!(Client::delete_object)
            .sequence()
            .http_status(
                403,
                Some("<Error><Code>AccessDenied</Code><Message>not authorized to perform: s3:DeleteObjectVersion</Message></Error>".into()),
            )
            .repeatedly()
            .build();
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&versioning, &list, &denied, &fine, &undo]
        );
        let err = run_restore(&ctx, &restore_args(2), &s3, None)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 7, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("undoing after the denial fell short: 0 undone, 3 not"),
            "{msg}"
        );
        assert!(msg.contains("s3:DeleteObjectVersion"), "{msg}");
        assert!(msg.contains("or undo: jq"), "{msg}");
        assert_eq!(undo.num_calls(), 3, "one refused version delete per change");
        let o = outcomes(&path, ACTION);
        assert_eq!(o[0].outcome, Some(Outcome::Failed));
        assert_eq!(
            o[0].after["rolled_back"]["not_undone"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }

    use aws_sdk_cloudfront::Client as CfClient;
    use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationOutput;
    use aws_sdk_cloudfront::operation::get_invalidation::GetInvalidationOutput;
    use aws_sdk_cloudfront::operation::list_invalidations::ListInvalidationsOutput;
    use aws_sdk_cloudfront::types::{
        Invalidation, InvalidationBatch, InvalidationList, InvalidationSummary, Paths,
    };

    const ALREADY_EXISTS: &str = "<ErrorResponse><Error><Type>Sender</Type>\
        <Code>InvalidationBatchAlreadyExists</Code><Message>exists</Message></Error>\
        <RequestId>r</RequestId></ErrorResponse>";

    fn cf_invalidation(id: &str, reference: &str, status: &str) -> Invalidation {
        Invalidation::builder()
            .id(id)
            .status(status)
            .create_time(aws_smithy_types::DateTime::from(
                std::time::SystemTime::now(),
            ))
            .invalidation_batch(
                InvalidationBatch::builder()
                    .caller_reference(reference)
                    .paths(
                        Paths::builder()
                            .quantity(1)
                            .items("/index.html")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    fn listed(ids: &[&str]) -> ListInvalidationsOutput {
        let mut l = InvalidationList::builder()
            .marker("")
            .max_items(100)
            .is_truncated(false)
            .quantity(ids.len() as i32);
        for id in ids {
            l = l.items(
                InvalidationSummary::builder()
                    .id(*id)
                    .create_time(aws_smithy_types::DateTime::from(
                        std::time::SystemTime::now(),
                    ))
                    .status("InProgress")
                    .build()
                    .unwrap(),
            );
        }
        ListInvalidationsOutput::builder()
            .invalidation_list(l.build().unwrap())
            .build()
    }

    /// A create rule that remembers the CallerReference it was sent.
    fn create_rule(seen: &std::sync::Arc<std::sync::Mutex<String>>) -> aws_smithy_mocks::Rule {
        let seen = seen.clone();
        mock!(CfClient::create_invalidation)
            .match_requests(move |r| {
                if let Some(b) = r.invalidation_batch() {
                    *seen.lock().unwrap() = b.caller_reference().to_owned();
                }
                true
            })
            .sequence()
            .http_status(500, None)
            .http_status(400, Some(ALREADY_EXISTS.into()))
            .build()
    }

    // Regression (issue 14): CreateInvalidation whose answer was lost was
    // journaled failed; the retry meets "already exists" for our own reference.
    #[tokio::test(start_paused = true)]
    async fn lost_create_invalidation_answer_is_read_back_by_caller_reference_and_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = common::Cancel::new();
        let (ctx, path) = journaled(&dir, &cancel);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let create = create_rule(&seen);
        let list = mock!(CfClient::list_invalidations).then_output(|| listed(&["OTHER", "I1"]));
        let s2 = seen.clone();
        let get = mock!(CfClient::get_invalidation).then_compute_output(move |r| {
            let id = r.id().unwrap_or_default();
            let reference = if id == "I1" {
                s2.lock().unwrap().clone()
            } else {
                "someone-else".to_owned()
            };
            GetInvalidationOutput::builder()
                .invalidation(cf_invalidation(id, &reference, "Completed"))
                .build()
        });
        let cf = mock_client!(
            aws_sdk_cloudfront,
            RuleMode::MatchAny,
            [&create, &list, &get]
        );
        let inv = invalidate_journaled(
            &ctx,
            &cf,
            "E1",
            vec!["/index.html".into()],
            None,
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
        assert_eq!(inv.id, "I1");
        assert_eq!(inv.status, "Completed");
        // The 500 and the "already exists" retry: one CallerReference for both.
        assert_eq!(create.num_calls(), 2);
        let reference = seen.lock().unwrap().clone();
        assert!(reference.starts_with("site-restore-"), "{reference}");
        let o = outcomes(&path, "site.invalidate");
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].outcome, Some(Outcome::Ok));
        assert_eq!(o[0].after["read_back"], true);
        assert_eq!(o[0].after["caller_reference"], reference);
    }

    #[tokio::test(start_paused = true)]
    async fn lost_create_invalidation_that_the_read_back_cannot_find_is_unknown_with_exit_7() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = common::Cancel::new();
        let (ctx, path) = journaled(&dir, &cancel);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let create = create_rule(&seen);
        // The listing itself keeps failing: nothing can decide.
        let list = mock!(CfClient::list_invalidations)
            .sequence()
            .http_status(503, None)
            .repeatedly()
            .build();
        let cf = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&create, &list]);
        let err = invalidate_journaled(
            &ctx,
            &cf,
            "E1",
            vec!["/index.html".into()],
            None,
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 7);
        assert!(
            err.to_string()
                .contains("aws cloudfront list-invalidations --distribution-id E1"),
            "{err}"
        );
        let o = outcomes(&path, "site.invalidate");
        assert_eq!(o[0].outcome, Some(Outcome::Unknown));
    }

    #[tokio::test(start_paused = true)]
    async fn signal_while_waiting_for_the_invalidation_journals_interrupted_with_the_wait_command()
    {
        let dir = tempfile::tempdir().unwrap();
        let cancel = common::Cancel::new();
        let (ctx, path) = journaled(&dir, &cancel);
        let create = mock!(CfClient::create_invalidation).then_compute_output(|r| {
            let reference = r
                .invalidation_batch()
                .map(|b| b.caller_reference().to_owned())
                .unwrap_or_default();
            CreateInvalidationOutput::builder()
                .invalidation(cf_invalidation("I9", &reference, "InProgress"))
                .build()
        });
        let get = mock!(CfClient::get_invalidation).then_output(|| {
            GetInvalidationOutput::builder()
                .invalidation(cf_invalidation("I9", "r", "InProgress"))
                .build()
        });
        let cf = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&create, &get]);
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            c.trigger(SignalKind::Terminate);
        });
        let err = invalidate_journaled(
            &ctx,
            &cf,
            "E1",
            vec!["/index.html".into()],
            None,
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 130);
        assert!(get.num_calls() >= 2, "it was waiting: {}", get.num_calls());
        let o = outcomes(&path, "site.invalidate");
        assert_eq!(o[0].outcome, Some(Outcome::Interrupted));
        assert_eq!(o[0].after["id"], "I9");
        assert!(
            o[0].message.as_deref().unwrap().contains(
                "aws cloudfront wait invalidation-completed --distribution-id E1 --id I9"
            )
        );
    }

    #[test]
    fn pending_paths_merge_and_collapse_past_the_limit() {
        assert_eq!(
            merge_paths(vec!["/b".into()], &["/a".into(), "/b".into()], "/*".into()),
            ["/a", "/b"]
        );
        let many: Vec<String> = (0..=invalidate::PATH_LIMIT)
            .map(|i| format!("/{i}"))
            .collect();
        assert_eq!(
            merge_paths(Vec::new(), &many, "/site/*".into()),
            ["/site/*"]
        );
    }

    #[test]
    fn long_inputs_are_quoted_short_and_ids_checked() {
        let long = "E".repeat(100_000);
        let e = validate_distribution(&long).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().len() < 250, "{}", e.to_string().len());
        assert!(e.to_string().contains("(100000 characters)"), "{e}");
        let e = scope::validate_bucket(&"a".repeat(5000)).unwrap_err();
        assert!(e.to_string().len() < 250);
        let e = scope::validate_prefix(&"p/".repeat(600)).unwrap_err();
        assert!(e.to_string().contains("1200 bytes"), "{e}");
        assert_eq!(scope::validate_prefix("a\nb").unwrap_err().exit_code(), 2);
        let e = validate(&args(0, None)).unwrap_err();
        assert_eq!(e.to_string(), "--concurrency must be 1-256, got 0");
    }

    #[test]
    fn resume_command_repeats_the_restore() {
        let mut a = restore_args(4);
        a.scope.prefix = Some("my site/".into());
        a.distribution = Some("E1".into());
        assert_eq!(
            a.command(),
            "site-restore restore --bucket bkt --prefix 'my site/' --manifest before.json --distribution E1"
        );
    }
}
