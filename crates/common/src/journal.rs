//! The change journal: an append-only JSON-lines file. Every change writes an
//! `intent` entry (flushed to disk) before it touches anything and an `outcome`
//! entry after, both with the state before/after, so a later command (or a
//! person) can see what happened and undo it.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Intent,
    Outcome,
}

/// How a change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Failed,
    Reverted,
    RevertFailed,
    /// Stopped by a signal; the entry's `after` says what is where.
    Interrupted,
    /// The call's answer was lost and a read-back could not decide.
    Unknown,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Shared by a change's intent and outcome.
    pub id: String,
    pub phase: Phase,
    pub time: DateTime<Utc>,
    pub binary: String,
    /// What kind of change, e.g. `dns.set-weights`.
    pub action: String,
    /// What was changed, e.g. `route53:Z123/www.example.com./CNAME`.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub before: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub after: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A change as read back: its intent and, if it finished, its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub intent: Entry,
    pub outcome: Option<Entry>,
}

/// Who and why, stamped on every entry.
#[derive(Debug, Clone, Default)]
pub struct JournalContext {
    pub actor: Option<String>,
    pub env: Option<String>,
    pub reason: Option<String>,
    pub run_id: Option<String>,
    pub binary: String,
    pub args: Vec<String>,
}

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    ctx: JournalContext,
    /// The environment's state tree: every entry is also written there (one
    /// object each, never overwritten), and readers read it from there, so an
    /// operator on another machine sees and can undo this one's changes.
    store: Option<crate::state::Store>,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl Journal {
    /// `--journal`/`LTC_JOURNAL`, else `$XDG_STATE_HOME/ltc/journal.jsonl`, else
    /// `~/.local/state/ltc/journal.jsonl`.
    pub fn default_path() -> PathBuf {
        if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("ltc/journal.jsonl");
        }
        match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            Some(home) => PathBuf::from(home).join(".local/state/ltc/journal.jsonl"),
            None => PathBuf::from("ltc-journal.jsonl"),
        }
    }

    pub fn new(path: PathBuf, ctx: JournalContext) -> Self {
        Journal {
            path,
            ctx,
            store: None,
        }
    }

    /// Also writes every entry to `store` and reads entries from it.
    pub fn with_store(mut self, store: crate::state::Store) -> Self {
        self.store = Some(store);
        self
    }

    pub fn store(&self) -> Option<&crate::state::Store> {
        self.store.as_ref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn context(&self) -> &JournalContext {
        &self.ctx
    }

    /// Records the intent to change `target` (flushed and synced) and returns the
    /// handle that records its outcome.
    pub fn intent(&self, action: &str, target: &str, before: Value) -> Result<Change<'_>> {
        // Time first so ids sort; pid, sequence and a random part so ids from
        // several machines sharing one state tree never collide.
        let id = format!(
            "{}-{}-{}-{}",
            Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            crate::state::random_hex(4)
        );
        let entry = self.entry(
            &id,
            Phase::Intent,
            action,
            target,
            before,
            Value::Null,
            None,
            None,
        );
        self.append(&entry)?;
        Ok(Change {
            journal: self,
            id,
            action: action.to_owned(),
            target: target.to_owned(),
            done: false,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        id: &str,
        phase: Phase,
        action: &str,
        target: &str,
        before: Value,
        after: Value,
        outcome: Option<Outcome>,
        message: Option<String>,
    ) -> Entry {
        Entry {
            id: id.to_owned(),
            phase,
            time: Utc::now(),
            binary: self.ctx.binary.clone(),
            action: action.to_owned(),
            target: target.to_owned(),
            actor: self.ctx.actor.clone(),
            env: self.ctx.env.clone(),
            reason: self.ctx.reason.clone(),
            run_id: self.ctx.run_id.clone(),
            args: if phase == Phase::Intent {
                self.ctx.args.clone()
            } else {
                Vec::new()
            },
            before,
            after,
            outcome,
            message,
        }
    }

    fn append(&self, entry: &Entry) -> Result<()> {
        // Nothing secret reaches the file or the shared tree (common::redact).
        let redacted = crate::redact::journal_entry(entry);
        let entry = &redacted;
        match (&self.store, entry.phase) {
            // An intent goes to the shared tree first: when it cannot be written
            // the change is refused before anything was touched.
            (Some(store), Phase::Intent) => {
                self.append_shared(store, entry).map_err(|e| {
                    Error::io(
                        format!(
                            "failed to write the shared journal at {} (nothing was changed; \
                             pass --state with a local folder to journal locally)",
                            store.location("journal/")
                        ),
                        std::io::Error::other(e.to_string()),
                    )
                })?;
                self.append_local(entry)
            }
            // An outcome is recorded locally first: the change already happened,
            // and a shared-tree failure must not lose its record.
            (Some(store), Phase::Outcome) => {
                self.append_local(entry)?;
                if let Err(e) = self.append_shared(store, entry) {
                    eprintln!(
                        "warning: outcome of {} recorded in {} only; the shared journal write failed: {e}",
                        entry.id,
                        self.path.display()
                    );
                }
                Ok(())
            }
            (None, _) => self.append_local(entry),
        }
    }

    fn append_shared(&self, store: &crate::state::Store, entry: &Entry) -> Result<()> {
        let body = serde_json::to_vec(entry).map_err(|e| Error::Internal(e.to_string()))?;
        let phase = match entry.phase {
            Phase::Intent => "intent",
            Phase::Outcome => "outcome",
        };
        let key = format!("journal/{}-{phase}.json", entry.id);
        // Entry ids are unique (time, pid, counter, random), so an entry already
        // there with our bytes is our own write whose answer was lost: the SDK's
        // retry met it (412), or every attempt's answer was lost. Read it back.
        let ours = || {
            store
                .get(&key)
                .ok()
                .flatten()
                .is_some_and(|o| o.body == body)
        };
        match store.put(&key, &body, crate::state::Cond::Absent) {
            Ok(crate::state::Write::Done(_)) => Ok(()),
            Ok(crate::state::Write::Conflict) if ours() => Ok(()),
            Ok(crate::state::Write::Conflict) => Err(Error::Internal(format!(
                "journal entry {key} already exists with other content"
            ))),
            Err(_) if ours() => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn append_local(&self, entry: &Entry) -> Result<()> {
        let ctx = || format!("failed to write journal {}", self.path.display());
        let mut line = serde_json::to_vec(entry).map_err(|e| Error::Internal(e.to_string()))?;
        line.push(b'\n');
        let mut file = open_private(&self.path).map_err(|e| Error::io(ctx(), e))?;
        // Several binaries may run in parallel from one runbook; the lock keeps
        // their lines whole.
        file.lock().map_err(|e| Error::io(ctx(), e))?;
        file.write_all(&line).map_err(|e| Error::io(ctx(), e))?;
        file.sync_data().map_err(|e| Error::io(ctx(), e))?;
        Ok(())
    }

    /// Every entry, oldest first. Lines that do not parse are skipped with a
    /// warning rather than making the whole journal unreadable.
    pub fn read_entries(path: &Path) -> Result<Vec<Entry>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::io(
                    format!("failed to read journal {}", path.display()),
                    e,
                ));
            }
        };
        let mut entries = Vec::new();
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line = line
                .map_err(|e| Error::io(format!("failed to read journal {}", path.display()), e))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(&line) {
                Ok(e) => entries.push(e),
                Err(e) => tracing::warn!("journal {} line {}: skipped: {e}", path.display(), n + 1),
            }
        }
        Ok(entries)
    }

    /// Every entry of this journal, oldest first: from the shared state tree
    /// when there is one (everyone's changes), else from the local file.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        match &self.store {
            Some(store) => {
                let mut entries: Vec<Entry> = crate::state::read_all(store, "journal/")?;
                entries.sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
                Ok(entries)
            }
            None => Self::read_entries(&self.path),
        }
    }

    /// Changes (intent plus outcome) matching `filter`, newest first.
    pub fn records(&self, filter: impl Fn(&Entry) -> bool) -> Result<Vec<Record>> {
        let entries = self.entries()?;
        let mut records: Vec<Record> = Vec::new();
        for e in &entries {
            if e.phase == Phase::Intent && filter(e) {
                let outcome = entries
                    .iter()
                    .find(|o| o.phase == Phase::Outcome && o.id == e.id)
                    .cloned();
                records.push(Record {
                    intent: e.clone(),
                    outcome,
                });
            }
        }
        records.reverse();
        Ok(records)
    }

    /// The newest change to `target` whose action starts with `action_prefix`.
    pub fn last_change(&self, action_prefix: &str, target: &str) -> Result<Option<Record>> {
        Ok(self
            .records(|e| e.target == target && e.action.starts_with(action_prefix))?
            .into_iter()
            .next())
    }
}

