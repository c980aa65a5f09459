//! The scheduler core: pure functions of (the books, an event, now) that
//! return a [`Plan`] — the records to write in one store transaction and
//! the tasks to kill after it commits. The runtime (`framework`) commits
//! plans and performs their kills; the core never touches the store, the
//! master or the clock.
//!
//! **Exactly once.** [`tick`] turns every scheduled time in
//! `(cursor, now]` into a run *created* in the store, keyed by (job,
//! scheduled time), in the same transaction that moves the job's cursor
//! past it. A create fails if the key exists, so a second leader (or a
//! restarted one that re-plans the same window) cannot record a time twice,
//! and since the cursor moves only with the runs, no time is skipped. A run
//! is launched only after it is recorded.
//!
//! **Parents.** A child's [`Progress`] (which parents succeeded in this
//! cycle) is written in the same transaction as the parent run's SUCCESS,
//! and the child's run is created in that transaction when the cycle is
//! complete: progress survives failover, and a child runs once per cycle.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::graph::children_of;
use crate::job::{Concurrency, Job};
use crate::run::{scheduled_run_id, Attempt, History, Progress, Run, RunStatus, Trigger};
use crate::schedule::Schedule;

/// How many scheduled times one tick records per job at most (a long
/// outage is caught up over several ticks).
pub const CATCH_UP_LIMIT: usize = 30;

/// Everything the core reads: a mirror of the store under `/chronos/`.
#[derive(Debug, Clone, Default)]
pub struct Books {
    /// Jobs by id.
    pub jobs: BTreeMap<String, Job>,
    /// Runs by job, then run id.
    pub runs: BTreeMap<String, BTreeMap<String, Run>>,
    /// Per job, the latest scheduled time already recorded (or missed).
    pub cursors: BTreeMap<String, DateTime<Utc>>,
    /// Dependent jobs' progress.
    pub progress: BTreeMap<String, Progress>,
    /// History counters by job.
    pub history: BTreeMap<String, History>,
    /// Finished runs kept per job.
    pub retention: usize,
    /// Parsed schedules per job (derived; refreshed by [`Books::put_job`]).
    parsed: BTreeMap<String, Vec<(usize, Schedule)>>,
    /// Per job, its first firing after its cursor (derived; refreshed
    /// when the job or its cursor changes), so a tick looks only at jobs
    /// that are due.
    due: BTreeMap<String, Option<DateTime<Utc>>>,
}

/// A task to kill once the plan is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    /// Task id.
    pub task_id: String,
    /// Its agent.
    pub agent_id: Option<String>,
}

/// Records to write atomically, and what to do after.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// New runs (the write fails if one exists).
    pub create: Vec<Run>,
    /// Changed runs.
    pub update: Vec<Run>,
    /// Finished runs dropped by retention: (job, run id).
    pub delete: Vec<(String, String)>,
    /// New cursors.
    pub cursors: Vec<(String, DateTime<Utc>)>,
    /// New progress records.
    pub progress: Vec<(String, Progress)>,
    /// New history counters.
    pub history: Vec<(String, History)>,
    /// Tasks to kill after commit.
    pub kills: Vec<Kill>,
}

impl Plan {
    /// Store operations it takes (a create is a compare and a put).
    pub fn ops(&self) -> usize {
        self.create.len() * 2
            + self.update.len()
            + self.delete.len()
            + self.cursors.len()
            + self.progress.len()
            + self.history.len()
    }

    /// Adds `later` to this plan, as if both were committed in order: a
    /// record written twice keeps its last version.
    pub fn merge(&mut self, later: Plan) {
        for run in later.create {
            self.create.push(run);
        }
        for run in later.update {
            let same = |r: &Run| r.job == run.job && r.id == run.id;
            if let Some(c) = self.create.iter_mut().find(|r| same(r)) {
                *c = run;
            } else if let Some(u) = self.update.iter_mut().find(|r| same(r)) {
                *u = run;
            } else {
                self.update.push(run);
            }
        }
        for (job, id) in later.delete {
            self.create.retain(|r| !(r.job == job && r.id == id));
            self.update.retain(|r| !(r.job == job && r.id == id));
            if !self.delete.contains(&(job.clone(), id.clone())) {
                self.delete.push((job, id));
            }
        }
        fn upsert<V>(list: &mut Vec<(String, V)>, items: Vec<(String, V)>) {
            for (k, v) in items {
                match list.iter_mut().find(|(x, _)| *x == k) {
                    Some(slot) => slot.1 = v,
                    None => list.push((k, v)),
                }
            }
        }
        upsert(&mut self.cursors, later.cursors);
        upsert(&mut self.progress, later.progress);
        upsert(&mut self.history, later.history);
        self.kills.extend(later.kills);
    }

