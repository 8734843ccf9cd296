//! `run-state policy` proven against an emulator that enforces IAM (S3 state
//! tree): the command succeeds as a user holding only the printed policy, and
//! with any one action removed it fails (exit 3, the action named) and changes
//! nothing.

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{Case, EnforcingGuard, run_case};

const STATE: &str = "s3://ltc-state/team";

fn seed(emu: &EnforcingGuard) {
    emu.aws(&[
        "s3api",
        "create-bucket",
        "--bucket",
        "ltc-state",
        "--create-bucket-configuration",
        "LocationConstraint=ap-northeast-1",
    ]);
}

fn keys(emu: &EnforcingGuard) -> Vec<String> {
    let v = emu.aws(&["s3api", "list-objects-v2", "--bucket", "ltc-state"]);
    v["Contents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o["Key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn freeze_runs_on_its_printed_policy_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("run-state"),
        args: args(&["freeze", "--env", "staging", "--reason", "incident 42"]),
        env: vec![("LTC_STATE".into(), STATE.into())],
        seed: &seed,
        done: &|emu| {
            assert!(
                keys(emu).contains(&"team/staging/freeze.json".to_owned()),
                "{:?}",
                keys(emu)
            );
        },
        untouched: &|emu| {
            let k = keys(emu);
            if k.iter().any(|k| k.ends_with("freeze.json")) {
                Err(format!("frozen anyway: {k:?}"))
            } else {
                Ok(())
            }
        },
    };
    let outcome = run_case(&case);
    eprintln!("run-state freeze:\n{}", outcome.table());
    assert!(outcome.not_needed().is_empty(), "{}", outcome.table());
    for d in &outcome.denials {
        assert_eq!(d.code, Some(3), "{}", outcome.table());
        assert!(d.names_action, "{}", outcome.table());
        assert!(d.untouched.is_ok(), "{}", outcome.table());
    }
}

#[test]
fn lock_status_runs_on_its_printed_policy_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("run-state"),
        args: args(&["lock", "status", "--env", "staging"]),
        env: vec![("LTC_STATE".into(), STATE.into())],
        seed: &seed,
        done: &|_| {},
        untouched: &|_| Ok(()),
    };
    let outcome = run_case(&case);
    eprintln!("run-state lock status:\n{}", outcome.table());
    assert!(outcome.not_needed().is_empty(), "{}", outcome.table());
    for d in &outcome.denials {
        assert_eq!(d.code, Some(3), "{}", outcome.table());
        assert!(d.names_action, "{}", outcome.table());
    }
}
