//! The agent's side of the master ↔ agent protocol
//! ([`dcos_api::agent`]): subscribe with `Register`, follow 307 redirects
//! to the leading master, back off on 503 and connection errors (moving on
//! to the next master of a comma-separated `--master` list), read the
//! RecordIO event stream, heartbeat, drop a silent stream after five
//! heartbeat intervals, and post the agent's calls with the stream id.
//!
//! Owns the connection only; what events mean is [`crate::agent`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use dcos_api::agent::{Call, Event, CALL_PATH, STREAM_ID_HEADER, SUBSCRIBE_PATH};
use dcos_api::recordio::Decoder;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::agent::Agent;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A stream that says nothing for this many heartbeat intervals is dead.
const MISSED_HEARTBEATS: u32 = 5;

/// `scheme://host:port` of a URL.
fn base_of(url: &reqwest::Url) -> String {
    let mut base = format!(
        "{}://{}",
        url.scheme(),
        url.host_str().unwrap_or("localhost")
    );
    if let Some(port) = url.port() {
        base.push_str(&format!(":{port}"));
    }
    base
}

/// Keeps the agent registered until `agent.stop` is cancelled. `on_registered`
/// runs after each (re)registration with the agent id and master URL.
pub async fn run(
    agent: Arc<Agent>,
    master: String,
    mut outbox: mpsc::UnboundedReceiver<Call>,
    on_registered: impl Fn(&str, &str) + Send + Sync + 'static,
) {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .build()
        .expect("an HTTP client");
    // Any master of the list will do: followers redirect to the leader.
    let masters: Vec<String> = master
        .split(',')
        .map(|m| m.trim().trim_end_matches('/').to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    let mut current = 0usize;
    let mut backoff = MIN_BACKOFF;
    let stop = agent.stop.clone();
    loop {
        if stop.is_cancelled() {
            return;
        }
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            o = session(&agent, &http, &masters[current], &mut outbox, &on_registered) => o,
        };
        agent.on_disconnected();
        match outcome {
            Ok(()) => backoff = MIN_BACKOFF,
            Err(e) => {
                current = (current + 1) % masters.len();
                tracing::info!(
                    "master connection: {e}; retrying with {} in {backoff:?}",
                    masters[current]
                );
            }
        }
        // Calls made while disconnected are dropped: pending updates are
        // re-sent after the next registration.
        let deadline = tokio::time::sleep(backoff);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = stop.cancelled() => return,
                c = outbox.recv() => if c.is_none() { return },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One subscription, until it ends or fails.
async fn session(
    agent: &Arc<Agent>,
    http: &reqwest::Client,
    master: &str,
    outbox: &mut mpsc::UnboundedReceiver<Call>,
    on_registered: &(impl Fn(&str, &str) + Send + Sync),
) -> Result<(), String> {
    let register = agent.register_message();
    let resp = http
        .post(format!("{master}{SUBSCRIBE_PATH}"))
        .json(&register)
        .send()
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(format!("subscribe answered {status}: {body}"));
    }
    let leader = base_of(resp.url());
    let stream_id = resp
        .headers()
        .get(STREAM_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut body = resp.bytes_stream();
    let mut decoder = Decoder::default();
    let mut silence = Duration::from_secs(75);
    let mut heartbeat: Option<tokio::time::Interval> = None;
    let mut agent_id = None;
    let mut last_read = Instant::now();
    let (lost_tx, mut lost_rx) = mpsc::unbounded_channel::<String>();
    let call_url = format!("{leader}{CALL_PATH}");
    let post = |call: Call| {
        let http = http.clone();
        let url = call_url.clone();
        let stream_id = stream_id.clone();
        let lost = lost_tx.clone();
        tokio::spawn(async move {
            match http
                .post(&url)
                .header(STREAM_ID_HEADER, &stream_id)
                .json(&call)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {}
                Ok(r) if r.status().as_u16() == 403 || r.status().as_u16() == 404 => {
                    let _ = lost.send(format!("call answered {}", r.status()));
                }
                Ok(r) => tracing::debug!("call answered {}", r.status()),
                Err(e) => tracing::debug!("call failed: {e}"),
            }
        });
    };
    loop {
        let tick = async {
            match heartbeat.as_mut() {
                Some(h) => {
                    h.tick().await;
                }
                None => futures::future::pending::<()>().await,
            }
        };
        tokio::select! {
            chunk = tokio::time::timeout(silence.saturating_sub(last_read.elapsed()), body.next()) => {
                let chunk = match chunk {
                    Err(_) => return Err("no event from the master for 5 heartbeat intervals".into()),
                    Ok(None) => return Err("the master closed the stream".into()),
                    Ok(Some(Err(e))) => return Err(format!("stream: {e}")),
                    Ok(Some(Ok(c))) => c,
                };
                last_read = Instant::now();
                let records = decoder.decode(&chunk).map_err(|e| e.to_string())?;
                for record in records {
                    let event: Event = match serde_json::from_slice(&record) {
                        Ok(e) => e,
                        Err(e) => {
                            tracing::warn!("undecodable event from the master: {e}");
                            continue;
                        }
                    };
                    if let Event::Registered { agent_id: id, heartbeat_interval_seconds, .. } = &event {
                        let every = Duration::from_secs_f64(heartbeat_interval_seconds.max(0.1));
                        silence = every * MISSED_HEARTBEATS;
                        let mut h = tokio::time::interval(every);
                        h.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        heartbeat = Some(h);
                        agent_id = Some(id.clone());
                        agent.on_registered(id.clone(), &leader).await;
                        on_registered(id.as_str(), &leader);
                        continue;
                    }
                    if agent_id.is_none() {
                        return Err("the first event was not REGISTERED".into());
                    }
                    let stop = matches!(event, Event::Shutdown { .. });
                    agent.handle_event(event).await;
                    if stop {
                        return Ok(());
                    }
                }
            }
            _ = tick => {
                if let Some(id) = &agent_id {
                    post(Call::Heartbeat { agent_id: id.clone() });
                }
            }
            call = outbox.recv() => match call {
                Some(c) => post(c),
                None => return Ok(()),
            },
            why = lost_rx.recv() => {
                return Err(why.unwrap_or_default());
            }
        }
    }
}
