//! A small framework for integration tests and benchmarks: launch N tasks
//! of one shape and watch what happens to them.
//!
//! [`TaskLauncher`] owns a [`Scheduler`] and runs its event loop:
//!
//! * **offers** are packed — as many pending tasks as fit go into one
//!   ACCEPT per offer, each task carved out of the offer's own resources
//!   (keeping their role, reservation and allocation), and offers that fit
//!   none are declined in one DECLINE with `refuse_seconds`; once nothing is
//!   pending the framework SUPPRESSes, and [`TaskLauncher::launch_more`]
//!   REVIVEs;
//! * **updates** are recorded per task, in arrival order, with the instant
//!   they arrived, and then acknowledged (unless the scheduler was started
//!   with `auto_acknowledge`, which acknowledges them itself);
//! * after every (re)subscription it asks for **explicit reconciliation** of
//!   the tasks it launched that are not terminal yet.
//!
//! Tests wait on the recorded state ([`TaskLauncher::wait_for`],
//! [`TaskLauncher::wait_until`]); benchmarks read the timestamps
//! ([`TaskHistory::launched`] to each [`StatusRecord::received`]).
//! It never relaunches a failed task: it records, it does not supervise.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{CloseReason, Scheduler, SchedulerEvent, SchedulerHandle};
use crate::resources::{carve_scalars, fixed_point};
use crate::scheduler::{Event, ReconcileTask};
use crate::v1::{
    AgentId, CommandInfo, Filters, FrameworkId, Offer, OfferId, OfferOperation, TaskId, TaskInfo,
    TaskState, TaskStatus,
};

/// What each task runs and needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// Shell command (`/bin/sh -c`).
    pub command: String,
    /// CPUs per task.
    pub cpus: f64,
    /// Memory per task, MiB.
    pub mem: f64,
    /// Disk per task, MiB (0: none asked for).
    pub disk: f64,
}

impl TaskSpec {
    /// A command task needing `cpus` and `mem` MiB, no disk.
    pub fn command(command: impl Into<String>, cpus: f64, mem: f64) -> Self {
        Self {
            command: command.into(),
            cpus,
            mem,
            disk: 0.0,
        }
    }

    /// The amounts to carve out of an offer, in fixed point.
    fn needs(&self) -> Vec<(&'static str, i64)> {
        [("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk)]
            .into_iter()
            .map(|(name, amount)| (name, fixed_point(amount)))
            .filter(|(_, amount)| *amount > 0)
            .collect()
    }
}

/// How many tasks to launch and how.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    /// The shape of every task.
    pub spec: TaskSpec,
    /// How many to launch at first (more with [`TaskLauncher::launch_more`]).
    pub count: usize,
    /// Task IDs are `<id_prefix>-<n>`, `n` from 0.
    pub id_prefix: String,
    /// `refuse_seconds` for declined offers and unused resources.
    pub refuse_seconds: f64,
}

impl LaunchPlan {
    /// `count` tasks of `spec`, IDs `task-<n>`, refusing leftovers for 5 s.
    pub fn new(spec: TaskSpec, count: usize) -> Self {
        Self {
            spec,
            count,
            id_prefix: "task".to_owned(),
            refuse_seconds: Filters::DEFAULT_REFUSE_SECONDS,
        }
    }
}

/// One status update as the launcher received it.
#[derive(Debug, Clone)]
pub struct StatusRecord {
    /// `status.state`, for convenience.
    pub state: TaskState,
    /// When the update arrived.
    pub received: Instant,
    /// The whole update.
    pub status: TaskStatus,
}

/// Everything known about one task.
#[derive(Debug, Clone)]
pub struct TaskHistory {
    /// The task.
    pub task_id: TaskId,
    /// Its agent (from the offer, or from its first update).
    pub agent_id: Option<AgentId>,
    /// When its ACCEPT was sent; `None` for tasks this launcher did not
    /// launch (learned through reconciliation).
    pub launched: Option<Instant>,
    /// Every update, in arrival order.
    pub statuses: Vec<StatusRecord>,
}

impl TaskHistory {
    /// The latest state.
    pub fn state(&self) -> Option<TaskState> {
        self.statuses.last().map(|s| s.state)
    }

    /// The states in arrival order.
    pub fn states(&self) -> Vec<TaskState> {
        self.statuses.iter().map(|s| s.state).collect()
    }

