//! A fault-injecting HTTP proxy for the emulator (test-only).
//!
//! It sits between a binary under test and moto and, per request, chosen by a
//! seeded RNG, answers a throttling error in the request's protocol shape,
//! answers 503 without forwarding, resets the connection without forwarding,
//! or forwards and then resets the connection instead of answering (a *lost
//! response*: the change happened, the caller never hears of it). Optional
//! latency delays every request. It listens on, and connects to, 127.0.0.1
//! only.
//!
//! The proxy answers two paths itself (never forwarded, never counted):
//! `GET /__fault-proxy/stats` (the [`Stats`] as JSON) and
//! `POST /__fault-proxy/reset-stats`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// 400 (503 `SlowDown` for S3) with the protocol's throttling error; not forwarded.
    Throttle,
    /// 503 Service Unavailable; not forwarded.
    Unavailable,
    /// Connection reset before forwarding.
    Reset,
    /// Forwarded to the upstream, then the connection is reset instead of answering.
    LostResponse,
}

impl Fault {
    pub const ALL: [Fault; 4] = [
        Fault::Throttle,
        Fault::Unavailable,
        Fault::Reset,
        Fault::LostResponse,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::Unavailable => "unavailable",
            Fault::Reset => "reset",
            Fault::LostResponse => "lost_response",
        }
    }
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!("unknown fault {s:?} (throttle, unavailable, reset, lost_response)")
            })
    }
}

/// What to inject.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Probability (0..=1) that an eligible request gets one of `faults`.
    pub fault_rate: f64,
    /// The fault kinds to choose from, uniformly.
    pub faults: Vec<Fault>,
    /// Every request is delayed by a uniformly drawn duration in this range.
    pub latency: Option<(Duration, Duration)>,
    /// Only mutating calls are eligible for faults (latency still applies to all).
    pub only_mutating: bool,
    /// Inject at most this many faults, then forward everything: "the first
    /// answer is lost, the SDK's retry gets through" made deterministic.
    pub max_faults: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            fault_rate: 0.0,
            faults: Fault::ALL.to_vec(),
            latency: None,
            only_mutating: false,
            max_faults: None,
        }
    }
}

/// Counts per fault kind and per operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub requests: u64,
    pub forwarded: u64,
    /// Fault name (and "latency") -> count.
    pub faults: BTreeMap<String, u64>,
    /// Operation -> ("requests" | "forwarded" | fault name) -> count.
    pub operations: BTreeMap<String, BTreeMap<String, u64>>,
    /// Operation -> the upstream times of its forwarded requests (see
    /// `Stats::upstream`); not deterministic, unlike the counts.
    pub upstream: BTreeMap<String, UpstreamTime>,
}

/// The upstream times of one operation's forwarded requests, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamTime {
    pub total_us: u64,
    pub min_us: u64,
}

impl Stats {
    fn count(&mut self, op: &str, what: &str) {
        *self
            .operations
            .entry(op.to_string())
            .or_default()
            .entry(what.to_string())
            .or_default() += 1;
    }

    /// Adds one forwarded request's upstream time (sent to answered, a fresh
    /// loopback connection included). The emulator's own service time is part
    /// of every critical path a benchmark measures, while the bound it compares
    /// with counts only added latency (scripts/bench.d/stack-deploy).
    fn upstream(&mut self, op: &str, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let t = self.upstream.entry(op.to_string()).or_insert(UpstreamTime {
            total_us: 0,
            min_us: u64::MAX,
        });
        t.total_us = t.total_us.saturating_add(us);
        t.min_us = t.min_us.min(us);
    }

    fn fault(&mut self, op: &str, what: &str) {
        *self.faults.entry(what.to_string()).or_default() += 1;
        self.count(op, what);
    }

    /// The number of `fault` injected into `operation`.
    pub fn of(&self, operation: &str, what: &str) -> u64 {
        self.operations
            .get(operation)
            .and_then(|m| m.get(what))
            .copied()
            .unwrap_or(0)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "forwarded": self.forwarded,
            "faults": self.faults,
            "operations": self.operations,
            "upstream": self.upstream.iter().map(|(op, t)| {
                (op.clone(), serde_json::json!({"total_us": t.total_us, "min_us": t.min_us}))
            }).collect::<serde_json::Map<_, _>>(),
        })
    }
}

struct Shared {
    upstream: SocketAddr,
    config: Config,
    rng: Mutex<fastrand::Rng>,
    stats: Mutex<Stats>,
}

