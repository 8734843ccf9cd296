//! `lb-switch shift`: move traffic to one target group of a listener's (or a
//! rule's) forward action through increasing weighted steps, gated, reverting
//! on failure or signal. The steps, bake times, gates, revert, events, journal
//! and exit codes are `common::shift`'s engine, the same as `dns-shift shift`
//! (6 reverted, 7 revert failed, 4 gate failed before any change or someone
//! else's change, 130 interrupted before any change); this module supplies
//! the ELBv2 side ([`ElbTarget`]).
//!
//! A change at the load balancer is live for new requests as soon as
//! ModifyListener/ModifyRule answers: there is no DNS caching between a revert
//! and the clients, which is why this is the instant-rollback path.

use std::collections::BTreeMap;
use std::time::Duration;

use common::gate::{AlarmSpec, GateResult};
use common::shift::{ShiftTarget, Weights, Words, WriteError, WriteKind, Written};
use common::{AwsResultExt, Context, Error, Output, Result};
use serde_json::{Value, json};

use crate::elb::{self, Elb, Snapshot, TgRef, parse_arn};
use crate::maintenance::check_same_load_balancer;
use crate::{ListenerArgs, parse_duration};

/// ELB's largest target-group weight in a forward action.
pub const MAX_WEIGHT: u32 = 999;

#[derive(Debug, clap::Args)]
pub struct ShiftArgs {
    #[command(flatten)]
    pub listener: ListenerArgs,

    /// Shift a rule's forward action instead of the listener's default action
    /// (the listener is taken from the rule's ARN).
    #[arg(long, value_name = "ARN", allow_hyphen_values = true)]
    pub rule: Option<String>,

    /// The target group to move traffic to (name or ARN). Not yet in the forward
    /// action: it is added at weight 0 (it must not serve another load balancer).
    #[arg(long, value_name = "NAME|ARN", allow_hyphen_values = true)]
    pub to: String,

    /// Target's share at each step, percent of the total: increasing, ending at 100.
    #[arg(
        long,
        default_value = "10,50,100",
        value_name = "P,P,...",
        allow_hyphen_values = true
    )]
    pub steps: String,

    /// How long to hold each step before checking the gates again (at most 24h).
    #[arg(
        long,
        default_value = "2m",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub bake: String,

    /// Command that must exit 0 before every increase (run with `sh -c`, output to
    /// stderr; sees LB_SWITCH_PERCENT, LB_SWITCH_STEP, LB_SWITCH_LISTENER ...). Repeatable.
    #[arg(long = "gate-cmd", value_name = "CMD")]
    pub gate_cmds: Vec<String>,

    /// CloudWatch alarm NAME, or PREFIX*, that must not be in ALARM before every
    /// increase. An alarm that does not exist fails the gate. Repeatable.
    #[arg(long = "alarm", value_name = "NAME|PREFIX*")]
    pub alarms: Vec<String>,

    /// Gate: at least this share of the target group's targets healthy before every increase.
    #[arg(long, value_name = "PERCENT", allow_hyphen_values = true)]
    pub min_healthy: Option<String>,

    /// On a failed gate, an error, SIGINT or SIGTERM: back to the starting weights at once, or step by step.
    #[arg(long, value_enum, default_value_t = common::shift::RevertMode::Immediate)]
    pub revert: common::shift::RevertMode,

    /// Emergency: skip bake times and gates. Recorded as such in the journal and output.
    #[arg(long)]
    pub fast_track: bool,

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
struct Options {
    to: TgRef,
    steps: Vec<u8>,
    bake: Duration,
    gate_cmds: Vec<String>,
    alarms: Vec<AlarmSpec>,
    min_healthy: Option<f64>,
    revert: common::shift::RevertMode,
    fast_track: bool,
    gate_timeout: Duration,
}

