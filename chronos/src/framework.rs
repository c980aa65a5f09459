//! The runtime: the Mesos framework that carries out the core's plans.
//!
//! [`Engine`] holds the books (a mirror of the store) behind one async
//! mutex; every change — from the API, the clock or the master — is a
//! [`Plan`] committed to the store first and applied to the books after.
//! [`lead`] is what the elected leader runs until it loses leadership:
//!
//! * **tick** (every 100 ms, or at once when the API wakes it): the core's
//!   [`tick`] plans are committed — scheduled runs recorded, late ones
//!   recorded as missed, overdue ones killed;
//! * **offers**: pending runs (INITIAL) are matched against offers
//!   (resources, constraints); each launch is recorded as STARTING with its
//!   task id *before* the ACCEPT, so a new leader reconciles it instead of
//!   launching a second task; unused offers are declined with a filter; with
//!   nothing pending the framework suppresses offers, and revives when a
//!   run becomes pending;
//! * **status updates** go through [`on_status`] (retries, success,
//!   children) and are acknowledged after the plan is committed;
//! * on every (re)subscription, the live tasks of the books are reconciled
//!   with the master.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dcos_api::client::{Scheduler, SchedulerConfig, SchedulerEvent, SchedulerHandle};
use dcos_api::resources::{carve_scalars, fixed_point};
use dcos_api::scheduler::{Event, ReconcileTask};
use dcos_api::v1::{
    AgentId, CommandInfo, ContainerInfo, Environment, Filters, FrameworkId, FrameworkInfo, Image,
    Label, Labels, MesosInfo, Offer, OfferId, OfferOperation, Resource, TaskId, TaskInfo,
    TaskStatus, Uri,
};
use dcos_store::Leadership;
use futures::FutureExt;
use tokio::sync::{Mutex, Notify};

use crate::core::{launching, on_status, tick, Books, Kill, Plan};
use crate::job::{Constraint, Job, Operator};
use crate::run::Run;
use crate::store::{Store, StoreError};

/// Store operations per transaction we aim for (the store allows 128).
const MAX_PLAN_OPS: usize = 120;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Runs recorded (any trigger).
    pub runs_created: AtomicU64,
    /// Runs recorded as missed.
    pub runs_missed: AtomicU64,
    /// Tasks launched.
    pub tasks_launched: AtomicU64,
    /// Runs that succeeded.
    pub runs_succeeded: AtomicU64,
    /// Runs that failed.
    pub runs_failed: AtomicU64,
    /// Store conflicts (books reloaded).
    pub conflicts: AtomicU64,
}

/// Shared state of one Chronos process.
#[derive(Debug)]
pub struct Engine {
    /// The books; `None` while we do not lead.
    pub books: Mutex<Option<Books>>,
    store: Mutex<Option<Store>>,
    handle: std::sync::Mutex<Option<SchedulerHandle>>,
    /// Wakes the leader loop (a run became pending, a job changed).
    pub wake: Notify,
    /// Whether we lead.
    pub leading: AtomicBool,
    /// Counters.
    pub counters: Counters,
    /// Finished runs kept per job.
    pub retention: usize,
}

impl Engine {
    /// A standby engine.
    pub fn new(retention: usize) -> Arc<Self> {
        Arc::new(Engine {
            books: Mutex::new(None),
            store: Mutex::new(None),
            handle: std::sync::Mutex::new(None),
            wake: Notify::new(),
            leading: AtomicBool::new(false),
            counters: Counters::default(),
            retention,
        })
    }