    /// The first update reaching `state`.
    pub fn first(&self, state: TaskState) -> Option<&StatusRecord> {
        self.statuses.iter().find(|s| s.state == state)
    }
}

/// The launcher's books, as [`TaskLauncher::snapshot`] shows them.
#[derive(Debug, Clone, Default)]
pub struct LauncherState {
    /// The framework's ID, once subscribed.
    pub framework_id: Option<FrameworkId>,
    /// Subscriptions so far (1 + resubscriptions).
    pub subscriptions: u32,
    /// Tasks wanted but not launched yet.
    pub pending: usize,
    /// Offers received.
    pub offers: u64,
    /// Offers declined whole.
    pub declined: u64,
    /// Task IDs in launch order.
    pub launch_order: Vec<TaskId>,
    /// Per task.
    pub tasks: BTreeMap<TaskId, TaskHistory>,
    /// Calls the master refused or that failed, as text.
    pub call_errors: Vec<String>,
    /// Set when the scheduler stopped.
    pub closed: Option<CloseReason>,
}

impl LauncherState {
    /// Launched tasks whose latest state is `state`.
    pub fn count_in(&self, state: TaskState) -> usize {
        self.tasks
            .values()
            .filter(|t| t.launched.is_some() && t.state() == Some(state))
            .count()
    }

    /// Whether `task_id` has reached `state` at some point.
    pub fn reached(&self, task_id: &TaskId, state: TaskState) -> bool {
        self.tasks
            .get(task_id)
            .is_some_and(|t| t.first(state).is_some())
    }
}

/// Why a wait ended without its condition.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WaitError {
    /// The condition did not hold in time.
    #[error("{what} not reached within {waited:?} (latest: {latest})")]
    Timeout {
        /// The condition.
        what: String,
        /// How long it waited.
        waited: Duration,
        /// The relevant latest state, as text.
        latest: String,
    },
    /// The scheduler stopped first.
    #[error("the scheduler stopped: {0}")]
    Closed(CloseReason),
    /// The launcher's task is gone.
    #[error("the launcher has stopped")]
    Stopped,
}

/// Launches tasks on offers and records their updates; see the module docs.
#[derive(Debug)]
pub struct TaskLauncher {
    handle: SchedulerHandle,
    state: watch::Receiver<LauncherState>,
    more: mpsc::UnboundedSender<usize>,
    task: Option<JoinHandle<()>>,
    cancel: CancellationToken,
    _stop_on_drop: DropGuard,
}

impl TaskLauncher {
    /// Takes over `scheduler`'s events and starts launching `plan`.
    pub fn start(scheduler: Scheduler, plan: LaunchPlan) -> Self {
        let handle = scheduler.handle();
        let (state_tx, state) = watch::channel(LauncherState {
            pending: plan.count,
            ..LauncherState::default()
        });
        let (more, more_rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let worker = Worker {
            handle: handle.clone(),
            next_id: 0,
            suppressed: false,
            plan,
            state: state_tx,
        };
        let task = tokio::spawn(worker.run(scheduler, more_rx, cancel.clone()));
        Self {
            handle,
            state,
            more,
            task: Some(task),
            _stop_on_drop: cancel.clone().drop_guard(),
            cancel,
        }
    }

    /// The scheduler handle, for calls of the test's own (KILL, …).
    pub fn handle(&self) -> SchedulerHandle {
        self.handle.clone()
    }

    /// Queues `n` more tasks of the same shape and REVIVEs offers.
    pub fn launch_more(&self, n: usize) {
        let _ = self.more.send(n);
    }

    /// A copy of the books.
    pub fn snapshot(&self) -> LauncherState {
        self.state.borrow().clone()
    }

    /// One task's history.
    pub fn history(&self, task_id: &TaskId) -> Option<TaskHistory> {
        self.state.borrow().tasks.get(task_id).cloned()
    }

    /// Every launched task's history, in launch order.
    pub fn histories(&self) -> Vec<TaskHistory> {
        let state = self.state.borrow();
        state
            .launch_order
            .iter()
            .filter_map(|id| state.tasks.get(id).cloned())
            .collect()
    }

    /// Waits until `task_id` has reached `state` (at any point, so a task
    /// already past it counts); returns that update.
    pub async fn wait_for(
        &self,
        task_id: &TaskId,
        state: TaskState,
        timeout: Duration,
    ) -> Result<StatusRecord, WaitError> {
        let what = format!("{task_id} in {state:?}");
        let books = self
            .wait_until(&what, timeout, |s| s.reached(task_id, state))
            .await
            .map_err(|e| match e {
                WaitError::Timeout { what, waited, .. } => WaitError::Timeout {
                    latest: format!("{:?}", self.history(task_id).map(|h| h.states())),
                    what,
                    waited,
                },
                other => other,
            })?;
        let record = books.tasks[task_id].first(state).cloned();
        Ok(record.expect("the condition held"))
    }

    /// Waits until `condition` holds of the books; returns them.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut condition: impl FnMut(&LauncherState) -> bool,
    ) -> Result<LauncherState, WaitError> {
        let mut state = self.state.clone();
        let wait = state.wait_for(|s| condition(s) || s.closed.is_some());
        let books = match tokio::time::timeout(timeout, wait).await {
            Err(_) => None,
            Ok(Err(_)) => return Err(WaitError::Stopped),
            Ok(Ok(books)) => Some(books.clone()),
        };
        let Some(books) = books else {
            return Err(WaitError::Timeout {
                what: what.to_owned(),
                waited: timeout,
                latest: format!("{} pending", self.state.borrow().pending),
            });
        };
        match &books.closed {
            Some(reason) if !condition(&books) => Err(WaitError::Closed(reason.clone())),
            _ => Ok(books),
        }
    }

