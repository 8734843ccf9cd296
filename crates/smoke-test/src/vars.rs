//! `${NAME}` placeholders in checks files, filled from `--var NAME=VALUE` first and
//! the environment second, and the masking of every value taken from the
//! environment (tokens, passwords) as `***` in all output.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Where placeholder values come from, and which of them are secrets.
#[derive(Debug, Clone)]
pub struct Vars {
    given: BTreeMap<String, String>,
    env: fn(&str) -> Option<String>,
    masker: Masker,
}

fn real_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Vars {
    /// `--var` pairs plus the process environment.
    pub fn new(given: &[(String, String)]) -> Self {
        Self::with_env(given, real_env)
    }

    pub fn with_env(given: &[(String, String)], env: fn(&str) -> Option<String>) -> Self {
        Vars {
            given: given.iter().cloned().collect(),
            env,
            masker: Masker::default(),
        }
    }

    /// The masker that hides every environment value used so far.
    pub fn masker(&self) -> Masker {
        self.masker.clone()
    }

    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.given.get(name) {
            return Some(v.clone());
        }
        let v = (self.env)(name)?;
        self.masker.add(&v);
        Some(v)
    }

    /// Replaces every `${NAME}`. On error, returns the byte offset of the bad
    /// placeholder within `s` and a message.
    pub fn substitute(&self, s: &str) -> Result<String, (usize, String)> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        let mut offset = 0;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| (offset + start, "unterminated ${ (write ${NAME})".to_owned()))?;
            let name = &after[..end];
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err((
                    offset + start,
                    format!("bad variable name {name:?} in ${{...}} (letters, digits and _)"),
                ));
            }
            let value = self.lookup(name).ok_or_else(|| {
                (
                    offset + start,
                    format!("${{{name}}} is not set: pass --var {name}=VALUE or export {name}"),
                )
            })?;
            out.push_str(&value);
            let consumed = start + 2 + end + 1;
            offset += consumed;
            rest = &rest[consumed..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Replaces secret values with `***`. Shared (cheaply cloned) so every output
/// path masks the same set.
/// The values to hide, shared by every clone: a [`common::redact::Redactor`]
/// (raw, URL-encoded, JSON-escaped and base64 forms). Each value is also
/// registered with `common::redact`, so the toolkit's own writers (stdout,
/// stderr, journal) mask it too.
/// The shortest value also registered with `common::redact`.
pub const GLOBAL_MIN_LEN: usize = 6;

#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Arc<Mutex<common::redact::Redactor>>,
}

impl Masker {
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(secret);
        // Everything the process writes masks it too; very short values only
        // here (masking every `1` of a run's output would hide the output).
        if secret.chars().count() >= GLOBAL_MIN_LEN {
            common::redact::register(secret);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// `text` with every form of every secret as `***`.
    pub fn mask(&self, text: &str) -> String {
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .mask(text)
    }

    pub fn mask_json(&self, v: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .mask_json(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_env(name: &str) -> Option<String> {
        match name {
            "API_TOKEN" => Some("s3cr3t-token".into()),
            "HOST" => Some("example.internal".into()),
            _ => None,
        }
    }

    #[test]
    fn vars_win_over_env_and_only_env_values_are_masked() {
        let vars = Vars::with_env(&[("HOST".into(), "127.0.0.1".into())], fake_env);
        let s = vars
            .substitute("https://${HOST}/x?t=${API_TOKEN}&again=${API_TOKEN}")
            .unwrap();
        assert_eq!(s, "https://127.0.0.1/x?t=s3cr3t-token&again=s3cr3t-token");
        let m = vars.masker();
        assert_eq!(m.mask(&s), "https://127.0.0.1/x?t=***&again=***");
    }

    #[test]
    fn unknown_and_malformed_placeholders_say_where() {
        let vars = Vars::with_env(&[], fake_env);
        let (at, msg) = vars.substitute("abc ${NOPE} x").unwrap_err();
        assert_eq!(at, 4);
        assert!(msg.contains("--var NOPE=VALUE"), "{msg}");
        let (at, msg) = vars.substitute("${HOST} ${bad-name}").unwrap_err();
        assert_eq!(at, 8);
        assert!(msg.contains("bad variable name"), "{msg}");
        let (at, _) = vars.substitute("x ${HOST").unwrap_err();
        assert_eq!(at, 2);
    }

    #[test]
    fn text_without_placeholders_is_unchanged() {
        let vars = Vars::with_env(&[], fake_env);
        assert_eq!(
            vars.substitute("$.items[0] $5 {x}").unwrap(),
            "$.items[0] $5 {x}"
        );
        assert!(vars.masker().is_empty());
    }

    #[test]
    fn json_strings_and_keys_are_masked() {
        let m = Masker::default();
        m.add("hunter2");
        let mut v =
            serde_json::json!({"url": "http://x/?p=hunter2", "list": ["hunter2"], "hunter2": 1});
        m.mask_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"url": "http://x/?p=***", "list": ["***"], "***": 1})
        );
    }

    // Regression (issue 16): the URL-encoded and JSON-escaped forms of a
    // secret from the environment reached stdout.
    #[test]
    fn encoded_forms_are_masked_on_stdout_too() {
        let secret = "Zq9\"sec/ret+val 1";
        Masker::default().add(secret);
        let (out, stdout, _) = common::Output::captured(true);
        out.result(&serde_json::json!({
            "url": "https://h/x?t=Zq9%22sec%2Fret%2Bval%201",
            "form": "t=Zq9%22sec%2Fret%2Bval+1",
            "body": secret,
        }))
        .unwrap();
        let text = stdout.text();
        for form in [
            secret,
            "Zq9%22sec%2Fret%2Bval%201",
            "Zq9%22sec%2Fret%2Bval+1",
            "Zq9\\\"sec/ret+val 1",
        ] {
            assert!(!text.contains(form), "{form} in {text}");
        }
        assert!(text.contains("***"), "{text}");
    }
}
