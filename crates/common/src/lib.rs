//! What every Lightning Talk Circle release/rollback binary shares: AWS
//! configuration, output, errors and exit codes, waiting, the change journal and
//! the production guard. Domain logic stays in each binary's own crate.

pub mod aws;
pub mod calls;
pub mod cancel;
pub mod cli;
pub mod duration;
pub mod envelope;
pub mod error;
pub mod exit;
pub mod gate;
pub mod guard;
pub mod journal;
pub mod markup;
pub mod output;
pub mod policy;
pub mod redact;
pub mod schema;
pub mod shift;
pub mod state;
pub mod wait;

pub use aws::{AwsArgs, AwsContext};
pub use cancel::Cancel;
pub use cli::{Context, GlobalArgs, HasGlobals};
pub use duration::{HumanAge, HumanDuration};
pub use error::{AwsError, AwsResultExt, Error, Result};
pub use output::{ColorChoice, Output, OutputFormat, Render};
/// Re-exported so that the binaries derive `JsonSchema` on their output types
/// (`#[schemars(crate = "common::schemars")]`) without a dependency of their own.
pub use schemars;
pub use wait::{Poll, WaitOptions, poll_until};

/// A message from a parser (serde, toml, chrono ...) made fit for one error
/// line: newlines folded, cut to about 200 characters, because such messages
/// quote the offending input whole.
pub fn clip(msg: &str) -> String {
    clip_to(msg, 200)
}

/// [`clip`] with another bound: newlines folded, cut to `max` characters
/// (then `...`), for lines that may carry more context than a parser error.
pub fn clip_to(msg: &str, max: usize) -> String {
    let one_line = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let head: String = one_line.chars().take(max).collect();
    format!("{head}...")
}

/// Quotes operator input for an error line with control characters escaped,
/// the escaped form cut to about 100 characters so neither a 100 kB argument
/// nor 100 escaped control characters can flood the terminal.
pub fn quote(s: &str) -> String {
    const MAX: usize = 100;
    let mut out = String::from("\"");
    let mut width = 0;
    for c in s.chars() {
        // As `{:?}` of a str does: a single quote needs no escape there.
        let escaped: String = if c == '\'' {
            c.to_string()
        } else {
            c.escape_debug().collect()
        };
        let w = escaped.chars().count();
        if width + w > MAX {
            return format!("{out}\"... ({} characters)", s.chars().count());
        }
        width += w;
        out.push_str(&escaped);
    }
    out.push('"');
    out
}
