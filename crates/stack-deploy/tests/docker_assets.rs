//! Docker image assets against the emulator's ECR: the committed assembly
//! fixtures/cdk-docker.out (one stack, one image asset, synthesized by aws-cdk-lib
//! 2.276.0) deploys when the image tag is already in ECR, stops with exit 2
//! naming the asset when it is not and no docker CLI is on PATH, and is built
//! and pushed through a stub `docker` (a script put first on PATH in these tests
//! only) that records its arguments and, on `push`, puts an image manifest into
//! the emulator's ECR as a real push would.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed fixture call should panic

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use testkit::{Emulator, EmulatorGuard, json_stdout};

const STACK: &str = "LightningTalk-ApiService-dev";
const HASH: &str = "e7ddf6d676f7e7c979f371214961a05072f5a5dbf9c84d57dfc225b8f5915f5f";
const REPO: &str = "cdk-hnb659fds-container-assets-123456789012-ap-northeast-1";
const REGISTRY: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com";
const ASSET_BUCKET: &str = "cdk-hnb659fds-assets-123456789012-ap-northeast-1";
/// What moto's GetAuthorizationToken hands out (base64 of `AWS:<this>`).
const PASSWORD: &str = "123456789012-auth-token";
const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},"layers":[]}"#;

/// A docker CLI stand-in: one line of arguments per call in `$STUB_LOG`, the
/// login's stdin in `$STUB_STDIN`, noise on stdout (which must not reach the
/// deploy's JSON), exit 1 for the subcommand named in `$STUB_FAIL`, and on a
/// successful `push` the image manifest put into the emulator's ECR with the
/// AWS CLI. Bash builtins only, so it runs with no other directory on PATH.
const STUB: &str = r#"#!/bin/bash
printf '%s\n' "$*" >> "$STUB_LOG"
echo "stub docker: $1"
if [[ "$1" == login ]]; then
  IFS= read -r -d '' pw || true
  printf '%s' "$pw" > "$STUB_STDIN"
fi
if [[ "$1" == "${STUB_FAIL:-}" ]]; then
  echo "stub docker: $1 failed" >&2
  exit 1
fi
if [[ "$1" == push ]]; then
  ref="${2#*/}"
  "$STUB_AWS" ecr put-image --region "$AWS_REGION" --repository-name "${ref%:*}" --image-tag "${ref##*:}" \
    --image-manifest "$STUB_MANIFEST" > /dev/null || exit 1
fi
exit 0
"#;

fn fixture() -> PathBuf {
    testkit::workspace_root().join("fixtures/cdk-docker.out")
}

fn image_uri() -> String {
    format!("{REGISTRY}/{REPO}:{HASH}")
}

fn rt() -> tokio::runtime::Runtime {
    testkit::runtime()
}

async fn sdk_config(emu: &EmulatorGuard) -> aws_config::SdkConfig {
    testkit::sdk::load_config(emu).await
}

/// What `cdk bootstrap` leaves behind: the version parameter, the asset bucket
/// and (with `repository`) the container asset repository.
fn bootstrap(emu: &EmulatorGuard, repository: bool) {
    rt().block_on(async {
        let conf = sdk_config(emu).await;
        testkit::sdk::cdk_bootstrap(&conf, ASSET_BUCKET).await;
        if repository {
            aws_sdk_ecr::Client::new(&conf)
                .create_repository()
                .repository_name(REPO)
                .send()
                .await
                .unwrap();
        }
    });
}

/// Makes the image "present": an image manifest under the asset's tag.
fn put_image(emu: &EmulatorGuard) {
    rt().block_on(async {
        let conf = sdk_config(emu).await;
        aws_sdk_ecr::Client::new(&conf)
            .put_image()
            .repository_name(REPO)
            .image_tag(HASH)
            .image_manifest(MANIFEST)
            .send()
            .await
            .unwrap();
    });
}

/// The tags ECR lists for the repository.
fn tags(emu: &EmulatorGuard) -> Vec<String> {
    rt().block_on(async {
        let conf = sdk_config(emu).await;
        let r = aws_sdk_ecr::Client::new(&conf)
            .describe_images()
            .repository_name(REPO)
            .send()
            .await
            .unwrap();
        r.image_details()
            .iter()
            .flat_map(|d| d.image_tags().iter().cloned())
            .collect()
    })
}

fn stack_exists(emu: &EmulatorGuard) -> bool {
    rt().block_on(async {
        let conf = sdk_config(emu).await;
        aws_sdk_cloudformation::Client::new(&conf)
            .describe_stacks()
            .stack_name(STACK)
            .send()
            .await
            .is_ok()
    })
}

