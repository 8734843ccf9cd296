//! The reads a deploy makes before it changes anything, in one round trip
//! where it can: every session (STS) and, beside them, each bootstrap check
//! (SSM) and each region's stack listing (DescribeStacks) made with the
//! caller's own credentials, which need no AssumeRole first.
//!
//! Those early reads stand in for the deploy role's only when they read the
//! same thing: GetCallerIdentity and the AssumeRole answer (both in the same
//! round) must name the same partition and account, and the read must have
//! answered (a parameter value or its absence, a listing). The bootstrap
//! version parameter and the account's stack list are the same whoever reads
//! them in that account and region; both reads are read-only, so an early read
//! that is not used (another account, refused, failed) harmed nothing and is
//! simply made again with the role's session: one more round trip, as before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::Stack;

use common::error::AwsError;
use common::{AwsResultExt, Error, Result};

use crate::roles::{Roles, Session};

/// One bootstrap version check: the SSM parameter, the version needed, and
/// the stack environment it was asked for (the session that reads it).
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub param: String,
    pub need: u64,
    pub account: String,
    pub region: String,
    /// The deploy role of the stacks that asked (None: the caller's own).
    pub role: Option<String>,
}

/// Session key: (role, region).
pub type Key = (Option<String>, String);

/// The stacks a session sees, by name; None when there was no listing (one
/// stack selected, refused, or more than the pages allowed): each stack then
/// describes itself.
pub type Listed = Option<HashMap<String, Stack>>;

/// Makes every session in `sessions`, the caller's first reads of `checks`
/// and of the listings (one per region of `listings`, when `list`), all at
/// the same time; then redoes with the role's session any early read that
/// cannot stand in for it. A session that cannot be made, or a failed check,
/// is the error (before anything is changed); a listing that cannot be made
/// is only a missing listing.
pub async fn survey(
    roles: &Roles,
    sessions: &[Key],
    checks: &[Check],
    listings: &[Key],
    list: bool,
    pages: u32,
    calls: &AtomicU32,
) -> Result<HashMap<Key, Listed>> {
    let mut regions: Vec<&str> = listings.iter().map(|(_, r)| r.as_str()).collect();
    regions.sort_unstable();
    regions.dedup();
    let made = futures::future::try_join_all(
        sessions
            .iter()
            .map(|(role, reg)| roles.session(role.as_deref(), Some(reg))),
    );
    let early_checks = futures::future::join_all(checks.iter().map(|c| async move {
        read_version(&roles.caller_config(&c.region), &c.param, calls).await
    }));
    let early_lists = futures::future::join_all(regions.iter().map(|reg| async move {
        if !list {
            return Ok(None);
        }
        let cfn = aws_sdk_cloudformation::Client::new(&roles.caller_config(reg));
        crate::stack::list_stacks(&cfn, pages, calls).await
    }));
    let (made, early_checks, early_lists) = tokio::join!(made, early_checks, early_lists);
    made?;
    let caller = roles.session(None, None).await?;
    let early_lists: HashMap<&str, Result<Listed>> =
        regions.iter().copied().zip(early_lists).collect();

    // Checks: the early answer when it stands in, else the role's own read.
    let verdicts = futures::future::join_all(checks.iter().zip(early_checks).map(|(c, early)| {
        let caller = &caller;
        async move {
            let session = roles.session(c.role.as_deref(), Some(&c.region)).await?;
            let got = match early {
                Ok(v) if same_account(caller, &session) => v,
                // The caller's own session: its read was the session's.
                Err(e) if session.role_arn.is_none() => return Err(e.into()),
                _ => read_version(&session.config, &c.param, calls).await?,
            };
            judge(got, c)
        }
    }))
    .await;
    for v in verdicts {
        v?;
    }

    let mut listed = HashMap::new();
    let redone = futures::future::join_all(listings.iter().map(|key| {
        let (caller, early) = (&caller, early_lists.get(key.1.as_str()));
        async move {
            if !list {
                return (key.clone(), None);
            }
            let Ok(session) = roles.session(key.0.as_deref(), Some(&key.1)).await else {
                return (key.clone(), None);
            };
            let got = match early {
                Some(Ok(v)) if same_account(caller, &session) => v.clone(),
                Some(Err(_)) if session.role_arn.is_none() => None,
                _ => {
                    let cfn = aws_sdk_cloudformation::Client::new(&session.config);
                    crate::stack::list_stacks(&cfn, pages, calls)
                        .await
                        .unwrap_or(None)
                }
            };
            (key.clone(), got)
        }
    }))
    .await;
    listed.extend(redone);
    Ok(listed)
}

