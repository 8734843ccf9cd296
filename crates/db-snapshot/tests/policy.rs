//! `db-snapshot policy` proven against an emulator that enforces IAM: the
//! command succeeds as a user holding only the printed policy, and with any one
//! action removed it fails (exit 3, the action named) and changes nothing.

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{Case, EnforcingGuard, check_denials, run_case, state_env};

fn seed(emu: &EnforcingGuard) {
    emu.state_bucket();
    emu.rds_instance("ltc-db");
}

fn untouched(emu: &EnforcingGuard) -> Result<(), String> {
    let snaps = emu.manual_snapshots();
    if !snaps.is_empty() {
        return Err(format!("snapshots made: {snaps:?}"));
    }
    if emu.lock_left("staging") {
        return Err("run lock left behind".into());
    }
    Ok(())
}

#[test]
fn create_runs_on_its_printed_policy_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("db-snapshot"),
        args: testkit::iam::args(&testkit::words(
            "create --instance ltc-db --snapshot-id pre-deploy-ltc-db-1 --env staging --timeout 1m",
        )),
        env: state_env(),
        seed: &seed,
        done: &|emu| {
            assert_eq!(emu.manual_snapshots(), vec!["pre-deploy-ltc-db-1"]);
            assert!(!emu.lock_left("staging"));
        },
        untouched: &untouched,
    };
    let outcome = run_case(&case);
    eprintln!("db-snapshot create:\n{}", outcome.table());
    // AddTagsToResource: AWS checks it for the tags given to CreateDBSnapshot,
    // moto does not. GetObject: the lock is read only when someone holds it.
    // DeleteObject: a lock that cannot be released is a warning (it expires).
    check_denials(
        &outcome,
        &["rds:AddTagsToResource", "s3:DeleteObject", "s3:GetObject"],
    );
}

#[test]
fn latest_runs_on_its_printed_policy_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("db-snapshot"),
        args: testkit::iam::args(&testkit::words("latest --instance ltc-db --env staging")),
        env: state_env(),
        seed: &|emu| {
            seed(emu);
            emu.rds_snapshot("ltc-db", "pre-deploy-ltc-db-0");
        },
        done: &|_| {},
        untouched: &|_| Ok(()),
    };
    let outcome = run_case(&case);
    eprintln!("db-snapshot latest:\n{}", outcome.table());
    check_denials(&outcome, &[]);
}
