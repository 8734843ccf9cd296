//! `ecs-revert policy` proven against an emulator that enforces IAM: the
//! command succeeds as a user holding only the printed policy, and with any one
//! action removed it fails (exit 3, the action named) and changes nothing.

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{Case, EnforcingGuard, check_denials, run_case, state_env};

/// The service `api` on api:2 of api:1..2, auto scaling min 1 max 4.
fn seed(emu: &EnforcingGuard) {
    emu.seed_ecs(2, 2, "1");
}

/// As seeded: the service on api:2, no lock, auto scaling not suspended.
fn untouched(emu: &EnforcingGuard) -> Result<(), String> {
    emu.revert_untouched("api:2")
}

fn args(extra: &[&str]) -> Vec<String> {
    let revert =
        testkit::words("revert --cluster ltc-prod --service api --env staging --timeout 1m");
    revert
        .into_iter()
        .chain(extra.iter().copied())
        .map(str::to_owned)
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
                emu.task_definition().ends_with("api:1"),
                "{}",
                emu.task_definition()
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
        args: testkit::iam::args(&testkit::words(
            "scaling suspend --cluster ltc-prod --service api --env staging",
        )),
        env: state_env(),
        seed: &seed,
        done: &|emu| {
            assert_eq!(emu.scaling_suspended()["DynamicScalingInSuspended"], true);
            assert!(!emu.lock_left("staging"));
        },
        untouched: &untouched,
    };
    let outcome = run_case(&case);
    eprintln!("ecs-revert scaling suspend:\n{}", outcome.table());
    check_denials(&outcome, &["s3:DeleteObject", "s3:GetObject"]);
}
