//! HTTP callback event subscribers (`/v2/eventSubscriptions`, Marathon's
//! `http_callback` event bus): the leader POSTs every event of the bus
//! (the JSON objects `/v2/events` streams) to every subscribed URL.
//!
//! Each subscriber has its own ordered, bounded queue and one delivery
//! task, so a slow or dead subscriber delays nobody: the fan-out only
//! `try_send`s, and an event that does not fit a full queue is dropped for
//! that subscriber, counted (`/metrics`) and logged. A failed POST is
//! counted and not retried (as Marathon). Subscriptions are store keys
//! (`/marathon/subscriptions/<url>`), loaded by every new leader, which
//! then delivers; the delivery tasks live while this process leads.
//! Owns neither the event bus (`runtime::Shared::events`) nor the API
//! handlers (`api.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::app::Invalid;
use crate::state::{BusEvent, PREFIX};

/// Events a subscriber may have waiting before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 1024;
/// How long one POST may take.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Store prefix of the subscriptions.
pub fn subscriptions_prefix() -> String {
    format!("{PREFIX}/subscriptions/")
}

/// Store key of one subscription (the value is the URL).
pub fn subscription_key(url: &str) -> String {
    format!("{}{url}", subscriptions_prefix())
}

/// A `callbackUrl` query parameter, checked: an absolute `http` or
/// `https` URL with a host (422 at `/callbackUrl` otherwise).
pub fn callback_url(param: Option<&str>) -> Result<String, Invalid> {
    let raw = param.unwrap_or("").trim();
    if raw.is_empty() {
        return Err(Invalid::at("/callbackUrl", "callbackUrl is required"));
    }
    match reqwest::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(raw.to_owned())
        }
        Ok(_) => Err(Invalid::at(
            "/callbackUrl",
            "must be an absolute http or https URL",
        )),
        Err(e) => Err(Invalid::at(
            "/callbackUrl",
            format!("must be an absolute http or https URL: {e}"),
        )),
    }
}

/// The subscribers and their delivery (counters for `/metrics`).
#[derive(Debug, Default)]
pub struct Callbacks {
    inner: Mutex<Inner>,
    /// Events POSTed with a 2xx answer.
    pub delivered: AtomicU64,
    /// POSTs that failed (no answer or not 2xx).
    pub failed: AtomicU64,
    /// Events dropped because a subscriber's queue was full.
    pub dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    /// Set while leading: delivery tasks are its children.
    running: Option<CancellationToken>,
    subscribers: BTreeMap<String, Subscriber>,
    http: Option<reqwest::Client>,
}

#[derive(Debug)]
struct Subscriber {
    queue: mpsc::Sender<Bytes>,
    stop: CancellationToken,
}

impl Callbacks {
    /// Starts delivering (on election): `urls` are the stored
    /// subscriptions, `events` the bus; everything stops with `token`.
    pub fn start(
        self: &Arc<Self>,
        urls: impl IntoIterator<Item = String>,
        events: broadcast::Receiver<BusEvent>,
        token: CancellationToken,
    ) {
        {
            let mut inner = self.inner.lock();
            inner.subscribers.clear();
            inner.running = Some(token.clone());
            inner.http = Some(reqwest::Client::new());
        }
        for url in urls {
            self.add(&url);
        }
        tokio::spawn(self.clone().fan_out(events, token));
    }

    /// Stops delivering (leadership lost): queued events are dropped.
    pub fn stop(&self) {
        let mut inner = self.inner.lock();
        if let Some(t) = inner.running.take() {
            t.cancel();
        }
        inner.subscribers.clear();
    }

    /// Subscribes `url` (no-op if subscribed or not delivering); whether
    /// it is new.
    pub fn add(self: &Arc<Self>, url: &str) -> bool {
        let mut inner = self.inner.lock();
        let (Some(running), Some(http)) = (inner.running.clone(), inner.http.clone()) else {
            return false;
        };
        if inner.subscribers.contains_key(url) {
            return false;
        }
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let stop = running.child_token();
        tokio::spawn(self.clone().deliver(url.to_owned(), rx, stop.clone(), http));
        inner
            .subscribers
            .insert(url.to_owned(), Subscriber { queue: tx, stop });
        true
    }

