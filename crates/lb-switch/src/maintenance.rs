//! `lb-switch maintenance on|off`: a rule in front of every other rule of the
//! listener (path `/*`) that answers with a fixed maintenance response (body
//! from a file, at most 1024 bytes) or forwards to a maintenance target group;
//! and off again, restoring exactly the rules recorded before `on`.
//!
//! `on` is one read (DescribeRules) and one mutating call (CreateRule). The
//! rule takes the priority just above the current first rule, so it is
//! evaluated first; when priority 1 is taken there is no such place and `on`
//! refuses (exit 4) rather than renumber someone's rules.

use aws_sdk_elasticloadbalancingv2::types::Rule;
use common::{Context, Error, Result};
use serde_json::{Value, json};

use crate::ListenerArgs;
use crate::elb::{self, Elb, Op, RuleSnap, Snapshot, TgRef};
use crate::undo::{ChangeResult, last_record, mutating, restore};

/// Fixed-response bodies are limited to 1024 bytes by ELB.
pub const MAX_BODY: usize = 1024;

/// Content types ELB accepts for a fixed response.
pub const CONTENT_TYPES: [&str; 5] = [
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

pub const ACTION_ON: &str = "lb.maintenance-on";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    On,
    Off,
}

#[derive(Debug, clap::Args)]
pub struct MaintenanceArgs {
    /// on: put the maintenance rule first; off: restore the rules from before `on`.
    #[arg(value_enum)]
    pub mode: Mode,

    #[command(flatten)]
    pub listener: ListenerArgs,

    /// File with the maintenance page (at most 1024 bytes), answered to every request.
    #[arg(long, value_name = "FILE", conflicts_with = "target_group")]
    pub body: Option<std::path::PathBuf>,

    /// Content type of --body: text/plain, text/css, text/html, application/javascript or application/json.
    #[arg(long, value_name = "TYPE", default_value = "text/html")]
    pub content_type: String,

    /// HTTP status of the fixed response (2XX, 4XX or 5XX).
    #[arg(long, value_name = "CODE", default_value = "503")]
    pub status: String,

    /// Forward every request to this target group (name or ARN) instead of a fixed response.
    #[arg(long, value_name = "NAME|ARN", allow_hyphen_values = true)]
    pub target_group: Option<String>,

    /// off: restore even when the rules were changed by someone else since `on`.
    #[arg(long)]
    pub force: bool,
}

/// What `on` puts in front.
#[derive(Debug, Clone)]
enum Page {
    Fixed {
        status: String,
        content_type: String,
        body: String,
    },
    Forward(TgRef),
}

fn validate_on(args: &MaintenanceArgs) -> Result<Page> {
    if let Some(tg) = &args.target_group {
        return Ok(Page::Forward(TgRef::parse("--target-group", tg)?));
    }
    let Some(path) = &args.body else {
        return Err(Error::usage(
            "maintenance on needs --body FILE (a fixed response) or --target-group TG",
        ));
    };
    let bytes =
        std::fs::read(path).map_err(|e| Error::usage(format!("--body {}: {e}", path.display())))?;
    if bytes.len() > MAX_BODY {
        return Err(Error::usage(format!(
            "--body {} is {} bytes; a fixed response holds at most {MAX_BODY} bytes (serve a larger page from a maintenance target group with --target-group)",
            path.display(),
            bytes.len()
        )));
    }
    let body = String::from_utf8(bytes)
        .map_err(|_| Error::usage(format!("--body {} is not UTF-8 text", path.display())))?;
    let content_type = args.content_type.trim().to_owned();
    if !CONTENT_TYPES.contains(&content_type.as_str()) {
        return Err(Error::usage(format!(
            "--content-type {} is not one ELB serves: {}",
            common::quote(&args.content_type),
            CONTENT_TYPES.join(", ")
        )));
    }
    let status = args.status.trim().to_owned();
    let ok = status.len() == 3
        && status.chars().all(|c| c.is_ascii_digit())
        && matches!(status.as_bytes()[0], b'2' | b'4' | b'5');
    if !ok {
        return Err(Error::usage(format!(
            "--status must be a 2XX, 4XX or 5XX code, got {}",
            common::quote(&args.status)
        )));
    }
    Ok(Page::Fixed {
        status,
        content_type,
        body,
    })
}

