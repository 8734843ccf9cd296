//! `ecs-revert policy` proven against an emulator that enforces IAM: the
//! command succeeds as a user holding only the printed policy, and with any one
//! action removed it fails (exit 3, the action named) and changes nothing.

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{Case, EnforcingGuard, check_denials, run_case, state_env};

/// The service `api` on api:2 of api:1..2, auto scaling min 1 max 4.
fn seed(emu: &EnforcingGuard) {
    emu.state_bucket();
    emu.ecs_service(2, 2, "1");
    emu.scalable_target("1");
}

fn task_definition(emu: &EnforcingGuard) -> String {
    emu.service_field("taskDefinition")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn suspended(emu: &EnforcingGuard) -> serde_json::Value {
    emu.scaling_suspended()
}

fn untouched(emu: &EnforcingGuard) -> Result<(), String> {
    let td = task_definition(emu);
    if !td.ends_with("api:2") {
        return Err(format!("service moved to {td}"));
    }
    if emu.lock_left("staging") {
        return Err("run lock left behind".into());
    }
    let s = suspended(emu);
    if s["DynamicScalingInSuspended"] == true {
        return Err(format!("scaling left suspended: {s}"));
    }
    Ok(())
}

fn args(extra: &[&str]) -> Vec<String> {
    [
        "revert",
        "--cluster",
        "ltc-prod",
        "--service",
        "api",
        "--env",
        "staging",
        "--timeout",
        "1m",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn revert_with_to_runs_on_its_printed_policy_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("ecs-revert"),
        args: args(&["--to", "1"]),
        env: state_env(),
        seed: &seed,
        done: &|emu| {
            assert!(
                task_definition(emu).ends_with("api:1"),
                "{}",
                task_definition(emu)
            );
            assert!(
                !emu.lock_left("staging"),
                "lock left after a successful revert"
            );
        },
        untouched: &untouched,
    };
    let outcome = run_case(&case);
    eprintln!("ecs-revert revert --to 1:\n{}", outcome.table());
    // Not needed on this path, each for a documented reason: the lock is read
    // only when someone holds it; suspending auto scaling is best effort (a
    // denial is a warning); releasing the lock is retried by its lease expiry
    // (a denial is a warning and leaves the lock until the lease runs out).
    check_denials(
        &outcome,
        &[
            "application-autoscaling:DescribeScalableTargets",
            "application-autoscaling:RegisterScalableTarget",
            "s3:DeleteObject",
            "s3:GetObject",
        ],
    );
}

#[test]
fn scaling_suspend_runs_on_its_printed_policy_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("ecs-revert"),
        args: [
            "scaling",
            "suspend",
            "--cluster",
            "ltc-prod",
            "--service",
            "api",
            "--env",
            "staging",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        env: state_env(),
        seed: &seed,
        done: &|emu| {
            assert_eq!(suspended(emu)["DynamicScalingInSuspended"], true);
            assert!(!emu.lock_left("staging"));
        },
        untouched: &untouched,
    };
    let outcome = run_case(&case);
    eprintln!("ecs-revert scaling suspend:\n{}", outcome.table());
    check_denials(&outcome, &["s3:DeleteObject", "s3:GetObject"]);
}
