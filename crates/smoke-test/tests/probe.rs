//! `smoke-test probe` as a process, against real HTTP servers on 127.0.0.1
//! (tests/server): the JSON lines it streams, its summary, its exit codes, and
//! the signal that ends it.
#![allow(clippy::unwrap_used)]

mod server;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use serde_json::Value;
use testkit::closed_port;

fn probe(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smoke-test"));
    cmd.arg("probe")
        .args(args)
        .args(["--output", "json"])
        .env_remove("LTC_OUTPUT")
        .env_remove("LTC_DEADLINE")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

struct Ran {
    code: i32,
    events: Vec<Value>,
    stderr: String,
}

impl Ran {
    fn of(kind: &str, events: &[Value]) -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["event"] == kind)
            .cloned()
            .collect()
    }
    fn events(&self, kind: &str) -> Vec<Value> {
        Self::of(kind, &self.events)
    }
    fn summary(&self) -> &Value {
        let last = self.events.last().expect("no JSON line on stdout");
        assert_eq!(last["event"], "summary", "the summary is the last line");
        last
    }
    fn url<'a>(&'a self, url: &str) -> &'a Value {
        self.summary()["urls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["url"] == url)
            .unwrap()
    }
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line {l:?}: {e}")))
        .collect()
}

/// Every line the probe printed validates against its published event schema
/// (docs/schema/smoke-test/probe.events.schema.json).
fn validated(events: Vec<Value>) -> Vec<Value> {
    testkit::schema::check_events_if_published("smoke-test", "probe", &events);
    events
}

