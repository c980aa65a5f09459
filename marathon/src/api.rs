//! The Marathon REST API v2 (axum): parse each request into an
//! [`Action`] (carried out by [`Shared::act`]: planned, committed to the
//! store, then applied to the books) or a read of the books, answer in Marathon's JSON shapes (422
//! `{message, details}`, 409 locks, `Marathon-Deployment-Id`). Standbys
//! proxy every request but `/ping`, `/metrics`, `/v2/info` and
//! `/v2/leader` to the leader, event streams included.
//!
//! App ids contain slashes, so `/v2/apps/{*rest}` and `/v2/groups/{*rest}`
//! are split by hand (`…/restart`, `…/tasks[/{task}]`, `…/versions[/{v}]`),
//! as Marathon does.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Extension, Json, Router};
use dcos_api::v1::TaskState;
use dcos_store::Kv;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::action::Action;
use crate::app::{self, at_least, under, AppDefinition, HealthCheckDef, Invalid, ParseError};
use crate::commit::CommitError;
use crate::history;
use crate::runtime::{now, ActError, Shared};
use crate::state::{self, Books, ChangeError, Instance};
use crate::subscriptions;

/// Every error the API answers with, in Marathon's shapes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Broken JSON (400).
    #[error("Invalid JSON: {0}")]
    BadJson(String),
    /// Invalid object (422).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Refused change (409/404).
    #[error(transparent)]
    Change(#[from] ChangeError),
    /// Unknown resource (404).
    #[error("{0}")]
    NotFound(String),
    /// Conflicting request (409).
    #[error("{0}")]
    Conflict(String),
    /// No leader to serve this (503).
    #[error("{0}")]
    Unavailable(String),
    /// A well-formed request Marathon refuses with 422 and a message
    /// (its `IllegalArgumentException`), e.g. an unknown group version.
    #[error("{message}")]
    Rejected {
        /// The offending field.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::Json(e) => ApiError::BadJson(e.to_string()),
            ParseError::Invalid(i) => ApiError::Invalid(i),
        }
    }
}

impl From<dcos_store::KvError> for ApiError {
    fn from(e: dcos_store::KvError) -> Self {
        ApiError::Unavailable(format!("store: {e}"))
    }
}

impl From<CommitError> for ApiError {
    fn from(e: CommitError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<ActError> for ApiError {
    fn from(e: ActError) -> Self {
        match e {
            ActError::Refused(e) => ApiError::Change(e),
            ActError::Commit(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::BadJson(m) => (
                StatusCode::BAD_REQUEST,
                json!({"message": format!("Invalid JSON: {m}")}),
            ),
            ApiError::Invalid(i) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"message": "Object is not valid", "details": i.0}),
            ),
            ApiError::Change(ChangeError::Locked(ids)) => (
                StatusCode::CONFLICT,
                json!({"message": self.to_string(), "deployments": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()}),
            ),
            ApiError::Change(ChangeError::Exists(_)) | ApiError::Conflict(_) => {
                (StatusCode::CONFLICT, json!({"message": self.to_string()}))
            }
            ApiError::Change(ChangeError::NotFound(_)) | ApiError::NotFound(_) => {
                (StatusCode::NOT_FOUND, json!({"message": self.to_string()}))
            }
            ApiError::Change(ChangeError::NoChange) => (StatusCode::OK, json!({})),
            ApiError::Change(ChangeError::Invalid(i)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"message": "Object is not valid", "details": i.0}),
            ),
            ApiError::Rejected { path, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"message": message, "details": [{"path": path, "errors": [message]}]}),
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"message": self.to_string()}),
            ),
        };
        (status, Json(body)).into_response()
    }
}

pub(crate) type Result<T> = std::result::Result<T, ApiError>;

/// The whole API.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/ping", get(|| async { "pong\n" }))
        .route("/metrics", get(metrics))
        .route("/v2/info", get(info))
        .route("/v2/leader", get(leader).delete(abdicate))
        .route(
            "/v2/apps",
            get(list_apps)
                .post(create_app)
                .put(put_apps)
                .patch(put_apps),
        )
        .route("/v2/apps/{*rest}", any(app_route))
        .route("/v2/tasks", get(list_tasks))
        .route("/v2/tasks/delete", post(delete_tasks))
        .route(
            "/v2/groups",
            get(get_root_group).post(create_group).put(put_root_group),
        )
        .route("/v2/groups/{*rest}", any(group_route))
        .route("/v2/deployments", get(list_deployments))
        .route(
            "/v2/deployments/{id}",
            get(get_deployment).delete(delete_deployment),
        )
        .route("/v2/queue", get(queue))
        .route("/v2/queue/{*rest}", delete(reset_delay))
        .route("/v2/events", get(events))
        .route(
            "/v2/eventSubscriptions",
            get(list_subscriptions)
                .post(subscription)
                .delete(subscription),
        )
        .merge(crate::pods_api::routes())
        .layer(middleware::from_fn(json_only))
        .layer(middleware::from_fn_with_state(shared.clone(), leader_only))
        .with_state(shared)
}

