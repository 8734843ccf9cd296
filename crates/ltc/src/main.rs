//! ltc: the AWS tools in one binary, busybox style. Statically linked, each
//! tool carries its own copy of the AWS SDK runtime, TLS and `common` (about
//! 8 MB apiece); one binary carries it once. It runs the tool it is named as
//! (`scripts/install --multicall` installs it with a link per tool), so each
//! tool's flags, help, output and exit codes are exactly its own; `ltc tools`
//! lists them.
//!
//! smoke-test stays a binary of its own: its load loop is built at
//! `opt-level = 3`, and in one fat-LTO binary the binary's level (size) would
//! apply to it too. Measured through an ltc link it made 0.93-0.95x wrk's
//! req/s against 1.03x for its own binary (docs/notes/benchmarks.md).
use std::path::Path;
use std::process::ExitCode;

/// Every tool, by the name it is run as.
const TOOLS: &[&str] = &[
    "db-snapshot",
    "dns-shift",
    "ecs-revert",
    "health-gate",
    "lb-switch",
    "notify",
    "run-state",
    "site-restore",
    "stack-deploy",
];

fn main() -> ExitCode {
    let name = std::env::args_os()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    match name.as_str() {
        "db-snapshot" => common::cli::start(db_snapshot::run),
        "dns-shift" => common::cli::start(dns_shift::run),
        "ecs-revert" => common::cli::start(ecs_revert::run),
        "health-gate" => common::cli::start(health_gate::run),
        "lb-switch" => common::cli::start(lb_switch::run),
        "notify" => common::cli::start(notify::run),
        "run-state" => common::cli::start(run_state::run),
        "site-restore" => common::cli::start(site_restore::run),
        "stack-deploy" => common::cli::start(stack_deploy::run),
        "ltc" if std::env::args_os().nth(1).is_some_and(|a| a == "tools") => {
            println!("{}", TOOLS.join("\n"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "ltc runs the tool it is named as; link it as one of: {} (scripts/install --multicall does; `ltc tools` lists them)",
                TOOLS.join(", ")
            );
            ExitCode::from(2)
        }
    }
}