pub async fn run(ctx: &Context, args: &MaintenanceArgs) -> Result<()> {
    let spec = args.listener.validate()?;
    match args.mode {
        Mode::On => {
            let page = validate_on(args)?;
            let elb = crate::open(ctx).await?;
            let listener = ctx.cancel().run(spec.resolve(&elb)).await?;
            on(ctx, &elb, &listener, &page).await
        }
        Mode::Off => {
            let elb = crate::open(ctx).await?;
            let listener = ctx.cancel().run(spec.resolve(&elb)).await?;
            let record = last_record(ctx, &listener, |a| a == ACTION_ON)
                .await?
                .ok_or_else(|| {
                    Error::usage(format!(
                        "no `maintenance on` for {listener} is recorded in the journal; see `lb-switch show --listener {listener}`"
                    ))
                })?;
            restore(ctx, &elb, &listener, &record, "maintenance-off", args.force).await
        }
    }
}

/// The maintenance rule's action, its target group checked first (exit 2 when
/// it is unknown or serves another load balancer: after the read, before any
/// change).
async fn page_action(elb: &Elb, listener: &str, page: &Page) -> Result<Value> {
    match page {
        Page::Fixed {
            status,
            content_type,
            body,
        } => Ok(json!({
            "type": "fixed-response",
            "status_code": status,
            "content_type": content_type,
            "message_body": body,
        })),
        Page::Forward(tg) => {
            let group = match tg {
                TgRef::Arn(a) => elb
                    .target_groups(std::slice::from_ref(a))
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::usage(format!("unknown target group {a}")))?,
                TgRef::Name(n) => elb.target_group_by_name(n).await?,
            };
            let arn = group.target_group_arn().unwrap_or_default().to_owned();
            check_same_load_balancer(listener, &arn, group.load_balancer_arns())?;
            Ok(json!({"type": "forward", "target_groups": [{"arn": arn, "weight": 1}]}))
        }
    }
}

/// Exit 2 when a target group serves another load balancer than the listener's.
pub fn check_same_load_balancer(listener: &str, tg_arn: &str, lbs: &[String]) -> Result<()> {
    let ours = elb::load_balancer_of(listener).unwrap_or_default();
    if lbs.is_empty() || lbs.contains(&ours) {
        return Ok(());
    }
    Err(Error::usage(format!(
        "target group {} belongs to another load balancer ({}), not {}",
        elb::tg_name(tg_arn),
        lbs.join(", "),
        ours
    )))
}

