//! Test-only support: moto emulators (real AWS API servers) per test process,
//! each lent to one test at a time and reset between tests, and the
//! environment that points a binary at one.
//!
//! If moto is not installed the tests fail with a message saying how to install
//! it; they never skip silently.

pub mod aws_shell;
pub mod cmd;
pub mod fault_proxy;
pub mod iam;
pub mod iam_ecs;
pub mod iam_rds;
pub mod prop;
pub mod schema;
pub mod sdk;

pub use cmd::{
    aws_cli, aws_cli_raw, closed_port, interrupt, interrupted_at, journal_entries, on_emulator,
    run_on_emulator, signal, words,
};
pub use sdk::{runtime, sdk_config};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The running emulator of this test process.
#[derive(Debug)]
pub struct Emulator {
    port: u16,
    // Kept so the pipe to the watchdog shell stays open while the process lives;
    // when the test process exits the pipe closes and the shell stops moto.
    _child: Mutex<Child>,
}

static SHARED: Pool = Pool::new();

/// Emulators of one kind in a test process, each lent to one test at a time.
/// One emulator serialized every emulator test of a binary on one Python
/// process, which uses one core; with two, two tests run at once (cargo runs
/// two test threads on two cores). More start only while all are lent out;
/// `LTC_TEST_EMULATORS` sets the most (default 2).
pub(crate) struct Pool {
    slots: [(OnceLock<Emulator>, Mutex<()>); POOL_MAX],
}

const POOL_MAX: usize = 8;

