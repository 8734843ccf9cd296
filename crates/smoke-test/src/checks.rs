//! The checks file (TOML): parsing with line and column in every error, `${NAME}`
//! substitution, and the pure evaluation of a response against a check's
//! expectations. The format is documented in the crate docs (`lib.rs`) and shown
//! in `examples/checks.toml`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use regex::Regex;
use reqwest::Method;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json_path::JsonPath;
use toml::Spanned;

use crate::report::ErrorKind;
use crate::vars::Vars;

/// Default request timeout when neither the file nor `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default pause between attempts of a check with retries.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Upper bound on retries: a check that needs more is waiting for a deploy, not smoke testing.
pub const MAX_RETRIES: u32 = 1000;

// ---------------------------------------------------------------------------
// What the file looks like (serde), every field that can be wrong with a span.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default, rename = "check")]
    checks: Vec<Spanned<RawCheck>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    base_url: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    retries: Option<Spanned<i64>>,
    interval: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: Option<Spanned<String>>,
    method: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<Spanned<String>, Spanned<String>>,
    body: Option<Spanned<String>>,
    json: Option<Spanned<toml::Value>>,
    timeout: Option<Spanned<String>>,
    retries: Option<Spanned<i64>>,
    interval: Option<Spanned<String>>,
    #[serde(default)]
    expect: RawExpect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    status: Option<Spanned<toml::Value>>,
    body_contains: Option<Spanned<toml::Value>>,
    body_regex: Option<Spanned<String>>,
    max_latency: Option<Spanned<String>>,
    #[serde(default)]
    json: Vec<Spanned<RawJsonExpect>>,
    #[serde(default)]
    header: Vec<Spanned<RawHeaderExpect>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJsonExpect {
    path: Spanned<String>,
    equals: Option<Spanned<toml::Value>>,
    exists: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeaderExpect {
    name: Spanned<String>,
    equals: Option<Spanned<String>>,
    matches: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------
// What a check is once resolved.

/// Accepted status codes: single codes and inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSpec(Vec<(u16, u16)>);

impl Default for StatusSpec {
    /// Any 2xx.
    fn default() -> Self {
        StatusSpec(vec![(200, 299)])
    }
}

impl StatusSpec {
    /// One item: `200`, `2xx`, `200-299`.
    fn parse_item(s: &str) -> Result<(u16, u16), String> {
        let s = s.trim();
        let bad = || {
            format!(
                "bad status {}: use a code (200), a class (2xx) or a range (200-299)",
                common::quote(s)
            )
        };
        let code = |t: &str| -> Result<u16, String> {
            match t.trim().parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => Ok(c),
                _ => Err(bad()),
            }
        };
        if let Some(class) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
            let d: u16 = class.parse().map_err(|_| bad())?;
            if !(1..=5).contains(&d) {
                return Err(bad());
            }
            return Ok((d * 100, d * 100 + 99));
        }
        if let Some((a, b)) = s.split_once('-') {
            let (a, b) = (code(a)?, code(b)?);
            if a > b {
                return Err(bad());
            }
            return Ok((a, b));
        }
        code(s).map(|c| (c, c))
    }

    /// A comma-separated list, as given to `--expect-status`: `200,204`, `2xx,304`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let items = s
            .split(',')
            .map(Self::parse_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StatusSpec(items))
    }

    fn from_toml(v: &toml::Value) -> Result<Self, String> {
        let one = |v: &toml::Value| match v {
            toml::Value::Integer(i) => Self::parse_item(&i.to_string()),
            toml::Value::String(s) => Self::parse_item(s),
            other => Err(format!(
                "bad status {other}: use a code (200), a class (\"2xx\"), a range (\"200-299\") or a list"
            )),
        };
        match v {
            toml::Value::Array(items) if !items.is_empty() => {
                Ok(StatusSpec(items.iter().map(one).collect::<Result<_, _>>()?))
            }
            toml::Value::Array(_) => Err("status list is empty".into()),
            v => Ok(StatusSpec(vec![one(v)?])),
        }
    }

    pub fn accepts(&self, code: u16) -> bool {
        self.0.iter().any(|(a, b)| (*a..=*b).contains(&code))
    }
}

