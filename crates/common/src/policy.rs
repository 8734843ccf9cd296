//! IAM policy documents: what one command line may do, as a minimal
//! `{"Version":"2012-10-17","Statement":[...]}` document.
//!
//! Each binary maps its parsed subcommand to grants in its own `src/policy.rs`
//! and wires `<binary> policy <subcommand> [same flags]` through [`PolicyArgs`]
//! and [`parse_target`]. Grants are kept as (action, resource, condition)
//! triples; [`Policy::document`] merges them into as few statements as it can
//! (same resources and condition: one statement; an action granted on `*`
//! needs no narrower grant), sorted, so the same command prints the same bytes.
//!
//! Adding a binary (e.g. `lb-switch`):
//! ```ignore
//! // lib.rs: one variant and one match arm
//! /// Print the minimal IAM policy (JSON) that a command line needs.
//! Policy(common::policy::PolicyArgs),
//! Command::Policy(p) => policy::run(&ctx, &cli.globals, p)?,
//! // policy.rs
//! pub fn run(ctx: &Context, outer: &GlobalArgs, args: &PolicyArgs) -> Result<()> {
//!     let t: Target<Cli> = common::policy::parse_target("lb-switch", outer, args)?;
//!     let mut p = Policy::new();
//!     match &t.cli.command { Command::Switch(a) => { p.allow(["elasticloadbalancing:ModifyListener"],
//!         [t.scope.arn("elasticloadbalancing", &format!("listener/{}", a.listener))]); } ... }
//!     p.merge(&common::policy::state(&t.globals, None, StateUse::change()));
//!     common::policy::print(ctx, &p)
//! }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::cli::{Context, GlobalArgs, HasGlobals};
use crate::error::{Error, Result};

/// The policy language version every document uses.
pub const VERSION: &str = "2012-10-17";

/// A set of Allow grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// (action, resource, condition as canonical JSON text or "")
    grants: BTreeSet<(String, String, String)>,
}

/// One statement of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub condition: Option<Value>,
}

