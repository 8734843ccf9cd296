//! The shared state of one environment, one tree with two backends:
//!
//! ```text
//! ROOT/ENV/lock.json                          run lock: holder, run id, command, host, lease
//! ROOT/ENV/freeze.json                        who froze deploys, why, since when
//! ROOT/ENV/journal/<entry id>-<phase>.json    one object per journal entry, never overwritten
//! ROOT/ENV/runs/<run id>/<name>               per-run records, never overwritten
//! ```
//!
//! ROOT is `s3://BUCKET/PREFIX` (`LTC_STATE` or `--state`) so a team shares it, or a
//! local folder (the default, next to the journal) for a single operator. Every
//! write is conditional: create-if-absent (S3 `If-None-Match: *`, a hard link
//! locally) or replace-if-unchanged (S3 `If-Match` on the ETag, a compare under a
//! file lock locally), which is all a lease lock needs (Terraform's S3 backend
//! locks the same way).
//!
//! The API is blocking on purpose: the journal writes from synchronous code in
//! the middle of async commands. S3 calls run on a worker thread with its own
//! small runtime, so a blocked caller never starves the command's runtime.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::aws::AwsContext;
use crate::error::{Error, Result};

/// Where the state tree lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Root {
    /// `s3://BUCKET[/PREFIX]` or a folder path. Checked before any call.
    pub fn parse(raw: &str) -> Result<Root> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Error::usage(
                "LTC_STATE is empty: give s3://BUCKET/PREFIX or a folder",
            ));
        }
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            validate_bucket(bucket)?;
            let prefix = prefix.trim_matches('/').to_owned();
            if prefix.len() > 512 || prefix.chars().any(char::is_control) {
                return Err(Error::usage(format!(
                    "state prefix {} is too long or has control characters",
                    crate::quote(&prefix)
                )));
            }
            return Ok(Root::S3 {
                bucket: bucket.to_owned(),
                prefix,
            });
        }
        if raw.contains("://") {
            return Err(Error::usage(format!(
                "state location {} must be s3://BUCKET/PREFIX or a folder",
                crate::quote(raw)
            )));
        }
        Ok(Root::Local(PathBuf::from(raw)))
    }

    /// The default: a `state` folder beside the journal file.
    pub fn default_beside(journal: &Path) -> Root {
        let dir = journal
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Root::Local(dir.join("state"))
    }

    pub fn describe(&self) -> String {
        match self {
            Root::Local(p) => p.display().to_string(),
            Root::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Root::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

fn validate_bucket(b: &str) -> Result<()> {
    let ok = (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "state bucket {} is not a valid S3 bucket name (3-63 of a-z 0-9 . -)",
            crate::quote(b)
        )))
    }
}

/// The environment a command acts on names its state folder: `--env`, else `default`.
pub fn env_key(env: Option<&str>) -> Result<String> {
    let env = env.unwrap_or("default");
    if env.is_empty()
        || env.len() > 64
        || !env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::usage(format!(
            "environment name {} must be 1-64 of A-Z a-z 0-9 - _",
            crate::quote(env)
        )));
    }
    Ok(env.to_owned())
}

/// An object as read: its bytes and the tag a conditional write compares.
#[derive(Debug, Clone)]
pub struct Object {
    pub body: Vec<u8>,
    pub etag: String,
}

/// The precondition of a write.
#[derive(Debug, Clone)]
pub enum Cond {
    /// Only if nothing is there.
    Absent,
    /// Only if what is there still has this tag.
    Match(String),
}

/// What a conditional write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Written; the new tag.
    Done(String),
    /// The precondition did not hold; nothing was written.
    Conflict,
}

/// One environment's state tree.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: Root,
    env: String,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Local(PathBuf),
    S3(S3Worker),
}

impl Store {
    /// Opens ENV's tree under `root`. S3 needs the loaded AWS configuration.
    pub fn open(root: Root, env: &str, aws: Option<&AwsContext>) -> Result<Store> {
        let env = env_key(Some(env))?;
        let backend = match &root {
            Root::Local(dir) => Backend::Local(dir.join(&env)),
            Root::S3 { bucket, prefix } => {
                let aws = aws.ok_or_else(|| {
                    Error::Internal("S3 state opened without an AWS configuration".into())
                })?;
                let base = if prefix.is_empty() {
                    format!("{env}/")
                } else {
                    format!("{prefix}/{env}/")
                };
                Backend::S3(S3Worker::start(aws, bucket.clone(), base)?)
            }
        };
        Ok(Store {
            inner: Arc::new(Inner { root, env, backend }),
        })
    }

    pub fn env(&self) -> &str {
        &self.inner.env
    }

