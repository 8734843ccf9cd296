//! Two or three examples per subcommand, shown under its `--help` and in its
//! man page with the exit codes (common::cli::with_help_footers).

impl common::cli::Examples for crate::Cli {
    const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "lock",
            &[
                "run-state lock status --env prod",
                "run-state lock break --env prod --reason 'holder crashed at 03:12, checked with alice'",
                "run-state lock hold --env prod --run \"$LTC_RUN_ID\" --command runbooks/deploy.sh",
            ],
        ),
        (
            "lock new-run-id",
            &[
                "run-state lock new-run-id deploy",
                "run-state lock new-run-id rollback --output json",
            ],
        ),
        (
            "freeze",
            &[
                "run-state freeze --env prod --reason 'incident 42: no deploys'",
                "run-state freeze --env staging --reason 'load test until 18:00'",
            ],
        ),
        (
            "unfreeze",
            &[
                "run-state unfreeze --env prod",
                "run-state unfreeze --env prod --reason 'incident 42 closed'",
            ],
        ),
        (
            "runs",
            &[
                "run-state runs list --env prod",
                "run-state runs show --env prod 20261202T031000.123Z-deploy-1a2b3c",
                "run-state runs last deploy --env prod --output json",
            ],
        ),
        (
            "runs put",
            &[
                "run-state runs put 20261202T031000.123Z-deploy-1a2b3c site-manifest site.json --env prod",
                "run-state runs put \"$LTC_RUN_ID\" weights-before weights.json --env prod",
            ],
        ),
        (
            "runs get",
            &[
                "run-state runs get 20261202T031000.123Z-deploy-1a2b3c site-manifest --env prod",
                "run-state runs get \"$LTC_RUN_ID\" weights-before --env prod",
            ],
        ),
        (
            "journal",
            &[
                "run-state journal --env prod",
                "run-state journal --env prod --run 20261202T031000.123Z-deploy-1a2b3c --follow",
            ],
        ),
        (
            "report",
            &[
                "run-state report --env prod --run 20261202T031000.123Z-deploy-1a2b3c --run-dir .ltc/runs/20261202T031000.123Z-deploy-1a2b3c",
                "run-state report --env prod --run \"$LTC_RUN_ID\" --run-dir \"$RB_RUN_DIR\" --out /tmp/report.html",
            ],
        ),
        (
            "policy",
            &[
                "run-state policy lock status --env prod",
                "run-state policy freeze --env prod --reason x",
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
