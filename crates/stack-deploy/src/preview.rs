//! `plan --changes`: what CloudFormation itself says an update would do, resource by
//! resource, including which resources it would *replace* (a new physical resource:
//! for a database, a new empty instance). The template comparison in `plan.rs`
//! cannot tell a replacement from an in-place change; only a change set can.
//!
//! The preview creates a change set on the existing stack, waits for it, reads its
//! changes and deletes it. Nothing is executed, so the stack and its resources are
//! never touched. New stacks get no change set (a CREATE change set would leave an
//! empty REVIEW_IN_PROGRESS stack behind): their resources are listed from the template.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Change, ChangeSetStatus, ChangeSetType};
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;

use common::{AwsResultExt, Error, Output, Poll, Result, WaitOptions, poll_until};

use crate::stack::{StackJob, change_set_request, empty_change_set};

/// How long a preview change set may take to be computed.
pub const PREVIEW_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// One resource in a change preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ResourceChange {
    pub logical_id: String,
    pub resource_type: String,
    /// Add | Modify | Remove | Import | Dynamic (CloudFormation's words).
    pub action: String,
    /// For Modify: True | False | Conditional. True means a new physical resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// What part changes: Properties, Metadata, CreationPolicy, UpdatePolicy, DeletionPolicy, Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    /// The changed attributes behind it, e.g. `Properties.DBInstanceClass (recreation: Always)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
}

impl ResourceChange {
    /// Replaced for certain (True), or perhaps (Conditional): either deserves a look.
    pub fn may_replace(&self) -> bool {
        matches!(self.replacement.as_deref(), Some("True" | "Conditional"))
    }

    /// Removed resources are deleted (unless their DeletionPolicy retains them).
    pub fn removes(&self) -> bool {
        self.action == "Remove"
    }

    /// What `--fail-on-replace` stops for: a replacement (possible) or a removal.
    pub fn is_risky(&self) -> bool {
        self.may_replace() || self.removes()
    }
}

/// What the change set said, or why there is none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSetPreview {
    pub changes: Vec<ResourceChange>,
    /// Set when CloudFormation found nothing to change, or the change set failed.
    pub note: Option<String>,
}

/// Every resource of a template that does not exist yet, as `Add`.
pub fn additions(template: &str) -> Vec<ResourceChange> {
    let parsed: Value = serde_json::from_str(template).unwrap_or(Value::Null);
    let Some(resources) = parsed.get("Resources").and_then(Value::as_object) else {
        return Vec::new();
    };
    resources
        .iter()
        .map(|(id, r)| ResourceChange {
            logical_id: id.clone(),
            resource_type: r
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
            action: "Add".into(),
            replacement: None,
            physical_id: None,
            scope: Vec::new(),
            causes: Vec::new(),
        })
        .collect()
}

/// One change of DescribeChangeSet, flattened; `None` for non-resource entries.
pub fn resource_change(c: &Change) -> Option<ResourceChange> {
    let r = c.resource_change()?;
    let causes = r
        .details()
        .iter()
        .filter_map(|d| {
            let t = d.target()?;
            let mut s = t.attribute().map(|a| a.as_str().to_owned())?;
            if let Some(name) = t.name() {
                s.push('.');
                s.push_str(name);
            }
            if let Some(rec) = t.requires_recreation() {
                s.push_str(&format!(" (recreation: {})", rec.as_str()));
            }
            Some(s)
        })
        .collect();
    Some(ResourceChange {
        logical_id: r.logical_resource_id().unwrap_or("?").to_owned(),
        resource_type: r.resource_type().unwrap_or("?").to_owned(),
        action: r
            .action()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
        replacement: r.replacement().map(|x| x.as_str().to_owned()),
        physical_id: r.physical_resource_id().map(str::to_owned),
        scope: r.scope().iter().map(|s| s.as_str().to_owned()).collect(),
        causes,
    })
}

