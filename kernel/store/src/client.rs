//! [`Client`]: the store's HTTP client (reqwest), what components use to
//! reach the store from another process. It follows the leader (307),
//! rotates through the known members when one is down or has no leader
//! (503), and retries only what is safe to retry: reads, watches and
//! keep-alives always; writes only when the request surely did not reach a
//! server (connection refused, redirected, no leader). A write whose outcome
//! is unknown (the connection broke mid-request) is reported as such.
//!
//! Watches reconnect by themselves from the revision after the last one
//! delivered, on whichever member answers, so a leader failover costs a
//! watcher nothing: every revision arrives once, in order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::KvError;
use crate::kv::{Kv, WatchStream};
use crate::shared::WATCH_PROGRESS_INTERVAL;
use crate::types::*;

/// How long a call keeps trying other members before it gives up.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    inner: Arc<Mutex<Endpoints>>,
    retry_for: Duration,
}

#[derive(Debug)]
struct Endpoints {
    /// Base URLs (`http://host:port`) of the members we know.
    all: Vec<String>,
    /// Index in `all` of the one we try first (the last leader seen).
    current: usize,
}

fn base_of(url: &str) -> String {
    let url = url.trim_end_matches('/');
    let with_scheme = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    // Keep scheme://authority only.
    match with_scheme.find("://").map(|i| i + 3) {
        Some(start) => match with_scheme[start..].find('/') {
            Some(end) => with_scheme[..start + end].to_string(),
            None => with_scheme,
        },
        None => with_scheme,
    }
}

/// Whether a call may be sent again after an error whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Always,
    OnlyIfNotSent,
}

impl Client {
    /// A client for the cluster reachable at any of `endpoints`
    /// (`http://host:port` or `host:port`).
    pub fn new<I, S>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let all: Vec<String> = endpoints.into_iter().map(|e| base_of(&e.into())).collect();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        Client {
            http,
            inner: Arc::new(Mutex::new(Endpoints { all, current: 0 })),
            retry_for: DEFAULT_RETRY_FOR,
        }
    }

    /// Gives up on a call after `d` of failed attempts.
    pub fn with_retry_for(mut self, d: Duration) -> Self {
        self.retry_for = d;
        self
    }

    fn current(&self) -> String {
        let e = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        e.all.get(e.current).cloned().unwrap_or_default()
    }

    fn rotate(&self) {
        let mut e = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !e.all.is_empty() {
            e.current = (e.current + 1) % e.all.len();
        }
    }

    fn follow(&self, location: &str) {
        let base = base_of(location);
        let mut e = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match e.all.iter().position(|b| *b == base) {
            Some(i) => e.current = i,
            None => {
                e.all.push(base);
                e.current = e.all.len() - 1;
            }
        }
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Req>,
        retry: Retry,
    ) -> Result<Resp, KvError> {
        let body = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(KvError::internal)?),
            None => None,
        };
        let give_up = tokio::time::Instant::now() + self.retry_for;
        let mut delay = Duration::from_millis(25);
        let mut last_error = KvError::unavailable("no store endpoint configured");
        loop {
            let base = self.current();
            let mut req = self.http.request(method.clone(), format!("{base}{path}"));
            if let Some(b) = &body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.clone());
            }
            match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let bytes = resp.bytes().await.map_err(|e| {
                        KvError::unavailable(format!("reading the answer from {base} failed: {e}"))
                    })?;
                    return serde_json::from_slice(&bytes).map_err(|e| {
                        KvError::internal(format!("unexpected answer from {base}: {e}"))
                    });
                }
                Ok(resp) if resp.status() == StatusCode::TEMPORARY_REDIRECT => {
                    match resp
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|l| l.to_str().ok())
                    {
                        Some(location) => {
                            self.follow(location);
                            last_error = KvError::NotLeader {
                                leader_addr: Some(location.to_string()),
                            };
                            // A redirect loop during an election: slow down.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        None => self.rotate(),
                    }
                }
                Ok(resp) if resp.status() == StatusCode::SERVICE_UNAVAILABLE => {
                    last_error = resp
                        .json::<KvError>()
                        .await
                        .unwrap_or_else(KvError::unavailable);
                    self.rotate();
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(500));
                }
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    return Err(serde_json::from_str::<KvError>(&text).unwrap_or_else(|_| {
                        KvError::internal(format!("{base}{path} answered {status}: {text}"))
                    }));
                }
                Err(e) => {
                    let not_sent = e.is_connect();
                    if !not_sent && retry == Retry::OnlyIfNotSent {
                        return Err(KvError::unavailable(format!(
                            "the connection to {base} broke during the request, which may or may not have been applied: {e}"
                        )));
                    }
                    last_error = KvError::unavailable(format!("{base}: {e}"));
                    self.rotate();
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(500));
                }
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(last_error);
            }
        }
    }

    async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
        retry: Retry,
    ) -> Result<Resp, KvError> {
        self.call(reqwest::Method::POST, path, Some(body), retry)
            .await
    }

    pub async fn status(&self) -> Result<Status, KvError> {
        self.call::<(), _>(
            reqwest::Method::GET,
            "/store/v1/status",
            None,
            Retry::Always,
        )
        .await
    }

    pub async fn members(&self) -> Result<Vec<Member>, KvError> {
        self.call::<(), _>(
            reqwest::Method::GET,
            "/store/v1/members",
            None,
            Retry::Always,
        )
        .await
    }

    /// Adds a node to the cluster (idempotent: joining twice is fine).
    pub async fn join(&self, req: &JoinRequest) -> Result<Vec<Member>, KvError> {
        self.post("/store/v1/members", req, Retry::Always).await
    }

    pub async fn remove_member(&self, id: u64) -> Result<Vec<Member>, KvError> {
        self.call::<(), _>(
            reqwest::Method::DELETE,
            &format!("/store/v1/members/{id}"),
            None,
            Retry::Always,
        )
        .await
    }

    /// Reads a key from one member's local state (may be stale).
    pub async fn get_serializable(&self, key: &str) -> Result<Option<KeyValue>, KvError> {
        let resp: RangeResponse = self
            .post(
                "/store/v1/kv/range",
                &RangeRequest {
                    key: key.into(),
                    serializable: true,
                    ..Default::default()
                },
                Retry::Always,
            )
            .await?;
        Ok(resp.kvs.into_iter().next())
    }
}

