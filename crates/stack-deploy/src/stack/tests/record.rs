//! The run record a deploy writes before its first change to a stack, and the
//! RollbackConfiguration it sends, through the real `deploy_stack` against SDK mocks.

use common::state::{Root, Store};

use crate::record::{Recorder, StackRecord};

use super::*;

const OLD: &str = r#"{"Resources":{"Old":{"Type":"AWS::SNS::Topic"}}}"#;
const ALARM: &str = "arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:ltc-critical-5xx";

fn recorder(dir: &std::path::Path) -> Recorder {
    let store = Store::open(Root::Local(dir.to_path_buf()), "test", None).unwrap();
    Recorder::new(store, "20261202T050000.000Z-deploy-abc123".into())
}

fn record_file(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("test/runs/20261202T050000.000Z-deploy-abc123/stack-S.json")
}

fn read_record(dir: &std::path::Path) -> StackRecord {
    serde_json::from_slice(&std::fs::read(record_file(dir)).unwrap()).unwrap()
}

fn with_outputs(status: &str) -> DescribeStacksOutput {
    let mut s = stack(status);
    s.outputs = Some(vec![
        aws_sdk_cloudformation::types::Output::builder()
            .output_key("Url")
            .output_value("https://old.example")
            .build(),
    ]);
    s.role_arn = Some("arn:aws:iam::123456789012:role/exec".into());
    DescribeStacksOutput::builder().stacks(s).build()
}

#[tokio::test(start_paused = true)]
async fn an_update_records_the_live_template_before_update_stack() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| with_outputs("UPDATE_COMPLETE"))
        .output(|| described("UPDATE_IN_PROGRESS"))
        .output(|| described("UPDATE_COMPLETE"))
        .repeatedly()
        .build();
    let l = log.clone();
    let template = mock!(Client::get_template)
        .match_requests(move |r| {
            l.lock().unwrap().push(format!(
                "GetTemplate {:?}",
                r.template_stage().map(|s| s.as_str().to_owned())
            ));
            true
        })
        .then_output(|| GetTemplateOutput::builder().template_body(OLD).build());
    let (l, file) = (log.clone(), record_file(dir.path()));
    let update = mock!(Client::update_stack)
        .match_requests(move |_| {
            // The record is already kept when the change is sent.
            l.lock()
                .unwrap()
                .push(format!("UpdateStack record={}", file.exists()));
            true
        })
        .then_output(|| UpdateStackOutput::builder().stack_id("S/1").build());
    let events = mock!(Client::describe_stack_events)
        .then_output(|| DescribeStackEventsOutput::builder().build());
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        &[&describe, &template, &update, &events]
    );
    let rec = recorder(dir.path());
    let journal = Journal::new(dir.path().join("j.jsonl"), JournalContext::default());
    let (out, _err) = output();
    let o = opts(Duration::from_secs(600));
    let mut env = env_for(cfn, &out, Some(&journal), &o);
    env.recorder = Some(&rec);
    env.deploy_role = Some("arn:aws:iam::123456789012:role/deploy".into());
    let r = deploy_stack(&env, &job()).await;

    assert_eq!(r.action, Action::Updated, "{:?}", r.reason);
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            "GetTemplate Some(\"Original\")".to_owned(),
            "UpdateStack record=true".to_owned()
        ]
    );
    assert_eq!(
        template.num_calls(),
        1,
        "one GetTemplate per existing stack"
    );
    assert_eq!(r.record.as_deref(), Some("stack-S.json"));
    let got = read_record(dir.path());
    assert!(!got.created);
    assert_eq!(got.template.as_deref(), Some(OLD));
    assert_eq!(got.template_sha256.as_deref(), Some(sha256(OLD).as_str()));
    assert_eq!(got.status.as_deref(), Some("UPDATE_COMPLETE"));
    assert_eq!(got.parameters["Tag"], "v1");
    assert_eq!(got.tags["Project"], "LTC");
    assert_eq!(got.outputs["Url"], "https://old.example");
    assert_eq!(
        got.role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/exec")
    );
    assert_eq!(
        got.deploy_role.as_deref(),
        Some("arn:aws:iam::123456789012:role/deploy")
    );
    assert_eq!(
        got.new_template_sha256.as_deref(),
        Some(sha256(&job().template).as_str())
    );
    assert_eq!(rec.written(), vec!["stack-S.json"]);
    let entries = Journal::read_entries(&dir.path().join("j.jsonl")).unwrap();
    assert_eq!(entries[0].action, "stack.update");
    assert_eq!(entries[0].before["record"], "stack-S.json");
}