impl ShiftArgs {
    fn validate(&self) -> Result<Options> {
        let to = TgRef::parse("--to", &self.to)?;
        let steps = common::shift::parse_steps(&self.steps).map_err(Error::usage)?;
        let alarms = common::gate::parse_alarms(&self.alarms)?;
        common::gate::validate_commands(&self.gate_cmds)?;
        let min_healthy = self
            .min_healthy
            .as_deref()
            .map(|m| crate::parse_percent("--min-healthy", m))
            .transpose()?;
        Ok(Options {
            to,
            steps,
            bake: parse_duration("--bake", &self.bake)?,
            gate_cmds: self.gate_cmds.clone(),
            alarms,
            min_healthy,
            revert: self.revert,
            fast_track: self.fast_track,
            gate_timeout: parse_duration("--gate-timeout", &self.gate_timeout)?,
        })
    }

    /// The listener, and the rule when --rule is given.
    fn scope(&self) -> Result<(Option<crate::ListenerSpec>, Option<String>)> {
        let rule = match &self.rule {
            Some(r) => {
                parse_arn("--rule", r, "listener-rule")?;
                Some(r.trim().to_owned())
            }
            None => None,
        };
        let named = self.listener.listener.is_some() || self.listener.load_balancer.is_some();
        let listener = if named || rule.is_none() {
            Some(self.listener.validate()?)
        } else {
            None
        };
        Ok((listener, rule))
    }
}

pub async fn run(ctx: &Context, args: &ShiftArgs) -> Result<()> {
    let (listener_spec, rule) = args.scope()?;
    let opts = args.validate()?;
    let elb = crate::open(ctx).await?;
    let listener = match (&listener_spec, &rule) {
        (Some(spec), _) => ctx.cancel().run(spec.resolve(&elb)).await?,
        (None, Some(r)) => elb::listener_of_rule(r).ok_or_else(|| {
            Error::usage(format!("--rule {} names no listener", common::quote(r)))
        })?,
        (None, None) => return Err(Error::Internal("no listener".into())),
    };
    if let Some(r) = &rule
        && elb::listener_of_rule(r).as_deref() != Some(listener.as_str())
    {
        return Err(Error::usage(format!(
            "--rule {} is not a rule of listener {listener}",
            common::quote(r)
        )));
    }
    let start = ctx.cancel().run(elb.read_listener(&listener)).await?;
    let mut target = ElbTarget {
        elb: &elb,
        listener: listener.clone(),
        rule: rule.clone(),
        known: BTreeMap::new(),
        min_healthy: None,
    };
    let action = target.forward_action(&start).ok_or_else(|| {
        Error::usage(format!(
            "{} has no forward action to shift (it is {})",
            target.scope_name(),
            elb::describe_actions(target.actions(&start).unwrap_or(&[]))
        ))
    })?;
    for (name, (arn, _)) in elb::forward_weights(action) {
        target.known.insert(name, arn);
    }
    let to_name = opts.to.name();
    let in_action = match (&opts.to, target.known.get(&to_name)) {
        (TgRef::Arn(a), Some(known)) => (a == known).then(|| known.clone()),
        (TgRef::Name(_), Some(known)) => Some(known.clone()),
        (_, None) => None,
    };
    let to_arn = match in_action {
        Some(arn) => arn,
        None => {
            // Not in the action yet: it must exist and serve no other load balancer.
            let group = ctx
                .cancel()
                .run(async {
                    match &opts.to {
                        TgRef::Arn(a) => elb
                            .target_groups(std::slice::from_ref(a))
                            .await?
                            .into_iter()
                            .next()
                            .ok_or_else(|| Error::usage(format!("unknown target group {a}"))),
                        TgRef::Name(n) => elb.target_group_by_name(n).await,
                    }
                })
                .await?;
            let arn = group.target_group_arn().unwrap_or_default().to_owned();
            check_same_load_balancer(&listener, &arn, group.load_balancer_arns())?;
            if target.known.contains_key(&to_name) {
                return Err(Error::usage(format!(
                    "--to {arn}: the forward action already holds another target group named {to_name}"
                )));
            }
            ctx.out.info(format!(
                "{to_name} is not in the forward action yet: it starts at weight 0"
            ));
            target.known.insert(to_name.clone(), arn.clone());
            arn
        }
    };
    target.min_healthy = opts.min_healthy.map(|m| (to_arn, m));
    let plan =
        common::shift::plan_shift(&target.weights(&start), &to_name, &opts.steps, MAX_WEIGHT)
            .map_err(Error::usage)?;
    let config = ctx.aws().await?.config.clone();
    let cw = (!opts.alarms.is_empty() && !opts.fast_track).then(|| {
        let conf = aws_sdk_cloudwatch::config::Builder::from(&config)
            .interceptor(elb.calls.clone())
            .build();
        aws_sdk_cloudwatch::Client::from_conf(conf)
    });
    let settings = common::shift::Settings {
        to: to_name,
        plan,
        bake: opts.bake,
        gate_cmds: opts.gate_cmds,
        alarms: opts.alarms,
        revert: opts.revert,
        fast_track: opts.fast_track,
        timeout: Duration::from_secs(60),
        gate_timeout: opts.gate_timeout,
    };
    common::shift::run(ctx, &target, cw.as_ref(), start, &settings).await
}

