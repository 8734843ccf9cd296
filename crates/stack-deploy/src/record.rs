//! What a stack was before a deploy changed it: the run record
//! `stack-<StackName>.json` that `deploy` writes into the environment's shared
//! state before its first change to the stack, and that `revert --run` puts back.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_cloudformation::types::Stack;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use common::state::Store;
use common::{Error, Result};

use crate::stack::{outputs_of, parameters_of, sha256, status_of, tags_of};

/// One stack as it was before the run changed it, or `created: true` when the
/// run created it (a revert then knows it did not exist).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StackRecord {
    pub stack: String,
    #[serde(default)]
    pub created: bool,
    /// When the record was written (RFC 3339, nanoseconds): the write order.
    pub recorded_at: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The live template (GetTemplate, stage Original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_sha256: Option<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The capabilities the stack was deployed with.
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    /// The CloudFormation service role of the stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub termination_protection: bool,
    /// The role the deploy assumed for this stack (the revert assumes it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_role: Option<String>,
    /// The bucket the assembly uploads big templates to (a revert of a
    /// template over 51,200 bytes uploads it there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_bucket: Option<String>,
    /// The template the run deployed over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_template_sha256: Option<String>,
}

pub fn record_name(stack: &str) -> String {
    format!("stack-{stack}.json")
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl StackRecord {
    /// An existing stack as it is now, with its `template` as read.
    pub fn existing(stack: &Stack, template: &str, region: &str) -> StackRecord {
        StackRecord {
            stack: stack.stack_name().unwrap_or_default().to_owned(),
            created: false,
            recorded_at: now(),
            region: region.to_owned(),
            stack_id: stack.stack_id().map(str::to_owned),
            status: Some(status_of(stack)),
            template: Some(template.to_owned()),
            template_sha256: Some(sha256(template)),
            parameters: parameters_of(stack),
            tags: tags_of(stack),
            capabilities: stack
                .capabilities()
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            outputs: outputs_of(stack),
            role_arn: stack.role_arn().map(str::to_owned),
            termination_protection: stack.enable_termination_protection().unwrap_or(false),
            ..StackRecord::default()
        }
    }

    /// A stack the run is about to create.
    pub fn created(name: &str, region: &str) -> StackRecord {
        StackRecord {
            stack: name.to_owned(),
            created: true,
            recorded_at: now(),
            region: region.to_owned(),
            ..StackRecord::default()
        }
    }
}

/// Writes the records of one run (once per stack: a stack deployed twice in
/// one run keeps its first record, the state before the run).
#[derive(Debug)]
pub struct Recorder {
    pub store: Store,
    pub run_id: String,
    written: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn new(store: Store, run_id: String) -> Recorder {
        Recorder {
            store,
            run_id,
            written: Mutex::new(Vec::new()),
        }
    }

    /// Keeps `rec` as this run's record of its stack unless the run already
    /// has one; returns the record's name.
    pub fn record(&self, rec: &StackRecord) -> Result<String> {
        let name = record_name(&rec.stack);
        if self.store.get_run_record(&self.run_id, &name)?.is_none() {
            let body = serde_json::to_vec_pretty(rec)
                .map_err(|e| Error::Internal(format!("record of {}: {e}", rec.stack)))?;
            match self.store.put_run_record(&self.run_id, &name, &body) {
                Ok(_) => {}
                // Written by this run in the meantime: the first one stays.
                Err(Error::Usage(m)) if m.contains("never overwritten") => {}
                Err(e) => return Err(e),
            }
        }
        if let Ok(mut w) = self.written.lock()
            && !w.contains(&name)
        {
            w.push(name.clone());
        }
        Ok(name)
    }

    /// Record names written (or found) by this command, in write order.
    pub fn written(&self) -> Vec<String> {
        self.written.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

/// Every stack record of `run_id`, in the order they were written.
pub fn load(store: &Store, run_id: &str) -> Result<Vec<StackRecord>> {
    let prefix = format!("runs/{run_id}/");
    let mut out = Vec::new();
    for key in store.list(&prefix)? {
        let Some(name) = key.strip_prefix(&prefix) else {
            continue;
        };
        if !(name.starts_with("stack-") && name.ends_with(".json")) {
            continue;
        }
        let Some(body) = store.get_run_record(run_id, name)? else {
            continue;
        };
        let rec: StackRecord = serde_json::from_slice(&body).map_err(|e| {
            Error::CheckFailed(format!(
                "record {name} of run {run_id} is not a stack record ({e}); {}",
                store.location(&key)
            ))
        })?;
        out.push(rec);
    }
    out.sort_by(|a, b| a.recorded_at.cmp(&b.recorded_at));
    Ok(out)
}
