//! Alarm gates: CloudWatch alarm states by name or prefix, read with the one
//! alarm reader the toolkit has (`common::gate::read_alarms`: names 100 per
//! DescribeAlarms call, each prefix once) and `dns-shift alarms`' rule: fail
//! closed when a name or prefix matches nothing (a typo must not pass as "nothing
//! firing"), fail when one is in ALARM. Only the verdict is health-gate's own:
//! unlike dns-shift, an alarm in INSUFFICIENT_DATA makes the gate inconclusive
//! (no data is never a pass here).

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::StateValue;
use common::gate::{Matched, read_alarms};

use crate::evaluate::Observation;
use crate::gatesfile::AlarmSpec;

pub fn describe_gate(specs: &[AlarmSpec]) -> String {
    let labels: Vec<String> = specs.iter().map(AlarmSpec::label).collect();
    format!("alarms {}", labels.join(", "))
}

/// One gate's verdict from what each of its specs matched.
pub fn verdict(matched: &[(&AlarmSpec, &Matched)]) -> Observation {
    let mut firing = Vec::new();
    let mut unknown = Vec::new();
    let mut states = Vec::new();
    for (spec, found) in matched {
        let found = match found {
            Ok(f) => f,
            Err(e) => return Observation::NoData(format!("could not read alarms: {e}")),
        };
        if found.is_empty() {
            return Observation::Fail {
                value: None,
                detail: format!("{}: no such alarm", spec.label()),
            };
        }
        for a in found {
            if a.firing() {
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
}

/// One observation per gate (each gate a list of names and prefixes). The distinct
/// specs of all gates are read once, together.
pub async fn evaluate(cw: &Client, gates: &[&[AlarmSpec]]) -> Vec<Observation> {
    let mut distinct: Vec<AlarmSpec> = Vec::new();
    for spec in gates.iter().flat_map(|g| g.iter()) {
        if !distinct.contains(spec) {
            distinct.push(spec.clone());
        }
    }
    let read = read_alarms(cw, &distinct).await;
    gates
        .iter()
        .map(|specs| {
            let matched: Vec<(&AlarmSpec, &Matched)> = specs
                .iter()
                .filter_map(|s| read.iter().find(|(r, _)| r == s).map(|(r, m)| (r, m)))
                .collect();
            verdict(&matched)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::gate::AlarmState;

    fn state(name: &str, state: &str) -> AlarmState {
        AlarmState {
            name: name.into(),
            state: state.into(),
        }
    }

    #[test]
    fn alarm_fails_insufficient_data_is_inconclusive_nothing_matched_fails_closed() {
        let spec = AlarmSpec::Prefix("ltc-critical-".into());
        let ok: Matched = Ok(vec![state("ltc-critical-a", "OK")]);
        assert!(matches!(verdict(&[(&spec, &ok)]), Observation::Pass { .. }));
        let firing: Matched = Ok(vec![
            state("ltc-critical-a", "OK"),
            state("ltc-critical-b", "ALARM"),
        ]);
        assert_eq!(
            verdict(&[(&spec, &ok), (&spec, &firing)]),
            Observation::Fail {
                value: Some(1.0),
                detail: "in ALARM: ltc-critical-b".into()
            }
        );
        let unknown: Matched = Ok(vec![state("ltc-critical-a", "INSUFFICIENT_DATA")]);
        assert!(matches!(
            verdict(&[(&spec, &unknown)]),
            Observation::NoData(d) if d == "INSUFFICIENT_DATA: ltc-critical-a"
        ));
        let none: Matched = Ok(Vec::new());
        assert!(matches!(
            verdict(&[(&spec, &ok), (&spec, &none)]),
            Observation::Fail { detail, .. } if detail == "ltc-critical-*: no such alarm"
        ));
        let err: Matched = Err("throttled".into());
        assert!(matches!(verdict(&[(&spec, &err)]), Observation::NoData(_)));
    }
}
