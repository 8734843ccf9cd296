//! Delivery to one destination, each bounded by its own short timeout so a
//! dead endpoint never holds up a rollback: SNS `Publish` (the summary JSON as
//! the message) and the webhook `POST`. A failure is returned as a reason, one
//! line; the webhook's URL never appears in it (it is registered with
//! `common::redact`, and reqwest's errors are stripped of it).

use std::time::{Duration, Instant};

use aws_sdk_sns::types::MessageAttributeValue;
use common::{AwsResultExt, Context};
use serde::Serialize;
use serde_json::Value;

/// What happened at one destination.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Delivery {
    /// `sns` or `webhook`.
    pub kind: &'static str,
    /// The topic ARN, or `$VAR` for the webhook (never its URL).
    pub target: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// SNS's message id, or the webhook's HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub elapsed_ms: u64,
    /// Nothing was sent (`--dry-run`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

impl Delivery {
    fn done(kind: &'static str, target: &str, started: Instant, r: Result<String, String>) -> Self {
        let (ok, detail, reason) = match r {
            Ok(d) => (true, Some(d), None),
            Err(e) => (false, None, Some(common::clip(&e))),
        };
        Delivery {
            kind,
            target: target.to_owned(),
            ok,
            reason,
            detail,
            elapsed_ms: started.elapsed().as_millis() as u64,
            dry_run: false,
        }
    }

    pub fn skipped(kind: &'static str, target: &str) -> Self {
        Delivery {
            kind,
            target: target.to_owned(),
            ok: true,
            reason: None,
            detail: Some("dry run: not sent".into()),
            elapsed_ms: 0,
            dry_run: true,
        }
    }
}

/// One SNS message.
#[derive(Debug, Clone)]
pub struct SnsMessage {
    pub subject: String,
    pub body: String,
    /// Message attributes (for subscription filter policies): event, env, kind.
    pub attributes: Vec<(&'static str, String)>,
    /// For FIFO topics: the group (the environment) and a deduplication id.
    pub fifo: Option<(String, String)>,
}

/// Publishes to `topic`, the AWS configuration loaded inside the same
/// `timeout` (credentials included).
pub async fn sns(ctx: &Context, topic: &str, msg: &SnsMessage, timeout: Duration) -> Delivery {
    let started = Instant::now();
    let r = tokio::time::timeout(timeout, publish(ctx, topic, msg, timeout))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer from SNS within {}",
                common::HumanDuration(timeout)
            ))
        });
    Delivery::done("sns", topic, started, r)
}

async fn publish(
    ctx: &Context,
    topic: &str,
    msg: &SnsMessage,
    timeout: Duration,
) -> Result<String, String> {
    let aws = ctx.aws().await.map_err(|e| e.to_string())?;
    let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .operation_attempt_timeout(timeout)
        .operation_timeout(timeout)
        .build();
    let conf = aws_sdk_sns::config::Builder::from(&aws.config)
        .timeout_config(timeouts)
        .build();
    let client = aws_sdk_sns::Client::from_conf(conf);
    let mut req = client
        .publish()
        .topic_arn(topic)
        .subject(&msg.subject)
        .message(&msg.body);
    for (name, value) in &msg.attributes {
        req = req.message_attributes(
            *name,
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    if let Some((group, dedup)) = &msg.fifo {
        req = req.message_group_id(group).message_deduplication_id(dedup);
    }
    let out = req.send().await.aws("Publish").map_err(|e| e.to_string())?;
    Ok(out.message_id().unwrap_or_default().to_owned())
}

/// POSTs `payload` to the webhook at `url`; `label` (`$VAR`) names it in the result.
pub async fn webhook(url: &str, label: &str, payload: &Value, timeout: Duration) -> Delivery {
    let started = Instant::now();
    let r = post(url, payload, timeout).await;
    Delivery::done("webhook", label, started, r)
}

async fn post(url: &str, payload: &Value, timeout: Duration) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        // A redirect could send the payload somewhere else: not followed.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ltc-notify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("failed to build the HTTP client: {}", e.without_url()))?;
    let what = |e: reqwest::Error| -> String {
        if e.is_timeout() {
            format!("no answer within {}", common::HumanDuration(timeout))
        } else if e.is_connect() {
            format!("could not connect: {}", chain(&e.without_url()))
        } else {
            chain(&e.without_url())
        }
    };
    let body =
        serde_json::to_vec(payload).map_err(|e| format!("failed to encode the message: {e}"))?;
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(what)?;
    let status = resp.status();
    if status.is_success() {
        return Ok(format!("HTTP {}", status.as_u16()));
    }
    // The body says why (Slack: "invalid_payload", "no_service"); read briefly.
    let body = tokio::time::timeout(Duration::from_millis(500), resp.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let body: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let body: String = body.chars().take(200).collect();
    Err(if body.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {}: {body}", status.as_u16())
    })
}

/// An error with its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}