#[async_trait]
impl Kv for Client {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, KvError> {
        self.post("/store/v1/kv/range", &req, Retry::Always).await
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse, KvError> {
        self.post("/store/v1/kv/put", &req, Retry::OnlyIfNotSent)
            .await
    }

    async fn delete(&self, req: DeleteRequest) -> Result<DeleteResponse, KvError> {
        self.post("/store/v1/kv/delete", &req, Retry::OnlyIfNotSent)
            .await
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, KvError> {
        self.post("/store/v1/kv/txn", &req, Retry::OnlyIfNotSent)
            .await
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream, KvError> {
        crate::kv::validate_watch(&req)?;
        let mut req = req;
        if req.start_revision == 0 {
            // "From now" must mean now at the time of the call, not at each
            // reconnect: pin it.
            let now = self
                .range(RangeRequest {
                    key: req.key.clone(),
                    count_only: true,
                    prefix: true,
                    serializable: false,
                    ..Default::default()
                })
                .await?;
            req.start_revision = now.revision + 1;
        }
        let (tx, rx) = mpsc::channel(256);
        let client = self.clone();
        tokio::spawn(async move { client.run_watch(req, tx).await });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    async fn lease_grant(&self, req: LeaseGrantRequest) -> Result<Lease, KvError> {
        self.post("/store/v1/lease/grant", &req, Retry::OnlyIfNotSent)
            .await
    }

    async fn lease_keepalive(&self, id: u64) -> Result<Lease, KvError> {
        self.post(
            "/store/v1/lease/keepalive",
            &LeaseIdRequest { id },
            Retry::Always,
        )
        .await
    }

    async fn lease_revoke(&self, id: u64) -> Result<LeaseRevokeResponse, KvError> {
        self.post(
            "/store/v1/lease/revoke",
            &LeaseIdRequest { id },
            Retry::OnlyIfNotSent,
        )
        .await
    }
}

impl Client {
    /// Keeps a watch alive across disconnects until the receiver is dropped
    /// or the server reports an error a reconnect cannot fix.
    async fn run_watch(self, mut req: WatchRequest, tx: mpsc::Sender<Result<WatchBatch, KvError>>) {
        let mut delay = Duration::from_millis(25);
        let idle_limit = WATCH_PROGRESS_INTERVAL * 3;
        loop {
            if tx.is_closed() {
                return;
            }
            let base = self.current();
            let sent = self
                .http
                .post(format!("{base}/store/v1/watch"))
                .json(&req)
                .send()
                .await;
            let resp = match sent {
                Ok(r) if r.status().is_success() => r,
                Ok(r)
                    if r.status() == StatusCode::GONE || r.status() == StatusCode::BAD_REQUEST =>
                {
                    let err = r.json::<KvError>().await.unwrap_or_else(KvError::internal);
                    let _ = tx.send(Err(err)).await;
                    return;
                }
                _ => {
                    self.rotate();
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(500));
                    continue;
                }
            };
            delay = Duration::from_millis(25);
            let mut body = resp.bytes_stream();
            let mut buf: Vec<u8> = Vec::new();
            loop {
                let chunk = tokio::select! {
                    c = tokio::time::timeout(idle_limit, body.next()) => c,
                    _ = tx.closed() => return,
                };
                let bytes = match chunk {
                    Ok(Some(Ok(b))) => b,
                    // Timed out, broke, or ended: reconnect from where we are.
                    _ => break,
                };
                buf.extend_from_slice(&bytes);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    let line = &line[..line.len() - 1];
                    if line.is_empty() {
                        continue;
                    }
                    match serde_json::from_slice::<crate::http::WatchLine>(line) {
                        Ok(crate::http::WatchLine::Batch(batch)) => {
                            if !batch.events.is_empty() && batch.revision < req.start_revision {
                                continue; // already delivered before a reconnect
                            }
                            req.start_revision = req.start_revision.max(batch.revision + 1);
                            if tx.send(Ok(batch)).await.is_err() {
                                return;
                            }
                        }
                        Ok(crate::http::WatchLine::Error(v)) => {
                            let err = serde_json::from_value::<KvError>(v.clone())
                                .unwrap_or_else(|_| KvError::internal(v));
                            if matches!(err, KvError::Compacted { .. }) {
                                let _ = tx.send(Err(err)).await;
                                return;
                            }
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "malformed watch line; reconnecting");
                            break;
                        }
                    }
                }
            }
            self.rotate();
        }
    }
}
