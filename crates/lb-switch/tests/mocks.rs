//! What the emulator cannot produce, with SDK mocks against the real ELBv2
//! client: someone else's change landing between the shift's read and its
//! write (ELBv2 has no conditional write, so the write's own read is the
//! precondition), and throttling of the write.
#![allow(clippy::unwrap_used)] // test helpers: a failed fixture call should panic

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::config::retry::RetryConfig;
use aws_sdk_elasticloadbalancingv2::operation::describe_rules::DescribeRulesOutput;
use aws_sdk_elasticloadbalancingv2::operation::modify_listener::ModifyListenerOutput;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, Rule, TargetGroupTuple,
};
use aws_smithy_mocks::{Rule as MockRule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use common::calls::CallCounter;
use common::shift::{RevertMode, Settings};
use common::{Context, GlobalArgs, Output};
use lb_switch::elb::{Elb, Snapshot};
use lb_switch::shift::ElbTarget;
use serde_json::Value;

const L: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
const BLUE: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067";
const GREEN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/1a2b3c4d5e6f7a8b";

fn elb(rules: &[&MockRule]) -> Elb {
    let calls = CallCounter::default();
    let interceptor = calls.clone();
    let client: Client = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::MatchAny,
        rules,
        |b| b
            .interceptor(interceptor.clone())
            // What the binary gets from aws-config by default.
            .retry_config(RetryConfig::standard().with_max_attempts(3))
    );
    Elb::from_client(client, calls)
}

fn default_rule(blue: i32, green: i32) -> Rule {
    Rule::builder()
        .rule_arn(format!("{L}/default").replace(":listener/", ":listener-rule/"))
        .priority("default")
        .is_default(true)
        .actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(
                    ForwardActionConfig::builder()
                        .target_groups(
                            TargetGroupTuple::builder()
                                .target_group_arn(BLUE)
                                .weight(blue)
                                .build(),
                        )
                        .target_groups(
                            TargetGroupTuple::builder()
                                .target_group_arn(GREEN)
                                .weight(green)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .build()
}

fn described(blue: i32, green: i32) -> DescribeRulesOutput {
    DescribeRulesOutput::builder()
        .rules(default_rule(blue, green))
        .build()
}

fn snapshot(blue: i32, green: i32) -> Snapshot {
    Snapshot::from_rules(L, &[default_rule(blue, green)]).unwrap()
}

/// ELB's query-protocol error document.
fn elb_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(
        r#"<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{code} (mocked)</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#
    );
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

fn target(elb: &Elb) -> ElbTarget<'_> {
    let known: BTreeMap<String, String> = [("blue", BLUE), ("green", GREEN)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    ElbTarget {
        elb,
        listener: L.into(),
        rule: None,
        known,
        min_healthy: None,
    }
}

fn settings(steps: &[u8]) -> Settings {
    let start: common::shift::Weights = [("blue".to_owned(), 100), ("green".to_owned(), 0)]
        .into_iter()
        .collect();
    Settings {
        to: "green".into(),
        plan: common::shift::plan_shift(&start, "green", steps, 999).unwrap(),
        bake: Duration::ZERO,
        gate_cmds: vec![],
        alarms: vec![],
        revert: RevertMode::Immediate,
        fast_track: false,
        timeout: Duration::from_secs(60),
        gate_timeout: Duration::from_secs(30),
    }
}

fn context(journal: &std::path::Path, out: Output) -> Context {
    let globals = GlobalArgs {
        journal: Some(journal.to_owned()),
        ..Default::default()
    };
    Context::with_output("lb-switch", &globals, out)
}

/// A shift of `elb` from blue=100 green=0 in `steps`, journaling to
/// `j.jsonl` in `dir`: what it returned, and its stdout.
async fn shift_from_blue(
    elb: &Elb,
    dir: &tempfile::TempDir,
    steps: &[u8],
) -> (common::Result<()>, common::output::Captured) {
    let (out, stdout, _) = Output::captured(true);
    let ctx = context(&dir.path().join("j.jsonl"), out);
    let res =
        common::shift::run(&ctx, &target(elb), None, snapshot(100, 0), &settings(steps)).await;
    (res, stdout)
}

/// The shift's event lines, each validated against the published
/// docs/schema/lb-switch/shift.events.schema.json.
fn events(text: &str) -> Vec<Value> {
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    testkit::schema::check_events_if_published("lb-switch", "shift", &lines);
    lines
}

#[tokio::test]
async fn someone_elses_change_between_read_and_write_stops_the_shift_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    // The shift planned from blue=100; right before its write, the listener
    // reads blue=50 green=50: another operator moved traffic meanwhile.
    let read = mock!(Client::describe_rules).then_output(|| described(50, 50));
    let modify =
        mock!(Client::modify_listener).then_output(|| ModifyListenerOutput::builder().build());
    let elb = elb(&[&read, &modify]);
    let (err, stdout) = shift_from_blue(&elb, &dir, &[10, 50, 100]).await;
    let err = err.unwrap_err();
    assert_eq!(err.exit_code(), 4, "{err}");
    assert!(err.to_string().contains("changed by someone else"), "{err}");
    assert_eq!(
        modify.num_calls(),
        0,
        "nothing was written over their change"
    );
    let summary = events(&stdout.text()).pop().unwrap();
    assert_eq!(summary["result"], "stopped-conflict");
    assert_eq!(summary["final_weights"]["green"], 50);
    let j = std::fs::read_to_string(dir.path().join("j.jsonl")).unwrap();
    assert!(j.contains("\"action\":\"lb.shift\""), "{j}");
    assert!(j.contains("\"outcome\":\"failed\""), "{j}");
}

#[tokio::test(start_paused = true)]
async fn a_throttled_write_is_retried_and_the_shift_completes() {
    let dir = tempfile::tempdir().unwrap();
    let read = mock!(Client::describe_rules)
        .sequence()
        .output(|| described(100, 0))
        .build();
    let modify = mock!(Client::modify_listener)
        .sequence()
        .http_response(|| elb_error(400, "Throttling"))
        .output(|| ModifyListenerOutput::builder().build())
        .build();
    let elb = elb(&[&read, &modify]);
    let (res, stdout) = shift_from_blue(&elb, &dir, &[100]).await;
    res.unwrap();
    let calls = elb.calls.by_service_operation();
    assert_eq!(
        calls["elasticloadbalancingv2:ModifyListener"], 2,
        "{calls:?}"
    );
    assert_eq!(
        calls["elasticloadbalancingv2:DescribeRules"], 1,
        "{calls:?}"
    );
    let summary = events(&stdout.text()).pop().unwrap();
    assert_eq!(summary["result"], "completed");
    assert_eq!(summary["elbv2_calls"], 3);
}

#[tokio::test(start_paused = true)]
async fn a_write_whose_answer_is_lost_but_went_through_counts_as_applied() {
    let dir = tempfile::tempdir().unwrap();
    // Before the write: the start; after the failed write: our weights are live.
    let read = mock!(Client::describe_rules)
        .sequence()
        .output(|| described(100, 0))
        .output(|| described(0, 100))
        .build();
    let modify =
        mock!(Client::modify_listener).then_http_response(|| elb_error(503, "ServiceUnavailable"));
    let elb = elb(&[&read, &modify]);
    let (res, stdout) = shift_from_blue(&elb, &dir, &[100]).await;
    res.unwrap();
    let summary = events(&stdout.text()).pop().unwrap();
    assert_eq!(summary["result"], "completed", "{summary}");
    assert_eq!(summary["final_weights"]["green"], 100);
}
