//! Elastic Load Balancing v2 for lb-switch: ARN and name checks (before any
//! call), the client with its call counter, a listener's rules as a snapshot
//! in a canonical JSON form (what the journal records, what `off` and `undo`
//! compare and restore), and the calls that put a snapshot back.
//!
//! ELBv2 has no conditional write (no ETag, no If-Match on ModifyListener,
//! ModifyRule or CreateRule). "Write only if unchanged" is therefore a read of
//! the exact state right before the write, compared with the state the change
//! was planned from; the window left is the one call's latency. CreateRule at a
//! priority that someone took meanwhile fails with PriorityInUse, which is
//! read back like any failed write.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig,
    HostHeaderConditionConfig, HttpHeaderConditionConfig, HttpRequestMethodConditionConfig,
    PathPatternConditionConfig, QueryStringConditionConfig, QueryStringKeyValuePair,
    RedirectActionConfig, RedirectActionStatusCodeEnum, Rule, RuleCondition,
    SourceIpConditionConfig, TargetGroupStickinessConfig, TargetGroupTuple,
};
use common::calls::CallCounter;
use common::{AwsResultExt, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The ELBv2 client of one command, with its call counter.
#[derive(Debug, Clone)]
pub struct Elb {
    pub client: aws_sdk_elasticloadbalancingv2::Client,
    pub calls: CallCounter,
}

impl Elb {
    pub fn new(config: &aws_config::SdkConfig, calls: CallCounter) -> Self {
        let conf = aws_sdk_elasticloadbalancingv2::config::Builder::from(config)
            .interceptor(calls.clone())
            .build();
        Elb {
            client: aws_sdk_elasticloadbalancingv2::Client::from_conf(conf),
            calls,
        }
    }

    /// A client built elsewhere (mock tests); calls are counted only if it
    /// carries a clone of `calls` as an interceptor.
    pub fn from_client(client: aws_sdk_elasticloadbalancingv2::Client, calls: CallCounter) -> Self {
        Elb { client, calls }
    }

    /// ELBv2 requests sent so far (retries count).
    pub fn total(&self) -> u64 {
        self.calls.service_total("elasticloadbalancingv2")
    }
}

// ---------------------------------------------------------------------------
// ARNs and names (checked before any call)

/// The parts of an ELBv2 ARN that lb-switch uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    pub region: String,
    pub account: String,
    /// `listener`, `listener-rule`, `targetgroup`, `loadbalancer`.
    pub kind: String,
    /// What follows `kind/`.
    pub path: Vec<String>,
}

fn bad_arn(flag: &str, raw: &str, what: &str) -> Error {
    Error::usage(format!(
        "{flag} {} is not {what} ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:...)",
        common::quote(raw)
    ))
}

/// Parses an ELBv2 ARN of `kind` (`listener` ...): exit 2 when it is not one.
pub fn parse_arn(flag: &str, raw: &str, kind: &str) -> Result<Arn> {
    let what = match kind {
        "listener" => "a listener",
        "listener-rule" => "a listener rule",
        "targetgroup" => "a target group",
        _ => "a load balancer",
    };
    let t = raw.trim();
    if t.len() > 512 || t.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad_arn(flag, raw, what));
    }
    let parts: Vec<&str> = t.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else {
        return Err(bad_arn(flag, raw, what));
    };
    let partition_ok = matches!(partition, "aws" | "aws-cn" | "aws-us-gov");
    let region_ok = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
    if arn != "arn"
        || !partition_ok
        || service != "elasticloadbalancing"
        || !region_ok
        || !account_ok
    {
        return Err(bad_arn(flag, raw, what));
    }
    let mut segs = resource.split('/');
    let k = segs.next().unwrap_or_default();
    let path: Vec<String> = segs.map(str::to_owned).collect();
    // listener/app/NAME/LB-ID/ID, listener-rule/app/NAME/LB-ID/L-ID/ID,
    // targetgroup/NAME/ID, loadbalancer/app/NAME/ID.
    let ok_len = match kind {
        "listener" => path.len() == 4,
        "listener-rule" => path.len() == 5,
        "targetgroup" => path.len() == 2,
        _ => path.len() == 3,
    };
    if k != kind || !ok_len || path.iter().any(String::is_empty) {
        return Err(bad_arn(flag, raw, what));
    }
    Ok(Arn {
        region: region.to_owned(),
        account: account.to_owned(),
        kind: k.to_owned(),
        path,
    })
}

