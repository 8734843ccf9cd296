//! `lb-switch policy <subcommand> [flags]`: the IAM policy that exact command
//! line needs (elb.rs reads and rule operations, show.rs listener lookups,
//! health checks, the shift's alarm gate, the journal reads of undo and
//! maintenance off).
//!
//! ELBv2's Describe* actions take no resource (`*`). Writes are scoped to the
//! listener (`ModifyListener`, `CreateRule`) and its rules (`listener-rule/...`:
//! `ModifyRule`, `DeleteRule`, `SetRulePriorities`); a listener named by load
//! balancer and port is scoped to that load balancer's listeners.

use common::policy::{Policy, PolicyArgs, Scope, StateUse, Target};
use common::{Context, GlobalArgs, Result};

use crate::maintenance::Mode;
use crate::{Cli, Command, ListenerArgs, ListenerSpec};

const SERVICE: &str = "elasticloadbalancing";

/// Prints the policy for the command line after `policy`.
pub fn run(ctx: &Context, outer: &GlobalArgs, args: &PolicyArgs) -> Result<()> {
    let t: Target<Cli> = common::policy::parse_target("lb-switch", outer, args)?;
    common::policy::print(ctx, &statements(&t)?)
}

/// The listener's ARN pattern and its rules' pattern.
struct Scoped {
    listener: String,
    rules: String,
}

/// The listener's ARNs, and the reads that find it when it is named by load
/// balancer and port.
fn listener(p: &mut Policy, scope: &Scope, l: &ListenerArgs) -> Result<Scoped> {
    Ok(match l.validate()? {
        ListenerSpec::Arn(arn) => Scoped {
            rules: format!("{}/*", arn.replacen(":listener/", ":listener-rule/", 1)),
            listener: arn,
        },
        ListenerSpec::ByPort { load_balancer, .. } => {
            p.allow(
                [
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeListeners",
                ],
                ["*"],
            );
            Scoped {
                listener: scope.arn(SERVICE, &format!("listener/app/{load_balancer}/*")),
                rules: scope.arn(SERVICE, &format!("listener-rule/app/{load_balancer}/*")),
            }
        }
    })
}

/// The listener's rules (`read_listener`, also the read-back after a change).
fn read_rules(p: &mut Policy) {
    p.allow(["elasticloadbalancing:DescribeRules"], ["*"]);
}

/// Target groups by ARN or name (a shift to, or a maintenance page on, a group
/// not in the action yet).
fn read_target_groups(p: &mut Policy) {
    p.allow(["elasticloadbalancing:DescribeTargetGroups"], ["*"]);
}

fn read_health(p: &mut Policy) {
    p.allow(["elasticloadbalancing:DescribeTargetHealth"], ["*"]);
}

/// A restore from a journal record (undo, maintenance off) may delete, create,
/// reorder and modify rules and set the default action, whatever changed.
fn restore(p: &mut Policy, l: &Scoped) {
    p.allow(
        [
            "elasticloadbalancing:CreateRule",
            "elasticloadbalancing:ModifyListener",
        ],
        [l.listener.clone()],
    );
    p.allow(
        [
            "elasticloadbalancing:CreateRule",
            "elasticloadbalancing:DeleteRule",
            "elasticloadbalancing:ModifyRule",
            "elasticloadbalancing:SetRulePriorities",
        ],
        [l.rules.clone()],
    );
}

/// The grants of a parsed command line.
pub fn statements(t: &Target<Cli>) -> Result<Policy> {
    let dry = t.globals.dry_run;
    let scope = &t.scope;
    let mut p = Policy::new();
    let mut state = StateUse::none();
    match &t.cli.command {
        Command::Show(a) => {
            if a.load_balancer.is_some() {
                p.allow(["elasticloadbalancing:DescribeLoadBalancers"], ["*"]);
            }
            p.allow(["elasticloadbalancing:DescribeListeners"], ["*"]);
            read_rules(&mut p);
            read_health(&mut p);
        }
        Command::Health(_) => read_health(&mut p),
        Command::Maintenance(a) => {
            let l = listener(&mut p, scope, &a.listener)?;
            read_rules(&mut p);
            match a.mode {
                Mode::On => {
                    if a.target_group.is_some() {
                        read_target_groups(&mut p);
                    }
                    if !dry {
                        p.allow(
                            ["elasticloadbalancing:CreateRule"],
                            [l.listener.clone(), l.rules.clone()],
                        );
                        state.change = true;
                    }
                }
                Mode::Off => {
                    // The rules from before `on` come from the journal.
                    state.read_journal = true;
                    if !dry {
                        restore(&mut p, &l);
                        state.change = true;
                    }
                }
            }
        }
        Command::Shift(a) => {
            let l = listener(&mut p, scope, &a.listener)?;
            read_rules(&mut p);
            // --to a group not in the forward action yet is looked up.
            read_target_groups(&mut p);
            if a.min_healthy.is_some() && !a.fast_track {
                read_health(&mut p);
            }
            if !a.alarms.is_empty() && !a.fast_track {
                p.allow(["cloudwatch:DescribeAlarms"], ["*"]);
            }
            if !dry {
                // Steps and the revert: the listener's default action, or
                // the one rule given with --rule.
                match &a.rule {
                    Some(rule) => p.allow(["elasticloadbalancing:ModifyRule"], [rule.clone()]),
                    None => p.allow(["elasticloadbalancing:ModifyListener"], [l.listener]),
                };
                state.change = true;
            }
        }
        Command::Undo(a) => {
            let l = listener(&mut p, scope, &a.listener)?;
            read_rules(&mut p);
            state.read_journal = true;
            if !dry {
                restore(&mut p, &l);
                state.change = true;
            }
        }
        Command::Policy(_) => {}
    }
    p.merge(&common::policy::state(&t.globals, None, state));
    Ok(p)
}