impl Policy {
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows each of `actions` on each of `resources` (`"*"` for any).
    pub fn allow<A, R>(&mut self, actions: A, resources: R) -> &mut Self
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        self.grant(actions, resources, String::new())
    }

    /// Like [`Policy::allow`], only under an IAM `Condition` block.
    pub fn allow_if<A, R>(&mut self, actions: A, resources: R, condition: Value) -> &mut Self
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        self.grant(actions, resources, condition.to_string())
    }

    fn grant<A, R>(&mut self, actions: A, resources: R, cond: String) -> &mut Self
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        let resources: Vec<String> = resources.into_iter().map(Into::into).collect();
        for a in actions {
            for r in &resources {
                self.grants
                    .insert((a.as_ref().to_owned(), r.clone(), cond.clone()));
            }
        }
        self
    }

    /// Adds every grant of `other`.
    pub fn merge(&mut self, other: &Policy) -> &mut Self {
        self.grants.extend(other.grants.iter().cloned());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// Every action granted, sorted, once each.
    pub fn actions(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.grants.iter().map(|(a, _, _)| a).collect();
        set.into_iter().cloned().collect()
    }

    /// The same policy without any grant of `action` (tests: one action removed).
    pub fn without_action(&self, action: &str) -> Policy {
        Policy {
            grants: self
                .grants
                .iter()
                .filter(|(a, _, _)| a != action)
                .cloned()
                .collect(),
        }
    }

    /// The merged statements: per (action, condition) its resources (just `*`
    /// when one of them is `*`), then actions with the same resources and
    /// condition in one statement.
    pub fn statements(&self) -> Vec<Statement> {
        let mut per_action: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
        for (a, r, c) in &self.grants {
            per_action
                .entry((a.as_str(), c.as_str()))
                .or_default()
                .insert(r.as_str());
        }
        // An unconditional `*` covers every narrower or conditional grant of that action.
        let anywhere: BTreeSet<&str> = per_action
            .iter()
            .filter(|((_, c), rs)| c.is_empty() && rs.contains("*"))
            .map(|((a, _), _)| *a)
            .collect();
        let mut grouped: BTreeMap<(&str, Vec<&str>), BTreeSet<&str>> = BTreeMap::new();
        for ((a, c), rs) in per_action {
            if anywhere.contains(a) && !(c.is_empty() && rs.contains("*")) {
                continue;
            }
            let rs: Vec<&str> = if rs.contains("*") {
                vec!["*"]
            } else {
                rs.into_iter().collect()
            };
            grouped.entry((c, rs)).or_default().insert(a);
        }
        grouped
            .into_iter()
            .map(|((c, rs), actions)| Statement {
                actions: actions.into_iter().map(str::to_owned).collect(),
                resources: rs.into_iter().map(str::to_owned).collect(),
                condition: if c.is_empty() {
                    None
                } else {
                    serde_json::from_str(c).ok()
                },
            })
            .collect()
    }

    /// The IAM policy document.
    pub fn document(&self) -> Value {
        let statements: Vec<Value> = self
            .statements()
            .into_iter()
            .map(|s| {
                let mut v = json!({
                    "Effect": "Allow",
                    "Action": s.actions,
                    "Resource": s.resources,
                });
                if let Some(c) = s.condition {
                    v["Condition"] = c;
                }
                v
            })
            .collect();
        json!({ "Version": VERSION, "Statement": statements })
    }

    /// Reads a document back (Allow statements with `Action`/`Resource` as a
    /// string or a list), e.g. to merge the documents of several commands.
    pub fn from_document(doc: &Value) -> Result<Policy> {
        fn list(v: &Value) -> Vec<String> {
            match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            }
        }
        let mut p = Policy::new();
        let statements = match &doc["Statement"] {
            Value::Array(a) => a.clone(),
            v @ Value::Object(_) => vec![v.clone()],
            _ => return Err(Error::usage("policy document has no Statement")),
        };
        for s in statements {
            if s["Effect"] != "Allow" {
                return Err(Error::usage("only Allow statements are supported"));
            }
            let cond = match &s["Condition"] {
                Value::Null => String::new(),
                c => c.to_string(),
            };
            p.grant(list(&s["Action"]), list(&s["Resource"]), cond);
        }
        Ok(p)
    }
}

/// Where ARNs point: partition, region and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Scope {
    /// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition, self.region, self.account
        )
    }

    /// An ARN without a region (CloudFront, IAM): `arn:P:SERVICE::ACCOUNT:RESOURCE`.
    pub fn global_arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}::{}:{resource}",
            self.partition, self.account
        )
    }

    /// An ARN with neither region nor account (S3, Route 53): `arn:P:SERVICE:::RESOURCE`.
    pub fn bare_arn(&self, service: &str, resource: &str) -> String {
        format!("arn:{}:{service}:::{resource}", self.partition)
    }

    /// The ARN of a resource given by name or already as an ARN.
    pub fn arn_or(&self, name_or_arn: &str, service: &str, resource: &str) -> String {
        if name_or_arn.starts_with("arn:") {
            name_or_arn.to_owned()
        } else {
            self.arn(service, resource)
        }
    }
}

/// `<binary> policy`: the command line whose policy is wanted.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// AWS account id for the ARNs [default: * (any account)].
    #[arg(long, env = "LTC_ACCOUNT_ID", value_name = "ID")]
    pub account: Option<String>,

    /// The subcommand and its flags, exactly as they would be run
    /// (e.g. `shift --zone example.com --record www.example.com --to green`).
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SUBCOMMAND [FLAGS]"
    )]
    pub command: Vec<String>,
}

/// A command line parsed for its policy.
#[derive(Debug)]
pub struct Target<C> {
    pub cli: C,
    /// The global flags given before and after `policy` (after wins).
    pub globals: GlobalArgs,
    pub scope: Scope,
}