    /// Where `key` lives, for messages: `s3://b/p/prod/lock.json` or a path.
    pub fn location(&self, key: &str) -> String {
        format!("{}/{}/{key}", self.inner.root.describe(), self.inner.env)
    }

    pub fn is_shared(&self) -> bool {
        matches!(self.inner.backend, Backend::S3(_))
    }

    pub fn get(&self, key: &str) -> Result<Option<Object>> {
        match &self.inner.backend {
            Backend::Local(dir) => local_get(&dir.join(key)),
            Backend::S3(w) => w.call(Req::Get(key.to_owned()))?.into_get(),
        }
    }

    /// Reads many keys at once (S3: up to 16 requests in flight), in the order
    /// given; a key that vanished in between reads as `None`. The shared
    /// journal is one object per entry, so reading it must not be N round trips
    /// one after another.
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Object>>> {
        match &self.inner.backend {
            Backend::Local(dir) => keys.iter().map(|k| local_get(&dir.join(k))).collect(),
            Backend::S3(w) => match w.call(Req::GetMany(keys.to_vec()))? {
                Reply::GetMany(objects) => Ok(objects),
                other => Err(Error::Internal(format!("state worker answered {other:?}"))),
            },
        }
    }

    pub fn put(&self, key: &str, body: &[u8], cond: Cond) -> Result<Write> {
        match &self.inner.backend {
            Backend::Local(dir) => local_put(dir, &dir.join(key), body, &cond),
            Backend::S3(w) => w
                .call(Req::Put(key.to_owned(), body.to_vec(), cond))?
                .into_write(),
        }
    }

    /// Deletes `key` if its tag is still `etag` (`None`: whatever is there).
    /// Deleting what is not there is done.
    pub fn delete(&self, key: &str, etag: Option<&str>) -> Result<Write> {
        match &self.inner.backend {
            Backend::Local(dir) => local_delete(dir, &dir.join(key), etag),
            Backend::S3(w) => w
                .call(Req::Delete(key.to_owned(), etag.map(str::to_owned)))?
                .into_write(),
        }
    }

    /// Keys under `prefix` (relative to the environment), sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = match &self.inner.backend {
            Backend::Local(dir) => local_list(dir, prefix)?,
            Backend::S3(w) => w.call(Req::List(prefix.to_owned()))?.into_list()?,
        };
        keys.sort();
        Ok(keys)
    }

    /// Writes a run's record once; a second write of the same name is refused.
    pub fn put_run_record(&self, run_id: &str, name: &str, body: &[u8]) -> Result<String> {
        validate_run_id(run_id)?;
        validate_record_name(name)?;
        let key = format!("runs/{run_id}/{name}");
        match self.put(&key, body, Cond::Absent)? {
            Write::Done(_) => Ok(self.location(&key)),
            Write::Conflict => Err(Error::usage(format!(
                "run {run_id} already has a record {name} ({}); run records are never overwritten",
                self.location(&key)
            ))),
        }
    }

    pub fn get_run_record(&self, run_id: &str, name: &str) -> Result<Option<Vec<u8>>> {
        validate_run_id(run_id)?;
        validate_record_name(name)?;
        Ok(self.get(&format!("runs/{run_id}/{name}"))?.map(|o| o.body))
    }

    /// Run ids with records, oldest first (ids start with their UTC start time).
    pub fn list_runs(&self) -> Result<Vec<String>> {
        let mut runs: Vec<String> = self
            .list("runs/")?
            .iter()
            .filter_map(|k| {
                k.strip_prefix("runs/")?
                    .split('/')
                    .next()
                    .map(str::to_owned)
            })
            .collect();
        runs.dedup();
        Ok(runs)
    }
}

/// Run ids: what `new_run_id` makes, or any 1-100 of A-Z a-z 0-9 . _ -.
pub fn validate_run_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 100
        || id.starts_with('.')
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::usage(format!(
            "run id {} must be 1-100 of A-Z a-z 0-9 . _ - (not starting with a dot)",
            crate::quote(id)
        )));
    }
    Ok(())
}

fn validate_record_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 200
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::usage(format!(
            "record name {} must be 1-200 of A-Z a-z 0-9 . _ - (not starting with a dot)",
            crate::quote(name)
        )));
    }
    Ok(())
}

/// A new run id: UTC start time to the millisecond, a kind, and a random
/// suffix, so two runs started in the same second never share one.
pub fn new_run_id(kind: &str) -> String {
    format!(
        "{}-{kind}-{}",
        Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        random_hex(6)
    )
}

/// `n` hex digits from the standard library's randomly seeded hasher (no RNG
/// crate needed for a uniqueness suffix).
pub fn random_hex(n: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    while out.len() < n {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(n);
    out
}

// ---- local backend ----------------------------------------------------------

fn etag_of(body: &[u8]) -> String {
    hex::encode(&sha2::Sha256::digest(body)[..16])
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("failed to {what} state {}", path.display()), e)
}

