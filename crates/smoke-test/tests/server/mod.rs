//! A small real HTTP/1.1 server on 127.0.0.1 for the CLI tests (plain or TLS with
//! certificates made by rcgen), with the endpoints a smoke test meets in the wild:
//! fast, slow, failing a share of requests, closing connections, converging after
//! a few tries, an outage of a few requests, JSON, redirects.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

#[derive(Default)]
struct State {
    /// Every request received, so tests can prove nothing was sent.
    hits: AtomicU64,
    /// Per-URL counters for the flaky and converging endpoints.
    counters: Mutex<HashMap<String, u64>>,
}

/// A running server; it lives until the test process ends.
pub struct Server {
    pub port: u16,
    pub scheme: &'static str,
    state: Arc<State>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    pub fn hits(&self) -> u64 {
        self.state.hits.load(Ordering::SeqCst)
    }
}

/// Plain HTTP.
pub fn http() -> Server {
    start(None)
}

/// TLS material for an HTTPS server: a private CA and a leaf it signed.
pub struct Pki {
    pub ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

/// A CA and a server certificate for 127.0.0.1/localhost valid for `days` more days.
pub fn pki(days: i64) -> Pki {
    use chrono::Datelike;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "smoke-test test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.not_before = rcgen::date_time_ymd(2024, 1, 1);
    // rcgen takes a calendar day: midnight UTC at the start of `days + 1` days from now.
    let end = chrono::Utc::now() + chrono::Duration::days(days + 1);
    leaf.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        leaf_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)
    .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    }
}

/// HTTPS with the given certificates.
pub fn https(pki: &Pki) -> Server {
    start(Some(TlsAcceptor::from(pki.config.clone())))
}

fn start(tls: Option<TlsAcceptor>) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let state = Arc::new(State::default());
    let st = state.clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let _ = sock.set_nodelay(true);
                let st = st.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acc) => {
                            if let Ok(s) = acc.accept(sock).await {
                                serve(s, st).await;
                            }
                        }
                        None => serve(sock, st).await,
                    }
                });
            }
        });
    });
    Server {
        port,
        scheme,
        state,
    }
}

struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
    extra: Vec<(&'static str, String)>,
}

fn reply(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        content_type: "text/plain",
        body: body.into(),
        extra: Vec::new(),
    }
}

fn query(target: &str, key: &str) -> Option<String> {
    let q = target.split_once('?')?.1;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
}

/// Answers one request; `None` means: close the connection without answering.
async fn route(
    target: &str,
    headers: &HashMap<String, String>,
    body: &str,
    st: &State,
) -> Option<Reply> {
    let path = target.split('?').next().unwrap_or("/");
    let count = || {
        let mut c = st.counters.lock().unwrap();
        let n = c.entry(target.to_owned()).or_insert(0);
        *n += 1;
        *n
    };
    Some(match path {
        "/ok" | "/" => reply(200, "ok"),
        "/json" => Reply {
            status: 200,
            content_type: "application/json",
            body: r#"{"status":"ok","version":"1.2.3","items":[{"id":1},{"id":2}],"checks":{"database":"up"}}"#.into(),
            extra: vec![("x-version", "1.2.3".into())],
        },
        "/slow" => {
            let ms: u64 = query(target, "ms").and_then(|v| v.parse().ok()).unwrap_or(500);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            reply(200, "slow ok")
        }
        // Every Nth request to the same URL fails with 500.
        "/flaky" => {
            let every: u64 = query(target, "every").and_then(|v| v.parse().ok()).unwrap_or(2);
            if count() % every == 0 {
                reply(500, "flaky failure")
            } else {
                reply(200, "ok")
            }
        }
        // 503 for the first N requests to the same URL, then 200.
        "/converge" => {
            let after: u64 = query(target, "after").and_then(|v| v.parse().ok()).unwrap_or(2);
            if count() <= after {
                reply(503, "starting")
            } else {
                reply(200, "ready")
            }
        }
        // An outage: requests N+1 ..= N+M to the same URL get 503, the rest 200.
        "/outage" => {
            let after: u64 = query(target, "after").and_then(|v| v.parse().ok()).unwrap_or(0);
            let down: u64 = query(target, "for").and_then(|v| v.parse().ok()).unwrap_or(1);
            let n = count();
            if n > after && n <= after + down {
                reply(503, "no healthy upstream")
            } else {
                reply(200, "ok")
            }
        }
        "/close" => return None,
        "/status" => {
            let code = query(target, "code").and_then(|v| v.parse().ok()).unwrap_or(500);
            reply(code, format!("status {code}"))
        }
        "/redirect" => Reply {
            status: 302,
            content_type: "text/plain",
            body: "moved".into(),
            // Nothing listens there; following it would be a bug.
            extra: vec![("location", "http://127.0.0.1:9/elsewhere".into())],
        },
        // Rejects every token and repeats it back (to prove masking of server text).
        "/auth" => reply(
            401,
            format!(
                "token {} rejected; body {body}",
                headers.get("authorization").cloned().unwrap_or_default()
            ),
        ),
        "/echo" => reply(200, body.to_owned()),
        _ => reply(404, "not found"),
    })
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, st: Arc<State>) {
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        match r.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let (_method, target) = match (parts.next(), parts.next()) {
            (Some(m), Some(t)) => (m.to_owned(), t.to_owned()),
            _ => return,
        };
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            match r.read_line(&mut h).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).await.is_err() {
            return;
        }
        st.hits.fetch_add(1, Ordering::SeqCst);
        let body = String::from_utf8_lossy(&body).into_owned();
        let Some(rep) = route(&target, &headers, &body, &st).await else {
            return; // drop the connection unanswered
        };
        let mut out = format!(
            "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\n",
            rep.status,
            rep.content_type,
            rep.body.len()
        );
        for (k, v) in &rep.extra {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&rep.body);
        if r.get_mut().write_all(out.as_bytes()).await.is_err() {
            return;
        }
        let _ = r.get_mut().flush().await;
        if headers
            .get("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return;
        }
    }
}