/// The load balancer ARN a listener or rule ARN belongs to.
pub fn load_balancer_of(arn: &str) -> Option<String> {
    let (head, resource) = arn.split_once(":listener")?;
    let rest = resource.split_once('/')?.1; // after listener/ or listener-rule/
    let p: Vec<&str> = rest.split('/').collect();
    if p.len() < 3 {
        return None;
    }
    Some(format!("{head}:loadbalancer/{}/{}/{}", p[0], p[1], p[2]))
}

/// The listener ARN a rule ARN belongs to.
pub fn listener_of_rule(rule_arn: &str) -> Option<String> {
    let (head, rest) = rule_arn.split_once(":listener-rule/")?;
    let p: Vec<&str> = rest.split('/').collect();
    if p.len() != 5 {
        return None;
    }
    Some(format!(
        "{head}:listener/{}/{}/{}/{}",
        p[0], p[1], p[2], p[3]
    ))
}

/// A target group's name from its ARN (`targetgroup/NAME/ID`).
pub fn tg_name(arn: &str) -> String {
    arn.split(":targetgroup/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or(arn)
        .to_owned()
}

/// A load balancer or target group name: 1-32 of a-z, A-Z, 0-9 and `-`, not
/// starting or ending with `-`.
pub fn validate_name(flag: &str, raw: &str) -> Result<String> {
    let t = raw.trim();
    let ok = !t.is_empty()
        && t.len() <= 32
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !t.starts_with('-')
        && !t.ends_with('-');
    if ok {
        Ok(t.to_owned())
    } else {
        Err(Error::usage(format!(
            "{flag} {} is not a name of 1-32 letters, digits and hyphens",
            common::quote(raw)
        )))
    }
}

/// A target group as given: its ARN, or its name (resolved later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TgRef {
    Arn(String),
    Name(String),
}

impl TgRef {
    pub fn parse(flag: &str, raw: &str) -> Result<TgRef> {
        let t = raw.trim();
        if t.starts_with("arn:") {
            parse_arn(flag, t, "targetgroup")?;
            Ok(TgRef::Arn(t.to_owned()))
        } else {
            validate_name(flag, t).map(TgRef::Name)
        }
    }

