//! The retry budget of the calls S3 and CloudFront throttle in bursts: the
//! SDK's own retry with more attempts for throttling only.
//!
//! The copies and delete markers of a restore, the version listing, the
//! versioning check and the invalidation calls get the operator's retry policy
//! (`--max-attempts`/`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, the backoff of
//! `common::aws`) with [`THROTTLE_ATTEMPTS`] times the attempts, set per call
//! with `customize().config_override(..)`. S3 answers a hot prefix with bursts
//! of SlowDown that outlast 3 attempts; a key that stays throttled past its
//! budget is reported on its own (`failed`) while the others are applied.
//!
//! The extra attempts are for the answers of a busy service only: a retry
//! classifier ([`ThrottleBudget`]) forbids any other retry once the operator's
//! attempts are spent, so a refused connection, a timeout or a 502 fails after
//! the usual 3 attempts, not 18 (raising the attempts alone made
//! `bad_input::well_formed_input_does_reach_aws` wait 30 s on a closed port).
//! A classifier is given the SDK's verdict but not the attempt number (that is
//! in the config bag, which only interceptors see), so the same value is also
//! an interceptor that notes the attempt number before each attempt. It is
//! built per call, so concurrent calls do not share the number.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};

use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition, TokenBucket};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::ErrorKind;

/// How many times the operator's attempts (3 by default) a throttled call may
/// make: what the hand loop this replaces allowed (6 rounds of the SDK's own).
pub const THROTTLE_ATTEMPTS: u32 = 6;

/// Retry partitions of their own for the throttle-prone calls, one per service
/// and shared by every such call of the run (adaptive mode's rate limiter lives
/// here). Unlimited quota: a burst of SlowDown over thousands of keys would
/// drain the shared quota (500 tokens) and then fail every throttled key at
/// once; the per-call attempts above are the bound, as the hand loop's were.
static S3_PARTITION: LazyLock<RetryPartition> = LazyLock::new(|| {
    RetryPartition::custom("site-restore-s3-throttled")
        .token_bucket(TokenBucket::unlimited())
        .build()
});
static CLOUDFRONT_PARTITION: LazyLock<RetryPartition> = LazyLock::new(|| {
    RetryPartition::custom("site-restore-cloudfront-throttled")
        .token_bucket(TokenBucket::unlimited())
        .build()
});

/// The operator's policy with the throttling budget: same mode and backoff
/// (1 s doubling, jittered, to 20 s by default), [`THROTTLE_ATTEMPTS`] times
/// the attempts.
pub fn throttle_config(operator: Option<&RetryConfig>) -> RetryConfig {
    let operator = operator.cloned().unwrap_or_else(RetryConfig::standard);
    let attempts = operator.max_attempts().max(1);
    operator.with_max_attempts(attempts.saturating_mul(THROTTLE_ATTEMPTS))
}

/// The throttle budget as an override for one S3 call.
pub fn s3(s3: &aws_sdk_s3::Client) -> aws_sdk_s3::config::Builder {
    let operator = s3.config().retry_config();
    let budget = ThrottleBudget::new(operator);
    aws_sdk_s3::config::Builder::default()
        .retry_config(throttle_config(operator))
        .retry_partition(S3_PARTITION.clone())
        .interceptor(budget.clone())
        .retry_classifier(budget)
}

/// The throttle budget as an override for one CloudFront call.
pub fn cloudfront(cf: &aws_sdk_cloudfront::Client) -> aws_sdk_cloudfront::config::Builder {
    let operator = cf.config().retry_config();
    let budget = ThrottleBudget::new(operator);
    aws_sdk_cloudfront::config::Builder::default()
        .retry_config(throttle_config(operator))
        .retry_partition(CLOUDFRONT_PARTITION.clone())
        .interceptor(budget.clone())
        .retry_classifier(budget)
}

/// Keeps the extra attempts of one call for a busy service's answers: as a
/// classifier it lets the SDK's verdict stand for throttling (SlowDown,
/// Throttling, ...) and for HTTP 500 and 503, and forbids every other retry
/// once the operator's attempts are spent; as an interceptor it notes which
/// attempt is in flight.
#[derive(Debug, Clone)]
pub struct ThrottleBudget {
    /// The operator's attempts, what every other error keeps.
    common_attempts: u32,
    /// The attempt in flight (1 for the first), from the SDK's own count.
    attempt: Arc<AtomicU32>,
}

impl ThrottleBudget {
    pub fn new(operator: Option<&RetryConfig>) -> Self {
        ThrottleBudget {
            common_attempts: operator.map_or(3, |r| r.max_attempts().max(1)),
            attempt: Arc::new(AtomicU32::new(1)),
        }
    }

    /// Whether the budget lets `previous` (the SDK classifiers' verdict on
    /// `response_status`) stand at attempt `attempt`.
    fn allows(&self, previous: &RetryAction, response_status: Option<u16>, attempt: u32) -> bool {
        let RetryAction::RetryIndicated(RetryReason::RetryableError { kind, .. }) = previous else {
            return true;
        };
        // 500 and 503 as the hand loop had them: S3 sends both when busy,
        // 503 often without a SlowDown body.
        *kind == ErrorKind::ThrottlingError
            || matches!(response_status, Some(500 | 503))
            || attempt < self.common_attempts
    }
}

impl ClassifyRetry for ThrottleBudget {
    fn classify_retry(&self, _ctx: &InterceptorContext) -> RetryAction {
        RetryAction::NoActionIndicated
    }

