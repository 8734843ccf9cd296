//! Target-health gates ("validate load balancer"): the share of an ELBv2 target
//! group's registered targets that are `healthy`, in %, from DescribeTargetHealth
//! (one call per group; names are turned into ARNs with one DescribeTargetGroups
//! for all of a gate's names). Targets leaving on purpose (`draining`,
//! `unhealthy.draining`) are left out; every other state (`initial`, `unhealthy`,
//! `unused`, `unavailable`) counts as not healthy: a target that is not serving is
//! not healthy, whatever the reason. A gate over several groups takes the worst.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use common::AwsResultExt;

use crate::evaluate::Observation;

pub fn describe_gate(groups: &[String]) -> String {
    format!("healthy targets / registered, {}", groups.join(", "))
}

/// One group's numbers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupHealth {
    pub healthy: u32,
    /// Registered targets that are not draining.
    pub counted: u32,
    /// Not-healthy states seen, e.g. `unhealthy` -> 2.
    pub others: BTreeMap<String, u32>,
}

impl GroupHealth {
    pub fn add(&mut self, state: Option<&TargetHealthStateEnum>) {
        match state {
            Some(TargetHealthStateEnum::Draining | TargetHealthStateEnum::UnhealthyDraining) => {}
            Some(TargetHealthStateEnum::Healthy) => {
                self.healthy += 1;
                self.counted += 1;
            }
            other => {
                self.counted += 1;
                let name = other.map_or("unknown", |s| s.as_str()).to_owned();
                *self.others.entry(name).or_insert(0) += 1;
            }
        }
    }

    /// The healthy share in %, or None when no target counts.
    pub fn healthy_share(&self) -> Option<f64> {
        (self.counted > 0).then(|| 100.0 * f64::from(self.healthy) / f64::from(self.counted))
    }

    fn describe(&self, label: &str) -> String {
        let others: Vec<String> = self
            .others
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        let tail = if others.is_empty() {
            String::new()
        } else {
            format!(" ({})", others.join(", "))
        };
        format!("{label}: {}/{} healthy{tail}", self.healthy, self.counted)
    }
}

/// A target group's short label: its name, from the name or the ARN.
fn label(group: &str) -> &str {
    group
        .split_once(":targetgroup/")
        .map_or(group, |(_, rest)| rest.split('/').next().unwrap_or(rest))
}

/// Resolves names to ARNs (one call for all names); ARNs pass through.
async fn arns(elb: &Client, groups: &[String]) -> Result<Vec<String>, Observation> {
    let names: Vec<String> = groups
        .iter()
        .filter(|g| !g.starts_with("arn:"))
        .cloned()
        .collect();
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    if !names.is_empty() {
        let o = elb
            .describe_target_groups()
            .set_names(Some(names.clone()))
            .send()
            .await
            .aws("DescribeTargetGroups");
        match o {
            Ok(o) => {
                for tg in o.target_groups() {
                    if let (Some(n), Some(a)) = (tg.target_group_name(), tg.target_group_arn()) {
                        by_name.insert(n.to_owned(), a.to_owned());
                    }
                }
            }
            Err(e) if e.has_code("TargetGroupNotFound") => {
                return Err(Observation::Fail {
                    value: None,
                    detail: format!("no such target group among {}", names.join(", ")),
                });
            }
            Err(e) => return Err(Observation::NoData(e.to_string())),
        }
    }
    groups
        .iter()
        .map(|g| {
            if g.starts_with("arn:") {
                Ok(g.clone())
            } else {
                by_name.get(g).cloned().ok_or_else(|| Observation::Fail {
                    value: None,
                    detail: format!("no such target group {g}"),
                })
            }
        })
        .collect()
}

async fn group_health(elb: &Client, arn: &str) -> Result<GroupHealth, Observation> {
    let o = elb
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .aws("DescribeTargetHealth");
    let o = match o {
        Ok(o) => o,
        Err(e) if e.has_code("TargetGroupNotFound") => {
            return Err(Observation::Fail {
                value: None,
                detail: format!("no such target group {}", label(arn)),
            });
        }
        Err(e) => return Err(Observation::NoData(e.to_string())),
    };
    let mut h = GroupHealth::default();
    for d in o.target_health_descriptions() {
        h.add(d.target_health().and_then(|t| t.state()));
    }
    Ok(h)
}