/// Parses the command line after `policy` with the binary's own parser, so
/// the policy is for exactly what that command would do. Bad input is a usage
/// error (exit 2); no AWS call is made.
pub fn parse_target<C: clap::Parser + HasGlobals>(
    binary: &str,
    outer: &GlobalArgs,
    args: &PolicyArgs,
) -> Result<Target<C>> {
    if args.command.first().is_some_and(|c| c == "policy") {
        return Err(Error::usage(format!(
            "{binary} policy policy: give the subcommand to print a policy for"
        )));
    }
    let account = match args.account.as_deref().map(str::trim) {
        None | Some("") | Some("*") => "*".to_owned(),
        Some(a) if a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()) => a.to_owned(),
        Some(a) => {
            return Err(Error::usage(format!(
                "--account must be a 12-digit AWS account id, got {}",
                crate::quote(a)
            )));
        }
    };
    let argv = std::iter::once(binary.to_owned()).chain(args.command.iter().cloned());
    let cli = C::try_parse_from(argv)
        .map_err(|e| Error::usage(crate::cli::one_line_usage_error(&e.to_string())))?;
    let inner = cli.globals();
    let globals = GlobalArgs {
        env_name: inner.env_name.clone().or_else(|| outer.env_name.clone()),
        state: inner.state.clone().or_else(|| outer.state.clone()),
        dry_run: inner.dry_run || outer.dry_run,
        yes: inner.yes || outer.yes,
        journal: inner.journal.clone().or_else(|| outer.journal.clone()),
        reason: inner.reason.clone().or_else(|| outer.reason.clone()),
        aws: crate::aws::AwsArgs {
            region: inner
                .aws
                .region
                .clone()
                .or_else(|| outer.aws.region.clone()),
            ..inner.aws.clone()
        },
        ..outer.clone()
    };
    globals.aws.validate()?;
    crate::state::env_key(globals.env_name.as_deref())?;
    if let Some(raw) = &globals.state {
        crate::state::Root::parse(raw)?;
    }
    let region = globals
        .aws
        .region
        .clone()
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "*".to_owned());
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    Ok(Target {
        cli,
        scope: Scope {
            partition: partition.to_owned(),
            region,
            account,
        },
        globals,
    })
}

/// Prints the document as the command's result.
pub fn print(ctx: &Context, policy: &Policy) -> Result<()> {
    // The policy document is the product: printed without the result envelope.
    ctx.out.document(&policy.document())
}

/// How a command uses the environment's state tree (`LTC_STATE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateUse {
    /// Takes the run lock and journals intent and outcome (every change).
    pub change: bool,
    /// Refuses while frozen (deploys of new code).
    pub freeze_check: bool,
    /// Journals intent and outcome without taking the lock (`lock break`, freeze).
    pub write_journal: bool,
    /// Reads the shared journal (undo, reverts, `last_change`).
    pub read_journal: bool,
    /// Reads per-run records.
    pub read_runs: bool,
    /// Writes per-run records.
    pub write_runs: bool,
    /// Reads the lock (status).
    pub read_lock: bool,
    /// Replaces or deletes the lock whoever holds it (`lock break`).
    pub break_lock: bool,
    /// Creates `freeze.json` (freeze).
    pub write_freeze: bool,
    /// Deletes `freeze.json` (unfreeze).
    pub lift_freeze: bool,
}

impl StateUse {
    /// No state access (a read-only command, or a dry run).
    pub fn none() -> Self {
        Self::default()
    }
    /// A command that changes something: lock plus journal.
    pub fn change() -> Self {
        StateUse {
            change: true,
            ..Self::default()
        }
    }
    /// A change that also reads the journal (undo, revert, resume).
    pub fn change_reading_journal() -> Self {
        StateUse {
            change: true,
            read_journal: true,
            ..Self::default()
        }
    }
    /// Only reads the journal.
    pub fn read_journal() -> Self {
        StateUse {
            read_journal: true,
            ..Self::default()
        }
    }
}

