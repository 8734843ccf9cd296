//! `--method change-set` through the real `deploy_stack`, against SDK mocks.
//!
//! The stack mock is causal: DescribeStacks keeps answering the stack's
//! previous settled status (REVIEW_IN_PROGRESS for a create, the old
//! *_COMPLETE for an update) until DescribeChangeSet has reported the
//! execution as started, the way a just-executed change set can look.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use aws_sdk_cloudformation::operation::create_change_set::{
    CreateChangeSetInput, CreateChangeSetOutput,
};
use aws_sdk_cloudformation::operation::delete_change_set::{
    DeleteChangeSetInput, DeleteChangeSetOutput,
};
use aws_sdk_cloudformation::operation::describe_change_set::{
    DescribeChangeSetInput, DescribeChangeSetOutput,
};
use aws_sdk_cloudformation::operation::execute_change_set::{
    ExecuteChangeSetInput, ExecuteChangeSetOutput,
};
use aws_sdk_cloudformation::types::{ChangeSetStatus, ChangeSetType, ExecutionStatus};
use aws_smithy_mocks::MockResponse;

use super::*;

const ROLE: &str = "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role";
const EMPTY: &str = "The submitted information didn't contain changes. Submit different information to create a change set.";

fn cs_job() -> StackJob {
    StackJob {
        exec_role: Some(ROLE.into()),
        ..job()
    }
}

fn cs_opts(timeout: Duration) -> DeployOptions {
    DeployOptions {
        method: Method::ChangeSet,
        ..opts(timeout)
    }
}

fn with_outputs(status: &str, url: &str) -> DescribeStacksOutput {
    let mut s = stack(status);
    s.outputs = Some(vec![
        aws_sdk_cloudformation::types::Output::builder()
            .output_key("Url")
            .output_value(url)
            .build(),
    ]);
    DescribeStacksOutput::builder().stacks(s).build()
}

fn change_set(
    status: ChangeSetStatus,
    exec: ExecutionStatus,
    reason: Option<&str>,
) -> DescribeChangeSetOutput {
    DescribeChangeSetOutput::builder()
        .stack_name("S")
        .change_set_name("cs")
        .status(status)
        .execution_status(exec)
        .set_status_reason(reason.map(str::to_owned))
        .build()
}

/// Records every input of one operation.
struct Seen<I>(Arc<Mutex<Vec<I>>>);
impl<I> Clone for Seen<I> {
    fn clone(&self) -> Self {
        Seen(self.0.clone())
    }
}
impl<I> Default for Seen<I> {
    fn default() -> Self {
        Seen(Arc::new(Mutex::new(Vec::new())))
    }
}
impl<I: Clone> Seen<I> {
    fn push(&self, i: &I) {
        self.0.lock().unwrap().push(i.clone());
    }
    fn all(&self) -> Vec<I> {
        self.0.lock().unwrap().clone()
    }
}

/// The CloudFormation side of one change-set deploy.
struct World {
    /// DescribeChangeSet answers in order; the last one repeats. An answer
    /// with an execution status past AVAILABLE marks the execution started.
    change_set: Vec<DescribeChangeSetOutput>,
    /// DescribeStacks before the stack exists (None: it does not).
    before: Option<DescribeStacksOutput>,
    /// DescribeStacks after CreateChangeSet and before execution started.
    pending: Option<DescribeStacksOutput>,
    /// DescribeStacks once the execution started, in order; the last repeats.
    after: Vec<DescribeStacksOutput>,
    events: Vec<StackEvent>,
    template: &'static str,
}

struct Rules {
    describe: aws_smithy_mocks::Rule,
    template: aws_smithy_mocks::Rule,
    create_cs: aws_smithy_mocks::Rule,
    describe_cs: aws_smithy_mocks::Rule,
    execute: aws_smithy_mocks::Rule,
    delete_cs: aws_smithy_mocks::Rule,
    create_stack: aws_smithy_mocks::Rule,
    update_stack: aws_smithy_mocks::Rule,
    events: aws_smithy_mocks::Rule,
    created: Seen<CreateChangeSetInput>,
    described: Seen<DescribeChangeSetInput>,
    executed: Seen<ExecuteChangeSetInput>,
    deleted: Seen<DeleteChangeSetInput>,
}

