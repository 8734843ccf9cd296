//! GuardDuty gates (the strategy's "critical security events"): the number of
//! findings of at least `min_severity` (default 7, GuardDuty's "high") updated
//! within the window and not archived, from ListFindings with a FindingCriteria
//! (paged, 50 per call), for one detector or every detector of the region
//! (ListDetectors). When there are any, one GetFindings for the five most severe
//! names them in the detail. Any finding fails the gate by default. A region
//! without a detector is inconclusive: findings that cannot be read are not a pass.

use std::time::Duration;

use aws_sdk_guardduty::Client;
use aws_sdk_guardduty::types::{Condition, FindingCriteria, OrderBy, SortCriteria};
use chrono::{DateTime, Utc};
use common::{AwsError, AwsResultExt};

use crate::evaluate::Observation;

/// At most this many pages of 50 finding ids are counted per detector.
const MAX_PAGES: usize = 20;
/// Findings named in the detail.
const NAMED: usize = 5;

pub fn describe_gate(detector: Option<&str>, min_severity: i64, window: Duration) -> String {
    format!(
        "findings with severity >= {min_severity} updated in the last {}, detector {}",
        common::duration::format_duration(window),
        detector.unwrap_or("(every detector)")
    )
}

/// The criteria: severity, time, not archived.
pub fn criteria(min_severity: i64, since: DateTime<Utc>) -> FindingCriteria {
    FindingCriteria::builder()
        .criterion(
            "severity",
            Condition::builder()
                .greater_than_or_equal(min_severity)
                .build(),
        )
        .criterion(
            "updatedAt",
            Condition::builder()
                .greater_than_or_equal(since.timestamp_millis())
                .build(),
        )
        .criterion(
            "service.archived",
            Condition::builder().equals("false").build(),
        )
        .build()
}

async fn detectors(gd: &Client) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let o = gd
            .list_detectors()
            .set_next_token(token.take())
            .send()
            .await
            .aws("ListDetectors")?;
        out.extend(o.detector_ids().iter().cloned());
        match o.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    Ok(out)
}

/// Finding ids of one detector matching the criteria, most severe first.
async fn finding_ids(
    gd: &Client,
    detector: &str,
    criteria: &FindingCriteria,
) -> Result<(Vec<String>, bool), AwsError> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let o = gd
            .list_findings()
            .detector_id(detector)
            .finding_criteria(criteria.clone())
            .sort_criteria(
                SortCriteria::builder()
                    .attribute_name("severity")
                    .order_by(OrderBy::Desc)
                    .build(),
            )
            .max_results(50)
            .set_next_token(token.take())
            .send()
            .await
            .aws("ListFindings")?;
        pages += 1;
        ids.extend(o.finding_ids().iter().cloned());
        match o.next_token {
            Some(t) if !t.is_empty() && pages < MAX_PAGES => token = Some(t),
            Some(t) if !t.is_empty() => return Ok((ids, true)),
            _ => return Ok((ids, false)),
        }
    }
}

