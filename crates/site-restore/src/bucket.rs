//! Talking to S3: the client, the versioning check, the full version listing
//! (paginated), a retry with backoff for throttling, and a per-operation count
//! of the HTTP requests made (retries included).

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{AwsContext, AwsError, AwsResultExt, Error, Result};

use crate::plan::{EntryKind, VersionEntry};

// Counts HTTP requests per operation (`by_operation`), retries included;
// shared by every client of a run.
pub use common::calls::CallCounter;

/// The S3 client, path-style when the endpoint is overridden (the emulator).
pub fn s3_client(aws: &AwsContext, counter: &CallCounter) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&aws.config)
        .force_path_style(aws.endpoint_overridden)
        .interceptor(counter.clone())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn cloudfront_client(aws: &AwsContext, counter: &CallCounter) -> aws_sdk_cloudfront::Client {
    let conf = aws_sdk_cloudfront::config::Builder::from(&aws.config)
        .interceptor(counter.clone())
        .build();
    aws_sdk_cloudfront::Client::from_conf(conf)
}

/// App-level attempts on top of the SDK's own retries, for throttling only.
const THROTTLE_ATTEMPTS: u32 = 6;
const THROTTLE_BASE: Duration = Duration::from_millis(500);
const THROTTLE_CAP: Duration = Duration::from_secs(10);

/// Worth another try later: throttling (SlowDown) and server-side hiccups.
fn retryable(e: &AwsError) -> bool {
    e.is_throttling() || matches!(e.status, Some(500 | 503)) || e.has_code("InternalError")
}

/// The delay before attempt `n + 1`: exponential with full jitter, capped, so
/// many workers slowed down together do not come back together.
pub fn backoff(n: u32) -> Duration {
    let ceiling = THROTTLE_BASE
        .saturating_mul(1u32 << n.min(10))
        .min(THROTTLE_CAP);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let millis = ceiling.as_millis() as u64;
    Duration::from_millis(millis / 2 + random % (millis / 2 + 1))
}

/// Runs `op` until it succeeds, fails with an error that is not throttling, or
/// has been throttled [`THROTTLE_ATTEMPTS`] times. The SDK already retried each
/// attempt (standard mode); this outer loop waits longer, which is what S3's
/// SlowDown asks for.
///
/// Why this stays on top of the SDK's retry policy (issue 17 asked to remove
/// it unless the SDK cannot do its job): the SDK policy is set once for every
/// call of a run from `--max-attempts`/`AWS_MAX_ATTEMPTS` (3 by default) with
/// a 20 s backoff cap, and its retry quota is shared by the whole client. A
/// restore copies thousands of keys at `--concurrency` workers; S3 answers a
/// hot prefix with bursts of SlowDown that outlast 3 attempts. Raising the
/// attempts for the S3 client alone would silently override the operator's
/// `AWS_MAX_ATTEMPTS` for every S3 call (listing and reads too), and the SDK
/// has no per-operation attempt budget. This loop keeps the operator's policy
/// for each attempt and adds a per-key budget for throttling only, so one key
/// that stays throttled is reported on its own (`failed`) while the others are
/// applied. `restore::tests::slow_down_on_copy_is_retried_with_backoff_until_it_succeeds`
/// pins that behaviour (7 SlowDowns, then success).
pub async fn with_backoff<T, F, Fut>(mut op: F) -> std::result::Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, AwsError>>,
{
    let mut n = 0;
    loop {
        match op().await {
            Err(e) if retryable(&e) && n + 1 < THROTTLE_ATTEMPTS => {
                let wait = backoff(n);
                tracing::info!(error = %e, ?wait, "throttled; backing off");
                tokio::time::sleep(wait).await;
                n += 1;
            }
            other => return other,
        }
    }
}

/// Refuses a bucket without versioning (exit 3): there is nothing to restore to,
/// and with versioning suspended a copy would overwrite the `null` version.
pub async fn require_versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
    let status = with_backoff(|| async {
        match s3.get_bucket_versioning().bucket(bucket).send().await {
            Ok(out) => Ok(out.status().map(|s| s.as_str().to_owned())),
            // moto 5.2.5 answers HTTP 200 with a `GetBucketVersioningResponse`
            // root the SDK does not parse (S3 says `VersioningConfiguration`):
            // read the one field we need from the body instead of failing.
            Err(e) => match e.raw_response() {
                Some(r) if r.status().as_u16() == 200 => Ok(r
                    .body()
                    .bytes()
                    .and_then(|b| status_from_xml(&String::from_utf8_lossy(b)))),
                _ => Err(common::error::aws_error("GetBucketVersioning", e)),
            },
        }
    })
    .await?;
    match status.as_deref() {
        Some("Enabled") => Ok(()),
        Some("Suspended") => Err(Error::NotFound(format!(
            "bucket {bucket} has versioning suspended: new writes replace the `null` version, so a restore could destroy content; \
             enable it again (aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled)"
        ))),
        _ => Err(Error::NotFound(format!(
            "bucket {bucket} is not versioned: it keeps no earlier versions, so there is nothing to record or restore to; \
             enable versioning before the next deploy (aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled)"
        ))),
    }
}

/// The `<Status>` of a GetBucketVersioning body, whatever its root element.
fn status_from_xml(body: &str) -> Option<String> {
    let start = body.find("<Status>")? + "<Status>".len();
    let len = body[start..].find("</Status>")?;
    Some(body[start..start + len].trim().to_owned())
}

