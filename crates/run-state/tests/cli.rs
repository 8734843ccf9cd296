//! run-state against real state trees: a local folder and S3 on the emulator.
//! Several "operators" are separate processes with their own journals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{Emulator, EmulatorGuard, code, json_stdout, signal, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_run-state");

/// One operator: its own journal file; the state location is shared.
struct Operator {
    journal: std::path::PathBuf,
    state: String,
    user: &'static str,
}

impl Operator {
    fn cmd(&self, emu: Option<&EmulatorGuard>, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        match emu {
            Some(e) => e.configure(&mut c),
            None => {
                for (k, v) in testkit::offline_env() {
                    c.env(k, v);
                }
            }
        }
        c.env("LTC_JOURNAL", &self.journal)
            .env("LTC_STATE", &self.state)
            .env("USER", self.user)
            .env("LTC_LOCK_LEASE", "3s")
            .env_remove("LTC_RUN_ID")
            .args(["--output", "json", "--env", "staging"])
            .args(args);
        c
    }

    fn run(&self, emu: Option<&EmulatorGuard>, args: &[&str]) -> Output {
        self.cmd(emu, args).output().expect("run run-state")
    }

    /// `lock hold` in the background, returned once it printed its first line.
    fn hold(&self, emu: Option<&EmulatorGuard>, run: &str) -> (Child, Value) {
        let mut child = self
            .cmd(
                emu,
                &["lock", "hold", "--run", run, "--command", "deploy.sh"],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hold");
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut first)
            .expect("first line");
        let v: Value =
            serde_json::from_str(&first).unwrap_or_else(|e| panic!("hold printed {first:?}: {e}"));
        (child, v)
    }
}

fn two_operators(state: &str) -> (tempfile::TempDir, Operator, Operator) {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Operator {
        journal: dir.path().join("alice/journal.jsonl"),
        state: state.to_owned(),
        user: "alice",
    };
    let b = Operator {
        journal: dir.path().join("bob/journal.jsonl"),
        state: state.to_owned(),
        user: "bob",
    };
    (dir, a, b)
}

#[test]
fn a_held_lock_refuses_others_until_released_and_the_journal_shows_who() {
    let state_dir = tempfile::tempdir().unwrap();
    let (_d, alice, bob) = two_operators(&state_dir.path().display().to_string());
    let (holder, first) = alice.hold(None, "20261202T030000.000Z-deploy-aaaaaa");
    assert_eq!(first["event"], "held", "{first}");

    let o = bob.run(
        None,
        &[
            "lock",
            "hold",
            "--run",
            "20261202T030001.000Z-deploy-bbbbbb",
        ],
    );
    assert_eq!(code(&o), 8, "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("alice") && err.contains("deploy.sh") && err.contains("deploy-aaaaaa"),
        "{err}"
    );

    // The same run id (a step of alice's run) is inside the run: not refused.
    let o = bob.run(
        None,
        &[
            "lock",
            "hold",
            "--run",
            "20261202T030000.000Z-deploy-aaaaaa",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(testkit::json_lines(&o)[0]["event"], "within-run");

    let st = json_stdout(&bob.run(None, &["lock", "status"]));
    assert_eq!(st["held"], true);
    assert_eq!(st["lock"]["run_id"], "20261202T030000.000Z-deploy-aaaaaa");

    signal(&holder, "-TERM");
    let out = holder.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"released\""));
    let st = json_stdout(&bob.run(None, &["lock", "status"]));
    assert_eq!(st["held"], false, "{st}");
    let (mut h2, v) = bob.hold(None, "20261202T030002.000Z-deploy-cccccc");
    assert_eq!(v["event"], "held");
    h2.kill().unwrap();
    let _ = h2.wait();
}

