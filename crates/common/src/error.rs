//! The shared error type. Each variant maps to one documented exit code
//! (see [`crate::exit`]), so binaries never pick numbers by hand.

use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::exit;

/// Everything a toolkit command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags, names, files or values, found before any AWS call.
    #[error("{0}")]
    Usage(String),
    /// No usable AWS credentials or region.
    #[error("{0}")]
    Credentials(String),
    /// An AWS API call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// Something the operator named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A check, assertion, threshold or gate failed.
    #[error("{0}")]
    CheckFailed(String),
    /// A wait ran out of time; `reattach` says how to pick it up again.
    #[error("timed out after {waited}: {what}{}", reattach_hint(.reattach))]
    Timeout {
        what: String,
        waited: String,
        reattach: Option<String>,
    },
    /// The change failed and was undone.
    #[error("{0}")]
    Reverted(String),
    /// The change failed and undoing it failed or could not be confirmed.
    #[error("{0}")]
    RevertFailed(String),
    /// Refused before any change: another run holds the environment's lock,
    /// or the environment is frozen.
    #[error("{0}")]
    Refused(String),
    /// Stopped by a signal.
    #[error("interrupted")]
    Interrupted,
    /// Local I/O (journal, files) failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

fn reattach_hint(reattach: &Option<String>) -> String {
    match reattach {
        Some(cmd) => format!("; the operation may still be running, re-attach with: {cmd}"),
        None => String::new(),
    }
}

impl Error {
    /// The documented exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Credentials(_) | Error::Aws(_) | Error::NotFound(_) => exit::AWS,
            Error::CheckFailed(_) => exit::CHECK_FAILED,
            Error::Timeout { .. } => exit::TIMEOUT,
            Error::Reverted(_) => exit::REVERTED,
            Error::RevertFailed(_) => exit::REVERT_FAILED,
            Error::Refused(_) => exit::REFUSED,
            Error::Interrupted => exit::INTERRUPTED,
            // Local I/O (journal, state folder, files) is an environment failure,
            // not a bug: exit 3 like a failed call.
            Error::Io { .. } => exit::AWS,
            Error::Internal(_) => exit::INTERNAL,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// The exit code for any error chain: a toolkit [`Error`] anywhere in the chain
/// decides; anything else is an internal error.
pub fn exit_code_of(err: &(dyn std::error::Error + 'static)) -> u8 {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(ours) = e.downcast_ref::<Error>() {
            return ours.exit_code();
        }
        cur = e.source();
    }
    exit::INTERNAL
}

/// A failed AWS call, reduced to what an operator needs: the operation, the
/// service's error code and message, and the HTTP status when there was a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub operation: String,
    pub code: Option<String>,
    pub message: String,
    pub status: Option<u16>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.operation)?;
        match (&self.code, self.status) {
            (Some(code), Some(status)) => write!(f, " ({code}, HTTP {status})")?,
            (Some(code), None) => write!(f, " ({code})")?,
            (None, Some(status)) => write!(f, " (HTTP {status})")?,
            (None, None) => {}
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    /// True for throttling codes that every service uses in some spelling.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "Throttling"
                    | "ThrottlingException"
                    | "ThrottledException"
                    | "RequestLimitExceeded"
                    | "TooManyRequestsException"
                    | "SlowDown"
                    | "PriorRequestNotComplete"
            )
        )
    }

    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

const BODY_EXCERPT: usize = 200;

