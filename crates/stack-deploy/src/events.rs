//! Stack events: fetched newest-first and paged only as far back as needed,
//! de-duplicated by EventId, shown oldest-first on stderr, and searched for the
//! first failing resource's reason.

use std::collections::HashSet;

use aws_sdk_cloudformation::Client;
use chrono::{DateTime, Utc};
use serde::Serialize;

use common::{AwsResultExt, Result};

/// One stack event, reduced to what an operator reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: String,
    pub time: DateTime<Utc>,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Event {
    pub fn from_sdk(e: &aws_sdk_cloudformation::types::StackEvent) -> Event {
        let time = e
            .timestamp()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
            .unwrap_or_default();
        Event {
            id: e.event_id().unwrap_or_default().to_owned(),
            time,
            logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
            resource_type: e.resource_type().unwrap_or_default().to_owned(),
            status: e
                .resource_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            reason: e
                .resource_status_reason()
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
        }
    }

    /// `12:03:04  LightningTalk-Api-prod  CREATE_FAILED  AWS::S3::Bucket  Site  reason`
    pub fn line(&self, stack: &str) -> String {
        let mut s = format!(
            "{}  {stack}  {:<28} {:<28} {}",
            self.time.format("%H:%M:%S"),
            self.status,
            self.resource_type,
            self.logical_id
        );
        if let Some(r) = &self.reason {
            s.push_str("  ");
            s.push_str(r);
        }
        s
    }
}

/// Remembers what has been shown for one stack operation. The operation's
/// first event is the stack's own `*_IN_PROGRESS` "User Initiated" event;
/// anything older belongs to earlier operations (found without trusting the
/// local clock). `since` is a coarse extra guard until that event is seen.
#[derive(Debug, Default)]
pub struct Tracker {
    pub since: Option<DateTime<Utc>>,
    /// Time of this operation's start event, once seen.
    floor: Option<DateTime<Utc>>,
    seen: HashSet<String>,
    /// Everything of this operation so far, oldest first.
    pub history: Vec<Event>,
}

fn is_operation_start(e: &Event) -> bool {
    e.resource_type == "AWS::CloudFormation::Stack"
        && e.status.ends_with("_IN_PROGRESS")
        && e.reason.as_deref() == Some("User Initiated")
}

impl Tracker {
    pub fn new(since: Option<DateTime<Utc>>) -> Self {
        Tracker {
            since,
            ..Default::default()
        }
    }

    fn too_old(&self, e: &Event) -> bool {
        self.floor.or(self.since).is_some_and(|f| e.time < f)
    }

    /// Whether paging further back can still find events of this operation.
    pub fn wants_more(&self, page_newest_first: &[Event]) -> bool {
        page_newest_first
            .iter()
            .all(|e| !self.seen.contains(&e.id) && !self.too_old(e) && !is_operation_start(e))
    }

    /// Takes events newest first (pages in fetch order) and returns those of
    /// this operation not seen before, oldest first.
    pub fn absorb(&mut self, newest_first: Vec<Event>) -> Vec<Event> {
        let mut fresh = Vec::new();
        for e in newest_first {
            if self.too_old(&e) {
                break;
            }
            if !self.seen.insert(e.id.clone()) {
                continue;
            }
            let start = self.floor.is_none() && is_operation_start(&e);
            if start {
                self.floor = Some(e.time);
            }
            fresh.push(e);
            if start {
                break;
            }
        }
        fresh.reverse();
        self.history.extend(fresh.iter().cloned());
        fresh
    }

    /// The first failure of this operation (see [`first_failure`]).
    pub fn first_failure(&self) -> Option<&Event> {
        first_failure(&self.history)
    }
}

/// The oldest `*_FAILED` resource event with a reason that is not a knock-on
/// "cancelled" message; falls back to the stack's own failure event.
pub fn first_failure(oldest_first: &[Event]) -> Option<&Event> {
    let failed = |e: &&Event| e.status.ends_with("_FAILED") && e.reason.is_some();
    let knock_on = |e: &Event| {
        e.reason.as_deref().is_some_and(|r| {
            let r = r.to_ascii_lowercase();
            r.contains("cancelled") || r.contains("canceled")
        })
    };
    oldest_first
        .iter()
        .filter(failed)
        .find(|e| e.resource_type != "AWS::CloudFormation::Stack" && !knock_on(e))
        .or_else(|| oldest_first.iter().filter(failed).find(|e| !knock_on(e)))
        .or_else(|| oldest_first.iter().find(failed))
}

