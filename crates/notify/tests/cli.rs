//! The built `notify` binary against the emulator's SNS (a topic with an SQS
//! queue subscribed, the message read back from the queue) and real loopback
//! HTTP servers for the webhook (one answering 200, one 500, one never).

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use testkit::{Emulator, EmulatorGuard};

mod support;

use support::hook::{Mode, TOKEN, hook};

fn aws(emu: &EmulatorGuard, args: &[&str]) -> Value {
    testkit::aws_cli(emu, args)
}

/// A topic with a queue subscribed; returns (topic ARN, queue URL).
fn topic_with_queue(emu: &EmulatorGuard) -> (String, String) {
    let topic = aws(emu, &["sns", "create-topic", "--name", "ltc-releases"])["TopicArn"]
        .as_str()
        .expect("test setup")
        .to_owned();
    let queue = aws(emu, &["sqs", "create-queue", "--queue-name", "ltc-notes"])["QueueUrl"]
        .as_str()
        .expect("test setup")
        .to_owned();
    let qarn = aws(
        emu,
        &[
            "sqs",
            "get-queue-attributes",
            "--queue-url",
            &queue,
            "--attribute-names",
            "QueueArn",
        ],
    )["Attributes"]["QueueArn"]
        .as_str()
        .expect("test setup")
        .to_owned();
    aws(
        emu,
        &[
            "sns",
            "subscribe",
            "--topic-arn",
            &topic,
            "--protocol",
            "sqs",
            "--notification-endpoint",
            &qarn,
        ],
    );
    (topic, queue)
}

/// The SNS envelopes waiting in the queue.
fn received(emu: &EmulatorGuard, queue: &str) -> Vec<Value> {
    let v = aws(
        emu,
        &[
            "sqs",
            "receive-message",
            "--queue-url",
            queue,
            "--max-number-of-messages",
            "10",
            "--wait-time-seconds",
            "1",
        ],
    );
    v["Messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| serde_json::from_str(m["Body"].as_str().expect("test setup")).expect("test setup"))
        .collect()
}

/// A run folder as the runbooks leave it after a failed validate step.
fn run_dir(dir: &Path) {
    let w = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("test setup");
    w(
        "timeline.tsv",
        "preflight\t3872\t0\nbackup-database\t652\t0\ndns-cutover\t2749\t0\nvalidate\t4707\t4\n",
    );
    w(
        "validate.02.smoke-test-load.json",
        r#"{"command":"load","verdict":"fail","count":5615,"successes":5600,"failures":15,"error_rate":0.27,"requests_per_second":1861.9,
           "latency_ms":{"p50":0.558,"p95":2400.5,"p99":3100.0},
           "thresholds":[{"threshold":"p95<=2000ms","severity":"critical","source":"strategy default","actual":2400.5,"passed":false}]}"#,
    );
    w(
        "validate.06.health-gate-check.json",
        r#"{"passed":true,"pass":9,"fail":0,"inconclusive":0,"failed":[],"reason":"no critical gate failed"}"#,
    );
    w(
        "transcript.log",
        "14:00:00 error: deploy stopped at step 'validate': exit 4 (a check failed)\n14:00:00 error: resume with: LTC_RUN_ID=20261202T140000.000Z-deploy-abc123 runbooks/deploy.sh --env rehearsal --yes --from validate\n",
    );
}

const RUN: &str = "20261202T140000.000Z-deploy-abc123";

fn notify(emu: &EmulatorGuard, args: &[&str], hook_url: Option<&str>) -> std::process::Output {
    let mut cmd = Command::cargo_bin("notify").expect("test setup");
    emu.configure(&mut cmd);
    cmd.env_remove("NOTIFY_HOOK");
    if let Some(u) = hook_url {
        cmd.env("NOTIFY_HOOK", u);
    }
    cmd.env("LTC_OPERATOR", "alice");
    cmd.args(args);
    cmd.output().expect("test setup")
}

/// `notify send --event EVENT --env rehearsal --run RUN MORE...`
fn send(
    emu: &EmulatorGuard,
    event: &str,
    more: &[&str],
    hook_url: Option<&str>,
) -> std::process::Output {
    let mut args = vec!["send", "--event", event, "--env", "rehearsal", "--run", RUN];
    args.extend_from_slice(more);
    notify(emu, &args, hook_url)
}

fn no_token_anywhere(out: &std::process::Output, journal: &Path) {
    let journal = std::fs::read(journal).unwrap_or_default();
    for (what, bytes) in [
        ("stdout", &out.stdout),
        ("stderr", &out.stderr),
        ("journal", &journal),
    ] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(TOKEN),
            "the webhook token leaked into {what}: {text}"
        );
        assert!(
            !text.contains("/services/T1/B2"),
            "the webhook path leaked into {what}: {text}"
        );
    }
}