    /// Unsubscribes `url`: nothing more is POSTed to it, not even what was
    /// queued. Whether it was subscribed.
    pub fn remove(&self, url: &str) -> bool {
        let removed = self.inner.lock().subscribers.remove(url);
        if let Some(s) = &removed {
            s.stop.cancel();
        }
        removed.is_some()
    }

    /// The subscribed URLs.
    pub fn urls(&self) -> Vec<String> {
        self.inner.lock().subscribers.keys().cloned().collect()
    }

    /// Queues one event body for every subscriber, never waiting.
    pub fn offer(&self, body: &Bytes) {
        let inner = self.inner.lock();
        for (url, s) in &inner.subscribers {
            if let Err(mpsc::error::TrySendError::Full(_)) = s.queue.try_send(body.clone()) {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // One line per 1,000 drops, not one per event.
                if n % 1000 == 1 {
                    tracing::warn!(%url, dropped = n, "event subscriber is too slow; events dropped");
                }
            }
        }
    }

    async fn fan_out(
        self: Arc<Self>,
        mut events: broadcast::Receiver<BusEvent>,
        token: CancellationToken,
    ) {
        loop {
            let next = tokio::select! {
                _ = token.cancelled() => return,
                e = events.recv() => e,
            };
            match next {
                Ok(e) => self.offer(&Bytes::from(e.body.to_string())),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let subs = self.inner.lock().subscribers.len() as u64;
                    self.dropped.fetch_add(n * subs, Ordering::Relaxed);
                    tracing::warn!(missed = n, "event fan-out fell behind the bus");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn deliver(
        self: Arc<Self>,
        url: String,
        mut queue: mpsc::Receiver<Bytes>,
        stop: CancellationToken,
        http: reqwest::Client,
    ) {
        loop {
            let body = tokio::select! {
                _ = stop.cancelled() => return,
                b = queue.recv() => match b { Some(b) => b, None => return },
            };
            let post = http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .timeout(POST_TIMEOUT)
                .body(body)
                .send();
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                r = post => r,
            };
            match result {
                Ok(r) if r.status().is_success() => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Ok(r) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%url, status = %r.status(), "event callback refused");
                }
                Err(e) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%url, error = %e, "event callback failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn callback_urls_must_be_absolute_http() {
        assert_eq!(
            callback_url(Some("http://127.0.0.1:9292/callback")).unwrap(),
            "http://127.0.0.1:9292/callback"
        );
        assert!(callback_url(Some("https://lb.example.com/events")).is_ok());
        for bad in [
            None,
            Some(""),
            Some("not a url"),
            Some("ftp://h/x"),
            Some("/cb"),
        ] {
            let e = callback_url(bad).unwrap_err();
            assert_eq!(e.0[0].path, "/callbackUrl", "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_without_blocking_others() {
        let c = Arc::new(Callbacks::default());
        let token = CancellationToken::new();
        let (bus, rx) = broadcast::channel(16);
        // Both subscribers are unreachable: their delivery tasks are
        // stuck in (or failing) POSTs, and their queues fill.
        c.start(["http://127.0.0.1:1/a".to_owned()], rx, token.clone());
        assert!(c.add("http://127.0.0.1:1/b"));
        assert!(!c.add("http://127.0.0.1:1/b"), "already subscribed");
        assert_eq!(c.urls().len(), 2);
        let body = Bytes::from_static(b"{}");
        for _ in 0..(QUEUE_CAPACITY + 10) * 2 {
            c.offer(&body);
        }
        assert!(c.dropped.load(Ordering::Relaxed) >= 20);
        assert!(c.remove("http://127.0.0.1:1/a"));
        assert!(!c.remove("http://127.0.0.1:1/a"));
        assert_eq!(c.urls(), ["http://127.0.0.1:1/b"]);
        let _ = bus.send(BusEvent {
            kind: "x",
            body: json!({}),
        });
        c.stop();
        assert!(c.urls().is_empty());
        assert!(!c.add("http://127.0.0.1:1/c"), "not delivering");
    }
}