const WORDS: Words = Words {
    command: "lb-switch",
    action: "lb",
    env_prefix: "LB_SWITCH",
    service: "Elastic Load Balancing",
    thing: "listener",
    settled: "live",
    request_key: "request",
    conflict_hint: "see `lb-switch show`, and `lb-switch undo` to put the rules back by hand",
};

/// One listener's (or rule's) forward action as the shift engine sees it.
/// The state is the listener's whole rule snapshot (what `undo` restores);
/// the weights are those of the forward action in scope, by target group name.
#[derive(Debug)]
pub struct ElbTarget<'a> {
    pub elb: &'a Elb,
    pub listener: String,
    /// The rule whose action is shifted; `None`: the listener's default action.
    pub rule: Option<String>,
    /// Target group name -> ARN, for every group the shift may weigh.
    pub known: BTreeMap<String, String>,
    /// `--min-healthy`: the target group's ARN and the least healthy share.
    pub min_healthy: Option<(String, f64)>,
}

/// A forward action with its zero-weight groups left out: two actions that
/// route the same are equal (a group added at weight 0 changes nothing).
fn routing(actions: &[Value]) -> Vec<Value> {
    actions
        .iter()
        .map(|a| {
            let mut a = a.clone();
            if let Some(tgs) = a.get_mut("target_groups").and_then(Value::as_array_mut) {
                tgs.retain(|g| g.get("weight").and_then(Value::as_u64) != Some(0));
            }
            a
        })
        .collect()
}

impl ElbTarget<'_> {
    fn scope_name(&self) -> String {
        match &self.rule {
            Some(r) => format!("rule {}", elb::short_rule(r)),
            None => format!("the default action of {}", self.listener),
        }
    }

    fn actions<'s>(&self, s: &'s Snapshot) -> Option<&'s [Value]> {
        match &self.rule {
            None => Some(&s.default_actions),
            Some(r) => s.rule(r).map(|r| r.actions.as_slice()),
        }
    }

    fn actions_mut<'s>(&self, s: &'s mut Snapshot) -> Option<&'s mut Vec<Value>> {
        match &self.rule {
            None => Some(&mut s.default_actions),
            Some(r) => s
                .rules
                .iter_mut()
                .find(|x| x.arn == *r)
                .map(|x| &mut x.actions),
        }
    }

    fn forward_action<'s>(&self, s: &'s Snapshot) -> Option<&'s Value> {
        self.actions(s)?
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some("forward"))
    }

    /// The actions in scope after setting `weights`.
    fn actions_with(&self, s: &Snapshot, weights: &Weights) -> Vec<Value> {
        let mut s = s.clone();
        let Some(actions) = self.actions_mut(&mut s) else {
            return Vec::new();
        };
        if let Some(fwd) = actions
            .iter_mut()
            .find(|a| a.get("type").and_then(Value::as_str) == Some("forward"))
        {
            let mut tgs: Vec<(String, u32)> = weights
                .iter()
                .filter_map(|(name, w)| Some((self.known.get(name)?.clone(), *w)))
                .collect();
            tgs.sort();
            fwd["target_groups"] = json!(
                tgs.iter()
                    .map(|(arn, w)| json!({"arn": arn, "weight": w}))
                    .collect::<Vec<_>>()
            );
        }
        actions.clone()
    }

    async fn modify(&self, actions: &[Value]) -> Result<()> {
        let sdk: Vec<_> = actions
            .iter()
            .map(|a| {
                elb::action_from_json(a).ok_or_else(|| {
                    Error::CheckFailed(format!(
                        "{} holds a {} action lb-switch cannot write back",
                        self.scope_name(),
                        a.get("type").and_then(Value::as_str).unwrap_or("?")
                    ))
                })
            })
            .collect::<Result<_>>()?;
        match &self.rule {
            None => {
                self.elb
                    .client
                    .modify_listener()
                    .listener_arn(&self.listener)
                    .set_default_actions(Some(sdk))
                    .send()
                    .await
                    .aws("ModifyListener")?;
            }
            Some(r) => {
                self.elb
                    .client
                    .modify_rule()
                    .rule_arn(r)
                    .set_actions(Some(sdk))
                    .send()
                    .await
                    .aws("ModifyRule")?;
            }
        }
        Ok(())
    }
}

