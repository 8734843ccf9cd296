//! ecs-revert against the moto emulator (started with MOTO_ECS_SERVICE_RUNNING=2,
//! so services report two running tasks and a COMPLETED rollout). Fixtures are
//! made with the SDK; every change is checked with an independent SDK read.

use std::process::Output;

use serde_json::Value;
use support::{CLUSTER, argv, bin, cmd, emulator, on, run, service_td};
use testkit::{EmulatorGuard, json_stdout, offline_env, runtime as rt, sdk_config, stderr, words};

mod support;

fn ecs(emu: &EmulatorGuard) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&sdk_config(emu))
}

/// A cluster and, per family, revisions 1..=4 and a service (desired 2) on 4.
fn fixture(emu: &EmulatorGuard, families: &[&str]) -> aws_sdk_ecs::Client {
    let client = ecs(emu);
    support::services(&client, families);
    client
}

/// The service's task definition as `family:revision`, read independently.
fn desired(client: &aws_sdk_ecs::Client, service: &str) -> i32 {
    rt().block_on(
        client
            .describe_services()
            .cluster(CLUSTER)
            .services(service)
            .send(),
    )
    .expect("describe")
    .services()[0]
        .desired_count()
}

fn deregister(client: &aws_sdk_ecs::Client, td: &str) {
    rt().block_on(
        client
            .deregister_task_definition()
            .task_definition(td)
            .send(),
    )
    .expect("deregister");
}

/// A service on api:4 wanting 3 tasks: the emulator runs 2 per service, so
/// it never reaches a steady state.
fn never_steady(client: &aws_sdk_ecs::Client, name: &str) {
    rt().block_on(
        client
            .create_service()
            .cluster(CLUSTER)
            .service_name(name)
            .task_definition("api:4")
            .desired_count(3)
            .send(),
    )
    .expect("create service");
}

fn error_lines(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_owned)
        .collect()
}

fn journal(emu: &EmulatorGuard) -> Vec<Value> {
    testkit::journal_entries(emu)
}

