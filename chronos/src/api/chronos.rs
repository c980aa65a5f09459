//! Chronos v1: `/v1/scheduler/...`, the wire shape of Chronos 3 jobs and
//! its errors (400 with a plain-text message; 404 empty; 204 on success).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{query_values, AppState};
use crate::actions::{self, ActionError, PutMode};
use crate::core::Books;
use crate::job::*;
use crate::run::RunStatus;
use crate::schedule::format_instant;

/// The routes under `/v1/scheduler`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/scheduler/jobs", get(list))
        .route("/v1/scheduler/jobs/summary", get(summary))
        .route("/v1/scheduler/jobs/search", get(search))
        .route(
            "/v1/scheduler/iso8601",
            post(add_scheduled).put(add_scheduled),
        )
        .route(
            "/v1/scheduler/dependency",
            post(add_dependent).put(add_dependent),
        )
        .route(
            "/v1/scheduler/job/{name}",
            get(get_job).put(run_now).delete(delete_job),
        )
        .route("/v1/scheduler/job/success/{name}", put(success))
        .route("/v1/scheduler/job/stat/{name}", get(stat))
        .route("/v1/scheduler/task/kill/{name}", delete(kill))
        .route("/v1/scheduler/graph/dot", get(dot))
        .route("/v1/scheduler/graph/csv", get(csv))
        .route("/v1/scheduler/stats/{which}", get(stats))
}

/// A Chronos error: a status and a plain-text message.
#[derive(Debug)]
pub struct ChronosError(StatusCode, String);

impl IntoResponse for ChronosError {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.1,
        )
            .into_response()
    }
}

