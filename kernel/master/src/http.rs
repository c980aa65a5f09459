//! HTTP: parses each request into one core input and renders the answer.
//! Routes: `/api/v1/scheduler`, `/api/v1` (operator), `/agent/v1/*`, and
//! the legacy read-only endpoints. A node that is not the active master
//! answers `307` to the leader (same path) or `503`. Every error is a
//! plain-text body with Mesos' status code ([`ApiError`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use dcos_api::agent;
use dcos_api::operator::{self, response, CallType as OpCall};
use dcos_api::scheduler::{self, CallBody};
use dcos_api::v1::{DrainConfig, FrameworkId};
use serde_json::json;

use crate::runtime::{
    agent_heartbeat, event_stream, operator_stream, scheduler_heartbeat, ConfigError, Master,
    Owner, StreamGuard,
};
use crate::state::StateError;
use crate::views;

/// A mutation of the books for an operator call.
type Mutation<'a> = &'a dyn Fn(
    &mut crate::state::State,
    crate::state::Clock,
) -> Result<Vec<crate::state::Effect>, StateError>;

/// Largest request body accepted (a LAUNCH of many tasks fits).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The scheduler API path.
pub const SCHEDULER_PATH: &str = "/api/v1/scheduler";
/// The operator API path.
pub const OPERATOR_PATH: &str = "/api/v1";

/// The one HTTP error: a status and a plain-text message (what Mesos'
/// clients print).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// The status code.
    pub status: StatusCode,
    /// The text body.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        let status = match &e {
            StateError::FrameworkNotFound(_)
            | StateError::NotSubscribed(_)
            | StateError::FrameworkRemoved(_)
            | StateError::AgentStreamMismatch(_)
            | StateError::AgentGone(_) => StatusCode::FORBIDDEN,
            StateError::StreamMismatch { .. } | StateError::Invalid(_) => StatusCode::BAD_REQUEST,
            StateError::AgentNotFound(_) => StatusCode::NOT_FOUND,
            StateError::QuotaConflict(_) => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.message,
        )
            .into_response()
    }
}

/// The master's routes.
pub fn router(master: Arc<Master>) -> Router {
    Router::new()
        .route(SCHEDULER_PATH, post(scheduler_api))
        .route(OPERATOR_PATH, post(operator_api))
        .route(agent::SUBSCRIBE_PATH, post(agent_subscribe))
        .route(agent::CALL_PATH, post(agent_call))
        .route("/master/state", get(state_json))
        .route("/master/state.json", get(state_json))
        .route("/state.json", get(state_json))
        .route("/state", get(state_json))
        .route("/master/state-summary", get(state_summary))
        .route("/master/frameworks", get(frameworks_json))
        .route("/master/slaves", get(slaves_json))
        .route("/master/tasks", get(tasks_json))
        .route("/master/tasks.json", get(tasks_json))
        .route("/master/roles", get(roles_json))
        .route("/roles", get(roles_json))
        .route("/master/weights", get(weights_get).put(weights_put))
        .route("/weights", get(weights_get).put(weights_put))
        .route("/master/quota", get(quota_get).post(quota_post))
        .route("/quota", get(quota_get).post(quota_post))
        .route("/master/quota/{*role}", delete(quota_delete))
        .route("/quota/{*role}", delete(quota_delete))
        .route("/master/flags", get(flags_json))
        .route("/master/redirect", get(redirect))
        .route("/master/health", get(health))
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/master/version", get(version))
        .route("/metrics/snapshot", get(metrics_snapshot))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(master)
}

/// `None` when this node is the active master; otherwise the 307 to the
/// leader (same path) or a 503.
fn not_active(m: &Master, path: &str) -> Option<Response> {
    if m.is_active() {
        return None;
    }
    match m.leader_addr() {
        Some(addr) if addr != m.node().addr() => Some(
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, format!("http://{addr}{path}"))],
            )
                .into_response(),
        ),
        Some(_) => Some(
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Master is recovering its registry; retry shortly",
            )
            .into_response(),
        ),
        None => Some(
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "No leader elected").into_response(),
        ),
    }
}

/// Requests must be JSON (we do not speak protobuf).
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::bad_request(
            "Expecting 'Content-Type' to be present",
        ));
    };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let media = ct.split(';').next().unwrap_or("").trim();
    if media == "application/json" {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Expecting 'Content-Type' of application/json (protobuf is not supported); got '{ct}'"),
        ))
    }
}

