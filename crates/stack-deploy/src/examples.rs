//! Two or three examples per subcommand, shown under its `--help` and in its
//! man page with the exit codes (common::cli::with_help_footers).

impl common::cli::Examples for crate::Cli {
    const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "plan",
            &[
                "stack-deploy plan --app cdk.out --all",
                "stack-deploy plan --app cdk.out --all --changes --fail-on-replace",
            ],
        ),
        (
            "deploy",
            &[
                "stack-deploy deploy --app cdk.out --all --env prod --yes",
                "stack-deploy deploy --app cdk.out LightningTalk-Api-prod --parameters LightningTalk-Api-prod:ApiImageTag=v2.0.1 --yes",
                "stack-deploy deploy --app cdk.out --all --rollback-alarm ltc-critical-5xx --monitoring-time 10m --yes",
            ],
        ),
        (
            "revert",
            &[
                "stack-deploy revert --run 20261202T043000.000Z-deploy-1a2b3c --app cdk.out --dry-run",
                "stack-deploy revert --run 20261202T043000.000Z-deploy-1a2b3c --app cdk.out --env prod --yes",
            ],
        ),
        (
            "status",
            &[
                "stack-deploy status --app cdk.out --all",
                "stack-deploy status LightningTalk-Api-prod --output json",
            ],
        ),
        (
            "watch",
            &[
                "stack-deploy watch LightningTalk-Api-prod",
                "stack-deploy watch LightningTalk-Api-prod LightningTalk-Web-prod --timeout 30m",
            ],
        ),
        (
            "cancel",
            &[
                "stack-deploy cancel LightningTalk-Api-prod --yes",
                "stack-deploy cancel LightningTalk-Api-prod --dry-run",
            ],
        ),
        (
            "rollback",
            &[
                "stack-deploy rollback LightningTalk-Api-prod --yes",
                "stack-deploy rollback LightningTalk-Api-prod --dry-run",
            ],
        ),
        (
            "policy",
            &[
                "stack-deploy policy deploy --app cdk.out --all --no-assume-role",
                "stack-deploy policy revert --run 20261202T043000.000Z-deploy-1a2b3c --app cdk.out",
            ],
        ),
    ];
}

#[cfg(test)]
mod tests {
    // Every example parses with the real clap definitions and calls the
    // subcommand it is listed under; every subcommand has two or three.
    #[test]
    fn examples_parse_and_cover_every_subcommand() {
        if let Err(problems) = common::cli::check_examples::<crate::Cli>() {
            panic!("examples.rs:\n{}", problems.join("\n"));
        }
    }
}