impl From<ActionError> for ChronosError {
    fn from(e: ActionError) -> Self {
        let status = match &e {
            ActionError::NotFound(_) => StatusCode::NOT_FOUND,
            ActionError::Invalid(_) | ActionError::Graph(_) | ActionError::Conflict(_) => {
                StatusCode::BAD_REQUEST
            }
            ActionError::NotLeader | ActionError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ChronosError(status, e.to_string())
    }
}

type Result<T> = std::result::Result<T, ChronosError>;

/// A Chronos job on the wire (Chronos 3 field names).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChronosJob {
    pub name: String,
    pub command: String,
    pub arguments: Vec<String>,
    pub shell: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    pub schedule_time_zone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parents: Option<Vec<String>>,
    pub epsilon: Option<String>,
    pub owner: String,
    pub owner_name: String,
    pub description: String,
    pub disabled: bool,
    pub concurrent: bool,
    pub retries: Option<u32>,
    pub cpus: Option<f64>,
    pub mem: Option<f64>,
    pub disk: Option<f64>,
    pub environment_variables: Vec<EnvVar>,
    pub uris: Vec<String>,
    pub fetch: Vec<Fetch>,
    pub constraints: Vec<Vec<String>>,
    pub run_as_user: Option<String>,
    /// Milliseconds.
    pub max_completion_time: Option<u64>,
    pub success_count: u64,
    pub error_count: u64,
    pub last_success: String,
    pub last_error: String,
    pub errors_since_last_success: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Fetch {
    pub uri: String,
    pub executable: bool,
    pub extract: bool,
    pub cache: bool,
}

const SCHEDULE_ID: &str = "default";

/// Wire → domain.
pub fn to_job(w: ChronosJob, existing: Option<&Job>) -> std::result::Result<Job, ChronosError> {
    let deadline = match w.epsilon.as_deref() {
        None | Some("") => 900,
        Some(e) => {
            let p = crate::schedule::Period::parse(e)
                .map_err(|e| ChronosError(StatusCode::BAD_REQUEST, format!("epsilon: {e}")))?;
            (p.months * 30 * 86400 + p.days * 86400 + p.seconds).max(0) as u64
        }
    };
    let schedules = match &w.schedule {
        Some(s) => vec![ScheduleSpec {
            id: SCHEDULE_ID.into(),
            expr: ScheduleExpr::Iso8601(s.clone()),
            timezone: w.schedule_time_zone.clone(),
            starting_deadline_secs: deadline,
            concurrency: if w.concurrent {
                Concurrency::Allow
            } else {
                Concurrency::Forbid
            },
            enabled: true,
        }],
        None => vec![],
    };
    let retries = w.retries.unwrap_or(2);
    let mut fetch: Vec<Artifact> = w
        .fetch
        .iter()
        .map(|f| Artifact {
            uri: f.uri.clone(),
            extract: f.extract,
            executable: f.executable,
            cache: f.cache,
        })
        .collect();
    fetch.extend(w.uris.iter().map(|u| Artifact {
        uri: u.clone(),
        extract: true,
        executable: false,
        cache: false,
    }));
    let mut constraints = Vec::new();
    for c in &w.constraints {
        let [attribute, op, rest @ ..] = c.as_slice() else {
            return Err(ChronosError(
                StatusCode::BAD_REQUEST,
                format!("constraint {c:?}: expected [attribute, OPERATOR, value]"),
            ));
        };
        let operator = match op.as_str() {
            "EQUALS" | "IS" => Operator::Is,
            "LIKE" => Operator::Like,
            "UNLIKE" => Operator::Unlike,
            other => {
                return Err(ChronosError(
                    StatusCode::BAD_REQUEST,
                    format!("constraint operator {other} is not supported (EQUALS, LIKE, UNLIKE)"),
                ))
            }
        };
        constraints.push(Constraint {
            attribute: attribute.clone(),
            operator,
            value: rest.first().cloned().unwrap_or_default(),
        });
    }
    Ok(Job {
        id: w.name,
        description: w.description,
        owner: w.owner,
        owner_name: w.owner_name,
        labels: existing.map(|j| j.labels.clone()).unwrap_or_default(),
        run: RunSpec {
            cmd: (!w.command.is_empty()).then_some(w.command),
            args: w.arguments,
            shell: w.shell.unwrap_or(true),
            cpus: w.cpus.unwrap_or(0.1),
            mem: w.mem.unwrap_or(128.0),
            disk: w.disk.unwrap_or(256.0),
            env: w
                .environment_variables
                .into_iter()
                .map(|e| (e.name, e.value))
                .collect(),
            fetch,
            constraints,
            user: w.run_as_user,
            docker_image: w
                .container
                .as_ref()
                .and_then(|c| c.get("image"))
                .and_then(|i| i.as_str())
                .map(str::to_owned),
            ucr_image: None,
            max_launch_delay_secs: 3600,
            max_completion_secs: w
                .max_completion_time
                .filter(|ms| *ms > 0)
                .map(|ms| ms.div_ceil(1000)),
            restart: if retries > 0 {
                Restart {
                    policy: RestartPolicy::OnFailure,
                    active_deadline_secs: None,
                    max_retries: Some(retries),
                }
            } else {
                Restart::default()
            },
        },
        schedules,
        parents: w.parents.unwrap_or_default(),
        disabled: w.disabled,
        created: existing.map(|j| j.created).unwrap_or_else(Utc::now),
    })
}

/// Domain → wire, with the history counters.
pub fn from_job(job: &Job, books: &Books) -> ChronosJob {
    let h = books.history.get(&job.id).cloned().unwrap_or_default();
    let schedule = job.schedules.first();
    ChronosJob {
        name: job.id.clone(),
        command: job.run.cmd.clone().unwrap_or_default(),
        arguments: job.run.args.clone(),
        shell: Some(job.run.shell),
        schedule: schedule.map(|s| s.expr.text().to_owned()),
        schedule_time_zone: schedule.map(|s| s.timezone.clone()).unwrap_or_default(),
        parents: (!job.parents.is_empty() || job.schedules.is_empty()).then(|| job.parents.clone()),
        epsilon: schedule.map(|s| format!("PT{}S", s.starting_deadline_secs)),
        owner: job.owner.clone(),
        owner_name: job.owner_name.clone(),
        description: job.description.clone(),
        disabled: job.disabled,
        concurrent: schedule.is_none_or(|s| s.concurrency == Concurrency::Allow),
        retries: Some(match job.run.restart.policy {
            RestartPolicy::Never => 0,
            RestartPolicy::OnFailure => job.run.restart.max_retries.unwrap_or(u32::MAX),
        }),
        cpus: Some(job.run.cpus),
        mem: Some(job.run.mem),
        disk: Some(job.run.disk),
        environment_variables: job
            .run
            .env
            .iter()
            .map(|(k, v)| EnvVar {
                name: k.clone(),
                value: v.clone(),
            })
            .collect(),
        uris: vec![],
        fetch: job
            .run
            .fetch
            .iter()
            .map(|a| Fetch {
                uri: a.uri.clone(),
                executable: a.executable,
                extract: a.extract,
                cache: a.cache,
            })
            .collect(),
        constraints: job
            .run
            .constraints
            .iter()
            .map(|c| {
                let op = match c.operator {
                    Operator::Is => "EQUALS",
                    Operator::Like => "LIKE",
                    Operator::Unlike => "UNLIKE",
                };
                vec![c.attribute.clone(), op.into(), c.value.clone()]
            })
            .collect(),
        run_as_user: job.run.user.clone(),
        max_completion_time: job.run.max_completion_secs.map(|s| s * 1000),
        success_count: h.success_count,
        error_count: h.failure_count,
        last_success: h.last_success_at.map(format_instant).unwrap_or_default(),
        last_error: h.last_failure_at.map(format_instant).unwrap_or_default(),
        errors_since_last_success: h.errors_since_last_success,
        container: job
            .run
            .docker_image
            .as_ref()
            .map(|i| json!({"type": "DOCKER", "image": i})),
    }
}

async fn list(State(s): State<AppState>) -> Result<Response> {
    let jobs = actions::read(&s.engine, |b| {
        b.jobs.values().map(|j| from_job(j, b)).collect::<Vec<_>>()
    })
    .await?;
    Ok(Json(jobs).into_response())
}

/// `idle`, `queued` (pending) or `running`; and `success`, `failure` or
/// `fresh`.
fn state_of(books: &Books, id: &str) -> (String, String) {
    let active: Vec<_> = books.active_runs(id).collect();
    let state = if active
        .iter()
        .any(|r| matches!(r.status, RunStatus::Starting | RunStatus::Active))
    {
        "running"
    } else if active.is_empty() {
        "idle"
    } else {
        "queued"
    };
    let h = books.history.get(id).cloned().unwrap_or_default();
    let status = match (h.last_success_at, h.last_failure_at) {
        (None, None) => "fresh",
        (Some(s), Some(f)) if f > s => "failure",
        (None, Some(_)) => "failure",
        _ => "success",
    };
    (status.into(), state.into())
}

async fn summary(State(s): State<AppState>) -> Result<Response> {
    let jobs = actions::read(&s.engine, |b| {
        b.jobs
            .values()
            .map(|j| {
                let (status, state) = state_of(b, &j.id);
                json!({
                    "name": j.id,
                    "status": status,
                    "state": if state == "running" { "1 running".to_owned() } else { state },
                    "schedule": j.schedules.first().map(|s| s.expr.text().to_owned()).unwrap_or_default(),
                    "parents": j.parents,
                    "disabled": j.disabled,
                })
            })
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(Json(json!({ "jobs": jobs })).into_response())
}

async fn search(State(s): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let one = |k: &str| {
        query_values(q.as_deref(), k)
            .into_iter()
            .next()
            .map(|v| v.to_lowercase())
    };
    let (name, command, any) = (one("name"), one("command"), one("any"));
    let limit = one("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    let offset = one("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
    let jobs = actions::read(&s.engine, |b| {
        b.jobs
            .values()
            .filter(|j| {
                let n = j.id.to_lowercase();
                let c = j.run.cmd.clone().unwrap_or_default().to_lowercase();
                let d = j.description.to_lowercase();
                name.as_ref().is_none_or(|x| n.contains(x))
                    && command.as_ref().is_none_or(|x| c.contains(x))
                    && any.as_ref().is_none_or(|x| {
                        n.contains(x)
                            || c.contains(x)
                            || d.contains(x)
                            || j.owner.to_lowercase().contains(x)
                    })
            })
            .skip(offset)
            .take(limit)
            .map(|j| from_job(j, b))
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(Json(jobs).into_response())
}

fn parse_body(body: &Bytes) -> Result<ChronosJob> {
    serde_json::from_slice(body)
        .map_err(|e| ChronosError(StatusCode::BAD_REQUEST, format!("invalid job JSON: {e}")))
}

async fn add(s: &AppState, body: Bytes, dependent: bool) -> Result<Response> {
    let wire = parse_body(&body)?;
    if dependent && wire.parents.as_ref().is_none_or(|p| p.is_empty()) {
        return Err(ChronosError(
            StatusCode::BAD_REQUEST,
            "a dependent job needs parents".into(),
        ));
    }
    if !dependent && wire.schedule.as_deref().is_none_or(str::is_empty) {
        return Err(ChronosError(
            StatusCode::BAD_REQUEST,
            "a scheduled job needs a schedule (R[n]/start/period)".into(),
        ));
    }
    let existing = actions::read(&s.engine, |b| b.jobs.get(&wire.name).cloned()).await?;
    let job = to_job(wire, existing.as_ref())?;
    actions::put_job(&s.engine, job, NameRule::Chronos, PutMode::Upsert).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn add_scheduled(State(s): State<AppState>, body: Bytes) -> Result<Response> {
    add(&s, body, false).await
}

async fn add_dependent(State(s): State<AppState>, body: Bytes) -> Result<Response> {
    add(&s, body, true).await
}

fn not_found(name: &str) -> ChronosError {
    ChronosError(StatusCode::NOT_FOUND, format!("Job '{name}' not found"))
}

async fn get_job(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response> {
    let job = actions::read(&s.engine, |b| b.jobs.get(&name).map(|j| from_job(j, b))).await?;
    job.map(|j| Json(j).into_response())
        .ok_or_else(|| not_found(&name))
}

async fn run_now(
    State(s): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let args: Vec<String> = query_values(q.as_deref(), "arguments")
        .iter()
        .flat_map(|a| a.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter(|a| !a.is_empty())
        .collect();
    actions::trigger(&s.engine, &name, args).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_job(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response> {
    actions::delete_job(&s.engine, &name, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn success(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response> {
    actions::mark_success(&s.engine, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn kill(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response> {
    actions::stop(&s.engine, &name, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Run times of a job's finished successful runs, in ms.
fn durations(books: &Books, id: &str) -> Vec<f64> {
    books
        .runs
        .get(id)
        .into_iter()
        .flat_map(|r| r.values())
        .filter(|r| r.status == RunStatus::Success)
        .filter_map(|r| {
            let a = r.attempts.last()?;
            Some(
                (a.completed_at? - a.started_at.unwrap_or(a.launched_at)).num_milliseconds() as f64,
            )
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn stat(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response> {
    let out = actions::read(&s.engine, |b| {
        b.jobs.get(&name)?;
        let mut d = durations(b, &name);
        d.sort_by(f64::total_cmp);
        let history: Vec<_> = b
            .runs
            .get(&name)
            .into_iter()
            .flat_map(|r| r.values())
            .flat_map(|r| {
                r.attempts.iter().map(move |a| {
                    json!({
                        "taskId": a.task_id,
                        "jobName": r.job,
                        "slaveId": a.agent_id,
                        "taskStart": format_instant(a.started_at.unwrap_or(a.launched_at)),
                        "taskEnd": a.completed_at.map(format_instant),
                        "taskStatus": a.state,
                    })
                })
            })
            .collect();
        let mean = if d.is_empty() {
            0.0
        } else {
            d.iter().sum::<f64>() / d.len() as f64
        };
        Some(json!({
            "histogram": {
                "75thPercentile": percentile(&d, 0.75),
                "95thPercentile": percentile(&d, 0.95),
                "98thPercentile": percentile(&d, 0.98),
                "99thPercentile": percentile(&d, 0.99),
                "median": percentile(&d, 0.5),
                "mean": mean,
                "count": d.len(),
            },
            "taskStatHistory": history,
        }))
    })
    .await?;
    out.map(|v| Json(v).into_response())
        .ok_or_else(|| not_found(&name))
}

async fn stats(State(s): State<AppState>, Path(which): Path<String>) -> Result<Response> {
    let p = match which.as_str() {
        "99thPercentile" => 0.99,
        "98thPercentile" => 0.98,
        "95thPercentile" => 0.95,
        "75thPercentile" => 0.75,
        "median" => 0.5,
        "mean" => -1.0,
        other => {
            return Err(ChronosError(
                StatusCode::NOT_FOUND,
                format!("unknown statistic {other}"),
            ))
        }
    };
    let out = actions::read(&s.engine, |b| {
        let mut rows: Vec<(String, f64)> = b
            .jobs
            .keys()
            .filter_map(|id| {
                let mut d = durations(b, id);
                if d.is_empty() {
                    return None;
                }
                d.sort_by(f64::total_cmp);
                let v = if p < 0.0 {
                    d.iter().sum::<f64>() / d.len() as f64
                } else {
                    percentile(&d, p)
                };
                Some((id.clone(), v))
            })
            .collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        rows.into_iter()
            .take(10)
            .map(|(name, time)| json!({"jobNameLabel": name, "time": time}))
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(Json(out).into_response())
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn dot(State(s): State<AppState>) -> Result<Response> {
    Ok(text(
        actions::read(&s.engine, |b| crate::graph::dot(&b.jobs)).await?,
    ))
}

async fn csv(State(s): State<AppState>) -> Result<Response> {
    Ok(text(
        actions::read(&s.engine, |b| {
            crate::graph::csv(&b.jobs, |id| state_of(b, id))
        })
        .await?,
    ))
}
