//! `smoke-test probe`: a downtime probe for traffic moves. It requests every URL
//! once per interval until a signal (SIGINT/SIGTERM/SIGHUP) or `--for` ends it,
//! streams a JSON line per failure and a periodic status line per URL, and ends
//! with a summary per URL: requests, failures, the longest gap without a
//! successful answer, and the first and last failure. It fails (exit 4) only when
//! a URL named in `--expect-serving` had a failed request: the origin that must
//! keep serving while traffic moves away from or towards it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use common::schemars::JsonSchema;
use common::{HumanDuration, Render};
use reqwest::{Method, Url};
use serde::Serialize;
use tokio::time::{Instant, MissedTickBehavior};

use crate::checks::{Expectations, StatusSpec};
use crate::get::{check_from_flags, parse_url_arg};
use crate::http::{self, ClientOptions};

/// Below this, a probe is a load test, not a probe.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// More origins than this is not what a cutover watches.
pub const MAX_URLS: usize = 20;

#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// A URL to watch (http or https); repeat for each origin (at most 20).
    #[arg(long = "url", value_name = "URL", required = true, value_parser = parse_url_arg)]
    pub urls: Vec<Url>,

    /// Time between two requests to the same URL (at least 10ms). A request slower
    /// than this delays the next one; it is never sent twice at once.
    #[arg(long, value_name = "DURATION", default_value = "100ms")]
    pub interval: HumanDuration,

    /// Stop after this long (else run until SIGINT, SIGTERM or SIGHUP).
    #[arg(long = "for", value_name = "DURATION")]
    pub run_for: Option<HumanDuration>,

    /// A URL (one of --url) that must answer every request: any failure there
    /// makes the probe exit 4. The others are watched and reported only.
    #[arg(long, value_name = "URL", value_parser = parse_url_arg)]
    pub expect_serving: Vec<Url>,

    /// Accepted status: a code, a class or a range, comma-separated.
    #[arg(long, value_name = "STATUS", default_value = "2xx", value_parser = StatusSpec::parse)]
    pub expect_status: StatusSpec,

    /// Per-request timeout; a request that takes longer is a failure.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub timeout: HumanDuration,

    /// How often a status line per URL is printed.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub status_every: HumanDuration,

    /// Trust this PEM CA certificate (bundle) too, e.g. a private staging CA.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,
}

/// Everything checked before the first request (exit 2 on any problem).
fn validate(args: &ProbeArgs) -> common::Result<()> {
    if args.interval.0 < MIN_INTERVAL {
        return Err(common::Error::usage(format!(
            "--interval {} is below the minimum of 10ms",
            common::duration::format_duration(args.interval.0)
        )));
    }
    if args.urls.len() > MAX_URLS {
        return Err(common::Error::usage(format!(
            "{} --url given; a probe watches at most {MAX_URLS}",
            args.urls.len()
        )));
    }
    for (i, u) in args.urls.iter().enumerate() {
        if args.urls[..i].contains(u) {
            return Err(common::Error::usage(format!("--url {u} is given twice")));
        }
    }
    for u in &args.expect_serving {
        if !args.urls.contains(u) {
            return Err(common::Error::usage(format!(
                "--expect-serving {u} is not one of the --url values"
            )));
        }
    }
    if args.run_for.is_some_and(|d| d.0.is_zero()) {
        return Err(common::Error::usage("--for must be longer than 0s"));
    }
    if args.timeout.0.is_zero() || args.status_every.0.is_zero() {
        return Err(common::Error::usage(
            "--timeout and --status-every must be longer than 0s",
        ));
    }
    Ok(())
}

/// RFC 3339 UTC with milliseconds: `2026-12-02T03:30:50.123Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What one request taught about one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed { kind: String, message: String },
}

/// The running tally of one URL. Gaps are measured between send times: a gap
/// opens at the first failed request and closes at the next request that
/// succeeds, or at the end of the probe while it is still open.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub requests: u64,
    pub failures: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub first_failure: Option<DateTime<Utc>>,
    pub last_failure: Option<DateTime<Utc>>,
    pub longest_gap: Duration,
    /// Since when nothing succeeded (send time of the first failure of the run).
    open_gap: Option<Instant>,
    pub last_ok: Option<bool>,
}

