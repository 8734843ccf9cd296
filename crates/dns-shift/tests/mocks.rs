//! What the emulator cannot show (it answers INSYNC at once and never
//! throttles): changes that stay PENDING, PriorRequestNotComplete, throttling,
//! and a revert that fails. The real SDK client runs with `aws-smithy-mocks`
//! answering in place of Route 53; time is paused, so backoffs cost nothing.
#![allow(clippy::unwrap_used)] // test helpers: a failed fixture should panic

use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::config::retry::RetryConfig;
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
use aws_sdk_route53::operation::get_change::GetChangeOutput;
use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
use aws_sdk_route53::types::{
    ChangeAction, ChangeInfo, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::DateTime;
use aws_smithy_types::body::SdkBody;
use common::output::Captured;
use common::{Context, GlobalArgs, Output};
use dns_shift::route53::{CallCounter, RecordGroup, Route53};
use dns_shift::shift::{RevertMode, ShiftOptions, shift};
use serde_json::Value;

fn r53(mode: RuleMode, rules: &[&Rule]) -> Route53 {
    let calls = CallCounter::default();
    let interceptor = calls.clone();
    let client: Client = mock_client!(aws_sdk_route53, mode, rules, |b| b
        .interceptor(interceptor.clone())
        // What the binary gets from aws-config by default.
        .retry_config(RetryConfig::standard().with_max_attempts(3)));
    Route53::from_client(client, calls)
}

fn quiet() -> (Output, Captured, Captured) {
    Output::captured(true)
}

fn info(status: ChangeStatus) -> ChangeInfo {
    ChangeInfo::builder()
        .id("/change/C1")
        .status(status)
        .submitted_at(DateTime::from_secs(0))
        .build()
        .unwrap()
}

fn get_change(status: ChangeStatus) -> GetChangeOutput {
    GetChangeOutput::builder().change_info(info(status)).build()
}

fn change_ok() -> ChangeResourceRecordSetsOutput {
    ChangeResourceRecordSetsOutput::builder()
        .change_info(info(ChangeStatus::Pending))
        .build()
}

/// Route 53's error document, as the real service sends it.
fn route53_error(code: &str) -> HttpResponse {
    route53_error_with(code, &format!("{code} (mocked)"))
}

fn route53_error_with(code: &str, message: &str) -> HttpResponse {
    let body = format!(
        r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#
    );
    HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body))
}

/// What AWS answers a conditional batch whose DELETE no longer matches the
/// record (since 2024 in the standard ErrorResponse, see aws-sdk-kotlin#1435).
fn delete_does_not_match() -> HttpResponse {
    route53_error_with(
        "InvalidChangeBatch",
        "[Tried to delete resource record set [name='www.example.com.', type='CNAME', set-identifier='blue'] but the values provided do not match the current values]",
    )
}

fn batch() -> aws_sdk_route53::types::ChangeBatch {
    let g = group(START);
    let mut w = g.weights();
    w.insert("blue".into(), 90);
    w.insert("green".into(), 10);
    g.change_batch(&w, "test").unwrap()
}

/// ListResourceRecordSets answering these weighted sets.
fn listed(weights: &[(&str, i64)]) -> ListResourceRecordSetsOutput {
    ListResourceRecordSetsOutput::builder()
        .set_resource_record_sets(Some(weights.iter().map(|(id, w)| rrset(id, *w)).collect()))
        .is_truncated(false)
        .max_items(300)
        .build()
        .unwrap()
}

fn rrset(id: &str, weight: i64) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name("www.example.com.")
        .r#type(RrType::Cname)
        .set_identifier(id)
        .weight(weight)
        .ttl(60)
        .resource_records(
            ResourceRecord::builder()
                .value(format!("{id}.example.net"))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// The weights every shift here starts from.
const START: &[(&str, i64)] = &[("blue", 100), ("green", 0), ("maintenance", 0)];

fn group(weights: &[(&str, i64)]) -> RecordGroup {
    RecordGroup {
        zone_id: "Z1".into(),
        name: "www.example.com.".into(),
        rtype: RrType::Cname,
        sets: weights.iter().map(|(id, w)| rrset(id, *w)).collect(),
    }
}

#[tokio::test(start_paused = true)]
async fn pending_then_insync_polls_with_growing_intervals() {
    let rule = mock!(Client::get_change)
        .sequence()
        .output(|| get_change(ChangeStatus::Pending))
        .times(2)
        .output(|| get_change(ChangeStatus::Insync))
        .build();
    let r53 = r53(RuleMode::Sequential, &[&rule]);
    let (out, _, err) = quiet();
    let started = tokio::time::Instant::now();
    r53.wait_insync(
        &out,
        "/change/C1",
        Duration::from_secs(60),
        "dns-shift show ...",
    )
    .await
    .unwrap();
    assert_eq!(r53.calls.by_service_operation()["route53:GetChange"], 3);
    // First look at once, then 250 ms, then 375 ms.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(625) && waited < Duration::from_millis(700),
        "{waited:?}"
    );
    assert!(err.text().contains("PENDING"), "{}", err.text());
}