impl fmt::Display for StatusSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else if a % 100 == 0 && *b == a + 99 {
                    format!("{}xx", a / 100)
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

#[derive(Debug, Clone)]
pub struct JsonExpectation {
    pub path_text: String,
    pub path: JsonPath,
    pub want: JsonWant,
}

#[derive(Debug, Clone)]
pub enum JsonWant {
    Equals(serde_json::Value),
    Exists(bool),
}

#[derive(Debug, Clone)]
pub struct HeaderExpectation {
    pub name: HeaderName,
    pub want: HeaderWant,
}

#[derive(Debug, Clone)]
pub enum HeaderWant {
    Exists,
    Equals(String),
    Matches(Regex),
}

/// Everything a response must satisfy.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub status: StatusSpec,
    pub body_contains: Vec<String>,
    pub body_regex: Option<Regex>,
    pub json: Vec<JsonExpectation>,
    pub headers: Vec<HeaderExpectation>,
    pub max_latency: Option<Duration>,
}

/// One resolved check, ready to send.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
    /// Extra attempts after a failed one (checks files and `get --retries`; not in `load`).
    pub retries: u32,
    pub interval: Duration,
    pub expect: Expectations,
}

/// What came back, as the evaluation sees it.
#[derive(Debug)]
pub struct Observed<'a> {
    pub status: u16,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub latency: Duration,
}

/// One broken expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub reason: String,
}

impl Expectations {
    /// Every expectation the response breaks, status first; empty when it passes.
    pub fn evaluate(&self, o: &Observed<'_>) -> Vec<Failure> {
        let mut out = Vec::new();
        let mut fail = |kind, reason: String| out.push(Failure { kind, reason });
        if !self.status.accepts(o.status) {
            fail(
                ErrorKind::Status,
                format!("status {}, expected {}", o.status, self.status),
            );
        }
        if let Some(max) = self.max_latency
            && o.latency > max
        {
            fail(
                ErrorKind::Assertion,
                format!(
                    "took {}ms, more than max_latency {}ms",
                    o.latency.as_millis(),
                    max.as_millis()
                ),
            );
        }
        let text = String::from_utf8_lossy(o.body);
        for needle in &self.body_contains {
            if !text.contains(needle.as_str()) {
                fail(
                    ErrorKind::Assertion,
                    format!("body does not contain {needle:?}"),
                );
            }
        }
        if let Some(re) = &self.body_regex
            && !re.is_match(&text)
        {
            fail(
                ErrorKind::Assertion,
                format!("body does not match /{}/", re.as_str()),
            );
        }
        if !self.json.is_empty() {
            match serde_json::from_slice::<serde_json::Value>(o.body) {
                Err(e) => fail(
                    ErrorKind::Assertion,
                    format!(
                        "body is not JSON ({}), cannot check JSON paths",
                        e.classify_name()
                    ),
                ),
                Ok(doc) => {
                    for j in &self.json {
                        if let Some(reason) = check_json(j, &doc) {
                            fail(ErrorKind::Assertion, reason);
                        }
                    }
                }
            }
        }
        for h in &self.headers {
            let got = o
                .headers
                .get(&h.name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()));
            let reason = match (&h.want, got) {
                (_, None) => Some(format!("header {} is missing", h.name)),
                (HeaderWant::Exists, Some(_)) => None,
                (HeaderWant::Equals(want), Some(got)) if got.as_ref() == want => None,
                (HeaderWant::Equals(want), Some(got)) => {
                    Some(format!("header {} is {got:?}, expected {want:?}", h.name))
                }
                (HeaderWant::Matches(re), Some(got)) if re.is_match(&got) => None,
                (HeaderWant::Matches(re), Some(got)) => Some(format!(
                    "header {} is {got:?}, does not match /{}/",
                    h.name,
                    re.as_str()
                )),
            };
            if let Some(r) = reason {
                fail(ErrorKind::Assertion, r);
            }
        }
        out
    }

    /// True when the body must be read and kept for evaluation.
    pub fn needs_body(&self) -> bool {
        !self.body_contains.is_empty() || self.body_regex.is_some() || !self.json.is_empty()
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "data error",
            serde_json::error::Category::Eof => "unexpected end",
        }
    }
}

