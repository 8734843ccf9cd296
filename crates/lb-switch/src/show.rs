//! `lb-switch show`: a load balancer's (or one listener's) rules, their
//! actions with target-group weights and shares, and each target group's
//! target health. Reads only.

use std::collections::BTreeSet;
use std::io::Write;

use aws_sdk_elasticloadbalancingv2::types::Listener;
use common::{AwsResultExt, Context, Error, Render, Result};
use serde::Serialize;
use serde_json::Value;

use crate::elb::{self, Elb, Snapshot, TargetState, parse_arn, validate_name};

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// One listener, by ARN.
    #[arg(
        long,
        value_name = "ARN",
        allow_hyphen_values = true,
        conflicts_with = "load_balancer"
    )]
    pub listener: Option<String>,

    /// Every listener of a load balancer, by name.
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    pub load_balancer: Option<String>,
}

/// A load balancer as shown.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct LoadBalancer {
    pub name: String,
    pub arn: String,
    pub vpc_id: Option<String>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ListenerView {
    pub arn: String,
    pub port: Option<i32>,
    pub protocol: Option<String>,
    #[serde(flatten)]
    pub rules: Snapshot,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct TargetGroupView {
    pub name: String,
    pub arn: String,
    /// Healthy targets over registered ones, in percent (0 with none).
    pub healthy_percent: f64,
    pub targets: Vec<TargetState>,
}

#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ShowResult {
    pub load_balancer: Option<LoadBalancer>,
    pub listeners: Vec<ListenerView>,
    pub target_groups: Vec<TargetGroupView>,
    pub elbv2_calls: u64,
}

impl Render for ShowResult {
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        if let Some(lb) = &self.load_balancer {
            writeln!(w, "load balancer {} ({})", lb.name, lb.arn)?;
        }
        let mut rows = Vec::new();
        for l in &self.listeners {
            let port = l.port.map(|p| p.to_string()).unwrap_or_default();
            for r in &l.rules.rules {
                rows.push(vec![
                    port.clone(),
                    r.priority.to_string(),
                    conditions_text(&r.conditions),
                    elb::describe_actions(&r.actions),
                ]);
            }
            rows.push(vec![
                port,
                "default".into(),
                "-".into(),
                elb::describe_actions(&l.rules.default_actions),
            ]);
        }
        write!(
            w,
            "{}",
            common::output::table(&["PORT", "PRIORITY", "CONDITIONS", "ACTIONS"], &rows)
        )?;
        let rows: Vec<Vec<String>> = self
            .target_groups
            .iter()
            .map(|t| {
                let states: Vec<String> = t
                    .targets
                    .iter()
                    .map(|x| format!("{}={}", x.id, x.state))
                    .collect();
                vec![
                    t.name.clone(),
                    format!("{:.2} %", t.healthy_percent),
                    states.join(" "),
                ]
            })
            .collect();
        write!(
            w,
            "{}",
            common::output::table(&["TARGET GROUP", "HEALTHY", "TARGETS"], &rows)
        )
    }
}

fn conditions_text(conditions: &[Value]) -> String {
    conditions
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.get("field").and_then(Value::as_str).unwrap_or("?"),
                c.get("values").map(Value::to_string).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// A load balancer by name (DescribeLoadBalancers).
pub async fn load_balancer(elb: &Elb, name: &str) -> Result<LoadBalancer> {
    let o = elb
        .client
        .describe_load_balancers()
        .names(name)
        .send()
        .await
        .aws("DescribeLoadBalancers");
    let lb = match o {
        Ok(o) => o.load_balancers.unwrap_or_default().into_iter().next(),
        Err(e) if e.has_code("LoadBalancerNotFound") => None,
        Err(e) => return Err(e.into()),
    }
    .ok_or_else(|| Error::usage(format!("no load balancer named {name}")))?;
    Ok(LoadBalancer {
        name: lb.load_balancer_name.unwrap_or_default(),
        arn: lb.load_balancer_arn.unwrap_or_default(),
        vpc_id: lb.vpc_id,
    })
}

/// Every listener of a load balancer (DescribeListeners, all pages).
pub async fn listeners_of(elb: &Elb, lb_arn: &str) -> Result<Vec<Listener>> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let o = elb
            .client
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .set_marker(marker.take())
            .send()
            .await
            .aws("DescribeListeners")?;
        out.extend(o.listeners.unwrap_or_default());
        match o.next_marker.filter(|m| !m.is_empty()) {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    Ok(out)
}

async fn listener(elb: &Elb, arn: &str) -> Result<Listener> {
    let o = elb
        .client
        .describe_listeners()
        .listener_arns(arn)
        .send()
        .await
        .aws("DescribeListeners");
    match o {
        Ok(o) => o.listeners.unwrap_or_default().into_iter().next(),
        Err(e) if e.has_code("ListenerNotFound") => None,
        Err(e) => return Err(e.into()),
    }
    .ok_or_else(|| Error::usage(format!("no listener {}", common::quote(arn))))
}

/// The target groups the snapshots forward to, sorted by ARN.
pub fn forwarded_tgs<'a>(snaps: impl IntoIterator<Item = &'a Snapshot>) -> Vec<String> {
    let mut set = BTreeSet::new();
    for s in snaps {
        let actions = s
            .default_actions
            .iter()
            .chain(s.rules.iter().flat_map(|r| r.actions.iter()));
        for a in actions {
            for (_, (arn, _)) in elb::forward_weights(a) {
                set.insert(arn);
            }
        }
    }
    set.into_iter().collect()
}

pub async fn run(ctx: &Context, args: &ShowArgs) -> Result<()> {
    enum What {
        Listener(String),
        Lb(String),
    }
    let what = match (&args.listener, &args.load_balancer) {
        (Some(l), None) => {
            parse_arn("--listener", l, "listener")?;
            What::Listener(l.trim().to_owned())
        }
        (None, Some(n)) => What::Lb(validate_name("--load-balancer", n)?),
        _ => {
            return Err(Error::usage("give --listener ARN or --load-balancer NAME"));
        }
    };
    let elb = crate::open(ctx).await?;
    let result = ctx
        .cancel()
        .run(async {
            let (lb, listeners) = match &what {
                What::Listener(arn) => (None, vec![listener(&elb, arn).await?]),
                What::Lb(name) => {
                    let lb = load_balancer(&elb, name).await?;
                    let ls = listeners_of(&elb, &lb.arn).await?;
                    (Some(lb), ls)
                }
            };
            let mut views = Vec::new();
            for l in listeners {
                let arn = l.listener_arn.clone().unwrap_or_default();
                let rules = elb.read_listener(&arn).await?;
                views.push(ListenerView {
                    arn,
                    port: l.port,
                    protocol: l.protocol.map(|p| p.as_str().to_owned()),
                    rules,
                });
            }
            let mut tgs = Vec::new();
            for arn in forwarded_tgs(views.iter().map(|v| &v.rules)) {
                let targets = elb.target_health(&arn).await?;
                tgs.push(TargetGroupView {
                    name: elb::tg_name(&arn),
                    healthy_percent: elb::healthy_percent(&targets),
                    arn,
                    targets,
                });
            }
            Ok(ShowResult {
                load_balancer: lb,
                listeners: views,
                target_groups: tgs,
                elbv2_calls: 0,
            })
        })
        .await?;
    let result = ShowResult {
        elbv2_calls: elb.total(),
        ..result
    };
    ctx.out.result(&result)
}