#[tokio::test(start_paused = true)]
async fn a_change_that_stays_pending_times_out_with_exit_5_and_a_reattach_command() {
    let rule = mock!(Client::get_change)
        .sequence()
        .output(|| get_change(ChangeStatus::Pending))
        .repeatedly()
        .build();
    let r53 = r53(RuleMode::Sequential, &[&rule]);
    let (out, _, _) = quiet();
    let err = r53
        .wait_insync(
            &out,
            "/change/C1",
            Duration::from_secs(120),
            "dns-shift show --zone Z1",
        )
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 5);
    assert!(
        err.to_string().contains("dns-shift show --zone Z1"),
        "{err}"
    );
    // Adaptive: quick looks first, then at most one every 10 s.
    let polls = r53.calls.by_service_operation()["route53:GetChange"];
    assert!((15..=25).contains(&polls), "{polls} polls in 2 minutes");
}

#[tokio::test(start_paused = true)]
async fn prior_request_not_complete_is_retried_by_the_sdk() {
    // Two refusals, then accepted: the SDK's own retry policy (standard mode,
    // 3 attempts here) classifies PriorRequestNotComplete as throttling and
    // sends it again; dns-shift has no retry loop of its own (issue 17).
    let rule = mock!(Client::change_resource_record_sets)
        .sequence()
        .http_response(|| route53_error("PriorRequestNotComplete"))
        .times(2)
        .output(change_ok)
        .build();
    let r53 = r53(RuleMode::Sequential, &[&rule]);
    let id = r53.send_batch("Z1", batch()).await.unwrap();
    assert_eq!(id, "/change/C1");
    assert_eq!(
        r53.calls.by_service_operation()["route53:ChangeResourceRecordSets"],
        3
    );
}

#[tokio::test(start_paused = true)]
async fn prior_request_not_complete_forever_gives_up_with_exit_3() {
    let rule = mock!(Client::change_resource_record_sets)
        .sequence()
        .http_response(|| route53_error("PriorRequestNotComplete"))
        .repeatedly()
        .build();
    let r53 = r53(RuleMode::Sequential, &[&rule]);
    let err = r53.send_batch("Z1", batch()).await.unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("PriorRequestNotComplete"), "{err}");
    // Exactly the SDK's attempts (was 6 x 3 = 18 with the hand loop on top).
    assert_eq!(
        r53.calls.by_service_operation()["route53:ChangeResourceRecordSets"],
        3
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_for_changes_and_while_waiting() {
    let change = mock!(Client::change_resource_record_sets)
        .sequence()
        .http_response(|| route53_error("Throttling"))
        .times(2)
        .output(change_ok)
        .build();
    // Three throttled answers exhaust one SDK call; the poll loop backs off
    // and looks again instead of failing.
    let poll = mock!(Client::get_change)
        .sequence()
        .http_response(|| route53_error("Throttling"))
        .times(3)
        .output(|| get_change(ChangeStatus::Insync))
        .build();
    let r53 = r53(RuleMode::MatchAny, &[&change, &poll]);
    let (out, _, err) = quiet();
    let id = r53.send_batch("Z1", batch()).await.unwrap();
    r53.wait_insync(&out, &id, Duration::from_secs(60), "x")
        .await
        .unwrap();
    let calls = r53.calls.by_service_operation();
    assert_eq!(calls["route53:ChangeResourceRecordSets"], 3);
    assert_eq!(calls["route53:GetChange"], 4);
    assert!(err.text().contains("throttled"), "{}", err.text());
}

fn options(gate: String) -> ShiftOptions {
    ShiftOptions {
        to: "green".into(),
        steps: vec![10, 25, 50, 100],
        bake: Duration::ZERO,
        gate_cmds: vec![gate],
        alarms: vec![],
        health_check: false,
        revert: RevertMode::Immediate,
        fast_track: false,
        timeout: Duration::from_secs(60),
        gate_timeout: Duration::from_secs(30),
    }
}

/// A gate that passes the first time and fails from then on.
fn second_time_fails(dir: &tempfile::TempDir) -> String {
    format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; [ $n -lt 2 ]",
        c = dir.path().join("n").display()
    )
}

