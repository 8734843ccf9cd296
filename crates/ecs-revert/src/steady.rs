//! Is a service settled? Evaluated from one DescribeServices answer, so it can be
//! tested without AWS.
//!
//! Steady means: exactly one deployment, its rollout COMPLETED, running ==
//! desired, and the primary deployment on the target revision. A FAILED rollout
//! (the deployment circuit breaker) is final and reported with its reason.

use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service};

use crate::taskdef::TaskDefRef;

/// What the wait expects of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// The revision the service must settle on (`None`: whatever it points at).
    pub target: Option<TaskDefRef>,
    /// The desired count the service must have (`scale`).
    pub desired: Option<i32>,
    /// Require one deployment and a COMPLETED rollout (`revert`, `wait`), or
    /// only the counts (`scale`).
    pub rollout: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Steady,
    Pending(String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub verdict: Verdict,
    /// Things worth saying once, e.g. an inconsistency the emulator shows.
    pub notes: Vec<String>,
}

fn primary(svc: &Service) -> Option<&Deployment> {
    svc.deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .or_else(|| svc.deployments().first())
}

fn deployment_td(d: &Deployment) -> Option<TaskDefRef> {
    d.task_definition().and_then(TaskDefRef::parse_loose)
}

fn rollout_name(d: &Deployment) -> &str {
    d.rollout_state().map_or("-", |s| s.as_str())
}