/// `Logical (Type): reason`, the way the failure is quoted in errors.
pub fn describe_failure(e: &Event) -> String {
    format!(
        "{} ({}) {}: {}",
        e.logical_id,
        e.resource_type,
        e.status,
        e.reason.as_deref().unwrap_or("no reason given")
    )
}

/// Fetches the events not yet seen (paging back only while every event on a
/// page is new and inside the operation), oldest first. Counts the calls.
pub async fn fetch_new(
    cfn: &Client,
    stack: &str,
    tracker: &mut Tracker,
    calls: &mut u32,
) -> Result<Vec<Event>> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        *calls += 1;
        let out = cfn
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(token.clone())
            .send()
            .await
            .aws("DescribeStackEvents")?;
        let page: Vec<Event> = out.stack_events().iter().map(Event::from_sdk).collect();
        let more = tracker.wants_more(&page) && !page.is_empty();
        all.extend(page);
        token = out.next_token().map(str::to_owned);
        if !more || token.is_none() {
            break;
        }
    }
    Ok(tracker.absorb(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event as read from CloudFormation (the SDK event the stack tests
    /// answer with, converted as `fetch_new` converts it).
    fn ev(
        id: &str,
        secs: i64,
        logical: &str,
        ty: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Event {
        Event::from_sdk(&crate::stack::tests::event(
            id, secs, logical, ty, status, reason,
        ))
    }

    #[test]
    fn absorb_deduplicates_orders_oldest_first_and_stops_at_the_operation_start() {
        let mut t = Tracker::new(None);
        let stack = "AWS::CloudFormation::Stack";
        let old_fail = ev(
            "0",
            0,
            "B",
            "AWS::S3::Bucket",
            "UPDATE_FAILED",
            Some("old failure"),
        );
        let old = ev(
            "1",
            1,
            "S",
            stack,
            "UPDATE_IN_PROGRESS",
            Some("User Initiated"),
        );
        let start = ev(
            "2",
            5,
            "S",
            stack,
            "UPDATE_IN_PROGRESS",
            Some("User Initiated"),
        );
        let b = ev("3", 6, "B", "AWS::S3::Bucket", "UPDATE_IN_PROGRESS", None);
        let page = vec![b.clone(), start.clone(), old.clone(), old_fail.clone()];
        assert!(!t.wants_more(&page), "the start event ends the paging");
        let got = t.absorb(page);
        assert_eq!(got, vec![start.clone(), b.clone()]);
        let c = ev("4", 7, "B", "AWS::S3::Bucket", "UPDATE_COMPLETE", None);
        // The next look returns everything again: only the new event comes out.
        assert_eq!(
            t.absorb(vec![c.clone(), b.clone(), start, old, old_fail]),
            vec![c]
        );
        assert_eq!(t.history.len(), 3);
        assert!(
            t.first_failure().is_none(),
            "an earlier operation's failure is not ours"
        );
        assert!(!t.wants_more(&[b]));
    }

    #[test]
    fn first_failure_skips_cancellations_and_the_stack_itself() {
        let h = vec![
            ev(
                "1",
                1,
                "S",
                "AWS::CloudFormation::Stack",
                "CREATE_IN_PROGRESS",
                Some("User Initiated"),
            ),
            ev(
                "2",
                2,
                "Queue",
                "AWS::SQS::Queue",
                "CREATE_FAILED",
                Some("Resource creation cancelled"),
            ),
            ev(
                "3",
                3,
                "Bucket",
                "AWS::S3::Bucket",
                "CREATE_FAILED",
                Some("bucket name already exists"),
            ),
            ev(
                "4",
                4,
                "Topic",
                "AWS::SNS::Topic",
                "CREATE_FAILED",
                Some("later failure"),
            ),
            ev(
                "5",
                5,
                "S",
                "AWS::CloudFormation::Stack",
                "ROLLBACK_IN_PROGRESS",
                Some("The following resource(s) failed to create: [Bucket]"),
            ),
        ];
        let f = first_failure(&h).unwrap();
        assert_eq!(f.logical_id, "Bucket");
        assert_eq!(
            describe_failure(f),
            "Bucket (AWS::S3::Bucket) CREATE_FAILED: bucket name already exists"
        );
        assert!(first_failure(&h[..1]).is_none());
    }
}