/// Responses are JSON: an `Accept` that rules it out is a 406.
fn check_accept(headers: &HeaderMap, recordio_ok: bool) -> Result<(), ApiError> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let accept = accept.to_str().unwrap_or("").to_ascii_lowercase();
    let ok = accept.split(',').any(|part| {
        let media = part.split(';').next().unwrap_or("").trim();
        matches!(media, "application/json" | "*/*" | "application/*" | "")
            || (recordio_ok && media == "application/recordio")
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!("Expecting 'Accept' to allow application/json; got '{accept}'"),
        ))
    }
}

fn stream_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(agent::STREAM_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn streaming(body: Body, stream: &str, content_type: &str) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("static"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(stream) {
        h.insert(agent::STREAM_ID_HEADER, v);
    }
    resp
}

fn inactive() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Not the active master")
}

// ---------------------------------------------------------------- scheduler

async fn scheduler_api(
    AxState(m): AxState<Arc<Master>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = not_active(&m, SCHEDULER_PATH) {
        return r;
    }
    match scheduler_call(&m, &headers, &body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn scheduler_call(m: &Arc<Master>, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    check_content_type(headers)?;
    check_accept(headers, false)?;
    let call = scheduler::Call::from_json(body)
        .map_err(|e| ApiError::bad_request(format!("Failed to parse body into Call: {e}")))?;
    call.validate()
        .map_err(|e| ApiError::bad_request(format!("Failed to validate scheduler::Call: {e}")))?;
    let stream = stream_id(headers);
    match call.body {
        CallBody::Subscribe(subscribe) => {
            if stream.is_some() {
                return Err(ApiError::bad_request(
                    "Subscribe calls should not include the 'Mesos-Stream-Id' header",
                ));
            }
            subscribe_framework(m, subscribe)
        }
        body => {
            let framework_id = call
                .framework_id
                .expect("validated: non-SUBSCRIBE calls have one");
            let Some(stream) = stream else {
                return Err(ApiError::bad_request(
                    "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
                ));
            };
            let sync = matches!(body, CallBody::UpdateFramework(_));
            let result = m
                .with_state(|s, c| {
                    match s
                        .check_framework_stream(&framework_id, Some(&stream))
                        .and_then(|()| s.scheduler_call(&framework_id, body, c))
                    {
                        Ok(effects) => (Ok(()), effects),
                        Err(e) => (Err(e), Vec::new()),
                    }
                })
                .ok_or_else(inactive)?;
            result?;
            Ok(if sync {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            }
            .into_response())
        }
    }
}

fn subscribe_framework(
    m: &Arc<Master>,
    subscribe: scheduler::Subscribe,
) -> Result<Response, ApiError> {
    let interval = m.flags().framework_heartbeat_interval;
    let (framework_id, stream, rx) = {
        let mut core = m.lock();
        if core.state.is_none() {
            return Err(inactive());
        }
        let (stream, rx) = m.open_stream(&mut core);
        let clock = crate::runtime::clock();
        let state = core.state.as_mut().expect("checked above");
        match state.subscribe(subscribe, stream.clone(), interval, clock) {
            Ok((id, effects)) => {
                m.dispatch(&mut core, effects);
                (id, stream, rx)
            }
            Err(e) => {
                m.dispatch(&mut core, vec![crate::state::Effect::CloseStream(stream)]);
                return Err(e.into());
            }
        }
    };
    let guard = StreamGuard {
        master: Arc::downgrade(m),
        owner: Owner::Framework(framework_id),
        stream: stream.clone(),
    };
    let events = event_stream(
        rx,
        scheduler_heartbeat(),
        Duration::from_secs_f64(interval),
        Some(guard),
    );
    Ok(streaming(
        Body::from_stream(events),
        &stream,
        "application/json",
    ))
}

// ---------------------------------------------------------------- agents

async fn agent_subscribe(
    AxState(m): AxState<Arc<Master>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = not_active(&m, agent::SUBSCRIBE_PATH) {
        return r;
    }
    let result = (|| {
        check_content_type(&headers)?;
        let reg: agent::Register = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("Failed to parse body into Register: {e}"))
        })?;
        let mut core = m.lock();
        if core.state.is_none() {
            return Err(inactive());
        }
        let (stream, rx) = m.open_stream(&mut core);
        let clock = crate::runtime::clock();
        let state = core.state.as_mut().expect("checked above");
        match state.register_agent(reg, stream.clone(), clock) {
            Ok((id, effects)) => {
                m.dispatch(&mut core, effects);
                Ok((id, stream, rx))
            }
            Err(e) => {
                m.dispatch(&mut core, vec![crate::state::Effect::CloseStream(stream)]);
                Err(ApiError::from(e))
            }
        }
    })();
    match result {
        Ok((agent_id, stream, rx)) => {
            let guard = StreamGuard {
                master: Arc::downgrade(&m),
                owner: Owner::Agent(agent_id),
                stream: stream.clone(),
            };
            let events = event_stream(
                rx,
                agent_heartbeat(),
                Duration::from_secs_f64(m.agent_heartbeat_interval()),
                Some(guard),
            );
            streaming(Body::from_stream(events), &stream, "application/json")
        }
        Err(e) => e.into_response(),
    }
}

