//! site-restore against the emulator: a versioned bucket with several deploys
//! (modified, added, deleted keys; spaces and unicode), restored to a manifest
//! and to a time, checked through independent reads of the object versions.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use serde_json::Value;
use testkit::{EmulatorGuard, json_stdout, runtime as rt, sdk_config};

const BUCKET: &str = "ltc-site-test";

struct Fixture {
    emu: EmulatorGuard,
    rt: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
    cf: aws_sdk_cloudfront::Client,
}

impl Fixture {
    fn new() -> Self {
        let emu = testkit::Emulator::shared();
        let rt = rt();
        let conf = sdk_config(&emu);
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        let cf = aws_sdk_cloudfront::Client::new(&conf);
        Fixture { emu, rt, s3, cf }
    }

    fn bucket(&self, name: &str, versioned: bool) {
        self.rt.block_on(async {
            self.s3
                .create_bucket()
                .bucket(name)
                .create_bucket_configuration(
                    aws_sdk_s3::types::CreateBucketConfiguration::builder()
                        .location_constraint("ap-northeast-1".into())
                        .build(),
                )
                .send()
                .await
                .unwrap();
            if versioned {
                self.s3
                    .put_bucket_versioning()
                    .bucket(name)
                    .versioning_configuration(
                        VersioningConfiguration::builder()
                            .status(BucketVersioningStatus::Enabled)
                            .build(),
                    )
                    .send()
                    .await
                    .unwrap();
            }
        });
    }

    fn put(&self, key: &str, body: &str) {
        self.rt.block_on(async {
            self.s3
                .put_object()
                .bucket(BUCKET)
                .key(key)
                .content_type("text/html")
                .body(ByteStream::from(body.as_bytes().to_vec()))
                .send()
                .await
                .unwrap();
        });
    }

    fn delete(&self, key: &str) {
        self.rt.block_on(async {
            self.s3
                .delete_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .unwrap();
        });
    }

    /// Independent read: the live content of every key (GetObject), skipping
    /// keys whose latest entry is a delete marker.
    fn live(&self) -> BTreeMap<String, String> {
        self.rt.block_on(async {
            let listed = self
                .s3
                .list_objects_v2()
                .bucket(BUCKET)
                .send()
                .await
                .unwrap();
            let mut out = BTreeMap::new();
            for o in listed.contents() {
                let key = o.key().unwrap().to_owned();
                let got = self
                    .s3
                    .get_object()
                    .bucket(BUCKET)
                    .key(&key)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    got.content_type(),
                    Some("text/html"),
                    "{key}: metadata kept"
                );
                let body = got.body.collect().await.unwrap().into_bytes();
                out.insert(key, String::from_utf8(body.to_vec()).unwrap());
            }
            out
        })
    }

    /// (versions, delete markers) in the bucket: nothing may ever be destroyed.
    fn version_counts(&self) -> (usize, usize) {
        self.rt.block_on(async {
            let v = self
                .s3
                .list_object_versions()
                .bucket(BUCKET)
                .send()
                .await
                .unwrap();
            assert!(!v.is_truncated().unwrap_or(false));
            (v.versions().len(), v.delete_markers().len())
        })
    }

    fn cmd(&self) -> Command {
        let mut std_cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("site-restore"));
        self.emu.configure(&mut std_cmd);
        let mut cmd = Command::from_std(std_cmd);
        cmd.timeout(Duration::from_secs(120));
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// `site-restore restore --bucket BUCKET --manifest MANIFEST MORE...`
    fn restore(&self, manifest: &str, more: &[&str]) -> Output {
        let mut args = vec!["restore", "--bucket", BUCKET, "--manifest", manifest];
        args.extend_from_slice(more);
        self.run(&args)
    }

    /// The versioned test bucket with deploy 1 live.
    fn deployed() -> Self {
        let f = Fixture::new();
        f.bucket(BUCKET, true);
        apply(&f, &deploy1());
        f
    }

    fn journal(&self) -> Vec<Value> {
        testkit::journal_entries(&self.emu)
    }
}

fn ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    json_stdout(out)
}

