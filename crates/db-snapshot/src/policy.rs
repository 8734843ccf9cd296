//! `db-snapshot policy <subcommand> [flags]`: the IAM policy that exact
//! command line needs (rds.rs reads, create.rs, restore.rs, swap.rs, prune.rs
//! changes, the waits and read-backs of wait.rs and readback.rs).

use common::policy::{Policy, PolicyArgs, Scope, StateUse, Target};
use common::{Context, GlobalArgs, Result};

use crate::rds::{Source, SourceArgs};
use crate::{Cli, Command};

/// Prints the policy for the command line after `policy`.
pub fn run(ctx: &Context, outer: &GlobalArgs, args: &PolicyArgs) -> Result<()> {
    let t: Target<Cli> = common::policy::parse_target("db-snapshot", outer, args)?;
    let p = statements(&t)?;
    common::policy::print(ctx, &p)
}

fn source_arn(scope: &Scope, s: &Source) -> String {
    match s {
        Source::Instance(id) => scope.arn("rds", &format!("db:{id}")),
        Source::Cluster(id) => scope.arn("rds", &format!("cluster:{id}")),
    }
}

fn snapshot_arn(scope: &Scope, s: &Source, id: &str) -> String {
    match s {
        Source::Instance(_) => scope.arn("rds", &format!("snapshot:{id}")),
        Source::Cluster(_) => scope.arn("rds", &format!("cluster-snapshot:{id}")),
    }
}

/// Reading the source and its snapshots (every subcommand starts there).
fn reads(p: &mut Policy, s: &Source) {
    let actions: &[&str] = match s {
        Source::Instance(_) => &["rds:DescribeDBInstances", "rds:DescribeDBSnapshots"],
        Source::Cluster(_) => &[
            "rds:DescribeDBClusters",
            "rds:DescribeDBClusterSnapshots",
            "rds:DescribeDBInstances",
        ],
    };
    // Describe calls filter by identifier; RDS checks them against `*` when
    // no identifier is given, so they are granted on `*`.
    p.allow(actions.iter().copied(), ["*"]);
}

fn source(a: &SourceArgs) -> Result<Source> {
    a.source()
}

/// The grants of a parsed command line.
pub fn statements(t: &Target<Cli>) -> Result<Policy> {
    let dry = t.globals.dry_run;
    let scope = &t.scope;
    let mut p = Policy::new();
    let mut state = StateUse::none();
    match &t.cli.command {
        Command::Create(a) => {
            let s = source(&a.source)?;
            reads(&mut p, &s);
            if !dry {
                let snap = a
                    .snapshot_id
                    .as_deref()
                    .map(|id| snapshot_arn(scope, &s, id))
                    .unwrap_or_else(|| snapshot_arn(scope, &s, &format!("{}-*", a.prefix)));
                let create = match s {
                    Source::Instance(_) => "rds:CreateDBSnapshot",
                    Source::Cluster(_) => "rds:CreateDBClusterSnapshot",
                };
                // Tags are given in the create call; AWS checks
                // AddTagsToResource for that on the new snapshot.
                p.allow([create], [source_arn(scope, &s), snap.clone()]);
                p.allow(["rds:AddTagsToResource"], [snap]);
                state = StateUse::change();
            }
        }
        Command::List(a) => reads(&mut p, &source(&a.source)?),
        Command::Latest(a) => reads(&mut p, &source(&a.source)?),
        Command::Wait(a) => {
            // wait.rs reads only what it waits for: the snapshot, or the
            // instance (a cluster wait also reads its instances).
            let s = source(&a.source)?;
            match (&a.snapshot, &s) {
                (Some(_), Source::Instance(_)) => {
                    p.allow(["rds:DescribeDBSnapshots"], ["*"]);
                }
                (Some(_), Source::Cluster(_)) => {
                    p.allow(["rds:DescribeDBClusterSnapshots"], ["*"]);
                }
                (None, Source::Instance(_)) => {
                    p.allow(["rds:DescribeDBInstances"], ["*"]);
                }
                (None, Source::Cluster(_)) => reads(&mut p, &s),
            }
        }
        Command::Verify(a) => {
            let s = source(&a.source)?;
            reads(&mut p, &s);
            if a.against.is_some() {
                p.allow(["rds:DescribeDBSnapshots"], ["*"]);
            }
        }
        Command::Prune(a) => {
            let s = source(&a.source)?;
            reads(&mut p, &s);
            if !dry {
                let (action, pattern) = match s {
                    Source::Instance(_) => ("rds:DeleteDBSnapshot", "snapshot:*"),
                    Source::Cluster(_) => ("rds:DeleteDBClusterSnapshot", "cluster-snapshot:*"),
                };
                p.allow([action], [scope.arn("rds", pattern)]);
                state = StateUse::change();
            }
        }
        Command::Restore(a) => {
            let s = source(&a.source)?;
            reads(&mut p, &s);
            // The snapshot is found among the source's (or read by id).
            p.allow(["rds:DescribeDBSnapshots"], ["*"]);
            if a.swap {
                // An unfinished swap of this source is looked for in the journal.
                state.read_journal = true;
            }
            if !dry {
                let snap = scope.arn("rds", "snapshot:*");
                match &s {
                    Source::Instance(_) => {
                        p.allow(
                            ["rds:RestoreDBInstanceFromDBSnapshot"],
                            [scope.arn("rds", &format!("db:{}", a.target)), snap],
                        );
                        p.allow(
                            ["rds:AddTagsToResource"],
                            [scope.arn("rds", &format!("db:{}", a.target))],
                        );
                    }
                    Source::Cluster(_) => {
                        p.allow(
                            ["rds:RestoreDBClusterFromSnapshot"],
                            [
                                scope.arn("rds", &format!("cluster:{}", a.target)),
                                scope.arn("rds", "cluster-snapshot:*"),
                            ],
                        );
                        // The restored cluster's writer instance.
                        p.allow(
                            ["rds:CreateDBInstance", "rds:AddTagsToResource"],
                            [
                                scope.arn("rds", &format!("db:{}*", a.target)),
                                scope.arn("rds", &format!("cluster:{}", a.target)),
                            ],
                        );
                    }
                }
                if a.swap {
                    swap_grants(&mut p, scope, s.id(), &a.target);
                }
                state.change = true;
            }
        }
        Command::Swap(a) => {
            p.allow(["rds:DescribeDBInstances"], ["*"]);
            state.read_journal = true;
            if !dry {
                let with = a.with.as_deref().unwrap_or("*");
                swap_grants(&mut p, scope, &a.instance, with);
                state.change = true;
            }
        }
        Command::Policy(_) => {}
    }
    p.merge(&common::policy::state(&t.globals, None, state));
    Ok(p)
}

/// A swap renames the source aside (`<source>-pre-restore-*`), then the
/// replacement to the source's name, and back on undo or failure.
fn swap_grants(p: &mut Policy, scope: &Scope, source: &str, replacement: &str) {
    p.allow(
        ["rds:ModifyDBInstance"],
        [
            scope.arn("rds", &format!("db:{source}")),
            scope.arn("rds", &format!("db:{source}-*")),
            scope.arn("rds", &format!("db:{replacement}")),
        ],
    );
}