    /// Becomes the leader with `store` (fenced) and its books.
    pub async fn take_over(&self, store: Store) -> Result<(), StoreError> {
        let books = store.load(self.retention).await?;
        *self.books.lock().await = Some(books);
        *self.store.lock().await = Some(store);
        self.leading.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Stops leading: forgets the books.
    pub async fn step_down(&self) {
        self.leading.store(false, Ordering::SeqCst);
        *self.books.lock().await = None;
        *self.store.lock().await = None;
        *self.handle.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The store, while leading.
    pub async fn store(&self) -> Option<Store> {
        self.store.lock().await.clone()
    }

    /// Commits `plan` and applies it to `books`; on a conflict reloads the
    /// books from the store. Sends the plan's kills after the commit.
    pub async fn commit(&self, books: &mut Books, plan: &Plan) -> Result<(), StoreError> {
        let Some(store) = self.store().await else {
            return Err(StoreError::Conflict);
        };
        match store.commit(plan).await {
            Ok(()) => {
                books.apply(plan);
                self.count(plan);
                self.kill_all(&plan.kills).await;
                Ok(())
            }
            Err(StoreError::Conflict) => {
                self.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                if let Ok(fresh) = store.load(self.retention).await {
                    *books = fresh;
                }
                Err(StoreError::Conflict)
            }
            Err(e) => Err(e),
        }
    }

    /// Commits plans already applied to `books`, in order; on any failure
    /// reloads the books from the store (undoing the rest) and fails.
    pub async fn commit_applied(
        &self,
        books: &mut Books,
        plans: Vec<Plan>,
    ) -> Result<(), StoreError> {
        let Some(store) = self.store().await else {
            return Err(StoreError::Conflict);
        };
        for plan in plans {
            if let Err(e) = store.commit(&plan).await {
                if matches!(e, StoreError::Conflict) {
                    self.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                }
                if let Ok(fresh) = store.load(self.retention).await {
                    *books = fresh;
                }
                return Err(e);
            }
            self.count(&plan);
            self.kill_all(&plan.kills).await;
        }
        Ok(())
    }

    fn count(&self, plan: &Plan) {
        let c = &self.counters;
        for run in &plan.create {
            c.runs_created.fetch_add(1, Ordering::Relaxed);
            if run.missed {
                c.runs_missed.fetch_add(1, Ordering::Relaxed);
            }
        }
        for run in plan.update.iter().chain(&plan.create) {
            match run.status {
                crate::run::RunStatus::Success => {
                    c.runs_succeeded.fetch_add(1, Ordering::Relaxed);
                }
                crate::run::RunStatus::Failed => {
                    c.runs_failed.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }

    fn scheduler(&self) -> Option<SchedulerHandle> {
        self.handle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn kill_all(&self, kills: &[Kill]) {
        let Some(handle) = self.scheduler() else {
            return;
        };
        for k in kills {
            let agent = k.agent_id.clone().map(AgentId::new);
            if let Err(e) = handle
                .kill(TaskId::new(k.task_id.clone()), agent, None)
                .await
            {
                tracing::warn!(task = %k.task_id, error = %e, "kill failed");
            }
        }
    }
}

/// How the framework registers.
#[derive(Debug, Clone)]
pub struct FrameworkConfig {
    /// Master URLs.
    pub masters: Vec<String>,
    /// Framework name.
    pub name: String,
    /// Our advertised URL (`webui_url`).
    pub webui_url: String,
}

/// Runs the leader's work until `leadership` is lost (or the scheduler
/// closes). The engine must have taken over already.
pub async fn lead(
    engine: Arc<Engine>,
    config: FrameworkConfig,
    leadership: &Leadership,
) -> anyhow::Result<()> {
    let store = engine
        .store()
        .await
        .ok_or_else(|| anyhow::anyhow!("not leading"))?;
    let mut info = FrameworkInfo::new("root", config.name.clone());
    info.failover_timeout = Some(7.0 * 86_400.0);
    info.checkpoint = Some(true);
    info.webui_url = Some(config.webui_url.clone());
    info.id = store.framework_id().await?.map(FrameworkId::new);
    let mut sc = SchedulerConfig::new(config.masters.clone(), info);
    sc.backoff_max = Duration::from_secs(2);
    let mut scheduler = Scheduler::start(sc)?;
    *engine.handle.lock().unwrap_or_else(|e| e.into_inner()) = Some(scheduler.handle());
    let mut worker = Worker {
        engine: engine.clone(),
        handle: scheduler.handle(),
        suppressed: false,
    };
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let result = loop {
        tokio::select! {
            () = leadership.lost() => break Ok(()),
            _ = ticker.tick() => worker.tick().await,
            () = engine.wake.notified() => worker.tick().await,
            event = scheduler.recv() => {
                let Some(first) = event else {
                    break Err(anyhow::anyhow!("scheduler closed"));
                };
                // Take whatever else is queued, so status updates are
                // recorded in one transaction (group commit).
                let mut batch = vec![first];
                while batch.len() < 1024 {
                    match scheduler.recv().now_or_never() {
                        Some(Some(e)) => batch.push(e),
                        _ => break,
                    }
                }
                if let Some(reason) = worker.on_events(batch).await {
                    break Err(anyhow::anyhow!("scheduler closed: {reason:?}"));
                }
            }
        }
    };
    engine.step_down().await;
    scheduler.stop().await;
    result
}

struct Worker {
    engine: Arc<Engine>,
    handle: SchedulerHandle,
    suppressed: bool,
}

impl Worker {
    async fn tick(&mut self) {
        let mut guard = self.engine.books.lock().await;
        let Some(books) = guard.as_mut() else {
            return;
        };
        let now = Utc::now();
        // Plans of different jobs are independent: commit them in as few
        // transactions as fit. A conflict reloads the books; the next tick
        // plans again from what the store holds.
        for plan in Plan::batch(tick(books, now), MAX_PLAN_OPS) {
            if let Err(e) = self.engine.commit(books, &plan).await {
                tracing::warn!(error = %e, "tick plan not committed");
                break;
            }
        }
        let pending = !books.pending().is_empty();
        drop(guard);
        if pending && self.suppressed && self.handle.is_connected() {
            self.suppressed = false;
            if let Err(e) = self.handle.revive(Vec::new()).await {
                tracing::warn!(error = %e, "revive failed");
                self.suppressed = true;
            }
        }
    }

    /// Handles a batch in order; consecutive status updates together.
    /// Returns why the scheduler closed, if it did.
    async fn on_events(&mut self, batch: Vec<SchedulerEvent>) -> Option<String> {
        let mut updates = Vec::new();
        for event in batch {
            match event {
                SchedulerEvent::Event(Event::Update(u)) => updates.push(u.status),
                SchedulerEvent::Closed { reason } => {
                    self.on_updates(std::mem::take(&mut updates)).await;
                    return Some(format!("{reason:?}"));
                }
                other => {
                    self.on_updates(std::mem::take(&mut updates)).await;
                    self.on_event(other).await;
                }
            }
        }
        self.on_updates(updates).await;
        None
    }

    async fn on_event(&mut self, event: SchedulerEvent) {
        match event {
            SchedulerEvent::Connected { framework_id, .. } => {
                if let Some(store) = self.engine.store().await {
                    if let Err(e) = store.set_framework_id(framework_id.as_str()).await {
                        tracing::warn!(error = %e, "could not store the framework id");
                    }
                }
                self.suppressed = false;
                self.reconcile().await;
            }
            SchedulerEvent::Event(Event::Offers(offers)) => self.on_offers(offers.offers).await,
            SchedulerEvent::Event(Event::Update(update)) => {
                self.on_updates(vec![update.status]).await
            }
            _ => {}
        }
    }

    async fn reconcile(&self) {
        let guard = self.engine.books.lock().await;
        let Some(books) = guard.as_ref() else {
            return;
        };
        let tasks: Vec<ReconcileTask> = books
            .runs
            .values()
            .flat_map(|r| r.values())
            .filter_map(|r| r.live_attempt())
            .map(|a| ReconcileTask {
                task_id: TaskId::new(a.task_id.clone()),
                agent_id: a.agent_id.clone().map(AgentId::new),
            })
            .collect();
        drop(guard);
        if !tasks.is_empty() {
            tracing::info!(tasks = tasks.len(), "reconciling live tasks");
            if let Err(e) = self.handle.reconcile(tasks).await {
                tracing::warn!(error = %e, "reconcile failed");
            }
        }
    }

    /// Records status updates: each plan is computed from the books as
    /// the previous one left them, all are committed together, and only
    /// then acknowledged (a failed commit reloads the books and leaves the
    /// updates unacknowledged: the agents send them again).
    async fn on_updates(&mut self, statuses: Vec<TaskStatus>) {
        if statuses.is_empty() {
            return;
        }
        {
            let mut guard = self.engine.books.lock().await;
            let Some(books) = guard.as_mut() else {
                return;
            };
            let now = Utc::now();
            let mut plans = Vec::new();
            for status in &statuses {
                let reconciled = status
                    .reason
                    .is_some_and(|r| r == dcos_api::v1::Reason::Reconciliation);
                if let Some(plan) = on_status(
                    books,
                    status.task_id.as_str(),
                    status.state.as_str(),
                    reconciled,
                    now,
                ) {
                    books.apply(&plan);
                    plans.push(plan);
                }
            }
            if let Err(e) = self
                .engine
                .commit_applied(books, Plan::batch(plans, MAX_PLAN_OPS))
                .await
            {
                tracing::warn!(error = %e, "status updates not recorded");
                return;
            }
        }
        let handle = &self.handle;
        let acks = statuses.iter().map(|s| handle.acknowledge_status(s));
        for r in futures::future::join_all(acks).await {
            if let Err(e) = r {
                tracing::debug!(error = %e, "acknowledge failed");
            }
        }
        self.engine.wake.notify_one();
    }

    async fn on_offers(&mut self, offers: Vec<Offer>) {
        let mut filters = Some(Filters::refuse(5.0));
        let mut accepts: Vec<(OfferId, Vec<TaskInfo>)> = Vec::new();
        let mut declines = Vec::new();
        {
            let mut guard = self.engine.books.lock().await;
            let Some(books) = guard.as_mut() else {
                return;
            };
            let now = Utc::now();
            let pending: Vec<(String, String)> = books
                .pending()
                .iter()
                .map(|r| (r.job.clone(), r.id.clone()))
                .collect();
            let mut queue = pending;
            let mut plans = Vec::new();
            let mut launches: Vec<(usize, TaskInfo)> = Vec::new();
            for (oi, offer) in offers.iter().enumerate() {
                let mut left = offer.resources.clone();
                let mut skipped = Vec::new();
                let mut next = queue.into_iter();
                for (job_id, run_id) in next.by_ref() {
                    let (Some(job), Some(run)) =
                        (books.jobs.get(&job_id), books.run(&job_id, &run_id))
                    else {
                        continue;
                    };
                    if !constraints_hold(&job.run.constraints, offer) {
                        skipped.push((job_id, run_id));
                        continue;
                    }
                    let needs = [
                        ("cpus", fixed_point(job.run.cpus)),
                        ("mem", fixed_point(job.run.mem)),
                        ("disk", fixed_point(job.run.disk)),
                    ];
                    let Some(resources) = carve_scalars(&mut left, &needs) else {
                        skipped.push((job_id, run_id));
                        continue;
                    };
                    let Some((p, task_id)) =
                        launching(books, &job_id, &run_id, offer.agent_id.as_str(), now)
                    else {
                        continue;
                    };
                    let task = task_info(job, run, &task_id, offer.agent_id.clone(), resources);
                    plans.push(p);
                    launches.push((oi, task));
                }
                // Runs that did not fit this offer may fit the next.
                queue = skipped.into_iter().chain(next).collect();
            }
            if !queue.is_empty() {
                // Runs are still waiting: offers that fit none of them now
                // may fit soon (resources free up as tasks end).
                filters = Some(Filters::refuse(1.0));
            }
            // Launches are independent: record them in as few transactions
            // as fit, before any ACCEPT.
            for p in &plans {
                books.apply(p);
            }
            if let Err(e) = self
                .engine
                .commit_applied(books, Plan::batch(plans, MAX_PLAN_OPS))
                .await
            {
                tracing::warn!(error = %e, "launches not recorded; declining");
                launches.clear();
            }
            let mut by_offer: BTreeMap<usize, Vec<TaskInfo>> = BTreeMap::new();
            for (oi, task) in launches {
                by_offer.entry(oi).or_default().push(task);
            }
            for (oi, offer) in offers.iter().enumerate() {
                match by_offer.remove(&oi) {
                    Some(tasks) => accepts.push((offer.id.clone(), tasks)),
                    None => declines.push(offer.id.clone()),
                }
            }
            self.engine.counters.tasks_launched.fetch_add(
                accepts.iter().map(|(_, t)| t.len() as u64).sum(),
                Ordering::Relaxed,
            );
        }
        let handle = &self.handle;
        let calls = accepts.into_iter().map(|(offer_id, tasks)| async move {
            handle
                .accept(
                    vec![offer_id],
                    vec![OfferOperation::launch(tasks)],
                    Some(Filters::refuse(1.0)),
                )
                .await
        });
        for r in futures::future::join_all(calls).await {
            if let Err(e) = r {
                // The tasks stay STARTING; reconciliation answers for them.
                tracing::warn!(error = %e, "accept failed");
            }
        }
        if !declines.is_empty() {
            let _ = self.handle.decline(declines, filters).await;
        }
        let idle = self
            .engine
            .books
            .lock()
            .await
            .as_ref()
            .is_none_or(|b| b.pending().is_empty());
        if idle && !self.suppressed {
            self.suppressed = true;
            if self.handle.suppress(Vec::new()).await.is_err() {
                self.suppressed = false;
            }
        }
    }
}

/// The TaskInfo of attempt `task_id` of `run`.
fn task_info(
    job: &Job,
    run: &Run,
    task_id: &str,
    agent_id: AgentId,
    resources: Vec<Resource>,
) -> TaskInfo {
    let (cmd, args) = job.command_line(&run.args);
    let mut command = match (cmd, job.run.shell) {
        (Some(cmd), true) => CommandInfo::shell(cmd),
        (cmd, _) => {
            let mut c = CommandInfo::shell(String::new());
            c.shell = Some(false);
            let value = cmd
                .clone()
                .or_else(|| args.first().cloned())
                .unwrap_or_default();
            c.arguments = if cmd.is_some() {
                std::iter::once(value.clone()).chain(args).collect()
            } else {
                args
            };
            c.value = Some(value);
            c
        }
    };
    let mut env: Vec<(String, String)> = job
        .run
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.push(("CHRONOS_JOB_NAME".into(), job.id.clone()));
    env.push(("CHRONOS_RUN_ID".into(), run.id.clone()));
    if let Some(at) = run.scheduled_at() {
        env.push((
            "CHRONOS_SCHEDULED_AT".into(),
            crate::schedule::format_instant(at),
        ));
    }
    command.environment = Some(Environment::from_pairs(env));
    command.uris = job
        .run
        .fetch
        .iter()
        .map(|a| Uri {
            value: a.uri.clone(),
            executable: Some(a.executable),
            extract: Some(a.extract),
            cache: Some(a.cache),
            output_file: None,
        })
        .collect();
    command.user = job.run.user.clone();
    let mut task = TaskInfo::command(job.id.clone(), TaskId::new(task_id), agent_id, command);
    task.resources = resources;
    task.container = container_info(&job.run);
    if !job.labels.is_empty() {
        task.labels = Some(Labels {
            labels: job
                .labels
                .iter()
                .map(|(k, v)| Label {
                    key: k.clone(),
                    value: Some(v.clone()),
                })
                .collect(),
        });
    }
    task
}

/// The container a run's task runs in: Metronome's `docker` (a DOCKER
/// container: the agent's Docker containerizer where an engine runs, else
/// its native one) or `ucr` (the Mesos containerizer with a Docker image).
pub(crate) fn container_info(run: &crate::job::RunSpec) -> Option<ContainerInfo> {
    if let Some(image) = &run.docker_image {
        return Some(ContainerInfo::docker(image.clone()));
    }
    let image = run.ucr_image.as_ref()?;
    let mut info = ContainerInfo::mesos();
    info.mesos = Some(MesosInfo {
        image: Some(Image::docker(image.clone())),
    });
    Some(info)
}

/// Whether an offer's agent satisfies every constraint.
pub fn constraints_hold(constraints: &[Constraint], offer: &Offer) -> bool {
    let attrs: HashMap<&str, String> = offer
        .attributes
        .iter()
        .map(|a| {
            let v = match (&a.text, &a.scalar) {
                (Some(t), _) => t.value.clone(),
                (None, Some(s)) => s.value.to_string(),
                _ => String::new(),
            };
            (a.name.as_str(), v)
        })
        .collect();
    constraints.iter().all(|c| {
        let value = if c.attribute == "hostname" {
            Some(offer.hostname.clone())
        } else {
            attrs.get(c.attribute.as_str()).cloned()
        };
        let matches = |v: &str| c.value.split('|').any(|alt| alt == v || alt == ".*");
        match (c.operator, value) {
            (Operator::Is, Some(v)) => v == c.value,
            (Operator::Like, Some(v)) => matches(&v),
            (Operator::Unlike, Some(v)) => !matches(&v),
            (Operator::Unlike, None) => true,
            (_, None) => false,
        }
    })
}
