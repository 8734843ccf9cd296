//! `db-snapshot verify`: the instance is available, its settings match a source
//! instance (or it is compatible with a snapshot), and an operator-supplied data
//! check (`--check-cmd`, run with `sh -c` and the endpoint in its environment)
//! passes. Any failed check exits 4, after printing every check.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncReadExt;

use common::duration::format_duration;
use common::{Context, Error, HumanDuration, Render, Result};

use crate::naming;
use crate::rds::{self, InstanceInfo, Rds, Source, SourceArgs};

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// An instance (settings must match) or a snapshot (engine must match) to compare with.
    #[arg(long, value_name = "SOURCE_OR_SNAPSHOT")]
    pub against: Option<String>,

    /// Data check run with `sh -c`; gets LTC_DB_HOST, LTC_DB_PORT, LTC_DB_INSTANCE
    /// (or LTC_DB_CLUSTER) and LTC_DB_ENGINE. Non-zero exit fails the verify (exit 4).
    #[arg(long, value_name = "CMD")]
    pub check_cmd: Option<String>,

    /// Longest the check command may run (exit 5 when it runs over).
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

#[derive(Debug, Clone, Serialize, PartialEq, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn new(name: &str, ok: bool, detail: impl Into<String>) -> Self {
        Check {
            name: name.to_owned(),
            ok,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct VerifyResult {
    pub source: Source,
    pub ok: bool,
    pub endpoint: Option<String>,
    pub checks: Vec<Check>,
}

impl Render for VerifyResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        for c in &self.checks {
            writeln!(
                w,
                "{} {}: {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            )?;
        }
        Ok(())
    }
}

fn user_tags(tags: &BTreeMap<String, String>) -> BTreeMap<&String, &String> {
    tags.iter()
        .filter(|(k, _)| !k.starts_with("ltc:") && !k.starts_with("aws:"))
        .collect()
}

/// Pure: one check per setting a restore copies.
pub fn compare_instances(got: &InstanceInfo, want: &InstanceInfo) -> Vec<Check> {
    fn one<T: PartialEq + std::fmt::Debug>(name: &str, got: T, want: T) -> Check {
        if got == want {
            Check::new(name, true, format!("{got:?}"))
        } else {
            Check::new(name, false, format!("{got:?}, expected {want:?}"))
        }
    }
    vec![
        one("engine", &got.engine, &want.engine),
        one("instance class", &got.instance_class, &want.instance_class),
        one("subnet group", &got.subnet_group, &want.subnet_group),
        one(
            "security groups",
            &got.security_groups,
            &want.security_groups,
        ),
        one(
            "parameter groups",
            &got.parameter_groups,
            &want.parameter_groups,
        ),
        one("option groups", &got.option_groups, &want.option_groups),
        one("multi-AZ", &got.multi_az, &want.multi_az),
        one("storage type", &got.storage_type, &want.storage_type),
        one(
            "deletion protection",
            &got.deletion_protection,
            &want.deletion_protection,
        ),
        one("port", &got.port, &want.port),
        one("IAM auth", &got.iam_auth, &want.iam_auth),
        one("log exports", &got.log_exports, &want.log_exports),
        one(
            "publicly accessible",
            &got.publicly_accessible,
            &want.publicly_accessible,
        ),
        one("tags", user_tags(&got.tags), user_tags(&want.tags)),
    ]
}