fn context(journal: &std::path::Path, out: Output) -> Context {
    let globals = GlobalArgs {
        journal: Some(journal.to_owned()),
        ..Default::default()
    };
    Context::with_output("dns-shift", &globals, out)
}

/// A context journaling to `j.jsonl` in `dir`, and that journal's path.
fn context_in(dir: &tempfile::TempDir, out: Output) -> (std::path::PathBuf, Context) {
    let journal = dir.path().join("j.jsonl");
    let ctx = context(&journal, out);
    (journal, ctx)
}

#[tokio::test]
async fn a_revert_that_fails_exits_7_and_prints_the_live_weights() {
    let dir = tempfile::tempdir().unwrap();
    // Step 1 goes through; the revert is refused.
    let change = mock!(Client::change_resource_record_sets)
        .sequence()
        .output(change_ok)
        .http_response(|| route53_error("InvalidChangeBatch"))
        .build();
    let poll = mock!(Client::get_change).then_output(|| get_change(ChangeStatus::Insync));
    // Right before step 1: the start; after the failed revert: step 1's weights.
    let list = mock!(Client::list_resource_record_sets)
        .sequence()
        .output(|| listed(START))
        .output(|| listed(&[("blue", 90), ("green", 10), ("maintenance", 0)]))
        .repeatedly()
        .build();
    let r53 = r53(RuleMode::MatchAny, &[&change, &poll, &list]);
    let (out, stdout, _) = quiet();
    let (journal, ctx) = context_in(&dir, out);
    let start = group(START);
    let err = shift(&ctx, &r53, None, start, &options(second_time_fails(&dir)))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 7, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("FAILED"), "{msg}");
    assert!(msg.contains("InvalidChangeBatch"), "{msg}");
    assert!(
        msg.contains("live weights of www.example.com. now: blue=90 green=10 maintenance=0"),
        "{msg}"
    );
    let lines = events(&stdout);
    let summary = lines.last().unwrap();
    assert_eq!(summary["result"], "revert-failed");
    assert_eq!(summary["final_weights"]["blue"], 90);
    assert_eq!(summary["final_weights"]["green"], 10);
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "revert" && l["ok"] == false)
    );
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(j.contains("\"outcome\":\"revert-failed\""), "{j}");
}

#[tokio::test]
async fn a_revert_after_a_pending_step_restores_the_start_and_exits_6() {
    let dir = tempfile::tempdir().unwrap();
    // Step 1 needs two looks before INSYNC; the revert goes through.
    let change = mock!(Client::change_resource_record_sets)
        .sequence()
        .output(change_ok)
        .times(2)
        .build();
    let poll = mock!(Client::get_change)
        .sequence()
        .output(|| get_change(ChangeStatus::Pending))
        .output(|| get_change(ChangeStatus::Insync))
        .repeatedly()
        .build();
    let list = mock!(Client::list_resource_record_sets).then_output(|| listed(START));
    let r53 = r53(RuleMode::MatchAny, &[&change, &poll, &list]);
    let (out, stdout, _) = quiet();
    let ctx = context(&dir.path().join("j.jsonl"), out);
    let start = group(START);
    let err = shift(&ctx, &r53, None, start, &options(second_time_fails(&dir)))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 6, "{err}");
    let calls = r53.calls.by_service_operation();
    assert_eq!(calls["route53:ChangeResourceRecordSets"], 2);
    assert_eq!(calls["route53:GetChange"], 3);
    // The fresh read right before step 1, the check that nobody else changed the
    // record before reverting, and the read-back that confirms the revert.
    assert_eq!(calls["route53:ListResourceRecordSets"], 3);
    assert!(stdout.text().contains("\"result\":\"reverted\""));
}

fn no_gates() -> ShiftOptions {
    ShiftOptions {
        gate_cmds: vec![],
        ..options(String::new())
    }
}

/// The shift's event lines, each validated against the published
/// docs/schema/dns-shift/shift.events.schema.json.
fn events(stdout: &Captured) -> Vec<Value> {
    let lines: Vec<Value> = stdout
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    testkit::schema::check_events_if_published("dns-shift", "shift", &lines);
    lines
}

