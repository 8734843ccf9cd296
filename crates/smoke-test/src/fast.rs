//! The plain `http://` path of `load`: one keep-alive HTTP/1.1 connection per
//! worker and origin (hyper's `client::conn::http1`, no pool), driven inside the
//! worker's own task (no connection task, no cross-task wake-ups per request), a
//! request template built once per check, and one reusable timer per worker that is
//! only re-armed when it fires early (not once per request).
//!
//! It sends what the shared reqwest client sends (same method, path, headers plus
//! `Host`, `User-Agent`, `Accept: */*`, body; no proxy; redirects are answers, never
//! followed) and sorts failures with the same classifier. `https://` targets and
//! URLs with credentials keep the reqwest path ([`Plan::new`] returns `None`), which
//! also reads certificates for `--min-cert-days`.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::header::{ACCEPT, HOST, HeaderMap, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::checks::Check;
use crate::http::{Answer, TransportError, classify_chain};
use crate::report::ErrorKind;

type Body = Full<Bytes>;
type Conn = Connection<TokioIo<TcpStream>, Body>;

/// One check, ready to send.
#[derive(Debug)]
struct Target {
    /// Index into [`Plan::origins`].
    origin: usize,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
}

impl Target {
    fn request(&self) -> Request<Body> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// The checks of a load run, when every one of them is plain `http://`.
#[derive(Debug)]
pub struct Plan {
    /// `host:port` to connect to, one per distinct origin.
    origins: Vec<String>,
    targets: Vec<Target>,
}

impl Plan {
    /// `None` when any check needs the general client (https, credentials in the URL).
    pub fn new(checks: &[Check]) -> Option<Plan> {
        let mut origins: Vec<String> = Vec::new();
        let mut targets = Vec::with_capacity(checks.len());
        for c in checks {
            let url = &c.url;
            if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
                return None;
            }
            let host = url.host_str()?;
            let port = url.port_or_known_default()?;
            let addr = format!("{host}:{port}");
            let origin = match origins.iter().position(|o| *o == addr) {
                Some(i) => i,
                None => {
                    origins.push(addr);
                    origins.len() - 1
                }
            };
            // As hyper-util's client writes it: the port only when not the default.
            let authority = match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_owned(),
            };
            let mut target = url.path().to_owned();
            if let Some(q) = url.query() {
                target.push('?');
                target.push_str(q);
            }
            let mut headers = c.headers.clone();
            if !headers.contains_key(ACCEPT) {
                headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
            }
            if !headers.contains_key(USER_AGENT) {
                headers.insert(
                    USER_AGENT,
                    HeaderValue::from_static(crate::http::USER_AGENT),
                );
            }
            if !headers.contains_key(HOST) {
                headers.insert(HOST, HeaderValue::from_str(&authority).ok()?);
            }
            targets.push(Target {
                origin,
                method: c.method.clone(),
                uri: Uri::try_from(target).ok()?,
                headers,
                body: Bytes::from(c.body.clone().unwrap_or_default()),
                timeout: c.timeout,
            });
        }
        Some(Plan { origins, targets })
    }
}

/// A live connection: the request side and the connection future, polled together.
struct Live {
    tx: SendRequest<Body>,
    conn: Pin<Box<Conn>>,
    /// The connection future has finished (closed); never poll it again.
    done: bool,
}

/// One worker's connections and timer.
pub struct Worker<'a> {
    plan: &'a Plan,
    conns: Vec<Option<Live>>,
    timer: Pin<Box<Sleep>>,
}

enum Failed {
    /// The request never left (the kept-alive connection had closed): may be retried.
    NotSent(Box<Request<Body>>, hyper::Error),
    Sent(hyper::Error),
}

impl<'a> Worker<'a> {
    pub fn new(plan: &'a Plan) -> Self {
        let far = Instant::now() + Duration::from_secs(7 * 24 * 3600);
        Worker {
            plan,
            conns: plan.origins.iter().map(|_| None).collect(),
            timer: Box::pin(tokio::time::sleep_until(far)),
        }
    }

    /// Sends check `idx` and reads the whole answer; like [`crate::http::send`].
    pub async fn send(
        &mut self,
        idx: usize,
        keep_body: bool,
        started: Instant,
    ) -> Result<Answer, TransportError> {
        let t = &self.plan.targets[idx];
        let deadline = Instant::now() + t.timeout;
        // The timer may stay armed for an earlier (sooner) deadline: when it fires
        // before ours it is simply moved on, so it is touched about once per timeout,
        // not once per request.
        if self.timer.deadline() > deadline {
            self.timer.as_mut().reset(deadline);
        }
        let result = {
            let slot = &mut self.conns[t.origin];
            let origin = self.plan.origins[t.origin].as_str();
            let timer = &mut self.timer;
            let mut fut = pin!(exchange(slot, origin, t, keep_body));
            poll_fn(|cx| {
                if let Poll::Ready(r) = fut.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                loop {
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if Instant::now() >= deadline {
                        return Poll::Ready(None);
                    }
                    timer.as_mut().reset(deadline);
                }
            })
            .await
        };
        match result {
            Some(Ok((status, headers, body))) => Ok(Answer {
                status,
                headers,
                body,
                latency: started.elapsed(),
                peer_cert: None,
            }),
            Some(Err(e)) => {
                self.conns[t.origin] = None;
                Err(e)
            }
            None => {
                // The connection is mid-exchange: drop it.
                self.conns[t.origin] = None;
                Err(TransportError {
                    kind: ErrorKind::Timeout,
                    message: format!(
                        "no answer within {}",
                        common::duration::format_duration(t.timeout)
                    ),
                })
            }
        }
    }
}

