//! `notify send`: checks every input (exit 2, nothing sent), builds the run's
//! summary, sends it to every destination at once (each with its own short
//! timeout), journals each delivery and prints one result. Exit 0 when every
//! destination got it, 3 when one did not.

use std::path::PathBuf;
use std::time::Duration;

use common::{Context, Error, HumanDuration, Render, Result};
use serde::Serialize;
use serde_json::json;
use sha2::Digest;

use crate::deliver::{self, Delivery, SnsMessage};
use crate::summary::{self, Event, Summary};

#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// What happened: deploy-start, deploy-step-failed, deploy-complete,
    /// rollback-start, rollback-step-failed, rollback-complete.
    #[arg(long, value_enum)]
    pub event: Event,

    /// The run id (LTC_RUN_ID of the runbook): names the run and finds its journal entries.
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run_id: String,

    /// The run folder (RB_RUN_DIR) whose timeline and outputs are summarized;
    /// files missing from it are left out of the summary.
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,

    /// The step that failed [default: the timeline's last failed step].
    #[arg(long, value_name = "NAME")]
    pub step: Option<String>,

    /// A line of text added to the notification.
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,

    /// SNS topic to publish to (the summary JSON as the message).
    #[arg(long, value_name = "ARN")]
    pub sns_topic: Option<String>,

    /// The NAME of the environment variable holding the webhook URL
    /// (Slack-compatible). The URL is a secret: never printed or journaled.
    #[arg(long, value_name = "VAR")]
    pub webhook_url_env: Option<String>,

    /// Time allowed per destination (they are tried at the same time).
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub timeout: HumanDuration,
}

/// The checked input.
#[derive(Debug)]
struct Plan {
    env: String,
    topic: Option<String>,
    /// (`$VAR`, URL)
    webhook: Option<(String, String)>,
    timeout: Duration,
}

const MAX_MESSAGE: usize = 1000;
/// SNS's limit for a message is 256 KiB; the summary stays well under it.
const MAX_SNS_BODY: usize = 200 * 1024;

fn check_name(what: &str, v: &str, max: usize) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= max
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "{what} must be 1-{max} characters of letters, digits, '.', '_', '-' or ':', got {}",
            common::quote(v)
        )))
    }
}

/// An SNS topic ARN: arn:PARTITION:sns:REGION:ACCOUNT:NAME.
pub fn check_topic(arn: &str) -> Result<()> {
    let parts: Vec<&str> = arn.split(':').collect();
    let name_ok = |n: &str| {
        let base = n.strip_suffix(".fifo").unwrap_or(n);
        !base.is_empty()
            && base.len() <= 256
            && base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && parts[3]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && name_ok(parts[5]);
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "--sns-topic must be a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), got {}",
            common::quote(arn)
        )))
    }
}

