//! An emulator that enforces IAM, separate from the shared one (its own port),
//! for tests that run a command with the keys of a user whose only policy is
//! the one the command printed.
//!
//! moto checks credentials and policies once its count of unauthenticated
//! calls (`INITIAL_NO_AUTH_ACTION_COUNT`) is used up; `POST /moto-api/reset-auth`
//! sets that count and restarts it. A test seeds its world with enforcement
//! off ([`EnforcingGuard::open`]), creates a user, turns enforcement on
//! ([`EnforcingGuard::enforce`]), runs the command, and turns it off again to
//! read what the command left behind.

use std::path::PathBuf;
use std::process::Command;

use super::{Emulator, EmulatorGuard, Pool, workspace_root};

static ENFORCING: Pool = Pool::new();

/// Unauthenticated calls allowed while "open": more than any test makes.
const OPEN: &str = "1000000000";

/// Exclusive use of the enforcing emulator; reset and open when handed out.
/// Its endpoint, port and journal are those of an [`EmulatorGuard`] (Deref).
#[derive(Debug)]
pub struct EnforcingGuard {
    base: EmulatorGuard,
}

impl std::ops::Deref for EnforcingGuard {
    type Target = EmulatorGuard;

    fn deref(&self) -> &EmulatorGuard {
        &self.base
    }
}

/// An access key pair of a user created on the emulator.
#[derive(Debug, Clone)]
pub struct Keys {
    pub user: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Emulator {
    /// The IAM-enforcing emulator of this test process (not the shared one),
    /// reset, with enforcement off until [`EnforcingGuard::enforce`]. ECS
    /// services report one running task (`MOTO_ECS_SERVICE_RUNNING=1`), so a
    /// service of desired count 1 reaches steady state.
    pub fn enforcing() -> EnforcingGuard {
        let (emu, lock) = ENFORCING.lend(&[
            ("INITIAL_NO_AUTH_ACTION_COUNT", OPEN),
            ("MOTO_ECS_SERVICE_RUNNING", "1"),
        ]);
        let g = EnforcingGuard {
            base: EmulatorGuard::lent(emu, lock),
        };
        g.open();
        g
    }
}

impl EnforcingGuard {
    /// Seeding and reading back: every call is unauthenticated.
    pub fn open(&self) {
        self.reset_auth(OPEN);
    }

    /// From now on every call is checked against the caller's IAM policies.
    pub fn enforce(&self) {
        self.reset_auth("0");
    }

    fn reset_auth(&self, count: &str) {
        let status = crate::http_with_body(self.port(), "POST", "/moto-api/reset-auth", count)
            .expect("reset-auth");
        assert_eq!(status, 200, "reset-auth answered HTTP {status}");
    }

    /// Points `cmd` at this emulator with the dummy keys; the shared state
    /// and account settings of the shell are cleared too.
    pub fn configure(&self, cmd: &mut Command) {
        crate::clear_shell(cmd, &["LTC_STATE", "LTC_ACCOUNT_ID"]);
        cmd.envs(self.env());
    }

    /// Points `cmd` at this emulator with `keys` (the user's own rights only).
    pub fn configure_as(&self, cmd: &mut Command, keys: &Keys) {
        self.configure(cmd);
        cmd.env("AWS_ACCESS_KEY_ID", &keys.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &keys.secret_access_key);
    }

    /// Runs the AWS CLI from `.venv` against this emulator with the dummy
    /// keys (while open) and returns its stdout as JSON (`null` when empty).
    ///
    /// # Panics
    /// When the CLI fails.
    pub fn aws(&self, args: &[&str]) -> serde_json::Value {
        let mut cmd = Command::new(workspace_root().join(".venv/bin/aws"));
        self.configure(&mut cmd);
        cmd.args(args).args(["--output", "json"]);
        let out = crate::aws_shell::output(&cmd).expect("run .venv/bin/aws");
        assert!(
            out.status.success(),
            "aws {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&out.stdout).expect("aws CLI printed JSON")
        }
    }

    /// Creates IAM user `name` whose only (inline) policy is `policy`, and an
    /// access key for it. Call while open.
    pub fn create_user(&self, name: &str, policy: &serde_json::Value) -> Keys {
        self.create_users(&[(name.to_owned(), policy.clone())])
            .pop()
            .expect("one user created")
    }