#[test]
fn a_killed_holder_frees_the_environment_after_its_lease_or_at_once_by_break() {
    let state_dir = tempfile::tempdir().unwrap();
    let (_d, alice, bob) = two_operators(&state_dir.path().display().to_string());
    let (mut holder, _) = alice.hold(None, "20261202T030000.000Z-deploy-aaaaaa");
    holder.kill().unwrap(); // SIGKILL: no release
    let _ = holder.wait();
    let o = bob.run(
        None,
        &[
            "lock",
            "hold",
            "--run",
            "20261202T030005.000Z-rollback-bbbbbb",
        ],
    );
    assert_eq!(
        code(&o),
        8,
        "the dead holder's lease is still running: {}",
        stderr(&o)
    );

    // Break it at once, with a reason; the shared journal shows who broke whose lock.
    let o = bob.run(None, &["lock", "break", "--reason", "alice's laptop died"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        json_stdout(&o)["lock"]["holder"],
        "alice@".to_owned() + &hostname_or_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let (mut h, v) = bob.hold(None, "20261202T030005.000Z-rollback-bbbbbb");
    assert_eq!(v["event"], "held");
    h.kill().unwrap();
    let _ = h.wait();
    let o = alice.run(None, &["journal"]);
    let lines = testkit::json_lines(&o);
    let brk: Vec<_> = lines
        .iter()
        .filter(|e| e["action"] == "state.lock-break")
        .collect();
    assert_eq!(brk.len(), 2, "intent and outcome: {lines:?}");
    assert!(brk[0]["actor"].as_str().unwrap().starts_with("bob"));
    assert_eq!(brk[0]["before"]["reason"], "alice's laptop died");

    // Killed again: this time wait out the 3 s lease.
    let started = Instant::now();
    let o = alice.run(
        None,
        &[
            "lock",
            "hold",
            "--run",
            "20261202T030009.000Z-deploy-dddddd",
        ],
    );
    assert_eq!(code(&o), 8);
    let mut taken = false;
    while started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(500));
        let mut c = alice.cmd(
            None,
            &[
                "lock",
                "hold",
                "--run",
                "20261202T030009.000Z-deploy-dddddd",
            ],
        );
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut first)
            .unwrap();
        let _ = child.kill();
        let _ = child.wait();
        if first.contains("\"held\"") {
            taken = true;
            break;
        }
    }
    assert!(taken, "the lease expired and alice took the lock");
}

fn hostname_or_empty() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
}