/// `shift`'s JSON lines (`docs/schema/lb-switch/shift.events.schema.json`).
pub type Event = common::shift::ShiftEvent<Identity, ExtraGates, Calls, Settled, Request>;

/// The listener (and rule) shifted, first in the `start` and `summary` events.
#[derive(Debug, Clone, serde::Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Identity {
    pub listener: String,
    /// The rule whose forward action is shifted (null: the listener's default action).
    pub rule: Option<String>,
}

/// lb-switch's own gate, in the `start` event's `gates`.
#[derive(Debug, Clone, serde::Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ExtraGates {
    /// `--min-healthy`: the least healthy percent of the target group, if given.
    pub min_healthy: Option<f64>,
}

/// The calls counted in the `summary` event.
#[derive(Debug, Clone, serde::Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Calls {
    pub elbv2_calls: u64,
    pub cloudwatch_calls: u64,
    /// Requests per `service:Operation`.
    pub calls: BTreeMap<String, u64>,
}

/// A step's time until live (ELBv2 applies a change at once).
#[derive(Debug, Clone, serde::Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Settled {
    /// Milliseconds from sending the change until it was accepted.
    pub applied_ms: u64,
}

impl From<u64> for Settled {
    fn from(applied_ms: u64) -> Self {
        Settled { applied_ms }
    }
}

/// The call a dry-run step would make.
#[derive(Debug, Clone, serde::Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Request {
    /// `{"call": "ModifyListener" | "ModifyRule", ...}` (null when nothing would change).
    pub request: Option<Value>,
}

impl From<Option<Value>> for Request {
    fn from(request: Option<Value>) -> Self {
        Request { request }
    }
}

