//! stack-deploy against the emulator with the committed fixture assembly
//! (fixtures/cdk.out, seven stacks), and bad input with no emulator at all.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed fixture call should panic

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use std::process::Command;
use testkit::{Emulator, EmulatorGuard, json_stdout, offline_env};

const ASSET_BUCKET: &str = "cdk-hnb659fds-assets-123456789012-ap-northeast-1";

fn fixture() -> PathBuf {
    testkit::workspace_root().join("fixtures/cdk.out")
}

fn names(short: &[&str]) -> Vec<String> {
    short
        .iter()
        .map(|s| format!("LightningTalk-{s}-prod"))
        .collect()
}

fn bin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("stack-deploy"))
}

fn cmd(emu: &EmulatorGuard) -> Command {
    let mut c = bin();
    emu.configure(&mut c);
    c.arg("--output").arg("json");
    c
}

fn offline() -> Command {
    let mut c = bin();
    for v in [
        "AWS_PROFILE",
        "LTC_ENV",
        "LTC_DEADLINE",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
    ] {
        c.env_remove(v);
    }
    c.envs(offline_env());
    c.env("LTC_JOURNAL", "/dev/null");
    c.arg("--output").arg("json");
    c
}

fn rt() -> tokio::runtime::Runtime {
    testkit::runtime()
}

async fn sdk_config(emu: &EmulatorGuard) -> aws_config::SdkConfig {
    testkit::sdk::load_config(emu).await
}

fn s3(conf: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    testkit::sdk::s3_client(conf)
}

/// What `cdk bootstrap` leaves behind that a deploy needs: the version
/// parameter and the asset bucket.
fn bootstrap(emu: &EmulatorGuard) {
    rt().block_on(async {
        testkit::sdk::cdk_bootstrap(&sdk_config(emu).await, ASSET_BUCKET).await;
    });
}

fn deploy_all(emu: &EmulatorGuard, extra: &[&str]) -> Output {
    cmd(emu)
        .args(["deploy", "--app"])
        .arg(fixture())
        .args(["--all", "--yes"])
        .args(extra)
        .output()
        .unwrap()
}

/// Runs `c`, which must succeed (its stderr shown when it does not).
fn run_ok(c: &mut Command) -> Output {
    succeeded(c.output().unwrap())
}

/// `out`, which must be a success (its stderr shown when it is not).
fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `deploy --yes` of one stack of `app`, which must succeed; its JSON result.
fn deploy_one(emu: &EmulatorGuard, app: &Path, stack: &str) -> Value {
    let out = run_ok(
        cmd(emu)
            .args(["deploy", "--yes", "--app"])
            .arg(app)
            .arg(stack),
    );
    json_stdout(&out)
}

/// Reads a JSON file of an assembly, lets `edit` change it, writes it back.
fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, serde_json::to_string(&v).unwrap()).unwrap();
}

fn actions(v: &Value) -> Vec<(String, String)> {
    v["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stack"].as_str().unwrap().to_owned(),
                s["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn stack_json<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stack"] == name)
        .unwrap_or_else(|| panic!("{name} not in {v}"))
}

fn expected_phases() -> Vec<Vec<String>> {
    vec![
        names(&["Database", "Security"]),
        names(&["Api"]),
        names(&["StaticSite"]),
        names(&["Monitoring", "Observability", "DisasterRecovery"]),
    ]
}

#[test]
fn plan_phases_follow_the_strategy_and_everything_is_new() {
    let emu = Emulator::shared();
    let out = run_ok(
        cmd(&emu)
            .args(["plan", "--app"])
            .arg(fixture())
            .arg("--all"),
    );
    let v = json_stdout(&out);
    let phases: Vec<Vec<String>> = serde_json::from_value(v["phases"].clone()).unwrap();
    assert_eq!(phases, expected_phases());
    for s in v["stacks"].as_array().unwrap() {
        assert_eq!(s["action"], "create", "{s}");
    }
    assert_eq!(stack_json(&v, "LightningTalk-Api-prod")["file_assets"], 1);
}

#[test]
fn plan_offline_makes_no_call() {
    let out = run_ok(
        offline()
            .args(["plan", "--offline", "--app"])
            .arg(fixture())
            .arg("--all"),
    );
    let v = json_stdout(&out);
    let phases: Vec<Vec<String>> = serde_json::from_value(v["phases"].clone()).unwrap();
    assert_eq!(phases, expected_phases());
}

