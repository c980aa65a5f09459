//! The agent's HTTP server: the executor API (`POST /api/v1/executor`,
//! RecordIO event stream on SUBSCRIBE), `/files/{browse,read,download}`
//! (with the old `.json` aliases), `/state` (also `/state.json`,
//! `/slave(1)/state`), `/health`, `/metrics/snapshot`, and
//! `POST /tasks/{task_id}/exec` (`{"cmd": [argv]}` → `{"exit_code",
//! "stdout", "stderr"}`: a command run inside the task's container).
//!
//! Owns routing, parsing and the error → status mapping only.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dcos_api::executor::{Call, CallBody};
use futures::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::agent::{Agent, AgentError};
use crate::files::{self, FilesError};

/// The router.
pub fn router(agent: Arc<Agent>) -> Router {
    Router::new()
        .route("/api/v1/executor", post(executor_api))
        .route("/files/browse", get(browse))
        .route("/files/browse.json", get(browse))
        .route("/files/read", get(read))
        .route("/files/read.json", get(read))
        .route("/files/download", get(download))
        .route("/files/download.json", get(download))
        .route("/state", get(state))
        .route("/state.json", get(state))
        .route("/slave(1)/state", get(state))
        .route("/slave(1)/state.json", get(state))
        .route("/tasks/{task_id}/exec", post(exec))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/metrics/snapshot", get(metrics))
        .with_state(agent)
}

impl IntoResponse for AgentError {
    fn into_response(self) -> Response {
        let code = match &self {
            AgentError::Checkpoint(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        (code, self.to_string()).into_response()
    }
}

impl IntoResponse for crate::container::ExecError {
    fn into_response(self) -> Response {
        use crate::container::ExecError;
        let code = match &self {
            ExecError::UnknownTask(_) => StatusCode::NOT_FOUND,
            ExecError::NotContainerized(_) => StatusCode::CONFLICT,
            ExecError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ExecError::Helper(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (code, Json(serde_json::json!({"message": self.to_string()}))).into_response()
    }
}

/// `POST /tasks/{task_id}/exec` body.
#[derive(serde::Deserialize)]
struct ExecRequest {
    cmd: Vec<String>,
}

async fn exec(
    State(agent): State<Arc<Agent>>,
    axum::extract::Path(task_id): axum::extract::Path<String>,
    body: Bytes,
) -> Response {
    let req: ExecRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return crate::container::ExecError::BadRequest(format!(
                "body must be {{\"cmd\": [\"program\", \"arg\", ...]}}: {e}"
            ))
            .into_response()
        }
    };
    match agent.exec_in_task(&task_id, req.cmd).await {
        Ok(out) => Json(out).into_response(),
        Err(e) => e.into_response(),
    }
}

impl IntoResponse for FilesError {
    fn into_response(self) -> Response {
        let code = match &self {
            FilesError::NotFound(_) => StatusCode::NOT_FOUND,
            FilesError::Forbidden(_) => StatusCode::FORBIDDEN,
            FilesError::BadRequest(_) => StatusCode::BAD_REQUEST,
            FilesError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (code, self.to_string()).into_response()
    }
}

async fn executor_api(State(agent): State<Arc<Agent>>, body: Bytes) -> Response {
    let call = match Call::from_json(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let Call {
        executor_id,
        framework_id,
        body,
    } = call;
    match body {
        CallBody::Subscribe(sub) => {
            let rx = match agent
                .executor_subscribe(framework_id.clone(), executor_id.clone(), sub)
                .await
            {
                Ok(rx) => rx,
                Err(e) => return e.into_response(),
            };
            let conn = agent.executor_conn_id(&framework_id, &executor_id);
            // Forget the subscription when the executor goes away.
            let guard = DisconnectGuard {
                agent: agent.clone(),
                framework_id,
                executor_id,
                conn,
            };
            // The stream ends when the agent stops: the server's graceful
            // shutdown would otherwise wait for every executor to go.
            let stream = UnboundedReceiverStream::new(rx)
                .take_until(agent.stop.clone().cancelled_owned())
                .map(move |event| {
                    let _keep = &guard;
                    Ok::<_, std::convert::Infallible>(dcos_api::recordio::encode(&event.to_json()))
                });
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(stream))
                .expect("a valid response")
        }
        CallBody::Update(u) => match agent
            .executor_update(framework_id, executor_id, u.status)
            .await
        {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(e) => e.into_response(),
        },
        CallBody::Message(m) => {
            agent.executor_message(framework_id, executor_id, m.data);
            StatusCode::ACCEPTED.into_response()
        }
        CallBody::Heartbeat => StatusCode::ACCEPTED.into_response(),
    }
}

struct DisconnectGuard {
    agent: Arc<Agent>,
    framework_id: dcos_api::v1::FrameworkId,
    executor_id: dcos_api::v1::ExecutorId,
    conn: Option<u64>,
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if let Some(conn) = self.conn {
            self.agent
                .executor_disconnected(&self.framework_id, &self.executor_id, conn);
        }
    }
}

type Params = Query<HashMap<String, String>>;

fn param(q: &HashMap<String, String>, name: &str) -> String {
    q.get(name).cloned().unwrap_or_default()
}

fn int_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, FilesError> {
    q.get(name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| FilesError::BadRequest(format!("Failed to parse '{name}': {v}")))
        })
        .transpose()
}

async fn browse(State(agent): State<Arc<Agent>>, Query(q): Params) -> Response {
    let result =
        files::confine(&agent.sandbox_root(), &param(&q, "path")).and_then(|p| files::browse(&p));
    match result {
        Ok(list) => Json(list).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn read(State(agent): State<Arc<Agent>>, Query(q): Params) -> Response {
    let result = (|| {
        let path = files::confine(&agent.sandbox_root(), &param(&q, "path"))?;
        let offset = int_param(&q, "offset")?.unwrap_or(0);
        let length = int_param(&q, "length")?;
        files::read(&path, offset, length)
    })();
    match result {
        Ok(page) => Json(page).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn download(State(agent): State<Arc<Agent>>, Query(q): Params) -> Response {
    let path = match files::confine(&agent.sandbox_root(), &param(&q, "path")) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if path.is_dir() {
        return FilesError::BadRequest("Cannot download a directory".into()).into_response();
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(source) => FilesError::Io {
            path: path.display().to_string(),
            source,
        }
        .into_response(),
    }
}

async fn state(State(agent): State<Arc<Agent>>) -> Response {
    Json(agent.state_json()).into_response()
}

async fn metrics(State(agent): State<Arc<Agent>>) -> Response {
    Json(agent.metrics_json()).into_response()
}