/// Evaluates one service against what is expected of it.
pub fn evaluate(svc: &Service, expect: &Expect) -> Evaluation {
    let mut notes = Vec::new();
    let status = svc.status().unwrap_or("UNKNOWN");
    if status != "ACTIVE" {
        return Evaluation {
            verdict: Verdict::Failed(format!("the service is {status}, not ACTIVE")),
            notes,
        };
    }
    let service_td = svc.task_definition().and_then(TaskDefRef::parse_loose);
    let primary = primary(svc);
    let primary_td = primary.and_then(deployment_td);

    // Real ECS keeps the service's task definition equal to its primary
    // deployment's. The emulator does not update the deployment on
    // UpdateService; the service's own field is the one that changed.
    if let (Some(s), Some(p)) = (&service_td, &primary_td)
        && s != p
    {
        notes.push(format!(
            "the service points at {s} but its primary deployment reports {p}; ECS keeps these equal, so trusting the service's own field (a known emulator gap)"
        ));
    }

    let watched = expect.target.clone().or_else(|| service_td.clone());
    for d in svc.deployments() {
        if d.rollout_state() == Some(&DeploymentRolloutState::Failed) {
            let on_watched = deployment_td(d) == watched || d.status() == Some("PRIMARY");
            if on_watched {
                let td = deployment_td(d).map_or_else(|| "?".to_owned(), |t| t.to_string());
                return Evaluation {
                    verdict: Verdict::Failed(format!(
                        "rollout of {td} FAILED: {}",
                        d.rollout_state_reason().unwrap_or("no reason given")
                    )),
                    notes,
                };
            }
        }
    }

    let (desired, running, pending) = (
        svc.desired_count(),
        svc.running_count(),
        svc.pending_count(),
    );
    let n_deployments = svc.deployments().len();
    let rollout = primary.map_or("-", rollout_name);
    let counts = format!(
        "{running}/{desired} running, {pending} pending, {n_deployments} deployment{}, rollout {rollout}",
        if n_deployments == 1 { "" } else { "s" }
    );

    // The primary deployment's revision equals the service's on real ECS (see
    // the note above), so the service's own field decides.
    let on_target = match &expect.target {
        None => true,
        Some(t) => service_td.as_ref() == Some(t),
    };
    let rollout_done = primary
        .map(|d| {
            d.rollout_state()
                .is_none_or(|s| *s == DeploymentRolloutState::Completed)
        })
        .unwrap_or(true);
    let settled = n_deployments <= 1 && rollout_done && running == desired;

    if let Some(t) = &expect.target
        && !on_target
        && settled
    {
        let now = service_td.map_or_else(|| "an unknown revision".to_owned(), |s| s.to_string());
        return Evaluation {
            verdict: Verdict::Failed(format!(
                "the service settled on {now}, not {t} (the deployment circuit breaker rolled back, or another deployment replaced it)"
            )),
            notes,
        };
    }
    if let Some(want) = expect.desired
        && desired != want
    {
        return Evaluation {
            verdict: Verdict::Pending(format!(
                "desired count is {desired}, expected {want}; {counts}"
            )),
            notes,
        };
    }
    let steady = if expect.rollout {
        settled && on_target
    } else {
        running == desired && pending == 0
    };
    Evaluation {
        verdict: if steady {
            Verdict::Steady
        } else {
            Verdict::Pending(counts)
        },
        notes,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service};

    use super::*;

    pub(crate) fn deployment(
        status: &str,
        td: &str,
        rollout: DeploymentRolloutState,
        running: i32,
        desired: i32,
    ) -> Deployment {
        Deployment::builder()
            .id(format!("ecs-svc/{status}-{td}"))
            .status(status)
            .task_definition(td)
            .rollout_state(rollout)
            .rollout_state_reason("reason text")
            .running_count(running)
            .desired_count(desired)
            .build()
    }

    pub(crate) fn service(td: &str, running: i32, desired: i32, deps: Vec<Deployment>) -> Service {
        Service::builder()
            .service_name("api")
            .cluster_arn("arn:aws:ecs:ap-northeast-1:123456789012:cluster/ltc")
            .status("ACTIVE")
            .task_definition(td)
            .running_count(running)
            .desired_count(desired)
            .pending_count(0)
            .set_deployments(Some(deps))
            .build()
    }

    fn to(rev: u32) -> Expect {
        Expect {
            target: Some(TaskDefRef::new("api", rev)),
            desired: None,
            rollout: true,
        }
    }

    const ARN3: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/api:3";
    const ARN4: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/api:4";

    #[test]
    fn single_completed_deployment_on_target_is_steady() {
        let s = service(
            ARN3,
            2,
            2,
            vec![deployment(
                "PRIMARY",
                ARN3,
                DeploymentRolloutState::Completed,
                2,
                2,
            )],
        );
        assert_eq!(evaluate(&s, &to(3)).verdict, Verdict::Steady);
        // The short form the emulator stores compares equal to the ARN.
        let s = service(
            "api:3",
            2,
            2,
            vec![deployment(
                "PRIMARY",
                ARN3,
                DeploymentRolloutState::Completed,
                2,
                2,
            )],
        );
        assert_eq!(evaluate(&s, &to(3)).verdict, Verdict::Steady);
    }

    #[test]
    fn two_deployments_draining_is_pending_with_counts() {
        let s = service(
            ARN3,
            3,
            2,
            vec![
                deployment("PRIMARY", ARN3, DeploymentRolloutState::InProgress, 1, 2),
                deployment("ACTIVE", ARN4, DeploymentRolloutState::Completed, 2, 0),
            ],
        );
        match evaluate(&s, &to(3)).verdict {
            Verdict::Pending(msg) => {
                assert!(msg.contains("3/2 running"), "{msg}");
                assert!(msg.contains("2 deployments"), "{msg}");
                assert!(msg.contains("IN_PROGRESS"), "{msg}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn counts_short_of_desired_are_pending() {
        let s = service(
            ARN3,
            1,
            2,
            vec![deployment(
                "PRIMARY",
                ARN3,
                DeploymentRolloutState::Completed,
                1,
                2,
            )],
        );
        assert!(matches!(evaluate(&s, &to(3)).verdict, Verdict::Pending(_)));
    }

    #[test]
    fn failed_rollout_on_target_is_final() {
        let s = service(
            ARN3,
            2,
            2,
            vec![
                deployment("PRIMARY", ARN3, DeploymentRolloutState::Failed, 0, 2),
                deployment("ACTIVE", ARN4, DeploymentRolloutState::Completed, 2, 2),
            ],
        );
        match evaluate(&s, &to(3)).verdict {
            Verdict::Failed(msg) => assert!(msg.contains("api:3 FAILED: reason text"), "{msg}"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn failed_old_deployment_being_replaced_is_not_our_failure() {
        // Reverting away from a deployment that had already failed.
        let s = service(
            ARN3,
            2,
            2,
            vec![
                deployment("PRIMARY", ARN3, DeploymentRolloutState::InProgress, 1, 2),
                deployment("ACTIVE", ARN4, DeploymentRolloutState::Failed, 1, 2),
            ],
        );
        assert!(matches!(evaluate(&s, &to(3)).verdict, Verdict::Pending(_)));
    }

    #[test]
    fn settled_elsewhere_is_a_failure() {
        // Circuit breaker rolled back to 4 and the failed deployment is gone.
        let s = service(
            ARN4,
            2,
            2,
            vec![deployment(
                "PRIMARY",
                ARN4,
                DeploymentRolloutState::Completed,
                2,
                2,
            )],
        );
        match evaluate(&s, &to(3)).verdict {
            Verdict::Failed(msg) => assert!(msg.contains("settled on api:4, not api:3"), "{msg}"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn emulator_stale_primary_deployment_is_noted_and_trusted_to_the_service() {
        // moto: service says api:3 (as passed), deployments[0] still says api:4.
        let s = service(
            "api:3",
            2,
            2,
            vec![deployment(
                "PRIMARY",
                ARN4,
                DeploymentRolloutState::Completed,
                2,
                2,
            )],
        );
        let e = evaluate(&s, &to(3));
        assert_eq!(e.verdict, Verdict::Steady);
        assert_eq!(e.notes.len(), 1);
        assert!(e.notes[0].contains("emulator"), "{:?}", e.notes);
    }

    #[test]
    fn scale_waits_for_running_to_match_the_new_desired_count() {
        let expect = Expect {
            target: None,
            desired: Some(4),
            rollout: false,
        };
        let s = service(
            ARN3,
            2,
            2,
            vec![deployment(
                "PRIMARY",
                ARN3,
                DeploymentRolloutState::Completed,
                2,
                2,
            )],
        );
        assert!(
            matches!(evaluate(&s, &expect).verdict, Verdict::Pending(m) if m.contains("expected 4"))
        );
        let s = service(
            ARN3,
            3,
            4,
            vec![deployment(
                "PRIMARY",
                ARN3,
                DeploymentRolloutState::Completed,
                3,
                4,
            )],
        );
        assert!(matches!(evaluate(&s, &expect).verdict, Verdict::Pending(_)));
        let s = service(
            ARN3,
            4,
            4,
            vec![deployment(
                "PRIMARY",
                ARN3,
                DeploymentRolloutState::Completed,
                4,
                4,
            )],
        );
        assert_eq!(evaluate(&s, &expect).verdict, Verdict::Steady);
    }

    #[test]
    fn draining_service_fails() {
        let s = Service::builder().status("DRAINING").build();
        assert!(matches!(evaluate(&s, &to(3)).verdict, Verdict::Failed(_)));
    }
}
