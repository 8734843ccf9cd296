//! notify: tells people that a deploy or rollback started, that one of its steps
//! failed, or that it finished, with a summary read from the run folder (steps
//! and durations, smoke-test and health-gate figures, what the run changed, the
//! resume command), sent to an SNS topic and/or a Slack-compatible webhook.
//!
//! Modules: `send` (the subcommand: input checks, delivery, result),
//! `summary` (reading the run folder and the journal), `slack` (the webhook's
//! message), `deliver` (SNS Publish and the webhook POST, each with a short
//! timeout), `policy`.

pub mod deliver;
mod examples;
pub mod policy;
pub mod send;
pub mod slack;
pub mod summary;

use clap::Subcommand;
use common::{Context, Result};

const EXAMPLES: &str = "  notify send --event deploy-start --env prod --run \"$LTC_RUN_ID\" --run-dir \"$RB_RUN_DIR\" \\
      --sns-topic arn:aws:sns:ap-northeast-1:123456789012:ltc-releases
  notify send --event rollback-step-failed --env prod --run \"$LTC_RUN_ID\" --run-dir \"$RB_RUN_DIR\" \\
      --webhook-url-env LTC_SLACK_WEBHOOK_URL
  notify send --event deploy-complete --env staging --run RUN --run-dir DIR --webhook-url-env HOOK --dry-run
  notify policy send --event deploy-start --env prod --run RUN --sns-topic ARN

The runbooks call it through rb::notify (runbooks/lib.sh) when NOTIFY_SNS_TOPIC_ARN
and/or NOTIFY_WEBHOOK_URL_ENV are set; a failed notification is a warning there,
never a stop. The webhook URL is read from the named variable and never printed.
Exit 0: every destination got the message; 3: at least one did not (the result
says which and why); 2: bad input, nothing was sent.";

common::declare_cli! {
    #[command(
        name = "notify",
        version,
        about = "Deploy and rollback notifications to an SNS topic and/or a Slack-compatible webhook",
        after_help = common::cli::after_help(EXAMPLES)
    )]
    Command
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send one event (start, failed step, completion) with the run's summary.
    Send(send::SendArgs),
    /// Print the minimal IAM policy (JSON) the command line after `policy`
    /// needs, e.g. `notify policy send --event deploy-start --env prod --run R --sns-topic ARN`.
    Policy(common::policy::PolicyArgs),
}

pub async fn run(ctx: Context, cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Send(a) => send::run(&ctx, a).await?,
        Command::Policy(a) => policy::run(&ctx, &cli.globals, a)?,
    }
    Ok(())
}
