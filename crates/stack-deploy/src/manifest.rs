//! Reading a CDK cloud assembly (`cdk.out/manifest.json`): stack artifacts, their
//! asset manifests and their dependencies. Pure file reading; every problem is a
//! usage error (exit 2) found before any AWS call.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use common::{Error, Result};

/// The CloudFormation artifact type in `manifest.json`.
pub const STACK_TYPE: &str = "aws:cloudformation:stack";
/// The asset manifest artifact type.
pub const ASSETS_TYPE: &str = "cdk:asset-manifest";
/// CloudFormation's limit for an inline TemplateBody.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;
/// CloudFormation's limit for a template given by TemplateURL (1 MB).
pub const TEMPLATE_URL_LIMIT: usize = 1_048_576;

/// A CloudFormation stack name: 1-128 characters, `[A-Za-z][A-Za-z0-9-]*`.
/// Checked before any call; the name is quoted at most ~100 characters.
pub fn check_stack_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        return Ok(());
    }
    Err(Error::usage(format!(
        "{} is not a CloudFormation stack name (1-128 letters, digits and hyphens, starting with a letter)",
        common::quote(name)
    )))
}

/// One deployable stack, as the CDK synthesized it.
#[derive(Debug, Clone)]
pub struct StackArtifact {
    /// Artifact id (what `cdk deploy` takes on the command line).
    pub id: String,
    /// CloudFormation stack name (`stackName`, else the artifact id).
    pub stack_name: String,
    pub template_file: PathBuf,
    /// The template's raw bytes as synthesized (hashed and sent as is).
    pub template: String,
    /// Parameters the template declares.
    pub template_parameters: BTreeMap<String, TemplateParam>,
    pub tags: BTreeMap<String, String>,
    /// `aws://ACCOUNT/REGION` split; `None` for `unknown-account`/`unknown-region`.
    pub account: Option<String>,
    pub region: Option<String>,
    pub assume_role_arn: Option<String>,
    pub cfn_exec_role_arn: Option<String>,
    /// `s3://bucket/key` of the template uploaded as an asset (for TemplateURL).
    pub template_asset_url: Option<String>,
    pub requires_bootstrap_version: Option<u64>,
    pub bootstrap_parameter: Option<String>,
    pub termination_protection: bool,
    /// Other stacks this one needs first (artifact ids), found through
    /// non-stack artifacts such as asset manifests.
    pub depends_on: Vec<String>,
    /// The file assets to publish before the stack is deployed.
    pub file_assets: Vec<FileAsset>,
    /// The docker image assets to publish (build and push to ECR) before the
    /// stack is deployed.
    pub image_assets: Vec<ImageAsset>,
}

/// A parameter a template declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateParam {
    pub default: Option<String>,
    /// `AWS::SSM::Parameter::Value<...>`: the value is an SSM name, resolved by CloudFormation.
    pub ssm: bool,
    pub no_echo: bool,
}

/// One file asset destination: a local file and where it goes in S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAsset {
    pub id: String,
    pub display_name: String,
    pub source: PathBuf,
    /// The source is a directory, published as a zip of its files (`"packaging": "zip"`).
    pub zip: bool,
    pub bucket: String,
    pub key: String,
    pub region: Option<String>,
    pub assume_role_arn: Option<String>,
}

/// One docker image asset destination: how to make the image locally and the
/// ECR repository and tag it goes to (`dockerImages` in `*.assets.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageAsset {
    pub id: String,
    pub display_name: String,
    pub source: ImageSource,
    /// May hold `${AWS::AccountId}`/`${AWS::Region}` placeholders.
    pub repository: String,
    pub tag: String,
    pub region: Option<String>,
    pub assume_role_arn: Option<String>,
}

/// How a docker image asset is made, as cdk-assets makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// `docker build` of a directory of the assembly.
    Directory(Box<DockerBuild>),
    /// A command run in the assembly directory that prints the name of a
    /// local image on stdout.
    Executable { command: Vec<String>, cwd: PathBuf },
}

