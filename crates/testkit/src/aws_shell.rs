//! The AWS CLI of `.venv` run through one long-lived Python process per test
//! binary (`python/aws_shell.py`, the CLI's own driver) instead of one
//! process per call. A CLI start costs about a second on this 2-core machine;
//! the IAM matrices seed and inspect the emulator with hundreds of calls, so
//! one of them (lb-switch's `iam_switch`) took six minutes of CI, most of it
//! Python starting.
//!
//! Calls are serialized (one process, one call at a time): each is a few
//! milliseconds of emulator work.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, PoisonError};

struct Shell {
    // Kept so the process is not reaped early; it exits when stdin closes
    // (at the end of the test process).
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

static SHELL: Mutex<Option<Shell>> = Mutex::new(None);

fn spawn() -> std::io::Result<Shell> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/aws_shell.py");
    let mut child = Command::new(crate::workspace_root().join(".venv/bin/python"))
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    Ok(Shell {
        _child: child,
        stdin,
        stdout: BufReader::new(stdout),
    })
}

fn exchange(shell: &mut Shell, request: &str) -> std::io::Result<Output> {
    shell.stdin.write_all(request.as_bytes())?;
    shell.stdin.write_all(b"\n")?;
    shell.stdin.flush()?;
    let mut line = String::new();
    if shell.stdout.read_line(&mut line)? == 0 {
        return Err(std::io::Error::other("the AWS CLI process ended"));
    }
    let reply: serde_json::Value = serde_json::from_str(&line).map_err(std::io::Error::other)?;
    let text = |k: &str| reply[k].as_str().unwrap_or_default().as_bytes().to_vec();
    let rc = reply["rc"].as_i64().unwrap_or(255);
    Ok(Output {
        status: ExitStatus::from_raw(((rc & 0xff) as i32) << 8),
        stdout: text("stdout"),
        stderr: text("stderr"),
    })
}

/// What `cmd.output()` would return for `cmd`, a command for `.venv/bin/aws`
/// (its arguments, the environment it sets or removes over this process's,
/// and its working directory are what the CLI runs with), run in the shared
/// CLI process. The CLI's stdout is text (JSON here), not bytes.
///
/// # Errors
/// When the CLI process cannot be started or ended during the call (the next
/// call starts a new one; a call is never sent twice).
pub fn output(cmd: &Command) -> std::io::Result<Output> {
    let lossy = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
    let args: Vec<String> = cmd.get_args().map(lossy).collect();
    let env: serde_json::Map<String, serde_json::Value> = cmd
        .get_envs()
        .map(|(k, v)| (lossy(k), v.map(lossy).into()))
        .collect();
    let cwd = match cmd.get_current_dir() {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir()?,
    };
    call(&serde_json::json!({"args": args, "env": env, "cwd": cwd}))
}

/// Makes `calls` (`[service, boto3 method, {params}]`) in order with boto3
/// against `endpoint` as the dummy keys, in the shared process; stdout is
/// the answers as one JSON list (without their ResponseMetadata).
///
/// # Errors
/// As [`output`]; a failed call is exit 255 with its traceback on stderr.
pub fn boto(endpoint: &str, calls: &[serde_json::Value]) -> std::io::Result<Output> {
    let cwd = std::env::current_dir()?;
    call(&serde_json::json!({
        "boto": {"endpoint": endpoint, "calls": calls},
        "env": {},
        "cwd": cwd,
    }))
}

fn call(request: &serde_json::Value) -> std::io::Result<Output> {
    let request = request.to_string();
    let mut guard = SHELL.lock().unwrap_or_else(PoisonError::into_inner);
    if guard.is_none() {
        *guard = Some(spawn()?);
    }
    let result = exchange(guard.as_mut().expect("started above"), &request);
    if result.is_err() {
        *guard = None;
    }
    result
}
