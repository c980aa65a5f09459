//! The background task that owns the subscription.
//!
//! ```text
//!   pick master ──► POST SUBSCRIBE ──307──► follow Location (≤ max_redirects)
//!        ▲               │ 200                  │ 503 / 5xx / 404 / transport: retry
//!        │               ▼                      │ other 4xx: Closed(Refused)
//!        │        first record SUBSCRIBED ──► Connected (publish session)
//!        │               │
//!        │        read records; every chunk resets the watchdog
//!        │               │ EOF, transport error, framing error,
//!        │               │ silence > interval × grace, or a call saw 307
//!        └── backoff ◄───┘ Disconnected            ERROR event: Closed(Error)
//! ```
//!
//! After a lost session the leader it was on is tried first; after a failed
//! attempt the next configured master is. Every SUBSCRIBE carries the
//! FrameworkInfo with the ID from the first SUBSCRIBED, so the master sees
//! a failover of the same framework, never a new one. The backoff resets
//! when a SUBSCRIBED arrives.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;
use tokio::sync::mpsc;

use super::handle::{error_text, STREAM_ID_HEADER};
use super::{
    Backoff, CloseReason, Disconnect, MasterUrl, SchedulerEvent, SchedulerHandle, Session, Shared,
};
use crate::recordio::Decoder;
use crate::scheduler::{Call, CallBody, Event};
use crate::v1::TaskStatus;

/// Acknowledgements in flight at once in auto-acknowledge mode.
const MAX_CONCURRENT_ACKS: usize = 64;

/// How one connection attempt ended.
enum Outcome {
    /// It never got to SUBSCRIBED.
    Failed(Disconnect),
    /// It was subscribed, then lost the stream on `master`.
    Lost {
        master: MasterUrl,
        reason: Disconnect,
    },
    /// Stop for good.
    Closed(CloseReason),
    /// Nobody reads the events any more.
    ReceiverGone,
}

/// Runs until closed, cancelled, or the event receiver is dropped.
pub(crate) async fn run(
    shared: Arc<Shared>,
    masters: Vec<MasterUrl>,
    events: mpsc::Sender<SchedulerEvent>,
) {
    let cancel = shared.cancel.clone();
    let (acks, acker) = if shared.config.auto_acknowledge {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = SchedulerHandle::new(shared.clone());
        (Some(tx), Some(tokio::spawn(acknowledge_all(handle, rx))))
    } else {
        (None, None)
    };
    let mut task = Task {
        backoff: Backoff::new(shared.config.backoff_min, shared.config.backoff_max),
        shared: shared.clone(),
        masters,
        next: 0,
        preferred: None,
        generation: 0,
        failures: 0,
        events: events.clone(),
        acks,
    };
    let close = tokio::select! {
        close = task.run() => close,
        () = cancel.cancelled() => shared.torn_down.load(Ordering::SeqCst).then_some(CloseReason::TornDown),
    };
    drop(task);
    shared.session.send_replace(None);
    if let Some(reason) = close {
        tracing::warn!(%reason, "scheduler client stopped");
        // Best effort: a full buffer nobody reads must not keep us alive.
        let _ = events.try_send(SchedulerEvent::Closed { reason });
    }
    shared.closed.send_replace(true);
    if let Some(acker) = acker {
        acker.abort();
        let _ = acker.await;
    }
}

struct Task {
    shared: Arc<Shared>,
    masters: Vec<MasterUrl>,
    /// Index of the configured master to try next.
    next: usize,
    /// A master to try before the configured ones: the leader we lost.
    preferred: Option<MasterUrl>,
    generation: u64,
    /// Connection attempts that failed since the last SUBSCRIBED.
    failures: u32,
    backoff: Backoff,
    events: mpsc::Sender<SchedulerEvent>,
    acks: Option<mpsc::UnboundedSender<TaskStatus>>,
}

impl Task {
    async fn run(&mut self) -> Option<CloseReason> {
        loop {
            let (master, configured) = match self.preferred.take() {
                Some(m) => (m, false),
                None => (self.masters[self.next % self.masters.len()].clone(), true),
            };
            match self.attempt(master).await {
                Outcome::Closed(reason) => return Some(reason),
                Outcome::ReceiverGone => return None,
                Outcome::Lost { master, reason } => {
                    tracing::warn!(%reason, "scheduler subscription lost; resubscribing");
                    self.shared.session.send_replace(None);
                    self.preferred = Some(master);
                    if !self.emit(SchedulerEvent::Disconnected { reason }).await {
                        return None;
                    }
                }
                Outcome::Failed(reason) => {
                    if configured {
                        self.next = self.next.wrapping_add(1);
                    }
                    self.failures += 1;
                    let attempts = self.failures;
                    if self
                        .shared
                        .config
                        .max_attempts
                        .is_some_and(|max| attempts >= max)
                    {
                        return Some(CloseReason::GaveUp {
                            attempts,
                            last: reason,
                        });
                    }
                    tracing::warn!(%reason, attempts, "cannot subscribe; retrying");
                }
            }
            tokio::time::sleep(self.backoff.next_delay()).await;
        }
    }