/// A running proxy; stops when dropped or on [`FaultProxy::shutdown`].
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<Notify>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Parses `http://127.0.0.1:PORT` or `http://localhost:PORT` (nothing else:
/// the proxy talks to loopback only).
pub fn parse_upstream(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("upstream must be http://127.0.0.1:PORT, got {url:.100}"))?;
    let hostport = rest.trim_end_matches('/');
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("upstream needs a port: {url:.100}"))?;
    if host != "127.0.0.1" && host != "localhost" {
        return Err(format!("upstream must be on 127.0.0.1, got {host:.100}"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("bad upstream port {port:.20}"))?;
    Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
}

/// Parses `20ms-200ms` (or one duration, `50ms`).
pub fn parse_latency(s: &str) -> Result<(Duration, Duration), String> {
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    let p =
        |v: &str| humantime::parse_duration(v.trim()).map_err(|e| format!("latency {v:?}: {e}"));
    let (lo, hi) = (p(lo)?, p(hi)?);
    if lo > hi || hi > Duration::from_secs(60) {
        return Err(format!("latency range {s:?} must be low-high, at most 60s"));
    }
    Ok((lo, hi))
}

impl FaultProxy {
    /// Starts listening on `listen` (must be 127.0.0.1; port 0 picks one) in
    /// front of `upstream` (127.0.0.1).
    pub async fn start(
        upstream: SocketAddr,
        listen: SocketAddr,
        config: Config,
    ) -> std::io::Result<FaultProxy> {
        for (what, a) in [("listen", listen), ("upstream", upstream)] {
            if a.ip() != IpAddr::V4(Ipv4Addr::LOCALHOST) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{what} address must be 127.0.0.1, got {a}"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&config.fault_rate)
            || config.faults.is_empty() && config.fault_rate > 0.0
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "fault rate must be 0..1 and faults non-empty",
            ));
        }
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            rng: Mutex::new(fastrand::Rng::with_seed(config.seed)),
            config,
            stats: Mutex::new(Stats::default()),
        });
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stop.clone()));
        Ok(FaultProxy {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://localhost:PORT` (the form CloudFormation template URLs need).
    pub fn localhost_url(&self) -> String {
        format!("http://localhost:{}", self.addr.port())
    }

    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = Stats::default();
    }

    /// Stops accepting; connections in flight end with the runtime.
    pub async fn shutdown(mut self) {
        self.stop.notify_one();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: Arc<Notify>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stop.notified() => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        tokio::spawn(serve(stream, shared.clone()));
    }
}