impl ShiftTarget for ElbTarget<'_> {
    type State = Snapshot;
    type Identity = Identity;
    type ExtraGates = ExtraGates;
    type Calls = Calls;
    type Settled = Settled;
    type Request = Request;

    fn words(&self) -> &Words {
        &WORDS
    }

    fn name(&self) -> String {
        match &self.rule {
            Some(r) => format!("{} rule {}", self.listener, elb::short_rule(r)),
            None => self.listener.clone(),
        }
    }

    fn journal_target(&self) -> String {
        self.listener.clone()
    }

    fn identity(&self) -> Identity {
        Identity {
            listener: self.listener.clone(),
            rule: self.rule.clone(),
        }
    }

    fn gate_env(&self) -> Vec<(String, String)> {
        vec![
            ("LB_SWITCH_LISTENER".to_owned(), self.listener.clone()),
            (
                "LB_SWITCH_RULE".to_owned(),
                self.rule.clone().unwrap_or_default(),
            ),
        ]
    }

    fn show_command(&self) -> String {
        format!("lb-switch show --listener {}", self.listener)
    }

    fn undo_command(&self) -> String {
        format!("lb-switch undo --listener {}", self.listener)
    }

    fn weights(&self, state: &Snapshot) -> Weights {
        let mut w: Weights = self.known.keys().map(|k| (k.clone(), 0)).collect();
        if let Some(a) = self.forward_action(state) {
            for (name, (_, weight)) in elb::forward_weights(a) {
                w.insert(name, weight);
            }
        }
        w
    }

    fn with_weights(&self, state: &Snapshot, weights: &Weights) -> Snapshot {
        let actions = self.actions_with(state, weights);
        let mut s = state.clone();
        if let Some(a) = self.actions_mut(&mut s) {
            *a = actions;
        }
        s
    }

    fn state_json(&self, state: &Snapshot) -> Value {
        let mut v = state.json();
        v["scope"] = json!(self.rule.as_deref().unwrap_or("default"));
        v["weights"] = json!(self.weights(state));
        v
    }

    async fn read(&self) -> Result<Snapshot> {
        let s = self.elb.read_listener(&self.listener).await?;
        if self.actions(&s).is_none() {
            return Err(Error::CheckFailed(format!(
                "{} is gone from {}",
                self.scope_name(),
                self.listener
            )));
        }
        Ok(s)
    }

    fn request(
        &self,
        basis: &Snapshot,
        weights: &Weights,
        kind: WriteKind,
        _comment: &str,
    ) -> Option<Value> {
        if kind == WriteKind::Step && &self.weights(basis) == weights {
            return None;
        }
        let actions = self.actions_with(basis, weights);
        Some(match &self.rule {
            None => {
                json!({"call": "ModifyListener", "listener_arn": self.listener, "default_actions": actions})
            }
            Some(r) => json!({"call": "ModifyRule", "rule_arn": r, "actions": actions}),
        })
    }

    /// ELBv2 has no conditional write: the live action is read right before
    /// the write and must route exactly as `basis` does.
    async fn write(
        &self,
        basis: &Snapshot,
        weights: &Weights,
        _kind: WriteKind,
        _comment: &str,
    ) -> std::result::Result<Written, WriteError<Snapshot>> {
        let live = self.read().await?;
        let same = |s: &Snapshot| {
            routing(self.actions(s).unwrap_or(&[])) == routing(self.actions(basis).unwrap_or(&[]))
        };
        if !same(&live) {
            return Err(WriteError::Conflict(Box::new(live)));
        }
        let actions = self.actions_with(basis, weights);
        let err = match self.modify(&actions).await {
            Ok(()) => return Ok(Written::Live),
            Err(e) => e,
        };
        // Did it go through (an answer lost) or not, or did someone else write?
        let live = match self.read().await {
            Ok(l) => l,
            Err(read_err) => {
                return Err(WriteError::Failed(Error::Internal(format!(
                    "{err} (and the listener could not be read back: {read_err})"
                ))));
            }
        };
        if &self.weights(&live) == weights {
            return Ok(Written::AlreadyLive);
        }
        if same(&live) {
            return Err(WriteError::Unchanged(err));
        }
        Err(WriteError::Conflict(Box::new(live)))
    }

    async fn settle(&self, _out: &Output, _id: &str, _timeout: Duration) -> Result<()> {
        Ok(())
    }

    async fn extra_gates(&self) -> Vec<GateResult> {
        let Some((arn, min)) = &self.min_healthy else {
            return Vec::new();
        };
        let name = elb::tg_name(arn);
        match crate::health::check(self.elb, arn, *min).await {
            Ok(g) => vec![GateResult {
                kind: "target-health",
                name,
                passed: g.passed,
                detail: format!(
                    "{}/{} healthy ({:.2} %, at least {min} %)",
                    g.healthy, g.registered, g.healthy_percent
                ),
            }],
            Err(e) => vec![GateResult {
                kind: "target-health",
                name,
                passed: false,
                detail: format!("could not read target health: {e}"),
            }],
        }
    }

    fn has_extra_gates(&self) -> bool {
        self.min_healthy.is_some()
    }

    fn extra_gate_fields(&self) -> ExtraGates {
        ExtraGates {
            min_healthy: self.min_healthy.as_ref().map(|(_, m)| *m),
        }
    }

    fn call_fields(&self) -> Calls {
        Calls {
            elbv2_calls: self.elb.total(),
            cloudwatch_calls: self.elb.calls.service_total("cloudwatch"),
            calls: self.elb.calls.by_service_operation(),
        }
    }

    fn calls_text(&self) -> String {
        format!(
            "{} ELBv2 calls, {} CloudWatch calls",
            self.elb.total(),
            self.elb.calls.service_total("cloudwatch")
        )
    }
}