/// The `docker build` options of a directory image asset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerBuild {
    /// The build context (absolute or relative to the current directory).
    pub directory: PathBuf,
    /// `dockerFile`, relative to the directory as in the manifest.
    pub file: Option<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// `dockerBuildSecrets`: id -> `src=...`/`env=...`.
    pub secrets: BTreeMap<String, String>,
    pub ssh: Option<String>,
    pub network: Option<String>,
    pub platform: Option<String>,
    pub outputs: Vec<String>,
    /// `cacheFrom`/`cacheTo`, already in docker's `type=...,k=v` form.
    pub cache_from: Vec<String>,
    pub cache_to: Option<String>,
    pub no_cache: bool,
}

/// The whole assembly: stacks in manifest order.
#[derive(Debug, Clone)]
pub struct Assembly {
    pub dir: PathBuf,
    pub stacks: Vec<StackArtifact>,
}

#[derive(Debug, Deserialize)]
struct RawManifest {
    #[serde(default)]
    artifacts: BTreeMapInOrder,
}

/// Artifacts keep their manifest order (serde_json's preserve_order is on).
type BTreeMapInOrder = serde_json::Map<String, Value>;

#[derive(Debug, Deserialize)]
struct RawArtifact {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    properties: Value,
    #[serde(default)]
    dependencies: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RawAssetManifest {
    #[serde(default)]
    files: BTreeMap<String, RawFileAsset>,
    #[serde(default, rename = "dockerImages")]
    docker_images: BTreeMap<String, RawImageAsset>,
}

#[derive(Debug, Deserialize)]
struct RawImageAsset {
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
    #[serde(default)]
    source: RawImageSource,
    #[serde(default)]
    destinations: BTreeMap<String, RawImageDestination>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawImageSource {
    directory: Option<String>,
    executable: Option<Vec<String>>,
    docker_file: Option<String>,
    docker_build_target: Option<String>,
    #[serde(default)]
    docker_build_args: BTreeMap<String, String>,
    #[serde(default)]
    docker_build_secrets: BTreeMap<String, String>,
    docker_build_ssh: Option<String>,
    network_mode: Option<String>,
    platform: Option<String>,
    #[serde(default)]
    docker_outputs: Vec<String>,
    #[serde(default)]
    cache_from: Vec<RawCacheOption>,
    cache_to: Option<RawCacheOption>,
    #[serde(default)]
    cache_disabled: bool,
    /// Anything newer than this reader knows: refused rather than ignored, so an
    /// image is never built differently from what `cdk deploy` would build.
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct RawCacheOption {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    params: BTreeMap<String, String>,
}

impl RawCacheOption {
    /// docker's `type=registry,ref=...` form.
    fn flag(&self) -> String {
        std::iter::once(format!("type={}", self.kind))
            .chain(self.params.iter().map(|(k, v)| format!("{k}={v}")))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[derive(Debug, Deserialize)]
struct RawImageDestination {
    #[serde(rename = "repositoryName")]
    repository_name: String,
    #[serde(rename = "imageTag")]
    image_tag: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default, rename = "assumeRoleArn")]
    assume_role_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawFileAsset {
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
    source: RawSource,
    #[serde(default)]
    destinations: BTreeMap<String, RawDestination>,
}

#[derive(Debug, Deserialize)]
struct RawSource {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    packaging: Option<String>,
    #[serde(default)]
    executable: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RawDestination {
    #[serde(rename = "bucketName")]
    bucket_name: String,
    #[serde(rename = "objectKey")]
    object_key: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default, rename = "assumeRoleArn")]
    assume_role_arn: Option<String>,
}

/// A usage error about the assembly. Messages quote names and parser errors
/// taken from the files (serde quotes a wrong value whole), so the line is
/// folded and bounded here, once, rather than at each of the many call sites.
fn bad(msg: impl Into<String>) -> Error {
    Error::usage(common::clip_to(&msg.into(), 400))
}

impl Assembly {
    /// Reads `dir/manifest.json`, every stack template and every asset manifest.
    pub fn load(dir: &Path) -> Result<Assembly> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            bad(format!(
                "cannot read cloud assembly {}: {e} (run `cdk synth` or pass --app DIR)",
                path.display()
            ))
        })?;
        Self::parse(dir, &text)
    }

