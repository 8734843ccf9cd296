//! `restore`: make the target versions current again with server-side copies
//! (no download), hide keys that did not exist with delete markers (nothing is
//! destroyed, so the restore itself can be undone), verify by listing again,
//! then invalidate CloudFront.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use chrono::Utc;
use common::{AwsError, AwsResultExt, Context, Error, HumanDuration, Render, Result};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;

use crate::bucket::{self, CallCounter, with_backoff};
use crate::diff::DiffReport;
use crate::invalidate::{self, InvalidationReport};
use crate::manifest::Manifest;
use crate::plan::{self, Plan};
use crate::scope::{self, Scope, ScopeArgs, SourceArgs, Wanted};

/// CopyObject copies at most 5 GiB; larger objects need a multipart copy.
pub const MAX_COPY_BYTES: i64 = 5 * 1024 * 1024 * 1024;
const MAX_CONCURRENCY: usize = 256;

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
    /// run restored the objects but its invalidation failed).
    #[arg(long, requires = "distribution")]
    pub force_invalidation: bool,
}

/// One change that did not go through.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub key: String,
    pub action: &'static str,
    pub error: String,
}

/// What was done.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    /// Versions copied back onto their keys.
    pub copied: usize,
    /// Delete markers added.
    pub delete_markers: usize,
    pub failed: Vec<Failure>,
    /// Changes not started because of an interrupt.
    pub not_started: usize,
}

/// The result of `restore` (with `--dry-run`: the diff, plus what CloudFront would get).
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub dry_run: bool,
    #[serde(flatten)]
    pub diff: DiffReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
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
    /// HTTP requests per AWS operation, retries included.
    pub calls: BTreeMap<String, u64>,
    pub elapsed_ms: u64,
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
                "copied {}, delete markers {}, failed {}, not started {}; verified: {}",
                a.copied,
                a.delete_markers,
                a.failed.len(),
                a.not_started,
                self.verified.unwrap_or(false)
            )?;
            for f in &a.failed {
                writeln!(w, "  FAILED {} {}: {}", f.action, f.key, f.error)?;
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
        Ok(())
    }
}

