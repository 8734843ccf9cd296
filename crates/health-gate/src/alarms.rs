//! Alarm gates: CloudWatch alarm states by name (up to 100 names per
//! DescribeAlarms call) or prefix (one call each), with `dns-shift alarms`' rule:
//! fail closed when a name or prefix matches nothing (a typo must not pass as
//! "nothing firing"), fail when one is in ALARM. Unlike dns-shift, an alarm in
//! INSUFFICIENT_DATA makes the gate inconclusive: no data is never a pass here.
//! (Written here because dns-shift's reader lives in that binary's crate; it
//! belongs in `common` once both use it.)

use std::collections::HashMap;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use common::{AwsError, AwsResultExt};

use crate::evaluate::Observation;
use crate::gatesfile::AlarmSpec;

#[derive(Debug, Clone)]
struct Alarm {
    name: String,
    state: String,
}

async fn describe(
    cw: &Client,
    names: &[String],
    prefix: Option<&str>,
) -> Result<Vec<Alarm>, AwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = cw
            .describe_alarms()
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .set_next_token(token.take());
        for n in names {
            req = req.alarm_names(n);
        }
        if let Some(p) = prefix {
            req = req.alarm_name_prefix(p);
        }
        let o = req.send().await.aws("DescribeAlarms")?;
        for a in o.metric_alarms() {
            if let (Some(name), Some(s)) = (a.alarm_name(), a.state_value()) {
                out.push(Alarm {
                    name: name.to_owned(),
                    state: s.as_str().to_owned(),
                });
            }
        }
        for a in o.composite_alarms() {
            if let (Some(name), Some(s)) = (a.alarm_name(), a.state_value()) {
                out.push(Alarm {
                    name: name.to_owned(),
                    state: s.as_str().to_owned(),
                });
            }
        }
        match o.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    Ok(out)
}

pub fn describe_gate(specs: &[AlarmSpec]) -> String {
    let labels: Vec<String> = specs.iter().map(AlarmSpec::label).collect();
    format!("alarms {}", labels.join(", "))
}

/// One observation per gate (each gate a list of names and prefixes). All names of
/// all gates are asked together; each distinct prefix once.
pub async fn evaluate(cw: &Client, gates: &[&[AlarmSpec]]) -> Vec<Observation> {
    let mut names: Vec<String> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    for specs in gates {
        for s in *specs {
            match s {
                AlarmSpec::Name(n) if !names.contains(n) => names.push(n.clone()),
                AlarmSpec::Prefix(p) if !prefixes.contains(p) => prefixes.push(p.clone()),
                _ => {}
            }
        }
    }
    let mut by_name: Result<Vec<Alarm>, String> = Ok(Vec::new());
    for chunk in names.chunks(100) {
        match describe(cw, chunk, None).await {
            Ok(found) => {
                if let Ok(all) = by_name.as_mut() {
                    all.extend(found);
                }
            }
            Err(e) => by_name = Err(e.to_string()),
        }
    }
    let mut by_prefix: HashMap<String, Result<Vec<Alarm>, String>> = HashMap::new();
    for p in prefixes {
        let r = describe(cw, &[], Some(&p)).await.map_err(|e| e.to_string());
        by_prefix.insert(p, r);
    }
    gates
        .iter()
        .map(|specs| {
            let mut firing = Vec::new();
            let mut unknown = Vec::new();
            let mut states = Vec::new();
            for spec in *specs {
                let found: Result<Vec<Alarm>, String> = match spec {
                    AlarmSpec::Name(n) => by_name
                        .as_ref()
                        .map(|all| all.iter().filter(|a| a.name == *n).cloned().collect())
                        .map_err(Clone::clone),
                    AlarmSpec::Prefix(p) => by_prefix
                        .get(p)
                        .cloned()
                        .unwrap_or_else(|| Err("not read".into())),
                };
                let found = match found {
                    Ok(f) => f,
                    Err(e) => {
                        return Observation::NoData(format!("could not read alarms: {e}"));
                    }
                };
                if found.is_empty() {
                    return Observation::Fail {
                        value: None,
                        detail: format!("{}: no such alarm", spec.label()),
                    };
                }
                for a in found {
                    if a.state == StateValue::Alarm.as_str() {
                        firing.push(a.name.clone());
                    } else if a.state == StateValue::InsufficientData.as_str() {
                        unknown.push(a.name.clone());
                    }
                    states.push(format!("{}={}", a.name, a.state));
                }
            }
            if !firing.is_empty() {
                Observation::Fail {
                    value: Some(firing.len() as f64),
                    detail: format!("in ALARM: {}", firing.join(", ")),
                }
            } else if !unknown.is_empty() {
                Observation::NoData(format!("INSUFFICIENT_DATA: {}", unknown.join(", ")))
            } else {
                Observation::Pass {
                    value: Some(0.0),
                    detail: states.join(", "),
                }
            }
        })
        .collect()
}
