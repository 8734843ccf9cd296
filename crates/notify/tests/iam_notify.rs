//! `notify policy send` against an emulator that enforces IAM (moto 5.2.5).
//!
//! What cannot be tested there: `notify send --sns-topic` end to end. moto
//! checks SigV4 over its own re-encoding of the parsed form body, where a
//! space becomes `+`; the Rust SDK sends `%20` (both valid form encodings,
//! AWS accepts either), so any Publish whose subject or message holds a
//! space is refused with `SignatureDoesNotMatch`, whatever the policy. The
//! toolkit's subject (`[ENV] deploy start`) and message (the summary JSON,
//! its headline) always hold spaces (docs/notes/emulator.md, 2026-12-03).
//!
//! What is tested instead, under enforcement:
//! - the printed SNS grant is what Publish needs: with it the AWS CLI (which
//!   encodes a space as moto does) publishes a subject and message of the
//!   toolkit's shape, and the same Rust SDK notify uses publishes a message
//!   without spaces; without `sns:Publish` both are refused naming it;
//! - the defect itself, pinned: the same SDK call with one space, and
//!   `notify send` as the user with the printed policy, get
//!   `SignatureDoesNotMatch` (when moto is fixed this fails: then run the
//!   full matrix on the SNS command);
//! - the state tree's grants, with a webhook as the destination (no IAM):
//!   the send succeeds on its printed policy, and with any one action
//!   removed it still delivers (exit 0: the journal is best effort by
//!   design, a notification is never held up). Without s3:PutObject it warns
//!   naming the action and journals nothing; without s3:ListBucket or
//!   s3:GetObject the notification itself says "journal not read", naming
//!   the action (not on stderr).

use std::process::Command;
use std::sync::Mutex;

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{
    Case, EnforcingGuard, Keys, args, emulator_view, run_case, state_env, without_action,
};
use testkit::{Emulator, words, workspace_root};

mod support;

use support::hook::{Hook, Mode, hook};

const TOPIC: &str = "arn:aws:sns:ap-northeast-1:123456789012:ltc-releases";

fn seed(emu: &EnforcingGuard) {
    emu.state_bucket();
    emu.boto(&[serde_json::json!(["sns", "create_topic", {"Name": "ltc-releases"}])]);
}

/// Entries of the shared journal (a delivery is journaled there).
fn journal_keys(emu: &EnforcingGuard) -> Vec<String> {
    emu.state_keys()
        .into_iter()
        .filter(|k| k.contains("/journal/"))
        .collect()
}

/// The send every case runs; the destination is added.
const SEND: &str = "send --event deploy-start --env staging --run r1";

fn sns_args() -> Vec<String> {
    args(&words(&format!("{SEND} --sns-topic {TOPIC}")))
}

/// `aws sns publish` as `keys`, enforcement on for the call only.
fn cli_publish(emu: &EnforcingGuard, keys: &Keys, subject: &str, message: &str) -> (bool, String) {
    let mut cmd = Command::new(workspace_root().join(".venv/bin/aws"));
    emu.configure_as(&mut cmd, keys);
    cmd.args([
        "sns",
        "publish",
        "--topic-arn",
        TOPIC,
        "--subject",
        subject,
        "--message",
        message,
    ]);
    emu.enforce();
    let out = cmd.output();
    emu.open();
    let out = out.expect("run .venv/bin/aws");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Publish with aws-sdk-sns (notify's own client) as `keys`: Ok or the error.
fn sdk_publish(
    emu: &EnforcingGuard,
    keys: &Keys,
    subject: &str,
    message: &str,
) -> Result<(), String> {
    use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("ap-northeast-1"))
        .endpoint_url(emu.endpoint())
        .credentials_provider(Credentials::new(
            &keys.access_key_id,
            &keys.secret_access_key,
            None,
            None,
            "test",
        ))
        .build();
    let client = aws_sdk_sns::Client::from_conf(conf);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    emu.enforce();
    let r = rt.block_on(
        client
            .publish()
            .topic_arn(TOPIC)
            .subject(subject)
            .message(message)
            .send(),
    );
    emu.open();
    r.map(|_| ())
        .map_err(|e| aws_sdk_sns::error::DisplayErrorContext(&e).to_string())
}

#[test]
fn the_printed_sns_grant_is_what_publish_needs_and_moto_refuses_a_space() {
    let emu = Emulator::enforcing();
    seed(&emu);
    let notify = cargo_bin("notify");
    let printed = emu.printed(&notify, &sns_args(), &state_env());
    let policy = emulator_view(&printed);
    assert!(printed.to_string().contains(TOPIC), "{printed}");
    let keys = emu.create_users(&[
        ("full".to_owned(), policy.clone()),
        ("nopub".to_owned(), without_action(&policy, "sns:Publish")),
    ]);
    let (full, nopub) = (&keys[0], &keys[1]);
    let subject = "[staging] deploy start";
    let message = r#"{"event":"deploy-start","headline":"Deploy started","env":"staging"}"#;

    // The AWS CLI encodes a space as moto re-encodes it: the grant is checked.
    let (ok, err) = cli_publish(&emu, full, subject, message);
    assert!(ok, "CLI publish with the printed policy: {err}");
    let (ok, err) = cli_publish(&emu, nopub, subject, message);
    assert!(
        !ok && err.contains("sns:Publish"),
        "without sns:Publish: {err}"
    );

    // notify's SDK: a message without spaces passes the signature check and
    // the grant; without sns:Publish it is refused naming the action.
    let plain = r#"{"event":"deploy-start","env":"staging"}"#;
    sdk_publish(&emu, full, "[staging]deploy-start", plain).expect("SDK publish, no space");
    let denied = sdk_publish(&emu, nopub, "[staging]deploy-start", plain)
        .expect_err("SDK publish without sns:Publish");
    assert!(denied.contains("sns:Publish"), "{denied}");

    // The defect, pinned: one space, and the signature check fails.
    let bad = sdk_publish(&emu, full, subject, plain).expect_err("moto refuses a space");
    assert!(bad.contains("SignatureDoesNotMatch"), "{bad}");
    let run = emu.run_as(full, &notify, &sns_args(), &state_env());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("SignatureDoesNotMatch"), "{stderr}");
}

