//! Credentials per role, the way the CDK CLI does it: the manifest names a
//! deploy role (`assumeRoleArn`) and asset-publishing roles with
//! `${AWS::Partition}`, `${AWS::AccountId}` and `${AWS::Region}` placeholders;
//! those are resolved, assumed once each and cached. `--no-assume-role` uses the
//! caller's own credentials for everything.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use tokio::sync::{Mutex, OnceCell};

use common::{AwsResultExt, Error, Result};

/// `aws`, `aws-cn` or `aws-us-gov` for a region.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

/// The S3 host suffix of a partition (for TemplateURL).
pub fn url_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// Replaces the CDK placeholders in a role ARN.
pub fn resolve_placeholders(arn: &str, account: &str, region: &str) -> String {
    arn.replace("${AWS::Partition}", partition_of(region))
        .replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region)
}

/// An assumed role's provider that hands out the credentials of the first
/// AssumeRole (made to check the role) once, then asks the SDK's provider
/// when the credentials cache wants fresh ones.
#[derive(Debug)]
struct Primed {
    first: std::sync::Mutex<Option<aws_credential_types::Credentials>>,
    inner: AssumeRoleProvider,
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        match self.first.lock().ok().and_then(|mut f| f.take()) {
            Some(c) => future::ProvideCredentials::ready(Ok(c)),
            None => self.inner.provide_credentials(),
        }
    }
}

/// A configuration to call AWS with, and who it is.
#[derive(Debug, Clone)]
pub struct Session {
    pub config: SdkConfig,
    /// The ARN STS reports for these credentials.
    pub identity: String,
    /// The role assumed, if any.
    pub role_arn: Option<String>,
}

/// One cell per (role, region): the session once made.
type SessionCells = HashMap<(Option<String>, String), Arc<OnceCell<Session>>>;

/// Assumes each role once and remembers the result.
#[derive(Debug)]
pub struct Roles {
    base: SdkConfig,
    assume: bool,
    cache: Mutex<SessionCells>,
    /// STS calls made (AssumeRole + GetCallerIdentity), for the call counts.
    pub calls: std::sync::atomic::AtomicU32,
}

impl Roles {
    pub fn new(base: SdkConfig, assume: bool) -> Self {
        Roles {
            base,
            assume,
            cache: Mutex::new(HashMap::new()),
            calls: Default::default(),
        }
    }

    /// Whether roles are assumed (no `--no-assume-role`).
    pub fn assumes(&self) -> bool {
        self.assume
    }

    pub fn base(&self) -> &SdkConfig {
        &self.base
    }

    pub fn base_region(&self) -> String {
        self.base
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default()
    }

    /// The caller's own credentials in `region`, with no call made: for the
    /// reads that go out beside the AssumeRoles (`survey.rs`). The same
    /// connection pool as every other client.
    pub fn caller_config(&self, region: &str) -> SdkConfig {
        let mut builder = self.base.to_builder();
        builder.set_region(Some(aws_config::Region::new(region.to_owned())));
        builder.build()
    }

    /// The caller's own account (GetCallerIdentity), for `${AWS::AccountId}`
    /// when the manifest's environment leaves it open.
    pub async fn own_account(&self) -> Result<String> {
        let s = self.session(None, None).await?;
        Ok(s.identity.split(':').nth(4).unwrap_or_default().to_owned())
    }

    /// A session for `role` (an ARN with placeholders already resolved) in
    /// `region` (default: the configured one).
    pub async fn session(&self, role: Option<&str>, region: Option<&str>) -> Result<Session> {
        let role = if self.assume {
            role.map(str::to_owned)
        } else {
            None
        };
        let region = region
            .map(str::to_owned)
            .unwrap_or_else(|| self.base_region());
        let key = (role.clone(), region.clone());
        // One cell per role and region: sessions of different roles are made
        // at the same time, a second ask for one waits for the first.
        let cell = self.cache.lock().await.entry(key).or_default().clone();
        cell.get_or_try_init(|| self.make(role, region))
            .await
            .cloned()
    }

    async fn make(&self, role: Option<String>, region: String) -> Result<Session> {
        let regional = self.caller_config(&region);
        let (config, identity) = match &role {
            None => {
                self.calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let identity = aws_sdk_sts::Client::new(&regional)
                    .get_caller_identity()
                    .send()
                    .await
                    .aws("GetCallerIdentity")?
                    .arn()
                    .unwrap_or("unknown")
                    .to_owned();
                (regional, identity)
            }
            Some(arn) => {
                let session_name = format!("stack-deploy-{}", std::process::id());
                let refused = |why: String| {
                    Error::Credentials(format!(
                        "could not assume role {arn}: {why} (is the environment bootstrapped with `cdk bootstrap`? pass --no-assume-role to deploy with your own credentials)"
                    ))
                };
                // Assumed now so a missing role fails here, clearly, not
                // mid-deploy; the answer also says who the session is (no
                // GetCallerIdentity needed).
                self.calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let out = aws_sdk_sts::Client::new(&regional)
                    .assume_role()
                    .role_arn(arn)
                    .role_session_name(&session_name)
                    .send()
                    .await
                    .map_err(|e| refused(common::error::error_chain(&e)))?;
                let c = out
                    .credentials()
                    .ok_or_else(|| refused("STS returned no credentials".into()))?;
                let first = aws_credential_types::Credentials::new(
                    c.access_key_id(),
                    c.secret_access_key(),
                    Some(c.session_token().to_owned()),
                    std::time::SystemTime::try_from(*c.expiration()).ok(),
                    "AssumeRole",
                );
                let identity = out
                    .assumed_role_user()
                    .map(|u| u.arn().to_owned())
                    .unwrap_or_else(|| "unknown".into());
                // Later credentials (when these near expiry) come from the
                // SDK's own provider for the same role and session name.
                let provider = AssumeRoleProvider::builder(arn.clone())
                    .session_name(session_name)
                    .configure(&regional)
                    .build()
                    .await;
                let primed = Primed {
                    first: std::sync::Mutex::new(Some(first)),
                    inner: provider,
                };
                let config = regional
                    .to_builder()
                    .credentials_provider(SharedCredentialsProvider::new(primed))
                    .build();
                (config, identity)
            }
        };
        Ok(Session {
            config,
            identity,
            role_arn: role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_resolve_per_partition() {
        let arn = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-deploy-role-${AWS::AccountId}-${AWS::Region}";
        assert_eq!(
            resolve_placeholders(arn, "123456789012", "ap-northeast-1"),
            "arn:aws:iam::123456789012:role/cdk-hnb659fds-deploy-role-123456789012-ap-northeast-1"
        );
        assert!(resolve_placeholders(arn, "1", "cn-north-1").starts_with("arn:aws-cn:"));
        assert!(resolve_placeholders(arn, "1", "us-gov-west-1").starts_with("arn:aws-us-gov:"));
        assert_eq!(url_suffix("cn-north-1"), "amazonaws.com.cn");
    }
}