/// A request body declared as anything but JSON is Marathon's 415
/// Unsupported Media Type (a body without a `Content-Type` is read as
/// JSON, as curl users expect).
async fn json_only(req: Request, next: Next) -> Response {
    let empty = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0");
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let media = ct
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let json = media == "application/json" || media.ends_with("+json");
        if !json && !empty && req.method() != Method::GET {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Json(json!({"message": format!("Unsupported Media Type: {media}, expected application/json")})),
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// Standbys proxy to the leader; the leader serves.
async fn leader_only(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if matches!(path, "/ping" | "/metrics" | "/v2/info" | "/v2/leader")
        || shared.leader.borrow().elected
    {
        return next.run(req).await;
    }
    let known = shared.leader.borrow().leader.clone();
    let leader = match known {
        Some(l) => Some(l),
        // Just elected elsewhere, not polled yet: ask the store.
        None => shared
            .store
            .get(state::LEADER_KEY)
            .await
            .ok()
            .flatten()
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()),
    };
    let Some(leader) = leader else {
        return ApiError::Unavailable("no leader elected yet".into()).into_response();
    };
    if leader == shared.me {
        return ApiError::Unavailable("leader is loading its state".into()).into_response();
    }
    proxy(&leader, req).await
}

async fn proxy(leader: &str, req: Request) -> Response {
    let url = format!(
        "http://{leader}{}",
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let method = req.method().clone();
    let headers = req.headers().clone();
    let connected = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let body = match axum::body::to_bytes(req.into_body(), 8 << 20).await {
        Ok(b) => b,
        Err(e) => return ApiError::BadJson(e.to_string()).into_response(),
    };
    let client = reqwest::Client::new();
    let mut out = client.request(method, &url).body(body);
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(v) = headers.get(&name) {
            out = out.header(name, v);
        }
    }
    if let Some(ip) = client_ip(&headers, connected) {
        out = out.header("X-Forwarded-For", ip);
    }
    out = out.header("X-Marathon-Via", "standby");
    match out.send().await {
        Ok(resp) => {
            let mut builder = Response::builder().status(resp.status().as_u16());
            for (k, v) in resp.headers() {
                if k == header::CONTENT_TYPE
                    || k.as_str().eq_ignore_ascii_case("marathon-deployment-id")
                {
                    builder = builder.header(k.as_str(), v.as_bytes());
                }
            }
            builder = builder.header("X-Marathon-Leader", format!("http://{leader}"));
            builder
                .body(Body::from_stream(resp.bytes_stream()))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(e) => {
            ApiError::Unavailable(format!("cannot reach the leader {leader}: {e}")).into_response()
        }
    }
}

/// Query parameters, repeated keys kept (`embed=a&embed=b`).
pub(crate) fn query(raw: &Option<String>) -> Vec<(String, String)> {
    raw.as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn flag(q: &[(String, String)], name: &str) -> bool {
    q.iter()
        .any(|(k, v)| k == name && (v.eq_ignore_ascii_case("true") || v.is_empty() || v == "1"))
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn elected(shared: &Shared) -> bool {
    shared.leader.borrow().elected
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let c = &shared.counters;
    let (apps, instances, deployments, queued) = {
        let b = shared.books.lock();
        (
            b.apps.len(),
            b.instances.len(),
            b.deployments.len(),
            b.queue.values().map(|w| w.count).sum::<usize>(),
        )
    };
    Json(json!({
        "version": "4.0.0",
        "gauges": {
            "marathon.apps.active.gauge": {"value": apps},
            "marathon.instances.running.gauge": {"value": instances},
            "marathon.deployments.active.gauge": {"value": deployments},
            "marathon.instances.launch-overdue.gauge": {"value": queued},
            "marathon.leadership.elected": {"value": u8::from(elected(&shared))},
        },
        "counters": {
            "marathon.mesos.offers.incoming.counter": {"count": c.offers.load(Ordering::Relaxed)},
            "marathon.mesos.offers.declined.counter": {"count": c.declined.load(Ordering::Relaxed)},
            "marathon.tasks.launched.counter": {"count": c.launched.load(Ordering::Relaxed)},
            "marathon.mesos.task-updates.counter": {"count": c.updates.load(Ordering::Relaxed)},
            "marathon.tasks.killed.counter": {"count": c.kills.load(Ordering::Relaxed)},
            "marathon.http-event-streams.dropped.counter": {"count": c.sse_dropped.load(Ordering::Relaxed)},
            "marathon.http-event-callbacks.delivered.counter": {"count": shared.callbacks.delivered.load(Ordering::Relaxed)},
            "marathon.http-event-callbacks.failed.counter": {"count": shared.callbacks.failed.load(Ordering::Relaxed)},
            "marathon.http-event-callbacks.dropped.counter": {"count": shared.callbacks.dropped.load(Ordering::Relaxed)},
        },
    }))
}

async fn info(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let l = shared.leader.borrow().clone();
    Json(json!({
        "name": "marathon",
        "version": "1.10.0",
        "buildref": "dcos-marathon",
        "elected": l.elected,
        "leader": l.leader,
        "frameworkId": shared.framework_id.lock().clone(),
        "marathon_config": {"master": "", "framework_name": shared.identity.framework_name, "hostname": shared.me, "leader_proxy_connection_timeout_ms": 5000},
        "zookeeper_config": {"zk": format!("dcos-store:{}{}", shared.identity.store_namespace.as_deref().unwrap_or(""), crate::state::PREFIX)},
        "http_config": {"http_port": shared.me.rsplit(':').next().and_then(|p| p.parse::<u16>().ok())},
        // Only the leader delivers (standbys answer null).
        "event_subscriber": l.elected.then(|| json!({"type": "http_callback", "http_endpoints": shared.callbacks.urls()})),
    }))
}

async fn leader(State(shared): State<Arc<Shared>>) -> Response {
    match shared.leader.borrow().leader.clone() {
        Some(l) => Json(json!({"leader": l})).into_response(),
        None => ApiError::NotFound("There is no leader".into()).into_response(),
    }
}

async fn abdicate(State(shared): State<Arc<Shared>>) -> Response {
    if !elected(&shared) {
        return ApiError::NotFound("There is no leader".into()).into_response();
    }
    shared.abdicate.notify_one();
    Json(json!({"message": "Leadership abdicated"})).into_response()
}

// ---- rendering ----------------------------------------------------------

/// A task as Marathon renders it (serialized straight from the books).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskView<'a> {
    id: &'a str,
    app_id: &'a str,
    host: &'a str,
    ports: &'a [u32],
    service_ports: [u32; 0],
    slave_id: &'a str,
    state: &'static str,
    staged_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
    version: &'a str,
    ip_addresses: [IpView; 1],
    local_volumes: [u32; 0],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    health_check_results: Vec<HealthView<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct IpView {
    ip_address: &'static str,
    protocol: &'static str,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct HealthView<'a> {
    alive: bool,
    consecutive_failures: u32,
    first_success: Option<String>,
    last_failure: Option<String>,
    last_success: Option<String>,
    last_failure_cause: Option<&'a str>,
    task_id: &'a str,
    instance_id: &'a str,
}

/// One `healthCheckResults` entry per check with a result: the agent's
/// verdict for the Mesos check, the leader's probe record for the others.
fn health_views<'a>(i: &'a Instance, app_checks: &'a [HealthCheckDef]) -> Vec<HealthView<'a>> {
    let mut out = Vec::new();
    for (n, check) in i.checks(app_checks).iter().enumerate() {
        let record = i.probes.get(n).and_then(|p| p.health.as_ref());
        if check.is_mesos() && record.is_none() {
            // The agent's verdict from before this leader (the record of
            // when and why is not stored).
            if let Some(alive) = i.healthy {
                out.push(HealthView {
                    alive,
                    consecutive_failures: u32::from(!alive),
                    first_success: None,
                    last_failure: None,
                    last_success: None,
                    last_failure_cause: None,
                    task_id: &i.task_id,
                    instance_id: &i.task_id,
                });
            }
        } else if let Some(h) = record {
            out.push(HealthView {
                alive: i.check_alive(n, check).unwrap_or(false),
                consecutive_failures: h.consecutive_failures,
                first_success: h.first_success.map(state::iso),
                last_failure: h.last_failure.map(state::iso),
                last_success: h.last_success.map(state::iso),
                last_failure_cause: h.last_failure_cause.as_deref(),
                task_id: &i.task_id,
                instance_id: &i.task_id,
            });
        }
    }
    out
}

fn task_view<'a>(i: &'a Instance, app_checks: &'a [HealthCheckDef]) -> TaskView<'a> {
    TaskView {
        id: &i.task_id,
        app_id: &i.app_id,
        host: &i.placement.hostname,
        ports: &i.ports,
        service_ports: [],
        slave_id: &i.agent_id,
        state: i.state.as_str(),
        staged_at: state::iso(i.staged_at),
        started_at: i.started_at.map(state::iso),
        version: &i.version,
        ip_addresses: [IpView {
            ip_address: "127.0.0.1",
            protocol: "IPv4",
        }],
        local_volumes: [],
        health_check_results: health_views(i, app_checks),
    }
}

fn task_json(i: &Instance, app_checks: &[HealthCheckDef]) -> Value {
    serde_json::to_value(task_view(i, app_checks)).unwrap_or_default()
}

/// What `?embed=` asked for.
#[derive(Default, Clone, Copy)]
struct Embed {
    tasks: bool,
    counts: bool,
    deployments: bool,
    last_failure: bool,
}

impl Embed {
    fn parse(q: &[(String, String)], single: bool) -> Self {
        let has = |what: &str| {
            q.iter().any(|(k, v)| {
                k == "embed" && (v == &format!("apps.{what}") || v == &format!("app.{what}"))
            })
        };
        Embed {
            tasks: single || has("tasks"),
            counts: true,
            deployments: true,
            last_failure: single || has("lastTaskFailure"),
        }
    }
}

/// An app with what `embed` asks for, serialized straight from the books.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AppView<'a> {
    #[serde(flatten)]
    app: &'a AppDefinition,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    counts: Option<Counts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployments: Option<Vec<IdView<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tasks: Option<Vec<TaskView<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_task_failure: Option<&'a state::TaskFailure>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Counts {
    tasks_staged: usize,
    tasks_running: usize,
    tasks_healthy: usize,
    tasks_unhealthy: usize,
}

#[derive(serde::Serialize)]
struct IdView<'a> {
    id: &'a str,
}

fn app_view<'a>(books: &'a Books, app: &'a AppDefinition, embed: Embed) -> AppView<'a> {
    let insts: Vec<&Instance> = books.instances_of(&app.id).collect();
    let counts = embed.counts.then(|| {
        let mut c = Counts {
            tasks_staged: 0,
            tasks_running: 0,
            tasks_healthy: 0,
            tasks_unhealthy: 0,
        };
        for i in &insts {
            match i.state {
                TaskState::Staging | TaskState::Starting => c.tasks_staged += 1,
                TaskState::Running => c.tasks_running += 1,
                _ => {}
            }
            let checks = i.checks(&app.health_checks);
            if i.is_unhealthy(checks) {
                c.tasks_unhealthy += 1;
            }
            if !checks.is_empty() && i.is_healthy(checks) {
                c.tasks_healthy += 1;
            }
        }
        c
    });
    AppView {
        app,
        counts,
        deployments: embed.deployments.then(|| {
            books
                .deployments_of(&app.id)
                .into_iter()
                .map(|d| IdView { id: &d.id })
                .collect()
        }),
        tasks: embed.tasks.then(|| {
            insts
                .iter()
                .map(|i| task_view(i, &app.health_checks))
                .collect()
        }),
        last_task_failure: if embed.last_failure {
            books.failures.get(&app.id)
        } else {
            None
        },
    }
}

fn app_json(books: &Books, app: &AppDefinition, embed: Embed) -> Value {
    serde_json::to_value(app_view(books, app, embed)).unwrap_or_default()
}

fn deployment_response(change: &state::Change, status: StatusCode) -> Response {
    let id = change
        .deployment
        .as_ref()
        .map(|d| d.id.clone())
        .unwrap_or_default();
    let mut resp = (
        status,
        Json(json!({"deploymentId": id, "version": change.version})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("Marathon-Deployment-Id", v);
    }
    resp
}

// ---- changes ------------------------------------------------------------

/// Changes apps (see [`Action::Change`]): planned, committed, applied,
/// told to the world.
pub(crate) async fn apply(
    shared: &Shared,
    target: Vec<AppDefinition>,
    removed: Vec<String>,
    restart: BTreeSet<String>,
    force: bool,
    kill: Vec<String>,
) -> Result<state::Change> {
    change(shared, target, removed, restart, force, kill, vec![]).await
}

/// [`apply`], forgetting explicit groups in the same commit.
async fn change(
    shared: &Shared,
    target: Vec<AppDefinition>,
    removed: Vec<String>,
    restart: BTreeSet<String>,
    force: bool,
    kill: Vec<String>,
    remove_groups: Vec<String>,
) -> Result<state::Change> {
    let effects = act(
        shared,
        Action::Change {
            target,
            removed,
            restart,
            force,
            kill,
            remove_groups,
            deployment_id: uuid::Uuid::new_v4().to_string(),
        },
    )
    .await?;
    Ok(effects.change.expect("a change"))
}

/// Carries an action out, on the leader only.
async fn act(shared: &Shared, action: Action) -> Result<crate::action::Effects> {
    if !elected(shared) {
        return Err(ApiError::Unavailable("not the leader".into()));
    }
    Ok(shared.act(action).await?)
}

pub(crate) async fn body_json(body: &Bytes) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadJson(e.to_string()))
}

fn parse_app(value: Value, base: &str) -> Result<AppDefinition> {
    let mut app = AppDefinition::from_value(value)?;
    app.normalize(base);
    app.validate()?;
    Ok(app)
}

async fn list_apps(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let q = query(&raw);
    let embed = Embed::parse(&q, false);
    let id_filter = param(&q, "id").map(str::to_owned);
    let cmd_filter = param(&q, "cmd").map(str::to_owned);
    let label = param(&q, "label").map(str::to_owned);
    #[derive(serde::Serialize)]
    struct AppsView<'a> {
        apps: Vec<AppView<'a>>,
    }
    let body = {
        let books = shared.books.lock();
        let apps = books
            .apps
            .values()
            .filter(|a| a.pod.is_none())
            .filter(|a| id_filter.as_ref().is_none_or(|f| a.id.contains(f.as_str())))
            .filter(|a| {
                cmd_filter
                    .as_ref()
                    .is_none_or(|f| a.cmd.as_deref().unwrap_or("").contains(f.as_str()))
            })
            .filter(|a| label.as_ref().is_none_or(|l| label_matches(a, l)))
            .map(|a| app_view(&books, a, embed))
            .collect();
        serde_json::to_vec(&AppsView { apps }).unwrap_or_default()
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn label_matches(app: &AppDefinition, selector: &str) -> bool {
    selector.split(',').all(|s| {
        if let Some((k, v)) = s.split_once("!=") {
            app.labels.get(k.trim()).map(String::as_str) != Some(v.trim())
        } else if let Some((k, v)) = s.split_once("==") {
            app.labels.get(k.trim()).map(String::as_str) == Some(v.trim())
        } else {
            app.labels.contains_key(s.trim())
        }
    })
}

async fn create_app(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let force = flag(&query(&raw), "force");
    let app = parse_app(body_json(&body).await?, "/")?;
    if shared.books.lock().apps.contains_key(&app.id) {
        return Err(ChangeError::Exists(app.id).into());
    }
    let change = apply(
        &shared,
        vec![app.clone()],
        vec![],
        BTreeSet::new(),
        force,
        vec![],
    )
    .await?;
    let books = shared.books.lock();
    let stored = books.apps.get(&app.id).cloned().unwrap_or(app);
    let mut resp = (
        StatusCode::CREATED,
        Json(app_json(
            &books,
            &stored,
            Embed {
                counts: true,
                deployments: true,
                ..Embed::default()
            },
        )),
    )
        .into_response();
    if let Some(d) = &change.deployment {
        if let Ok(v) = HeaderValue::from_str(&d.id) {
            resp.headers_mut().insert("Marathon-Deployment-Id", v);
        }
    }
    resp.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v2/apps{}", stored.id))
            .unwrap_or(HeaderValue::from_static("/v2/apps")),
    );
    Ok(resp)
}

/// The new definition of `id` from a PUT body: a partial update merged
/// over the current one, a rollback (`{"version": v}`), or a new app.
async fn updated_app(shared: &Shared, id: &str, mut body: Value) -> Result<AppDefinition> {
    let Some(obj) = body.as_object_mut() else {
        return Err(Invalid::at("/", "expected an object").into());
    };
    if obj.len() == 1 && obj.contains_key("version") {
        let version = obj["version"].as_str().unwrap_or_default().to_owned();
        let kv = shared
            .store
            .get(&state::version_key(id, &version))
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!("App '{id}' does not exist in version {version}"))
            })?;
        let mut app: AppDefinition =
            serde_json::from_slice(&kv.value).map_err(|e| ApiError::BadJson(e.to_string()))?;
        app.version = None;
        app.version_info = None;
        // A stored version is checked as any new definition.
        app.validate()?;
        return Ok(app);
    }
    if let Some(given) = obj.get("id") {
        let matches = given.as_str().is_some_and(|g| {
            app::canonical_id(g, "/").as_deref() == Some(id)
                || app::canonical_id(g, &app::parent_of(id)).as_deref() == Some(id)
        });
        if !matches {
            return Err(Invalid::at(
                "/id",
                format!("the id in the body ({given}) does not match the path ({id})"),
            )
            .into());
        }
    }
    obj.remove("version");
    obj.remove("versionInfo");
    obj.insert("id".into(), json!(id));
    let current = shared.books.lock().apps.get(id).cloned();
    let merged = match current {
        Some(cur) => {
            let mut base = serde_json::to_value(&cur).unwrap_or_default();
            if let Some(b) = base.as_object_mut() {
                // Switching between cmd and args replaces the other.
                if obj.contains_key("cmd") && !obj.contains_key("args") {
                    b.remove("args");
                }
                if obj.contains_key("args") && !obj.contains_key("cmd") {
                    b.remove("cmd");
                }
                for (k, v) in obj.iter() {
                    b.insert(k.clone(), v.clone());
                }
            }
            base
        }
        None => body,
    };
    parse_app(merged, "/")
}

async fn put_apps(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let force = flag(&query(&raw), "force");
    let list = body_json(&body).await?;
    let Some(items) = list.as_array() else {
        return Err(Invalid::at("/", "expected an array of apps").into());
    };
    let mut target = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| app::canonical_id(id, "/"));
        let Some(id) = id else {
            return Err(Invalid::at(
                format!("/({i})/id"),
                format!("must fully match regular expression '{}'", app::ID_PATTERN),
            )
            .into());
        };
        target.push(updated_app(&shared, &id, item.clone()).await?);
    }
    let change = apply(&shared, target, vec![], BTreeSet::new(), force, vec![]).await?;
    Ok(deployment_response(&change, StatusCode::OK))
}

