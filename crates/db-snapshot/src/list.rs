//! `db-snapshot list` (newest first, with age) and `db-snapshot latest` (the
//! newest available snapshot: the one a restore would use, and how much data a
//! restore now would lose).

use chrono::{DateTime, Utc};
use serde::Serialize;

use common::duration::format_duration;
use common::{Context, Error, Render, Result};

use crate::naming::{self, Kind};
use crate::rds::{self, Rds, Snap, Source, SourceArgs};
use crate::select::{self, TypeFilter};

#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Only snapshots whose id starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,

    /// Only manual snapshots.
    #[arg(long, group = "kind")]
    pub manual: bool,

    /// Only automated (rds:...) snapshots.
    #[arg(long, group = "kind")]
    pub automated: bool,

    /// Manual and automated snapshots (the default).
    #[arg(long, group = "kind")]
    pub all: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct LatestArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Only snapshots whose id starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
}

/// A snapshot with its age at the time of the command.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Aged {
    #[serde(flatten)]
    pub snap: Snap,
    pub age_seconds: Option<u64>,
    pub age: Option<String>,
}

impl Aged {
    pub fn new(snap: Snap, now: DateTime<Utc>) -> Self {
        let age = select::age(snap.created, now);
        Aged {
            snap,
            age_seconds: age.map(|a| a.as_secs()),
            age: age.map(format_duration),
        }
    }
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ListResult {
    pub source: Source,
    pub filter: TypeFilter,
    pub snapshots: Vec<Aged>,
}

impl Render for ListResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let rows: Vec<Vec<String>> = self
            .snapshots
            .iter()
            .map(|a| {
                vec![
                    a.snap.snapshot_id.clone(),
                    a.snap.snapshot_type.clone(),
                    a.snap.progress_text(),
                    a.snap
                        .created
                        .map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string()),
                    a.age.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        write!(
            w,
            "{}",
            common::output::table(&["SNAPSHOT", "TYPE", "STATUS", "CREATED", "AGE"], &rows)
        )
    }
}

/// `latest`: the snapshot and its age, shaped so `restore --snapshot -` can read it.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct LatestResult {
    /// `snapshot_id`, `source` (the instance or cluster id), status, age...
    #[serde(flatten)]
    pub snapshot: Aged,
}

impl Render for LatestResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(
            w,
            "{} ({}, {} old: data written since then is not in it)",
            self.snapshot.snap.snapshot_id,
            self.snapshot.snap.snapshot_type,
            self.snapshot.age.as_deref().unwrap_or("?")
        )
    }
}

fn validate_prefix(prefix: &Option<String>) -> Result<()> {
    match prefix {
        Some(p) => naming::validate(Kind::Prefix, p),
        None => Ok(()),
    }
}

pub async fn run_list(ctx: &Context, args: &ListArgs) -> Result<()> {
    let source = args.source.source()?;
    validate_prefix(&args.prefix)?;
    let filter = if args.manual {
        TypeFilter::Manual
    } else if args.automated {
        TypeFilter::Automated
    } else {
        TypeFilter::All
    };
    let rds = Rds::new(&ctx.aws().await?.config);
    rds::source_engine(&rds, &source).await?;
    let snaps = rds::list_snapshots(&rds, &source).await?;
    let now = Utc::now();
    let snapshots = select::listing(snaps, args.prefix.as_deref(), filter)
        .into_iter()
        .map(|s| Aged::new(s, now))
        .collect();
    ctx.out.result(&ListResult {
        source,
        filter,
        snapshots,
    })
}

/// The newest available snapshot of `source`; exit 3 when there is none.
pub async fn find_latest(rds: &Rds, source: &Source, prefix: Option<&str>) -> Result<Snap> {
    let snaps = rds::list_snapshots(rds, source).await?;
    select::latest_available(&snaps, prefix)
        .cloned()
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no available snapshot of {}{}: take one with `db-snapshot create {}`",
                source.describe(),
                prefix.map_or(String::new(), |p| format!(
                    " with prefix {}",
                    crate::naming::quoted(p)
                )),
                source.flag()
            ))
        })
}

pub async fn run_latest(ctx: &Context, args: &LatestArgs) -> Result<()> {
    let source = args.source.source()?;
    validate_prefix(&args.prefix)?;
    let rds = Rds::new(&ctx.aws().await?.config);
    rds::source_engine(&rds, &source).await?;
    let snap = find_latest(&rds, &source, args.prefix.as_deref()).await?;
    let aged = Aged::new(snap, Utc::now());
    if let Some(age) = &aged.age {
        ctx.out.info(format!(
            "latest snapshot {} is {age} old: restoring it now loses what was written since",
            aged.snap.snapshot_id
        ));
    }
    ctx.out.result(&LatestResult { snapshot: aged })
}
