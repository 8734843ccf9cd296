//! One redaction mechanism for everything the toolkit writes: results and
//! messages ([`crate::output`]), the journal ([`crate::journal`]) and the
//! reports binaries write themselves (smoke-test's JUnit file).
//!
//! Two kinds of secret are masked as `***`:
//! - **Known values**: values of environment variables whose names look secret
//!   (`*SECRET*`, `*PASSWORD*`, `*TOKEN*`, `*API_KEY*`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_SESSION_TOKEN` ...; read once, on first use) and values a binary
//!   registers with [`register`] (smoke-test's `${VAR}` values from the
//!   environment, gate values marked secret). Each is masked raw, URL-encoded,
//!   JSON-escaped and base64-encoded.
//! - **Credential shapes**, whatever their value: `Authorization:` and
//!   `X-Api-Key:`-style header values, `Bearer`/`Basic` tokens, `token=`,
//!   `password=`, `secret=`, `api_key=` parameters, the user info of URLs
//!   (`https://user:pass@host`) and AWS access key ids (`AKIA...`, `ASIA...`).

use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Values shorter than this are not registered from the environment: masking
/// every `testing` or `1234` in the output would hide more than it protects.
pub const MIN_ENV_SECRET_LEN: usize = 8;

/// A set of known secret values, each with its encoded forms.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Every form of every value, longest first.
    forms: Vec<String>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `secret` in its raw, URL-encoded, form-encoded, JSON-escaped and
    /// base64 forms. Empty values are ignored.
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        for f in forms(secret) {
            if !f.is_empty() && !self.forms.contains(&f) {
                self.forms.push(f);
            }
        }
        self.forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` with every form of every known value masked.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for f in &self.forms {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), MASK);
            }
        }
        out
    }

    /// Masks every string (keys too) of a JSON value in place.
    pub fn mask_json(&self, v: &mut Value) {
        walk_json(v, &|s| self.mask(s));
    }
}

fn walk_json(v: &mut Value, f: &dyn Fn(&str) -> String) {
    match v {
        Value::String(s) => {
            let m = f(s);
            if m != *s {
                *s = m;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| walk_json(x, f)),
        Value::Object(o) => {
            let old = std::mem::take(o);
            for (k, mut x) in old {
                walk_json(&mut x, f);
                o.insert(f(&k), x);
            }
        }
        _ => {}
    }
}

/// The forms a value may be written in.
fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_owned()];
    let url = url_encode(secret, false);
    let form = url_encode(secret, true);
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(&json)
        .to_owned();
    // A JSON-escaped form written again as JSON (a JSON document in a string).
    let json2 = serde_json::to_string(&json).unwrap_or_default();
    let json2 = json2
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(&json2)
        .to_owned();
    let b64 = base64(secret.as_bytes(), false);
    let b64url = base64(secret.as_bytes(), true);
    for f in [
        url.clone(),
        lower_hex(&url),
        form,
        json,
        json2,
        b64.clone(),
        b64.trim_end_matches('=').to_owned(),
        b64url.trim_end_matches('=').to_owned(),
    ] {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// `%2F` written as `%2f` (some encoders use lower case).
fn lower_hex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            for _ in 0..2 {
                if let Some(h) = chars.next() {
                    out.push(h.to_ascii_lowercase());
                }
            }
        }
    }
    out
}

/// RFC 3986 percent-encoding of everything but unreserved characters; with
/// `form`, a space is `+` (application/x-www-form-urlencoded).
fn url_encode(s: &str, form: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' if form => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Standard (or URL-safe) base64 with padding. Hand-written: ten lines, where
/// a dependency would have to go into every binary's build for this alone.
fn base64(bytes: &[u8], url_safe: bool) -> String {
    let table: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether an environment variable's name says its value is a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    const WORDS: [&str; 9] = [
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "AUTH",
    ];
    WORDS.iter().any(|w| n.contains(w))
}

fn global() -> &'static Mutex<Redactor> {
    static GLOBAL: OnceLock<Mutex<Redactor>> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let mut r = Redactor::new();
        for (k, v) in std::env::vars() {
            if is_secret_name(&k) && v.chars().count() >= MIN_ENV_SECRET_LEN {
                r.add(&v);
            }
        }
        Mutex::new(r)
    })
}

/// Registers a value to be masked in everything this process writes from now on.
pub fn register(secret: &str) {
    global()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .add(secret);
}

/// `text` with known values and credential shapes masked: what every writer
/// of the toolkit passes its text through.
pub fn text(text: &str) -> String {
    let known = global()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .mask(text);
    shapes(&known)
}

/// Masks every string (keys too) of a JSON value in place, as [`text`] does.
pub fn json(v: &mut Value) {
    walk_json(v, &text);
}

/// A journal entry as it may be written: every text field and the
/// before/after documents masked (the caller's ARN is not a secret).
pub fn journal_entry(e: &crate::journal::Entry) -> crate::journal::Entry {
    let mut e = e.clone();
    e.target = text(&e.target);
    e.reason = e.reason.as_deref().map(text);
    e.message = e.message.as_deref().map(text);
    e.args = e.args.iter().map(|a| text(a)).collect();
    json(&mut e.before);
    json(&mut e.after);
    e
}

/// Header names whose whole value is a credential.
const HEADERS: [&str; 7] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-amz-security-token",
    "cookie",
];

/// Parameter names whose value is a credential (`name=value`).
const PARAMS: [&str; 13] = [
    "token",
    "access_token",
    "id_token",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
];

/// The `tracing` writer of every binary (`-v`, `-vv`, `RUST_LOG`): each
/// event is formatted into a buffer and written to stderr through [`text`]
/// when the subscriber drops the writer (once per event), so the SDK's debug
/// lines (request headers, credential ids) are masked like everything else.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One event's bytes, written masked on drop.
#[derive(Debug, Default)]
pub struct LogLine {
    buf: Vec<u8>,
}

impl std::io::Write for LogLine {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let masked = text(&String::from_utf8_lossy(&self.buf));
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), masked.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine::default()
    }
}

/// Masks credential shapes: header values, bearer/basic tokens, secret
/// parameters, URL user info and AWS access key ids.
pub fn shapes(text: &str) -> String {
    let mut out = text.to_owned();
    for h in HEADERS {
        out = mask_after(&out, h, &[':'], true, is_header_end);
    }
    for scheme in ["bearer", "basic"] {
        out = mask_after(&out, scheme, &[' '], false, is_token_end);
    }
    for p in PARAMS {
        out = mask_after(&out, p, &['=', ':'], false, is_token_end);
    }
    out = mask_userinfo(&out);
    mask_access_key_ids(&out)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// End of a header value: a quote, a newline, or the end of a JSON string.
fn is_header_end(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b'\n' | b'\r' | b'\\' | b'`')
}

