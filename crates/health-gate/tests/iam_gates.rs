//! `health-gate policy check|watch --gates FILE` proven against an emulator
//! that enforces IAM, for the gate sources it can check (ECS and Application
//! Auto Scaling): the check passes as a user holding only the printed policy,
//! and with any one action removed it fails (exit 3, the action named),
//! except for the actions asserted by name as not needed (with reasons).
//! CloudWatch gates (metric, alarm) are not tested here: moto checks
//! CloudWatch under the prefix `monitoring:`, not `cloudwatch:`
//! (docs/notes/policy.md).

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{Case, EnforcingGuard, args, check_denials_with, run_case};

const GATES: &str = r#"
[[gate]]
name = "api-tasks"
severity = "critical"
source = "ecs"
cluster = "ltc-prod"
services = ["api"]
threshold = 50
comparison = ">"

[[gate]]
name = "scaling"
severity = "warning"
source = "autoscaling"
resources = ["service/ltc-prod/api"]
window = "30m"
"#;

/// Service `api` at one task (moto runs one), auto scaling registered.
fn seed(emu: &EnforcingGuard) {
    emu.ecs_service(1, 1, "1");
    emu.scalable_target("1");
}

#[test]
fn check_and_watch_run_on_their_printed_policies_and_every_action_is_needed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gates = dir.path().join("gates.toml");
    std::fs::write(&gates, GATES).expect("gates file");
    let gates = gates.display().to_string();
    let cases: [&[&str]; 2] = [
        &["check", "--gates", &gates],
        &[
            "watch",
            "--gates",
            &gates,
            "--for",
            "1s",
            "--interval",
            "1s",
            // One failed evaluation is a breach: a denied read fails the
            // first one (the default, 3 in a row, needs 3 intervals).
            "--failure-limit",
            "1",
        ],
    ];
    for sub in cases {
        let case = Case {
            binary: cargo_bin("health-gate"),
            args: args(sub),
            env: vec![],
            seed: &seed,
            done: &|_| {},
            untouched: &|_| Ok(()),
        };
        let outcome = run_case(&case);
        eprintln!("health-gate {}:\n{}", sub[0], outcome.table());
        // DescribeScalingActivities: the scaling gate is a warning; unread,
        // it is reported inconclusive naming the action and fails the check
        // only with --strict. DescribeTasks: moto reports a running count but
        // lists no tasks, so there is no task health to describe.
        // The ECS reads of the critical gate: denied, the gate has no data,
        // which fails the check (exit 4, the gate's reason naming the action).
        check_denials_with(
            &outcome,
            &[
                "application-autoscaling:DescribeScalingActivities",
                "ecs:DescribeTasks",
            ],
            |action| if action.starts_with("ecs:") { 4 } else { 3 },
        );
    }
}
