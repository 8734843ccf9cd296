//! Two or three examples per subcommand, shown under its `--help` and in its
//! man page with the exit codes (common::cli::with_help_footers).

impl common::cli::Examples for crate::Cli {
    const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "check",
            &[
                "health-gate check --gates env/prod.gates.toml --env prod",
                "health-gate check --gates env/prod.gates.toml --strict --output json",
            ],
        ),
        (
            "watch",
            &[
                "health-gate watch --gates env/prod.gates.toml --for 24h --interval 1m --failure-limit 3",
                "health-gate watch --gates env/prod.gates.toml --for 30m",
            ],
        ),
        (
            "policy",
            &[
                "health-gate policy check --gates env/prod.gates.toml",
                "health-gate policy watch --gates env/prod.gates.toml --for 1h",
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
