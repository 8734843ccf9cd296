//! Two or three examples per subcommand, shown under its `--help` and in its
//! man page with the exit codes (common::cli::with_help_footers).

impl common::cli::Examples for crate::Cli {
    const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "get",
            &[
                "smoke-test get https://lightningtalk.example.org/api/health --expect-status 200",
                "smoke-test get https://lightningtalk.example.org/ --min-cert-days 21",
            ],
        ),
        (
            "run",
            &[
                "smoke-test run checks.toml --base-url https://staging.example.org --junit smoke.xml",
                "smoke-test run checks.toml --var HOST=10.0.3.7 --repeat 3 --concurrency 4",
            ],
        ),
        (
            "load",
            &[
                "smoke-test load https://staging.example.org/api/health --duration 30s --concurrency 32",
                "smoke-test load checks.toml --duration 1m --rate 200 --threshold 'p99<1500ms' --threshold 'error_rate<1%'",
            ],
        ),
        (
            "probe",
            &[
                "smoke-test probe --url https://blue.example.org/health --url https://green.example.org/health --interval 100ms --expect-serving https://green.example.org/health",
                "smoke-test probe --url https://www.example.org/ --for 10m",
            ],
        ),
        (
            "policy",
            &[
                "smoke-test policy run checks.toml",
                "smoke-test policy load https://staging.example.org/ --duration 30s",
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
