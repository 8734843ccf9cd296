//! `smoke-test load URL|CHECKS.toml`: a bounded load check. When every target is
//! plain `http://`, each worker drives its own keep-alive HTTP/1.1 connection
//! ([`crate::fast`]: no shared pool, no per-request timer); otherwise (https, URL
//! credentials) workers share one keep-alive reqwest client. Without `--rate` each worker sends its next request as soon
//! as the previous answer is in (closed loop). With `--rate` requests follow a
//! fixed timetable (request i is due at start + i/rate) and latency counts from the
//! due time, so a stalled server cannot hide its stall by slowing the sender down
//! (coordinated-omission correction, as in wrk2).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{ArgGroup, Args};
use common::HumanDuration;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::check_run::{self, Plan};
use crate::checks::{self, Check, Expectations, StatusSpec};
use crate::get::{check_from_flags, parse_header, parse_method};
use crate::report::Recorder;
use crate::tls::CertTracker;
use crate::vars::Masker;
use crate::verdict::{self, Finished, LoadInfo};
use crate::{HttpArgs, ThresholdArgs};
use crate::{fast, http};

/// Hard limits, so a typo cannot start an unbounded run.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
pub const MAX_REQUESTS: u64 = 1_000_000_000;
pub const MAX_RATE: f64 = 1_000_000.0;

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("limit").required(true).multiple(true).args(["duration", "requests"])))]
pub struct LoadArgs {
    /// A URL, or a checks file (*.toml) whose checks are sent in turn.
    #[arg(value_name = "URL|CHECKS.toml")]
    pub target: String,

    /// Stop sending after this long (with --requests too: whichever comes first).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<HumanDuration>,

    /// Stop after this many requests (with --duration too: whichever comes first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_REQUESTS))]
    pub requests: Option<u64>,

    /// Requests in flight at once (one keep-alive connection each).
    #[arg(short = 'c', long, value_name = "C", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,

    /// Send R requests per second on a fixed timetable; latency counts from each
    /// request's scheduled time (coordinated-omission correction).
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// HTTP method (URL target).
    #[arg(short = 'X', long, default_value = "GET", value_parser = parse_method)]
    pub method: Method,

    /// Request header 'Name: value' (URL target). Repeatable.
    #[arg(short = 'H', long = "header", value_name = "K:V", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,

    /// Accepted status (URL target): 200,204 / 2xx / 200-399.
    #[arg(long, value_name = "STATUS", default_value = "2xx", value_parser = StatusSpec::parse)]
    pub expect_status: StatusSpec,

    /// Base URL for a checks file's paths.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Fill ${NAME} in a checks file. Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = common::cli::parse_key_value)]
    pub vars: Vec<(String, String)>,

    #[command(flatten)]
    pub http: HttpArgs,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches("/s").parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= MAX_RATE => Ok(r),
        _ => Err(format!(
            "bad rate {s:?}: requests per second, more than 0 and at most {MAX_RATE}"
        )),
    }
}

/// When to send and when to stop; pure, so the timetable is unit-tested.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub rate: Option<f64>,
}

impl Schedule {
    /// Due time of request `i` after the start, under `--rate`.
    pub fn due(&self, i: u64) -> Option<Duration> {
        self.rate.map(|r| Duration::from_secs_f64(i as f64 / r))
    }

    /// Whether request `i` may go at `offset` after the start (its due time under
    /// `--rate`, the current time otherwise).
    pub fn admits(&self, i: u64, offset: Duration) -> bool {
        self.requests.is_none_or(|n| i < n) && self.duration.is_none_or(|d| offset < d)
    }