/// The `dns.shift` outcome line of the journal.
fn shift_outcome(journal: &std::path::Path) -> Value {
    std::fs::read_to_string(journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .rfind(|e| e["action"] == "dns.shift" && e["phase"] == "outcome")
        .unwrap()
}

#[tokio::test]
async fn a_shift_that_loses_the_race_before_the_first_step_stops_with_the_other_writers_weights() {
    let dir = tempfile::tempdir().unwrap();
    // Between our read (blue=100) and our first write, a second operator put the
    // site into maintenance: Route 53 rejects our conditional batch as a whole.
    let change = mock!(Client::change_resource_record_sets)
        .match_requests(|req| {
            // The batch deletes every set exactly as read, then creates it.
            let changes = &req.change_batch().unwrap().changes;
            changes.len() == 4
                && changes[0].action == ChangeAction::Delete
                && changes[0].resource_record_set.as_ref() == Some(&rrset("blue", 100))
                && changes[1].action == ChangeAction::Create
                && changes[1].resource_record_set.as_ref() == Some(&rrset("blue", 90))
        })
        .then_http_response(delete_does_not_match);
    let list = mock!(Client::list_resource_record_sets)
        .then_output(|| listed(&[("blue", 0), ("green", 0), ("maintenance", 100)]));
    let r53 = r53(RuleMode::MatchAny, &[&change, &list]);
    let (out, stdout, _) = quiet();
    let (journal, ctx) = context_in(&dir, out);
    let start = group(START);
    let err = shift(&ctx, &r53, None, start, &no_gates())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 4, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("changed by someone else while step 1"),
        "{msg}"
    );
    assert!(msg.contains("blue=0 green=0 maintenance=100"), "{msg}");
    let lines = events(&stdout);
    let summary = lines.last().unwrap();
    assert_eq!(summary["result"], "stopped-conflict");
    assert_eq!(summary["steps_applied"], 0);
    // Their weights, not a mix.
    assert_eq!(summary["final_weights"]["maintenance"], 100);
    assert_eq!(summary["final_weights"]["blue"], 0);
    assert!(lines.iter().all(|l| l["event"] != "revert"));
    let calls = r53.calls.by_service_operation();
    // One rejected batch, no revert; one read back after the rejection.
    assert_eq!(calls["route53:ChangeResourceRecordSets"], 1);
    assert_eq!(calls["route53:ListResourceRecordSets"], 1);
    assert_eq!(calls.get("route53:GetChange"), None);
    let outcome = shift_outcome(&journal);
    assert_eq!(outcome["outcome"], "failed", "{outcome}");
    assert_eq!(outcome["after"]["weights"]["maintenance"], 100, "{outcome}");
}

#[tokio::test]
async fn a_shift_that_loses_the_race_after_step_2_does_not_revert_over_the_other_writer() {
    let dir = tempfile::tempdir().unwrap();
    // Steps 1 and 2 go through; step 3's conditional batch is rejected because a
    // second operator put the site into maintenance right after our fresh read.
    let change = mock!(Client::change_resource_record_sets)
        .sequence()
        .output(change_ok)
        .times(2)
        .http_response(delete_does_not_match)
        .build();
    let poll = mock!(Client::get_change).then_output(|| get_change(ChangeStatus::Insync));
    // The fresh reads before steps 2 and 3 show our own steps; the read after
    // the rejection shows theirs.
    let list = mock!(Client::list_resource_record_sets)
        .sequence()
        .output(|| listed(&[("blue", 90), ("green", 10), ("maintenance", 0)]))
        .output(|| listed(&[("blue", 75), ("green", 25), ("maintenance", 0)]))
        .output(|| listed(&[("blue", 0), ("green", 0), ("maintenance", 100)]))
        .repeatedly()
        .build();
    let r53 = r53(RuleMode::MatchAny, &[&change, &poll, &list]);
    let (out, stdout, _) = quiet();
    let (journal, ctx) = context_in(&dir, out);
    let start = group(START);
    let err = shift(&ctx, &r53, None, start, &no_gates())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 4, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("while step 3"), "{msg}");
    assert!(msg.contains("without reverting"), "{msg}");
    let lines = events(&stdout);
    assert_eq!(lines.iter().filter(|l| l["event"] == "step").count(), 2);
    assert!(lines.iter().all(|l| l["event"] != "revert"), "no revert");
    let summary = lines.last().unwrap();
    assert_eq!(summary["result"], "stopped-conflict");
    assert_eq!(summary["steps_applied"], 2);
    assert_eq!(summary["final_weights"]["maintenance"], 100);
    assert_eq!(summary["final_weights"]["green"], 0);
    let calls = r53.calls.by_service_operation();
    // Steps 1 and 2, the rejected step 3, and no revert.
    assert_eq!(calls["route53:ChangeResourceRecordSets"], 3);
    assert_eq!(calls["route53:ListResourceRecordSets"], 3);
    let outcome = shift_outcome(&journal);
    assert_eq!(outcome["outcome"], "failed", "{outcome}");
    assert_eq!(outcome["after"]["weights"]["maintenance"], 100, "{outcome}");
    // The rejected step is journaled as failed with their weights.
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(j.contains("rejected: changed by someone else"), "{j}");
}

