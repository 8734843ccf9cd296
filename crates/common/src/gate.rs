//! Gates a change must pass before it goes further: shell commands that must
//! exit 0 and CloudWatch alarms that must not be in ALARM. Gates fail closed:
//! an error while checking is a failed gate. Used by the gradual-shift engine
//! ([`crate::shift`]) of dns-shift and lb-switch, and by `dns-shift alarms`.

use std::process::Stdio;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use serde::Serialize;

use crate::{AwsResultExt, Error, Result};

/// `--alarm NAME` or `--alarm PREFIX*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmSpec {
    Name(String),
    Prefix(String),
}

impl AlarmSpec {
    pub fn parse(raw: &str) -> Result<AlarmSpec> {
        let t = raw.trim();
        let spec = match t.strip_suffix('*') {
            Some(p) => AlarmSpec::Prefix(p.to_owned()),
            None => AlarmSpec::Name(t.to_owned()),
        };
        let inner = match &spec {
            AlarmSpec::Name(n) | AlarmSpec::Prefix(n) => n,
        };
        if inner.is_empty() {
            return Err(Error::usage(format!(
                "--alarm {}: give an alarm name or a prefix followed by *",
                crate::quote(raw)
            )));
        }
        if inner.contains('*') {
            return Err(Error::usage(format!(
                "--alarm {}: only a trailing * is supported (a name prefix)",
                crate::quote(raw)
            )));
        }
        if inner.chars().count() > 255 {
            return Err(Error::usage(format!(
                "--alarm {} is longer than 255 characters",
                crate::quote(raw)
            )));
        }
        Ok(spec)
    }

    pub fn label(&self) -> String {
        match self {
            AlarmSpec::Name(n) => n.clone(),
            AlarmSpec::Prefix(p) => format!("{p}*"),
        }
    }
}

/// One gate's verdict, as streamed.
#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    /// `command`, `alarm` or `health-check`.
    pub kind: &'static str,
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// The gates every shift can have: commands that must exit 0 and CloudWatch
/// alarms that must not be in ALARM. A binary adds its own (a Route 53 health
/// check, target health) after these.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    pub commands: Vec<String>,
    pub alarms: Vec<AlarmSpec>,
    pub command_timeout: Duration,
}

impl Gates {
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty() && self.alarms.is_empty()
    }

    /// Runs every gate (all of them, so a stream shows each verdict), commands
    /// first, with `env` passed to the commands. Alarms without a CloudWatch
    /// client fail (closed).
    pub async fn check(
        &self,
        cw: Option<&aws_sdk_cloudwatch::Client>,
        env: &[(String, String)],
    ) -> Vec<GateResult> {
        let mut results = Vec::new();
        for cmd in &self.commands {
            results.push(run_command(cmd, env, self.command_timeout).await);
        }
        if !self.alarms.is_empty() {
            match cw {
                Some(cw) => results.extend(check_alarms(cw, &self.alarms).await),
                None => results.push(GateResult {
                    kind: "alarm",
                    name: "*".into(),
                    passed: false,
                    detail: "no CloudWatch client".into(),
                }),
            }
        }
        results
    }
}

/// Checks `--gate-cmd` values: an empty command is a usage error.
pub fn validate_commands(cmds: &[String]) -> Result<()> {
    match cmds.iter().find(|c| c.trim().is_empty()) {
        Some(empty) => Err(Error::usage(format!(
            "--gate-cmd {} is empty",
            crate::quote(empty)
        ))),
        None => Ok(()),
    }
}

/// Parses every `--alarm` value.
pub fn parse_alarms(raw: &[String]) -> Result<Vec<AlarmSpec>> {
    raw.iter().map(|a| AlarmSpec::parse(a)).collect()
}
/// Runs `cmd` through `sh -c`, stdin closed; what it prints on stdout and
/// stderr is forwarded line by line to our stderr (our stdout carries only
/// JSON) through [`crate::redact::text`], so a token the command echoes
/// (`curl -v` prints its `Authorization:` header) is masked.
pub async fn run_command(cmd: &str, env: &[(String, String)], timeout: Duration) -> GateResult {
    let verdict = |passed: bool, detail: String| GateResult {
        kind: "command",
        name: cmd.to_owned(),
        passed,
        detail,
    };
    let mut child = match shell_command(cmd, env).spawn() {
        Ok(c) => c,
        Err(e) => return verdict(false, format!("could not start sh: {e}")),
    };
    let forwarders = [
        child.stdout.take().map(|o| tokio::spawn(forward_masked(o))),
        child.stderr.take().map(|e| tokio::spawn(forward_masked(e))),
    ];
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    if waited.is_err() {
        let _ = child.kill().await;
    }
    // What is left in the pipes; a background process the command started may
    // keep them open, so this is bounded.
    for f in forwarders.into_iter().flatten() {
        if tokio::time::timeout(Duration::from_secs(2), f)
            .await
            .is_err()
        {
            tracing::debug!("the gate command's output was still open after it ended");
        }
    }
    match waited {
        Ok(Ok(status)) if status.success() => verdict(true, "exit 0".into()),
        Ok(Ok(status)) => verdict(
            false,
            match status.code() {
                Some(c) => format!("exit {c}"),
                None => format!("ended by a signal ({status})"),
            },
        ),
        Ok(Err(e)) => verdict(false, format!("could not wait for the command: {e}")),
        Err(_) => verdict(
            false,
            format!(
                "still running after {}; killed",
                crate::duration::format_duration(timeout)
            ),
        ),
    }
}

