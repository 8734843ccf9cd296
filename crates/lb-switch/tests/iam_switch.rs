//! `lb-switch policy` proven against an emulator that enforces IAM (moto
//! checks `elasticloadbalancing:*` actions): `shift` of a listener named by
//! load balancer and port succeeds as a user holding only the printed policy,
//! and with any one action removed it fails (exit 3, or 6 for the denied step,
//! the action named) and changes nothing, except for the actions asserted by name
//! as not needed on the path tested (with reasons). Plus the shape of the
//! printed documents (scoped writes, no write on a dry run).
#![allow(clippy::unwrap_used)] // test helpers: a failed fixture step should panic

use std::process::Command;

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;
use testkit::iam::{Case, EnforcingGuard, actions, run_case};

const STATE: &str = "s3://ltc-state/team";

/// Load balancer `web`, target groups blue and green, a listener on port 80
/// forwarding blue 100 / green 0.
fn seed(emu: &EnforcingGuard) {
    emu.aws(&[
        "s3api",
        "create-bucket",
        "--bucket",
        "ltc-state",
        "--create-bucket-configuration",
        "LocationConstraint=ap-northeast-1",
    ]);
    let subnets = emu.aws(&[
        "ec2",
        "describe-subnets",
        "--filters",
        "Name=default-for-az,Values=true",
    ]);
    let subnets: Vec<&Value> = subnets["Subnets"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .collect();
    let vpc = subnets[0]["VpcId"].as_str().unwrap().to_owned();
    let ids: Vec<String> = subnets
        .iter()
        .map(|s| s["SubnetId"].as_str().unwrap().to_owned())
        .collect();
    let lb = emu.aws(&[
        "elbv2",
        "create-load-balancer",
        "--name",
        "web",
        "--subnets",
        &ids[0],
        &ids[1],
    ]);
    let lb = lb["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let tg = |name: &str| {
        let v = emu.aws(&[
            "elbv2",
            "create-target-group",
            "--name",
            name,
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--vpc-id",
            &vpc,
        ]);
        v["TargetGroups"][0]["TargetGroupArn"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (blue, green) = (tg("blue"), tg("green"));
    let action = serde_json::json!([{
        "Type": "forward",
        "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": blue, "Weight": 100},
            {"TargetGroupArn": green, "Weight": 0}
        ]}
    }]);
    emu.aws(&[
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        &lb,
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--default-actions",
        &action.to_string(),
    ]);
}

fn listener(emu: &EnforcingGuard) -> Value {
    let lb = emu.aws(&["elbv2", "describe-load-balancers", "--names", "web"]);
    let arn = lb["LoadBalancers"][0]["LoadBalancerArn"].as_str().unwrap();
    emu.aws(&["elbv2", "describe-listeners", "--load-balancer-arn", arn])["Listeners"][0].clone()
}

/// (target group name, weight) of the listener's default forward action.
fn weights(emu: &EnforcingGuard) -> Vec<(String, i64)> {
    let l = listener(emu);
    let mut out: Vec<(String, i64)> = l["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let arn = t["TargetGroupArn"].as_str().unwrap_or_default();
            let name = arn.split('/').nth(1).unwrap_or_default().to_owned();
            (name, t["Weight"].as_i64().unwrap_or(-1))
        })
        .collect();
    out.sort();
    out
}