    /// Kills a task this launcher knows (its agent from the books).
    pub async fn kill(&self, task_id: &TaskId) -> Result<(), super::ClientError> {
        let agent_id = self.history(task_id).and_then(|h| h.agent_id);
        self.handle.kill(task_id.clone(), agent_id, None).await
    }

    /// Stops the launcher and its scheduler (the framework stays registered
    /// until its failover timeout; TEARDOWN through [`Self::handle`] first
    /// to remove it).
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The event loop's state.
struct Worker {
    handle: SchedulerHandle,
    plan: LaunchPlan,
    next_id: u64,
    suppressed: bool,
    state: watch::Sender<LauncherState>,
}

impl Worker {
    async fn run(
        mut self,
        mut scheduler: Scheduler,
        mut more: mpsc::UnboundedReceiver<usize>,
        cancel: CancellationToken,
    ) {
        let (acks, ack_rx) = mpsc::unbounded_channel();
        let acker = (!self.handle.auto_acknowledge())
            .then(|| tokio::spawn(super::session::acknowledge_all(self.handle.clone(), ack_rx)));
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                Some(n) = more.recv() => {
                    self.state.send_modify(|s| s.pending += n);
                    if n > 0 && self.suppressed {
                        self.suppressed = false;
                        self.record_error(self.handle.revive(Vec::new()).await);
                    }
                }
                event = scheduler.recv() => match event {
                    None => break,
                    Some(event) => self.on_event(event, &acks).await,
                },
            }
        }
        drop(acks);
        if let Some(acker) = acker {
            acker.abort();
            let _ = acker.await;
        }
        scheduler.stop().await;
    }

    async fn on_event(&mut self, event: SchedulerEvent, acks: &mpsc::UnboundedSender<TaskStatus>) {
        match event {
            SchedulerEvent::Connected { framework_id, .. } => {
                self.state.send_modify(|s| {
                    s.framework_id = Some(framework_id);
                    s.subscriptions += 1;
                });
                // Filters and suppression survive on the master; say again
                // what we want, and ask where our tasks are.
                self.suppressed = false;
                let reconcile: Vec<ReconcileTask> = self
                    .state
                    .borrow()
                    .tasks
                    .values()
                    .filter(|t| {
                        t.launched.is_some() && !t.state().is_some_and(TaskState::is_terminal)
                    })
                    .map(|t| ReconcileTask {
                        task_id: t.task_id.clone(),
                        agent_id: t.agent_id.clone(),
                    })
                    .collect();
                if !reconcile.is_empty() {
                    self.record_error(self.handle.reconcile(reconcile).await);
                }
                self.suppress_if_done().await;
            }
            SchedulerEvent::Event(Event::Offers(offers)) => self.on_offers(offers.offers).await,
            SchedulerEvent::Event(Event::Update(update)) => {
                let status = update.status;
                self.state.send_modify(|s| {
                    let history =
                        s.tasks
                            .entry(status.task_id.clone())
                            .or_insert_with(|| TaskHistory {
                                task_id: status.task_id.clone(),
                                agent_id: status.agent_id.clone(),
                                launched: None,
                                statuses: Vec::new(),
                            });
                    history.statuses.push(StatusRecord {
                        state: status.state,
                        received: Instant::now(),
                        status: status.clone(),
                    });
                });
                if status.needs_acknowledgement() {
                    let _ = acks.send(status);
                }
            }
            SchedulerEvent::Closed { reason } => {
                self.state.send_modify(|s| s.closed = Some(reason));
            }
            SchedulerEvent::Disconnected { .. } | SchedulerEvent::Event(_) => {}
        }
    }

    /// Packs pending tasks into the offers; declines the rest.
    async fn on_offers(&mut self, offers: Vec<Offer>) {
        let needs = self.plan.spec.needs();
        let filters = Some(Filters::refuse(self.plan.refuse_seconds));
        let mut pending = self.state.borrow().pending;
        let mut accepts = Vec::new();
        let mut declines: Vec<OfferId> = Vec::new();
        let mut launched = Vec::new();
        for offer in &offers {
            let mut left = offer.resources.clone();
            let mut tasks = Vec::new();
            while pending > 0 {
                let Some(resources) = carve_scalars(&mut left, &needs) else {
                    break;
                };
                let task_id = TaskId::new(format!("{}-{}", self.plan.id_prefix, self.next_id));
                self.next_id += 1;
                pending -= 1;
                let mut task = TaskInfo::command(
                    task_id.value.clone(),
                    task_id.clone(),
                    offer.agent_id.clone(),
                    CommandInfo::shell(self.plan.spec.command.clone()),
                );
                task.resources = resources;
                launched.push((task_id, offer.agent_id.clone()));
                tasks.push(task);
            }
            if tasks.is_empty() {
                declines.push(offer.id.clone());
            } else {
                accepts.push((offer.id.clone(), tasks));
            }
        }
        let now = Instant::now();
        self.state.send_modify(|s| {
            s.offers += offers.len() as u64;
            s.declined += declines.len() as u64;
            s.pending = pending;
            for (task_id, agent_id) in launched {
                s.launch_order.push(task_id.clone());
                s.tasks.insert(
                    task_id.clone(),
                    TaskHistory {
                        task_id,
                        agent_id: Some(agent_id),
                        launched: Some(now),
                        statuses: Vec::new(),
                    },
                );
            }
        });
        let handle = &self.handle;
        let calls = accepts.into_iter().map(|(offer_id, tasks)| async move {
            handle
                .accept(vec![offer_id], vec![OfferOperation::launch(tasks)], filters)
                .await
        });
        for result in futures::future::join_all(calls).await {
            self.record_error(result);
        }
        if !declines.is_empty() {
            self.record_error(self.handle.decline(declines, filters).await);
        }
        self.suppress_if_done().await;
    }

    async fn suppress_if_done(&mut self) {
        if self.state.borrow().pending == 0 && !self.suppressed {
            self.suppressed = true;
            self.record_error(self.handle.suppress(Vec::new()).await);
        }
    }

    fn record_error(&self, result: Result<(), super::ClientError>) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "task launcher call failed");
            self.state
                .send_modify(|s| s.call_errors.push(e.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::Resource;

    #[test]
    fn carves_tasks_out_of_an_offer_keeping_the_allocation() {
        let mut left = vec![
            Resource::scalar("cpus", 1.0).allocated_to("web"),
            Resource::scalar("mem", 300.0).allocated_to("web"),
            Resource::ranges("ports", [(31000, 31010)]).allocated_to("web"),
        ];
        let needs = TaskSpec::command("true", 0.4, 128.0).needs();
        let first = carve_scalars(&mut left, &needs).unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].scalar.unwrap().value, 0.4);
        assert_eq!(first[0].allocation_role(), Some("web"));
        assert!(carve_scalars(&mut left, &needs).is_some());
        // 0.2 cpus and 44 MiB left: a third does not fit, and nothing moves.
        let before = left.clone();
        assert!(carve_scalars(&mut left, &needs).is_none());
        assert_eq!(left, before);
        assert_eq!(left[0].scalar.unwrap().value, 0.2);
        assert_eq!(left[1].scalar.unwrap().value, 44.0);
    }

    #[test]
    fn takes_from_several_pieces_and_skips_revocable() {
        let mut revocable = Resource::scalar("cpus", 8.0);
        revocable.revocable = Some(Default::default());
        let mut left = vec![
            revocable,
            Resource::scalar("cpus", 0.5),
            Resource::scalar("cpus", 0.5).allocated_to("r"),
            Resource::scalar("mem", 64.0),
        ];
        let taken = carve_scalars(&mut left, &TaskSpec::command("x", 1.0, 64.0).needs()).unwrap();
        let cpus: f64 = taken
            .iter()
            .filter(|r| r.name == "cpus")
            .map(|r| r.scalar.unwrap().value)
            .sum();
        assert_eq!(cpus, 1.0);
        assert!(taken.iter().all(|r| r.revocable.is_none()));
        assert_eq!(left[0].scalar.unwrap().value, 8.0);
    }
}
