//! The services a command works on (`--cluster`, `--service ...`), shared by
//! status, revert, wait, scale and scaling, and the arguments of `wait`.

use common::{HumanDuration, Result};

use crate::taskdef::{check_resource, short_name};

/// The services a command works on.
#[derive(Debug, Clone, clap::Args)]
pub struct Services {
    /// ECS cluster name or ARN.
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: String,
    /// Service name or ARN; repeat (or separate with commas) for several.
    #[arg(
        long = "service",
        value_name = "SERVICE",
        required = true,
        value_delimiter = ','
    )]
    pub services: Vec<String>,
}

impl Services {
    /// Checks names before any call; returns the service names without duplicates.
    pub fn validated(&self) -> Result<Vec<String>> {
        check_resource("cluster", &self.cluster)?;
        let mut out: Vec<String> = Vec::new();
        for s in &self.services {
            check_resource("service", s)?;
            if !out.iter().any(|o| short_name(o) == short_name(s)) {
                out.push(s.clone());
            }
        }
        Ok(out)
    }

    /// The command that re-attaches to a wait on these services.
    pub fn reattach(&self, services: &[String]) -> String {
        let mut cmd = format!("ecs-revert wait --cluster {}", self.cluster);
        for s in services {
            cmd.push_str(&format!(" --service {s}"));
        }
        cmd
    }
}

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub target: Services,
    /// Give up after this long (exit 5; the rollout carries on). LTC_DEADLINE also applies.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}
