//! What every Lightning Talk Circle release/rollback binary shares: AWS
//! configuration, output, errors and exit codes, waiting, the change journal and
//! the production guard. Domain logic stays in each binary's own crate.

pub mod aws;
pub mod calls;
pub mod cancel;
pub mod cli;
pub mod duration;
pub mod error;
pub mod exit;
pub mod gate;
pub mod guard;
pub mod journal;
pub mod output;
pub mod shift;
pub mod policy;
pub mod state;
pub mod wait;

pub use aws::{AwsArgs, AwsContext};
pub use cancel::Cancel;
pub use cli::{Context, GlobalArgs, HasGlobals};
pub use duration::HumanDuration;
pub use error::{AwsError, AwsResultExt, Error, Result};
pub use output::{Output, OutputFormat, Render};
pub use wait::{Poll, WaitOptions, poll_until};

/// Quotes operator input for an error line, cut to about 100 characters so a
/// 100 kB argument cannot flood the terminal, with control characters escaped.
pub fn quote(s: &str) -> String {
    const MAX: usize = 100;
    let n = s.chars().count();
    if n <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}... ({n} characters)")
    }
}