/// `sh -c CMD` with `env` added, stdin closed, stdout and stderr piped and the
/// child killed when dropped: how an operator's command is run (gate commands
/// here, db-snapshot's `verify --check-cmd`).
pub fn shell_command(cmd: &str, env: &[(String, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Copies `from` to our stderr line by line, each line masked.
async fn forward_masked<R: tokio::io::AsyncRead + Unpin>(from: R) {
    use tokio::io::AsyncBufReadExt;
    let mut r = tokio::io::BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let masked = crate::redact::text(&String::from_utf8_lossy(&line));
                let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), masked.as_bytes());
            }
        }
    }
}

/// One alarm and its state, as CloudWatch names it (OK, ALARM, INSUFFICIENT_DATA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AlarmState {
    pub name: String,
    /// OK, ALARM or INSUFFICIENT_DATA.
    pub state: String,
}

impl AlarmState {
    pub fn firing(&self) -> bool {
        self.state == StateValue::Alarm.as_str()
    }
}

/// What one `--alarm` matched, or why it could not be read.
pub type Matched = std::result::Result<Vec<AlarmState>, String>;

/// One result per `--alarm`: fails if a matching alarm is in ALARM, or if
/// nothing matches (a typo must not pass as "no alarm firing").
pub async fn check_alarms(cw: &aws_sdk_cloudwatch::Client, specs: &[AlarmSpec]) -> Vec<GateResult> {
    read_alarms(cw, specs)
        .await
        .into_iter()
        .map(|(spec, found)| alarm_verdict(&spec, &found))
        .collect()
}

/// The alarms each spec matches: names in one call per 100, each prefix on its own.
pub async fn read_alarms(
    cw: &aws_sdk_cloudwatch::Client,
    specs: &[AlarmSpec],
) -> Vec<(AlarmSpec, Matched)> {
    let names: Vec<String> = specs
        .iter()
        .filter_map(|s| match s {
            AlarmSpec::Name(n) => Some(n.clone()),
            AlarmSpec::Prefix(_) => None,
        })
        .collect();
    let mut by_name: Result<Vec<AlarmState>> = Ok(Vec::new());
    if !names.is_empty() {
        by_name = describe(cw, Some(&names), None).await;
    }
    let mut results = Vec::new();
    for spec in specs {
        let found: Matched = match spec {
            AlarmSpec::Name(n) => by_name
                .as_ref()
                .map(|all| all.iter().filter(|a| a.name == *n).cloned().collect())
                .map_err(ToString::to_string),
            AlarmSpec::Prefix(p) => describe(cw, None, Some(p)).await.map_err(|e| e.to_string()),
        };
        results.push((spec.clone(), found));
    }
    results
}

pub fn alarm_verdict(spec: &AlarmSpec, found: &Matched) -> GateResult {
    let (passed, detail) = match found {
        Err(e) => (false, format!("could not read alarms: {e}")),
        Ok(alarms) if alarms.is_empty() => (false, "no such alarm".to_owned()),
        Ok(alarms) => {
            let firing: Vec<&str> = alarms
                .iter()
                .filter(|a| a.firing())
                .map(|a| a.name.as_str())
                .collect();
            if firing.is_empty() {
                let states: Vec<String> = alarms
                    .iter()
                    .map(|a| format!("{}={}", a.name, a.state))
                    .collect();
                (true, states.join(", "))
            } else {
                (false, format!("in ALARM: {}", firing.join(", ")))
            }
        }
    };
    GateResult {
        kind: "alarm",
        name: spec.label(),
        passed,
        detail,
    }
}