    /// Parses a manifest's text; files it names are read relative to `dir`.
    pub fn parse(dir: &Path, text: &str) -> Result<Assembly> {
        let manifest_path = dir.join("manifest.json");
        let raw: RawManifest = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "malformed cloud assembly manifest {}: {e}",
                manifest_path.display()
            ))
        })?;
        let mut artifacts: Vec<(String, RawArtifact)> = Vec::new();
        for (id, v) in raw.artifacts {
            let a: RawArtifact = serde_json::from_value(v).map_err(|e| {
                bad(format!(
                    "malformed artifact {id:?} in {}: {e}",
                    manifest_path.display()
                ))
            })?;
            artifacts.push((id, a));
        }
        let by_id: HashMap<&str, &RawArtifact> =
            artifacts.iter().map(|(id, a)| (id.as_str(), a)).collect();

        let mut stacks = Vec::new();
        for (id, a) in &artifacts {
            if a.kind == "cdk:cloud-assembly" {
                return Err(bad(format!(
                    "artifact {id:?} is a nested cloud assembly (a CDK Stage); deploy it with --app {}",
                    dir.join(a.properties["directoryName"].as_str().unwrap_or("<dir>"))
                        .display()
                )));
            }
            if a.kind != STACK_TYPE {
                continue;
            }
            stacks.push(stack_artifact(dir, id, a, &by_id)?);
        }
        if stacks.is_empty() {
            return Err(bad(format!(
                "{} has no CloudFormation stacks",
                manifest_path.display()
            )));
        }
        Ok(Assembly {
            dir: dir.to_owned(),
            stacks,
        })
    }

    pub fn stack(&self, id: &str) -> Option<&StackArtifact> {
        self.stacks.iter().find(|s| s.id == id)
    }
}

fn prop_str(props: &Value, key: &str) -> Option<String> {
    props.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn stack_artifact(
    dir: &Path,
    id: &str,
    a: &RawArtifact,
    by_id: &HashMap<&str, &RawArtifact>,
) -> Result<StackArtifact> {
    let props = &a.properties;
    let template_file = prop_str(props, "templateFile")
        .ok_or_else(|| bad(format!("stack {id} has no templateFile in manifest.json")))?;
    let template_path = dir.join(&template_file);
    let template = std::fs::read_to_string(&template_path).map_err(|e| {
        bad(format!(
            "stack {id}: cannot read template {}: {e}",
            template_path.display()
        ))
    })?;
    let parsed: Value = serde_json::from_str(&template).map_err(|e| {
        bad(format!(
            "stack {id}: template {} is not valid JSON: {e}",
            template_path.display()
        ))
    })?;
    let template_parameters = template_parameters(&parsed);

    let tags = match props.get("tags") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        // Older manifests: a list of {Key, Value}.
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|t| {
                Some((
                    t.get("Key")?.as_str()?.to_owned(),
                    t.get("Value")?.as_str()?.to_owned(),
                ))
            })
            .collect(),
        Some(_) => return Err(bad(format!("stack {id}: tags must be an object"))),
    };

    let (account, region) = parse_environment(a.environment.as_deref());

    // Dependencies: stacks directly, or through other artifacts (asset manifests).
    let mut direct: Vec<String> = a.dependencies.clone();
    if let Some(extra) = props
        .get("additionalDependencies")
        .and_then(Value::as_array)
    {
        for d in extra.iter().filter_map(Value::as_str) {
            if !direct.iter().any(|x| x == d) {
                direct.push(d.to_owned());
            }
        }
    }
    let mut depends_on = Vec::new();
    let mut asset_manifests = Vec::new();
    let mut stack_deps_through = |start: &str, via: &mut Vec<String>| -> Result<()> {
        let mut todo = vec![start.to_owned()];
        let mut seen: Vec<String> = Vec::new();
        while let Some(d) = todo.pop() {
            if seen.contains(&d) {
                continue;
            }
            seen.push(d.clone());
            let Some(dep) = by_id.get(d.as_str()) else {
                return Err(bad(format!(
                    "stack {id} depends on {d:?}, which is not in manifest.json"
                )));
            };
            if dep.kind == STACK_TYPE {
                if !depends_on.contains(&d) {
                    depends_on.push(d);
                }
                continue;
            }
            if dep.kind == ASSETS_TYPE && !via.contains(&d) {
                via.push(d.clone());
            }
            todo.extend(dep.dependencies.iter().cloned());
        }
        Ok(())
    };
    for d in &direct {
        stack_deps_through(d, &mut asset_manifests)?;
    }

    let mut file_assets = Vec::new();
    let mut image_assets = Vec::new();
    for am in &asset_manifests {
        let art = by_id[am.as_str()];
        let file = prop_str(&art.properties, "file")
            .ok_or_else(|| bad(format!("asset manifest {am} has no file property")))?;
        let (files, images) = read_asset_manifest(dir, id, &dir.join(file))?;
        file_assets.extend(files);
        image_assets.extend(images);
    }

    let stack_name = prop_str(props, "stackName").unwrap_or_else(|| id.to_owned());
    check_stack_name(&stack_name).map_err(|e| bad(format!("artifact {id}: {e}")))?;
    Ok(StackArtifact {
        id: id.to_owned(),
        stack_name,
        template_file: template_path,
        template,
        template_parameters,
        tags,
        account,
        region,
        assume_role_arn: prop_str(props, "assumeRoleArn"),
        cfn_exec_role_arn: prop_str(props, "cloudFormationExecutionRoleArn"),
        template_asset_url: prop_str(props, "stackTemplateAssetObjectUrl"),
        requires_bootstrap_version: props
            .get("requiresBootstrapStackVersion")
            .and_then(Value::as_u64),
        bootstrap_parameter: prop_str(props, "bootstrapStackVersionSsmParameter"),
        termination_protection: props
            .get("terminationProtection")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        depends_on,
        file_assets,
        image_assets,
    })
}

