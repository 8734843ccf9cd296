//! Runs the built `smoke-test` binary against real HTTP(S) servers on 127.0.0.1
//! (tests/server): exit codes, the JSON on stdout, the text on stderr.
#![allow(clippy::unwrap_used)]

mod server;

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;
use testkit::closed_port;

fn smoke() -> Command {
    let mut cmd = Command::cargo_bin("smoke-test").unwrap();
    cmd.env_remove("LTC_OUTPUT")
        .env_remove("LTC_DEADLINE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

struct Ran {
    code: i32,
    json: Value,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Ran {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = if out.stdout.is_empty() {
        Value::Null
    } else {
        testkit::json_stdout(&out)
    };
    Ran {
        code: out.status.code().unwrap_or(-1),
        json,
        stdout,
        stderr,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

// ----------------------------------------------------------------------- get

#[test]
fn get_passes_and_reports_every_figure() {
    let s = server::http();
    let r = run(smoke().args(["get", &s.url("/ok")]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = &r.json;
    assert_eq!(j["command"], "get");
    assert_eq!(j["verdict"], "pass");
    assert_eq!(
        (j["count"].as_u64(), j["successes"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(j["error_rate"], 0.0);
    assert!(j["requests_per_second"].as_f64().unwrap() > 0.0);
    for k in ["min", "p50", "p90", "p95", "p99", "p99_9", "max"] {
        assert!(j["latency_ms"][k].as_f64().unwrap() > 0.0, "{k}: {j}");
    }
    assert_eq!(j["checks"][0]["status"], 200);
    assert_eq!(j["errors_by_kind"]["connect_refused"], 0);
    // The strategy's thresholds apply without flags.
    let t: Vec<&str> = j["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["threshold"].as_str().unwrap())
        .collect();
    assert_eq!(t, ["error_rate<=5%", "p95<=2000ms", "p95<=1000ms"]);
    assert!(r.stderr.contains("PASS get"), "{}", r.stderr);
    assert!(r.stderr.contains("latency ms: min"), "{}", r.stderr);
    assert_eq!(s.hits(), 1);
}

#[test]
fn get_wrong_status_fails_with_exit_4_and_the_reason() {
    let s = server::http();
    let r = run(smoke().args(["get", &s.url("/status?code=503")]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.json["verdict"], "fail");
    assert_eq!(r.json["errors_by_kind"]["status"], 1);
    assert_eq!(
        r.json["failures_by_check"][0]["reason"],
        "status 503, expected 2xx"
    );
    assert_eq!(r.json["checks"][0]["body_excerpt"], "status 503");
    let last = r.stderr.lines().last().unwrap();
    assert!(last.starts_with("error: check "), "{}", r.stderr);
    // Accepting the status makes it pass.
    let r = run(smoke().args([
        "get",
        &s.url("/status?code=503"),
        "--expect-status",
        "500-599",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn get_body_expectation_is_an_assertion_error() {
    let s = server::http();
    let r = run(smoke().args(["get", &s.url("/ok"), "--expect-body", "ready"]));
    assert_eq!(r.code, 4);
    assert_eq!(r.json["errors_by_kind"]["assertion"], 1);
    assert_eq!(
        r.json["checks"][0]["reasons"][0],
        "body does not contain \"ready\""
    );
    let r = run(smoke().args(["get", &s.url("/ok"), "--expect-body", "ok"]));
    assert_eq!(r.code, 0);
}

#[test]
fn connection_refused_is_counted_not_a_crash() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let r = run(smoke().args(["get", &url]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.json["errors_by_kind"]["connect_refused"], 1);
    assert_eq!(r.json["latency_ms"], Value::Null);
    assert_eq!(r.json["checks"][0]["reasons"][0], "connection refused");
    // No answer, so P95 cannot be shown to be under the limit either.
    let p95 = r.json["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["threshold"] == "p95<=2000ms")
        .unwrap();
    assert_eq!(p95["passed"], false);
}

/// Runs `smoke-test ARGS` inside a network namespace with only loopback (down), so
/// a name lookup fails at once and no query leaves the machine.
fn run_offline(args: &[&str]) -> Ran {
    let probe = std::process::Command::new("unshare")
        .args(["-n", "true"])
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "`unshare -n` is needed for this test (run as root)"
    );
    let mut cmd = Command::new("unshare");
    cmd.arg("-n")
        .arg(env!("CARGO_BIN_EXE_smoke-test"))
        .args(args)
        .env_remove("LTC_OUTPUT")
        .env_remove("RUST_LOG")
        .timeout(std::time::Duration::from_secs(60));
    run(&mut cmd)
}

#[test]
fn dns_failures_are_counted_by_kind_on_every_path() {
    // `get` (the shared client), plain-http load (hyper per worker) and https load
    // (the shared client again) each sort a failed lookup as `dns`.
    let host = "smoke-test-no-such-host.invalid";
    let r = run_offline(&["get", &format!("http://{host}/health")]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.json["errors_by_kind"]["dns"], 1, "{}", r.json);
    let reason = r.json["checks"][0]["reasons"][0].as_str().unwrap();
    assert!(reason.starts_with("DNS lookup failed"), "{reason}");

    for url in [format!("http://{host}/"), format!("https://{host}/")] {
        let r = run_offline(&["load", &url, "--requests", "6", "-c", "2"]);
        assert_eq!(r.code, 4, "{url}: {}", r.stderr);
        assert_eq!(r.json["count"], 6, "{url}: {}", r.json);
        assert_eq!(r.json["errors_by_kind"]["dns"], 6, "{url}: {}", r.json);
        assert_eq!(r.json["error_rate"], 1.0, "{url}");
    }
}

#[test]
fn timeouts_are_counted_by_kind() {
    let s = server::http();
    let r = run(smoke().args(["get", &s.url("/slow?ms=3000"), "--timeout", "300ms"]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.json["errors_by_kind"]["timeout"], 1);
    assert_eq!(r.json["checks"][0]["reasons"][0], "no answer within 300ms");
}

#[test]
fn a_server_closing_the_connection_is_counted() {
    let s = server::http();
    let r = run(smoke().args(["get", &s.url("/close")]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(
        r.json["errors_by_kind"]["connection_closed"], 1,
        "{}",
        r.json
    );
}

#[test]
fn redirects_are_reported_not_followed() {
    let s = server::http();
    let r = run(smoke().args(["get", &s.url("/redirect")]));
    assert_eq!(r.code, 4);
    assert_eq!(r.json["checks"][0]["status"], 302);
    let r = run(smoke().args(["get", &s.url("/redirect"), "--expect-status", "3xx"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(s.hits(), 2);
}

#[test]
fn retries_wait_for_a_converging_target() {
    let s = server::http();
    let r = run(smoke().args([
        "get",
        &s.url("/converge?after=2"),
        "--retries",
        "3",
        "--interval",
        "50ms",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json["checks"][0]["attempts"], 3);
    assert!(
        r.stderr.contains("attempt 1 of 4 failed (status 503"),
        "{}",
        r.stderr
    );
    // Not enough retries: the last attempt decides.
    let r = run(smoke().args([
        "get",
        &s.url("/converge?after=5"),
        "--retries",
        "1",
        "--interval",
        "10ms",
    ]));
    assert_eq!(r.code, 4);
    assert_eq!(r.json["checks"][0]["attempts"], 2);
}

// ---------------------------------------------------------------- thresholds

#[test]
fn a_broken_threshold_fails_and_a_warning_only_warns() {
    let s = server::http();
    let url = s.url("/slow?ms=150");
    let r = run(smoke().args(["get", &url, "--threshold", "p95<100ms"]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    let t = &r.json["thresholds"][0];
    assert_eq!(
        (t["threshold"].as_str(), t["passed"].as_bool()),
        (Some("p95<100ms"), Some(false))
    );
    assert!(t["actual"].as_f64().unwrap() >= 150.0);
    assert!(
        r.stderr.contains("threshold p95<100ms (flag) broken"),
        "{}",
        r.stderr
    );

    let r = run(smoke().args(["get", &url, "--warn-threshold", "p95<100ms"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json["verdict"], "warn");
    assert!(
        r.stderr.contains("warning: threshold p95<100ms"),
        "{}",
        r.stderr
    );

    let r = run(smoke().args([
        "get",
        &url,
        "--warn-threshold",
        "p95<100ms",
        "--fail-on-warning",
    ]));
    assert_eq!(r.code, 4);
}

#[test]
fn the_strategy_warning_applies_over_one_second() {
    let s = server::http();
    let r = run(smoke().args(["get", &s.url("/slow?ms=1100")]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json["verdict"], "warn");
    assert_eq!(r.json["thresholds"][2]["threshold"], "p95<=1000ms");
    assert_eq!(r.json["thresholds"][2]["passed"], false);
    assert_eq!(
        r.json["thresholds"][1]["passed"], true,
        "2000ms critical still holds"
    );
}

// ----------------------------------------------------------------------- TLS

/// `smoke-test get URL --ca-cert CA --min-cert-days DAYS`.
fn get_trusting(url: &str, ca: &str, min_cert_days: &str) -> Ran {
    run(smoke().args([
        "get",
        url,
        "--ca-cert",
        ca,
        "--min-cert-days",
        min_cert_days,
    ]))
}

#[test]
fn https_with_a_private_ca() {
    let pki = server::pki(90);
    let s = server::https(&pki);
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);

    // Untrusted without --ca-cert: a TLS error, counted as such.
    let r = run(smoke().args(["get", &s.url("/ok")]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.json["errors_by_kind"]["tls"], 1, "{}", r.json);

    let r = get_trusting(&s.url("/ok"), &ca, "30");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let tls = &r.json["tls"][0];
    assert_eq!(tls["passed"], true);
    assert!(
        (89..=90).contains(&tls["days_left"].as_i64().unwrap()),
        "{tls}"
    );
    assert_eq!(tls["origin"], format!("127.0.0.1:{}", s.port));
}

#[test]
fn a_certificate_expiring_soon_fails_min_cert_days() {
    let pki = server::pki(5);
    let s = server::https(&pki);
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let r = get_trusting(&s.url("/ok"), &ca, "14");
    assert_eq!(r.code, 4, "{}", r.stderr);
    let tls = &r.json["tls"][0];
    assert_eq!(tls["passed"], false);
    assert!(
        (4..=5).contains(&tls["days_left"].as_i64().unwrap()),
        "{tls}"
    );
    assert!(
        r.stderr.contains("fewer than --min-cert-days 14"),
        "{}",
        r.stderr
    );
    // The request itself was fine.
    assert_eq!(r.json["successes"], 1);
    let r = get_trusting(&s.url("/ok"), &ca, "3");
    assert_eq!(r.code, 0, "{}", r.stderr);
}

// ----------------------------------------------------------------------- run

fn checks_file(dir: &Path, base: &str) -> String {
    write(
        dir,
        "checks.toml",
        &format!(
            r#"
[defaults]
base_url = "{base}"
timeout = "5s"

[[check]]
name = "home"
path = "/ok"
[check.expect]
status = 200
body_contains = "ok"

[[check]]
name = "api json"
path = "/json"
[[check.expect.json]]
path = "$.status"
equals = "ok"
[[check.expect.json]]
path = "$.items[*].id"
equals = [1, 2]
[[check.expect.json]]
path = "$.checks.database"
[[check.expect.header]]
name = "content-type"
matches = "^application/json"
[[check.expect.header]]
name = "x-version"
equals = "1.2.3"

[[check]]
name = "echo post"
method = "POST"
path = "/echo"
json = {{ hello = "${{WHO}}" }}
[check.expect]
body_regex = '"hello":"world"'
"#
        ),
    )
}

#[test]
fn run_a_checks_file_with_junit() {
    let s = server::http();
    let dir = tempfile::tempdir().unwrap();
    let file = checks_file(dir.path(), &s.url(""));
    let junit = dir.path().join("smoke.xml");
    let r = run(smoke().args([
        "run",
        &file,
        "--var",
        "WHO=world",
        "--junit",
        junit.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert_eq!(r.json["command"], "run");
    assert_eq!(r.json["count"], 3);
    let names: Vec<&str> = r.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["home", "api json", "echo post"]);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("tests=\"3\" failures=\"0\" errors=\"0\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 3);
}

#[test]
fn run_reports_each_failing_check_and_exits_4() {
    let s = server::http();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "c.toml",
        &format!(
            r#"
[[check]]
name = "json mismatch"
url = "{}"
[[check.expect.json]]
path = "$.version"
equals = "2.0.0"

[[check]]
name = "down"
url = "http://127.0.0.1:{}/"

[[check]]
name = "fine"
url = "{}"
"#,
            s.url("/json"),
            closed_port(),
            s.url("/ok")
        ),
    );
    let junit = dir.path().join("j.xml");
    let r = run(smoke().args(["run", &file, "--junit", junit.to_str().unwrap()]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    let c = &r.json["checks"];
    assert_eq!(
        c[0]["reasons"][0],
        "$.version is \"1.2.3\", expected \"2.0.0\""
    );
    assert_eq!(c[0]["kind"], "assertion");
    assert_eq!(c[1]["kind"], "connect_refused");
    assert_eq!(c[2]["passed"], true);
    assert_eq!(
        (r.json["failures"].as_u64(), r.json["successes"].as_u64()),
        (Some(2), Some(1))
    );
    let kinds: Vec<&str> = r.json["failures_by_check"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"json mismatch") && kinds.contains(&"down"),
        "{kinds:?}"
    );
    assert!(r.stderr.contains("FAIL"), "{}", r.stderr);
    // JUnit is written on failure too.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"1\" errors=\"1\""), "{xml}");
}

#[test]
fn repeat_and_concurrency_multiply_the_count() {
    let s = server::http();
    let dir = tempfile::tempdir().unwrap();
    let file = checks_file(dir.path(), &s.url(""));
    let r = run(smoke().args([
        "run",
        &file,
        "--var",
        "WHO=world",
        "--repeat",
        "4",
        "--concurrency",
        "3",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json["count"], 12);
    assert_eq!(r.json["checks"][11]["iteration"], 4);
    assert_eq!(s.hits(), 12);
}

#[test]
fn secrets_from_the_environment_are_masked_everywhere() {
    let s = server::http();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "auth.toml",
        &format!(
            r#"
[[check]]
name = "auth"
url = "{}?key=${{SMOKE_TOKEN}}"
headers = {{ Authorization = "Bearer ${{SMOKE_TOKEN}}" }}
body = "token=${{SMOKE_TOKEN}}"
method = "POST"
[check.expect]
body_contains = "welcome ${{SMOKE_TOKEN}}"
"#,
            s.url("/auth")
        ),
    );
    let junit = dir.path().join("j.xml");
    let r = run(smoke().env("SMOKE_TOKEN", "sekrit-4711").args([
        "run",
        &file,
        "--junit",
        junit.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap();
    for (what, text) in [
        ("stdout", &r.stdout),
        ("stderr", &r.stderr),
        ("junit", &xml),
    ] {
        assert!(
            !text.contains("sekrit-4711"),
            "{what} leaks the secret:\n{text}"
        );
        assert!(text.contains("***"), "{what} shows no mask:\n{text}");
    }
    // The server really got the secret; only the output hides it.
    assert!(
        r.json["checks"][0]["body_excerpt"]
            .as_str()
            .unwrap()
            .contains("token Bearer *** rejected")
    );
    assert!(
        r.json["checks"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with("?key=***")
    );
}

#[test]
fn dry_run_lists_the_checks_and_sends_nothing() {
    let s = server::http();
    let dir = tempfile::tempdir().unwrap();
    let file = checks_file(dir.path(), &s.url(""));
    let r = run(smoke().args(["run", &file, "--var", "WHO=world", "--dry-run"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json["dry_run"], true);
    assert_eq!(r.json["checks"].as_array().unwrap().len(), 3);
    assert_eq!(r.json["checks"][1]["url"], s.url("/json"));
    assert_eq!(
        (r.json["repeat"].as_u64(), r.json["concurrency"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(s.hits(), 0);
}

/// `get` and `load` print their plan too (validated against their published
/// schemas by `json_stdout`), with `load`'s settings beside the checks.
#[test]
fn get_and_load_dry_runs_print_their_plan_and_send_nothing() {
    let s = server::http();
    let r = run(smoke().args(["get", &s.url("/ok"), "--dry-run"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        (r.json["command"].as_str(), r.json["dry_run"].as_bool()),
        (Some("get"), Some(true))
    );
    assert_eq!(r.json["checks"][0]["url"], s.url("/ok"));
    // --requests caps the connections; without --rate or --duration the
    // figures that need them are null, and present.
    let r = run(smoke().args([
        "load",
        &s.url("/ok"),
        "--requests",
        "3",
        "-c",
        "8",
        "--dry-run",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = &r.json;
    assert_eq!(
        (j["command"].as_str(), j["dry_run"].as_bool()),
        (Some("load"), Some(true))
    );
    assert_eq!(
        (
            j["concurrency"].as_u64(),
            j["requests_limit"].as_u64(),
            j["max_requests"].as_u64()
        ),
        (Some(3), Some(3), Some(3))
    );
    for key in ["rate", "duration_limit_ms"] {
        assert_eq!(j.get(key), Some(&Value::Null), "{key}: {j}");
    }
    let r = run(smoke().args([
        "load",
        &s.url("/ok"),
        "--duration",
        "2s",
        "--rate",
        "10",
        "--dry-run",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = &r.json;
    assert_eq!(j["rate"], 10.0);
    assert_eq!(
        (
            j["duration_limit_ms"].as_u64(),
            j["max_requests"].as_u64(),
            j["concurrency"].as_u64()
        ),
        (Some(2000), Some(20), Some(10))
    );
    assert_eq!(j.get("requests_limit"), Some(&Value::Null), "{j}");
    assert_eq!(s.hits(), 0);
}

// ------------------------------------------------------------- bad input: 2

#[test]
fn bad_input_exits_2_with_one_line_before_sending_anything() {
    let s = server::http();
    let dir = tempfile::tempdir().unwrap();
    let good = checks_file(dir.path(), &s.url(""));
    let broken = write(
        dir.path(),
        "broken.toml",
        &format!(
            "[[check]]\nname = \"first\"\nurl = \"{}\"\n\n[[check]]\nname = \"second\"\nurl = \"{}\"\n[check.expect]\nstatus = \"20x\"\n",
            s.url("/ok"),
            s.url("/ok")
        ),
    );
    let http_only = write(
        dir.path(),
        "plain.toml",
        &format!("[[check]]\nname = \"a\"\nurl = \"{}\"\n", s.url("/ok")),
    );
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["run".into(), broken.clone()],
            "broken.toml:9:10: bad status \"20x\"",
        ),
        (vec!["run".into(), good.clone()], "${WHO} is not set"),
        (
            vec![
                "run".into(),
                dir.path().join("missing.toml").display().to_string(),
            ],
            "cannot read checks file",
        ),
        (
            vec!["get".into(), "localhost:8080/health".into()],
            "bad URL",
        ),
        (
            vec![
                "get".into(),
                s.url("/ok"),
                "--threshold".into(),
                "p95<1000".into(),
            ],
            "has no unit",
        ),
        (
            vec![
                "get".into(),
                s.url("/ok"),
                "--threshold".into(),
                "error_rate<5".into(),
            ],
            "percent sign",
        ),
        (
            vec!["get".into(), s.url("/ok"), "--timeout".into(), "10".into()],
            "no unit",
        ),
        (
            vec![
                "get".into(),
                s.url("/ok"),
                "--expect-status".into(),
                "ok".into(),
            ],
            "bad status",
        ),
        (
            vec![
                "get".into(),
                s.url("/ok"),
                "--header".into(),
                "nocolon".into(),
            ],
            "'Name: value'",
        ),
        (
            vec![
                "get".into(),
                s.url("/ok"),
                "--min-cert-days".into(),
                "10".into(),
            ],
            "needs at least one https URL",
        ),
        (
            vec![
                "get".into(),
                s.url("/ok"),
                "--ca-cert".into(),
                http_only.clone(),
            ],
            "no PEM certificate",
        ),
        (
            vec![
                "load".into(),
                s.url("/ok"),
                "--duration".into(),
                "30".into(),
            ],
            "no unit",
        ),
        (
            vec![
                "load".into(),
                s.url("/ok"),
                "--duration".into(),
                "0s".into(),
            ],
            "more than 0s",
        ),
        (vec!["load".into(), s.url("/ok")], "--duration"),
        (
            vec![
                "load".into(),
                s.url("/ok"),
                "--requests".into(),
                "5".into(),
                "--rate".into(),
                "0".into(),
            ],
            "bad rate",
        ),
        (
            vec![
                "load".into(),
                "not a url".into(),
                "--requests".into(),
                "5".into(),
            ],
            "bad URL",
        ),
        (
            vec![
                "load".into(),
                broken.clone(),
                "--requests".into(),
                "5".into(),
            ],
            "broken.toml:9:10:",
        ),
        (
            vec![
                "run".into(),
                http_only.clone(),
                "--junit".into(),
                dir.path().join("no/such/dir/j.xml").display().to_string(),
            ],
            "does not exist",
        ),
    ];
    for (args, needle) in cases {
        let r = run(smoke().args(&args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(needle),
            "{args:?}: wanted {needle:?} in\n{}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{args:?}: stdout {}", r.stdout);
        // Our own errors are one line; clap adds a usage hint line after its own.
        let ours = r.stderr.lines().filter(|l| l.starts_with("error:")).count();
        assert_eq!(ours, 1, "{args:?}: {}", r.stderr);
    }
    assert_eq!(s.hits(), 0, "bad input must not send anything");
}

// ---------------------------------------------------------------------- load

#[test]
fn load_with_a_request_count() {
    let s = server::http();
    let r = run(smoke().args(["load", &s.url("/ok"), "--requests", "300", "-c", "8"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = &r.json;
    assert_eq!(j["command"], "load");
    assert_eq!(
        (j["count"].as_u64(), j["successes"].as_u64()),
        (Some(300), Some(300))
    );
    assert_eq!(j["load"]["stopped_by"], "requests");
    assert_eq!(j["load"]["concurrency"], 8);
    assert_eq!(j["load"]["coordinated_omission_corrected"], false);
    let l = &j["latency_ms"];
    let order: Vec<f64> = ["min", "p50", "p90", "p95", "p99", "p99_9", "max"]
        .iter()
        .map(|k| l[*k].as_f64().unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{l}");
    assert_eq!(s.hits(), 300);
    // The text histogram is on stderr.
    assert!(r.stderr.contains(" ms  #"), "{}", r.stderr);
}

#[test]
fn load_error_rate_against_a_flaky_endpoint() {
    let s = server::http();
    // Every 10th request fails: 10 % errors, over the strategy's 5 %.
    let url = s.url("/flaky?every=10");
    let r = run(smoke().args(["load", &url, "--requests", "200", "-c", "4"]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.json["errors_by_kind"]["status"], 20);
    assert!((r.json["error_rate"].as_f64().unwrap() - 0.1).abs() < 1e-9);
    assert_eq!(r.json["failures_by_check"][0]["count"], 20);
    assert_eq!(
        r.json["failures_by_check"][0]["reason"],
        "status 500, expected 2xx"
    );
    assert!(
        r.stderr
            .contains("error_rate<=5% (strategy default) broken: error_rate is 10%"),
        "{}",
        r.stderr
    );
    let r = run(smoke().args([
        "load",
        &url,
        "--requests",
        "200",
        "-c",
        "4",
        "--threshold",
        "error_rate<15%",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn load_for_a_duration() {
    let s = server::http();
    let r = run(smoke().args(["load", &s.url("/slow?ms=20"), "--duration", "1s", "-c", "4"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json["load"]["stopped_by"], "duration");
    // Events, not wall-clock figures (throughput belongs to scripts/bench): the
    // run did not stop before its duration, sent requests on its connections,
    // and counted no request the server did not see.
    let elapsed = r.json["elapsed_ms"].as_f64().unwrap();
    assert!(elapsed >= 1000.0, "{elapsed}");
    assert_eq!(r.json["load"]["concurrency"], 4);
    let n = r.json["count"].as_u64().unwrap();
    assert!(n >= 4, "{n}");
    assert!(n <= s.hits(), "{n} counted, {} served", s.hits());
    assert_eq!(r.json["successes"].as_u64(), Some(n));
}

#[test]
fn rate_mode_counts_latency_from_the_scheduled_time() {
    let s = server::http();
    let url = s.url("/slow?ms=100");
    // 20/s on one connection that serves 10/s: the queue grows, and the corrected
    // latency shows it; a closed loop on the same server would only see ~100 ms.
    let r = run(smoke().args([
        "load",
        &url,
        "--rate",
        "20",
        "--duration",
        "500ms",
        "-c",
        "1",
        "--no-default-thresholds",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json["count"], 10);
    assert_eq!(r.json["load"]["coordinated_omission_corrected"], true);
    let max = r.json["latency_ms"]["max"].as_f64().unwrap();
    assert!(max > 400.0, "corrected max latency {max}");
    let r = run(smoke().args([
        "load",
        &url,
        "--requests",
        "5",
        "-c",
        "1",
        "--no-default-thresholds",
    ]));
    let max = r.json["latency_ms"]["max"].as_f64().unwrap();
    assert!(max < 400.0, "closed-loop max latency {max}");
}

#[test]
fn load_against_a_server_that_closes_connections() {
    let s = server::http();
    let r = run(smoke().args(["load", &s.url("/close"), "--requests", "20", "-c", "4"]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.json["count"], 20);
    assert_eq!(
        r.json["errors_by_kind"]["connection_closed"], 20,
        "{}",
        r.json
    );
    assert_eq!(r.json["latency_ms"], Value::Null);
}

#[test]
fn load_a_checks_file_round_robin_over_https() {
    let pki = server::pki(60);
    let s = server::https(&pki);
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let file = write(
        dir.path(),
        "load.toml",
        "[[check]]\nname = \"home\"\npath = \"/ok\"\n\n[[check]]\nname = \"json\"\npath = \"/json\"\n[[check.expect.json]]\npath = \"$.version\"\nequals = \"9\"\n",
    );
    let r = run(smoke().args([
        "load",
        &file,
        "--base-url",
        &s.url(""),
        "--requests",
        "40",
        "-c",
        "4",
        "--ca-cert",
        &ca,
        "--min-cert-days",
        "30",
    ]));
    // Half the requests break the JSON assertion: 50 % errors.
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.json["count"], 40);
    assert_eq!(r.json["errors_by_kind"]["assertion"], 20);
    assert_eq!(r.json["failures_by_check"][0]["check"], "json");
    assert_eq!(r.json["tls"][0]["passed"], true);
}

#[test]
fn an_interrupted_load_reports_what_ran_and_exits_130() {
    let s = server::http();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_smoke-test"))
        .args([
            "load",
            &s.url("/slow?ms=10"),
            "--duration",
            "30s",
            "-c",
            "2",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until requests are flowing, then send SIGINT as Ctrl-C would.
    let started = std::time::Instant::now();
    while s.hits() < 5 && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    testkit::interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = testkit::json_stdout(&out);
    assert_eq!(j["interrupted"], true);
    assert_eq!(j["load"]["stopped_by"], "interrupted");
    assert!(j["count"].as_u64().unwrap() >= 5, "{j}");
    // Stopped by the signal, not by the 30 s duration (stopped_by above).
}