/// Converts any SDK error into an [`AwsError`], keeping the service's code and
/// message, or, when the response could not be parsed (the emulator sometimes
/// answers with an HTML page), its HTTP status and the start of its body.
pub fn aws_error<E>(operation: &str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let body_excerpt = err
        .raw_response()
        .and_then(|r| r.body().bytes())
        .map(|b| {
            let text = String::from_utf8_lossy(b);
            let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            one_line.chars().take(BODY_EXCERPT).collect::<String>()
        })
        .unwrap_or_default();
    let code = err.code().map(str::to_owned);
    let no_response = matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
    );
    let message = match (&err, err.message()) {
        (_, Some(m)) if !m.is_empty() => m.to_owned(),
        (SdkError::TimeoutError(_), _) => "request timed out".to_owned(),
        (SdkError::DispatchFailure(d), _) => {
            let mut msg = if d.is_io() {
                "could not connect".to_owned()
            } else if d.is_timeout() {
                "connection timed out".to_owned()
            } else {
                "request could not be sent".to_owned()
            };
            if let Some(src) = std::error::Error::source(&err) {
                msg.push_str(&format!(": {}", error_chain(src)));
            }
            msg
        }
        (SdkError::ConstructionFailure(_), _) => {
            format!("request could not be built: {}", error_chain(&err))
        }
        _ if !body_excerpt.is_empty() => format!("unexpected response: {body_excerpt}"),
        _ => error_chain(&err),
    };
    let body = err
        .raw_response()
        .and_then(|r| r.body().bytes())
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let (code, mut message) = crate::policy::explain_denial(operation, code, message, &body);
    if no_response {
        message.push_str(&where_it_went(operation));
    }
    AwsError {
        operation: operation.to_owned(),
        code,
        message,
        status,
    }
}

/// ` (service S, region R, endpoint E)` for a call that got no answer: the
/// endpoint the request was sent to when a [`crate::calls::CallCounter`] saw it,
/// else the configured endpoint override, else AWS's default form for the
/// service. Nothing is resolved over the network.
fn where_it_went(operation: &str) -> String {
    let configured = crate::aws::configured_target();
    let region = configured
        .as_ref()
        .map(|c| c.region.clone())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "not set".to_owned());
    let sent = crate::calls::last_target(operation);
    let service = sent.as_ref().map(|t| t.service.clone());
    let endpoint = sent
        .map(|t| t.endpoint)
        .or_else(|| configured.as_ref().and_then(|c| c.endpoint_url.clone()));
    let endpoint = match (endpoint, &service) {
        (Some(e), _) => e,
        (None, Some(s)) => format!(
            "https://{}.{region}.amazonaws.com (the default)",
            s.split_whitespace()
                .collect::<String>()
                .to_ascii_lowercase()
        ),
        (None, None) => "the AWS default for the service".to_owned(),
    };
    match service {
        Some(s) => format!(" (service {s}, region {region}, endpoint {endpoint})"),
        None => format!(" (region {region}, endpoint {endpoint})"),
    }
}

/// Joins an error and its causes with ": ", the way `{:#}` does for anyhow.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Extension to turn SDK results into toolkit results with the operation named.
pub trait AwsResultExt<T> {
    fn aws(self, operation: &str) -> Result<T, AwsError>;
}

impl<T, E> AwsResultExt<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn aws(self, operation: &str) -> Result<T, AwsError> {
        self.map_err(|e| aws_error(operation, e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_documented_code() {
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::Credentials("x".into()).exit_code(), 3);
        assert_eq!(Error::NotFound("x".into()).exit_code(), 3);
        assert_eq!(Error::CheckFailed("x".into()).exit_code(), 4);
        let t = Error::Timeout {
            what: "x".into(),
            waited: "1s".into(),
            reattach: Some("tool wait".into()),
        };
        assert_eq!(t.exit_code(), 5);
        assert!(t.to_string().contains("re-attach with: tool wait"));
        assert_eq!(Error::Reverted("x".into()).exit_code(), 6);
        assert_eq!(Error::RevertFailed("x".into()).exit_code(), 7);
        assert_eq!(Error::Interrupted.exit_code(), 130);
        assert_eq!(Error::Refused("x".into()).exit_code(), 8);
        assert_eq!(
            Error::io("journal", std::io::Error::other("disk full")).exit_code(),
            3
        );
        assert_eq!(Error::Internal("x".into()).exit_code(), 1);
    }

    #[test]
    fn aws_error_display_names_operation_code_and_status() {
        let e = AwsError {
            operation: "DescribeStacks".into(),
            code: Some("ValidationError".into()),
            message: "Stack does not exist".into(),
            status: Some(400),
        };
        assert_eq!(
            e.to_string(),
            "DescribeStacks failed (ValidationError, HTTP 400): Stack does not exist"
        );
    }

    #[test]
    fn exit_code_found_through_wrapping_errors() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] Error);
        let e = Outer(Error::CheckFailed("gate".into()));
        assert_eq!(exit_code_of(&e), 4);
    }
}
