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

/// Runs one tool with this process's arguments.
type Start = fn() -> ExitCode;

/// Every tool, by the name it is run as.
const TOOLS: &[(&str, Start)] = &[
    ("db-snapshot", || common::cli::start(db_snapshot::run)),
    ("dns-shift", || common::cli::start(dns_shift::run)),
    ("ecs-revert", || common::cli::start(ecs_revert::run)),
    ("health-gate", || common::cli::start(health_gate::run)),
    ("lb-switch", || common::cli::start(lb_switch::run)),
    ("notify", || common::cli::start(notify::run)),
    ("run-state", || common::cli::start(run_state::run)),
    ("site-restore", || common::cli::start(site_restore::run)),
    ("stack-deploy", || common::cli::start(stack_deploy::run)),
];

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let name = args
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    if let Some((_, start)) = TOOLS.iter().find(|(tool, _)| *tool == name) {
        return start();
    }
    let names: Vec<&str> = TOOLS.iter().map(|(tool, _)| *tool).collect();
    if name == "ltc" && args.next().is_some_and(|a| a == "tools") {
        println!("{}", names.join("\n"));
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "ltc runs the tool it is named as; link it as one of: {} (scripts/install --multicall does; `ltc tools` lists them)",
        names.join(", ")
    );
    ExitCode::from(2)
}
