//! `ecs-revert policy` for `scale`, `scaling record` and `scaling restore`,
//! proven against an emulator that enforces IAM: the command succeeds as a
//! user holding only the printed policy, and with any one action removed it
//! fails (exit 3, the action named) and changes nothing, except for the
//! actions asserted by name as not needed on the path tested (with reasons).
//! Also the reads (`status`, `history`, `wait`, `scaling show`) and
//! `scaling resume`. The lock that cannot be released (minus
//! `s3:DeleteObject`) is iam_lock.rs.

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{Case, EnforcingGuard, args, check_denials, run_case, state_env};
use testkit::words;

const RECORD: &str = "team/staging/runs/r1/scaling-ltc-prod.json";

fn seed(emu: &EnforcingGuard) {
    seed_desired(emu, "2");
}

/// The service `api` (task definition api:1) at `desired` tasks, auto
/// scaling min 1 max 4 (testkit::iam_ecs).
fn seed_desired(emu: &EnforcingGuard, desired: &str) {
    emu.seed_ecs(1, 1, desired);
}

fn min_capacity(emu: &EnforcingGuard) -> i64 {
    emu.scalable_target_field("MinCapacity")
        .as_i64()
        .unwrap_or(-1)
}

#[test]
fn scale_runs_on_its_printed_policy_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("ecs-revert"),
        args: args(&words(
            "scale --cluster ltc-prod --service api --desired 1 --env staging --timeout 1m",
        )),
        env: state_env(),
        seed: &seed,
        done: &|emu| {
            assert_eq!(emu.desired_count(), 1);
            assert!(!emu.lock_left("staging"));
        },
        untouched: &|emu| {
            if emu.desired_count() != 2 {
                return Err(format!("desired count now {}", emu.desired_count()));
            }
            if emu.lock_left("staging") {
                return Err("run lock left behind".into());
            }
            Ok(())
        },
    };
    let outcome = run_case(&case);
    eprintln!("ecs-revert scale:\n{}", outcome.table());
    // DescribeScalableTargets: reading the auto scaling limits is best effort
    // (a denial is a warning; the count is set). GetObject: the lock is read
    // only when someone holds it. DeleteObject: a lock that cannot be released
    // is a warning naming `run-state lock break` (the count is set).
    check_denials(
        &outcome,
        &[
            "application-autoscaling:DescribeScalableTargets",
            "s3:DeleteObject",
            "s3:GetObject",
        ],
    );
}

#[test]
fn scaling_record_runs_on_its_printed_policy_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("ecs-revert"),
        args: args(&words(
            "scaling record --cluster ltc-prod --service api --run r1 --env staging",
        )),
        env: state_env(),
        seed: &seed,
        done: &|emu| {
            assert!(
                emu.state_keys().contains(&RECORD.to_owned()),
                "{:?}",
                emu.state_keys()
            );
        },
        untouched: &|emu| {
            let k = emu.state_keys();
            if k.iter().any(|k| k.contains("/runs/")) || emu.lock_left("staging") {
                Err(format!("written anyway: {k:?}"))
            } else {
                Ok(())
            }
        },
    };
    let outcome = run_case(&case);
    eprintln!("ecs-revert scaling record:\n{}", outcome.table());
    // ListBucket: on AWS, reading a record that does not exist yet (records
    // are never overwritten) answers 403 instead of 404 without it; moto
    // answers 404 either way.
    check_denials(&outcome, &["s3:ListBucket"]);
}

/// The world of `scaling restore`: a record taken at min 1, then min raised to 2.
fn seed_recorded(emu: &EnforcingGuard) {
    seed(emu);
    emu.run_open(
        &cargo_bin("ecs-revert"),
        &[
            "scaling",
            "record",
            "--cluster",
            "ltc-prod",
            "--service",
            "api",
            "--run",
            "r1",
            "--env",
            "staging",
        ],
        &state_env(),
    );
    emu.scalable_target("2");
}

