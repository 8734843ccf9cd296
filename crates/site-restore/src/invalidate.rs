//! CloudFront after a restore: which paths to invalidate (URL-encoded, with a
//! leading slash, collapsed to a wildcard past a limit), creating the
//! invalidation and waiting until it completes.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use common::{
    AwsError, AwsResultExt, Cancel, Error, Output, Poll, Result, WaitOptions, poll_until,
};
use serde::Serialize;

use crate::retry;

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
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
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
    let out = cf
        .get_distribution_config()
        .id(distribution)
        .customize()
        .config_override(retry::cloudfront(cf))
        .send()
        .await
        .aws("GetDistributionConfig")?;
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

/// How a CreateInvalidation ended, read back when its answer may have been lost.
#[derive(Debug)]
pub enum Creation {
    /// Created; `read_back`: the answer was lost and the invalidation was found
    /// again by its CallerReference.
    Created { id: String, read_back: bool },
    /// Refused, or lost and a read-back shows no invalidation with our reference.
    NotCreated(AwsError),
    /// The answer was lost and the read-back could not decide.
    Unknown { error: AwsError, why: String },
}

/// One invalidation of a distribution, as CloudFront reports it now.
async fn get_invalidation(
    cf: &aws_sdk_cloudfront::Client,
    distribution: &str,
    id: &str,
) -> std::result::Result<
    aws_sdk_cloudfront::operation::get_invalidation::GetInvalidationOutput,
    AwsError,
> {
    cf.get_invalidation()
        .distribution_id(distribution)
        .id(id)
        .send()
        .await
        .aws("GetInvalidation")
}

/// A failure after which the request may have reached CloudFront: no answer
/// (timeout, reset), a 5xx, or "already exists" for our reference on a retry.
fn answer_may_be_lost(e: &AwsError) -> bool {
    e.status.is_none_or(|s| s >= 500) || e.has_code("InvalidationBatchAlreadyExists")
}

/// Invalidations listed and opened at most while looking for a reference.
const READ_BACK_PAGES: usize = 3;
const READ_BACK_OPENS: usize = 25;

/// The command an operator runs to look for the invalidation by hand.
pub fn read_command(distribution: &str, caller_reference: &str) -> String {
    format!(
        "aws cloudfront list-invalidations --distribution-id {distribution} (then aws cloudfront get-invalidation \
         --distribution-id {distribution} --id ID for the newest, looking for CallerReference {caller_reference})"
    )
}

/// The invalidation of `distribution` made with `caller_reference`, looked up
/// among those created since `since` (minus a few minutes for clock skew).
/// `Err` when the listing fails or too many candidates remain to open.
pub async fn find_by_reference(
    cf: &aws_sdk_cloudfront::Client,
    distribution: &str,
    caller_reference: &str,
    since: SystemTime,
) -> std::result::Result<Option<(String, Vec<String>)>, String> {
    let since = since
        .checked_sub(Duration::from_secs(300))
        .unwrap_or(SystemTime::UNIX_EPOCH)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut candidates: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..READ_BACK_PAGES {
        let page = cf
            .list_invalidations()
            .distribution_id(distribution)
            .set_marker(marker.clone())
            .send()
            .await
            .aws("ListInvalidations")
            .map_err(|e| e.to_string())?;
        let Some(list) = page.invalidation_list() else {
            break;
        };
        candidates.extend(
            list.items()
                .iter()
                .filter(|i| i.create_time().secs() >= since)
                .map(|i| i.id().to_owned()),
        );
        marker = list.next_marker().map(str::to_owned);
        if !list.is_truncated() || marker.is_none() {
            marker = None;
            break;
        }
    }
    let unchecked_pages = marker.is_some();
    for (n, id) in candidates.iter().enumerate() {
        if n >= READ_BACK_OPENS {
            return Err(format!(
                "{} recent invalidations, more than the {READ_BACK_OPENS} opened",
                candidates.len()
            ));
        }
        let got = get_invalidation(cf, distribution, id)
            .await
            .map_err(|e| e.to_string())?;
        let batch = got.invalidation().and_then(|i| i.invalidation_batch());
        if batch.is_some_and(|b| b.caller_reference() == caller_reference) {
            let paths = batch
                .and_then(|b| b.paths())
                .map(|p| p.items().to_vec())
                .unwrap_or_default();
            return Ok(Some((id.clone(), paths)));
        }
    }
    if unchecked_pages {
        return Err(format!(
            "more than {READ_BACK_PAGES} pages of invalidations; only those were searched"
        ));
    }
    Ok(None)
}

