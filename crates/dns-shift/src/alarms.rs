//! `dns-shift alarms`: reads the CloudWatch alarms a shift would gate on and says
//! whether any is in ALARM, so runbooks and operators check them with the same
//! rules as the gate (fail closed: a name that matches nothing fails).

use std::io::Write;

use common::{Context, Error, Render, Result};
use serde::Serialize;

use common::gate::{self as gates, AlarmSpec, AlarmState};

#[derive(Debug, clap::Args)]
pub struct AlarmsArgs {
    /// A CloudWatch alarm name, or a name prefix ending in `*`. Repeatable.
    #[arg(long = "alarm", value_name = "NAME|PREFIX*", required = true)]
    pub alarms: Vec<String>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct AlarmsResult {
    /// No alarm in ALARM and every name or prefix matched at least one alarm.
    pub passed: bool,
    pub checks: Vec<AlarmCheck>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct AlarmCheck {
    /// The `--alarm` as given.
    pub alarm: String,
    pub passed: bool,
    pub detail: String,
    /// Every alarm it matched, with its state (OK, ALARM, INSUFFICIENT_DATA).
    pub matched: Vec<AlarmState>,
}

impl Render for AlarmsResult {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let rows: Vec<Vec<String>> = self
            .checks
            .iter()
            .flat_map(|c| {
                let verdict = if c.passed { "ok" } else { "FAIL" };
                if c.matched.is_empty() {
                    return vec![vec![
                        c.alarm.clone(),
                        "-".into(),
                        "-".into(),
                        format!("{verdict}: {}", c.detail),
                    ]];
                }
                c.matched
                    .iter()
                    .map(|a| {
                        vec![
                            c.alarm.clone(),
                            a.name.clone(),
                            a.state.clone(),
                            verdict.to_owned(),
                        ]
                    })
                    .collect()
            })
            .collect();
        write!(
            w,
            "{}",
            common::output::table(&["ALARM", "MATCHED", "STATE", "VERDICT"], &rows)
        )?;
        writeln!(
            w,
            "{}",
            if self.passed {
                "no alarm in ALARM"
            } else {
                "FAILED: an alarm is in ALARM or matched nothing"
            }
        )
    }
}

pub async fn run(ctx: &Context, args: &AlarmsArgs) -> Result<()> {
    let specs = args
        .alarms
        .iter()
        .map(|a| AlarmSpec::parse(a))
        .collect::<Result<Vec<_>>>()?;
    let config = ctx.aws().await?.config.clone();
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    let checks: Vec<AlarmCheck> = gates::read_alarms(&cw, &specs)
        .await
        .into_iter()
        .map(|(spec, found)| {
            let verdict = gates::alarm_verdict(&spec, &found);
            AlarmCheck {
                alarm: spec.label(),
                passed: verdict.passed,
                detail: verdict.detail,
                matched: found.unwrap_or_default(),
            }
        })
        .collect();
    let passed = checks.iter().all(|c| c.passed);
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.alarm, c.detail))
        .collect();
    ctx.out.result(&AlarmsResult { passed, checks })?;
    if passed {
        Ok(())
    } else {
        Err(Error::CheckFailed(failed.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lists_every_match_and_the_verdict() {
        let result = AlarmsResult {
            passed: false,
            checks: vec![
                AlarmCheck {
                    alarm: "api-*".into(),
                    passed: false,
                    detail: "in ALARM: api-5xx".into(),
                    matched: vec![
                        AlarmState {
                            name: "api-5xx".into(),
                            state: "ALARM".into(),
                        },
                        AlarmState {
                            name: "api-p95".into(),
                            state: "OK".into(),
                        },
                    ],
                },
                AlarmCheck {
                    alarm: "typo".into(),
                    passed: false,
                    detail: "no such alarm".into(),
                    matched: vec![],
                },
            ],
        };
        let mut text = Vec::new();
        result.render_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[1].contains("api-5xx") && lines[1].contains("ALARM"),
            "{text}"
        );
        assert!(
            lines[2].contains("api-p95") && lines[2].contains("OK"),
            "{text}"
        );
        assert!(lines[3].contains("FAIL: no such alarm"), "{text}");
        assert!(lines[4].starts_with("FAILED"), "{text}");
    }
}
