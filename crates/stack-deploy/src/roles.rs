//! Credentials per role, the way the CDK CLI does it: the manifest names a
//! deploy role (`assumeRoleArn`) and asset-publishing roles with
//! `${AWS::Partition}`, `${AWS::AccountId}` and `${AWS::Region}` placeholders;
//! those are resolved, assumed once each and cached. `--no-assume-role` uses the
//! caller's own credentials for everything.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::Mutex;

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

/// A configuration to call AWS with, and who it is.
#[derive(Debug, Clone)]
pub struct Session {
    pub config: SdkConfig,
    /// The ARN STS reports for these credentials.
    pub identity: String,
    /// The role assumed, if any.
    pub role_arn: Option<String>,
}

/// Assumes each role once and remembers the result.
#[derive(Debug)]
pub struct Roles {
    base: SdkConfig,
    assume: bool,
    cache: Mutex<HashMap<(Option<String>, String), Session>>,
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

    pub fn base(&self) -> &SdkConfig {
        &self.base
    }

    pub fn base_region(&self) -> String {
        self.base
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default()
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
        let mut cache = self.cache.lock().await;
        if let Some(s) = cache.get(&key) {
            return Ok(s.clone());
        }
        let mut builder = self.base.to_builder();
        builder.set_region(Some(aws_config::Region::new(region.clone())));
        let regional = builder.build();
        let config = match &role {
            None => regional,
            Some(arn) => {
                let provider = AssumeRoleProvider::builder(arn.clone())
                    .session_name(format!("stack-deploy-{}", std::process::id()))
                    .configure(&regional)
                    .build()
                    .await;
                self.calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Resolve now so a missing role fails here, clearly, not mid-deploy.
                provider.provide_credentials().await.map_err(|e| {
                    Error::Credentials(format!(
                        "could not assume role {arn}: {} (is the environment bootstrapped with `cdk bootstrap`? pass --no-assume-role to deploy with your own credentials)",
                        common::error::error_chain(&e)
                    ))
                })?;
                regional
                    .to_builder()
                    .credentials_provider(SharedCredentialsProvider::new(provider))
                    .build()
            }
        };
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let identity = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .aws("GetCallerIdentity")?
            .arn()
            .unwrap_or("unknown")
            .to_owned();
        let s = Session {
            config,
            identity,
            role_arn: role,
        };
        cache.insert(key, s.clone());
        Ok(s)
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
