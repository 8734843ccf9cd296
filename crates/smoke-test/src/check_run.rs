//! Running one check with its retries (shared by `run`, `get` and `load`),
//! its result, and the plan a dry run prints. The bottom of the crate's
//! command modules: `junit` and `verdict` read `CheckResult` from here, and
//! `run` sits above all three.

use std::path::Path;
use std::time::Duration;

use reqwest::Client;
use serde::Serialize;
use tokio::time::Instant;

use crate::HttpArgs;
use crate::checks::{self, Check, FileOptions};
use crate::http::{self, ClientOptions};
use crate::report::{ErrorKind, Recorder};
use crate::tls::CertTracker;
use crate::vars::{Masker, Vars};

/// The outcome of one check execution (after its retries).
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct CheckResult {
    pub name: String,
    /// 1-based round of `--repeat`.
    pub iteration: u32,
    pub method: String,
    pub url: String,
    pub passed: bool,
    pub attempts: u32,
    pub status: Option<u16>,
    /// Latency of the last attempt, when it got an answer.
    pub latency_ms: Option<f64>,
    /// Kind of the last attempt's first failure.
    pub kind: Option<ErrorKind>,
    pub reasons: Vec<String>,
    /// Start of the body of a failed answer, to see what the server said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_excerpt: Option<String>,
}

impl CheckResult {
    pub fn record(&self, rec: &mut Recorder) {
        let latency = self
            .latency_ms
            .map(|ms| Duration::from_secs_f64(ms / 1000.0));
        if self.passed {
            rec.success(latency.unwrap_or_default());
        } else {
            rec.failure(
                &self.name,
                self.kind.unwrap_or(ErrorKind::Other),
                self.reasons.first().map_or("", String::as_str),
                latency,
            );
        }
    }
}

const EXCERPT: usize = 200;

/// Sends one check, retrying a failure `check.retries` times `check.interval` apart.
pub async fn run_check(
    client: &Client,
    check: &Check,
    iteration: u32,
    certs: Option<&CertTracker>,
    out: &common::Output,
    masker: &Masker,
) -> CheckResult {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut r = CheckResult {
            name: check.name.clone(),
            iteration,
            method: check.method.to_string(),
            url: check.url.to_string(),
            passed: false,
            attempts,
            status: None,
            latency_ms: None,
            kind: None,
            reasons: Vec::new(),
            body_excerpt: None,
        };
        match http::send(client, check, true, Instant::now()).await {
            Ok(a) => {
                let fails = judge(check, &a, certs);
                r.status = Some(a.status);
                r.latency_ms = Some((a.latency.as_secs_f64() * 1e6).round() / 1000.0);
                r.passed = fails.is_empty();
                r.kind = fails.first().map(|f| f.kind);
                r.reasons = fails.into_iter().map(|f| f.reason).collect();
                if !r.passed && !a.body.is_empty() {
                    let text = String::from_utf8_lossy(&a.body);
                    r.body_excerpt = Some(text.chars().take(EXCERPT).collect());
                }
            }
            Err(e) => {
                r.kind = Some(e.kind);
                r.reasons = vec![e.message];
            }
        }
        if r.passed || attempts > check.retries {
            return r;
        }
        out.info(masker.mask(&format!(
            "{}: attempt {attempts} of {} failed ({}); retrying in {}",
            check.name,
            check.retries + 1,
            r.reasons.join("; "),
            common::duration::format_duration(check.interval)
        )));
        tokio::time::sleep(check.interval).await;
    }
}

/// Reads and resolves a checks file; any problem is a usage error naming the line.
pub fn load_checks(
    file: &Path,
    base_url: Option<&str>,
    vars: &[(String, String)],
    timeout: Duration,
) -> common::Result<(Vec<Check>, Masker)> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        common::Error::usage(format!("cannot read checks file {}: {e}", file.display()))
    })?;
    let vars = Vars::new(vars);
    let masker = vars.masker();
    let checks = checks::parse_file(
        &file.display().to_string(),
        &text,
        &vars,
        &FileOptions {
            base_url: base_url.map(str::to_owned),
            timeout: Some(timeout),
        },
    )
    .map_err(|e| common::Error::usage(masker.mask(&e.to_string())))?;
    Ok((checks, masker))
}

