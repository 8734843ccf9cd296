//! `smoke-test run CHECKS.toml`: every check in the file, with per-check retries,
//! `--repeat`, `--concurrency` and `--junit`. Running one check with its
//! retries lives in `check_run`, which `get` and `load` share.

use std::path::{Path, PathBuf};

use clap::Args;
use futures::StreamExt;
use tokio::time::Instant;

use crate::check_run::{
    Plan, RunSettings, cert_tracker, cert_verdicts, client_options, load_checks, planned,
    print_plan, run_check,
};
use crate::http;
use crate::report::Recorder;
use crate::verdict::{self, Finished};
use crate::{HttpArgs, ThresholdArgs};

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Checks file (TOML); the format is in the README and examples/checks.toml.
    #[arg(value_name = "CHECKS.toml")]
    pub file: PathBuf,

    /// Base URL for checks given by path; overrides [defaults] base_url.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Fill ${NAME} in the file (wins over the environment; shown unmasked). Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = common::cli::parse_key_value)]
    pub vars: Vec<(String, String)>,

    /// Also write a JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Run the whole file this many times.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub repeat: u32,

    /// Checks in flight at once (results keep the file's order).
    #[arg(long, value_name = "C", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,

    #[command(flatten)]
    pub http: HttpArgs,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

fn check_junit_path(p: &Path) -> common::Result<()> {
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(common::Error::usage(format!(
            "--junit {}: directory {} does not exist",
            p.display(),
            dir.display()
        )));
    }
    Ok(())
}

pub async fn execute(ctx: &common::Context, args: RunArgs) -> common::Result<()> {
    // Everything is validated before the first request.
    let (checks, masker) = load_checks(
        &args.file,
        args.base_url.as_deref(),
        &args.vars,
        args.http.timeout.0,
    )?;
    if let Some(j) = &args.junit {
        check_junit_path(j)?;
    }
    let opts = client_options(&args.http, &checks, args.concurrency as usize)?;
    let thresholds = args.thresholds.effective();
    let target = args.file.display().to_string();

    if ctx.dry_run() {
        return print_plan(
            ctx,
            &Plan {
                command: "run",
                dry_run: true,
                target,
                checks: planned(&checks),
                settings: RunSettings {
                    repeat: args.repeat,
                    concurrency: args.concurrency,
                },
            },
            &masker,
        );
    }

    let client = http::build_client(&opts)?;
    let certs = cert_tracker(&args.http, &checks);
    ctx.out.info(format!(
        "running {} check(s) from {target}{}",
        checks.len(),
        if args.repeat > 1 {
            format!(", {} times", args.repeat)
        } else {
            String::new()
        }
    ));

    let started = Instant::now();
    let jobs = (1..=args.repeat).flat_map(|it| checks.iter().map(move |c| (it, c)));
    let mut stream = futures::stream::iter(jobs)
        .map(|(it, c)| run_check(&client, c, it, certs.as_ref(), &ctx.out, &masker))
        .buffered(args.concurrency as usize);
    let mut results = Vec::new();
    let mut interrupted = false;
    let cancel = ctx.cancel();
    loop {
        tokio::select! {
            next = stream.next() => match next {
                Some(r) => results.push(r),
                None => break,
            },
            () = cancel.cancelled() => {
                interrupted = true;
                break;
            }
        }
    }
    drop(stream);
    let elapsed = started.elapsed();

    let mut rec = Recorder::new();
    for r in &results {
        r.record(&mut rec);
    }
    let junit_result = match &args.junit {
        Some(path) => {
            let xml = crate::junit::render(&target, &results, elapsed, &masker);
            std::fs::write(path, xml).map_err(|e| {
                common::Error::io(format!("cannot write --junit {}", path.display()), e)
            })
        }
        None => Ok(()),
    };
    let tls = cert_verdicts(&args.http, certs.as_ref());
    let concluded = verdict::conclude(
        ctx,
        Finished {
            command: "run",
            target,
            summary: rec.summary(elapsed),
            histogram: rec.histogram(),
            thresholds,
            tls,
            load: None,
            checks: results,
            interrupted,
            fail_on_warning: args.thresholds.fail_on_warning,
        },
        &masker,
    );
    match (concluded, junit_result) {
        (Ok(()), j) => j,
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(j)) => {
            ctx.out.warn(j.to_string());
            Err(e)
        }
    }
}