fn check_json(j: &JsonExpectation, doc: &serde_json::Value) -> Option<String> {
    let nodes = j.path.query(doc).all();
    match &j.want {
        JsonWant::Exists(true) if nodes.is_empty() => {
            Some(format!("{} matches nothing", j.path_text))
        }
        JsonWant::Exists(false) if !nodes.is_empty() => {
            Some(format!("{} exists, expected it absent", j.path_text))
        }
        JsonWant::Exists(_) => None,
        JsonWant::Equals(want) => match nodes.as_slice() {
            [] => Some(format!("{} matches nothing, expected {want}", j.path_text)),
            [one] if json_equal(one, want) => None,
            [one] => Some(format!(
                "{} is {}, expected {want}",
                j.path_text,
                excerpt_json(one)
            )),
            many => {
                let got = serde_json::Value::Array(many.iter().map(|v| (*v).clone()).collect());
                if json_equal(&got, want) {
                    None
                } else {
                    Some(format!(
                        "{} matches {} values {}, expected {want}",
                        j.path_text,
                        many.len(),
                        excerpt_json(&got)
                    ))
                }
            }
        },
    }
}

fn excerpt_json(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// JSON equality where `1` equals `1.0` (TOML integers against JSON numbers).
pub fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------
// Parsing and resolving a file.

/// A checks file error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// Options from the command line that shape the resolved checks.
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// `--base-url`, overriding the file's `defaults.base_url`.
    pub base_url: Option<String>,
    /// `--timeout`, used when the file sets none.
    pub timeout: Option<Duration>,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    vars: &'a Vars,
}

impl Ctx<'_> {
    fn at(&self, offset: usize, message: impl Into<String>) -> FileError {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        FileError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    fn err<T>(&self, s: &Spanned<T>, message: impl Into<String>) -> FileError {
        self.at(s.span().start, message)
    }

    /// Substitutes `${NAME}` in a string value, pointing errors at the placeholder.
    fn subst(&self, s: &Spanned<String>) -> Result<String, FileError> {
        self.vars.substitute(s.get_ref()).map_err(|(at, msg)| {
            // Skip the opening quote(s) of the TOML string so the column lands on `$`.
            let raw = &self.text[s.span()];
            let quote = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
                3
            } else if raw.starts_with('"') || raw.starts_with('\'') {
                1
            } else {
                0
            };
            self.at(s.span().start + quote + at, msg)
        })
    }

    fn duration(&self, s: &Spanned<String>, what: &str) -> Result<Duration, FileError> {
        s.get_ref()
            .parse::<common::HumanDuration>()
            .map(|d| d.0)
            .map_err(|e| self.err(s, format!("{what}: {e}")))
    }

    fn retries(&self, s: &Spanned<i64>) -> Result<u32, FileError> {
        match u32::try_from(*s.get_ref()) {
            Ok(n) if n <= MAX_RETRIES => Ok(n),
            _ => Err(self.err(s, format!("retries must be 0 to {MAX_RETRIES}"))),
        }
    }

    fn regex(&self, s: &Spanned<String>) -> Result<Regex, FileError> {
        let pattern = self.subst(s)?;
        Regex::new(&pattern).map_err(|e| {
            let msg = e.to_string();
            let last = msg.lines().last().unwrap_or("invalid").trim().to_owned();
            self.err(s, format!("bad regex: {last}"))
        })
    }

    fn headers(
        &self,
        raw: &BTreeMap<Spanned<String>, Spanned<String>>,
        into: &mut HeaderMap,
    ) -> Result<(), FileError> {
        for (k, v) in raw {
            let name = HeaderName::from_bytes(k.get_ref().trim().as_bytes()).map_err(|_| {
                self.err(k, format!("bad header name {}", common::quote(k.get_ref())))
            })?;
            let value = self.subst(v)?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| self.err(v, format!("bad value for header {name}")))?;
            into.insert(name, value);
        }
        Ok(())
    }
}

