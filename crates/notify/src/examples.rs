//! Two or three examples per subcommand, shown under its `--help` and in its
//! man page with the exit codes (common::cli::with_help_footers).

impl common::cli::Examples for crate::Cli {
    const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "send",
            &[
                "notify send --event deploy-start --env prod --run \"$LTC_RUN_ID\" --run-dir \"$RB_RUN_DIR\" --sns-topic arn:aws:sns:ap-northeast-1:123456789012:ltc-releases",
                "notify send --event rollback-step-failed --env prod --run \"$LTC_RUN_ID\" --run-dir \"$RB_RUN_DIR\" --webhook-url-env LTC_SLACK_WEBHOOK_URL",
                "notify send --event deploy-complete --env staging --run RUN --run-dir DIR --webhook-url-env HOOK --dry-run",
            ],
        ),
        (
            "policy",
            &[
                "notify policy send --event deploy-start --env prod --run RUN --sns-topic ARN",
                "notify policy send --event deploy-complete --env prod --run RUN --webhook-url-env HOOK",
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