/// `/v2/apps/{*rest}`: the app, or one of its sub-resources.
async fn app_route(
    State(shared): State<Arc<Shared>>,
    Path(rest): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let q = query(&raw);
    let force = flag(&q, "force");
    let rest = format!("/{}", rest.trim_matches('/'));
    if let Some(id) = rest.strip_suffix("/restart") {
        if method != Method::POST {
            return Err(ApiError::NotFound("use POST".into()));
        }
        return restart(&shared, id, force).await;
    }
    if let Some((id, tail)) = split_sub(&rest, "/tasks") {
        return app_tasks(&shared, &id, tail, method, &headers, &q).await;
    }
    if let Some((id, tail)) = split_sub(&rest, "/versions") {
        return versions(&shared, &id, tail).await;
    }
    let id = app::canonical_id(&rest, "/").ok_or_else(|| {
        Invalid::at(
            "/id",
            format!("must fully match regular expression '{}'", app::ID_PATTERN),
        )
    })?;
    // A pod is changed through `/v2/pods` only.
    if shared
        .books
        .lock()
        .apps
        .get(&id)
        .is_some_and(|a| a.pod.is_some())
    {
        return Err(match method {
            Method::PUT | Method::PATCH => {
                ApiError::Conflict(format!("A pod with id [{id}] already exists."))
            }
            _ => ApiError::NotFound(format!("App '{id}' does not exist")),
        });
    }
    match method {
        Method::GET => {
            let books = shared.books.lock();
            let app = books
                .apps
                .get(&id)
                .filter(|a| a.pod.is_none())
                .ok_or_else(|| ApiError::NotFound(format!("App '{id}' does not exist")))?;
            Ok(Json(json!({"app": app_json(&books, app, Embed::parse(&q, true))})).into_response())
        }
        Method::PUT | Method::PATCH => {
            let app = updated_app(&shared, &id, body_json(&body).await?).await?;
            let existed = shared.books.lock().apps.contains_key(&id);
            let change = apply(&shared, vec![app], vec![], BTreeSet::new(), force, vec![]).await?;
            Ok(deployment_response(
                &change,
                if existed {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                },
            ))
        }
        Method::DELETE => {
            let change = apply(&shared, vec![], vec![id], BTreeSet::new(), force, vec![]).await?;
            Ok(deployment_response(&change, StatusCode::OK))
        }
        _ => Err(ApiError::NotFound(format!("no such method {method}"))),
    }
}

/// Splits `/a/b/tasks/x` into (`/a/b`, `/x`).
fn split_sub<'a>(rest: &'a str, sub: &str) -> Option<(String, &'a str)> {
    let i = rest.rfind(sub)?;
    let tail = &rest[i + sub.len()..];
    if !(tail.is_empty() || tail.starts_with('/')) {
        return None;
    }
    // `/versions/x` must not be read as the app `…/versions`.
    let id = &rest[..i];
    (!id.is_empty()).then(|| (id.to_owned(), tail))
}

async fn restart(shared: &Shared, id: &str, force: bool) -> Result<Response> {
    let app = shared
        .books
        .lock()
        .apps
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("App '{id}' does not exist")))?;
    let change = apply(
        shared,
        vec![app],
        vec![],
        [id.to_owned()].into(),
        force,
        vec![],
    )
    .await?;
    Ok(deployment_response(&change, StatusCode::OK))
}

async fn app_tasks(
    shared: &Shared,
    id: &str,
    tail: &str,
    method: Method,
    headers: &HeaderMap,
    q: &[(String, String)],
) -> Result<Response> {
    let (app_checks, tasks): (Vec<HealthCheckDef>, Vec<Instance>) = {
        let books = shared.books.lock();
        let app = books
            .apps
            .get(id)
            .ok_or_else(|| ApiError::NotFound(format!("App '{id}' does not exist")))?;
        (
            app.health_checks.clone(),
            books.instances_of(id).cloned().collect(),
        )
    };
    let task_id = tail.trim_start_matches('/');
    match method {
        Method::GET => {
            let wants_text = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("text/plain"));
            if wants_text {
                let mut text = String::new();
                for t in &tasks {
                    for p in &t.ports {
                        text.push_str(&format!("{}\t{}\t{}:{}\n", id, 0, t.placement.hostname, p));
                    }
                }
                return Ok(([(header::CONTENT_TYPE, "text/plain")], text).into_response());
            }
            Ok(Json(json!({"tasks": tasks.iter().map(|t| task_json(t, &app_checks)).collect::<Vec<_>>()})).into_response())
        }
        Method::DELETE => {
            let host = param(q, "host");
            let chosen: Vec<&Instance> = tasks
                .iter()
                .filter(|t| task_id.is_empty() || t.task_id == task_id)
                .filter(|t| host.is_none_or(|h| t.placement.hostname == h))
                .collect();
            if !task_id.is_empty() && chosen.is_empty() {
                return Err(ApiError::NotFound(format!(
                    "Task '{task_id}' does not exist"
                )));
            }
            let ids: Vec<String> = chosen.iter().map(|t| t.task_id.clone()).collect();
            let rendered: Vec<Value> = chosen.iter().map(|t| task_json(t, &app_checks)).collect();
            if flag(q, "scale") || flag(q, "wipe") {
                let change = scale_down(shared, &[(id.to_owned(), ids)], flag(q, "force")).await?;
                return Ok(deployment_response(&change, StatusCode::OK));
            }
            kill(shared, &ids).await?;
            if task_id.is_empty() {
                Ok(Json(json!({"tasks": rendered})).into_response())
            } else {
                Ok(Json(json!({"task": rendered[0]})).into_response())
            }
        }
        _ => Err(ApiError::NotFound(format!("no such method {method}"))),
    }
}

pub(crate) async fn kill(shared: &Shared, ids: &[String]) -> Result<()> {
    act(shared, Action::Kill(ids.to_vec())).await?;
    Ok(())
}

/// Kills tasks and lowers their apps' instance counts by as many, in one
/// change.
async fn scale_down(
    shared: &Shared,
    per_app: &[(String, Vec<String>)],
    force: bool,
) -> Result<state::Change> {
    let mut target = Vec::new();
    let mut all = Vec::new();
    {
        let books = shared.books.lock();
        for (app_id, ids) in per_app {
            if let Some(app) = books.apps.get(app_id) {
                let mut app = app.clone();
                app.instances = (app.instances - ids.len() as i64).max(0);
                target.push(app);
                all.extend(ids.iter().cloned());
            }
        }
    }
    apply(shared, target, vec![], BTreeSet::new(), force, all).await
}

async fn versions(shared: &Shared, id: &str, tail: &str) -> Result<Response> {
    let version = tail.trim_start_matches('/');
    if version.is_empty() {
        let books = shared.books.lock();
        let mut v = books
            .versions
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("App '{id}' does not exist")))?;
        v.reverse();
        return Ok(Json(json!({"versions": v})).into_response());
    }
    let kv = shared
        .store
        .get(&state::version_key(id, version))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("App '{id}' does not exist in version {version}"))
        })?;
    let app: Value = serde_json::from_slice(&kv.value).unwrap_or_default();
    Ok(Json(app).into_response())
}

async fn list_tasks(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Json<Value> {
    let q = query(&raw);
    let status = param(&q, "status").map(str::to_owned);
    let books = shared.books.lock();
    let tasks: Vec<Value> = books
        .instances
        .values()
        .filter(|i| i.containers.is_empty())
        .filter(|i| match status.as_deref() {
            Some("running") => i.state == TaskState::Running,
            Some("staging") => matches!(i.state, TaskState::Staging | TaskState::Starting),
            _ => true,
        })
        .map(|i| {
            task_json(
                i,
                books
                    .apps
                    .get(&i.app_id)
                    .map(|a| a.health_checks.as_slice())
                    .unwrap_or_default(),
            )
        })
        .collect();
    Json(json!({"tasks": tasks}))
}

async fn delete_tasks(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let q = query(&raw);
    let body = body_json(&body).await?;
    let mut ids: Vec<String> = Vec::new();
    let list = body
        .get("ids")
        .and_then(Value::as_array)
        .ok_or_else(|| Invalid::at("/ids", "expected an array of task ids"))?;
    for (i, v) in list.iter().enumerate() {
        let id = v
            .as_str()
            .ok_or_else(|| Invalid::at(format!("/ids({i})"), "expected a task id string"))?;
        ids.push(id.to_owned());
    }
    let mut per_app: BTreeMap<String, Vec<String>> = BTreeMap::new();
    {
        let books = shared.books.lock();
        for id in &ids {
            if let Some(i) = books.instances.get(id) {
                per_app
                    .entry(i.app_id.clone())
                    .or_default()
                    .push(id.clone());
            }
        }
    }
    if flag(&q, "scale") || flag(&q, "wipe") {
        let list: Vec<(String, Vec<String>)> = per_app.into_iter().collect();
        let change = scale_down(&shared, &list, flag(&q, "force")).await?;
        return Ok(deployment_response(&change, StatusCode::OK));
    }
    let all: Vec<String> = per_app.into_values().flatten().collect();
    kill(&shared, &all).await?;
    Ok(Json(json!({})).into_response())
}

// ---- groups -------------------------------------------------------------

fn group_json(books: &Books, id: &str, embed: Embed) -> Value {
    let version = books
        .apps
        .values()
        .filter(|a| under(&a.id, id))
        .filter_map(|a| a.version.clone())
        .max()
        .unwrap_or_else(|| state::iso(0.0));
    let apps: Vec<Value> = books
        .apps
        .values()
        .filter(|a| a.pod.is_none() && app::parent_of(&a.id) == id)
        .map(|a| app_json(books, a, embed))
        .collect();
    let pods: Vec<Value> = books
        .apps
        .values()
        .filter(|a| a.pod.is_some() && app::parent_of(&a.id) == id)
        .map(crate::pod::render)
        .collect();
    let mut children: BTreeSet<String> = BTreeSet::new();
    let all_ids = books
        .apps
        .keys()
        .map(|a| app::parent_of(a))
        .chain(books.groups.iter().cloned());
    for g in all_ids {
        // The child of `id` on the way to `g`.
        if g != id && under(&g, id) {
            let rest = if id == "/" {
                &g[1..]
            } else {
                &g[id.len() + 1..]
            };
            let first = rest.split('/').next().unwrap_or_default();
            if !first.is_empty() {
                children.insert(if id == "/" {
                    format!("/{first}")
                } else {
                    format!("{id}/{first}")
                });
            }
        }
    }
    let groups: Vec<Value> = children
        .iter()
        .map(|g| group_json(books, g, embed))
        .collect();
    json!({"id": id, "apps": apps, "groups": groups, "pods": pods, "dependencies": [], "version": version})
}

fn group_exists(books: &Books, id: &str) -> bool {
    id == "/" || books.groups.contains(id) || books.apps.keys().any(|a| a != id && under(a, id))
}

async fn get_root_group(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let books = shared.books.lock();
    Json(group_json(
        &books,
        "/",
        Embed {
            counts: true,
            deployments: true,
            ..Embed::default()
        },
    ))
}

async fn create_group(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let force = flag(&query(&raw), "force");
    let value = body_json(&body).await?;
    let raw_id = value.get("id").and_then(Value::as_str).unwrap_or("");
    let id = app::canonical_id(raw_id, "/")
        .filter(|id| id != "/")
        .ok_or_else(|| {
            Invalid::at(
                "/id",
                format!("must fully match regular expression '{}'", app::ID_PATTERN),
            )
        })?;
    if let Some(app) = app_at_or_above(&shared.books.lock(), &id) {
        return Err(ApiError::Conflict(format!(
            "An app with the path {app} already exists."
        )));
    }
    if group_exists(&shared.books.lock(), &id) {
        return Err(ApiError::Conflict(format!(
            "Group {id} is already created. Use PUT to change this group."
        )));
    }
    let apps = app::flatten_group(&value, "/", "")?;
    let groups = nested_groups(&value, "/");
    let change = apply(&shared, apps, vec![], BTreeSet::new(), force, vec![]).await?;
    record_groups(&shared, groups).await?;
    Ok(deployment_response(&change, StatusCode::CREATED))
}

/// The app at `id` or at one of its ancestors: a group cannot be there.
fn app_at_or_above(books: &Books, id: &str) -> Option<String> {
    let mut at = id.to_owned();
    while at != "/" {
        if books.apps.contains_key(&at) {
            return Some(at);
        }
        at = app::parent_of(&at);
    }
    None
}

/// Ids of the group and its nested groups in a request body (validated
/// by [`app::flatten_group`] first, so its depth is bounded).
fn nested_groups(value: &Value, base: &str) -> Vec<String> {
    let Some(id) = value
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| app::canonical_id(id, base))
    else {
        return Vec::new();
    };
    let mut out = vec![id.clone()];
    if let Some(groups) = value.get("groups").and_then(Value::as_array) {
        for g in groups {
            out.extend(nested_groups(g, &id));
        }
    }
    out
}

