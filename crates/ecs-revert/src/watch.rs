//! Waiting for services to settle: one DescribeServices per look for all of
//! them (ten per call), progress on stderr with counts and each new service
//! event as it appears, the shared poll helper's backoff (250 ms growing to a
//! 10 s cap), `--timeout`, `LTC_DEADLINE`, and exit 5 with the re-attach command.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::Service;
use common::{Error, Output, Poll, Result, WaitOptions, poll_until};
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

#[derive(Debug, Clone, Serialize, PartialEq, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct EventLine {
    pub time: String,
    pub message: String,
}

/// How a service ended the wait.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
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

/// The exit for services that ended failed: exit 4 with the reason and events.
pub fn failure_error(failed: &[&Settled]) -> Error {
    let parts: Vec<String> = failed
        .iter()
        .map(|s| {
            let events: Vec<&str> = s
                .events
                .iter()
                .take(3)
                .map(|e| e.message.as_str())
                .collect();
            format!(
                "{}: {}{}",
                s.service,
                s.reason.as_deref().unwrap_or("failed"),
                if events.is_empty() {
                    String::new()
                } else {
                    format!(" (latest events: {})", events.join(" | "))
                }
            )
        })
        .collect();
    Error::CheckFailed(format!("rollout failed for {}", parts.join("; ")))
}

