//! What the subcommands share: the environment's state tree, who is acting,
//! and the check of a `--reason`.

use common::{Context, Error, Result};

/// The environment's state tree; every subcommand needs one.
pub(crate) async fn store(ctx: &Context) -> Result<&common::state::Store> {
    ctx.state()
        .await?
        .ok_or_else(|| Error::Internal("no state tree configured".into()))
}

/// Who is acting, for records: the caller's ARN when AWS is configured, else user@host.
pub(crate) async fn actor(ctx: &Context) -> Result<String> {
    Ok(ctx
        .journal()
        .await?
        .context()
        .actor
        .clone()
        .unwrap_or_else(common::journal::local_user))
}

/// A reason is required where a colleague will later ask why.
pub(crate) fn reason(text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > 500 || t.chars().any(char::is_control) {
        return Err(Error::usage(format!(
            "--reason must be 1-500 characters without control characters, got {}",
            common::quote(text)
        )));
    }
    Ok(t.to_owned())
}