/// Creates an UPDATE change set for `job` on its existing stack, reads every
/// change (all pages), and deletes the change set again, also when reading failed.
pub async fn preview_update(
    cfn: &Client,
    out: &Output,
    job: &StackJob,
    current_params: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<ChangeSetPreview> {
    let stack = job.stack_name.as_str();
    let cs_name = format!(
        "stack-deploy-preview-{}",
        Utc::now().format("%Y%m%d%H%M%S%3f")
    );
    change_set_request(
        cfn,
        job,
        Some(current_params),
        &cs_name,
        ChangeSetType::Update,
    )
    .description("stack-deploy plan --changes (preview only; deleted after reading)")
    .send()
    .await
    .aws("CreateChangeSet")?;
    let read = read_change_set(cfn, out, stack, &cs_name, timeout).await;
    let deleted = cfn
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(&cs_name)
        .send()
        .await
        .aws("DeleteChangeSet");
    if let Err(e) = deleted {
        out.warn(format!(
            "{stack}: could not delete the preview change set {cs_name}: {e}; delete it with: aws cloudformation delete-change-set --stack-name {stack} --change-set-name {cs_name}"
        ));
    }
    read
}

async fn read_change_set(
    cfn: &Client,
    out: &Output,
    stack: &str,
    cs_name: &str,
    timeout: Duration,
) -> Result<ChangeSetPreview> {
    let look = |token: Option<String>| {
        cfn.describe_change_set()
            .stack_name(stack)
            .change_set_name(cs_name)
            .set_next_token(token)
            .send()
    };
    let opts = WaitOptions::new(format!("preview change set {cs_name} of {stack}"), timeout)
        .reattach(format!(
            "aws cloudformation describe-change-set --stack-name {stack} --change-set-name {cs_name}"
        ));
    let first = poll_until(out, &opts, || async {
        let d = look(None).await.aws("DescribeChangeSet")?;
        Ok(match d.status() {
            Some(ChangeSetStatus::CreateComplete | ChangeSetStatus::Failed) => Poll::Done(d),
            other => Poll::Pending(other.map_or("unknown", |s| s.as_str()).to_owned()),
        })
    })
    .await?;
    if first.status() == Some(&ChangeSetStatus::Failed) {
        let reason = first
            .status_reason()
            .unwrap_or("no reason given")
            .to_owned();
        let note = if empty_change_set(&reason) {
            "CloudFormation found no changes".to_owned()
        } else {
            format!("the preview change set failed: {reason}")
        };
        return Ok(ChangeSetPreview {
            changes: Vec::new(),
            note: Some(note),
        });
    }
    let mut changes: Vec<ResourceChange> =
        first.changes().iter().filter_map(resource_change).collect();
    let mut token = first.next_token().map(str::to_owned);
    while let Some(t) = token.take().filter(|t| !t.is_empty()) {
        let page = look(Some(t)).await.aws("DescribeChangeSet")?;
        changes.extend(page.changes().iter().filter_map(resource_change));
        token = page.next_token().map(str::to_owned);
    }
    let note = changes
        .is_empty()
        .then(|| "CloudFormation found no resource changes".to_owned());
    Ok(ChangeSetPreview { changes, note })
}

/// Why `--fail-on-replace` stops, if it does: every resource a preview would
/// replace (or may replace) or remove, as `stack: logical id (type)`.
pub fn risky(stack: &str, changes: &[ResourceChange]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| c.is_risky())
        .map(|c| {
            let what = if c.removes() {
                "removed".to_owned()
            } else {
                format!(
                    "replaced (Replacement: {})",
                    c.replacement.as_deref().unwrap_or("?")
                )
            };
            format!("{stack}: {} ({}) {what}", c.logical_id, c.resource_type)
        })
        .collect()
}

