//! `smoke-test policy <subcommand> [flags]`: smoke-test makes HTTP requests
//! only (no AWS call, no journal, no state tree), so every command line needs
//! an empty policy. The subcommand is still parsed, so a bad flag is exit 2 as
//! it would be for the command itself.

use common::policy::{Policy, PolicyArgs, Target};
use common::{Context, GlobalArgs, Result};

use crate::Cli;

/// Prints the (empty) policy for the command line after `policy`.
pub fn run(ctx: &Context, outer: &GlobalArgs, args: &PolicyArgs) -> Result<()> {
    let _t: Target<Cli> = common::policy::parse_target("smoke-test", outer, args)?;
    common::policy::print(ctx, &Policy::new())
}
