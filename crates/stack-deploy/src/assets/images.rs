//! Docker image assets, published as cdk-assets publishes them: each destination
//! (repository and tag, the tag being the asset hash) is looked up in ECR with
//! DescribeImages; a tag that is there is skipped; a missing one is built (or
//! made by the asset's own command), tagged and pushed with the local docker
//! CLI after an ECR login (GetAuthorizationToken, the password on docker's
//! stdin). Every destination is looked up before anything is built, so a
//! machine without docker stops (exit 2) before any upload or stack change.

use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_ecr::types::ImageIdentifier;
use futures::StreamExt;
use serde_json::json;

use common::journal::{Journal, Outcome};
use common::{AwsResultExt, Context, Error, Result};

use super::AssetResult;
use super::docker::{self, Docker};
use crate::manifest::{ImageAsset, ImageSource, StackArtifact};
use crate::roles::{Roles, resolve_placeholders};

/// The journal action of a push.
pub const PUSH_ACTION: &str = "ecr.push-image";

/// One destination, placeholders resolved.
#[derive(Debug, Clone)]
struct Job {
    asset: ImageAsset,
    repository: String,
    region: String,
    role: Option<String>,
}

impl Job {
    fn dest(&self) -> String {
        format!("{}:{}", self.repository, self.asset.tag)
    }

    fn name(&self) -> String {
        format!("{:?} ({})", self.asset.display_name, self.asset.id)
    }

    fn result(&self, action: &str, image: Option<String>) -> AssetResult {
        AssetResult {
            asset: self.asset.display_name.clone(),
            kind: "docker-image",
            bucket: None,
            key: None,
            repository: Some(self.repository.clone()),
            tag: Some(self.asset.tag.clone()),
            image,
            action: action.to_owned(),
        }
    }
}

/// Looks up every image destination of `stacks`, then builds and pushes the
/// missing ones (a dry run only says what it would build).
pub(super) async fn publish(
    ctx: &Context,
    roles: &Roles,
    stacks: &[&StackArtifact],
    account_for: &impl Fn(&StackArtifact) -> String,
    dry_run: bool,
    calls: &AtomicU32,
) -> Result<Vec<AssetResult>> {
    let mut jobs: Vec<Job> = Vec::new();
    for s in stacks {
        let account = account_for(s);
        for a in &s.image_assets {
            let region = a.region.clone().unwrap_or_else(|| roles.base_region());
            let repository = resolve_placeholders(&a.repository, &account, &region);
            let role = a
                .assume_role_arn
                .as_deref()
                .map(|r| resolve_placeholders(r, &account, &region));
            if !jobs
                .iter()
                .any(|j| j.region == region && j.repository == repository && j.asset.tag == a.tag)
            {
                jobs.push(Job {
                    asset: a.clone(),
                    repository,
                    region,
                    role,
                });
            }
        }
    }
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let out = &ctx.out;
    let cancel = ctx.cancel();

    // 1. Where is each image already? (reads only, a few at a time, in order)
    let looked_up = futures::stream::iter(jobs.iter().map(|j| async move {
        let session = roles.session(j.role.as_deref(), Some(&j.region)).await?;
        let ecr = aws_sdk_ecr::Client::new(&session.config);
        let digest = cancel.run(lookup(&ecr, j, calls)).await?;
        Ok::<_, Error>((ecr, digest))
    }))
    .buffered(8)
    .collect::<Vec<_>>()
    .await;
    let mut clients = Vec::new();
    let mut missing = Vec::new();
    let mut results: Vec<Option<AssetResult>> = Vec::new();
    for (i, r) in looked_up.into_iter().enumerate() {
        let (ecr, digest) = r?;
        let j = &jobs[i];
        match digest {
            Some(d) => {
                out.info(format!(
                    "docker image asset {} is already in {} ({d}): skipped",
                    j.name(),
                    j.dest()
                ));
                results.push(Some(j.result("present", None)));
            }
            None => {
                missing.push(i);
                results.push(None);
            }
        }
        clients.push(ecr);
    }
    if missing.is_empty() {
        return Ok(results.into_iter().flatten().collect());
    }

    // 2. The missing ones need a docker CLI: say so before anything is changed.
    let docker = Docker::find();
    let need = missing
        .iter()
        .map(|&i| format!("{} -> {}", jobs[i].name(), jobs[i].dest()))
        .collect::<Vec<_>>()
        .join(", ");
    let no_docker = || {
        format!(
            "docker image asset(s) {need} must be built and pushed, but no {:?} CLI is on PATH (install docker, or set {} to a docker-compatible CLI); nothing was deployed",
            docker::program_name(),
            docker::DOCKER_ENV
        )
    };
    if dry_run {
        for &i in &missing {
            out.info(format!(
                "dry run: would build docker image asset {} and push it to {}",
                jobs[i].name(),
                jobs[i].dest()
            ));
            results[i] = Some(jobs[i].result("would-push", None));
        }
        if docker.is_none() {
            out.warn(no_docker());
        }
        return Ok(results.into_iter().flatten().collect());
    }
    let docker = docker.ok_or_else(|| Error::usage(no_docker()))?;

    // 3. Build and push, one at a time (docker builds are heavy).
    let journal = ctx.journal().await?;
    let mut logged_in: Vec<String> = Vec::new();
    for &i in &missing {
        cancel.check()?;
        let step = Step {
            ctx,
            docker: &docker,
            journal,
            ecr: &clients[i],
            job: &jobs[i],
            calls,
        };
        results[i] = Some(step.build_and_push(&mut logged_in).await?);
    }
    Ok(results.into_iter().flatten().collect())
}