    pub fn name(&self) -> String {
        match self {
            TgRef::Arn(a) => tg_name(a),
            TgRef::Name(n) => n.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Canonical JSON of actions and conditions

/// One action as lb-switch records and compares it. Forward target groups
/// are sorted by ARN; stickiness only when enabled; `Order` is left out (the
/// list keeps the order ELB returns).
pub fn action_json(a: &Action) -> Value {
    let t = a
        .r#type()
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    match t.as_str() {
        "forward" => {
            let mut tgs: Vec<(String, i64)> = match a.forward_config() {
                Some(fc) if !fc.target_groups().is_empty() => fc
                    .target_groups()
                    .iter()
                    .filter_map(|g| {
                        Some((
                            g.target_group_arn()?.to_owned(),
                            i64::from(g.weight().unwrap_or(1)),
                        ))
                    })
                    .collect(),
                _ => a
                    .target_group_arn()
                    .map(|arn| vec![(arn.to_owned(), 1)])
                    .unwrap_or_default(),
            };
            tgs.sort();
            let mut v = json!({
                "type": "forward",
                "target_groups": tgs.iter().map(|(arn, w)| json!({"arn": arn, "weight": w})).collect::<Vec<_>>(),
            });
            if let Some(s) = a
                .forward_config()
                .and_then(|f| f.target_group_stickiness_config())
                && s.enabled() == Some(true)
            {
                v["stickiness_seconds"] = json!(s.duration_seconds());
            }
            v
        }
        "fixed-response" => {
            let f = a.fixed_response_config();
            json!({
                "type": "fixed-response",
                "status_code": f.and_then(|f| f.status_code()),
                "content_type": f.and_then(|f| f.content_type()),
                "message_body": f.and_then(|f| f.message_body()),
            })
        }
        "redirect" => {
            let r = a.redirect_config();
            json!({
                "type": "redirect",
                "protocol": r.and_then(|r| r.protocol()),
                "port": r.and_then(|r| r.port()),
                "host": r.and_then(|r| r.host()),
                "path": r.and_then(|r| r.path()),
                "query": r.and_then(|r| r.query()),
                "status_code": r.and_then(|r| r.status_code()).map(|s| s.as_str()),
            })
        }
        other => json!({"type": other, "unsupported": true}),
    }
}

/// The SDK action for a canonical JSON action; `None` for a kind lb-switch
/// does not recreate (authentication, JWT validation).
pub fn action_from_json(v: &Value) -> Option<Action> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    match v.get("type")?.as_str()? {
        "forward" => {
            let tgs: Vec<TargetGroupTuple> = v
                .get("target_groups")?
                .as_array()?
                .iter()
                .map(|g| {
                    TargetGroupTuple::builder()
                        .set_target_group_arn(
                            g.get("arn").and_then(Value::as_str).map(str::to_owned),
                        )
                        .set_weight(g.get("weight").and_then(Value::as_i64).map(|w| w as i32))
                        .build()
                })
                .collect();
            let mut fc = ForwardActionConfig::builder().set_target_groups(Some(tgs));
            if let Some(secs) = v.get("stickiness_seconds") {
                fc = fc.target_group_stickiness_config(
                    TargetGroupStickinessConfig::builder()
                        .enabled(true)
                        .set_duration_seconds(secs.as_i64().map(|d| d as i32))
                        .build(),
                );
            }
            Some(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .forward_config(fc.build())
                    .build(),
            )
        }
        "fixed-response" => Some(
            Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .set_status_code(s("status_code"))
                        .set_content_type(s("content_type"))
                        .set_message_body(s("message_body"))
                        .build(),
                )
                .build(),
        ),
        "redirect" => Some(
            Action::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(
                    RedirectActionConfig::builder()
                        .set_protocol(s("protocol"))
                        .set_port(s("port"))
                        .set_host(s("host"))
                        .set_path(s("path"))
                        .set_query(s("query"))
                        .set_status_code(
                            s("status_code")
                                .map(|c| RedirectActionStatusCodeEnum::from(c.as_str())),
                        )
                        .build(),
                )
                .build(),
        ),
        _ => None,
    }
}

/// One rule condition in canonical JSON: the field and its values (from the
/// field's config when ELB gives one, else the plain values).
pub fn condition_json(c: &RuleCondition) -> Value {
    let field = c.field().unwrap_or_default();
    let plain = || c.values().to_vec();
    match field {
        "host-header" => {
            json!({"field": field, "values": c.host_header_config().map(|h| h.values().to_vec()).unwrap_or_else(plain)})
        }
        "path-pattern" => {
            json!({"field": field, "values": c.path_pattern_config().map(|h| h.values().to_vec()).unwrap_or_else(plain)})
        }
        "http-request-method" => {
            json!({"field": field, "values": c.http_request_method_config().map(|h| h.values().to_vec()).unwrap_or_else(plain)})
        }
        "source-ip" => {
            json!({"field": field, "values": c.source_ip_config().map(|h| h.values().to_vec()).unwrap_or_else(plain)})
        }
        "http-header" => json!({
            "field": field,
            "name": c.http_header_config().and_then(|h| h.http_header_name()),
            "values": c.http_header_config().map(|h| h.values().to_vec()).unwrap_or_default(),
        }),
        "query-string" => json!({
            "field": field,
            "values": c.query_string_config().map(|q| q.values().iter().map(|kv| json!({"key": kv.key(), "value": kv.value()})).collect::<Vec<_>>()).unwrap_or_default(),
        }),
        other => json!({"field": other, "values": plain(), "unsupported": true}),
    }
}

/// The SDK condition for a canonical JSON condition.
pub fn condition_from_json(v: &Value) -> Option<RuleCondition> {
    let field = v.get("field")?.as_str()?;
    let strings = || -> Vec<String> {
        v.get("values")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let b = RuleCondition::builder().field(field);
    Some(match field {
        "host-header" => b
            .host_header_config(
                HostHeaderConditionConfig::builder()
                    .set_values(Some(strings()))
                    .build(),
            )
            .build(),
        "path-pattern" => b
            .path_pattern_config(
                PathPatternConditionConfig::builder()
                    .set_values(Some(strings()))
                    .build(),
            )
            .build(),
        "http-request-method" => b
            .http_request_method_config(
                HttpRequestMethodConditionConfig::builder()
                    .set_values(Some(strings()))
                    .build(),
            )
            .build(),
        "source-ip" => b
            .source_ip_config(
                SourceIpConditionConfig::builder()
                    .set_values(Some(strings()))
                    .build(),
            )
            .build(),
        "http-header" => b
            .http_header_config(
                HttpHeaderConditionConfig::builder()
                    .set_http_header_name(v.get("name").and_then(Value::as_str).map(str::to_owned))
                    .set_values(Some(strings()))
                    .build(),
            )
            .build(),
        "query-string" => {
            let pairs: Vec<QueryStringKeyValuePair> = v
                .get("values")?
                .as_array()?
                .iter()
                .map(|kv| {
                    QueryStringKeyValuePair::builder()
                        .set_key(kv.get("key").and_then(Value::as_str).map(str::to_owned))
                        .set_value(kv.get("value").and_then(Value::as_str).map(str::to_owned))
                        .build()
                })
                .collect();
            b.query_string_config(
                QueryStringConditionConfig::builder()
                    .set_values(Some(pairs))
                    .build(),
            )
            .build()
        }
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// A listener's rules

/// One non-default rule as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct RuleSnap {
    pub arn: String,
    pub priority: u32,
    pub conditions: Vec<Value>,
    pub actions: Vec<Value>,
}

/// Every rule of a listener: its default actions and its other rules by
/// priority. What the journal records before and after each change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Snapshot {
    pub listener_arn: String,
    pub default_rule_arn: Option<String>,
    pub default_actions: Vec<Value>,
    pub rules: Vec<RuleSnap>,
}

impl Snapshot {
    pub fn from_rules(listener_arn: &str, rules: &[Rule]) -> Result<Snapshot> {
        let mut snap = Snapshot {
            listener_arn: listener_arn.to_owned(),
            default_rule_arn: None,
            default_actions: Vec::new(),
            rules: Vec::new(),
        };
        for r in rules {
            let actions: Vec<Value> = r.actions().iter().map(action_json).collect();
            if r.is_default() == Some(true) || r.priority() == Some("default") {
                snap.default_rule_arn = r.rule_arn().map(str::to_owned);
                snap.default_actions = actions;
                continue;
            }
            let priority = r
                .priority()
                .and_then(|p| p.parse::<u32>().ok())
                .ok_or_else(|| {
                    Error::Internal(format!(
                        "rule {} has no numeric priority",
                        r.rule_arn().unwrap_or("?")
                    ))
                })?;
            snap.rules.push(RuleSnap {
                arn: r.rule_arn().unwrap_or_default().to_owned(),
                priority,
                conditions: r.conditions().iter().map(condition_json).collect(),
                actions,
            });
        }
        snap.rules.sort_by_key(|r| r.priority);
        Ok(snap)
    }

    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn from_json(v: &Value) -> Option<Snapshot> {
        serde_json::from_value(v.clone()).ok()
    }

    pub fn rule(&self, arn: &str) -> Option<&RuleSnap> {
        self.rules.iter().find(|r| r.arn == arn)
    }

    /// The lowest priority number in use (the rule evaluated first).
    pub fn top_priority(&self) -> Option<u32> {
        self.rules.iter().map(|r| r.priority).min()
    }
}

/// What differs from `want` in `live`, one line each (empty when equal).
pub fn diff(want: &Snapshot, live: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    if want.default_actions != live.default_actions {
        out.push(format!(
            "default action: recorded {}, now {}",
            describe_actions(&want.default_actions),
            describe_actions(&live.default_actions)
        ));
    }
    for r in &want.rules {
        match live.rule(&r.arn) {
            None => out.push(format!(
                "rule {} (priority {}) is gone",
                short_rule(&r.arn),
                r.priority
            )),
            Some(l) => {
                if l.priority != r.priority {
                    out.push(format!(
                        "rule {}: priority recorded {}, now {}",
                        short_rule(&r.arn),
                        r.priority,
                        l.priority
                    ));
                }
                if l.conditions != r.conditions {
                    out.push(format!("rule {}: conditions changed", short_rule(&r.arn)));
                }
                if l.actions != r.actions {
                    out.push(format!(
                        "rule {}: actions recorded {}, now {}",
                        short_rule(&r.arn),
                        describe_actions(&r.actions),
                        describe_actions(&l.actions)
                    ));
                }
            }
        }
    }
    for l in &live.rules {
        if want.rule(&l.arn).is_none() {
            out.push(format!(
                "rule {} (priority {}, {}) was added",
                short_rule(&l.arn),
                l.priority,
                describe_actions(&l.actions)
            ));
        }
    }
    out
}

/// The last part of a rule ARN, for messages.
pub fn short_rule(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `forward blue=90 green=10`, `fixed-response 503` for messages.
pub fn describe_actions(actions: &[Value]) -> String {
    actions
        .iter()
        .map(
            |a| match a.get("type").and_then(Value::as_str).unwrap_or("?") {
                "forward" => format!(
                    "forward {}",
                    a.get("target_groups")
                        .and_then(Value::as_array)
                        .map(|tgs| tgs
                            .iter()
                            .map(|g| format!(
                                "{}={}",
                                tg_name(g.get("arn").and_then(Value::as_str).unwrap_or("?")),
                                g.get("weight").and_then(Value::as_i64).unwrap_or(0)
                            ))
                            .collect::<Vec<_>>()
                            .join(" "))
                        .unwrap_or_default()
                ),
                "fixed-response" => format!(
                    "fixed-response {}",
                    a.get("status_code").and_then(Value::as_str).unwrap_or("?")
                ),
                other => other.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// One call that moves a listener towards a recorded snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    DeleteRule {
        arn: String,
    },
    SetPriority {
        arn: String,
        priority: u32,
    },
    ModifyRule {
        arn: String,
        conditions: Vec<Value>,
        actions: Vec<Value>,
    },
    ModifyDefault {
        actions: Vec<Value>,
    },
    CreateRule {
        priority: u32,
        conditions: Vec<Value>,
        actions: Vec<Value>,
    },
}

impl Op {
    pub fn json(&self) -> Value {
        match self {
            Op::DeleteRule { arn } => json!({"call": "DeleteRule", "rule_arn": arn}),
            Op::SetPriority { arn, priority } => {
                json!({"call": "SetRulePriorities", "rule_arn": arn, "priority": priority})
            }
            Op::ModifyRule {
                arn,
                conditions,
                actions,
            } => {
                json!({"call": "ModifyRule", "rule_arn": arn, "conditions": conditions, "actions": actions})
            }
            Op::ModifyDefault { actions } => {
                json!({"call": "ModifyListener", "default_actions": actions})
            }
            Op::CreateRule {
                priority,
                conditions,
                actions,
            } => {
                json!({"call": "CreateRule", "priority": priority, "conditions": conditions, "actions": actions})
            }
        }
    }
}

/// The calls that turn `live` into `want`: deletes first (they free
/// priorities), then priorities, then changed rules and the default action,
/// then rules that are gone (recreated, with new ARNs).
pub fn reconcile(want: &Snapshot, live: &Snapshot) -> Vec<Op> {
    let mut ops = Vec::new();
    for l in &live.rules {
        if want.rule(&l.arn).is_none() {
            ops.push(Op::DeleteRule { arn: l.arn.clone() });
        }
    }
    for w in &want.rules {
        if let Some(l) = live.rule(&w.arn)
            && l.priority != w.priority
        {
            ops.push(Op::SetPriority {
                arn: w.arn.clone(),
                priority: w.priority,
            });
        }
    }
    for w in &want.rules {
        if let Some(l) = live.rule(&w.arn)
            && (l.conditions != w.conditions || l.actions != w.actions)
        {
            ops.push(Op::ModifyRule {
                arn: w.arn.clone(),
                conditions: w.conditions.clone(),
                actions: w.actions.clone(),
            });
        }
    }
    if want.default_actions != live.default_actions {
        ops.push(Op::ModifyDefault {
            actions: want.default_actions.clone(),
        });
    }
    for w in &want.rules {
        if live.rule(&w.arn).is_none() {
            ops.push(Op::CreateRule {
                priority: w.priority,
                conditions: w.conditions.clone(),
                actions: w.actions.clone(),
            });
        }
    }
    ops
}

fn sdk_actions(actions: &[Value]) -> Result<Vec<Action>> {
    actions
        .iter()
        .map(|a| {
            action_from_json(a).ok_or_else(|| {
                Error::CheckFailed(format!(
                    "lb-switch cannot recreate a {} action; restore it by hand",
                    a.get("type").and_then(Value::as_str).unwrap_or("?")
                ))
            })
        })
        .collect()
}

fn sdk_conditions(conditions: &[Value]) -> Result<Vec<RuleCondition>> {
    conditions
        .iter()
        .map(|c| {
            condition_from_json(c).ok_or_else(|| {
                Error::CheckFailed(format!(
                    "lb-switch cannot recreate a {} condition; restore it by hand",
                    c.get("field").and_then(Value::as_str).unwrap_or("?")
                ))
            })
        })
        .collect()
}

impl Elb {
    /// Every rule of a listener (DescribeRules, all pages).
    pub async fn read_listener(&self, listener_arn: &str) -> Result<Snapshot> {
        let mut rules = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let o = self
                .client
                .describe_rules()
                .listener_arn(listener_arn)
                .set_marker(marker.take())
                .send()
                .await
                .aws("DescribeRules")?;
            rules.extend(o.rules.unwrap_or_default());
            match o.next_marker.filter(|m| !m.is_empty()) {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        Snapshot::from_rules(listener_arn, &rules)
    }

    /// One rule (DescribeRules by ARN).
    pub async fn read_rule(&self, rule_arn: &str) -> Result<Rule> {
        let o = self
            .client
            .describe_rules()
            .rule_arns(rule_arn)
            .send()
            .await
            .aws("DescribeRules")?;
        o.rules
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("no rule {rule_arn}")))
    }

    /// Makes one call of a restore; returns the new rule's ARN for CreateRule.
    pub async fn run_op(&self, listener_arn: &str, op: &Op) -> Result<Option<String>> {
        match op {
            Op::DeleteRule { arn } => {
                self.client
                    .delete_rule()
                    .rule_arn(arn)
                    .send()
                    .await
                    .aws("DeleteRule")?;
            }
            Op::SetPriority { arn, priority } => {
                self.client
                    .set_rule_priorities()
                    .rule_priorities(
                        aws_sdk_elasticloadbalancingv2::types::RulePriorityPair::builder()
                            .rule_arn(arn)
                            .priority(*priority as i32)
                            .build(),
                    )
                    .send()
                    .await
                    .aws("SetRulePriorities")?;
            }
            Op::ModifyRule {
                arn,
                conditions,
                actions,
            } => {
                self.client
                    .modify_rule()
                    .rule_arn(arn)
                    .set_conditions(Some(sdk_conditions(conditions)?))
                    .set_actions(Some(sdk_actions(actions)?))
                    .send()
                    .await
                    .aws("ModifyRule")?;
            }
            Op::ModifyDefault { actions } => {
                self.client
                    .modify_listener()
                    .listener_arn(listener_arn)
                    .set_default_actions(Some(sdk_actions(actions)?))
                    .send()
                    .await
                    .aws("ModifyListener")?;
            }
            Op::CreateRule {
                priority,
                conditions,
                actions,
            } => {
                let o = self
                    .client
                    .create_rule()
                    .listener_arn(listener_arn)
                    .priority(*priority as i32)
                    .set_conditions(Some(sdk_conditions(conditions)?))
                    .set_actions(Some(sdk_actions(actions)?))
                    .send()
                    .await
                    .aws("CreateRule")?;
                return Ok(o
                    .rules
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .and_then(|r| r.rule_arn));
            }
        }
        Ok(None)
    }

    /// The target groups named by ARN (DescribeTargetGroups); unknown ones
    /// are an error naming them.
    pub async fn target_groups(
        &self,
        arns: &[String],
    ) -> Result<Vec<aws_sdk_elasticloadbalancingv2::types::TargetGroup>> {
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let o = self
            .client
            .describe_target_groups()
            .set_target_group_arns(Some(arns.to_vec()))
            .send()
            .await
            .aws("DescribeTargetGroups");
        match o {
            Ok(o) => Ok(o.target_groups.unwrap_or_default()),
            Err(e) if e.has_code("TargetGroupNotFound") => Err(Error::usage(format!(
                "unknown target group among {}: {}",
                arns.iter()
                    .map(|a| tg_name(a))
                    .collect::<Vec<_>>()
                    .join(", "),
                e.message
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// A target group by name.
    pub async fn target_group_by_name(
        &self,
        name: &str,
    ) -> Result<aws_sdk_elasticloadbalancingv2::types::TargetGroup> {
        let o = self
            .client
            .describe_target_groups()
            .names(name)
            .send()
            .await
            .aws("DescribeTargetGroups");
        match o {
            Ok(o) => o
                .target_groups
                .unwrap_or_default()
                .into_iter()
                .next()
                .ok_or_else(|| Error::usage(format!("no target group named {name}"))),
            Err(e) if e.has_code("TargetGroupNotFound") => {
                Err(Error::usage(format!("no target group named {name}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Each target's health state in a target group.
    pub async fn target_health(&self, tg_arn: &str) -> Result<Vec<TargetState>> {
        let o = self
            .client
            .describe_target_health()
            .target_group_arn(tg_arn)
            .send()
            .await
            .aws("DescribeTargetHealth");
        let o = match o {
            Ok(o) => o,
            Err(e) if e.has_code("TargetGroupNotFound") => {
                return Err(Error::usage(format!(
                    "unknown target group {}",
                    common::quote(tg_arn)
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(o.target_health_descriptions
            .unwrap_or_default()
            .into_iter()
            .map(|d| TargetState {
                id: d
                    .target()
                    .map(|t| t.id().unwrap_or_default().to_owned())
                    .unwrap_or_default(),
                port: d.target().and_then(|t| t.port()),
                state: d
                    .target_health()
                    .and_then(|h| h.state())
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|| "unknown".into()),
                reason: d
                    .target_health()
                    .and_then(|h| h.reason())
                    .map(|r| r.as_str().to_owned()),
            })
            .collect())
    }
}

/// One target's health, as DescribeTargetHealth gives it.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct TargetState {
    pub id: String,
    pub port: Option<i32>,
    /// initial, healthy, unhealthy, unused, draining, unavailable.
    pub state: String,
    pub reason: Option<String>,
}

/// Healthy share of a target group in percent: healthy targets over all
/// registered ones (draining, initial and unused count as not healthy); 0 with
/// no target at all (fails closed).
pub fn healthy_percent(targets: &[TargetState]) -> f64 {
    if targets.is_empty() {
        return 0.0;
    }
    let healthy = targets.iter().filter(|t| t.state == "healthy").count();
    (healthy as f64 * 10000.0 / targets.len() as f64).round() / 100.0
}

/// Weight per target group name of a canonical forward action.
pub fn forward_weights(action: &Value) -> BTreeMap<String, (String, u32)> {
    action
        .get("target_groups")
        .and_then(Value::as_array)
        .map(|tgs| {
            tgs.iter()
                .filter_map(|g| {
                    let arn = g.get("arn")?.as_str()?.to_owned();
                    let w = g.get("weight")?.as_u64()? as u32;
                    Some((tg_name(&arn), (arn, w)))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The ELBv2 client of this command (after all input was validated).
pub async fn open(ctx: &common::Context) -> Result<Elb> {
    let aws = ctx.aws().await?;
    Ok(Elb::new(&aws.config, CallCounter::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
    const R: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
    const TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067";

    #[test]
    fn arns_are_checked_by_kind() {
        assert!(parse_arn("--listener", L, "listener").is_ok());
        assert!(parse_arn("--rule", R, "listener-rule").is_ok());
        assert!(parse_arn("--target-group", TG, "targetgroup").is_ok());
        assert!(parse_arn("--listener", TG, "listener").is_err());
        assert!(parse_arn("--listener", "garbage", "listener").is_err());
        assert!(parse_arn("--listener", &L.replace("123456789012", "1234"), "listener").is_err());
        assert!(
            parse_arn(
                "--listener",
                &L.replace("elasticloadbalancing", "ec2"),
                "listener"
            )
            .is_err()
        );
        assert!(parse_arn("--listener", &format!("{L}\n"), "listener").is_ok());
        assert!(parse_arn("--listener", &format!("{L} x"), "listener").is_err());
        let e = parse_arn(
            "--target-group",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue",
            "targetgroup",
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn parents_and_names_come_from_the_arns() {
        assert_eq!(
            load_balancer_of(L).unwrap(),
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
        );
        assert_eq!(load_balancer_of(R), load_balancer_of(L));
        assert_eq!(listener_of_rule(R).unwrap(), L);
        assert_eq!(tg_name(TG), "blue");
        assert!(validate_name("--load-balancer", "web-1").is_ok());
        assert!(validate_name("--load-balancer", "-web").is_err());
        assert!(validate_name("--load-balancer", &"a".repeat(33)).is_err());
        assert!(validate_name("--load-balancer", "a b").is_err());
    }

    fn snap(default: Vec<Value>, rules: Vec<(&str, u32, &str)>) -> Snapshot {
        Snapshot {
            listener_arn: L.into(),
            default_rule_arn: None,
            default_actions: default,
            rules: rules
                .into_iter()
                .map(|(arn, p, body)| RuleSnap {
                    arn: arn.into(),
                    priority: p,
                    conditions: vec![json!({"field": "path-pattern", "values": ["/*"]})],
                    actions: vec![json!({"type": "fixed-response", "status_code": "503", "content_type": "text/plain", "message_body": body})],
                })
                .collect(),
        }
    }

    #[test]
    fn reconcile_deletes_the_added_rule_and_recreates_what_is_gone() {
        let fwd = vec![json!({"type": "forward", "target_groups": [{"arn": TG, "weight": 1}]})];
        let before = snap(fwd.clone(), vec![("r-a", 10, "a")]);
        let on = snap(
            fwd.clone(),
            vec![("r-m", 1, "maintenance"), ("r-a", 10, "a")],
        );
        assert_eq!(
            reconcile(&before, &on),
            vec![Op::DeleteRule { arn: "r-m".into() }]
        );
        assert!(diff(&on, &on).is_empty());
        // Someone changed rule a and added one since `on`.
        let theirs = snap(
            fwd,
            vec![
                ("r-m", 1, "maintenance"),
                ("r-a", 10, "changed"),
                ("r-b", 20, "b"),
            ],
        );
        let d = diff(&on, &theirs);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("r-a: actions"), "{d:?}");
        assert!(d[1].contains("r-b (priority 20"), "{d:?}");
        let ops = reconcile(&before, &theirs);
        assert_eq!(ops.len(), 3, "{ops:?}");
        assert!(matches!(ops[0], Op::DeleteRule { ref arn } if arn == "r-m"));
        assert!(matches!(ops[1], Op::DeleteRule { ref arn } if arn == "r-b"));
        assert!(matches!(ops[2], Op::ModifyRule { ref arn, .. } if arn == "r-a"));
        // A rule deleted since is created again, last.
        let gone = snap(vec![], vec![]);
        let ops = reconcile(&before, &gone);
        assert!(matches!(ops[0], Op::ModifyDefault { .. }));
        assert!(matches!(ops[1], Op::CreateRule { priority: 10, .. }));
    }

    #[test]
    fn canonical_actions_round_trip() {
        let a = json!({"type": "forward", "target_groups": [{"arn": TG, "weight": 90}, {"arn": TG.replace("blue", "green"), "weight": 10}]});
        let sdk = action_from_json(&a).unwrap();
        let mut back = action_json(&sdk);
        assert_eq!(back["type"], "forward");
        // Sorted by ARN: blue before green.
        back["target_groups"][0]["weight"] = json!(90);
        assert_eq!(back, a);
        let f = json!({"type": "fixed-response", "status_code": "503", "content_type": "text/html", "message_body": "<h1>down</h1>"});
        assert_eq!(action_json(&action_from_json(&f).unwrap()), f);
        let c = json!({"field": "path-pattern", "values": ["/*"]});
        assert_eq!(condition_json(&condition_from_json(&c).unwrap()), c);
        let q = json!({"field": "query-string", "values": [{"key": "a", "value": "b"}]});
        assert_eq!(condition_json(&condition_from_json(&q).unwrap()), q);
        assert!(
            action_from_json(&json!({"type": "authenticate-oidc", "unsupported": true})).is_none()
        );
        assert_eq!(describe_actions(&[a]), "forward blue=90 green=10");
    }

    #[test]
    fn healthy_share_fails_closed_without_targets() {
        let t = |s: &str| TargetState {
            id: "i".into(),
            port: None,
            state: s.into(),
            reason: None,
        };
        assert_eq!(healthy_percent(&[]), 0.0);
        assert_eq!(
            healthy_percent(&[t("healthy"), t("unhealthy"), t("draining")]),
            33.33
        );
        assert_eq!(healthy_percent(&[t("healthy")]), 100.0);
    }
}