    /// Requests the run will attempt at most, when that is known in advance.
    pub fn max_requests(&self) -> Option<u64> {
        let by_rate = match (self.rate, self.duration) {
            (Some(r), Some(d)) => Some((r * d.as_secs_f64()).ceil() as u64),
            _ => None,
        };
        match (self.requests, by_rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Why the run ended, given how many tickets were handed out.
    pub fn stopped_by(&self, issued: u64, interrupted: bool) -> &'static str {
        if interrupted {
            "interrupted"
        } else if self.requests.is_some_and(|n| issued >= n) {
            "requests"
        } else {
            "duration"
        }
    }
}

/// Recorder shards: few enough to merge cheaply, enough that workers rarely wait.
fn shard_count(workers: usize) -> usize {
    workers.clamp(1, 8)
}

struct Shared {
    client: reqwest::Client,
    /// Set when every check is plain `http://`: those go through [`fast`] (one
    /// hyper HTTP/1 connection per worker, no pool); otherwise (https, URL
    /// credentials) every request goes through `client`.
    plain: Option<fast::Plan>,
    checks: Vec<Check>,
    keep_body: Vec<bool>,
    schedule: Schedule,
    start: Instant,
    next: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
    stop_notify: Notify,
    shards: Vec<Mutex<Recorder>>,
    certs: Option<CertTracker>,
}

async fn worker(sh: Arc<Shared>, id: usize) {
    let shard = &sh.shards[id % sh.shards.len()];
    let n = sh.checks.len() as u64;
    let mut plain = sh.plain.as_ref().map(fast::Worker::new);
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            break;
        }
        let i = sh.next.fetch_add(1, Ordering::Relaxed);
        let t0 = match sh.schedule.due(i) {
            Some(due) => {
                if !sh.schedule.admits(i, due) {
                    break;
                }
                let at = sh.start + due;
                if at > Instant::now() {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = sh.stop_notify.notified() => break,
                    }
                }
                at
            }
            None => {
                let now = Instant::now();
                if !sh.schedule.admits(i, now - sh.start) {
                    break;
                }
                now
            }
        };
        let idx = (i % n) as usize;
        let check = &sh.checks[idx];
        let result = match &mut plain {
            Some(w) => w.send(idx, sh.keep_body[idx], t0).await,
            None => http::send(&sh.client, check, sh.keep_body[idx], t0).await,
        };
        let ok = match result {
            Ok(a) => {
                let fails = check_run::judge(check, &a, sh.certs.as_ref());
                let mut rec = shard.lock().unwrap_or_else(|p| p.into_inner());
                match fails.first() {
                    None => rec.success(a.latency),
                    Some(f) => rec.failure(&check.name, f.kind, &f.reason, Some(a.latency)),
                }
                fails.is_empty()
            }
            Err(e) => {
                shard.lock().unwrap_or_else(|p| p.into_inner()).failure(
                    &check.name,
                    e.kind,
                    &e.message,
                    None,
                );
                false
            }
        };
        sh.done.fetch_add(1, Ordering::Relaxed);
        if !ok {
            sh.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runs the workers to the end of the schedule.
///
/// Plain `http://` workers: one OS thread per available core, each a single-threaded
/// runtime whose one task polls its share of the connections. Each pass of that task
/// answers every ready connection once and sends its next request, the way wrk's event
/// loop does. Measured against one tokio task per connection (docs/notes/smoke-test.md,
/// 64 connections, client pinned to one core): latency went from bimodal (p50 0.33 ms,
/// p90 0.63 ms; fast connections lapped slow ones through the run queue) to wrk's shape
/// (p50 0.35 ms, p90 0.39 ms), and throughput rose 5-10 %.
///
/// Other workers share the reqwest client, whose pooled connections belong to the
/// runtime that opened them, so they stay on the main runtime, one task each.
async fn run_workers(sh: &Arc<Shared>, workers: usize) -> common::Result<()> {
    let failed =
        |e: &dyn std::fmt::Display| common::Error::Internal(format!("a load worker failed: {e}"));
    if sh.plain.is_none() {
        let handles: Vec<_> = (0..workers)
            .map(|id| tokio::spawn(worker(sh.clone(), id)))
            .collect();
        for h in handles {
            h.await.map_err(|e| failed(&e))?;
        }
        return Ok(());
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, workers.max(1));
    let handles: Vec<_> = (0..threads)
        .map(|first| {
            let sh = sh.clone();
            tokio::task::spawn_blocking(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let mut share: FuturesUnordered<_> = (first..workers)
                        .step_by(threads)
                        .map(|id| worker(sh.clone(), id))
                        .collect();
                    while share.next().await.is_some() {}
                });
                Ok::<(), std::io::Error>(())
            })
        })
        .collect();
    for h in handles {
        h.await.map_err(|e| failed(&e))?.map_err(|e| failed(&e))?;
    }
    Ok(())
}