/// Creates the invalidation with `caller_reference` (the same on every retry,
/// so CloudFront returns the same invalidation instead of making a second). When
/// the answer may have been lost, reads back before deciding.
pub async fn create(
    out: &Output,
    cf: &aws_sdk_cloudfront::Client,
    distribution: &str,
    paths: &[String],
    caller_reference: &str,
) -> Result<Creation> {
    let batch = InvalidationBatch::builder()
        .paths(
            Paths::builder()
                .quantity(paths.len() as i32)
                .set_items(Some(paths.to_vec()))
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?,
        )
        .caller_reference(caller_reference)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let sent_at = SystemTime::now();
    let created = cf
        .create_invalidation()
        .distribution_id(distribution)
        .invalidation_batch(batch.clone())
        .customize()
        .config_override(retry::cloudfront(cf))
        .send()
        .await
        .aws("CreateInvalidation");
    let error = match created {
        Ok(c) => {
            let id = c.invalidation().map(|i| i.id().to_owned()).ok_or_else(|| {
                Error::Internal("CreateInvalidation returned no invalidation".into())
            })?;
            return Ok(Creation::Created {
                id,
                read_back: false,
            });
        }
        Err(e) if !answer_may_be_lost(&e) => return Ok(Creation::NotCreated(e)),
        Err(e) => e,
    };
    out.warn(format!(
        "{error}; reading back whether invalidation {caller_reference} exists"
    ));
    match find_by_reference(cf, distribution, caller_reference, sent_at).await {
        Ok(Some((id, _))) => Ok(Creation::Created {
            id,
            read_back: true,
        }),
        // "Already exists" for our own reference, yet not found: do not guess.
        Ok(None) if error.has_code("InvalidationBatchAlreadyExists") => Ok(Creation::Unknown {
            why: format!(
                "CloudFront says an invalidation with CallerReference {caller_reference} exists but the read-back did not find it"
            ),
            error,
        }),
        Ok(None) => Ok(Creation::NotCreated(error)),
        Err(why) => Ok(Creation::Unknown { error, why }),
    }
}

/// Waits until invalidation `id` completes. The emulator says `COMPLETED`,
/// AWS `Completed`: both count. A signal stops the wait (the invalidation goes
/// on at CloudFront).
pub async fn wait(
    out: &Output,
    cancel: &Cancel,
    cf: &aws_sdk_cloudfront::Client,
    distribution: &str,
    id: &str,
    timeout: Duration,
) -> Result<String> {
    let opts = WaitOptions::new(format!("invalidation {id} on {distribution}"), timeout)
        .reattach(wait_command(distribution, id));
    cancel
        .run(poll_until(out, &opts, || async {
            let got = get_invalidation(cf, distribution, id).await?;
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
        }))
        .await
}

/// The command that waits for an invalidation by hand.
pub fn wait_command(distribution: &str, id: &str) -> String {
    format!("aws cloudfront wait invalidation-completed --distribution-id {distribution} --id {id}")
}

/// Creates the invalidation and waits for it (no journal; `restore` journals
/// through `invalidate_journaled`). For the tests of create-and-wait alone.
#[cfg(test)]
pub async fn invalidate_and_wait(
    out: &Output,
    cf: &aws_sdk_cloudfront::Client,
    distribution: &str,
    paths: Vec<String>,
    caller_reference: &str,
    timeout: Duration,
) -> Result<InvalidationReport> {
    let id = match create(out, cf, distribution, &paths, caller_reference).await? {
        Creation::Created { id, .. } => id,
        Creation::NotCreated(e) => return Err(e.into()),
        Creation::Unknown { error, why } => {
            return Err(Error::RevertFailed(format!(
                "{error}; whether the invalidation was created is unknown ({why}); check with: {}",
                read_command(distribution, caller_reference)
            )));
        }
    };
    out.info(format!(
        "created invalidation {id} on {distribution} for {} path(s)",
        paths.len()
    ));
    let status = wait(out, &Cancel::new(), cf, distribution, &id, timeout).await?;
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
            let r = on_e1(&create, &get, "/a%20b.html", Duration::from_secs(600))
                .await
                .unwrap();
            assert_eq!(r.status, done);
            assert_eq!(get.num_calls(), 4);
        }
    }

    /// Invalidates one path of distribution E1 on a CloudFront answering
    /// CreateInvalidation and GetInvalidation by these rules.
    async fn on_e1(
        create: &aws_smithy_mocks::Rule,
        get: &aws_smithy_mocks::Rule,
        path: &str,
        timeout: Duration,
    ) -> Result<InvalidationReport> {
        let cf = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [create, get]);
        invalidate_and_wait(&quiet(), &cf, "E1", vec![path.into()], "ref", timeout).await
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
        let err = on_e1(&create, &get, "/*", Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 5);
        assert!(
            err.to_string().contains("--distribution-id E1 --id I1"),
            "{err}"
        );
    }
}
