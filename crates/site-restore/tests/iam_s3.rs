//! `site-restore policy` for `record`, `diff` and `restore` of a bucket (no
//! `--distribution`: CloudFront is not enforced by the emulator), proven
//! against an emulator that enforces IAM: the command succeeds as a user
//! holding only the printed policy (S3 resources as printed: the emulator
//! checks S3 ARNs), and with any one action removed it fails (exit 3, the
//! action named) and changes nothing, except for the actions asserted by name
//! as not needed on the path tested (with reasons).
#![allow(clippy::unwrap_used)] // test helpers: a failed fixture step should panic

use std::path::Path;

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{Case, EnforcingGuard, Outcome, check_denials, run_case, state_env};

fn put(emu: &EnforcingGuard, key: &str, body: &str) {
    emu.boto(&[serde_json::json!(["s3", "put_object", {
        "Bucket": "ltc-site", "Key": key, "Body": body,
    }])]);
}

/// The current objects and their bodies, sorted by key.
fn site(emu: &EnforcingGuard) -> Vec<(String, String)> {
    let listed = emu.boto(&[serde_json::json!(["s3", "list_objects_v2", {"Bucket": "ltc-site"}])]);
    let keys: Vec<String> = listed[0]["Contents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o["Key"].as_str().map(str::to_owned))
        .collect();
    let gets: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| serde_json::json!(["s3", "get_object", {"Bucket": "ltc-site", "Key": k}]))
        .collect();
    let bodies = emu.boto(&gets);
    let mut out: Vec<(String, String)> = keys
        .into_iter()
        .zip(bodies)
        .map(|(k, b)| (k, b["Body"].as_str().unwrap_or_default().to_owned()))
        .collect();
    out.sort();
    out
}

/// A versioned site at release 1 (recorded to `manifest`), then release 2:
/// index.html changed, new.html added.
fn seed(emu: &EnforcingGuard, manifest: &Path) {
    emu.state_bucket();
    emu.bucket("ltc-site");
    emu.boto(&[serde_json::json!(["s3", "put_bucket_versioning", {
        "Bucket": "ltc-site",
        "VersioningConfiguration": {"Status": "Enabled"},
    }])]);
    put(emu, "index.html", "release 1");
    let out = emu.run_open(
        &cargo_bin("site-restore"),
        &["record", "--bucket", "ltc-site", "--output", "json"],
        &[],
    );
    std::fs::write(manifest, &out.stdout).unwrap();
    put(emu, "index.html", "release 2");
    put(emu, "new.html", "added in release 2");
}

/// The site as seeded: release 2.
fn release_2() -> Vec<(String, String)> {
    vec![
        ("index.html".into(), "release 2".into()),
        ("new.html".into(), "added in release 2".into()),
    ]
}

fn untouched(emu: &EnforcingGuard) -> Result<(), String> {
    let s = site(emu);
    if s != release_2() {
        return Err(format!("site now {s:?}"));
    }
    if emu.state_keys().iter().any(|k| k.ends_with("lock.json")) {
        return Err("run lock left behind".into());
    }
    Ok(())
}

fn case_args(sub: &str, manifest: Option<&Path>) -> Vec<String> {
    let mut a = vec![sub.to_owned(), "--bucket".into(), "ltc-site".into()];
    if let Some(m) = manifest {
        a.push("--manifest".into());
        a.push(m.display().to_string());
    }
    a.extend(["--env".to_owned(), "staging".to_owned()]);
    a
}

#[test]
fn record_runs_on_its_printed_policy_and_every_action_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.json");
    let case = Case {
        binary: cargo_bin("site-restore"),
        args: case_args("record", None),
        env: state_env(),
        seed: &|emu| seed(emu, &manifest),
        done: &|emu| {
            assert!(
                emu.state_keys().iter().any(|k| k.contains("/journal/")),
                "record is journaled: {:?}",
                emu.state_keys()
            );
        },
        untouched: &untouched,
    };
    let outcome = run_case(&case);
    eprintln!("site-restore record:\n{}", outcome.table());
    check_denials(&outcome, &[]);
}

#[test]
fn diff_runs_on_its_printed_policy_and_every_action_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.json");
    let case = Case {
        binary: cargo_bin("site-restore"),
        args: case_args("diff", Some(&manifest)),
        env: state_env(),
        seed: &|emu| seed(emu, &manifest),
        done: &|emu| assert_eq!(site(emu), release_2()),
        untouched: &untouched,
    };
    let outcome = run_case(&case);
    eprintln!("site-restore diff:\n{}", outcome.table());
    check_denials(&outcome, &[]);
}

#[test]
fn restore_runs_on_its_printed_policy_and_every_action_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.json");
    let case = Case {
        binary: cargo_bin("site-restore"),
        args: case_args("restore", Some(&manifest)),
        env: state_env(),
        seed: &|emu| seed(emu, &manifest),
        done: &|emu| {
            assert_eq!(
                site(emu),
                vec![("index.html".to_owned(), "release 1".to_owned())]
            );
            assert!(!emu.state_keys().iter().any(|k| k.ends_with("lock.json")));
        },
        untouched: &untouched,
    };
    let outcome = run_case(&case);
    eprintln!("site-restore restore:\n{}", outcome.table());
    let table = outcome.table();
    // s3:DeleteObject also releases the run lock, so without it the lock
    // stays (one warning naming `run-state lock break`; it expires: the
    // common lock, proven in ecs-revert/tests/iam_lock.rs). What this row must
    // show is the site: the delete marker is refused after the copy went
    // through, the copy is undone, exit 6 (reverted) naming the action. `untouched`
    // checks the site first, so this exact error means the site is as seeded.
    let (delete, rest): (Vec<_>, Vec<_>) = outcome
        .denials
        .iter()
        .cloned()
        .partition(|d| d.action == "s3:DeleteObject");
    let [d] = delete.as_slice() else {
        panic!("one s3:DeleteObject row:\n{table}");
    };
    // Exit 6: the change failed and was reverted cleanly (README).
    assert_eq!(d.code, Some(6), "{table}");
    assert!(d.names_action, "{table}");
    assert!(d.line.contains("were undone"), "{}", d.line);
    assert_eq!(
        d.untouched,
        Err("run lock left behind".to_owned()),
        "the site as seeded, only the lock left:\n{table}"
    );
    let outcome = Outcome {
        denials: rest,
        ..outcome
    };
    // Not needed on this path:
    // - s3:DeleteObjectVersion undoes this run's own versions when a change
    //   is refused part-way; the s3:DeleteObject row shows it used (the copy
    //   made before the refused delete marker is undone: exit 3, untouched).
    // - s3:GetObject: HeadObject reads back only a change whose answer was lost.
    // - s3:GetObjectVersion: moto checks CopyObject as s3:PutObject on the
    //   destination only (moto/s3/responses.py `_key_response_put`), never the
    //   read of the source version that AWS checks.
    check_denials(
        &outcome,
        &[
            "s3:DeleteObjectVersion",
            "s3:GetObject",
            "s3:GetObjectVersion",
        ],
    );
}
