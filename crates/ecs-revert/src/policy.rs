//! `ecs-revert policy <subcommand> [flags]`: the IAM policy that exact command
//! line needs, from the calls each subcommand makes (ecs.rs, revert.rs,
//! scale.rs, scaling.rs), its waits and read-backs included.

use common::policy::{Policy, PolicyArgs, Scope, StateUse, Target};
use common::{Context, GlobalArgs, Result};

use crate::scaling::ScalingCommand;
use crate::taskdef::short_name;
use crate::{Cli, Command};

const AUTOSCALING_READ: [&str; 1] = ["application-autoscaling:DescribeScalableTargets"];
const AUTOSCALING_DETAILS: [&str; 2] = [
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:DescribeScheduledActions",
];
const AUTOSCALING_WRITE: [&str; 1] = ["application-autoscaling:RegisterScalableTarget"];

/// Prints the policy for the command line after `policy`.
pub fn run(ctx: &Context, outer: &GlobalArgs, args: &PolicyArgs) -> Result<()> {
    let t: Target<Cli> = common::policy::parse_target("ecs-revert", outer, args)?;
    let p = statements(&t)?;
    common::policy::print(ctx, &p)
}

fn service_arns(scope: &Scope, cluster: &str, services: &[String]) -> Vec<String> {
    let cluster = short_name(cluster);
    services
        .iter()
        .map(|s| scope.arn_or(s, "ecs", &format!("service/{cluster}/{}", short_name(s))))
        .collect()
}

/// The grants of a parsed command line.
pub fn statements(t: &Target<Cli>) -> Result<Policy> {
    let dry = t.globals.dry_run;
    let scope = &t.scope;
    let mut p = Policy::new();
    // Every command reads the services (DescribeServices) first.
    let describe = |p: &mut Policy, cluster: &str, services: &[String]| {
        p.allow(
            ["ecs:DescribeServices"],
            service_arns(scope, cluster, services),
        );
    };
    let mut state = StateUse::none();
    match &t.cli.command {
        Command::Status(s) => {
            let names = s.validated()?;
            // DescribeServices alone: the deployments it returns name
            // their task definitions (status.rs reads nothing else).
            describe(&mut p, &s.cluster, &names);
        }
        Command::History(h) => {
            describe(&mut p, &h.cluster, std::slice::from_ref(&h.service));
            // The service names its task definition by ARN, so the revision
            // in use needs no DescribeTaskDefinition; the family's revisions
            // come from the listing.
            p.allow(["ecs:ListTaskDefinitions"], ["*"]);
            state = StateUse::read_journal();
        }
        Command::Revert(cmd) => {
            let r = &cmd.revert;
            let names = r.target.validated()?;
            describe(&mut p, &r.target.cluster, &names);
            // The target's task definition is read in any case; without --to
            // it is chosen from the journal's earlier moves and the family's
            // revisions.
            p.allow(["ecs:DescribeTaskDefinition"], ["*"]);
            if r.to.is_none() {
                p.allow(["ecs:ListTaskDefinitions"], ["*"]);
                state.read_journal = true;
            }
            // Suspending auto scaling during the revert is best effort: when
            // these are denied the revert warns and goes on without it.
            if !cmd.no_suspend_scaling {
                p.allow(AUTOSCALING_READ, ["*"]);
            }
            if !dry {
                p.allow(
                    ["ecs:UpdateService"],
                    service_arns(scope, &r.target.cluster, &names),
                );
                if !cmd.no_suspend_scaling {
                    p.allow(AUTOSCALING_WRITE, ["*"]);
                }
                state.change = true;
            }
        }
        Command::Wait(w) => {
            let names = w.target.validated()?;
            describe(&mut p, &w.target.cluster, &names);
        }
        Command::Scale(cmd) => {
            let names = cmd.scale.target.validated()?;
            describe(&mut p, &cmd.scale.target.cluster, &names);
            p.allow(AUTOSCALING_READ, ["*"]);
            if !dry {
                p.allow(
                    ["ecs:UpdateService"],
                    service_arns(scope, &cmd.scale.target.cluster, &names),
                );
                if cmd.adjust_limits {
                    p.allow(AUTOSCALING_WRITE, ["*"]);
                }
                state.change = true;
            }
        }
        Command::Scaling(a) => match &a.command {
            ScalingCommand::Show(s) => {
                s.validated()?;
                p.allow(AUTOSCALING_READ, ["*"]);
                p.allow(AUTOSCALING_DETAILS, ["*"]);
            }
            ScalingCommand::Record(r) => {
                r.target.validated()?;
                p.allow(AUTOSCALING_READ, ["*"]);
                p.allow(AUTOSCALING_DETAILS, ["*"]);
                state.read_runs = true;
                if !dry {
                    state.write_runs = true;
                }
            }
            ScalingCommand::Restore(_) => {
                p.allow(AUTOSCALING_READ, ["*"]);
                p.allow(AUTOSCALING_DETAILS, ["*"]);
                state.read_runs = true;
                if !dry {
                    p.allow(AUTOSCALING_WRITE, ["*"]);
                    state.change = true;
                }
            }
            ScalingCommand::Suspend(s) | ScalingCommand::Resume(s) => {
                s.validated()?;
                p.allow(AUTOSCALING_READ, ["*"]);
                if !dry {
                    p.allow(AUTOSCALING_WRITE, ["*"]);
                    state.change = true;
                }
            }
        },
        Command::Policy(_) => {}
    }
    p.merge(&common::policy::state(&t.globals, None, state));
    Ok(p)
}