async fn on(ctx: &Context, elb: &Elb, listener: &str, page: &Page) -> Result<()> {
    let live = ctx.cancel().run(elb.read_listener(listener)).await?;
    let action = ctx.cancel().run(page_action(elb, listener, page)).await?;
    let conditions = vec![json!({"field": "path-pattern", "values": ["/*"]})];
    let mut result = ChangeResult::unchanged(ctx, "maintenance-on", listener, live.json());
    // Already on: the first rule is this very maintenance rule.
    if let Some(first) = live.rules.first()
        && first.conditions == conditions
        && first.actions == vec![action.clone()]
    {
        result.rule_arn = Some(first.arn.clone());
        result.priority = Some(first.priority);
        result.note = Some("the maintenance rule is already first".into());
        result.elbv2_calls = elb.total();
        return ctx.out.result(&result);
    }
    let priority = match live.top_priority() {
        None => 1,
        Some(1) => {
            let first = &live.rules[0];
            return Err(Error::CheckFailed(format!(
                "priority 1 is held by rule {} ({}): no place in front of it for the maintenance rule; move that rule or use `lb-switch shift` to a maintenance target group",
                elb::short_rule(&first.arn),
                elb::describe_actions(&first.actions)
            )));
        }
        Some(p) => p - 1,
    };
    let op = Op::CreateRule {
        priority,
        conditions: conditions.clone(),
        actions: vec![action.clone()],
    };
    result.calls_planned = vec![op.json()];
    result.priority = Some(priority);
    result.changed = true;
    if ctx.dry_run() {
        result.elbv2_calls = elb.total();
        return ctx.out.result(&result);
    }
    ctx.begin_change(&format!(
        "put listener {listener} into maintenance ({})",
        elb::describe_actions(std::slice::from_ref(&action))
    ))
    .await?;
    let journal = ctx.journal().await?;
    let mut before = live.json();
    before["calls"] = json!(result.calls_planned);
    let change = journal.intent(ACTION_ON, listener, before)?;
    let created = create_rule(elb, listener, &op).await;
    let rule = match created {
        Ok(rule) => rule,
        Err(e) => {
            // Did it go through (an answer lost), or did someone take the place?
            let now = elb.read_listener(listener).await.ok();
            let ours = now.as_ref().and_then(|s| {
                s.rules
                    .iter()
                    .find(|r| {
                        r.priority == priority
                            && r.conditions == conditions
                            && r.actions == vec![action.clone()]
                    })
                    .cloned()
            });
            match ours {
                Some(r) => r,
                None => {
                    let after = now.as_ref().map(Snapshot::json).unwrap_or(Value::Null);
                    change.failed(after.clone(), e.to_string())?;
                    result.changed = false;
                    result.after = after;
                    result.elbv2_calls = elb.total();
                    result.mutating_calls = mutating(elb);
                    ctx.out.result(&result)?;
                    return Err(match e {
                        Error::Aws(a) if a.has_code("PriorityInUse") => {
                            Error::CheckFailed(format!(
                                "priority {priority} was taken by someone else since the rules were read; nothing was changed; see `lb-switch show --listener {listener}`"
                            ))
                        }
                        other => other,
                    });
                }
            }
        }
    };
    let mut after = live.clone();
    after.rules.insert(0, rule.clone());
    change.ok(after.json())?;
    result.rule_arn = Some(rule.arn);
    result.after = after.json();
    result.elbv2_calls = elb.total();
    result.mutating_calls = mutating(elb);
    ctx.out.result(&result)
}

/// CreateRule, and the rule as ELB answered it.
async fn create_rule(elb: &Elb, listener: &str, op: &Op) -> Result<RuleSnap> {
    use common::AwsResultExt;
    let Op::CreateRule {
        priority,
        conditions,
        actions,
    } = op
    else {
        return Err(Error::Internal("create_rule without CreateRule".into()));
    };
    let sdk_actions: Vec<_> = actions.iter().filter_map(elb::action_from_json).collect();
    let sdk_conditions: Vec<_> = conditions
        .iter()
        .filter_map(elb::condition_from_json)
        .collect();
    let o = elb
        .client
        .create_rule()
        .listener_arn(listener)
        .priority(*priority as i32)
        .set_conditions(Some(sdk_conditions))
        .set_actions(Some(sdk_actions))
        .send()
        .await
        .aws("CreateRule")?;
    let rules: Vec<Rule> = o.rules.unwrap_or_default();
    let snap = Snapshot::from_rules(listener, &rules)?;
    snap.rules
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("CreateRule returned no rule".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";

    #[test]
    fn a_target_group_of_another_load_balancer_is_refused() {
        let tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1";
        let ours = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188".to_owned();
        let other = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/other/1"
            .to_owned();
        assert!(check_same_load_balancer(L, tg, &[]).is_ok());
        assert!(check_same_load_balancer(L, tg, std::slice::from_ref(&ours)).is_ok());
        let e = check_same_load_balancer(L, tg, &[other]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("another load balancer"), "{e}");
    }
}
