//! `db-snapshot policy` proven against an emulator that enforces IAM: the
//! command succeeds as a user holding only the printed policy, and with any one
//! action removed it fails (exit 3, the action named) and changes nothing.

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{Case, EnforcingGuard, check_denials, run_case, state_env};

fn seed(emu: &EnforcingGuard) {
    emu.state_bucket();
    emu.aws(&[
        "rds",
        "create-db-instance",
        "--db-instance-identifier",
        "ltc-db",
        "--engine",
        "postgres",
        "--db-instance-class",
        "db.t3.micro",
        "--master-username",
        "admin",
        "--master-user-password",
        "not-a-secret-1",
        "--allocated-storage",
        "20",
    ]);
}

fn manual_snapshots(emu: &EnforcingGuard) -> Vec<String> {
    let v = emu.aws(&["rds", "describe-db-snapshots", "--snapshot-type", "manual"]);
    v["DBSnapshots"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["DBSnapshotIdentifier"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn untouched(emu: &EnforcingGuard) -> Result<(), String> {
    let snaps = manual_snapshots(emu);
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
        args: [
            "create",
            "--instance",
            "ltc-db",
            "--snapshot-id",
            "pre-deploy-ltc-db-1",
            "--env",
            "staging",
            "--timeout",
            "1m",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        env: state_env(),
        seed: &seed,
        done: &|emu| {
            assert_eq!(manual_snapshots(emu), vec!["pre-deploy-ltc-db-1"]);
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
        args: ["latest", "--instance", "ltc-db", "--env", "staging"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        env: state_env(),
        seed: &|emu| {
            seed(emu);
            emu.aws(&[
                "rds",
                "create-db-snapshot",
                "--db-instance-identifier",
                "ltc-db",
                "--db-snapshot-identifier",
                "pre-deploy-ltc-db-0",
            ]);
        },
        done: &|_| {},
        untouched: &|_| Ok(()),
    };
    let outcome = run_case(&case);
    eprintln!("db-snapshot latest:\n{}", outcome.table());
    check_denials(&outcome, &[]);
}
