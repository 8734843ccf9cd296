//! Auto-scaling gates (the strategy's warning "auto-scaling events"): the number
//! of Application Auto Scaling activities that started within the window, from
//! DescribeScalingActivities for the gate's service namespace (one call, paged;
//! filtered by resource id here, or by the API when the gate names exactly one).
//! Any activity fails the gate by default (threshold 0, comparison ">").

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::types::ServiceNamespace;
use chrono::{DateTime, Utc};
use common::AwsResultExt;

use crate::evaluate::Observation;

/// At most this many pages of 50 activities are read (six weeks of history).
const MAX_PAGES: usize = 20;

pub fn describe_gate(namespace: &str, resources: &[String], window: Duration) -> String {
    let what = if resources.is_empty() {
        format!("every {namespace} resource")
    } else {
        resources.join(", ")
    };
    format!(
        "scaling activities started in the last {}, {what}",
        common::duration::format_duration(window)
    )
}

pub async fn evaluate(
    aas: &Client,
    namespace: &str,
    resources: &[String],
    window: Duration,
    now: DateTime<Utc>,
) -> Observation {
    let since = now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::hours(1));
    let since_secs = since.timestamp();
    let mut token: Option<String> = None;
    // resource -> status -> count
    let mut seen: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
    let mut latest: Option<String> = None;
    let mut total = 0u32;
    let mut pages = 0;
    loop {
        let mut req = aas
            .describe_scaling_activities()
            .service_namespace(ServiceNamespace::from(namespace))
            .max_results(50)
            .set_next_token(token.take());
        if let [one] = resources {
            req = req.resource_id(one);
        }
        let o = match req.send().await.aws("DescribeScalingActivities") {
            Ok(o) => o,
            Err(e) => return Observation::NoData(e.to_string()),
        };
        pages += 1;
        for a in o.scaling_activities() {
            if a.start_time().secs() < since_secs {
                continue;
            }
            if !resources.is_empty() && !resources.iter().any(|r| r == a.resource_id()) {
                continue;
            }
            total += 1;
            *seen
                .entry(a.resource_id().to_owned())
                .or_default()
                .entry(a.status_code().as_str().to_owned())
                .or_insert(0) += 1;
            if latest.is_none() {
                latest = Some(format!("{}: {}", a.resource_id(), a.description()));
            }
        }
        match o.next_token {
            Some(t) if !t.is_empty() && pages < MAX_PAGES => token = Some(t),
            _ => break,
        }
    }
    let detail = if total == 0 {
        "none".to_owned()
    } else {
        let per: Vec<String> = seen
            .iter()
            .map(|(r, by)| {
                let st: Vec<String> = by.iter().map(|(s, n)| format!("{s} {n}")).collect();
                format!("{r}: {}", st.join(", "))
            })
            .collect();
        format!(
            "{}; first listed: {}",
            per.join("; "),
            latest.unwrap_or_default()
        )
    };
    Observation::Value {
        value: f64::from(total),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_applicationautoscaling::operation::describe_scaling_activities::DescribeScalingActivitiesOutput;
    use aws_sdk_applicationautoscaling::types::{
        ScalableDimension, ScalingActivity, ScalingActivityStatusCode,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn activity(resource: &str, started: DateTime<Utc>, status: &str) -> ScalingActivity {
        ScalingActivity::builder()
            .activity_id(format!("{resource}-{}", started.timestamp()))
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .description(format!("Setting desired count to 4 for {resource}"))
            .cause("monitor alarm CPU high")
            .start_time(aws_smithy_types::DateTime::from_secs(started.timestamp()))
            .status_code(ScalingActivityStatusCode::from(status))
            .build()
            .unwrap()
    }

    // The emulator does not implement DescribeScalingActivities: mocks only.
    #[tokio::test]
    async fn activities_in_the_window_of_the_named_resources_count() {
        let now = Utc::now();
        let api = "service/ltc/ltc-api";
        let first = mock!(Client::describe_scaling_activities)
            .match_requests(|r| {
                r.service_namespace() == Some(&ServiceNamespace::Ecs)
                    && r.resource_id().is_none()
                    && r.next_token().is_none()
            })
            .then_output(move || {
                DescribeScalingActivitiesOutput::builder()
                    .scaling_activities(activity(
                        api,
                        now - chrono::Duration::minutes(5),
                        "Successful",
                    ))
                    .scaling_activities(activity(
                        "service/ltc/other",
                        now - chrono::Duration::minutes(6),
                        "Successful",
                    ))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(Client::describe_scaling_activities)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(move || {
                DescribeScalingActivitiesOutput::builder()
                    .scaling_activities(activity(
                        api,
                        now - chrono::Duration::minutes(20),
                        "Failed",
                    ))
                    // Before the window: not counted.
                    .scaling_activities(activity(
                        api,
                        now - chrono::Duration::hours(3),
                        "Successful",
                    ))
                    .build()
            });
        let aas = mock_client!(
            aws_sdk_applicationautoscaling,
            RuleMode::MatchAny,
            [&first, &second]
        );
        let resources = vec![api.to_owned(), "service/ltc/ltc-worker".to_owned()];
        let obs = evaluate(&aas, "ecs", &resources, Duration::from_secs(3600), now).await;
        assert_eq!(first.num_calls() + second.num_calls(), 2);
        match obs {
            Observation::Value { value, detail } => {
                assert_eq!(value, 2.0);
                assert!(
                    detail.starts_with("service/ltc/ltc-api: Failed 1, Successful 1; first listed: service/ltc/ltc-api: Setting desired count"),
                    "{detail}"
                );
            }
            o => panic!("{o:?}"),
        }
    }

    #[tokio::test]
    async fn one_resource_is_filtered_by_the_api_and_a_quiet_window_is_zero() {
        let rule = mock!(Client::describe_scaling_activities)
            .match_requests(|r| r.resource_id() == Some("service/ltc/ltc-api"))
            .then_output(|| DescribeScalingActivitiesOutput::builder().build());
        let aas = mock_client!(aws_sdk_applicationautoscaling, RuleMode::MatchAny, [&rule]);
        let obs = evaluate(
            &aas,
            "ecs",
            &["service/ltc/ltc-api".to_owned()],
            Duration::from_secs(600),
            Utc::now(),
        )
        .await;
        assert_eq!(
            obs,
            Observation::Value {
                value: 0.0,
                detail: "none".into()
            }
        );
        assert_eq!(rule.num_calls(), 1);
    }
}