fn is_checks_file(target: &str) -> bool {
    !target.contains("://") && (target.ends_with(".toml") || std::path::Path::new(target).is_file())
}

pub async fn execute(ctx: &common::Context, args: LoadArgs) -> common::Result<()> {
    // Validate everything before the first request.
    if let Some(d) = args.duration {
        if d.0.is_zero() {
            return Err(common::Error::usage("--duration must be more than 0s"));
        }
        if d.0 > MAX_DURATION {
            return Err(common::Error::usage("--duration is at most 24h"));
        }
    }
    let (checks, masker) = if is_checks_file(&args.target) {
        check_run::load_checks(
            &PathBuf::from(&args.target),
            args.base_url.as_deref(),
            &args.vars,
            args.http.timeout.0,
        )?
    } else {
        let url = checks::parse_url(&args.target).map_err(|e| {
            common::Error::usage(format!(
                "{e} (give an http(s) URL or a checks file ending in .toml)"
            ))
        })?;
        let check = check_from_flags(
            url,
            args.method.clone(),
            &args.headers,
            Expectations {
                status: args.expect_status.clone(),
                ..Expectations::default()
            },
            args.http.timeout.0,
        );
        (vec![check], Masker::default())
    };
    let schedule = Schedule {
        duration: args.duration.map(|d| d.0),
        requests: args.requests,
        rate: args.rate,
    };
    let workers = match schedule.requests {
        Some(n) => (args.concurrency as u64).min(n) as usize,
        None => args.concurrency as usize,
    };
    let opts = check_run::client_options(&args.http, &checks, workers)?;
    let thresholds = args.thresholds.effective();
    let target = args.target.clone();

    if ctx.dry_run() {
        return check_run::print_plan(
            ctx,
            &Plan {
                command: "load",
                dry_run: true,
                target,
                checks: check_run::planned(&checks),
                settings: check_run::LoadSettings {
                    concurrency: workers,
                    rate: args.rate,
                    duration_limit_ms: schedule.duration.map(|d| d.as_millis() as u64),
                    requests_limit: schedule.requests,
                    max_requests: schedule.max_requests(),
                },
            },
            &masker,
        );
    }

    let client = http::build_client(&opts)?;
    let certs = check_run::cert_tracker(&args.http, &checks);
    ctx.out.info(masker.mask(&format!(
        "load: {target}, {workers} connection(s){}{}{}",
        schedule
            .duration
            .map(|d| format!(", for {}", common::duration::format_duration(d)))
            .unwrap_or_default(),
        schedule
            .requests
            .map(|n| format!(", up to {n} requests"))
            .unwrap_or_default(),
        schedule
            .rate
            .map(|r| format!(", at {r}/s on a fixed timetable"))
            .unwrap_or_default(),
    )));

    let keep_body = checks.iter().map(|c| c.expect.needs_body()).collect();
    let plain = fast::Plan::new(&checks);
    let sh = Arc::new(Shared {
        client,
        plain,
        checks,
        keep_body,
        schedule,
        start: Instant::now(),
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        stop_notify: Notify::new(),
        shards: (0..shard_count(workers))
            .map(|_| Mutex::new(Recorder::new()))
            .collect(),
        certs,
    });

    let interrupted = Arc::new(AtomicBool::new(false));
    let signal_task = {
        let sh = sh.clone();
        let interrupted = interrupted.clone();
        let cancel = ctx.cancel().clone();
        tokio::spawn(async move {
            cancel.cancelled().await;
            interrupted.store(true, Ordering::SeqCst);
            sh.stop.store(true, Ordering::SeqCst);
            sh.stop_notify.notify_waiters();
        })
    };
    let progress_task = {
        let sh = sh.clone();
        let out = ctx.out.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(5);
            let mut tick = tokio::time::interval_at(Instant::now() + every, every);
            loop {
                tick.tick().await;
                out.info(format!(
                    "load: {} elapsed, {} requests, {} failed",
                    common::duration::format_duration(sh.start.elapsed()),
                    sh.done.load(Ordering::Relaxed),
                    sh.failed.load(Ordering::Relaxed)
                ));
            }
        })
    };

    let finished = run_workers(&sh, workers).await;
    let elapsed = sh.start.elapsed();
    progress_task.abort();
    signal_task.abort();
    finished?;

    let mut rec = Recorder::new();
    for shard in &sh.shards {
        rec.merge(&shard.lock().unwrap_or_else(|p| p.into_inner()));
    }
    let interrupted = interrupted.load(Ordering::SeqCst);
    let issued = sh.next.load(Ordering::Relaxed);
    let tls = check_run::cert_verdicts(&args.http, sh.certs.as_ref());
    verdict::conclude(
        ctx,
        Finished {
            command: "load",
            target,
            summary: rec.summary(elapsed),
            histogram: rec.histogram(),
            thresholds,
            tls,
            load: Some(LoadInfo {
                concurrency: workers,
                rate: schedule.rate,
                duration_limit_ms: schedule.duration.map(|d| d.as_millis()),
                requests_limit: schedule.requests,
                coordinated_omission_corrected: schedule.rate.is_some(),
                stopped_by: schedule.stopped_by(issued, interrupted),
            }),
            checks: Vec::new(),
            interrupted,
            fail_on_warning: args.thresholds.fail_on_warning,
        },
        &masker,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timetable_is_fixed_by_the_rate() {
        let s = Schedule {
            duration: Some(Duration::from_secs(2)),
            requests: None,
            rate: Some(4.0),
        };
        assert_eq!(s.due(0), Some(Duration::ZERO));
        assert_eq!(s.due(3), Some(Duration::from_millis(750)));
        assert_eq!(s.due(8), Some(Duration::from_secs(2)));
        // Due at or after the end of the duration: not sent.
        assert!(s.admits(7, s.due(7).unwrap()));
        assert!(!s.admits(8, s.due(8).unwrap()));
        assert_eq!(s.max_requests(), Some(8));
    }

    #[test]
    fn request_count_and_duration_bound_together() {
        let s = Schedule {
            duration: Some(Duration::from_secs(10)),
            requests: Some(100),
            rate: None,
        };
        assert!(s.admits(99, Duration::from_secs(1)));
        assert!(!s.admits(100, Duration::from_secs(1)));
        assert!(!s.admits(5, Duration::from_secs(10)));
        assert_eq!(s.max_requests(), Some(100));
        assert_eq!(s.stopped_by(100 + 7, false), "requests");
        assert_eq!(s.stopped_by(42, false), "duration");
        assert_eq!(s.stopped_by(100, true), "interrupted");
        let r = Schedule {
            duration: Some(Duration::from_secs(10)),
            requests: Some(1000),
            rate: Some(10.0),
        };
        assert_eq!(r.max_requests(), Some(100));
        let open = Schedule {
            duration: Some(Duration::from_secs(1)),
            requests: None,
            rate: None,
        };
        assert_eq!(open.max_requests(), None);
    }

    #[test]
    fn rates_are_validated() {
        assert_eq!(parse_rate("250").unwrap(), 250.0);
        assert_eq!(parse_rate("0.5/s").unwrap(), 0.5);
        for bad in ["0", "-1", "fast", "inf", "NaN", "2000000"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_are_told_apart() {
        assert!(is_checks_file("checks.toml"));
        assert!(is_checks_file("examples/missing.toml"));
        assert!(!is_checks_file("http://127.0.0.1/x.toml"));
        assert!(!is_checks_file("http://127.0.0.1/"));
    }
}