async fn record_groups(shared: &Shared, groups: Vec<String>) -> Result<()> {
    act(shared, Action::AddGroups(groups)).await?;
    Ok(())
}

async fn put_root_group(state: State<Arc<Shared>>, raw: RawQuery, body: Bytes) -> Result<Response> {
    put_group(state, "/".to_owned(), raw, body).await
}

async fn group_route(
    State(shared): State<Arc<Shared>>,
    Path(rest): Path<String>,
    method: Method,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response> {
    if method == Method::GET {
        let rest = format!("/{}", rest.trim_matches('/'));
        if let Some((id, tail)) = group_versions_path(&rest) {
            return group_versions(&shared, &id, tail).await;
        }
    }
    let id = app::canonical_id(&rest, "/").ok_or_else(|| {
        Invalid::at(
            "/id",
            format!("must fully match regular expression '{}'", app::ID_PATTERN),
        )
    })?;
    let q = query(&raw);
    match method {
        Method::GET => {
            let books = shared.books.lock();
            if !group_exists(&books, &id) {
                return Err(ApiError::NotFound(format!("Group '{id}' does not exist")));
            }
            Ok(Json(group_json(
                &books,
                &id,
                Embed {
                    counts: true,
                    deployments: true,
                    ..Embed::default()
                },
            ))
            .into_response())
        }
        Method::PUT | Method::PATCH => put_group(State(shared), id, RawQuery(raw), body).await,
        Method::DELETE => {
            let (removed, groups): (Vec<String>, Vec<String>) = {
                let books = shared.books.lock();
                if !group_exists(&books, &id) {
                    return Err(ApiError::NotFound(format!("Group '{id}' does not exist")));
                }
                (
                    books
                        .apps
                        .keys()
                        .filter(|a| under(a, &id))
                        .cloned()
                        .collect(),
                    books
                        .groups
                        .iter()
                        .filter(|g| under(g, &id))
                        .cloned()
                        .collect(),
                )
            };
            let change = change(
                &shared,
                vec![],
                removed,
                BTreeSet::new(),
                flag(&q, "force"),
                vec![],
                groups,
            )
            .await?;
            Ok(deployment_response(&change, StatusCode::OK))
        }
        _ => Err(ApiError::NotFound(format!("no such method {method}"))),
    }
}

async fn put_group(
    State(shared): State<Arc<Shared>>,
    id: String,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let q = query(&raw);
    let force = flag(&q, "force");
    let value = body_json(&body).await?;
    if let Some(app) = app_at_or_above(&shared.books.lock(), &id) {
        return Err(ApiError::Conflict(format!(
            "An app with the path {app} already exists."
        )));
    }
    let current: BTreeMap<String, AppDefinition> = shared
        .books
        .lock()
        .apps
        .iter()
        .filter(|(a, _)| under(a, &id))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Marathon: with `version`, only the rollback happens (`scaleBy` and
    // the rest are ignored).
    let (target, removed) = if let Some(version) = value.get("version") {
        let version = version
            .as_str()
            .ok_or_else(|| Invalid::at("/version", "must be a version timestamp string"))?;
        rollback_target(&shared, &id, version, &current).await?
    } else if let Some(factor) = value.get("scaleBy").and_then(Value::as_f64) {
        if !at_least(factor, 0.0) {
            return Err(Invalid::at("/scaleBy", "must be 0 or more").into());
        }
        let mut apps = Vec::new();
        for a in current.values() {
            let n = ((a.instances as f64) * factor).ceil();
            if n > app::MAX_INSTANCES as f64 {
                return Err(Invalid::at(
                    "/scaleBy",
                    format!(
                        "scaling {} by {factor:?} gives {n:?} instances, expected {} or less",
                        a.id,
                        app::MAX_INSTANCES
                    ),
                )
                .into());
            }
            let mut a = a.clone();
            a.instances = n as i64;
            apps.push(a);
        }
        (apps, vec![])
    } else {
        let mut body = value.clone();
        body["id"] = json!(id);
        let apps = app::flatten_group(&body, "/", "")?;
        let keep: BTreeSet<&String> = apps.iter().map(|a| &a.id).collect();
        // A group update names apps only: its pods stay (as Marathon's
        // GroupUpdate, which has no `pods`).
        let removed = if body.get("apps").is_some() || body.get("groups").is_some() {
            current
                .iter()
                .filter(|(a, spec)| spec.pod.is_none() && !keep.contains(a))
                .map(|(a, _)| a.clone())
                .collect()
        } else {
            vec![]
        };
        (apps, removed)
    };
    if flag(&q, "dryRun") {
        let mut next = current.clone();
        for r in &removed {
            next.remove(r);
        }
        for a in &target {
            next.insert(a.id.clone(), a.clone());
        }
        let plan = crate::planner::plan(&current, &next);
        return Ok(Json(json!({"steps": plan.steps})).into_response());
    }
    let change = apply(&shared, target, removed, BTreeSet::new(), force, vec![]).await?;
    if id != "/" {
        record_groups(
            &shared,
            nested_groups(
                &json!({"id": id, "groups": value.get("groups").cloned().unwrap_or(json!([]))}),
                "/",
            ),
        )
        .await?;
    }
    Ok(deployment_response(&change, StatusCode::OK))
}

/// `/versions[/{v}]` of a group path: (`/a`, `/v`) for `/a/versions/v`,
/// the root for `/versions…`.
fn group_versions_path(rest: &str) -> Option<(String, &str)> {
    if rest == "/versions" || rest.starts_with("/versions/") {
        return Some(("/".to_owned(), &rest["/versions".len()..]));
    }
    let (id, tail) = split_sub(rest, "/versions")?;
    Some((app::canonical_id(&id, "/")?, tail))
}

/// `GET /v2/groups[/{id}]/versions`: the group's versions, newest first
/// (a bare JSON array, as Marathon answers); `…/versions/{v}`: the group
/// as it was at that version.
async fn group_versions(shared: &Shared, id: &str, tail: &str) -> Result<Response> {
    let version = tail.trim_start_matches('/');
    let versions = {
        let books = shared.books.lock();
        let versions = books.group_versions.get(id).cloned().unwrap_or_default();
        if !group_exists(&books, id) && (version.is_empty() || versions.is_empty()) {
            return Err(ApiError::NotFound(format!("Group '{id}' does not exist")));
        }
        versions
    };
    if version.is_empty() {
        return Ok(Json(json!(versions.iter().rev().collect::<Vec<_>>())).into_response());
    }
    let apps = group_version_apps(shared, id, version, &versions)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Group '{id}' does not exist")))?;
    Ok(Json(version_tree_json(id, &apps, version)).into_response())
}

/// The app definitions of a group at one of its `versions` (`None`: no
/// such version), read from the store.
async fn group_version_apps(
    shared: &Shared,
    id: &str,
    version: &str,
    versions: &[String],
) -> Result<Option<Vec<AppDefinition>>> {
    if !versions.iter().any(|v| v == version) {
        return Ok(None);
    }
    let Some(kv) = shared
        .store
        .get(&history::group_version_key(id, version))
        .await?
    else {
        return Ok(None);
    };
    let snapshot: history::GroupVersion = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::Unavailable(format!("stored group version: {e}")))?;
    let reads = snapshot
        .apps
        .into_iter()
        .map(|(app_id, app_version)| app_version_of(shared, app_id, app_version));
    let apps = futures::stream::iter(reads)
        .buffered(32)
        .collect::<Vec<Result<AppDefinition>>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(apps))
}

/// One stored app version.
async fn app_version_of(shared: &Shared, id: String, version: String) -> Result<AppDefinition> {
    let kv = shared
        .store
        .get(&state::version_key(&id, &version))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("App '{id}' does not exist in version {version}"))
        })?;
    serde_json::from_slice::<AppDefinition>(&kv.value)
        .map_err(|e| ApiError::Unavailable(format!("stored app version: {e}")))
}

/// A stored group version in the group shape (nested groups from the
/// app ids).
fn version_tree_json(id: &str, apps: &[AppDefinition], version: &str) -> Value {
    let direct: Vec<&AppDefinition> = apps
        .iter()
        .filter(|a| app::parent_of(&a.id) == id)
        .collect();
    let children: BTreeSet<String> = apps
        .iter()
        .filter(|a| app::parent_of(&a.id) != id)
        .filter_map(|a| {
            let rest = a.id.strip_prefix(id)?.trim_start_matches('/');
            let first = rest.split('/').next()?;
            Some(if id == "/" {
                format!("/{first}")
            } else {
                format!("{id}/{first}")
            })
        })
        .collect();
    let groups: Vec<Value> = children
        .iter()
        .map(|g| {
            let within: Vec<AppDefinition> =
                apps.iter().filter(|a| under(&a.id, g)).cloned().collect();
            version_tree_json(g, &within, version)
        })
        .collect();
    let (pods, direct): (Vec<&AppDefinition>, Vec<&AppDefinition>) =
        direct.into_iter().partition(|a| a.pod.is_some());
    let pods: Vec<Value> = pods.into_iter().map(crate::pod::render).collect();
    json!({"id": id, "apps": direct, "groups": groups, "pods": pods, "dependencies": [], "version": version})
}

/// `PUT /v2/groups/{id}` with `{"version": v}`: the apps of the group as
/// they were at `v` (those changed since go back, those removed since come
/// back) and the apps added since, to remove.
async fn rollback_target(
    shared: &Shared,
    id: &str,
    version: &str,
    current: &BTreeMap<String, AppDefinition>,
) -> Result<(Vec<AppDefinition>, Vec<String>)> {
    let versions = shared
        .books
        .lock()
        .group_versions
        .get(id)
        .cloned()
        .unwrap_or_default();
    // Marathon answers an unknown version with 422 (its
    // IllegalArgumentException) and this message.
    let apps = group_version_apps(shared, id, version, &versions)
        .await?
        .ok_or_else(|| ApiError::Rejected {
            path: "/version".into(),
            message: format!("Group {id} not available in version {version}"),
        })?;
    let keep: BTreeSet<&str> = apps.iter().map(|a| a.id.as_str()).collect();
    let removed = current
        .keys()
        .filter(|a| !keep.contains(a.as_str()))
        .cloned()
        .collect();
    let target = apps
        .into_iter()
        .filter(|a| current.get(&a.id).map(|c| &c.version) != Some(&a.version))
        .map(|mut a| {
            a.version = None;
            a.version_info = None;
            a
        })
        .collect();
    Ok((target, removed))
}

// ---- deployments, queue -------------------------------------------------

async fn list_deployments(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let books = shared.books.lock();
    Json(json!(books
        .deployments
        .values()
        .map(state::Deployment::to_json)
        .collect::<Vec<_>>()))
}

/// Not in Marathon: one deployment, with `waitingFor` (why it is not
/// progressing).
async fn get_deployment(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let books = shared.books.lock();
    let d = books
        .deployments
        .get(&id)
        .ok_or_else(|| ApiError::NotFound(format!("DeploymentPlan {id} does not exist")))?;
    let mut v = d.to_json();
    v["waitingFor"] = json!(d.waiting);
    Ok(Json(v))
}

