//! The operations the APIs may ask of the engine — the one interface
//! between the HTTP layer and the core. Each validates, commits to the
//! store, then changes the books; on any error nothing stored changes.

use std::sync::Arc;

use chrono::Utc;

use crate::core::{self, Plan};
use crate::framework::Engine;
use crate::graph::{self, GraphError};
use crate::job::{Job, JobError, NameRule, Violation};
use crate::run::Run;
use crate::store::StoreError;

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// No such job (or run).
    #[error("{0}")]
    NotFound(String),
    /// The job failed validation.
    #[error(transparent)]
    Invalid(#[from] JobError),
    /// The dependency graph would break.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The request conflicts with the state (exists already, runs active).
    #[error("{0}")]
    Conflict(String),
    /// This process does not lead.
    #[error("not the leader")]
    NotLeader,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ActionError {
    /// The field violations, for APIs that list them.
    pub fn violations(&self) -> Vec<Violation> {
        match self {
            ActionError::Invalid(JobError::Invalid(v)) => v.clone(),
            ActionError::Graph(e) => vec![Violation {
                path: "/dependencies".into(),
                message: e.to_string(),
            }],
            other => vec![Violation {
                path: "/".into(),
                message: other.to_string(),
            }],
        }
    }
}

/// How a put treats an existing job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Create or replace (Chronos).
    Upsert,
    /// Create only (Metronome POST).
    Create,
    /// Replace only (Metronome PUT).
    Replace,
}

/// Reads the books (while leading).
pub async fn read<T>(engine: &Engine, f: impl FnOnce(&core::Books) -> T) -> Result<T, ActionError> {
    let guard = engine.books.lock().await;
    guard.as_ref().map(f).ok_or(ActionError::NotLeader)
}

/// Creates or replaces a job. A replaced job keeps its creation time (so
/// an empty ISO 8601 start keeps meaning the same instant) unless its
/// schedules changed.
pub async fn put_job(
    engine: &Arc<Engine>,
    mut job: Job,
    rule: NameRule,
    mode: PutMode,
) -> Result<Job, ActionError> {
    let mut guard = engine.books.lock().await;
    let books = guard.as_mut().ok_or(ActionError::NotLeader)?;
    let existing = books.jobs.get(&job.id);
    match (mode, existing) {
        (PutMode::Create, Some(_)) => {
            return Err(ActionError::Conflict(format!(
                "Job with id '{}' already exists",
                job.id
            )))
        }
        (PutMode::Replace, None) => {
            return Err(ActionError::NotFound(format!(
                "Job '{}' does not exist",
                job.id
            )))
        }
        _ => {}
    }
    if let Some(old) = existing {
        if old.schedules == job.schedules {
            job.created = old.created;
        }
    }
    job.validate(rule)?;
    graph::check_put(&books.jobs, &job)?;
    let store = engine.store().await.ok_or(ActionError::NotLeader)?;
    store.put_job(&job).await?;
    books.put_job(job.clone());
    drop(guard);
    engine.wake.notify_one();
    Ok(job)
}

/// Deletes a job; with `stop_runs` false, refuses while runs are active.
pub async fn delete_job(
    engine: &Arc<Engine>,
    id: &str,
    stop_runs: Option<bool>,
) -> Result<Job, ActionError> {
    let mut guard = engine.books.lock().await;
    let books = guard.as_mut().ok_or(ActionError::NotLeader)?;
    let job = books
        .jobs
        .get(id)
        .cloned()
        .ok_or_else(|| ActionError::NotFound(format!("Job '{id}' does not exist")))?;
    graph::check_delete(&books.jobs, id)?;
    let active: Vec<Run> = books.active_runs(id).cloned().collect();
    if stop_runs == Some(false) && !active.is_empty() {
        return Err(ActionError::Conflict(format!(
            "Job '{id}' has {} active run(s); stop them or pass stopCurrentJobRuns=true",
            active.len()
        )));
    }
    let kills: Vec<core::Kill> = active
        .iter()
        .filter_map(|r| r.live_attempt())
        .map(|a| core::Kill {
            task_id: a.task_id.clone(),
            agent_id: a.agent_id.clone(),
        })
        .collect();
    let store = engine.store().await.ok_or(ActionError::NotLeader)?;
    store.delete_job(id).await?;
    books.remove_job(id);
    let plan = Plan {
        kills,
        ..Default::default()
    };
    // Nothing to write: only the kills.
    let _ = engine.commit(books, &plan).await;
    Ok(job)
}

/// Starts a run now; returns it.
pub async fn trigger(
    engine: &Arc<Engine>,
    id: &str,
    args: Vec<String>,
) -> Result<Run, ActionError> {
    let mut guard = engine.books.lock().await;
    let books = guard.as_mut().ok_or(ActionError::NotLeader)?;
    let now = Utc::now();
    let run_id = format!(
        "{}{}",
        now.format("%Y%m%dT%H%M%S%3fZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..5]
    );
    let plan = core::trigger(books, id, run_id.clone(), args, now)
        .ok_or_else(|| ActionError::NotFound(format!("Job '{id}' does not exist")))?;
    engine.commit(books, &plan).await?;
    let run = books.run(id, &run_id).cloned();
    drop(guard);
    engine.wake.notify_one();
    run.ok_or_else(|| ActionError::NotFound(format!("Job '{id}' does not exist")))
}

/// Chronos: marks the job successful and triggers its children.
pub async fn mark_success(engine: &Arc<Engine>, id: &str) -> Result<(), ActionError> {
    let mut guard = engine.books.lock().await;
    let books = guard.as_mut().ok_or(ActionError::NotLeader)?;
    let plan = core::mark_success(books, id, Utc::now())
        .ok_or_else(|| ActionError::NotFound(format!("Job '{id}' does not exist")))?;
    engine.commit(books, &plan).await?;
    drop(guard);
    engine.wake.notify_one();
    Ok(())
}

/// Stops one run, or all active runs of the job when `run` is `None`.
pub async fn stop(
    engine: &Arc<Engine>,
    id: &str,
    run: Option<&str>,
) -> Result<Option<Run>, ActionError> {
    let mut guard = engine.books.lock().await;
    let books = guard.as_mut().ok_or(ActionError::NotLeader)?;
    if !books.jobs.contains_key(id) {
        return Err(ActionError::NotFound(format!("Job '{id}' does not exist")));
    }
    let runs: Vec<String> = match run {
        Some(r) => {
            if books.run(id, r).is_none() {
                return Err(ActionError::NotFound(format!(
                    "Run '{r}' of job '{id}' does not exist"
                )));
            }
            vec![r.to_owned()]
        }
        None => books.active_runs(id).map(|r| r.id.clone()).collect(),
    };
    let now = Utc::now();
    for r in &runs {
        if let Some(plan) = core::stop(books, id, r, now) {
            engine.commit(books, &plan).await?;
        }
    }
    Ok(run.and_then(|r| books.run(id, r).cloned()))
}