impl Rules {
    fn client(&self) -> Client {
        mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[
                &self.describe,
                &self.template,
                &self.create_cs,
                &self.describe_cs,
                &self.execute,
                &self.delete_cs,
                &self.create_stack,
                &self.update_stack,
                &self.events
            ]
        )
    }

    /// The change set named in CreateChangeSet is the one every later call names.
    fn assert_one_change_set(&self) -> String {
        let created = self.created.all();
        assert_eq!(created.len(), 1);
        let name = created[0].change_set_name().unwrap().to_owned();
        assert!(name.starts_with("stack-deploy-"), "{name}");
        for d in self.described.all() {
            assert_eq!(d.stack_name(), Some("S"));
            assert_eq!(d.change_set_name(), Some(name.as_str()));
        }
        for e in self.executed.all() {
            assert_eq!(e.stack_name(), Some("S"));
            assert_eq!(e.change_set_name(), Some(name.as_str()));
        }
        for d in self.deleted.all() {
            assert_eq!(d.stack_name(), Some("S"));
            assert_eq!(d.change_set_name(), Some(name.as_str()));
        }
        name
    }
}

fn world(w: World) -> Rules {
    let created_flag = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let after_looks = Arc::new(AtomicUsize::new(0));
    let (cf, st) = (created_flag.clone(), started.clone());
    let World {
        change_set,
        before,
        pending,
        after,
        events,
        template,
    } = w;
    let describe = mock!(Client::describe_stacks).then_compute_response(move |_| {
        if st.load(Ordering::SeqCst) {
            let i = after_looks.fetch_add(1, Ordering::SeqCst);
            return MockResponse::Output(after[i.min(after.len() - 1)].clone());
        }
        let now = if cf.load(Ordering::SeqCst) {
            pending.clone()
        } else {
            before.clone()
        };
        match now {
            Some(o) => MockResponse::Output(o),
            None => MockResponse::Http(does_not_exist()),
        }
    });
    let template = mock!(Client::get_template)
        .then_output(move || GetTemplateOutput::builder().template_body(template).build());
    let created = Seen::<CreateChangeSetInput>::default();
    let c2 = created.clone();
    let create_cs = mock!(Client::create_change_set).then_compute_output(move |i| {
        c2.push(i);
        created_flag.store(true, Ordering::SeqCst);
        CreateChangeSetOutput::builder()
            .id("arn:aws:cloudformation:ap-northeast-1:123456789012:changeSet/cs/1")
            .stack_id("arn:aws:cloudformation:ap-northeast-1:123456789012:stack/S/1")
            .build()
    });
    let described = Seen::<DescribeChangeSetInput>::default();
    let d2 = described.clone();
    let cs_looks = AtomicUsize::new(0);
    let describe_cs = mock!(Client::describe_change_set).then_compute_output(move |i| {
        d2.push(i);
        let n = cs_looks.fetch_add(1, Ordering::SeqCst);
        let o = change_set[n.min(change_set.len() - 1)].clone();
        if matches!(
            o.execution_status(),
            Some(
                ExecutionStatus::ExecuteInProgress
                    | ExecutionStatus::ExecuteComplete
                    | ExecutionStatus::ExecuteFailed
            )
        ) {
            started.store(true, Ordering::SeqCst);
        }
        o
    });
    let executed = Seen::<ExecuteChangeSetInput>::default();
    let e2 = executed.clone();
    let execute = mock!(Client::execute_change_set).then_compute_output(move |i| {
        e2.push(i);
        ExecuteChangeSetOutput::builder().build()
    });
    let deleted = Seen::<DeleteChangeSetInput>::default();
    let x2 = deleted.clone();
    let delete_cs = mock!(Client::delete_change_set).then_compute_output(move |i| {
        x2.push(i);
        DeleteChangeSetOutput::builder().build()
    });
    let create_stack = mock!(Client::create_stack)
        .then_output(|| CreateStackOutput::builder().stack_id("S/1").build());
    let update_stack = mock!(Client::update_stack)
        .then_output(|| UpdateStackOutput::builder().stack_id("S/1").build());
    let events = mock!(Client::describe_stack_events).then_output(move || {
        DescribeStackEventsOutput::builder()
            .set_stack_events(Some(events.clone()))
            .build()
    });
    Rules {
        describe,
        template,
        create_cs,
        describe_cs,
        execute,
        delete_cs,
        create_stack,
        update_stack,
        events,
        created,
        described,
        executed,
        deleted,
    }
}

