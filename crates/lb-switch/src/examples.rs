//! Two or three examples per subcommand, shown under its `--help` and in its
//! man page with the exit codes (common::cli::with_help_footers).

impl common::cli::Examples for crate::Cli {
    const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "show",
            &[
                "lb-switch show --load-balancer ltc-prod",
                "lb-switch show --listener arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener/app/ltc-prod/50dc6c495c0c9188/f2f7dc8efc522ab2 --output json",
            ],
        ),
        (
            "maintenance",
            &[
                "lb-switch maintenance on --listener ARN --body maintenance.html --content-type text/html",
                "lb-switch maintenance on --listener ARN --target-group ltc-maintenance",
                "lb-switch maintenance off --listener ARN",
            ],
        ),
        (
            "shift",
            &[
                "lb-switch shift --listener ARN --to ltc-green --steps 10,50,100 --bake 2m --gate-cmd 'smoke-test run checks.toml' --alarm 'ltc-prod-*'",
                "lb-switch shift --listener ARN --to ltc-blue --steps 100 --env prod --yes",
            ],
        ),
        (
            "undo",
            &[
                "lb-switch undo --listener ARN --dry-run",
                "lb-switch undo --listener ARN --env prod --yes",
            ],
        ),
        (
            "health",
            &[
                "lb-switch health --target-group ARN --min-healthy 50%",
                "lb-switch health --target-group ARN --target-group ARN2 --output json",
            ],
        ),
        (
            "policy",
            &[
                "lb-switch policy maintenance on --listener ARN --target-group ltc-maintenance",
                "lb-switch policy shift --listener ARN --to ltc-green --steps 10,50,100",
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
