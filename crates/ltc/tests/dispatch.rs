//! The multicall binary runs the tool it is named as, with that tool's own
//! flags, output and exit codes; under any other name it names the tools.
#![allow(clippy::unwrap_used)] // test helpers: a failed fixture call should panic
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A link named `name` to the built `ltc`, in `dir`.
fn link(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ltc"), &path).unwrap();
    path
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn each_link_is_its_tool() {
    let dir = tempfile::tempdir().unwrap();
    for tool in ["dns-shift", "stack-deploy", "health-gate", "run-state"] {
        let out = run(&link(dir.path(), tool), &["--version"]);
        assert!(out.status.success(), "{tool}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with(&format!("{tool} ")),
            "{tool} --version printed {}",
            text(&out.stdout)
        );
        let help = run(&dir.path().join(tool), &["--help"]);
        assert!(
            text(&help.stdout).contains(&format!("Usage: {tool} ")),
            "{tool} --help: {}",
            text(&help.stdout)
        );
    }
}

#[test]
fn a_tool_run_through_its_link_keeps_its_exit_codes_and_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let dns = link(dir.path(), "dns-shift");
    let out = run(&dns, &["no-such-command"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim().lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );

    let codes = run(&dns, &["exit-codes"]);
    assert!(codes.status.success());
    assert!(
        text(&codes.stdout).contains("\"refused\""),
        "{}",
        text(&codes.stdout)
    );
}

#[test]
fn ltc_tools_lists_every_tool_it_runs_and_each_answers_to_its_name() {
    let out = run(Path::new(env!("CARGO_BIN_EXE_ltc")), &["tools"]);
    assert!(out.status.success());
    let tools = text(&out.stdout);
    let tools: Vec<&str> = tools.lines().collect();
    assert_eq!(tools.len(), 9, "{tools:?}");
    assert!(
        !tools.contains(&"smoke-test"),
        "smoke-test keeps its own binary"
    );
    let dir = tempfile::tempdir().unwrap();
    for tool in tools {
        let out = run(&link(dir.path(), tool), &["--version"]);
        assert!(text(&out.stdout).starts_with(&format!("{tool} ")), "{tool}");
    }
}

#[test]
fn under_its_own_name_it_names_the_tools_and_exits_2() {
    let out = run(Path::new(env!("CARGO_BIN_EXE_ltc")), &["--version"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for tool in [
        "db-snapshot",
        "dns-shift",
        "stack-deploy",
        "lb-switch",
        "notify",
    ] {
        assert!(err.contains(tool), "{err}");
    }
}
