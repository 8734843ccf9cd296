//! CloudFront after a restore: which paths to invalidate (URL-encoded, with a
//! leading slash, collapsed to a wildcard past a limit), creating the
//! invalidation and waiting until it completes.

use std::time::Duration;

use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use common::{AwsResultExt, Error, Output, Poll, Result, WaitOptions, poll_until};
use serde::Serialize;

use crate::bucket::with_backoff;

/// Past this many paths one wildcard is cheaper (AWS bills per path beyond the
/// free tier, a wildcard counts as one) and stays far under the 3,000 paths
/// CloudFront allows in progress.
pub const PATH_LIMIT: usize = 100;

/// Percent-encodes each segment of an S3 key, keeping the slashes: spaces,
/// unicode, `?`, `#`, `%`, `+` and `*` (a CloudFront wildcard) are all encoded.
pub fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|seg| urlencoding::encode(seg).into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The `CopySource` of a version: `bucket/key?versionId=...`, URL-encoded as S3
/// requires (the SDK sends the header as given).
pub fn copy_source(bucket: &str, key: &str, version_id: &str) -> String {
    format!(
        "{bucket}/{}?versionId={}",
        encode_key(key),
        urlencoding::encode(version_id)
    )
}

/// The viewer paths for changed keys. `origin_path` is the distribution
/// origin's path (e.g. `/site`): a key `site/a.html` is served as `/a.html`.
/// An `index.html` also invalidates its directory (`/docs/`, `/`), which is how
/// viewers usually ask for it. Past [`PATH_LIMIT`] paths: one wildcard for the
/// prefix.
pub fn invalidation_paths(keys: &[&str], prefix: &str, origin_path: &str) -> Vec<String> {
    let origin = origin_path.trim_matches('/');
    let strip = |key: &str| -> Option<String> {
        if origin.is_empty() {
            Some(key.to_owned())
        } else {
            key.strip_prefix(origin)
                .and_then(|rest| rest.strip_prefix('/'))
                .map(str::to_owned)
        }
    };
    let mut paths: Vec<String> = Vec::new();
    for key in keys {
        let Some(rel) = strip(key) else { continue };
        paths.push(format!("/{}", encode_key(&rel)));
        if rel == "index.html" || rel.ends_with("/index.html") {
            let dir = &rel[..rel.len() - "index.html".len()];
            paths.push(format!("/{}", encode_key(dir)));
        }
    }
    paths.sort();
    paths.dedup();
    if paths.len() > PATH_LIMIT {
        let base = strip(prefix).unwrap_or_default();
        return vec![format!("/{}*", encode_key(&base))];
    }
    paths
}

/// What happened with CloudFront.
#[derive(Debug, Clone, Serialize)]
pub struct InvalidationReport {
    pub distribution: String,
    pub id: String,
    pub paths: Vec<String>,
    pub status: String,
}

/// The origin path of the distribution's origin that serves `bucket`, if any.
pub async fn origin_path_for(
    cf: &aws_sdk_cloudfront::Client,
    distribution: &str,
    bucket: &str,
) -> Result<Option<String>> {
    let out = with_backoff(|| async {
        cf.get_distribution_config()
            .id(distribution)
            .send()
            .await
            .aws("GetDistributionConfig")
    })
    .await?;
    let origins = out
        .distribution_config()
        .and_then(|c| c.origins())
        .map(|o| o.items().to_vec())
        .unwrap_or_default();
    let bucket_host = format!("{bucket}.s3");
    Ok(origins
        .iter()
        .find(|o| o.domain_name() == bucket || o.domain_name().starts_with(&bucket_host))
        .map(|o| o.origin_path().unwrap_or_default().to_owned()))
}