fn local_get(path: &Path) -> Result<Option<Object>> {
    match std::fs::read(path) {
        Ok(body) => Ok(Some(Object {
            etag: etag_of(&body),
            body,
        })),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path, e)),
    }
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Every replace and delete in one environment's folder happens under this
/// lock, so compare-then-write is atomic between processes.
fn cas_lock(env_dir: &Path) -> Result<File> {
    private_dir(env_dir).map_err(|e| io_err("create", env_dir, e))?;
    let path = env_dir.join(".cas.lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io_err("open", &path, e))?;
    f.lock().map_err(|e| io_err("lock", &path, e))?;
    Ok(f)
}

fn write_temp(path: &Path, body: &[u8]) -> Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir).map_err(|e| io_err("create", dir, e))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("x"),
        random_hex(8)
    ));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_err("write", &tmp, e))?;
    f.write_all(body)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err("write", &tmp, e))?;
    Ok(tmp)
}

fn local_put(env_dir: &Path, path: &Path, body: &[u8], cond: &Cond) -> Result<Write> {
    let tmp = write_temp(path, body)?;
    let result = match cond {
        // A hard link creates the name only if it is free, with the whole
        // content already in place: readers never see a half-written file.
        Cond::Absent => match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(Write::Done(etag_of(body))),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Write::Conflict),
            Err(e) => Err(io_err("write", path, e)),
        },
        Cond::Match(etag) => {
            let _guard = cas_lock(env_dir)?;
            match local_get(path)? {
                Some(cur) if &cur.etag == etag => std::fs::rename(&tmp, path)
                    .map(|()| Write::Done(etag_of(body)))
                    .map_err(|e| io_err("write", path, e)),
                _ => Ok(Write::Conflict),
            }
        }
    };
    let _ = std::fs::remove_file(&tmp);
    result
}

fn local_delete(env_dir: &Path, path: &Path, etag: Option<&str>) -> Result<Write> {
    let _guard = cas_lock(env_dir)?;
    match (local_get(path)?, etag) {
        (None, _) => Ok(Write::Done(String::new())),
        (Some(cur), Some(want)) if cur.etag != want => Ok(Write::Conflict),
        (Some(_), _) => match std::fs::remove_file(path) {
            Ok(()) => Ok(Write::Done(String::new())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Write::Done(String::new())),
            Err(e) => Err(io_err("delete", path, e)),
        },
    }
}

fn local_list(env_dir: &Path, prefix: &str) -> Result<Vec<String>> {
    // Walk from the deepest folder the prefix names.
    let start_rel = match prefix.rfind('/') {
        Some(i) => &prefix[..i],
        None => "",
    };
    let start = env_dir.join(start_rel);
    let mut keys = Vec::new();
    let mut stack = vec![start];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("list", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_err("list", &dir, e))?;
            let path = entry.path();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(env_dir) {
                let key = rel.to_string_lossy().into_owned();
                if key.starts_with(prefix) {
                    keys.push(key);
                }
            }
        }
    }
    Ok(keys)
}

// ---- S3 backend ---------------------------------------------------------------

#[derive(Debug)]
enum Req {
    Get(String),
    GetMany(Vec<String>),
    Put(String, Vec<u8>, Cond),
    Delete(String, Option<String>),
    List(String),
}

#[derive(Debug)]
enum Reply {
    Get(Option<Object>),
    GetMany(Vec<Option<Object>>),
    Write(Write),
    List(Vec<String>),
}

impl Reply {
    fn into_get(self) -> Result<Option<Object>> {
        match self {
            Reply::Get(o) => Ok(o),
            other => Err(Error::Internal(format!("state worker answered {other:?}"))),
        }
    }
    fn into_write(self) -> Result<Write> {
        match self {
            Reply::Write(w) => Ok(w),
            other => Err(Error::Internal(format!("state worker answered {other:?}"))),
        }
    }
    fn into_list(self) -> Result<Vec<String>> {
        match self {
            Reply::List(l) => Ok(l),
            other => Err(Error::Internal(format!("state worker answered {other:?}"))),
        }
    }
}

type Job = (Req, mpsc::Sender<Result<Reply>>);

#[derive(Debug)]
struct S3Worker {
    tx: Mutex<mpsc::Sender<Job>>,
}