/// Opens `path` for appending, creating it 0600 and missing folders 0700 with
/// the mode given at creation, so no window exists where others could read it.
fn open_private(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Checks, before any AWS call, that the journal can be written: a usage error
/// naming the path and the cause once (a directory, `/dev/null/x`, no permission).
/// Creates nothing: a command that ends up changing nothing leaves no journal.
pub fn check_writable(path: &Path) -> Result<()> {
    let refuse = |why: String| {
        Error::usage(format!(
            "journal {} cannot be written ({why}); give a writable file with --journal or LTC_JOURNAL",
            path.display()
        ))
    };
    if path.is_dir() {
        return Err(Error::usage(format!(
            "journal {} is a directory; give a file path with --journal or LTC_JOURNAL",
            path.display()
        )));
    }
    // Kernel and device files open for appending but take no journal lines
    // (/dev/null, which discards them on purpose, excepted).
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if real != Path::new("/dev/null")
        && ["/proc", "/sys", "/dev"]
            .iter()
            .any(|p| real.starts_with(p))
    {
        return Err(refuse("not a file on disk".into()));
    }
    if path.exists() {
        return OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| refuse(e.to_string()));
    }
    // The nearest folder that exists must be a folder we can create in: try a
    // scratch file there and remove it.
    let mut dir = path.parent();
    while let Some(d) = dir {
        let d = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        if d.exists() {
            if !d.is_dir() {
                return Err(refuse(format!("{} is not a folder", d.display())));
            }
            let probe = d.join(format!(".ltc-journal-check-{}", std::process::id()));
            return match OpenOptions::new().write(true).create_new(true).open(&probe) {
                Ok(_) => {
                    let _ = std::fs::remove_file(&probe);
                    Ok(())
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(refuse(e.to_string())),
            };
        }
        dir = d.parent();
    }
    Ok(())
}

/// An open change; record its outcome with [`Change::finish`]. Dropped without
/// one (a panic or early return), it writes an `unknown` outcome so the journal
/// never shows a change as silently in flight.
#[derive(Debug)]
pub struct Change<'a> {
    journal: &'a Journal,
    id: String,
    action: String,
    target: String,
    done: bool,
}