#[test]
fn deploy_all_creates_seven_stacks_then_reports_unchanged_then_updates_a_parameter() {
    let emu = Emulator::shared();
    bootstrap(&emu);

    let out = deploy_all(&emu, &["--method", "direct"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let v = json_stdout(&out);
    assert_eq!(v["ok"], true);
    let acts = actions(&v);
    assert_eq!(acts.len(), 7);
    for (name, a) in &acts {
        assert_eq!(a, "created", "{name}");
    }
    for s in v["stacks"].as_array().unwrap() {
        assert_eq!(s["status"], "CREATE_COMPLETE", "{s}");
        assert!(!s["outputs"].as_object().unwrap().is_empty(), "{s}");
        assert!(
            s["deployed_as"]
                .as_str()
                .unwrap()
                .contains("cdk-hnb659fds-deploy-role"),
            "{s}"
        );
        assert_eq!(s["template_sha256"].as_str().unwrap().len(), 64);
    }
    // Events went to stderr.
    assert!(stderr.contains("CREATE_COMPLETE"), "{stderr}");

    // Independent read: the imports resolved to the exporting stacks' values.
    rt().block_on(async {
        let conf = sdk_config(&emu).await;
        let cfn = aws_sdk_cloudformation::Client::new(&conf);
        let out_of = |stack: &'static str, key: &'static str| {
            let cfn = cfn.clone();
            async move {
                let d = cfn
                    .describe_stacks()
                    .stack_name(stack)
                    .send()
                    .await
                    .unwrap();
                let s = &d.stacks()[0];
                assert_eq!(s.stack_status().unwrap().as_str(), "CREATE_COMPLETE");
                s.outputs()
                    .iter()
                    .find(|o| o.output_key() == Some(key))
                    .and_then(|o| o.output_value())
                    .unwrap_or_else(|| panic!("{stack} has no output {key}"))
                    .to_owned()
            }
        };
        let bucket = out_of("LightningTalk-Database-prod", "BackupBucketName").await;
        let role = out_of("LightningTalk-Security-prod", "AppRoleArn").await;
        let site = out_of("LightningTalk-StaticSite-prod", "SiteBucketName").await;
        let ssm = aws_sdk_ssm::Client::new(&conf);
        let get = |n: &'static str| {
            let ssm = ssm.clone();
            async move {
                ssm.get_parameter()
                    .name(n)
                    .send()
                    .await
                    .unwrap()
                    .parameter()
                    .unwrap()
                    .value()
                    .unwrap()
                    .to_owned()
            }
        };
        assert_eq!(
            get("/ltc/prod/api/settings").await,
            format!("{bucket}|{role}|v2.0.0")
        );
        assert_eq!(
            get("/ltc/prod/dr/protected-buckets").await,
            format!("{bucket},{site}")
        );
        // The file asset is in the bootstrap bucket.
        let key = "12961db93e5fb55f8835b9e957cb3c3984a1757c9543f0dd924fac0e44743cfd.json";
        s3(&conf)
            .head_object()
            .bucket(ASSET_BUCKET)
            .key(key)
            .send()
            .await
            .expect("asset uploaded");
        let tags = cfn
            .describe_stacks()
            .stack_name("LightningTalk-Api-prod")
            .send()
            .await
            .unwrap();
        let s = &tags.stacks()[0];
        assert!(s.tags().iter().any(|t| t.key() == Some("Project")));
        assert!(
            s.role_arn()
                .unwrap()
                .ends_with(":role/cdk-hnb659fds-cfn-exec-role-123456789012-ap-northeast-1"),
            "{:?}",
            s.role_arn()
        );
    });

    // The journal holds an intent and an outcome per stack with the hashes.
    let journal = std::fs::read_to_string(emu.journal_path()).unwrap();
    let entries: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let intents: Vec<&Value> = entries.iter().filter(|e| e["phase"] == "intent").collect();
    assert_eq!(intents.len(), 7);
    assert!(
        intents.iter().all(|e| e["action"] == "stack.create"
            && e["before"]["new_template_sha256"].as_str().is_some())
    );
    let outcomes: Vec<&Value> = entries.iter().filter(|e| e["phase"] == "outcome").collect();
    assert!(outcomes.iter().all(|e| e["outcome"] == "ok"
        && e["after"]["status"] == "CREATE_COMPLETE"
        && e["after"]["template_sha256"].as_str().is_some()));

    // Second run: nothing to do.
    let out = succeeded(deploy_all(&emu, &[]));
    let v = json_stdout(&out);
    for (name, a) in actions(&v) {
        assert_eq!(a, "unchanged", "{name}");
    }
    let journal_after = std::fs::read_to_string(emu.journal_path()).unwrap();
    assert_eq!(
        journal_after, journal,
        "unchanged stacks write no journal entries"
    );

    // Status: all healthy, with outputs.
    let out = run_ok(
        cmd(&emu)
            .args(["status", "--app"])
            .arg(fixture())
            .arg("--all"),
    );
    let v = json_stdout(&out);
    assert_eq!(v["all_ok"], true);
    assert_eq!(v["stacks"].as_array().unwrap().len(), 7);
    assert!(
        stack_json(&v, "LightningTalk-Api-prod")["outputs"]["JobsQueueUrl"]
            .as_str()
            .is_some()
    );

    // A parameter change updates exactly that stack.
    let out = succeeded(deploy_all(
        &emu,
        &["--parameters", "LightningTalk-Api-prod:ApiImageTag=v2.0.1"],
    ));
    let v = json_stdout(&out);
    for (name, a) in actions(&v) {
        let want = if name == "LightningTalk-Api-prod" {
            "updated"
        } else {
            "unchanged"
        };
        assert_eq!(a, want, "{name}");
    }
    let api = stack_json(&v, "LightningTalk-Api-prod");
    assert_eq!(api["status"], "UPDATE_COMPLETE");
    assert_eq!(api["outputs"]["ApiImageTagInUse"], "v2.0.1");
}

/// `--method change-set` against the emulator, for a stack with no imports:
/// moto resolves no Fn::ImportValue during a change-set execution ("No export
/// named ... found") and gives change-set stacks no Outputs or Exports, so only
/// the stack's own resources are checked.
#[test]
fn change_set_method_creates_updates_and_finds_nothing_to_change() {
    let emu = Emulator::shared();
    bootstrap(&emu);
    let db = "LightningTalk-Database-prod";
    let deploy = |app: &Path| {
        let out = run_ok(
            cmd(&emu)
                .args(["deploy", "--yes", "--method", "change-set", "--app"])
                .arg(app)
                .arg(db),
        );
        json_stdout(&out)
    };
    let read = || {
        rt().block_on(async {
            let conf = sdk_config(&emu).await;
            let cfn = aws_sdk_cloudformation::Client::new(&conf);
            let d = cfn.describe_stacks().stack_name(db).send().await.unwrap();
            let status = d.stacks()[0].stack_status().unwrap().as_str().to_owned();
            let value = aws_sdk_ssm::Client::new(&conf)
                .get_parameter()
                .name("/ltc/prod/db/endpoint")
                .send()
                .await
                .unwrap()
                .parameter()
                .unwrap()
                .value()
                .unwrap()
                .to_owned();
            (status, value)
        })
    };

    let v = deploy(&fixture());
    assert_eq!(actions(&v), vec![(db.to_owned(), "created".to_owned())]);
    assert_eq!(stack_json(&v, db)["status"], "CREATE_COMPLETE");
    assert_eq!(
        read(),
        (
            "CREATE_COMPLETE".to_owned(),
            "ltc-db.prod.internal:5432".to_owned()
        )
    );

    // A changed template goes through an UPDATE change set.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    edit_json(
        &dir.path().join("LightningTalk-Database-prod.template.json"),
        |t| {
            t["Resources"]["DbEndpoint7CDA2A80"]["Properties"]["Value"] =
                Value::from("ltc-db2.prod.internal:5432");
        },
    );
    let v = deploy(dir.path());
    assert_eq!(actions(&v), vec![(db.to_owned(), "updated".to_owned())]);
    assert_eq!(stack_json(&v, db)["status"], "UPDATE_COMPLETE");
    assert_eq!(
        read(),
        (
            "UPDATE_COMPLETE".to_owned(),
            "ltc-db2.prod.internal:5432".to_owned()
        )
    );

    let v = deploy(dir.path());
    assert_eq!(actions(&v), vec![(db.to_owned(), "unchanged".to_owned())]);

    let journal = std::fs::read_to_string(emu.journal_path()).unwrap();
    let intents: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["phase"] == "intent")
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(intents, vec!["stack.create", "stack.update"], "{journal}");
}

