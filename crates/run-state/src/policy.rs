//! `run-state policy <subcommand> [flags]`: the S3 access that exact command
//! line needs on the state tree (`--state`/`LTC_STATE`); nothing for a local
//! folder. Read from lock.rs, freeze.rs, runs.rs, journal.rs and
//! `common::state`.

use common::policy::{Policy, PolicyArgs, StateUse, Target};
use common::{Context, GlobalArgs, Result};

use crate::lock::LockCommand;
use crate::runs::RunsCommand;
use crate::{Cli, Command};

/// Prints the policy for the command line after `policy`.
pub fn run(ctx: &Context, outer: &GlobalArgs, args: &PolicyArgs) -> Result<()> {
    let t: Target<Cli> = common::policy::parse_target("run-state", outer, args)?;
    common::policy::print(ctx, &statements(&t))
}

/// The grants of a parsed command line.
pub fn statements(t: &Target<Cli>) -> Policy {
    let dry = t.globals.dry_run;
    let none = StateUse::none();
    let u = match &t.cli.command {
        Command::Lock(LockCommand::Status) => StateUse {
            read_lock: true,
            ..none
        },
        // Breaking the lock is journaled but does not take the lock.
        Command::Lock(LockCommand::Break(_)) => StateUse {
            read_lock: true,
            break_lock: !dry,
            write_journal: !dry,
            ..none
        },
        Command::Lock(LockCommand::Hold(_)) => StateUse {
            change: !dry,
            freeze_check: !dry,
            ..none
        },
        Command::Lock(LockCommand::NewRunId { .. }) | Command::Policy(_) => none,
        Command::Freeze(_) => StateUse {
            read_lock: true,
            write_freeze: !dry,
            write_journal: !dry,
            ..none
        },
        Command::Unfreeze(_) => StateUse {
            read_lock: true,
            lift_freeze: !dry,
            write_journal: !dry,
            ..none
        },
        // One create-if-absent PutObject (If-None-Match): nothing is read,
        // and a dry run touches nothing.
        Command::Runs(RunsCommand::Put { .. }) => StateUse {
            write_runs: !dry,
            ..none
        },
        Command::Runs(_) => StateUse {
            read_runs: true,
            ..none
        },
        Command::Journal(_) | Command::Report(_) => StateUse::read_journal(),
    };
    let p = common::policy::state(&t.globals, None, u);
    match &t.cli.command {
        // The listings name the runs and their records; no record is read.
        Command::Runs(RunsCommand::List | RunsCommand::Last { .. }) => {
            p.without_action("s3:GetObject")
        }
        // One record by its key: nothing is listed.
        Command::Runs(RunsCommand::Get { .. }) => p.without_action("s3:ListBucket"),
        _ => p,
    }
}
