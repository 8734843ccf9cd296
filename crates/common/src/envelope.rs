//! The stable envelope every command's JSON result carries, and the
//! `--events FILE` stream (see `docs/notes/output.md`).
//!
//! `cli::main` installs one [`Run`] per process before the command runs. While
//! it is installed, [`crate::Output::result`] in JSON mode holds the document
//! instead of printing it; `main` prints it once the exit code is known, with
//! `ok` = (exit code is 0). Commands therefore need no change to get it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The envelope's version; bumped only when a field changes meaning or goes.
pub const SCHEMA_VERSION: u32 = 1;

/// RFC 3339 in UTC with milliseconds and `Z`, the one timestamp format of
/// results, events and the events file.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `calls`: AWS requests sent through common's [`crate::calls::CallCounter`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Calls {
    /// Every HTTP request sent, retries included.
    pub total: u64,
    /// Requests per operation name (`ChangeResourceRecordSets`), summed over services.
    pub by_operation: BTreeMap<String, u64>,
}

/// The fields added at the top level of every JSON result document. A
/// command's own field of the same name is kept; see [`wrap`].
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(title = "ltc result envelope")]
pub struct Envelope {
    /// Version of this envelope (1).
    pub schema_version: u32,
    /// True exactly when the command exits 0.
    pub ok: bool,
    /// The binary, e.g. `dns-shift`.
    pub binary: String,
    /// The subcommand path, e.g. `show` or `lock status`.
    pub command: String,
    /// When the command started (RFC 3339 UTC, milliseconds, `Z`).
    pub started_at: String,
    /// When the result was printed (same format).
    pub finished_at: String,
    /// `finished_at - started_at`, in milliseconds.
    pub duration_ms: u64,
    /// AWS requests, present when the command counted its calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<Calls>,
}

/// Adds the envelope's fields to `doc` when it is a JSON object; anything else
/// is returned as it was. A field the command already has is kept as it is
/// (runbooks read it); when its value differs from the envelope's, the
/// envelope's value goes under `envelope.<field>` instead.
pub fn wrap(doc: Value, envelope: &Envelope) -> Value {
    let Value::Object(mut map) = doc else {
        return doc;
    };
    let Ok(Value::Object(fields)) = serde_json::to_value(envelope) else {
        return Value::Object(map);
    };
    let mut conflicts = Map::new();
    for (k, v) in fields {
        match map.get(&k) {
            None => {
                map.insert(k, v);
            }
            Some(own) if *own == v => {}
            Some(_) => {
                conflicts.insert(k, v);
            }
        }
    }
    if !conflicts.is_empty() && !map.contains_key("envelope") {
        map.insert("envelope".into(), Value::Object(conflicts));
    }
    Value::Object(map)
}

/// The envelope's own fields ([`Envelope`] plus `envelope`), as [`wrap`] adds them.
pub const FIELDS: [&str; 9] = [
    "schema_version",
    "ok",
    "binary",
    "command",
    "started_at",
    "finished_at",
    "duration_ms",
    "calls",
    "envelope",
];

/// A command's saved result read back as input (a site manifest, a run record):
/// the envelope's fields taken off, so the document is again what the command
/// itself wrote. Only for documents whose own fields never use these names.
pub fn strip(doc: Value) -> Value {
    match doc {
        Value::Object(mut map) => {
            for k in FIELDS {
                map.remove(k);
            }
            Value::Object(map)
        }
        other => other,
    }
}

/// Adds `ts` (now) as the first field of an event object that has none.
pub fn stamp_event(doc: Value) -> Value {
    match doc {
        Value::Object(map) if !map.contains_key("ts") => {
            let mut out = Map::with_capacity(map.len() + 1);
            out.insert("ts".into(), Value::String(timestamp(Utc::now())));
            out.extend(map);
            Value::Object(out)
        }
        other => other,
    }
}

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// One command's run: what the envelope says about it, the result held until
/// the exit code is known, and the `--events` file.
pub struct Run {
    binary: String,
    command: String,
    started: DateTime<Utc>,
    clock: Instant,
    pending: Mutex<Option<(Value, Sink)>>,
    events: Option<Mutex<std::fs::File>>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("binary", &self.binary)
            .field("command", &self.command)
            .field("started", &self.started)
            .finish()
    }
}

static PROCESS_RUN: OnceLock<Arc<Run>> = OnceLock::new();

impl Run {
    /// A run starting now. `events`: the `--events` file, created 0600 (or
    /// appended to when it exists).
    pub fn new(binary: &str, command: &str, events: Option<&Path>) -> Result<Arc<Run>> {
        let events = match events {
            Some(path) => Some(Mutex::new(open_events_file(path)?)),
            None => None,
        };
        Ok(Arc::new(Run {
            binary: binary.to_owned(),
            command: command.to_owned(),
            started: Utc::now(),
            clock: Instant::now(),
            pending: Mutex::new(None),
            events,
        }))
    }

    /// Makes `run` this process's run (`cli::main`); outputs built with
    /// [`crate::Output::stdio`] afterwards hold their result for it.
    pub fn install(run: Arc<Run>) {
        let _ = PROCESS_RUN.set(run);
    }

    /// The process's run, if `main` installed one.
    pub fn current() -> Option<Arc<Run>> {
        PROCESS_RUN.get().cloned()
    }