/// The S3 grants for `use_` of the state tree named by `--state`/`LTC_STATE`
/// for environment `env` (`--env`, else `default`; `Some("*")` for any);
/// nothing when the state is a local folder.
pub fn state(globals: &GlobalArgs, env: Option<&str>, use_: StateUse) -> Policy {
    let mut p = Policy::new();
    let Some(crate::state::Root::S3 { bucket, prefix }) = globals
        .state
        .as_deref()
        .and_then(|raw| crate::state::Root::parse(raw).ok())
    else {
        return p;
    };
    let env = env
        .or(globals.env_name.as_deref())
        .unwrap_or("default")
        .to_owned();
    let base = if prefix.is_empty() {
        format!("{env}/")
    } else {
        format!("{prefix}/{env}/")
    };
    let obj = |key: &str| format!("arn:aws:s3:::{bucket}/{base}{key}");
    let list = |p: &mut Policy, key: &str| {
        p.allow_if(
            ["s3:ListBucket"],
            [format!("arn:aws:s3:::{bucket}")],
            json!({ "StringLike": { "s3:prefix": [format!("{base}{key}*")] } }),
        );
    };
    if use_.change {
        // Lock: create-if-absent, renew by ETag, read on conflict (held by
        // someone else, or by this run), delete when done. Journal: one object
        // per entry.
        p.allow(
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [obj(crate::state::LOCK_KEY)],
        );
    }
    if use_.change || use_.write_journal {
        p.allow(["s3:PutObject"], [obj("journal/*")]);
    }
    if use_.freeze_check {
        p.allow(["s3:GetObject"], [obj(crate::state::FREEZE_KEY)]);
    }
    if use_.read_journal {
        p.allow(["s3:GetObject"], [obj("journal/*")]);
        list(&mut p, "journal/");
    }
    if use_.read_runs {
        p.allow(["s3:GetObject"], [obj("runs/*")]);
        list(&mut p, "runs/");
    }
    if use_.write_runs {
        p.allow(["s3:PutObject"], [obj("runs/*")]);
    }
    if use_.read_lock {
        p.allow(
            ["s3:GetObject"],
            [obj(crate::state::LOCK_KEY), obj(crate::state::FREEZE_KEY)],
        );
    }
    if use_.break_lock {
        p.allow(
            ["s3:GetObject", "s3:DeleteObject"],
            [obj(crate::state::LOCK_KEY)],
        );
    }
    if use_.write_freeze {
        p.allow(
            ["s3:GetObject", "s3:PutObject"],
            [obj(crate::state::FREEZE_KEY)],
        );
    }
    if use_.lift_freeze {
        p.allow(
            ["s3:GetObject", "s3:DeleteObject"],
            [obj(crate::state::FREEZE_KEY)],
        );
    }
    p
}

/// The action an AccessDenied message names (`... not authorized to perform:
/// ecs:UpdateService on resource ...`), for a one-line denial.
pub fn denied_action(text: &str) -> Option<String> {
    let rest = text.split("not authorized to perform: ").nth(1)?;
    let action: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
        .collect();
    action.contains(':').then_some(action)
}