/// The digest of `repository:tag` in ECR, or `None` when that tag is not there.
async fn lookup(ecr: &aws_sdk_ecr::Client, j: &Job, calls: &AtomicU32) -> Result<Option<String>> {
    calls.fetch_add(1, Ordering::Relaxed);
    let r = ecr
        .describe_images()
        .repository_name(&j.repository)
        .image_ids(ImageIdentifier::builder().image_tag(&j.asset.tag).build())
        .send()
        .await
        .aws("DescribeImages");
    match r {
        Ok(resp) => Ok(Some(
            resp.image_details()
                .first()
                .and_then(|d| d.image_digest())
                .unwrap_or("digest unknown")
                .to_owned(),
        )),
        Err(e) if e.has_code("ImageNotFoundException") => Ok(None),
        Err(e) if e.has_code("RepositoryNotFoundException") => Err(no_repository(j, &e)),
        Err(e) => Err(Error::Aws(e)),
    }
}

fn no_repository(j: &Job, e: &common::error::AwsError) -> Error {
    Error::CheckFailed(format!(
        "ECR repository {} (for docker image asset {}) does not exist in {}: is the environment bootstrapped (`cdk bootstrap`)? ({e})",
        j.repository,
        j.name(),
        j.region
    ))
}

/// Building and pushing one missing image.
struct Step<'a> {
    ctx: &'a Context,
    docker: &'a Docker,
    journal: &'a Journal,
    ecr: &'a aws_sdk_ecr::Client,
    job: &'a Job,
    calls: &'a AtomicU32,
}