#[tokio::test]
async fn a_rejected_step_over_a_record_still_showing_our_weights_reverts_only_ours() {
    let dir = tempfile::tempdir().unwrap();
    // Someone changed a TTL after step 1: step 2 is rejected, but the weights
    // are still step 1's, so the shift reverts them, conditionally, keeping
    // their TTL.
    let with_ttl = |weights: &[(&str, i64)], ttl: i64| {
        let mut o = listed(weights);
        for r in &mut o.resource_record_sets {
            r.ttl = Some(ttl);
        }
        o
    };
    let change = mock!(Client::change_resource_record_sets)
        .sequence()
        .output(change_ok)
        .http_response(delete_does_not_match)
        .build();
    let revert = mock!(Client::change_resource_record_sets)
        .match_requests(|req| {
            let c = &req.change_batch().unwrap().changes;
            // DELETE of the record as read after the rejection (TTL 300), CREATE
            // of the starting weight with their TTL.
            c[0].resource_record_set.as_ref().and_then(|r| r.ttl) == Some(300)
                && c[1].resource_record_set.as_ref().and_then(|r| r.weight) == Some(100)
                && c[1].resource_record_set.as_ref().and_then(|r| r.ttl) == Some(300)
        })
        .then_output(change_ok);
    let poll = mock!(Client::get_change).then_output(|| get_change(ChangeStatus::Insync));
    // The fresh read before step 2 (as step 1 left it), the read after the
    // rejection (their TTL, our weights), the read-back after the revert.
    let list = mock!(Client::list_resource_record_sets)
        .sequence()
        .output(move || with_ttl(&[("blue", 90), ("green", 10), ("maintenance", 0)], 60))
        .output(move || with_ttl(&[("blue", 90), ("green", 10), ("maintenance", 0)], 300))
        .output(move || with_ttl(START, 300))
        .build();
    let r53 = r53(RuleMode::MatchAny, &[&revert, &change, &poll, &list]);
    let (out, stdout, _) = quiet();
    let ctx = context(&dir.path().join("j.jsonl"), out);
    let start = group(START);
    let err = shift(&ctx, &r53, None, start, &no_gates())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 6, "{err}");
    let lines = events(&stdout);
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "revert" && l["ok"] == true)
    );
    assert_eq!(lines.last().unwrap()["result"], "reverted");
    let calls = r53.calls.by_service_operation();
    assert_eq!(calls["route53:ChangeResourceRecordSets"], 3);
    assert_eq!(calls["route53:ListResourceRecordSets"], 3);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_whose_retry_is_rejected_is_recorded_as_done() {
    let dir = tempfile::tempdir().unwrap();
    // The first attempt reached Route 53 and was applied, but its answer was a
    // 500; the SDK's retry then finds its own DELETE precondition gone.
    let change = mock!(Client::change_resource_record_sets)
        .sequence()
        .http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(500).unwrap(),
                SdkBody::from("internal error"),
            )
        })
        .http_response(delete_does_not_match)
        .build();
    let list = mock!(Client::list_resource_record_sets)
        .then_output(|| listed(&[("blue", 90), ("green", 10), ("maintenance", 0)]));
    let r53 = r53(RuleMode::MatchAny, &[&change, &list]);
    let (out, _, _) = quiet();
    let (journal, ctx) = context_in(&dir, out);
    let start = group(START);
    let mut new = start.weights();
    new.insert("blue".into(), 90);
    new.insert("green".into(), 10);
    let applied = dns_shift::apply::apply_weights(
        &ctx,
        &r53,
        &start,
        &new,
        "dns.set-weights",
        "test",
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(applied.change_id, None);
    assert_eq!(applied.after.weights(), new);
    assert_eq!(
        r53.calls.by_service_operation()["route53:ChangeResourceRecordSets"],
        2
    );
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(j.contains("\"outcome\":\"ok\""), "{j}");
}

