//! Counting the AWS requests a command sends, so results can report them.
//!
//! One [`CallCounter`] is an SDK interceptor: add a clone of it to every client
//! of a run (`.interceptor(counter.clone())` on the service config builder).
//! It counts each HTTP request just before it is sent (`read_before_transmit`),
//! so every attempt counts, retries included, and an attempt that fails before
//! anything is sent (endpoint resolution, signing) does not.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Requests sent, per (service, operation). Clones share the same counts.
#[derive(Debug, Clone)]
pub struct CallCounter(Arc<Mutex<BTreeMap<(String, String), u64>>>);

/// Every request any counter of this process recorded: the result envelope's
/// `calls` (`None` while no counter was created, so a command that counts
/// nothing does not claim zero calls).
static PROCESS: Mutex<Option<BTreeMap<String, u64>>> = Mutex::new(None);

impl Default for CallCounter {
    fn default() -> Self {
        PROCESS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(BTreeMap::new);
        CallCounter(Arc::default())
    }
}

/// The requests every [`CallCounter`] of this process recorded, for the
/// result envelope; `None` when the command created no counter.
pub fn process_calls() -> Option<crate::envelope::Calls> {
    let map = PROCESS.lock().unwrap_or_else(|p| p.into_inner());
    map.as_ref().map(|by_operation| crate::envelope::Calls {
        total: by_operation.values().sum(),
        by_operation: by_operation.clone(),
    })
}

impl CallCounter {
    /// Adds one request of `service` (as the SDK names it, e.g. `Route 53`) and `operation`.
    pub fn record(&self, service: &str, operation: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((service.to_owned(), operation.to_owned()))
            .or_default() += 1;
        drop(map);
        let mut all = PROCESS.lock().unwrap_or_else(|p| p.into_inner());
        *all.get_or_insert_with(BTreeMap::new)
            .entry(operation.to_owned())
            .or_default() += 1;
    }

    /// All requests sent so far.
    pub fn total(&self) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }

    /// Requests per operation name (`CopyObject`), summed over services.
    pub fn by_operation(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, op), n) in self.0.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            *out.entry(op.clone()).or_default() += n;
        }
        out
    }

    /// Requests per `service:Operation`, the service lower-cased without spaces
    /// (`Route 53` -> `route53:GetChange`, `CloudWatch` -> `cloudwatch:...`).
    pub fn by_service_operation(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((service, op), n) in self.0.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            *out.entry(format!("{}:{op}", service_key(service)))
                .or_default() += n;
        }
        out
    }

    /// Requests to one service, named as in [`CallCounter::by_service_operation`]
    /// (`route53`, `cloudwatch`).
    pub fn service_total(&self, service: &str) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((s, _), _)| service_key(s) == service)
            .map(|(_, n)| n)
            .sum()
    }
}

fn service_key(service: &str) -> String {
    service
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "common-call-counter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        match cfg.load::<Metadata>() {
            Some(m) => {
                self.record(m.service(), m.name());
                note_target(m.name(), m.service(), context.request().uri());
            }
            None => self.record("unknown", "unknown"),
        }
        Ok(())
    }
}

/// Where an operation's last request went: its service (as the SDK names it)
/// and the endpoint (scheme, host and port of the URI it was sent to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub service: String,
    pub endpoint: String,
}

static TARGETS: Mutex<BTreeMap<String, Target>> = Mutex::new(BTreeMap::new());

fn note_target(operation: &str, service: &str, uri: &str) {
    // Scheme and authority only: the path and query may carry names.
    let endpoint = match uri.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?']).next().unwrap_or(rest);
            format!("{scheme}://{host}")
        }
        None => uri.to_owned(),
    };
    TARGETS.lock().unwrap_or_else(|p| p.into_inner()).insert(
        operation.to_owned(),
        Target {
            service: service.to_owned(),
            endpoint,
        },
    );
}

/// The service and endpoint `operation`'s last request in this process went
/// to, when a [`CallCounter`] saw it (error messages name them).
pub fn last_target(operation: &str) -> Option<Target> {
    TARGETS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(operation)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_operation_per_service_and_in_total() {
        let c = CallCounter::default();
        let shared = c.clone();
        shared.record("Route 53", "GetChange");
        shared.record("Route 53", "GetChange");
        c.record("Route 53", "ChangeResourceRecordSets");
        c.record("CloudWatch", "GetMetricData");
        c.record("S3", "GetChange");

        assert_eq!(c.total(), 5);
        assert_eq!(
            c.by_service_operation(),
            BTreeMap::from([
                ("cloudwatch:GetMetricData".to_owned(), 1),
                ("route53:ChangeResourceRecordSets".to_owned(), 1),
                ("route53:GetChange".to_owned(), 2),
                ("s3:GetChange".to_owned(), 1),
            ])
        );
        assert_eq!(
            c.by_operation(),
            BTreeMap::from([
                ("ChangeResourceRecordSets".to_owned(), 1),
                ("GetChange".to_owned(), 3),
                ("GetMetricData".to_owned(), 1),
            ])
        );
        assert_eq!(c.service_total("route53"), 3);
        assert_eq!(c.service_total("cloudwatch"), 1);
        assert_eq!(c.service_total("ecs"), 0);
    }

    /// Through a real SDK client: every attempt counts, the retry too.
    #[tokio::test(start_paused = true)]
    async fn the_interceptor_counts_every_attempt_sent() {
        use aws_sdk_sts::config::retry::RetryConfig;
        use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;

        let rule = mock!(aws_sdk_sts::Client::get_caller_identity)
            .sequence()
            .http_response(|| {
                HttpResponse::new(StatusCode::try_from(503).unwrap(), SdkBody::empty())
            })
            .output(|| {
                GetCallerIdentityOutput::builder()
                    .account("123456789012")
                    .build()
            })
            .build();
        let counter = CallCounter::default();
        let interceptor = counter.clone();
        let client = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&rule], |b| b
            .interceptor(interceptor.clone())
            .retry_config(RetryConfig::standard().with_max_attempts(3)));

        let out = client.get_caller_identity().send().await.unwrap();
        assert_eq!(out.account(), Some("123456789012"));
        assert_eq!(rule.num_calls(), 2, "one 503, then the retry");
        assert_eq!(counter.total(), 2);
        assert_eq!(
            counter.by_service_operation(),
            BTreeMap::from([("sts:GetCallerIdentity".to_owned(), 2)])
        );
        assert_eq!(counter.service_total("sts"), 2);
        assert_eq!(
            counter.by_operation(),
            BTreeMap::from([("GetCallerIdentity".to_owned(), 2)])
        );
    }

    #[test]
    fn a_new_counter_is_empty() {
        let c = CallCounter::default();
        assert_eq!(c.total(), 0);
        assert!(c.by_operation().is_empty());
    }
}