/// Parses and resolves a checks file. Every error carries line and column.
pub fn parse_file(
    file: &str,
    text: &str,
    vars: &Vars,
    opts: &FileOptions,
) -> Result<Vec<Check>, FileError> {
    let cx = Ctx { file, text, vars };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let msg = common::clip(&e.message().trim().replace('\n', "; "));
        match e.span() {
            Some(span) => cx.at(span.start, msg),
            None => FileError {
                file: file.to_owned(),
                line: 0,
                column: 0,
                message: msg,
            },
        }
    })?;
    if raw.checks.is_empty() {
        return Err(cx.at(
            text.len(),
            "no checks: add at least one [[check]] table with a name and a url or path",
        ));
    }

    let d = &raw.defaults;
    let base_url = match (&opts.base_url, &d.base_url) {
        (Some(flag), _) => Some(parse_url(flag).map_err(|e| FileError {
            file: "--base-url".into(),
            line: 0,
            column: 0,
            message: e,
        })?),
        (None, Some(b)) => Some(parse_url(&cx.subst(b)?).map_err(|e| cx.err(b, e))?),
        (None, None) => None,
    };
    let timeout = match &d.timeout {
        Some(t) => cx.duration(t, "timeout")?,
        None => opts.timeout.unwrap_or(DEFAULT_TIMEOUT),
    };
    let retries = d
        .retries
        .as_ref()
        .map(|r| cx.retries(r))
        .transpose()?
        .unwrap_or(0);
    let interval = match &d.interval {
        Some(i) => cx.duration(i, "interval")?,
        None => DEFAULT_INTERVAL,
    };
    let mut default_headers = HeaderMap::new();
    cx.headers(&d.headers, &mut default_headers)?;

    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.checks.len());
    for sc in &raw.checks {
        let c = sc.get_ref();
        let name = match &c.name {
            Some(n) if !n.get_ref().trim().is_empty() => n,
            Some(n) => return Err(cx.err(n, "check name is empty")),
            None => return Err(cx.err(sc, "check has no name (add name = \"...\")")),
        };
        let name_text = cx.subst(name)?;
        if !names.insert(name_text.clone()) {
            return Err(cx.err(
                name,
                format!("duplicate check name {}", common::quote(&name_text)),
            ));
        }
        let method = match &c.method {
            Some(m) => {
                let up = m.get_ref().trim().to_ascii_uppercase();
                Method::from_bytes(up.as_bytes())
                    .map_err(|_| cx.err(m, format!("bad method {}", common::quote(m.get_ref()))))?
            }
            None => Method::GET,
        };
        let url = match (&c.url, &c.path) {
            (Some(_), Some(p)) => return Err(cx.err(p, "give either url or path, not both")),
            (Some(u), None) => parse_url(&cx.subst(u)?).map_err(|e| cx.err(u, e))?,
            (None, Some(p)) => {
                let base = base_url.as_ref().ok_or_else(|| {
                    cx.err(
                        p,
                        "path needs a base URL: set [defaults] base_url or pass --base-url",
                    )
                })?;
                let joined = join_path(base, &cx.subst(p)?);
                parse_url(&joined).map_err(|e| cx.err(p, e))?
            }
            (None, None) => {
                return Err(cx.err(
                    name,
                    format!("check {} has no url or path", common::quote(&name_text)),
                ));
            }
        };
        let mut headers = default_headers.clone();
        cx.headers(&c.headers, &mut headers)?;
        let body = match (&c.body, &c.json) {
            (Some(_), Some(j)) => return Err(cx.err(j, "give either body or json, not both")),
            (Some(b), None) => Some(cx.subst(b)?.into_bytes()),
            (None, Some(j)) => {
                let mut v = serde_json::to_value(j.get_ref())
                    .map_err(|e| cx.err(j, format!("json body: {e}")))?;
                subst_json(&mut v, vars).map_err(|(_, msg)| cx.err(j, msg))?;
                if !headers.contains_key(reqwest::header::CONTENT_TYPE) {
                    headers.insert(
                        reqwest::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
                Some(v.to_string().into_bytes())
            }
            (None, None) => None,
        };
        let expect = resolve_expect(&cx, &c.expect)?;
        out.push(Check {
            name: name_text,
            method,
            url,
            headers,
            body,
            timeout: c
                .timeout
                .as_ref()
                .map(|t| cx.duration(t, "timeout"))
                .transpose()?
                .unwrap_or(timeout),
            retries: c
                .retries
                .as_ref()
                .map(|r| cx.retries(r))
                .transpose()?
                .unwrap_or(retries),
            interval: c
                .interval
                .as_ref()
                .map(|i| cx.duration(i, "interval"))
                .transpose()?
                .unwrap_or(interval),
            expect,
        });
    }
    Ok(out)
}

fn resolve_expect(cx: &Ctx<'_>, e: &RawExpect) -> Result<Expectations, FileError> {
    let status = match &e.status {
        Some(s) => StatusSpec::from_toml(s.get_ref()).map_err(|m| cx.err(s, m))?,
        None => StatusSpec::default(),
    };
    let body_contains = match &e.body_contains {
        None => Vec::new(),
        Some(s) => {
            let items: Vec<String> = match s.get_ref() {
                toml::Value::String(one) => vec![one.clone()],
                toml::Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        cx.err(s, "body_contains must be a string or a list of strings")
                    })?,
                _ => return Err(cx.err(s, "body_contains must be a string or a list of strings")),
            };
            items
                .iter()
                .map(|i| cx.vars.substitute(i).map_err(|(_, m)| cx.err(s, m)))
                .collect::<Result<_, _>>()?
        }
    };
    let body_regex = e.body_regex.as_ref().map(|r| cx.regex(r)).transpose()?;
    let max_latency = e
        .max_latency
        .as_ref()
        .map(|m| cx.duration(m, "max_latency"))
        .transpose()?;
    let mut json = Vec::new();
    for sj in &e.json {
        let j = sj.get_ref();
        let path_text = j.path.get_ref().clone();
        let path = JsonPath::parse(&path_text).map_err(|err| {
            cx.err(
                &j.path,
                format!(
                    "bad JSON path {} (RFC 9535): {}",
                    common::quote(&path_text),
                    common::clip(&err.to_string())
                ),
            )
        })?;
        let want = match (&j.equals, j.exists) {
            (Some(_), Some(_)) => {
                return Err(cx.err(sj, "give either equals or exists for a JSON path, not both"));
            }
            (Some(v), None) => {
                let mut want = serde_json::to_value(v.get_ref())
                    .map_err(|e| cx.err(v, format!("equals: {e}")))?;
                subst_json(&mut want, cx.vars).map_err(|(_, m)| cx.err(v, m))?;
                JsonWant::Equals(want)
            }
            (None, Some(b)) => JsonWant::Exists(b),
            (None, None) => JsonWant::Exists(true),
        };
        json.push(JsonExpectation {
            path_text,
            path,
            want,
        });
    }
    let mut headers = Vec::new();
    for sh in &e.header {
        let h = sh.get_ref();
        let name = HeaderName::from_bytes(h.name.get_ref().trim().as_bytes()).map_err(|_| {
            cx.err(
                &h.name,
                format!("bad header name {}", common::quote(h.name.get_ref())),
            )
        })?;
        let want = match (&h.equals, &h.matches) {
            (Some(_), Some(m)) => {
                return Err(cx.err(m, "give either equals or matches for a header, not both"));
            }
            (Some(eq), None) => HeaderWant::Equals(cx.subst(eq)?),
            (None, Some(m)) => HeaderWant::Matches(cx.regex(m)?),
            (None, None) => HeaderWant::Exists,
        };
        headers.push(HeaderExpectation { name, want });
    }
    Ok(Expectations {
        status,
        body_contains,
        body_regex,
        json,
        headers,
        max_latency,
    })
}