impl S3Worker {
    fn start(aws: &AwsContext, bucket: String, base: String) -> Result<S3Worker> {
        let mut conf = aws_sdk_s3::config::Builder::from(&aws.config);
        if aws.endpoint_overridden {
            conf = conf.force_path_style(true);
        }
        let client = aws_sdk_s3::Client::from_conf(conf.build());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("failed to start the state worker", e))?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("ltc-state".into())
            .spawn(move || {
                for (req, reply) in rx {
                    let r = rt.block_on(s3_call(&client, &bucket, &base, req));
                    let _ = reply.send(r);
                }
            })
            .map_err(|e| Error::io("failed to start the state worker", e))?;
        Ok(S3Worker { tx: Mutex::new(tx) })
    }

    fn call(&self, req: Req) -> Result<Reply> {
        let (tx, rx) = mpsc::channel();
        self.tx
            .lock()
            .map_err(|_| Error::Internal("state worker lock poisoned".into()))?
            .send((req, tx))
            .map_err(|_| Error::Internal("state worker stopped".into()))?;
        rx.recv()
            .map_err(|_| Error::Internal("state worker stopped".into()))?
    }
}

fn precondition_failed<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> bool {
    // 412 Precondition Failed; 409 ConditionalRequestConflict when two
    // conditional writes race inside S3.
    e.raw_response()
        .is_some_and(|r| matches!(r.status().as_u16(), 412 | 409))
}

/// One state object, or None when there is none.
async fn s3_get(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    base: &str,
    key: String,
) -> Result<Option<Object>> {
    let r = client
        .get_object()
        .bucket(bucket)
        .key(format!("{base}{key}"))
        .send()
        .await;
    match r {
        Ok(out) => {
            let etag = out.e_tag().unwrap_or_default().to_owned();
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| Error::io("failed to read state object", std::io::Error::other(e)))?
                .into_bytes()
                .to_vec();
            Ok(Some(Object { body, etag }))
        }
        Err(e)
            if e.as_service_error().is_some_and(|s| s.is_no_such_key())
                || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
        {
            Ok(None)
        }
        Err(e) => Err(crate::error::aws_error("GetObject (state)", e).into()),
    }
}

/// How many state reads one `get_many` keeps in flight.
const READS_IN_FLIGHT: usize = 16;

async fn s3_call(client: &aws_sdk_s3::Client, bucket: &str, base: &str, req: Req) -> Result<Reply> {
    use crate::error::AwsResultExt;
    match req {
        Req::GetMany(keys) => {
            let mut out: Vec<Option<Object>> = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(READS_IN_FLIGHT) {
                let mut set = tokio::task::JoinSet::new();
                for (i, key) in chunk.iter().enumerate() {
                    let (client, bucket, base, key) = (
                        client.clone(),
                        bucket.to_owned(),
                        base.to_owned(),
                        key.clone(),
                    );
                    set.spawn(async move { (i, s3_get(&client, &bucket, &base, key).await) });
                }
                let mut got: Vec<Option<Object>> = vec![None; chunk.len()];
                while let Some(joined) = set.join_next().await {
                    let (i, r) = joined.map_err(|e| Error::Internal(format!("state read: {e}")))?;
                    got[i] = r?;
                }
                out.extend(got);
            }
            Ok(Reply::GetMany(out))
        }
        Req::Get(key) => Ok(Reply::Get(s3_get(client, bucket, base, key).await?)),
        Req::Put(key, body, cond) => {
            let mut put = client
                .put_object()
                .bucket(bucket)
                .key(format!("{base}{key}"))
                .content_type("application/json")
                .body(body.into());
            put = match cond {
                Cond::Absent => put.if_none_match("*"),
                Cond::Match(etag) => put.if_match(etag),
            };
            match put.send().await {
                Ok(out) => Ok(Reply::Write(Write::Done(
                    out.e_tag().unwrap_or_default().to_owned(),
                ))),
                Err(e) if precondition_failed(&e) => Ok(Reply::Write(Write::Conflict)),
                Err(e) => Err(crate::error::aws_error("PutObject (state)", e).into()),
            }
        }
        Req::Delete(key, etag) => {
            let mut del = client
                .delete_object()
                .bucket(bucket)
                .key(format!("{base}{key}"));
            if let Some(etag) = etag {
                del = del.if_match(etag);
            }
            match del.send().await {
                Ok(_) => Ok(Reply::Write(Write::Done(String::new()))),
                Err(e) if precondition_failed(&e) => Ok(Reply::Write(Write::Conflict)),
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                    Ok(Reply::Write(Write::Done(String::new())))
                }
                Err(e) => Err(crate::error::aws_error("DeleteObject (state)", e).into()),
            }
        }
        Req::List(prefix) => {
            let mut keys = Vec::new();
            let mut pages = client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(format!("{base}{prefix}"))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.aws("ListObjectsV2 (state)")?;
                for o in page.contents() {
                    if let Some(k) = o.key().and_then(|k| k.strip_prefix(base)) {
                        keys.push(k.to_owned());
                    }
                }
            }
            Ok(Reply::List(keys))
        }
    }
}

// ---- the run lock ----------------------------------------------------------------