async fn agent_call(AxState(m): AxState<Arc<Master>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = not_active(&m, agent::CALL_PATH) {
        return r;
    }
    let result = (|| {
        check_content_type(&headers)?;
        let call: agent::Call = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("Failed to parse body into Call: {e}")))?;
        let stream = stream_id(&headers).ok_or_else(|| {
            ApiError::bad_request("Agent calls must include the 'Mesos-Stream-Id' header")
        })?;
        m.with_state(|s, c| match s.agent_call(call, &stream, c) {
            Ok(effects) => (Ok(()), effects),
            Err(e) => (Err(e), Vec::new()),
        })
        .ok_or_else(inactive)?
        .map_err(ApiError::from)
    })();
    match result {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => e.into_response(),
    }
}

// ---------------------------------------------------------------- operator

async fn operator_api(
    AxState(m): AxState<Arc<Master>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match operator_call(&m, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn op_json(r: operator::Response) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        r.to_json(),
    )
        .into_response()
}

async fn operator_call(
    m: &Arc<Master>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    check_content_type(headers)?;
    let subscribe_ok = true;
    check_accept(headers, subscribe_ok)?;
    let call = operator::Call::from_json(body)
        .map_err(|e| ApiError::bad_request(format!("Failed to parse body into Call: {e}")))?;
    // Answered by any node.
    match call.kind() {
        OpCall::GetHealth => {
            // Mesos' answer has no room for the reason: `/health` says it.
            let healthy = crate::health::check(m.node(), crate::health::STORE_CHECK_TIMEOUT)
                .await
                .is_ok();
            return Ok(op_json(operator::Response::GetHealth(
                response::GetHealth { healthy },
            )));
        }
        OpCall::GetVersion => {
            return Ok(op_json(operator::Response::GetVersion(
                response::GetVersion {
                    version_info: version_info(),
                },
            )))
        }
        OpCall::GetFlags => {
            return Ok(op_json(operator::Response::GetFlags(response::GetFlags {
                flags: m
                    .flags()
                    .as_map()
                    .into_iter()
                    .map(|(name, value)| operator::Flag {
                        name,
                        value: Some(value),
                    })
                    .collect(),
            })))
        }
        OpCall::GetMetrics => {
            return Ok(op_json(operator::Response::GetMetrics(
                response::GetMetrics {
                    metrics: metrics_map(m)
                        .into_iter()
                        .map(|(name, value)| operator::Metric {
                            name,
                            value: Some(value),
                        })
                        .collect(),
                },
            )))
        }
        _ => {}
    }
    if let Some(r) = not_active(m, OPERATOR_PATH) {
        return Ok(r);
    }
    let read = |f: &dyn Fn(&crate::state::State) -> operator::Response| {
        let core = m.lock();
        core.state.as_ref().map(f).ok_or_else(inactive)
    };
    let done = |r: Option<Result<(), StateError>>| -> Result<Response, ApiError> {
        r.ok_or_else(inactive)?.map_err(operator_error)?;
        Ok(StatusCode::OK.into_response())
    };
    let mutate = |f: Mutation<'_>| {
        m.with_state(|s, c| match f(s, c) {
            Ok(effects) => (Ok(()), effects),
            Err(e) => (Err(e), Vec::new()),
        })
    };
    match call {
        operator::Call::GetState => {
            read(&|s| operator::Response::GetState(views::get_state(s))).map(op_json)
        }
        operator::Call::GetAgents => {
            read(&|s| operator::Response::GetAgents(views::get_agents(s))).map(op_json)
        }
        operator::Call::GetFrameworks => {
            read(&|s| operator::Response::GetFrameworks(views::get_frameworks(s))).map(op_json)
        }
        operator::Call::GetTasks => {
            read(&|s| operator::Response::GetTasks(views::get_tasks(s))).map(op_json)
        }
        operator::Call::GetExecutors => {
            read(&|s| operator::Response::GetExecutors(views::get_executors(s))).map(op_json)
        }
        operator::Call::GetRoles => {
            let core = m.lock();
            let s = core.state.as_ref().ok_or_else(inactive)?;
            Ok(Json(views::get_roles_json(s)).into_response())
        }
        operator::Call::GetWeights => read(&|s| {
            operator::Response::GetWeights(response::GetWeights {
                weight_infos: s.weight_infos(),
            })
        })
        .map(op_json),
        operator::Call::UpdateWeights(u) => {
            config_change(m, |s, _| s.update_weights(u.weight_infos)).await
        }
        operator::Call::GetQuota => read(&|s| {
            operator::Response::GetQuota(response::GetQuota {
                status: s.quota_status(),
            })
        })
        .map(op_json),
        operator::Call::UpdateQuota(u) => {
            let force = u.force.unwrap_or(false);
            config_change(m, |s, _| s.update_quota(u.quota_configs, force)).await
        }
        operator::Call::SetQuota(q) => config_change(m, |s, _| s.set_quota(q.quota_request)).await,
        operator::Call::RemoveQuota(q) => config_change(m, |s, _| s.remove_quota(&q.role)).await,
        operator::Call::GetMaster => {
            let elected = m.lock().elected_time;
            let start = m.start_time();
            read(&|s| {
                operator::Response::GetMaster(response::GetMaster {
                    master_info: Some(s.master_info.clone()),
                    start_time: Some(start),
                    elected_time: Some(elected),
                })
            })
            .map(op_json)
        }
        operator::Call::Subscribe => {
            let (first, rx) = m.operator_subscribe().ok_or_else(inactive)?;
            let interval = Duration::from_secs_f64(m.flags().framework_heartbeat_interval);
            let wants_recordio = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("application/recordio"));
            let body = Body::from_stream(operator_stream(first, rx, interval));
            let mut resp = streaming(
                body,
                "",
                if wants_recordio {
                    "application/recordio"
                } else {
                    "application/json"
                },
            );
            resp.headers_mut().remove(agent::STREAM_ID_HEADER);
            if wants_recordio {
                resp.headers_mut().insert(
                    "Message-Content-Type",
                    HeaderValue::from_static("application/json"),
                );
            }
            Ok(resp)
        }
        operator::Call::Teardown(t) => {
            let id: FrameworkId = t.framework_id;
            done(mutate(&|s, c| {
                if !s.frameworks.contains_key(&id) {
                    return Err(StateError::FrameworkNotFound(id.clone()));
                }
                Ok(s.remove_framework(&id, c))
            }))
        }
        operator::Call::MarkAgentGone(g) => done(mutate(&|s, c| s.mark_agent_gone(&g.agent_id, c))),
        operator::Call::DrainAgent(d) => {
            let config = DrainConfig {
                max_grace_period: d.max_grace_period,
                mark_gone: d.mark_gone,
            };
            done(mutate(&|s, c| s.drain_agent(&d.agent_id, config, c)))
        }
        operator::Call::DeactivateAgent(d) => {
            done(mutate(&|s, _| s.set_agent_active(&d.agent_id, false)))
        }
        operator::Call::ReactivateAgent(d) => {
            done(mutate(&|s, _| s.set_agent_active(&d.agent_id, true)))
        }
        other => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("{} is not supported by this master", other.kind()),
        )),
    }
}

