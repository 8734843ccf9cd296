//! `lb-switch health`: each target group's healthy share; exit 4 when one is
//! below `--min-healthy` (a group with no registered target is 0 %: fails).

use std::io::Write;

use common::{Context, Error, Render, Result};
use serde::Serialize;

use crate::elb::{self, TargetState, parse_arn};

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// A target group's ARN. Repeatable.
    #[arg(
        long = "target-group",
        value_name = "ARN",
        required = true,
        allow_hyphen_values = true
    )]
    pub target_groups: Vec<String>,

    /// Least share of healthy targets each group must have (healthy over
    /// registered; draining, initial and unused count as not healthy).
    #[arg(
        long,
        default_value = "100%",
        value_name = "PERCENT",
        allow_hyphen_values = true
    )]
    pub min_healthy: String,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct GroupHealth {
    pub name: String,
    pub arn: String,
    pub healthy: usize,
    pub registered: usize,
    pub healthy_percent: f64,
    pub passed: bool,
    pub targets: Vec<TargetState>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct HealthResult {
    pub passed: bool,
    pub min_healthy_percent: f64,
    pub target_groups: Vec<GroupHealth>,
    pub elbv2_calls: u64,
}

impl Render for HealthResult {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let rows: Vec<Vec<String>> = self
            .target_groups
            .iter()
            .map(|g| {
                vec![
                    g.name.clone(),
                    format!("{}/{}", g.healthy, g.registered),
                    format!("{:.2} %", g.healthy_percent),
                    if g.passed { "ok".into() } else { "FAIL".into() },
                ]
            })
            .collect();
        write!(
            w,
            "{}",
            common::output::table(&["TARGET GROUP", "HEALTHY", "SHARE", "VERDICT"], &rows)
        )?;
        writeln!(
            w,
            "{} (at least {} % healthy)",
            if self.passed { "passed" } else { "FAILED" },
            self.min_healthy_percent
        )
    }
}

/// One target group's verdict (also the shift's `--min-healthy` gate).
pub async fn check(elb: &elb::Elb, arn: &str, min: f64) -> Result<GroupHealth> {
    let targets = elb.target_health(arn).await?;
    let pct = elb::healthy_percent(&targets);
    Ok(GroupHealth {
        name: elb::tg_name(arn),
        arn: arn.to_owned(),
        healthy: targets.iter().filter(|t| t.state == "healthy").count(),
        registered: targets.len(),
        healthy_percent: pct,
        passed: !targets.is_empty() && pct + 1e-9 >= min,
        targets,
    })
}

pub async fn run(ctx: &Context, args: &HealthArgs) -> Result<()> {
    let min = crate::parse_percent("--min-healthy", &args.min_healthy)?;
    let mut arns = Vec::new();
    for raw in &args.target_groups {
        parse_arn("--target-group", raw, "targetgroup")?;
        let arn = raw.trim().to_owned();
        if !arns.contains(&arn) {
            arns.push(arn);
        }
    }
    let elb = crate::open(ctx).await?;
    let groups = ctx
        .cancel()
        .run(async {
            let mut out = Vec::new();
            for arn in &arns {
                out.push(check(&elb, arn, min).await?);
            }
            Ok(out)
        })
        .await?;
    let failed: Vec<String> = groups
        .iter()
        .filter(|g| !g.passed)
        .map(|g| {
            format!(
                "{} {}/{} healthy ({:.2} %)",
                g.name, g.healthy, g.registered, g.healthy_percent
            )
        })
        .collect();
    let result = HealthResult {
        passed: failed.is_empty(),
        min_healthy_percent: min,
        target_groups: groups,
        elbv2_calls: elb.total(),
    };
    ctx.out.result(&result)?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::CheckFailed(format!(
            "below {min} % healthy: {}",
            failed.join("; ")
        )))
    }
}