impl Change<'_> {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn finish(mut self, outcome: Outcome, after: Value, message: Option<String>) -> Result<()> {
        self.done = true;
        self.append_outcome(outcome, after, message)
    }

    fn append_outcome(
        &self,
        outcome: Outcome,
        after: Value,
        message: Option<String>,
    ) -> Result<()> {
        let entry = self.journal.entry(
            &self.id,
            Phase::Outcome,
            &self.action,
            &self.target,
            Value::Null,
            after,
            Some(outcome),
            message,
        );
        self.journal.append(&entry)
    }

    pub fn ok(self, after: Value) -> Result<()> {
        self.finish(Outcome::Ok, after, None)
    }

    pub fn failed(self, after: Value, message: impl Into<String>) -> Result<()> {
        self.finish(Outcome::Failed, after, Some(message.into()))
    }

    /// Stopped by a signal: `after` says what is where, `message` how to go on.
    pub fn interrupted(self, after: Value, message: impl Into<String>) -> Result<()> {
        self.finish(Outcome::Interrupted, after, Some(message.into()))
    }

    /// The answer was lost and a read-back could not decide.
    pub fn unknown(self, after: Value, message: impl Into<String>) -> Result<()> {
        self.finish(Outcome::Unknown, after, Some(message.into()))
    }
}

impl Drop for Change<'_> {
    fn drop(&mut self) {
        if !self.done {
            let why = "ended without recording an outcome; state unknown";
            let _ = self.append_outcome(Outcome::Unknown, Value::Null, Some(why.into()));
        }
    }
}

/// Hides values that look secret before arguments are journaled.
pub fn redact_args(args: &[String]) -> Vec<String> {
    const SECRET_WORDS: [&str; 5] = ["secret", "password", "token", "authorization", "api-key"];
    let is_secret = |s: &str| {
        let l = s.to_ascii_lowercase();
        SECRET_WORDS.iter().any(|w| l.contains(w))
    };
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for a in args {
        if hide_next {
            out.push("***".to_owned());
            hide_next = false;
            continue;
        }
        if let Some((k, _)) = a
            .split_once('=')
            .filter(|(k, _)| k.starts_with("--") && is_secret(k))
        {
            out.push(format!("{k}=***"));
        } else if a.starts_with("--") && is_secret(a) {
            out.push(a.clone());
            hide_next = true;
        } else if let Some((k, _)) = a.split_once(':').filter(|(k, _)| is_secret(k)) {
            // --header Authorization:Bearer ...
            out.push(format!("{k}:***"));
        } else {
            out.push(a.clone());
        }
    }
    out
}