#[test]
fn both_destinations_get_the_summary() {
    let emu = Emulator::shared();
    let (topic, queue) = topic_with_queue(&emu);
    let h = hook(Mode::Ok);
    let dir = tempfile::tempdir().expect("test setup");
    run_dir(dir.path());
    let out = send(
        &emu,
        "deploy-step-failed",
        &[
            "--run-dir",
            dir.path().to_str().expect("test setup"),
            "--sns-topic",
            &topic,
            "--webhook-url-env",
            "NOTIFY_HOOK",
            "--message",
            "p95 over budget",
            "--output",
            "json",
        ],
        Some(&h.url),
    );
    let result = testkit::exit_json(&out, 0);
    assert_eq!(result["delivered"], 2, "{result:#}");
    assert_eq!(result["failed"], 0);
    assert_eq!(result["destinations"][1]["target"], "$NOTIFY_HOOK");

    // SNS: the message read back from the subscribed queue.
    let envelopes = received(&emu, &queue);
    assert_eq!(envelopes.len(), 1, "{envelopes:#?}");
    let env = &envelopes[0];
    assert_eq!(env["Type"], "Notification");
    assert_eq!(env["TopicArn"], topic);
    assert_eq!(env["Subject"], "[rehearsal] deploy step-failed at validate");
    let msg: Value =
        serde_json::from_str(env["Message"].as_str().expect("test setup")).expect("test setup");
    assert_eq!(msg["event"], "deploy-step-failed");
    assert_eq!(msg["run_id"], RUN);
    assert_eq!(msg["env"], "rehearsal");
    assert_eq!(msg["operator"], "alice");
    assert_eq!(msg["message"], "p95 over budget");
    assert_eq!(msg["steps"].as_array().expect("test setup").len(), 4);
    assert_eq!(msg["steps"][3]["outcome"], "failed");
    assert_eq!(msg["total_ms"], 3872 + 652 + 2749 + 4707);
    assert_eq!(msg["failed_step"]["name"], "validate");
    assert_eq!(msg["failed_step"]["exit_code"], 4);
    assert_eq!(
        msg["resume"],
        "LTC_RUN_ID=20261202T140000.000Z-deploy-abc123 runbooks/deploy.sh --env rehearsal --yes --from validate"
    );
    let load = &msg["figures"]["smoke"][0];
    assert_eq!(load["command"], "load");
    assert_eq!(load["p95_ms"], 2400.5);
    assert_eq!(load["thresholds"][0]["passed"], false);
    assert_eq!(msg["figures"]["health_gates"][0]["pass"], 9);

    // Webhook: Slack-compatible JSON at the URL's path.
    let seen = h.seen.lock().expect("test setup").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, format!("/services/T1/B2/{TOKEN}"));
    let body: Value = serde_json::from_str(&seen[0].1).expect("test setup");
    let text = body["text"].as_str().expect("test setup");
    assert!(
        text.contains("deploy STOPPED") && text.contains("validate") && text.contains(RUN),
        "{text}"
    );
    let blocks = body["blocks"].as_array().expect("test setup");
    assert_eq!(blocks[0]["type"], "header");
    let all = body.to_string();
    assert!(
        all.contains("p95<=2000ms BREACHED (actual 2400.5)"),
        "{all}"
    );
    assert!(all.contains("--from validate"), "{all}");

    // Journaled, under the variable's name only.
    let journal = std::fs::read_to_string(emu.journal_path()).expect("test setup");
    assert_eq!(journal.matches("\"notify.send\"").count(), 4, "{journal}");
    assert!(journal.contains("$NOTIFY_HOOK"));
    no_token_anywhere(&out, &emu.journal_path());
}

// A dead webhook (500, or no answer at all) must not hold up a rollback:
// exit 3 after one attempt, the reason naming the 1 s timeout (events, not
// wall-clock time: nothing here times the run), SNS still delivered.
#[test]
fn dead_webhooks_fail_fast_and_sns_still_delivers() {
    let emu = Emulator::shared();
    let (topic, queue) = topic_with_queue(&emu);
    for (mode, want) in [
        (Mode::Fail500, "HTTP 500: service broken"),
        (Mode::Never, "no answer within 1.0s"),
    ] {
        let h = hook(mode);
        let out = send(
            &emu,
            "rollback-start",
            &[
                "--sns-topic",
                &topic,
                "--webhook-url-env",
                "NOTIFY_HOOK",
                "--timeout",
                "1s",
                "--output",
                "json",
            ],
            Some(&h.url),
        );
        let result = testkit::exit_json(&out, 3);
        assert_eq!(result["delivered"], 1, "{result:#}");
        assert_eq!(result["destinations"][0]["kind"], "sns");
        assert_eq!(result["destinations"][0]["ok"], true);
        assert_eq!(result["destinations"][1]["ok"], false);
        assert_eq!(result["destinations"][1]["reason"], want);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{stderr}");
        // Both servers read the whole request; one answers 500, the other never.
        assert_eq!(h.seen.lock().expect("test setup").len(), 1);
        let envelopes = received(&emu, &queue);
        assert_eq!(envelopes.len(), 1);
        let msg: Value =
            serde_json::from_str(envelopes[0]["Message"].as_str().expect("test setup"))
                .expect("test setup");
        assert_eq!(msg["event"], "rollback-start");
        no_token_anywhere(&out, &emu.journal_path());
    }
}

