//! CloudWatch metric gates: every metric of every gate in ONE GetMetricData call
//! per evaluation (pages only if CloudWatch splits the answer). Ratios (error rate,
//! cache hit rate) are computed here from plain Sum statistics: the emulator
//! answers metric-math expressions with nothing, and a ratio of sums over the
//! window is what the strategy's "error rate" means anyway. Throttling is left to
//! the SDK's retry (slowed down, not failed).

use std::collections::HashMap;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use chrono::{DateTime, Utc};
use common::{AwsError, AwsResultExt};

use crate::evaluate::Observation;
use crate::gatesfile::{MetricGate, MetricValue, Statistic, distinct};

/// What a gate's query says in the output.
pub fn describe(m: &MetricGate) -> String {
    let dims: Vec<String> = m
        .dimensions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let dims = if dims.is_empty() {
        String::new()
    } else {
        format!(" [{}]", dims.join(","))
    };
    let scale = if m.scale == 1.0 {
        String::new()
    } else {
        format!(" x{}", crate::gatesfile::trim_float(m.scale))
    };
    let window = common::duration::format_duration(m.window);
    match &m.value {
        MetricValue::Single { metric, stat } => format!(
            "{}/{metric}{dims} {} per {}s, newest in {window}{scale}",
            m.namespace,
            stat.as_str(),
            m.period
        ),
        MetricValue::Ratio {
            numerator,
            denominator,
        } => format!(
            "100 * Sum({}) / Sum({}) {}{dims} over {window}{scale}",
            numerator.join("+"),
            denominator.join("+"),
            m.namespace
        ),
    }
}

struct Query {
    id: String,
    /// Index into the gates given to [`evaluate`].
    gate: usize,
    metric: String,
    percentile: bool,
    query: MetricDataQuery,
}

/// One datapoint series as returned.
#[derive(Debug, Default)]
struct Series {
    /// (epoch seconds, value)
    points: Vec<(i64, f64)>,
    status: Option<String>,
    messages: Vec<String>,
}

fn queries(gates: &[&MetricGate]) -> Vec<Query> {
    let mut out = Vec::new();
    for (k, m) in gates.iter().enumerate() {
        let mut push = |id: String, metric: &str, stat: &Statistic| {
            let mut metric_b = Metric::builder()
                .namespace(&m.namespace)
                .metric_name(metric);
            for (name, value) in &m.dimensions {
                metric_b =
                    metric_b.dimensions(Dimension::builder().name(name).value(value).build());
            }
            let query = MetricDataQuery::builder()
                .id(&id)
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric_b.build())
                        .period(m.period)
                        .stat(stat.as_str())
                        .build(),
                )
                .return_data(true)
                .build();
            out.push(Query {
                id,
                gate: k,
                metric: metric.to_owned(),
                percentile: matches!(stat, Statistic::Percentile(_)),
                query,
            });
        };
        match &m.value {
            MetricValue::Single { metric, stat } => push(format!("q{k}"), metric, stat),
            MetricValue::Ratio {
                numerator,
                denominator,
            } => {
                let sum = Statistic::Plain("Sum".into());
                for (j, name) in distinct(numerator, denominator).into_iter().enumerate() {
                    push(format!("q{k}_{j}"), name, &sum);
                }
            }
        }
    }
    out
}