/// The webhook URL from the variable `var`; the value is never quoted in an error.
fn webhook_url(var: &str) -> Result<String> {
    let name_ok = !var.is_empty()
        && var.len() <= 128
        && var
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Err(Error::usage(format!(
            "--webhook-url-env takes the NAME of a variable holding the URL, got {}",
            common::quote(var)
        )));
    }
    let url = std::env::var(var).unwrap_or_default();
    let url = url.trim().to_owned();
    if url.is_empty() {
        return Err(Error::usage(format!(
            "--webhook-url-env {var}: the variable {var} is not set (export {var}=https://...)"
        )));
    }
    // Masked everywhere from here on, even if a check below fails.
    common::redact::register(&url);
    let parsed = reqwest::Url::parse(&url).map_err(|_| {
        Error::usage(format!(
            "--webhook-url-env {var}: the value is not a URL (not shown: it is a secret)"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::usage(format!(
            "--webhook-url-env {var}: the value is not an http(s) URL (not shown: it is a secret)"
        )));
    }
    // The path and query carry the token (hooks.slack.com/services/T/B/TOKEN):
    // masked on their own too, in case something prints them without the host.
    let tail = &url[url.find(parsed.path()).unwrap_or(url.len())..];
    if tail.chars().count() >= common::redact::MIN_ENV_SECRET_LEN {
        common::redact::register(tail);
    }
    Ok(url)
}

fn check(ctx: &Context, a: &SendArgs) -> Result<Plan> {
    let env = ctx
        .globals
        .env_name
        .clone()
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| Error::usage("--env NAME is required: the environment the run is in"))?;
    check_name("--run", &a.run_id, 128)?;
    if let Some(step) = &a.step {
        check_name("--step", step, 64)?;
    }
    if let Some(dir) = &a.run_dir
        && !dir.is_dir()
    {
        return Err(Error::usage(format!(
            "--run-dir {} is not a folder",
            common::quote(&dir.display().to_string())
        )));
    }
    if let Some(m) = &a.message
        && (m.chars().count() > MAX_MESSAGE
            || m.chars().any(|c| c.is_control() && c != '\n' && c != '\t'))
    {
        return Err(Error::usage(format!(
            "--message must be at most {MAX_MESSAGE} characters without control characters"
        )));
    }
    if let Some(t) = &a.sns_topic {
        check_topic(t)?;
    }
    let webhook = match &a.webhook_url_env {
        Some(var) => Some((format!("${var}"), webhook_url(var)?)),
        None => None,
    };
    if a.sns_topic.is_none() && webhook.is_none() {
        return Err(Error::usage(
            "nothing to send to: give --sns-topic ARN and/or --webhook-url-env VAR",
        ));
    }
    let timeout = a.timeout.0;
    if timeout.is_zero() || timeout > Duration::from_secs(60) {
        return Err(Error::usage(format!(
            "--timeout must be above 0 and at most 60s, got {}",
            a.timeout
        )));
    }
    Ok(Plan {
        env,
        topic: a.sns_topic.clone(),
        webhook,
        timeout: common::duration::effective_timeout(timeout)?,
    })
}

