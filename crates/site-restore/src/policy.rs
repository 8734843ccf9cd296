//! `site-restore policy <subcommand> [flags]`: the IAM policy that exact
//! command line needs (bucket.rs listing, restore.rs copies, delete markers and
//! read-backs, invalidate.rs CloudFront calls, the journal).

use common::policy::{Policy, PolicyArgs, StateUse, Target};
use common::{Context, GlobalArgs, Result};

use crate::scope::ScopeArgs;
use crate::{Cli, Command};

/// Prints the policy for the command line after `policy`.
pub fn run(ctx: &Context, outer: &GlobalArgs, args: &PolicyArgs) -> Result<()> {
    let t: Target<Cli> = common::policy::parse_target("site-restore", outer, args)?;
    common::policy::print(ctx, &statements(&t))
}

/// The bucket and its objects under the prefix.
fn arns(t: &Target<Cli>, s: &ScopeArgs) -> (String, String) {
    let bucket = t.scope.bare_arn("s3", &s.bucket);
    let prefix = s
        .prefix
        .as_deref()
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty());
    let objects = match prefix {
        Some(p) => format!("{bucket}/{p}/*"),
        None => format!("{bucket}/*"),
    };
    (bucket, objects)
}

/// Listing every version under the prefix (and checking versioning is on).
fn listing(p: &mut Policy, bucket: &str) {
    p.allow(
        ["s3:ListBucketVersions", "s3:GetBucketVersioning"],
        [bucket.to_owned()],
    );
}

/// The grants of a parsed command line.
pub fn statements(t: &Target<Cli>) -> Policy {
    let dry = t.globals.dry_run;
    let mut p = Policy::new();
    let mut state = StateUse::none();
    match &t.cli.command {
        Command::Record(a) => {
            let (bucket, _) = arns(t, &a.scope);
            listing(&mut p, &bucket);
            // Journaled (no lock) so a restore finds the manifest again.
            state.write_journal = !dry;
        }
        Command::Diff(a) => {
            let (bucket, _) = arns(t, &a.scope);
            listing(&mut p, &bucket);
        }
        Command::Restore(a) => {
            let (bucket, objects) = arns(t, &a.scope);
            listing(&mut p, &bucket);
            // An interrupted run's pending invalidation is read from the journal.
            state.read_journal = a.distribution.is_some();
            if let Some(d) = &a.distribution {
                p.allow(
                    ["cloudfront:GetDistributionConfig"],
                    [t.scope
                        .global_arn("cloudfront", &format!("distribution/{d}"))],
                );
            }
            if !dry {
                // CopyObject of an older version onto the key: read that
                // version, write the key; delete markers for keys created
                // since; HeadObject reads back a copy whose answer was lost;
                // DeleteObject with a VersionId (s3:DeleteObjectVersion)
                // undoes this run's own versions when it is refused part-way.
                p.allow(
                    [
                        "s3:GetObject",
                        "s3:GetObjectVersion",
                        "s3:PutObject",
                        "s3:DeleteObject",
                        "s3:DeleteObjectVersion",
                    ],
                    [objects],
                );
                if let Some(d) = &a.distribution {
                    p.allow(
                        [
                            "cloudfront:CreateInvalidation",
                            "cloudfront:GetInvalidation",
                            "cloudfront:ListInvalidations",
                        ],
                        [t.scope
                            .global_arn("cloudfront", &format!("distribution/{d}"))],
                    );
                }
                state.change = true;
            }
        }
        Command::Policy(_) => {}
    }
    p.merge(&common::policy::state(&t.globals, None, state));
    p
}