fn deploy1() -> BTreeMap<String, String> {
    [
        ("index.html", "home v1"),
        ("css/app.css", "css v1"),
        ("img/logo b.png", "logo v1"),
        ("docs/日本語 ページ.html", "nihongo v1"),
        ("docs/index.html", "docs v1"),
        ("old.html", "old v1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn apply(f: &Fixture, content: &BTreeMap<String, String>) {
    let live = f.live();
    for (k, v) in content {
        if live.get(k) != Some(v) {
            f.put(k, v);
        }
    }
    for k in live.keys() {
        if !content.contains_key(k) {
            f.delete(k);
        }
    }
}

/// Deploy 2: modified, added (with a space and unicode), deleted keys.
fn deploy2() -> BTreeMap<String, String> {
    let mut c = deploy1();
    c.insert("index.html".into(), "home v2".into());
    c.insert("docs/日本語 ページ.html".into(), "nihongo v2".into());
    c.insert("new.js".into(), "new v2".into());
    c.insert("new dir/ü file+1.txt".into(), "umlaut v2".into());
    c.remove("old.html");
    c.remove("img/logo b.png");
    c
}

/// Deploy 3: more changes on top, including bringing a deleted key back.
fn deploy3() -> BTreeMap<String, String> {
    let mut c = deploy2();
    c.insert("index.html".into(), "home v3".into());
    c.insert("css/app.css".into(), "css v3".into());
    c.insert("old.html".into(), "old v3".into());
    c.remove("new.js");
    c
}

fn keys(v: &Value, field: &str) -> Vec<String> {
    let mut k: Vec<String> = v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .collect();
    k.sort();
    k
}

fn write_manifest(f: &Fixture, manifest: &Value) -> std::path::PathBuf {
    let path = f.emu.journal_path().with_file_name("manifest.json");
    std::fs::write(&path, serde_json::to_vec_pretty(manifest).unwrap()).unwrap();
    path
}

#[test]
fn restore_to_a_manifest_brings_back_the_recorded_content_and_a_second_run_changes_nothing() {
    let f = Fixture::deployed();
    let manifest = ok(&f.run(&["record", "--bucket", BUCKET]));
    assert_eq!(manifest["object_count"], 6);
    assert_eq!(manifest["bucket"], BUCKET);
    assert!(manifest["objects"]["docs/日本語 ページ.html"]["version_id"].is_string());
    apply(&f, &deploy2());
    apply(&f, &deploy3());
    assert_eq!(f.live(), deploy3());
    let path = write_manifest(&f, &manifest);
    let path = path.to_str().unwrap();

    let diff = ok(&f.run(&["diff", "--bucket", BUCKET, "--manifest", path]));
    assert_eq!(
        keys(&diff, "restore"),
        [
            "css/app.css",
            "docs/日本語 ページ.html",
            "index.html",
            "old.html"
        ]
    );
    assert_eq!(keys(&diff, "remove"), ["new dir/ü file+1.txt"]);
    assert_eq!(keys(&diff, "bring_back"), ["img/logo b.png"]);
    assert_eq!(diff["unchanged"], 1);
    assert_eq!(diff["changes"], 6);

    let (versions_before, markers_before) = f.version_counts();
    let out = ok(&f.restore(path, &[]));
    assert_eq!(out["applied"]["copied"], 5);
    assert_eq!(out["applied"]["delete_markers"], 1);
    assert_eq!(out["verified"], true);
    assert_eq!(out["calls_by_operation"]["CopyObject"], 5);
    assert_eq!(out["calls_by_operation"]["DeleteObject"], 1);
    // Independent read: the live content is deploy 1's again, metadata included.
    assert_eq!(f.live(), deploy1());
    // Nothing destroyed: 5 new versions (copies), 1 new delete marker.
    assert_eq!(
        f.version_counts(),
        (versions_before + 5, markers_before + 1)
    );

    // Idempotent: nothing left to do, nothing done.
    let again = ok(&f.restore(path, &[]));
    assert_eq!(again["changes"], 0);
    assert_eq!(again["unchanged"], 6);
    assert_eq!(again["applied"]["copied"], 0);
    assert!(again["calls_by_operation"].is_object());
    assert!(again["calls_by_operation"].get("CopyObject").is_none());
    assert_eq!(
        f.version_counts(),
        (versions_before + 5, markers_before + 1)
    );

    // Journal: record, then the restore with the manifest before and after.
    let j = f.journal();
    let actions: Vec<(&str, &str)> = j
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["phase"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("site.record", "intent"),
            ("site.record", "outcome"),
            ("site.restore", "intent"),
            ("site.restore", "outcome")
        ]
    );
    assert_eq!(j[2]["target"], format!("s3://{BUCKET}/"));
    assert_eq!(
        j[2]["before"]["manifest"]["objects"]["index.html"]["etag"],
        manifest_etag_of(&f, "index.html", "home v3")
    );
    assert_eq!(j[3]["outcome"], "ok");
    assert_eq!(j[3]["after"]["manifest"]["object_count"], 6);
    assert_eq!(j[3]["after"]["left"], 0);
}

/// The ETag S3 gives `body` (MD5), read from the emulator, not computed here.
fn manifest_etag_of(f: &Fixture, key: &str, body: &str) -> String {
    f.rt.block_on(async {
        let v =
            f.s3.list_object_versions()
                .bucket(BUCKET)
                .prefix(key)
                .send()
                .await
                .unwrap();
        for ver in v.versions() {
            let got =
                f.s3.get_object()
                    .bucket(BUCKET)
                    .key(key)
                    .version_id(ver.version_id().unwrap())
                    .send()
                    .await
                    .unwrap();
            let bytes = got.body.collect().await.unwrap().into_bytes();
            if bytes.as_ref() == body.as_bytes() {
                return ver.e_tag().unwrap().to_owned();
            }
        }
        panic!("no version of {key} holds {body:?}");
    })
}

#[test]
fn restore_to_a_time_rebuilds_the_state_from_versions_and_delete_markers() {
    let f = Fixture::deployed();
    std::thread::sleep(Duration::from_millis(1100));
    apply(&f, &deploy2());
    // S3 keeps whole seconds: put a clear second between deploy 2 and 3.
    std::thread::sleep(Duration::from_millis(1100));
    let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    std::thread::sleep(Duration::from_millis(1100));
    apply(&f, &deploy3());

    let diff = ok(&f.run(&["diff", "--bucket", BUCKET, "--at", &at]));
    assert_eq!(diff["target"]["kind"], "time");
    assert_eq!(keys(&diff, "restore"), ["css/app.css", "index.html"]);
    assert_eq!(keys(&diff, "remove"), ["old.html"]);
    assert_eq!(keys(&diff, "bring_back"), ["new.js"]);

    let out = ok(&f.run(&[
        "restore",
        "--bucket",
        BUCKET,
        "--at",
        &at,
        "--concurrency",
        "2",
    ]));
    assert_eq!(out["verified"], true);
    assert_eq!(f.live(), deploy2());
    let again = ok(&f.run(&["restore", "--bucket", BUCKET, "--at", &at]));
    assert_eq!(again["changes"], 0);
    assert_eq!(f.live(), deploy2());
}

#[test]
fn record_piped_into_restore_via_stdin_and_prefix_scopes_the_work() {
    let f = Fixture::deployed();
    let rec = f.run(&["record", "--bucket", BUCKET, "--prefix", "docs/"]);
    let manifest = ok(&rec);
    assert_eq!(manifest["prefix"], "docs/");
    assert_eq!(manifest["object_count"], 2);
    apply(&f, &deploy3());
    let out = f
        .cmd()
        .args(["restore", "--bucket", BUCKET, "--manifest", "-"])
        .write_stdin(rec.stdout.clone())
        .output()
        .unwrap();
    let v = ok(&out);
    assert_eq!(v["prefix"], "docs/");
    assert_eq!(keys(&v, "restore"), ["docs/日本語 ページ.html"]);
    let live = f.live();
    assert_eq!(live["docs/日本語 ページ.html"], "nihongo v1");
    // Outside the prefix, deploy 3 stays.
    assert_eq!(live["index.html"], "home v3");
}

#[test]
fn dry_run_prints_the_diff_and_changes_nothing() {
    let f = Fixture::deployed();
    let manifest = ok(&f.run(&["record", "--bucket", BUCKET]));
    apply(&f, &deploy2());
    let path = write_manifest(&f, &manifest);
    let path = path.to_str().unwrap();
    let counts = f.version_counts();
    let diff = ok(&f.run(&["diff", "--bucket", BUCKET, "--manifest", path]));
    let dry = ok(&f.restore(path, &["--dry-run"]));
    assert_eq!(dry["dry_run"], true);
    for field in [
        "bucket",
        "prefix",
        "target",
        "changes",
        "restore",
        "remove",
        "bring_back",
        "unchanged",
        "missing",
        "ambiguous",
    ] {
        assert_eq!(dry[field], diff[field], "{field}");
    }
    assert!(dry.get("applied").is_none());
    assert_eq!(f.version_counts(), counts);
    assert_eq!(f.live(), deploy2());
    // Only the record wrote to the journal.
    assert_eq!(f.journal().len(), 2);
}

#[test]
fn production_without_yes_and_no_terminal_refuses_before_any_change() {
    let f = Fixture::deployed();
    let manifest = ok(&f.run(&["record", "--bucket", BUCKET]));
    apply(&f, &deploy2());
    let path = write_manifest(&f, &manifest);
    let out = f.restore(path.to_str().unwrap(), &["--env", "prod"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert_eq!(f.live(), deploy2());
    let out = f.restore(path.to_str().unwrap(), &["--env", "prod", "--yes"]);
    ok(&out);
    assert_eq!(f.live(), deploy1());
}

#[test]
fn unversioned_bucket_is_refused_with_exit_3_saying_why() {
    let f = Fixture::new();
    f.bucket("ltc-plain", false);
    for args in [
        vec!["record", "--bucket", "ltc-plain"],
        vec![
            "restore",
            "--bucket",
            "ltc-plain",
            "--at",
            "2020-01-01T00:00:00Z",
        ],
    ] {
        let out = f.run(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not versioned"), "{err}");
        assert!(out.stdout.is_empty());
    }
    assert!(f.journal().is_empty());
}

#[test]
fn invalidation_covers_the_changed_paths_url_encoded_and_is_waited_for() {
    let f = Fixture::deployed();
    let manifest = ok(&f.run(&["record", "--bucket", BUCKET]));
    apply(&f, &deploy2());
    let dist = create_distribution(&f);
    let path = write_manifest(&f, &manifest);
    let out = ok(&f.restore(path.to_str().unwrap(), &["--distribution", &dist]));
    let inv = &out["invalidation"];
    // The emulator says COMPLETED (AWS: Completed); both are accepted.
    assert_eq!(inv["status"], "COMPLETED");
    let mut expected = vec![
        "/",
        "/docs/%E6%97%A5%E6%9C%AC%E8%AA%9E%20%E3%83%9A%E3%83%BC%E3%82%B8.html",
        "/img/logo%20b.png",
        "/index.html",
        "/new%20dir/%C3%BC%20file%2B1.txt",
        "/new.js",
        "/old.html",
    ];
    expected.sort();
    assert_eq!(inv["paths"], serde_json::json!(expected));
    // Independent read of the invalidation from CloudFront.
    let id = inv["id"].as_str().unwrap().to_owned();
    let got = f.rt.block_on(async {
        f.cf.get_invalidation()
            .distribution_id(&dist)
            .id(&id)
            .send()
            .await
            .unwrap()
    });
    let batch = got.invalidation().unwrap().invalidation_batch().unwrap();
    let mut paths = batch.paths().unwrap().items().to_vec();
    paths.sort();
    assert_eq!(paths, expected);
    let j = f.journal();
    assert!(
        j.iter()
            .any(|e| e["action"] == "site.invalidate" && e["outcome"] == "ok")
    );

    // Nothing changed on the second run: no invalidation either.
    let again = ok(&f.restore(path.to_str().unwrap(), &["--distribution", &dist]));
    assert!(again.get("invalidation").is_none());
}

fn create_distribution(f: &Fixture) -> String {
    use aws_sdk_cloudfront::types::*;
    f.rt.block_on(async {
        let origin = Origin::builder()
            .id("site")
            .domain_name(format!("{BUCKET}.s3.ap-northeast-1.amazonaws.com"))
            .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
            .build()
            .unwrap();
        let config = DistributionConfig::builder()
            .caller_reference("site-restore-test")
            .comment("test")
            .enabled(true)
            .origins(
                Origins::builder()
                    .quantity(1)
                    .items(origin)
                    .build()
                    .unwrap(),
            )
            .default_cache_behavior(
                DefaultCacheBehavior::builder()
                    .target_origin_id("site")
                    .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                    .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let out =
            f.cf.create_distribution()
                .distribution_config(config)
                .send()
                .await
                .unwrap();
        out.distribution().unwrap().id().to_owned()
    })
}

mod bad_input {
    //! Bad input exits 2 before any AWS call: the endpoint is a closed port, so
    //! a call would show up as exit 3 instead.
    use super::*;

    fn offline(args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::cargo_bin("site-restore").unwrap();
        cmd.env_remove("AWS_PROFILE")
            .env_remove("LTC_ENV")
            .envs(testkit::offline_env())
            .env("LTC_JOURNAL", "/nonexistent/dir/journal.jsonl")
            .args(args)
            .timeout(Duration::from_secs(30));
        if let Some(s) = stdin {
            cmd.write_stdin(s.to_owned());
        }
        cmd.output().unwrap()
    }

    fn assert_usage(out: &Output, needle: &str) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "stderr: {err}");
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
        assert!(err.contains(needle), "{needle:?} not in {err}");
        assert!(out.stdout.is_empty());
    }

    fn manifest(bucket: &str) -> String {
        serde_json::json!({
            "format": "site-restore/manifest-v1",
            "bucket": bucket,
            "prefix": "",
            "taken_at": "2026-01-01T00:00:00Z",
            "object_count": 1,
            "total_bytes": 2,
            "objects": {"index.html": {"version_id": "v1", "etag": "\"x\"", "size": 2, "last_modified": "2026-01-01T00:00:00Z"}}
        })
        .to_string()
    }

    #[test]
    fn malformed_manifest() {
        for cmd in ["diff", "restore"] {
            let out = offline(
                &[cmd, "--bucket", BUCKET, "--manifest", "-"],
                Some("{\"objects\": ["),
            );
            assert_usage(&out, "manifest stdin is not usable");
        }
        let out = offline(
            &[
                "restore",
                "--bucket",
                BUCKET,
                "--manifest",
                "/nonexistent.json",
            ],
            None,
        );
        assert_usage(&out, "cannot read manifest");
    }

    #[test]
    fn manifest_of_another_bucket() {
        let out = offline(
            &["restore", "--bucket", BUCKET, "--manifest", "-"],
            Some(&manifest("someone-elses-bucket")),
        );
        assert_usage(&out, "recorded for bucket \"someone-elses-bucket\"");
        let out = offline(
            &[
                "restore",
                "--bucket",
                BUCKET,
                "--prefix",
                "x/",
                "--manifest",
                "-",
            ],
            Some(&manifest(BUCKET)),
        );
        assert_usage(&out, "recorded for prefix");
    }

    #[test]
    fn time_in_the_future_or_not_rfc3339() {
        let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        assert_usage(
            &offline(&["restore", "--bucket", BUCKET, "--at", &future], None),
            "in the future",
        );
        assert_usage(
            &offline(&["diff", "--bucket", BUCKET, "--at", "last tuesday"], None),
            "RFC 3339",
        );
    }

    #[test]
    fn bad_flags() {
        assert_usage(
            &offline(&["record", "--bucket", "Bad_Bucket"], None),
            "bad bucket name",
        );
        assert_usage(
            &offline(
                &[
                    "restore",
                    "--bucket",
                    BUCKET,
                    "--at",
                    "2020-01-01T00:00:00Z",
                    "--concurrency",
                    "0",
                ],
                None,
            ),
            "--concurrency",
        );
        assert_usage(
            &offline(
                &[
                    "restore",
                    "--bucket",
                    BUCKET,
                    "--at",
                    "2020-01-01T00:00:00Z",
                    "--distribution",
                    "bad id",
                ],
                None,
            ),
            "distribution id",
        );
        // Both or neither of --manifest/--at: clap's own usage error, exit 2.
        let out = offline(
            &[
                "restore",
                "--bucket",
                BUCKET,
                "--at",
                "2020-01-01T00:00:00Z",
                "--manifest",
                "m",
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(2));
        let out = offline(&["diff", "--bucket", BUCKET], None);
        assert_eq!(out.status.code(), Some(2));
    }

    #[test]
    fn well_formed_input_does_reach_aws() {
        // The control: the same offline setup with good input fails at the call (3), proving
        // the exit-2 tests above stopped before it.
        let out = offline(
            &["restore", "--bucket", BUCKET, "--manifest", "-"],
            Some(&manifest(BUCKET)),
        );
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Starts a restore, sends SIGINT once its first progress line shows copies
/// under way, and returns its output.
fn interrupted_run(f: &Fixture, args: &[&str]) -> Output {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("site-restore"));
    f.emu.configure(&mut c);
    testkit::interrupted_at(c.args(args), "changes done")
}

// Issue 14: an interrupted restore journals `interrupted` and exits 130, and
// re-running the same command finishes it: each key is copied once in all,
// and the paths the interrupted run changed are invalidated by the re-run.
#[test]
fn sigint_mid_restore_journals_interrupted_and_the_same_command_finishes_it() {
    let f = Fixture::new();
    f.bucket(BUCKET, true);
    const N: usize = 200;
    let key = |i: usize| format!("p/k{i:03}.html");
    for i in 0..N {
        f.put(&key(i), &format!("a{i}"));
    }
    let manifest = ok(&f.run(&["record", "--bucket", BUCKET]));
    for i in 0..N {
        f.put(&key(i), &format!("b{i}"));
    }
    let dist = create_distribution(&f);
    let path = write_manifest(&f, &manifest);
    let path = path.to_str().unwrap();
    let args = [
        "restore",
        "--bucket",
        BUCKET,
        "--manifest",
        path,
        "--distribution",
        &dist,
        "--concurrency",
        "1",
    ];

    let first = interrupted_run(&f, &args);
    assert_eq!(
        first.status.code(),
        Some(130),
        "stderr:\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let report = json_stdout(&first);
    let done = report["next"]["done"].as_u64().unwrap() as usize;
    assert!((1..N).contains(&done), "done {done}");
    assert_eq!(report["next"]["left"], N - done);
    assert!(
        report["next"]["finish"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "site-restore restore --bucket {BUCKET} --manifest "
            )),
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("interrupted by SIGINT"), "{stderr}");
    let j = f.journal();
    let outcome = j
        .iter()
        .find(|e| e["action"] == "site.restore" && e["phase"] == "outcome")
        .unwrap();
    assert_eq!(outcome["outcome"], "interrupted");
    assert_eq!(outcome["after"]["done"], done);
    let pending: Vec<String> =
        serde_json::from_value(outcome["after"]["invalidation_pending"].clone()).unwrap();
    assert!(!pending.is_empty());
    // No invalidation was made by the interrupted run.
    assert!(!j.iter().any(|e| e["action"] == "site.invalidate"));
    // Independent read: exactly `done` keys hold their old content again.
    let live = f.live();
    let restored = (0..N).filter(|i| live[&key(*i)] == format!("a{i}")).count();
    assert_eq!(restored, done);

    // The same command again: only what is left, then the invalidation of both runs' paths.
    let again = ok(&f.run(&args));
    assert_eq!(again["applied"]["copied"], N - done);
    assert_eq!(again["verified"], true);
    let live = f.live();
    assert!((0..N).all(|i| live[&key(i)] == format!("a{i}")));
    // Nothing copied twice: two uploads per key plus one copy each.
    assert_eq!(f.version_counts(), (3 * N, 0));
    let sent: Vec<String> = serde_json::from_value(again["invalidation"]["paths"].clone()).unwrap();
    assert!(
        sent == ["/*"] || pending.iter().all(|p| sent.contains(p)),
        "sent {sent:?}, pending {pending:?}"
    );
    let j = f.journal();
    let interrupted_id = outcome["id"].as_str().unwrap();
    assert!(j.iter().any(|e| e["action"] == "site.invalidate"
        && e["phase"] == "intent"
        && e["before"]["resumes"] == interrupted_id));

    // A third run has nothing to do and nothing left to invalidate.
    let third = ok(&f.run(&args));
    assert_eq!(third["changes"], 0);
    assert!(third.get("invalidation").is_none(), "{third}");
    assert_eq!(f.version_counts(), (3 * N, 0));
}
