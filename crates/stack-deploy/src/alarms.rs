//! `deploy --rollback-alarm NAME... --monitoring-time 10m`: CloudFormation's own
//! safety net (RollbackConfiguration). Alarm names are resolved to ARNs with
//! CloudWatch DescribeAlarms; ARNs are taken as given. Checked before any call.

use std::time::Duration;

use aws_sdk_cloudformation::types::{RollbackConfiguration, RollbackTrigger};
use aws_sdk_cloudwatch::types::AlarmType;

use common::{AwsResultExt, Error, Result};

/// CloudFormation's limits: at most 5 triggers, monitoring 0-180 minutes.
pub const MAX_TRIGGERS: usize = 5;
pub const MAX_MONITORING_MINUTES: u64 = 180;

/// A checked `--rollback-alarm` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmRef {
    Arn(String),
    Name(String),
}

/// The checked flags: alarms and whole monitoring minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackAlarms {
    pub alarms: Vec<AlarmRef>,
    pub monitoring_minutes: Option<i32>,
}

fn is_alarm_arn(s: &str) -> bool {
    // arn:PARTITION:cloudwatch:REGION:ACCOUNT:alarm:NAME
    let parts: Vec<&str> = s.splitn(7, ':').collect();
    parts.len() == 7
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "cloudwatch"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5] == "alarm"
        && !parts[6].is_empty()
}

/// Checks the flags; `None` when no alarm was named.
pub fn validate(raw: &[String], monitoring: Option<Duration>) -> Result<Option<RollbackAlarms>> {
    if raw.is_empty() {
        if monitoring.is_some() {
            return Err(Error::usage(
                "--monitoring-time needs at least one --rollback-alarm",
            ));
        }
        return Ok(None);
    }
    let mut alarms: Vec<AlarmRef> = Vec::new();
    for a in raw {
        let r = if a.starts_with("arn:") {
            if !is_alarm_arn(a) {
                return Err(Error::usage(format!(
                    "--rollback-alarm {}: not a CloudWatch alarm ARN (arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME)",
                    common::quote(a)
                )));
            }
            AlarmRef::Arn(a.clone())
        } else {
            if a.is_empty() || a.chars().count() > 255 || a.chars().any(char::is_control) {
                return Err(Error::usage(format!(
                    "--rollback-alarm {}: an alarm name is 1-255 printable characters",
                    common::quote(a)
                )));
            }
            AlarmRef::Name(a.clone())
        };
        if !alarms.contains(&r) {
            alarms.push(r);
        }
    }
    if alarms.len() > MAX_TRIGGERS {
        return Err(Error::usage(format!(
            "{} rollback alarms given; CloudFormation takes at most {MAX_TRIGGERS} (use a composite alarm)",
            alarms.len()
        )));
    }
    let monitoring_minutes = match monitoring {
        None => None,
        Some(d) => {
            let secs = d.as_secs();
            if d.subsec_nanos() != 0 || secs % 60 != 0 || secs / 60 > MAX_MONITORING_MINUTES {
                return Err(Error::usage(format!(
                    "--monitoring-time {}: CloudFormation takes whole minutes from 0 to {MAX_MONITORING_MINUTES} (e.g. 10m)",
                    common::duration::format_duration(d)
                )));
            }
            Some((secs / 60) as i32)
        }
    };
    Ok(Some(RollbackAlarms {
        alarms,
        monitoring_minutes,
    }))
}