    /// Merges consecutive plans into as few as fit in one store
    /// transaction each (`max_ops`); a plan is never split.
    pub fn batch(plans: Vec<Plan>, max_ops: usize) -> Vec<Plan> {
        let mut out: Vec<Plan> = Vec::new();
        for p in plans {
            match out.last_mut() {
                Some(last) if last.ops() + p.ops() <= max_ops => last.merge(p),
                _ => out.push(p),
            }
        }
        out
    }

    /// Nothing to write or do.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty()
            && self.update.is_empty()
            && self.delete.is_empty()
            && self.cursors.is_empty()
            && self.progress.is_empty()
            && self.history.is_empty()
            && self.kills.is_empty()
    }
}

impl Books {
    /// Empty books keeping `retention` finished runs per job.
    pub fn new(retention: usize) -> Self {
        Books {
            retention,
            ..Default::default()
        }
    }

    /// Adds or replaces a job (already validated).
    pub fn put_job(&mut self, job: Job) {
        self.parse(&job);
        self.jobs.insert(job.id.clone(), job);
    }

    /// Forgets a job and everything about it.
    pub fn remove_job(&mut self, id: &str) {
        self.jobs.remove(id);
        self.runs.remove(id);
        self.cursors.remove(id);
        self.progress.remove(id);
        self.history.remove(id);
        self.parsed.remove(id);
        self.due.remove(id);
    }

    fn parse(&mut self, job: &Job) {
        let parsed = job
            .schedules
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.parse(job.created).ok().map(|p| (i, p)))
            .collect();
        self.parsed.insert(job.id.clone(), parsed);
        self.refresh_due(job);
    }

    fn refresh_due(&mut self, job: &Job) {
        let cursor = self.cursor(job);
        let due = self
            .parsed
            .get(&job.id)
            .into_iter()
            .flatten()
            .filter(|(i, _)| job.schedules[*i].enabled)
            .filter_map(|(_, s)| s.next_after(cursor))
            .min();
        self.due.insert(job.id.clone(), due);
    }

    /// Applies a committed plan.
    pub fn apply(&mut self, plan: &Plan) {
        for run in plan.create.iter().chain(&plan.update) {
            self.runs
                .entry(run.job.clone())
                .or_default()
                .insert(run.id.clone(), run.clone());
        }
        for (job, id) in &plan.delete {
            if let Some(r) = self.runs.get_mut(job) {
                r.remove(id);
            }
        }
        for (job, at) in &plan.cursors {
            self.cursors.insert(job.clone(), *at);
            if let Some(j) = self.jobs.get(job).cloned() {
                self.refresh_due(&j);
            }
        }
        for (job, p) in &plan.progress {
            self.progress.insert(job.clone(), p.clone());
        }
        for (job, h) in &plan.history {
            self.history.insert(job.clone(), h.clone());
        }
    }

    /// A run.
    pub fn run(&self, job: &str, id: &str) -> Option<&Run> {
        self.runs.get(job)?.get(id)
    }

    /// A job's runs that have not finished.
    pub fn active_runs(&self, job: &str) -> impl Iterator<Item = &Run> {
        self.runs
            .get(job)
            .into_iter()
            .flat_map(|r| r.values())
            .filter(|r| !r.status.is_done())
    }

    /// Runs waiting for an offer, oldest first.
    pub fn pending(&self) -> Vec<&Run> {
        let mut out: Vec<&Run> = self
            .runs
            .values()
            .flat_map(|r| r.values())
            .filter(|r| r.status == RunStatus::Initial)
            .filter(|r| self.jobs.get(&r.job).is_some_and(|j| !j.disabled))
            .collect();
        out.sort_by_key(|r| r.created_at);
        out
    }

    /// The next time a job's schedules fire after its cursor (or after
    /// `now` if that is later), for `nextRunAt`.
    pub fn next_run_at(
        &self,
        job: &str,
        schedule: usize,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let j = self.jobs.get(job)?;
        let (_, s) = self.parsed.get(job)?.iter().find(|(i, _)| *i == schedule)?;
        let from = self.cursor(j).max(now);
        s.next_after(from)
    }

    fn cursor(&self, job: &Job) -> DateTime<Utc> {
        self.cursors
            .get(&job.id)
            .copied()
            .unwrap_or(job.created - Duration::seconds(1))
    }
}

