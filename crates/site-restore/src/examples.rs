//! Two or three examples per subcommand, shown under its `--help` and in its
//! man page with the exit codes (common::cli::with_help_footers).

impl common::cli::Examples for crate::Cli {
    const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "record",
            &[
                "site-restore record --bucket ltc-site-prod > before-deploy.json",
                "site-restore record --bucket ltc-site-prod --output json",
            ],
        ),
        (
            "diff",
            &[
                "site-restore diff --bucket ltc-site-prod --manifest before-deploy.json",
                "site-restore diff --bucket ltc-site-prod --at 2026-05-01T09:00:00Z",
            ],
        ),
        (
            "restore",
            &[
                "site-restore restore --bucket ltc-site-prod --manifest before-deploy.json --distribution E2ABC123 --env prod --yes",
                "site-restore restore --bucket ltc-site-prod --at 2026-05-01T09:00:00Z --dry-run",
            ],
        ),
        (
            "policy",
            &[
                "site-restore policy restore --bucket ltc-site-prod --manifest m.json",
                "site-restore policy record --bucket ltc-site-prod",
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