fn ssm_value(emu: &EmulatorGuard, name: &str) -> String {
    rt().block_on(async { testkit::sdk::parameter(&sdk_config(emu).await, name).await })
}

/// A PATH with a stub docker first (or, with `docker: false`, an empty
/// directory only: no docker anywhere), and the files the stub writes.
struct DockerPath {
    dir: tempfile::TempDir,
    path: String,
}

impl DockerPath {
    fn new(docker: bool) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let path = if docker {
            let stub = bin.join("docker");
            std::fs::write(&stub, STUB).unwrap();
            std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
            let rest = std::env::var("PATH").unwrap_or_default();
            format!("{}:{rest}", bin.display())
        } else {
            bin.display().to_string()
        };
        DockerPath { dir, path }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("docker-calls.txt")
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn stdin(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("login-stdin.txt")).unwrap_or_default()
    }
}

fn deploy(emu: &EmulatorGuard, app: &Path, p: &DockerPath, extra: &[&str], fail: &str) -> Output {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("stack-deploy"));
    emu.configure(&mut c);
    c.env_remove("CDK_DOCKER")
        .env("PATH", &p.path)
        .env("STUB_LOG", p.log())
        .env("STUB_STDIN", p.dir.path().join("login-stdin.txt"))
        .env("STUB_FAIL", fail)
        .env("STUB_AWS", testkit::workspace_root().join(".venv/bin/aws"))
        .env("STUB_MANIFEST", MANIFEST)
        .args(["--output", "json", "deploy", "--yes", "--app"])
        .arg(app)
        .arg(STACK)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn image_result(v: &Value) -> &Value {
    v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "docker-image")
        .unwrap_or_else(|| panic!("no docker-image asset in {v}"))
}

