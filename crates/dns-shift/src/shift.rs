//! `dns-shift shift`: move traffic to one weighted set through increasing steps.
//!
//! Each step: gates (unless `--fast-track`), a fresh read, one conditional
//! ChangeBatch (DELETE of every set as read + CREATE with the new weight), wait
//! until INSYNC, bake. After the last step the gates run once more, so the last
//! bake is checked too. A failing gate, an error or a signal (SIGINT, SIGTERM,
//! SIGHUP through `ctx.cancel()`) after the first change reverts to the starting
//! weights (at once, or back through the steps with `--revert gradual`) and
//! exits 6; a revert that fails exits 7 and prints the weights now live. A gate
//! failing before any change exits 4 with nothing changed; a signal then exits
//! 130. A second signal stops a revert at once (exit 7, journaled
//! `interrupted`, with the commands to check and undo).
//!
//! Someone else's change is never overwritten: when the fresh read shows
//! weights this shift did not write, or Route 53 rejects the conditional batch,
//! the shift stops (exit 4, `stopped-conflict`) and reports the record as it
//! now is; it reverts its own earlier steps only while the record still shows
//! them, and that revert is conditional too.
//!
//! stdout is a stream of JSON lines (`start`, `gate`, `step`, `revert`) ending
//! with a `summary` line that counts the AWS calls made.
//!
//! The steps, bake, gates, revert and journal are `common::shift`'s engine,
//! shared with `lb-switch shift`; this module supplies the Route 53 side of it
//! ([`Route53Target`]: read, conditional ChangeBatch, INSYNC wait, health check).

use std::time::Duration;

use aws_sdk_route53::types::RrType;
use common::gate::{AlarmSpec, GateResult};
use common::shift::{ShiftTarget, Words, WriteError, WriteKind, Written};
use common::{Context, Error, Output, Result};
use serde_json::Value;

use crate::apply::{check_known_sets, open};
use crate::args::InsyncTimeout;
use crate::route53::{self, RecordGroup, Route53, batch_json};
use crate::weights::{self, Weights, validate_set_id};
use crate::{RecordArgs, parse_duration};

pub use common::shift::RevertMode;

#[derive(Debug, clap::Args)]
pub struct ShiftArgs {
    #[command(flatten)]
    pub record: RecordArgs,

    /// The set to move traffic to (its SetIdentifier).
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub to: String,

    /// Target's share at each step, percent of the total: increasing, ending at 100.
    #[arg(
        long,
        default_value = "10,25,50,100",
        value_name = "P,P,...",
        allow_hyphen_values = true
    )]
    pub steps: String,

    /// How long to hold each step after it is INSYNC before checking the gates again (at most 24h).
    #[arg(
        long,
        default_value = "5m",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub bake: String,

    /// Command that must exit 0 before every increase (run with `sh -c`, output to
    /// stderr; sees DNS_SHIFT_PERCENT, DNS_SHIFT_STEP ...). Repeatable.
    #[arg(long = "gate-cmd", value_name = "CMD")]
    pub gate_cmds: Vec<String>,

    /// CloudWatch alarm NAME, or PREFIX*, that must not be in ALARM before every
    /// increase. An alarm that does not exist fails the gate. Repeatable.
    #[arg(long = "alarm", value_name = "NAME|PREFIX*")]
    pub alarms: Vec<String>,

    /// Require the target set's Route 53 health check to be healthy before every increase.
    #[arg(long)]
    pub health_check: bool,

    /// On a failed gate, an error, SIGINT or SIGTERM: back to the starting weights at once, or step by step.
    #[arg(long, value_enum, default_value_t = RevertMode::Immediate)]
    pub revert: RevertMode,

    /// Emergency: skip bake times and gates. Recorded as such in the journal and output.
    #[arg(long)]
    pub fast_track: bool,

    #[command(flatten)]
    pub insync: InsyncTimeout,

    /// How long one gate command may run before it is killed and fails.
    #[arg(
        long,
        default_value = "5m",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub gate_timeout: String,
}

/// The validated arguments (all checked before any AWS call).
#[derive(Debug, Clone)]
pub struct ShiftOptions {
    pub to: String,
    pub steps: Vec<u8>,
    pub bake: Duration,
    pub gate_cmds: Vec<String>,
    pub alarms: Vec<AlarmSpec>,
    pub health_check: bool,
    pub revert: RevertMode,
    pub fast_track: bool,
    pub timeout: Duration,
    pub gate_timeout: Duration,
}