#[tokio::test]
async fn a_signal_before_the_first_step_changes_nothing_and_is_journaled_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let r53 = r53(RuleMode::MatchAny, &[]);
    let (out, stdout, _) = quiet();
    let journal = dir.path().join("j.jsonl");
    let cancel = common::Cancel::new();
    let ctx = context(&journal, out).with_cancel(cancel.clone());
    cancel.trigger(common::cancel::SignalKind::Hangup);
    let start = group(START);
    let err = shift(&ctx, &r53, None, start, &options("true".into()))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 130, "{err}");
    assert_eq!(r53.calls.total(), 0);
    let summary = events(&stdout).pop().unwrap();
    assert_eq!(summary["result"], "stopped");
    assert!(
        summary["reason"].as_str().unwrap().contains("SIGHUP"),
        "{summary}"
    );
    let outcome = shift_outcome(&journal);
    assert_eq!(outcome["outcome"], "interrupted", "{outcome}");
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_stops_the_revert_at_once_and_journals_it_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    // Step 1 goes through; step 2 is refused (a plain error, the record still
    // shows step 1), so the shift reverts; the revert's change stays PENDING and
    // two signals arrive while it waits.
    let change = mock!(Client::change_resource_record_sets)
        .sequence()
        .output(change_ok)
        .http_response(|| route53_error("InvalidInput"))
        .output(change_ok)
        .build();
    let poll = mock!(Client::get_change)
        .sequence()
        .output(|| get_change(ChangeStatus::Insync))
        .output(|| get_change(ChangeStatus::Pending))
        .repeatedly()
        .build();
    let list = mock!(Client::list_resource_record_sets)
        .then_output(|| listed(&[("blue", 90), ("green", 10), ("maintenance", 0)]));
    let r53 = r53(RuleMode::MatchAny, &[&change, &poll, &list]);
    let (out, stdout, _) = quiet();
    let journal = dir.path().join("j.jsonl");
    let cancel = common::Cancel::new();
    let ctx = context(&journal, out).with_cancel(cancel.clone());
    let signals = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.trigger(common::cancel::SignalKind::Interrupt);
        cancel.trigger(common::cancel::SignalKind::Interrupt);
    });
    let start = group(START);
    let err = shift(&ctx, &r53, None, start, &no_gates())
        .await
        .unwrap_err();
    signals.await.unwrap();
    assert_eq!(err.exit_code(), 7, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("a second signal stopped the revert at once"),
        "{msg}"
    );
    assert!(msg.contains("INSYNC not confirmed"), "{msg}");
    assert!(
        msg.contains("dns-shift undo --zone Z1 --record www.example.com. --type CNAME"),
        "{msg}"
    );
    let summary = events(&stdout).pop().unwrap();
    assert_eq!(summary["result"], "interrupted");
    let outcome = shift_outcome(&journal);
    assert_eq!(outcome["outcome"], "interrupted", "{outcome}");
    // The revert change itself is recorded as interrupted too, with its id.
    let j = std::fs::read_to_string(&journal).unwrap();
    let revert: Value = j
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .rfind(|e| e["action"] == "dns.shift.revert" && e["phase"] == "outcome")
        .unwrap();
    assert_eq!(revert["outcome"], "interrupted", "{revert}");
    assert_eq!(revert["after"]["change_id"], "/change/C1", "{revert}");
    let calls = r53.calls.by_service_operation();
    assert_eq!(calls["route53:ChangeResourceRecordSets"], 3);
}

/// A 503 with no error document: what the fault proxy (and a load balancer in
/// front of Route 53) answers.
fn unavailable() -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(503).unwrap(),
        SdkBody::from("Service Unavailable"),
    )
}