pub async fn run(ctx: &Context, args: &VerifyArgs) -> Result<()> {
    let source = args.source.source()?;
    if let Some(a) = &args.against {
        naming::validate_snapshot_ref(a)?;
    }
    if args
        .check_cmd
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(Error::usage("--check-cmd is empty"));
    }
    let rds = Rds::new(&ctx.aws().await?.config);
    let mut checks = Vec::new();
    let (status, endpoint, port, engine) = match &source {
        Source::Instance(id) => {
            let got = rds::get_instance(&rds, id).await?;
            if let Some(against) = &args.against {
                match rds::find_instance(&rds, against).await? {
                    Some(want) => checks.extend(compare_instances(&got, &want)),
                    None => {
                        compare_snapshot(&rds, &source, against, got.engine.as_deref(), &mut checks)
                            .await?
                    }
                }
            }
            (
                got.status.clone(),
                got.endpoint.as_ref().map(|e| e.address.clone()),
                got.endpoint.as_ref().and_then(|e| e.port),
                got.engine.clone(),
            )
        }
        Source::Cluster(id) => {
            let got = rds::get_cluster(&rds, id).await?;
            if let Some(against) = &args.against {
                match rds::find_cluster(&rds, against).await? {
                    Some(want) => {
                        for (name, ok, detail) in [
                            (
                                "engine",
                                got.engine == want.engine,
                                format!("{:?} vs {:?}", got.engine, want.engine),
                            ),
                            (
                                "subnet group",
                                got.subnet_group == want.subnet_group,
                                format!("{:?} vs {:?}", got.subnet_group, want.subnet_group),
                            ),
                            (
                                "security groups",
                                got.security_groups == want.security_groups,
                                format!("{:?} vs {:?}", got.security_groups, want.security_groups),
                            ),
                            (
                                "parameter group",
                                got.parameter_group == want.parameter_group,
                                format!("{:?} vs {:?}", got.parameter_group, want.parameter_group),
                            ),
                            (
                                "deletion protection",
                                got.deletion_protection == want.deletion_protection,
                                format!(
                                    "{:?} vs {:?}",
                                    got.deletion_protection, want.deletion_protection
                                ),
                            ),
                        ] {
                            checks.push(Check::new(name, ok, detail));
                        }
                    }
                    None => {
                        compare_snapshot(&rds, &source, against, got.engine.as_deref(), &mut checks)
                            .await?
                    }
                }
            }
            (
                got.status.clone(),
                got.endpoint.clone(),
                got.port,
                got.engine.clone(),
            )
        }
    };
    let available = status == "available";
    checks.insert(0, Check::new("available", available, status.clone()));

    if let Some(cmd) = &args.check_cmd {
        if available && let Some(host) = &endpoint {
            let mut env = vec![
                ("LTC_DB_HOST".to_owned(), host.clone()),
                (
                    "LTC_DB_PORT".to_owned(),
                    port.map(|p| p.to_string()).unwrap_or_default(),
                ),
                (
                    "LTC_DB_ENGINE".to_owned(),
                    engine.clone().unwrap_or_default(),
                ),
            ];
            env.push(match &source {
                Source::Instance(id) => ("LTC_DB_INSTANCE".to_owned(), id.clone()),
                Source::Cluster(id) => ("LTC_DB_CLUSTER".to_owned(), id.clone()),
            });
            checks.push(run_check(ctx, cmd, &env, args.timeout.0).await?);
        } else {
            checks.push(Check::new(
                "check command",
                false,
                "not run: the database is not available or has no endpoint",
            ));
        }
    }

    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{} ({})", c.name, c.detail))
        .collect();
    ctx.out.result(&VerifyResult {
        source: source.clone(),
        ok: failed.is_empty(),
        endpoint,
        checks,
    })?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::CheckFailed(format!(
            "{} failed: {}",
            source.describe(),
            failed.join("; ")
        )))
    }
}

async fn compare_snapshot(
    rds: &Rds,
    source: &Source,
    against: &str,
    engine: Option<&str>,
    checks: &mut Vec<Check>,
) -> Result<()> {
    let snap = rds::find_snapshot(rds, source, against)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "--against {against}: no such instance, cluster or snapshot"
            ))
        })?;
    checks.push(Check::new(
        "engine matches snapshot",
        snap.engine.as_deref() == engine,
        format!("{:?}, snapshot {:?}", engine, snap.engine),
    ));
    Ok(())
}

/// Runs the operator's check. Its output goes to our stderr (stdout is data).
pub async fn run_check(
    ctx: &Context,
    cmd: &str,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<Check> {
    ctx.out.info(format!("running check: {cmd}"));
    let mut child = common::gate::shell_command(cmd, env)
        .spawn()
        .map_err(|e| Error::io("failed to start the check command with sh -c", e))?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let collect = async {
        // Both pipes at once, so a chatty stderr cannot block the child.
        let read_out = async {
            let mut v = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut v).await;
            }
            v
        };
        let read_err = async {
            let mut v = Vec::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut v).await;
            }
            v
        };
        let (out, err) = tokio::join!(read_out, read_err);
        let status = child.wait().await;
        (out, err, status)
    };
    let (out, err, status) = match tokio::time::timeout(timeout, collect).await {
        Ok(r) => r,
        Err(_) => {
            return Err(Error::Timeout {
                what: format!("check command {}", crate::naming::quoted(cmd)),
                waited: format_duration(timeout),
                reattach: None,
            });
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    if !text.trim().is_empty() {
        ctx.out.human(if text.ends_with('\n') {
            text.clone()
        } else {
            format!("{text}\n")
        });
    }
    let status = status.map_err(|e| Error::io("failed to wait for the check command", e))?;
    let last_line = text.lines().last().unwrap_or("").trim().to_owned();
    Ok(if status.success() {
        Check::new("check command", true, "exited 0")
    } else {
        Check::new(
            "check command",
            false,
            format!(
                "{}{}",
                match status.code() {
                    Some(c) => format!("exited {c}"),
                    None => "killed by a signal".to_owned(),
                },
                if last_line.is_empty() {
                    String::new()
                } else {
                    format!(": {last_line}")
                }
            ),
        )
    })
}