impl Step<'_> {
    async fn build_and_push(&self, logged_in: &mut Vec<String>) -> Result<AssetResult> {
        let (out, j, cancel) = (&self.ctx.out, self.job, self.ctx.cancel());
        let repo_uri = self.repository_uri().await?;
        let registry = repo_uri.split('/').next().unwrap_or_default().to_owned();
        // Logged in before the build too, as cdk-assets does, so a Dockerfile
        // can start FROM an image in the same registry.
        if !logged_in.contains(&registry) {
            self.login().await?;
            logged_in.push(registry);
        }
        let local = match &j.asset.source {
            ImageSource::Directory(b) => {
                let local = format!("cdkasset-{}", j.asset.id.to_lowercase());
                out.info(format!(
                    "building docker image asset {} from {}",
                    j.name(),
                    b.directory.display()
                ));
                cancel.run(self.docker.build(b, &local)).await?;
                local
            }
            ImageSource::Executable { command, cwd } => {
                out.info(format!(
                    "making docker image asset {} with {:?}",
                    j.name(),
                    command.join(" ")
                ));
                cancel.run(docker::run_executable(command, cwd)).await?
            }
        };
        let image = format!("{repo_uri}:{}", j.asset.tag);
        self.docker.tag(&local, &image).await?;

        let change = self.journal.intent(
            PUSH_ACTION,
            &image,
            json!({
                "asset": j.asset.id,
                "display_name": j.asset.display_name,
                "repository": j.repository,
                "tag": j.asset.tag,
                "region": j.region,
                "present": false,
            }),
        )?;
        out.info(format!("pushing {image}"));
        // The push is let finish (no cancel): its outcome must be recorded.
        let pushed = self.docker.push(&image).await;
        // Read back: what ECR lists decides the outcome, not docker's exit status.
        let after = lookup(self.ecr, j, self.calls).await;
        match (pushed, after) {
            (_, Err(e)) => {
                change.unknown(
                    json!({ "image": image }),
                    format!("could not read the tag back: {e}"),
                )?;
                Err(e)
            }
            (Ok(()), Ok(Some(digest))) => {
                change.ok(json!({ "image": image, "present": true, "digest": digest }))?;
                out.info(format!("pushed {image} ({digest})"));
                Ok(j.result("pushed", Some(image)))
            }
            (Err(e), Ok(Some(digest))) => {
                let msg = format!("{e}, yet ECR lists the tag: taken as pushed");
                change.finish(
                    Outcome::Ok,
                    json!({ "image": image, "present": true, "digest": digest }),
                    Some(msg.clone()),
                )?;
                out.warn(msg);
                Ok(j.result("pushed", Some(image)))
            }
            (Err(e), Ok(None)) => {
                change.failed(json!({ "image": image, "present": false }), e.to_string())?;
                Err(e)
            }
            (Ok(()), Ok(None)) => {
                let msg = format!(
                    "docker push {image} succeeded but ECR does not list tag {} in {}",
                    j.asset.tag, j.repository
                );
                change.failed(json!({ "image": image, "present": false }), msg.clone())?;
                Err(Error::CheckFailed(msg))
            }
        }
    }

    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`, from DescribeRepositories.
    async fn repository_uri(&self) -> Result<String> {
        let j = self.job;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .ecr
            .describe_repositories()
            .repository_names(&j.repository)
            .send()
            .await
            .aws("DescribeRepositories")
            .map_err(|e| {
                if e.has_code("RepositoryNotFoundException") {
                    no_repository(j, &e)
                } else {
                    Error::Aws(e)
                }
            })?;
        resp.repositories()
            .first()
            .and_then(|r| r.repository_uri())
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "DescribeRepositories returned no URI for {}",
                    j.repository
                ))
            })
    }

    /// GetAuthorizationToken, then `docker login` with the password on stdin.
    async fn login(&self) -> Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .ecr
            .get_authorization_token()
            .send()
            .await
            .aws("GetAuthorizationToken")?;
        let data = resp
            .authorization_data()
            .first()
            .ok_or_else(|| Error::Internal("GetAuthorizationToken returned no data".into()))?;
        let token = data
            .authorization_token()
            .ok_or_else(|| Error::Internal("GetAuthorizationToken returned no token".into()))?;
        let endpoint = data.proxy_endpoint().ok_or_else(|| {
            Error::Internal("GetAuthorizationToken returned no proxy endpoint".into())
        })?;
        let (user, password) = docker::decode_token(token)?;
        self.ctx
            .out
            .info(format!("logging docker in to {endpoint} as {user}"));
        self.docker.login(&user, &password, endpoint).await
    }
}
