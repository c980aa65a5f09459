//! Metronome v1: `/v1/jobs...`, its JobSpec/ScheduleSpec/JobRun shapes and
//! its errors (`422 {"message":"Object is not valid","details":[...]}`,
//! `404 {"message": ...}`, `409` for conflicts).
//!
//! Responses carry only fields Metronome sends: the `dcos-metronome` client
//! parses them into protobuf messages and rejects unknown fields.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{query_values, AppState};
use crate::actions::{self, ActionError, PutMode};
use crate::core::Books;
use crate::job::*;
use crate::run::{Run, RunStatus};
use crate::schedule::format_instant;

/// The routes under `/v1/jobs`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/jobs", get(list).post(create))
        .route(
            "/v1/jobs/{id}",
            get(get_job).put(replace).delete(delete_job),
        )
        .route(
            "/v1/jobs/{id}/schedules",
            get(list_schedules).post(add_schedule),
        )
        .route(
            "/v1/jobs/{id}/schedules/{sid}",
            get(get_schedule).put(put_schedule).delete(delete_schedule),
        )
        .route("/v1/jobs/{id}/runs", get(list_runs).post(trigger))
        .route("/v1/jobs/{id}/runs/{rid}", get(get_run))
        .route("/v1/jobs/{id}/runs/{rid}/actions/stop", post(stop_run))
}

/// A Metronome error.
#[derive(Debug)]
pub struct MetronomeError(StatusCode, Value);

impl IntoResponse for MetronomeError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn invalid(violations: Vec<Violation>) -> MetronomeError {
    let mut by_path: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in violations {
        by_path.entry(v.path).or_default().push(v.message);
    }
    let details: Vec<Value> = by_path
        .into_iter()
        .map(|(path, errors)| json!({"path": path, "errors": errors}))
        .collect();
    MetronomeError(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"message": "Object is not valid", "details": details}),
    )
}

fn invalid_at(path: &str, message: impl Into<String>) -> MetronomeError {
    invalid(vec![Violation {
        path: path.into(),
        message: message.into(),
    }])
}

impl From<ActionError> for MetronomeError {
    fn from(e: ActionError) -> Self {
        match &e {
            ActionError::Invalid(_) | ActionError::Graph(_) => invalid(e.violations()),
            ActionError::NotFound(m) => {
                MetronomeError(StatusCode::NOT_FOUND, json!({"message": m}))
            }
            ActionError::Conflict(m) => MetronomeError(StatusCode::CONFLICT, json!({"message": m})),
            ActionError::NotLeader | ActionError::Store(_) => MetronomeError(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"message": e.to_string()}),
            ),
        }
    }
}

type Result<T> = std::result::Result<T, MetronomeError>;

/// JobSpec on the wire.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub run: RunWire,
    #[serde(default, skip_serializing)]
    pub schedules: Vec<ScheduleWire>,
    #[serde(default, skip_serializing)]
    pub dependencies: Vec<Dependency>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Dependency {
    pub id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunWire {
    #[serde(default = "one")]
    pub cpus: f64,
    #[serde(default = "default_mem")]
    pub mem: f64,
    #[serde(default)]
    pub disk: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, Value>,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default)]
    pub artifacts: Vec<ArtifactWire>,
    #[serde(default = "launch_delay")]
    pub max_launch_delay: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<Docker>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucr: Option<Ucr>,
    #[serde(default)]
    pub restart: RestartWire,
    #[serde(default)]
    pub volumes: Vec<Value>,
}