    /// [`EnforcingGuard::create_user`] for many users in one process (the
    /// AWS CLI costs a second or more per call; a matrix makes dozens).
    pub fn create_users(&self, users: &[(String, serde_json::Value)]) -> Vec<Keys> {
        let mut calls = Vec::new();
        for (name, policy) in users {
            calls.push(serde_json::json!(["iam", "create_user", {"UserName": name}]));
            // A policy with no statement is refused: such a user simply has none.
            if !policy["Statement"].as_array().is_some_and(Vec::is_empty) {
                calls.push(serde_json::json!(["iam", "put_user_policy", {
                    "UserName": name,
                    "PolicyName": "printed",
                    "PolicyDocument": policy.to_string(),
                }]));
            }
            calls.push(serde_json::json!(["iam", "create_access_key", {"UserName": name}]));
        }
        self.boto(&calls)
            .into_iter()
            .filter(|r| r.get("AccessKey").is_some())
            .map(|r| Keys {
                user: r["AccessKey"]["UserName"]
                    .as_str()
                    .expect("UserName")
                    .to_owned(),
                access_key_id: r["AccessKey"]["AccessKeyId"]
                    .as_str()
                    .expect("AccessKeyId")
                    .to_owned(),
                secret_access_key: r["AccessKey"]["SecretAccessKey"]
                    .as_str()
                    .expect("SecretAccessKey")
                    .to_owned(),
            })
            .collect()
    }

