//! `notify policy send ...`: `sns:Publish` on the topic of that command line
//! (none for a webhook, which is not AWS), plus the state tree it touches:
//! reading the run's journal entries and journaling each delivery.

use common::policy::{Policy, PolicyArgs, StateUse, Target};
use common::{Context, GlobalArgs, Result};

use crate::{Cli, Command};

/// Prints the policy for the command line after `policy`.
pub fn run(ctx: &Context, outer: &GlobalArgs, args: &PolicyArgs) -> Result<()> {
    let t: Target<Cli> = common::policy::parse_target("notify", outer, args)?;
    common::policy::print(ctx, &statements(&t))
}

/// The grants of a parsed command line.
pub fn statements(t: &Target<Cli>) -> Policy {
    let mut p = Policy::new();
    let dry = t.globals.dry_run;
    if let Command::Send(a) = &t.cli.command {
        if let Some(topic) = &a.sns_topic
            && !dry
        {
            p.allow(["sns:Publish"], [topic.clone()]);
        }
        let u = StateUse {
            read_journal: true,
            write_journal: !dry,
            ..StateUse::none()
        };
        p.merge(&common::policy::state(&t.globals, None, u));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The policy of one command line (words split on white space).
    fn policy(line: &str) -> serde_json::Value {
        let outer = GlobalArgs::default();
        let pa = PolicyArgs {
            account: None,
            command: line.split_whitespace().map(str::to_owned).collect(),
        };
        let t: Target<Cli> = common::policy::parse_target("notify", &outer, &pa).unwrap();
        let _ = Cli::try_parse_from(["notify", "send", "--help"]);
        statements(&t).document()
    }

    #[test]
    fn publish_on_the_topic_only() {
        let topic = "arn:aws:sns:ap-northeast-1:123456789012:ltc-releases";
        let send = "send --event deploy-start --env prod --run r1";
        let doc = policy(&format!(
            "{send} --sns-topic {topic} --state s3://ltc-state/x"
        ));
        let text = doc.to_string();
        assert!(text.contains("sns:Publish"), "{text}");
        assert!(text.contains(topic), "{text}");
        assert!(
            text.contains("arn:aws:s3:::ltc-state/x/prod/journal/*"),
            "{text}"
        );
        let hook = policy(&format!("{send} --webhook-url-env HOOK"));
        assert!(!hook.to_string().contains("sns:"), "{hook}");
    }
}