impl Tally {
    /// Counts one request sent at `sent` (`at` in wall time); returns the length
    /// of the gap it closed, if it was the first success after failures.
    pub fn record(
        &mut self,
        outcome: &Outcome,
        sent: Instant,
        at: DateTime<Utc>,
    ) -> Option<Duration> {
        self.requests += 1;
        match outcome {
            Outcome::Ok => {
                self.last_ok = Some(true);
                let start = self.open_gap.take()?;
                let gap = sent.saturating_duration_since(start);
                self.longest_gap = self.longest_gap.max(gap);
                Some(gap)
            }
            Outcome::Failed { kind, .. } => {
                self.last_ok = Some(false);
                self.failures += 1;
                *self.by_kind.entry(kind.clone()).or_insert(0) += 1;
                self.first_failure.get_or_insert(at);
                self.last_failure = Some(at);
                self.open_gap.get_or_insert(sent);
                None
            }
        }
    }

    /// Closes a gap still open when the probe ends.
    pub fn finish(&mut self, end: Instant) {
        if let Some(start) = self.open_gap.take() {
            self.longest_gap = self.longest_gap.max(end.saturating_duration_since(start));
        }
    }

    /// The gap open right now, if any.
    pub fn current_gap(&self, now: Instant) -> Duration {
        self.open_gap
            .map(|s| now.saturating_duration_since(s))
            .unwrap_or_default()
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One JSON line of `probe` (`docs/schema/smoke-test/probe.events.schema.json`),
/// tagged by `event`; the output layer adds `ts` first.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum ProbeEvent<'a> {
    /// `--dry-run`: what would be probed (the only line).
    Plan(PlanEvent),
    /// A failed request.
    Failure(FailureEvent<'a>),
    /// The first success after failures: the gap closed.
    Recovered(RecoveredEvent<'a>),
    /// Every `--status-every`, one per URL.
    Status(StatusEvent<'a>),
    /// The last line.
    Summary(Summary),
}

/// The `plan` line of a dry run.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct PlanEvent {
    /// Always true.
    pub dry_run: bool,
    pub urls: Vec<PlannedUrl>,
    pub interval_ms: u64,
    /// `--for` (null: until a signal).
    pub for_ms: Option<u64>,
}

/// One URL of the plan.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct PlannedUrl {
    pub url: String,
    pub expect_serving: bool,
}

/// The `failure` line.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct FailureEvent<'a> {
    /// When the request was sent (RFC 3339 UTC, milliseconds).
    pub time: String,
    pub url: &'a str,
    /// `status`, `timeout`, `connect`, ...
    pub kind: &'a str,
    pub message: &'a str,
    /// The status received (absent when there was no answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
}

/// The `recovered` line.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RecoveredEvent<'a> {
    pub time: String,
    pub url: &'a str,
    /// How long nothing succeeded.
    pub gap_ms: u64,
}

/// The `status` line.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct StatusEvent<'a> {
    pub time: String,
    pub url: &'a str,
    /// Whether the last request succeeded (null before the first answer).
    pub up: Option<bool>,
    pub requests: u64,
    pub failures: u64,
    pub current_gap_ms: u64,
    pub longest_gap_ms: u64,
}

/// The final per-URL figures.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct UrlSummary {
    pub url: String,
    pub expect_serving: bool,
    pub requests: u64,
    pub failures: u64,
    pub longest_gap_ms: u64,
    pub first_failure: Option<String>,
    pub last_failure: Option<String>,
    pub failures_by_kind: BTreeMap<String, u64>,
}

/// The last line of the stream (`summary`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Summary {
    pub time: String,
    pub started: String,
    pub duration_ms: u64,
    pub interval_ms: u64,
    /// `duration` (--for elapsed) or the signal's name.
    pub stopped_by: String,
    /// `pass`, or `fail` when a URL that had to serve failed a request.
    pub verdict: &'static str,
    pub requests: u64,
    pub failures: u64,
    pub longest_gap_ms: u64,
    pub urls: Vec<UrlSummary>,
}

