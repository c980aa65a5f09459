//! The HTTP APIs: Chronos v1 ([`chronos`]) and Metronome v1
//! ([`metronome`]) over one job model, plus `/ping` and `/metrics`.
//!
//! Handlers parse the wire shape, convert it to the domain model and call
//! one [`crate::actions`] function. A standby (not the elected leader)
//! answers every API request with a `307` to the leader (Chronos' own
//! behaviour; `requests` and `httplib2` follow it for Metronome clients
//! too), except `/ping`, `/metrics` and the `leader` endpoints.

pub mod chronos;
pub mod metronome;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use dcos_store::Election;
use serde_json::json;

use crate::framework::Engine;

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The election, to find the leader from a standby (`None`: always
    /// leader, for tests).
    pub election: Option<Election>,
    /// Our own advertised URL.
    pub me: String,
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(chronos::routes())
        .merge(metronome::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            leader_only,
        ))
        .route("/ping", get(|| async { "pong" }))
        .route("/metrics", get(metrics))
        .route("/v1/metrics", get(metrics))
        .route("/leader", get(leader))
        .route("/v1/scheduler/leader", get(leader))
        .with_state(state)
}

/// Sends requests to the leader when we are not it.
async fn leader_only(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.engine.leading.load(Ordering::SeqCst) {
        return next.run(req).await;
    }
    let leader = match &state.election {
        Some(e) => e.leader().await.ok().flatten(),
        None => None,
    };
    match leader {
        Some(url) if url != state.me => {
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(
                    header::LOCATION,
                    format!("{}{path}", url.trim_end_matches('/')),
                )],
            )
                .into_response()
        }
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"message": "no Chronos leader is elected yet; try again"})),
        )
            .into_response(),
    }
}

async fn leader(State(state): State<AppState>) -> Response {
    let leader = if state.engine.leading.load(Ordering::SeqCst) {
        Some(state.me.clone())
    } else {
        match &state.election {
            Some(e) => e.leader().await.ok().flatten(),
            None => None,
        }
    };
    let host = leader
        .as_deref()
        .map(|u| {
            u.trim_start_matches("http://")
                .trim_start_matches("https://")
                .to_owned()
        })
        .unwrap_or_default();
    Json(json!({ "leader": host })).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let c = &state.engine.counters;
    let (jobs, active) = {
        let guard = state.engine.books.lock().await;
        guard
            .as_ref()
            .map(|b| {
                let active = b
                    .runs
                    .values()
                    .flat_map(|r| r.values())
                    .filter(|r| !r.status.is_done())
                    .count();
                (b.jobs.len(), active)
            })
            .unwrap_or((0, 0))
    };
    Json(json!({
        "version": "3.0.0",
        "leader": state.engine.leading.load(Ordering::SeqCst),
        "gauges": {
            "jobs": {"value": jobs},
            "runs.active": {"value": active},
        },
        "counters": {
            "runs.created": {"count": c.runs_created.load(Ordering::Relaxed)},
            "runs.missed": {"count": c.runs_missed.load(Ordering::Relaxed)},
            "runs.succeeded": {"count": c.runs_succeeded.load(Ordering::Relaxed)},
            "runs.failed": {"count": c.runs_failed.load(Ordering::Relaxed)},
            "tasks.launched": {"count": c.tasks_launched.load(Ordering::Relaxed)},
            "store.conflicts": {"count": c.conflicts.load(Ordering::Relaxed)},
        }
    }))
    .into_response()
}

/// Splits a comma-separated query value (`embed=a,b&embed=c`).
pub(crate) fn query_values(query: Option<&str>, key: &str) -> Vec<String> {
    let Some(q) = query else {
        return vec![];
    };
    q.split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| *k == key)
        .flat_map(|(_, v)| v.split(',').map(decode).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Percent-decodes a query value.
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