fn subst_json(v: &mut serde_json::Value, vars: &Vars) -> Result<(), (usize, String)> {
    match v {
        serde_json::Value::String(s) => *s = vars.substitute(s)?,
        serde_json::Value::Array(a) => {
            for x in a {
                subst_json(x, vars)?;
            }
        }
        serde_json::Value::Object(o) => {
            for (_, x) in o.iter_mut() {
                subst_json(x, vars)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `base` + `path` as an operator reads them: `https://h/app` + `/api/health` is
/// `https://h/app/api/health` (not the RFC 3986 merge, which would drop `/app`).
pub fn join_path(base: &Url, path: &str) -> String {
    let b = base.as_str().trim_end_matches('/');
    if path.starts_with('/') {
        format!("{b}{path}")
    } else {
        format!("{b}/{path}")
    }
}

/// An absolute http(s) URL with a host.
pub fn parse_url(s: &str) -> Result<Url, String> {
    let q = common::quote(s);
    let url = Url::parse(s.trim()).map_err(|e| format!("bad URL {q}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("bad URL {q}: only http and https are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("bad URL {q}: no host"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "tok-123".to_owned())
    }

    fn parse(text: &str) -> Result<Vec<Check>, FileError> {
        parse_file(
            "checks.toml",
            text,
            &Vars::with_env(&[("HOST".into(), "127.0.0.1:9".into())], env),
            &FileOptions::default(),
        )
    }

    fn observed<'a>(status: u16, headers: &'a HeaderMap, body: &'a str) -> Observed<'a> {
        Observed {
            status,
            headers,
            body: body.as_bytes(),
            latency: Duration::from_millis(20),
        }
    }

    const EXAMPLE: &str = include_str!("../examples/checks.toml");

    #[test]
    fn the_shipped_example_parses() {
        let vars = Vars::with_env(&[], |name| match name {
            "API_TOKEN" => Some("t".into()),
            _ => None,
        });
        let checks = parse_file(
            "examples/checks.toml",
            EXAMPLE,
            &vars,
            &FileOptions {
                base_url: Some("http://127.0.0.1:8080".into()),
                timeout: None,
            },
        )
        .unwrap();
        assert!(checks.len() >= 3);
        assert!(checks.iter().all(|c| c.url.host_str() == Some("127.0.0.1")));
    }

    #[test]
    fn a_full_check_resolves() {
        let checks = parse(
            r#"
[defaults]
base_url = "http://${HOST}/app/"
timeout = "3s"
headers = { "User-Agent" = "smoke" }

[[check]]
name = "health"
path = "/api/health"
method = "post"
headers = { Authorization = "Bearer ${TOKEN}" }
json = { probe = "${HOST}", n = 1 }
retries = 3
interval = "250ms"

[check.expect]
status = [200, "3xx", "401-403"]
body_contains = "ok"
max_latency = "500ms"

[[check.expect.json]]
path = "$.status"
equals = "ok"

[[check.expect.header]]
name = "content-type"
matches = "^application/json"
"#,
        )
        .unwrap();
        let c = &checks[0];
        assert_eq!(c.url.as_str(), "http://127.0.0.1:9/app/api/health");
        assert_eq!(c.method, Method::POST);
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!((c.retries, c.interval), (3, Duration::from_millis(250)));
        assert_eq!(c.headers["authorization"], "Bearer tok-123");
        assert_eq!(c.headers["user-agent"], "smoke");
        assert_eq!(c.headers["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_slice(c.body.as_ref().unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"probe": "127.0.0.1:9", "n": 1}));
        assert_eq!(c.expect.status.to_string(), "200, 3xx, 401-403");
        assert!(c.expect.status.accepts(402) && !c.expect.status.accepts(404));
        assert_eq!(c.expect.max_latency, Some(Duration::from_millis(500)));
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let cases: &[(&str, (usize, usize), &str)] = &[
            (
                "[[check]]\nname = \"a\"\nurl = \"http://x\"\nexpect = { status = 99 }\n",
                (4, 21),
                "bad status",
            ),
            (
                "[[check]]\nname = \"a\"\nurl = \"ftp://x\"\n",
                (3, 7),
                "only http and https",
            ),
            (
                "[[check]]\nname = \"a\"\npath = \"/x\"\n",
                (3, 8),
                "needs a base URL",
            ),
            (
                "[[check]]\nname = \"a\"\nurl = \"http://x/${NOPE}\"\n",
                (3, 17),
                "${NOPE} is not set",
            ),
            (
                "[[check]]\nname = \"a\"\nurl = \"http://x\"\nstatus = 200\n",
                (4, 1),
                "unknown field",
            ),
            (
                "[[check]]\nname = \"a\"\nurl = \"http://x\"\n[check.expect]\nbody_regex = \"(\"\n",
                (5, 14),
                "bad regex",
            ),
            (
                "[[check]]\nname = \"a\"\nurl = \"http://x\"\n[[check.expect.json]]\npath = \"status\"\n",
                (5, 8),
                "bad JSON path",
            ),
            (
                "[[check]]\nname = \"a\"\nurl = \"http://x\"\ntimeout = \"5\"\n",
                (4, 11),
                "no unit",
            ),
            (
                "[[check]]\nname = \"a\"\nurl = \"http://x\"\n[[check]]\nname = \"a\"\nurl = \"http://y\"\n",
                (5, 8),
                "duplicate check name",
            ),
            (
                "[[check]]\nname = \"a\"\nurl = \"http://x\n",
                (3, 16),
                "invalid basic string",
            ),
            ("[[check]]\nurl = \"http://x\"\n", (1, 1), "has no name"),
            ("# nothing\n", (2, 1), "no checks"),
            (
                "[[check]]\nname = \"a\"\nurl = \"http://x\"\nretries = -1\n",
                (4, 11),
                "retries must be",
            ),
        ];
        for (text, (line, col), needle) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!((e.line, e.column), (*line, *col), "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("checks.toml:{line}:{col}: ")),
                "{shown}"
            );
            assert!(!shown.contains('\n'), "one line: {shown}");
        }
    }

    #[test]
    fn status_specs_parse_and_reject() {
        assert!(StatusSpec::parse("200,204").unwrap().accepts(204));
        assert!(StatusSpec::parse("2xx").unwrap().accepts(299));
        assert!(!StatusSpec::parse("2xx").unwrap().accepts(300));
        assert!(StatusSpec::parse("500-503").unwrap().accepts(502));
        for bad in ["", "abc", "600", "9xx", "300-200", "20x"] {
            assert!(StatusSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(StatusSpec::default().to_string(), "2xx");
    }

    #[test]
    fn evaluation_reports_every_broken_expectation() {
        let checks = parse(
            r#"
[[check]]
name = "a"
url = "http://x"
[check.expect]
status = 200
body_contains = ["ok", "db"]
body_regex = 'version":\s*"\d'
max_latency = "10ms"
[[check.expect.json]]
path = "$.status"
equals = "ok"
[[check.expect.json]]
path = "$.items[*].id"
equals = [1, 2]
[[check.expect.json]]
path = "$.debug"
exists = false
[[check.expect.header]]
name = "x-version"
equals = "2"
"#,
        )
        .unwrap();
        let e = &checks[0].expect;
        let mut h = HeaderMap::new();
        h.insert("x-version", HeaderValue::from_static("2"));
        let good = r#"{"status":"ok","db":"up","version":"3","items":[{"id":1},{"id":2.0}]}"#;
        let mut o = observed(200, &h, good);
        o.latency = Duration::from_millis(5);
        assert_eq!(e.evaluate(&o), vec![]);

        let h2 = HeaderMap::new();
        let bad = r#"{"status":"degraded","items":[{"id":1}],"debug":true}"#;
        let fails = e.evaluate(&observed(503, &h2, bad));
        let reasons: Vec<&str> = fails.iter().map(|f| f.reason.as_str()).collect();
        assert_eq!(fails[0].kind, ErrorKind::Status);
        assert_eq!(reasons[0], "status 503, expected 200");
        assert!(
            reasons.contains(&"took 20ms, more than max_latency 10ms"),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&"body does not contain \"db\""),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.starts_with("body does not match")),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&"$.status is \"degraded\", expected \"ok\""),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&"$.items[*].id is 1, expected [1,2]"),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&"$.debug exists, expected it absent"),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&"header x-version is missing"),
            "{reasons:?}"
        );
        assert!(fails[1..].iter().all(|f| f.kind == ErrorKind::Assertion));
    }

    #[test]
    fn json_paths_on_a_non_json_body_fail_cleanly() {
        let checks = parse(
            "[[check]]\nname = \"a\"\nurl = \"http://x\"\n[[check.expect.json]]\npath = \"$.a\"\n",
        )
        .unwrap();
        let h = HeaderMap::new();
        let fails = checks[0].expect.evaluate(&observed(200, &h, "<html>"));
        assert_eq!(fails.len(), 1);
        assert!(
            fails[0].reason.starts_with("body is not JSON"),
            "{:?}",
            fails[0]
        );
    }

    #[test]
    fn base_url_flag_wins_and_joins_like_an_operator_expects() {
        let checks = parse_file(
            "c.toml",
            "[defaults]\nbase_url = \"http://a\"\n[[check]]\nname = \"x\"\npath = \"health\"\n",
            &Vars::with_env(&[], env),
            &FileOptions {
                base_url: Some("http://127.0.0.1:8/v1".into()),
                timeout: Some(Duration::from_secs(2)),
            },
        )
        .unwrap();
        assert_eq!(checks[0].url.as_str(), "http://127.0.0.1:8/v1/health");
        assert_eq!(checks[0].timeout, Duration::from_secs(2));
    }
}
