//! `stack-deploy policy <subcommand> [flags]`: the IAM policy that exact
//! command line needs (plan.rs, preview.rs, deploy.rs/stack.rs, assets.rs,
//! revert.rs, recover.rs, status.rs, watch.rs, cancel.rs, rollback.rs,
//! events.rs, alarms.rs).
//!
//! When the manifest's CDK roles are assumed (no `--no-assume-role`), the
//! caller needs only `sts:AssumeRole` on them plus the reads it makes itself;
//! the CloudFormation and asset grants below are then what those roles need
//! (the CDK bootstrap gives them). They are listed either way so one document
//! covers both.

use common::policy::{Policy, PolicyArgs, Scope, StateUse, Target};
use common::{Context, GlobalArgs, Result};

use crate::cancel::CancelArgs;
use crate::deploy::DeployArgs;
use crate::plan::PlanArgs;
use crate::revert::RevertArgs;
use crate::rollback::RollbackArgs;
use crate::stack::Method;
use crate::status::StatusArgs;
use crate::watch::WatchArgs;
use crate::{Cli, Command, Selection};

const READ: [&str; 3] = [
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:GetTemplate",
];
/// `plan`: the status and the deployed template (no events: nothing waits).
const PLAN_READ: [&str; 2] = [
    "cloudformation:DescribeStacks",
    "cloudformation:GetTemplate",
];
/// `watch`: the status and the events it follows (no template).
const WATCH_READ: [&str; 2] = [
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
];
const CHANGE_SET: [&str; 4] = [
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet",
];

/// Prints the policy for the command line after `policy`.
pub fn run(ctx: &Context, outer: &GlobalArgs, args: &PolicyArgs) -> Result<()> {
    let t: Target<Cli> = common::policy::parse_target("stack-deploy", outer, args)?;
    common::policy::print(ctx, &statements(&t))
}

/// Stack ARNs for names or globs (`*` for `--all`).
fn stack_arns(scope: &Scope, names: &[String], all: bool) -> Vec<String> {
    if all || names.is_empty() {
        return vec![scope.arn("cloudformation", "stack/*/*")];
    }
    names
        .iter()
        .map(|n| {
            let n = n.replace(['?', '['], "*");
            scope.arn("cloudformation", &format!("stack/{n}/*"))
        })
        .collect()
}

fn selection_arns(scope: &Scope, sel: &Selection) -> Vec<String> {
    // --with-deps takes stacks not named: any stack of the assembly.
    stack_arns(scope, &sel.stacks, sel.all || sel.with_deps)
}

fn assume(p: &mut Policy, scope: &Scope, no_assume_role: bool) {
    if !no_assume_role {
        p.allow(["sts:AssumeRole"], [scope.global_arn("iam", "role/cdk-*")]);
    }
}