/// Connects (when needed), sends, reads the answer; retries once on a fresh
/// connection when a kept-alive one turned out closed before the request left.
async fn exchange(
    slot: &mut Option<Live>,
    origin: &str,
    t: &Target,
    keep_body: bool,
) -> Result<(u16, HeaderMap, Vec<u8>), TransportError> {
    let mut req = t.request();
    let mut may_retry = true;
    loop {
        if slot.as_ref().is_some_and(|l| l.done || l.tx.is_closed()) {
            *slot = None;
        }
        let reused = slot.is_some();
        let live = match slot {
            Some(l) => l,
            None => slot.insert(connect(origin, t.timeout).await?),
        };
        let Live { tx, conn, done } = live;
        let outcome = drive(conn, done, round_trip(tx, req, keep_body)).await;
        if *done {
            *slot = None;
        }
        match outcome {
            Ok(answer) => return Ok(answer),
            Err(Failed::NotSent(back, e)) => {
                *slot = None;
                if reused && may_retry {
                    may_retry = false;
                    req = *back;
                    continue;
                }
                return Err(classify_chain(&e, false, false, t.timeout));
            }
            Err(Failed::Sent(e)) => return Err(classify_chain(&e, false, false, t.timeout)),
        }
    }
}

async fn connect(origin: &str, timeout: Duration) -> Result<Live, TransportError> {
    let stream = TcpStream::connect(origin)
        .await
        .map_err(|e| classify_chain(&e, false, true, timeout))?;
    let _ = stream.set_nodelay(true);
    let (tx, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| classify_chain(&e, false, true, timeout))?;
    Ok(Live {
        tx,
        conn: Box::pin(conn),
        done: false,
    })
}

async fn round_trip(
    tx: &mut SendRequest<Body>,
    req: Request<Body>,
    keep_body: bool,
) -> Result<(u16, HeaderMap, Vec<u8>), Failed> {
    if let Err(e) = tx.ready().await {
        return Err(Failed::NotSent(Box::new(req), e));
    }
    let resp = match tx.try_send_request(req).await {
        Ok(r) => r,
        Err(mut e) => {
            return Err(match e.take_message() {
                Some(back) => Failed::NotSent(Box::new(back), e.into_error()),
                None => Failed::Sent(e.into_error()),
            });
        }
    };
    let (parts, mut incoming) = resp.into_parts();
    let mut body = Vec::new();
    // Read frame by frame so a body nobody looks at is never copied or kept.
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(Failed::Sent)?;
        if keep_body && let Some(data) = frame.data_ref() {
            body.extend_from_slice(data);
        }
    }
    Ok((parts.status.as_u16(), parts.headers, body))
}

/// Polls `fut` and the connection together in the caller's task.
async fn drive<F: Future>(conn: &mut Pin<Box<Conn>>, done: &mut bool, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if !*done && conn.as_mut().poll(cx).is_ready() {
            *done = true;
        }
        fut.as_mut().poll(cx)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Expectations, parse_url};
    use crate::get::check_from_flags;
    use hyper::header::HeaderName;

    fn check(url: &str, headers: &[(&str, &str)]) -> Check {
        let headers: Vec<_> = headers
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect();
        check_from_flags(
            parse_url(url).unwrap(),
            Method::GET,
            &headers,
            Expectations::default(),
            Duration::from_secs(3),
        )
    }

    #[test]
    fn only_plain_http_without_credentials_takes_the_fast_path() {
        assert!(Plan::new(&[check("http://127.0.0.1:8080/", &[])]).is_some());
        for other in [
            "https://127.0.0.1/",
            "http://u:p@127.0.0.1/",
            "http://u@127.0.0.1/",
        ] {
            let mixed = [check("http://127.0.0.1:8080/", &[]), check(other, &[])];
            assert!(Plan::new(&mixed).is_none(), "{other}");
        }
    }

    #[test]
    fn requests_carry_what_the_client_would_send() {
        let plan = Plan::new(&[
            check("http://127.0.0.1:8080/a/b?x=1#frag", &[("x-k", "v")]),
            check(
                "http://localhost/",
                &[("host", "example.test"), ("accept", "text/plain")],
            ),
            check("http://127.0.0.1:8080/other", &[]),
        ])
        .unwrap();
        assert_eq!(plan.origins, ["127.0.0.1:8080", "localhost:80"]);
        let origins: Vec<_> = plan.targets.iter().map(|t| t.origin).collect();
        assert_eq!(origins, [0, 1, 0]);

        let r = plan.targets[0].request();
        assert_eq!(r.method(), Method::GET);
        assert_eq!(r.uri(), "/a/b?x=1");
        let h = r.headers();
        assert_eq!(h["x-k"], "v");
        assert_eq!(h[HOST], "127.0.0.1:8080");
        assert_eq!(h[ACCEPT], "*/*");
        assert_eq!(h[USER_AGENT], crate::http::USER_AGENT);

        // Given headers win; the default port is left out of Host.
        let h = plan.targets[1].request().headers().clone();
        assert_eq!(h[HOST], "example.test");
        assert_eq!(h[ACCEPT], "text/plain");
        let plan = Plan::new(&[check("http://localhost/", &[])]).unwrap();
        assert_eq!(plan.targets[0].request().headers()[HOST], "localhost");
    }
}