async fn describe(
    cw: &aws_sdk_cloudwatch::Client,
    names: Option<&[String]>,
    prefix: Option<&str>,
) -> Result<Vec<AlarmState>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    // DescribeAlarms takes at most 100 names per call.
    let chunks: Vec<Vec<String>> = match names {
        Some(n) => n.chunks(100).map(<[String]>::to_vec).collect(),
        None => vec![Vec::new()],
    };
    for chunk in chunks {
        loop {
            let mut req = cw
                .describe_alarms()
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .set_next_token(token.take());
            for n in &chunk {
                req = req.alarm_names(n);
            }
            if let Some(p) = prefix {
                req = req.alarm_name_prefix(p);
            }
            let o = req.send().await.aws("DescribeAlarms")?;
            for a in o.metric_alarms.unwrap_or_default() {
                if let (Some(name), Some(s)) = (a.alarm_name, a.state_value) {
                    out.push(AlarmState {
                        name,
                        state: s.as_str().to_owned(),
                    });
                }
            }
            for a in o.composite_alarms.unwrap_or_default() {
                if let (Some(name), Some(s)) = (a.alarm_name, a.state_value) {
                    out.push(AlarmState {
                        name,
                        state: s.as_str().to_owned(),
                    });
                }
            }
            match o.next_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_specs_parse() {
        assert_eq!(
            AlarmSpec::parse("api-5xx").unwrap(),
            AlarmSpec::Name("api-5xx".into())
        );
        assert_eq!(
            AlarmSpec::parse("ltc-prod-*").unwrap(),
            AlarmSpec::Prefix("ltc-prod-".into())
        );
        assert!(AlarmSpec::parse("*").is_err());
        assert!(AlarmSpec::parse("a*b").is_err());
        assert!(AlarmSpec::parse("").is_err());
    }

    #[test]
    fn alarm_verdicts_fail_closed() {
        let a = |name: &str, state: StateValue| AlarmState {
            name: name.into(),
            state: state.as_str().into(),
        };
        let spec = AlarmSpec::Prefix("api-".into());
        let ok = alarm_verdict(
            &spec,
            &Ok(vec![
                a("api-5xx", StateValue::Ok),
                a("api-latency", StateValue::InsufficientData),
            ]),
        );
        assert!(ok.passed, "{ok:?}");
        assert_eq!(ok.detail, "api-5xx=OK, api-latency=INSUFFICIENT_DATA");
        let firing = alarm_verdict(
            &spec,
            &Ok(vec![
                a("api-5xx", StateValue::Alarm),
                a("api-latency", StateValue::Ok),
            ]),
        );
        assert!(!firing.passed);
        assert_eq!(firing.detail, "in ALARM: api-5xx");
        assert!(!alarm_verdict(&spec, &Ok(vec![])).passed);
        assert!(!alarm_verdict(&spec, &Err("denied".into())).passed);
    }

    #[tokio::test]
    async fn commands_pass_on_exit_0_only_and_see_the_environment() {
        let env = vec![("GATE_PERCENT".to_owned(), "25".to_owned())];
        let t = Duration::from_secs(10);
        assert!(run_command("true", &env, t).await.passed);
        let r = run_command("exit 3", &env, t).await;
        assert!(!r.passed);
        assert_eq!(r.detail, "exit 3");
        assert!(
            run_command("test \"$GATE_PERCENT\" = 25", &env, t)
                .await
                .passed
        );
        let slow = run_command("sleep 5", &env, Duration::from_millis(100)).await;
        assert!(!slow.passed);
        assert!(slow.detail.contains("killed"), "{}", slow.detail);
    }

    /// The child half of [`what_a_gate_command_prints_is_masked`].
    #[tokio::test]
    async fn gate_child_prints_secrets() {
        if std::env::var_os("LTC_GATE_TEST_CHILD").is_none() {
            return;
        }
        let cmd = "echo 'out: Authorization: Bearer gate-tok-12345'; \
                   echo 'err: https://ops:pa55word@hooks.example.com/x?token=abcdef123456' >&2; \
                   echo 'key AKIAIOSFODNN7EXAMPLE' >&2";
        let r = run_command(cmd, &[], Duration::from_secs(10)).await;
        assert!(r.passed, "{r:?}");
    }

    #[test]
    fn what_a_gate_command_prints_is_masked() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "gate::tests::gate_child_prints_secrets",
                "--nocapture",
            ])
            .env("LTC_GATE_TEST_CHILD", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        for secret in [
            "gate-tok-12345",
            "pa55word",
            "abcdef123456",
            "AKIAIOSFODNN7EXAMPLE",
        ] {
            assert!(!err.contains(secret), "{secret} leaked:\n{err}");
        }
        // Forwarded, masked, nothing on our stdout but the test harness's.
        assert!(err.contains("out: Authorization: Bearer ***"), "{err}");
        assert!(err.contains("hooks.example.com"), "{err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("Authorization"));
    }
}
