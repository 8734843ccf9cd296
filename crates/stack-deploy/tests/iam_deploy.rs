//! `stack-deploy policy` for `deploy` (direct, own credentials, a stack
//! created, the bootstrap version checked), `status`, `plan` and `watch`,
//! proven against an emulator that enforces IAM: the command succeeds as a
//! user holding only the printed policy, and with any one action removed it
//! fails (exit 3, the action named) and changes nothing, except for the
//! actions asserted by name as not needed on the path tested (with reasons).
//!
//! The assembly is a small one written here, its template without spaces:
//! moto checks a signature over the form body it re-encodes itself (a space
//! becomes `+`, the SDK sends `%20`), so a request carrying a space fails
//! with `SignatureDoesNotMatch` under enforcement (docs/notes/emulator.md).
#![allow(clippy::unwrap_used)] // test helpers: a failed fixture step should panic

use std::path::Path;

use assert_cmd::cargo::cargo_bin;
use testkit::iam::{Case, EnforcingGuard, check_denials, run_case, state_env};

const STACK: &str = "Ltc-Iam-staging";
const BOOTSTRAP_PARAM: &str = "/cdk-bootstrap/hnb659fds/version";
const TEMPLATE: &str = r#"{"Resources":{"Topic":{"Type":"AWS::SNS::Topic"}}}"#;