#[tokio::test(start_paused = true)]
async fn a_create_is_recorded_as_created_before_create_stack() {
    let dir = tempfile::tempdir().unwrap();
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .http_response(does_not_exist)
        .output(|| described("CREATE_COMPLETE"))
        .repeatedly()
        .build();
    let file = record_file(dir.path());
    let create = mock!(Client::create_stack)
        .match_requests(move |_| file.exists())
        .then_output(|| CreateStackOutput::builder().stack_id("S/1").build());
    let events = mock!(Client::describe_stack_events)
        .then_output(|| DescribeStackEventsOutput::builder().build());
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        &[&describe, &create, &events]
    );
    let rec = recorder(dir.path());
    let (out, _err) = output();
    let o = opts(Duration::from_secs(600));
    let mut env = env_for(cfn, &out, None, &o);
    env.recorder = Some(&rec);
    let r = deploy_stack(&env, &job()).await;
    assert_eq!(r.action, Action::Created, "{:?}", r.reason);
    assert_eq!(create.num_calls(), 1);
    let got = read_record(dir.path());
    assert!(got.created);
    assert_eq!(got.template, None);
    let raw: Value =
        serde_json::from_slice(&std::fs::read(record_file(dir.path())).unwrap()).unwrap();
    assert_eq!(raw["created"], true);
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_stack_and_a_dry_run_record_nothing() {
    for dry_run in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let describe = mock!(Client::describe_stacks).then_output(|| described("UPDATE_COMPLETE"));
        // Unchanged: the live template is the job's; dry run: it differs.
        let body = if dry_run {
            OLD.to_owned()
        } else {
            job().template
        };
        let template = mock!(Client::get_template).then_output(move || {
            GetTemplateOutput::builder()
                .template_body(body.clone())
                .build()
        });
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &template]
        );
        let rec = recorder(dir.path());
        let (out, _err) = output();
        let mut o = opts(Duration::from_secs(600));
        o.dry_run = dry_run;
        let mut env = env_for(cfn, &out, None, &o);
        env.recorder = Some(&rec);
        let r = deploy_stack(&env, &job()).await;
        let want = if dry_run {
            Action::WouldUpdate
        } else {
            Action::Unchanged
        };
        assert_eq!(r.action, want);
        assert_eq!(r.record, None);
        assert!(!record_file(dir.path()).exists());
        assert!(rec.written().is_empty());
    }
}

#[test]
fn a_stack_deployed_twice_in_one_run_keeps_its_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let first = StackRecord::existing(&stack("UPDATE_COMPLETE"), OLD, "ap-northeast-1");
    let second = StackRecord::existing(&stack("UPDATE_COMPLETE"), "{}", "ap-northeast-1");
    assert_eq!(rec.record(&first).unwrap(), "stack-S.json");
    assert_eq!(rec.record(&second).unwrap(), "stack-S.json");
    assert_eq!(read_record(dir.path()).template.as_deref(), Some(OLD));
    assert_eq!(rec.written(), vec!["stack-S.json"]);
}

fn checks_rollback(rc: Option<&aws_sdk_cloudformation::types::RollbackConfiguration>) -> bool {
    rc.is_some_and(|rc| {
        rc.monitoring_time_in_minutes() == Some(10)
            && rc.rollback_triggers().len() == 1
            && rc.rollback_triggers()[0].arn() == Some(ALARM)
            && rc.rollback_triggers()[0].r#type() == Some("AWS::CloudWatch::Alarm")
    })
}

#[tokio::test(start_paused = true)]
async fn rollback_alarms_go_with_create_stack_and_update_stack() {
    for existing in [false, true] {
        let describe = if existing {
            mock!(Client::describe_stacks)
                .sequence()
                .output(|| described("UPDATE_COMPLETE"))
                .output(|| described("UPDATE_COMPLETE"))
                .repeatedly()
                .build()
        } else {
            mock!(Client::describe_stacks)
                .sequence()
                .http_response(does_not_exist)
                .output(|| described("CREATE_COMPLETE"))
                .repeatedly()
                .build()
        };
        let template = mock!(Client::get_template)
            .then_output(|| GetTemplateOutput::builder().template_body(OLD).build());
        let update = mock!(Client::update_stack)
            .match_requests(|r| checks_rollback(r.rollback_configuration()))
            .then_output(|| UpdateStackOutput::builder().stack_id("S/1").build());
        let create = mock!(Client::create_stack)
            .match_requests(|r| checks_rollback(r.rollback_configuration()))
            .then_output(|| CreateStackOutput::builder().stack_id("S/1").build());
        let events = mock!(Client::describe_stack_events)
            .then_output(|| DescribeStackEventsOutput::builder().build());
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&describe, &template, &update, &create, &events]
        );
        let (out, _err) = output();
        let mut o = opts(Duration::from_secs(600));
        o.rollback = Some(crate::alarms::configuration(&[ALARM.to_owned()], Some(10)));
        let r = deploy_stack(&env_for(cfn, &out, None, &o), &job()).await;
        assert!(r.ok(), "{:?}", r.reason);
        if existing {
            assert_eq!((update.num_calls(), create.num_calls()), (1, 0));
        } else {
            assert_eq!((update.num_calls(), create.num_calls()), (0, 1));
        }
    }
}