/// This machine's name (empty when unknown).
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_default()
}

/// The login name of this process's user from /proc and /etc/passwd, for shells
/// that set no USER (cron, `sudo -i`, containers). Read by hand: no crate for
/// two file reads, and `unsafe` (getpwuid) is forbidden here.
fn login_of_this_process() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)? == uid).then(|| name.to_owned())
        })
}

/// The local user, for when STS cannot name the caller.
pub fn local_user() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(login_of_this_process)
        .unwrap_or_else(|| "unknown".into());
    let host = hostname();
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn journal(dir: &tempfile::TempDir) -> Journal {
        Journal::new(
            dir.path().join("sub/journal.jsonl"),
            JournalContext {
                binary: "dns-shift".into(),
                actor: Some("tester".into()),
                args: vec!["set".into()],
                ..Default::default()
            },
        )
    }

    #[test]
    fn intent_is_written_before_outcome_and_read_back_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir);
        let c = j
            .intent("dns.set-weights", "zone/www", json!({"blue": 100}))
            .unwrap();
        // The intent is on disk before the change happens.
        let on_disk = Journal::read_entries(j.path()).unwrap();
        assert_eq!(on_disk.len(), 1);
        assert_eq!(on_disk[0].phase, Phase::Intent);
        c.ok(json!({"blue": 0})).unwrap();
        let c2 = j
            .intent("dns.set-weights", "zone/www", json!({"blue": 0}))
            .unwrap();
        c2.failed(json!(null), "boom").unwrap();

        let last = j.last_change("dns.", "zone/www").unwrap().unwrap();
        assert_eq!(last.intent.before, json!({"blue": 0}));
        assert_eq!(last.outcome.unwrap().outcome, Some(Outcome::Failed));
        let all = j.records(|_| true).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].outcome.as_ref().unwrap().after, json!({"blue": 0}));
        assert!(j.last_change("dns.", "zone/other").unwrap().is_none());
    }

    #[test]
    fn dropped_change_records_unknown_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir);
        {
            let _c = j.intent("x", "t", json!(1)).unwrap();
        }
        let r = j.last_change("x", "t").unwrap().unwrap();
        let o = r.outcome.unwrap();
        assert_eq!(o.outcome, Some(Outcome::Unknown));
        assert!(o.message.unwrap().contains("unknown"));
    }

    #[test]
    fn this_process_has_a_login_name() {
        // The test runs as some user listed in /etc/passwd (root in CI).
        let name = login_of_this_process().expect("a login name");
        assert!(!name.is_empty() && !name.contains(':'), "{name}");
    }

    #[test]
    fn journal_is_private_and_unwritable_paths_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir);
        j.intent("x", "t", json!(1)).unwrap().ok(json!(2)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(j.path()), 0o600);
        assert_eq!(mode(j.path().parent().unwrap()), 0o700);
        let e = check_writable(dir.path()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("is a directory"), "{e}");
        let e = check_writable(Path::new("/dev/null/x")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.to_string().matches("/dev/null/x").count(), 1, "{e}");
        let e = check_writable(Path::new("/proc/version")).unwrap_err();
        assert!(e.to_string().contains("not a file on disk"), "{e}");
        assert!(check_writable(Path::new("/dev/null")).is_ok());
        assert!(check_writable(&dir.path().join("new/j.jsonl")).is_ok());
        // Checking creates nothing.
        assert!(!dir.path().join("new").exists());
    }

    #[test]
    fn corrupt_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir);
        j.intent("x", "t", json!(1)).unwrap().ok(json!(2)).unwrap();
        let mut f = OpenOptions::new().append(true).open(j.path()).unwrap();
        writeln!(f, "{{not json").unwrap();
        assert_eq!(Journal::read_entries(j.path()).unwrap().len(), 2);
    }

    #[test]
    fn secrets_are_redacted() {
        let args: Vec<String> = [
            "--db-password",
            "hunter2",
            "--token=abc",
            "--header",
            "Authorization:Bearer x",
            "--weight",
            "a=1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            redact_args(&args),
            vec![
                "--db-password",
                "***",
                "--token=***",
                "--header",
                "Authorization:***",
                "--weight",
                "a=1"
            ]
        );
    }
}