async fn delete_deployment(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let q = query(&raw);
    let d = shared
        .books
        .lock()
        .deployments
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("DeploymentPlan {id} does not exist")))?;
    if flag(&q, "force") {
        act(&shared, Action::CancelDeployment(id)).await?;
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    // Roll back: the original definitions, the new apps removed.
    let mut target = Vec::new();
    let mut removed = Vec::new();
    let present: BTreeSet<String> = shared.books.lock().apps.keys().cloned().collect();
    for (app_id, original) in d.original {
        match original {
            Some(mut a) => {
                a.version = None;
                target.push(a);
            }
            None if present.contains(&app_id) => removed.push(app_id),
            None => {}
        }
    }
    let change = apply(&shared, target, removed, BTreeSet::new(), true, vec![]).await?;
    Ok(deployment_response(&change, StatusCode::OK))
}

async fn queue(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let t = now();
    let books = shared.books.lock();
    let mut ids: BTreeSet<&String> = books.queue.keys().collect();
    ids.extend(
        books
            .delays
            .iter()
            .filter(|(a, d)| d.until > t && books.apps.contains_key(*a))
            .map(|(a, _)| a),
    );
    let items: Vec<Value> = ids
        .into_iter()
        .filter_map(|app_id| {
            let app = books.apps.get(app_id)?;
            let wanted = books.queue.get(app_id).cloned().unwrap_or_default();
            let delay = books.delays.get(app_id).map(|d| (d.until - t).max(0.0)).unwrap_or(0.0);
            let unmatched: u64 = wanted.unmatched.values().sum();
            let reasons: Vec<Value> = wanted
                .unmatched
                .iter()
                .map(|(why, n)| json!({"reason": why, "declined": n, "processed": n}))
                .collect();
            let (key, spec) = if app.pod.is_some() {
                ("pod", crate::pod::render(app))
            } else {
                ("app", app_json(&books, app, Embed { counts: true, deployments: true, ..Embed::default() }))
            };
            Some(json!({
                key: spec,
                "count": wanted.count.max(usize::from(delay > 0.0)),
                "delay": {"timeLeftSeconds": (delay * 1000.0).round() / 1000.0, "overdue": delay <= 0.0},
                "overdue": delay <= 0.0,
                "since": state::iso(if wanted.since > 0.0 { wanted.since } else { t }),
                "processedOffersSummary": {
                    "processedOffersCount": unmatched,
                    "unusedOffersCount": unmatched,
                    "rejectSummaryLastOffers": reasons,
                },
                "lastUnusedOffers": [],
            }))
        })
        .collect();
    Json(json!({"queue": items}))
}

async fn reset_delay(
    State(shared): State<Arc<Shared>>,
    Path(rest): Path<String>,
) -> Result<Response> {
    let rest = format!("/{}", rest.trim_matches('/'));
    let id = rest
        .strip_suffix("/delay")
        .ok_or_else(|| ApiError::NotFound("no such resource".into()))?;
    act(&shared, Action::ResetDelay(id.to_owned())).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- events -------------------------------------------------------------

/// The client's address: the first `X-Forwarded-For` hop (a standby
/// proxying), else the peer.
fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<String> {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .or_else(|| peer.map(|p| p.ip().to_string()))
}

async fn list_subscriptions(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({"callbackUrls": shared.callbacks.urls()}))
}

/// `POST /v2/eventSubscriptions?callbackUrl=URL` (stored first, then
/// delivered to) and `DELETE` (nothing more is POSTed to it; 200 also for
/// a URL that was not subscribed, as Marathon).
async fn subscription(
    State(shared): State<Arc<Shared>>,
    method: Method,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let ip = client_ip(&headers, peer.map(|p| p.0 .0));
    change_subscription(&shared, &raw, ip, method == Method::POST).await
}

/// Stores (or deletes) the subscription of `?callbackUrl=`, starts (or
/// stops) delivering to it; answers its `subscribe_event` or
/// `unsubscribe_event`, which goes on the bus too.
async fn change_subscription(
    shared: &Shared,
    raw: &Option<String>,
    ip: Option<String>,
    subscribe: bool,
) -> Result<Json<Value>> {
    let url = subscriptions::callback_url(param(&query(raw), "callbackUrl"))?;
    if !elected(shared) {
        return Err(ApiError::Unavailable("not the leader".into()));
    }
    let key = subscriptions::subscription_key(&url);
    let (write, kind) = if subscribe {
        let write = state::Write::Put(key, url.clone().into_bytes());
        (write, "subscribe_event")
    } else {
        (state::Write::Delete(key), "unsubscribe_event")
    };
    shared.commit(vec![write]).await?;
    if subscribe {
        shared.callbacks.add(&url);
    } else {
        shared.callbacks.remove(&url);
    }
    let e = state::BusEvent {
        kind,
        body: json!({"callbackUrl": url, "clientIp": ip.unwrap_or_default(), "eventType": kind, "timestamp": state::iso(now())}),
    };
    let body = e.body.clone();
    shared.publish(vec![e]);
    Ok(Json(body))
}

/// Most events waiting for one `/v2/events` reader.
pub const SSE_QUEUE_EVENTS: usize = 1024;
/// Most bytes of events waiting for one `/v2/events` reader; a reader
/// that lets more pile up is dropped (its stream ends), as Marathon drops
/// slow event stream consumers. Events are serialized once and shared, so
/// this bounds what a reader that never reads can pin.
pub const SSE_QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// One `/v2/events` reader's queue, bounded by [`SSE_QUEUE_EVENTS`] and
/// [`SSE_QUEUE_BYTES`].
#[derive(Default)]
struct SseQueue {
    state: parking_lot::Mutex<SseQueueState>,
    ready: tokio::sync::Notify,
}

#[derive(Default)]
struct SseQueueState {
    frames: std::collections::VecDeque<Arc<crate::runtime::SseFrame>>,
    bytes: usize,
    closed: bool,
}

impl SseQueue {
    /// Queues `f`; false (and nothing queued) if that would exceed a bound.
    fn push(&self, f: Arc<crate::runtime::SseFrame>) -> bool {
        let mut s = self.state.lock();
        if s.frames.len() >= SSE_QUEUE_EVENTS || s.bytes + f.data.len() > SSE_QUEUE_BYTES {
            return false;
        }
        s.bytes += f.data.len();
        s.frames.push_back(f);
        drop(s);
        self.ready.notify_one();
        true
    }

    /// Ends the stream and frees what is queued.
    fn close(&self) {
        let mut s = self.state.lock();
        s.closed = true;
        s.frames.clear();
        s.bytes = 0;
        drop(s);
        self.ready.notify_one();
    }

    /// The next frame, `None` once closed.
    async fn pop(&self) -> Option<Arc<crate::runtime::SseFrame>> {
        loop {
            {
                let mut s = self.state.lock();
                if let Some(f) = s.frames.pop_front() {
                    s.bytes -= f.data.len();
                    return Some(f);
                }
                if s.closed {
                    return None;
                }
            }
            self.ready.notified().await;
        }
    }
}