/// What `lock.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LockInfo {
    /// Unique per acquisition; `lock break` names it.
    pub lock_id: String,
    /// Who: the caller's ARN or user@host.
    pub holder: String,
    /// The local login and machine (ARNs of one shared role look alike).
    #[serde(default)]
    pub user: String,
    pub host: String,
    pub pid: u32,
    /// What runs, e.g. `dns-shift shift --to green` or `runbooks/deploy.sh`.
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub env: String,
    #[schemars(with = "String")]
    pub started: DateTime<Utc>,
    #[schemars(with = "String")]
    pub lease_until: DateTime<Utc>,
    pub lease_seconds: u64,
}

impl LockInfo {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.lease_until < now
    }

    /// One line for a refused operator.
    pub fn describe(&self) -> String {
        format!(
            "{}{} runs `{}`{} since {} (lease until {})",
            self.holder,
            if self.user.is_empty() || self.user == self.holder {
                format!(" on {}", self.host)
            } else {
                format!(" ({})", self.user)
            },
            self.command,
            self.run_id
                .as_deref()
                .map(|r| format!(" as run {r}"))
                .unwrap_or_default(),
            self.started.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.lease_until.to_rfc3339_opts(SecondsFormat::Secs, true),
        )
    }
}

/// Who asks for the lock.
#[derive(Debug, Clone)]
pub struct LockRequest {
    pub holder: String,
    pub command: String,
    pub run_id: Option<String>,
    pub lease: Duration,
}

/// The default lease: long enough to survive a slow heartbeat, short enough
/// that a crashed holder's colleagues wait a minute, not an hour.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// `LTC_LOCK_LEASE` (e.g. `60s`), else [`DEFAULT_LEASE`]; 5s to 1h.
pub fn lease_from_env() -> Result<Duration> {
    match std::env::var("LTC_LOCK_LEASE") {
        Ok(raw) if !raw.trim().is_empty() => {
            let d: crate::HumanDuration = raw
                .parse()
                .map_err(|e| Error::usage(format!("LTC_LOCK_LEASE: {e}")))?;
            if d.0 < Duration::from_secs(2) || d.0 > Duration::from_secs(3600) {
                return Err(Error::usage(format!(
                    "LTC_LOCK_LEASE must be 2s to 1h, got {}",
                    crate::quote(&raw)
                )));
            }
            Ok(d.0)
        }
        _ => Ok(DEFAULT_LEASE),
    }
}

pub const LOCK_KEY: &str = "lock.json";
pub const FREEZE_KEY: &str = "freeze.json";

/// How an acquisition ended.
#[derive(Debug)]
pub enum Acquired {
    /// This process holds the lock until the guard drops.
    Held(LockGuard),
    /// The lock is held by the run this command belongs to (same run id).
    WithinRun(LockInfo),
}

/// The current lock, if any, with its tag.
pub fn lock_status(store: &Store) -> Result<Option<(LockInfo, String)>> {
    let Some(obj) = store.get(LOCK_KEY)? else {
        return Ok(None);
    };
    let info: LockInfo = serde_json::from_slice(&obj.body).map_err(|e| {
        Error::CheckFailed(format!(
            "the lock {} does not parse ({e}); inspect it, then `run-state lock break`",
            store.location(LOCK_KEY)
        ))
    })?;
    Ok(Some((info, obj.etag)))
}

/// Takes ENV's run lock, or says who holds it (exit 8). An expired lease is
/// taken over (conditionally, so two takers cannot both win).
pub fn acquire(store: &Store, req: &LockRequest) -> Result<Acquired> {
    for _ in 0..5 {
        let now = Utc::now();
        let info = LockInfo {
            lock_id: format!("{}-{}", now.format("%Y%m%dT%H%M%S%.3fZ"), random_hex(8)),
            holder: req.holder.clone(),
            user: crate::journal::local_user(),
            host: crate::journal::hostname(),
            pid: std::process::id(),
            command: req.command.clone(),
            run_id: req.run_id.clone(),
            env: store.env().to_owned(),
            started: now,
            lease_until: now + chrono::Duration::from_std(req.lease).unwrap_or_default(),
            lease_seconds: req.lease.as_secs(),
        };
        let body = serde_json::to_vec_pretty(&info).map_err(|e| Error::Internal(e.to_string()))?;
        match put_lock(store, &info, &body, Cond::Absent)? {
            Write::Done(etag) => return Ok(Acquired::Held(LockGuard::start(store, info, etag))),
            Write::Conflict => {}
        }
        let Some((held, etag)) = lock_status(store)? else {
            continue; // released between our two calls: try again
        };
        if held.lock_id == info.lock_id {
            // Our own write landed but its answer was lost: the SDK's retry
            // then met our lock and got 412. It is ours.
            return Ok(Acquired::Held(LockGuard::start(store, info, etag)));
        }
        if req.run_id.is_some() && held.run_id == req.run_id {
            return Ok(Acquired::WithinRun(held));
        }
        if !held.expired(Utc::now()) {
            return Err(Error::Refused(format!(
                "environment {} is locked: {}. Nothing was changed. Wait, or if that run is dead: \
                 run-state lock break --env {} --reason TEXT",
                store.env(),
                held.describe(),
                store.env()
            )));
        }
        tracing::warn!("taking over an expired lock: {}", held.describe());
        if let Write::Done(etag) = put_lock(store, &info, &body, Cond::Match(etag))? {
            eprintln!(
                "warning: took over the lock of {} whose lease expired",
                held.describe()
            );
            return Ok(Acquired::Held(LockGuard::start(store, info, etag)));
        }
    }
    Err(Error::Refused(format!(
        "environment {}: the lock kept changing hands while trying to take it; nothing was changed",
        store.env()
    )))
}