/// Turns a non-empty [`risky`] list into the `--fail-on-replace` error.
pub fn refuse_risky(risky: &[String]) -> Result<()> {
    if risky.is_empty() {
        return Ok(());
    }
    Err(Error::CheckFailed(format!(
        "--fail-on-replace: {} resource(s) would be replaced or removed: {}",
        risky.len(),
        risky.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use aws_sdk_cloudformation::operation::create_change_set::{
        CreateChangeSetInput, CreateChangeSetOutput,
    };
    use aws_sdk_cloudformation::operation::delete_change_set::{
        DeleteChangeSetInput, DeleteChangeSetOutput,
    };
    use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
    use aws_sdk_cloudformation::types::{
        ChangeAction, ChangeSource, ChangeType, EvaluationType, Replacement, RequiresRecreation,
        ResourceAttribute, ResourceChangeDetail, ResourceTargetDefinition,
    };
    use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    const EMPTY: &str = "The submitted information didn't contain changes. Submit different information to create a change set.";

    fn job() -> StackJob {
        StackJob {
            stack_name: "LightningTalk-Database-prod".into(),
            template: r#"{"Resources":{"Db":{"Type":"AWS::RDS::DBInstance"}}}"#.into(),
            template_parameters: [(
                "Tag".to_string(),
                crate::manifest::TemplateParam {
                    default: Some("v1".into()),
                    ..Default::default()
                },
            )]
            .into(),
            parameters: BTreeMap::new(),
            tags: [("Project".to_string(), "LTC".to_string())].into(),
            exec_role: Some("arn:aws:iam::123456789012:role/exec".into()),
            template_url: None,
            termination_protection: false,
            template_bucket: None,
        }
    }

    fn change(
        action: ChangeAction,
        id: &str,
        rtype: &str,
        replacement: Option<Replacement>,
        details: Vec<ResourceChangeDetail>,
    ) -> Change {
        let added = action == ChangeAction::Add;
        Change::builder()
            .r#type(ChangeType::Resource)
            .resource_change(
                aws_sdk_cloudformation::types::ResourceChange::builder()
                    .action(action)
                    .logical_resource_id(id)
                    .resource_type(rtype)
                    .set_physical_resource_id((!added).then(|| format!("{id}-phys")))
                    .set_replacement(replacement)
                    .set_details(Some(details))
                    .build(),
            )
            .build()
    }

    fn engine_detail() -> ResourceChangeDetail {
        ResourceChangeDetail::builder()
            .target(
                ResourceTargetDefinition::builder()
                    .attribute(ResourceAttribute::Properties)
                    .name("Engine")
                    .requires_recreation(RequiresRecreation::Always)
                    .build(),
            )
            .evaluation(EvaluationType::Static)
            .change_source(ChangeSource::DirectModification)
            .build()
    }

    fn status_only(status: ChangeSetStatus, reason: Option<&str>) -> DescribeChangeSetOutput {
        DescribeChangeSetOutput::builder()
            .status(status)
            .set_status_reason(reason.map(str::to_owned))
            .build()
    }

    /// The CloudFormation side: DescribeChangeSet answers `looks` in order (the
    /// last repeats) for first pages and `page2` for NextToken "t2".
    struct World {
        created: Arc<Mutex<Vec<CreateChangeSetInput>>>,
        deleted: Arc<Mutex<Vec<DeleteChangeSetInput>>>,
        describe: Rule,
        client: Client,
    }

    fn world(
        looks: Vec<DescribeChangeSetOutput>,
        page2: Option<DescribeChangeSetOutput>,
        delete_fails: bool,
    ) -> World {
        let created = Arc::new(Mutex::new(Vec::new()));
        let deleted = Arc::new(Mutex::new(Vec::new()));
        let (c2, d2) = (created.clone(), deleted.clone());
        let create = mock!(Client::create_change_set).then_compute_output(move |i| {
            c2.lock().unwrap().push(i.clone());
            CreateChangeSetOutput::builder().id("cs-arn").build()
        });
        let n = AtomicUsize::new(0);
        let describe = mock!(Client::describe_change_set).then_compute_output(move |i| {
            if i.next_token() == Some("t2") {
                return page2.clone().unwrap();
            }
            let k = n.fetch_add(1, Ordering::SeqCst);
            looks[k.min(looks.len() - 1)].clone()
        });
        let delete = mock!(Client::delete_change_set).then_compute_response(move |i| {
            d2.lock().unwrap().push(i.clone());
            if delete_fails {
                MockResponse::Http(HttpResponse::new(
                    StatusCode::try_from(400).unwrap(),
                    SdkBody::from("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidChangeSetStatus</Code><Message>busy</Message></Error><RequestId>1</RequestId></ErrorResponse>"),
                ))
            } else {
                MockResponse::Output(DeleteChangeSetOutput::builder().build())
            }
        });
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            &[&create, &describe, &delete]
        );
        World {
            created,
            deleted,
            describe,
            client,
        }
    }

    fn current() -> BTreeMap<String, String> {
        [("Tag".to_string(), "v1".to_string())].into()
    }

    #[tokio::test(start_paused = true)]
    async fn an_update_preview_reads_every_page_names_replacements_and_deletes_the_change_set() {
        let page1 = DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .changes(change(
                ChangeAction::Modify,
                "Db",
                "AWS::RDS::DBInstance",
                Some(Replacement::True),
                vec![engine_detail()],
            ))
            .next_token("t2")
            .build();
        let page2 = DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .changes(change(
                ChangeAction::Add,
                "Queue",
                "AWS::SQS::Queue",
                None,
                vec![],
            ))
            .changes(change(
                ChangeAction::Remove,
                "Topic",
                "AWS::SNS::Topic",
                None,
                vec![],
            ))
            .build();
        let w = world(
            vec![
                status_only(ChangeSetStatus::CreatePending, None),
                status_only(ChangeSetStatus::CreateInProgress, None),
                page1,
            ],
            Some(page2),
            false,
        );
        let (out, _stdout, _stderr) = Output::captured(true);
        let p = preview_update(&w.client, &out, &job(), &current(), PREVIEW_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(p.note, None);
        let actions: Vec<(&str, &str, Option<&str>)> = p
            .changes
            .iter()
            .map(|c| {
                (
                    c.action.as_str(),
                    c.logical_id.as_str(),
                    c.replacement.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            actions,
            [
                ("Modify", "Db", Some("True")),
                ("Add", "Queue", None),
                ("Remove", "Topic", None)
            ]
        );
        assert_eq!(
            p.changes[0].causes,
            ["Properties.Engine (recreation: Always)"]
        );
        assert_eq!(p.changes[0].physical_id.as_deref(), Some("Db-phys"));
        // Three looks until CREATE_COMPLETE, then the second page (create and
        // delete are counted below).
        assert_eq!(w.describe.num_calls(), 4);

        let created = w.created.lock().unwrap().clone();
        assert_eq!(created.len(), 1);
        let c = &created[0];
        assert_eq!(c.change_set_type(), Some(&ChangeSetType::Update));
        assert_eq!(c.stack_name(), Some("LightningTalk-Database-prod"));
        assert_eq!(c.template_body(), Some(job().template.as_str()));
        assert_eq!(c.role_arn(), job().exec_role.as_deref());
        // A parameter not given keeps its current value, as the deploy would send it.
        let params: Vec<(Option<&str>, Option<&str>)> = c
            .parameters()
            .iter()
            .map(|p| (p.parameter_key(), p.parameter_value()))
            .collect();
        assert_eq!(params, [(Some("Tag"), Some("v1"))]);
        let name = c.change_set_name().unwrap();
        assert!(name.starts_with("stack-deploy-preview-"), "{name}");
        let deleted = w.deleted.lock().unwrap().clone();
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0].change_set_name(), Some(name));

        assert_eq!(
            risky("S", &p.changes),
            [
                "S: Db (AWS::RDS::DBInstance) replaced (Replacement: True)",
                "S: Topic (AWS::SNS::Topic) removed"
            ]
        );
        let e = refuse_risky(&risky("S", &p.changes)).unwrap_err();
        assert_eq!(e.exit_code(), common::exit::CHECK_FAILED);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_to_change_is_a_note_and_the_change_set_is_still_deleted() {
        let w = world(
            vec![status_only(ChangeSetStatus::Failed, Some(EMPTY))],
            None,
            false,
        );
        let (out, _stdout, _stderr) = Output::captured(true);
        let p = preview_update(&w.client, &out, &job(), &current(), PREVIEW_TIMEOUT)
            .await
            .unwrap();
        assert!(p.changes.is_empty());
        assert_eq!(p.note.as_deref(), Some("CloudFormation found no changes"));
        assert_eq!(w.deleted.lock().unwrap().len(), 1);

        let w = world(
            vec![status_only(
                ChangeSetStatus::Failed,
                Some("Parameters: [Tag] must have values"),
            )],
            None,
            false,
        );
        let p = preview_update(&w.client, &out, &job(), &current(), PREVIEW_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(
            p.note.as_deref(),
            Some("the preview change set failed: Parameters: [Tag] must have values")
        );
        assert_eq!(w.deleted.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_set_that_never_completes_times_out_and_is_deleted() {
        let w = world(
            vec![status_only(ChangeSetStatus::CreateInProgress, None)],
            None,
            false,
        );
        let (out, _stdout, _stderr) = Output::captured(true);
        let e = preview_update(&w.client, &out, &job(), &current(), Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), common::exit::TIMEOUT);
        assert!(e.to_string().contains("describe-change-set"), "{e}");
        assert_eq!(w.deleted.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_delete_is_a_warning_naming_the_command() {
        let w = world(
            vec![
                DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreateComplete)
                    .changes(change(
                        ChangeAction::Modify,
                        "Db",
                        "AWS::RDS::DBInstance",
                        Some(Replacement::False),
                        vec![],
                    ))
                    .build(),
            ],
            None,
            true,
        );
        let (out, _stdout, stderr) = Output::captured(false);
        let p = preview_update(&w.client, &out, &job(), &current(), PREVIEW_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(p.changes.len(), 1);
        assert!(!p.changes[0].may_replace());
        assert!(risky("S", &p.changes).is_empty());
        let err = stderr.text();
        assert!(
            err.contains("aws cloudformation delete-change-set --stack-name LightningTalk-Database-prod --change-set-name stack-deploy-preview-"),
            "{err}"
        );
    }

    #[test]
    fn a_new_stack_lists_every_template_resource_as_added() {
        let a = additions(
            r#"{"Resources":{"Db":{"Type":"AWS::RDS::DBInstance"},"Q":{"Type":"AWS::SQS::Queue"}}}"#,
        );
        let got: Vec<(&str, &str, &str)> = a
            .iter()
            .map(|c| {
                (
                    c.action.as_str(),
                    c.logical_id.as_str(),
                    c.resource_type.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("Add", "Db", "AWS::RDS::DBInstance"),
                ("Add", "Q", "AWS::SQS::Queue")
            ]
        );
        assert!(additions("not json").is_empty());
        assert!(risky("S", &a).is_empty());
    }
}
