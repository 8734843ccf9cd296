//! stack-deploy: deploys a synthesized CDK cloud assembly (`cdk.out`) to
//! CloudFormation in dependency order, and watches, cancels and rolls back
//! stacks. Talks to CloudFormation directly; no CDK CLI needed at deploy time.

pub mod alarms;
pub mod archive;
pub mod assets;
pub mod deploy;
pub mod events;
pub mod graph;
pub mod manifest;
pub mod plan;
pub mod policy;
pub mod preview;
pub mod record;
pub mod recover;
pub mod revert;
pub mod roles;
pub mod run;
pub mod scheduler;
pub mod status;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use common::{Context, GlobalArgs, HasGlobals, HumanDuration};

use crate::deploy::Method;

#[derive(Debug, Parser)]
#[command(
    name = "stack-deploy",
    version,
    about = "Deploy a CDK cloud assembly to CloudFormation in dependency phases; watch, cancel, roll back",
    after_help = common::cli::after_help(
        "  stack-deploy plan --app cdk.out --all\n  \
         stack-deploy plan --app cdk.out --all --changes --fail-on-replace\n  \
         stack-deploy deploy --app cdk.out --all --env prod --yes\n  \
         stack-deploy deploy --app cdk.out LightningTalk-Api-prod --parameters LightningTalk-Api-prod:ApiImageTag=v2.0.1 --yes\n  \
         stack-deploy status --app cdk.out --all\n  \
         stack-deploy watch LightningTalk-Api-prod\n  \
         stack-deploy deploy --app cdk.out --all --rollback-alarm ltc-critical-5xx --monitoring-time 10m --yes\n  \
         stack-deploy revert --run 20261202T043000.000Z-deploy-1a2b3c --app cdk.out --dry-run\n  \
         stack-deploy rollback LightningTalk-Api-prod --yes"
    )
)]
pub struct Cli {
    #[command(flatten)]
    pub globals: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

impl HasGlobals for Cli {
    fn globals(&self) -> &GlobalArgs {
        &self.globals
    }
}

/// Which stacks of which assembly.
#[derive(Debug, Clone, clap::Args)]
pub struct Selection {
    /// The cloud assembly directory (holds manifest.json).
    #[arg(long, value_name = "DIR", default_value = "cdk.out")]
    pub app: PathBuf,
    /// Stack names or globs ('LightningTalk-*-prod'); artifact ids or stack names.
    #[arg(value_name = "STACK")]
    pub stacks: Vec<String>,
    /// Every stack in the assembly.
    #[arg(long)]
    pub all: bool,
    /// Also take every stack the named ones depend on.
    #[arg(long)]
    pub with_deps: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the phases (dependency levels) and, for stacks that exist, what would change.
    Plan {
        #[command(flatten)]
        sel: Selection,
        /// Phases only: no AWS call, no change preview.
        #[arg(long)]
        offline: bool,
        /// Use the caller's credentials instead of the manifest's deploy role.
        #[arg(long)]
        no_assume_role: bool,
        /// Ask CloudFormation what each update would do, resource by resource, and
        /// which resources it would replace (creates and deletes a change set).
        #[arg(long, conflicts_with = "offline")]
        changes: bool,
        /// Parameter for one stack, STACK:KEY=VALUE, as `deploy` would get it.
        #[arg(long = "parameters", value_name = "STACK:KEY=VALUE")]
        parameters: Vec<String>,
        /// Exit 4 when the preview replaces or removes a resource.
        #[arg(long, requires = "changes")]
        fail_on_replace: bool,
    },
    /// Deploy stacks, each as soon as its dependencies are done.
    ///
    /// Interrupted (Ctrl-C, SIGTERM, SIGHUP; exit 130): nothing new starts and
    /// CloudFormation goes on with the stacks in flight; follow them with
    /// `stack-deploy watch <stacks>` (printed), or run the same deploy again: it
    /// waits for a stack still in progress and carries on. The same holds after
    /// the process was killed.
    Deploy {
        #[command(flatten)]
        sel: Selection,
        /// Stacks deployed at the same time.
        #[arg(long, default_value_t = 4, value_name = "N",
              value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// direct = CreateStack/UpdateStack; change-set = CreateChangeSet + ExecuteChangeSet.
        #[arg(long, value_enum, default_value_t)]
        method: Method,
        /// Parameter for one stack, STACK:KEY=VALUE (repeat for more).
        #[arg(long = "parameters", value_name = "STACK:KEY=VALUE")]
        parameters: Vec<String>,
        /// Leave a failed stack as it is (CREATE_FAILED/UPDATE_FAILED) for inspection.
        #[arg(long)]
        no_rollback: bool,
        /// Use the caller's credentials instead of the manifest's deploy and publishing roles.
        #[arg(long)]
        no_assume_role: bool,
        /// Give up waiting after this long (exit 5; the deploy goes on in AWS).
        #[arg(long, default_value = "60m", value_name = "DURATION")]
        timeout: HumanDuration,
        /// CloudWatch alarm (name or ARN, up to 5) that makes CloudFormation roll
        /// an update back by itself when it fires (RollbackConfiguration).
        #[arg(long = "rollback-alarm", value_name = "NAME|ARN", num_args = 1..)]
        rollback_alarms: Vec<String>,
        /// How long CloudFormation keeps watching the alarms after the stack
        /// operation completed (whole minutes, at most 180m).
        #[arg(long, value_name = "DURATION", requires = "rollback_alarms")]
        monitoring_time: Option<HumanDuration>,
    },
    /// Put back what a deploy run changed: each stack's template, parameters
    /// and tags as recorded before that run, in reverse dependency order.
    ///
    /// Works on stacks that deployed cleanly (UPDATE_COMPLETE) but are bad.
    /// Stacks the run created are left in place unless --delete-created (their
    /// data goes with them). A stack already equal to its record is skipped.
    /// `--dry-run` lists what would change. Interrupted (exit 130): run the
    /// same revert again.
    Revert {
        /// The deploy run (`run_id` in the deploy's JSON result; `run-state runs list`).
        #[arg(long, value_name = "RUN_ID")]
        run: String,
        /// Only these stacks (default: every stack the run recorded).
        #[arg(value_name = "STACK")]
        stacks: Vec<String>,
        /// The cloud assembly: its dependency graph orders the revert (else the
        /// reverse of the order the run recorded the stacks).
        #[arg(long, value_name = "DIR")]
        app: Option<PathBuf>,
        /// Also delete the stacks the run created (and everything in them).
        #[arg(long)]
        delete_created: bool,
        /// direct = UpdateStack; change-set = CreateChangeSet + ExecuteChangeSet.
        #[arg(long, value_enum, default_value_t)]
        method: Method,
        /// Stacks of one dependency level reverted at the same time.
        #[arg(long, default_value_t = 4, value_name = "N",
              value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// Use the caller's credentials instead of the deploy role the run used.
        #[arg(long)]
        no_assume_role: bool,
        /// Give up waiting after this long (exit 5; CloudFormation goes on).
        #[arg(long, default_value = "60m", value_name = "DURATION")]
        timeout: HumanDuration,
    },
    /// Live status, last update and outputs of stacks (exit 4 unless all are healthy).
    Status {
        #[command(flatten)]
        sel: Selection,
    },
    /// Re-attach to stacks in progress (after a timeout, an interrupted or a
    /// killed deploy) and wait for them; exit 0 when each ends healthy.
    Watch {
        /// CloudFormation stack names.
        #[arg(required = true, value_name = "STACK")]
        stacks: Vec<String>,
        #[arg(long, default_value = "60m", value_name = "DURATION")]
        timeout: HumanDuration,
    },
    /// Leave stacks still: cancel an update (CancelUpdateStack, then wait for
    /// UPDATE_ROLLBACK_COMPLETE), wait for what cannot be cancelled (create,
    /// rollback, cleanup), delete the pending change set of a REVIEW_IN_PROGRESS
    /// stack. Exit 0 once every stack is at rest, in whatever state.
    Cancel {
        #[arg(required = true, value_name = "STACK")]
        stacks: Vec<String>,
        /// Give up waiting after this long (exit 5; CloudFormation goes on).
        #[arg(long, default_value = "60m", value_name = "DURATION")]
        timeout: HumanDuration,
    },
    /// Roll back a failed stack (RollbackStack, or ContinueUpdateRollback from UPDATE_ROLLBACK_FAILED).
    Rollback {
        #[arg(required = true, value_name = "STACK")]
        stacks: Vec<String>,
        #[arg(long, default_value = "60m", value_name = "DURATION")]
        timeout: HumanDuration,
    },
    /// Print the minimal IAM policy (JSON) the command line after `policy` needs,
    /// e.g. `stack-deploy policy deploy --app cdk.out --all --no-assume-role`.
    Policy(common::policy::PolicyArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Context::new("stack-deploy", &cli.globals);
    match cli.command {
        Command::Plan {
            sel,
            offline,
            no_assume_role,
            changes,
            parameters,
            fail_on_replace,
        } => {
            let opts = plan::PlanOptions {
                offline,
                no_assume_role,
                changes,
                parameters,
                fail_on_replace,
            };
            plan::run(&ctx, &sel, &opts).await?
        }
        Command::Deploy {
            sel,
            concurrency,
            method,
            parameters,
            no_rollback,
            no_assume_role,
            timeout,
            rollback_alarms,
            monitoring_time,
        } => {
            run::deploy(
                &ctx,
                run::DeployArgs {
                    sel,
                    concurrency: concurrency as usize,
                    method,
                    parameters,
                    no_rollback,
                    no_assume_role,
                    timeout: timeout.0,
                    rollback_alarms,
                    monitoring_time: monitoring_time.map(|m| m.0),
                },
            )
            .await?
        }
        Command::Revert {
            run,
            stacks,
            app,
            delete_created,
            method,
            concurrency,
            no_assume_role,
            timeout,
        } => {
            revert::revert(
                &ctx,
                revert::RevertArgs {
                    run,
                    stacks,
                    app,
                    delete_created,
                    method,
                    concurrency: concurrency as usize,
                    no_assume_role,
                    timeout: timeout.0,
                },
            )
            .await?
        }
        Command::Status { sel } => recover::status(&ctx, &sel).await?,
        Command::Watch { stacks, timeout } => recover::watch(&ctx, &stacks, timeout.0).await?,
        Command::Cancel { stacks, timeout } => {
            recover::cancel_or_rollback(&ctx, &stacks, timeout.0, recover::Kind::Cancel).await?
        }
        Command::Rollback { stacks, timeout } => {
            recover::cancel_or_rollback(&ctx, &stacks, timeout.0, recover::Kind::Rollback).await?
        }
        Command::Policy(args) => policy::run(&ctx, &cli.globals, &args)?,
    }
    Ok(())
}