/// Writes our lock object. When the write's answer is lost for good (the
/// SDK's retries spent), the lock is read back: if it is ours the write
/// happened, so the caller holds it rather than leaving an orphan lock that
/// blocks everyone until its lease runs out.
fn put_lock(store: &Store, info: &LockInfo, body: &[u8], cond: Cond) -> Result<Write> {
    match store.put(LOCK_KEY, body, cond) {
        Ok(w) => Ok(w),
        Err(e) => match lock_status(store) {
            Ok(Some((held, etag))) if held.lock_id == info.lock_id => Ok(Write::Done(etag)),
            _ => Err(e),
        },
    }
}

/// A held lock: renewed in the background, released when dropped.
#[derive(Debug)]
pub struct LockGuard {
    store: Store,
    info: LockInfo,
    etag: Arc<Mutex<String>>,
    stop: Option<mpsc::Sender<()>>,
    lost: Arc<AtomicBool>,
    heartbeat: Option<std::thread::JoinHandle<()>>,
}

impl LockGuard {
    fn start(store: &Store, info: LockInfo, etag: String) -> LockGuard {
        let etag = Arc::new(Mutex::new(etag));
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let every = Duration::from_secs(info.lease_seconds.max(3)) / 3;
        let hb = {
            let store = store.clone();
            let etag = etag.clone();
            let lost = lost.clone();
            let mut info = info.clone();
            std::thread::Builder::new()
                .name("ltc-lock-heartbeat".into())
                .spawn(move || {
                    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                        info.lease_until = Utc::now()
                            + chrono::Duration::seconds(info.lease_seconds as i64);
                        let Ok(body) = serde_json::to_vec_pretty(&info) else {
                            break;
                        };
                        let cur = etag.lock().map(|e| e.clone()).unwrap_or_default();
                        match store.put(LOCK_KEY, &body, Cond::Match(cur)) {
                            Ok(Write::Done(new)) => {
                                if let Ok(mut e) = etag.lock() {
                                    *e = new;
                                }
                            }
                            Ok(Write::Conflict) => {
                                lost.store(true, Ordering::SeqCst);
                                eprintln!(
                                    "warning: the run lock of environment {} was broken or taken by someone else; \
                                     this command no longer holds it",
                                    info.env
                                );
                                break;
                            }
                            Err(e) => eprintln!("warning: could not renew the run lock: {e}"),
                        }
                    }
                })
                .ok()
        };
        LockGuard {
            store: store.clone(),
            info,
            etag,
            stop: Some(stop),
            lost,
            heartbeat: hb,
        }
    }

    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// True once the heartbeat found the lock broken or taken.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
        if self.lost() {
            return;
        }
        let etag = self.etag.lock().map(|e| e.clone()).unwrap_or_default();
        match self.store.delete(LOCK_KEY, Some(&etag)) {
            Ok(Write::Done(_)) => {}
            Ok(Write::Conflict) => eprintln!(
                "warning: the run lock of environment {} changed hands; left it as it is",
                self.info.env
            ),
            // The exit code stays that of the command (a completed change is
            // not reported as failed); this one line says what is left behind.
            Err(e) => eprintln!(
                "{}",
                crate::redact::text(&release_failed_warning(
                    &self.store,
                    &self.info,
                    &e.to_string()
                ))
            ),
        }
    }
}

/// The one line printed when a held lock cannot be removed (no
/// `s3:DeleteObject`, the state bucket unreachable): the lock, until when it
/// blocks this environment, and the command that frees it now.
pub fn release_failed_warning(store: &Store, info: &LockInfo, error: &str) -> String {
    let error = error.lines().next().unwrap_or_default();
    format!(
        "warning: the run lock {} was not released ({error}); \
         other commands in environment {} are refused until it expires at {}, or free it now: \
         run-state lock break --env {} --reason TEXT",
        store.location(LOCK_KEY),
        store.env(),
        info.lease_until.to_rfc3339_opts(SecondsFormat::Secs, true),
        store.env()
    )
}