fn default_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The parameters a template (parsed JSON) declares.
pub fn template_parameters(parsed: &Value) -> BTreeMap<String, TemplateParam> {
    parsed
        .get("Parameters")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let p = TemplateParam {
                        default: v.get("Default").map(default_to_string),
                        ssm: v
                            .get("Type")
                            .and_then(Value::as_str)
                            .is_some_and(|t| t.starts_with("AWS::SSM::Parameter::")),
                        no_echo: v.get("NoEcho").is_some_and(|n| {
                            n.as_bool() == Some(true) || n.as_str() == Some("true")
                        }),
                    };
                    (k.clone(), p)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `aws://123456789012/ap-northeast-1` -> (account, region); `unknown-*` -> None.
pub fn parse_environment(env: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(rest) = env.and_then(|e| e.strip_prefix("aws://")) else {
        return (None, None);
    };
    let (acct, region) = rest.split_once('/').unwrap_or((rest, ""));
    let known = |s: &str| (!s.is_empty() && !s.starts_with("unknown-")).then(|| s.to_owned());
    (known(acct), known(region))
}

fn read_asset_manifest(
    dir: &Path,
    stack: &str,
    path: &Path,
) -> Result<(Vec<FileAsset>, Vec<ImageAsset>)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        bad(format!(
            "stack {stack}: cannot read asset manifest {}: {e}",
            path.display()
        ))
    })?;
    let raw: RawAssetManifest = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "stack {stack}: malformed asset manifest {}: {e}",
            path.display()
        ))
    })?;
    let mut images = Vec::new();
    for (id, img) in raw.docker_images {
        images.extend(image_asset(dir, stack, id, img)?);
    }
    let mut out = Vec::new();
    for (id, f) in raw.files {
        let display = f.display_name.clone().unwrap_or_else(|| id.clone());
        if f.source.executable.is_some() {
            return Err(bad(format!(
                "stack {stack}: asset {display:?} is built by an executable; only plain file assets are supported"
            )));
        }
        let packaging = f.source.packaging.as_deref().unwrap_or("file");
        let zip = match packaging {
            "file" => false,
            "zip" => true,
            other => {
                return Err(bad(format!(
                    "stack {stack}: asset {display:?} has packaging {other:?}; only \"file\" and \"zip\" (a directory) are supported"
                )));
            }
        };
        let rel = f.source.path.ok_or_else(|| {
            bad(format!(
                "stack {stack}: asset {display:?} has no source path"
            ))
        })?;
        let source = dir.join(&rel);
        // A "zip" asset may also be a ready-made archive (a file), uploaded as it is.
        let zip = zip && source.is_dir();
        if !zip && !source.is_file() {
            let what = if packaging == "zip" {
                "directory"
            } else {
                "file"
            };
            return Err(bad(format!(
                "stack {stack}: asset {display:?} {what} {} is missing",
                source.display()
            )));
        }
        for d in f.destinations.into_values() {
            out.push(FileAsset {
                id: id.clone(),
                display_name: display.clone(),
                source: source.clone(),
                zip,
                bucket: d.bucket_name,
                key: d.object_key,
                region: d.region,
                assume_role_arn: d.assume_role_arn,
            });
        }
    }
    Ok((out, images))
}