/// Creates the invalidation and waits for it. The emulator says `COMPLETED`,
/// AWS `Completed`: both count.
pub async fn invalidate_and_wait(
    out: &Output,
    cf: &aws_sdk_cloudfront::Client,
    distribution: &str,
    paths: Vec<String>,
    caller_reference: &str,
    timeout: Duration,
) -> Result<InvalidationReport> {
    let batch = InvalidationBatch::builder()
        .paths(
            Paths::builder()
                .quantity(paths.len() as i32)
                .set_items(Some(paths.clone()))
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?,
        )
        .caller_reference(caller_reference)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let created = with_backoff(|| async {
        cf.create_invalidation()
            .distribution_id(distribution)
            .invalidation_batch(batch.clone())
            .send()
            .await
            .aws("CreateInvalidation")
    })
    .await?;
    let id = created
        .invalidation()
        .map(|i| i.id().to_owned())
        .ok_or_else(|| Error::Internal("CreateInvalidation returned no invalidation".into()))?;
    out.info(format!(
        "created invalidation {id} on {distribution} for {} path(s)",
        paths.len()
    ));
    let opts = WaitOptions::new(format!("invalidation {id} on {distribution}"), timeout).reattach(
        format!(
            "aws cloudfront wait invalidation-completed --distribution-id {distribution} --id {id}"
        ),
    );
    let status = poll_until(out, &opts, || async {
        let got = cf
            .get_invalidation()
            .distribution_id(distribution)
            .id(&id)
            .send()
            .await
            .aws("GetInvalidation")?;
        let status = got
            .invalidation()
            .map(|i| i.status().to_owned())
            .unwrap_or_default();
        Ok(if status.eq_ignore_ascii_case("completed") {
            Poll::Done(status)
        } else {
            Poll::Pending(if status.is_empty() {
                "no status yet".to_owned()
            } else {
                status
            })
        })
    })
    .await?;
    Ok(InvalidationReport {
        distribution: distribution.to_owned(),
        id,
        paths,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_per_segment() {
        assert_eq!(encode_key("a b/é.html"), "a%20b/%C3%A9.html");
        assert_eq!(encode_key("x?y#z%+*.txt"), "x%3Fy%23z%25%2B%2A.txt");
        assert_eq!(
            copy_source("bkt", "dir/a b.txt", "v+1"),
            "bkt/dir/a%20b.txt?versionId=v%2B1"
        );
    }

    #[test]
    fn paths_have_a_leading_slash_and_index_pages_bring_their_directory() {
        let p = invalidation_paths(&["index.html", "docs/index.html", "a b.css"], "", "");
        assert_eq!(
            p,
            vec![
                "/",
                "/a%20b.css",
                "/docs/",
                "/docs/index.html",
                "/index.html"
            ]
        );
    }

    #[test]
    fn origin_path_is_stripped_and_keys_outside_it_skipped() {
        let p = invalidation_paths(&["site/app.js", "other/x.js"], "", "/site");
        assert_eq!(p, vec!["/app.js"]);
    }

    #[test]
    fn many_paths_collapse_to_one_wildcard() {
        let keys: Vec<String> = (0..=PATH_LIMIT).map(|i| format!("site/f{i}.js")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        assert_eq!(invalidation_paths(&refs, "site/", ""), vec!["/site/*"]);
        assert_eq!(invalidation_paths(&refs, "site/", "/site"), vec!["/*"]);
        assert_eq!(invalidation_paths(&refs, "", ""), vec!["/*"]);
        let few = invalidation_paths(&refs[..PATH_LIMIT], "site/", "");
        assert_eq!(few.len(), PATH_LIMIT);
    }

    use aws_sdk_cloudfront::Client;
    use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationOutput;
    use aws_sdk_cloudfront::operation::get_invalidation::GetInvalidationOutput;
    use aws_sdk_cloudfront::types::Invalidation;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn invalidation(status: &str) -> Invalidation {
        Invalidation::builder()
            .id("I1")
            .status(status)
            .create_time(aws_smithy_types::DateTime::from_secs(0))
            .invalidation_batch(
                InvalidationBatch::builder()
                    .caller_reference("r")
                    .paths(Paths::builder().quantity(0).build().unwrap())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    fn quiet() -> Output {
        Output::with_writers(true, Box::new(std::io::sink()), Box::new(std::io::sink()))
    }

    #[tokio::test(start_paused = true)]
    async fn waits_through_in_progress_until_completed_in_either_spelling() {
        for done in ["Completed", "COMPLETED"] {
            let create = mock!(Client::create_invalidation)
                .match_requests(|r| {
                    r.invalidation_batch().is_some_and(|b| {
                        b.paths()
                            .is_some_and(|p| p.quantity() == 1 && p.items() == ["/a%20b.html"])
                    })
                })
                .then_output(|| {
                    CreateInvalidationOutput::builder()
                        .invalidation(invalidation("InProgress"))
                        .build()
                });
            let get = mock!(Client::get_invalidation)
                .sequence()
                .output(|| {
                    GetInvalidationOutput::builder()
                        .invalidation(invalidation("InProgress"))
                        .build()
                })
                .times(3)
                .output(move || {
                    GetInvalidationOutput::builder()
                        .invalidation(invalidation(done))
                        .build()
                })
                .build();
            let cf = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&create, &get]);
            let r = invalidate_and_wait(
                &quiet(),
                &cf,
                "E1",
                vec!["/a%20b.html".into()],
                "ref",
                Duration::from_secs(600),
            )
            .await
            .unwrap();
            assert_eq!(r.status, done);
            assert_eq!(get.num_calls(), 4);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_invalidation_times_out_with_exit_5_and_how_to_reattach() {
        let create = mock!(Client::create_invalidation).then_output(|| {
            CreateInvalidationOutput::builder()
                .invalidation(invalidation("InProgress"))
                .build()
        });
        let get = mock!(Client::get_invalidation).then_output(|| {
            GetInvalidationOutput::builder()
                .invalidation(invalidation("InProgress"))
                .build()
        });
        let cf = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&create, &get]);
        let err = invalidate_and_wait(
            &quiet(),
            &cf,
            "E1",
            vec!["/*".into()],
            "ref",
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 5);
        assert!(
            err.to_string().contains("--distribution-id E1 --id I1"),
            "{err}"
        );
    }
}