fn one() -> f64 {
    1.0
}
fn default_mem() -> f64 {
    128.0
}
fn launch_delay() -> u64 {
    3600
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Placement {
    #[serde(default)]
    pub constraints: Vec<ConstraintWire>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConstraintWire {
    pub attribute: String,
    pub operator: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ArtifactWire {
    pub uri: String,
    #[serde(default = "yes")]
    pub extract: bool,
    #[serde(default)]
    pub executable: bool,
    #[serde(default)]
    pub cache: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Docker {
    pub image: String,
}

/// Metronome's `run.ucr`: `{"image": {"id": "…", "kind": "docker"}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ucr {
    pub image: UcrImage,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UcrImage {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartWire {
    #[serde(default = "never")]
    pub policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<u64>,
}

impl Default for RestartWire {
    fn default() -> Self {
        RestartWire {
            policy: never(),
            active_deadline_seconds: None,
        }
    }
}

fn never() -> String {
    "NEVER".into()
}

/// ScheduleSpec on the wire.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleWire {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub cron: String,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub starting_deadline_seconds: Option<u64>,
    #[serde(default)]
    pub concurrency_policy: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<String>,
}

fn to_schedule(w: &ScheduleWire, i: Option<usize>) -> Result<ScheduleSpec> {
    let path = |f: &str| match i {
        Some(i) => format!("/schedules/{i}/{f}"),
        None => format!("/{f}"),
    };
    if w.id.is_empty() {
        return Err(invalid_at(&path("id"), "error.path.missing"));
    }
    if check_name(&w.id, NameRule::Metronome).is_err() {
        return Err(invalid_at(
            &path("id"),
            format!("invalid schedule id '{}'", w.id),
        ));
    }
    let concurrency = match w.concurrency_policy.as_deref().unwrap_or("ALLOW") {
        "ALLOW" => Concurrency::Allow,
        "FORBID" => Concurrency::Forbid,
        other => {
            return Err(invalid_at(
                &path("concurrencyPolicy"),
                format!("unknown concurrencyPolicy '{other}': ALLOW or FORBID"),
            ))
        }
    };
    let spec = ScheduleSpec {
        id: w.id.clone(),
        expr: ScheduleExpr::Cron(w.cron.clone()),
        timezone: w.timezone.clone().unwrap_or_else(|| "UTC".into()),
        starting_deadline_secs: w.starting_deadline_seconds.unwrap_or(900),
        concurrency,
        enabled: w.enabled.unwrap_or(true),
    };
    if let Err(e) = spec.parse(Utc::now()) {
        let field = if matches!(e, crate::schedule::ScheduleError::TimeZone(_)) {
            "timezone"
        } else {
            "cron"
        };
        return Err(invalid_at(&path(field), e.to_string()));
    }
    Ok(spec)
}

fn from_schedule(s: &ScheduleSpec, next: Option<chrono::DateTime<Utc>>) -> Value {
    json!({
        "id": s.id,
        "cron": s.expr.text(),
        "timezone": if s.timezone.is_empty() { "UTC" } else { &s.timezone },
        "startingDeadlineSeconds": s.starting_deadline_secs,
        "concurrencyPolicy": match s.concurrency { Concurrency::Allow => "ALLOW", Concurrency::Forbid => "FORBID" },
        "enabled": s.enabled,
        "nextRunAt": next.map(format_instant),
    })
}

fn to_job(w: JobSpec, existing: Option<&Job>) -> Result<Job> {
    let r = w.run;
    let mut env = BTreeMap::new();
    for (k, v) in r.env {
        match v {
            Value::String(s) => {
                env.insert(k, s);
            }
            _ => {
                return Err(invalid_at(
                    &format!("/run/env/{k}"),
                    "only string values are supported (secrets are not)",
                ))
            }
        }
    }
    let mut constraints = Vec::new();
    for (i, c) in r.placement.constraints.iter().enumerate() {
        let operator = match c.operator.as_str() {
            "IS" | "EQ" => Operator::Is,
            "LIKE" => Operator::Like,
            "UNLIKE" => Operator::Unlike,
            other => {
                return Err(invalid_at(
                    &format!("/run/placement/constraints/{i}/operator"),
                    format!("unknown operator '{other}': IS, LIKE or UNLIKE"),
                ))
            }
        };
        constraints.push(Constraint {
            attribute: c.attribute.clone(),
            operator,
            value: c.value.clone(),
        });
    }
    let restart = match r.restart.policy.as_str() {
        "NEVER" => Restart::default(),
        "ON_FAILURE" => Restart {
            policy: RestartPolicy::OnFailure,
            active_deadline_secs: r.restart.active_deadline_seconds,
            max_retries: None,
        },
        other => {
            return Err(invalid_at(
                "/run/restart/policy",
                format!("unknown policy '{other}': NEVER or ON_FAILURE"),
            ))
        }
    };
    let mut schedules = Vec::new();
    for (i, s) in w.schedules.iter().enumerate() {
        schedules.push(to_schedule(s, Some(i))?);
    }
    if existing.is_some() && w.schedules.is_empty() {
        // PUT /v1/jobs/{id} replaces the job spec, not its schedules.
        schedules = existing.map(|j| j.schedules.clone()).unwrap_or_default();
    }
    Ok(Job {
        id: w.id,
        description: w.description,
        owner: existing.map(|j| j.owner.clone()).unwrap_or_default(),
        owner_name: existing.map(|j| j.owner_name.clone()).unwrap_or_default(),
        labels: w.labels,
        run: RunSpec {
            cmd: r.cmd,
            args: r.args,
            shell: true,
            cpus: r.cpus,
            mem: r.mem,
            disk: r.disk,
            env,
            fetch: r
                .artifacts
                .into_iter()
                .map(|a| Artifact {
                    uri: a.uri,
                    extract: a.extract,
                    executable: a.executable,
                    cache: a.cache,
                })
                .collect(),
            constraints,
            user: r.user,
            docker_image: r.docker.map(|d| d.image),
            ucr_image: r.ucr.map(|u| u.image.id),
            max_launch_delay_secs: r.max_launch_delay,
            max_completion_secs: existing.and_then(|j| j.run.max_completion_secs),
            restart,
        },
        schedules,
        parents: w.dependencies.into_iter().map(|d| d.id).collect(),
        disabled: existing.is_some_and(|j| j.disabled),
        created: existing.map(|j| j.created).unwrap_or_else(Utc::now),
    })
}

fn from_job(job: &Job) -> Value {
    let r = &job.run;
    let mut run = json!({
        "cpus": r.cpus,
        "mem": r.mem,
        "disk": r.disk,
        "env": r.env,
        "placement": {"constraints": r.constraints.iter().map(|c| json!({
            "attribute": c.attribute,
            "operator": match c.operator { Operator::Is => "IS", Operator::Like => "LIKE", Operator::Unlike => "UNLIKE" },
            "value": c.value,
        })).collect::<Vec<_>>()},
        "artifacts": r.fetch.iter().map(|a| json!({"uri": a.uri, "extract": a.extract, "executable": a.executable, "cache": a.cache})).collect::<Vec<_>>(),
        "maxLaunchDelay": r.max_launch_delay_secs,
        "restart": match r.restart.policy {
            RestartPolicy::Never => json!({"policy": "NEVER"}),
            RestartPolicy::OnFailure => match r.restart.active_deadline_secs {
                Some(d) => json!({"policy": "ON_FAILURE", "activeDeadlineSeconds": d}),
                None => json!({"policy": "ON_FAILURE"}),
            },
        },
        "volumes": [],
    });
    if let Some(cmd) = &r.cmd {
        run["cmd"] = json!(cmd);
    }
    if !r.args.is_empty() {
        run["args"] = json!(r.args);
    }
    if let Some(u) = &r.user {
        run["user"] = json!(u);
    }
    if let Some(i) = &r.docker_image {
        run["docker"] = json!({"image": i});
    }
    if let Some(i) = &r.ucr_image {
        run["ucr"] = json!({"image": {"id": i, "kind": "docker"}});
    }
    let mut out = json!({"id": job.id, "run": run, "labels": job.labels});
    if !job.description.is_empty() {
        out["description"] = json!(job.description);
    }
    out
}

/// A run in Metronome's shape.
pub fn run_json(run: &Run) -> Value {
    let mut v = json!({
        "id": run.id,
        "jobId": run.job,
        "status": run.status.as_str(),
        "createdAt": format_instant(run.created_at),
        "tasks": run.attempts.iter().map(|a| {
            let mut t = json!({
                "id": a.task_id,
                "startedAt": format_instant(a.started_at.unwrap_or(a.launched_at)),
                "status": task_status(&a.state),
            });
            if let Some(c) = a.completed_at {
                t["completedAt"] = json!(format_instant(c));
            }
            t
        }).collect::<Vec<_>>(),
    });
    if let Some(c) = run.completed_at {
        v["completedAt"] = json!(format_instant(c));
    }
    v
}

/// The task states the Metronome client knows; the rest read as failed.
fn task_status(state: &str) -> &str {
    match state {
        "TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING" | "TASK_FINISHED" | "TASK_FAILED"
        | "TASK_KILLED" => state,
        _ => "TASK_FAILED",
    }
}

fn history_json(books: &Books, id: &str, with_runs: bool) -> Value {
    let h = books.history.get(id).cloned().unwrap_or_default();
    let mut v = json!({
        "successCount": h.success_count,
        "failureCount": h.failure_count,
        "lastSuccessAt": h.last_success_at.map(format_instant),
        "lastFailureAt": h.last_failure_at.map(format_instant),
    });
    if with_runs {
        let finished = |status: RunStatus| -> Vec<Value> {
            let mut runs: Vec<&Run> = books
                .runs
                .get(id)
                .into_iter()
                .flat_map(|r| r.values())
                .filter(|r| r.status == status)
                .collect();
            runs.sort_by_key(|r| std::cmp::Reverse(r.completed_at));
            runs.iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "createdAt": format_instant(r.created_at),
                        "finishedAt": r.completed_at.map(format_instant),
                        "tasks": r.attempts.iter().map(|a| a.task_id.clone()).collect::<Vec<_>>(),
                        "missed": r.missed,
                        "startedAt": r.attempts.first().and_then(|a| a.started_at).map(format_instant),
                        "scheduledAt": r.scheduled_at().map(format_instant),
                    })
                })
                .collect()
        };
        v["successfulFinishedRuns"] = json!(finished(RunStatus::Success));
        v["failedFinishedRuns"] = json!(finished(RunStatus::Failed));
    }
    v
}

