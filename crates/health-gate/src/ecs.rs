//! ECS gates: the unhealthy share of a service's tasks,
//! 1 - healthy running / desired, in %. DescribeServices (10 services per call)
//! gives running and desired; one ListTasks of the cluster's running tasks and
//! DescribeTasks (100 per call) give each task's health status and service (its
//! group `service:NAME`); a task reported UNHEALTHY is not counted as healthy. Tasks
//! without a container health check report UNKNOWN and count as healthy when
//! running. A gate over several services takes the worst one.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{DesiredStatus, HealthStatus};
use common::{AwsError, AwsResultExt};

use crate::evaluate::Observation;

pub fn describe_gate(cluster: &str, services: &[String]) -> String {
    format!(
        "1 - healthy running / desired, {cluster}: {}",
        services.join(", ")
    )
}

/// One service's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceHealth {
    pub service: String,
    pub desired: i32,
    pub running: i32,
    pub unhealthy_running: i32,
}

impl ServiceHealth {
    /// The unhealthy share in %, or None when nothing is desired.
    pub fn unhealthy_share(&self) -> Option<f64> {
        if self.desired <= 0 {
            return None;
        }
        let healthy = (self.running - self.unhealthy_running).max(0);
        Some((100.0 * (1.0 - f64::from(healthy) / f64::from(self.desired))).clamp(0.0, 100.0))
    }
}

/// UNHEALTHY running tasks per service (by the task's group `service:NAME`), from
/// one ListTasks of the cluster's running tasks (paged) and DescribeTasks per 100:
/// one call per source kind rather than one per service.
async fn unhealthy_by_service(
    ecs: &Client,
    cluster: &str,
) -> Result<std::collections::HashMap<String, i32>, AwsError> {
    let mut arns = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let o = ecs
            .list_tasks()
            .cluster(cluster)
            .desired_status(DesiredStatus::Running)
            .set_next_token(token.take())
            .send()
            .await
            .aws("ListTasks")?;
        arns.extend(o.task_arns().iter().cloned());
        match o.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    let mut unhealthy = std::collections::HashMap::new();
    for chunk in arns.chunks(100) {
        let o = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .aws("DescribeTasks")?;
        for t in o.tasks() {
            if t.last_status() == Some("RUNNING")
                && t.health_status() == Some(&HealthStatus::Unhealthy)
                && let Some(service) = t.group().and_then(|g| g.strip_prefix("service:"))
            {
                *unhealthy.entry(service.to_owned()).or_insert(0) += 1;
            }
        }
    }
    Ok(unhealthy)
}

/// Reads the services of one gate.
pub async fn evaluate(ecs: &Client, cluster: &str, services: &[String]) -> Observation {
    let mut found: Vec<ServiceHealth> = Vec::new();
    for chunk in services.chunks(10) {
        let o = match ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .aws("DescribeServices")
        {
            Ok(o) => o,
            Err(e) if e.has_code("ClusterNotFoundException") => {
                return Observation::Fail {
                    value: None,
                    detail: format!("no such cluster {cluster}"),
                };
            }
            Err(e) => return Observation::NoData(e.to_string()),
        };
        if let Some(f) = o.failures().first() {
            return Observation::Fail {
                value: None,
                detail: format!(
                    "{}: {}",
                    f.arn().unwrap_or("?"),
                    f.reason().unwrap_or("not found")
                ),
            };
        }
        for s in o.services() {
            found.push(ServiceHealth {
                service: s.service_name().unwrap_or("?").to_owned(),
                desired: s.desired_count(),
                running: s.running_count(),
                unhealthy_running: 0,
            });
        }
    }
    if found.iter().any(|h| h.running > 0) {
        match unhealthy_by_service(ecs, cluster).await {
            Ok(by) => {
                for h in &mut found {
                    h.unhealthy_running = by.get(&h.service).copied().unwrap_or(0);
                }
            }
            // Without task health a share would count unhealthy tasks as
            // healthy: no data, not a guess.
            Err(e) => return Observation::NoData(format!("task health not read: {e}")),
        }
    }
    let parts: Vec<String> = found
        .iter()
        .map(|h| {
            let unhealthy = if h.unhealthy_running > 0 {
                format!(", {} UNHEALTHY", h.unhealthy_running)
            } else {
                String::new()
            };
            format!(
                "{}: {}/{} running{unhealthy}",
                h.service, h.running, h.desired
            )
        })
        .collect();
    let worst = found
        .iter()
        .filter_map(ServiceHealth::unhealthy_share)
        .fold(None, |acc: Option<f64>, v| {
            Some(acc.map_or(v, |a| a.max(v)))
        });
    match worst {
        Some(v) => Observation::Value {
            value: v,
            detail: parts.join("; "),
        },
        None => Observation::NoData(format!(
            "nothing desired ({}): no share to measure",
            parts.join("; ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
    use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
    use aws_sdk_ecs::types::{Service, Task};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    #[test]
    fn share_is_one_minus_healthy_running_over_desired() {
        let h = |desired, running, unhealthy_running| ServiceHealth {
            service: "api".into(),
            desired,
            running,
            unhealthy_running,
        };
        assert_eq!(h(4, 4, 0).unhealthy_share(), Some(0.0));
        assert_eq!(h(4, 2, 0).unhealthy_share(), Some(50.0));
        assert_eq!(h(4, 4, 3).unhealthy_share(), Some(75.0));
        // More running than desired (a rollout) is still 0 %, not negative.
        assert_eq!(h(2, 4, 0).unhealthy_share(), Some(0.0));
        assert_eq!(h(0, 0, 0).unhealthy_share(), None);
    }

    // The emulator never reports task health: UNHEALTHY tasks come from mocks.
    #[tokio::test]
    async fn unhealthy_tasks_of_the_cluster_count_against_their_service() {
        let services = mock!(Client::describe_services).then_output(|| {
            DescribeServicesOutput::builder()
                .services(
                    Service::builder()
                        .service_name("api")
                        .desired_count(4)
                        .running_count(4)
                        .build(),
                )
                .build()
        });
        let list = mock!(Client::list_tasks)
            .match_requests(|r| {
                r.cluster() == Some("ltc")
                    && r.service_name().is_none()
                    && r.desired_status() == Some(&DesiredStatus::Running)
            })
            .then_output(|| {
                ListTasksOutput::builder()
                    .task_arns("t1")
                    .task_arns("t2")
                    .task_arns("t3")
                    .task_arns("t4")
                    .build()
            });
        let tasks = mock!(Client::describe_tasks).then_output(|| {
            let t = |group: &str, h: HealthStatus| {
                Task::builder()
                    .group(group)
                    .last_status("RUNNING")
                    .health_status(h)
                    .build()
            };
            DescribeTasksOutput::builder()
                .tasks(t("service:api", HealthStatus::Healthy))
                .tasks(t("service:api", HealthStatus::Unhealthy))
                .tasks(t("service:api", HealthStatus::Unhealthy))
                .tasks(t("service:api", HealthStatus::from("UNKNOWN")))
                // Another service's task in the same cluster does not count.
                .tasks(t("service:worker", HealthStatus::Unhealthy))
                .build()
        });
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&services, &list, &tasks]);
        let obs = evaluate(&ecs, "ltc", &["api".into()]).await;
        assert_eq!(list.num_calls(), 1);
        assert_eq!(tasks.num_calls(), 1);
        match obs {
            Observation::Value { value, detail } => {
                assert_eq!(value, 50.0);
                assert_eq!(detail, "api: 4/4 running, 2 UNHEALTHY");
            }
            o => panic!("{o:?}"),
        }
    }
}