/// End of a token: whitespace, quotes, separators.
fn is_token_end(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'"' | b'\'' | b'&' | b',' | b';' | b'\\' | b'`' | b')' | b'}' | b']' | b'<' | b'>'
        )
}

/// Masks what follows `name` (case-insensitive, a whole word) and one of
/// `seps` (after optional spaces) up to `end`. With `whole`, the value is
/// everything to the end (header values); else one token.
fn mask_after(text: &str, name: &str, seps: &[char], whole: bool, end: fn(u8) -> bool) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(pos) = lower[from..].find(name) {
        let start = from + pos;
        let after_name = start + name.len();
        from = after_name;
        if start > 0 && is_word_byte(bytes[start - 1])
            || bytes.get(after_name).is_some_and(|b| is_word_byte(*b))
        {
            continue;
        }
        // Optional spaces, the separator, optional spaces.
        let mut i = after_name;
        while i < bytes.len() && bytes[i] == b' ' && !seps.contains(&' ') {
            i += 1;
        }
        let Some(&sep) = bytes.get(i) else { continue };
        if !seps.contains(&(sep as char)) {
            continue;
        }
        i += 1;
        // JSON-escaped quotes around a value: `token=\"x\"` or `"token": "x"`.
        while i < bytes.len()
            && (bytes[i] == b' ' || (sep != b' ' && (bytes[i] == b'"' || bytes[i] == b'\\')))
        {
            i += 1;
        }
        let value_start = i;
        while i < bytes.len() && !end(bytes[i]) {
            i += 1;
        }
        // A header value ends at the end of the line; trailing spaces stay.
        let mut value_end = i;
        if whole {
            while value_end > value_start && bytes[value_end - 1] == b' ' {
                value_end -= 1;
            }
        }
        let value = &text[value_start..value_end];
        if value.is_empty() || value == MASK || value.starts_with("${") {
            continue;
        }
        // `Authorization: Bearer x` keeps the scheme word, masks the rest.
        let keep = if whole {
            value
                .split_once(' ')
                .filter(|(w, _)| {
                    matches!(
                        w.to_ascii_lowercase().as_str(),
                        "bearer" | "basic" | "token"
                    )
                })
                .map_or(0, |(w, _)| w.len() + 1)
        } else {
            0
        };
        out.push_str(&text[copied..value_start + keep]);
        out.push_str(MASK);
        copied = value_end;
        from = value_end;
    }
    out.push_str(&text[copied..]);
    out
}