    /// One connection attempt, redirects included, and the session it
    /// opens, until that ends.
    async fn attempt(&mut self, mut master: MasterUrl) -> Outcome {
        let config = &self.shared.config;
        let mut redirects = 0;
        let response = loop {
            let mut call = Call::subscribe(self.shared.framework.lock().unwrap().clone());
            if let CallBody::Subscribe(s) = &mut call.body {
                s.suppressed_roles.clone_from(&config.suppressed_roles);
            }
            let request = self
                .shared
                .http
                .post(master.scheduler_endpoint())
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, "application/json")
                .body(call.to_json());
            let response = match tokio::time::timeout(config.request_timeout, request.send()).await
            {
                Err(_) => {
                    return Outcome::Failed(Disconnect::Transport {
                        master,
                        message: format!("no response within {:?}", config.request_timeout),
                    })
                }
                Ok(Err(e)) => {
                    return Outcome::Failed(Disconnect::Transport {
                        master,
                        message: error_chain(&e),
                    })
                }
                Ok(Ok(response)) => response,
            };
            let status = response.status();
            if status.is_redirection() {
                let location = super::leader::location(response.headers());
                redirects += 1;
                if redirects > config.max_redirects {
                    return Outcome::Failed(Disconnect::Redirect {
                        message: format!("more than {} redirects", config.max_redirects),
                        master,
                    });
                }
                match master.follow(location) {
                    Ok(leader) => {
                        tracing::debug!(from = %master, to = %leader, "following leader redirect");
                        master = leader;
                        continue;
                    }
                    Err(message) => {
                        return Outcome::Failed(Disconnect::Redirect { master, message })
                    }
                }
            }
            if status == StatusCode::OK {
                break response;
            }
            let body = tokio::time::timeout(config.request_timeout, response.bytes())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let message = error_text(&body);
            let status = status.as_u16();
            return if is_retryable(status) {
                Outcome::Failed(Disconnect::Unavailable {
                    master,
                    status,
                    message,
                })
            } else {
                Outcome::Closed(CloseReason::Refused {
                    master,
                    status,
                    message,
                })
            };
        };
        let stream_id = response
            .headers()
            .get(STREAM_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if stream_id.is_none() {
            tracing::warn!(%master, "SUBSCRIBE response has no Mesos-Stream-Id header");
        }
        self.stream(master, stream_id, response).await
    }

