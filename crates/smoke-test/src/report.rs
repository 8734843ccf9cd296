//! Counting what happened (an HDR latency histogram, errors by kind, failures by
//! check and reason) and presenting it: the JSON summary every command reports and
//! the text summary with a small latency histogram for stderr.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Why a request or check did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Nothing listens on the port (TCP RST).
    ConnectRefused,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed (untrusted, expired, wrong name) or the
    /// certificate is closer to expiry than `--min-cert-days`.
    Tls,
    /// No complete answer within the request timeout.
    Timeout,
    /// The server closed or reset the connection mid-request.
    ConnectionClosed,
    /// Any other failure to connect (unreachable, no route ...).
    Connect,
    /// An answer with a status code the check does not accept.
    Status,
    /// An answer that broke an expectation other than the status.
    Assertion,
    /// Anything else the HTTP client reported.
    Other,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::Dns => "dns",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ConnectionClosed => "connection_closed",
            ErrorKind::Connect => "connect",
            ErrorKind::Status => "status",
            ErrorKind::Assertion => "assertion",
            ErrorKind::Other => "other",
        }
    }
}

/// Errors by kind; every kind is always present so scripts can read any of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ErrorsByKind {
    pub connect_refused: u64,
    pub dns: u64,
    pub tls: u64,
    pub timeout: u64,
    pub connection_closed: u64,
    pub connect: u64,
    pub status: u64,
    pub assertion: u64,
    pub other: u64,
}

impl ErrorsByKind {
    fn slot(&mut self, kind: ErrorKind) -> &mut u64 {
        match kind {
            ErrorKind::ConnectRefused => &mut self.connect_refused,
            ErrorKind::Dns => &mut self.dns,
            ErrorKind::Tls => &mut self.tls,
            ErrorKind::Timeout => &mut self.timeout,
            ErrorKind::ConnectionClosed => &mut self.connection_closed,
            ErrorKind::Connect => &mut self.connect,
            ErrorKind::Status => &mut self.status,
            ErrorKind::Assertion => &mut self.assertion,
            ErrorKind::Other => &mut self.other,
        }
    }

    fn pairs(&self) -> [(ErrorKind, u64); 9] {
        [
            (ErrorKind::ConnectRefused, self.connect_refused),
            (ErrorKind::Dns, self.dns),
            (ErrorKind::Tls, self.tls),
            (ErrorKind::Timeout, self.timeout),
            (ErrorKind::ConnectionClosed, self.connection_closed),
            (ErrorKind::Connect, self.connect),
            (ErrorKind::Status, self.status),
            (ErrorKind::Assertion, self.assertion),
            (ErrorKind::Other, self.other),
        ]
    }
}

/// One line of "failures by check": how often a check failed for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct FailureCount {
    pub check: String,
    pub kind: ErrorKind,
    pub reason: String,
    pub count: u64,
}

/// Latency figures in milliseconds (three decimals).
#[derive(Debug, Clone, Default, PartialEq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct LatencySummary {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

/// The figures every command reports.
#[derive(Debug, Clone, Default, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Summary {
    /// Requests (load, get) or check executions (run) made.
    pub count: u64,
    pub successes: u64,
    pub failures: u64,
    /// Failed share of `count`, from 0 to 1.
    pub error_rate: f64,
    pub requests_per_second: f64,
    pub elapsed_ms: f64,
    /// Latency of every request that got a response; null when none did.
    pub latency_ms: Option<LatencySummary>,
    pub errors_by_kind: ErrorsByKind,
    /// Most frequent first.
    pub failures_by_check: Vec<FailureCount>,
}

/// Distinct (check, reason) pairs kept; further ones are folded into one line so a
/// long run with varied error texts cannot grow without bound.
const MAX_REASONS: usize = 100;
const OTHER_REASONS: &str = "(further distinct reasons folded here)";

/// Latencies are recorded in microseconds, from 1 µs to one hour, 3 significant digits.
const HIGHEST_US: u64 = 3_600_000_000;

