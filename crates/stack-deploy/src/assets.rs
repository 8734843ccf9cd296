//! Publishing assets before any stack is deployed: file assets (and
//! directories, zipped: `archive.rs`) to their S3 destinations, docker image
//! assets to their ECR repositories (built and pushed with the local docker CLI:
//! `assets/docker.rs`). Destinations are content-addressed (the key or tag is the
//! asset hash), so an object or image that already exists is left alone, as
//! cdk-assets does.

pub mod docker;
mod images;

use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use serde::Serialize;

use common::error::AwsError;
use common::{AwsResultExt, Context, Error, Output, Result};

use crate::manifest::{FileAsset, StackArtifact, TEMPLATE_BODY_LIMIT};
use crate::roles::{Roles, resolve_placeholders};

/// What happened to one asset destination.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct AssetResult {
    pub asset: String,
    /// file | docker-image
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// File assets: where the object goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Docker image assets: the ECR repository and tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The full image name pushed (docker image assets that were pushed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Files: uploaded | present | would-upload. Images: pushed | present | would-push.
    pub action: String,
}

/// The assets a stack needs published. The template's own asset is only
/// needed when the template is too big to send inline.
pub fn needed(stack: &StackArtifact) -> Vec<&FileAsset> {
    let inline = stack.template.len() <= TEMPLATE_BODY_LIMIT;
    stack
        .file_assets
        .iter()
        .filter(|a| {
            let is_template = stack
                .template_asset_url
                .as_deref()
                .is_some_and(|u| u == format!("s3://{}/{}", a.bucket, a.key));
            !(inline && is_template)
        })
        .collect()
}

/// Publishes the assets of `stacks` (deduplicated by destination): first every
/// docker image is looked up in ECR, and the missing ones are built and pushed
/// (exit 2 before anything is uploaded when that needs a docker CLI this
/// machine lacks); then the files are uploaded, a few at a time.
pub async fn publish(
    ctx: &Context,
    roles: &Roles,
    stacks: &[&StackArtifact],
    account_for: impl Fn(&StackArtifact) -> String,
    dry_run: bool,
    path_style: bool,
    calls: &AtomicU32,
) -> Result<Vec<AssetResult>> {
    let out = &ctx.out;
    let mut results = images::publish(ctx, roles, stacks, &account_for, dry_run, calls).await?;
    let mut work: Vec<(FileAsset, String)> = Vec::new();
    for s in stacks {
        let account = account_for(s);
        for a in needed(s) {
            if !work
                .iter()
                .any(|(w, _)| w.bucket == a.bucket && w.key == a.key)
            {
                work.push((a.clone(), account.clone()));
            }
        }
    }
    let files = futures::stream::iter(work.into_iter().map(|(a, account)| async move {
        publish_one(out, roles, &a, &account, dry_run, path_style, calls).await
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    for r in files {
        results.push(r?);
    }
    Ok(results)
}

async fn publish_one(
    out: &Output,
    roles: &Roles,
    a: &FileAsset,
    account: &str,
    dry_run: bool,
    path_style: bool,
    calls: &AtomicU32,
) -> Result<AssetResult> {
    let region = a.region.clone().unwrap_or_else(|| roles.base_region());
    let role = a
        .assume_role_arn
        .as_deref()
        .map(|r| resolve_placeholders(r, account, &region));
    let s3_of = |config: &aws_config::SdkConfig| {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(config)
                .force_path_style(path_style)
                .build(),
        )
    };
    let result = |action: &str| AssetResult {
        asset: a.display_name.clone(),
        kind: "file",
        bucket: Some(a.bucket.clone()),
        key: Some(a.key.clone()),
        repository: None,
        tag: None,
        image: None,
        action: action.to_owned(),
    };
    // The HEAD needs no role: a bucket name is global, so the caller's own
    // credentials see the very object the publishing role would, and the HEAD
    // goes out beside that role's AssumeRole instead of after it. A 200 or a
    // 404 is the answer; anything else (a 403 when the caller may not read
    // the bucket) is asked again with the role. The upload is the role's.
    let mut absent = false;
    if role.is_some() && roles.assumes() {
        calls.fetch_add(1, Ordering::Relaxed);
        match head(&s3_of(&roles.caller_config(&region)), a).await {
            Ok(true) => return Ok(result("present")),
            Ok(false) => absent = true,
            Err(_) => {}
        }
    }
    let session = roles.session(role.as_deref(), Some(&region)).await?;
    let s3 = s3_of(&session.config);
    if !absent {
        calls.fetch_add(1, Ordering::Relaxed);
        if head(&s3, a).await.map_err(Error::Aws)? {
            return Ok(result("present"));
        }
    }
    if dry_run {
        out.info(format!(
            "dry run: would upload asset {} to s3://{}/{}",
            a.display_name, a.bucket, a.key
        ));
        return Ok(result("would-upload"));
    }
    let body = if a.zip {
        let dir = a.source.clone();
        let bytes = tokio::task::spawn_blocking(move || crate::archive::zip_directory(&dir))
            .await
            .map_err(|e| Error::Internal(format!("zipping an asset failed: {e}")))??;
        ByteStream::from(bytes)
    } else {
        ByteStream::from_path(&a.source).await.map_err(|e| {
            Error::io(
                format!("failed to read asset {}", a.source.display()),
                std::io::Error::other(e),
            )
        })?
    };
    calls.fetch_add(1, Ordering::Relaxed);
    s3.put_object()
        .bucket(&a.bucket)
        .key(&a.key)
        .body(body)
        .send()
        .await
        .aws("PutObject")
        .map_err(|e| {
            if e.has_code("NoSuchBucket") {
                Error::CheckFailed(format!(
                    "asset bucket {} does not exist: is the environment bootstrapped (`cdk bootstrap`)? ({e})",
                    a.bucket
                ))
            } else {
                Error::Aws(e)
            }
        })?;
    out.info(format!(
        "uploaded asset {} to s3://{}/{}",
        a.display_name, a.bucket, a.key
    ));
    Ok(result("uploaded"))
}

/// Whether the asset's object exists (HEAD): true, false (404), or the error.
async fn head(s3: &aws_sdk_s3::Client, a: &FileAsset) -> std::result::Result<bool, AwsError> {
    match s3
        .head_object()
        .bucket(&a.bucket)
        .key(&a.key)
        .send()
        .await
        .aws("HeadObject")
    {
        Ok(_) => Ok(true),
        Err(e) if e.status == Some(404) || e.has_code("NotFound") || e.has_code("NoSuchKey") => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