async fn events(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let q = query(&raw);
    let types: BTreeSet<String> = q
        .iter()
        .filter(|(k, _)| k == "event_type")
        .map(|(_, v)| v.clone())
        .collect();
    let mut rx = shared.sse.subscribe();
    let attached = crate::runtime::SseFrame {
        kind: "event_stream_attached",
        data: json!({"eventType": "event_stream_attached", "timestamp": state::iso(now()), "remoteAddress": "client"}).to_string(),
    };
    let wanted = move |kind: &str| types.is_empty() || types.contains(kind);
    // This reader's queue: the forwarder adds, the stream (polled only as
    // fast as the client reads) takes. A reader dropped for being slow has
    // its queue emptied at once, whether or not it ever reads again.
    let queue = Arc::new(SseQueue::default());
    if wanted(attached.kind) {
        queue.push(Arc::new(attached));
    }
    let q = queue.clone();
    let counters = shared.clone();
    tokio::spawn(async move {
        loop {
            let frame = match rx.recv().await {
                Ok(f) => f,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "dropping a slow /v2/events reader: it missed events"
                    );
                    break;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            if Arc::strong_count(&q) == 1 {
                return; // the reader is gone
            }
            if wanted(frame.kind) && !q.push(frame) {
                tracing::warn!(
                    max_events = SSE_QUEUE_EVENTS,
                    max_bytes = SSE_QUEUE_BYTES,
                    "dropping a slow /v2/events reader: its queue is full"
                );
                break;
            }
        }
        q.close();
        counters
            .counters
            .sse_dropped
            .fetch_add(1, Ordering::Relaxed);
    });
    let stream = futures::stream::unfold(queue, |q| async move {
        let f = q.pop().await?;
        let event = SseEvent::default().event(f.kind).data(&f.data);
        Some((Ok::<_, Infallible>(event), q))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::runtime::LeaderInfo;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// A leader whose store is never reached: only requests that are
    /// refused before any write, or reads (also used by `pods_api`'s tests).
    pub(crate) fn shared() -> Arc<Shared> {
        let s = Shared::new(
            Arc::new(
                dcos_store::Client::new(["http://127.0.0.1:1"])
                    .with_retry_for(Duration::from_millis(1)),
            ),
            "127.0.0.1:8080".into(),
        );
        s.leader.send_replace(LeaderInfo {
            elected: true,
            leader: Some("127.0.0.1:8080".into()),
        });
        s
    }

    async fn call(
        s: &Arc<Shared>,
        method: &str,
        uri: &str,
        body: &str,
    ) -> (StatusCode, Value, HeaderMap) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let resp = router(s.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers,
        )
    }

    #[tokio::test]
    async fn bad_input_answers_like_marathon_and_changes_nothing() {
        let s = shared();
        let (st, body, _) = call(&s, "POST", "/v2/apps", r#"{"id": "/a", "cmd": "#).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert!(body["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON"));
        let (st, body, _) = call(
            &s,
            "POST",
            "/v2/apps",
            r#"{"id": "/a", "cmd": "x", "instances": -3}"#,
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["message"], "Object is not valid");
        assert_eq!(body["details"][0]["path"], "/instances");
        let (st, body, _) = call(&s, "POST", "/v2/apps", r#"{"id": "/Bad_Id", "cmd": "x"}"#).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["details"][0]["path"], "/id");
        let (st, body, _) = call(
            &s,
            "POST",
            "/v2/apps",
            r#"{"id": "/a", "cmd": "x", "args": ["y"]}"#,
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["details"][0]["path"], "/cmd");
        let (st, body, _) = call(
            &s,
            "POST",
            "/v2/apps",
            r#"{"id": "/a", "cmd": "x", "constraints": [["hostname", "OFTEN"]]}"#,
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["details"][0]["errors"][0]
            .as_str()
            .unwrap()
            .contains("UNIQUE"));
        let (st, _, _) = call(
            &s,
            "POST",
            "/v2/groups",
            r#"{"id": "/g", "apps": [{"id": "a", "cmd": "x", "instances": -1}]}"#,
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        let (st, _, _) = call(&s, "PUT", "/v2/apps/a", r#"[1"#).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        let (st, _, _) = call(&s, "GET", "/v2/apps/nope", "").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (_, body, _) = call(&s, "GET", "/v2/apps", "").await;
        assert_eq!(body["apps"], json!([]), "nothing was stored");
        assert!(s.books.lock().deployments.is_empty());
    }

    #[tokio::test]
    async fn locked_apps_answer_409_and_reads_render_marathon_shapes() {
        let s = shared();
        {
            let mut b = s.books.lock();
            let app =
                parse_app(json!({"id": "/web", "cmd": "sleep 1", "instances": 2}), "/").unwrap();
            b.change(
                vec![app],
                vec![],
                &BTreeSet::new(),
                false,
                "dep-1".into(),
                1.0,
            )
            .unwrap();
        }
        let (st, body, _) = call(&s, "PUT", "/v2/apps/web", r#"{"instances": 5}"#).await;
        assert_eq!(st, StatusCode::CONFLICT);
        assert!(body["message"].as_str().unwrap().contains("locked"));
        assert_eq!(body["deployments"][0]["id"], "dep-1");
        let (st, body, _) = call(&s, "GET", "/v2/apps/web", "").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body["app"]["id"], "/web");
        assert_eq!(body["app"]["instances"], 2);
        assert_eq!(body["app"]["tasksRunning"], 0);
        assert_eq!(body["app"]["deployments"][0]["id"], "dep-1");
        assert_eq!(body["app"]["tasks"], json!([]));
        let (_, body, _) = call(&s, "GET", "/v2/deployments", "").await;
        assert_eq!(body[0]["id"], "dep-1");
        assert_eq!(
            body[0]["steps"][0]["actions"][0]["action"],
            "StartApplication"
        );
        let (_, body, _) = call(&s, "GET", "/v2/groups", "").await;
        assert_eq!(body["apps"][0]["id"], "/web");
        let (_, body, _) = call(&s, "GET", "/v2/queue", "").await;
        assert_eq!(body["queue"], json!([]));
        let (st, body, _) = call(&s, "PUT", "/v2/groups?dryRun=true", r#"{"scaleBy": 2}"#).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body["steps"][0]["actions"][0]["action"], "ScaleApplication");
    }

    #[tokio::test]
    async fn standby_without_leader_answers_503_but_serves_ping_and_info() {
        let s = shared();
        s.leader.send_replace(LeaderInfo::default());
        let (st, _, _) = call(&s, "GET", "/v2/apps", "").await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
        let (st, body, _) = call(&s, "GET", "/v2/info", "").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body["elected"], false);
        let (st, _, _) = call(&s, "GET", "/v2/leader", "").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
    }

    /// A leading Shared over an in-memory store served on an ephemeral
    /// port (for handlers that read or write the store).
    async fn shared_with_store() -> Arc<Shared> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let kv = Arc::new(dcos_store::MemStore::new());
        tokio::spawn(async move {
            axum::serve(listener, dcos_store::http::kv_router(kv))
                .await
                .unwrap()
        });
        let s = Shared::new(
            Arc::new(dcos_store::Client::new([url]).with_retry_for(Duration::from_secs(5))),
            "127.0.0.1:8080".into(),
        );
        s.leader.send_replace(LeaderInfo {
            elected: true,
            leader: Some("127.0.0.1:8080".into()),
        });
        s
    }

    /// `--store-namespace`: the books are written and read under the
    /// prefix, the plain keyspace stays empty, and `/v2/info` says which
    /// framework and where its state is.
    #[tokio::test]
    async fn a_namespaced_marathon_keeps_its_books_under_its_prefix() {
        use dcos_store::{Kv, MemStore, Namespaced};
        let plain: Arc<dyn Kv> = Arc::new(MemStore::new());
        let ns: Arc<dyn Kv> =
            Arc::new(Namespaced::new(plain.clone(), "/tenants/marathon-user").unwrap());
        let s = Shared::with_identity(
            ns.clone(),
            "127.0.0.1:8081".into(),
            crate::runtime::Identity {
                framework_name: "marathon-user".into(),
                store_namespace: Some("/tenants/marathon-user".into()),
            },
        );
        s.leader.send_replace(LeaderInfo {
            elected: true,
            leader: Some("127.0.0.1:8081".into()),
        });
        let (st, body, _) = call(&s, "POST", "/v2/apps", r#"{"id": "/b", "cmd": "sleep 1"}"#).await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        assert!(plain
            .get("/tenants/marathon-user/marathon/apps/b")
            .await
            .unwrap()
            .is_some());
        assert!(plain.get("/marathon/apps/b").await.unwrap().is_none());
        let (books, _) = crate::runtime::load(&*ns).await.unwrap();
        assert!(books.apps.contains_key("/b"));
        let (books, _) = crate::runtime::load(&*plain).await.unwrap();
        assert!(
            books.apps.is_empty(),
            "a Marathon without the namespace sees nothing"
        );
        let (_, info, _) = call(&s, "GET", "/v2/info", "").await;
        assert_eq!(info["marathon_config"]["framework_name"], "marathon-user");
        assert_eq!(
            info["zookeeper_config"]["zk"],
            "dcos-store:/tenants/marathon-user/marathon"
        );
        let (_, info, _) = call(&shared(), "GET", "/v2/info", "").await;
        assert_eq!(info["zookeeper_config"]["zk"], "dcos-store:/marathon");
    }

    /// A leader on a store that fails on demand.
    fn shared_on_faulty() -> (Arc<Shared>, Arc<crate::commit::faulty::Faulty>) {
        let kv = Arc::new(crate::commit::faulty::Faulty::default());
        let s = Shared::new(kv.clone(), "127.0.0.1:8080".into());
        s.leader.send_replace(LeaderInfo {
            elected: true,
            leader: Some("127.0.0.1:8080".into()),
        });
        (s, kv)
    }

    /// A failed commit: 503 with Marathon's `{"message"}`, the books and
    /// the store unchanged; once the store is back a retry succeeds.
    #[tokio::test]
    async fn a_failed_commit_answers_503_changes_nothing_and_a_retry_succeeds() {
        use std::sync::atomic::Ordering;
        let (s, kv) = shared_on_faulty();
        let app = r#"{"id": "/a", "cmd": "sleep 1"}"#;
        kv.down.store(true, Ordering::SeqCst);
        let (st, body, _) = call(&s, "POST", "/v2/apps", app).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("store"),
            "{body}"
        );
        {
            let b = s.books.lock();
            assert!(b.apps.is_empty() && b.deployments.is_empty() && b.versions.is_empty());
        }
        assert!(kv.inner.get("/marathon/apps/a").await.unwrap().is_none());
        let (st, _, _) = call(&s, "GET", "/v2/apps/a", "").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        kv.down.store(false, Ordering::SeqCst);
        let (st, body, _) = call(&s, "POST", "/v2/apps", app).await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        assert!(s.books.lock().apps.contains_key("/a"));
        assert!(kv.inner.get("/marathon/apps/a").await.unwrap().is_some());
        let (books, _) = crate::runtime::load(&kv.inner).await.unwrap();
        assert_eq!(books.deployments.len(), 1);
    }

    /// A group of 150 apps is one change: more writes than one
    /// transaction (and than the old batches of 100). The store failing
    /// midway leaves none of it, in the books or the store; the retry
    /// stores all of it.
    #[tokio::test]
    async fn a_group_of_many_apps_is_committed_whole_or_not_at_all() {
        use std::sync::atomic::Ordering;
        let (s, kv) = shared_on_faulty();
        let apps: Vec<Value> = (0..150)
            .map(|i| json!({"id": format!("app-{i:03}"), "cmd": "sleep 1"}))
            .collect();
        let group = json!({"id": "/big", "apps": apps}).to_string();
        // Staging goes through; the marker (the commit point) fails.
        let before = kv.txns.load(Ordering::SeqCst);
        kv.fail_from.store(before + 2, Ordering::SeqCst);
        let (st, body, _) = call(&s, "PUT", "/v2/groups/big", &group).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(s.books.lock().apps.is_empty());
        kv.fail_from.store(0, Ordering::SeqCst);
        let (books, _) = crate::runtime::load(&kv.inner).await.unwrap();
        assert!(books.apps.is_empty() && books.deployments.is_empty());
        let (st, body, _) = call(&s, "PUT", "/v2/groups/big", &group).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert_eq!(s.books.lock().apps.len(), 150);
        let (books, _) = crate::runtime::load(&kv.inner).await.unwrap();
        assert_eq!(books.apps.len(), 150);
        assert_eq!(books.deployments.len(), 1);
        for prefix in ["/marathon/staged/", "/marathon/committed/"] {
            let left = kv
                .inner
                .range(dcos_store::types::RangeRequest {
                    key: prefix.into(),
                    prefix: true,
                    count_only: true,
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(left.count, 0, "{prefix}");
        }
    }

    /// A leader whose fence no longer holds answers 503, writes nothing
    /// and steps down.
    #[tokio::test]
    async fn a_deposed_leader_answers_503_and_writes_nothing() {
        let (s, kv) = shared_on_faulty();
        let put = |who: &'static str| dcos_store::types::PutRequest {
            key: state::LEADER_KEY.into(),
            value: who.into(),
            ..Default::default()
        };
        kv.inner.put(put("me")).await.unwrap();
        let mine = kv.inner.get(state::LEADER_KEY).await.unwrap().unwrap();
        *s.fence.lock() = Some(mine.create_revision);
        let (st, _, _) = call(&s, "POST", "/v2/apps", r#"{"id": "/a", "cmd": "x"}"#).await;
        assert_eq!(st, StatusCode::CREATED);
        // Another Marathon is elected (our lease ran out unnoticed).
        kv.inner
            .delete(dcos_store::types::DeleteRequest {
                key: state::LEADER_KEY.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        kv.inner.put(put("other")).await.unwrap();
        let revision = kv
            .inner
            .get(state::LEADER_KEY)
            .await
            .unwrap()
            .unwrap()
            .mod_revision;
        let deposed = s.deposed.notified();
        let (st, body, _) = call(&s, "POST", "/v2/apps", r#"{"id": "/b", "cmd": "x"}"#).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body["message"].as_str().unwrap().contains("not the leader"));
        tokio::time::timeout(Duration::from_secs(5), deposed)
            .await
            .expect("told to step down");
        assert!(!s.books.lock().apps.contains_key("/b"));
        let newest = kv
            .inner
            .range(dcos_store::types::RangeRequest {
                key: "/".into(),
                prefix: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .kvs
            .iter()
            .map(|kv| kv.mod_revision)
            .max();
        assert_eq!(newest, Some(revision), "nothing written after the election");
    }

    /// Versions are millisecond timestamps: the next change must not share
    /// this one's.
    async fn next_millisecond() {
        let t = now();
        while state::iso(now()) == state::iso(t) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn group_versions_list_show_and_roll_back() {
        let s = shared_with_store().await;
        let (st, _, _) = call(
            &s,
            "POST",
            "/v2/groups",
            r#"{"id": "/g", "apps": [{"id": "a", "cmd": "sleep 1", "instances": 2}, {"id": "b", "cmd": "sleep 2"}]}"#,
        )
        .await;
        assert_eq!(st, StatusCode::CREATED);
        next_millisecond().await;
        let (st, _, _) = call(
            &s,
            "PUT",
            "/v2/apps/g/a?force=true",
            r#"{"cmd": "sleep 10"}"#,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        next_millisecond().await;
        let (st, _, _) = call(
            &s,
            "POST",
            "/v2/apps?force=true",
            r#"{"id": "/g/sub/c", "cmd": "sleep 3"}"#,
        )
        .await;
        assert_eq!(st, StatusCode::CREATED);
        next_millisecond().await;
        let (st, _, _) = call(&s, "DELETE", "/v2/apps/g/b?force=true", "").await;
        assert_eq!(st, StatusCode::OK);

        let (st, versions, _) = call(&s, "GET", "/v2/groups/g/versions", "").await;
        assert_eq!(st, StatusCode::OK);
        let versions: Vec<String> = serde_json::from_value(versions).unwrap();
        assert_eq!(versions.len(), 4, "{versions:?}");
        assert!(versions.windows(2).all(|w| w[0] > w[1]), "newest first");
        let (_, root, _) = call(&s, "GET", "/v2/groups/versions", "").await;
        assert_eq!(root.as_array().unwrap().len(), 4);
        let (_, sub, _) = call(&s, "GET", "/v2/groups/g/sub/versions", "").await;
        assert_eq!(sub.as_array().unwrap().len(), 1, "only /g/sub/c touched it");
        let first = versions.last().unwrap().clone();

        let (st, old, _) = call(&s, "GET", &format!("/v2/groups/g/versions/{first}"), "").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(old["id"], "/g");
        assert_eq!(old["version"], first.as_str());
        let cmds: Vec<(&str, &str)> = old["apps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["id"].as_str().unwrap(), a["cmd"].as_str().unwrap()))
            .collect();
        assert_eq!(cmds, [("/g/a", "sleep 1"), ("/g/b", "sleep 2")]);
        let (_, latest, _) = call(
            &s,
            "GET",
            &format!("/v2/groups/g/versions/{}", versions[0]),
            "",
        )
        .await;
        assert_eq!(latest["groups"][0]["id"], "/g/sub");
        assert_eq!(latest["groups"][0]["apps"][0]["id"], "/g/sub/c");

        // Unknown group or version.
        let (st, body, _) = call(&s, "GET", "/v2/groups/nope/versions", "").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert_eq!(body["message"], "Group '/nope' does not exist");
        let (st, _, _) = call(
            &s,
            "GET",
            "/v2/groups/g/versions/2001-01-01T00:00:00.000Z",
            "",
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, body, _) = call(
            &s,
            "PUT",
            "/v2/groups/g?force=true",
            r#"{"version": "2001-01-01T00:00:00.000Z"}"#,
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body["message"],
            "Group /g not available in version 2001-01-01T00:00:00.000Z"
        );
        assert_eq!(body["details"][0]["path"], "/version");
        let (st, _, _) = call(&s, "PUT", "/v2/groups/g", r#"{"version": 7}"#).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

        // Locked by the running deployments unless forced.
        let rollback = json!({"version": first}).to_string();
        let (st, _, _) = call(&s, "PUT", "/v2/groups/g", &rollback).await;
        assert_eq!(st, StatusCode::CONFLICT);
        // A dry run plans without changing anything.
        let (st, plan, _) = call(&s, "PUT", "/v2/groups/g?dryRun=true&force=true", &rollback).await;
        assert_eq!(st, StatusCode::OK);
        let actions: BTreeSet<(String, String)> = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|st| st["actions"].as_array().unwrap().clone())
            .map(|a| {
                (
                    a["app"].as_str().unwrap().to_owned(),
                    a["action"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            actions.contains(&("/g/b".into(), "StartApplication".into())),
            "{actions:?}"
        );
        assert!(
            actions.contains(&("/g/sub/c".into(), "StopApplication".into())),
            "{actions:?}"
        );
        assert!(
            actions.contains(&("/g/a".into(), "RestartApplication".into())),
            "{actions:?}"
        );
        assert!(s.books.lock().apps.contains_key("/g/sub/c"));

        next_millisecond().await;
        let (st, body, headers) = call(&s, "PUT", "/v2/groups/g?force=true", &rollback).await;
        assert_eq!(st, StatusCode::OK);
        let id = body["deploymentId"].as_str().unwrap();
        assert!(!id.is_empty());
        assert_eq!(headers["Marathon-Deployment-Id"], id);
        {
            let b = s.books.lock();
            let apps: Vec<(&str, &str, i64)> = b
                .apps
                .values()
                .map(|a| (a.id.as_str(), a.cmd.as_deref().unwrap(), a.instances))
                .collect();
            assert_eq!(apps, [("/g/a", "sleep 1", 2), ("/g/b", "sleep 2", 1)]);
            assert_eq!(
                b.group_versions["/g"].len(),
                5,
                "the rollback is a version too"
            );
        }
        // The history survives a new leader: loaded from the store.
        let (books, _) = crate::runtime::load(&s.store).await.unwrap();
        assert_eq!(books.group_versions["/g"].len(), 5);
        assert_eq!(books.group_versions["/"].len(), 5);
    }

    #[tokio::test]
    async fn event_subscriptions_are_stored_listed_and_validated() {
        let s = shared_with_store().await;
        let token = tokio_util::sync::CancellationToken::new();
        s.callbacks
            .start(Vec::new(), s.events.subscribe(), token.clone());
        let mut bus = s.events.subscribe();
        let (st, body, _) = call(
            &s,
            "POST",
            "/v2/eventSubscriptions?callbackUrl=http%3A%2F%2F127.0.0.1%3A9%2Fcb",
            "",
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body["eventType"], "subscribe_event");
        assert_eq!(body["callbackUrl"], "http://127.0.0.1:9/cb");
        assert_eq!(bus.recv().await.unwrap().kind, "subscribe_event");
        let (_, body, _) = call(&s, "GET", "/v2/eventSubscriptions", "").await;
        assert_eq!(body, json!({"callbackUrls": ["http://127.0.0.1:9/cb"]}));
        let (_, info, _) = call(&s, "GET", "/v2/info", "").await;
        assert_eq!(
            info["event_subscriber"],
            json!({"type": "http_callback", "http_endpoints": ["http://127.0.0.1:9/cb"]})
        );
        assert_eq!(
            crate::runtime::load_subscriptions(&s.store).await.unwrap(),
            ["http://127.0.0.1:9/cb"]
        );
        for bad in [
            "",
            "?callbackUrl=",
            "?callbackUrl=ftp%3A%2F%2Fx%2Fy",
            "?callbackUrl=nope",
        ] {
            let (st, body, _) = call(&s, "POST", &format!("/v2/eventSubscriptions{bad}"), "").await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert_eq!(body["details"][0]["path"], "/callbackUrl");
        }
        let (st, body, _) = call(
            &s,
            "DELETE",
            "/v2/eventSubscriptions?callbackUrl=http://127.0.0.1:9/cb",
            "",
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body["eventType"], "unsubscribe_event");
        let (_, body, _) = call(&s, "GET", "/v2/eventSubscriptions", "").await;
        assert_eq!(body["callbackUrls"], json!([]));
        assert!(crate::runtime::load_subscriptions(&s.store)
            .await
            .unwrap()
            .is_empty());
        token.cancel();
    }

    #[test]
    fn query_keeps_repeated_keys_and_decodes() {
        let q = query(&Some(
            "embed=apps.tasks&embed=apps.counts&label=a%3D%3Db".into(),
        ));
        assert_eq!(q.len(), 3);
        assert_eq!(param(&q, "label"), Some("a==b"));
        assert_eq!(
            split_sub("/a/b/tasks/x.1", "/tasks"),
            Some(("/a/b".to_owned(), "/x.1"))
        );
        assert_eq!(split_sub("/tasksapp", "/tasks"), None);
    }

    /// Puts apps into the books directly (no store needed).
    fn seed(s: &Arc<Shared>, apps: &[Value]) {
        let mut b = s.books.lock();
        let apps = apps
            .iter()
            .map(|a| parse_app(a.clone(), "/").unwrap())
            .collect();
        b.change(apps, vec![], &BTreeSet::new(), true, "seed".into(), 1.0)
            .unwrap();
    }

    /// Asserts a 422 in Marathon's shape with `path` among its details;
    /// returns that detail's errors.
    fn invalid_at(st: StatusCode, body: &Value, path: &str) -> Vec<String> {
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["message"], "Object is not valid", "{body}");
        let details = body["details"].as_array().expect("details");
        let d = details
            .iter()
            .find(|d| d["path"] == path)
            .unwrap_or_else(|| panic!("no {path} in {body}"));
        serde_json::from_value(d["errors"].clone()).unwrap()
    }

    #[tokio::test]
    async fn deep_and_long_ids_are_refused_with_422_at_id() {
        let s = shared();
        // The probe: /probe/a/a/… 1,800 levels deep, no instances.
        let deep = format!("/probe{}", "/a".repeat(1800));
        let body = json!({"id": deep, "cmd": "x", "instances": 0}).to_string();
        let (st, b, _) = call(&s, "POST", "/v2/apps", &body).await;
        let errors = invalid_at(st, &b, "/id");
        assert!(errors[0].contains("expected 200 or less"), "{errors:?}");
        // 33 short segments: within the length, beyond the depth.
        let deep = "/a".repeat(app::MAX_ID_DEPTH + 1);
        let body = json!({"id": deep, "cmd": "x", "instances": 0}).to_string();
        let (st, b, _) = call(&s, "POST", "/v2/apps", &body).await;
        let errors = invalid_at(st, &b, "/id");
        assert!(errors[0].contains("expected 32 or less"), "{errors:?}");
        // A 5,000-character id.
        let long = format!("/{}", "a".repeat(5000));
        let body = json!({"id": long, "cmd": "x"}).to_string();
        let (st, b, _) = call(&s, "POST", "/v2/apps", &body).await;
        invalid_at(st, &b, "/id");
        // The same through a group body, nested groups included.
        let body = json!({"id": "/g", "apps": [{"id": "a".repeat(300), "cmd": "x"}]}).to_string();
        let (st, b, _) = call(&s, "POST", "/v2/groups", &body).await;
        invalid_at(st, &b, "/apps(0)/id");
        let mut g = json!({"id": "x"});
        for _ in 0..40 {
            g = json!({"id": "x", "groups": [g]});
        }
        g["id"] = json!("/top");
        let (st, b, _) = call(&s, "POST", "/v2/groups", &g.to_string()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(b.to_string().contains("expected 32 or less"), "{b}");
        // Nothing was planned; the deepest app allowed renders as a tree.
        assert!(s.books.lock().deployments.is_empty());
        let deepest = "/a".repeat(app::MAX_ID_DEPTH);
        seed(&s, &[json!({"id": deepest, "cmd": "x", "instances": 0})]);
        let (st, b, _) = call(&s, "GET", "/v2/groups/a", "").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(b["groups"][0]["id"], "/a/a");
    }

    #[tokio::test]
    async fn numbers_beyond_what_the_code_represents_are_422_at_their_path() {
        let s = shared();
        for (field, value, path) in [
            (
                "taskKillGracePeriodSeconds",
                json!(1e308),
                "/taskKillGracePeriodSeconds",
            ),
            ("backoffSeconds", json!(1e308), "/backoffSeconds"),
            (
                "maxLaunchDelaySeconds",
                json!(1e308),
                "/maxLaunchDelaySeconds",
            ),
            ("backoffFactor", json!(1e308), "/backoffFactor"),
            ("instances", json!(i64::MAX), "/instances"),
            ("instances", json!(100_001), "/instances"),
            ("cpus", json!(1e308), "/cpus"),
            ("mem", json!(1e308), "/mem"),
            ("disk", json!(1e308), "/disk"),
            ("gpus", json!(1e308), "/gpus"),
            (
                "healthChecks",
                json!([{"protocol": "TCP", "intervalSeconds": 1e308}]),
                "/healthChecks(0)/intervalSeconds",
            ),
            (
                "healthChecks",
                json!([{"protocol": "MESOS_TCP", "gracePeriodSeconds": 1e308, "timeoutSeconds": 1}]),
                "/healthChecks(0)/gracePeriodSeconds",
            ),
            (
                "upgradeStrategy",
                json!({"minimumHealthCapacity": 1e308}),
                "/upgradeStrategy/minimumHealthCapacity",
            ),
            (
                "unreachableStrategy",
                json!({"inactiveAfterSeconds": 1, "expungeAfterSeconds": i64::MAX}),
                "/unreachableStrategy/expungeAfterSeconds",
            ),
        ] {
            let mut body = json!({"id": "/n", "cmd": "x"});
            body[field] = value;
            let (st, b, _) = call(&s, "POST", "/v2/apps", &body.to_string()).await;
            invalid_at(st, &b, path);
        }
        let (st, b, _) = call(
            &s,
            "POST",
            "/v2/apps",
            r#"{"id": "/n", "cmd": "x", "taskKillGracePeriodSeconds": 1e308}"#,
        )
        .await;
        assert_eq!(
            invalid_at(st, &b, "/taskKillGracePeriodSeconds"),
            ["got 1e308, expected 1000000000.0 or less"]
        );
        // scaleBy: 1e308 once set an app to i64::MAX instances.
        seed(&s, &[json!({"id": "/g/a", "cmd": "x", "instances": 2})]);
        let (st, b, _) = call(
            &s,
            "PUT",
            "/v2/groups/g?force=true",
            r#"{"scaleBy": 1e308}"#,
        )
        .await;
        invalid_at(st, &b, "/scaleBy");
        let (st, b, _) = call(&s, "PUT", "/v2/groups?force=true", r#"{"scaleBy": 60000}"#).await;
        invalid_at(st, &b, "/scaleBy");
        assert_eq!(s.books.lock().apps["/g/a"].instances, 2);
        // Pods: the same bounds at the pod's paths.
        let pod = json!({"id": "/p", "containers": [{"name": "c", "resources": {"cpus": 0.1, "mem": 16},
            "exec": {"command": {"shell": "sleep 1"}}}], "scaling": {"kind": "fixed", "instances": 1_000_000},
            "scheduling": {"backoff": {"backoff": 1e308}}});
        let (st, b, _) = call(&s, "POST", "/v2/pods", &pod.to_string()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let paths: Vec<&str> = b["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["path"].as_str())
            .collect();
        assert!(paths.contains(&"/scaling/instances"), "{b}");
        assert!(paths.contains(&"/scheduling/backoff/backoff"), "{b}");
    }

    #[tokio::test]
    async fn oversized_labels_env_and_commands_are_422_before_anything_is_planned() {
        let s = shared();
        let big = "v".repeat(1_200_000);
        let body = json!({"id": "/l", "cmd": "x", "labels": {"k": big}}).to_string();
        let (st, b, _) = call(&s, "POST", "/v2/apps", &body).await;
        invalid_at(st, &b, "/labels");
        let body = json!({"id": "/l", "cmd": "x", "labels": {"k".repeat(300): "v"}}).to_string();
        let (st, b, _) = call(&s, "POST", "/v2/apps", &body).await;
        invalid_at(st, &b, "/labels");
        let body = json!({"id": "/l", "cmd": "x".repeat(70_000)}).to_string();
        let (st, b, _) = call(&s, "POST", "/v2/apps", &body).await;
        invalid_at(st, &b, "/cmd");
        let body =
            json!({"id": "/l", "args": ["a".repeat(40_000), "b".repeat(40_000)]}).to_string();
        let (st, b, _) = call(&s, "POST", "/v2/apps", &body).await;
        invalid_at(st, &b, "/args");
        let body = json!({"id": "/l", "cmd": "x", "env": {"E": "e".repeat(70_000)}}).to_string();
        let (st, b, _) = call(&s, "POST", "/v2/apps", &body).await;
        invalid_at(st, &b, "/env");
        // Each field within its bound, the whole beyond the app's.
        let body = json!({"id": "/l", "cmd": "x".repeat(60_000), "env": {"E": "e".repeat(60_000)},
            "labels": {"k": "v".repeat(60_000)}})
        .to_string();
        let (st, b, _) = call(&s, "POST", "/v2/apps", &body).await;
        let errors = invalid_at(st, &b, "/");
        assert!(errors[0].contains("expected 131072 or less"), "{errors:?}");
        assert!(s.books.lock().apps.is_empty());
    }

    #[tokio::test]
    async fn groups_and_apps_may_not_share_ids_or_escape_their_group() {
        let s = shared();
        seed(
            &s,
            &[
                json!({"id": "/x", "cmd": "x", "instances": 0}),
                json!({"id": "/keep", "cmd": "x", "instances": 0}),
                json!({"id": "/q/r", "cmd": "x", "instances": 0}),
            ],
        );
        s.books.lock().groups.insert("/p".into());
        let (st, b, _) = call(&s, "POST", "/v2/groups", r#"{"id": "/x", "apps": []}"#).await;
        assert_eq!(st, StatusCode::CONFLICT, "{b}");
        assert_eq!(b["message"], "An app with the path /x already exists.");
        let (st, b, _) = call(&s, "POST", "/v2/groups", r#"{"id": "/keep/g"}"#).await;
        assert_eq!(st, StatusCode::CONFLICT, "{b}");
        assert_eq!(b["message"], "An app with the path /keep already exists.");
        let (st, b, _) = call(&s, "DELETE", "/v2/groups/x", "").await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{b}");
        for (uri, body) in [
            ("/v2/apps", r#"{"id": "/keep/child", "cmd": "x"}"#),
            ("/v2/apps", r#"{"id": "/p", "cmd": "x"}"#),
            ("/v2/apps", r#"{"id": "/q", "cmd": "x"}"#),
            ("/v2/apps/keep/child", r#"{"cmd": "x"}"#),
        ] {
            let method = if uri == "/v2/apps" { "POST" } else { "PUT" };
            let (st, b, _) = call(&s, method, uri, body).await;
            let errors = invalid_at(st, &b, "/id");
            assert!(
                errors[0].starts_with("Groups and Applications may not have the same identifier"),
                "{errors:?}"
            );
        }
        let (st, b, _) = call(
            &s,
            "POST",
            "/v2/groups",
            r#"{"id": "/g", "apps": [{"id": "/elsewhere", "cmd": "x"}]}"#,
        )
        .await;
        assert_eq!(
            invalid_at(st, &b, "/apps(0)/id"),
            ["Identifier is not child of /g. Hint: use relative paths."]
        );
        let (st, b, _) = call(
            &s,
            "POST",
            "/v2/groups",
            r#"{"id": "/a/b", "groups": [{"id": "../../escape"}]}"#,
        )
        .await;
        invalid_at(st, &b, "/groups(0)/id");
        let (st, b, _) = call(
            &s,
            "POST",
            "/v2/groups",
            r#"{"id": "/n", "apps": "notalist"}"#,
        )
        .await;
        invalid_at(st, &b, "/apps");
        let (st, b, _) = call(&s, "PUT", "/v2/groups/n", r#"{"groups": 7}"#).await;
        invalid_at(st, &b, "/groups");
        let books = s.books.lock();
        assert_eq!(books.apps.len(), 3);
        assert!(!books.groups.contains("/x") && !books.groups.contains("/n"));
    }

    #[tokio::test]
    async fn body_ids_task_lists_media_types_empty_commands_and_cycles_answer_as_marathon() {
        let s = shared();
        seed(&s, &[json!({"id": "/a", "cmd": "x", "instances": 0})]);
        let (st, b, _) = call(&s, "PUT", "/v2/apps/a", r#"{"id": "/web", "cmd": "y"}"#).await;
        let errors = invalid_at(st, &b, "/id");
        assert!(errors[0].contains("does not match the path"), "{errors:?}");
        let (st, b, _) = call(&s, "POST", "/v2/tasks/delete", r#"{"ids": ["x", 5]}"#).await;
        invalid_at(st, &b, "/ids(1)");
        let req = Request::builder()
            .method("POST")
            .uri("/v2/apps")
            .header("content-type", "text/plain")
            .body(Body::from(r#"{"id": "/t", "cmd": "x"}"#))
            .unwrap();
        let resp = router(s.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (st, b, _) = call(&s, "POST", "/v2/apps", r#"{"id": "/e", "cmd": ""}"#).await;
        assert_eq!(invalid_at(st, &b, "/cmd"), ["must not be empty"]);
        let (st, b, _) = call(
            &s,
            "POST",
            "/v2/apps",
            r#"{"id": "/self", "cmd": "x", "dependencies": ["/self"]}"#,
        )
        .await;
        assert_eq!(
            invalid_at(st, &b, "/"),
            ["Dependency graph has cyclic dependencies."]
        );
        let (st, b, _) = call(
            &s,
            "POST",
            "/v2/groups",
            r#"{"id": "/c", "groups": [{"id": "x", "apps": [{"id": "a", "cmd": "x", "dependencies": ["/c/y"]}]},
                {"id": "y", "apps": [{"id": "b", "cmd": "x", "dependencies": ["../x/a"]}]}]}"#,
        )
        .await;
        assert_eq!(
            invalid_at(st, &b, "/"),
            ["Dependency graph has cyclic dependencies."]
        );
        assert_eq!(s.books.lock().apps.len(), 1);
    }

    /// A hand-written bad record (an app with a 1e308 field, invalid
    /// JSON, a too-deep id, an instance of a skipped app, a bad group key)
    /// is reported and skipped at load; the rest comes up and is served.
    #[tokio::test]
    async fn bad_records_in_the_store_are_skipped_at_load_and_the_rest_is_served() {
        use dcos_store::types::PutRequest;
        let kv = dcos_store::MemStore::new();
        let put = |key: String, value: Vec<u8>| PutRequest {
            key,
            value,
            lease: None,
            expect_mod_revision: None,
        };
        let good = parse_app(json!({"id": "/good", "cmd": "x", "instances": 0}), "/").unwrap();
        kv.put(put(
            state::spec_key(&good),
            serde_json::to_vec(&good).unwrap(),
        ))
        .await
        .unwrap();
        let mut huge = serde_json::to_value(&good).unwrap();
        huge["id"] = json!("/huge");
        huge["taskKillGracePeriodSeconds"] = json!(1e308);
        huge["backoffSeconds"] = json!(1e308);
        kv.put(put(state::app_key("/huge"), huge.to_string().into_bytes()))
            .await
            .unwrap();
        kv.put(put(state::app_key("/broken"), b"{not json".to_vec()))
            .await
            .unwrap();
        let mut deep = serde_json::to_value(&good).unwrap();
        let deep_id = "/a".repeat(1800);
        deep["id"] = json!(deep_id);
        kv.put(put(state::app_key(&deep_id), deep.to_string().into_bytes()))
            .await
            .unwrap();
        let orphan = json!({"taskId": "huge.1", "appId": "/huge"});
        kv.put(put(
            state::instance_key("huge.1"),
            orphan.to_string().into_bytes(),
        ))
        .await
        .unwrap();
        kv.put(put(
            format!("{}/groups{}", state::PREFIX, "/Bad_Group"),
            vec![],
        ))
        .await
        .unwrap();
        kv.put(put(format!("{}/groups{}", state::PREFIX, "/fine"), vec![]))
            .await
            .unwrap();
        let (books, _) = crate::runtime::load(&kv).await.unwrap();
        assert_eq!(books.apps.keys().collect::<Vec<_>>(), ["/good"]);
        assert!(books.instances.is_empty());
        assert_eq!(books.groups.iter().collect::<Vec<_>>(), ["/fine"]);
        let s = shared();
        *s.books.lock() = books;
        let (st, b, _) = call(&s, "GET", "/v2/groups", "").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(b["apps"][0]["id"], "/good");
        let (st, b, _) = call(&s, "GET", "/v2/apps", "").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(b["apps"].as_array().unwrap().len(), 1);
    }

    /// A `/v2/events` reader that never reads is dropped once its queue
    /// holds more than `SSE_QUEUE_BYTES` of big events, its queue freed;
    /// a reader that reads gets every event.
    #[tokio::test]
    async fn a_slow_event_stream_reader_is_dropped_and_its_queue_freed() {
        let s = shared();
        let get = || {
            Request::builder()
                .uri("/v2/events")
                .body(Body::empty())
                .unwrap()
        };
        let slow = router(s.clone()).oneshot(get()).await.unwrap();
        let fast = router(s.clone()).oneshot(get()).await.unwrap();
        let reader = tokio::spawn(async move {
            let mut body = fast.into_body();
            let mut seen = 0;
            let mut text = String::new();
            while seen < 15 {
                let frame = body.frame().await.unwrap().unwrap();
                if let Ok(data) = frame.into_data() {
                    text.push_str(&String::from_utf8_lossy(&data));
                    seen += text.matches("event: big_event").count();
                    text = text.rsplit("event: big_event").next().unwrap().to_owned();
                }
            }
            seen
        });
        let big = "x".repeat(1024 * 1024);
        for i in 0..15 {
            s.publish(vec![state::BusEvent {
                kind: "big_event",
                body: json!({"eventType": "big_event", "i": i, "big": big}),
            }]);
            tokio::task::yield_now().await;
        }
        tokio::time::timeout(Duration::from_secs(10), async {
            while s.counters.sse_dropped.load(Ordering::Relaxed) == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the slow reader is dropped");
        assert_eq!(s.counters.sse_dropped.load(Ordering::Relaxed), 1);
        // Its stream ends, without the queued events (they were freed).
        let rest = tokio::time::timeout(Duration::from_secs(10), slow.into_body().collect())
            .await
            .expect("the dropped stream ends")
            .unwrap()
            .to_bytes();
        assert!(rest.len() < 1024 * 1024, "{} bytes", rest.len());
        let seen = tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .expect("the fast reader gets every event")
            .unwrap();
        assert!(seen >= 15);
        let (_, m, _) = call(&s, "GET", "/metrics", "").await;
        assert_eq!(
            m["counters"]["marathon.http-event-streams.dropped.counter"]["count"], 1,
            "{m}"
        );
    }
}