#[test]
fn webhook_send_runs_on_its_printed_policy_and_each_state_action_is_reported() {
    let Hook { url, seen } = hook(Mode::Ok);
    let mut env = state_env();
    env.push(("LTC_TEST_HOOK".into(), url));
    let notify = cargo_bin("notify");
    let send = args(&words(&format!("{SEND} --webhook-url-env LTC_TEST_HOOK")));
    let send_ref: Vec<&str> = send.iter().map(String::as_str).collect();
    // The world: one earlier notification of run r1 journaled, so this send
    // lists the journal and reads that run's entries.
    let seeded = Mutex::new(0usize);
    let seed = |emu: &EnforcingGuard| {
        emu.state_bucket();
        emu.run_open(&notify, &send_ref, &env);
        *seeded.lock().expect("seeded") = journal_keys(emu).len();
    };
    let case = Case {
        binary: notify.clone(),
        args: send.clone(),
        env: env.clone(),
        seed: &seed,
        done: &|emu| {
            assert!(
                journal_keys(emu).len() > *seeded.lock().expect("seeded"),
                "delivery journaled"
            );
        },
        untouched: &|emu| {
            let j = journal_keys(emu);
            if j.len() == *seeded.lock().expect("seeded") {
                Ok(())
            } else {
                Err(format!("journaled: {j:?}"))
            }
        },
    };
    let outcome = run_case(&case);
    eprintln!("notify send --webhook-url-env:\n{}", outcome.table());
    let actions: Vec<&str> = outcome.denials.iter().map(|d| d.action.as_str()).collect();
    assert_eq!(
        actions,
        ["s3:GetObject", "s3:ListBucket", "s3:PutObject"],
        "{}",
        outcome.table()
    );
    // Every run delivered (exit 0): the journal never holds a notification up.
    for d in &outcome.denials {
        assert_eq!(d.code, Some(0), "{}", outcome.table());
    }
    // Writing the journal: one warning naming the action, nothing journaled.
    let put = &outcome.denials[2];
    assert!(
        put.names_action && put.line.starts_with("warning:") && put.untouched.is_ok(),
        "{}",
        outcome.table()
    );
    // Reading it (listing, then the run's entries): the notification itself
    // says the journal was not read, naming the action, once for each.
    let bodies: Vec<String> = seen
        .lock()
        .expect("bodies")
        .iter()
        .map(|(_, body)| body.clone())
        .collect();
    let noted = |action: &str| {
        bodies
            .iter()
            .filter(|b| b.contains("journal not read") && b.contains(action))
            .count()
    };
    assert_eq!(noted("s3:GetObject"), 1, "{bodies:#?}");
    assert_eq!(noted("s3:ListBucket"), 1, "{bodies:#?}");
    let all_noted = bodies
        .iter()
        .filter(|b| b.contains("journal not read"))
        .count();
    assert_eq!(all_noted, 2, "{bodies:#?}");
}