/// The ARNs of the alarms: names looked up with one DescribeAlarms (metric
/// and composite alarms); a name CloudWatch does not know is exit 4.
pub async fn resolve(cw: &aws_sdk_cloudwatch::Client, alarms: &[AlarmRef]) -> Result<Vec<String>> {
    let names: Vec<String> = alarms
        .iter()
        .filter_map(|a| match a {
            AlarmRef::Name(n) => Some(n.clone()),
            AlarmRef::Arn(_) => None,
        })
        .collect();
    let mut found: Vec<(String, String)> = Vec::new();
    if !names.is_empty() {
        let out = cw
            .describe_alarms()
            .set_alarm_names(Some(names.clone()))
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .send()
            .await
            .aws("DescribeAlarms")?;
        for m in out.metric_alarms() {
            if let (Some(n), Some(a)) = (m.alarm_name(), m.alarm_arn()) {
                found.push((n.to_owned(), a.to_owned()));
            }
        }
        for c in out.composite_alarms() {
            if let (Some(n), Some(a)) = (c.alarm_name(), c.alarm_arn()) {
                found.push((n.to_owned(), a.to_owned()));
            }
        }
    }
    let mut arns = Vec::new();
    let mut missing = Vec::new();
    for a in alarms {
        match a {
            AlarmRef::Arn(arn) => arns.push(arn.clone()),
            AlarmRef::Name(n) => match found.iter().find(|(fnm, _)| fnm == n) {
                Some((_, arn)) => arns.push(arn.clone()),
                None => missing.push(n.clone()),
            },
        }
    }
    if !missing.is_empty() {
        return Err(Error::CheckFailed(format!(
            "no CloudWatch alarm named {} (aws cloudwatch describe-alarms --alarm-names ...); nothing was deployed",
            missing
                .iter()
                .map(|m| common::quote(m))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    arns.dedup();
    Ok(arns)
}

/// The RollbackConfiguration CloudFormation gets on every create and update.
pub fn configuration(arns: &[String], minutes: Option<i32>) -> RollbackConfiguration {
    let mut b = RollbackConfiguration::builder().set_monitoring_time_in_minutes(minutes);
    for arn in arns {
        b = b.rollback_triggers(
            RollbackTrigger::builder()
                .arn(arn)
                .r#type("AWS::CloudWatch::Alarm")
                .build(),
        );
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::types::MetricAlarm;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const ARN: &str = "arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:ltc-critical-5xx";

    #[test]
    fn flags_are_checked_before_any_call() {
        let ok = validate(
            &["ltc-critical-5xx".into(), ARN.into()],
            Some(Duration::from_secs(600)),
        )
        .unwrap()
        .unwrap();
        assert_eq!(ok.monitoring_minutes, Some(10));
        assert_eq!(ok.alarms[1], AlarmRef::Arn(ARN.into()));
        assert_eq!(validate(&[], None).unwrap(), None);
        for (alarms, mon, needle) in [
            (vec![], Some(60), "needs at least one"),
            (vec!["arn:aws:sns:x"], None, "not a CloudWatch alarm ARN"),
            (vec!["a"], Some(90), "whole minutes"),
            (vec!["a"], Some(181 * 60), "whole minutes"),
            (vec![""], None, "1-255"),
            (vec!["a", "b", "c", "d", "e", "f"], None, "at most 5"),
        ] {
            let raw: Vec<String> = alarms.iter().map(|s| s.to_string()).collect();
            let e = validate(&raw, mon.map(Duration::from_secs)).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }

    fn answer(names: &'static [&'static str]) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .match_requests(|r| {
                r.alarm_types() == [AlarmType::MetricAlarm, AlarmType::CompositeAlarm]
            })
            .then_output(move || {
                let mut b = DescribeAlarmsOutput::builder();
                for n in names {
                    b = b.metric_alarms(
                        MetricAlarm::builder()
                            .alarm_name(*n)
                            .alarm_arn(format!(
                                "arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:{n}"
                            ))
                            .build(),
                    );
                }
                b.build()
            })
    }

    #[tokio::test]
    async fn names_resolve_to_arns_with_one_describe_alarms() {
        let describe = answer(&["ltc-critical-5xx", "ltc-critical-latency"]);
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&describe]);
        let got = resolve(
            &cw,
            &[
                AlarmRef::Name("ltc-critical-latency".into()),
                AlarmRef::Arn("arn:aws:cloudwatch:us-east-1:123456789012:alarm:edge".into()),
                AlarmRef::Name("ltc-critical-5xx".into()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            got,
            vec![
                "arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:ltc-critical-latency",
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:edge",
                ARN,
            ]
        );
        assert_eq!(describe.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_unknown_alarm_name_stops_the_deploy_with_exit_4() {
        let describe = answer(&["ltc-critical-5xx"]);
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&describe]);
        let e = resolve(
            &cw,
            &[
                AlarmRef::Name("ltc-critical-5xx".into()),
                AlarmRef::Name("ltc-critcal-typo".into()),
            ],
        )
        .await
        .unwrap_err();
        assert_eq!(e.exit_code(), 4, "{e}");
        assert!(e.to_string().contains("ltc-critcal-typo"), "{e}");
        assert!(!e.to_string().contains("\"ltc-critical-5xx\""), "{e}");
    }

    #[tokio::test]
    async fn arns_alone_need_no_call() {
        let describe = answer(&[]);
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&describe]);
        let got = resolve(&cw, &[AlarmRef::Arn(ARN.into())]).await.unwrap();
        assert_eq!(got, vec![ARN]);
        assert_eq!(describe.num_calls(), 0);
    }
}