fn run(args: &[&str]) -> Ran {
    let out = probe(args).output().unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        events: validated(lines(&out.stdout)),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Starts the probe without --for, waits for its first status line (requests are
/// flowing and the signal handlers are in), sends SIGINT, and collects the rest.
fn run_until_sigint(args: &[&str]) -> Ran {
    let mut child = probe(args)
        .args(["--status-every", "100ms"])
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut events = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "probe ended early"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        let status = v["event"] == "status";
        events.push(v);
        if status {
            break;
        }
    }
    testkit::interrupt(&child);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    events.extend(lines(&rest));
    let out = child.wait_with_output().unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        events: validated(events),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn is_utc_millis(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    let re = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$").unwrap();
    re.is_match(s)
}

#[test]
fn a_healthy_origin_has_no_failure_and_no_gap() {
    let s = server::http();
    let url = s.url("/ok");
    let r = run(&[
        "--url",
        &url,
        "--interval",
        "20ms",
        "--for",
        "600ms",
        "--status-every",
        "200ms",
        "--expect-serving",
        &url,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sum = r.summary();
    assert_eq!(sum["verdict"], "pass");
    assert_eq!(sum["stopped_by"], "duration");
    assert_eq!(sum["interval_ms"], 20);
    let u = r.url(&url);
    assert_eq!(u["expect_serving"], true);
    assert_eq!(
        (u["failures"].as_u64(), u["longest_gap_ms"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(u["first_failure"].is_null() && u["last_failure"].is_null());
    // One request per interval at most: 600 ms / 20 ms, plus the one at the start.
    let n = u["requests"].as_u64().unwrap();
    assert!((5..=31).contains(&n), "{n} requests");
    // Every counted request reached the server; one more may have been in flight
    // when the probe stopped (dropped, not counted).
    assert!(
        s.hits() == n || s.hits() == n + 1,
        "{} hits, {n} counted",
        s.hits()
    );
    assert!(r.events("failure").is_empty());
    let status = r.events("status");
    assert!(!status.is_empty(), "no periodic status line");
    for e in status.iter().chain([sum]) {
        assert!(is_utc_millis(&e["time"]), "{e}");
    }
    assert_eq!(status[0]["url"], url.as_str());
    assert_eq!(status[0]["up"], true);
    assert!(r.stderr.contains("PASS probe:"), "{}", r.stderr);
}

#[test]
fn an_outage_is_reported_with_its_gap_and_fails_only_the_origin_that_must_serve() {
    let s = server::http();
    // Requests 4..=13 get 503: ten failures in a row, 30 ms apart.
    let down = s.url("/outage?after=3&for=10");
    let up = s.url("/ok");
    let args = |serving: &str| -> Vec<String> {
        [
            "--url",
            &down,
            "--url",
            &up,
            "--interval",
            "30ms",
            "--for",
            "1200ms",
            "--expect-serving",
            serving,
        ]
        .map(str::to_owned)
        .to_vec()
    };

    let a = args(&up);
    let r = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        r.code, 0,
        "the origin that must serve never failed: {}",
        r.stderr
    );
    let d = r.url(&down);
    assert_eq!(d["failures"], 10);
    assert_eq!(d["failures_by_kind"]["status"], 10);
    assert!(d["requests"].as_u64().unwrap() > 13, "{d}");
    // From the first failed request to the next success: ten intervals, less
    // the lateness of the first send (under one interval).
    let gap = d["longest_gap_ms"].as_u64().unwrap();
    assert!(gap >= 270, "gap {gap} ms");
    assert!(
        gap <= r.summary()["duration_ms"].as_u64().unwrap(),
        "gap {gap} ms"
    );
    assert!(is_utc_millis(&d["first_failure"]) && is_utc_millis(&d["last_failure"]));
    assert!(
        d["first_failure"].as_str() < d["last_failure"].as_str(),
        "{d}"
    );
    let fails = r.events("failure");
    assert_eq!(fails.len(), 10);
    for f in &fails {
        assert_eq!(
            (f["url"].as_str(), f["kind"].as_str(), f["status"].as_u64()),
            (Some(down.as_str()), Some("status"), Some(503))
        );
        assert!(is_utc_millis(&f["time"]), "{f}");
    }
    let rec = r.events("recovered");
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["gap_ms"].as_u64(), Some(gap));
    assert_eq!(r.url(&up)["failures"], 0);
    assert_eq!(r.summary()["longest_gap_ms"].as_u64(), Some(gap));

    // Same outage on the origin that must serve: exit 4, naming it.
    let down2 = s.url("/outage?after=3&for=10&again=1");
    let mut a = args(&down2);
    a[1] = down2.clone();
    let r = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.summary()["verdict"], "fail");
    assert_eq!(r.url(&down2)["failures"], 10);
    let last = r.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("error: ") && last.contains(&down2),
        "{}",
        r.stderr
    );
    assert!(last.contains("failed 10 of"), "{last}");
}

#[test]
fn sigint_ends_the_probe_with_its_summary_and_exit_0() {
    let s = server::http();
    let url = s.url("/ok");
    let r = run_until_sigint(&[
        "--url",
        &url,
        "--interval",
        "20ms",
        "--expect-serving",
        &url,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sum = r.summary();
    assert_eq!(sum["stopped_by"], "SIGINT");
    assert_eq!(sum["verdict"], "pass");
    assert!(r.url(&url)["requests"].as_u64().unwrap() >= 1);
    assert_eq!(r.url(&url)["failures"], 0);
}

#[test]
fn sigint_with_a_failing_origin_that_must_serve_exits_4_with_its_summary() {
    let s = server::http();
    let dead = format!("http://127.0.0.1:{}/", closed_port());
    let ok = s.url("/ok");
    let r = run_until_sigint(&[
        "--url",
        &ok,
        "--url",
        &dead,
        "--interval",
        "20ms",
        "--expect-serving",
        &dead,
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let sum = r.summary();
    assert_eq!(sum["stopped_by"], "SIGINT");
    let d = r.url(&dead);
    assert_eq!(d["failures"], d["requests"]);
    assert!(
        d["failures_by_kind"]["connect_refused"].as_u64().unwrap() >= 1,
        "{d}"
    );
    // Down from the first request to the end.
    assert!(d["longest_gap_ms"].as_u64().unwrap() >= 100, "{d}");
    assert!(
        r.events("failure")
            .iter()
            .all(|f| f["kind"] == "connect_refused")
    );
    assert_eq!(r.url(&ok)["failures"], 0);
}

#[test]
fn bad_input_exits_2_before_any_request() {
    let s = server::http();
    let url = s.url("/ok");
    let many: Vec<String> = (0..21).map(|i| s.url(&format!("/ok?n={i}"))).collect();
    let mut too_many: Vec<&str> = Vec::new();
    for u in &many {
        too_many.extend(["--url", u.as_str()]);
    }
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--url", &url, "--interval", "5ms"],
            "below the minimum of 10ms",
        ),
        (too_many, "at most 20"),
        (
            vec!["--url", &url, "--expect-serving", "http://127.0.0.1:9/"],
            "not one of the --url values",
        ),
        (vec!["--url", "ftp://127.0.0.1/"], "only http"),
        (vec![], "--url"),
    ];
    for (args, want) in cases {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
        assert!(r.events.is_empty(), "{args:?}: nothing on stdout");
    }
    assert_eq!(s.hits(), 0);
}

#[test]
fn a_dry_run_prints_the_plan_and_sends_nothing() {
    let s = server::http();
    let url = s.url("/ok");
    let r = run(&[
        "--url",
        &url,
        "--for",
        "10s",
        "--expect-serving",
        &url,
        "--dry-run",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.events.len(), 1);
    let plan = &r.events[0];
    assert_eq!(plan["event"], "plan");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["interval_ms"], 100);
    assert_eq!(plan["for_ms"], 10_000);
    assert_eq!(plan["urls"][0]["url"], url.as_str());
    assert_eq!(plan["urls"][0]["expect_serving"], true);
    assert_eq!(s.hits(), 0);
}