/// The outcome line of the journal for `action`.
fn outcome_of(journal: &std::path::Path, action: &str) -> Value {
    std::fs::read_to_string(journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .rfind(|e| e["action"] == action && e["phase"] == "outcome")
        .unwrap()
}

fn set_step_1() -> dns_shift::weights::Weights {
    let mut w = group(START).weights();
    w.insert("blue".into(), 90);
    w.insert("green".into(), 10);
    w
}

#[tokio::test(start_paused = true)]
async fn a_set_whose_insync_read_fails_three_times_looks_again_and_succeeds() {
    // The change is accepted; one GetChange exhausts the SDK's 3 attempts (503
    // x3); the wait looks again instead of journaling a made change `failed`.
    let dir = tempfile::tempdir().unwrap();
    let change = mock!(Client::change_resource_record_sets).then_output(change_ok);
    let poll = mock!(Client::get_change)
        .sequence()
        .http_response(unavailable)
        .times(3)
        .output(|| get_change(ChangeStatus::Insync))
        .build();
    let r53 = r53(RuleMode::MatchAny, &[&change, &poll]);
    let (out, stdout, _) = quiet();
    let (journal, ctx) = context_in(&dir, out);
    let start = group(START);
    dns_shift::apply::change_and_report(
        &ctx,
        &r53,
        &start,
        &set_step_1(),
        "set-weights",
        "set weights",
        Duration::from_secs(60),
        None,
    )
    .await
    .unwrap();
    let calls = r53.calls.by_service_operation();
    assert_eq!(calls["route53:ChangeResourceRecordSets"], 1);
    assert_eq!(calls["route53:GetChange"], 4);
    let o = outcome_of(&journal, "dns.set-weights");
    assert_eq!(o["outcome"], "ok", "{o}");
    assert!(o.get("message").is_none(), "{o}");
    let result: Value = serde_json::from_str(&stdout.text()).unwrap();
    assert_eq!(result["changed"], true, "{result}");
    assert!(result.get("note").is_none(), "{result}");
}

#[tokio::test(start_paused = true)]
async fn a_set_whose_insync_reads_keep_failing_is_journaled_ok_and_exits_5_with_the_show_command() {
    // Chaos trial 100059: the batch was accepted, then GetChange failed every
    // time. The weights ARE changed: journal ok (with the note), exit 5.
    let dir = tempfile::tempdir().unwrap();
    let change = mock!(Client::change_resource_record_sets).then_output(change_ok);
    let poll = mock!(Client::get_change)
        .sequence()
        .http_response(unavailable)
        .repeatedly()
        .build();
    let r53 = r53(RuleMode::MatchAny, &[&change, &poll]);
    let (out, stdout, _) = quiet();
    let (journal, ctx) = context_in(&dir, out);
    let start = group(START);
    let err = dns_shift::apply::change_and_report(
        &ctx,
        &r53,
        &start,
        &set_step_1(),
        "set-weights",
        "set weights",
        Duration::from_secs(60),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 5, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("the change was accepted"), "{msg}");
    assert!(msg.contains("GetChange failed (HTTP 503)"), "{msg}");
    assert!(
        msg.contains("dns-shift show --zone Z1 --record www.example.com. --type CNAME"),
        "{msg}"
    );
    // The first look and READ_RETRIES more, 3 SDK attempts each.
    let calls = r53.calls.by_service_operation();
    assert_eq!(calls["route53:ChangeResourceRecordSets"], 1);
    assert_eq!(
        calls["route53:GetChange"],
        3 * (u64::from(dns_shift::route53::READ_RETRIES) + 1)
    );
    let o = outcome_of(&journal, "dns.set-weights");
    assert_eq!(o["outcome"], "ok", "{o}");
    let note = o["message"].as_str().unwrap();
    assert!(note.contains("INSYNC not confirmed"), "{note}");
    assert_eq!(o["after"]["change_id"], "/change/C1", "{o}");
    assert_eq!(o["after"]["weights"]["green"], 10, "{o}");
    let result: Value = serde_json::from_str(&stdout.text()).unwrap();
    assert_eq!(result["changed"], true);
    assert_eq!(result["after"]["green"], 10);
    assert!(
        result["note"]
            .as_str()
            .unwrap()
            .contains("INSYNC was not confirmed"),
        "{result}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shift_step_accepted_but_not_confirmed_insync_counts_as_applied_and_is_reverted() {
    let dir = tempfile::tempdir().unwrap();
    // Step 1 accepted, its GetChange fails every look; the revert goes through.
    let change = mock!(Client::change_resource_record_sets)
        .sequence()
        .output(change_ok)
        .times(2)
        .build();
    let looks = 3 * (dns_shift::route53::READ_RETRIES as usize + 1);
    let poll = mock!(Client::get_change)
        .sequence()
        .http_response(unavailable)
        .times(looks)
        .output(|| get_change(ChangeStatus::Insync))
        .repeatedly()
        .build();
    // After the failure: step 1's weights (ours, live); after the revert: the start.
    let list = mock!(Client::list_resource_record_sets)
        .sequence()
        .output(|| listed(&[("blue", 90), ("green", 10), ("maintenance", 0)]))
        .output(|| listed(START))
        .repeatedly()
        .build();
    let r53 = r53(RuleMode::MatchAny, &[&change, &poll, &list]);
    let (out, stdout, _) = quiet();
    let (journal, ctx) = context_in(&dir, out);
    let start = group(START);
    let err = shift(&ctx, &r53, None, start, &no_gates())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 6, "{err}");
    assert!(err.to_string().contains("INSYNC"), "{err}");
    let step = outcome_of(&journal, "dns.shift.step");
    assert_eq!(step["outcome"], "ok", "{step}");
    assert!(
        step["message"]
            .as_str()
            .unwrap()
            .contains("INSYNC not confirmed"),
        "{step}"
    );
    assert_eq!(shift_outcome(&journal)["outcome"], "reverted");
    assert_eq!(outcome_of(&journal, "dns.shift.revert")["outcome"], "ok");
    let calls = r53.calls.by_service_operation();
    assert_eq!(calls["route53:ChangeResourceRecordSets"], 2);
    let summary = events(&stdout).pop().unwrap();
    assert_eq!(summary["result"], "reverted");
    assert_eq!(summary["steps_applied"], 1, "{summary}");
}

/// Route 53's answer to a caller whose policy lacks the action.
fn access_denied() -> HttpResponse {
    let body = r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/u is not authorized to perform: route53:ChangeResourceRecordSets on resource: arn:aws:route53:::hostedzone/Z1</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#;
    HttpResponse::new(StatusCode::try_from(403).unwrap(), SdkBody::from(body))
}

#[tokio::test(start_paused = true)]
async fn a_refused_undo_is_journaled_unchanged_and_the_next_undo_still_finds_the_real_change() {
    // A set to 90/10 goes through; the undo that follows is refused
    // (AccessDenied) and the read-back shows 90/10 still. The refused undo is
    // journaled failed with the weights it found as `after`, and the change the
    // next undo picks is still the set, not the refusal (which would "restore"
    // 90/10 and leave the set in place).
    let dir = tempfile::tempdir().unwrap();
    let change = mock!(Client::change_resource_record_sets)
        .sequence()
        .output(change_ok)
        .http_response(access_denied)
        .build();
    let poll = mock!(Client::get_change).then_output(|| get_change(ChangeStatus::Insync));
    let list = mock!(Client::list_resource_record_sets)
        .then_output(|| listed(&[("blue", 90), ("green", 10), ("maintenance", 0)]));
    let r53 = r53(RuleMode::MatchAny, &[&change, &poll, &list]);
    let (out, _, _) = quiet();
    let (journal, ctx) = context_in(&dir, out);
    let start = group(START);
    let set = set_step_1();
    dns_shift::apply::apply_weights(
        &ctx,
        &r53,
        &start,
        &set,
        "dns.set-weights",
        "test",
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let shifted = group(&[("blue", 90), ("green", 10), ("maintenance", 0)]);
    let refused = dns_shift::apply::apply_weights(
        &ctx,
        &r53,
        &shifted,
        &start.weights(),
        "dns.undo",
        "test",
        Duration::from_secs(60),
    )
    .await;
    let err = match refused {
        Err(dns_shift::route53::WriteError::Failed(e)) => e,
        other => panic!("expected the refusal as a failure, got {other:?}"),
    };
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(
        err.to_string().contains("route53:ChangeResourceRecordSets"),
        "{err}"
    );
    let undo = outcome_of(&journal, "dns.undo");
    assert_eq!(undo["outcome"], "failed", "{undo}");
    assert_eq!(
        undo["after"]["weights"],
        serde_json::json!({"blue": 90, "green": 10, "maintenance": 0}),
        "{undo}"
    );
    let picked =
        dns_shift::apply::last_record(&ctx, &shifted.target(), dns_shift::undo::is_top_level)
            .await
            .unwrap()
            .expect("a change to undo");
    assert_eq!(picked.intent.action, "dns.set-weights");
    assert!(dns_shift::apply::failed_without_change(
        &ctx.journal_reader()
            .await
            .unwrap()
            .records(|e| e.action == "dns.undo")
            .unwrap()[0]
    ));
}