/// The due work of one job at `now`: scheduled times to record (or record
/// as missed), pending runs past their deadline, runs past their max
/// completion time. One plan per job, so one job's conflict does not hold
/// up the others.
pub fn tick(books: &Books, now: DateTime<Utc>) -> Vec<Plan> {
    books
        .jobs
        .values()
        .filter_map(|job| {
            let plan = tick_job(books, job, now);
            (!plan.is_empty()).then_some(plan)
        })
        .collect()
}

fn tick_job(books: &Books, job: &Job, now: DateTime<Utc>) -> Plan {
    let mut plan = Plan::default();
    let mut history = books.history.get(&job.id).cloned().unwrap_or_default();
    let mut finished = Vec::new();
    let due = books.due.get(&job.id).copied().flatten();
    if !job.disabled && due.is_some_and(|d| d <= now) {
        let cursor = books.cursor(job);
        // Every firing of every enabled schedule, one run per instant (the
        // first schedule listed wins a tie).
        let mut due: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
        for (i, s) in books.parsed.get(&job.id).into_iter().flatten() {
            if !job.schedules[*i].enabled {
                continue;
            }
            for t in s.between(cursor, now, CATCH_UP_LIMIT) {
                due.entry(t).or_insert(*i);
            }
        }
        let mut active = books.active_runs(&job.id).count();
        for (at, i) in due.into_iter().take(CATCH_UP_LIMIT) {
            let spec = &job.schedules[i];
            let mut run = Run {
                id: scheduled_run_id(at),
                job: job.id.clone(),
                status: RunStatus::Initial,
                trigger: Trigger::Schedule {
                    schedule_id: spec.id.clone(),
                    at,
                },
                created_at: now,
                completed_at: None,
                attempts: vec![],
                retries: 0,
                missed: false,
                reason: None,
                args: vec![],
                killing: false,
            };
            let late = (now - at).num_seconds()
                > i64::try_from(spec.starting_deadline_secs).unwrap_or(i64::MAX);
            if late {
                miss(&mut run, now, "not started within startingDeadlineSeconds");
            } else if spec.concurrency == Concurrency::Forbid && active > 0 {
                miss(
                    &mut run,
                    now,
                    "skipped: concurrencyPolicy FORBID and a run is active",
                );
            } else {
                active += 1;
            }
            if run.status.is_done() {
                history.record(&run, now);
                finished.push(run.id.clone());
            }
            plan.cursors = vec![(job.id.clone(), at)];
            plan.create.push(run);
        }
    }
    for run in books.active_runs(&job.id) {
        match run.status {
            RunStatus::Initial => {
                let deadline = match (&run.trigger, run.attempts.is_empty()) {
                    (Trigger::Schedule { at, schedule_id }, true) => job
                        .schedules
                        .iter()
                        .find(|s| &s.id == schedule_id)
                        .map(|s| plus_secs(*at, s.starting_deadline_secs)),
                    _ => None,
                }
                .unwrap_or(plus_secs(run.created_at, job.run.max_launch_delay_secs));
                if now > deadline && !job.disabled {
                    let mut run = run.clone();
                    let never = run.attempts.is_empty();
                    miss(&mut run, now, "not started before its deadline");
                    run.missed = never;
                    history.record(&run, now);
                    finished.push(run.id.clone());
                    plan.update.push(run);
                }
            }
            RunStatus::Starting | RunStatus::Active if !run.killing => {
                let Some(max) = job.run.max_completion_secs else {
                    continue;
                };
                let Some(attempt) = run.live_attempt() else {
                    continue;
                };
                let began = run
                    .attempts
                    .first()
                    .map(|a| a.launched_at)
                    .unwrap_or(attempt.launched_at);
                if (now - began).num_seconds() >= max as i64 {
                    let mut run = run.clone();
                    run.killing = true;
                    run.reason = Some("exceeded maxCompletionTime".into());
                    plan.kills.push(Kill {
                        task_id: attempt.task_id.clone(),
                        agent_id: attempt.agent_id.clone(),
                    });
                    plan.update.push(run);
                }
            }
            _ => {}
        }
    }
    if !finished.is_empty() {
        plan.history.push((job.id.clone(), history));
        retention(books, &job.id, &plan)
            .into_iter()
            .for_each(|d| plan.delete.push(d));
    }
    plan
}