/// One `dockerImages` entry, checked the way cdk-assets would use it.
fn image_asset(dir: &Path, stack: &str, id: String, img: RawImageAsset) -> Result<Vec<ImageAsset>> {
    let display = img.display_name.clone().unwrap_or_else(|| id.clone());
    let what = format!("stack {stack}: docker image asset {display:?} ({id})");
    let src = img.source;
    if let Some(k) = src.other.keys().next() {
        return Err(bad(format!(
            "{what} uses source field {k:?}, which stack-deploy does not know; publish it with `cdk deploy`"
        )));
    }
    let source = match (src.directory, src.executable) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(bad(format!(
                "{what} needs exactly one of source.directory and source.executable"
            )));
        }
        (None, Some(command)) => {
            if command.is_empty() || command[0].is_empty() {
                return Err(bad(format!("{what} has an empty source.executable")));
            }
            let build_only = src.docker_file.is_some()
                || src.docker_build_target.is_some()
                || !src.docker_build_args.is_empty();
            if build_only {
                return Err(bad(format!(
                    "{what}: dockerFile, dockerBuildTarget and dockerBuildArgs are only allowed with source.directory"
                )));
            }
            ImageSource::Executable {
                command,
                cwd: dir.to_owned(),
            }
        }
        (Some(rel), None) => {
            let directory = dir.join(&rel);
            if !directory.is_dir() {
                return Err(bad(format!(
                    "{what} directory {} is missing",
                    directory.display()
                )));
            }
            let file = src.docker_file.as_deref().unwrap_or("Dockerfile");
            if !directory.join(file).is_file() {
                return Err(bad(format!(
                    "{what}: {} is missing",
                    directory.join(file).display()
                )));
            }
            ImageSource::Directory(Box::new(DockerBuild {
                directory,
                file: src.docker_file,
                build_args: src.docker_build_args,
                target: src.docker_build_target,
                secrets: src.docker_build_secrets,
                ssh: src.docker_build_ssh,
                network: src.network_mode,
                platform: src.platform,
                outputs: src.docker_outputs,
                cache_from: src.cache_from.iter().map(RawCacheOption::flag).collect(),
                cache_to: src.cache_to.as_ref().map(RawCacheOption::flag),
                no_cache: src.cache_disabled,
            }))
        }
    };
    if img.destinations.is_empty() {
        return Err(bad(format!("{what} has no destinations")));
    }
    let mut out = Vec::new();
    for (dest, d) in img.destinations {
        if d.repository_name.is_empty() || d.image_tag.is_empty() {
            return Err(bad(format!(
                "{what}: destination {dest:?} needs a repositoryName and an imageTag"
            )));
        }
        out.push(ImageAsset {
            id: id.clone(),
            display_name: display.clone(),
            source: source.clone(),
            repository: d.repository_name,
            tag: d.image_tag,
            region: d.region,
            assume_role_arn: d.assume_role_arn,
        });
    }
    Ok(out)
}