/// The grants of a parsed command line.
pub fn statements(t: &Target<Cli>) -> Policy {
    let dry = t.globals.dry_run;
    let scope = &t.scope;
    let mut p = Policy::new();
    let mut state = StateUse::none();
    match &t.cli.command {
        Command::Plan(PlanArgs {
            sel,
            offline,
            no_assume_role,
            changes,
            ..
        }) => {
            if !offline {
                let arns = selection_arns(scope, sel);
                p.allow(PLAN_READ, arns.clone());
                if *changes {
                    // A change set is created, read and deleted; nothing executes.
                    p.allow(
                        [
                            "cloudformation:CreateChangeSet",
                            "cloudformation:DescribeChangeSet",
                            "cloudformation:DeleteChangeSet",
                        ],
                        arns,
                    );
                }
                assume(&mut p, scope, *no_assume_role);
            }
        }
        Command::Deploy(DeployArgs {
            sel,
            method,
            no_assume_role,
            rollback_alarms,
            ..
        }) => {
            let arns = selection_arns(scope, sel);
            p.allow(READ, arns.clone());
            // The one listing of the stacks before the first starts
            // (DescribeStacks with no name needs Resource "*"); without this
            // grant each stack describes itself instead.
            p.allow(["cloudformation:DescribeStacks"], ["*"]);
            // The bootstrap version the manifest asks for.
            p.allow(
                ["ssm:GetParameter"],
                [scope.arn("ssm", "parameter/cdk-bootstrap/*")],
            );
            if !rollback_alarms.is_empty() {
                p.allow(["cloudwatch:DescribeAlarms"], ["*"]);
            }
            assume(&mut p, scope, *no_assume_role);
            if !dry {
                match method {
                    Method::Direct => {
                        p.allow(
                            ["cloudformation:CreateStack", "cloudformation:UpdateStack"],
                            arns.clone(),
                        );
                    }
                    Method::ChangeSet => {
                        p.allow(CHANGE_SET, arns.clone());
                    }
                }
                // Assets (file and zipped directory) published to the
                // bootstrap bucket; CloudFormation reads large templates
                // from there with the caller's rights.
                p.allow(
                    ["s3:GetObject", "s3:PutObject"],
                    [scope.bare_arn("s3", "cdk-*-assets-*/*")],
                );
                // The run's record of a stack is read before it is written
                // (record.rs; S3 answers a missing key 403 without
                // s3:ListBucket). The shared journal is read only from a
                // local state folder (deploy.rs `deployed_templates`), which
                // needs no grant.
                state = StateUse {
                    change: true,
                    freeze_check: true,
                    read_runs: true,
                    write_runs: true,
                    ..StateUse::none()
                };
            }
        }
        Command::Revert(RevertArgs {
            stacks,
            method,
            delete_created,
            no_assume_role,
            ..
        }) => {
            let arns = stack_arns(scope, stacks, stacks.is_empty());
            p.allow(READ, arns.clone());
            assume(&mut p, scope, *no_assume_role);
            // The run's records only: the journal is written (each stack's
            // change), never read (revert.rs; deploy_stack reads no journal).
            state = StateUse {
                read_runs: true,
                ..StateUse::none()
            };
            if !dry {
                match method {
                    Method::Direct => p.allow(["cloudformation:UpdateStack"], arns.clone()),
                    Method::ChangeSet => p.allow(CHANGE_SET, arns.clone()),
                };
                if *delete_created {
                    p.allow(["cloudformation:DeleteStack"], arns);
                }
                // Recorded templates too big to pass inline go through the
                // assets bucket.
                p.allow(
                    ["s3:GetObject", "s3:PutObject"],
                    [scope.bare_arn("s3", "cdk-*-assets-*/*")],
                );
                state.change = true;
            }
        }
        Command::Status(StatusArgs { sel }) => {
            // Each stack's DescribeStacks only (status.rs).
            p.allow(
                ["cloudformation:DescribeStacks"],
                selection_arns(scope, sel),
            );
        }
        Command::Watch(WatchArgs { stacks, .. }) => {
            p.allow(WATCH_READ, stack_arns(scope, stacks, false));
        }
        Command::Cancel(CancelArgs { stacks, .. }) => {
            let arns = stack_arns(scope, stacks, false);
            p.allow(READ, arns.clone());
            p.allow(["cloudformation:ListChangeSets"], arns.clone());
            if !dry {
                p.allow(
                    [
                        "cloudformation:CancelUpdateStack",
                        "cloudformation:DeleteChangeSet",
                    ],
                    arns,
                );
                state.change = true;
            }
        }
        Command::Rollback(RollbackArgs { stacks, .. }) => {
            let arns = stack_arns(scope, stacks, false);
            p.allow(READ, arns.clone());
            if !dry {
                p.allow(
                    [
                        "cloudformation:RollbackStack",
                        "cloudformation:ContinueUpdateRollback",
                    ],
                    arns,
                );
                state.change = true;
            }
        }
        Command::Policy(_) => {}
    }
    // The environment comes from the stack names when --env is not given.
    let env = t.globals.env_name.is_none().then_some("*");
    p.merge(&common::policy::state(&t.globals, env, state));
    p
}
