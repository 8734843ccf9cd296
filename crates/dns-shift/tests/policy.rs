//! `dns-shift policy` for every subcommand, checked without an emulator.
//!
//! Route 53 cannot be tested under IAM enforcement on moto 5.2.5 (measured
//! 2026-12-02 with the AWS CLI, docs/notes/policy.md): ListResourceRecordSets
//! and ListHostedZonesByName fail with an empty error code even for a user
//! allowed `route53:*`, and every dns-shift command reads the record first.
//! (ChangeResourceRecordSets itself is enforced: allowed with `route53:*`,
//! denied without.) What can be tested is the printed document: for each
//! subcommand, the exact actions, the writes scoped to the zone, and that a
//! dry run or a read prints no write and no lock.

use std::process::Command;

use serde_json::Value;
use testkit::iam::actions;

const ZONE: &str = "Z0123456789ABCDEFGHIJ";
const ZONE_ARN: &str = "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ";

fn printed(a: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_dns-shift"))
        .envs(testkit::offline_env())
        .env("LTC_STATE", "s3://ltc-state/team")
        .env_remove("LTC_ACCOUNT_ID")
        .arg("policy")
        .args(a)
        .args(["--output", "json"])
        .output()
        .expect("run dns-shift policy");
    assert!(out.status.success(), "{}", testkit::stderr(&out));
    testkit::json_stdout(&out)
}

fn record(sub: &[&str], extra: &[&str]) -> Vec<String> {
    [
        sub,
        &[
            "--zone",
            ZONE,
            "--record",
            "www.example.test",
            "--env",
            "staging",
        ][..],
        extra,
    ]
    .concat()
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// The resources of the statement that grants `action`.
fn resources(doc: &Value, action: &str) -> Vec<String> {
    doc["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| {
            s["Action"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == action))
        })
        .flat_map(|s| s["Resource"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect()
}

const WRITE: [&str; 2] = ["route53:ChangeResourceRecordSets", "route53:GetChange"];
/// The state tree of a change: the lock (create, read on conflict, delete)
/// and the journal entries it writes.
const CHANGE_STATE: [&str; 3] = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"];
/// What undo and maintenance off add: listing the journal to find the
/// weights to go back to.
const READ_JOURNAL: [&str; 2] = ["s3:GetObject", "s3:ListBucket"];

fn sorted(parts: &[&[&str]]) -> Vec<String> {
    let mut v: Vec<String> = parts.concat().iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn every_subcommand_prints_exactly_the_actions_it_calls() {
    let list = ["route53:ListResourceRecordSets"];
    let health = ["route53:GetHealthCheckStatus"];
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (record(&["show"], &[]), sorted(&[&list, &health])),
        (
            record(&["set"], &["--weight", "blue=0", "--weight", "green=100"]),
            sorted(&[&list, &WRITE, &CHANGE_STATE]),
        ),
        (
            record(&["shift"], &["--to", "green"]),
            sorted(&[&list, &WRITE, &CHANGE_STATE]),
        ),
        (
            record(&["shift"], &["--to", "green", "--alarm", "api-5xx"]),
            sorted(&[&list, &WRITE, &CHANGE_STATE, &["cloudwatch:DescribeAlarms"]]),
        ),
        (
            record(&["shift"], &["--to", "green", "--dry-run"]),
            sorted(&[&list]),
        ),
        (
            record(&["maintenance", "on"], &[]),
            sorted(&[&list, &WRITE, &CHANGE_STATE]),
        ),
        (
            record(&["maintenance", "off"], &[]),
            sorted(&[&list, &WRITE, &CHANGE_STATE, &READ_JOURNAL]),
        ),
        (
            record(&["undo"], &[]),
            sorted(&[&list, &WRITE, &CHANGE_STATE, &READ_JOURNAL]),
        ),
        (
            record(&["undo"], &["--dry-run"]),
            sorted(&[&list, &READ_JOURNAL]),
        ),
        (
            ["alarms", "--alarm", "api-5xx"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            sorted(&[&["cloudwatch:DescribeAlarms"]]),
        ),
    ];
    for (args, want) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let doc = printed(&a);
        assert_eq!(actions(&doc), want, "{args:?}: {doc:#}");
        if want.iter().any(|w| w == "route53:ChangeResourceRecordSets") {
            assert_eq!(
                resources(&doc, "route53:ChangeResourceRecordSets"),
                [ZONE_ARN],
                "{args:?}: writes only to the zone"
            );
        }
        if want.iter().any(|w| w == "route53:ListResourceRecordSets") {
            assert_eq!(
                resources(&doc, "route53:ListResourceRecordSets"),
                [ZONE_ARN],
                "{args:?}"
            );
        }
    }
}