    fn classify_retry_v2(&self, ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        let status = ctx.response().map(|r| r.status().as_u16());
        if self.allows(previous, status, self.attempt.load(Ordering::Relaxed)) {
            RetryAction::NoActionIndicated
        } else {
            RetryAction::RetryForbidden
        }
    }

    fn name(&self) -> &'static str {
        "site-restore throttle budget"
    }

    /// After the SDK's classifiers (the transient-error one runs last), so
    /// `previous` is their verdict.
    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

impl Intercept for ThrottleBudget {
    fn name(&self) -> &'static str {
        "site-restore throttle budget"
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(n) = cfg.load::<RequestAttempts>() {
            self.attempt.store(n.attempts(), Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_multiplies_the_operators_attempts_and_keeps_the_rest() {
        let operator = RetryConfig::adaptive().with_max_attempts(4);
        let c = throttle_config(Some(&operator));
        assert_eq!(c.max_attempts(), 4 * THROTTLE_ATTEMPTS);
        assert_eq!(c.mode(), operator.mode());
        assert_eq!(c.initial_backoff(), operator.initial_backoff());
        assert_eq!(c.max_backoff(), operator.max_backoff());
        assert_eq!(throttle_config(None).max_attempts(), 3 * THROTTLE_ATTEMPTS);
    }

    #[test]
    fn only_a_busy_services_answers_get_the_extra_attempts() {
        let budget = ThrottleBudget::new(None);
        let throttled = RetryAction::throttling_error();
        let transient = RetryAction::transient_error();
        let server = RetryAction::server_error();
        for attempt in 1..=3 * THROTTLE_ATTEMPTS {
            assert!(budget.allows(&throttled, Some(503), attempt));
            assert!(budget.allows(&throttled, Some(400), attempt));
            assert!(budget.allows(&transient, Some(503), attempt));
            assert!(budget.allows(&server, Some(500), attempt));
        }
        // A refused connection (no answer) and a 502 keep the operator's 3.
        for previous in [&transient, &server] {
            for status in [None, Some(502), Some(504)] {
                assert!(budget.allows(previous, status, 1));
                assert!(budget.allows(previous, status, 2));
                assert!(!budget.allows(previous, status, 3));
            }
        }
        // No retry indicated: the budget adds none and forbids none.
        assert!(budget.allows(&RetryAction::NoActionIndicated, None, 99));
        let once = ThrottleBudget::new(Some(&RetryConfig::standard().with_max_attempts(1)));
        assert!(!once.allows(&transient, None, 1));
        assert!(once.allows(&throttled, Some(503), 1));
    }

    use std::time::Duration;

    use aws_sdk_s3::Client;
    use aws_sdk_s3::error::SdkError;
    use aws_sdk_s3::operation::copy_object::{CopyObjectError, CopyObjectOutput};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use common::calls::CallCounter;

    const SLOW_DOWN: &str =
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

    async fn copy(s3: &Client) -> Result<CopyObjectOutput, SdkError<CopyObjectError>> {
        s3.copy_object()
            .bucket("b")
            .key("k")
            .copy_source("b/k?versionId=v")
            .customize()
            .config_override(super::s3(s3))
            .send()
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn the_sdk_makes_the_budgeted_attempts_per_answer() {
        for (operator, status, body, attempts) in [
            (None, 503, Some(SLOW_DOWN), 18),
            (None, 500, None, 18),
            (None, 503, None, 18),
            (None, 502, None, 3),
            (None, 504, None, 3),
            (Some(2), 503, Some(SLOW_DOWN), 12),
            (Some(2), 502, None, 2),
        ] {
            let rule = mock!(Client::copy_object)
                .sequence()
                .http_status(status, body.map(str::to_owned))
                .repeatedly()
                .build();
            let s3 = mock_client!(
                aws_sdk_s3,
                RuleMode::MatchAny,
                [&rule],
                |c| match operator {
                    Some(n) => c.retry_config(RetryConfig::standard().with_max_attempts(n)),
                    None => c,
                }
            );
            copy(&s3).await.unwrap_err();
            assert_eq!(rule.num_calls(), attempts, "{operator:?} {status} {body:?}");
        }
    }

    // Regression (issue 17): raising the attempts of these calls made a
    // refused connection retried 18 times (a CLI test waited 30 s on a closed
    // port); it keeps the operator's 3, each counted by the run's counter.
    #[tokio::test]
    async fn a_refused_connection_keeps_the_operators_attempts() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let counter = CallCounter::default();
        let conf = aws_sdk_s3::Config::builder()
            .with_test_defaults_v2()
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .force_path_style(true)
            // Short backoff, so a regression fails in milliseconds, not minutes.
            .retry_config(
                RetryConfig::standard()
                    .with_initial_backoff(Duration::from_millis(1))
                    .with_max_backoff(Duration::from_millis(5)),
            )
            .interceptor(counter.clone())
            .build();
        let err = copy(&Client::from_conf(conf)).await.unwrap_err();
        assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
        assert_eq!(counter.total(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn cloudfront_throttling_gets_the_budget_and_a_502_does_not() {
        use aws_sdk_cloudfront::Client;
        const THROTTLING: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                                  <Message>Rate exceeded</Message></Error></ErrorResponse>";
        for (status, body, attempts) in [(400, Some(THROTTLING), 18), (502, None, 3)] {
            let rule = mock!(Client::get_distribution_config)
                .sequence()
                .http_status(status, body.map(str::to_owned))
                .repeatedly()
                .build();
            let cf = mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&rule]);
            cf.get_distribution_config()
                .id("E1")
                .customize()
                .config_override(super::cloudfront(&cf))
                .send()
                .await
                .unwrap_err();
            assert_eq!(rule.num_calls(), attempts, "{status}");
        }
    }
}
