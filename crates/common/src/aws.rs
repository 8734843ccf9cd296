//! AWS arguments shared by every binary and the one `SdkConfig` built from them.
//!
//! The standard environment (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, ...) keeps working; flags override it.

use std::time::Duration;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::imds;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;

use crate::error::{Error, Result};

/// Flags every binary flattens in.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "AWS")]
pub struct AwsArgs {
    /// Named profile from ~/.aws/config and ~/.aws/credentials.
    #[arg(long, global = true, env = "AWS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// Region, e.g. ap-northeast-1.
    #[arg(long, global = true, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,

    /// Send every AWS call here instead of AWS (the local emulator, a proxy).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Attempts per AWS call including the first (retries back off exponentially).
    #[arg(long, global = true, value_name = "N")]
    pub max_attempts: Option<u32>,
}

/// The loaded configuration and what the binaries need to know about it.
#[derive(Debug, Clone)]
pub struct AwsContext {
    pub config: SdkConfig,
    /// True when calls go to a custom endpoint; S3 then needs path-style addressing.
    pub endpoint_overridden: bool,
}

/// The region and endpoint override of the last configuration loaded in
/// this process, for error messages about calls that got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredTarget {
    pub region: String,
    pub endpoint_url: Option<String>,
}

static CONFIGURED: std::sync::Mutex<Option<ConfiguredTarget>> = std::sync::Mutex::new(None);

/// What [`AwsArgs::load`] (or [`note_config`]) configured last, if anything.
pub fn configured_target() -> Option<ConfiguredTarget> {
    CONFIGURED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Records `config`'s region and endpoint override for error messages
/// ([`AwsArgs::load`] does it; call it for a config built another way).
pub fn note_config(config: &SdkConfig) {
    let target = ConfiguredTarget {
        region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        endpoint_url: config.endpoint_url().map(str::to_owned),
    };
    *CONFIGURED.lock().unwrap_or_else(|p| p.into_inner()) = Some(target);
}

const HOW_TO_PROVIDE_CREDENTIALS: &str =
    "set AWS_PROFILE (see `aws configure`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";

impl AwsArgs {
    /// Checks what aws-config would otherwise panic on or misread, before any call.
    pub fn validate(&self) -> Result<()> {
        if let Some(0) = self.max_attempts {
            return Err(Error::usage("--max-attempts must be at least 1"));
        }
        if self.max_attempts.is_none()
            && let Ok(raw) = std::env::var("AWS_MAX_ATTEMPTS")
        {
            match raw.trim().parse::<u32>() {
                Ok(n) if n >= 1 => {}
                _ => {
                    return Err(Error::usage(format!(
                        "AWS_MAX_ATTEMPTS must be a whole number of at least 1, got {raw:?}"
                    )));
                }
            }
        }
        if let Ok(raw) = std::env::var("AWS_RETRY_MODE")
            && !matches!(raw.trim(), "standard" | "adaptive")
        {
            return Err(Error::usage(format!(
                "AWS_RETRY_MODE must be standard or adaptive, got {raw:?}"
            )));
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(Error::usage(format!(
                "endpoint URL must start with http:// or https://, got {url:?}"
            )));
        }
        if let Some(region) = &self.region
            && (region.is_empty()
                || !region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(Error::usage(format!("bad region name {region:?}")));
        }
        Ok(())
    }

    /// Loads one `SdkConfig` for every client and resolves credentials once, so a
    /// machine without credentials fails in about a second with exit 3 instead of
    /// paying the instance-metadata probe on every client.
    pub async fn load(&self) -> Result<AwsContext> {
        self.validate()?;
        let region = self.resolve_region().await?;

        // The instance-metadata client gets one short attempt: off EC2 it is the
        // last link of the chain and should fail fast, not after retries.
        let imds_client = imds::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .read_timeout(Duration::from_millis(500))
            .max_attempts(1)
            .build();
        let mut chain = DefaultCredentialsChain::builder()
            .region(region.clone())
            .imds_client(imds_client);
        if let Some(profile) = &self.profile {
            chain = chain.profile_name(profile);
        }
        let credentials = chain.build().await;

        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(credentials);
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(n) = self.max_attempts {
            loader = loader.retry_config(RetryConfig::standard().with_max_attempts(n));
        }
        let config = loader.load().await;
        note_config(&config);

        let provider = config
            .credentials_provider()
            .ok_or_else(|| Error::Internal("no credentials provider configured".into()))?;
        match tokio::time::timeout(Duration::from_secs(5), provider.provide_credentials()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %crate::error::error_chain(&e), "credential resolution failed");
                return Err(Error::Credentials(format!(
                    "no AWS credentials found: {HOW_TO_PROVIDE_CREDENTIALS}"
                )));
            }
            Err(_) => {
                return Err(Error::Credentials(format!(
                    "timed out resolving AWS credentials: {HOW_TO_PROVIDE_CREDENTIALS}"
                )));
            }
        }

        let endpoint_overridden = self.endpoint_url.is_some()
            || std::env::vars().any(|(k, v)| k.starts_with("AWS_ENDPOINT_URL") && !v.is_empty());
        Ok(AwsContext {
            config,
            endpoint_overridden,
        })
    }

    /// Flag, then environment, then profile. The instance-metadata region probe is
    /// left out on purpose: it costs seconds off EC2, and at 3 a.m. an explicit
    /// "set AWS_REGION" beats a slow guess.
    async fn resolve_region(&self) -> Result<Region> {
        let mut profile_region = aws_config::profile::ProfileFileRegionProvider::builder();
        if let Some(p) = &self.profile {
            profile_region = profile_region.profile_name(p);
        }
        let chain = RegionProviderChain::first_try(self.region.clone().map(Region::new))
            .or_else(aws_config::environment::EnvironmentVariableRegionProvider::new())
            .or_else(profile_region.build());
        chain.region().await.ok_or_else(|| {
            Error::Credentials(
                "no AWS region configured: pass --region or set AWS_REGION (or a region in your profile)"
                    .into(),
            )
        })
    }
}

impl AwsContext {
    /// Who is calling, as an ARN, from STS; `None` when STS cannot say.
    pub async fn caller_arn(&self) -> Option<String> {
        let sts = aws_sdk_sts::Client::new(&self.config);
        match sts.get_caller_identity().send().await {
            Ok(out) => out.arn().map(str::to_owned),
            Err(e) => {
                tracing::debug!(error = %crate::error::error_chain(&e), "GetCallerIdentity failed");
                None
            }
        }
    }

    pub fn region(&self) -> String {
        self.config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_attempts_is_a_usage_error() {
        let args = AwsArgs {
            max_attempts: Some(0),
            ..Default::default()
        };
        assert_eq!(args.validate().unwrap_err().exit_code(), 2);
    }

    #[test]
    fn endpoint_without_scheme_is_rejected() {
        let args = AwsArgs {
            endpoint_url: Some("localhost:5000".into()),
            ..Default::default()
        };
        let err = args.validate().unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
    }

    #[test]
    fn bad_region_is_rejected() {
        let args = AwsArgs {
            region: Some("Tokyo 1".into()),
            ..Default::default()
        };
        assert_eq!(args.validate().unwrap_err().exit_code(), 2);
    }
}