/// Reads the groups of one gate (concurrently) and gives the worst healthy share.
pub async fn evaluate(elb: &Client, groups: &[String]) -> Observation {
    let arns = match arns(elb, groups).await {
        Ok(a) => a,
        Err(obs) => return obs,
    };
    let results = futures::future::join_all(arns.iter().map(|arn| group_health(elb, arn))).await;
    let mut parts = Vec::new();
    let mut worst: Option<f64> = None;
    let mut empty = Vec::new();
    for (arn, r) in arns.iter().zip(results) {
        let h = match r {
            Ok(h) => h,
            Err(obs) => return obs,
        };
        parts.push(h.describe(label(arn)));
        match h.healthy_share() {
            Some(v) => worst = Some(worst.map_or(v, |w: f64| w.min(v))),
            None => empty.push(label(arn).to_owned()),
        }
    }
    // A group with no target that counts cannot be measured: no data, never a pass.
    if !empty.is_empty() {
        return Observation::NoData(format!(
            "no registered target (draining ones aside) in {}: {}",
            empty.join(", "),
            parts.join("; ")
        ));
    }
    match worst {
        Some(v) => Observation::Value {
            value: v,
            detail: parts.join("; "),
        },
        None => Observation::NoData("no target group read".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
    use aws_sdk_elasticloadbalancingv2::types::{
        TargetDescription, TargetGroup, TargetHealth, TargetHealthDescription,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const API_ARN: &str = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/ltc-api/0123456789abcdef";

    fn described(states: &[TargetHealthStateEnum]) -> DescribeTargetHealthOutput {
        let mut b = DescribeTargetHealthOutput::builder();
        for (i, s) in states.iter().enumerate() {
            b = b.target_health_descriptions(
                TargetHealthDescription::builder()
                    .target(
                        TargetDescription::builder()
                            .id(format!("10.0.0.{i}"))
                            .port(80)
                            .build(),
                    )
                    .target_health(TargetHealth::builder().state(s.clone()).build())
                    .build(),
            );
        }
        b.build()
    }

    #[test]
    fn draining_targets_are_left_out_other_states_are_not_healthy() {
        let mut h = GroupHealth::default();
        for s in [
            TargetHealthStateEnum::Healthy,
            TargetHealthStateEnum::Healthy,
            TargetHealthStateEnum::Initial,
            TargetHealthStateEnum::Unhealthy,
            TargetHealthStateEnum::Draining,
            TargetHealthStateEnum::UnhealthyDraining,
        ] {
            h.add(Some(&s));
        }
        assert_eq!(h.healthy_share(), Some(50.0));
        assert_eq!(
            h.describe("api"),
            "api: 2/4 healthy (1 initial, 1 unhealthy)"
        );
        assert_eq!(GroupHealth::default().healthy_share(), None);
    }

    /// DescribeTargetGroups' answer for the name ltc-api.
    fn api_group() -> DescribeTargetGroupsOutput {
        DescribeTargetGroupsOutput::builder()
            .target_groups(
                TargetGroup::builder()
                    .target_group_name("ltc-api")
                    .target_group_arn(API_ARN)
                    .build(),
            )
            .build()
    }

    // Names become ARNs in one call; each group is read; the worst share is the value.
    #[tokio::test]
    async fn the_worst_group_decides() {
        let groups = mock!(Client::describe_target_groups)
            .match_requests(|r| r.names() == ["ltc-api".to_owned()])
            .then_output(api_group);
        let api = mock!(Client::describe_target_health)
            .match_requests(|r| r.target_group_arn() == Some(API_ARN))
            .then_output(|| {
                described(&[
                    TargetHealthStateEnum::Healthy,
                    TargetHealthStateEnum::Unhealthy,
                    TargetHealthStateEnum::Unhealthy,
                    TargetHealthStateEnum::Unhealthy,
                ])
            });
        let web = mock!(Client::describe_target_health)
            .match_requests(|r| {
                r.target_group_arn()
                    .is_some_and(|a| a.contains("/ltc-web/"))
            })
            .then_output(|| described(&[TargetHealthStateEnum::Healthy]));
        let elb = mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [&groups, &api, &web]
        );
        let web_arn = API_ARN.replace("/ltc-api/", "/ltc-web/");
        let obs = evaluate(&elb, &["ltc-api".into(), web_arn]).await;
        assert_eq!(groups.num_calls(), 1);
        match obs {
            Observation::Value { value, detail } => {
                assert_eq!(value, 25.0);
                assert_eq!(
                    detail,
                    "ltc-api: 1/4 healthy (3 unhealthy); ltc-web: 1/1 healthy"
                );
            }
            o => panic!("{o:?}"),
        }
    }

    #[tokio::test]
    async fn a_group_without_targets_is_inconclusive_and_an_unknown_name_fails() {
        let groups = mock!(Client::describe_target_groups).then_output(api_group);
        let health = mock!(Client::describe_target_health)
            .then_output(|| described(&[TargetHealthStateEnum::Draining]));
        let elb = mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [&groups, &health]
        );
        let obs = evaluate(&elb, &["ltc-api".into()]).await;
        assert!(
            matches!(&obs, Observation::NoData(d) if d.starts_with("no registered target (draining ones aside) in ltc-api")),
            "{obs:?}"
        );
        let obs = evaluate(&elb, &["ltc-api".into(), "ltc-apl".into()]).await;
        assert!(
            matches!(&obs, Observation::Fail { detail, .. } if detail == "no such target group ltc-apl"),
            "{obs:?}"
        );
    }
}