/// Removes the lock whoever holds it; returns what it held.
pub fn break_lock(store: &Store) -> Result<Option<LockInfo>> {
    let Some((info, etag)) = lock_status(store)? else {
        return Ok(None);
    };
    match store.delete(LOCK_KEY, Some(&etag))? {
        Write::Done(_) => Ok(Some(info)),
        Write::Conflict => Err(Error::Refused(format!(
            "the lock of environment {} changed while breaking it; look again with run-state lock status",
            store.env()
        ))),
    }
}

// ---- freeze ---------------------------------------------------------------------

/// What `freeze.json` holds: deploys of new code are refused while it exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FreezeInfo {
    pub by: String,
    pub reason: String,
    #[schemars(with = "String")]
    pub since: DateTime<Utc>,
}

pub fn freeze_status(store: &Store) -> Result<Option<FreezeInfo>> {
    match store.get(FREEZE_KEY)? {
        None => Ok(None),
        Some(obj) => serde_json::from_slice(&obj.body).map(Some).map_err(|e| {
            Error::CheckFailed(format!(
                "the freeze record {} does not parse ({e})",
                store.location(FREEZE_KEY)
            ))
        }),
    }
}

/// Exit 8 when the environment is frozen.
pub fn refuse_if_frozen(store: &Store) -> Result<()> {
    if let Some(f) = freeze_status(store)? {
        return Err(Error::Refused(format!(
            "environment {} is frozen by {} since {}: {}. Deploys are refused; rollbacks still work. \
             Lift it with: run-state unfreeze --env {}",
            store.env(),
            f.by,
            f.since.to_rfc3339_opts(SecondsFormat::Secs, true),
            f.reason,
            store.env()
        )));
    }
    Ok(())
}

// ---- reading a state tree from the journal's side --------------------------------

