//! Two or three examples per subcommand, shown under its `--help` and in its
//! man page with the exit codes (common::cli::with_help_footers).

impl common::cli::Examples for crate::Cli {
    const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
        (
            "show",
            &[
                "dns-shift show --zone example.com --record www.example.com",
                "dns-shift show --zone Z0123ABC --record www.example.com --type CNAME --output json",
            ],
        ),
        (
            "set",
            &[
                "dns-shift set --zone Z0123ABC --record www.example.com --weight blue=90 --weight green=10",
                "dns-shift set --zone example.com --record www.example.com --weight blue=0 --weight green=100 --dry-run",
            ],
        ),
        (
            "shift",
            &[
                "dns-shift shift --zone example.com --record www.example.com --to green --steps 10,25,50,100 --bake 5m --gate-cmd 'smoke-test run checks.toml' --alarm 'ltc-prod-*'",
                "dns-shift shift --zone example.com --record www.example.com --to blue --steps 100 --fast-track --env prod --yes",
                "dns-shift shift --zone example.com --record www.example.com --to green --dry-run",
            ],
        ),
        (
            "maintenance",
            &[
                "dns-shift maintenance on --zone example.com --record www.example.com",
                "dns-shift maintenance off --zone example.com --record www.example.com",
            ],
        ),
        (
            "undo",
            &[
                "dns-shift undo --zone example.com --record www.example.com --dry-run",
                "dns-shift undo --zone example.com --record www.example.com --env prod --yes",
            ],
        ),
        (
            "alarms",
            &[
                "dns-shift alarms --alarm 'ltc-prod-*'",
                "dns-shift alarms --alarm 'ltc-prod-*' --alarm ltc-api-5xx --output json",
            ],
        ),
        (
            "policy",
            &[
                "dns-shift policy shift --zone Z0123ABC --record www.example.com --to green",
                "dns-shift policy undo --zone Z0123ABC --record www.example.com",
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