/// Priorities of the listener's non-default rules.
fn rules(emu: &EnforcingGuard) -> Vec<String> {
    let arn = listener(emu)["ListenerArn"].as_str().unwrap().to_owned();
    let v = emu.aws(&["elbv2", "describe-rules", "--listener-arn", &arn]);
    v["Rules"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|r| r["IsDefault"] != true)
        .map(|r| r["Priority"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn lock_left(emu: &EnforcingGuard) -> bool {
    let v = emu.aws(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        "ltc-state",
        "--prefix",
        "team/staging/lock.json",
    ]);
    v["KeyCount"].as_i64().unwrap_or(0) > 0
}

fn untouched(emu: &EnforcingGuard) -> Result<(), String> {
    let w = weights(emu);
    if w != [("blue".to_owned(), 100), ("green".to_owned(), 0)] {
        return Err(format!("weights now {w:?}"));
    }
    let r = rules(emu);
    if !r.is_empty() {
        return Err(format!("rules added: {r:?}"));
    }
    if lock_left(emu) {
        return Err("run lock left behind".into());
    }
    Ok(())
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn shift_runs_on_its_printed_policy_and_every_action_is_needed() {
    let case = Case {
        binary: cargo_bin("lb-switch"),
        args: args(&[
            "shift",
            "--load-balancer",
            "web",
            "--port",
            "80",
            "--to",
            "green",
            "--steps",
            "100",
            "--bake",
            "0s",
            "--env",
            "staging",
        ]),
        env: vec![("LTC_STATE".into(), STATE.into())],
        seed: &seed,
        done: &|emu| {
            assert_eq!(
                weights(emu),
                vec![("blue".to_owned(), 0), ("green".to_owned(), 100)]
            );
            assert!(!lock_left(emu));
        },
        untouched: &untouched,
    };
    let outcome = run_case(&case);
    eprintln!("lb-switch shift:\n{}", outcome.table());
    // DescribeTargetGroups: looked up only when --to is not in the forward
    // action yet (green is). GetObject: the lock is read only when someone
    // holds it. DeleteObject: a lock that cannot be released is a warning
    // naming `run-state lock break` (the shift is done).
    // ModifyListener denied at the first step: nothing was changed, so it is the
    // AWS error's exit 3 like every other denial (it was 6, "reverted", before the
    // shift engine's fix of 2026-12-02, 8ee46b6).
    assert_eq!(
        outcome.not_needed(),
        [
            "elasticloadbalancing:DescribeTargetGroups",
            "s3:DeleteObject",
            "s3:GetObject",
        ],
        "{}",
        outcome.table()
    );
    for d in outcome.denials.iter().filter(|d| d.code != Some(0)) {
        assert_eq!(d.code, Some(3), "{}", outcome.table());
        assert!(d.names_action, "{}", outcome.table());
        assert!(d.untouched.is_ok(), "{}", outcome.table());
    }
}

fn printed(a: &[&str]) -> Value {
    let mut cmd = Command::new(cargo_bin("lb-switch"));
    for (k, v) in testkit::offline_env() {
        cmd.env(k, v);
    }
    let out = cmd
        .env_remove("LTC_STATE")
        .env_remove("LTC_ACCOUNT_ID")
        .arg("policy")
        .args(a)
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    testkit::json_stdout(&out)
}

#[test]
fn printed_policies_scope_writes_to_the_listener_and_its_rules() {
    let listener = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
    let doc = printed(&["undo", "--listener", listener]);
    assert_eq!(doc["Version"], "2012-10-17");
    let rules = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/*";
    for s in doc["Statement"].as_array().unwrap() {
        let acts: Vec<&str> = s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let res: Vec<&str> = s["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        if acts
            .iter()
            .any(|a| a.starts_with("elasticloadbalancing:Describe"))
        {
            assert_eq!(res, ["*"], "{s}");
        } else if acts.contains(&"elasticloadbalancing:DeleteRule") {
            assert_eq!(res, [rules], "{s}");
        } else if acts.contains(&"elasticloadbalancing:ModifyListener") {
            assert_eq!(res, [listener], "{s}");
        }
    }
    assert_eq!(
        actions(&doc),
        [
            "elasticloadbalancing:CreateRule",
            "elasticloadbalancing:DeleteRule",
            "elasticloadbalancing:DescribeRules",
            "elasticloadbalancing:ModifyListener",
            "elasticloadbalancing:ModifyRule",
            "elasticloadbalancing:SetRulePriorities",
        ]
    );
    // A dry run writes nothing; alarms add CloudWatch; health is one read.
    let dry = printed(&[
        "shift",
        "--listener",
        listener,
        "--to",
        "green",
        "--alarm",
        "web-5xx",
        "--dry-run",
    ]);
    assert_eq!(
        actions(&dry),
        [
            "cloudwatch:DescribeAlarms",
            "elasticloadbalancing:DescribeRules",
            "elasticloadbalancing:DescribeTargetGroups",
        ]
    );
    let health = printed(&[
        "health",
        "--target-group",
        "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/blue/0123456789abcdef",
    ]);
    assert_eq!(
        actions(&health),
        ["elasticloadbalancing:DescribeTargetHealth"]
    );
    // A bad command line after `policy` is exit 2, nothing printed.
    let mut cmd = Command::new(cargo_bin("lb-switch"));
    let out = cmd
        .envs(testkit::offline_env())
        .args(["policy", "shift", "--to", "green"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
