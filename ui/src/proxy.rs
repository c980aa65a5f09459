//! The reverse proxy: one request in, one request to a backend, the
//! answer streamed back.
//!
//! - The request body is read first (capped at [`MAX_REQUEST_BODY`]; API
//!   calls are small JSON) so that a request can be sent again; the
//!   response body is never collected: event streams (Marathon SSE, Mesos
//!   RecordIO) pass through frame by frame as the backend writes them.
//! - Hop-by-hop headers (RFC 9110 §7.6.1, and any named in `Connection`)
//!   are removed both ways; the caller's `Authorization` and `Cookie` stay
//!   at the gateway; `X-Forwarded-For`, `-Proto` and `-Host` are set.
//! - A leader change behind the gateway is not the client's problem: when
//!   the backend cannot be reached, or a master answers as a follower (307)
//!   or without a leader (503), the gateway forgets what it cached, finds
//!   the backend again and sends the request once more if that is safe:
//!   always when the request surely was not processed (connection refused,
//!   a follower's 307), and for idempotent methods otherwise. Requests to
//!   the masters, Marathon and Chronos keep trying (every 100 ms, at most
//!   [`FAILOVER_WAIT`]) while they elect a new leader; a Chronos standby's
//!   307 sends the request on to the next Chronos.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};

use crate::error::GatewayError;
use crate::upstream::{UpstreamError, Upstreams};

/// Largest request body the gateway forwards (64 MiB).
pub const MAX_REQUEST_BODY: usize = 64 << 20;
/// How long a backend may take to send its response head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Cosmos' install and update first bring the package's artifacts into
/// the cluster (downloads of up to hundreds of MB): they may take longer.
pub const COSMOS_HEAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long a request to the leading master waits for a new leader.
pub const FAILOVER_WAIT: Duration = Duration::from_secs(10);
/// The pause between tries while waiting for a leader.
pub const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Which backend a request goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The leading Mesos master.
    Mesos,
    Marathon,
    /// Chronos, which serves both the Chronos and the Metronome v1 API.
    Chronos,
    /// Cosmos, the package manager (`/package/…`, `/cosmos/…`,
    /// `/capabilities`; the path is kept whole).
    Cosmos,
    /// A Marathon app labelled `DCOS_SERVICE_NAME=<name>`.
    Service(String),
    /// An agent's HTTP endpoint, by agent id.
    Agent(String),
}

impl Target {
    async fn base(&self, up: &Upstreams) -> Result<String, UpstreamError> {
        match self {
            Target::Mesos => up.leader().await,
            Target::Marathon => up.marathon(),
            Target::Chronos => up.chronos(),
            Target::Cosmos => up.cosmos(),
            Target::Service(name) => up.service(name).await,
            Target::Agent(id) => up.agent(id).await,
        }
    }

    /// The cached facts that led to `base` are wrong: forget them.
    fn failed(&self, up: &Upstreams, base: &str) {
        match self {
            Target::Mesos => up.forget_leader(base),
            Target::Marathon => up.marathon_failed(base),
            Target::Chronos => up.chronos_failed(base),
            Target::Cosmos => up.cosmos_failed(base),
            Target::Service(_) => up.forget_services(),
            Target::Agent(_) => up.forget_agents(),
        }
    }
}

/// The parts of the incoming request the proxy needs.
#[derive(Debug)]
pub struct Outgoing {
    pub method: Method,
    /// Path and query on the backend (`/v2/apps?embed=…`).
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The client's address (for `X-Forwarded-For`), when known.
    pub client: Option<SocketAddr>,
}

fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including those `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
}

/// The headers sent to the backend.
pub fn backend_headers(incoming: &HeaderMap, client: Option<SocketAddr>) -> HeaderMap {
    let mut h = incoming.clone();
    strip_hop_by_hop(&mut h);
    // Credentials for the gateway stay at the gateway.
    h.remove(header::AUTHORIZATION);
    h.remove(header::COOKIE);
    // hyper sets Host from the backend URL.
    let host = h.remove(header::HOST);
    if let Some(ip) = client.map(|a| a.ip().to_string()) {
        let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prev) => format!("{prev}, {ip}"),
            None => ip,
        };
        if let Ok(v) = HeaderValue::from_str(&xff) {
            h.insert("x-forwarded-for", v);
        }
    }
    h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(host) = host {
        h.insert("x-forwarded-host", host);
    }
    h
}

/// Sends `out` to `target` and streams the answer back.
pub async fn forward(up: &Upstreams, target: &Target, out: Outgoing) -> Response {
    let headers = backend_headers(&out.headers, out.client);
    // The Mesos endpoint whose job is to answer 307: pass it through.
    let expects_redirect = out.path_and_query.starts_with("/master/redirect");
    let idempotent = is_idempotent(&out.method);
    let deadline = Instant::now() + FAILOVER_WAIT;
    let follows_leader = matches!(target, Target::Mesos | Target::Marathon | Target::Chronos);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        // A request that is safe to send again is retried once; one to a
        // component with a leader until a leader answers (at most
        // FAILOVER_WAIT), so clients do not see the election.
        let may_retry =
            |safe: bool| safe && (attempt < 2 || (follows_leader && Instant::now() < deadline));
        if attempt > 2 {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        let base = match target.base(up).await {
            Ok(b) => b,
            Err(UpstreamError::NoLeader(_)) if may_retry(true) => continue,
            Err(e) => return GatewayError::from(e).into_response(),
        };
        let mut req = Request::builder()
            .method(out.method.clone())
            .uri(format!("{base}{}", out.path_and_query));
        if let Some(h) = req.headers_mut() {
            *h = headers.clone();
        }
        let req = match req.body(Full::new(out.body.clone())) {
            Ok(r) => r,
            Err(e) => {
                return GatewayError::BadRequest(format!("cannot forward this request: {e}"))
                    .into_response()
            }
        };
        let head_timeout = match target {
            Target::Cosmos => COSMOS_HEAD_TIMEOUT,
            _ => HEAD_TIMEOUT,
        };
        let sent = tokio::time::timeout(head_timeout, up.http.request(req)).await;
        let resp = match sent {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                // Refused before sending: surely not processed.
                let not_sent = e.is_connect();
                tracing::warn!(backend = %base, error = %e, "backend unreachable");
                target.failed(up, &base);
                if may_retry(not_sent || idempotent) {
                    continue;
                }
                return GatewayError::BadGateway(format!("{base} did not answer: {e}"))
                    .into_response();
            }
            Err(_) => {
                target.failed(up, &base);
                return GatewayError::GatewayTimeout(format!(
                    "{base} did not answer within {}s",
                    head_timeout.as_secs()
                ))
                .into_response();
            }
        };
        if follows_leader && !expects_redirect {
            let status = resp.status();
            // A follower that redirects (a Mesos master, a Chronos standby:
            // 307) has not acted on the request. No leader (503), or a
            // Marathon standby that cannot reach its leader (502), is
            // retried when idempotent. Either way the next try goes to
            // the next instance (Marathon, Chronos) or a fresh leader
            // lookup (Mesos).
            let safe = status == StatusCode::TEMPORARY_REDIRECT
                || (idempotent
                    && (status == StatusCode::SERVICE_UNAVAILABLE
                        || (status == StatusCode::BAD_GATEWAY && *target != Target::Mesos)));
            if safe && may_retry(true) {
                target.failed(up, &base);
                continue;
            }
        }
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        return Response::from_parts(parts, Body::new(body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_credentials_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("authorization", HeaderValue::from_static("token=abc"));
        h.insert(
            "cookie",
            HeaderValue::from_static("dcos-acs-auth-cookie=abc"),
        );
        h.insert("host", HeaderValue::from_static("gw:80"));
        h.insert("accept", HeaderValue::from_static("text/event-stream"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        let out = backend_headers(&h, Some("192.168.1.2:4000".parse().unwrap()));
        for gone in [
            "connection",
            "x-private",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
            "authorization",
            "cookie",
            "host",
        ] {
            assert!(out.get(gone).is_none(), "{gone} was forwarded");
        }
        assert_eq!(out["accept"], "text/event-stream");
        assert_eq!(out["x-forwarded-for"], "10.0.0.1, 192.168.1.2");
        assert_eq!(out["x-forwarded-proto"], "http");
        assert_eq!(out["x-forwarded-host"], "gw:80");
    }

    #[test]
    fn idempotent_methods() {
        assert!(is_idempotent(&Method::GET));
        assert!(is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }
}