/// The IAM action an operation of this toolkit needs, for operations whose
/// name alone does not say the service (`PutObject (state)` -> `s3:PutObject`).
fn action_of(operation: &str) -> Option<String> {
    let op = operation.split_whitespace().next().unwrap_or_default();
    let s3 = |a: &str| Some(format!("s3:{a}"));
    match op {
        "GetObject" | "HeadObject" => s3("GetObject"),
        "PutObject" | "DeleteObject" | "GetBucketVersioning" => s3(op),
        "ListObjectsV2" => s3("ListBucket"),
        "ListObjectVersions" => s3("ListBucketVersions"),
        "CopyObject" => Some("s3:GetObjectVersion or s3:PutObject".into()),
        "DescribeServices"
        | "UpdateService"
        | "DescribeTaskDefinition"
        | "ListTaskDefinitions"
        | "ListTasks"
        | "DescribeTasks" => Some(format!("ecs:{op}")),
        "DescribeScalableTargets"
        | "DescribeScalingPolicies"
        | "DescribeScheduledActions"
        | "RegisterScalableTarget" => Some(format!("application-autoscaling:{op}")),
        "DescribeAlarms" | "GetMetricData" => Some(format!("cloudwatch:{op}")),
        "GetParameter" => Some(format!("ssm:{op}")),
        "AssumeRole" | "GetCallerIdentity" => Some(format!("sts:{op}")),
        "CreateInvalidation"
        | "GetInvalidation"
        | "ListInvalidations"
        | "GetDistributionConfig" => Some(format!("cloudfront:{op}")),
        "ChangeResourceRecordSets"
        | "GetChange"
        | "GetHealthCheckStatus"
        | "ListHostedZonesByName"
        | "ListResourceRecordSets" => Some(format!("route53:{op}")),
        _ if op.contains("DB") => Some(format!("rds:{op}")),
        _ if op.contains("Stack") || op.contains("ChangeSet") || op == "GetTemplate" => {
            Some(format!("cloudformation:{op}"))
        }
        _ => None,
    }
}

/// Whether an AWS error is a refusal for want of rights (as
/// [`explain_denial`] leaves it): such a request was not applied.
pub fn is_denied(e: &crate::error::AwsError) -> bool {
    matches!(
        e.code.as_deref(),
        Some(
            "AccessDenied"
                | "AccessDeniedException"
                | "UnauthorizedOperation"
                | "AuthorizationError"
        )
    ) || e.message.starts_with("access denied: ")
}