pub async fn evaluate(
    gd: &Client,
    detector: Option<&str>,
    min_severity: i64,
    window: Duration,
    now: DateTime<Utc>,
) -> Observation {
    let since = now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::hours(1));
    let detectors = match detector {
        Some(d) => vec![d.to_owned()],
        None => match detectors(gd).await {
            Ok(d) if d.is_empty() => {
                return Observation::NoData(
                    "no GuardDuty detector in this region: findings cannot be read".into(),
                );
            }
            Ok(d) => d,
            Err(e) => return Observation::NoData(e.to_string()),
        },
    };
    let criteria = criteria(min_severity, since);
    let mut total = 0usize;
    let mut capped = false;
    let mut named = Vec::new();
    for d in &detectors {
        let (ids, more) = match finding_ids(gd, d, &criteria).await {
            Ok(r) => r,
            Err(e) if e.has_code("BadRequestException") && detector.is_some() => {
                return Observation::Fail {
                    value: None,
                    detail: format!("detector {d}: {e}"),
                };
            }
            Err(e) => return Observation::NoData(e.to_string()),
        };
        total += ids.len();
        capped |= more;
        if !ids.is_empty() && named.len() < NAMED {
            let take: Vec<String> = ids.iter().take(NAMED - named.len()).cloned().collect();
            match gd
                .get_findings()
                .detector_id(d)
                .set_finding_ids(Some(take))
                .send()
                .await
                .aws("GetFindings")
            {
                Ok(o) => {
                    for f in o.findings() {
                        named.push(format!(
                            "{} (severity {}): {}",
                            f.r#type().unwrap_or("?"),
                            f.severity().map_or("?".into(), |s| s.to_string()),
                            f.title().unwrap_or("")
                        ));
                    }
                }
                // The count is what the gate decides on; names are a courtesy.
                Err(e) => named.push(format!("(findings not described: {e})")),
            }
        }
    }
    let detail = if total == 0 {
        format!("none in {} detector(s)", detectors.len())
    } else {
        format!(
            "{total}{} finding(s): {}",
            if capped { "+" } else { "" },
            named.join("; ")
        )
    };
    Observation::Value {
        value: total as f64,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_guardduty::operation::get_findings::GetFindingsOutput;
    use aws_sdk_guardduty::operation::list_detectors::ListDetectorsOutput;
    use aws_sdk_guardduty::operation::list_findings::ListFindingsOutput;
    use aws_sdk_guardduty::types::Finding;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    // The emulator has detectors but no ListFindings: mocks only. The request's
    // criteria are checked: severity >= 7, updated within the window, not archived.
    #[tokio::test]
    async fn high_findings_in_the_window_fail_and_are_named() {
        let now = Utc::now();
        let since_ms = (now - chrono::Duration::hours(1)).timestamp_millis();
        let list_detectors = mock!(Client::list_detectors)
            .then_output(|| ListDetectorsOutput::builder().detector_ids("d1").build());
        let list = mock!(Client::list_findings)
            .match_requests(move |r| {
                let c = r
                    .finding_criteria()
                    .and_then(|f| f.criterion())
                    .cloned()
                    .unwrap_or_default();
                r.detector_id() == Some("d1")
                    && c.get("severity").and_then(|s| s.greater_than_or_equal()) == Some(7)
                    && c.get("updatedAt").and_then(|s| s.greater_than_or_equal()) == Some(since_ms)
                    && c.get("service.archived").map(|s| s.equals())
                        == Some(&["false".to_owned()][..])
            })
            .then_output(|| {
                ListFindingsOutput::builder()
                    .finding_ids("f1")
                    .finding_ids("f2")
                    .build()
            });
        let get = mock!(Client::get_findings).then_output(|| {
            let f = |id: &str, sev: f64, title: &str| {
                Finding::builder()
                    .id(id)
                    .severity(sev)
                    .r#type("UnauthorizedAccess:EC2/SSHBruteForce")
                    .title(title)
                    .build()
            };
            GetFindingsOutput::builder()
                .findings(f("f1", 8.0, "SSH brute force against i-1"))
                .findings(f("f2", 7.0, "SSH brute force against i-2"))
                .build()
        });
        let gd = mock_client!(
            aws_sdk_guardduty,
            RuleMode::MatchAny,
            [&list_detectors, &list, &get]
        );
        let obs = evaluate(&gd, None, 7, Duration::from_secs(3600), now).await;
        assert_eq!(list.num_calls(), 1, "the criteria did not match");
        match obs {
            Observation::Value { value, detail } => {
                assert_eq!(value, 2.0);
                assert_eq!(
                    detail,
                    "2 finding(s): UnauthorizedAccess:EC2/SSHBruteForce (severity 8): SSH brute force against i-1; UnauthorizedAccess:EC2/SSHBruteForce (severity 7): SSH brute force against i-2"
                );
            }
            o => panic!("{o:?}"),
        }
    }

    #[tokio::test]
    async fn no_detector_is_inconclusive_and_a_quiet_detector_is_zero() {
        let none =
            mock!(Client::list_detectors).then_output(|| ListDetectorsOutput::builder().build());
        let gd = mock_client!(aws_sdk_guardduty, RuleMode::MatchAny, [&none]);
        let obs = evaluate(&gd, None, 7, Duration::from_secs(3600), Utc::now()).await;
        assert!(
            matches!(&obs, Observation::NoData(d) if d.starts_with("no GuardDuty detector")),
            "{obs:?}"
        );
        let quiet =
            mock!(Client::list_findings).then_output(|| ListFindingsOutput::builder().build());
        let gd = mock_client!(aws_sdk_guardduty, RuleMode::MatchAny, [&quiet]);
        let obs = evaluate(&gd, Some("d1"), 7, Duration::from_secs(3600), Utc::now()).await;
        assert_eq!(
            obs,
            Observation::Value {
                value: 0.0,
                detail: "none in 1 detector(s)".into()
            }
        );
    }
}