async fn fetch(
    cw: &Client,
    qs: &[&Query],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<HashMap<String, Series>, AwsError> {
    let mut by_id: HashMap<String, Series> = HashMap::new();
    let mut token: Option<String> = None;
    loop {
        let out = cw
            .get_metric_data()
            .set_metric_data_queries(Some(qs.iter().map(|q| q.query.clone()).collect()))
            .start_time(aws_smithy_types::DateTime::from_secs(start.timestamp()))
            .end_time(aws_smithy_types::DateTime::from_secs(end.timestamp()))
            .scan_by(ScanBy::TimestampDescending)
            .set_next_token(token.take())
            .send()
            .await
            .aws("GetMetricData")?;
        for r in out.metric_data_results() {
            let Some(id) = r.id() else { continue };
            let s = by_id.entry(id.to_owned()).or_default();
            s.points.extend(
                r.timestamps()
                    .iter()
                    .map(aws_smithy_types::DateTime::secs)
                    .zip(r.values().iter().copied()),
            );
            if let Some(code) = r.status_code() {
                // PartialData means "more on the next page"; keep the worst.
                if s.status.as_deref() != Some("InternalError") {
                    s.status = Some(code.as_str().to_owned());
                }
            }
            s.messages.extend(
                r.messages()
                    .iter()
                    .filter_map(|m| m.value().map(str::to_owned)),
            );
        }
        match out.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    Ok(by_id)
}

fn minute_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(60), 0).unwrap_or(t)
}