impl Summary {
    fn text(&self) -> String {
        let mut s = format!(
            "{} probe: {} requests, {} failed, longest gap {} ms over {} ms (stopped by {})",
            self.verdict.to_ascii_uppercase(),
            self.requests,
            self.failures,
            self.longest_gap_ms,
            self.duration_ms,
            self.stopped_by
        );
        for u in &self.urls {
            s.push_str(&format!(
                "\n  {}{}: {} requests, {} failed, longest gap {} ms{}",
                u.url,
                if u.expect_serving {
                    " (must serve)"
                } else {
                    ""
                },
                u.requests,
                u.failures,
                u.longest_gap_ms,
                match (&u.first_failure, &u.last_failure) {
                    (Some(a), Some(b)) => format!(", failures {a} .. {b}"),
                    _ => String::new(),
                }
            ));
        }
        s
    }
}

impl Render for Summary {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(w, "{}", self.text())
    }
}

struct Watched {
    url: Url,
    text: String,
    expect_serving: bool,
    tally: Mutex<Tally>,
}

fn lock(t: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

pub async fn execute(ctx: &common::Context, args: ProbeArgs) -> common::Result<()> {
    validate(&args)?;
    let ca_certs = match &args.ca_cert {
        Some(p) => http::load_ca(p)?,
        None => Vec::new(),
    };
    let watched: Vec<Arc<Watched>> = args
        .urls
        .iter()
        .map(|u| {
            Arc::new(Watched {
                url: u.clone(),
                text: u.to_string(),
                expect_serving: args.expect_serving.contains(u),
                tally: Mutex::new(Tally::default()),
            })
        })
        .collect();
    if ctx.dry_run() {
        let plan = ProbeEvent::Plan(PlanEvent {
            dry_run: true,
            urls: watched
                .iter()
                .map(|w| PlannedUrl {
                    url: w.text.clone(),
                    expect_serving: w.expect_serving,
                })
                .collect(),
            interval_ms: ms(args.interval.0),
            for_ms: args.run_for.map(|d| ms(d.0)),
        });
        return ctx.out.event(&plan, || {
            format!(
                "dry run: would probe {} URL(s) every {}",
                watched.len(),
                common::duration::format_duration(args.interval.0)
            )
        });
    }
    let client = http::build_client(&ClientOptions {
        ca_certs,
        want_peer_cert: false,
        pool_size: 1,
        connect_timeout: args.timeout.0,
    })?;
    let started_wall = Utc::now();
    let started = Instant::now();
    let deadline = args.run_for.map(|d| started + d.0);
    ctx.out.info(format!(
        "probing {} URL(s) every {}{}; stop with Ctrl-C",
        watched.len(),
        common::duration::format_duration(args.interval.0),
        args.run_for
            .map(|d| format!(" for {}", common::duration::format_duration(d.0)))
            .unwrap_or_default()
    ));

    let stop = async {
        let cancel = ctx.cancel();
        match deadline {
            Some(d) => tokio::select! {
                () = cancel.cancelled() => {}
                () = tokio::time::sleep_until(d) => {}
            },
            None => cancel.cancelled().await,
        }
    };
    let loops = futures::future::join_all(
        watched
            .iter()
            .map(|w| watch(ctx, &client, w, &args, started)),
    );
    let status = status_lines(ctx, &watched, args.status_every.0);
    tokio::select! {
        () = stop => {}
        _ = loops => {}
        () = status => {}
    }
    let ended = Instant::now();
    let stopped_by = match ctx.cancel().signal() {
        Some(s) => s.name().to_owned(),
        None => "duration".to_owned(),
    };

    let mut urls = Vec::new();
    for w in &watched {
        let mut t = lock(&w.tally);
        t.finish(ended);
        urls.push(UrlSummary {
            url: w.text.clone(),
            expect_serving: w.expect_serving,
            requests: t.requests,
            failures: t.failures,
            longest_gap_ms: ms(t.longest_gap),
            first_failure: t.first_failure.map(timestamp),
            last_failure: t.last_failure.map(timestamp),
            failures_by_kind: t.by_kind.clone(),
        });
    }
    let broken: Vec<&UrlSummary> = urls
        .iter()
        .filter(|u| u.expect_serving && u.failures > 0)
        .collect();
    let message = (!broken.is_empty()).then(|| {
        broken
            .iter()
            .map(|u| {
                format!(
                    "{} failed {} of {} requests (longest gap {} ms) while it had to serve",
                    u.url, u.failures, u.requests, u.longest_gap_ms
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    });
    let summary = Summary {
        time: timestamp(Utc::now()),
        started: timestamp(started_wall),
        duration_ms: ms(ended - started),
        interval_ms: ms(args.interval.0),
        stopped_by,
        verdict: if message.is_some() { "fail" } else { "pass" },
        requests: urls.iter().map(|u| u.requests).sum(),
        failures: urls.iter().map(|u| u.failures).sum(),
        longest_gap_ms: urls.iter().map(|u| u.longest_gap_ms).max().unwrap_or(0),
        urls,
    };
    let text = summary.text();
    ctx.out
        .event(&ProbeEvent::Summary(summary.clone()), || text)?;
    if ctx.out.is_json() {
        ctx.out.human(format!("{}\n", summary.text()));
    }
    match message {
        Some(m) => Err(common::Error::CheckFailed(m)),
        None => Ok(()),
    }
}

/// One URL's loop: a request per tick, never two at once. Runs until the caller
/// stops polling it (a request in flight then is dropped, not counted).
async fn watch(
    ctx: &common::Context,
    client: &reqwest::Client,
    w: &Watched,
    args: &ProbeArgs,
    started: Instant,
) {
    let check = check_from_flags(
        w.url.clone(),
        Method::GET,
        &[],
        Expectations {
            status: args.expect_status.clone(),
            ..Expectations::default()
        },
        args.timeout.0,
    );
    let mut tick = tokio::time::interval_at(started, args.interval.0);
    // A slow answer delays the next request instead of bunching them up.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let sent = Instant::now();
        let at = Utc::now();
        let (outcome, status, latency) = match http::send(client, &check, false, sent).await {
            Ok(a) if check.expect.status.accepts(a.status) => {
                (Outcome::Ok, Some(a.status), a.latency)
            }
            Ok(a) => (
                Outcome::Failed {
                    kind: "status".into(),
                    message: format!("status {}, expected {}", a.status, check.expect.status),
                },
                Some(a.status),
                a.latency,
            ),
            Err(e) => (
                Outcome::Failed {
                    kind: e.kind.name().into(),
                    message: e.message,
                },
                None,
                sent.elapsed(),
            ),
        };
        let closed = lock(&w.tally).record(&outcome, sent, at);
        // A closed pipe or full disk must not stop the probe: the summary matters more.
        let _ = match &outcome {
            Outcome::Failed { kind, message } => ctx.out.event(
                &ProbeEvent::Failure(FailureEvent {
                    time: timestamp(at),
                    url: &w.text,
                    kind,
                    message,
                    status,
                    latency_ms: ms(latency),
                }),
                || format!("{} FAIL {}: {message}", timestamp(at), w.text),
            ),
            Outcome::Ok => match closed {
                Some(gap) => ctx.out.event(
                    &ProbeEvent::Recovered(RecoveredEvent {
                        time: timestamp(at),
                        url: &w.text,
                        gap_ms: ms(gap),
                    }),
                    || format!("{} UP   {} after {} ms", timestamp(at), w.text, ms(gap)),
                ),
                None => Ok(()),
            },
        };
    }
}

/// A status line per URL every `every`, until the caller stops polling.
async fn status_lines(ctx: &common::Context, watched: &[Arc<Watched>], every: Duration) {
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let at = timestamp(Utc::now());
        for w in watched {
            let t = lock(&w.tally).clone();
            let ev = ProbeEvent::Status(StatusEvent {
                time: at.clone(),
                url: &w.text,
                up: t.last_ok,
                requests: t.requests,
                failures: t.failures,
                current_gap_ms: ms(t.current_gap(now)),
                longest_gap_ms: ms(t.longest_gap),
            });
            let _ = ctx.out.event(&ev, || {
                format!(
                    "{at} {} {}: {} requests, {} failed",
                    match t.last_ok {
                        Some(true) => "up  ",
                        Some(false) => "DOWN",
                        None => "?   ",
                    },
                    w.text,
                    t.requests,
                    t.failures
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(extra: &[&str]) -> ProbeArgs {
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: ProbeArgs,
        }
        let mut argv = vec!["t"];
        argv.extend_from_slice(extra);
        T::try_parse_from(argv).unwrap().a
    }

    fn fail() -> Outcome {
        Outcome::Failed {
            kind: "status".into(),
            message: "status 503".into(),
        }
    }

    #[test]
    fn gap_runs_from_first_failure_to_next_success() {
        let t0 = Instant::now();
        let at = Utc::now();
        let mut t = Tally::default();
        assert_eq!(t.record(&Outcome::Ok, t0, at), None);
        assert_eq!(t.record(&fail(), t0 + Duration::from_millis(100), at), None);
        assert_eq!(t.record(&fail(), t0 + Duration::from_millis(200), at), None);
        let closed = t.record(&Outcome::Ok, t0 + Duration::from_millis(450), at);
        assert_eq!(closed, Some(Duration::from_millis(350)));
        // A shorter second outage does not replace the longest.
        t.record(&fail(), t0 + Duration::from_millis(500), at);
        t.record(&Outcome::Ok, t0 + Duration::from_millis(600), at);
        t.finish(t0 + Duration::from_millis(700));
        assert_eq!(
            (t.requests, t.failures, t.longest_gap),
            (6, 3, Duration::from_millis(350))
        );
        assert_eq!(t.by_kind["status"], 3);
    }

    #[test]
    fn an_outage_still_open_at_the_end_counts_until_the_end() {
        let t0 = Instant::now();
        let mut t = Tally::default();
        t.record(&fail(), t0, Utc::now());
        t.finish(t0 + Duration::from_millis(900));
        assert_eq!(t.longest_gap, Duration::from_millis(900));
        assert!(t.first_failure.is_some() && t.last_failure.is_some());
    }

    #[test]
    fn no_failure_means_no_gap() {
        let t0 = Instant::now();
        let mut t = Tally::default();
        for i in 0..5 {
            t.record(
                &Outcome::Ok,
                t0 + Duration::from_millis(100 * i),
                Utc::now(),
            );
        }
        t.finish(t0 + Duration::from_secs(1));
        assert_eq!((t.failures, t.longest_gap), (0, Duration::ZERO));
        assert_eq!(t.first_failure, None);
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T03:30:50.1234Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "2026-12-02T03:30:50.123Z");
    }

    #[test]
    fn input_is_refused_before_any_request() {
        let u = "http://127.0.0.1:1/";
        let err = |a: &[&str]| validate(&parse(a)).unwrap_err().to_string();
        assert!(err(&["--url", u, "--interval", "5ms"]).contains("below the minimum of 10ms"));
        let many: Vec<String> = (0..21)
            .flat_map(|i| ["--url".to_owned(), format!("http://127.0.0.1:1/{i}")])
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(err(&many).contains("at most 20"));
        assert!(err(&["--url", u, "--url", u]).contains("given twice"));
        assert!(
            err(&["--url", u, "--expect-serving", "http://127.0.0.1:2/"])
                .contains("not one of the --url values")
        );
        assert!(err(&["--url", u, "--for", "0s"]).contains("--for"));
        assert!(
            validate(&parse(&[
                "--url",
                u,
                "--interval",
                "10ms",
                "--expect-serving",
                u
            ]))
            .is_ok()
        );
    }
}