/// `(partition, account)` of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`).
fn account_of(arn: &str) -> Option<(&str, &str)> {
    let mut f = arn.split(':');
    let (arn_, partition, _, _, account) = (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
    (arn_ == "arn" && !partition.is_empty() && !account.is_empty()).then_some((partition, account))
}

/// Whether the caller's credentials read the same account as `session`'s.
fn same_account(caller: &Session, session: &Session) -> bool {
    session.role_arn.is_none()
        || account_of(&caller.identity).is_some_and(|c| account_of(&session.identity) == Some(c))
}

/// The bootstrap version parameter's value; None when it does not exist.
async fn read_version(
    config: &SdkConfig,
    param: &str,
    calls: &AtomicU32,
) -> std::result::Result<Option<String>, AwsError> {
    calls.fetch_add(1, Ordering::Relaxed);
    match aws_sdk_ssm::Client::new(config)
        .get_parameter()
        .name(param)
        .send()
        .await
        .aws("GetParameter")
    {
        Ok(o) => Ok(Some(
            o.parameter()
                .and_then(|p| p.value())
                .unwrap_or_default()
                .to_owned(),
        )),
        Err(e) if e.has_code("ParameterNotFound") => Ok(None),
        Err(e) => Err(e),
    }
}

/// The CDK bootstrap version in SSM must be at least what the stack needs.
fn judge(got: Option<String>, c: &Check) -> Result<()> {
    let Check {
        param,
        need,
        account,
        region,
        ..
    } = c;
    let Some(got) = got else {
        return Err(Error::CheckFailed(format!(
            "environment aws://{account}/{region} is not bootstrapped: SSM parameter {param} not found; run `cdk bootstrap aws://{account}/{region}`"
        )));
    };
    match got.trim().parse::<u64>() {
        Ok(v) if v >= *need => Ok(()),
        Ok(v) => Err(Error::CheckFailed(format!(
            "environment aws://{account}/{region} is bootstrapped at version {v} but the assembly needs {need}: run `cdk bootstrap aws://{account}/{region}` again"
        ))),
        Err(_) => Err(Error::CheckFailed(format!(
            "SSM parameter {param} holds {got:?}, not a bootstrap version number"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use aws_smithy_runtime_api::client::http::{
        HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_types::body::SdkBody;
    use tokio::time::Instant;

    use super::*;

    /// How long each fake AWS call takes (paused time).
    const RTT: Duration = Duration::from_millis(100);
    const ROLE: &str = "arn:aws:iam::123456789012:role/cdk-deploy";
    const OTHER_ROLE: &str = "arn:aws:iam::210987654321:role/cdk-deploy";
    const PARAM: &str = "/cdk-bootstrap/hnb659fds/version";

    /// One call the fake AWS answered: operation, access key, start, end.
    #[derive(Debug, Clone)]
    struct Seen {
        op: String,
        key: String,
        start: Duration,
        end: Duration,
    }

    /// Answers STS, SSM and CloudFormation like AWS would, each after
    /// [`RTT`]; the caller's key is `CALLER`, a role's is `ROLE-<account>`.
    /// `caller_denied` refuses the caller's SSM and CloudFormation reads;
    /// `version` is the parameter's value (None: not found).
    #[derive(Debug, Clone)]
    struct FakeAws {
        t0: Instant,
        seen: Arc<Mutex<Vec<Seen>>>,
        caller_denied: bool,
        version: Option<&'static str>,
    }

    fn respond(status: u16, content_type: &str, body: String) -> HttpResponse {
        let mut r = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body));
        r.headers_mut()
            .insert("content-type", content_type.to_owned());
        r
    }

    impl HttpConnector for FakeAws {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let body =
                String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).into_owned();
            let target = request.headers().get("x-amz-target").unwrap_or_default();
            let auth = request.headers().get("authorization").unwrap_or_default();
            let key = auth
                .split("Credential=")
                .nth(1)
                .and_then(|c| c.split('/').next())
                .unwrap_or_default()
                .to_owned();
            let op = if target.ends_with("GetParameter") {
                "GetParameter".to_owned()
            } else {
                body.split('&')
                    .find_map(|kv| kv.strip_prefix("Action="))
                    .unwrap_or("?")
                    .to_owned()
            };
            let me = self.clone();
            HttpConnectorFuture::new(async move {
                let start = me.t0.elapsed();
                tokio::time::sleep(RTT).await;
                let caller = key == "CALLER";
                let xml = |inner: String| respond(200, "text/xml", inner);
                let r = match op.as_str() {
                    "GetCallerIdentity" => xml(
                        "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/me</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>".into(),
                    ),
                    "AssumeRole" => {
                        let account = if body.contains("210987654321") {
                            "210987654321"
                        } else {
                            "123456789012"
                        };
                        xml(format!(
                            "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ROLE-{account}</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA:s</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/cdk-deploy/s</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>"
                        ))
                    }
                    _ if caller && me.caller_denied => {
                        if op == "GetParameter" {
                            respond(
                                400,
                                "application/x-amz-json-1.1",
                                r#"{"__type":"AccessDeniedException","message":"no"}"#.into(),
                            )
                        } else {
                            respond(
                                403,
                                "text/xml",
                                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>".into(),
                            )
                        }
                    }
                    "GetParameter" => match me.version {
                        Some(v) => respond(
                            200,
                            "application/x-amz-json-1.1",
                            format!(r#"{{"Parameter":{{"Name":"{PARAM}","Value":"{v}"}}}}"#),
                        ),
                        None => respond(
                            400,
                            "application/x-amz-json-1.1",
                            r#"{"__type":"ParameterNotFound","message":"none"}"#.into(),
                        ),
                    },
                    // Each key sees a stack named after it: which listing was
                    // used shows whose read it was.
                    "DescribeStacks" => xml(format!(
                        "<DescribeStacksResponse><DescribeStacksResult><Stacks><member><StackName>seen-by-{key}</StackName><StackId>id</StackId><CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus></member></Stacks></DescribeStacksResult></DescribeStacksResponse>"
                    )),
                    _ => respond(400, "text/xml", String::new()),
                };
                me.seen.lock().unwrap().push(Seen {
                    op,
                    key,
                    start,
                    end: me.t0.elapsed(),
                });
                Ok(r)
            })
        }
    }

    async fn roles(fake: &FakeAws, assume: bool) -> Roles {
        let connector = SharedHttpConnector::new(fake.clone());
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http_client_fn(move |_, _| connector.clone()))
            .endpoint_url("http://aws.invalid")
            .region(aws_config::Region::new("ap-northeast-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "CALLER", "s", None, None, "test",
            ))
            .load()
            .await;
        Roles::new(config, assume)
    }

    fn fake(caller_denied: bool, version: Option<&'static str>) -> FakeAws {
        FakeAws {
            t0: Instant::now(),
            seen: Arc::default(),
            caller_denied,
            version,
        }
    }

    fn check(role: &str) -> Check {
        Check {
            param: PARAM.into(),
            need: 6,
            account: "123456789012".into(),
            region: "ap-northeast-1".into(),
            role: Some(role.into()),
        }
    }

    async fn run(fake: &FakeAws, role: &str) -> (Result<HashMap<Key, Listed>>, Vec<Seen>) {
        let roles = roles(fake, true).await;
        let region = "ap-northeast-1".to_owned();
        let key = (Some(role.to_owned()), region.clone());
        let calls = AtomicU32::new(0);
        let r = survey(
            &roles,
            &[(None, region.clone()), key.clone()],
            &[check(role)],
            &[key],
            true,
            3,
            &calls,
        )
        .await;
        let seen = fake.seen.lock().unwrap().clone();
        // The survey counts its own reads (the sessions count in Roles).
        let reads = seen
            .iter()
            .filter(|s| s.op == "GetParameter" || s.op == "DescribeStacks")
            .count();
        assert_eq!(calls.load(Ordering::Relaxed) as usize, reads, "{seen:?}");
        (r, seen)
    }

    fn of<'a>(seen: &'a [Seen], op: &str) -> Vec<&'a Seen> {
        seen.iter().filter(|s| s.op == op).collect()
    }

    fn names(listed: &HashMap<Key, Listed>, role: &str) -> Vec<String> {
        let key = (Some(role.to_owned()), "ap-northeast-1".to_owned());
        let mut n: Vec<String> = listed[&key].as_ref().unwrap().keys().cloned().collect();
        n.sort();
        n
    }

    #[tokio::test(start_paused = true)]
    async fn check_and_listing_go_out_beside_the_role_sessions_in_one_round_trip() {
        let f = fake(false, Some("21"));
        let (r, seen) = run(&f, ROLE).await;
        let listed = r.unwrap();
        // The caller's listing stands in for the role's (same account).
        assert_eq!(names(&listed, ROLE), ["seen-by-CALLER"]);
        let assume = of(&seen, "AssumeRole");
        assert_eq!(assume.len(), 1, "{seen:?}");
        for op in ["GetParameter", "DescribeStacks", "GetCallerIdentity"] {
            let s = of(&seen, op);
            assert_eq!(s.len(), 1, "{op} once: {seen:?}");
            assert_eq!(s[0].key, "CALLER", "{seen:?}");
            // Sent before the AssumeRole answered: not after it.
            assert!(s[0].start < assume[0].end, "{op} waited: {seen:?}");
        }
        let last = seen.iter().map(|s| s.end).max().unwrap();
        assert!(last < 2 * RTT, "one round trip, not two: {seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_role_in_another_account_reads_the_check_and_the_listing_itself() {
        let f = fake(false, Some("21"));
        let (r, seen) = run(&f, OTHER_ROLE).await;
        let listed = r.unwrap();
        // The caller's account's stacks are not the role's: its listing is used.
        assert_eq!(names(&listed, OTHER_ROLE), ["seen-by-ROLE-210987654321"]);
        for op in ["GetParameter", "DescribeStacks"] {
            let keys: Vec<&str> = of(&seen, op).iter().map(|s| s.key.as_str()).collect();
            assert_eq!(keys, ["CALLER", "ROLE-210987654321"], "{op}: {seen:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_refused_the_reads_falls_back_to_the_role() {
        let f = fake(true, Some("21"));
        let (r, seen) = run(&f, ROLE).await;
        let listed = r.unwrap();
        assert_eq!(names(&listed, ROLE), ["seen-by-ROLE-123456789012"]);
        let keys: Vec<&str> = of(&seen, "GetParameter")
            .iter()
            .map(|s| s.key.as_str())
            .collect();
        assert_eq!(keys, ["CALLER", "ROLE-123456789012"], "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_environment_not_bootstrapped_is_refused_from_the_early_read() {
        let f = fake(false, None);
        let (r, seen) = run(&f, ROLE).await;
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 4, "{e}");
        assert!(e.to_string().contains("not bootstrapped"), "{e}");
        assert_eq!(of(&seen, "GetParameter").len(), 1, "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn too_old_a_bootstrap_is_refused() {
        let f = fake(false, Some("5"));
        let (r, _) = run(&f, ROLE).await;
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 4, "{e}");
        assert!(e.to_string().contains("at version 5"), "{e}");
    }

    #[test]
    fn accounts_of_arns() {
        assert_eq!(
            account_of("arn:aws:sts::123456789012:assumed-role/r/s"),
            Some(("aws", "123456789012"))
        );
        assert_eq!(
            account_of("arn:aws-cn:iam::1:user/me"),
            Some(("aws-cn", "1"))
        );
        assert_eq!(account_of("unknown"), None);
        assert_eq!(account_of("arn:aws:s3:::bucket"), None);
    }
}
