//! A run lock that cannot be released (the printed policy of `ecs-revert
//! scale` minus `s3:DeleteObject`, on an emulator that enforces IAM): the
//! change is made, exit 0, and one warning line names the lock, its expiry and
//! `run-state lock break`.

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{EnforcingGuard, args, emulator_view, state_env, without_action};
use testkit::words;

fn seed(emu: &EnforcingGuard) {
    emu.seed_ecs(1, 1, "2");
}

/// Without `s3:DeleteObject` the change is made and the lock stays: exit 0 (a
/// completed change is not reported as failed) and one warning line naming
/// the lock and the command that frees it.
#[test]
fn a_lock_that_cannot_be_released_is_one_warning_naming_lock_break() {
    let scale = args(&words(
        "scale --cluster ltc-prod --service api --desired 1 --env staging --timeout 1m",
    ));
    let emu = testkit::Emulator::enforcing();
    let bin = cargo_bin("ecs-revert");
    let policy = emulator_view(&emu.printed(&bin, &scale, &state_env()));
    seed(&emu);
    let keys = emu.create_user("no-delete", &without_action(&policy, "s3:DeleteObject"));
    let out = emu.run_as(&keys, &bin, &scale, &state_env());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(emu.desired_count(), 1, "the change is made");
    assert!(emu.lock_left("staging"), "the lock stays until it expires");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("run lock")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    let w = warnings[0];
    for part in [
        "warning: the run lock s3://ltc-state/team/staging/lock.json was not released",
        "s3:DeleteObject",
        "expires at",
        "run-state lock break --env staging --reason TEXT",
    ] {
        assert!(w.contains(part), "{part:?} not in: {w}");
    }
}