#[test]
fn dry_run_changes_nothing() {
    let emu = Emulator::shared();
    bootstrap(&emu);
    let out = succeeded(deploy_all(&emu, &["--dry-run"]));
    let v = json_stdout(&out);
    assert_eq!(v["dry_run"], true);
    for (name, a) in actions(&v) {
        assert_eq!(a, "would-create", "{name}");
    }
    assert!(
        v["assets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["action"] == "would-upload")
    );
    rt().block_on(async {
        let conf = sdk_config(&emu).await;
        let stacks = aws_sdk_cloudformation::Client::new(&conf)
            .list_stacks()
            .send()
            .await
            .unwrap();
        assert!(stacks.stack_summaries().is_empty(), "{stacks:?}");
        let objects = s3(&conf)
            .list_objects_v2()
            .bucket(ASSET_BUCKET)
            .send()
            .await
            .unwrap();
        assert_eq!(objects.key_count(), Some(0));
    });
    assert!(!emu.journal_path().exists(), "a dry run writes no journal");
}

#[test]
fn not_bootstrapped_is_said_clearly() {
    let emu = Emulator::shared();
    let out = deploy_all(&emu, &[]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not bootstrapped"), "{stderr}");
    assert!(
        stderr.contains("cdk bootstrap aws://123456789012/ap-northeast-1"),
        "{stderr}"
    );
}

#[test]
fn plan_changes_previews_an_update_with_a_change_set_and_leaves_nothing_behind() {
    let emu = Emulator::shared();
    bootstrap(&emu);
    let db = "LightningTalk-Database-prod";
    deploy_one(&emu, &fixture(), db);
    let read = || {
        rt().block_on(async {
            let conf = sdk_config(&emu).await;
            let cfn = aws_sdk_cloudformation::Client::new(&conf);
            let status = cfn
                .describe_stacks()
                .stack_name(db)
                .send()
                .await
                .unwrap()
                .stacks()[0]
                .stack_status()
                .unwrap()
                .as_str()
                .to_owned();
            let template = cfn
                .get_template()
                .stack_name(db)
                .send()
                .await
                .unwrap()
                .template_body()
                .unwrap()
                .to_owned();
            let change_sets = cfn
                .list_change_sets()
                .stack_name(db)
                .send()
                .await
                .unwrap()
                .summaries()
                .len();
            (status, template, change_sets)
        })
    };
    let before = read();
    assert_eq!((before.0.as_str(), before.2), ("CREATE_COMPLETE", 0));

    // The next release changes one resource and adds another.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    edit_json(
        &dir.path().join("LightningTalk-Database-prod.template.json"),
        |t| {
            t["Resources"]["DbEndpoint7CDA2A80"]["Properties"]["Value"] =
                Value::from("ltc-db2.prod.internal:5432");
            t["Resources"]["AuditQueue"] = serde_json::json!({ "Type": "AWS::SQS::Queue" });
        },
    );

    let plan = |extra: &[&str]| {
        cmd(&emu)
            .args(["plan", "--app"])
            .arg(dir.path())
            .args([
                "LightningTalk-Database-prod",
                "LightningTalk-Security-prod",
                "--changes",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = succeeded(plan(&[]));
    let v = json_stdout(&out);
    let s = stack_json(&v, db);
    assert_eq!(s["action"], "update");
    let mut seen: Vec<(String, String, String)> = s["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_owned(),
                c["logical_id"].as_str().unwrap().to_owned(),
                c["resource_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("Add".into(), "AuditQueue".into(), "AWS::SQS::Queue".into()),
            (
                "Modify".into(),
                "DbEndpoint7CDA2A80".into(),
                "AWS::SSM::Parameter".into()
            ),
        ]
    );
    assert_eq!(s["replaced_or_removed"], 0);
    // Security does not exist yet: its template's resources, all to be added.
    let sec = stack_json(&v, "LightningTalk-Security-prod");
    assert_eq!(sec["action"], "create");
    let added = sec["resource_changes"].as_array().unwrap();
    assert!(
        !added.is_empty() && added.iter().all(|c| c["action"] == "Add"),
        "{sec}"
    );

    // The preview executed nothing and deleted its change set; Security was not created.
    assert_eq!(read(), before);
    rt().block_on(async {
        let conf = sdk_config(&emu).await;
        let cfn = aws_sdk_cloudformation::Client::new(&conf);
        let e = cfn
            .describe_stacks()
            .stack_name("LightningTalk-Security-prod")
            .send()
            .await;
        assert!(e.is_err(), "{e:?}");
    });

    // Nothing is replaced or removed here, so --fail-on-replace passes.
    succeeded(plan(&["--fail-on-replace"]));

    // A dry run creates no change set and says so; --changes cannot go with --offline.
    let out = succeeded(plan(&["--dry-run"]));
    assert!(stack_json(&json_stdout(&out), db)["resource_changes"].is_null());
    let out = plan(&["--offline"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_directory_asset_is_published_as_a_zip_of_its_files() {
    let emu = Emulator::shared();
    bootstrap(&emu);
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    // A Lambda-style code directory, as `cdk synth` stages it.
    let hash = "f00dfeed00000000000000000000000000000000000000000000000000000001";
    let code = dir.path().join(format!("asset.{hash}"));
    std::fs::create_dir_all(code.join("lib")).unwrap();
    std::fs::write(
        code.join("index.js"),
        "exports.handler = async () => 'ok';\n",
    )
    .unwrap();
    std::fs::write(code.join("lib/util.js"), "module.exports = 42;\n").unwrap();
    edit_json(
        &dir.path().join("LightningTalk-Database-prod.assets.json"),
        |m| {
            m["files"][hash] = serde_json::json!({
                "displayName": "Handler/Code",
                "source": { "path": format!("asset.{hash}"), "packaging": "zip" },
                "destinations": { "current": {
                    "bucketName": ASSET_BUCKET,
                    "objectKey": format!("{hash}.zip"),
                    "region": "ap-northeast-1"
                }}
            });
        },
    );

    let v = deploy_one(&emu, dir.path(), "LightningTalk-Database-prod");
    assert!(
        v["assets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["asset"] == "Handler/Code"
                && a["action"] == "uploaded"
                && a["key"] == format!("{hash}.zip")),
        "{v}"
    );
    // Read back independently and unzip.
    let bytes = rt().block_on(async {
        let conf = sdk_config(&emu).await;
        s3(&conf)
            .get_object()
            .bucket(ASSET_BUCKET)
            .key(format!("{hash}.zip"))
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
    });
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut files: Vec<(String, String)> = (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut f, &mut text).unwrap();
            (f.name().unwrap().into_owned(), text)
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            (
                "index.js".into(),
                "exports.handler = async () => 'ok';\n".into()
            ),
            ("lib/util.js".into(), "module.exports = 42;\n".into()),
        ]
    );

    // Published once: a second deploy finds the object and uploads nothing.
    let v = deploy_one(&emu, dir.path(), "LightningTalk-Database-prod");
    let code_asset = v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["asset"] == "Handler/Code")
        .unwrap()
        .clone();
    assert_eq!(code_asset["action"], "present", "{v}");

    // A zip asset whose directory is missing is refused before any call.
    std::fs::remove_dir_all(&code).unwrap();
    let out = offline()
        .args(["deploy", "--yes", "--app"])
        .arg(dir.path())
        .arg("LightningTalk-Database-prod")
        .output()
        .unwrap();
    assert_usage_error(&out, "\"Handler/Code\" directory");
}

#[test]
fn large_template_goes_through_s3_and_template_url() {
    let emu = Emulator::shared();
    bootstrap(&emu);
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    edit_json(
        &dir.path().join("LightningTalk-Database-prod.template.json"),
        |t| {
            t["Metadata"] = serde_json::json!({ "Padding": "x".repeat(60_000) });
        },
    );
    let v = deploy_one(&emu, dir.path(), "LightningTalk-Database-prod");
    assert_eq!(
        actions(&v),
        vec![("LightningTalk-Database-prod".into(), "created".into())]
    );
    // The template itself was published as its asset.
    assert!(
        v["assets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["asset"] == "LightningTalk-Database-prod Template"
                && a["action"] == "uploaded"),
        "{v}"
    );
}

#[test]
fn rollback_and_cancel_of_a_healthy_stack_have_nothing_to_do() {
    let emu = Emulator::shared();
    bootstrap(&emu);
    deploy_one(&emu, &fixture(), "LightningTalk-Security-prod");
    let out = cmd(&emu)
        .args(["rollback", "--yes", "LightningTalk-Security-prod"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing to roll back"), "{stderr}");
    assert_eq!(json_stdout(&out)["ok"], false);
    // `cancel` leaves stacks still: one already at rest needs nothing, and
    // that is success (issue 21: the rollback's first step must not stop here).
    let out = cmd(&emu)
        .args(["cancel", "--yes", "LightningTalk-Security-prod"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("at rest, nothing to stop"), "{stderr}");
    let v = json_stdout(&out);
    assert_eq!(v["ok"], true);
    assert_eq!(v["stacks"][0]["action"], "none");
    assert_eq!(v["stacks"][0]["status"], "CREATE_COMPLETE");
    // Watching a settled stack returns at once with its status.
    let out = run_ok(cmd(&emu).args(["watch", "LightningTalk-Security-prod"]));
    assert_eq!(json_stdout(&out)["stacks"][0]["status"], "CREATE_COMPLETE");
    // Status of a stack never deployed fails the gate.
    let out = cmd(&emu)
        .args(["status", "--app"])
        .arg(fixture())
        .arg("LightningTalk-Api-prod")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(json_stdout(&out)["stacks"][0]["exists"], false);
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Writes a one-stack-pair assembly into `dir` with a custom manifest.
fn write_assembly(dir: &Path, manifest: &str) {
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
}

fn assert_usage_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
}

#[test]
fn bad_input_exits_2_with_one_line_and_no_call() {
    let fx = fixture();
    let deploy = |args: &[&str]| {
        offline()
            .args(["deploy", "--yes"])
            .args(args)
            .output()
            .unwrap()
    };
    let app = fx.to_str().unwrap();
    assert_usage_error(
        &deploy(&["--app", "/nonexistent/cdk.out", "--all"]),
        "manifest.json",
    );
    assert_usage_error(
        &deploy(&["--app", app, "LightningTalk-Nope-prod"]),
        "no stack matches",
    );
    assert_usage_error(&deploy(&["--app", app]), "--all");
    assert_usage_error(
        &deploy(&["--app", app, "--all", "--parameters", "ApiImageTag=v2"]),
        "STACK:KEY=VALUE",
    );
    assert_usage_error(
        &deploy(&[
            "--app",
            app,
            "--all",
            "--parameters",
            "LightningTalk-Api-prod:Nope=1",
        ]),
        "no parameter \"Nope\"",
    );
    // clap's own errors keep clap's format, but still exit 2 with nothing on stdout.
    let out = deploy(&["--app", app, "--all", "--concurrency", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    write_assembly(dir.path(), "{ this is not json");
    assert_usage_error(&deploy(&["--app", d, "--all"]), "malformed");

    std::fs::write(dir.path().join("A.template.json"), "{}").unwrap();
    std::fs::write(dir.path().join("B.template.json"), "{}").unwrap();
    write_assembly(
        dir.path(),
        r#"{"version":"55.0.0","artifacts":{
          "A":{"type":"aws:cloudformation:stack","environment":"aws://123456789012/ap-northeast-1","properties":{"templateFile":"A.template.json"},"dependencies":["B"]},
          "B":{"type":"aws:cloudformation:stack","environment":"aws://123456789012/ap-northeast-1","properties":{"templateFile":"B.template.json"},"dependencies":["A"]}}}"#,
    );
    assert_usage_error(&deploy(&["--app", d, "--all"]), "cycle");
    let plan = offline()
        .args(["plan", "--app", d, "--all"])
        .output()
        .unwrap();
    assert_usage_error(&plan, "cycle");

    write_assembly(
        dir.path(),
        r#"{"version":"55.0.0","artifacts":{
          "A":{"type":"aws:cloudformation:stack","properties":{"templateFile":"Missing.template.json"}}}}"#,
    );
    assert_usage_error(&deploy(&["--app", d, "--all"]), "Missing.template.json");

    std::fs::write(
        dir.path().join("A.assets.json"),
        r#"{"version":"55.0.0","files":{},"dockerImages":{"f00d":{"displayName":"ApiImage","source":{"directory":"asset.f00d"},"destinations":{}}}}"#,
    )
    .unwrap();
    write_assembly(
        dir.path(),
        r#"{"version":"55.0.0","artifacts":{
          "A.assets":{"type":"cdk:asset-manifest","properties":{"file":"A.assets.json"}},
          "A":{"type":"aws:cloudformation:stack","properties":{"templateFile":"A.template.json"},"dependencies":["A.assets"]}}}"#,
    );
    assert_usage_error(
        &deploy(&["--app", d, "--all"]),
        "docker image asset \"ApiImage\"",
    );
}

#[test]
fn over_limit_templates_and_bad_stack_names_are_refused_before_any_call() {
    let deploy = |app: &Path, stack: &str| {
        offline()
            .args(["deploy", "--yes", "--app"])
            .arg(app)
            .arg(stack)
            .output()
            .unwrap()
    };
    // Over 1 MB: CloudFormation refuses it even by URL, so nothing is uploaded.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    edit_json(
        &dir.path().join("LightningTalk-Database-prod.template.json"),
        |t| {
            t["Metadata"] = serde_json::json!({ "Padding": "x".repeat(1_100_000) });
        },
    );
    assert_usage_error(
        &deploy(dir.path(), "LightningTalk-Database-prod"),
        "over CloudFormation's 1048576-byte limit",
    );
    // A stack name CloudFormation would reject, from the manifest.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("A.template.json"), "{}").unwrap();
    write_assembly(
        dir.path(),
        r#"{"version":"55.0.0","artifacts":{
          "A":{"type":"aws:cloudformation:stack","properties":{"templateFile":"A.template.json","stackName":"api_v2.prod"}}}}"#,
    );
    assert_usage_error(&deploy(dir.path(), "A"), "not a CloudFormation stack name");
    // On the command line: too long, quoted short.
    let long = format!("A{}", "b".repeat(200));
    for sub in ["cancel", "watch", "rollback"] {
        let out = offline().args([sub, "--yes", &long]).output().unwrap();
        assert_usage_error(&out, "not a CloudFormation stack name");
        assert!(
            out.stderr.len() < 400,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn production_needs_yes_without_a_terminal() {
    let out = offline()
        .args(["deploy", "--app"])
        .arg(fixture())
        .arg("--all")
        .output()
        .unwrap();
    assert_usage_error(&out, "--yes");
    let out = offline()
        .args(["rollback", "--env", "prod", "LightningTalk-Api-prod"])
        .output()
        .unwrap();
    assert_usage_error(&out, "--yes");
}

/// Every stack's original template, read back with GetTemplate (as JSON).
fn live_templates(emu: &EmulatorGuard, stacks: &[String]) -> Vec<(String, Option<Value>)> {
    rt().block_on(async {
        let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(emu).await);
        let mut out = Vec::new();
        for s in stacks {
            let body = cfn
                .get_template()
                .stack_name(s)
                .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
                .send()
                .await
                .ok()
                .and_then(|t| t.template_body().map(str::to_owned));
            out.push((s.clone(), body.map(|b| serde_json::from_str(&b).unwrap())));
        }
        out
    })
}

fn ssm_value(emu: &EmulatorGuard, name: &str) -> String {
    rt().block_on(async { testkit::sdk::parameter(&sdk_config(emu).await, name).await })
}

fn stack_exists(emu: &EmulatorGuard, name: &str) -> bool {
    rt().block_on(async {
        let cfn = aws_sdk_cloudformation::Client::new(&sdk_config(emu).await);
        match cfn.describe_stacks().stack_name(name).send().await {
            Ok(o) => o
                .stacks()
                .first()
                .is_some_and(|s| s.stack_status().map(|x| x.as_str()) != Some("DELETE_COMPLETE")),
            Err(_) => false,
        }
    })
}

/// A copy of the fixture whose Database SSM parameter value and Api resources
/// differ: a release that deploys cleanly but is bad.
fn bad_release(dir: &Path) {
    copy_dir(&fixture(), dir);
    edit_json(
        &dir.join("LightningTalk-Database-prod.template.json"),
        |t| {
            for (_, r) in t["Resources"].as_object_mut().unwrap().iter_mut() {
                if r["Type"] == "AWS::SSM::Parameter" {
                    r["Properties"]["Value"] = "bad-release".into();
                }
            }
        },
    );
    edit_json(&dir.join("LightningTalk-Api-prod.template.json"), |t| {
        t["Resources"]["BadReleaseQueue"] = serde_json::json!({ "Type": "AWS::SQS::Queue" });
    });
}

/// Puts a run lock held by another operator (lease an hour ahead) on `env`
/// in the local state folder.
fn hold_lock(state: &Path, env: &str) {
    let dir = state.join(env);
    std::fs::create_dir_all(&dir).unwrap();
    let now = chrono::Utc::now();
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339();
    let lock = serde_json::json!({
        "lock_id": "l-other", "holder": "ops@bastion", "user": "ops", "host": "bastion",
        "pid": 1, "command": "runbooks/deploy.sh", "env": env,
        "started": at(now), "lease_until": at(now + chrono::Duration::hours(1)), "lease_seconds": 3600,
    });
    std::fs::write(dir.join("lock.json"), lock.to_string()).unwrap();
}

/// `stack-deploy` with this test's own shared state folder and run id.
fn with_state(emu: &EmulatorGuard, state: &Path, run: Option<&str>) -> Command {
    let mut c = cmd(emu);
    c.env("LTC_STATE", state);
    if let Some(r) = run {
        c.env("LTC_RUN_ID", r);
    }
    c
}

#[test]
fn a_clean_but_bad_release_is_reverted_to_the_templates_before_it() {
    let emu = Emulator::shared();
    bootstrap(&emu);
    let all = names(&[
        "Database",
        "Security",
        "Api",
        "StaticSite",
        "Monitoring",
        "Observability",
        "DisasterRecovery",
    ]);
    let state = tempfile::tempdir().unwrap();
    run_ok(
        with_state(
            &emu,
            state.path(),
            Some("20261202T050000.000Z-deploy-aaaaaa"),
        )
        .args(["deploy", "--app"])
        .arg(fixture())
        .args(["--all", "--yes"]),
    );
    let before = live_templates(&emu, &all);
    assert!(before.iter().all(|(_, t)| t.is_some()));
    let endpoint_before = ssm_value(&emu, "/ltc/prod/db/endpoint");

    let release = tempfile::tempdir().unwrap();
    bad_release(release.path());
    let run = "20261202T050100.000Z-deploy-bbbbbb";
    let second = run_ok(
        with_state(&emu, state.path(), Some(run))
            .args(["deploy", "--app"])
            .arg(release.path())
            .args(["--all", "--yes", "--method", "direct"]),
    );
    let v = json_stdout(&second);
    assert_eq!(v["run_id"], run);
    assert_eq!(
        v["records"],
        serde_json::json!([
            "stack-LightningTalk-Database-prod.json",
            "stack-LightningTalk-Api-prod.json"
        ]),
        "{v}"
    );
    assert_eq!(
        stack_json(&v, "LightningTalk-Api-prod")["record"],
        "stack-LightningTalk-Api-prod.json"
    );
    assert_eq!(ssm_value(&emu, "/ltc/prod/db/endpoint"), "bad-release");
    assert_ne!(
        live_templates(&emu, &all),
        before,
        "the release changed templates"
    );

    // A dry run lists what would change and changes nothing.
    let dry = run_ok(
        with_state(&emu, state.path(), None)
            .args(["revert", "--run", run, "--app"])
            .arg(release.path())
            .args(["--dry-run"]),
    );
    assert_eq!(
        actions(&json_stdout(&dry)),
        vec![
            ("LightningTalk-Api-prod".into(), "would-update".into()),
            ("LightningTalk-Database-prod".into(), "would-update".into()),
        ]
    );
    assert_eq!(ssm_value(&emu, "/ltc/prod/db/endpoint"), "bad-release");

    // Someone holds production's run lock: a revert of the -prod stacks without
    // --env, a cancel and a rollback wait on that same lock (exit 8, no change),
    // as the deploy would.
    hold_lock(state.path(), "prod");
    let refused = [
        vec!["revert", "--run", run, "--yes", "--method", "direct"],
        vec!["cancel", "LightningTalk-Api-prod", "--yes"],
        vec!["rollback", "LightningTalk-Api-prod", "--yes"],
    ];
    for args in refused {
        let o = with_state(&emu, state.path(), None)
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(8), "{args:?}: {err}");
        assert!(
            err.contains("is locked: ") && err.contains("ops@bastion"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(ssm_value(&emu, "/ltc/prod/db/endpoint"), "bad-release");
    std::fs::remove_file(state.path().join("prod/lock.json")).unwrap();

    let revert = run_ok(
        with_state(&emu, state.path(), None)
            .args(["revert", "--run", run, "--app"])
            .arg(release.path())
            .args(["--yes", "--method", "direct"]),
    );
    let r = json_stdout(&revert);
    // Api (which imports from Database) first, then Database.
    assert_eq!(
        r["order"],
        serde_json::json!([["LightningTalk-Api-prod"], ["LightningTalk-Database-prod"]])
    );
    assert_eq!(
        actions(&r),
        vec![
            ("LightningTalk-Api-prod".into(), "updated".into()),
            ("LightningTalk-Database-prod".into(), "updated".into()),
        ]
    );
    // Read back independently: every stack's template is the one before the release.
    assert_eq!(live_templates(&emu, &all), before);
    assert_eq!(ssm_value(&emu, "/ltc/prod/db/endpoint"), endpoint_before);

    // Again: each stack already equals its record and is skipped.
    let again =
        run_ok(with_state(&emu, state.path(), None).args(["revert", "--run", run, "--yes"]));
    assert_eq!(
        actions(&json_stdout(&again)),
        vec![
            ("LightningTalk-Api-prod".into(), "unchanged".into()),
            ("LightningTalk-Database-prod".into(), "unchanged".into()),
        ]
    );
}

#[test]
fn delete_created_deletes_only_the_stacks_the_run_created() {
    let emu = Emulator::shared();
    bootstrap(&emu);
    let state = tempfile::tempdir().unwrap();
    let (db, sec) = ("LightningTalk-Database-prod", "LightningTalk-Security-prod");
    run_ok(
        with_state(&emu, state.path(), None)
            .args(["deploy", "--yes", "--app"])
            .arg(fixture())
            .arg(db),
    );
    let before = live_templates(&emu, &[db.to_owned()]);

    let release = tempfile::tempdir().unwrap();
    bad_release(release.path());
    let run = "20261202T050200.000Z-deploy-cccccc";
    run_ok(
        with_state(&emu, state.path(), Some(run))
            .args(["deploy", "--yes", "--app"])
            .arg(release.path())
            .args([db, sec]),
    );
    let recorded: Value = serde_json::from_slice(
        &std::fs::read(
            state
                .path()
                .join(format!("default/runs/{run}/stack-{sec}.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(recorded["created"], true);

    // Without --delete-created the created stack stays, and says so.
    let keep = run_ok(with_state(&emu, state.path(), None).args(["revert", "--run", run, "--yes"]));
    let k = json_stdout(&keep);
    assert_eq!(k["left_in_place"], serde_json::json!([sec]));
    assert_eq!(stack_json(&k, sec)["action"], "left-in-place");
    assert_eq!(stack_json(&k, db)["action"], "updated");
    assert!(stack_exists(&emu, sec));
    assert_eq!(live_templates(&emu, &[db.to_owned()]), before);

    let delete = run_ok(with_state(&emu, state.path(), None).args([
        "revert",
        "--run",
        run,
        "--yes",
        "--delete-created",
    ]));
    let d = json_stdout(&delete);
    assert_eq!(stack_json(&d, sec)["action"], "deleted");
    assert_eq!(stack_json(&d, db)["action"], "unchanged");
    assert!(!stack_exists(&emu, sec), "created stack deleted");
    assert!(
        stack_exists(&emu, db),
        "the stack that existed before stays"
    );
    assert_eq!(live_templates(&emu, &[db.to_owned()]), before);
}

#[test]
fn revert_and_rollback_alarm_input_is_refused_before_any_call() {
    let state = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["revert", "--run", "../etc", "--yes"], "run id"),
        (
            vec!["revert", "--run", "r1", "bad_name!", "--yes"],
            "bad_name!",
        ),
        (
            vec![
                "deploy",
                "--all",
                "--yes",
                "--rollback-alarm",
                "arn:aws:sns:x:y:z",
            ],
            "not a CloudWatch alarm ARN",
        ),
        (
            vec![
                "deploy",
                "--all",
                "--yes",
                "--rollback-alarm",
                "a",
                "--monitoring-time",
                "90s",
            ],
            "whole minutes",
        ),
    ] {
        let mut c = offline();
        c.env("LTC_STATE", state.path());
        if args[0] == "deploy" {
            c.args(["deploy", "--app"]).arg(fixture()).args(&args[1..]);
        } else {
            c.args(&args);
        }
        let out = c.output().unwrap();
        assert_usage_error(&out, needle);
    }
}

#[test]
fn rollback_alarm_names_resolve_against_the_emulator_and_unknown_names_exit_4() {
    let emu = Emulator::shared();
    bootstrap(&emu);
    rt().block_on(async {
        testkit::sdk::put_metric_alarm(&sdk_config(&emu).await, "ltc-critical-5xx").await;
    });
    let db = "LightningTalk-Database-prod";
    let unknown = cmd(&emu)
        .args(["deploy", "--yes", "--app"])
        .arg(fixture())
        .args([
            db,
            "--rollback-alarm",
            "ltc-critical-5xx",
            "ltc-critcal-typo",
        ])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("ltc-critcal-typo"));
    assert!(!stack_exists(&emu, db), "nothing deployed");

    let ok = run_ok(
        cmd(&emu)
            .args(["deploy", "--yes", "--app"])
            .arg(fixture())
            .args([
                db,
                "--rollback-alarm",
                "ltc-critical-5xx",
                "--monitoring-time",
                "10m",
            ]),
    );
    assert_eq!(
        json_stdout(&ok)["rollback_alarms"],
        serde_json::json!([
            "arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:ltc-critical-5xx"
        ])
    );
}

/// The calls one `deploy --all` makes, counted by the fault proxy (no faults)
/// in front of the emulator: operation -> requests. `journal` overrides the
/// journal file.
fn counted_deploy(
    emu: &EmulatorGuard,
    journal: Option<&Path>,
) -> (Value, std::collections::BTreeMap<String, u64>) {
    let (out, counts) = counted(emu, journal);
    (json_stdout(&succeeded(out)), counts)
}

/// [`counted_deploy`] whatever its outcome: the output and the counts.
fn counted(
    emu: &EmulatorGuard,
    journal: Option<&Path>,
) -> (Output, std::collections::BTreeMap<String, u64>) {
    use testkit::fault_proxy::{Config, FaultProxy};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], emu.port()));
    let proxy = runtime
        .block_on(FaultProxy::start(
            upstream,
            "127.0.0.1:0".parse().unwrap(),
            Config::default(),
        ))
        .unwrap();
    let mut c = cmd(emu);
    c.env("AWS_ENDPOINT_URL", proxy.localhost_url());
    if let Some(j) = journal {
        c.env("LTC_JOURNAL", j);
    }
    let out = c
        .args(["deploy", "--app"])
        .arg(fixture())
        .args(["--all", "--yes"])
        .output()
        .unwrap();
    let counts = proxy
        .stats()
        .operations
        .into_iter()
        .map(|(op, m)| (op, m.get("requests").copied().unwrap_or(0)))
        .collect();
    runtime.block_on(proxy.shutdown());
    (out, counts)
}

#[test]
fn each_role_is_assumed_once_and_an_unchanged_redeploy_reads_about_once_per_stack() {
    let emu = Emulator::shared();
    bootstrap(&emu);
    let n = |c: &std::collections::BTreeMap<String, u64>, op: &str| c.get(op).copied().unwrap_or(0);
    let total = |c: &std::collections::BTreeMap<String, u64>| c.values().sum::<u64>();

    // Fresh: the deploy role and the file-publishing role, once each; one
    // listing, then per stack its create and the looks that see it end.
    let (v, fresh) = counted_deploy(&emu, None);
    assert!(actions(&v).iter().all(|(_, a)| a == "created"), "{v}");
    assert_eq!(n(&fresh, "AssumeRole"), 2, "{fresh:?}");
    assert_eq!(n(&fresh, "GetCallerIdentity"), 1, "{fresh:?}");
    assert_eq!(n(&fresh, "CreateStack"), 7, "{fresh:?}");
    // One listing plus one look per stack (the events read beside it).
    assert_eq!(n(&fresh, "DescribeStacks"), 1 + 7, "{fresh:?}");
    // The caller's HEAD (beside the AssumeRoles) found the asset absent; the
    // role uploaded it without asking again.
    assert_eq!(n(&fresh, "s3:HEAD object"), 1, "{fresh:?}");
    assert_eq!(n(&fresh, "s3:PUT object"), 1, "{fresh:?}");
    // The tool's own count is the proxy's (nothing made behind its back).
    assert_eq!(v["api_calls"].as_u64().unwrap(), total(&fresh), "{fresh:?}");

    // Unchanged, with the journal of that deploy: the listing alone tells
    // that no stack moved since; no template is read back.
    let (v, again) = counted_deploy(&emu, None);
    for s in v["stacks"].as_array().unwrap() {
        assert_eq!(s["action"], "unchanged", "{s}");
        let reason = s["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("not deployed: nothing changed") && reason.contains("journal"),
            "{s}"
        );
    }
    assert_eq!(n(&again, "DescribeStacks"), 1, "{again:?}");
    assert_eq!(n(&again, "GetTemplate"), 0, "{again:?}");
    // The bootstrap check, the listing and the asset's HEAD were made with
    // the caller's credentials beside the AssumeRoles and stood in for the
    // roles' (same account): none of them made twice.
    assert_eq!(n(&again, "GetParameter"), 1, "{again:?}");
    assert_eq!(n(&again, "s3:HEAD object"), 1, "{again:?}");
    assert_eq!(n(&again, "s3:PUT object"), 0, "{again:?}");
    assert!(
        n(&again, "CreateStack") + n(&again, "UpdateStack") == 0,
        "{again:?}"
    );
    assert!(
        total(&again) * 2 <= 3 * 7,
        "at most 1.5 calls a stack: {again:?}"
    );

    // Unchanged, with no journal of it (another machine): each template is
    // read back once; still no change and the reason says how it was known.
    let other = tempfile::tempdir().unwrap();
    let (v, cold) = counted_deploy(&emu, Some(&other.path().join("journal.jsonl")));
    for s in v["stacks"].as_array().unwrap() {
        assert_eq!(s["action"], "unchanged", "{s}");
        assert!(
            s["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("read back"),
            "{s}"
        );
    }
    assert_eq!(n(&cold, "DescribeStacks"), 1, "{cold:?}");
    assert_eq!(n(&cold, "GetTemplate"), 7, "{cold:?}");
    assert_eq!(n(&cold, "AssumeRole"), 2, "{cold:?}");
}

/// The bootstrap check is read beside the AssumeRoles with the caller's
/// credentials; a version too old still refuses before any stack is created.
#[test]
fn a_bootstrap_too_old_is_refused_before_any_stack_though_read_beside_the_roles() {
    let emu = Emulator::shared();
    bootstrap(&emu);
    rt().block_on(async {
        aws_sdk_ssm::Client::new(&sdk_config(&emu).await)
            .put_parameter()
            .name("/cdk-bootstrap/hnb659fds/version")
            .value("5")
            .overwrite(true)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
    });
    let (out, counts) = counted(&emu, None);
    let n = |op: &str| counts.get(op).copied().unwrap_or(0);
    assert_eq!(out.status.code(), Some(4), "{counts:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bootstrapped at version 5"), "{stderr}");
    assert_eq!(n("CreateStack") + n("UpdateStack"), 0, "{counts:?}");
    // The caller's read was the answer (same account): not read again.
    assert_eq!(n("GetParameter"), 1, "{counts:?}");
    for s in names(&["Database", "Security", "Api"]) {
        assert!(!stack_exists(&emu, &s), "{s}");
    }
}