fn to_chrono(t: Option<&aws_smithy_types::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Every version and delete marker under `prefix`, all pages.
pub async fn list_versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<VersionEntry>> {
    let mut entries = Vec::new();
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    loop {
        let page = with_backoff(|| async {
            s3.list_object_versions()
                .bucket(bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone())
                .send()
                .await
                .aws("ListObjectVersions")
        })
        .await?;
        for v in page.versions() {
            entries.push(VersionEntry {
                key: v.key().unwrap_or_default().to_owned(),
                version_id: v.version_id().unwrap_or("null").to_owned(),
                is_latest: v.is_latest().unwrap_or(false),
                last_modified: to_chrono(v.last_modified()),
                kind: EntryKind::Version {
                    etag: v.e_tag().unwrap_or_default().to_owned(),
                    size: v.size().unwrap_or(0),
                },
            });
        }
        for d in page.delete_markers() {
            entries.push(VersionEntry {
                key: d.key().unwrap_or_default().to_owned(),
                version_id: d.version_id().unwrap_or("null").to_owned(),
                is_latest: d.is_latest().unwrap_or(false),
                last_modified: to_chrono(d.last_modified()),
                kind: EntryKind::DeleteMarker,
            });
        }
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
        let next_key = page.next_key_marker().map(str::to_owned);
        let next_version = page.next_version_id_marker().map(str::to_owned);
        if next_key.is_none() && next_version.is_none() {
            return Err(Error::Aws(AwsError {
                operation: "ListObjectVersions".into(),
                code: None,
                message: "response is truncated but carries no next marker; refusing to work from a partial listing".into(),
                status: None,
            }));
        }
        if next_key == key_marker && next_version == version_marker {
            return Err(Error::Aws(AwsError {
                operation: "ListObjectVersions".into(),
                code: None,
                message: "pagination did not advance; refusing to work from a partial listing"
                    .into(),
                status: None,
            }));
        }
        key_marker = next_key;
        version_marker = next_version;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioning_status_is_read_from_either_root_element() {
        let moto = r#"<?xml version="1.0"?><GetBucketVersioningResponse xmlns="x"><Status>Enabled</Status></GetBucketVersioningResponse>"#;
        assert_eq!(status_from_xml(moto).as_deref(), Some("Enabled"));
        assert_eq!(status_from_xml("<GetBucketVersioningResponse/>"), None);
        assert_eq!(
            status_from_xml(
                "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>"
            )
            .as_deref(),
            Some("Suspended")
        );
    }

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        for n in 0..20 {
            let d = backoff(n);
            let ceiling = THROTTLE_BASE
                .saturating_mul(1 << n.min(10))
                .min(THROTTLE_CAP);
            assert!(d <= ceiling && d >= ceiling / 2, "n={n} d={d:?}");
        }
    }

    use aws_sdk_s3::Client;
    use aws_sdk_s3::operation::get_bucket_versioning::GetBucketVersioningOutput;
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
    use aws_sdk_s3::types::{BucketVersioningStatus, DeleteMarkerEntry, ObjectVersion};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn version(key: &str, id: &str, secs: i64) -> ObjectVersion {
        ObjectVersion::builder()
            .key(key)
            .version_id(id)
            .is_latest(true)
            .e_tag("\"e\"")
            .size(1)
            .last_modified(aws_smithy_types::DateTime::from_secs(secs))
            .build()
    }

    #[tokio::test]
    async fn listing_follows_both_markers_across_pages() {
        let first = mock!(Client::list_object_versions)
            .match_requests(|r| r.key_marker().is_none() && r.version_id_marker().is_none())
            .then_output(|| {
                ListObjectVersionsOutput::builder()
                    .versions(version("a", "va", 100))
                    .is_truncated(true)
                    .next_key_marker("a")
                    .next_version_id_marker("va")
                    .build()
            });
        let second = mock!(Client::list_object_versions)
            .match_requests(|r| r.key_marker() == Some("a") && r.version_id_marker() == Some("va"))
            .then_output(|| {
                ListObjectVersionsOutput::builder()
                    .versions(version("b", "vb", 200))
                    .delete_markers(
                        DeleteMarkerEntry::builder()
                            .key("c")
                            .version_id("dc")
                            .is_latest(true)
                            .last_modified(aws_smithy_types::DateTime::from_secs(300))
                            .build(),
                    )
                    .is_truncated(false)
                    .build()
            });
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&first, &second]);
        let entries = list_versions(&s3, "bkt", "").await.unwrap();
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(entries[2].kind, EntryKind::DeleteMarker);
        assert_eq!(entries[1].last_modified.timestamp(), 200);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_truncated_page_without_markers_is_an_error_not_a_partial_listing() {
        let page = mock!(Client::list_object_versions).then_output(|| {
            ListObjectVersionsOutput::builder()
                .versions(version("a", "va", 100))
                .is_truncated(true)
                .build()
        });
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&page]);
        let err = list_versions(&s3, "bkt", "").await.unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("partial listing"), "{err}");
    }

    #[tokio::test]
    async fn unversioned_and_suspended_buckets_are_refused() {
        for (status, needle) in [
            (None, "not versioned"),
            (Some(BucketVersioningStatus::Suspended), "suspended"),
        ] {
            let rule = mock!(Client::get_bucket_versioning).then_output(move || {
                GetBucketVersioningOutput::builder()
                    .set_status(status.clone())
                    .build()
            });
            let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
            let err = require_versioning(&s3, "bkt").await.unwrap_err();
            assert_eq!(err.exit_code(), 3);
            assert!(err.to_string().contains(needle), "{err}");
        }
        let rule = mock!(Client::get_bucket_versioning).then_output(|| {
            GetBucketVersioningOutput::builder()
                .status(BucketVersioningStatus::Enabled)
                .build()
        });
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
        require_versioning(&s3, "bkt").await.unwrap();
    }
}
