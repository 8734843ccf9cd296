//! Operator command gates (`sh -c`, e.g. `psql -c 'select 1'`): exit 0 passes,
//! anything else (or the timeout) fails. Secrets (values of `${..PASSWORD..}`-like
//! variables and the gate's `mask` list) are shown as `***` in the query and in
//! the excerpt of the command's output.

use std::process::Stdio;
use std::time::Duration;

use crate::evaluate::Observation;

/// `text` with every secret replaced by `***` (longest first, so a secret that
/// contains another is masked whole).
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for s in sorted {
        out = out.replace(s.as_str(), "***");
    }
    out
}

pub fn describe_gate(command: &str, secrets: &[String]) -> String {
    format!("sh -c {}", mask(command, secrets))
}

/// The last ~200 characters of what the command printed, masked, on one line.
fn excerpt(bytes: &[u8], secrets: &[String]) -> String {
    let text = mask(&String::from_utf8_lossy(bytes), secrets);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let n = flat.chars().count();
    if n > 200 {
        format!("...{}", flat.chars().skip(n - 200).collect::<String>())
    } else {
        flat
    }
}

pub async fn evaluate(command: &str, secrets: &[String], timeout: Duration) -> Observation {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Observation::NoData(format!("could not start sh: {e}")),
    };
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let mut printed = out.stdout;
            printed.extend_from_slice(&out.stderr);
            let said = excerpt(&printed, secrets);
            let said = if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            };
            match out.status.code() {
                Some(0) => Observation::Pass {
                    value: Some(0.0),
                    detail: format!("exit 0{said}"),
                },
                Some(c) => Observation::Fail {
                    value: Some(f64::from(c)),
                    detail: format!("exit {c}{said}"),
                },
                None => Observation::Fail {
                    value: None,
                    detail: format!("ended by a signal ({}){said}", out.status),
                },
            }
        }
        Ok(Err(e)) => Observation::NoData(format!("could not wait for the command: {e}")),
        // Dropping the future kills the child (kill_on_drop).
        Err(_) => Observation::Fail {
            value: None,
            detail: format!(
                "still running after {}; killed",
                common::duration::format_duration(timeout)
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_longest_first() {
        let s = vec!["pw".to_owned(), "pw-long".to_owned()];
        assert_eq!(mask("a=pw-long b=pw", &s), "a=*** b=***");
    }

    #[tokio::test]
    async fn exit_codes_and_output_are_reported_masked() {
        let secrets = vec!["s3cr3t".to_owned()];
        let ok = evaluate(
            "echo connected with s3cr3t",
            &secrets,
            Duration::from_secs(10),
        )
        .await;
        assert!(
            matches!(&ok, Observation::Pass { detail, .. } if detail == "exit 0: connected with ***"),
            "{ok:?}"
        );
        let bad = evaluate(
            "echo 'FATAL: password s3cr3t rejected' >&2; exit 2",
            &secrets,
            Duration::from_secs(10),
        )
        .await;
        assert!(
            matches!(&bad, Observation::Fail { value: Some(v), detail } if *v == 2.0 && detail == "exit 2: FATAL: password *** rejected"),
            "{bad:?}"
        );
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_fails() {
        let obs = evaluate("sleep 5", &[], Duration::from_millis(200)).await;
        assert!(
            matches!(&obs, Observation::Fail { detail, .. } if detail.contains("still running after 200ms")),
            "{obs:?}"
        );
    }
}