/// Operator calls name frameworks and agents that may not exist: 404.
fn operator_error(e: StateError) -> ApiError {
    match e {
        StateError::FrameworkNotFound(_) | StateError::AgentNotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, e.to_string())
        }
        StateError::AgentGone(_) => ApiError::bad_request(e.to_string()),
        other => other.into(),
    }
}

fn version_info() -> operator::VersionInfo {
    operator::VersionInfo {
        version: crate::MESOS_VERSION.to_owned(),
        build_date: None,
        build_time: None,
        build_user: None,
        git_sha: None,
        git_branch: None,
        git_tag: Some(format!("dcos-{}", env!("CARGO_PKG_VERSION"))),
    }
}

// ---------------------------------------------------------------- legacy

fn facts(m: &Master, elected: f64) -> views::MasterFacts {
    views::MasterFacts {
        addr: m.node().addr().to_owned(),
        start_time: m.start_time(),
        elected_time: elected,
        flags: m.flags().as_map(),
    }
}

/// A legacy JSON endpoint: the tree is built under the lock and encoded
/// after it, both on a blocking thread. At 10,000 agents and 100,000
/// tasks `/master/state` takes seconds; on a runtime worker that would
/// stall every event stream and API call scheduled on it meanwhile.
async fn legacy(
    m: &Arc<Master>,
    path: &'static str,
    f: impl FnOnce(&crate::state::State, &views::MasterFacts) -> serde_json::Value + Send + 'static,
) -> Response {
    render(m, path, f, |v| serde_json::to_vec(&v)).await
}