fn miss(run: &mut Run, now: DateTime<Utc>, why: &str) {
    run.status = RunStatus::Failed;
    run.missed = true;
    run.completed_at = Some(now);
    run.reason = Some(why.to_owned());
}

/// Finished runs beyond the retention, oldest first, counting those the
/// plan finishes.
fn retention(books: &Books, job: &str, plan: &Plan) -> Vec<(String, String)> {
    let mut finished: BTreeMap<String, (DateTime<Utc>, String)> = BTreeMap::new();
    for r in books.runs.get(job).into_iter().flat_map(|r| r.values()) {
        if r.status.is_done() {
            finished.insert(
                r.id.clone(),
                (r.completed_at.unwrap_or(r.created_at), r.id.clone()),
            );
        }
    }
    for r in plan
        .create
        .iter()
        .chain(&plan.update)
        .filter(|r| r.job == job)
    {
        if r.status.is_done() {
            finished.insert(
                r.id.clone(),
                (r.completed_at.unwrap_or(r.created_at), r.id.clone()),
            );
        } else {
            finished.remove(&r.id);
        }
    }
    let mut by_time: Vec<_> = finished.into_values().collect();
    by_time.sort();
    let excess = by_time.len().saturating_sub(books.retention.max(1));
    by_time
        .into_iter()
        .take(excess)
        .map(|(_, id)| (job.to_owned(), id))
        .collect()
}

/// A run to start now (manual trigger).
pub fn trigger(
    books: &Books,
    job: &str,
    id: String,
    args: Vec<String>,
    now: DateTime<Utc>,
) -> Option<Plan> {
    books.jobs.get(job)?;
    Some(Plan {
        create: vec![Run {
            id,
            job: job.to_owned(),
            status: RunStatus::Initial,
            trigger: Trigger::Manual,
            created_at: now,
            completed_at: None,
            attempts: vec![],
            retries: 0,
            missed: false,
            reason: None,
            args,
            killing: false,
        }],
        ..Default::default()
    })
}

/// Records that attempt `task_id` of a pending run is being launched on
/// `agent_id` (committed before the ACCEPT is sent).
pub fn launching(
    books: &Books,
    job: &str,
    run: &str,
    agent_id: &str,
    now: DateTime<Utc>,
) -> Option<(Plan, String)> {
    let mut run = books.run(job, run)?.clone();
    if run.status != RunStatus::Initial {
        return None;
    }
    let task_id = run.task_id(run.attempts.len());
    run.attempts.push(Attempt {
        task_id: task_id.clone(),
        agent_id: Some(agent_id.to_owned()),
        launched_at: now,
        started_at: None,
        completed_at: None,
        state: "TASK_STAGING".into(),
    });
    run.status = RunStatus::Starting;
    Some((
        Plan {
            update: vec![run],
            ..Default::default()
        },
        task_id,
    ))
}

/// What a task status means for its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Staging/starting: nothing changes.
    Pending,
    /// Running.
    Running,
    /// Finished with exit 0.
    Finished,
    /// Failed, killed, lost, errored.
    Failed,
    /// The master does not know it (reconciliation): the launch never
    /// reached it; launch again without counting a retry.
    Unknown,
}

/// Maps a Mesos task state name to an outcome; `reconciled` is true for
/// answers to reconciliation (`REASON_RECONCILIATION`).
pub fn outcome(state: &str, reconciled: bool) -> TaskOutcome {
    match state {
        "TASK_STAGING" | "TASK_STARTING" => TaskOutcome::Pending,
        "TASK_RUNNING" => TaskOutcome::Running,
        "TASK_FINISHED" => TaskOutcome::Finished,
        "TASK_LOST" | "TASK_DROPPED" | "TASK_UNKNOWN" | "TASK_GONE" if reconciled => {
            TaskOutcome::Unknown
        }
        "TASK_UNREACHABLE" => TaskOutcome::Pending,
        _ => TaskOutcome::Failed,
    }
}