#[test]
fn status_shows_task_definition_counts_and_deployments() {
    let emu = emulator();
    fixture(&emu, &["api", "worker"]);
    let o = on(&emu, "status", "api,worker", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    let api = &v["services"][0];
    assert_eq!(api["service"], "api");
    assert_eq!(api["task_definition"], "api:4");
    assert_eq!(api["desired"], 2);
    assert_eq!(api["running"], 2);
    assert_eq!(api["pending"], 0);
    assert_eq!(api["state"], "steady");
    assert_eq!(api["deployments"][0]["status"], "PRIMARY");
    assert_eq!(api["deployments"][0]["rollout_state"], "COMPLETED");
    assert_eq!(v["services"][1]["task_definition"], "worker:4");
}

#[test]
fn history_lists_active_and_inactive_newest_first() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    deregister(&client, "api:2");
    let o = on(&emu, "history", "api", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    let revs: Vec<(String, String, bool, bool)> = v["revisions"]
        .as_array()
        .expect("revisions")
        .iter()
        .map(|r| {
            (
                r["task_definition"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
                r["in_use"].as_bool().unwrap_or(false),
                r["deployed_before"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        revs,
        vec![
            ("api:4".into(), "ACTIVE".into(), true, false),
            ("api:3".into(), "ACTIVE".into(), false, true),
            ("api:2".into(), "INACTIVE".into(), false, false),
            ("api:1".into(), "ACTIVE".into(), false, false),
        ]
    );
    assert_eq!(v["in_use"], "api:4");
    assert_eq!(v["deployed_before"]["task_definition"], "api:3");
    assert_eq!(v["deployed_before"]["source"], "revision-1");
}

#[test]
fn revert_defaults_to_previous_revision_journals_it_and_history_reads_it_back() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    let o = on(&emu, "revert", "api", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["services"][0]["from"], "api:4");
    assert_eq!(v["services"][0]["to"], "api:3");
    assert_eq!(v["services"][0]["source"], "revision-1");
    assert_eq!(v["services"][0]["state"], "steady");
    assert_eq!(v["waited"], true);
    assert_eq!(service_td(&client, "api"), "api:3");

    let j = journal(&emu);
    assert_eq!(j.len(), 2, "intent and outcome: {j:?}");
    assert_eq!(j[0]["phase"], "intent");
    assert_eq!(j[0]["action"], "ecs.revert");
    assert_eq!(j[0]["target"], "ecs:ltc/api");
    assert_eq!(j[0]["before"]["task_definition"], "api:4");
    assert_eq!(j[0]["before"]["requested_task_definition"], "api:3");
    assert_eq!(j[0]["before"]["desired"], 2);
    assert_eq!(j[1]["outcome"], "ok");
    assert_eq!(j[1]["after"]["task_definition"], "api:3");
    assert_eq!(j[1]["after"]["running"], 2);

    // history now knows from the journal what ran before api:3.
    let o = on(&emu, "history", "api", &[]);
    let v = json_stdout(&o);
    assert_eq!(v["in_use"], "api:3");
    assert_eq!(v["deployed_before"]["task_definition"], "api:4");
    assert_eq!(v["deployed_before"]["source"], "journal");

    // A second default revert would re-deploy api:4, the revision just rolled
    // back from: refused, nothing changed.
    let o = on(&emu, "revert", "api", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(error_lines(&o).len(), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("--to api:4"), "{}", stderr(&o));
    assert_eq!(service_td(&client, "api"), "api:3");
}

#[test]
fn revert_to_named_revision_in_each_form() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    for (to, want) in [
        ("1", "api:1"),
        ("api:2", "api:2"),
        (
            "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/api:4",
            "api:4",
        ),
    ] {
        let o = on(&emu, "revert", "api", &["--to", to]);
        assert!(o.status.success(), "--to {to}: {}", stderr(&o));
        let v = json_stdout(&o);
        assert_eq!(v["services"][0]["to"], want);
        assert_eq!(v["services"][0]["source"], "--to");
        assert_eq!(service_td(&client, "api"), want);
    }
}

#[test]
fn revert_three_services_in_one_command_under_one_wait() {
    let emu = emulator();
    let client = fixture(&emu, &["api", "worker", "web"]);
    let o = on(&emu, "revert", "api", &["--service", "worker,web"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    let states: Vec<(&str, &str)> = v["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| {
            (
                s["to"].as_str().unwrap_or_default(),
                s["state"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("api:3", "steady"),
            ("worker:3", "steady"),
            ("web:3", "steady")
        ]
    );
    assert_eq!(v["call_log"].as_array().map(Vec::len), Some(3));
    for fam in ["api", "worker", "web"] {
        assert_eq!(service_td(&client, fam), format!("{fam}:3"));
    }
    // One DescribeServices for three, one ListTaskDefinitions (ACTIVE) and one
    // DescribeTaskDefinition each,
    // three updates, one look: 1 + 6 + 3 + 1.
    assert_eq!(v["ecs_calls"], 11, "{v}");
}

#[test]
fn default_target_skips_inactive_revisions_and_says_so() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    deregister(&client, "api:3");
    let o = on(&emu, "revert", "api", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["services"][0]["to"], "api:2");
    assert!(
        v["services"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("1 INACTIVE skipped"),
        "{v}"
    );
    assert_eq!(service_td(&client, "api"), "api:2");
}

#[test]
fn inactive_target_is_refused_without_force() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    deregister(&client, "api:2");
    let o = on(&emu, "revert", "api", &["--to", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let errs = error_lines(&o);
    assert_eq!(errs.len(), 1, "{}", stderr(&o));
    assert!(
        errs[0].contains("INACTIVE") && errs[0].contains("--force"),
        "{errs:?}"
    );
    assert_eq!(service_td(&client, "api"), "api:4");
    assert!(
        journal(&emu).is_empty(),
        "a refusal writes no journal entry"
    );

    let o = on(&emu, "revert", "api", &["--to", "2", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(service_td(&client, "api"), "api:2");
}

#[test]
fn other_family_target_is_refused_without_force() {
    let emu = emulator();
    let client = fixture(&emu, &["api", "worker"]);
    let o = on(&emu, "revert", "api", &["--to", "worker:2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("another family"), "{}", stderr(&o));
    assert_eq!(service_td(&client, "api"), "api:4");
}

#[test]
fn unknown_cluster_service_or_revision_is_exit_3_with_one_line() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    for (args, needle) in [
        (
            vec!["status", "--cluster", "nope", "--service", "api"],
            "cluster \"nope\" not found",
        ),
        (
            vec!["revert", "--cluster", "nope", "--service", "api"],
            "cluster \"nope\" not found",
        ),
        (argv("status", "ghost", &[]), "service \"ghost\" not found"),
        (
            argv("revert", "api,ghost", &[]),
            "service \"ghost\" not found",
        ),
        (argv("scale", "ghost", &["--desired", "3"]), "ghost"),
        (argv("history", "ghost", &[]), "ghost"),
        (argv("revert", "api", &["--to", "9"]), "api:9 not found"),
    ] {
        let o = run(&emu, &args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
        let errs = error_lines(&o);
        assert_eq!(errs.len(), 1, "{args:?}: {}", stderr(&o));
        assert!(errs[0].contains(needle), "{args:?}: {errs:?}");
        assert!(o.stdout.is_empty(), "{args:?}: no result on stdout");
    }
    assert_eq!(service_td(&client, "api"), "api:4");
}

#[test]
fn bad_input_is_exit_2_before_any_call() {
    for args in [
        words("revert --cluster ltc --service api --to 0"),
        words("revert --cluster ltc --service api --to api:x"),
        words("revert --cluster ltc --service api --to latest"),
        vec!["revert", "--cluster", "ltc", "--service", "bad name"],
        vec!["revert", "--cluster", "", "--service", "api"],
        words("scale --cluster ltc --service api --desired -1"),
        words("scale --cluster ltc --service api --desired 5000"),
        words("scale --cluster ltc --service api --desired lots"),
        words("history --cluster ltc --service a/b"),
        words("status --cluster ltc;x --service api"),
    ] {
        let o = bin()
            .envs(offline_env())
            .env_remove("LTC_DEADLINE")
            .args(&args)
            .output()
            .expect("run");
        // An AWS call to the closed offline endpoint would exit 3.
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let text = stderr(&o);
        assert_eq!(text.lines().count(), 1, "{args:?}: one line, got {text}");
        assert!(text.starts_with("error: "), "{args:?}: {text}");
        assert!(o.stdout.is_empty());
    }
    // A malformed runbook deadline is bad input too.
    let o = bin()
        .envs(offline_env())
        .env("LTC_DEADLINE", "tomorrow")
        .args(["wait", "--cluster", "ltc", "--service", "api"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn dry_run_lists_the_calls_and_changes_nothing() {
    let emu = emulator();
    let client = fixture(&emu, &["api", "worker"]);
    let o = on(&emu, "revert", "api,worker", &["--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["dry_run"], true);
    let calls = v["call_log"].as_array().expect("calls");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["operation"], "UpdateService");
    assert_eq!(calls[0]["service"], "api");
    assert!(
        calls[0]["taskDefinition"]
            .as_str()
            .unwrap_or_default()
            .ends_with("task-definition/api:3")
    );
    assert!(stderr(&o).contains("would call UpdateService"));
    assert_eq!(service_td(&client, "api"), "api:4");
    assert_eq!(service_td(&client, "worker"), "worker:4");

    let o = on(&emu, "scale", "api", &["--desired", "5", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["call_log"][0]["desiredCount"], 5);
    assert_eq!(desired(&client, "api"), 2);
    assert!(journal(&emu).is_empty(), "dry runs write no journal");
}

#[test]
fn production_guard_refuses_without_yes() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    let o = cmd(&emu)
        .args([
            "revert",
            "--cluster",
            CLUSTER,
            "--service",
            "api",
            "--env",
            "prod",
        ])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    assert_eq!(service_td(&client, "api"), "api:4");
    let o = cmd(&emu)
        .args([
            "scale",
            "--cluster",
            CLUSTER,
            "--service",
            "api",
            "--desired",
            "3",
        ])
        .env("LTC_ENV", "production")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(desired(&client, "api"), 2);
    assert!(journal(&emu).is_empty());

    let o = on(&emu, "revert", "api", &["--env", "prod", "--yes"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(service_td(&client, "api"), "api:3");
    assert_eq!(journal(&emu)[0]["env"], "prod");
}

#[test]
fn scale_sets_desired_and_waits_for_running() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    let o = on(&emu, "scale", "api", &["--desired", "6"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["services"][0]["from_desired"], 2);
    assert_eq!(v["services"][0]["to_desired"], 6);
    assert_eq!(v["services"][0]["running"], 6);
    assert_eq!(v["services"][0]["state"], "steady");
    assert_eq!(desired(&client, "api"), 6);
    let j = journal(&emu);
    assert_eq!(j[0]["action"], "ecs.scale");
    assert_eq!(j[0]["before"]["desired"], 2);
    assert_eq!(j[1]["after"]["desired"], 6);
    // Scaling is not a task definition move: history still falls back.
    let v = json_stdout(&on(&emu, "history", "api", &[]));
    assert_eq!(v["deployed_before"]["source"], "revision-1");
}

#[test]
fn wait_reattaches_and_times_out_with_the_reattach_command() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    let o = on(&emu, "wait", "api", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["services"][0]["state"], "steady");

    // The emulator runs 2 tasks per service: a service wanting 3 never settles.
    never_steady(&client, "big");
    let o = on(&emu, "wait", "big", &["--timeout", "1s"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let text = stderr(&o);
    assert!(text.contains("2/3 running"), "{text}");
    assert!(
        text.contains("re-attach with: ecs-revert wait --cluster ltc --service big"),
        "{text}"
    );
}

#[test]
fn no_wait_returns_after_the_update_and_says_so_in_the_journal() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    let o = on(&emu, "revert", "api", &["--to", "api:2", "--no-wait"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["waited"], false);
    assert_eq!(v["services"][0]["state"], "updated");
    assert_eq!(service_td(&client, "api"), "api:2");
    let j = journal(&emu);
    assert_eq!(j[1]["outcome"], "ok");
    assert_eq!(j[1]["message"], "not waited for steady state");
    // Reverting to where the service already is changes nothing and writes nothing.
    let o = on(&emu, "revert", "api", &["--to", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["services"][0]["state"], "steady");
    assert_eq!(v["call_log"].as_array().map(Vec::len), Some(0));
    assert_eq!(journal(&emu).len(), 2);
}

#[test]
fn revert_that_never_settles_times_out_with_exit_5_and_an_honest_journal() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    // The emulator runs 2 tasks per service: a service wanting 3 never settles.
    never_steady(&client, "big");
    let o = on(&emu, "revert", "big", &["--to", "3", "--timeout", "1s"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("re-attach with: ecs-revert wait --cluster ltc --service big"),
        "{}",
        stderr(&o)
    );
    // The change was made and the result says so; the journal does not claim success.
    assert_eq!(json_stdout(&o)["services"][0]["state"], "updated");
    assert_eq!(service_td(&client, "big"), "api:3");
    let j = journal(&emu);
    assert_eq!(j[1]["outcome"], "failed");
    assert!(
        j[1]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("may still be running"),
        "{j:?}"
    );
}

// Issue 14: SIGINT during the wait journals `interrupted` (the change was
// made) and exits 130; `revert --to` the same target again makes no call and
// only waits; a plain `revert` refuses to undo it; `wait` re-attaches.
#[test]
fn sigint_during_the_wait_is_journaled_and_the_revert_again_is_idempotent() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    // The emulator runs 2 tasks per service: a service wanting 3 never settles.
    never_steady(&client, "slow");
    let args = [
        "revert",
        "--cluster",
        CLUSTER,
        "--service",
        "slow",
        "--to",
        "api:3",
    ];
    let o = testkit::interrupted_at(cmd(&emu).args(args), "UpdateService accepted");
    let err_text = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err_text}");
    let stdout = o.stdout;
    let v: Value = serde_json::from_slice(&stdout).expect("JSON result");
    assert_eq!(v["next"]["state"], "interrupted");
    assert_eq!(v["next"]["inventory"][0]["task_definition"], "api:3");
    assert_eq!(service_td(&client, "slow"), "api:3");
    let j = journal(&emu);
    assert_eq!(j.len(), 2, "{j:?}");
    assert_eq!(j[1]["outcome"], "interrupted");
    assert!(
        j[1]["message"]
            .as_str()
            .unwrap()
            .contains("re-attach: ecs-revert wait --cluster ltc --service slow"),
        "{j:?}"
    );

    // The same revert again: already on the target, no UpdateService, it only waits.
    let o = run(&emu, &[&args[..], &["--timeout", "1s"]].concat());
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["call_log"].as_array().map(Vec::len), Some(0));
    assert_eq!(v["services"][0]["state"], "unchanged");
    assert_eq!(journal(&emu).len(), 2, "nothing new journaled");
    // A plain revert (no --to) finishes the interrupted revert: same target, no
    // UpdateService, it waits (never steady here: exit 5), rather than choosing a
    // new "previous" (api:4, the release rolled back from).
    let o = on(&emu, "revert", "slow", &["--timeout", "1s"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["services"][0]["source"], "resume", "{v}");
    assert_eq!(v["services"][0]["to"], "api:3", "{v}");
    assert_eq!(v["call_log"].as_array().map(Vec::len), Some(0));
    assert_eq!(service_td(&client, "slow"), "api:3");
    // `wait` re-attaches (and times out here: the emulator never runs 3 tasks).
    let o = on(&emu, "wait", "slow", &["--timeout", "1s"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
}

/// A revert killed after its UpdateService landed leaves an intent with no
/// outcome. Re-running it (the documented resume) finishes that revert instead
/// of picking a new "previous" (the release just rolled back from, refused).
#[test]
fn rerun_after_a_revert_killed_before_its_outcome_finishes_it() {
    let emu = emulator();
    let client = fixture(&emu, &["api"]);
    let o = on(&emu, "revert", "api", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(service_td(&client, "api"), "api:3");
    // What SIGKILL leaves: the shared journal has the intent and no outcome.
    let tree = emu
        .journal_path()
        .parent()
        .expect("journal folder")
        .join("state/default/journal");
    let mut removed = 0;
    for f in std::fs::read_dir(&tree).expect("state journal") {
        let p = f.expect("entry").path();
        if p.to_string_lossy().ends_with("-outcome.json") {
            std::fs::remove_file(&p).expect("remove outcome");
            removed += 1;
        }
    }
    assert_eq!(removed, 1, "one outcome in {}", tree.display());

    let o = on(&emu, "revert", "api", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["services"][0]["to"], "api:3", "{v}");
    assert_eq!(v["services"][0]["source"], "resume", "{v}");
    assert!(stderr(&o).contains("finishing it"), "{}", stderr(&o));
    assert_eq!(service_td(&client, "api"), "api:3");
}