/// Runs `view` on the books under the lock and `encode` on its result
/// after the lock is released, on a blocking thread.
async fn render<R: Send + 'static>(
    m: &Arc<Master>,
    path: &'static str,
    view: impl FnOnce(&crate::state::State, &views::MasterFacts) -> R + Send + 'static,
    encode: impl FnOnce(R) -> serde_json::Result<Vec<u8>> + Send + 'static,
) -> Response {
    if let Some(r) = not_active(m, path) {
        return r;
    }
    let m = Arc::clone(m);
    let body = tokio::task::spawn_blocking(move || {
        let out = {
            let core = m.lock();
            let s = core.state.as_ref()?;
            view(s, &facts(&m, core.elected_time))
        };
        Some(encode(out))
    })
    .await;
    match body {
        Ok(Some(Ok(bytes))) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Ok(None) => inactive().into_response(),
        Ok(Some(Err(e))) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn state_json(AxState(m): AxState<Arc<Master>>) -> Response {
    // Written straight from the books (under the lock): no `Value` tree,
    // which at 100,000 tasks cost more memory than the books themselves.
    render(&m, "/master/state", views::legacy_state_json, |r| r).await
}

async fn state_summary(AxState(m): AxState<Arc<Master>>) -> Response {
    legacy(&m, "/master/state-summary", views::legacy_state_summary).await
}

async fn frameworks_json(AxState(m): AxState<Arc<Master>>) -> Response {
    legacy(&m, "/master/frameworks", |s, _| {
        let mut v = json!({ "unregistered_frameworks": [] });
        v["frameworks"] = serde_json::Value::Array(
            s.frameworks
                .values()
                .map(|f| views::legacy_framework(s, f, false))
                .collect(),
        );
        v["completed_frameworks"] = serde_json::Value::Array(
            s.completed_frameworks
                .iter()
                .map(|f| views::legacy_framework(s, f, true))
                .collect(),
        );
        v
    })
    .await
}

async fn slaves_json(AxState(m): AxState<Arc<Master>>) -> Response {
    legacy(&m, "/master/slaves", |s, _| {
        let mut v = json!({ "recovered_slaves": [] });
        v["slaves"] = serde_json::Value::Array(
            s.agents
                .values()
                .filter(|a| {
                    a.state != crate::state::AgentState::Gone
                        && a.state != crate::state::AgentState::Unreachable
                })
                .map(views::legacy_agent)
                .collect(),
        );
        v
    })
    .await
}

async fn tasks_json(AxState(m): AxState<Arc<Master>>) -> Response {
    legacy(&m, "/master/tasks", |s, _| views::legacy_tasks(s)).await
}

async fn roles_json(AxState(m): AxState<Arc<Master>>) -> Response {
    legacy(&m, "/master/roles", |s, _| views::legacy_roles(s)).await
}

/// An operator configuration change (weights, quota): 200 once it is
/// durable, or the error's status and text.
async fn config_change(
    m: &Master,
    f: impl FnOnce(
        &mut crate::state::State,
        crate::state::Clock,
    ) -> Result<Vec<crate::state::Effect>, StateError>,
) -> Result<Response, ApiError> {
    match m.change_config(f).await {
        Ok(()) => Ok(StatusCode::OK.into_response()),
        Err(ConfigError::Inactive) => Err(inactive()),
        Err(ConfigError::Refused(e)) => Err(e.into()),
        Err(e @ ConfigError::Store(_)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            e.to_string(),
        )),
    }
}

/// A legacy configuration change: redirect when not the active master,
/// then as [`config_change`].
async fn legacy_config_change(
    m: &Master,
    path: &str,
    f: impl FnOnce(
        &mut crate::state::State,
        crate::state::Clock,
    ) -> Result<Vec<crate::state::Effect>, StateError>,
) -> Response {
    if let Some(r) = not_active(m, path) {
        return r;
    }
    config_change(m, f)
        .await
        .unwrap_or_else(|e| e.into_response())
}

/// `GET /weights`: `[{"role":"r","weight":2.0}]`, every weight set.
async fn weights_get(AxState(m): AxState<Arc<Master>>) -> Response {
    legacy(&m, "/master/weights", |s, _| json!(s.weight_infos())).await
}

/// `PUT /weights` with `[{"role":"r","weight":2.0}]`.
async fn weights_put(AxState(m): AxState<Arc<Master>>, body: Bytes) -> Response {
    let infos: Vec<operator::WeightInfo> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::bad_request(format!(
                "Failed to parse update weights request JSON: {e}"
            ))
            .into_response()
        }
    };
    legacy_config_change(&m, "/master/weights", |s, _| s.update_weights(infos)).await
}

