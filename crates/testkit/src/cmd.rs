//! Running things from a CLI test: the binary under test pointed at the
//! emulator, the AWS CLI for fixtures the SDKs in the workspace do not cover (EC2),
//! the journal a run wrote, and a port nothing listens on. Every crate's
//! `tests/cli.rs` had its own copy of these.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

use crate::EmulatorGuard;

/// `program args...` configured for the emulator ([`EmulatorGuard::configure`])
/// with stdin closed, so a prompt can never wait for a test.
pub fn on_emulator(program: impl AsRef<OsStr>, emu: &EmulatorGuard, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    emu.configure(&mut cmd);
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// The words of `line`, split at white space: a command line written as one
/// string in a test (`run(&emu, &words("show --zone example.com"))`) for
/// arguments that hold no space.
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Runs [`on_emulator`] to the end.
pub fn run_on_emulator(program: impl AsRef<OsStr>, emu: &EmulatorGuard, args: &[&str]) -> Output {
    let program = program.as_ref();
    on_emulator(program, emu, args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.to_string_lossy()))
}

/// The AWS CLI of the project's virtualenv against the emulator (region
/// [`crate::sdk::REGION`] unless `args` name another); panics with its stderr
/// when it fails. Returns what it printed.
pub fn aws_cli_raw(emu: &EmulatorGuard, args: &[&str]) -> Vec<u8> {
    let mut cmd = Command::new(crate::workspace_root().join(".venv/bin/aws"));
    emu.configure(&mut cmd);
    cmd.env("AWS_DEFAULT_REGION", crate::sdk::REGION);
    // The flag, not only AWS_ENDPOINT_URL: the virtualenv's CLI ignores the
    // variable for some services (SQS), and would then try the real AWS.
    let endpoint = emu.endpoint();
    cmd.args(["--endpoint-url", &endpoint]).args(args);
    let out = crate::aws_shell::output(&cmd).expect("run the AWS CLI");
    if !out.status.success() {
        panic!("aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.stdout
}

/// [`aws_cli_raw`] with `--output json`: its JSON (`Null` when it printed
/// nothing).
pub fn aws_cli(emu: &EmulatorGuard, args: &[&str]) -> serde_json::Value {
    let out = aws_cli_raw(emu, &[args, &["--output", "json"]].concat());
    if out.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&out).expect("the AWS CLI printed JSON")
    }
}

/// Every entry of the test's private journal, in order; none when no run
/// wrote it.
pub fn journal_entries(emu: &EmulatorGuard) -> Vec<serde_json::Value> {
    std::fs::read_to_string(emu.journal_path())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("journal line ({e}): {l}")))
        .collect()
}

/// A loopback port that was free a moment ago and on which nothing listens
/// (the listener that found it is closed again).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// Sends a signal to a running process with `kill` (`sig` as kill takes it:
/// `-TERM`, `-KILL`...).
pub fn signal(child: &std::process::Child, sig: &str) {
    let sent = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {sig} {} failed", child.id());
}

/// Sends SIGINT to a running process: the operator's Ctrl-C.
pub fn interrupt(child: &std::process::Child) {
    signal(child, "-INT");
}

/// Spawns `cmd` with its output captured, interrupts it ([`interrupt`]) as soon
/// as a line of its stderr contains `needle` (an event, not a delay), and
/// returns all it wrote once it has ended. Panics if it ends before printing
/// `needle`: then the test did not interrupt what it meant to.
pub fn interrupted_at(cmd: &mut Command, needle: &str) -> Output {
    use std::io::{BufRead, BufReader, Read};
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary under test");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        stdout.read_to_end(&mut v).map(|_| v)
    });
    let mut stderr = String::new();
    let mut sent = false;
    for line in BufReader::new(child.stderr.take().expect("piped stderr")).lines() {
        let line = line.expect("read stderr");
        stderr.push_str(&line);
        stderr.push('\n');
        if !sent && line.contains(needle) {
            interrupt(&child);
            sent = true;
        }
    }
    let status = child.wait().expect("wait for the binary under test");
    assert!(sent, "{needle:?} never appeared on stderr:\n{stderr}");
    Output {
        status,
        stdout: out_reader
            .join()
            .expect("stdout reader")
            .expect("read stdout"),
        stderr: stderr.into_bytes(),
    }
}