fn journal(emu: &EmulatorGuard) -> Vec<Value> {
    std::fs::read_to_string(emu.journal_path())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_present_image_is_skipped_and_the_stack_deploys_without_docker() {
    let emu = Emulator::shared();
    bootstrap(&emu, true);
    put_image(&emu);
    let p = DockerPath::new(false);
    let out = deploy(&emu, &fixture(), &p, &[], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json_stdout(&out);
    let img = image_result(&v);
    assert_eq!(img["action"], "present", "{v}");
    assert_eq!(img["repository"], REPO);
    assert_eq!(img["tag"], HASH);
    assert!(
        stderr(&out).contains(&format!("is already in {REPO}:{HASH}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(v["stacks"][0]["action"], "created", "{v}");
    assert_eq!(v["stacks"][0]["outputs"]["ImageUri"], image_uri());
    assert!(stack_exists(&emu));
    assert_eq!(ssm_value(&emu, "/ltc/dev/api/image"), image_uri());
    assert!(p.calls().is_empty());
}

#[test]
fn an_absent_image_without_docker_exits_2_naming_the_asset_and_changes_nothing() {
    let emu = Emulator::shared();
    bootstrap(&emu, true);
    let p = DockerPath::new(false);
    let out = deploy(&emu, &fixture(), &p, &[], "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    for needle in [
        "\"ApiService/ApiImage\"",
        HASH,
        &format!("{REPO}:{HASH}"),
        "docker",
        "nothing was deployed",
    ] {
        assert!(lines[0].contains(needle), "{needle} not in {}", lines[0]);
    }
    assert!(!stack_exists(&emu));
    assert!(tags(&emu).is_empty());
    assert!(journal(&emu).is_empty(), "{:?}", journal(&emu));
}

#[test]
fn an_absent_image_is_built_tagged_and_pushed_then_found_present() {
    let emu = Emulator::shared();
    bootstrap(&emu, true);
    let p = DockerPath::new(true);
    let out = deploy(&emu, &fixture(), &p, &[], "");
    assert!(out.status.success(), "{}", stderr(&out));
    // The stub's stdout went to stderr: stdout is one JSON document.
    let v = json_stdout(&out);
    let img = image_result(&v);
    assert_eq!(img["action"], "pushed", "{v}");
    assert_eq!(img["image"], image_uri());
    let dir = fixture().join(format!("asset.{HASH}"));
    assert_eq!(
        p.calls(),
        vec![
            format!("login --username AWS --password-stdin https://{REGISTRY}"),
            format!(
                "build --build-arg APP_VERSION=2.1.0 --tag cdkasset-{HASH} --target runtime {}",
                dir.display()
            ),
            format!("tag cdkasset-{HASH} {}", image_uri()),
            format!("push {}", image_uri()),
        ]
    );
    // The password went to docker's stdin and nowhere else.
    assert_eq!(p.stdin(), PASSWORD);
    let journal_text = std::fs::read_to_string(emu.journal_path()).unwrap();
    for (what, text) in [
        ("stdout", String::from_utf8_lossy(&out.stdout).into_owned()),
        ("stderr", stderr(&out)),
        ("journal", journal_text),
        ("docker arguments", p.calls().join("\n")),
    ] {
        assert!(!text.contains(PASSWORD), "the password is in the {what}");
    }
    let pushes: Vec<Value> = journal(&emu)
        .into_iter()
        .filter(|e| e["action"] == "ecr.push-image")
        .collect();
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    assert_eq!(pushes[0]["phase"], "intent");
    assert_eq!(pushes[0]["target"], image_uri());
    assert_eq!(pushes[0]["before"]["present"], false);
    assert_eq!(pushes[1]["outcome"], "ok");
    assert!(
        pushes[1]["after"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(tags(&emu), vec![HASH.to_owned()]);
    assert!(stack_exists(&emu));

    // Published once: the next deploy finds it and calls no docker.
    let out = deploy(&emu, &fixture(), &p, &[], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(image_result(&json_stdout(&out))["action"], "present");
    assert_eq!(p.calls().len(), 4);
}

#[test]
fn a_failed_push_is_journaled_as_failed_and_no_stack_is_touched() {
    let emu = Emulator::shared();
    bootstrap(&emu, true);
    let p = DockerPath::new(true);
    let out = deploy(&emu, &fixture(), &p, &[], "push");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("docker push {} failed", image_uri())),
        "{}",
        stderr(&out)
    );
    let pushes: Vec<Value> = journal(&emu)
        .into_iter()
        .filter(|e| e["action"] == "ecr.push-image")
        .collect();
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    assert_eq!(pushes[1]["outcome"], "failed");
    assert_eq!(pushes[1]["after"]["present"], false);
    assert!(!stack_exists(&emu));
    assert!(tags(&emu).is_empty());
}

#[test]
fn a_failed_build_stops_before_any_push_or_stack() {
    let emu = Emulator::shared();
    bootstrap(&emu, true);
    let p = DockerPath::new(true);
    let out = deploy(&emu, &fixture(), &p, &[], "build");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let calls = p.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[1].starts_with("build "));
    assert!(journal(&emu).is_empty());
    assert!(!stack_exists(&emu));
}

#[test]
fn a_dry_run_says_what_it_would_build_and_calls_no_docker() {
    let emu = Emulator::shared();
    bootstrap(&emu, true);
    for docker in [false, true] {
        let p = DockerPath::new(docker);
        let out = deploy(&emu, &fixture(), &p, &["--dry-run"], "");
        assert!(out.status.success(), "{}", stderr(&out));
        let v = json_stdout(&out);
        assert_eq!(image_result(&v)["action"], "would-push", "{v}");
        let err = stderr(&out);
        assert!(err.contains("would build docker image asset"), "{err}");
        // Without docker the dry run warns that the real run would stop.
        assert_eq!(
            err.contains("warning: docker image asset(s)"),
            !docker,
            "{err}"
        );
        assert!(p.calls().is_empty());
    }
    assert!(!stack_exists(&emu));
    assert!(tags(&emu).is_empty());
}

#[test]
fn a_missing_repository_is_a_bootstrap_problem_exit_4() {
    let emu = Emulator::shared();
    bootstrap(&emu, false);
    let p = DockerPath::new(true);
    let out = deploy(&emu, &fixture(), &p, &[], "");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("ECR repository {REPO}")), "{err}");
    assert!(err.contains("cdk bootstrap"), "{err}");
    assert!(p.calls().is_empty());
    assert!(!stack_exists(&emu));
}

#[test]
fn an_executable_image_source_is_run_and_its_image_tagged_and_pushed() {
    use std::os::unix::fs::PermissionsExt;
    let emu = Emulator::shared();
    bootstrap(&emu, true);
    let app = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture()).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), app.path().join(e.file_name())).unwrap();
        }
    }
    // An asset made by a command of its own (cdk's `executable` source): it
    // prints the name of the local image it made.
    let script = app.path().join("make-image.sh");
    std::fs::write(&script, "#!/bin/bash\necho made-by-script:1\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let assets = app.path().join(format!("{STACK}.assets.json"));
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&assets).unwrap()).unwrap();
    m["dockerImages"][HASH]["source"] = serde_json::json!({ "executable": ["./make-image.sh"] });
    std::fs::write(&assets, m.to_string()).unwrap();

    let p = DockerPath::new(true);
    let out = deploy(&emu, app.path(), &p, &[], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        p.calls(),
        vec![
            format!("login --username AWS --password-stdin https://{REGISTRY}"),
            format!("tag made-by-script:1 {}", image_uri()),
            format!("push {}", image_uri()),
        ]
    );
    assert_eq!(tags(&emu), vec![HASH.to_owned()]);
}