/// `GET /quota`: `QuotaStatus` JSON (`infos` and `configs`).
async fn quota_get(AxState(m): AxState<Arc<Master>>) -> Response {
    legacy(&m, "/master/quota", |s, _| json!(s.quota_status())).await
}

/// `POST /quota` with a `QuotaRequest`:
/// `{"role":"r","guarantee":[resources],"force":false}`.
async fn quota_post(AxState(m): AxState<Arc<Master>>, body: Bytes) -> Response {
    let request: operator::QuotaRequest = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::bad_request(format!("Failed to parse set quota request JSON: {e}"))
                .into_response()
        }
    };
    legacy_config_change(&m, "/master/quota", |s, _| s.set_quota(request)).await
}

/// `DELETE /quota/<role>`.
async fn quota_delete(
    AxState(m): AxState<Arc<Master>>,
    axum::extract::Path(role): axum::extract::Path<String>,
) -> Response {
    legacy_config_change(&m, "/master/quota", |s, _| s.remove_quota(&role)).await
}

async fn flags_json(AxState(m): AxState<Arc<Master>>) -> Response {
    Json(json!({ "flags": m.flags().as_map() })).into_response()
}

async fn redirect(AxState(m): AxState<Arc<Master>>) -> Response {
    match m.leader_addr() {
        Some(addr) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, format!("//{addr}"))],
        )
            .into_response(),
        None => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "No leader elected").into_response(),
    }
}

/// 200 with an empty body (as Mesos) when healthy; otherwise 503 with the
/// reason ([`crate::health`]).
async fn health(AxState(m): AxState<Arc<Master>>) -> Response {
    match crate::health::check(m.node(), crate::health::STORE_CHECK_TIMEOUT).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(why) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why.to_string()).into_response(),
    }
}

async fn version() -> Response {
    Json(json!({
        "version": crate::MESOS_VERSION,
        "build_date": null,
        "build_time": null,
        "build_user": null,
        "git_tag": format!("dcos-{}", env!("CARGO_PKG_VERSION")),
    }))
    .into_response()
}

fn metrics_map(m: &Master) -> std::collections::BTreeMap<String, f64> {
    let mut out = {
        let core = m.lock();
        match core.state.as_ref() {
            Some(s) => views::metrics(s, m.uptime_secs()),
            None => {
                let mut out = std::collections::BTreeMap::new();
                out.insert("master/elected".to_owned(), 0.0);
                out.insert("master/uptime_secs".to_owned(), m.uptime_secs());
                out
            }
        }
    };
    let (count, p50, p99, max) = m.allocation_timings();
    out.insert("allocator/allocation_runs".into(), count as f64);
    out.insert("allocator/allocation_run_ms/p50".into(), p50);
    out.insert("allocator/allocation_run_ms/p99".into(), p99);
    out.insert("allocator/allocation_run_ms/max".into(), max);
    out
}

async fn metrics_snapshot(AxState(m): AxState<Arc<Master>>) -> Response {
    Json(metrics_map(&m)).into_response()
}
