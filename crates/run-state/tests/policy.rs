//! `run-state policy` proven against an emulator that enforces IAM (S3 state
//! tree), for every subcommand: the command succeeds as a user holding only
//! the printed policy, and with any one action removed it fails (exit 3, the
//! action named) and changes nothing, except for the actions asserted by name
//! as not needed on the path tested (with reasons).

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{Case, EnforcingGuard, args, check_denials, run_case, state_env};

/// A run id of kind deploy (the shape `lock new-run-id deploy` prints).
const RUN: &str = "20261202T031000.123Z-deploy-1a2b3c";

fn seed(emu: &EnforcingGuard) {
    emu.state_bucket();
}

/// The state tree with one run record and a frozen environment (whose
/// freeze is journaled in the shared journal).
fn seed_full(emu: &EnforcingGuard) {
    seed(emu);
    let dir = tempfile::tempdir().expect("temp dir");
    let record = dir.path().join("weights.json");
    std::fs::write(&record, r#"{"blue":100}"#).expect("record file");
    let bin = cargo_bin("run-state");
    let record = record.display().to_string();
    emu.run_open(
        &bin,
        &["runs", "put", RUN, "weights", &record, "--env", "staging"],
        &state_env(),
    );
    emu.run_open(
        &bin,
        &["freeze", "--env", "staging", "--reason", "incident 42"],
        &state_env(),
    );
}

/// A lock held by a run that is gone (pid 0 on another host, lease running).
fn seed_locked(emu: &EnforcingGuard) {
    seed(emu);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let iso = |s: u64| {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{s}"), "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .expect("date");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let lock = serde_json::json!({
        "lock_id": "l-gone", "holder": "arn:aws:iam::123456789012:user/gone",
        "user": "gone", "host": "elsewhere", "pid": 0, "command": "dns-shift shift",
        "run_id": RUN, "env": "staging", "started": iso(now - 60),
        "lease_until": iso(now + 3600), "lease_seconds": 3600,
    });
    emu.boto(&[serde_json::json!(["s3", "put_object", {
        "Bucket": "ltc-state", "Key": "team/staging/lock.json", "Body": lock.to_string(),
    }])]);
}

fn frozen(emu: &EnforcingGuard) -> bool {
    emu.state_keys()
        .contains(&"team/staging/freeze.json".to_owned())
}

#[test]
fn freeze_and_unfreeze_run_on_their_printed_policies_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("run-state"),
        args: args(&["freeze", "--env", "staging", "--reason", "incident 42"]),
        env: state_env(),
        seed: &seed,
        done: &|emu| assert!(frozen(emu), "{:?}", emu.state_keys()),
        untouched: &|emu| {
            if frozen(emu) {
                Err(format!("frozen anyway: {:?}", emu.state_keys()))
            } else {
                Ok(())
            }
        },
    };
    let outcome = run_case(&case);
    eprintln!("run-state freeze:\n{}", outcome.table());
    check_denials(&outcome, &[]);

    let case = Case {
        binary: cargo_bin("run-state"),
        args: args(&["unfreeze", "--env", "staging"]),
        env: state_env(),
        seed: &seed_full,
        done: &|emu| assert!(!frozen(emu), "{:?}", emu.state_keys()),
        untouched: &|emu| {
            if frozen(emu) {
                Ok(())
            } else {
                Err("unfrozen anyway".into())
            }
        },
    };
    let outcome = run_case(&case);
    eprintln!("run-state unfreeze:\n{}", outcome.table());
    check_denials(&outcome, &[]);
}

#[test]
fn lock_break_runs_on_its_printed_policy_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("run-state"),
        args: args(&[
            "lock", "break", "--env", "staging", "--reason", "run gone", "--yes",
        ]),
        env: state_env(),
        seed: &seed_locked,
        done: &|emu| assert!(!emu.lock_left("staging")),
        untouched: &|emu| {
            if emu.lock_left("staging") {
                Ok(())
            } else {
                Err("lock broken anyway".into())
            }
        },
    };
    let outcome = run_case(&case);
    eprintln!("run-state lock break:\n{}", outcome.table());
    check_denials(&outcome, &[]);
}

#[test]
fn runs_put_runs_on_its_printed_policy_and_every_action_is_needed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = dir.path().join("weights.json");
    std::fs::write(&record, r#"{"blue":100}"#).expect("record file");
    let record = record.display().to_string();
    let key = format!("team/staging/runs/{RUN}/weights");
    let case = Case {
        binary: cargo_bin("run-state"),
        args: args(&["runs", "put", RUN, "weights", &record, "--env", "staging"]),
        env: state_env(),
        seed: &seed,
        done: &|emu| assert!(emu.state_keys().contains(&key), "{:?}", emu.state_keys()),
        untouched: &|emu| {
            if emu.state_keys().iter().any(|k| k.contains("/runs/")) {
                Err(format!("stored anyway: {:?}", emu.state_keys()))
            } else {
                Ok(())
            }
        },
    };
    let outcome = run_case(&case);
    eprintln!("run-state runs put:\n{}", outcome.table());
    check_denials(&outcome, &[]);
}

/// The reads (and `lock new-run-id`, which needs nothing): each succeeds on
/// its printed policy and fails, exit 3 naming the action, without any one.
#[test]
fn reads_run_on_their_printed_policies_and_every_action_is_needed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.html").display().to_string();
    // The report reads the run's local folder (steps, transcript) beside the
    // shared journal; only the journal is behind IAM.
    let run_dir = dir.path().join(RUN);
    std::fs::create_dir(&run_dir).expect("run folder");
    std::fs::write(run_dir.join("transcript.log"), "step deploy-infra: ok\n").expect("transcript");
    let run_dir = run_dir.display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["lock", "status"],
        vec!["lock", "new-run-id", "deploy"],
        vec!["runs", "list"],
        vec!["runs", "show", RUN],
        vec!["runs", "get", RUN, "weights"],
        vec!["runs", "last", "deploy"],
        vec!["journal"],
        vec![
            "report",
            "--run",
            RUN,
            "--run-dir",
            &run_dir,
            "--out",
            &report,
        ],
    ];
    let mut outcomes = Vec::new();
    let subs = cases.clone();
    for sub in cases {
        let case = Case {
            binary: cargo_bin("run-state"),
            args: args(&[&sub[..], &["--env", "staging"]].concat()),
            env: state_env(),
            seed: &seed_full,
            done: &|_| {},
            untouched: &|emu| {
                if frozen(emu) && !emu.lock_left("staging") {
                    Ok(())
                } else {
                    Err(format!("changed by a read: {:?}", emu.state_keys()))
                }
            },
        };
        let outcome = run_case(&case);
        eprintln!("run-state {sub:?}:\n{}", outcome.table());
        outcomes.push(outcome);
    }
    // Checked once all ran, so one failure shows every table.
    for (sub, outcome) in subs.iter().zip(&outcomes) {
        if sub[0] == "report" {
            // The report is built from the run folder when the shared journal
            // cannot be read, and says so in a warning naming the action.
            check_denials(outcome, &["s3:GetObject", "s3:ListBucket"]);
            for d in &outcome.denials {
                assert!(
                    d.line.starts_with("warning: shared journal not read") && d.names_action,
                    "{}",
                    outcome.table()
                );
            }
        } else {
            check_denials(outcome, &[]);
        }
    }
}