/// The effect of a status update for `task_id` (None: not ours, or stale).
pub fn on_status(
    books: &Books,
    task_id: &str,
    state: &str,
    reconciled: bool,
    now: DateTime<Utc>,
) -> Option<Plan> {
    let (run_id, n, job_id) = crate::run::parse_task_id(task_id)?;
    let job = books.jobs.get(&job_id)?;
    let mut run = books.run(&job_id, &run_id)?.clone();
    // Only the run's latest attempt moves it; older ones are history.
    if n + 1 != run.attempts.len() || run.status.is_done() {
        return None;
    }
    let out = outcome(state, reconciled);
    let attempt = run.attempts.last_mut()?;
    if attempt.state == state && out != TaskOutcome::Unknown {
        return None;
    }
    attempt.state = state.to_owned();
    let mut plan = Plan::default();
    match out {
        TaskOutcome::Pending => {}
        TaskOutcome::Running => {
            attempt.started_at.get_or_insert(now);
            run.status = RunStatus::Active;
        }
        TaskOutcome::Unknown => {
            if attempt.started_at.is_some() {
                // It did run once: it is lost, a failure.
                return finish_failed(books, job, run, now);
            }
            run.attempts.pop();
            run.status = RunStatus::Initial;
        }
        TaskOutcome::Finished => {
            attempt.completed_at = Some(now);
            run.status = RunStatus::Success;
            run.completed_at = Some(now);
            run.killing = false;
            let mut history = books.history.get(&job_id).cloned().unwrap_or_default();
            history.record(&run, now);
            plan.history.push((job_id.clone(), history));
            children(books, &job_id, now, &mut plan);
            plan.update.push(run);
            plan.delete = retention(books, &job_id, &plan);
            return Some(plan);
        }
        TaskOutcome::Failed => {
            attempt.completed_at = Some(now);
            let started = run.attempts.first().map(|a| a.launched_at).unwrap_or(now);
            if !run.killing && job.run.restart.may_retry(run.retries, started, now) && !job.disabled
            {
                run.retries += 1;
                run.status = RunStatus::Initial;
            } else {
                return finish_failed(books, job, run, now);
            }
        }
    }
    plan.update.push(run);
    Some(plan)
}

fn finish_failed(books: &Books, job: &Job, mut run: Run, now: DateTime<Utc>) -> Option<Plan> {
    if let Some(a) = run.attempts.last_mut() {
        a.completed_at.get_or_insert(now);
    }
    run.status = RunStatus::Failed;
    run.completed_at = Some(now);
    let mut plan = Plan::default();
    let mut history = books.history.get(&job.id).cloned().unwrap_or_default();
    history.record(&run, now);
    plan.history.push((job.id.clone(), history));
    plan.update.push(run);
    plan.delete = retention(books, &job.id, &plan);
    Some(plan)
}

/// A parent succeeded: moves its children's progress, and creates the run
/// of each child whose parents have all succeeded in this cycle.
fn children(books: &Books, parent: &str, now: DateTime<Utc>, plan: &mut Plan) {
    for child in children_of(&books.jobs, parent) {
        let job = &books.jobs[&child];
        let mut p = books.progress.get(&child).cloned().unwrap_or_default();
        p.done.insert(parent.to_owned());
        if job.parents.iter().all(|x| p.done.contains(x)) {
            p.cycle += 1;
            p.done.clear();
            if !job.disabled {
                plan.create.push(Run {
                    id: format!("cycle-{:06}", p.cycle),
                    job: child.clone(),
                    status: RunStatus::Initial,
                    trigger: Trigger::Parents { cycle: p.cycle },
                    created_at: now,
                    completed_at: None,
                    attempts: vec![],
                    retries: 0,
                    missed: false,
                    reason: None,
                    args: vec![],
                    killing: false,
                });
            }
        }
        plan.progress.push((child, p));
    }
}

/// Chronos `PUT /job/success/{name}`: counts a success without a run and
/// triggers the children.
pub fn mark_success(books: &Books, job: &str, now: DateTime<Utc>) -> Option<Plan> {
    books.jobs.get(job)?;
    let mut plan = Plan::default();
    let mut history = books.history.get(job).cloned().unwrap_or_default();
    history.success_count += 1;
    history.errors_since_last_success = 0;
    history.last_success_at = Some(now);
    plan.history.push((job.to_owned(), history));
    children(books, job, now, &mut plan);
    Some(plan)
}