fn cs(status: ChangeSetStatus) -> DescribeChangeSetOutput {
    change_set(status, ExecutionStatus::Unavailable, None)
}

fn ready() -> DescribeChangeSetOutput {
    change_set(
        ChangeSetStatus::CreateComplete,
        ExecutionStatus::Available,
        None,
    )
}

fn executing() -> DescribeChangeSetOutput {
    change_set(
        ChangeSetStatus::CreateComplete,
        ExecutionStatus::ExecuteInProgress,
        None,
    )
}

fn failed(reason: &str) -> DescribeChangeSetOutput {
    change_set(
        ChangeSetStatus::Failed,
        ExecutionStatus::Unavailable,
        Some(reason),
    )
}

fn caps(i: &CreateChangeSetInput) -> Vec<&str> {
    i.capabilities().iter().map(|c| c.as_str()).collect()
}

#[tokio::test(start_paused = true)]
async fn create_via_change_set_waits_for_the_change_set_then_the_execution() {
    let rules = world(World {
        change_set: vec![
            cs(ChangeSetStatus::CreatePending),
            cs(ChangeSetStatus::CreateInProgress),
            ready(),
            // Executed, but the operation has not started yet.
            ready(),
            executing(),
        ],
        before: None,
        pending: Some(described("REVIEW_IN_PROGRESS")),
        after: vec![
            described("CREATE_IN_PROGRESS"),
            with_outputs("CREATE_COMPLETE", "https://site"),
        ],
        events: vec![
            event("3", 3, "S", STACK, "CREATE_COMPLETE", None),
            event(
                "2",
                2,
                "S",
                STACK,
                "CREATE_IN_PROGRESS",
                Some("User Initiated"),
            ),
            event(
                "1",
                1,
                "S",
                STACK,
                "REVIEW_IN_PROGRESS",
                Some("User Initiated"),
            ),
        ],
        template: "{}",
    });
    let o = cs_opts(Duration::from_secs(3600));
    let (r, entries, err) = deploy_journaled(rules.client(), &cs_job(), &o).await;

    assert!(r.error.is_none(), "{:?} {}", r.error, err.text());
    assert_eq!(r.action, Action::Created);
    assert_eq!(r.status.as_deref(), Some("CREATE_COMPLETE"));
    assert_eq!(
        r.outputs.get("Url").map(String::as_str),
        Some("https://site")
    );

    let created = rules.created.all();
    assert_eq!(created.len(), 1);
    let c = &created[0];
    assert_eq!(c.stack_name(), Some("S"));
    assert_eq!(c.change_set_type(), Some(&ChangeSetType::Create));
    assert_eq!(
        caps(c),
        vec![
            "CAPABILITY_IAM",
            "CAPABILITY_NAMED_IAM",
            "CAPABILITY_AUTO_EXPAND"
        ]
    );
    assert_eq!(c.role_arn(), Some(ROLE));
    assert_eq!(c.template_body(), Some(cs_job().template.as_str()));
    assert_eq!(c.template_url(), None);
    assert!(c.parameters().is_empty(), "{:?}", c.parameters());
    assert_eq!(c.tags().len(), 1);
    assert_eq!(c.tags()[0].key(), Some("Project"));
    rules.assert_one_change_set();
    // Pending, in progress, complete; then AVAILABLE once more, then executing.
    assert_eq!(rules.describe_cs.num_calls(), 5);
    assert_eq!(rules.execute.num_calls(), 1);
    assert_eq!(rules.executed.all()[0].disable_rollback(), Some(false));
    assert_eq!(rules.delete_cs.num_calls(), 0);
    assert_eq!(rules.create_stack.num_calls(), 0);
    assert_eq!(rules.update_stack.num_calls(), 0);
    assert_eq!(rules.template.num_calls(), 0);
    // DescribeStacks: before, then two looks after the execution started
    // (never one in REVIEW_IN_PROGRESS, which would have ended the wait).
    assert_eq!(rules.describe.num_calls(), 3);
    // 3 DescribeStacks + 1 CreateChangeSet + 5 DescribeChangeSet + 1 Execute + 2 events.
    assert_eq!(r.api_calls, 12);

    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].action, "stack.create");
    assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Ok));
    assert_eq!(entries[1].after["status"], "CREATE_COMPLETE");
    assert_eq!(entries[1].after["outputs"]["Url"], "https://site");
}