fn assembly(dir: &Path) {
    let manifest = serde_json::json!({
        "version": "55.0.0",
        "artifacts": {
            STACK: {
                "type": "aws:cloudformation:stack",
                "environment": "aws://123456789012/ap-northeast-1",
                "properties": {
                    "templateFile": format!("{STACK}.template.json"),
                    "tags": {"Environment": "staging"},
                    // As cdk synth writes them: deploy checks the bootstrap
                    // version (ssm:GetParameter) before any stack starts.
                    "requiresBootstrapStackVersion": 6,
                    "bootstrapStackVersionSsmParameter": BOOTSTRAP_PARAM
                },
                "displayName": STACK
            }
        }
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    std::fs::write(dir.join(format!("{STACK}.template.json")), TEMPLATE).unwrap();
}

fn seed(emu: &EnforcingGuard) {
    emu.state_bucket();
    emu.boto(&[serde_json::json!(["ssm", "put_parameter", {
        "Name": BOOTSTRAP_PARAM,
        "Value": "21",
        "Type": "String",
    }])]);
}

fn seed_deployed(emu: &EnforcingGuard) {
    seed(emu);
    emu.aws(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        STACK,
        "--template-body",
        TEMPLATE,
    ]);
}

fn stacks(emu: &EnforcingGuard) -> Vec<String> {
    let v = emu.aws(&["cloudformation", "describe-stacks"]);
    v["Stacks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    format!(
                        "{} {}",
                        s["StackName"].as_str().unwrap_or_default(),
                        s["StackStatus"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn args(dir: &Path, a: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    out.extend([
        "--app".to_owned(),
        dir.display().to_string(),
        STACK.to_owned(),
    ]);
    out
}

#[test]
fn deploy_runs_on_its_printed_policy_and_each_action_is_needed_or_named() {
    let dir = tempfile::tempdir().unwrap();
    assembly(dir.path());
    let case = Case {
        binary: cargo_bin("stack-deploy"),
        args: args(
            dir.path(),
            &[
                "deploy",
                "--no-assume-role",
                "--method",
                "direct",
                "--timeout",
                "2m",
            ],
        ),
        env: state_env(),
        seed: &seed,
        done: &|emu| {
            assert_eq!(stacks(emu), vec![format!("{STACK} CREATE_COMPLETE")]);
            assert!(!emu.any_lock_left());
        },
        untouched: &|emu| {
            let s = stacks(emu);
            if !s.is_empty() {
                return Err(format!("stacks now {s:?}"));
            }
            if emu.any_lock_left() {
                return Err("run lock left behind".into());
            }
            Ok(())
        },
    };
    let outcome = run_case(&case);
    eprintln!("stack-deploy deploy:\n{}", outcome.table());
    check_denials(
        &outcome,
        &[
            // Following the stack's events is best effort: warned, the
            // stack's status is still followed (stack.rs `wait_stack`).
            "cloudformation:DescribeStackEvents",
            // Read only for a stack that exists (its template before the
            // change is recorded); this one is created.
            "cloudformation:GetTemplate",
            // The stack does not exist: CreateStack, not UpdateStack.
            "cloudformation:UpdateStack",
            // A lock that cannot be released is one warning (docs/notes/policy.md).
            "s3:DeleteObject",
            // Needed on AWS only: the run's record is read before it is
            // written, and AWS answers a missing key 403 without it; moto
            // answers 404 whoever asks.
            "s3:ListBucket",
        ],
    );
}

#[test]
fn status_and_plan_run_on_their_printed_policies_and_every_action_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    assembly(dir.path());
    for sub in [&["status"][..], &["plan", "--no-assume-role"][..]] {
        let case = Case {
            binary: cargo_bin("stack-deploy"),
            args: args(dir.path(), sub),
            env: state_env(),
            seed: &seed_deployed,
            done: &|_| {},
            untouched: &|emu| {
                let s = stacks(emu);
                if s == [format!("{STACK} CREATE_COMPLETE")] {
                    Ok(())
                } else {
                    Err(format!("stacks now {s:?}"))
                }
            },
        };
        let outcome = run_case(&case);
        eprintln!("stack-deploy {sub:?}:\n{}", outcome.table());
        check_denials(&outcome, &[]);
        assert!(
            !outcome.printed.to_string().contains("DescribeStackEvents"),
            "{sub:?} follows no events: {}",
            outcome.printed
        );
    }
}

#[test]
fn watch_runs_on_its_printed_policy_and_only_the_events_are_best_effort() {
    let case = Case {
        binary: cargo_bin("stack-deploy"),
        args: [STACK, "--timeout", "1m"]
            .iter()
            .fold(vec!["watch".to_owned()], |mut v, a| {
                v.push((*a).to_owned());
                v
            }),
        env: state_env(),
        seed: &seed_deployed,
        done: &|_| {},
        untouched: &|emu| {
            let s = stacks(emu);
            if s == [format!("{STACK} CREATE_COMPLETE")] {
                Ok(())
            } else {
                Err(format!("stacks now {s:?}"))
            }
        },
    };
    let outcome = run_case(&case);
    eprintln!("stack-deploy watch:\n{}", outcome.table());
    // The events are best effort: one warning naming the action, and the
    // stack's status is still followed (stack.rs `wait_stack`).
    check_denials(&outcome, &["cloudformation:DescribeStackEvents"]);
    let events = &outcome.denials[0];
    assert!(
        events.names_action && events.line.starts_with("warning:"),
        "{}",
        outcome.table()
    );
}

/// The template a second deploy puts in place (no spaces either).
const TEMPLATE_2: &str =
    r#"{"Resources":{"Topic":{"Type":"AWS::SNS::Topic"},"Topic2":{"Type":"AWS::SNS::Topic"}}}"#;

/// The deployed template of the stack.
fn template(emu: &EnforcingGuard) -> String {
    let v = emu.aws(&["cloudformation", "get-template", "--stack-name", STACK]);
    v["TemplateBody"].to_string()
}

#[test]
fn revert_runs_on_its_printed_policy_and_each_action_is_needed_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().to_owned();
    // Run deploy-1 creates the stack, run deploy-2 adds Topic2: the record of
    // deploy-2 holds the first template, which the revert puts back.
    let seed_two_runs = |emu: &EnforcingGuard| {
        seed(emu);
        let deploy = ["deploy", "--no-assume-role", "--method", "direct"];
        let mut a: Vec<String> = args(&app, &deploy);
        a.extend(["--timeout".to_owned(), "2m".to_owned()]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        for (run, body) in [("deploy-1", TEMPLATE), ("deploy-2", TEMPLATE_2)] {
            assembly(&app);
            std::fs::write(app.join(format!("{STACK}.template.json")), body).unwrap();
            let mut env = state_env();
            env.push(("LTC_RUN_ID".into(), run.into()));
            emu.run_open(&cargo_bin("stack-deploy"), &a, &env);
        }
        assert!(template(emu).contains("Topic2"), "{}", template(emu));
    };
    let case = Case {
        binary: cargo_bin("stack-deploy"),
        args: args(
            &app,
            &[
                "revert",
                "--run",
                "deploy-2",
                "--no-assume-role",
                "--method",
                "direct",
                "--timeout",
                "2m",
            ],
        ),
        env: state_env(),
        seed: &seed_two_runs,
        done: &|emu| {
            assert_eq!(stacks(emu), vec![format!("{STACK} UPDATE_COMPLETE")]);
            let t = template(emu);
            assert!(t.contains("Topic") && !t.contains("Topic2"), "{t}");
            assert!(!emu.any_lock_left());
        },
        untouched: &|emu| {
            let s = stacks(emu);
            if s != [format!("{STACK} UPDATE_COMPLETE")] {
                return Err(format!("stacks now {s:?}"));
            }
            let t = template(emu);
            if !t.contains("Topic2") {
                return Err(format!("template now {t}"));
            }
            if emu.any_lock_left() {
                return Err("run lock left behind".into());
            }
            Ok(())
        },
    };
    let outcome = run_case(&case);
    eprintln!("stack-deploy revert:\n{}", outcome.table());
    check_denials(
        &outcome,
        &[
            // Following the stack's events is best effort, as in deploy
            // (the revert goes through the deploy's per-stack path).
            "cloudformation:DescribeStackEvents",
            // A lock that cannot be released is one warning (docs/notes/policy.md).
            "s3:DeleteObject",
        ],
    );
    // The journal is written, never read (revert.rs): PutObject is the only
    // grant on it, and it is not listed.
    for st in outcome.printed["Statement"].as_array().unwrap() {
        let on_journal = st.to_string().contains("/journal/");
        if on_journal {
            assert_eq!(st["Action"], serde_json::json!(["s3:PutObject"]), "{st}");
        }
    }
}
