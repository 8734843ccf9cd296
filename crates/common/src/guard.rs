//! The production guard: a mutating command against a production environment
//! needs `--yes`, or the environment's name typed back on a terminal. Without a
//! terminal and without `--yes` it refuses at once and never waits on stdin.

use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;

use crate::error::{Error, Result};

/// The safety flags of one invocation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Safety {
    /// Environment name from `--env` / `LTC_ENV`.
    pub env: Option<String>,
    pub yes: bool,
    pub dry_run: bool,
}

/// Environment names treated as production.
pub fn is_production_name(env: &str) -> bool {
    matches!(
        env.to_ascii_lowercase().as_str(),
        "prod" | "production" | "prd"
    )
}

impl Safety {
    pub fn is_production(&self) -> bool {
        self.env.as_deref().is_some_and(is_production_name)
    }

    /// Call before the first change. Dry runs and non-production targets pass.
    pub fn confirm(&self, action: &str) -> Result<()> {
        let stdin = std::io::stdin();
        let interactive = stdin.is_terminal() && std::io::stderr().is_terminal();
        self.confirm_with(
            action,
            interactive,
            &mut stdin.lock(),
            &mut std::io::stderr(),
        )
    }

    pub fn confirm_with(
        &self,
        action: &str,
        interactive: bool,
        input: &mut dyn BufRead,
        prompt: &mut dyn Write,
    ) -> Result<()> {
        if self.dry_run || self.yes || !self.is_production() {
            return Ok(());
        }
        let env = self.env.as_deref().unwrap_or_default();
        if !interactive {
            return Err(Error::usage(format!(
                "refusing to {action} in production environment {env:?} without --yes (no terminal to confirm on)"
            )));
        }
        let _ = write!(
            prompt,
            "About to {action} in PRODUCTION ({env}).\nType the environment name to continue: "
        );
        let _ = prompt.flush();
        let mut line = String::new();
        input
            .read_line(&mut line)
            .map_err(|e| Error::io("failed to read confirmation", e))?;
        if line.trim() == env {
            Ok(())
        } else {
            Err(Error::usage(
                "confirmation did not match; nothing was changed",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prod() -> Safety {
        Safety {
            env: Some("prod".into()),
            ..Default::default()
        }
    }

    #[test]
    fn production_without_terminal_or_yes_refuses_immediately() {
        let mut input: &[u8] = b"prod\n";
        let err = prod()
            .confirm_with("shift traffic", false, &mut input, &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--yes"));
        // stdin was not read.
        assert_eq!(input, b"prod\n");
    }

    #[test]
    fn typed_name_confirms_and_anything_else_refuses() {
        let mut prompt = Vec::new();
        prod()
            .confirm_with("x", true, &mut &b"prod\n"[..], &mut prompt)
            .unwrap();
        assert!(String::from_utf8(prompt).unwrap().contains("PRODUCTION"));
        assert!(
            prod()
                .confirm_with("x", true, &mut &b"yes\n"[..], &mut Vec::new())
                .is_err()
        );
    }

    #[test]
    fn yes_dry_run_and_staging_pass() {
        let mut s = prod();
        s.yes = true;
        assert!(
            s.confirm_with("x", false, &mut &b""[..], &mut Vec::new())
                .is_ok()
        );
        let mut s = prod();
        s.dry_run = true;
        assert!(
            s.confirm_with("x", false, &mut &b""[..], &mut Vec::new())
                .is_ok()
        );
        let s = Safety {
            env: Some("staging".into()),
            ..Default::default()
        };
        assert!(
            s.confirm_with("x", false, &mut &b""[..], &mut Vec::new())
                .is_ok()
        );
    }
}