/// `scheme://user:pass@host` -> `scheme://***@host`.
fn mask_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| {
                c == '/'
                    || c == '?'
                    || c == '#'
                    || c.is_whitespace()
                    || matches!(c, '"' | '\'' | '\\' | '`')
            })
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) if at > 0 && &authority[..at] != MASK => {
                out.push_str(MASK);
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// AWS access key ids: `AKIA`/`ASIA` and 16 upper-case letters or digits.
fn mask_access_key_ids(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i + 20 <= b.len() {
        let prefix = &b[i..i + 4];
        let boundary_before = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let boundary_after = b.get(i + 20).is_none_or(|c| !c.is_ascii_alphanumeric());
        if (prefix == b"AKIA" || prefix == b"ASIA")
            && boundary_before
            && boundary_after
            && b[i + 4..i + 20]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            out.push_str(&text[copied..i]);
            out.push_str(MASK);
            i += 20;
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_are_masked_in_every_form() {
        let mut r = Redactor::new();
        r.add("p@ss w/\"rd\"+1");
        for form in [
            "p@ss w/\"rd\"+1",
            "p%40ss%20w%2F%22rd%22%2B1",
            "p%40ss%20w%2f%22rd%22%2b1",
            "p%40ss+w%2F%22rd%22%2B1",
            "p@ss w/\\\"rd\\\"+1",
            &base64(b"p@ss w/\"rd\"+1", false),
        ] {
            let masked = r.mask(&format!("x {form} y"));
            assert_eq!(masked, "x *** y", "{form}");
        }
        let mut v = serde_json::json!({"a": ["p@ss w/\"rd\"+1"], "p@ss w/\"rd\"+1": 1});
        r.mask_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["***"], "***": 1}));
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b"", false), "");
        assert_eq!(base64(b"f", false), "Zg==");
        assert_eq!(base64(b"fo", false), "Zm8=");
        assert_eq!(base64(b"foo", false), "Zm9v");
        assert_eq!(base64(b"user:pass", false), "dXNlcjpwYXNz");
        assert_eq!(base64(&[0xfb, 0xff], true), "-_8=");
    }

    #[test]
    fn credential_shapes_are_masked() {
        let cases = [
            (
                r#"curl -H "Authorization: Bearer XYZ123" https://x"#,
                r#"curl -H "Authorization: Bearer ***" https://x"#,
            ),
            ("curl -H 'X-Api-Key: k-987' u", "curl -H 'X-Api-Key: ***' u"),
            ("Bearer abc.def", "Bearer ***"),
            (
                "https://a.example/x?token=t0k&x=1",
                "https://a.example/x?token=***&x=1",
            ),
            ("password=hunter22 next", "password=*** next"),
            ("postgres://admin:pw@db:5432/x", "postgres://***@db:5432/x"),
            ("key AKIAIOSFODNN7EXAMPLE end", "key *** end"),
            (
                r#"{"cmd":"curl -H \"Authorization: Bearer XYZ\""}"#,
                r#"{"cmd":"curl -H \"Authorization: Bearer ***\""}"#,
            ),
            ("nothing secret here: a=b", "nothing secret here: a=b"),
            (
                "tokens=5 authorization_count=2",
                "tokens=5 authorization_count=2",
            ),
            (
                "headers = { Authorization = \"Bearer ${API_TOKEN}\" }",
                "headers = { Authorization = \"Bearer ${API_TOKEN}\" }",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(shapes(input), want, "{input}");
        }
    }

    /// The child half of [`log_lines_are_masked`]: logs as a binary does at `-v`.
    #[test]
    fn log_child_writes_secrets() {
        if std::env::var_os("LTC_LOG_TEST_CHILD").is_none() {
            return;
        }
        crate::cli::init_tracing(1);
        tracing::info!("signing with AKIAIOSFODNN7EXAMPLE");
        tracing::info!("header authorization: Bearer log-tok-98765");
        tracing::info!(
            "env value {}",
            std::env::var("LTC_TEST_API_TOKEN").unwrap_or_default()
        );
    }

    #[test]
    fn log_lines_are_masked() {
        let secret = "log-secret-value-4242";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "redact::tests::log_child_writes_secrets",
                "--nocapture",
            ])
            .env("LTC_LOG_TEST_CHILD", "1")
            .env("LTC_TEST_API_TOKEN", secret)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        for s in ["AKIAIOSFODNN7EXAMPLE", "log-tok-98765", secret] {
            assert!(!err.contains(s), "{s} leaked:\n{err}");
        }
        assert!(err.contains("signing with ***"), "{err}");
        assert!(err.contains("env value ***"), "{err}");
    }

    #[test]
    fn secret_names() {
        assert!(is_secret_name("API_TOKEN"));
        assert!(is_secret_name("AWS_SECRET_ACCESS_KEY"));
        assert!(is_secret_name("db_password"));
        assert!(!is_secret_name("AWS_REGION"));
        assert!(!is_secret_name("HOME"));
    }
}