impl Pool {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [const { (OnceLock::new(), Mutex::new(())) }; POOL_MAX],
        }
    }

    /// A free emulator (started on first use with `env`), reset, and the lock
    /// that keeps it this caller's until dropped. Waits while all are lent.
    pub(crate) fn lend(
        &'static self,
        env: &[(&str, &str)],
    ) -> (&'static Emulator, MutexGuard<'static, ()>) {
        let size = std::env::var("LTC_TEST_EMULATORS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(2)
            .clamp(1, POOL_MAX);
        loop {
            for (emu, lock) in &self.slots[..size] {
                let guard = match lock.try_lock() {
                    Ok(g) => g,
                    Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => continue,
                };
                let emu = emu.get_or_init(|| Emulator::start(env));
                emu.reset();
                return (emu, guard);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Exclusive use of the emulator for one test; the state was reset when it
/// was handed out.
#[derive(Debug)]
pub struct EmulatorGuard {
    emu: &'static Emulator,
    journal_dir: tempfile::TempDir,
    _lock: MutexGuard<'static, ()>,
}

/// Where the project's scripts install moto.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn moto_server_path() -> PathBuf {
    if let Some(p) = std::env::var_os("LTC_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    workspace_root().join(".venv/bin/moto_server")
}

impl Emulator {
    /// The shared emulator, started on first use with default settings.
    pub fn shared() -> EmulatorGuard {
        Self::shared_with_env(&[])
    }

    /// A shared emulator, started on first use with extra server environment
    /// (e.g. `MOTO_ECS_SERVICE_RUNNING`). The first call per emulator decides,
    /// so every test of a binary passes the same.
    pub fn shared_with_env(env: &[(&str, &str)]) -> EmulatorGuard {
        let (emu, lock) = SHARED.lend(env);
        EmulatorGuard::lent(emu, lock)
    }

    fn start(env: &[(&str, &str)]) -> Emulator {
        let server = moto_server_path();
        assert!(
            server.exists(),
            "moto is not installed at {}: run `scripts/emulator install` (or `scripts/test`, which installs it)",
            server.display()
        );
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg(r#""$@" >/dev/null 2>&1 & pid=$!; read _ignored; kill "$pid" 2>/dev/null"#)
                .arg("sh")
                .arg(&server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            for (k, v) in env {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().expect("spawn moto_server");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if http(port, "GET", "/moto-api/").is_ok_and(|s| s == 200) {
                    return Emulator {
                        port,
                        _child: Mutex::new(child),
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // Closing the watchdog's stdin stops moto; then reap the shell.
            drop(child.stdin.take());
            let _ = child.wait();
            last_err = format!("moto did not answer on port {port} within 20 s");
        }
        panic!("{last_err}");
    }

    fn reset(&self) {
        let status = http(self.port, "POST", "/moto-api/reset").expect("reset the emulator");
        assert_eq!(status, 200, "emulator reset answered HTTP {status}");
    }

    pub fn endpoint(&self) -> String {
        format!("http://localhost:{}", self.port)
    }
}

impl EmulatorGuard {
    /// An emulator lent from a pool, with a journal private to this test.
    pub(crate) fn lent(emu: &'static Emulator, lock: MutexGuard<'static, ()>) -> EmulatorGuard {
        EmulatorGuard {
            emu,
            journal_dir: tempfile::tempdir().expect("temp dir for the journal"),
            _lock: lock,
        }
    }

    /// `http://localhost:PORT` (the word localhost matters to CloudFormation).
    pub fn endpoint(&self) -> String {
        self.emu.endpoint()
    }

    pub fn port(&self) -> u16 {
        self.emu.port
    }

    /// A journal file private to this test.
    pub fn journal_path(&self) -> PathBuf {
        self.journal_dir.path().join("journal.jsonl")
    }

    /// The environment for a binary under test: the emulator's endpoint, dummy
    /// keys, a fixed region, a private journal, and never the metadata service.
    pub fn env(&self) -> Vec<(String, String)> {
        emulator_env(self.endpoint(), &self.journal_path())
    }

    /// Applies [`EmulatorGuard::env`] to a command and clears variables from the
    /// developer's shell that would change its behaviour.
    pub fn configure(&self, cmd: &mut Command) {
        clear_shell(cmd, &[]);
        cmd.envs(self.env());
    }
}

/// The environment of a binary under test on the emulator at `endpoint`
/// (plain or IAM-enforcing): dummy keys, a fixed region, the journal file
/// given, and never the metadata service.
pub(crate) fn emulator_env(endpoint: String, journal: &Path) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), endpoint),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_REGION".into(), "ap-northeast-1".into()),
        ("AWS_DEFAULT_REGION".into(), "ap-northeast-1".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("AWS_CONFIG_FILE".into(), "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()),
        ("LTC_JOURNAL".into(), journal.display().to_string()),
        ("NO_COLOR".into(), "1".into()),
    ]
}

/// Clears the variables of the developer's shell that would change a
/// binary's behaviour (profile, retries, environment, deadline, output, run
/// id, reason), and `more`.
pub(crate) fn clear_shell(cmd: &mut Command, more: &[&str]) {
    const SHELL: [&str; 9] = [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "LTC_ENV",
        "LTC_DEADLINE",
        "LTC_OUTPUT",
        "LTC_RUN_ID",
        "LTC_REASON",
    ];
    for var in SHELL.iter().chain(more) {
        cmd.env_remove(var);
    }
}

/// Environment for a binary with dummy keys but no emulator (for tests that
/// must fail before any AWS call).
pub fn offline_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "ap-northeast-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // Nothing listens here: a test that should make no call fails loudly if it does.
        ("AWS_ENDPOINT_URL", "http://localhost:9"),
    ]
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// A minimal HTTP/1.0 request to the emulator's control API; returns the status.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<u16> {
    http_with_body(port, method, path, "")
}

/// [`http`] with a text body (the enforcing emulator's reset-auth count).
pub(crate) fn http_with_body(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    buf.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {buf:.80}")))
}

/// Parses a command's stdout as one JSON document, with the output in the panic
/// message when it is not JSON.
pub fn json_stdout(output: &std::process::Output) -> serde_json::Value {
    let doc = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e})\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    // A result of a command with a published schema must validate against it.
    schema::check_if_published(&doc);
    doc
}

/// Asserts a command's exit code (its stderr in the message when it differs)
/// and returns its stdout parsed as one JSON document ([`json_stdout`]).
pub fn exit_json(output: &std::process::Output, want: i32) -> serde_json::Value {
    assert_eq!(
        output.status.code(),
        Some(want),
        "exit code; stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_stdout(output)
}

/// Parses JSON lines from a command's stdout.
/// The lines do not say which command printed them: tests of a command with
/// a published event schema use [`json_lines_of`], which validates them.
pub fn json_lines(output: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// [`json_lines`] of `<binary> <command>` (`dns-shift`, `shift`): when the
/// command's event schema is published
/// (`docs/schema/<binary>/<command>.events.schema.json`), every line must
/// validate against it ([`schema::check_events_if_published`]).
pub fn json_lines_of(
    output: &std::process::Output,
    binary: &str,
    command: &str,
) -> Vec<serde_json::Value> {
    let lines = json_lines(output);
    schema::check_events_if_published(binary, command, &lines);
    lines
}

/// A command's exit code (-1 when a signal ended it).
pub fn code(output: &std::process::Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// A command's stderr as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A command's stdout as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts that an error message is one line of at most `max_chars`
/// characters (what the parsers' property tests require of any input).
pub fn assert_one_short_line(msg: &str, max_chars: usize) {
    assert!(!msg.contains('\n'), "more than one line: {msg:?}");
    assert!(
        msg.chars().count() <= max_chars,
        "too long ({} chars)",
        msg.chars().count()
    );
}