/// Reads every object under `prefix` that parses as `T`, oldest key first;
/// objects that do not parse are skipped with a warning.
pub fn read_all<T: serde::de::DeserializeOwned>(store: &Store, prefix: &str) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let keys = store.list(prefix)?;
    for (key, obj) in keys.iter().zip(store.get_many(&keys)?) {
        if let Some(obj) = obj {
            match serde_json::from_slice(&obj.body) {
                Ok(v) => out.push(v),
                Err(e) => tracing::warn!("state {}: skipped: {e}", store.location(key)),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(dir: &tempfile::TempDir, env: &str) -> Store {
        Store::open(Root::Local(dir.path().to_path_buf()), env, None).unwrap()
    }

    fn req(run: Option<&str>) -> LockRequest {
        LockRequest {
            holder: "alice@laptop".into(),
            command: "dns-shift shift".into(),
            run_id: run.map(str::to_owned),
            lease: Duration::from_secs(60),
        }
    }

    #[test]
    fn roots_parse_and_bad_ones_are_usage_errors() {
        assert_eq!(
            Root::parse("s3://ltc-state/team/x/").unwrap(),
            Root::S3 {
                bucket: "ltc-state".into(),
                prefix: "team/x".into()
            }
        );
        assert_eq!(
            Root::parse("/tmp/st").unwrap(),
            Root::Local("/tmp/st".into())
        );
        for bad in ["", "s3://", "s3://UPPER/x", "gs://b/p", "s3://ab"] {
            assert_eq!(Root::parse(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
        assert!(env_key(Some("prod")).is_ok());
        assert_eq!(env_key(None).unwrap(), "default");
        assert_eq!(env_key(Some("a/b")).unwrap_err().exit_code(), 2);
    }

    // The conditional writes themselves are held to one contract on both
    // backends in tests/state_s3.rs (conditional_writes_hold_on_a_folder).
    #[test]
    fn a_folder_lists_runs_and_keeps_files_private() {
        let dir = tempfile::tempdir().unwrap();
        let s = local(&dir, "prod");
        s.put("runs/r1/x", b"x", Cond::Absent).unwrap();
        s.put("runs/r2/y", b"y", Cond::Absent).unwrap();
        s.put("journal/e1", b"{}", Cond::Absent).unwrap();
        assert_eq!(s.list("runs/").unwrap(), vec!["runs/r1/x", "runs/r2/y"]);
        assert_eq!(s.list_runs().unwrap(), vec!["r1", "r2"]);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("prod/runs/r1/x")), 0o600);
        assert_eq!(mode(&dir.path().join("prod/runs/r1")), 0o700);
    }

    #[test]
    fn run_records_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let s = local(&dir, "prod");
        s.put_run_record("20261202T0300Z-deploy-ab12", "site-manifest.json", b"v1")
            .unwrap();
        let e = s
            .put_run_record("20261202T0300Z-deploy-ab12", "site-manifest.json", b"v2")
            .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            s.get_run_record("20261202T0300Z-deploy-ab12", "site-manifest.json")
                .unwrap()
                .unwrap(),
            b"v1"
        );
        assert_eq!(
            s.put_run_record("../x", "y", b"").unwrap_err().exit_code(),
            2
        );
        assert_ne!(new_run_id("deploy"), new_run_id("deploy"));
    }

    #[test]
    fn second_holder_is_refused_naming_the_first_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = local(&dir, "prod");
        let first = acquire(&s, &req(Some("run-a"))).unwrap();
        let Acquired::Held(guard) = first else {
            panic!("first acquire holds")
        };
        let e = acquire(&s, &req(Some("run-b"))).unwrap_err();
        assert_eq!(e.exit_code(), 8);
        let msg = e.to_string();
        assert!(
            msg.contains("alice@laptop") && msg.contains("run-a"),
            "{msg}"
        );
        // Same run id: inside the holder's run.
        assert!(matches!(
            acquire(&s, &req(Some("run-a"))).unwrap(),
            Acquired::WithinRun(_)
        ));
        // No run id: refused too.
        assert_eq!(acquire(&s, &req(None)).unwrap_err().exit_code(), 8);
        drop(guard);
        assert!(lock_status(&s).unwrap().is_none());
        assert!(matches!(
            acquire(&s, &req(None)).unwrap(),
            Acquired::Held(_)
        ));
    }

    #[test]
    fn expired_lease_is_taken_over_and_break_removes_any_lock() {
        let dir = tempfile::tempdir().unwrap();
        let s = local(&dir, "prod");
        // A crashed holder: its lock file stays with a lease in the past.
        let now = Utc::now();
        let dead = LockInfo {
            lock_id: "dead".into(),
            holder: "bob".into(),
            user: "bob@h".into(),
            host: "h".into(),
            pid: 1,
            command: "deploy.sh".into(),
            run_id: Some("run-dead".into()),
            env: "prod".into(),
            started: now - chrono::Duration::minutes(5),
            lease_until: now - chrono::Duration::minutes(4),
            lease_seconds: 60,
        };
        s.put(LOCK_KEY, &serde_json::to_vec(&dead).unwrap(), Cond::Absent)
            .unwrap();
        let Acquired::Held(g) = acquire(&s, &req(None)).unwrap() else {
            panic!("expired lease is taken over")
        };
        assert_eq!(lock_status(&s).unwrap().unwrap().0.holder, "alice@laptop");
        let broken = break_lock(&s).unwrap().unwrap();
        assert_eq!(broken.lock_id, g.info().lock_id);
        // The guard's release finds the lock gone and leaves others' alone.
        drop(g);
        assert!(lock_status(&s).unwrap().is_none());
    }

    #[test]
    fn heartbeat_renews_and_notices_a_broken_lock() {
        let dir = tempfile::tempdir().unwrap();
        let s = local(&dir, "prod");
        let mut r = req(None);
        r.lease = Duration::from_secs(3);
        let Acquired::Held(g) = acquire(&s, &r).unwrap() else {
            panic!("held")
        };
        let first_lease = lock_status(&s).unwrap().unwrap().0.lease_until;
        std::thread::sleep(Duration::from_millis(1300));
        let renewed = lock_status(&s).unwrap().unwrap().0.lease_until;
        assert!(renewed > first_lease, "{renewed} > {first_lease}");
        break_lock(&s).unwrap();
        std::thread::sleep(Duration::from_millis(1300));
        assert!(g.lost());
        // Someone else takes it; dropping the lost guard leaves theirs.
        let Acquired::Held(_other) = acquire(&s, &req(None)).unwrap() else {
            panic!("free after break")
        };
        drop(g);
        assert!(lock_status(&s).unwrap().is_some());
    }

    // Eight racing operators, one winner: tests/state_s3.rs holds a folder
    // and S3 to the same race (eight_operators_race).

    #[test]
    fn frozen_environment_refuses_deploys() {
        let dir = tempfile::tempdir().unwrap();
        let s = local(&dir, "prod");
        assert!(refuse_if_frozen(&s).is_ok());
        let f = FreezeInfo {
            by: "carol".into(),
            reason: "incident 42".into(),
            since: Utc::now(),
        };
        s.put(FREEZE_KEY, &serde_json::to_vec(&f).unwrap(), Cond::Absent)
            .unwrap();
        let e = refuse_if_frozen(&s).unwrap_err();
        assert_eq!(e.exit_code(), 8);
        assert!(e.to_string().contains("incident 42"));
    }
}