/// Checks the flags that need no AWS call.
fn validate(args: &RestoreArgs) -> Result<()> {
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        return Err(Error::usage(format!(
            "--concurrency must be between 1 and {MAX_CONCURRENCY}, got {}",
            args.concurrency
        )));
    }
    if let Some(d) = &args.distribution
        && (d.is_empty()
            || !d
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
    {
        return Err(Error::usage(format!(
            "bad distribution id {d:?}: expected capital letters and digits, e.g. E2ABC123DEF456"
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

async fn apply_one(s3: &aws_sdk_s3::Client, bucket: &str, op: &Op<'_>) -> Result<(), AwsError> {
    match op {
        Op::Copy(c) => {
            let source = invalidate::copy_source(bucket, &c.key, &c.to_version);
            with_backoff(|| async {
                s3.copy_object()
                    .bucket(bucket)
                    .key(&c.key)
                    .copy_source(&source)
                    .send()
                    .await
                    .aws("CopyObject")
            })
            .await
            .map(|_| ())
        }
        Op::Remove(r) => with_backoff(|| async {
            s3.delete_object()
                .bucket(bucket)
                .key(&r.key)
                .send()
                .await
                .aws("DeleteObject")
        })
        .await
        .map(|_| ()),
    }
}

/// Runs every change with at most `concurrency` in flight. After `stop` is set
/// no new change starts; those in flight finish.
pub async fn apply(
    ctx: &Context,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    plan: &Plan,
    concurrency: usize,
    stop: &AtomicBool,
) -> Applied {
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
    let results: Vec<(Op<'_>, Option<Result<(), AwsError>>)> = futures::stream::iter(ops)
        .map(|op| {
            let bar = bar.clone();
            let done = &done;
            async move {
                if stop.load(Ordering::SeqCst) {
                    return (op, None);
                }
                let res = apply_one(s3, bucket, &op).await;
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                match &bar {
                    Some(b) => b.inc(1),
                    None if n.is_multiple_of(step) || n == total => {
                        ctx.out.info(format!("{n}/{total} changes done"));
                    }
                    None => {}
                }
                (op, Some(res))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut applied = Applied::default();
    for (op, res) in results {
        match res {
            None => applied.not_started += 1,
            Some(Ok(())) => match op {
                Op::Copy(_) => applied.copied += 1,
                Op::Remove(_) => applied.delete_markers += 1,
            },
            Some(Err(e)) => applied.failed.push(Failure {
                key: op.key().to_owned(),
                action: op.action(),
                error: e.to_string(),
            }),
        }
    }
    applied.failed.sort_by(|a, b| a.key.cmp(&b.key));
    applied
}

/// Catches Ctrl-C: the first stops new changes (in-flight ones finish and the
/// journal is completed); once the changes are over, or on a second Ctrl-C, the
/// process exits 130 at once.
fn watch_interrupts(ctx: &Context, stop: Arc<AtomicBool>, changing: Arc<AtomicBool>) {
    let out = ctx.out.clone();
    tokio::spawn(async move {
        loop {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            if changing.load(Ordering::SeqCst) && !stop.swap(true, Ordering::SeqCst) {
                out.warn("interrupted: finishing the changes in flight, starting no new ones (Ctrl-C again to quit now)");
                continue;
            }
            out.warn("interrupted");
            std::process::exit(i32::from(common::exit::INTERRUPTED));
        }
    });
}

pub async fn run(ctx: &Context, args: &RestoreArgs) -> Result<()> {
    let started = Instant::now();
    validate(args)?;
    let (scope, wanted) = scope::resolve(&args.scope, &args.source, Utc::now())?;

    let aws = ctx.aws().await?;
    let counter = CallCounter::default();
    let s3 = bucket::s3_client(aws, &counter);
    bucket::require_versioning(&s3, &scope.bucket).await?;
    // The distribution is checked before any change, not discovered missing after.
    let cloudfront = match &args.distribution {
        Some(id) => {
            let cf = bucket::cloudfront_client(aws, &counter);
            let origin_path = invalidate::origin_path_for(&cf, id, &scope.bucket).await?;
            if origin_path.is_none() {
                ctx.out.warn(format!(
                    "no origin of distribution {id} points at bucket {}; invalidating keys as paths",
                    scope.bucket
                ));
            }
            Some((cf, id.clone(), origin_path.unwrap_or_default()))
        }
        None => None,
    };

    let cmp = scope::compare(&s3, &scope, &wanted).await?;
    let diff = DiffReport::new(&scope, &wanted, &cmp);
    diff.warn(ctx);
    let paths_for = |keys: &[&str]| -> Option<Vec<String>> {
        cloudfront.as_ref().map(|(_, _, origin)| {
            if keys.is_empty() && args.force_invalidation {
                vec![wildcard(&scope.prefix, origin)]
            } else {
                invalidate::invalidation_paths(keys, &scope.prefix, origin)
            }
        })
    };

    let mut report = RestoreReport {
        dry_run: ctx.dry_run(),
        invalidation_paths: paths_for(&cmp.plan.changed_keys()).filter(|p| !p.is_empty()),
        diff,
        applied: None,
        verified: None,
        invalidation: None,
        journal_id: None,
        calls: BTreeMap::new(),
        elapsed_ms: 0,
    };
    let finish = |report: &mut RestoreReport| {
        report.calls = counter.by_operation();
        report.elapsed_ms = started.elapsed().as_millis() as u64;
    };

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
        if args.force_invalidation {
            report.invalidation = invalidate_step(ctx, args, &cloudfront, &report).await?;
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
    let stop = Arc::new(AtomicBool::new(false));
    let changing = Arc::new(AtomicBool::new(true));
    watch_interrupts(ctx, stop.clone(), changing.clone());

    let journal = ctx.journal().await?;
    let before = Manifest::new(
        &scope.bucket,
        &scope.prefix,
        Utc::now(),
        cmp.current.clone(),
    );
    let change = journal.intent(
        "site.restore",
        &scope.target(),
        json!({
            "manifest": before,
            "target": wanted.describe(),
            "restore": cmp.plan.restore.len(),
            "remove": cmp.plan.remove.len(),
            "bring_back": cmp.plan.bring_back.len(),
        }),
    )?;
    report.journal_id = Some(change.id().to_owned());
    ctx.out.info(format!(
        "restoring {} key(s) in {} ({} in flight at most)",
        cmp.plan.change_count(),
        scope.target(),
        args.concurrency
    ));

    let applied = apply(ctx, &s3, &scope.bucket, &cmp.plan, args.concurrency, &stop).await;
    changing.store(false, Ordering::SeqCst);

    // The truth after the changes, for the journal and to verify.
    let after = verify(&s3, &scope, &wanted).await;
    let (after_json, verified) = match &after {
        Ok((m, left)) => (
            json!({ "manifest": m, "applied": &applied, "left": left }),
            *left == 0,
        ),
        Err(e) => (
            json!({ "applied": &applied, "listing_error": e.to_string() }),
            false,
        ),
    };
    report.verified = Some(verified);
    let interrupted = applied.not_started > 0;
    let ok = applied.failed.is_empty() && !interrupted && verified;
    if ok {
        change.ok(after_json)?;
    } else {
        let why = if interrupted {
            format!(
                "interrupted with {} change(s) not started",
                applied.not_started
            )
        } else if !applied.failed.is_empty() {
            format!("{} change(s) failed", applied.failed.len())
        } else {
            "a fresh listing does not match the target".to_owned()
        };
        change.failed(after_json, why)?;
    }

    // Invalidate what did change, even after a partial failure: those objects
    // are live at the origin now.
    let failed_keys: Vec<&str> = applied.failed.iter().map(|f| f.key.as_str()).collect();
    let changed: Vec<&str> = cmp
        .plan
        .changed_keys()
        .into_iter()
        .filter(|k| !failed_keys.contains(k))
        .collect();
    report.invalidation_paths = paths_for(&changed).filter(|p| !p.is_empty());
    let total = cmp.plan.change_count();
    report.applied = Some(applied.clone());
    let invalidation = if report.invalidation_paths.is_some() && !interrupted {
        invalidate_step(ctx, args, &cloudfront, &report).await
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

    if interrupted {
        return Err(Error::Interrupted);
    }
    if let Some(first) = applied.failed.first() {
        return Err(Error::Aws(AwsError {
            operation: "restore".into(),
            code: None,
            message: format!(
                "{} of {total} change(s) failed (first: {} {}: {}); the rest were applied; \
                 re-run the same command to finish: it only does what is left",
                applied.failed.len(),
                first.action,
                first.key,
                first.error
            ),
            status: None,
        }));
    }
    if let Some(e) = invalidation_error {
        return Err(e);
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

/// Creates the invalidation for the report's paths (journaled) and waits for it.
async fn invalidate_step(
    ctx: &Context,
    args: &RestoreArgs,
    cloudfront: &Option<(aws_sdk_cloudfront::Client, String, String)>,
    report: &RestoreReport,
) -> Result<Option<InvalidationReport>> {
    let (Some((cf, id, origin)), Some(paths)) = (cloudfront, &report.invalidation_paths) else {
        return Ok(None);
    };
    let paths = if paths.is_empty() {
        vec![wildcard(&report.diff.prefix, origin)]
    } else {
        paths.clone()
    };
    let journal = ctx.journal().await?;
    let change = journal.intent(
        "site.invalidate",
        &format!("cloudfront:{id}"),
        json!({ "paths": &paths }),
    )?;
    let reference = format!("site-restore-{}", change.id());
    match invalidate::invalidate_and_wait(&ctx.out, cf, id, paths, &reference, args.timeout.0).await
    {
        Ok(inv) => {
            change.ok(serde_json::to_value(&inv).unwrap_or_default())?;
            Ok(Some(inv))
        }
        Err(e) => {
            change.failed(serde_json::Value::Null, e.to_string())?;
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
        let applied = apply(
            &ctx(),
            &s3,
            "bkt",
            &three_copies_and_a_removal(),
            4,
            &AtomicBool::new(false),
        )
        .await;
        assert!(applied.failed.is_empty(), "{:?}", applied.failed);
        assert_eq!((applied.copied, applied.delete_markers), (3, 1));
        assert_eq!(slow.num_calls(), 8);
        assert_eq!(others.num_calls(), 2);
        // More throttles than the SDK's own attempts: our backoff waited too.
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
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&slow, &others, &delete]);
        let applied = apply(
            &ctx(),
            &s3,
            "bkt",
            &three_copies_and_a_removal(),
            2,
            &AtomicBool::new(false),
        )
        .await;
        assert_eq!((applied.copied, applied.delete_markers), (2, 1));
        assert_eq!(applied.failed.len(), 1);
        assert_eq!(applied.failed[0].key, "slow");
        assert!(
            applied.failed[0].error.contains("SlowDown"),
            "{:?}",
            applied.failed
        );
        assert!(slow.num_calls() >= 6, "{}", slow.num_calls());
    }

    #[tokio::test]
    async fn after_an_interrupt_no_new_change_starts() {
        let any = mock!(Client::copy_object).then_output(|| CopyObjectOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&any]);
        let applied = apply(
            &ctx(),
            &s3,
            "bkt",
            &three_copies_and_a_removal(),
            4,
            &AtomicBool::new(true),
        )
        .await;
        assert_eq!(applied.not_started, 4);
        assert_eq!(any.num_calls(), 0);
    }
}
