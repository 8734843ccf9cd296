//! `smoke-test`: HTTP smoke checks and load checks with assertions, latency
//! percentiles and the release strategy's alert thresholds. It gates each deploy
//! phase and rollback: exit 0 when the system behaves, exit 4 when it does not.
//!
//! # Commands
//! - `get URL`: one ad hoc check (for emergencies).
//! - `run CHECKS.toml`: a checks file, with `--repeat`, `--concurrency`, `--junit`.
//! - `load URL|CHECKS.toml (--duration D | --requests N)`: a load check; with `--rate R`
//!   requests follow a fixed timetable and latency counts from the scheduled send time
//!   (coordinated-omission correction).
//! - `probe --url URL... [--interval 100ms] [--for D] [--expect-serving URL...]`: a
//!   downtime probe while traffic moves (JSON lines; summary with the longest gap).
//!
//! Every command reports count, successes, error rate, requests per second, latency
//! min/p50/p90/p95/p99/p99.9/max from an HDR histogram, errors by kind and failures
//! by check and reason, then applies thresholds (`--threshold 'p95<1000ms'`; without
//! flags the strategy's: critical error rate over 5 % or P95 over 2000 ms, warning P95
//! over 1000 ms). JSON goes to stdout, the human summary to stderr.
//!
//! # Checks file (TOML)
//! ```toml
//! [defaults]                          # optional; every check inherits these
//! base_url = "https://staging.example.org"   # --base-url overrides it
//! timeout = "10s"                     # per request (else --timeout, default 10s)
//! retries = 0                         # extra attempts after a failed one
//! interval = "1s"                     # pause between attempts
//! headers = { "User-Agent" = "ltc-smoke-test" }
//!
//! [[check]]
//! name = "api health"                 # required, unique
//! method = "GET"                      # default GET
//! path = "/api/health"                # appended to base_url; or url = "https://..."
//! headers = { Authorization = "Bearer ${API_TOKEN}" }
//! body = "raw body"                   # or json = { key = "value" } (sets Content-Type)
//! timeout = "5s"                      # retries / interval may be set per check too
//!
//! [check.expect]
//! status = [200, "3xx", "401-403"]    # a code, class, range or list; default "2xx"
//! body_contains = ["ok"]              # a string or a list
//! body_regex = '"version":\s*"\d+'
//! max_latency = "800ms"
//!
//! [[check.expect.json]]               # RFC 9535 JSON path
//! path = "$.status"
//! equals = "ok"                       # or exists = true / false (default: exists)
//!
//! [[check.expect.header]]
//! name = "content-type"
//! matches = "^application/json"       # or equals = "..."; neither: must exist
//! ```
//! `${NAME}` in any string is filled from `--var NAME=VALUE`, else from the
//! environment. Values taken from the environment are treated as secrets and shown
//! as `***` in every output (JSON, text, JUnit, errors); pass non-secrets with
//! `--var` to keep them visible. Errors in the file are reported as
//! `FILE:LINE:COLUMN: message` with exit 2, before anything is sent.
//!
//! In `get` and `run` every check must pass (after its retries) and the thresholds
//! must hold. In `load` the checks' expectations are evaluated per request (no
//! retries) and failures count towards the error rate; the thresholds decide.

pub mod args;
pub mod check_run;
pub mod checks;
mod examples;
pub mod fast;
pub mod get;
pub mod http;
pub mod junit;
pub mod load;
pub mod policy;
pub mod probe;
pub mod report;
pub mod run;
pub mod threshold;
pub mod tls;
pub mod vars;
pub mod verdict;

use clap::Subcommand;

pub use args::{HttpArgs, ThresholdArgs};

const EXAMPLES: &str = "  smoke-test get https://lightningtalk.example.org/api/health --expect-status 200
  smoke-test run checks.toml --base-url https://staging.example.org --junit smoke.xml
  API_TOKEN=... smoke-test run checks.toml --var HOST=10.0.3.7 --repeat 3 --concurrency 4
  smoke-test load https://staging.example.org/api/health --duration 30s --concurrency 32
  smoke-test load checks.toml --duration 1m --rate 200 --threshold 'p99<1500ms' --threshold 'error_rate<1%'
  smoke-test get https://lightningtalk.example.org/ --min-cert-days 21
  smoke-test probe --url https://blue.example.org/health --url https://green.example.org/health \\
      --interval 100ms --expect-serving https://green.example.org/health";

common::declare_cli! {
    #[command(
        name = "smoke-test",
        version,
        about = "HTTP smoke checks and load checks with assertions, latency percentiles and the \
                 strategy's alert thresholds (exit 4 when they are broken)",
        after_help = common::cli::after_help(EXAMPLES)
    )]
    Command
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One ad hoc request with expectations, for emergencies.
    Get(get::GetArgs),
    /// Run a checks file (TOML): every check must pass and the thresholds hold.
    Run(run::RunArgs),
    /// Load check against a URL or a checks file, with latency percentiles.
    Load(load::LoadArgs),
    /// Downtime probe: request each URL every interval while traffic moves, until
    /// a signal or --for; exit 4 when an --expect-serving URL failed a request.
    Probe(probe::ProbeArgs),
    /// Print the IAM policy (JSON) the command line after `policy` needs: none,
    /// smoke-test makes no AWS call.
    Policy(common::policy::PolicyArgs),
}

/// The entry point `main` hands the parsed command line to.
///
/// Returns `common::Result`, not `anyhow::Result` as CONTRIBUTING suggests: anyhow's
/// conversion into `Box<dyn Error>` (what `common::cli::main` needs) hides the
/// `common::Error` from `exit_code_of` (it neither downcasts nor appears as a source),
/// so every failure would exit 1 instead of its documented code.
pub async fn run(ctx: common::Context, cli: Cli) -> common::Result<()> {
    match cli.command {
        Command::Get(args) => get::execute(&ctx, args).await,
        Command::Run(args) => run::execute(&ctx, args).await,
        Command::Load(args) => load::execute(&ctx, args).await,
        Command::Probe(args) => probe::execute(&ctx, args).await,
        Command::Policy(args) => policy::run(&ctx, &cli.globals, &args),
    }
}
