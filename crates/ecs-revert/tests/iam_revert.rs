//! `ecs-revert policy revert` without `--to` (the default target: the
//! revision deployed before), proven against an emulator that enforces IAM:
//! the command succeeds as a user holding only the printed policy, and with
//! any one action removed it fails (exit 3, the action named) and changes
//! nothing, except for the actions asserted by name as not needed on the
//! path tested (each with its reason). Two paths choose the target: the
//! journal (this toolkit made the last move) and "revision-1" (no move
//! journaled: the newest ACTIVE revision below the current one).

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{Case, EnforcingGuard, args, check_denials, run_case, state_env};
use testkit::words;

/// The service `api` on `api:<on>` of revisions api:1..3, auto scaling
/// min 1 max 4, desired count 1 (moto runs one task per service).
fn seed_on(emu: &EnforcingGuard, on: u32) {
    emu.seed_ecs(3, on, "1");
}

/// On api:1, then moved to api:3 by the toolkit itself: the shared journal
/// says api:1 was deployed before (revision-1 would say api:2).
fn seed_journaled(emu: &EnforcingGuard) {
    seed_on(emu, 1);
    emu.run_open(
        &cargo_bin("ecs-revert"),
        &words("revert --cluster ltc-prod --service api --to 3 --env staging --timeout 1m"),
        &state_env(),
    );
}

/// As seeded: the service on api:3, no lock, auto scaling not suspended.
fn untouched(emu: &EnforcingGuard) -> Result<(), String> {
    emu.revert_untouched("api:3")
}

fn revert_args() -> Vec<String> {
    args(&words(
        "revert --cluster ltc-prod --service api --env staging --timeout 1m",
    ))
}

fn done_on(emu: &EnforcingGuard, want: &str) {
    let td = emu.task_definition();
    assert!(td.ends_with(want), "service on {td}, wanted {want}");
    assert!(
        !emu.lock_left("staging"),
        "lock left after a successful revert"
    );
}

#[test]
fn revert_to_the_journaled_revision_runs_on_its_printed_policy() {
    let case = Case {
        binary: cargo_bin("ecs-revert"),
        args: revert_args(),
        env: state_env(),
        seed: &seed_journaled,
        done: &|emu| done_on(emu, "api:1"),
        untouched: &untouched,
    };
    let outcome = run_case(&case);
    eprintln!("ecs-revert revert (journal):\n{}", outcome.table());
    // Not needed on this path, each for a documented reason: suspending auto
    // scaling is best effort (a denial is a warning, the revert goes on); the
    // journal names the target, so the family's revisions are not listed
    // (ListTaskDefinitions is needed on the revision-1 path, below); a lock
    // that cannot be released is one warning naming `run-state lock break`.
    // s3:GetObject is needed here: the journaled move is read.
    check_denials(
        &outcome,
        &[
            "application-autoscaling:DescribeScalableTargets",
            "application-autoscaling:RegisterScalableTarget",
            "ecs:ListTaskDefinitions",
            "s3:DeleteObject",
        ],
    );
}

#[test]
fn revert_to_revision_minus_one_runs_on_its_printed_policy() {
    let case = Case {
        binary: cargo_bin("ecs-revert"),
        args: revert_args(),
        env: state_env(),
        seed: &|emu| seed_on(emu, 3),
        done: &|emu| done_on(emu, "api:2"),
        untouched: &untouched,
    };
    let outcome = run_case(&case);
    eprintln!("ecs-revert revert (revision-1):\n{}", outcome.table());
    // Not needed on this path: auto scaling and the lock's release as above;
    // s3:GetObject, because the journal is empty (listing it, s3:ListBucket,
    // finds nothing to read: the journaled path above needs it) and the lock
    // is read only when someone holds it.
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
