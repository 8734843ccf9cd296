//! `dns-shift show`: every weighted set of a record with its weight, share of
//! traffic, target and health-check status.

use std::io::Write;

use common::{Context, Render, Result};
use serde::Serialize;
use serde_json::Value;

use crate::RecordArgs;
use crate::apply::open;
use crate::route53::{Health, describe_target, rrset_json};
use crate::weights;

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub record: RecordArgs,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ShowResult {
    pub zone_id: String,
    pub record: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub total_weight: u32,
    pub sets: Vec<SetView>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct SetView {
    pub set_id: String,
    pub weight: u32,
    /// Share of traffic in percent.
    pub share_pct: f64,
    /// The values, or `alias DNSNAME`.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
    /// The health check's status; `{"status": "error", ...}` if it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Value>,
    /// The record set exactly as Route 53 lists it.
    pub record_set: Value,
}

impl Render for ShowResult {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            w,
            "{} {} in {} (total weight {})",
            self.record, self.rtype, self.zone_id, self.total_weight
        )?;
        let rows: Vec<Vec<String>> = self
            .sets
            .iter()
            .map(|s| {
                vec![
                    s.set_id.clone(),
                    s.weight.to_string(),
                    format!("{:.2} %", s.share_pct),
                    s.target.clone(),
                    match (&s.health_check_id, &s.health) {
                        (Some(id), Some(h)) => format!(
                            "{} {}",
                            id,
                            h.get("status").and_then(Value::as_str).unwrap_or("?")
                        ),
                        (Some(id), None) => id.clone(),
                        _ => "-".into(),
                    },
                ]
            })
            .collect();
        write!(
            w,
            "{}",
            common::output::table(&["SET", "WEIGHT", "SHARE", "TARGET", "HEALTH CHECK"], &rows)
        )
    }
}

pub async fn run(ctx: &Context, args: &ShowArgs) -> Result<()> {
    let spec = args.record.validate()?;
    let (r53, group) = open(ctx, &spec).await?;
    let weights = group.weights();
    let shares = weights::shares(&weights);
    let mut sets = Vec::new();
    for r in &group.sets {
        let id = r.set_identifier.clone().unwrap_or_default();
        let health = match &r.health_check_id {
            Some(hc) => Some(match r53.health(hc).await {
                Ok(h) => serde_json::to_value::<Health>(h).unwrap_or(Value::Null),
                Err(e) => serde_json::json!({"status": "error", "error": e.to_string()}),
            }),
            None => None,
        };
        sets.push(SetView {
            weight: weights.get(&id).copied().unwrap_or_default(),
            share_pct: shares.get(&id).copied().unwrap_or_default(),
            set_id: id,
            target: describe_target(r),
            ttl: r.ttl,
            health_check_id: r.health_check_id.clone(),
            health,
            record_set: rrset_json(r),
        });
    }
    ctx.out.result(&ShowResult {
        zone_id: group.zone_id.clone(),
        record: group.name.clone(),
        rtype: group.rtype.as_str().to_owned(),
        total_weight: weights::total(&weights),
        sets,
    })
}