impl ShiftArgs {
    pub fn validate(&self) -> Result<ShiftOptions> {
        validate_set_id(&self.to).map_err(|e| Error::usage(format!("--to: {e}")))?;
        let steps = weights::parse_steps(&self.steps).map_err(Error::usage)?;
        let alarms = common::gate::parse_alarms(&self.alarms)?;
        common::gate::validate_commands(&self.gate_cmds)?;
        Ok(ShiftOptions {
            to: self.to.trim().to_owned(),
            steps,
            bake: parse_duration("--bake", &self.bake)?,
            gate_cmds: self.gate_cmds.clone(),
            alarms,
            health_check: self.health_check,
            revert: self.revert,
            fast_track: self.fast_track,
            timeout: self.insync.parse()?,
            gate_timeout: parse_duration("--gate-timeout", &self.gate_timeout)?,
        })
    }
}

pub async fn run(ctx: &Context, args: &ShiftArgs) -> Result<()> {
    let spec = args.record.validate()?;
    let opts = args.validate()?;
    let (r53, group) = open(ctx, &spec).await?;
    let config = ctx.aws().await?.config.clone();
    let cw = (!opts.alarms.is_empty() && !opts.fast_track).then(|| {
        let conf = aws_sdk_cloudwatch::config::Builder::from(&config)
            .interceptor(r53.calls.clone())
            .build();
        aws_sdk_cloudwatch::Client::from_conf(conf)
    });
    shift(ctx, &r53, cw.as_ref(), group, &opts).await
}

/// Runs a shift on an already read record (the mock tests enter here).
pub async fn shift(
    ctx: &Context,
    r53: &Route53,
    cw: Option<&aws_sdk_cloudwatch::Client>,
    group: RecordGroup,
    opts: &ShiftOptions,
) -> Result<()> {
    check_known_sets(&group, [&opts.to])?;
    let health_check = if opts.health_check {
        let hc = group
            .set(&opts.to)
            .and_then(|r| r.health_check_id.clone())
            .ok_or_else(|| {
                Error::usage(format!(
                    "--health-check: set {} of {} has no health check",
                    opts.to, group.name
                ))
            })?;
        Some(hc)
    } else {
        None
    };
    let plan =
        weights::plan_shift(&group.weights(), &opts.to, &opts.steps).map_err(Error::usage)?;
    let settings = common::shift::Settings {
        to: opts.to.clone(),
        plan,
        bake: opts.bake,
        gate_cmds: opts.gate_cmds.clone(),
        alarms: opts.alarms.clone(),
        revert: opts.revert,
        fast_track: opts.fast_track,
        timeout: opts.timeout,
        gate_timeout: opts.gate_timeout,
    };
    let mut target = Route53Target::new(r53, &group);
    target.health_check = health_check;
    common::shift::run(ctx, &target, cw, group, &settings).await
}

const WORDS: Words = Words {
    command: "dns-shift",
    action: "dns",
    env_prefix: "DNS_SHIFT",
    service: "Route 53",
    thing: "record",
    settled: "INSYNC",
    request_key: "change_batch",
    conflict_hint: "see `dns-shift show`, and `dns-shift set` to put weights back by hand",
};

/// One record's weighted sets as the shift engine sees them: read with
/// ListResourceRecordSets, written with a ChangeBatch that DELETEs every set
/// exactly as read (Route 53 rejects it if anyone changed them), settled when
/// GetChange says INSYNC; the target set's health check as an extra gate.
#[derive(Debug, Clone)]
pub struct Route53Target<'a> {
    pub r53: &'a Route53,
    zone_id: String,
    name: String,
    rtype: RrType,
    /// The target set's health check id, when `--health-check` is given.
    pub health_check: Option<String>,
}

impl<'a> Route53Target<'a> {
    pub fn new(r53: &'a Route53, group: &RecordGroup) -> Self {
        Route53Target {
            r53,
            zone_id: group.zone_id.clone(),
            name: group.name.clone(),
            rtype: group.rtype.clone(),
            health_check: None,
        }
    }

    fn batch(
        basis: &RecordGroup,
        w: &Weights,
        kind: WriteKind,
        comment: &str,
    ) -> Option<aws_sdk_route53::types::ChangeBatch> {
        match kind {
            WriteKind::Step => basis.change_batch(w, comment),
            WriteKind::Revert => basis.full_batch(w, comment),
        }
    }
}

/// `shift`'s JSON lines (`docs/schema/dns-shift/shift.events.schema.json`).
pub type Event = common::shift::ShiftEvent<Identity, ExtraGates, Calls, Settled, Request>;

/// The record shifted, first in the `start` and `summary` events.
#[derive(Debug, Clone, serde::Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Identity {
    pub zone_id: String,
    /// The record name, with its final dot.
    pub record: String,
    /// The record type (`A`, `AAAA`, `CNAME`).
    #[serde(rename = "type")]
    pub rtype: String,
}

/// dns-shift's own gate, in the `start` event's `gates`.
#[derive(Debug, Clone, serde::Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ExtraGates {
    /// The Route 53 health check of the target set (`--health-check`), if any.
    pub health_check: Option<String>,
}

/// The calls counted in the `summary` event.
#[derive(Debug, Clone, serde::Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Calls {
    pub route53_calls: u64,
    pub cloudwatch_calls: u64,
    /// Requests per `service:Operation`.
    pub calls: std::collections::BTreeMap<String, u64>,
}

