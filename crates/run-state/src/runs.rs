//! `run-state runs list|show|put|get|last`: per-run records under
//! `runs/<run id>/` in the environment's state tree. A record is written once and
//! never overwritten, so a later deploy can never change what an earlier run's
//! rollback restores.

use std::io::Read;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Value, json};

use common::state::{self, Store};
use common::{Context, Error, Render, Result};

#[derive(Debug, clap::Subcommand)]
pub enum RunsCommand {
    /// Every run with records, oldest first.
    List,
    /// One run's records (JSON records inline).
    Show {
        #[arg(value_name = "RUN_ID")]
        run_id: String,
    },
    /// Store a record for a run from a file (`-` for stdin); refused if it exists.
    Put {
        #[arg(value_name = "RUN_ID")]
        run_id: String,
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print one record's bytes to stdout, exactly as stored (exit 3 if missing).
    Get {
        #[arg(value_name = "RUN_ID")]
        run_id: String,
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// The newest run of a kind (e.g. deploy) that has records (exit 3 if none).
    Last {
        #[arg(value_name = "KIND")]
        kind: String,
    },
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RunList {
    pub env: String,
    pub runs: Vec<RunSummary>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RunSummary {
    pub run_id: String,
    pub records: Vec<String>,
}

impl Render for RunList {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        if self.runs.is_empty() {
            return writeln!(w, "{}: no runs recorded", self.env);
        }
        for r in &self.runs {
            writeln!(w, "{}  {}", r.run_id, r.records.join(", "))?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RunShow {
    pub env: String,
    pub run_id: String,
    pub records: serde_json::Map<String, Value>,
}

impl Render for RunShow {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(w, "run {} ({})", self.run_id, self.env)?;
        for (name, v) in &self.records {
            writeln!(
                w,
                "  {name}: {}",
                serde_json::to_string(v).unwrap_or_default()
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct PutResult {
    pub env: String,
    pub run_id: String,
    pub name: String,
    pub location: String,
    pub bytes: usize,
    pub dry_run: bool,
}

impl Render for PutResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(
            w,
            "{}recorded {} for run {} at {} ({} bytes)",
            if self.dry_run {
                "dry run: would have "
            } else {
                ""
            },
            self.name,
            self.run_id,
            self.location,
            self.bytes
        )
    }
}

fn records_of(store: &Store, run_id: &str) -> Result<Vec<String>> {
    let prefix = format!("runs/{run_id}/");
    Ok(store
        .list(&prefix)?
        .iter()
        .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
        .collect())
}

pub async fn run(ctx: &Context, cmd: &RunsCommand) -> Result<()> {
    match cmd {
        RunsCommand::List => {
            let store = crate::store(ctx).await?;
            let mut runs = Vec::new();
            for run_id in store.list_runs()? {
                runs.push(RunSummary {
                    records: records_of(store, &run_id)?,
                    run_id,
                });
            }
            ctx.out.result(&RunList {
                env: store.env().to_owned(),
                runs,
            })
        }
        RunsCommand::Show { run_id } => {
            state::validate_run_id(run_id)?;
            let store = crate::store(ctx).await?;
            let names = records_of(store, run_id)?;
            if names.is_empty() {
                return Err(Error::NotFound(format!(
                    "run {run_id} has no records in {}",
                    store.location("runs/")
                )));
            }
            let mut records = serde_json::Map::new();
            for name in names {
                let body = store.get_run_record(run_id, &name)?.unwrap_or_default();
                let v = serde_json::from_slice(&body)
                    .unwrap_or_else(|_| json!({ "bytes": body.len() }));
                records.insert(name, v);
            }
            ctx.out.result(&RunShow {
                env: store.env().to_owned(),
                run_id: run_id.clone(),
                records,
            })
        }
        RunsCommand::Put { run_id, name, file } => {
            state::validate_run_id(run_id)?;
            let mut body = Vec::new();
            let read = if file.as_os_str() == "-" {
                std::io::stdin().read_to_end(&mut body)
            } else {
                std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut body))
            };
            read.map_err(|e| {
                Error::usage(format!(
                    "cannot read {}: {e}",
                    common::quote(&file.display().to_string())
                ))
            })?;
            let store = crate::store(ctx).await?;
            let location = store.location(&format!("runs/{run_id}/{name}"));
            if !ctx.dry_run() {
                store.put_run_record(run_id, name, &body)?;
            }
            ctx.out.result(&PutResult {
                env: store.env().to_owned(),
                run_id: run_id.clone(),
                name: name.clone(),
                location,
                bytes: body.len(),
                dry_run: ctx.dry_run(),
            })
        }
        RunsCommand::Get { run_id, name } => {
            let store = crate::store(ctx).await?;
            let body = store.get_run_record(run_id, name)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "run {run_id} has no record {name} in {}",
                    store.location("runs/")
                ))
            })?;
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&body)
                .and_then(|()| out.flush())
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::BrokenPipe => Ok(()),
                    _ => Err(e),
                })
                .map_err(|e| Error::io("failed to write output", e))
        }
        RunsCommand::Last { kind } => {
            let store = crate::store(ctx).await?;
            let needle = format!("-{kind}-");
            let last = store
                .list_runs()?
                .into_iter()
                .rfind(|r| r.contains(&needle))
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "no {kind} run has records in environment {}",
                        store.env()
                    ))
                })?;
            ctx.out.event(&json!({ "run_id": last }), || last.clone())
        }
    }
}
