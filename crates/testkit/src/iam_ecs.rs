//! The ECS world of the IAM matrices (ecs-revert, health-gate): cluster
//! `ltc-prod`, service `api` of family `api`, its Application Auto Scaling
//! target. Seeded with the AWS CLI while the enforcing emulator is open.

use crate::iam::EnforcingGuard;

pub const CLUSTER: &str = "ltc-prod";
pub const SERVICE: &str = "api";

impl EnforcingGuard {
    /// Cluster `ltc-prod`, revisions `api:1..=revisions` (images `app:N`) and
    /// service `api` on `api:<on>` at `desired` tasks. moto runs one task per
    /// service, so only a desired count of 1 is ever steady.
    pub fn ecs_service(&self, revisions: u32, on: u32, desired: &str) {
        self.aws(&["ecs", "create-cluster", "--cluster-name", CLUSTER]);
        for n in 1..=revisions {
            let defs = format!(r#"[{{"name":"app","image":"app:{n}","memory":128}}]"#);
            self.aws(&[
                "ecs",
                "register-task-definition",
                "--family",
                SERVICE,
                "--container-definitions",
                &defs,
            ]);
        }
        self.aws(&[
            "ecs",
            "create-service",
            "--cluster",
            CLUSTER,
            "--service-name",
            SERVICE,
            "--task-definition",
            &format!("{SERVICE}:{on}"),
            "--desired-count",
            desired,
        ]);
    }

    /// Registers (or updates) the service's scalable target: min `min`, max 4.
    pub fn scalable_target(&self, min: &str) {
        self.aws(&[
            "application-autoscaling",
            "register-scalable-target",
            "--service-namespace",
            "ecs",
            "--resource-id",
            &format!("service/{CLUSTER}/{SERVICE}"),
            "--scalable-dimension",
            "ecs:service:DesiredCount",
            "--min-capacity",
            min,
            "--max-capacity",
            "4",
        ]);
    }

    /// One field of the service as DescribeServices shows it (Null if absent).
    pub fn service_field(&self, field: &str) -> serde_json::Value {
        let v = self.aws(&[
            "ecs",
            "describe-services",
            "--cluster",
            CLUSTER,
            "--services",
            SERVICE,
        ]);
        v["services"][0][field].clone()
    }

    /// The scalable target's `SuspendedState` (Null if absent).
    pub fn scaling_suspended(&self) -> serde_json::Value {
        self.scalable_target_field("SuspendedState")
    }

    /// One field of the (first) ECS scalable target (Null if absent).
    pub fn scalable_target_field(&self, field: &str) -> serde_json::Value {
        let v = self.aws(&[
            "application-autoscaling",
            "describe-scalable-targets",
            "--service-namespace",
            "ecs",
        ]);
        v["ScalableTargets"][0][field].clone()
    }

    /// The ECS world of a matrix: the state bucket, [`Self::ecs_service`]
    /// and its scalable target (min 1, max 4).
    pub fn seed_ecs(&self, revisions: u32, on: u32, desired: &str) {
        self.state_bucket();
        self.ecs_service(revisions, on, desired);
        self.scalable_target("1");
    }

    /// The service's desired count (-1 if it cannot be read).
    pub fn desired_count(&self) -> i64 {
        self.service_field("desiredCount").as_i64().unwrap_or(-1)
    }

    /// The service's task definition ARN ("" if it cannot be read).
    pub fn task_definition(&self) -> String {
        self.service_field("taskDefinition")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A revert's `untouched` check: the service still on `revision` (e.g.
    /// "api:3"), no run lock of `staging` left, auto scaling not suspended.
    pub fn revert_untouched(&self, revision: &str) -> Result<(), String> {
        let td = self.task_definition();
        if !td.ends_with(revision) {
            return Err(format!("service moved to {td}"));
        }
        if self.lock_left("staging") {
            return Err("run lock left behind".into());
        }
        let s = self.scaling_suspended();
        if s["DynamicScalingInSuspended"] == true {
            return Err(format!("scaling left suspended: {s}"));
        }
        Ok(())
    }
}