/// A step's time until INSYNC.
#[derive(Debug, Clone, serde::Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Settled {
    /// Milliseconds from sending the change until GetChange said INSYNC.
    pub insync_ms: u64,
}

impl From<u64> for Settled {
    fn from(insync_ms: u64) -> Self {
        Settled { insync_ms }
    }
}

/// The change batch a dry-run step would send.
#[derive(Debug, Clone, serde::Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Request {
    /// ChangeResourceRecordSets' input (null when nothing would change).
    pub change_batch: Option<Value>,
}

impl From<Option<Value>> for Request {
    fn from(change_batch: Option<Value>) -> Self {
        Request { change_batch }
    }
}

impl ShiftTarget for Route53Target<'_> {
    type State = RecordGroup;
    type Identity = Identity;
    type ExtraGates = ExtraGates;
    type Calls = Calls;
    type Settled = Settled;
    type Request = Request;

    fn words(&self) -> &Words {
        &WORDS
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn journal_target(&self) -> String {
        route53::journal_target(&self.zone_id, &self.name, &self.rtype)
    }

    fn identity(&self) -> Identity {
        Identity {
            zone_id: self.zone_id.clone(),
            record: self.name.clone(),
            rtype: self.rtype.as_str().to_owned(),
        }
    }

    fn gate_env(&self) -> Vec<(String, String)> {
        vec![
            ("DNS_SHIFT_ZONE_ID".to_owned(), self.zone_id.clone()),
            ("DNS_SHIFT_RECORD".to_owned(), self.name.clone()),
            ("DNS_SHIFT_TYPE".to_owned(), self.rtype.as_str().to_owned()),
        ]
    }

    fn show_command(&self) -> String {
        format!(
            "dns-shift show --zone {} --record {} --type {}",
            self.zone_id,
            self.name,
            self.rtype.as_str()
        )
    }

    fn undo_command(&self) -> String {
        format!(
            "dns-shift undo --zone {} --record {} --type {}",
            self.zone_id,
            self.name,
            self.rtype.as_str()
        )
    }

    fn weights(&self, state: &RecordGroup) -> Weights {
        state.weights()
    }

    fn with_weights(&self, state: &RecordGroup, weights: &Weights) -> RecordGroup {
        state.with_weights(weights)
    }

    fn state_json(&self, state: &RecordGroup) -> Value {
        state.state_json()
    }

    async fn read(&self) -> Result<RecordGroup> {
        self.r53
            .read_group(&self.zone_id, &self.name, Some(&self.rtype))
            .await
    }

    fn request(
        &self,
        basis: &RecordGroup,
        weights: &Weights,
        kind: WriteKind,
        comment: &str,
    ) -> Option<Value> {
        Self::batch(basis, weights, kind, comment).map(|b| batch_json(&basis.zone_id, &b))
    }

    async fn write(
        &self,
        basis: &RecordGroup,
        weights: &Weights,
        kind: WriteKind,
        comment: &str,
    ) -> std::result::Result<Written, WriteError<RecordGroup>> {
        let batch = Self::batch(basis, weights, kind, comment)
            .ok_or_else(|| Error::Internal("a write without a change".into()))?;
        match self.r53.write(basis, batch, weights).await {
            Ok(route53::Written::Sent(id)) => Ok(Written::Sent(id)),
            Ok(route53::Written::AlreadyLive) => Ok(Written::AlreadyLive),
            Err(route53::WriteError::Conflict(live)) => Err(WriteError::Conflict(live)),
            Err(route53::WriteError::Failed(e)) => Err(WriteError::Failed(e)),
            Err(route53::WriteError::Unchanged(e)) => Err(WriteError::Unchanged(e)),
        }
    }

    async fn settle(&self, out: &Output, id: &str, timeout: Duration) -> Result<()> {
        self.r53
            .wait_insync(out, id, timeout, &self.show_command())
            .await
    }

    async fn extra_gates(&self) -> Vec<GateResult> {
        match &self.health_check {
            Some(id) => vec![crate::gates::health_check_gate(self.r53, id).await],
            None => Vec::new(),
        }
    }

    fn has_extra_gates(&self) -> bool {
        self.health_check.is_some()
    }

    fn extra_gate_fields(&self) -> ExtraGates {
        ExtraGates {
            health_check: self.health_check.clone(),
        }
    }

    fn call_fields(&self) -> Calls {
        Calls {
            route53_calls: self.r53.calls.service_total("route53"),
            cloudwatch_calls: self.r53.calls.service_total("cloudwatch"),
            calls: self.r53.calls.by_service_operation(),
        }
    }

    fn calls_text(&self) -> String {
        format!(
            "{} Route 53 calls, {} CloudWatch calls",
            self.r53.calls.service_total("route53"),
            self.r53.calls.service_total("cloudwatch")
        )
    }
}