/// Accumulates outcomes. Workers of a load run each fill one and they are merged.
#[derive(Debug, Clone)]
pub struct Recorder {
    hist: Histogram<u64>,
    count: u64,
    successes: u64,
    errors: ErrorsByKind,
    failures: HashMap<(String, ErrorKind, String), u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            // The bounds are constants that hdrhistogram accepts; this cannot fail.
            hist: Histogram::new_with_bounds(1, HIGHEST_US, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
            count: 0,
            successes: 0,
            errors: ErrorsByKind::default(),
            failures: HashMap::new(),
        }
    }

    fn record_latency(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.hist.saturating_record(us.clamp(1, HIGHEST_US));
    }

    pub fn success(&mut self, latency: Duration) {
        self.count += 1;
        self.successes += 1;
        self.record_latency(latency);
    }

    /// A failure; `latency` is set when an answer arrived (status or assertion failures).
    pub fn failure(
        &mut self,
        check: &str,
        kind: ErrorKind,
        reason: &str,
        latency: Option<Duration>,
    ) {
        self.count += 1;
        *self.errors.slot(kind) += 1;
        if let Some(l) = latency {
            self.record_latency(l);
        }
        // Reasons quote URLs and bodies: masked once here (common::redact),
        // so every report form (JSON, text, JUnit) gets the masked text.
        self.add_failure(check.to_owned(), kind, common::redact::text(reason), 1);
    }

    fn add_failure(&mut self, check: String, kind: ErrorKind, reason: String, n: u64) {
        let key = (check, kind, reason);
        if let Some(c) = self.failures.get_mut(&key) {
            *c += n;
        } else if self.failures.len() < MAX_REASONS {
            self.failures.insert(key, n);
        } else {
            *self
                .failures
                .entry((key.0, key.1, OTHER_REASONS.to_owned()))
                .or_insert(0) += n;
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
        self.count += other.count;
        self.successes += other.successes;
        for (kind, n) in other.errors.pairs() {
            *self.errors.slot(kind) += n;
        }
        for ((check, kind, reason), n) in &other.failures {
            self.add_failure(check.clone(), *kind, reason.clone(), *n);
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    pub fn summary(&self, elapsed: Duration) -> Summary {
        let failures = self.count - self.successes;
        let secs = elapsed.as_secs_f64();
        let mut by_check: Vec<FailureCount> = self
            .failures
            .iter()
            .map(|((check, kind, reason), n)| FailureCount {
                check: check.clone(),
                kind: *kind,
                reason: reason.clone(),
                count: *n,
            })
            .collect();
        by_check.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.check.cmp(&b.check))
                .then_with(|| a.reason.cmp(&b.reason))
        });
        Summary {
            count: self.count,
            successes: self.successes,
            failures,
            error_rate: if self.count == 0 {
                0.0
            } else {
                failures as f64 / self.count as f64
            },
            requests_per_second: if secs > 0.0 {
                round3(self.count as f64 / secs)
            } else {
                0.0
            },
            elapsed_ms: round3(secs * 1000.0),
            latency_ms: latency_summary(&self.hist),
            errors_by_kind: self.errors.clone(),
            failures_by_check: by_check,
        }
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn us_to_ms(us: u64) -> f64 {
    round3(us as f64 / 1000.0)
}

/// Percentiles from the histogram (microseconds in, milliseconds out).
pub fn latency_summary(h: &Histogram<u64>) -> Option<LatencySummary> {
    if h.is_empty() {
        return None;
    }
    Some(LatencySummary {
        min: us_to_ms(h.min()),
        mean: round3(h.mean() / 1000.0),
        p50: us_to_ms(h.value_at_quantile(0.50)),
        p90: us_to_ms(h.value_at_quantile(0.90)),
        p95: us_to_ms(h.value_at_quantile(0.95)),
        p99: us_to_ms(h.value_at_quantile(0.99)),
        p99_9: us_to_ms(h.value_at_quantile(0.999)),
        max: us_to_ms(h.highest_equivalent(h.max())),
    })
}

/// A small latency histogram drawn in text: up to `rows` buckets spaced
/// logarithmically between the fastest and slowest answer.
pub fn draw_histogram(h: &Histogram<u64>, rows: usize, width: usize) -> String {
    if h.is_empty() || rows == 0 {
        return String::new();
    }
    let lo = h.min().max(1) as f64;
    let hi = h.highest_equivalent(h.max()).max(h.min() + 1) as f64;
    // No more rows than distinct values: one answer is one row, not eight.
    let rows = rows.min(h.iter_recorded().count()).max(1);
    let ratio = (hi / lo).powf(1.0 / rows as f64);
    let edges: Vec<f64> = (0..=rows).map(|i| lo * ratio.powi(i as i32)).collect();
    let mut counts = vec![0u64; rows];
    for v in h.iter_recorded() {
        let value = v.value_iterated_to() as f64;
        let idx = edges[1..]
            .iter()
            .position(|&e| value <= e)
            .unwrap_or(rows - 1);
        counts[idx] += v.count_at_value();
    }
    let peak = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut out = String::new();
    for (i, c) in counts.iter().enumerate() {
        let bar = ((*c as f64 / peak as f64) * width as f64).round() as usize;
        let bar = if *c > 0 { bar.max(1) } else { 0 };
        let _ = writeln!(
            out,
            "  {:>10} ms  {:<width$}  {c}",
            format!("<= {}", fmt_ms(edges[i + 1] / 1000.0)),
            "#".repeat(bar),
        );
    }
    out
}

/// Milliseconds with a precision that suits their size.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else if ms >= 1.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

/// The core of the text summary shared by every command.
pub fn render_summary(s: &Summary, hist: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {} requests in {:.1}s ({:.1}/s), {} ok, {} failed ({:.2}% errors)",
        s.count,
        s.elapsed_ms / 1000.0,
        s.requests_per_second,
        s.successes,
        s.failures,
        s.error_rate * 100.0
    );
    match &s.latency_ms {
        Some(l) => {
            let _ = writeln!(
                out,
                "  latency ms: min {}  p50 {}  p90 {}  p95 {}  p99 {}  p99.9 {}  max {}",
                fmt_ms(l.min),
                fmt_ms(l.p50),
                fmt_ms(l.p90),
                fmt_ms(l.p95),
                fmt_ms(l.p99),
                fmt_ms(l.p99_9),
                fmt_ms(l.max)
            );
            out.push_str(&draw_histogram(hist, 8, 40));
        }
        None => out.push_str("  latency: no request got a response\n"),
    }
    let errors: Vec<String> = s
        .errors_by_kind
        .pairs()
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{} {n}", k.name()))
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "  errors by kind: {}", errors.join(", "));
    }
    for f in s.failures_by_check.iter().take(10) {
        let _ = writeln!(
            out,
            "  failed {}x  {}: {} ({})",
            f.count,
            f.check,
            f.reason,
            f.kind.name()
        );
    }
    if s.failures_by_check.len() > 10 {
        let _ = writeln!(
            out,
            "  ... {} more failure reasons in the JSON output",
            s.failures_by_check.len() - 10
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut r = Recorder::new();
        for v in 1..=1000 {
            r.success(ms(v));
        }
        let s = r.summary(Duration::from_secs(10));
        let l = s.latency_ms.unwrap();
        assert_eq!(s.count, 1000);
        assert_eq!(s.requests_per_second, 100.0);
        // Three significant digits: within 0.1 % of the exact rank.
        for (got, want) in [
            (l.min, 1.0),
            (l.p50, 500.0),
            (l.p90, 900.0),
            (l.p95, 950.0),
            (l.p99, 990.0),
            (l.p99_9, 999.0),
            (l.max, 1000.0),
        ] {
            assert!(
                (got - want).abs() <= want * 0.001 + 0.001,
                "{got} vs {want}"
            );
        }
        assert!((l.mean - 500.5).abs() < 1.0);
    }

    #[test]
    fn failures_count_by_kind_and_reason_and_merge() {
        let mut a = Recorder::new();
        a.success(ms(5));
        a.failure("health", ErrorKind::Status, "status 500", Some(ms(7)));
        a.failure("health", ErrorKind::Status, "status 500", Some(ms(9)));
        let mut b = Recorder::new();
        b.failure(
            "home",
            ErrorKind::ConnectRefused,
            "connection refused",
            None,
        );
        b.failure("health", ErrorKind::Status, "status 500", Some(ms(8)));
        a.merge(&b);
        let s = a.summary(Duration::from_secs(1));
        assert_eq!((s.count, s.successes, s.failures), (5, 1, 4));
        assert!((s.error_rate - 0.8).abs() < 1e-12);
        assert_eq!(s.errors_by_kind.status, 3);
        assert_eq!(s.errors_by_kind.connect_refused, 1);
        assert_eq!(s.failures_by_check[0].check, "health");
        assert_eq!(s.failures_by_check[0].count, 3);
        // Transport errors have no latency: four answers were timed, not five.
        assert_eq!(a.histogram().len(), 4);
    }

    #[test]
    fn distinct_reasons_are_bounded() {
        let mut r = Recorder::new();
        for i in 0..(MAX_REASONS + 50) {
            r.failure("c", ErrorKind::Assertion, &format!("reason {i}"), None);
        }
        let s = r.summary(Duration::from_secs(1));
        assert_eq!(s.failures_by_check.len(), MAX_REASONS + 1);
        let folded = s
            .failures_by_check
            .iter()
            .find(|f| f.reason == OTHER_REASONS)
            .unwrap();
        assert_eq!(folded.count, 50);
        assert_eq!(
            s.failures_by_check.iter().map(|f| f.count).sum::<u64>(),
            (MAX_REASONS + 50) as u64
        );
    }

    #[test]
    fn empty_run_has_no_latency_and_no_error_rate() {
        let s = Recorder::new().summary(Duration::ZERO);
        assert!(s.latency_ms.is_none());
        assert_eq!(s.error_rate, 0.0);
        assert_eq!(s.requests_per_second, 0.0);
    }

    #[test]
    fn histogram_rows_hold_every_sample() {
        let mut r = Recorder::new();
        for v in 1..=100 {
            r.success(ms(v));
        }
        let text = draw_histogram(r.histogram(), 6, 20);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 6);
        let total: u64 = rows
            .iter()
            .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, 100);
        // Log-spaced rows: the widest (last) row holds the most and draws the full bar.
        assert!(rows[5].contains(&"#".repeat(20)), "{text}");
        assert!(rows[0].contains("<= 2.15 ms"), "{text}");
    }

    #[test]
    fn one_sample_is_one_row() {
        let mut r = Recorder::new();
        r.success(ms(27));
        let text = draw_histogram(r.histogram(), 8, 20);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.trim_end().ends_with(" 1"), "{text}");
    }
}