#[tokio::test(start_paused = true)]
async fn update_via_change_set_keeps_previous_parameters_and_ignores_the_stale_status() {
    let rules = world(World {
        change_set: vec![
            cs(ChangeSetStatus::CreateInProgress),
            ready(),
            ready(),
            executing(),
        ],
        before: Some(with_outputs("UPDATE_COMPLETE", "old")),
        // Until the execution starts the stack still reads UPDATE_COMPLETE.
        pending: Some(with_outputs("UPDATE_COMPLETE", "old")),
        after: vec![
            described("UPDATE_IN_PROGRESS"),
            described("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
            with_outputs("UPDATE_COMPLETE", "new"),
        ],
        events: vec![
            event("11", 11, "S", STACK, "UPDATE_COMPLETE", None),
            event(
                "10",
                10,
                "S",
                STACK,
                "UPDATE_IN_PROGRESS",
                Some("User Initiated"),
            ),
        ],
        template: "{}",
    });
    let (out, err) = output();
    let o = cs_opts(Duration::from_secs(3600));
    let r = deploy_stack(&env_for(rules.client(), &out, None, &o), &cs_job()).await;

    assert!(r.error.is_none(), "{:?} {}", r.error, err.text());
    assert_eq!(r.action, Action::Updated);
    assert_eq!(r.status.as_deref(), Some("UPDATE_COMPLETE"));
    assert_eq!(r.outputs.get("Url").map(String::as_str), Some("new"));

    let created = rules.created.all();
    let c = &created[0];
    assert_eq!(c.stack_name(), Some("S"));
    assert_eq!(c.change_set_type(), Some(&ChangeSetType::Update));
    assert_eq!(
        caps(c),
        vec![
            "CAPABILITY_IAM",
            "CAPABILITY_NAMED_IAM",
            "CAPABILITY_AUTO_EXPAND"
        ]
    );
    assert_eq!(c.role_arn(), Some(ROLE));
    // Tag keeps its deployed value; the SSM-typed BootstrapVersion is not sent.
    let params: Vec<(Option<&str>, Option<&str>)> = c
        .parameters()
        .iter()
        .map(|p| (p.parameter_key(), p.parameter_value()))
        .collect();
    assert_eq!(params, vec![(Some("Tag"), Some("v1"))]);
    rules.assert_one_change_set();
    assert_eq!(rules.template.num_calls(), 1);
    assert_eq!(rules.describe_cs.num_calls(), 4);
    assert_eq!(rules.execute.num_calls(), 1);
    assert_eq!(rules.delete_cs.num_calls(), 0);
    assert_eq!(rules.update_stack.num_calls(), 0);
    assert_eq!(rules.create_stack.num_calls(), 0);
    assert_eq!(rules.describe.num_calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn an_empty_change_set_is_unchanged_deleted_and_not_executed() {
    for reason in [EMPTY, "No updates are to be performed."] {
        let rules = world(World {
            change_set: vec![cs(ChangeSetStatus::CreatePending), failed(reason)],
            before: Some(with_outputs("UPDATE_COMPLETE", "kept")),
            pending: Some(with_outputs("UPDATE_COMPLETE", "kept")),
            after: vec![described("UPDATE_IN_PROGRESS")],
            events: vec![],
            // Differs from the local template only in a way CloudFormation ignores.
            template: r#"{"Resources":{"A":{"Type":"AWS::SNS::Topic","Metadata":{}}}}"#,
        });
        let o = cs_opts(Duration::from_secs(3600));
        let (r, entries, err) = deploy_journaled(rules.client(), &cs_job(), &o).await;

        assert!(r.error.is_none(), "{reason}: {:?} {}", r.error, err.text());
        assert_eq!(r.action, Action::Unchanged, "{reason}");
        assert_eq!(r.status.as_deref(), Some("UPDATE_COMPLETE"));
        assert_eq!(r.outputs.get("Url").map(String::as_str), Some("kept"));
        assert_eq!(
            rules.created.all()[0].change_set_type(),
            Some(&ChangeSetType::Update)
        );
        rules.assert_one_change_set();
        assert_eq!(rules.describe_cs.num_calls(), 2);
        assert_eq!(
            rules.delete_cs.num_calls(),
            1,
            "{reason}: the empty change set is cleaned up"
        );
        assert_eq!(rules.execute.num_calls(), 0, "{reason}");
        assert_eq!(rules.update_stack.num_calls(), 0);
        // Only the first look: no wait on the stack.
        assert_eq!(rules.describe.num_calls(), 1);
        assert_eq!(rules.events.num_calls(), 0);
        assert!(err.text().contains("unchanged"), "{}", err.text());
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Ok));
        assert_eq!(entries[1].after["note"], "no changes to perform");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_change_set_exits_with_its_reason_and_is_not_executed() {
    let why = "Parameters: [Missing] must have values";
    let rules = world(World {
        change_set: vec![cs(ChangeSetStatus::CreateInProgress), failed(why)],
        before: None,
        pending: Some(described("REVIEW_IN_PROGRESS")),
        after: vec![described("CREATE_IN_PROGRESS")],
        events: vec![],
        template: "{}",
    });
    let o = cs_opts(Duration::from_secs(3600));
    let (r, entries, _err) = deploy_journaled(rules.client(), &cs_job(), &o).await;

    assert_eq!(r.action, Action::Failed);
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.exit_code(), 4);
    let msg = e.to_string();
    assert!(msg.contains(why), "{msg}");
    assert!(msg.contains("REVIEW_IN_PROGRESS"), "{msg}");
    assert_eq!(r.reason.as_deref(), Some(msg.as_str()));
    assert_eq!(
        rules.created.all()[0].change_set_type(),
        Some(&ChangeSetType::Create)
    );
    rules.assert_one_change_set();
    assert_eq!(rules.execute.num_calls(), 0);
    assert_eq!(rules.delete_cs.num_calls(), 1);
    assert_eq!(rules.create_stack.num_calls(), 0);
    assert_eq!(rules.describe.num_calls(), 1);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Failed));
}

