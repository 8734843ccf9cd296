//! run-state's published JSON Schemas (docs/schema/run-state/, see
//! docs/notes/output.md): each is generated from the command's output type
//! plus the envelope, the committed files are the generated ones, and the real
//! stdout of every command validates against its schema.
//! Regenerate: `LTC_UPDATE_SCHEMAS=1 cargo test -p run-state --test schema`.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use common::schemars::JsonSchema;
use run_state::{freeze, lock, report, runs};
use serde_json::Value;
use testkit::{code, json_stdout, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_run-state");
const BINARY: &str = "run-state";

fn result<T: JsonSchema>(command: &str) -> (String, Value) {
    common::schema::entry::<T>(BINARY, command)
}

/// Every command with a JSON result and the type it prints. Not here: `lock
/// hold`, `journal` and `runs last` print event lines built as untyped JSON;
/// `runs get` prints the stored record as it is; `policy` a bare IAM document.
fn schemas() -> Vec<(String, Value)> {
    vec![
        result::<lock::LockStatus>("lock status"),
        result::<lock::BreakResult>("lock break"),
        result::<lock::NewRunId>("lock new-run-id"),
        result::<freeze::FreezeResult>("freeze"),
        result::<freeze::FreezeResult>("unfreeze"),
        result::<runs::RunList>("runs list"),
        result::<runs::RunShow>("runs show"),
        result::<runs::PutResult>("runs put"),
        result::<report::ReportResult>("report"),
    ]
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    if let Err(e) = common::schema::check_binary(&testkit::workspace_root(), BINARY, &schemas()) {
        panic!("{e}");
    }
}

fn run(state: &std::path::Path, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    for (k, v) in testkit::offline_env() {
        c.env(k, v);
    }
    c.env("LTC_JOURNAL", state.join("journal.jsonl"))
        .env("LTC_STATE", state.join("state"))
        .env("USER", "alice")
        .env_remove("LTC_RUN_ID")
        .env_remove("LTC_RUNS_DIR")
        .args(["--output", "json", "--env", "staging"])
        .args(args)
        .output()
        .expect("run run-state")
}

/// Each command once on a local state tree (several twice, in another
/// state): its stdout validates against the schema its envelope names, and
/// every published schema was exercised.
#[test]
fn real_output_of_every_command_validates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let record = d.join("manifest.json");
    std::fs::write(&record, br#"{"objects": 3}"#).expect("write a record");
    let record = record.to_str().expect("utf-8 path");
    let run_id = "20261202T030000.000Z-deploy-aaaaaa";
    let run_dir = d.join("run");
    std::fs::create_dir_all(&run_dir).expect("run folder");
    let report_out = d.join("report.html");
    let cases: Vec<Vec<&str>> = vec![
        vec!["lock", "new-run-id", "deploy"],
        vec!["lock", "status"],
        vec!["lock", "break", "--reason", "test"],
        vec!["freeze", "--reason", "incident 42"],
        vec!["lock", "status"],
        vec!["freeze", "--reason", "again"],
        vec!["unfreeze"],
        vec!["unfreeze"],
        vec!["runs", "list"],
        vec!["runs", "put", run_id, "site-manifest.json", record],
        vec!["runs", "put", run_id, "other.json", record, "--dry-run"],
        vec!["runs", "list"],
        vec!["runs", "show", run_id],
        vec![
            "report",
            "--run",
            run_id,
            "--run-dir",
            run_dir.to_str().expect("utf-8 path"),
            "--out",
            report_out.to_str().expect("utf-8 path"),
            "--exit-code",
            "0",
        ],
    ];
    let mut seen = BTreeSet::new();
    for args in cases {
        let o = run(d, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        let doc = json_stdout(&o);
        let command = testkit::schema::assert_result_valid(&doc);
        seen.insert(common::schema::file_name(&command));
    }
    // Not vacuous: the same document without a field of its own, or of the
    // envelope, does not validate.
    let doc = json_stdout(&run(d, &["lock", "status"]));
    let path = testkit::schema::result_schema_path(BINARY, "lock status");
    for field in ["held", "finished_at"] {
        let mut bad = doc.clone();
        bad.as_object_mut().expect("an object").remove(field);
        assert!(
            !testkit::schema::errors(&path, &bad).is_empty(),
            "{field} missing and still valid"
        );
    }
    let published: BTreeSet<String> = schemas().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        seen, published,
        "every published schema checked against real output"
    );
}

/// `lock new-run-id` prints a result document (before issue 20 a bare event
/// line); as text, the id alone, which scripts read.
#[test]
fn new_run_id_is_a_result_and_the_id_alone_as_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let doc = json_stdout(&run(dir.path(), &["lock", "new-run-id", "deploy"]));
    assert_eq!(doc["command"], "lock new-run-id");
    assert_eq!(doc["kind"], "deploy");
    let id = doc["run_id"].as_str().expect("run_id");
    assert!(id.contains("-deploy-"), "{id}");
    let o = run(
        dir.path(),
        &["lock", "new-run-id", "rollback", "--output", "text"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = testkit::stdout(&o);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.trim().contains("-rollback-"), "{text}");
}