/// Who is running the runbook: LTC_OPERATOR, else USER, else the login name.
pub fn operator() -> String {
    ["LTC_OPERATOR", "USER"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(common::journal::local_user)
}

/// The run's journal entries, read within `limit` (a shared journal in S3 is
/// read object by object; a slow one must not hold the notification up).
async fn journal_changes(
    ctx: &Context,
    run_id: &str,
    limit: Duration,
) -> std::result::Result<(Vec<summary::ChangeLine>, usize), String> {
    let late = |_| {
        format!(
            "journal not read: no answer within {}",
            HumanDuration(limit)
        )
    };
    let journal = tokio::time::timeout(limit, ctx.journal_reader())
        .await
        .map_err(late)?
        .map_err(|e| format!("journal not read: {e}"))?;
    let run = run_id.to_owned();
    let read = tokio::task::spawn_blocking(move || {
        journal.records(|e| e.run_id.as_deref() == Some(run.as_str()))
    });
    let records = tokio::time::timeout(limit, read)
        .await
        .map_err(late)?
        .map_err(|e| format!("journal not read: {e}"))?
        .map_err(|e| format!("journal not read: {e}"))?;
    Ok(summary::changes(&records))
}

/// Builds the summary of the run.
pub async fn build_summary(ctx: &Context, a: &SendArgs, env: &str, limit: Duration) -> Summary {
    let mut notes = Vec::new();
    let (steps, figures, resume) = match &a.run_dir {
        Some(dir) => {
            let mut resume = None;
            if a.event.is_failure() {
                // The runbook's "resume with:" line reaches the transcript through
                // a tee; give it a moment.
                for _ in 0..10 {
                    resume = summary::resume_command(dir);
                    if resume.is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            (
                summary::read_timeline(dir),
                summary::read_figures(dir),
                resume,
            )
        }
        None => (Vec::new(), summary::Figures::default(), None),
    };
    let failed_step = if a.event.is_failure() {
        summary::failed_step(&steps, a.step.as_deref())
    } else {
        None
    };
    let (changes, changes_total) = match journal_changes(ctx, &a.run_id, limit).await {
        Ok(c) => c,
        Err(e) => {
            notes.push(common::clip(&e));
            (Vec::new(), 0)
        }
    };
    Summary {
        event: a.event,
        kind: a.event.kind(),
        headline: a.event.headline().to_owned(),
        env: env.to_owned(),
        run_id: a.run_id.clone(),
        operator: operator(),
        host: common::journal::hostname(),
        time: chrono::Utc::now(),
        message: a.message.clone(),
        run_dir: a.run_dir.as_ref().map(|d| d.display().to_string()),
        total_ms: steps.iter().map(|s| s.duration_ms).sum(),
        steps,
        failed_step,
        resume,
        figures,
        changes,
        changes_total,
        notes,
    }
}

/// The SNS subject: printable ASCII, no line breaks, at most 100 characters.
pub fn subject(sum: &Summary) -> String {
    let raw = format!(
        "[{}] {} {}{}",
        sum.env,
        sum.kind,
        sum.event.name().split_once('-').map_or("", |(_, e)| e),
        sum.failed_step
            .as_ref()
            .map(|f| format!(" at {}", f.name))
            .unwrap_or_default()
    );
    let clean: String = raw
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { ' ' })
        .collect();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    clean.chars().take(100).collect()
}

/// The SNS message: the summary JSON, its change list shortened if it would
/// not fit.
pub fn sns_message(sum: &Summary) -> SnsMessage {
    let mut s = sum.clone();
    let mut body = serde_json::to_string(&s).unwrap_or_default();
    while body.len() > MAX_SNS_BODY && !s.changes.is_empty() {
        let keep = s.changes.len() / 2;
        s.changes.drain(..s.changes.len() - keep);
        body = serde_json::to_string(&s).unwrap_or_default();
    }
    let fifo = None;
    SnsMessage {
        subject: subject(sum),
        body,
        attributes: vec![
            ("event", sum.event.name().to_owned()),
            ("kind", sum.kind.to_owned()),
            ("env", sum.env.clone()),
        ],
        fifo,
    }
}

fn dedup_id(sum: &Summary) -> String {
    let mut h = sha2::Sha256::new();
    h.update(sum.run_id.as_bytes());
    h.update(sum.event.name().as_bytes());
    h.update(
        sum.failed_step
            .as_ref()
            .map(|f| f.name.as_str())
            .unwrap_or_default()
            .as_bytes(),
    );
    hex::encode(h.finalize())
}

/// The result printed on stdout.
#[derive(Debug, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct SendResult {
    pub event: Event,
    pub env: String,
    pub run_id: String,
    pub dry_run: bool,
    pub delivered: usize,
    pub failed: usize,
    pub destinations: Vec<Delivery>,
    pub summary: Summary,
}

impl Render for SendResult {
    fn render_text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut out = format!(
            "{} (env {}, run {}): {} of {} destination(s) {}\n",
            self.event.name(),
            self.env,
            self.run_id,
            self.delivered,
            self.destinations.len(),
            if self.dry_run {
                "would be sent to (dry run)"
            } else {
                "got it"
            }
        );
        for d in &self.destinations {
            let state = match (&d.reason, &d.detail) {
                (Some(r), _) => format!("FAILED: {r}"),
                (None, Some(detail)) => format!("ok ({detail})"),
                (None, None) => "ok".to_owned(),
            };
            out.push_str(&format!(
                "  {:<8} {}  {}  {} ms\n",
                d.kind, d.target, state, d.elapsed_ms
            ));
        }
        for line in crate::slack::figure_lines(&self.summary) {
            out.push_str(&format!("  {line}\n"));
        }
        w.write_all(out.as_bytes())
    }
}

