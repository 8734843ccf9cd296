//! Runs the built `db-snapshot` binary against the moto emulator (PostgreSQL
//! instances, an Aurora cluster, manual and automated snapshots) and checks exit
//! codes, the JSON on stdout, the journal, and the end state read back with the SDK.

use std::process::Output;

use aws_sdk_rds::Client;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use testkit::{Emulator, EmulatorGuard, code, json_stdout, offline_env, runtime as rt, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_db-snapshot");

fn client(emu: &EmulatorGuard) -> Client {
    Client::new(&testkit::sdk_config(emu))
}

fn bin(emu: &EmulatorGuard, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    emu.configure(&mut cmd);
    cmd.args(args).arg("--output").arg("json");
    cmd.output().expect("run db-snapshot")
}

/// db-snapshot with dummy keys and a closed port for an endpoint: any AWS
/// call would fail with exit 3.
fn offline(args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("LTC_ENV").env_remove("AWS_PROFILE");
    cmd.envs(offline_env()).args(args);
    cmd.output().expect("run")
}

/// [`bin`] with the words of `line` (split at white space) as arguments.
fn cli(emu: &EmulatorGuard, line: &str) -> Output {
    bin(emu, &testkit::words(line))
}

fn journal(emu: &EmulatorGuard) -> Vec<Value> {
    testkit::journal_entries(emu)
}

/// The shared emulator with the instance ltc-db (see [`postgres`]) and, when
/// `snapshot` is given, a manual snapshot of it by that name.
fn ltc_db(snapshot: Option<&str>) -> (EmulatorGuard, Client) {
    let emu = Emulator::shared();
    let c = client(&emu);
    postgres(&c, "ltc-db");
    if let Some(id) = snapshot {
        manual_snapshot(&c, "ltc-db", id);
    }
    (emu, c)
}

fn actions(emu: &EmulatorGuard, phase: &str) -> Vec<String> {
    journal(emu)
        .iter()
        .filter(|e| e["phase"] == phase)
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A PostgreSQL instance with every setting a restore must copy.
fn postgres(c: &Client, id: &str) {
    rt().block_on(async {
        let _ = c
            .create_db_parameter_group()
            .db_parameter_group_name("ltc-pg16")
            .db_parameter_group_family("postgres16")
            .description("ltc")
            .send()
            .await;
        c.create_db_instance()
            .db_instance_identifier(id)
            .engine("postgres")
            .db_instance_class("db.t3.small")
            .allocated_storage(20)
            .master_username("ltc")
            .master_user_password("password123")
            .storage_type("gp3")
            .multi_az(true)
            .deletion_protection(true)
            .db_parameter_group_name("ltc-pg16")
            .vpc_security_group_ids("sg-0ltc")
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key("app")
                    .value("ltc")
                    .build(),
            )
            .send()
            .await
            .expect("create instance");
    });
}

fn manual_snapshot(c: &Client, instance: &str, id: &str) {
    rt().block_on(async {
        c.create_db_snapshot()
            .db_instance_identifier(instance)
            .db_snapshot_identifier(id)
            .send()
            .await
            .expect("create snapshot");
    });
}

fn describe(c: &Client, id: &str) -> Option<aws_sdk_rds::types::DbInstance> {
    rt().block_on(async {
        c.describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .ok()
            .and_then(|o| o.db_instances().first().cloned())
    })
}

fn snapshot_ids(c: &Client, instance: &str) -> Vec<String> {
    rt().block_on(async {
        c.describe_db_snapshots()
            .db_instance_identifier(instance)
            .send()
            .await
            .expect("describe snapshots")
            .db_snapshots()
            .iter()
            .filter_map(|s| s.db_snapshot_identifier().map(str::to_owned))
            .collect()
    })
}

#[test]
fn create_waits_tags_journals_and_a_rerun_with_the_same_id_is_idempotent() {
    let (emu, c) = ltc_db(None);
    let o = bin(
        &emu,
        &[
            "create",
            "--instance",
            "ltc-db",
            "--snapshot-id",
            "pre-deploy-1",
            "--tag",
            "release=42",
            "--reason",
            "release 42",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["snapshot_id"], "pre-deploy-1");
    assert_eq!(v["created"], true);
    assert_eq!(v["status"], "available");
    assert_eq!(v["allocated_storage_gib"], 20);
    assert_eq!(v["tags"]["release"], "42");
    assert_eq!(v["tags"]["ltc:reason"], "release 42");
    assert!(v["api_calls"].as_u64().unwrap_or(0) >= 3);
    assert_eq!(actions(&emu, "intent"), ["db.snapshot.create"]);
    assert_eq!(actions(&emu, "outcome"), ["db.snapshot.create"]);

    let again = cli(&emu, "create --instance ltc-db --snapshot-id pre-deploy-1");
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(json_stdout(&again)["created"], false);
    assert!(stderr(&again).contains("already exists"));
    // No second change recorded, no second snapshot.
    assert_eq!(actions(&emu, "intent").len(), 1);
    let manual: Vec<_> = snapshot_ids(&c, "ltc-db")
        .into_iter()
        .filter(|s| !s.starts_with("rds:"))
        .collect();
    assert_eq!(manual, ["pre-deploy-1"]);
}

#[test]
fn generated_name_is_prefix_instance_and_utc_timestamp() {
    let (emu, _) = ltc_db(None);
    let o = cli(&emu, "create --instance ltc-db --prefix hotfix");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let id = json_stdout(&o)["snapshot_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ts = id
        .strip_prefix("hotfix-ltc-db-")
        .unwrap_or_else(|| panic!("{id}"));
    assert_eq!(ts.len(), 15, "{id}");
    assert!(
        chrono::NaiveDateTime::parse_from_str(ts, "%Y%m%d-%H%M%S").is_ok(),
        "{id}"
    );
}

#[test]
fn list_is_newest_first_and_filters_by_type_and_prefix() {
    let (emu, c) = ltc_db(Some("pre-deploy-a"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    manual_snapshot(&c, "ltc-db", "other-b");
    let o = cli(&emu, "list --instance ltc-db");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    let ids: Vec<&str> = v["snapshots"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["snapshot_id"].as_str()).collect())
        .unwrap_or_default();
    // moto returns oldest first; the automated one was made with the instance.
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(&ids[..2], ["other-b", "pre-deploy-a"]);
    assert!(ids[2].starts_with("rds:ltc-db-"), "{ids:?}");
    assert!(v["snapshots"][0]["age_seconds"].is_u64());

    let manual = json_stdout(&cli(&emu, "list --instance ltc-db --manual"));
    assert_eq!(manual["snapshots"].as_array().map(Vec::len), Some(2));
    let auto = json_stdout(&cli(&emu, "list --instance ltc-db --automated"));
    assert_eq!(auto["snapshots"].as_array().map(Vec::len), Some(1));
    let pre = json_stdout(&cli(&emu, "list --instance ltc-db --prefix pre-deploy"));
    assert_eq!(pre["snapshots"][0]["snapshot_id"], "pre-deploy-a");
    assert_eq!(pre["snapshots"].as_array().map(Vec::len), Some(1));
}

#[test]
fn latest_picks_newest_available_and_none_exits_3() {
    let (emu, _) = ltc_db(Some("pre-deploy-a"));
    let o = cli(&emu, "latest --instance ltc-db");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["snapshot_id"], "pre-deploy-a");

    let none = cli(&emu, "latest --instance ltc-db --prefix nothing");
    assert_eq!(code(&none), 3, "{}", stderr(&none));
    assert!(
        stderr(&none).contains("no available snapshot"),
        "{}",
        stderr(&none)
    );
    assert_eq!(stderr(&none).lines().count(), 1, "{}", stderr(&none));

    let missing = cli(&emu, "latest --instance no-such-db");
    assert_eq!(code(&missing), 3);
    assert!(
        stderr(&missing).contains("no-such-db not found"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn restore_latest_copies_the_source_settings() {
    let (emu, c) = ltc_db(Some("pre-deploy-a"));
    let o = cli(
        &emu,
        "restore --snapshot latest --instance ltc-db --target ltc-db-r1",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["snapshot_id"], "pre-deploy-a");
    assert_eq!(v["status"], "available");
    assert!(
        v["endpoint"]
            .as_str()
            .unwrap_or_default()
            .starts_with("ltc-db-r1."),
        "{v}"
    );
    assert!(stderr(&o).contains("anything written since then will not be in ltc-db-r1"));

    // Read back independently.
    let r = describe(&c, "ltc-db-r1").expect("restored instance exists");
    assert_eq!(r.db_instance_class(), Some("db.t3.small"));
    assert_eq!(r.multi_az(), Some(true));
    assert_eq!(r.storage_type(), Some("gp3"));
    assert_eq!(r.deletion_protection(), Some(true));
    let sgs: Vec<_> = r
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(sgs, ["sg-0ltc"]);
    let pgs: Vec<_> = r
        .db_parameter_groups()
        .iter()
        .filter_map(|g| g.db_parameter_group_name())
        .collect();
    assert_eq!(pgs, ["ltc-pg16"]);
    let tag = |k: &str| {
        r.tag_list()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value().map(str::to_owned))
    };
    assert_eq!(tag("app").as_deref(), Some("ltc"));
    assert_eq!(tag("ltc:restored-from").as_deref(), Some("pre-deploy-a"));
    // The source is untouched.
    assert!(describe(&c, "ltc-db").is_some());
    assert_eq!(actions(&emu, "intent"), ["db.restore"]);
}

#[test]
fn restore_swap_leaves_the_restored_instance_under_the_source_name() {
    let (emu, c) = ltc_db(Some("pre-deploy-a"));
    let o = cli(
        &emu,
        "restore --snapshot pre-deploy-a --instance ltc-db --target ltc-db-r1 --swap",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    let aside = v["swap"]["original_now_named"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(aside.starts_with("ltc-db-pre-restore-"), "{v}");
    assert_eq!(v["swap"]["replacement_now_named"], "ltc-db");

    let now_source = describe(&c, "ltc-db").expect("ltc-db exists");
    assert!(
        now_source
            .tag_list()
            .iter()
            .any(|t| t.key() == Some("ltc:restored-from")),
        "ltc-db is the restored one"
    );
    // moto gives every instance the same DbiResourceId, so tell them apart by tag.
    let moved = describe(&c, &aside).expect("original moved aside");
    assert!(
        !moved
            .tag_list()
            .iter()
            .any(|t| t.key() == Some("ltc:restored-from"))
    );
    assert!(describe(&c, "ltc-db-r1").is_none());
}

#[test]
fn dry_run_lists_calls_and_changes_nothing() {
    let (emu, c) = ltc_db(Some("pre-deploy-a"));
    let o = cli(
        &emu,
        "restore --snapshot latest --instance ltc-db --target ltc-db-r1 --swap --dry-run",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    let ops: Vec<&str> = v["planned"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["operation"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ops,
        [
            "RestoreDBInstanceFromDBSnapshot",
            "ModifyDBInstance",
            "ModifyDBInstance"
        ]
    );
    assert!(stderr(&o).contains("dry run: would call ModifyDBInstance"));
    assert!(describe(&c, "ltc-db-r1").is_none());
    let o = cli(&emu, "create --instance ltc-db --dry-run");
    assert_eq!(code(&o), 0);
    assert_eq!(
        json_stdout(&o)["planned"][0]["operation"],
        "CreateDBSnapshot"
    );
    assert_eq!(snapshot_ids(&c, "ltc-db").len(), 2);
    assert!(journal(&emu).is_empty());
}

#[test]
fn production_guard_refuses_without_yes_and_changes_nothing() {
    let (emu, c) = ltc_db(None);
    let o = cli(&emu, "create --instance ltc-db --env prod");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    assert_eq!(
        snapshot_ids(&c, "ltc-db").len(),
        1,
        "only the automated one"
    );
    let o = cli(&emu, "create --instance ltc-db --env prod --yes");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(snapshot_ids(&c, "ltc-db").len(), 2);
}

#[test]
fn prune_keeps_n_never_automated_and_journals_each_delete() {
    let (emu, c) = ltc_db(None);
    for id in ["pre-deploy-1", "pre-deploy-2", "pre-deploy-3"] {
        manual_snapshot(&c, "ltc-db", id);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let dry = cli(&emu, "prune --instance ltc-db --keep 1 --dry-run");
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    assert_eq!(
        json_stdout(&dry)["deleted"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(snapshot_ids(&c, "ltc-db").len(), 4);

    let o = cli(&emu, "prune --instance ltc-db --keep 1");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut left = snapshot_ids(&c, "ltc-db");
    left.sort();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[0], "pre-deploy-3");
    assert!(left[1].starts_with("rds:"));
    assert_eq!(
        actions(&emu, "intent"),
        ["db.snapshot.delete", "db.snapshot.delete"]
    );

    let keep0 = cli(&emu, "prune --instance ltc-db --keep 0");
    assert_eq!(code(&keep0), 2);
}

#[test]
fn verify_compares_settings_and_runs_the_check_with_the_endpoint() {
    let (emu, c) = ltc_db(Some("pre-deploy-a"));
    let o = cli(
        &emu,
        "restore --snapshot pre-deploy-a --instance ltc-db --target ltc-db-r1",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let ok = bin(
        &emu,
        &[
            "verify",
            "--instance",
            "ltc-db-r1",
            "--against",
            "ltc-db",
            "--check-cmd",
            r#"test "$LTC_DB_INSTANCE" = ltc-db-r1 && test "$LTC_DB_PORT" = 5432 && case "$LTC_DB_HOST" in ltc-db-r1.*) echo rows=42;; *) exit 9;; esac"#,
        ],
    );
    assert_eq!(
        code(&ok),
        0,
        "{}\n{}",
        stderr(&ok),
        String::from_utf8_lossy(&ok.stdout)
    );
    let v = json_stdout(&ok);
    assert_eq!(v["ok"], true);
    assert!(
        stderr(&ok).contains("rows=42"),
        "check output goes to stderr"
    );

    let bad = bin(
        &emu,
        &[
            "verify",
            "--instance",
            "ltc-db-r1",
            "--check-cmd",
            "echo 'count mismatch' >&2; exit 3",
        ],
    );
    assert_eq!(code(&bad), 4, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("count mismatch"));
    assert_eq!(json_stdout(&bad)["ok"], false);

    // A different class is a mismatch.
    postgres(&c, "ltc-db-other");
    rt().block_on(async {
        c.modify_db_instance()
            .db_instance_identifier("ltc-db-other")
            .db_instance_class("db.r6g.large")
            .apply_immediately(true)
            .send()
            .await
            .expect("modify");
    });
    let diff = cli(&emu, "verify --instance ltc-db-other --against ltc-db");
    assert_eq!(code(&diff), 4, "{}", stderr(&diff));
    assert!(
        stderr(&diff).contains("instance class"),
        "{}",
        stderr(&diff)
    );
}

#[test]
fn aurora_cluster_create_list_latest_and_restore() {
    let emu = Emulator::shared();
    let c = client(&emu);
    rt().block_on(async {
        c.create_db_cluster()
            .db_cluster_identifier("ltc-aurora")
            .engine("aurora-postgresql")
            .master_username("ltc")
            .master_user_password("password123")
            .vpc_security_group_ids("sg-0ltc")
            .deletion_protection(true)
            .send()
            .await
            .expect("cluster");
        c.create_db_instance()
            .db_instance_identifier("ltc-aurora-1")
            .db_cluster_identifier("ltc-aurora")
            .engine("aurora-postgresql")
            .db_instance_class("db.r6g.large")
            .send()
            .await
            .expect("writer");
    });
    let o = cli(
        &emu,
        "create --cluster ltc-aurora --snapshot-id pre-deploy-c1",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["status"], "available");
    let l = json_stdout(&cli(&emu, "list --cluster ltc-aurora"));
    assert_eq!(l["snapshots"][0]["snapshot_id"], "pre-deploy-c1");
    assert_eq!(
        l["snapshots"].as_array().map(Vec::len),
        Some(2),
        "manual and automated"
    );
    let latest = json_stdout(&cli(&emu, "latest --cluster ltc-aurora"));
    assert_eq!(latest["snapshot_id"], "pre-deploy-c1");
    let r = cli(
        &emu,
        "restore --snapshot latest --cluster ltc-aurora --target ltc-aurora-r1",
    );
    assert_eq!(code(&r), 0, "{}", stderr(&r));
    let restored = rt().block_on(async {
        c.describe_db_clusters()
            .db_cluster_identifier("ltc-aurora-r1")
            .send()
            .await
            .expect("restored cluster")
    });
    let cl = &restored.db_clusters()[0];
    assert_eq!(cl.engine(), Some("aurora-postgresql"));
    assert_eq!(cl.deletion_protection(), Some(true));
    // The restored cluster got a writer like the source's, so it can serve.
    assert_eq!(json_stdout(&r)["writer_instance"], "ltc-aurora-r1-writer");
    let writer = rt().block_on(async {
        c.describe_db_instances()
            .db_instance_identifier("ltc-aurora-r1-writer")
            .send()
            .await
            .expect("writer instance")
    });
    let w = &writer.db_instances()[0];
    assert_eq!(w.db_cluster_identifier(), Some("ltc-aurora-r1"));
    assert_eq!(w.db_instance_class(), Some("db.r6g.large"));
    assert_eq!(w.engine(), Some("aurora-postgresql"));
    assert!(
        !stderr(&r).contains("no DB instances yet"),
        "{}",
        stderr(&r)
    );
    let journal = std::fs::read_to_string(emu.journal_path()).unwrap();
    assert!(
        journal.contains("\"action\":\"db.restore.writer\""),
        "{journal}"
    );
}

/// Bad input exits 2 with one line and makes no call: the endpoint is a closed
/// port, so any call would end in exit 3 instead.
#[test]
fn bad_identifiers_exit_2_before_any_call() {
    // Too long to name the restored cluster's writer (`<target>-writer`, 63 at most).
    let long_cluster_target = "a".repeat(57);
    let lines = [
        format!("restore --snapshot s1 --cluster ltc-aurora --target {long_cluster_target}"),
        "create --instance 1db".into(),
        "create --instance ltc--db".into(),
        "create --instance ltc-db-".into(),
        "create --instance ltc_db".into(),
        format!("create --instance {}", "a".repeat(64)),
        "create --cluster bad.name".into(),
        "create --instance ltc-db --snapshot-id snap--1".into(),
        format!("create --instance ltc-db --snapshot-id {}", "s".repeat(256)),
        "create --instance ltc-db --prefix -x".into(),
        "latest --instance Ltc-".into(),
        "restore --snapshot s1 --instance ltc-db --target ltc-db".into(),
        "restore --snapshot bad_snap --instance ltc-db --target new".into(),
        "restore --snapshot s1 --instance ltc-db --target 9new".into(),
        "restore --snapshot s1 --cluster ltc-aurora --target new --swap".into(),
        "prune --instance ltc-db --keep 0".into(),
        "verify --instance ltc-db --against x--y".into(),
        "wait --instance ltc-db --snapshot -bad".into(),
        "swap --instance ltc-db --with ltc-db".into(),
        "create --instance ltc-db --timeout 30".into(),
        "create".into(),
        "create --instance a --cluster b".into(),
    ];
    let mut cases: Vec<Vec<&str>> = lines
        .iter()
        .map(|l: &String| l.split_whitespace().collect())
        .collect();
    // A space inside an argument.
    cases.push(vec!["list", "--instance", "ltc db"]);
    for args in &cases {
        let o = offline(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?}");
        let err = stderr(&o);
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        // clap's own errors (unknown or missing flags) add a usage block; ours are one line.
        let clap_error = err.contains("try '--help'");
        if !clap_error {
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        }
    }
}

#[test]
fn restore_reads_the_snapshot_from_stdin_json_of_latest() {
    let (emu, c) = ltc_db(Some("pre-deploy-a"));
    let latest = cli(&emu, "latest --instance ltc-db --prefix pre-deploy");
    assert_eq!(code(&latest), 0);
    let mut cmd = Command::new(BIN);
    emu.configure(&mut cmd);
    cmd.args([
        "restore",
        "--snapshot",
        "-",
        "--instance",
        "ltc-db",
        "--target",
        "ltc-db-r2",
        "--output",
        "json",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&latest.stdout).expect("write stdin");
    }
    let o = child.wait_with_output().expect("wait");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["snapshot_id"], "pre-deploy-a");
    assert!(describe(&c, "ltc-db-r2").is_some());
}

/// Tags an instance so a test can tell the original from the replacement
/// (moto gives every instance the same DbiResourceId).
fn tag_role(c: &Client, id: &str, role: &str) {
    rt().block_on(async {
        let arn = c
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .expect("describe")
            .db_instances()
            .first()
            .and_then(|i| i.db_instance_arn().map(str::to_owned))
            .expect("arn");
        c.add_tags_to_resource()
            .resource_name(arn)
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key("test:role")
                    .value(role)
                    .build(),
            )
            .send()
            .await
            .expect("tag");
    });
}

fn role(c: &Client, id: &str) -> Option<String> {
    describe(c, id).and_then(|i| {
        i.tag_list()
            .iter()
            .find(|t| t.key() == Some("test:role"))
            .and_then(|t| t.value().map(str::to_owned))
    })
}

fn rename(c: &Client, from: &str, to: &str) {
    rt().block_on(async {
        c.modify_db_instance()
            .db_instance_identifier(from)
            .new_db_instance_identifier(to)
            .apply_immediately(true)
            .send()
            .await
            .expect("rename");
    });
}

const ASIDE: &str = "ltc-db-pre-restore-20261202-031500";

/// The journal line a swap writes before its first rename, as left by a run
/// killed (SIGKILL) after it: an intent with no outcome.
fn killed_swap_in_journal(emu: &EmulatorGuard) {
    let line = serde_json::json!({
        "id": "20261202T031500.000Z-4242-0",
        "phase": "intent",
        "time": "2026-12-02T03:15:00Z",
        "binary": "db-snapshot",
        "action": "db.swap",
        "target": "rds:instance/ltc-db",
        "before": {
            "plan": {"source": "ltc-db", "replacement": "ltc-db-r1", "aside": ASIDE},
            "goal": "forward",
            "ids": {"original": null, "replacement": null},
            "resumed": false
        }
    });
    std::fs::write(emu.journal_path(), format!("{line}\n")).expect("write journal");
    // The journal of record is the environment's state tree (by default a
    // `state` folder beside the journal file): the killed run's intent is there.
    let dir = emu
        .journal_path()
        .parent()
        .expect("journal folder")
        .join("state/default/journal");
    std::fs::create_dir_all(&dir).expect("state journal folder");
    std::fs::write(
        dir.join("20261202T031500.000Z-4242-0-intent.json"),
        line.to_string(),
    )
    .expect("write the shared journal entry");
}

/// Original and replacement, told apart by a tag.
fn two_instances(c: &Client) {
    postgres(c, "ltc-db");
    postgres(c, "ltc-db-r1");
    tag_role(c, "ltc-db", "original");
    tag_role(c, "ltc-db-r1", "replacement");
}

#[test]
fn swap_resume_after_a_kill_between_the_renames_puts_an_instance_under_the_source_name() {
    let emu = Emulator::shared();
    let c = client(&emu);
    two_instances(&c);
    // Killed after the first rename: nothing is named ltc-db.
    killed_swap_in_journal(&emu);
    rename(&c, "ltc-db", ASIDE);
    assert!(describe(&c, "ltc-db").is_none());

    let o = cli(&emu, "swap --resume --instance ltc-db");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["resumed"], true);
    assert_eq!(v["replacement_now_named"], "ltc-db");

    // Read back with the SDK, not through the tool.
    let now = describe(&c, "ltc-db").expect("an instance is named ltc-db");
    assert_eq!(now.db_instance_status(), Some("available"));
    assert_eq!(role(&c, "ltc-db").as_deref(), Some("replacement"));
    assert_eq!(role(&c, ASIDE).as_deref(), Some("original"));
    assert!(describe(&c, "ltc-db-r1").is_none());
    let outcomes: Vec<(String, String)> = journal(&emu)
        .iter()
        .filter(|e| e["phase"] == "outcome")
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("db.swap.promote".to_owned(), "ok".to_owned()),
            ("db.swap".to_owned(), "ok".to_owned())
        ]
    );
    // Finished: resuming again has nothing to do (exit 2, nothing renamed).
    let again = cli(&emu, "swap --resume --instance ltc-db");
    assert_eq!(code(&again), 2, "{}", stderr(&again));
    assert_eq!(role(&c, "ltc-db").as_deref(), Some("replacement"));
}

#[test]
fn swap_resume_undo_after_a_kill_puts_the_original_back() {
    let emu = Emulator::shared();
    let c = client(&emu);
    two_instances(&c);
    // Killed after both renames, the operator wants the original back.
    killed_swap_in_journal(&emu);
    rename(&c, "ltc-db", ASIDE);
    rename(&c, "ltc-db-r1", "ltc-db");

    let o = cli(&emu, "swap --resume --undo --instance ltc-db");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["original_now_named"], "ltc-db");
    let now = describe(&c, "ltc-db").expect("an instance is named ltc-db");
    assert_eq!(now.db_instance_status(), Some("available"));
    assert_eq!(role(&c, "ltc-db").as_deref(), Some("original"));
    assert_eq!(role(&c, "ltc-db-r1").as_deref(), Some("replacement"));
    assert!(describe(&c, ASIDE).is_none());
}

#[test]
fn rerunning_the_swap_command_continues_the_unfinished_swap() {
    let emu = Emulator::shared();
    let c = client(&emu);
    two_instances(&c);
    killed_swap_in_journal(&emu);
    rename(&c, "ltc-db", ASIDE);
    // The same command as the killed run, not --resume: it continues that swap
    // (with its aside name from the journal) instead of refusing or starting over.
    let o = cli(&emu, "swap --instance ltc-db --with ltc-db-r1");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(role(&c, "ltc-db").as_deref(), Some("replacement"));
    assert_eq!(role(&c, ASIDE).as_deref(), Some("original"));
    // --help says what to run after an interrupted run.
    let help = Command::new(BIN)
        .args(["swap", "--help"])
        .output()
        .expect("help");
    assert!(
        String::from_utf8_lossy(&help.stdout)
            .contains("db-snapshot swap --resume --instance SOURCE")
    );
}

#[test]
fn rerunning_restore_swap_carries_on_with_the_target_it_already_restored() {
    let (emu, c) = ltc_db(Some("pre-deploy-a"));
    let args = [
        "restore",
        "--snapshot",
        "pre-deploy-a",
        "--instance",
        "ltc-db",
        "--target",
        "ltc-db-r1",
    ];
    // A first run restored the target, then stopped before the swap.
    let first = bin(&emu, &args);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let mut with_swap = args.to_vec();
    with_swap.push("--swap");
    let o = bin(&emu, &with_swap);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("already restored from pre-deploy-a by an earlier run"),
        "{}",
        stderr(&o)
    );
    assert_eq!(json_stdout(&o)["swap"]["replacement_now_named"], "ltc-db");
    // One restore call in all: the journal has a single db.restore intent.
    assert_eq!(
        actions(&emu, "intent")
            .iter()
            .filter(|a| *a == "db.restore")
            .count(),
        1
    );
    let now = describe(&c, "ltc-db").expect("ltc-db exists");
    assert!(
        now.tag_list()
            .iter()
            .any(|t| t.key() == Some("ltc:restored-from") && t.value() == Some("pre-deploy-a"))
    );
    // A target that is not a restore of this snapshot is still refused.
    postgres(&c, "ltc-db-other");
    let refused = cli(
        &emu,
        "restore --snapshot pre-deploy-a --instance ltc-db --target ltc-db-other",
    );
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("refusing to restore over it"));
}

#[test]
fn huge_or_negative_inputs_are_refused_in_one_short_line_before_any_call() {
    let huge = format!("{}_", "a".repeat(100_000));
    let huge_number = "9".repeat(100_000);
    let cases: &[&[&str]] = &[
        &["create", "--instance", &huge],
        &["swap", "--resume", "--instance", &huge],
        &["swap", "--instance", "ltc-db", "--with", &huge],
        &["prune", "--instance", "ltc-db", "--keep", "-1"],
        &["prune", "--instance", "ltc-db", "--keep", &huge_number],
        &[
            "restore",
            "--snapshot",
            &huge,
            "--instance",
            "ltc-db",
            "--target",
            "n",
        ],
    ];
    for args in cases {
        let o = offline(args);
        let err = stderr(&o);
        let shown: String = err.chars().take(300).collect();
        assert_eq!(code(&o), 2, "{shown}");
        assert_eq!(err.trim_end().lines().count(), 1, "{shown}");
        assert!(err.len() < 400, "{} characters: {shown}", err.len());
    }
}

#[test]
fn sigint_during_a_wait_exits_130_with_the_reattach_command() {
    let (emu, c) = ltc_db(None);
    // A stopped instance never becomes available on its own: the wait goes on.
    rt().block_on(async {
        c.stop_db_instance()
            .db_instance_identifier("ltc-db")
            .send()
            .await
            .expect("stop");
    });
    let mut cmd = Command::new(BIN);
    emu.configure(&mut cmd);
    cmd.args([
        "wait",
        "--instance",
        "ltc-db",
        "--timeout",
        "2m",
        "--output",
        "json",
    ]);
    // Interrupted once it says it is waiting (an event, not a delay).
    let o = testkit::interrupted_at(&mut cmd, "waiting for");
    assert_eq!(code(&o), 130, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("re-attach with: db-snapshot wait --instance ltc-db"),
        "{}",
        stderr(&o)
    );
}

/// `wait` on what is already available returns at once with what it waited
/// for (the result validates against docs/schema/db-snapshot/wait.schema.json
/// through `json_stdout`), and on a missing snapshot fails with exit 3
/// naming it instead of waiting out its timeout.
#[test]
fn wait_returns_what_it_waited_for_and_a_missing_snapshot_is_an_error() {
    let (emu, _c) = ltc_db(Some("pre-deploy-7"));
    let o = bin(&emu, &["wait", "--instance", "ltc-db", "--timeout", "1m"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["instance"]["instance_id"], "ltc-db", "{v:#}");
    assert_eq!(v["instance"]["status"], "available", "{v:#}");
    assert!(v.get("snapshot").is_none(), "{v:#}");

    let o = bin(
        &emu,
        &[
            "wait",
            "--instance",
            "ltc-db",
            "--snapshot",
            "pre-deploy-7",
            "--timeout",
            "1m",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["snapshot"]["snapshot_id"], "pre-deploy-7", "{v:#}");
    assert_eq!(v["snapshot"]["status"], "available", "{v:#}");
    assert_eq!(v["snapshot"]["source"], "ltc-db", "{v:#}");

    let o = bin(
        &emu,
        &[
            "wait",
            "--instance",
            "ltc-db",
            "--snapshot",
            "nope-1",
            "--timeout",
            "1m",
        ],
    );
    let err = stderr(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(err.contains("snapshot nope-1 no longer exists"), "{err}");
}
