//! The result envelope (docs/notes/output.md): the committed JSON Schema is the
//! one generated from `common::envelope::Envelope`, and real binaries' stdout
//! validates against it; `--events`, `--color` and errors naming the endpoint.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn generated_schema() -> String {
    let schema = schemars::schema_for!(common::envelope::Envelope);
    let mut text = serde_json::to_string_pretty(&schema).expect("schema serializes");
    text.push('\n');
    text
}

/// The committed schema must be what the type generates; regenerate with
/// `LTC_UPDATE_SCHEMA=1 cargo test -p common --test envelope`.
#[test]
fn committed_schema_is_the_generated_one() {
    let path = root().join("docs/schema/envelope.schema.json");
    let generated = generated_schema();
    if std::env::var_os("LTC_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write the schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from common::envelope::Envelope's schema; regenerate it with \
         LTC_UPDATE_SCHEMA=1 cargo test -p common --test envelope",
        path.display()
    );
}

/// The folder of the binaries this test runs (they are other crates of the
/// workspace). `scripts/test` names it in `LTC_TEST_BIN_DIR`: its `cargo test
/// --workspace` has just built every binary there. Otherwise (`cargo test -p
/// common`) they are built first; that build unifies the SDK's features for
/// two crates only and so recompiles the SDK, minutes a clean CI run need not spend.
fn binaries() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(dir) = std::env::var_os("LTC_TEST_BIN_DIR") {
                return PathBuf::from(dir);
            }
            let status = Command::new(env!("CARGO"))
                .args(["build", "--locked", "-p", "run-state", "-p", "dns-shift"])
                .current_dir(root())
                .status()
                .expect("run cargo build");
            assert!(
                status.success(),
                "cargo build of run-state and dns-shift failed"
            );
            // target/debug/deps/envelope-<hash> -> target/debug
            let exe = std::env::current_exe().expect("test executable path");
            exe.parent()
                .and_then(Path::parent)
                .expect("target dir")
                .to_owned()
        })
        .clone()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(bin: &str, args: &[&str], env: &[(&str, &str)], dir: &Path) -> Run {
    let mut cmd = Command::new(binaries().join(bin));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("LTC_JOURNAL", dir.join("journal.jsonl"))
        .env("LTC_STATE", dir.join("state"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .current_dir(dir);
    let out = cmd.output().expect("run the binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&generated_schema()).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the envelope schema compiles")
}

fn assert_valid(doc: &Value, what: &str) {
    let v = validator();
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{what}: {errors:?}\n{doc:#}");
}

fn ts_ok(s: &str) -> bool {
    // 2026-12-02T14:49:13.123Z
    s.len() == 24 && s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Three real commands of two binaries: their stdout validates against the
/// envelope schema, and `ok`, `binary`, `command` and the times say what happened.
#[test]
fn real_binaries_output_validates_against_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let offline = testkit::offline_env();
    let cases: [(&str, &[&str], &str); 3] = [
        // (`run-state lock new-run-id` prints an event line, not a result;
        // `policy` prints an IAM policy document, which stays unwrapped: see below.)
        (
            "run-state",
            &["runs", "list", "--env", "staging", "--output", "json"],
            "runs list",
        ),
        (
            "run-state",
            &["lock", "status", "--env", "staging", "--output", "json"],
            "lock status",
        ),
        (
            "run-state",
            &["lock", "status", "--env", "prod", "--output", "json"],
            "lock status",
        ),
    ];
    for (bin, args, command) in cases {
        let r = run(bin, args, &offline, dir.path());
        let what = format!("{bin} {}", args.join(" "));
        assert_eq!(r.code, 0, "{what}: stderr {}", r.stderr);
        let doc: Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{what}: stdout not JSON ({e}): {}", r.stdout));
        assert_valid(&doc, &what);
        assert_eq!(doc["schema_version"], 1, "{what}");
        assert_eq!(doc["ok"], true, "{what}");
        assert_eq!(doc["binary"], bin, "{what}");
        assert_eq!(doc["command"], command, "{what}");
        let (start, end) = (
            doc["started_at"].as_str().unwrap(),
            doc["finished_at"].as_str().unwrap(),
        );
        assert!(ts_ok(start) && ts_ok(end), "{what}: {start} {end}");
        assert!(start <= end, "{what}: {start} > {end}");
        assert!(doc["duration_ms"].as_u64().is_some(), "{what}");
    }
}

/// `policy` prints an IAM policy document that IAM must accept as it is: no
/// envelope field may be added to it.
#[test]
fn a_printed_policy_is_a_bare_iam_document() {
    let dir = tempfile::tempdir().expect("temp dir");
    let offline = testkit::offline_env();
    let args = [
        "policy",
        "shift",
        "--zone",
        "Z0123ABC",
        "--record",
        "www.example.com",
        "--to",
        "green",
        "--output",
        "json",
    ];
    let r = run("dns-shift", &args, &offline, dir.path());
    assert_eq!(r.code, 0, "stderr {}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).expect("stdout is JSON");
    let mut keys: Vec<&str> = doc
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["Statement", "Version"], "{doc:#}");
}

/// A call to a closed port fails with exit 3; the error names the service,
/// region and endpoint it tried, and `--events` has the progress and the error.
#[test]
fn unreachable_endpoint_is_named_and_every_line_goes_to_the_events_file() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let offline = testkit::offline_env();
    let r = run(
        "dns-shift",
        &[
            "show",
            "--zone",
            "Z0123ABC",
            "--record",
            "www.example.com",
            "--output",
            "json",
            "--max-attempts",
            "1",
            "--events",
            events.to_str().unwrap(),
        ],
        &offline,
        dir.path(),
    );
    assert_eq!(r.code, 3, "stderr: {}", r.stderr);
    let last = r.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{last}");
    assert!(last.contains("region ap-northeast-1"), "{last}");
    assert!(last.contains("endpoint http://localhost:9"), "{last}");
    assert!(last.contains("service Route 53"), "{last}");
    // Not a terminal and no --color: no escape codes.
    assert!(!r.stderr.contains('\u{1b}'), "{}", r.stderr);

    let text = std::fs::read_to_string(&events).expect("events file written");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let error = lines.last().expect("at least the error line");
    assert_eq!(error["level"], "error", "{text}");
    assert!(ts_ok(error["ts"].as_str().unwrap()), "{text}");
    assert!(
        last.ends_with(error["message"].as_str().unwrap()),
        "{last} vs {text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&events).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

/// `--color always` colours the error label even with NO_COLOR set;
/// `--color never` and NO_COLOR with auto do not.
#[test]
fn color_flag_and_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = testkit::offline_env();
    env.push(("NO_COLOR", "1"));
    let bad = ["lock", "status", "--env", "Not A Name", "--output", "json"];
    let with = |color: &str| {
        let mut args = bad.to_vec();
        args.extend(["--color", color]);
        run("run-state", &args, &env, dir.path())
    };
    let always = with("always");
    assert_ne!(always.code, 0);
    assert!(
        always.stderr.contains("\u{1b}[1;31merror:\u{1b}[0m"),
        "{:?}",
        always.stderr
    );
    for choice in ["never", "auto"] {
        let r = with(choice);
        assert_eq!(r.code, always.code);
        assert!(!r.stderr.contains('\u{1b}'), "{choice}: {:?}", r.stderr);
        assert!(r.stderr.starts_with("error: "), "{choice}: {:?}", r.stderr);
    }
}