#[test]
fn scaling_restore_runs_on_its_printed_policy_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("ecs-revert"),
        args: args(&words(
            "scaling restore --cluster ltc-prod --service api --run r1 --env staging",
        )),
        env: state_env(),
        seed: &seed_recorded,
        done: &|emu| {
            assert_eq!(min_capacity(emu), 1);
            assert!(!emu.lock_left("staging"));
        },
        untouched: &|emu| {
            if min_capacity(emu) != 2 {
                return Err(format!("min capacity now {}", min_capacity(emu)));
            }
            if emu.lock_left("staging") {
                return Err("run lock left behind".into());
            }
            Ok(())
        },
    };
    let outcome = run_case(&case);
    eprintln!("ecs-revert scaling restore:\n{}", outcome.table());
    // DeleteObject: the lock that cannot be released is a warning (the limits
    // are put back). ListBucket: on AWS a missing record is a clear 404 with
    // it, a 403 without; moto answers 404 either way.
    check_denials(&outcome, &["s3:DeleteObject", "s3:ListBucket"]);
}

fn suspended_in(emu: &EnforcingGuard) -> bool {
    let v = emu.aws(&[
        "application-autoscaling",
        "describe-scalable-targets",
        "--service-namespace",
        "ecs",
    ]);
    v["ScalableTargets"][0]["SuspendedState"]["DynamicScalingInSuspended"] == true
}

#[test]
fn scaling_resume_runs_on_its_printed_policy_and_every_action_is_needed() {
    let target = [
        "--cluster",
        "ltc-prod",
        "--service",
        "api",
        "--env",
        "staging",
    ];
    let case = Case {
        binary: cargo_bin("ecs-revert"),
        args: args(&[&["scaling", "resume"][..], &target].concat()),
        env: state_env(),
        seed: &|emu| {
            seed(emu);
            let suspend = [&["scaling", "suspend"][..], &target].concat();
            emu.run_open(&cargo_bin("ecs-revert"), &suspend, &state_env());
        },
        done: &|emu| {
            assert!(!suspended_in(emu));
            assert!(!emu.lock_left("staging"));
        },
        untouched: &|emu| {
            if !suspended_in(emu) {
                return Err("scaling resumed".into());
            }
            if emu.lock_left("staging") {
                return Err("run lock left behind".into());
            }
            Ok(())
        },
    };
    let outcome = run_case(&case);
    eprintln!("ecs-revert scaling resume:\n{}", outcome.table());
    check_denials(&outcome, &["s3:DeleteObject", "s3:GetObject"]);
}

/// The read-only commands: each succeeds on its printed policy and fails,
/// exit 3 naming the action, without any one of its actions.
#[test]
fn reads_run_on_their_printed_policies_and_every_action_is_needed() {
    let target = ["--cluster", "ltc-prod", "--service", "api"];
    let cases: [(&[&str], &[&str]); 4] = [
        (&["status"], &[]),
        // GetObject: the seeded shared journal has no entry to read (the
        // listing, ListBucket, is needed and denied alone).
        (&["history"], &["s3:GetObject"]),
        (&["wait", "--timeout", "1m"], &[]),
        (&["scaling", "show"], &[]),
    ];
    for (sub, not_needed) in cases {
        let case = Case {
            binary: cargo_bin("ecs-revert"),
            args: args(&[sub, &target[..], &["--env", "staging"]].concat()),
            env: state_env(),
            seed: &|emu| seed_desired(emu, "1"),
            done: &|_| {},
            untouched: &|emu| {
                if emu.desired_count() != 1 || emu.lock_left("staging") {
                    Err("changed by a read".into())
                } else {
                    Ok(())
                }
            },
        };
        let outcome = run_case(&case);
        eprintln!("ecs-revert {sub:?}:\n{}", outcome.table());
        check_denials(&outcome, not_needed);
    }
}