/// Edge cases the emulator cannot produce, against the real SDK client with
/// `aws-smithy-mocks` and paused time: a rollout with two deployments draining,
/// a circuit-breaker failure, throttling, a timeout, and the polling cadence.
#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_ecs::Client;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::types::{DeploymentRolloutState as R, Service, ServiceEvent};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::DateTime;
    use common::Output;
    use common::output::Captured;

    use super::*;
    use crate::steady::tests::{deployment, service};

    const OLD: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/api:4";
    const NEW: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/api:3";

    fn output() -> (Output, Captured) {
        let (out, _stdout, err) = Output::captured(true);
        (out, err)
    }

    fn event(id: &str, secs: i64, msg: &str) -> ServiceEvent {
        ServiceEvent::builder()
            .id(id)
            .created_at(DateTime::from_secs(secs))
            .message(msg)
            .build()
    }

    /// A service answer with events newest first, as ECS lists them.
    fn answer(svc: Service, events: &[ServiceEvent]) -> DescribeServicesOutput {
        let mut newest_first = events.to_vec();
        newest_first.reverse();
        DescribeServicesOutput::builder()
            .services(with_events(svc, newest_first, "api"))
            .build()
    }

    /// The same service with events and a name (the SDK types have no `to_builder`).
    fn with_events(svc: Service, events: Vec<ServiceEvent>, name: &str) -> Service {
        Service::builder()
            .service_name(name)
            .set_cluster_arn(svc.cluster_arn().map(str::to_owned))
            .set_status(svc.status().map(str::to_owned))
            .set_task_definition(svc.task_definition().map(str::to_owned))
            .running_count(svc.running_count())
            .desired_count(svc.desired_count())
            .pending_count(svc.pending_count())
            .set_deployments(Some(svc.deployments().to_vec()))
            .set_events(Some(events))
            .build()
    }

    fn watched(seen: &[&str]) -> Vec<Watched> {
        vec![Watched {
            service: "api".into(),
            expect: Expect {
                target: Some(TaskDefRef::new("api", 3)),
                desired: None,
                rollout: true,
            },
            seen_events: Some(seen.iter().map(|s| s.to_string()).collect()),
        }]
    }

    fn rollout_events() -> Vec<ServiceEvent> {
        vec![
            event("e0", 100, "(service api) has reached a steady state."),
            event(
                "e1",
                200,
                "(service api) has started 2 tasks: (task a) (task b).",
            ),
            event(
                "e2",
                230,
                "(service api) has stopped 1 running tasks: (task old1).",
            ),
            event(
                "e3",
                260,
                "(service api) has stopped 1 running tasks: (task old2).",
            ),
            event("e4", 300, "(service api) has reached a steady state."),
        ]
    }

    #[tokio::test(start_paused = true)]
    async fn real_rollout_two_deployments_draining_then_completed() {
        let ev = rollout_events();
        let (e1, e2, e3) = (ev[..2].to_vec(), ev[..3].to_vec(), ev[..4].to_vec());
        let ev_all = ev.clone();
        let rule = mock!(Client::describe_services)
            .sequence()
            .output(move || {
                answer(
                    service(
                        NEW,
                        2,
                        2,
                        vec![
                            deployment("PRIMARY", NEW, R::InProgress, 0, 2),
                            deployment("ACTIVE", OLD, R::Completed, 2, 2),
                        ],
                    ),
                    &ev[..1],
                )
            })
            .output(move || {
                answer(
                    service(
                        NEW,
                        4,
                        2,
                        vec![
                            deployment("PRIMARY", NEW, R::InProgress, 2, 2),
                            deployment("ACTIVE", OLD, R::Completed, 2, 2),
                        ],
                    ),
                    &e1,
                )
            })
            .output(move || {
                answer(
                    service(
                        NEW,
                        3,
                        2,
                        vec![
                            deployment("PRIMARY", NEW, R::InProgress, 2, 2),
                            deployment("ACTIVE", OLD, R::Completed, 1, 0),
                        ],
                    ),
                    &e2,
                )
            })
            .output(move || {
                answer(
                    service(
                        NEW,
                        2,
                        2,
                        vec![
                            deployment("PRIMARY", NEW, R::InProgress, 2, 2),
                            deployment("ACTIVE", OLD, R::Completed, 0, 0),
                        ],
                    ),
                    &e3,
                )
            })
            .output(move || {
                answer(
                    service(
                        NEW,
                        2,
                        2,
                        vec![deployment("PRIMARY", NEW, R::Completed, 2, 2)],
                    ),
                    &ev_all,
                )
            })
            .build();
        let client = mock_client!(aws_sdk_ecs, RuleMode::Sequential, &[&rule]);
        let (out, err) = output();
        let settled = wait_all(
            &out,
            &client,
            "ltc",
            &watched(&["e0"]),
            Duration::from_secs(600),
            "ecs-revert wait --cluster ltc --service api".into(),
        )
        .await
        .expect("steady");
        assert_eq!(
            rule.num_calls(),
            5,
            "one look per answer, stops when steady"
        );
        assert_eq!(settled.len(), 1);
        assert_eq!(settled[0].state, "steady");
        assert_eq!(settled[0].task_definition, Some(TaskDefRef::new("api", 3)));
        let text = err.text();
        // Counts move in the status lines ...
        assert!(
            text.contains("2/2 running, 0 pending, 2 deployments, rollout IN_PROGRESS"),
            "{text}"
        );
        assert!(text.contains("4/2 running"), "{text}");
        assert!(text.contains("3/2 running"), "{text}");
        assert!(text.contains("api: steady (2/2 running)"), "{text}");
        // ... and each new event is printed once, oldest first; the known one never.
        for msg in [
            "started 2 tasks",
            "stopped 1 running tasks: (task old1)",
            "(task old2)",
        ] {
            assert_eq!(text.matches(msg).count(), 1, "{msg}: {text}");
        }
        assert_eq!(
            text.matches("has reached a steady state").count(),
            1,
            "{text}"
        );
        let started = text.find("started 2 tasks").unwrap_or(usize::MAX);
        let stopped = text.find("(task old1)").unwrap_or(0);
        assert!(started < stopped, "oldest first: {text}");
    }

    #[tokio::test(start_paused = true)]
    async fn circuit_breaker_failure_is_final_with_its_events() {
        let events = vec![
            event(
                "f1",
                200,
                "(service api) has started 2 tasks: (task a) (task b).",
            ),
            event(
                "f2",
                260,
                "(service api) (deployment ecs-svc/123) deployment failed: tasks failed to start.",
            ),
            event(
                "f3",
                261,
                "(service api) rolling back to deployment ecs-svc/122.",
            ),
        ];
        let (first, all) = (events[..1].to_vec(), events.clone());
        let rule = mock!(Client::describe_services)
            .sequence()
            .output(move || {
                answer(
                    service(
                        NEW,
                        2,
                        2,
                        vec![
                            deployment("PRIMARY", NEW, R::InProgress, 0, 2),
                            deployment("ACTIVE", OLD, R::Completed, 2, 2),
                        ],
                    ),
                    &first,
                )
            })
            .output(move || {
                let failed = aws_sdk_ecs::types::Deployment::builder()
                    .id("ecs-svc/123")
                    .status("ACTIVE")
                    .task_definition(NEW)
                    .rollout_state(R::Failed)
                    .rollout_state_reason("ECS deployment circuit breaker: tasks failed to start.")
                    .desired_count(2)
                    .failed_tasks(4)
                    .build();
                answer(
                    service(
                        OLD,
                        2,
                        2,
                        vec![deployment("PRIMARY", OLD, R::InProgress, 2, 2), failed],
                    ),
                    &all,
                )
            })
            .build();
        let client = mock_client!(aws_sdk_ecs, RuleMode::Sequential, &[&rule]);
        let (out, err) = output();
        let settled = wait_all(
            &out,
            &client,
            "ltc",
            &watched(&[]),
            Duration::from_secs(600),
            "reattach".into(),
        )
        .await
        .expect("a failed rollout is a result, not an error");
        assert_eq!(rule.num_calls(), 2);
        assert!(settled[0].failed());
        let reason = settled[0].reason.clone().unwrap_or_default();
        assert!(
            reason.contains("api:3 FAILED: ECS deployment circuit breaker"),
            "{reason}"
        );
        let e = failure_error(&[&settled[0]]);
        assert_eq!(e.exit_code(), 4);
        let msg = e.to_string();
        assert!(msg.contains("tasks failed to start"), "{msg}");
        assert!(
            msg.contains("rolling back to deployment"),
            "the events say why: {msg}"
        );
        assert!(
            err.text()
                .contains("deployment failed: tasks failed to start"),
            "{}",
            err.text()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_during_the_wait_slows_down_and_carries_on() {
        let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
        let rule = mock!(Client::describe_services)
            .sequence()
            .output(|| {
                answer(
                    service(
                        NEW,
                        1,
                        2,
                        vec![
                            deployment("PRIMARY", NEW, R::InProgress, 1, 2),
                            deployment("ACTIVE", OLD, R::Completed, 1, 2),
                        ],
                    ),
                    &[],
                )
            })
            .http_status(400, Some(throttled.to_owned()))
            .times(6)
            .output(|| {
                answer(
                    service(
                        NEW,
                        2,
                        2,
                        vec![deployment("PRIMARY", NEW, R::Completed, 2, 2)],
                    ),
                    &[],
                )
            })
            .build();
        let client = mock_client!(aws_sdk_ecs, RuleMode::Sequential, &[&rule]);
        let (out, err) = output();
        let settled = wait_all(
            &out,
            &client,
            "ltc",
            &watched(&[]),
            Duration::from_secs(600),
            "reattach".into(),
        )
        .await
        .expect("throttling is not a failure");
        assert_eq!(settled[0].state, "steady");
        assert_eq!(rule.num_calls(), 8, "all throttled answers were consumed");
        assert!(
            err.text()
                .contains("throttled (DescribeServices failed (ThrottlingException"),
            "{}",
            err.text()
        );
    }

    /// A rollout that takes five minutes; returns the number of DescribeServices calls.
    async fn five_minute_rollout(services: usize) -> (usize, Vec<Settled>) {
        let start = tokio::time::Instant::now();
        let rule = mock!(Client::describe_services).then_compute_output(move |input| {
            let done = start.elapsed() >= Duration::from_secs(300);
            let svcs: Vec<Service> = input
                .services()
                .iter()
                .map(|name| {
                    let s = if done {
                        service(
                            NEW,
                            2,
                            2,
                            vec![deployment("PRIMARY", NEW, R::Completed, 2, 2)],
                        )
                    } else {
                        service(
                            NEW,
                            3,
                            2,
                            vec![
                                deployment("PRIMARY", NEW, R::InProgress, 1, 2),
                                deployment("ACTIVE", OLD, R::Completed, 2, 0),
                            ],
                        )
                    };
                    with_events(s, Vec::new(), name)
                })
                .collect();
            DescribeServicesOutput::builder()
                .set_services(Some(svcs))
                .build()
        });
        let client = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&rule]);
        let (out, _) = output();
        let watched: Vec<Watched> = (0..services)
            .map(|i| Watched {
                service: format!("svc{i}"),
                expect: Expect {
                    target: Some(TaskDefRef::new("api", 3)),
                    desired: None,
                    rollout: true,
                },
                seen_events: None,
            })
            .collect();
        let settled = wait_all(
            &out,
            &client,
            "ltc",
            &watched,
            Duration::from_secs(900),
            "r".into(),
        )
        .await
        .expect("steady after five minutes");
        (rule.num_calls(), settled)
    }

    #[tokio::test(start_paused = true)]
    async fn polling_cadence_against_a_five_minute_rollout() {
        let (calls, settled) = five_minute_rollout(3).await;
        assert!(settled.iter().all(|s| s.state == "steady"));
        let per_minute = calls as f64 / 5.0;
        // Printed for scripts/bench.d/ecs-revert (cargo test ... -- --nocapture).
        println!(
            "POLL_CADENCE services=3 rollout=5m describe_calls={calls} calls_per_minute={per_minute:.1} ecs_deploy_per_minute=180 aws_cli_waiter_per_minute=4"
        );
        // 250 ms growing x1.5 to a 10 s cap: 8 quick looks in the first 20 s,
        // then one every 10 s; one call covers all three services.
        assert!((35..=42).contains(&calls), "{calls} calls in 5 minutes");
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_names_the_reattach_command() {
        let rule = mock!(Client::describe_services).then_output(|| {
            answer(
                service(
                    NEW,
                    1,
                    2,
                    vec![
                        deployment("PRIMARY", NEW, R::InProgress, 1, 2),
                        deployment("ACTIVE", OLD, R::Completed, 1, 2),
                    ],
                ),
                &[],
            )
        });
        let client = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&rule]);
        let (out, _) = output();
        let e = wait_all(
            &out,
            &client,
            "ltc",
            &watched(&[]),
            Duration::from_secs(60),
            "ecs-revert wait --cluster ltc --service api".into(),
        )
        .await
        .expect_err("never settles");
        assert_eq!(e.exit_code(), 5);
        assert!(
            e.to_string()
                .contains("re-attach with: ecs-revert wait --cluster ltc --service api"),
            "{e}"
        );
    }
}