/// The checks about to be sent, for `--dry-run`, and the command's own
/// settings (`S`, at the same level).
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Plan<S> {
    /// The command: `get`, `run` or `load`.
    pub command: &'static str,
    pub dry_run: bool,
    pub target: String,
    pub checks: Vec<PlannedCheck>,
    #[serde(flatten)]
    pub settings: S,
}

/// `get`'s plan has no settings of its own.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct GetSettings {}

/// `run`'s settings in its plan.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RunSettings {
    /// `--repeat`.
    pub repeat: u32,
    /// `--concurrency`.
    pub concurrency: u32,
}

/// `load`'s settings in its plan.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct LoadSettings {
    /// Requests in flight at once (`--concurrency`, at most `--requests`).
    pub concurrency: usize,
    /// `--rate`, requests per second.
    pub rate: Option<f64>,
    /// `--duration`.
    pub duration_limit_ms: Option<u64>,
    /// `--requests`.
    pub requests_limit: Option<u64>,
    /// Requests the run will send at most, when known in advance.
    pub max_requests: Option<u64>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct PlannedCheck {
    pub name: String,
    pub method: String,
    pub url: String,
    pub timeout_ms: u128,
    pub retries: u32,
}

/// Prints the plan of a dry run (masked) and sends nothing.
pub fn print_plan<S: Serialize>(
    ctx: &common::Context,
    plan: &Plan<S>,
    masker: &Masker,
) -> common::Result<()> {
    let mut v = serde_json::to_value(plan)
        .map_err(|e| common::Error::Internal(format!("cannot serialize the plan: {e}")))?;
    masker.mask_json(&mut v);
    ctx.out.info(format!(
        "dry run: {} check(s) would be sent; nothing was sent",
        plan.checks.len()
    ));
    ctx.out.result(&v)
}

pub fn planned(checks: &[Check]) -> Vec<PlannedCheck> {
    checks
        .iter()
        .map(|c| PlannedCheck {
            name: c.name.clone(),
            method: c.method.to_string(),
            url: c.url.to_string(),
            timeout_ms: c.timeout.as_millis(),
            retries: c.retries,
        })
        .collect()
}

/// Validates what the run needs besides the checks: CA file, certificate days
/// against https targets, the JUnit destination.
pub fn client_options(
    http: &HttpArgs,
    checks: &[Check],
    pool_size: usize,
) -> common::Result<ClientOptions> {
    let ca_certs = match &http.ca_cert {
        Some(p) => http::load_ca(p)?,
        None => Vec::new(),
    };
    if http.min_cert_days.is_some() && !checks.iter().any(|c| c.url.scheme() == "https") {
        return Err(common::Error::usage(
            "--min-cert-days needs at least one https URL to read a certificate from",
        ));
    }
    Ok(ClientOptions {
        ca_certs,
        want_peer_cert: http.min_cert_days.is_some(),
        pool_size,
        connect_timeout: checks
            .iter()
            .map(|c| c.timeout)
            .max()
            .unwrap_or(checks::DEFAULT_TIMEOUT),
    })
}

/// The certificate tracker `--min-cert-days` asks for: none without the flag
/// or without an https check.
pub fn cert_tracker(http: &HttpArgs, checks: &[Check]) -> Option<CertTracker> {
    http.min_cert_days?;
    CertTracker::for_urls(checks.iter().map(|c| &c.url))
}

/// What `--min-cert-days` found of each https origin's certificate.
pub fn cert_verdicts(http: &HttpArgs, certs: Option<&CertTracker>) -> Vec<crate::tls::CertStatus> {
    match (certs, http.min_cert_days) {
        (Some(c), Some(days)) => c.judge_all(days),
        _ => Vec::new(),
    }
}

/// Judges an answer by the check's expectations; its certificate is noted
/// first (for `--min-cert-days`). One place for `run` and `load`.
pub fn judge(check: &Check, a: &http::Answer, certs: Option<&CertTracker>) -> Vec<checks::Failure> {
    if let Some(c) = certs {
        c.observe(&check.url, a.peer_cert.as_deref());
    }
    check.expect.evaluate(&checks::Observed {
        status: a.status,
        headers: &a.headers,
        body: &a.body,
        latency: a.latency,
    })
}
