//! `run-state report` over a run folder and journal built here the way
//! runbooks/lib.sh and the binaries write them: every section is on the page,
//! operator input is shown and never run, a failed run names its failing step
//! and the command to resume.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_run-state");
const RUN: &str = "20261202T031000.123Z-deploy-1a2b3c";
const RESUME: &str = "LTC_RUN_ID=20261202T031000.123Z-deploy-1a2b3c /repo/runbooks/deploy.sh --env staging --yes --from dns-cutover";
/// Operator input that would run if the page did not escape it.
const XSS: &str = "<script>console.error('xss ran')</script><img src=x onerror=alert(1)>";

fn write(dir: &Path, name: &str, text: &str, at_secs: u64) {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("report test fixture");
    // Output files end when their binary ends: the mtime is the call's end.
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(at_secs);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("report test fixture")
        .set_modified(t)
        .expect("report test fixture");
}

/// 2026-12-02T03:10:00Z + s seconds, as seconds since the epoch.
fn at(s: u64) -> u64 {
    1_796_181_000 + s
}

fn entry(id: &str, phase: &str, time: &str, action: &str, before: Value, after: Value) -> Value {
    let mut e = json!({
        "id": id, "phase": phase, "time": time, "binary": "dns-shift",
        "action": action, "target": "route53:Z1/www.example.test./CNAME",
        "env": "staging", "run_id": RUN, "actor": "alice@host", "reason": XSS,
    });
    if phase == "intent" {
        e["before"] = before;
    } else {
        e["after"] = after;
        e["outcome"] = json!("ok");
    }
    e
}