#[test]
fn a_missing_topic_is_a_failed_destination_not_a_crash() {
    let emu = Emulator::shared();
    let h = hook(Mode::Ok);
    let out = send(
        &emu,
        "deploy-complete",
        &[
            "--sns-topic",
            "arn:aws:sns:ap-northeast-1:123456789012:no-such-topic",
            "--webhook-url-env",
            "NOTIFY_HOOK",
            "--output",
            "json",
        ],
        Some(&h.url),
    );
    assert_eq!(out.status.code(), Some(3));
    let result = testkit::json_stdout(&out);
    assert_eq!(result["destinations"][0]["ok"], false, "{result:#}");
    assert!(
        result["destinations"][0]["reason"]
            .as_str()
            .expect("test setup")
            .contains("Publish failed")
    );
    assert_eq!(result["destinations"][1]["ok"], true);
    assert_eq!(h.seen.lock().expect("test setup").len(), 1);
}

#[test]
fn dry_run_sends_nothing() {
    let emu = Emulator::shared();
    let h = hook(Mode::Ok);
    let out = send(
        &emu,
        "deploy-start",
        &[
            "--webhook-url-env",
            "NOTIFY_HOOK",
            "--dry-run",
            "--output",
            "json",
        ],
        Some(&h.url),
    );
    let result = testkit::exit_json(&out, 0);
    assert_eq!(result["dry_run"], true);
    assert_eq!(result["destinations"][0]["dry_run"], true);
    assert!(h.seen.lock().expect("test setup").is_empty());
    assert!(!emu.journal_path().exists());
}

#[test]
fn bad_input_exits_2_with_no_call() {
    let dir = tempfile::tempdir().expect("test setup");
    let topic = "arn:aws:sns:ap-northeast-1:123456789012:ltc-releases";
    let base = ["send", "--event", "deploy-start", "--run", RUN];
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (vec!["--env", "prod"], None, "nothing to send to"),
        (vec!["--sns-topic", topic], None, "--env NAME is required"),
        (
            vec![
                "--env",
                "prod",
                "--sns-topic",
                "arn:aws:sqs:ap-northeast-1:123456789012:q",
            ],
            None,
            "topic ARN",
        ),
        (
            vec!["--env", "prod", "--sns-topic", "ltc-releases"],
            None,
            "topic ARN",
        ),
        (
            vec!["--env", "prod", "--webhook-url-env", "NOTIFY_HOOK"],
            None,
            "is not set",
        ),
        (
            vec!["--env", "prod", "--webhook-url-env", "NOT A NAME"],
            None,
            "NAME of a variable",
        ),
        (
            vec!["--env", "prod", "--webhook-url-env", "NOTIFY_HOOK"],
            Some("ftp://example.invalid/T0KEN-b6f1c2d9e8a7"),
            "not an http(s) URL",
        ),
        (
            vec!["--env", "prod", "--webhook-url-env", "NOTIFY_HOOK"],
            Some("T0KEN-b6f1c2d9e8a7 no url"),
            "not a URL",
        ),
        (
            vec![
                "--env",
                "prod",
                "--sns-topic",
                topic,
                "--run-dir",
                "/nonexistent/run",
            ],
            None,
            "not a folder",
        ),
        (
            vec!["--env", "prod", "--sns-topic", topic, "--timeout", "0s"],
            None,
            "--timeout",
        ),
        (
            vec!["--env", "prod", "--sns-topic", topic, "--step", "a b"],
            None,
            "--step",
        ),
        (
            vec![
                "--env",
                "prod",
                "--sns-topic",
                topic,
                "--event",
                "deploy-maybe",
            ],
            None,
            "invalid value",
        ),
    ];
    for (extra, url, want) in cases {
        let mut cmd = Command::cargo_bin("notify").expect("test setup");
        cmd.envs(testkit::offline_env())
            .env("LTC_JOURNAL", dir.path().join("journal.jsonl"))
            .env_remove("LTC_ENV")
            .env_remove("NOTIFY_HOOK")
            .args(if extra.contains(&"--event") {
                &base[..1]
            } else {
                &base[..]
            })
            .args(if extra.contains(&"--event") {
                &base[3..]
            } else {
                &[][..]
            })
            .args(&extra);
        // The run id is given once; a case may replace the event.
        if let Some(u) = url {
            cmd.env("NOTIFY_HOOK", u);
        }
        let out = cmd.output().expect("test setup");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(
            stderr.contains(want),
            "{extra:?}: want {want:?} in {stderr}"
        );
        assert!(out.stdout.is_empty(), "{extra:?}");
        assert!(!stderr.contains(TOKEN), "{extra:?}: {stderr}");
        assert!(!dir.path().join("journal.jsonl").exists(), "{extra:?}");
    }
}