fn embedded(books: &Books, job: &Job, embed: &[String]) -> Value {
    let mut v = from_job(job);
    let now = Utc::now();
    for e in embed {
        match e.as_str() {
            "activeRuns" => {
                v["activeRuns"] =
                    json!(books.active_runs(&job.id).map(run_json).collect::<Vec<_>>());
            }
            "history" => v["history"] = history_json(books, &job.id, true),
            "historySummary" => v["historySummary"] = history_json(books, &job.id, false),
            "schedules" => {
                v["schedules"] = json!(job
                    .schedules
                    .iter()
                    .enumerate()
                    .map(|(i, s)| from_schedule(s, books.next_run_at(&job.id, i, now)))
                    .collect::<Vec<_>>());
            }
            _ => {}
        }
    }
    v
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| invalid_at("/", format!("invalid JSON: {e}")))
}

async fn list(State(s): State<AppState>, RawQuery(q): RawQuery) -> Result<Response> {
    let embed = query_values(q.as_deref(), "embed");
    let jobs = actions::read(&s.engine, |b| {
        b.jobs
            .values()
            .map(|j| embedded(b, j, &embed))
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(Json(jobs).into_response())
}

async fn create(State(s): State<AppState>, body: Bytes) -> Result<Response> {
    let wire: JobSpec = parse(&body)?;
    let job = to_job(wire, None)?;
    let job = actions::put_job(&s.engine, job, NameRule::Metronome, PutMode::Create).await?;
    Ok((StatusCode::CREATED, Json(from_job(&job))).into_response())
}

fn no_job(id: &str) -> MetronomeError {
    MetronomeError(
        StatusCode::NOT_FOUND,
        json!({"message": format!("Job '{id}' does not exist")}),
    )
}

async fn get_job(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let embed = query_values(q.as_deref(), "embed");
    let job = actions::read(&s.engine, |b| {
        b.jobs.get(&id).map(|j| embedded(b, j, &embed))
    })
    .await?;
    job.map(|j| Json(j).into_response())
        .ok_or_else(|| no_job(&id))
}

async fn replace(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let mut wire: JobSpec = parse(&body)?;
    if wire.id.is_empty() {
        wire.id = id.clone();
    }
    if wire.id != id {
        return Err(invalid_at(
            "/id",
            format!("id '{}' does not match the path '{id}'", wire.id),
        ));
    }
    let existing = actions::read(&s.engine, |b| b.jobs.get(&id).cloned())
        .await?
        .ok_or_else(|| no_job(&id))?;
    let job = to_job(wire, Some(&existing))?;
    let job = actions::put_job(&s.engine, job, NameRule::Metronome, PutMode::Replace).await?;
    Ok(Json(from_job(&job)).into_response())
}

async fn delete_job(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let stop = query_values(q.as_deref(), "stopCurrentJobRuns")
        .first()
        .map(|v| v == "true")
        .unwrap_or(false);
    let job = actions::delete_job(&s.engine, &id, Some(stop)).await?;
    Ok(Json(from_job(&job)).into_response())
}

async fn list_schedules(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let now = Utc::now();
    let out = actions::read(&s.engine, |b| {
        b.jobs.get(&id).map(|j| {
            j.schedules
                .iter()
                .enumerate()
                .map(|(i, sc)| from_schedule(sc, b.next_run_at(&id, i, now)))
                .collect::<Vec<_>>()
        })
    })
    .await?;
    out.map(|v| Json(v).into_response())
        .ok_or_else(|| no_job(&id))
}

async fn change_schedules(
    s: &AppState,
    id: &str,
    f: impl FnOnce(&mut Vec<ScheduleSpec>) -> Result<()>,
) -> Result<Job> {
    let mut job = actions::read(&s.engine, |b| b.jobs.get(id).cloned())
        .await?
        .ok_or_else(|| no_job(id))?;
    f(&mut job.schedules)?;
    Ok(actions::put_job(&s.engine, job, NameRule::Metronome, PutMode::Replace).await?)
}

async fn schedule_out(s: &AppState, job: &Job, sid: &str) -> Result<Value> {
    let now = Utc::now();
    let i = job
        .schedules
        .iter()
        .position(|x| x.id == sid)
        .ok_or_else(|| no_schedule(&job.id, sid))?;
    let next = actions::read(&s.engine, |b| b.next_run_at(&job.id, i, now)).await?;
    Ok(from_schedule(&job.schedules[i], next))
}

fn no_schedule(id: &str, sid: &str) -> MetronomeError {
    MetronomeError(
        StatusCode::NOT_FOUND,
        json!({"message": format!("Schedule '{sid}' of job '{id}' does not exist")}),
    )
}

async fn add_schedule(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let wire: ScheduleWire = parse(&body)?;
    let spec = to_schedule(&wire, None)?;
    let sid = spec.id.clone();
    let job = change_schedules(&s, &id, |list| {
        if list.iter().any(|x| x.id == spec.id) {
            return Err(MetronomeError(
                StatusCode::CONFLICT,
                json!({"message": format!("Schedule '{}' exists already", spec.id)}),
            ));
        }
        list.push(spec);
        Ok(())
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(schedule_out(&s, &job, &sid).await?),
    )
        .into_response())
}

async fn get_schedule(
    State(s): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
) -> Result<Response> {
    let job = actions::read(&s.engine, |b| b.jobs.get(&id).cloned())
        .await?
        .ok_or_else(|| no_job(&id))?;
    Ok(Json(schedule_out(&s, &job, &sid).await?).into_response())
}

async fn put_schedule(
    State(s): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let mut wire: ScheduleWire = parse(&body)?;
    if wire.id.is_empty() {
        wire.id = sid.clone();
    }
    let spec = to_schedule(&wire, None)?;
    let job = change_schedules(&s, &id, |list| {
        let slot = list
            .iter_mut()
            .find(|x| x.id == sid)
            .ok_or_else(|| no_schedule(&id, &sid))?;
        *slot = spec;
        Ok(())
    })
    .await?;
    Ok(Json(schedule_out(&s, &job, &wire.id).await?).into_response())
}

async fn delete_schedule(
    State(s): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
) -> Result<Response> {
    change_schedules(&s, &id, |list| {
        let before = list.len();
        list.retain(|x| x.id != sid);
        if list.len() == before {
            return Err(no_schedule(&id, &sid));
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::OK.into_response())
}

async fn list_runs(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let out = actions::read(&s.engine, |b| {
        b.jobs.get(&id)?;
        Some(b.active_runs(&id).map(run_json).collect::<Vec<_>>())
    })
    .await?;
    out.map(|v| Json(v).into_response())
        .ok_or_else(|| no_job(&id))
}

async fn trigger(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let run = actions::trigger(&s.engine, &id, vec![]).await?;
    Ok((StatusCode::CREATED, Json(run_json(&run))).into_response())
}

async fn get_run(
    State(s): State<AppState>,
    Path((id, rid)): Path<(String, String)>,
) -> Result<Response> {
    let out = actions::read(&s.engine, |b| b.run(&id, &rid).map(run_json)).await?;
    out.map(|v| Json(v).into_response()).ok_or_else(|| {
        MetronomeError(
            StatusCode::NOT_FOUND,
            json!({"message": format!("Run '{rid}' of job '{id}' does not exist")}),
        )
    })
}

async fn stop_run(
    State(s): State<AppState>,
    Path((id, rid)): Path<(String, String)>,
) -> Result<Response> {
    let run = actions::stop(&s.engine, &id, Some(&rid)).await?;
    Ok(Json(run.map(|r| run_json(&r)).unwrap_or(Value::Null)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(run: Value) -> Job {
        let spec: JobSpec = serde_json::from_value(json!({"id": "img", "run": run})).unwrap();
        to_job(spec, None).unwrap()
    }

    #[test]
    fn docker_and_ucr_images_run_in_containers_and_round_trip() {
        use dcos_api::v1::ContainerType;
        let docker = job(json!({"cmd": "true", "docker": {"image": "busybox:1"}}));
        assert_eq!(from_job(&docker)["run"]["docker"]["image"], "busybox:1");
        let c = crate::framework::container_info(&docker.run).expect("a container");
        assert_eq!(c.kind, ContainerType::Docker);
        assert_eq!(c.docker.unwrap().image, "busybox:1");

        let ucr =
            job(json!({"cmd": "true", "ucr": {"image": {"id": "busybox:2", "kind": "docker"}}}));
        assert_eq!(from_job(&ucr)["run"]["ucr"]["image"]["id"], "busybox:2");
        let c = crate::framework::container_info(&ucr.run).expect("a container");
        assert_eq!(c.kind, ContainerType::Mesos);
        let image = c
            .mesos
            .and_then(|m| m.image)
            .and_then(|i| i.docker)
            .unwrap();
        assert_eq!(image.name, "busybox:2");

        let plain = job(json!({"cmd": "true"}));
        assert!(crate::framework::container_info(&plain.run).is_none());
    }
}