#[tokio::test(start_paused = true)]
async fn an_executed_change_set_that_rolls_back_exits_6_with_the_failing_resource() {
    let rules = world(World {
        change_set: vec![ready(), executing()],
        before: Some(described("UPDATE_COMPLETE")),
        pending: Some(described("UPDATE_COMPLETE")),
        after: vec![
            described("UPDATE_IN_PROGRESS"),
            described("UPDATE_ROLLBACK_IN_PROGRESS"),
            described("UPDATE_ROLLBACK_COMPLETE"),
        ],
        events: vec![
            event("13", 13, "S", STACK, "UPDATE_ROLLBACK_COMPLETE", None),
            event(
                "12",
                12,
                "S",
                STACK,
                "UPDATE_ROLLBACK_IN_PROGRESS",
                Some("The following resource(s) failed to update: [A]"),
            ),
            event(
                "11",
                11,
                "A",
                "AWS::SNS::Topic",
                "UPDATE_FAILED",
                Some("Invalid parameter: DisplayName"),
            ),
            event(
                "10",
                10,
                "S",
                STACK,
                "UPDATE_IN_PROGRESS",
                Some("User Initiated"),
            ),
        ],
        template: "{}",
    });
    let o = cs_opts(Duration::from_secs(3600));
    let (r, entries, err) = deploy_journaled(rules.client(), &cs_job(), &o).await;

    assert_eq!(r.action, Action::Failed);
    assert_eq!(r.status.as_deref(), Some("UPDATE_ROLLBACK_COMPLETE"));
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.exit_code(), 6);
    let msg = e.to_string();
    assert!(
        msg.contains("A (AWS::SNS::Topic) UPDATE_FAILED: Invalid parameter: DisplayName"),
        "{msg}"
    );
    assert!(err.text().contains("UPDATE_FAILED"), "{}", err.text());
    rules.assert_one_change_set();
    assert_eq!(
        rules.created.all()[0].change_set_type(),
        Some(&ChangeSetType::Update)
    );
    assert_eq!(rules.execute.num_calls(), 1);
    assert_eq!(rules.delete_cs.num_calls(), 0);
    assert_eq!(rules.update_stack.num_calls(), 0);
    assert_eq!(entries[0].action, "stack.update");
    assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Failed));
    assert_eq!(entries[1].after["status"], "UPDATE_ROLLBACK_COMPLETE");
}