/// The repository's seven-stack assembly (fixtures/cdk.out), for tests.
#[cfg(test)]
pub(crate) fn fixture() -> Assembly {
    Assembly::load(&tests::fixture_dir()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn fixture_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/cdk.out")
    }

    #[test]
    fn fixture_has_seven_stacks_with_dependencies_through_asset_manifests() {
        let a = Assembly::load(&fixture_dir()).unwrap();
        let ids: Vec<_> = a.stacks.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), 7, "{ids:?}");
        let api = a.stack("LightningTalk-Api-prod").unwrap();
        assert_eq!(
            api.depends_on,
            vec!["LightningTalk-Database-prod", "LightningTalk-Security-prod"]
        );
        // The config file and the template itself.
        assert_eq!(api.file_assets.len(), 2, "{:?}", api.file_assets);
        assert_eq!(
            api.template_parameters["ApiImageTag"].default.as_deref(),
            Some("v2.0.0")
        );
        assert!(api.template_parameters["BootstrapVersion"].ssm);
        assert_eq!(api.tags["Project"], "LightningTalkCircle");
        assert_eq!(api.account.as_deref(), Some("123456789012"));
        assert!(
            api.assume_role_arn
                .as_deref()
                .unwrap()
                .contains("${AWS::Partition}")
        );
        let db = a.stack("LightningTalk-Database-prod").unwrap();
        assert!(db.depends_on.is_empty());
        assert_eq!(db.requires_bootstrap_version, Some(6));
    }

    #[test]
    fn missing_and_malformed_manifests_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = Assembly::load(dir.path()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("manifest.json"), "{e}");
        let e = Assembly::parse(dir.path(), "{not json").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().starts_with("malformed"), "{e}");
    }

    #[test]
    fn missing_template_file_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let m = r#"{"version":"55.0.0","artifacts":{"A":{"type":"aws:cloudformation:stack","properties":{"templateFile":"A.template.json"}}}}"#;
        let e = Assembly::parse(dir.path(), m).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("A.template.json"), "{e}");
    }

    #[test]
    fn docker_image_assets_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("A.template.json"), "{}").unwrap();
        std::fs::write(
            dir.path().join("A.assets.json"),
            r#"{"version":"55.0.0","files":{},"dockerImages":{"abc":{"displayName":"ApiImage","source":{},"destinations":{}}}}"#,
        )
        .unwrap();
        let m = r#"{"artifacts":{
            "A.assets":{"type":"cdk:asset-manifest","properties":{"file":"A.assets.json"}},
            "A":{"type":"aws:cloudformation:stack","properties":{"templateFile":"A.template.json"},"dependencies":["A.assets"]}}}"#;
        let e = Assembly::parse(dir.path(), m).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("\"ApiImage\""), "{e}");
    }

    #[test]
    fn the_docker_fixture_has_one_image_asset_built_from_its_directory() {
        let dir = fixture_dir().join("../cdk-docker.out");
        let a = Assembly::load(&dir).unwrap();
        let s = a.stack("LightningTalk-ApiService-dev").unwrap();
        assert_eq!(s.image_assets.len(), 1, "{:?}", s.image_assets);
        let img = &s.image_assets[0];
        let hash = "e7ddf6d676f7e7c979f371214961a05072f5a5dbf9c84d57dfc225b8f5915f5f";
        assert_eq!(img.id, hash);
        assert_eq!(img.tag, hash);
        assert_eq!(img.display_name, "ApiService/ApiImage");
        assert_eq!(
            img.repository,
            "cdk-hnb659fds-container-assets-123456789012-ap-northeast-1"
        );
        assert_eq!(img.region.as_deref(), Some("ap-northeast-1"));
        assert!(
            img.assume_role_arn
                .as_deref()
                .unwrap()
                .contains("image-publishing-role")
        );
        let ImageSource::Directory(b) = &img.source else {
            panic!("{:?}", img.source);
        };
        assert_eq!(b.directory, dir.join(format!("asset.{hash}")));
        assert_eq!(b.build_args["APP_VERSION"], "2.1.0");
        assert_eq!(b.target.as_deref(), Some("runtime"));
        assert_eq!(b.file, None);
    }

    /// Writes a one-stack assembly whose asset manifest has `images` as its
    /// `dockerImages`, with `asset.abc/Dockerfile` present.
    fn image_assembly(images: &str) -> (tempfile::TempDir, Result<Assembly>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("A.template.json"), "{}").unwrap();
        std::fs::create_dir(dir.path().join("asset.abc")).unwrap();
        std::fs::write(dir.path().join("asset.abc/Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(
            dir.path().join("A.assets.json"),
            format!(r#"{{"version":"55.0.0","files":{{}},"dockerImages":{images}}}"#),
        )
        .unwrap();
        let m = r#"{"artifacts":{
            "A.assets":{"type":"cdk:asset-manifest","properties":{"file":"A.assets.json"}},
            "A":{"type":"aws:cloudformation:stack","properties":{"templateFile":"A.template.json"},"dependencies":["A.assets"]}}}"#;
        let a = Assembly::parse(dir.path(), m);
        (dir, a)
    }

    const DEST: &str =
        r#""destinations":{"d":{"repositoryName":"repo-${AWS::AccountId}","imageTag":"abc"}}"#;

    #[test]
    fn image_assets_read_every_build_option_and_refuse_what_they_do_not_know() {
        let (_d, a) = image_assembly(&format!(
            r#"{{"abc":{{"source":{{"directory":"asset.abc","dockerFile":"Dockerfile","dockerBuildSecrets":{{"npm":"src=/run/npmrc"}},"networkMode":"host","platform":"linux/amd64","dockerOutputs":["type=docker"],"cacheFrom":[{{"type":"registry","params":{{"ref":"r:cache"}}}}],"cacheTo":{{"type":"inline"}},"cacheDisabled":true}},{DEST}}}}}"#
        ));
        let a = a.unwrap();
        let img = &a.stacks[0].image_assets[0];
        assert_eq!(img.display_name, "abc");
        assert_eq!(img.repository, "repo-${AWS::AccountId}");
        let ImageSource::Directory(b) = &img.source else {
            panic!("{:?}", img.source);
        };
        assert_eq!(b.secrets["npm"], "src=/run/npmrc");
        assert_eq!(b.network.as_deref(), Some("host"));
        assert_eq!(b.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(b.outputs, ["type=docker"]);
        assert_eq!(b.cache_from, ["type=registry,ref=r:cache"]);
        assert_eq!(b.cache_to.as_deref(), Some("type=inline"));
        assert!(b.no_cache);

        let bad = [
            (
                r#"{"directory":"asset.abc","futureOption":1}"#,
                "\"futureOption\"",
            ),
            (r#"{}"#, "exactly one of"),
            (
                r#"{"directory":"asset.abc","executable":["x"]}"#,
                "exactly one of",
            ),
            (r#"{"directory":"asset.nope"}"#, "asset.nope is missing"),
            (
                r#"{"directory":"asset.abc","dockerFile":"Other.Dockerfile"}"#,
                "Other.Dockerfile is missing",
            ),
            (r#"{"executable":[]}"#, "empty source.executable"),
            (
                r#"{"executable":["make"],"dockerBuildTarget":"t"}"#,
                "only allowed with source.directory",
            ),
        ];
        for (source, needle) in bad {
            let (_d, a) = image_assembly(&format!(
                r#"{{"abc":{{"displayName":"Api","source":{source},{DEST}}}}}"#
            ));
            let e = a.unwrap_err();
            assert_eq!(e.exit_code(), 2, "{source}: {e}");
            let msg = e.to_string();
            assert!(msg.contains(needle), "{source}: {msg}");
            assert!(msg.contains("docker image asset \"Api\" (abc)"), "{msg}");
        }
        let (_d, a) =
            image_assembly(r#"{"abc":{"source":{"directory":"asset.abc"},"destinations":{}}}"#);
        assert!(a.unwrap_err().to_string().contains("no destinations"));
        let (_d, a) = image_assembly(
            r#"{"abc":{"source":{"directory":"asset.abc"},"destinations":{"d":{"repositoryName":"r","imageTag":""}}}}"#,
        );
        assert!(a.unwrap_err().to_string().contains("imageTag"));
    }

    #[test]
    fn environment_strings() {
        assert_eq!(
            parse_environment(Some("aws://123/ap-northeast-1")),
            (Some("123".into()), Some("ap-northeast-1".into()))
        );
        assert_eq!(
            parse_environment(Some("aws://unknown-account/unknown-region")),
            (None, None)
        );
        assert_eq!(parse_environment(None), (None, None));
    }
}