    /// Holds a result document until [`Run::finish`]. A second result (a
    /// command should print one) releases the first as succeeded, since the
    /// command went on after it.
    pub(crate) fn hold(&self, doc: Value, sink: Sink) -> Result<()> {
        let earlier = lock(&self.pending).replace((doc, sink));
        if let Some((doc, sink)) = earlier {
            self.print(doc, &sink, true)?;
        }
        Ok(())
    }

    /// Prints the held result, if any, with `ok` from the exit code.
    pub fn finish(&self, exit_code: u8) -> Result<()> {
        let held = lock(&self.pending).take();
        match held {
            Some((doc, sink)) => self.print(doc, &sink, exit_code == 0),
            None => Ok(()),
        }
    }

    /// The envelope as it stands now.
    pub fn envelope(&self, ok: bool) -> Envelope {
        let now = Utc::now();
        Envelope {
            schema_version: SCHEMA_VERSION,
            ok,
            binary: self.binary.clone(),
            command: self.command.clone(),
            started_at: timestamp(self.started),
            finished_at: timestamp(now),
            duration_ms: u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            calls: crate::calls::process_calls(),
        }
    }

    fn print(&self, doc: Value, sink: &Sink, ok: bool) -> Result<()> {
        let doc = wrap(doc, &self.envelope(ok));
        let mut buf =
            serde_json::to_vec_pretty(&doc).map_err(|e| Error::Internal(e.to_string()))?;
        buf.push(b'\n');
        let text = crate::redact::text(&String::from_utf8_lossy(&buf));
        let mut w = lock(sink);
        match w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(Error::io("failed to write output", e))
            }
            _ => Ok(()),
        }
    }

    /// Appends one line `{ts, level, message[, event]}` to the events file.
    /// A failed write is ignored: the events file is a copy for CI logs, and
    /// the same line went to stderr or stdout.
    pub fn log(&self, level: &str, message: &str, event: Option<&Value>) {
        let Some(file) = &self.events else { return };
        let mut line = Map::new();
        line.insert("ts".into(), Value::String(timestamp(Utc::now())));
        line.insert("level".into(), Value::String(level.into()));
        line.insert(
            "message".into(),
            Value::String(crate::redact::text(message)),
        );
        if let Some(ev) = event {
            line.insert("event".into(), ev.clone());
        }
        if let Ok(text) = serde_json::to_string(&Value::Object(line)) {
            let mut f = lock(file);
            let _ = writeln!(f, "{text}");
            let _ = f.flush();
        }
    }

    pub fn has_events_file(&self) -> bool {
        self.events.is_some()
    }
}

fn open_events_file(path: &Path) -> Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| {
        Error::Usage(format!(
            "cannot open the events file {}: {e}",
            crate::quote(&path.display().to_string())
        ))
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(ok: bool) -> Envelope {
        Envelope {
            schema_version: 1,
            ok,
            binary: "dns-shift".into(),
            command: "show".into(),
            started_at: "2026-01-02T03:04:05.678Z".into(),
            finished_at: "2026-01-02T03:04:06.000Z".into(),
            duration_ms: 322,
            calls: None,
        }
    }

    #[test]
    fn wrap_adds_fields_after_the_commands_own_and_keeps_their_order() {
        let doc = json!({"zone": "z", "weights": [1, 2]});
        let v = wrap(doc, &sample(true));
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "zone",
                "weights",
                "schema_version",
                "ok",
                "binary",
                "command",
                "started_at",
                "finished_at",
                "duration_ms"
            ]
        );
        assert_eq!(v["ok"], true);
        assert_eq!(v["schema_version"], 1);
    }

    #[test]
    fn wrap_keeps_a_commands_own_field_and_moves_a_differing_one_aside() {
        let doc = json!({"ok": true, "command": "load", "calls": [{"op": "UpdateService"}]});
        let v = wrap(doc, &sample(false));
        assert_eq!(v["ok"], true);
        assert_eq!(v["command"], "load");
        assert!(v["calls"].is_array());
        assert_eq!(v["envelope"]["ok"], false);
        assert_eq!(v["envelope"]["command"], "show");
        assert!(v["envelope"].get("binary").is_none());
    }

    #[test]
    fn wrap_leaves_non_objects_alone() {
        assert_eq!(wrap(json!([1, 2]), &sample(true)), json!([1, 2]));
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds_and_z() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T14:49:13.123456+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "2026-12-02T14:49:13.123Z");
    }

    #[test]
    fn events_get_a_ts_first_unless_they_have_one() {
        let v = stamp_event(json!({"n": 1}));
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["ts", "n"]);
        DateTime::parse_from_rfc3339(v["ts"].as_str().unwrap()).unwrap();
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
        let own = stamp_event(json!({"ts": "x", "n": 1}));
        assert_eq!(own, json!({"ts": "x", "n": 1}));
    }
}

#[cfg(test)]
mod strip_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strip_takes_off_exactly_what_wrap_added() {
        let own = json!({"bucket": "b", "objects": [1, 2]});
        let env = Envelope {
            schema_version: SCHEMA_VERSION,
            ok: true,
            binary: "site-restore".into(),
            command: "record".into(),
            started_at: "2026-12-02T00:00:00.000Z".into(),
            finished_at: "2026-12-02T00:00:00.001Z".into(),
            duration_ms: 1,
            calls: None,
        };
        let wrapped = wrap(own.clone(), &env);
        assert_ne!(wrapped, own);
        assert_eq!(strip(wrapped), own);
        assert_eq!(strip(json!([1])), json!([1]));
    }
}
