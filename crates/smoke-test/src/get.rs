//! `smoke-test get URL`: one ad hoc check for emergencies, with the same report,
//! thresholds and exit codes as a checks file.

use std::time::Duration;

use clap::Args;
use common::HumanDuration;
use reqwest::Method;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use crate::check_run::{self, Plan};
use crate::checks::{Check, Expectations, StatusSpec};
use crate::http;
use crate::report::Recorder;
use crate::vars::Masker;
use crate::verdict::{self, Finished};
use crate::{HttpArgs, ThresholdArgs};

#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// The URL to request (http or https).
    #[arg(value_name = "URL", value_parser = parse_url_arg)]
    pub url: Url,

    /// HTTP method.
    #[arg(short = 'X', long, default_value = "GET", value_parser = parse_method)]
    pub method: Method,

    /// Accepted status: a code, a class or a range, comma-separated (200,204 / 2xx / 200-399).
    #[arg(long, value_name = "STATUS", default_value = "2xx", value_parser = StatusSpec::parse)]
    pub expect_status: StatusSpec,

    /// Text the body must contain. Repeatable.
    #[arg(long, value_name = "TEXT")]
    pub expect_body: Vec<String>,

    /// Request header 'Name: value'. Repeatable.
    #[arg(short = 'H', long = "header", value_name = "K:V", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,

    /// Extra attempts after a failure (for a target that is still converging).
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub retries: u32,

    /// Pause between attempts.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub interval: HumanDuration,

    #[command(flatten)]
    pub http: HttpArgs,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

/// clap parser: an absolute http(s) URL.
pub fn parse_url_arg(s: &str) -> Result<Url, String> {
    crate::checks::parse_url(s)
}

/// clap parser: an HTTP method token.
pub fn parse_method(s: &str) -> Result<Method, String> {
    Method::from_bytes(s.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("bad HTTP method {}", common::quote(s)))
}

/// clap parser: `Name: value`.
pub fn parse_header(s: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| format!("bad header {}: write it as 'Name: value'", common::quote(s)))?;
    let name = HeaderName::from_bytes(k.trim().as_bytes())
        .map_err(|_| format!("bad header name {}", common::quote(k.trim())))?;
    let value =
        HeaderValue::from_str(v.trim()).map_err(|_| format!("bad value for header {name}"))?;
    Ok((name, value))
}

/// A check made from command-line flags (also used by `load URL`).
pub fn check_from_flags(
    url: Url,
    method: Method,
    headers: &[(HeaderName, HeaderValue)],
    expect: Expectations,
    timeout: Duration,
) -> Check {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(k.clone(), v.clone());
    }
    Check {
        name: format!("{method} {url}"),
        method,
        url,
        headers: map,
        body: None,
        timeout,
        retries: 0,
        interval: Duration::ZERO,
        expect,
    }
}

pub async fn execute(ctx: &common::Context, args: GetArgs) -> common::Result<()> {
    let mut check = check_from_flags(
        args.url.clone(),
        args.method.clone(),
        &args.headers,
        Expectations {
            status: args.expect_status.clone(),
            body_contains: args.expect_body.clone(),
            ..Expectations::default()
        },
        args.http.timeout.0,
    );
    check.retries = args.retries;
    check.interval = args.interval.0;
    let checks = vec![check];
    let opts = check_run::client_options(&args.http, &checks, 1)?;
    let thresholds = args.thresholds.effective();
    let masker = Masker::default();
    let target = args.url.to_string();

    if ctx.dry_run() {
        return check_run::print_plan(
            ctx,
            &Plan {
                command: "get",
                dry_run: true,
                target,
                checks: check_run::planned(&checks),
                settings: check_run::GetSettings {},
            },
            &masker,
        );
    }

    let client = http::build_client(&opts)?;
    let certs = check_run::cert_tracker(&args.http, &checks);
    let started = Instant::now();
    let result = tokio::select! {
        r = check_run::run_check(&client, &checks[0], 1, certs.as_ref(), &ctx.out, &masker) => r,
        () = ctx.cancel().cancelled() => return Err(common::Error::Interrupted),
    };
    let elapsed = started.elapsed();
    let mut rec = Recorder::new();
    result.record(&mut rec);
    let tls = check_run::cert_verdicts(&args.http, certs.as_ref());
    verdict::conclude(
        ctx,
        Finished {
            command: "get",
            target,
            summary: rec.summary(elapsed),
            histogram: rec.histogram(),
            thresholds,
            tls,
            load: None,
            checks: vec![result],
            interrupted: false,
            fail_on_warning: args.thresholds.fail_on_warning,
        },
        &masker,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_with_or_without_space() {
        let (k, v) = parse_header("Authorization:Bearer x").unwrap();
        assert_eq!(
            (k.as_str(), v.to_str().unwrap()),
            ("authorization", "Bearer x")
        );
        let (k, v) = parse_header("X-Env: staging ").unwrap();
        assert_eq!((k.as_str(), v.to_str().unwrap()), ("x-env", "staging"));
        assert!(
            parse_header("no colon")
                .unwrap_err()
                .contains("'Name: value'")
        );
        assert!(parse_header("bad name: x").is_err());
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(parse_url_arg("http://127.0.0.1:8080/x").is_ok());
        assert!(parse_url_arg("127.0.0.1:8080").is_err());
        assert!(
            parse_url_arg("file:///etc/passwd")
                .unwrap_err()
                .contains("only http")
        );
        assert!(parse_url_arg("http://").is_err());
    }
}
