//! `health-gate policy check|watch --gates FILE [flags]`: the IAM policy that
//! evaluating that gates file needs (read-only): per gate source the calls of
//! metrics.rs, alarms.rs, ecs.rs, targets.rs, scaling.rs, guardduty.rs and
//! connect.rs. Command and plain TCP gates make no AWS call.

use common::policy::{Policy, PolicyArgs, Target};
use common::{Context, GlobalArgs, Result};

use crate::gatesfile::{Kind, TcpTarget};
use crate::{Cli, Command};

/// Prints the policy for the command line after `policy`.
pub fn run(ctx: &Context, outer: &GlobalArgs, args: &PolicyArgs) -> Result<()> {
    let t: Target<Cli> = common::policy::parse_target("health-gate", outer, args)?;
    common::policy::print(ctx, &statements(&t)?)
}

/// The grants of a parsed command line (reads the gates file; exit 2 on a
/// mistake in it, as the command itself would).
pub fn statements(t: &Target<Cli>) -> Result<Policy> {
    let gates = match &t.cli.command {
        Command::Check(a) => a.gates.load()?,
        Command::Watch(a) => a.gates.load()?,
        Command::Policy(_) => return Ok(Policy::new()),
    };
    let scope = &t.scope;
    let mut p = Policy::new();
    for g in &gates.gates {
        match &g.kind {
            // CloudWatch read actions take no resource-level permissions.
            Kind::Metric(_) => {
                p.allow(["cloudwatch:GetMetricData"], ["*"]);
            }
            Kind::Alarm(_) => {
                p.allow(["cloudwatch:DescribeAlarms"], ["*"]);
            }
            Kind::Ecs { cluster, services } => {
                let cluster_name = cluster.rsplit('/').next().unwrap_or(cluster);
                p.allow(
                    ["ecs:DescribeServices"],
                    services.iter().map(|s| {
                        let s = s.rsplit('/').next().unwrap_or(s);
                        scope.arn("ecs", &format!("service/{cluster_name}/{s}"))
                    }),
                );
                // One ListTasks per cluster, then DescribeTasks of its tasks.
                p.allow(
                    ["ecs:ListTasks"],
                    [scope.arn("ecs", &format!("container-instance/{cluster_name}/*"))],
                );
                p.allow(
                    ["ecs:DescribeTasks"],
                    [scope.arn("ecs", &format!("task/{cluster_name}/*"))],
                );
            }
            Kind::Tcp { target, .. } => match target {
                TcpTarget::Address(_) => {}
                TcpTarget::RdsInstance(id) => {
                    p.allow(
                        ["rds:DescribeDBInstances"],
                        [scope.arn("rds", &format!("db:{id}"))],
                    );
                }
                TcpTarget::CacheCluster(_) => {
                    p.allow(["elasticache:DescribeCacheClusters"], ["*"]);
                }
                TcpTarget::ReplicationGroup(_) => {
                    p.allow(["elasticache:DescribeReplicationGroups"], ["*"]);
                }
            },
            Kind::Command { .. } => {}
            Kind::TargetHealth { .. } => {
                p.allow(
                    [
                        "elasticloadbalancing:DescribeTargetGroups",
                        "elasticloadbalancing:DescribeTargetHealth",
                    ],
                    ["*"],
                );
            }
            Kind::Scaling { .. } => {
                p.allow(["application-autoscaling:DescribeScalingActivities"], ["*"]);
            }
            Kind::GuardDuty { detector, .. } => {
                if detector.is_none() {
                    p.allow(["guardduty:ListDetectors"], ["*"]);
                }
                let d = detector.as_deref().unwrap_or("*");
                p.allow(
                    ["guardduty:ListFindings", "guardduty:GetFindings"],
                    [scope.arn("guardduty", &format!("detector/{d}"))],
                );
            }
        }
    }
    Ok(p)
}
