//! The one HTTP client every command shares (keep-alive, no proxy, no redirects:
//! only the addresses given are contacted), sending a check, and sorting
//! transport failures into the kinds the report counts.

use std::path::Path;
use std::time::Duration;

use reqwest::Client;
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::checks::Check;
use crate::report::ErrorKind;

/// How to build the client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Extra trusted roots (`--ca-cert`), on top of the built-in web roots.
    pub ca_certs: Vec<reqwest::Certificate>,
    /// Keep the peer certificate of each response (for `--min-cert-days`).
    pub want_peer_cert: bool,
    /// Idle keep-alive connections kept per host (the concurrency of a load run).
    pub pool_size: usize,
    pub connect_timeout: Duration,
}

/// Reads `--ca-cert`: one or more PEM certificates. Bad input is a usage error.
pub fn load_ca(path: &Path) -> common::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).map_err(|e| {
        common::Error::usage(format!("cannot read --ca-cert {}: {e}", path.display()))
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        common::Error::usage(format!(
            "--ca-cert {}: not PEM certificates: {e}",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(common::Error::usage(format!(
            "--ca-cert {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
            path.display()
        )));
    }
    Ok(certs)
}

/// The `User-Agent` every request carries.
pub const USER_AGENT: &str = concat!("ltc-smoke-test/", env!("CARGO_PKG_VERSION"));

pub fn build_client(opts: &ClientOptions) -> common::Result<Client> {
    let mut b = Client::builder()
        // Environment proxies would send requests somewhere not given on the command line.
        .no_proxy()
        // A redirect is reported as its status, never followed to another address.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(opts.pool_size.max(1))
        .connect_timeout(opts.connect_timeout)
        .tls_info(opts.want_peer_cert);
    for c in &opts.ca_certs {
        b = b.add_root_certificate(c.clone());
    }
    b.build()
        .map_err(|e| common::Error::Internal(format!("cannot build the HTTP client: {e}")))
}

/// A response, read to the end.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    /// Empty unless the caller asked to keep it.
    pub body: Vec<u8>,
    /// From `started` (the send time, or the scheduled time under `--rate`) to the last body byte.
    pub latency: Duration,
    /// DER of the server's leaf certificate, when asked for and over TLS.
    pub peer_cert: Option<Vec<u8>>,
}

/// No answer: refused, DNS, TLS, timeout, closed connection ...
#[derive(Debug, Clone)]
pub struct TransportError {
    pub kind: ErrorKind,
    pub message: String,
}

/// Sends one request for `check` and reads the whole answer.
pub async fn send(
    client: &Client,
    check: &Check,
    keep_body: bool,
    started: Instant,
) -> Result<Answer, TransportError> {
    let mut req = client
        .request(check.method.clone(), check.url.clone())
        .headers(check.headers.clone())
        .timeout(check.timeout);
    if let Some(body) = &check.body {
        req = req.body(body.clone());
    }
    let mut resp = req.send().await.map_err(|e| classify(&e, check.timeout))?;
    let status = resp.status().as_u16();
    let peer_cert = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|t| t.peer_certificate())
        .map(<[u8]>::to_vec);
    let headers = std::mem::take(resp.headers_mut());
    let mut body = Vec::new();
    // Read chunk by chunk so a body nobody looks at is never copied or kept.
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if keep_body {
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(None) => break,
            Err(e) => return Err(classify(&e, check.timeout)),
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
        latency: started.elapsed(),
        peer_cert,
    })
}

/// Sorts a client error into a kind, with a one-line message.
pub fn classify(err: &reqwest::Error, timeout: Duration) -> TransportError {
    classify_chain(err, err.is_timeout(), err.is_connect(), timeout)
}

/// Sorts any error chain into a kind (shared by reqwest and the plain HTTP/1 load
/// path): `is_timeout` / `is_connect` say what the caller already knows.
pub fn classify_chain(
    err: &(dyn std::error::Error + 'static),
    is_timeout: bool,
    is_connect: bool,
    timeout: Duration,
) -> TransportError {
    let mut chain: Vec<String> = Vec::new();
    let mut io_kind = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        chain.push(e.to_string());
        cur = e.source();
    }
    let text = chain.join(": ").to_ascii_lowercase();
    let innermost = chain.last().cloned().unwrap_or_default();
    let (kind, message) = if is_timeout || text.contains("timed out") {
        (
            ErrorKind::Timeout,
            format!(
                "no answer within {}",
                common::duration::format_duration(timeout)
            ),
        )
    } else if text.contains("dns error") || text.contains("failed to lookup address") {
        (ErrorKind::Dns, format!("DNS lookup failed: {innermost}"))
    } else if text.contains("certificate")
        || text.contains("tls")
        || text.contains("handshake")
        || text.contains("peer sent")
        || text.contains("received fatal alert")
    {
        (ErrorKind::Tls, format!("TLS failed: {innermost}"))
    } else if io_kind == Some(std::io::ErrorKind::ConnectionRefused)
        || text.contains("connection refused")
    {
        (ErrorKind::ConnectRefused, "connection refused".to_owned())
    } else if is_connect {
        (ErrorKind::Connect, format!("cannot connect: {innermost}"))
    } else if matches!(
        io_kind,
        Some(
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof
        )
    ) || text.contains("connection closed")
        || text.contains("connection reset")
        || text.contains("incomplete message")
        || text.contains("end of file")
    {
        (
            ErrorKind::ConnectionClosed,
            "connection closed before the full answer".to_owned(),
        )
    } else {
        (ErrorKind::Other, innermost)
    };
    TransportError { kind, message }
}