    /// Makes the calls `[service, boto3 method, {params}]` in order in one
    /// Python process (boto3 from `.venv`, the dummy keys: call while open)
    /// and returns each answer as JSON (without its ResponseMetadata).
    ///
    /// # Panics
    /// When a call fails.
    pub fn boto(&self, calls: &[serde_json::Value]) -> Vec<serde_json::Value> {
        let out = crate::aws_shell::boto(&self.endpoint(), calls).expect("run .venv/bin/python");
        assert!(
            out.status.success(),
            "boto calls failed: {}\ncalls: {calls:?}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("boto answers are JSON")
    }

    /// Creates the state bucket `ltc-state` (of [`STATE`]).
    pub fn state_bucket(&self) {
        self.bucket("ltc-state");
    }

    /// Creates bucket `name` in the test region.
    pub fn bucket(&self, name: &str) {
        self.boto(&[serde_json::json!(["s3", "create_bucket", {
            "Bucket": name,
            "CreateBucketConfiguration": {"LocationConstraint": "ap-northeast-1"},
        }])]);
    }

    /// The keys in bucket `ltc-state`, sorted.
    pub fn state_keys(&self) -> Vec<String> {
        let v = self.aws(&["s3api", "list-objects-v2", "--bucket", "ltc-state"]);
        let mut out: Vec<String> = v["Contents"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|o| o["Key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Whether environment `env`'s run lock (under [`STATE`]) is held.
    pub fn lock_left(&self, env: &str) -> bool {
        let lock = format!("team/{env}/lock.json");
        self.state_keys().contains(&lock)
    }

    /// Whether any environment's run lock (under [`STATE`]) is held.
    pub fn any_lock_left(&self) -> bool {
        self.state_keys().iter().any(|k| k.ends_with("/lock.json"))
    }

    /// Runs `binary args` as the user with `keys`, enforcement on for the run
    /// only (open again when it returns), with `env` added.
    pub fn run_as(
        &self,
        keys: &Keys,
        binary: &std::path::Path,
        args: &[String],
        env: &[(String, String)],
    ) -> std::process::Output {
        let mut cmd = Command::new(binary);
        self.configure(&mut cmd);
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.env("AWS_ACCESS_KEY_ID", &keys.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &keys.secret_access_key);
        self.enforce();
        let out = cmd.args(args).output();
        self.open();
        out.expect("run the command")
    }

    /// Runs `binary args` with the dummy keys while open (seeding a world
    /// with the toolkit itself); panics unless it succeeds.
    pub fn run_open(
        &self,
        binary: &std::path::Path,
        args: &[&str],
        env: &[(String, String)],
    ) -> std::process::Output {
        let mut cmd = Command::new(binary);
        self.configure(&mut cmd);
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let out = cmd.args(args).output().expect("run the command");
        assert!(
            out.status.success(),
            "seed: {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The printed policy of `binary policy args --output json`.
    pub fn printed(
        &self,
        binary: &std::path::Path,
        args: &[String],
        env: &[(String, String)],
    ) -> serde_json::Value {
        let mut cmd = Command::new(binary);
        self.configure(&mut cmd);
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let out = cmd
            .arg("policy")
            .args(args)
            .arg("--output=json")
            .output()
            .expect("run policy");
        assert!(
            out.status.success(),
            "policy {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("policy is JSON")
    }
}

/// The state tree the enforcing tests use (`LTC_STATE`).
pub const STATE: &str = "s3://ltc-state/team";

/// `LTC_STATE` = [`STATE`], as a case's environment.
pub fn state_env() -> Vec<(String, String)> {
    vec![("LTC_STATE".into(), STATE.into())]
}

/// Owned arguments.
pub fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// The policy as moto can check it: moto evaluates every action outside S3
/// (and IAM, STS, SQS) against the resource `*`, so a grant scoped to an ARN
/// never matches there. Those statements get `*`; S3 statements keep their
/// ARNs and conditions, which moto does check.
pub fn emulator_view(doc: &serde_json::Value) -> serde_json::Value {
    let kept: Vec<serde_json::Value> = statements(doc)
        .into_iter()
        .map(|mut s| {
            if !list(&s["Action"]).iter().any(|a| a.starts_with("s3:")) {
                s["Resource"] = serde_json::json!(["*"]);
                if let Some(o) = s.as_object_mut() {
                    o.remove("Condition");
                }
            }
            s
        })
        .collect();
    let mut out = doc.clone();
    out["Statement"] = serde_json::Value::Array(kept);
    out
}

/// Every action of a policy document, sorted, once each.
pub fn actions(doc: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = statements(doc)
        .iter()
        .flat_map(|s| list(&s["Action"]))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The document without any grant of `action` (statements left empty are dropped).
pub fn without_action(doc: &serde_json::Value, action: &str) -> serde_json::Value {
    let kept: Vec<serde_json::Value> = statements(doc)
        .into_iter()
        .filter_map(|mut s| {
            let rest: Vec<String> = list(&s["Action"])
                .into_iter()
                .filter(|a| a != action)
                .collect();
            if rest.is_empty() {
                None
            } else {
                s["Action"] = serde_json::json!(rest);
                Some(s)
            }
        })
        .collect();
    let mut out = doc.clone();
    out["Statement"] = serde_json::Value::Array(kept);
    out
}

fn statements(doc: &serde_json::Value) -> Vec<serde_json::Value> {
    match &doc["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        v @ serde_json::Value::Object(_) => vec![v.clone()],
        _ => Vec::new(),
    }
}

fn list(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// One command proven against its printed policy.
pub struct Case<'a> {
    /// The binary (`assert_cmd::cargo::cargo_bin("ecs-revert")`).
    pub binary: PathBuf,
    /// The subcommand and its flags, as given after `policy` and run as is.
    pub args: Vec<String>,
    /// Extra environment for both runs (e.g. `LTC_STATE`).
    pub env: Vec<(String, String)>,
    /// Creates the world the command works on (enforcement is off).
    pub seed: &'a dyn Fn(&EnforcingGuard),
    /// After a successful run (enforcement off): panics unless the change is there.
    pub done: &'a dyn Fn(&EnforcingGuard),
    /// After a denied run (enforcement off): `Err(what)` when the world is not
    /// as seeded (a change half made, a lock left behind).
    pub untouched: &'a dyn Fn(&EnforcingGuard) -> Result<(), String>,
}

impl std::fmt::Debug for Case<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("args", &self.args).finish()
    }
}

/// What happened with one action removed.
#[derive(Debug, Clone)]
pub struct Denial {
    pub action: String,
    pub code: Option<i32>,
    /// The last line on stderr.
    pub line: String,
    /// Whether that line names the action.
    pub names_action: bool,
    /// `Err` when the world was not left as seeded.
    pub untouched: Result<(), String>,
}

/// What [`run_case`] saw.
#[derive(Debug)]
pub struct Outcome {
    /// As printed by the command.
    pub printed: serde_json::Value,
    /// As given to the user ([`emulator_view`]).
    pub policy: serde_json::Value,
    pub denials: Vec<Denial>,
}

impl Outcome {
    /// The actions whose removal did not make the command fail.
    pub fn not_needed(&self) -> Vec<String> {
        self.denials
            .iter()
            .filter(|d| d.code == Some(0))
            .map(|d| d.action.clone())
            .collect()
    }

    /// One line per action for the notes and for failing assertions.
    pub fn table(&self) -> String {
        self.denials
            .iter()
            .map(|d| {
                format!(
                    "{:<48} exit {:<4} names-action {:<5} untouched {:<5} {}",
                    d.action,
                    d.code.map_or("-".into(), |c| c.to_string()),
                    d.names_action,
                    d.untouched.is_ok(),
                    d.line.chars().take(160).collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Prints the command's policy, runs the command as a user holding only that
/// policy (must succeed), then once per action with that action removed.
///
/// One world serves every denied run that leaves it as seeded: all users are
/// created at once, and the world is seeded again only after a run that
/// changed it (the full run, an action not needed, a half-done change). The
/// local journal is put back as seeded before each run.
///
/// # Panics
/// When the policy cannot be printed or the run with the whole policy fails.
pub fn run_case(case: &Case<'_>) -> Outcome {
    let mut emu = Some(Emulator::enforcing());
    let printed = emu
        .as_ref()
        .map(|e| e.printed(&case.binary, &case.args, &case.env))
        .expect("emulator");
    let policy = emulator_view(&printed);
    let mut variants = vec![(String::new(), policy.clone())];
    for a in actions(&policy) {
        let doc = without_action(&policy, &a);
        variants.push((a, doc));
    }
    let mut keys: Vec<Option<Keys>> = vec![None; variants.len()];
    let mut dirty = true;
    let mut journal: Option<Vec<u8>> = None;
    let mut denials = Vec::new();
    for (i, (action, _)) in variants.iter().enumerate() {
        if dirty {
            // Drop the guard first: handing out a new one takes its lock.
            drop(emu.take());
            let e = Emulator::enforcing();
            (case.seed)(&e);
            let users: Vec<(String, serde_json::Value)> = variants[i..]
                .iter()
                .enumerate()
                .map(|(k, (_, doc))| (format!("u{}", i + k), doc.clone()))
                .collect();
            for (k, key) in e.create_users(&users).into_iter().enumerate() {
                keys[i + k] = Some(key);
            }
            journal = std::fs::read(e.journal_path()).ok();
            emu = Some(e);
        }
        let e = emu.as_ref().expect("emulator");
        match &journal {
            Some(bytes) => std::fs::write(e.journal_path(), bytes).expect("restore the journal"),
            None => {
                let _ = std::fs::remove_file(e.journal_path());
            }
        }
        let key = keys[i].as_ref().expect("user created");
        let run = e.run_as(key, &case.binary, &case.args, &case.env);
        if i == 0 {
            assert!(
                run.status.success(),
                "{:?} with its printed policy failed (exit {:?}):\n{}\npolicy: {policy:#}",
                case.args,
                run.status.code(),
                String::from_utf8_lossy(&run.stderr)
            );
            (case.done)(e);
            // A read leaves the world as seeded: no need to seed it again.
            dirty = (case.untouched)(e).is_err();
            continue;
        }
        let stderr = String::from_utf8_lossy(&run.stderr);
        let line = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_owned();
        let untouched = (case.untouched)(e);
        dirty = run.status.code() == Some(0) || untouched.is_err();
        denials.push(Denial {
            names_action: line.contains(action.as_str()),
            code: run.status.code(),
            line,
            untouched,
            action: action.clone(),
        });
    }
    Outcome {
        printed,
        policy,
        denials,
    }
}

/// The matrix's rule: exactly `not_needed` (each with its reason where the
/// test names it) may be removed without failing; removing any other action
/// fails with exit 3 (an AWS error), one last line naming the action, and
/// the world as seeded.
///
/// # Panics
/// When the outcome breaks the rule (the table of every run in the message).
pub fn check_denials(outcome: &Outcome, not_needed: &[&str]) {
    check_denials_with(outcome, not_needed, |_| 3);
}

/// [`check_denials`] with the exit code each action's removal must give.
///
/// # Panics
/// When the outcome breaks the rule.
pub fn check_denials_with(outcome: &Outcome, not_needed: &[&str], code: impl Fn(&str) -> i32) {
    assert_eq!(outcome.not_needed(), not_needed, "{}", outcome.table());
    for d in outcome.denials.iter().filter(|d| d.code != Some(0)) {
        assert_eq!(d.code, Some(code(&d.action)), "{}", outcome.table());
        assert!(d.names_action, "{}", outcome.table());
        assert!(d.untouched.is_ok(), "{}", outcome.table());
    }
}