/// Turns an access-denied answer into one line naming the IAM action that was
/// missing, whatever shape it came in (a modelled `AccessDenied*` code, or, from
/// the emulator, an XML error inside a JSON protocol's 403). Other errors pass
/// unchanged.
pub fn explain_denial(
    operation: &str,
    code: Option<String>,
    message: String,
    body: &str,
) -> (Option<String>, String) {
    let denied_code = code.as_deref().is_some_and(|c| {
        matches!(
            c,
            "AccessDenied"
                | "AccessDeniedException"
                | "UnauthorizedOperation"
                | "AuthorizationError"
        )
    });
    let denied_body =
        body.contains("<Code>AccessDenied</Code>") || body.contains("\"AccessDeniedException\"");
    if !denied_code && !denied_body {
        return (code, message);
    }
    // The body first: the message may be a cut excerpt of it.
    let action = denied_action(body)
        .or_else(|| denied_action(&message))
        .or_else(|| action_of(operation))
        .unwrap_or_else(|| format!("the action behind {operation}"));
    (
        Some(
            code.filter(|_| denied_code)
                .unwrap_or_else(|| "AccessDenied".into()),
        ),
        format!(
            "access denied: this caller may not perform {action}; \
             `policy` before the same subcommand and flags prints the policy it needs"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_is_known_by_its_code_or_by_the_explained_message() {
        let e = |code: Option<&str>, message: &str| crate::error::AwsError {
            operation: "ModifyListener".into(),
            code: code.map(str::to_owned),
            message: message.into(),
            status: Some(403),
        };
        assert!(is_denied(&e(Some("AccessDenied"), "")));
        assert!(is_denied(&e(
            None,
            "access denied: this caller may not perform x:Y; ..."
        )));
        assert!(!is_denied(&e(Some("ValidationError"), "bad weight")));
        assert!(!is_denied(&e(Some("Throttling"), "slow down")));
    }

    #[test]
    fn grants_merge_into_few_sorted_statements() {
        let mut p = Policy::new();
        p.allow(["rds:DescribeDBInstances"], ["*"]);
        p.allow(
            ["rds:CreateDBSnapshot", "rds:AddTagsToResource"],
            ["arn:aws:rds:r:a:db:x"],
        );
        p.allow(["rds:CreateDBSnapshot"], ["arn:aws:rds:r:a:snapshot:*"]);
        p.allow(["rds:DescribeDBInstances"], ["arn:aws:rds:r:a:db:x"]);
        p.allow(["rds:CreateDBSnapshot"], ["arn:aws:rds:r:a:db:x"]);
        let doc = p.document();
        assert_eq!(doc["Version"], VERSION);
        let st = p.statements();
        assert_eq!(st.len(), 3, "{doc:#}");
        // DescribeDBInstances only once, on *.
        let describe: Vec<_> = st
            .iter()
            .filter(|s| s.actions.contains(&"rds:DescribeDBInstances".to_owned()))
            .collect();
        assert_eq!(describe.len(), 1);
        assert_eq!(describe[0].resources, vec!["*"]);
        assert_eq!(
            p.actions(),
            vec![
                "rds:AddTagsToResource",
                "rds:CreateDBSnapshot",
                "rds:DescribeDBInstances"
            ]
        );
        // Same input, same bytes.
        let mut q = Policy::new();
        q.merge(&p);
        assert_eq!(q.document().to_string(), doc.to_string());
        let back = Policy::from_document(&doc).unwrap();
        assert_eq!(back.document(), doc);
        assert!(
            !p.without_action("rds:CreateDBSnapshot")
                .actions()
                .contains(&"rds:CreateDBSnapshot".to_owned())
        );
    }

    #[test]
    fn state_grants_follow_ltc_state() {
        let g = GlobalArgs {
            state: Some("s3://ltc-state/teams/a".into()),
            env_name: Some("prod".into()),
            ..Default::default()
        };
        let p = state(&g, None, StateUse::change_reading_journal());
        let doc = p.document().to_string();
        assert!(
            doc.contains("arn:aws:s3:::ltc-state/teams/a/prod/lock.json"),
            "{doc}"
        );
        assert!(doc.contains("teams/a/prod/journal/*"), "{doc}");
        assert!(doc.contains("s3:ListBucket"), "{doc}");
        let local = GlobalArgs {
            state: Some("/tmp/state".into()),
            ..Default::default()
        };
        assert!(state(&local, None, StateUse::change()).is_empty());
    }

    #[test]
    fn denied_action_is_found_in_the_message() {
        assert_eq!(
            denied_action(
                "User: arn:aws:iam::123456789012:user/u is not authorized to perform: ecs:UpdateService on resource: x"
            )
            .as_deref(),
            Some("ecs:UpdateService")
        );
        assert_eq!(denied_action("Access Denied"), None);
    }

    #[test]
    fn denials_name_the_action_in_one_line() {
        let xml = "<?xml version=\"1.0\"?><ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/u is not authorized to perform: ecs:DescribeTaskDefinition</Message></Error></Errors></ErrorResponse>";
        let cut = "unexpected response: ... not authorized to perform: ecs:DescribeTaskDefinit";
        let (code, msg) = explain_denial("DescribeTaskDefinition", None, cut.into(), xml);
        assert_eq!(code.as_deref(), Some("AccessDenied"));
        assert!(msg.contains("ecs:DescribeTaskDefinition;"), "{msg}");
        let (_, msg) = explain_denial(
            "PutObject (state)",
            Some("AccessDenied".into()),
            "Access Denied".into(),
            "",
        );
        assert!(msg.contains("s3:PutObject"), "{msg}");
        let (_, msg) = explain_denial(
            "ListObjectsV2 (state)",
            Some("AccessDenied".into()),
            "Access Denied".into(),
            "",
        );
        assert!(msg.contains("s3:ListBucket"), "{msg}");
        let (code, msg) = explain_denial(
            "DescribeStacks",
            Some("ValidationError".into()),
            "no stack".into(),
            "",
        );
        assert_eq!(
            (code.as_deref(), msg.as_str()),
            (Some("ValidationError"), "no stack")
        );
    }
}