#[test]
fn freeze_is_visible_to_everyone_and_lifts() {
    let state_dir = tempfile::tempdir().unwrap();
    let (_d, alice, bob) = two_operators(&state_dir.path().display().to_string());
    let o = alice.run(None, &["freeze", "--reason", "incident 42"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let st = json_stdout(&bob.run(None, &["lock", "status"]));
    assert_eq!(st["frozen"], true);
    assert_eq!(st["freeze"]["reason"], "incident 42");
    let o = bob.run(None, &["freeze", "--reason", "again"]);
    assert_eq!(json_stdout(&o)["changed"], false);
    let o = bob.run(None, &["unfreeze"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        json_stdout(&alice.run(None, &["lock", "status"]))["frozen"],
        false
    );
    let o = alice.run(None, &["freeze", "--reason", ""]);
    assert_eq!(code(&o), 2);
}

#[test]
fn run_records_are_written_once_and_read_back_by_another_operator() {
    let state_dir = tempfile::tempdir().unwrap();
    let (d, alice, bob) = two_operators(&state_dir.path().display().to_string());
    let f = d.path().join("manifest.json");
    std::fs::write(&f, br#"{"objects": 3}"#).unwrap();
    let run = "20261202T030000.000Z-deploy-aaaaaa";
    let put = [
        "runs",
        "put",
        run,
        "site-manifest.json",
        f.to_str().unwrap(),
    ];
    let o = alice.run(None, &put);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::write(&f, br#"{"objects": 4}"#).unwrap();
    let o = bob.run(None, &put);
    assert_eq!(code(&o), 2, "never overwritten: {}", stderr(&o));
    let o = bob.run(None, &["runs", "get", run, "site-manifest.json"]);
    assert_eq!(o.stdout, br#"{"objects": 3}"#);
    let show = json_stdout(&bob.run(None, &["runs", "show", run]));
    assert_eq!(show["records"]["site-manifest.json"]["objects"], 3);
    let later = "20261202T040000.000Z-deploy-bbbbbb";
    bob.run(None, &["runs", "put", later, "x.json", f.to_str().unwrap()]);
    bob.run(
        None,
        &[
            "runs",
            "put",
            "20261202T050000.000Z-rollback-cccccc",
            "x.json",
            f.to_str().unwrap(),
        ],
    );
    let o = alice.run(None, &["runs", "last", "deploy"]);
    assert_eq!(testkit::json_lines(&o)[0]["run_id"], later);
    let o = alice.run(None, &["runs", "get", run, "missing.json"]);
    assert_eq!(code(&o), 3);
    let o = alice.run(None, &["runs", "get", "../../etc", "passwd"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn bad_state_locations_and_names_are_refused_before_any_call() {
    let d = tempfile::tempdir().unwrap();
    for (state, env) in [
        ("s3://UPPER/x", "staging"),
        ("gs://b/p", "staging"),
        (d.path().to_str().unwrap(), "a/b"),
    ] {
        let o = Command::new(BIN)
            .envs(testkit::offline_env())
            .env("LTC_JOURNAL", d.path().join("j.jsonl"))
            .args(["--state", state, "--env", env, "lock", "status"])
            .output()
            .unwrap();
        assert_eq!(code(&o), 2, "{state} {env}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    let o = Command::new(BIN)
        .envs(testkit::offline_env())
        .env("LTC_JOURNAL", d.path().join("j.jsonl"))
        .env("LTC_LOCK_LEASE", "soon")
        .args(["lock", "status"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[test]
fn s3_state_is_shared_between_machines_on_the_emulator() {
    let emu = Emulator::shared();
    let mk = Command::new(testkit::workspace_root().join(".venv/bin/aws"))
        .envs(emu.env())
        .args([
            "s3api",
            "create-bucket",
            "--bucket",
            "ltc-team-state",
            "--create-bucket-configuration",
            "LocationConstraint=ap-northeast-1",
        ])
        .output()
        .unwrap();
    assert!(
        mk.status.success(),
        "{}",
        String::from_utf8_lossy(&mk.stderr)
    );
    let (_d, alice, bob) = two_operators("s3://ltc-team-state/ltc");
    let (mut holder, v) = alice.hold(Some(&emu), "20261202T030000.000Z-deploy-aaaaaa");
    assert_eq!(v["event"], "held", "{v}");
    let o = bob.run(
        Some(&emu),
        &[
            "lock",
            "hold",
            "--run",
            "20261202T030001.000Z-rollback-bbbbbb",
        ],
    );
    assert_eq!(code(&o), 8, "{}", stderr(&o));
    assert!(stderr(&o).contains("alice"), "{}", stderr(&o));
    signal(&holder, "-INT");
    assert!(holder.wait().unwrap().success());
    let o = bob.run(Some(&emu), &["freeze", "--reason", "from bob's laptop"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Alice reads bob's journal entries from the shared tree, not from a file of hers.
    let lines = testkit::json_lines(&alice.run(Some(&emu), &["journal"]));
    assert!(
        lines
            .iter()
            .any(|e| e["action"] == "state.freeze" && e["phase"] == "outcome"),
        "{lines:?}"
    );
    let ls = Command::new(testkit::workspace_root().join(".venv/bin/aws"))
        .envs(emu.env())
        .args([
            "s3api",
            "list-objects-v2",
            "--bucket",
            "ltc-team-state",
            "--prefix",
            "ltc/staging/",
        ])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&ls.stdout);
    assert!(listing.contains("ltc/staging/freeze.json"), "{listing}");
    assert!(listing.contains("ltc/staging/journal/"), "{listing}");
}
