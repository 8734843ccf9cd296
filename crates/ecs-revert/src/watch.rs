//! Waiting for services to settle: one DescribeServices per look for all of
//! them (ten per call), progress on stderr with counts and each new service
//! event as it appears, the shared poll helper's backoff (250 ms growing to a
//! 10 s cap), `--timeout`, `LTC_DEADLINE`, and exit 5 with the re-attach command.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::Service;
use common::{Output, Poll, Result, WaitOptions, poll_until};
use serde::Serialize;

use crate::ecs::describe_services;
use crate::steady::{Expect, Verdict, evaluate};
use crate::taskdef::TaskDefRef;

/// How many recent service events a result or failure carries.
pub const RECENT_EVENTS: usize = 5;

/// One service to wait for.
#[derive(Debug, Clone)]
pub struct Watched {
    pub service: String,
    pub expect: Expect,
    /// Event ids already known (printed before the wait, or older than it);
    /// `None`: show the newest few as context at the first look.
    pub seen_events: Option<HashSet<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventLine {
    pub time: String,
    pub message: String,
}

/// How a service ended the wait.
#[derive(Debug, Clone, Serialize)]
pub struct Settled {
    pub service: String,
    /// `steady` or `failed`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub task_definition: Option<TaskDefRef>,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    /// The newest service events, newest first.
    pub events: Vec<EventLine>,
}

impl Settled {
    pub fn failed(&self) -> bool {
        self.state == "failed"
    }
}

pub fn event_lines(svc: &Service, n: usize) -> Vec<EventLine> {
    svc.events()
        .iter()
        .take(n)
        .map(|e| EventLine {
            time: e.created_at().map(|t| t.to_string()).unwrap_or_default(),
            message: e.message().unwrap_or_default().to_owned(),
        })
        .collect()
}

pub fn event_ids(svc: &Service) -> HashSet<String> {
    svc.events()
        .iter()
        .filter_map(|e| e.id().map(str::to_owned))
        .collect()
}

struct State {
    seen: HashMap<String, Option<HashSet<String>>>,
    notes_shown: HashSet<String>,
    settled: HashMap<String, Settled>,
}

/// Waits until every service is steady or failed. A timeout is an error (exit 5)
/// naming `reattach`; failures are returned for the caller to report (exit 4).
pub async fn wait_all(
    out: &Output,
    client: &Client,
    cluster: &str,
    watched: &[Watched],
    timeout: Duration,
    reattach: String,
) -> Result<Vec<Settled>> {
    let what = if watched.len() == 1 {
        format!("service {} in {cluster}", watched[0].service)
    } else {
        format!("{} services in {cluster}", watched.len())
    };
    let state = Mutex::new(State {
        seen: watched
            .iter()
            .map(|w| (w.service.clone(), w.seen_events.clone()))
            .collect(),
        notes_shown: HashSet::new(),
        settled: HashMap::new(),
    });
    let opts = WaitOptions::new(what, timeout).reattach(reattach);
    let state_ref = &state;
    poll_until(out, &opts, move || async move {
        let pending: Vec<String> = {
            let st = lock(state_ref);
            watched
                .iter()
                .filter(|w| !st.settled.contains_key(&w.service))
                .map(|w| w.service.clone())
                .collect()
        };
        let services = describe_services(client, cluster, &pending).await?;
        let mut st = lock(state_ref);
        let mut statuses = Vec::new();
        for (name, svc) in pending.iter().zip(&services) {
            let Some(w) = watched.iter().find(|w| &w.service == name) else {
                continue;
            };
            show_new_events(out, name, svc, &mut st);
            let eval = evaluate(svc, &w.expect);
            for note in eval.notes {
                if st.notes_shown.insert(note.clone()) {
                    out.warn(format!("{name}: {note}"));
                }
            }
            let settled = |state: &'static str, reason: Option<String>| Settled {
                service: name.clone(),
                state,
                reason,
                task_definition: svc.task_definition().and_then(TaskDefRef::parse_loose),
                desired: svc.desired_count(),
                running: svc.running_count(),
                pending: svc.pending_count(),
                events: event_lines(svc, RECENT_EVENTS),
            };
            match eval.verdict {
                Verdict::Steady => {
                    out.info(format!(
                        "{name}: steady ({}/{} running)",
                        svc.running_count(),
                        svc.desired_count()
                    ));
                    st.settled.insert(name.clone(), settled("steady", None));
                }
                Verdict::Failed(reason) => {
                    out.warn(format!("{name}: {reason}"));
                    st.settled
                        .insert(name.clone(), settled("failed", Some(reason)));
                }
                Verdict::Pending(s) => statuses.push(format!("{name} {s}")),
            }
        }
        if statuses.is_empty() {
            let all: Vec<Settled> = watched
                .iter()
                .filter_map(|w| st.settled.get(&w.service).cloned())
                .collect();
            Ok(Poll::Done(all))
        } else {
            Ok(Poll::Pending(statuses.join("; ")))
        }
    })
    .await
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Prints events not seen before, oldest first. Without a baseline the newest
/// three are shown as context and the rest marked seen.
fn show_new_events(out: &Output, name: &str, svc: &Service, st: &mut State) {
    let entry = st.seen.entry(name.to_owned()).or_insert(None);
    let (fresh, context_only): (Vec<_>, bool) = match entry {
        Some(seen) => (
            svc.events()
                .iter()
                .filter(|e| e.id().is_some_and(|id| !seen.contains(id)))
                .collect(),
            false,
        ),
        None => (svc.events().iter().take(3).collect(), true),
    };
    for e in fresh.iter().rev() {
        let time = e.created_at().map(|t| t.to_string()).unwrap_or_default();
        let prefix = if context_only {
            "recent event"
        } else {
            "event"
        };
        out.info(format!(
            "{name}: {prefix} {time} {}",
            e.message().unwrap_or_default()
        ));
    }
    let seen = entry.get_or_insert_with(HashSet::new);
    seen.extend(event_ids(svc));
}