/// Stops a run: a pending one fails at once, a launched one is killed (its
/// end fails it, with no retry).
pub fn stop(books: &Books, job: &str, run: &str, now: DateTime<Utc>) -> Option<Plan> {
    let mut run = books.run(job, run)?.clone();
    if run.status.is_done() {
        return Some(Plan::default());
    }
    run.reason = Some("stopped".into());
    if let Some(a) = run.live_attempt() {
        let kill = Kill {
            task_id: a.task_id.clone(),
            agent_id: a.agent_id.clone(),
        };
        run.killing = true;
        return Some(Plan {
            update: vec![run],
            kills: vec![kill],
            ..Default::default()
        });
    }
    let job = books.jobs.get(job)?;
    finish_failed(books, job, run, now)
}

/// `t` plus `secs`, saturating at the latest representable time: a bound
/// a client (or an old record) set never panics the core.
fn plus_secs(t: DateTime<Utc>, secs: u64) -> DateTime<Utc> {
    i64::try_from(secs)
        .ok()
        .and_then(Duration::try_seconds)
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::tests::{every, job};
    use crate::job::{Restart, RestartPolicy};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn books(jobs: Vec<Job>) -> Books {
        let mut b = Books::new(10);
        for j in jobs {
            b.put_job(j);
        }
        b
    }

    fn commit(b: &mut Books, f: impl FnOnce(&Books) -> Vec<Plan>) -> Vec<Plan> {
        let plans = f(b);
        for p in &plans {
            b.apply(p);
        }
        plans
    }

    fn run_ids(b: &Books, job: &str) -> Vec<String> {
        b.runs
            .get(job)
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn tick_records_each_scheduled_time_once() {
        let mut j = job("a");
        every(&mut j, "R/2025-01-01T00:00:00Z/PT1S");
        let mut b = books(vec![j]);
        let plans = commit(&mut b, |b| tick(b, t("2025-01-01T00:00:02.5Z")));
        assert_eq!(plans.len(), 1);
        assert_eq!(
            run_ids(&b, "a"),
            vec!["20250101T000000Z", "20250101T000001Z", "20250101T000002Z"]
        );
        assert_eq!(b.cursors["a"], t("2025-01-01T00:00:02Z"));
        // The same instant again: nothing new. A bit later: only the new one.
        assert!(tick(&b, t("2025-01-01T00:00:02.9Z")).is_empty());
        let plans = commit(&mut b, |b| tick(b, t("2025-01-01T00:00:03Z")));
        assert_eq!(plans[0].create.len(), 1);
        assert_eq!(plans[0].create[0].id, "20250101T000003Z");
    }

    #[test]
    fn late_times_are_recorded_as_missed() {
        let mut j = job("a");
        every(&mut j, "R/2025-01-01T00:00:00Z/PT30S"); // deadline 60 s
        let mut b = books(vec![j]);
        commit(&mut b, |b| tick(b, t("2025-01-01T00:01:45Z")));
        let runs = &b.runs["a"];
        let missed: Vec<_> = runs
            .values()
            .filter(|r| r.missed)
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(missed, vec!["20250101T000000Z", "20250101T000030Z"]);
        assert_eq!(
            b.pending().len(),
            2,
            "00:01:00 and 00:01:30 are within the deadline"
        );
        assert_eq!(b.history["a"].missed_count, 2);
        assert_eq!(b.history["a"].failure_count, 2);
        // A pending run that never starts misses too, once past the deadline.
        commit(&mut b, |b| tick(b, t("2025-01-01T00:02:01Z")));
        assert!(b.runs["a"]["20250101T000100Z"].missed);
        assert_eq!(b.runs["a"]["20250101T000130Z"].status, RunStatus::Initial);
    }

    #[test]
    fn forbid_skips_while_a_run_is_active() {
        let mut j = job("f");
        every(&mut j, "R/2025-01-01T00:00:00Z/PT10S");
        j.schedules[0].concurrency = Concurrency::Forbid;
        let mut b = books(vec![j]);
        commit(&mut b, |b| tick(b, t("2025-01-01T00:00:00Z")));
        let (p, task) = launching(
            &b,
            "f",
            "20250101T000000Z",
            "agent",
            t("2025-01-01T00:00:01Z"),
        )
        .unwrap();
        b.apply(&p);
        commit(&mut b, |b| tick(b, t("2025-01-01T00:00:10Z")));
        let second = &b.runs["f"]["20250101T000010Z"];
        assert!(second.missed && second.status == RunStatus::Failed);
        let p = on_status(&b, &task, "TASK_FINISHED", false, t("2025-01-01T00:00:15Z")).unwrap();
        b.apply(&p);
        commit(&mut b, |b| tick(b, t("2025-01-01T00:00:20Z")));
        assert_eq!(b.runs["f"]["20250101T000020Z"].status, RunStatus::Initial);
    }

    #[test]
    fn retries_then_fails() {
        let mut j = job("r");
        j.run.restart = Restart {
            policy: RestartPolicy::OnFailure,
            active_deadline_secs: None,
            max_retries: Some(2),
        };
        let mut b = books(vec![j]);
        let now = t("2025-01-01T00:00:00Z");
        b.apply(&trigger(&b, "r", "m1".into(), vec![], now).unwrap());
        for attempt in 0..3 {
            let (p, task) = launching(&b, "r", "m1", "agent", now).unwrap();
            assert_eq!(task, format!("ct:m1:{attempt}:r"));
            b.apply(&p);
            b.apply(&on_status(&b, &task, "TASK_RUNNING", false, now).unwrap());
            assert_eq!(b.runs["r"]["m1"].status, RunStatus::Active);
            b.apply(&on_status(&b, &task, "TASK_FAILED", false, now).unwrap());
        }
        let run = &b.runs["r"]["m1"];
        assert_eq!(
            (run.status, run.retries, run.attempts.len()),
            (RunStatus::Failed, 2, 3)
        );
        assert_eq!(b.history["r"].failure_count, 1);
        assert!(launching(&b, "r", "m1", "agent", now).is_none());
        // A stale update of an old attempt changes nothing.
        assert!(on_status(&b, "ct:m1:0:r", "TASK_FINISHED", false, now).is_none());
    }

    #[test]
    fn reconciliation_of_a_launch_that_never_arrived_relaunches() {
        let mut b = books(vec![job("x")]);
        let now = t("2025-01-01T00:00:00Z");
        b.apply(&trigger(&b, "x", "m".into(), vec![], now).unwrap());
        let (p, task) = launching(&b, "x", "m", "agent", now).unwrap();
        b.apply(&p);
        b.apply(&on_status(&b, &task, "TASK_LOST", true, now).unwrap());
        let run = &b.runs["x"]["m"];
        assert_eq!(
            (run.status, run.retries, run.attempts.len()),
            (RunStatus::Initial, 0, 0)
        );
    }

    #[test]
    fn chain_runs_children_once_per_cycle_and_not_after_failure() {
        let mut a = job("a");
        every(&mut a, "R/2025-01-01T00:00:00Z/PT1H");
        let mut b1 = job("b");
        b1.parents = vec!["a".into()];
        let mut c = job("c");
        c.parents = vec!["b".into(), "a".into()];
        let mut b = books(vec![a, b1, c]);
        let now = t("2025-01-01T00:00:00Z");
        let succeed = |b: &mut Books, job: &str, run: &str| {
            let (p, task) = launching(b, job, run, "agent", now).unwrap();
            b.apply(&p);
            let p = on_status(b, &task, "TASK_FINISHED", false, now).unwrap();
            b.apply(&p);
        };
        commit(&mut b, |b| tick(b, now));
        succeed(&mut b, "a", "20250101T000000Z");
        assert_eq!(run_ids(&b, "b"), vec!["cycle-000001"]);
        assert!(run_ids(&b, "c").is_empty(), "c waits for b too");
        assert_eq!(b.progress["c"].done.len(), 1);
        succeed(&mut b, "b", "cycle-000001");
        assert_eq!(run_ids(&b, "c"), vec!["cycle-000001"]);
        assert!(b.progress["c"].done.is_empty());
        // Next cycle: b fails, so c does not run.
        commit(&mut b, |b| tick(b, t("2025-01-01T01:00:00Z")));
        succeed(&mut b, "a", "20250101T010000Z");
        let (p, task) = launching(&b, "b", "cycle-000002", "agent", now).unwrap();
        b.apply(&p);
        b.apply(&on_status(&b, &task, "TASK_FAILED", false, now).unwrap());
        assert_eq!(run_ids(&b, "c"), vec!["cycle-000001"]);
        // Marking b successful by hand completes c's cycle.
        b.apply(&mark_success(&b, "b", now).unwrap());
        assert_eq!(run_ids(&b, "c"), vec!["cycle-000001", "cycle-000002"]);
    }

    #[test]
    fn max_completion_time_kills_and_fails_without_retry() {
        let mut j = job("slow");
        j.run.max_completion_secs = Some(10);
        j.run.restart.policy = RestartPolicy::OnFailure;
        let mut b = books(vec![j]);
        let now = t("2025-01-01T00:00:00Z");
        b.apply(&trigger(&b, "slow", "m".into(), vec![], now).unwrap());
        let (p, task) = launching(&b, "slow", "m", "agent-1", now).unwrap();
        b.apply(&p);
        assert!(tick(&b, t("2025-01-01T00:00:09Z")).is_empty());
        let plans = commit(&mut b, |b| tick(b, t("2025-01-01T00:00:10Z")));
        assert_eq!(
            plans[0].kills,
            vec![Kill {
                task_id: task.clone(),
                agent_id: Some("agent-1".into())
            }]
        );
        assert!(
            tick(&b, t("2025-01-01T00:00:11Z")).is_empty(),
            "killed once"
        );
        b.apply(&on_status(&b, &task, "TASK_KILLED", false, now).unwrap());
        assert_eq!(b.runs["slow"]["m"].status, RunStatus::Failed);
    }

    #[test]
    fn huge_delays_from_old_records_saturate_instead_of_panicking() {
        // Records written before the bounds (issue 20): maxLaunchDelay and
        // startingDeadlineSeconds of 10^16 s crashed every start.
        let mut j = job("huge");
        every(&mut j, "R/2025-01-01T00:00:00Z/PT1H");
        j.run.max_launch_delay_secs = 10_000_000_000_000_000;
        j.schedules[0].starting_deadline_secs = u64::MAX;
        let mut b = books(vec![j]);
        let now = t("2025-01-01T00:00:00Z");
        b.apply(&trigger(&b, "huge", "m".into(), vec![], now).unwrap());
        commit(&mut b, |b| tick(b, now));
        commit(&mut b, |b| tick(b, t("2025-01-01T05:00:00Z")));
        assert!(
            b.runs["huge"].values().all(|r| !r.missed),
            "nothing is late"
        );
    }

    #[test]
    fn retention_drops_oldest_finished_runs() {
        let mut j = job("k");
        every(&mut j, "R/2025-01-01T00:00:00Z/PT1S");
        j.schedules[0].starting_deadline_secs = 0;
        let mut b = books(vec![j]);
        b.retention = 3;
        // 10 s late: all 10 missed, only 3 kept.
        commit(&mut b, |b| tick(b, t("2025-01-01T00:00:10Z")));
        assert_eq!(
            b.runs["k"].values().filter(|r| r.status.is_done()).count(),
            3
        );
        assert_eq!(b.history["k"].failure_count, 10);
    }

    #[test]
    fn merged_plans_keep_the_last_version_of_each_record() {
        let mut j = job("m");
        every(&mut j, "R/2025-01-01T00:00:00Z/PT1S");
        let mut b = books(vec![j, job("n")]);
        let now = t("2025-01-01T00:00:00Z");
        let mut plans = tick(&b, now);
        b.apply(&plans[0]);
        let (p, task) = launching(&b, "m", "20250101T000000Z", "agent", now).unwrap();
        b.apply(&p);
        plans.push(p);
        let p = on_status(&b, &task, "TASK_RUNNING", false, now).unwrap();
        b.apply(&p);
        plans.push(p);
        let merged = Plan::batch(plans, 120);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].create.len(), 1);
        assert_eq!(merged[0].create[0].status, RunStatus::Active);
        assert!(merged[0].update.is_empty());
        assert_eq!(
            Plan::batch(vec![merged[0].clone(), merged[0].clone()], 3).len(),
            2
        );
    }

    #[test]
    fn disabled_jobs_do_not_fire() {
        let mut j = job("d");
        every(&mut j, "R/2025-01-01T00:00:00Z/PT1S");
        j.disabled = true;
        let b = books(vec![j]);
        assert!(tick(&b, t("2025-01-01T00:00:05Z")).is_empty());
    }
}