/// Evaluates the metric gates at `now`: one observation per gate, in order.
pub async fn evaluate(cw: &Client, gates: &[&MetricGate], now: DateTime<Utc>) -> Vec<Observation> {
    if gates.is_empty() {
        return Vec::new();
    }
    let all = queries(gates);
    let widest = gates.iter().map(|m| m.window).max().unwrap_or_default();
    // Start on a whole minute (CloudWatch's own rounding), so the period buckets
    // do not move between evaluations: an unaligned start averages a new datapoint
    // with older ones in a different way each time.
    let start = minute_floor(
        now - chrono::Duration::from_std(widest).unwrap_or(chrono::Duration::minutes(5)),
    );
    // EndTime is exclusive and whole seconds: a datapoint stamped a moment ago
    // must not fall after it (no datapoint is newer than now, so a minute more
    // adds nothing else).
    let end = now + chrono::Duration::seconds(60);
    let refs: Vec<&Query> = all.iter().collect();
    // gate index -> why it has no data, when the call for it failed.
    let mut failed: HashMap<usize, String> = HashMap::new();
    let series = match fetch(cw, &refs, start, end).await {
        Ok(s) => s,
        Err(e) if all.iter().any(|q| q.percentile) && all.iter().any(|q| !q.percentile) => {
            // A percentile the service cannot answer (the emulator answers p95 with
            // HTTP 500) must not blind every other gate: ask again without them.
            for q in all.iter().filter(|q| q.percentile) {
                failed.insert(
                    q.gate,
                    format!("GetMetricData failed with the percentile queries in the batch ({e}); asked again without them"),
                );
            }
            let rest: Vec<&Query> = all.iter().filter(|q| !q.percentile).collect();
            match fetch(cw, &rest, start, end).await {
                Ok(s) => s,
                Err(e2) => {
                    for q in &rest {
                        failed.insert(q.gate, format!("GetMetricData failed: {e2}"));
                    }
                    HashMap::new()
                }
            }
        }
        Err(e) => {
            for q in &all {
                failed.insert(q.gate, format!("GetMetricData failed: {e}"));
            }
            HashMap::new()
        }
    };
    gates
        .iter()
        .enumerate()
        .map(|(k, m)| {
            if let Some(why) = failed.get(&k) {
                return Observation::NoData(why.clone());
            }
            let from = minute_floor(
                now - chrono::Duration::from_std(m.window).unwrap_or(chrono::Duration::minutes(5)),
            )
            .timestamp();
            let mine: Vec<&Query> = all.iter().filter(|q| q.gate == k).collect();
            let empty = Series::default();
            let window = common::duration::format_duration(m.window);
            let pick = |q: &Query| -> Result<Vec<(i64, f64)>, String> {
                let s = series.get(&q.id).unwrap_or(&empty);
                if let Some(st) = &s.status
                    && st != StatusCode::Complete.as_str()
                    && st != StatusCode::PartialData.as_str()
                {
                    return Err(format!(
                        "{}: CloudWatch status {st}{}",
                        q.metric,
                        if s.messages.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", s.messages.join("; "))
                        }
                    ));
                }
                Ok(s.points
                    .iter()
                    .copied()
                    .filter(|(t, v)| *t >= from && v.is_finite())
                    .collect())
            };
            match &m.value {
                MetricValue::Single { metric, .. } => {
                    let points = match pick(mine[0]) {
                        Ok(p) => p,
                        Err(why) => return Observation::NoData(why),
                    };
                    match points.iter().max_by_key(|(t, _)| *t) {
                        None => Observation::NoData(format!(
                            "no {metric} datapoints in the last {window}"
                        )),
                        Some((t, v)) => Observation::Value {
                            value: v * m.scale,
                            detail: format!(
                                "newest of {} datapoints, at {}",
                                points.len(),
                                DateTime::from_timestamp(*t, 0)
                                    .map(|d| d.format("%H:%M:%SZ").to_string())
                                    .unwrap_or_default()
                            ),
                        },
                    }
                }
                MetricValue::Ratio {
                    numerator,
                    denominator,
                } => {
                    let mut sums: HashMap<&str, Option<f64>> = HashMap::new();
                    for q in &mine {
                        match pick(q) {
                            Err(why) => return Observation::NoData(why),
                            Ok(p) if p.is_empty() => {
                                sums.insert(q.metric.as_str(), None);
                            }
                            Ok(p) => {
                                sums.insert(
                                    q.metric.as_str(),
                                    Some(p.iter().map(|(_, v)| v).sum()),
                                );
                            }
                        }
                    }
                    let total = |names: &[String]| -> (f64, bool) {
                        let mut any = false;
                        let mut s = 0.0;
                        for n in names {
                            if let Some(Some(v)) = sums.get(n.as_str()) {
                                any = true;
                                s += v;
                            }
                        }
                        (s, any)
                    };
                    let (den, den_any) = total(denominator);
                    if !den_any {
                        return Observation::NoData(format!(
                            "no {} datapoints in the last {window}",
                            denominator.join("/")
                        ));
                    }
                    if den <= 0.0 {
                        return Observation::NoData(format!(
                            "Sum({}) is 0 in the last {window}: nothing to divide by",
                            denominator.join("+")
                        ));
                    }
                    // CloudWatch publishes no datapoint for a count that stayed 0
                    // (ALB 5XX): with the denominator present, a missing numerator is 0.
                    let (num, num_any) = total(numerator);
                    Observation::Value {
                        value: 100.0 * num / den * m.scale,
                        detail: format!(
                            "{} / {} over {window}{}",
                            crate::gatesfile::trim_float(num),
                            crate::gatesfile::trim_float(den),
                            if num_any {
                                ""
                            } else {
                                " (no numerator datapoints: counted as 0)"
                            }
                        ),
                    }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::MetricDataResult;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::time::Duration;

    fn gate(value: MetricValue) -> MetricGate {
        MetricGate {
            namespace: "AWS/ApplicationELB".into(),
            dimensions: vec![("LoadBalancer".into(), "app/ltc/1".into())],
            value,
            period: 60,
            window: Duration::from_secs(300),
            scale: 1.0,
            unit: String::new(),
        }
    }

    fn p95() -> MetricGate {
        MetricGate {
            scale: 1000.0,
            unit: "ms".into(),
            ..gate(MetricValue::Single {
                metric: "TargetResponseTime".into(),
                stat: Statistic::Percentile("p95".into()),
            })
        }
    }

    fn error_rate() -> MetricGate {
        gate(MetricValue::Ratio {
            numerator: vec!["HTTPCode_Target_5XX_Count".into()],
            denominator: vec!["RequestCount".into()],
        })
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn result(id: &str, points: &[(i64, f64)]) -> MetricDataResult {
        MetricDataResult::builder()
            .id(id)
            .set_timestamps(Some(
                points
                    .iter()
                    .map(|(t, _)| aws_smithy_types::DateTime::from_secs(now().timestamp() - t))
                    .collect(),
            ))
            .set_values(Some(points.iter().map(|(_, v)| *v).collect()))
            .status_code(StatusCode::Complete)
            .build()
    }

    // A p95 is asked as the query's statistic (GetMetricData has no separate
    // ExtendedStatistics field) in the same call as the ratio, and scaled to ms.
    #[tokio::test]
    async fn percentile_and_ratio_in_one_call() {
        let rule = mock!(Client::get_metric_data)
            .match_requests(|r| {
                let q = r.metric_data_queries();
                q.len() == 3
                    && q[0].metric_stat().and_then(|s| s.stat()) == Some("p95")
                    && q.iter()
                        .skip(1)
                        .all(|x| x.metric_stat().and_then(|s| s.stat()) == Some("Sum"))
                    && r.scan_by() == Some(&ScanBy::TimestampDescending)
            })
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("q0", &[(60, 1.8), (120, 0.4)]))
                    .metric_data_results(result("q1_0", &[(60, 3.0), (120, 3.0)]))
                    .metric_data_results(result("q1_1", &[(60, 100.0), (120, 50.0), (600, 1000.0)]))
                    .build()
            });
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&rule]);
        let (a, b) = (p95(), error_rate());
        let obs = evaluate(&cw, &[&a, &b], now()).await;
        assert_eq!(rule.num_calls(), 1);
        match &obs[0] {
            Observation::Value { value, .. } => assert!((value - 1800.0).abs() < 1e-9, "{obs:?}"),
            o => panic!("{o:?}"),
        }
        // The point 600 s old is outside the 5-minute window: 6 / 150.
        match &obs[1] {
            Observation::Value { value, .. } => assert!((value - 4.0).abs() < 1e-9, "{obs:?}"),
            o => panic!("{o:?}"),
        }
    }

    // Partial data: one series empty, the other not; a missing 5XX series with
    // requests present is 0 %, a missing RequestCount is no data.
    #[tokio::test]
    async fn partial_data_is_inconclusive_only_where_missing() {
        let rule = mock!(Client::get_metric_data).then_output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(result("q0", &[]))
                .metric_data_results(result("q1_0", &[]))
                .metric_data_results(result("q1_1", &[(60, 10.0)]))
                .metric_data_results(result("q2_0", &[(60, 2.0)]))
                .metric_data_results(result("q2_1", &[]))
                .build()
        });
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&rule]);
        let (a, b, c) = (p95(), error_rate(), error_rate());
        let obs = evaluate(&cw, &[&a, &b, &c], now()).await;
        assert!(
            matches!(&obs[0], Observation::NoData(w) if w.contains("no TargetResponseTime datapoints")),
            "{obs:?}"
        );
        assert!(
            matches!(&obs[1], Observation::Value { value, detail } if *value == 0.0 && detail.contains("counted as 0")),
            "{obs:?}"
        );
        assert!(
            matches!(&obs[2], Observation::NoData(w) if w.contains("no RequestCount datapoints")),
            "{obs:?}"
        );
    }

    // A second page (NextToken) is read and merged; a series whose status is
    // InternalError is no data, not a value.
    #[tokio::test]
    async fn pages_are_merged_and_internal_errors_are_no_data() {
        let rule = mock!(Client::get_metric_data)
            .sequence()
            .output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("q0_0", &[(60, 1.0)]))
                    .metric_data_results(result("q0_1", &[(60, 10.0)]))
                    .next_token("more")
                    .build()
            })
            .output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("q0_0", &[(120, 1.0)]))
                    .metric_data_results(result("q0_1", &[(120, 10.0)]))
                    .metric_data_results(
                        MetricDataResult::builder()
                            .id("q1")
                            .status_code(StatusCode::InternalError)
                            .build(),
                    )
                    .build()
            })
            .build();
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&rule]);
        let (a, b) = (error_rate(), p95());
        let obs = evaluate(&cw, &[&a, &b], now()).await;
        assert_eq!(rule.num_calls(), 2);
        assert!(
            matches!(&obs[0], Observation::Value { value, .. } if (*value - 10.0).abs() < 1e-9),
            "{obs:?}"
        );
        assert!(
            matches!(&obs[1], Observation::NoData(w) if w.contains("InternalError")),
            "{obs:?}"
        );
    }

    /// A mock client with the SDK's default retry (standard, 3 attempts), as
    /// the binary's clients get it from the shared config.
    fn with_sdk_retries(rule: &aws_smithy_mocks::Rule) -> Client {
        mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [rule], |c| c
            .retry_config(
                aws_sdk_cloudwatch::config::retry::RetryConfig::standard()
            ))
    }

    const THROTTLED: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>";

    // Throttling is slowed down by the SDK's retry, not turned into a failure.
    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_by_the_sdk() {
        let rule = mock!(Client::get_metric_data)
            .sequence()
            .http_status(400, Some(THROTTLED.into()))
            .times(2)
            .output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("q0_0", &[(60, 1.0)]))
                    .metric_data_results(result("q0_1", &[(60, 50.0)]))
                    .build()
            })
            .build();
        let cw = with_sdk_retries(&rule);
        let a = error_rate();
        let obs = evaluate(&cw, &[&a], now()).await;
        assert_eq!(
            rule.num_calls(),
            3,
            "two throttled attempts, then the answer"
        );
        assert!(
            matches!(&obs[0], Observation::Value { value, .. } if (*value - 2.0).abs() < 1e-9),
            "{obs:?}"
        );
    }

    // Throttled beyond the SDK's attempts: no data (inconclusive), never a pass.
    #[tokio::test(start_paused = true)]
    async fn throttled_beyond_retries_is_no_data() {
        let rule = mock!(Client::get_metric_data)
            .sequence()
            .http_status(400, Some(THROTTLED.into()))
            .repeatedly()
            .build();
        let cw = with_sdk_retries(&rule);
        let a = error_rate();
        let obs = evaluate(&cw, &[&a], now()).await;
        assert_eq!(rule.num_calls(), 3, "the SDK's attempts");
        assert!(
            matches!(&obs[0], Observation::NoData(w) if w.contains("Throttling")),
            "{obs:?}"
        );
    }

    // The emulator answers p95 with HTTP 500: the other gates still get values
    // from a second call without the percentile queries.
    #[tokio::test(start_paused = true)]
    async fn a_failing_percentile_does_not_blind_the_other_gates() {
        let with_p95 = mock!(Client::get_metric_data)
            .match_requests(|r| r.metric_data_queries().len() == 3)
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build();
        let without = mock!(Client::get_metric_data)
            .match_requests(|r| r.metric_data_queries().len() == 2)
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("q1_0", &[(60, 1.0)]))
                    .metric_data_results(result("q1_1", &[(60, 10.0)]))
                    .build()
            });
        let cw = mock_client!(
            aws_sdk_cloudwatch,
            RuleMode::MatchAny,
            [&with_p95, &without]
        );
        let (a, b) = (p95(), error_rate());
        let obs = evaluate(&cw, &[&a, &b], now()).await;
        assert_eq!(without.num_calls(), 1);
        assert!(
            matches!(&obs[0], Observation::NoData(w) if w.contains("percentile")),
            "{obs:?}"
        );
        assert!(
            matches!(&obs[1], Observation::Value { value, .. } if (*value - 10.0).abs() < 1e-9),
            "{obs:?}"
        );
    }

    #[test]
    fn the_query_says_what_is_measured() {
        assert_eq!(
            describe(&error_rate()),
            "100 * Sum(HTTPCode_Target_5XX_Count) / Sum(RequestCount) AWS/ApplicationELB [LoadBalancer=app/ltc/1] over 5m00s"
        );
        assert!(describe(&p95()).contains("TargetResponseTime"));
        assert!(describe(&p95()).contains("p95 per 60s"));
    }
}
