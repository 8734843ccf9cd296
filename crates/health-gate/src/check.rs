//! `health-gate check`: evaluate every gate of a gates file once. Exit 0 when no
//! critical gate fails (and no more are inconclusive than tolerated), 4 when one
//! does; warnings fail only with `--strict`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use common::calls::CallCounter;
use common::{Context, Error, Render, Result};
use serde::Serialize;

use crate::evaluate::{self, Calls, Clients, Decision, GateOutcome};
use crate::gatesfile::{self, GateSet};

#[derive(Debug, Clone, clap::Args)]
pub struct GatesArgs {
    /// The gates file (TOML), e.g. env/prod.gates.toml; ${VAR} in it is
    /// taken from the environment.
    #[arg(long, value_name = "FILE")]
    pub gates: PathBuf,
    /// Failing warnings fail the check too (and inconclusive warnings count
    /// against the file's inconclusive_limit).
    #[arg(long)]
    pub strict: bool,
    /// Only the gates of this source (cloudwatch, alarm, ecs, target-health,
    /// autoscaling, guardduty, tcp, command). Repeatable, e.g. `--source tcp
    /// --source command` for a connectivity-only check. A selection that matches
    /// no gate is a usage error (exit 2): an empty check would always pass.
    #[arg(long = "source", value_name = "SOURCE")]
    pub sources: Vec<String>,
}

impl GatesArgs {
    /// Reads the gates file and keeps the selected sources; exit 2 before any call
    /// for a mistake in either.
    pub fn load(&self) -> Result<GateSet> {
        for s in &self.sources {
            if !gatesfile::SOURCES.contains(&s.as_str()) {
                return Err(Error::usage(format!(
                    "--source {}: use one of {}",
                    common::quote(s),
                    gatesfile::SOURCES.join(", ")
                )));
            }
        }
        let mut set = load(&self.gates)?;
        if !self.sources.is_empty() {
            set.gates
                .retain(|g| self.sources.iter().any(|s| s == g.kind.source()));
            if set.gates.is_empty() {
                return Err(Error::usage(format!(
                    "{}: no gate of source {}: nothing to check",
                    self.gates.display(),
                    self.sources.join(", ")
                )));
            }
        }
        Ok(set)
    }
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub gates: GatesArgs,
}

/// Reads and checks the gates file: any mistake is exit 2, before any call.
pub fn load(path: &std::path::Path) -> Result<GateSet> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(format!(
            "cannot read the gates file {}: {e}",
            path.display()
        ))
    })?;
    gatesfile::parse(&text, &path.display().to_string(), &|v| {
        std::env::var(v).ok()
    })
}

/// The clients the gate set needs, all counting their calls; no AWS set-up at
/// all when only TCP and command gates are declared.
pub async fn clients(ctx: &Context, set: &GateSet, calls: &CallCounter) -> Result<Clients> {
    let needs = evaluate::needs(set);
    if !needs.any() {
        return Ok(Clients::default());
    }
    let config = &ctx.aws().await?.config;
    macro_rules! client {
        ($need:expr, $sdk:ident) => {
            $need.then(|| {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(config)
                        .interceptor(calls.clone())
                        .build(),
                )
            })
        };
    }
    Ok(Clients {
        cloudwatch: client!(needs.cloudwatch, aws_sdk_cloudwatch),
        ecs: client!(needs.ecs, aws_sdk_ecs),
        rds: client!(needs.rds, aws_sdk_rds),
        elasticache: client!(needs.elasticache, aws_sdk_elasticache),
        elb: client!(needs.elb, aws_sdk_elasticloadbalancingv2),
        autoscaling: client!(needs.autoscaling, aws_sdk_applicationautoscaling),
        guardduty: client!(needs.guardduty, aws_sdk_guardduty),
    })
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct CheckResult {
    pub env: Option<String>,
    pub gates_file: String,
    /// RFC 3339, UTC.
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
    pub strict: bool,
    #[serde(flatten)]
    pub decision: Decision,
    pub gates: Vec<GateOutcome>,
    /// AWS requests sent, per operation (retries included).
    /// `calls_by_operation`, not `calls`: that is the envelope's request count
    /// (docs/notes/output.md).
    #[serde(rename = "calls_by_operation")]
    pub calls: Calls,
    pub elapsed_ms: u64,
}

impl Render for CheckResult {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            w,
            "{}: {} pass, {} fail, {} inconclusive: {}",
            if self.decision.passed {
                "PASSED"
            } else {
                "FAILED"
            },
            self.decision.pass,
            self.decision.fail,
            self.decision.inconclusive,
            self.decision.reason
        )
    }
}

pub async fn run(ctx: &Context, args: &CheckArgs) -> Result<()> {
    let set = args.gates.load()?;
    let calls = CallCounter::default();
    let clients = clients(ctx, &set, &calls).await?;
    let started = Instant::now();
    let at = Utc::now();
    let outcomes = ctx
        .cancel()
        .run(async { Ok(evaluate::evaluate(&set, &clients, at).await) })
        .await?;
    let decision = evaluate::decide(
        &outcomes,
        args.gates.strict,
        set.settings.inconclusive_limit,
    );
    ctx.out.human(evaluate::table(&outcomes));
    let result = CheckResult {
        env: ctx.globals.env_name.clone(),
        gates_file: args.gates.gates.display().to_string(),
        at,
        strict: args.gates.strict,
        decision,
        gates: outcomes,
        calls: calls.by_operation(),
        elapsed_ms: evaluate::ms_since(started),
    };
    ctx.out.result(&result)?;
    if result.decision.passed {
        Ok(())
    } else {
        Err(Error::CheckFailed(result.decision.reason))
    }
}