/// Serves one client connection; a fault that resets drops it with SO_LINGER 0
/// (the client sees a TCP RST).
async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    // A second handle to the same socket, to set SO_LINGER 0 only when a
    // reset is wanted (a normal close stays a normal close).
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(dup) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let reset = Arc::new(Notify::new());
    let dup = Arc::new(Mutex::new(Some(dup)));
    let service = {
        let reset = reset.clone();
        let dup = dup.clone();
        hyper::service::service_fn(move |req| {
            let shared = shared.clone();
            let reset = reset.clone();
            let dup = dup.clone();
            async move {
                match handle(req, &shared).await {
                    Some(resp) => Ok::<_, Infallible>(resp),
                    None => {
                        if let Some(d) = lock(&dup).take() {
                            let _ = TcpSocket::from_std_stream(d).set_zero_linger();
                        }
                        reset.notify_one();
                        std::future::pending().await
                    }
                }
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        () = reset.notified() => {}
    }
}

/// `None` means: reset the connection.
async fn handle(req: Request<Incoming>, shared: &Shared) -> Option<Response<Full<Bytes>>> {
    let (parts, body) = req.into_parts();
    if parts.uri.path().starts_with("/__fault-proxy/") {
        return Some(control(parts.method.as_str(), parts.uri.path(), shared));
    }
    let body = body.collect().await.ok()?.to_bytes();
    let call = Call::classify(&parts, &body);
    let (fault, delay) = {
        let mut rng = lock(&shared.rng);
        let draw = rng.f64();
        let pick = rng.usize(..shared.config.faults.len().max(1));
        let delay = shared.config.latency.map(|(lo, hi)| {
            let span = (hi - lo).as_micros() as u64;
            lo + Duration::from_micros(if span == 0 { 0 } else { rng.u64(..=span) })
        });
        let eligible = !shared.config.only_mutating || call.mutating;
        let fault =
            (eligible && draw < shared.config.fault_rate).then(|| shared.config.faults[pick]);
        (fault, delay)
    };
    let fault = {
        let mut st = lock(&shared.stats);
        let injected: u64 = Fault::ALL
            .iter()
            .map(|f| st.faults.get(f.name()).copied().unwrap_or(0))
            .sum();
        let fault = fault.filter(|_| shared.config.max_faults.is_none_or(|m| injected < m));
        st.requests += 1;
        st.count(&call.operation, "requests");
        if delay.is_some() {
            st.fault(&call.operation, "latency");
        }
        if let Some(f) = fault {
            st.fault(&call.operation, f.name());
        }
        fault
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    match fault {
        Some(Fault::Throttle) => return Some(call.throttle()),
        Some(Fault::Unavailable) => {
            return Some(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "Service Unavailable",
            ));
        }
        Some(Fault::Reset) => return None,
        Some(Fault::LostResponse) | None => {}
    }
    let sent = std::time::Instant::now();
    let upstream = forward(shared.upstream, parts, body).await;
    {
        let mut st = lock(&shared.stats);
        if upstream.is_some() {
            st.forwarded += 1;
            st.count(&call.operation, "forwarded");
            st.upstream(&call.operation, sent.elapsed());
        }
    }
    match (fault, upstream) {
        (Some(Fault::LostResponse), _) | (_, None) => None,
        (_, Some(resp)) => Some(resp),
    }
}

fn control(method: &str, path: &str, shared: &Shared) -> Response<Full<Bytes>> {
    match (method, path) {
        ("GET", "/__fault-proxy/stats") => {
            let body = lock(&shared.stats).to_json().to_string();
            plain(StatusCode::OK, "application/json", &body)
        }
        ("POST", "/__fault-proxy/reset-stats") => {
            *lock(&shared.stats) = Stats::default();
            plain(StatusCode::OK, "application/json", "{}")
        }
        _ => plain(
            StatusCode::NOT_FOUND,
            "text/plain",
            "unknown fault-proxy path",
        ),
    }
}

fn plain(status: StatusCode, content_type: &'static str, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert("x-amzn-requestid", HeaderValue::from_static("fault-proxy"));
    resp
}

/// One request over a fresh upstream connection; `None` when the upstream
/// cannot be reached or breaks off.
async fn forward(
    upstream: SocketAddr,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> Option<Response<Full<Bytes>>> {
    let stream = TcpStream::connect(upstream).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    // The proxy reads whole bodies; a chunked request is forwarded with its length.
    let len = body.len();
    let mut req = Request::from_parts(parts, Full::new(body));
    req.headers_mut().remove(hyper::header::TRANSFER_ENCODING);
    req.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    let resp = sender.send_request(req).await.ok()?;
    let (mut parts, body) = resp.into_parts();
    let body = body.collect().await.ok()?.to_bytes();
    parts.headers.remove(hyper::header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    Some(Response::from_parts(parts, Full::new(body)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// AWS query protocol (form body with Action=): RDS, CloudFormation, CloudWatch.
    Query,
    /// JSON protocols (X-Amz-Target): ECS, SSM.
    Json,
    /// REST-XML with an `<ErrorResponse>` body: Route 53, CloudFront.
    RestXml,
    /// S3 (REST-XML with a bare `<Error>` and 503 SlowDown).
    S3,
}

/// What one request is, as far as faults care.
#[derive(Debug, Clone)]
struct Call {
    protocol: Protocol,
    operation: String,
    mutating: bool,
}

const READ_PREFIXES: [&str; 7] = [
    "Describe", "List", "Get", "BatchGet", "Head", "Lookup", "Search",
];

impl Call {
    fn classify(parts: &hyper::http::request::Parts, body: &[u8]) -> Call {
        let header = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let content_type = header("content-type");
        let target = header("x-amz-target");
        let read_name = |op: &str| READ_PREFIXES.iter().any(|p| op.starts_with(p));
        if !target.is_empty() || content_type.contains("x-amz-json") {
            let operation = target.rsplit('.').next().unwrap_or("").to_string();
            let mutating = !read_name(&operation);
            return Call {
                protocol: Protocol::Json,
                operation,
                mutating,
            };
        }
        let form_action = |s: &str| {
            s.split('&').find_map(|kv| {
                kv.strip_prefix("Action=").map(|v| {
                    urlencoding::decode(v)
                        .map(|c| c.into_owned())
                        .unwrap_or_default()
                })
            })
        };
        let action = if content_type.starts_with("application/x-www-form-urlencoded") {
            form_action(&String::from_utf8_lossy(body))
        } else {
            None
        }
        .or_else(|| parts.uri.query().and_then(form_action));
        if let Some(operation) = action {
            let mutating = !read_name(&operation);
            return Call {
                protocol: Protocol::Query,
                operation,
                mutating,
            };
        }
        let method = parts.method.as_str();
        let mutating = !matches!(method, "GET" | "HEAD" | "OPTIONS");
        let path = parts.uri.path();
        let (protocol, service) = if path.starts_with("/2013-04-01/") {
            (Protocol::RestXml, "route53")
        } else if path.starts_with("/2020-05-31/") || path.starts_with("/2019-03-26/") {
            (Protocol::RestXml, "cloudfront")
        } else {
            (Protocol::S3, "s3")
        };
        // The resource word (rrset, hostedzone, invalidation, ...) without ids.
        let resource = if protocol == Protocol::S3 {
            if path.trim_matches('/').contains('/') {
                "object"
            } else {
                "bucket"
            }
        } else {
            path.split('/')
                .skip(2)
                .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
                .last()
                .unwrap_or("")
        };
        Call {
            protocol,
            operation: format!("{service}:{method} {resource}"),
            mutating,
        }
    }

    fn throttle(&self) -> Response<Full<Bytes>> {
        match self.protocol {
            Protocol::Json => plain(
                StatusCode::BAD_REQUEST,
                "application/x-amz-json-1.1",
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            ),
            Protocol::Query | Protocol::RestXml => plain(
                StatusCode::BAD_REQUEST,
                "text/xml",
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                 <Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>",
            ),
            Protocol::S3 => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "application/xml",
                "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>\
                 <RequestId>fault-proxy</RequestId></Error>",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> hyper::http::request::Parts {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn classifies_query_json_and_rest_calls() {
        let form = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        let c = Call::classify(
            &parts("POST", "/", &form),
            b"Action=CreateDBSnapshot&Version=2014-10-31",
        );
        assert_eq!(
            (c.protocol, c.operation.as_str(), c.mutating),
            (Protocol::Query, "CreateDBSnapshot", true)
        );
        let c = Call::classify(
            &parts("POST", "/", &form),
            b"Version=1&Action=DescribeDBInstances",
        );
        assert_eq!(
            (c.operation.as_str(), c.mutating),
            ("DescribeDBInstances", false)
        );

        let json = [
            ("content-type", "application/x-amz-json-1.1"),
            (
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.UpdateService",
            ),
        ];
        let c = Call::classify(&parts("POST", "/", &json), b"{}");
        assert_eq!(
            (c.protocol, c.operation.as_str(), c.mutating),
            (Protocol::Json, "UpdateService", true)
        );

        let c = Call::classify(
            &parts("POST", "/2013-04-01/hostedzone/Z123/rrset", &[]),
            b"<x/>",
        );
        assert_eq!(
            (c.protocol, c.operation.as_str(), c.mutating),
            (Protocol::RestXml, "route53:POST rrset", true)
        );
        let c = Call::classify(&parts("GET", "/2013-04-01/hostedzone/Z123/rrset", &[]), b"");
        assert!(!c.mutating);
        let c = Call::classify(&parts("PUT", "/bucket/key.html", &[]), b"x");
        assert_eq!(
            (c.protocol, c.operation.as_str(), c.mutating),
            (Protocol::S3, "s3:PUT object", true)
        );
    }

    #[test]
    fn throttle_bodies_have_each_protocols_shape() {
        let form = [("content-type", "application/x-www-form-urlencoded")];
        let r = Call::classify(&parts("POST", "/", &form), b"Action=CreateStack").throttle();
        assert_eq!(r.status(), 400);
        let json = [("x-amz-target", "AmazonSSM.PutParameter")];
        let r2 = Call::classify(&parts("POST", "/", &json), b"{}").throttle();
        assert_eq!(r2.status(), 400);
        assert_eq!(r2.headers()[CONTENT_TYPE], "application/x-amz-json-1.1");
        let r3 = Call::classify(&parts("PUT", "/b/k", &[]), b"").throttle();
        assert_eq!(r3.status(), 503);
    }

    #[test]
    fn upstream_and_latency_parsing() {
        assert_eq!(
            parse_upstream("http://localhost:4566").unwrap().port(),
            4566
        );
        assert!(parse_upstream("http://10.0.0.1:80").is_err());
        assert!(parse_upstream("https://127.0.0.1:80").is_err());
        assert_eq!(
            parse_latency("20ms-200ms").unwrap(),
            (Duration::from_millis(20), Duration::from_millis(200))
        );
        assert!(parse_latency("200ms-20ms").is_err());
        assert!(parse_latency("5m").is_err());
    }
}