pub async fn run(ctx: &Context, a: &SendArgs) -> Result<()> {
    let plan = check(ctx, a)?;
    let sum = build_summary(ctx, a, &plan.env, plan.timeout).await;
    let mut msg = sns_message(&sum);
    if plan.topic.as_deref().is_some_and(|t| t.ends_with(".fifo")) {
        msg.fifo = Some((plan.env.clone(), dedup_id(&sum)));
    }
    let payload = crate::slack::payload(&sum);

    let destinations = if ctx.dry_run() {
        let mut d = Vec::new();
        if let Some(t) = &plan.topic {
            ctx.out.info(format!("dry run: would publish to {t}"));
            d.push(Delivery::skipped("sns", t));
        }
        if let Some((label, _)) = &plan.webhook {
            ctx.out
                .info(format!("dry run: would POST to the webhook in {label}"));
            d.push(Delivery::skipped("webhook", label));
        }
        d
    } else {
        deliver_all(ctx, &plan, &sum, &msg, &payload).await
    };

    let failed = destinations.iter().filter(|d| !d.ok).count();
    let result = SendResult {
        event: a.event,
        env: plan.env.clone(),
        run_id: a.run_id.clone(),
        dry_run: ctx.dry_run(),
        delivered: destinations.len() - failed,
        failed,
        destinations,
        summary: sum,
    };
    for d in result.destinations.iter().filter(|d| !d.ok) {
        ctx.out.warn(format!(
            "notification {} not delivered to {} {}: {}",
            a.event.name(),
            d.kind,
            d.target,
            d.reason.as_deref().unwrap_or("unknown")
        ));
    }
    ctx.out.result(&result)?;
    if failed > 0 {
        let reasons: Vec<String> = result
            .destinations
            .iter()
            .filter(|d| !d.ok)
            .map(|d| {
                format!(
                    "{} {}: {}",
                    d.kind,
                    d.target,
                    d.reason.as_deref().unwrap_or("unknown")
                )
            })
            .collect();
        return Err(Error::Aws(common::AwsError {
            operation: format!(
                "delivering {} to {failed} of {} destination(s)",
                a.event.name(),
                result.destinations.len()
            ),
            code: None,
            message: reasons.join("; "),
            status: None,
        }));
    }
    Ok(())
}

/// Journals and sends to every destination at the same time.
async fn deliver_all(
    ctx: &Context,
    plan: &Plan,
    sum: &Summary,
    msg: &SnsMessage,
    payload: &serde_json::Value,
) -> Vec<Delivery> {
    // The journal says who was told what; a journal that cannot be written
    // is a warning here, never a reason not to notify.
    let journal = match tokio::time::timeout(plan.timeout, ctx.journal()).await {
        Ok(Ok(j)) => Some(j),
        Ok(Err(e)) => {
            ctx.out
                .warn(format!("notifications are not journaled: {e}"));
            None
        }
        Err(_) => {
            ctx.out
                .warn("notifications are not journaled: the journal did not answer");
            None
        }
    };
    let before = json!({ "event": sum.event.name(), "run_id": sum.run_id });
    let intent = |target: &str| {
        journal.and_then(|j| match j.intent("notify.send", target, before.clone()) {
            Ok(c) => Some(c),
            Err(e) => {
                ctx.out.warn(format!("notification not journaled: {e}"));
                None
            }
        })
    };
    let sns_change = plan.topic.as_deref().and_then(intent);
    let hook_change = plan.webhook.as_ref().and_then(|(l, _)| intent(l));

    let sns_fut = async {
        match &plan.topic {
            Some(t) => Some(deliver::sns(ctx, t, msg, plan.timeout).await),
            None => None,
        }
    };
    let hook_fut = async {
        match &plan.webhook {
            Some((label, url)) => Some(deliver::webhook(url, label, payload, plan.timeout).await),
            None => None,
        }
    };
    let (s, h) = tokio::join!(sns_fut, hook_fut);
    let mut out = Vec::new();
    for (d, change) in [(s, sns_change), (h, hook_change)] {
        let Some(d) = d else { continue };
        if let Some(c) = change {
            let after = json!({ "ok": d.ok, "detail": d.detail, "elapsed_ms": d.elapsed_ms });
            let r = if d.ok {
                c.ok(after)
            } else {
                c.failed(after, d.reason.clone().unwrap_or_default())
            };
            if let Err(e) = r {
                ctx.out
                    .warn(format!("notification outcome not journaled: {e}"));
            }
        }
        out.push(d);
    }
    out
}
