//! Two or three examples per subcommand, shown under its `--help` and in its
//! man page with the exit codes (common::cli::with_help_footers).

impl common::cli::Examples for crate::Cli {
    const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "create",
            &[
                "db-snapshot create --instance ltc-db-prod --reason 'release 42'",
                "db-snapshot create --cluster ltc-aurora-prod --env prod --yes",
            ],
        ),
        (
            "list",
            &[
                "db-snapshot list --instance ltc-db-prod --manual",
                "db-snapshot list --cluster ltc-aurora-prod --output json",
            ],
        ),
        (
            "latest",
            &[
                "db-snapshot latest --instance ltc-db-prod",
                "db-snapshot latest --instance ltc-db-prod --output json",
            ],
        ),
        (
            "restore",
            &[
                "db-snapshot restore --snapshot latest --instance ltc-db-prod --target ltc-db-prod-r1 --dry-run",
                "db-snapshot restore --snapshot latest --instance ltc-db-prod --target ltc-db-prod-r1 --swap --env prod --yes",
                "db-snapshot restore --snapshot - --instance ltc-db-prod --target ltc-db-prod-r1",
            ],
        ),
        (
            "swap",
            &[
                "db-snapshot swap --instance ltc-db-prod --resume --env prod --yes",
                "db-snapshot swap --instance ltc-db-prod --resume --dry-run",
            ],
        ),
        (
            "verify",
            &[
                "db-snapshot verify --instance ltc-db-prod",
                "db-snapshot verify --instance ltc-db-prod --against ltc-db-prod-pre-restore-20261127-033000 --check-cmd 'psql -h \"$LTC_DB_HOST\" -c \"select 1\"'",
            ],
        ),
        (
            "prune",
            &[
                "db-snapshot prune --instance ltc-db-prod --keep 7 --older-than 30d --prefix pre-deploy",
                "db-snapshot prune --instance ltc-db-prod --keep 3 --dry-run",
            ],
        ),
        (
            "wait",
            &[
                "db-snapshot wait --instance ltc-db-prod --snapshot pre-deploy-ltc-db-prod-20261127-033000",
                "db-snapshot wait --instance ltc-db-prod-r1",
            ],
        ),
        (
            "policy",
            &[
                "db-snapshot policy create --instance ltc-db-prod",
                "db-snapshot policy restore --snapshot latest --instance ltc-db-prod --target ltc-db-prod-r1 --swap",
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