#[tokio::test(start_paused = true)]
async fn a_change_set_that_never_completes_times_out_naming_it_and_is_not_executed() {
    let rules = world(World {
        change_set: vec![cs(ChangeSetStatus::CreateInProgress)],
        before: None,
        pending: Some(described("REVIEW_IN_PROGRESS")),
        after: vec![described("CREATE_IN_PROGRESS")],
        events: vec![],
        template: "{}",
    });
    let (out, _err) = output();
    let o = cs_opts(Duration::from_secs(120));
    let r = deploy_stack(&env_for(rules.client(), &out, None, &o), &cs_job()).await;
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.exit_code(), 5);
    let name = rules.assert_one_change_set();
    assert!(
        e.to_string().contains(&format!(
            "aws cloudformation describe-change-set --stack-name S --change-set-name {name}"
        )),
        "{e}"
    );
    assert_eq!(rules.execute.num_calls(), 0);
    assert!(rules.describe_cs.num_calls() > 3);
}

// Lost answers on both change-set calls (issue 14): CreateChangeSet 500 then
// AlreadyExists for its own name, ExecuteChangeSet 500 then
// InvalidChangeSetStatus because the first attempt executed it. Both are read
// back and the create goes on to CREATE_COMPLETE, journaled ok.
#[tokio::test(start_paused = true)]
async fn lost_answers_to_create_and_execute_change_set_are_read_back_as_ours() {
    let stacks = mock!(Client::describe_stacks)
        .sequence()
        .http_response(does_not_exist)
        .output(|| described("CREATE_IN_PROGRESS"))
        .output(|| described("CREATE_COMPLETE"))
        .repeatedly()
        .build();
    let create_cs = mock!(Client::create_change_set)
        .sequence()
        .http_response(server_error)
        .http_response(|| {
            aws_error(
                400,
                "AlreadyExistsException",
                "ChangeSet stack-deploy-x already exists",
            )
        })
        .build();
    let describe_cs = mock!(Client::describe_change_set)
        .sequence()
        .output(ready)
        .times(2)
        .output(executing)
        .repeatedly()
        .build();
    let execute = mock!(Client::execute_change_set)
        .sequence()
        .http_response(server_error)
        .http_response(|| {
            aws_error(
                400,
                "InvalidChangeSetStatus",
                "ChangeSet cannot be executed in its current execution status of [EXECUTE_IN_PROGRESS]",
            )
        })
        .build();
    let events = mock!(Client::describe_stack_events)
        .then_output(|| DescribeStackEventsOutput::builder().build());
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        &[&stacks, &create_cs, &describe_cs, &execute, &events],
        retrying
    );
    let o = cs_opts(Duration::from_secs(3600));
    let (r, entries, err) = deploy_journaled(cfn, &cs_job(), &o).await;
    assert!(r.error.is_none(), "{:?} {}", r.error, err.text());
    assert_eq!(r.action, Action::Created);
    assert_eq!(r.status.as_deref(), Some("CREATE_COMPLETE"));
    assert_eq!(create_cs.num_calls(), 2);
    assert_eq!(execute.num_calls(), 2);
    let text = err.text();
    assert!(text.contains("was created by this deploy"), "{text}");
    assert!(text.contains("was executed by this deploy"), "{text}");
    assert_eq!(entries[1].outcome, Some(common::journal::Outcome::Ok));
}