/// A deploy that ran preflight, then failed at dns-cutover (exit 6, reverted),
/// and never ran validate.
fn failed_run(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = root.join("runs").join(RUN);
    std::fs::create_dir_all(&dir).expect("report test fixture");
    let transcript = format!(
        "03:10:00 holding the run lock of staging for run {RUN}
03:10:00 deploy: env staging, run {RUN}, steps preflight dns-cutover validate; run folder {dir}
03:10:00 == preflight (env staging)
03:10:01 $ /bin/smoke-test run checks.toml --base-url http://127.0.0.1:1 --output json --env staging --yes
PASS run checks.toml: 2 requests
03:10:02 $ /bin/health-gate check --gates gates.toml --output json --env staging --yes
03:10:03 == dns-cutover (env staging)
03:10:03 $ /bin/dns-shift show --zone example.test --record www.example.test --output json --env staging --yes
03:10:04 $ /bin/dns-shift shift --zone example.test --record www.example.test --to green --steps 10\\,100 --gate-cmd smoke\\ test --output json --env staging --yes
error: gate failed: before step 2: command \"smoke {XSS}\" exit 4; reverted
03:10:06 error: dns-shift shift exited 6: the change failed and was reverted cleanly
03:10:06 error: step dns-cutover failed: exit 6 (the change failed and was reverted cleanly)
03:10:06 error: deploy stopped at step 'dns-cutover': exit 6 (the change failed and was reverted cleanly)
03:10:06 error: resume with: {RESUME}
",
        dir = dir.display()
    );
    write(&dir, "transcript.log", &transcript, at(6));
    write(
        &dir,
        "timeline.tsv",
        "preflight\t2500\t0\ndns-cutover\t3200\t6\n",
        at(6),
    );
    let smoke = json!({
        "command": "run", "target": "checks.toml", "verdict": "pass", "count": 2,
        "successes": 2, "failures": 0, "error_rate": 0, "elapsed_ms": 3.1,
        "latency_ms": {"min": 0.5, "p50": 0.7, "p90": 1.2, "p95": 1.25, "p99": 1.3, "p99_9": 1.3, "max": 1.3},
        "thresholds": [
            {"threshold": "p95<=2000ms", "severity": "critical", "source": "strategy default", "actual": 1.25, "passed": true},
            {"threshold": "error_rate<=5%", "severity": "critical", "source": "strategy default", "actual": 0, "passed": true}
        ]
    });
    write(
        &dir,
        "preflight.01.smoke-test-run.json",
        &smoke.to_string(),
        at(1),
    );
    let gates = json!({
        "env": "staging", "at": "2026-12-02T03:10:02.500Z", "passed": true, "pass": 2, "fail": 0,
        "inconclusive": 0, "reason": "no critical gate failed",
        "gates": [
            {"name": "db-cpu-critical", "severity": "critical", "source": "cloudwatch", "value": 35, "unit": "%", "threshold": "> 90%", "verdict": "pass", "detail": "newest of 1 datapoints"},
            {"name": "api-p95-warning", "severity": "warning", "source": "cloudwatch", "value": 250, "unit": "ms", "threshold": "> 1000ms", "verdict": "pass", "detail": "ok"}
        ],
        "elapsed_ms": 105
    });
    write(
        &dir,
        "preflight.02.health-gate-check.json",
        &gates.to_string(),
        at(2),
    );
    let show = json!({
        "zone_id": "Z1", "record": "www.example.test.", "type": "CNAME", "total_weight": 100,
        "sets": [{"set_id": "blue", "weight": 100}, {"set_id": "green", "weight": 0}]
    });
    write(
        &dir,
        "dns-cutover.01.dns-shift-show.json",
        &show.to_string(),
        at(3),
    );
    let shift = [
        json!({"event": "start", "to": "green"}),
        json!({"event": "gate", "check": "before step 1", "step": 1, "kind": "command", "name": "smoke test", "passed": true, "detail": "exit 0"}),
        json!({"event": "step", "step": 1, "of": 2, "percent": 10, "weights": {"blue": 90, "green": 10}}),
        json!({"event": "gate", "check": "before step 2", "step": 2, "kind": "command", "name": "smoke test", "passed": false, "detail": format!("exit 4 {XSS}")}),
        json!({"event": "summary", "result": "reverted", "elapsed_ms": 2000}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    write(&dir, "dns-cutover.02.dns-shift-shift.json", &shift, at(6));
    let journal = root.join("journal.jsonl");
    let w = |b: u32, g: u32| json!({"weights": {"blue": b, "green": g}, "zone_id": "Z1"});
    let lines = [
        entry("e1", "intent", "2026-12-02T03:10:04.200Z", "dns.shift.step", w(100, 0), Value::Null),
        entry("e1", "outcome", "2026-12-02T03:10:04.300Z", "dns.shift.step", Value::Null, w(90, 10)),
        entry("e2", "intent", "2026-12-02T03:10:05.500Z", "dns.shift.revert", w(90, 10), Value::Null),
        entry("e2", "outcome", "2026-12-02T03:10:05.600Z", "dns.shift.revert", Value::Null, w(100, 0)),
        // Another run's change: not on this run's page.
        json!({"id": "x9", "phase": "intent", "time": "2026-12-02T03:10:05.000Z", "binary": "dns-shift",
               "action": "dns.set-weights", "target": "route53:Z1/other./CNAME", "run_id": "20261202T000000.000Z-deploy-000000"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    std::fs::write(&journal, lines + "\n").expect("report test fixture");
    (dir, journal)
}

fn report(root: &Path, journal: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    for (k, v) in testkit::offline_env() {
        c.env(k, v);
    }
    c.env("LTC_JOURNAL", journal)
        .env("LTC_STATE", root.join("state"))
        .env_remove("LTC_RUN_ID")
        .env_remove("LTC_RUNS_DIR")
        .args([
            "--output", "json", "--env", "staging", "report", "--run", RUN,
        ])
        .args(args)
        .output()
        .expect("run run-state report")
}

/// The failed run of [`failed_run`] under `tmp`, reported with exit code 6:
/// its run folder and what `report` did.
fn report_failed_run(tmp: &tempfile::TempDir) -> (std::path::PathBuf, std::process::Output) {
    let (dir, journal) = failed_run(tmp.path());
    let run_dir = dir.to_str().expect("report test fixture");
    let out = report(
        tmp.path(),
        &journal,
        &["--run-dir", run_dir, "--exit-code", "6"],
    );
    (dir, out)
}

#[test]
fn failed_run_report_has_every_section_and_names_the_failing_step_and_resume_command() {
    let tmp = tempfile::tempdir().expect("report test fixture");
    let (dir, out) = report_failed_run(&tmp);
    let v = testkit::exit_json(&out, 0);
    let path = dir.join("report.html");
    assert_eq!(v["path"], json!(path.display().to_string()));
    assert_eq!(v["status"], json!("failed"));
    assert_eq!(
        v["steps"],
        json!(3),
        "preflight, dns-cutover, validate (not run)"
    );
    assert_eq!(v["binary_calls"], json!(4));
    assert_eq!(
        v["changes"],
        json!(2),
        "the other run's change is not counted"
    );
    assert_eq!(v["failed_step"], json!("dns-cutover"));
    assert_eq!(v["resume"], json!(RESUME));

    let html = std::fs::read_to_string(&path).expect("report test fixture");
    for id in [
        "summary", "failure", "timeline", "changes", "dns", "latency", "gates", "files",
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "section {id} missing"
        );
    }
    assert_eq!(html.matches("<tr class=\"step ").count(), 3);
    assert!(html.contains("<tr class=\"step fail\" data-step=\"dns-cutover\">"));
    assert!(html.contains("<tr class=\"step muted\" data-step=\"validate\">"));
    assert!(html.contains("not run"));
    assert_eq!(html.matches("<tr class=\"call").count(), 4);
    // The failure box: the step, the exit code's meaning, the resume command.
    let failure = &html[html.find("id=\"failure\"").expect("report test fixture")
        ..html.find("id=\"timeline\"").expect("report test fixture")];
    assert!(failure.contains(
        "at step <code>dns-cutover</code>: exit 6 (the change failed and was reverted cleanly)"
    ));
    assert!(failure.contains(&format!("<pre id=\"resume\">{RESUME}</pre>")));
    assert!(failure.contains("error: dns-shift shift exited 6"));
    // The failing call is marked and carries its exit code.
    assert!(
        html.contains("<tr class=\"call fail\"><td><span class=\"mono\" title=\"dns-cutover.02.dns-shift-shift.json\">dns-shift shift</span>")
    );
    assert!(html.contains("exit 6, reverted"));
    // Weights over time: the read, the step to 90/10, the revert to 100/0.
    let dns = &html[html.find("id=\"dns\"").expect("report test fixture")
        ..html.find("id=\"latency\"").expect("report test fixture")];
    assert!(dns.contains("route53:Z1/www.example.test./CNAME"));
    assert_eq!(dns.matches("<tr class=\"weights\">").count(), 3, "{dns}");
    assert!(dns.contains("<td class=\"num\">90</td><td class=\"num\">10</td>"));
    // Latency against thresholds, gate values.
    assert!(html.contains("<td class=\"num\">1.25</td>"), "p95");
    assert!(html.contains("p95&lt;=2000ms"));
    assert!(html.contains("db-cpu-critical") && html.contains("35%") && html.contains("&gt; 90%"));
    assert!(html.contains("before step 2"), "the shift's gate checks");
}

/// Operator input (a `--reason`, a gate command's output) is shown, never run.
#[test]
fn journal_and_transcript_values_are_escaped() {
    let tmp = tempfile::tempdir().expect("report test fixture");
    let (dir, out) = report_failed_run(&tmp);
    assert_eq!(out.status.code(), Some(0));
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report test fixture");
    let shown = "&lt;script&gt;console.error(&#39;xss ran&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;";
    assert!(
        html.contains(&format!("reason: {shown}")),
        "the journal's reason, escaped"
    );
    assert!(
        html.matches(shown).count() >= 3,
        "reason x2, gate detail, transcript line"
    );
    assert!(!html.contains("<script>console.error"));
    assert!(!html.contains("<img"));
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own self-check"
    );
    // The page allows its own script by hash and fetches nothing.
    assert!(
        html.contains(
            "content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-"
        )
    );
    assert!(!html.contains("http://") || !html.contains("src=\"http"));
    assert!(!html.contains("<link"));
}

#[test]
fn succeeded_run_has_no_failure_section() {
    let tmp = tempfile::tempdir().expect("report test fixture");
    let (dir, journal) = failed_run(tmp.path());
    // The resumed run: dns-cutover and validate passed.
    let mut t = std::fs::read_to_string(dir.join("transcript.log")).expect("report test fixture");
    t.push_str(&format!(
        "03:20:00 deploy: env staging, run {RUN}, steps dns-cutover validate; run folder x\n\
         03:20:00 == dns-cutover (env staging)\n03:20:05 == validate (env staging)\n03:20:07 deploy finished: 2 step(s); run folder x\n"
    ));
    std::fs::write(dir.join("transcript.log"), t).expect("report test fixture");
    std::fs::write(
        dir.join("timeline.tsv"),
        "preflight\t2500\t0\ndns-cutover\t3200\t6\ndns-cutover\t5000\t0\nvalidate\t2000\t0\n",
    )
    .expect("report test fixture");
    let out_file = tmp.path().join("elsewhere.html");
    let out = report(
        tmp.path(),
        &journal,
        &[
            "--run-dir",
            dir.to_str().expect("report test fixture"),
            "--out",
            out_file.to_str().expect("report test fixture"),
        ],
    );
    let v = testkit::exit_json(&out, 0);
    assert_eq!(v["status"], json!("succeeded"), "{v}");
    assert_eq!(v["failed_step"], Value::Null);
    assert_eq!(v["steps"], json!(4), "each attempt of a step is a row");
    let html = std::fs::read_to_string(&out_file).expect("report test fixture");
    assert!(!html.contains("id=\"failure\""));
    assert!(html.contains("data-status=\"succeeded\""));
    // The resumed dns-cutover started at its own stamp, not after the first attempt.
    assert!(html.contains("<tr class=\"step ok\" data-step=\"dns-cutover\"><td>dns-cutover</td><td class=\"mono\">03:20:00.000</td>"));
}

#[test]
fn bad_input_exits_2() {
    let tmp = tempfile::tempdir().expect("report test fixture");
    let journal = tmp.path().join("j.jsonl");
    let missing = tmp.path().join("nope");
    let out = report(
        tmp.path(),
        &journal,
        &["--run-dir", missing.to_str().expect("report test fixture")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run folder"));
    let mut c = Command::new(BIN);
    for (k, v) in testkit::offline_env() {
        c.env(k, v);
    }
    let out = c
        .env("LTC_JOURNAL", &journal)
        .args([
            "report",
            "--run",
            "../etc",
            "--run-dir",
            tmp.path().to_str().expect("report test fixture"),
        ])
        .output()
        .expect("report test fixture");
    assert_eq!(out.status.code(), Some(2));
}