    /// Reads the event stream of one subscription.
    async fn stream(
        &mut self,
        master: MasterUrl,
        stream_id: Option<String>,
        mut response: reqwest::Response,
    ) -> Outcome {
        let mut decoder = Decoder::default();
        let mut drop_requests = self.shared.drop_session.subscribe();
        // Until SUBSCRIBED, the request timeout bounds the silence; after,
        // the heartbeat interval × grace (nothing if the master sends no
        // heartbeats: TCP keepalive is the only watchdog then).
        let mut silence_limit = Some(self.shared.config.request_timeout);
        let mut subscribed = false;
        let generation = self.generation + 1;
        let lost = |subscribed: bool, reason: Disconnect| {
            if subscribed {
                Outcome::Lost {
                    master: master.clone(),
                    reason,
                }
            } else {
                Outcome::Failed(reason)
            }
        };
        loop {
            let next = async {
                match silence_limit {
                    Some(limit) => tokio::time::timeout(limit, response.chunk()).await.ok(),
                    None => Some(response.chunk().await),
                }
            };
            let chunk = tokio::select! {
                chunk = next => chunk,
                _ = drop_requests.wait_for(|g| *g == generation), if subscribed => {
                    return lost(true, Disconnect::LeaderChanged { master: master.clone() });
                }
            };
            let bytes = match chunk {
                None if subscribed => {
                    return lost(
                        true,
                        Disconnect::HeartbeatTimeout {
                            master: master.clone(),
                            silence: silence_limit.unwrap_or_default(),
                        },
                    )
                }
                None => {
                    return lost(
                        false,
                        Disconnect::Protocol {
                            master: master.clone(),
                            message: format!(
                                "no SUBSCRIBED event within {:?}",
                                self.shared.config.request_timeout
                            ),
                        },
                    )
                }
                Some(Err(e)) => {
                    let message = error_chain(&e);
                    return lost(
                        subscribed,
                        Disconnect::Transport {
                            master: master.clone(),
                            message,
                        },
                    );
                }
                Some(Ok(None)) => {
                    let reason = match decoder.finish() {
                        Ok(()) => Disconnect::StreamEnded {
                            master: master.clone(),
                        },
                        Err(e) => Disconnect::Protocol {
                            master: master.clone(),
                            message: e.to_string(),
                        },
                    };
                    return lost(subscribed, reason);
                }
                Some(Ok(Some(bytes))) => bytes,
            };
            let records = match decoder.decode(&bytes) {
                Ok(records) => records,
                Err(e) => {
                    return lost(
                        subscribed,
                        Disconnect::Protocol {
                            master: master.clone(),
                            message: e.to_string(),
                        },
                    )
                }
            };
            for record in records {
                let event = match Event::from_json(&record) {
                    Ok(event) => event,
                    Err(e) if subscribed => {
                        // A newer master may send event types we do not
                        // know; skipping one beats dropping the stream.
                        tracing::warn!(error = %e, "skipping an unreadable scheduler event");
                        continue;
                    }
                    Err(e) => {
                        return lost(
                            false,
                            Disconnect::Protocol {
                                master: master.clone(),
                                message: e.to_string(),
                            },
                        )
                    }
                };
                match event {
                    Event::Subscribed(s) => {
                        let heartbeat_interval = s
                            .heartbeat_interval_seconds
                            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                            .filter(|d| !d.is_zero());
                        silence_limit =
                            heartbeat_interval.map(|i| i * self.shared.config.heartbeat_grace);
                        if subscribed {
                            continue;
                        }
                        subscribed = true;
                        self.generation = generation;
                        self.backoff.reset();
                        self.failures = 0;
                        self.shared.framework.lock().unwrap().id = Some(s.framework_id.clone());
                        self.shared.session.send_replace(Some(Session {
                            master: master.clone(),
                            stream_id: stream_id.clone(),
                            framework_id: s.framework_id.clone(),
                            generation,
                        }));
                        tracing::info!(framework_id = %s.framework_id, %master, "subscribed");
                        let connected = SchedulerEvent::Connected {
                            framework_id: s.framework_id,
                            master: master.clone(),
                            heartbeat_interval,
                            master_info: s.master_info,
                        };
                        if !self.emit(connected).await {
                            return Outcome::ReceiverGone;
                        }
                    }
                    Event::Heartbeat => {}
                    Event::Error(e) => {
                        let message = e.message.clone();
                        if !self.emit(SchedulerEvent::Event(Event::Error(e))).await {
                            return Outcome::ReceiverGone;
                        }
                        return Outcome::Closed(CloseReason::Error(message));
                    }
                    other if !subscribed => {
                        return lost(
                            false,
                            Disconnect::Protocol {
                                master: master.clone(),
                                message: format!(
                                    "first event is {:?}, not SUBSCRIBED",
                                    other.kind()
                                ),
                            },
                        )
                    }
                    Event::Update(update) => {
                        let ack = update
                            .status
                            .needs_acknowledgement()
                            .then(|| update.status.clone());
                        if !self
                            .emit(SchedulerEvent::Event(Event::Update(update)))
                            .await
                        {
                            return Outcome::ReceiverGone;
                        }
                        if let (Some(acks), Some(status)) = (&self.acks, ack) {
                            let _ = acks.send(status);
                        }
                    }
                    other => {
                        if !self.emit(SchedulerEvent::Event(other)).await {
                            return Outcome::ReceiverGone;
                        }
                    }
                }
            }
        }
    }

    /// Queues an event; false when the receiver is gone.
    async fn emit(&self, event: SchedulerEvent) -> bool {
        self.events.send(event).await.is_ok()
    }
}

/// Statuses worth another attempt: no leader yet (503) and other server
/// errors, a wrong path on one of several masters (404), timeouts and rate
/// limits. Other client errors mean the SUBSCRIBE itself is wrong.
fn is_retryable(status: u16) -> bool {
    status >= 500 || matches!(status, 404 | 408 | 425 | 429)
}

/// An error with its sources, `a: b: c` (reqwest's own text is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// Auto-acknowledgement: ACKNOWLEDGE each queued status, a bounded number
/// at a time. A failed one is only logged: the agent retries the update,
/// and the next copy is acknowledged again.
pub(crate) async fn acknowledge_all(
    handle: SchedulerHandle,
    mut statuses: mpsc::UnboundedReceiver<TaskStatus>,
) {
    futures::stream::poll_fn(|cx| statuses.poll_recv(cx))
        .for_each_concurrent(MAX_CONCURRENT_ACKS, |status| {
            let handle = handle.clone();
            async move {
                if let Err(e) = handle.acknowledge_status(&status).await {
                    tracing::warn!(task_id = %status.task_id, error = %e, "cannot acknowledge a status update");
                }
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses() {
        for s in [500, 502, 503, 504, 404, 408, 429] {
            assert!(is_retryable(s), "{s}");
        }
        for s in [400, 401, 403, 405, 409, 415, 422] {
            assert!(!is_retryable(s), "{s}");
        }
    }
}
