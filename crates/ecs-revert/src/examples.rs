//! Two or three examples per subcommand, shown under its `--help` and in its
//! man page with the exit codes (common::cli::with_help_footers).

impl common::cli::Examples for crate::Cli {
    const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "status",
            &[
                "ecs-revert status --cluster ltc-prod --service api --service worker",
                "ecs-revert status --cluster ltc-prod --service api --output json",
            ],
        ),
        (
            "history",
            &[
                "ecs-revert history --cluster ltc-prod --service api",
                "ecs-revert history --cluster ltc-prod --service api --output json",
            ],
        ),
        (
            "revert",
            &[
                "ecs-revert revert --cluster ltc-prod --service api --service worker --dry-run",
                "ecs-revert revert --cluster ltc-prod --service api --to 41 --env prod --yes",
            ],
        ),
        (
            "wait",
            &[
                "ecs-revert wait --cluster ltc-prod --service api --timeout 15m",
                "ecs-revert wait --cluster ltc-prod --service api --service worker",
            ],
        ),
        (
            "scale",
            &[
                "ecs-revert scale --cluster ltc-prod --service api --desired 6 --adjust-limits",
                "ecs-revert scale --cluster ltc-prod --service api --desired 2 --dry-run",
            ],
        ),
        (
            "scaling",
            &[
                "ecs-revert scaling show --cluster ltc-prod --service api --service worker",
                "ecs-revert scaling record --cluster ltc-prod --service api --run \"$LTC_RUN_ID\"",
                "ecs-revert scaling restore --cluster ltc-prod --run 20261201T101500.000Z-deploy-1a2b3c",
            ],
        ),
        (
            "scaling suspend",
            &[
                "ecs-revert scaling suspend --cluster ltc-prod --service api",
                "ecs-revert scaling suspend --cluster ltc-prod --service api --service worker --dry-run",
            ],
        ),
        (
            "scaling resume",
            &[
                "ecs-revert scaling resume --cluster ltc-prod --service api",
                "ecs-revert scaling resume --cluster ltc-prod --service api --service worker --dry-run",
            ],
        ),
        (
            "policy",
            &[
                "ecs-revert policy revert --cluster ltc-prod --service api",
                "ecs-revert policy scale --cluster ltc-prod --service api --desired 6",
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
