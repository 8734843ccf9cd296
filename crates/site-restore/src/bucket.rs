//! Talking to S3: the client, the versioning check, the full version listing
//! (paginated), and a per-operation count of the HTTP requests made (retries
//! included). Throttling is retried by the SDK ([`crate::retry`]).

use chrono::{DateTime, Utc};
use common::{AwsContext, AwsError, AwsResultExt, Error, Result};

use crate::plan::{EntryKind, VersionEntry};
use crate::retry;

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

/// Refuses a bucket without versioning (exit 3): there is nothing to restore to,
/// and with versioning suspended a copy would overwrite the `null` version.
pub async fn require_versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
    let status = match s3
        .get_bucket_versioning()
        .bucket(bucket)
        .customize()
        .config_override(retry::s3(s3))
        .send()
        .await
    {
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
    }?;
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
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .customize()
            .config_override(retry::s3(s3))
            .send()
            .await
            .aws("ListObjectVersions")?;
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
