//! The agent core: turns master events (launch, kill, acknowledge,
//! shutdown) and executor calls (subscribe, update) into launches, kills,
//! checkpoints and status updates.
//!
//! Life of a command task here: `RunTask` → a [`TaskRecord`] (STAGING) is
//! checkpointed → sandbox created, URIs fetched → the container's cgroups
//! are prepared → the executor process starts and is moved into them →
//! it SUBSCRIBEs and receives LAUNCH → its UPDATEs are stamped, rewritten
//! when the kernel OOM-killed in the container, appended to the task's
//! update stream, checkpointed, acknowledged to the executor (Mesos does
//! that once checkpointed) and forwarded to the master one at a time until
//! each is acknowledged → when the executor exits, its container is
//! destroyed; a task it left non-terminal is reported TASK_FAILED.
//!
//! Task groups (LAUNCH_GROUP) run each task that way, reported under the
//! group's executor id; a task ending other than FINISHED, or a KILL of
//! any, kills the whole group (Mesos' default executor). A task with a
//! custom executor runs that executor's command instead of ours, under the
//! executor's own id; it speaks the same executor API.
//!
//! Owns the in-memory registry (behind one mutex never held across an
//! await) and the rules above; the wire to the master is
//! [`crate::master`], HTTP is [`crate::http`], OS effects are the
//! [`Isolator`] and [`Launcher`] traits.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dcos_api::agent::{Call, Event, Register};
use dcos_api::executor::{self as exec, ExecutorEnvironment};
use dcos_api::resources::Resources;
use dcos_api::v1::{
    AgentId, AgentInfo, Base64Bytes, CommandInfo, ContainerId, ContainerStatus, ExecutorId,
    ExecutorInfo, ExecutorType, FrameworkId, FrameworkInfo, KillPolicy, Reason, Resource, Source,
    TaskGroupInfo, TaskId, TaskInfo, TaskResourceLimitation, TaskState, TaskStatus,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::fetcher::Fetcher;
use crate::isolator::{Isolator, Limits};
use crate::launcher::{self, ExecutorSpec, Launcher};
use crate::state::{framework_key, AckOutcome, Group, TaskRecord, AGENT_ID_KEY};

/// Default kill grace period (Mesos: 3 s).
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(3);
/// Extra time an executor gets beyond the grace period before the agent
/// destroys its container itself.
const KILL_ESCALATION_SLACK: Duration = Duration::from_secs(5);
/// How often containers are checked for OOM kills.
const LIMIT_POLL: Duration = Duration::from_millis(500);
/// Completed tasks kept for `/state`.
const MAX_COMPLETED_TASKS: usize = 1000;

/// Errors answered to executors (400 unless noted).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No task of this agent runs under that framework and executor.
    #[error("executor {executor_id} of framework {framework_id} is unknown")]
    UnknownExecutor {
        /// Framework.
        framework_id: String,
        /// Executor.
        executor_id: String,
    },
    /// An update without a 16-byte uuid.
    #[error("status update for task {0} has no valid uuid")]
    BadUuid(String),
    /// An update for a task the executor does not run.
    #[error("task {0} does not belong to this executor")]
    WrongTask(String),
    /// The checkpoint could not be written (500).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// Static configuration of a running agent.
#[derive(Debug, Clone)]
pub struct Config {
    /// Sandboxes and checkpoints.
    pub work_dir: PathBuf,
    /// Hostname, port, resources and attributes (without `id`).
    pub agent_info: AgentInfo,
    /// Base URL of the agent's HTTP server as others reach it.
    pub endpoint: String,
    /// `ip:port` executors connect to (`MESOS_AGENT_ENDPOINT`).
    pub executor_endpoint: String,
    /// First re-send interval of an unacknowledged update.
    pub retry_interval: Duration,
    /// How long executors wait for a restarted agent.
    pub recovery_timeout: Duration,
    /// How long a finished container's sandbox is kept (see [`crate::gc`]).
    pub gc_delay: Duration,
    /// The executor program and its arguments.
    pub executor_command: (PathBuf, Vec<String>),
    /// Where images and container bundles live (the native containerizer).
    pub containers: ContainerConfig,
}

/// The native containerizer's places, handed to executors in their
/// environment (`DCOS_IMAGE_STORE`, `DCOS_PROVISIONER_DIR`,
/// `DCOS_CGROUPS_PARENT`, `DCOS_CONTAINER_ID`).
#[derive(Debug, Clone, Default)]
pub struct ContainerConfig {
    /// The image store (default `<work_dir>/images`).
    pub image_store: PathBuf,
    /// Bundles and runtime state (default `<work_dir>/provisioner`).
    pub provisioner: PathBuf,
    /// The parent cgroup of every container (`--cgroups_root`).
    pub cgroups_parent: String,
    /// The Docker engine's socket for DOCKER containers (`DCOS_DOCKER_SOCKET`),
    /// when `--containerizers` includes docker.
    pub docker_socket: Option<PathBuf>,
}

/// A live executor subscription.
struct ExecutorConn {
    tx: mpsc::UnboundedSender<exec::Event>,
    id: u64,
}

#[derive(Default)]
struct Inner {
    agent_id: Option<AgentId>,
    master: Option<String>,
    frameworks: BTreeMap<String, FrameworkInfo>,
    tasks: BTreeMap<(String, String), TaskRecord>,
    executors: BTreeMap<(String, String), ExecutorConn>,
    completed: VecDeque<TaskRecord>,
    next_conn: u64,
    terminal_counts: BTreeMap<TaskState, u64>,
    /// Task groups (by [`Group::id`]) being killed as a whole.
    killing_groups: std::collections::BTreeSet<String>,
}

/// The agent.
pub struct Agent {
    cfg: Config,
    inner: Mutex<Inner>,
    checkpoint: Checkpoint,
    isolator: Arc<dyn Isolator>,
    launcher: Arc<dyn Launcher>,
    fetcher: Fetcher,
    outbox: mpsc::UnboundedSender<Call>,
    /// Task groups to kill as a whole (framework, [`Group::id`]): a task of
    /// the group ended unsuccessfully. Served by a task of its own.
    group_kills: mpsc::UnboundedSender<(FrameworkId, String)>,
    /// Cancelled when the agent must stop (shutdown signal or `Shutdown`).
    pub stop: CancellationToken,
    started: SystemTime,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn fresh_uuid() -> Base64Bytes {
    Base64Bytes::from(uuid::Uuid::new_v4().as_bytes().to_vec())
}

/// A task group's shared sandbox, `executors/<group executor>/runs/<group>`,
/// next to the sandbox `dir` of one of its tasks.
fn group_sandbox(dir: &Path, group: &Group) -> Option<PathBuf> {
    let executors = dir.parent()?.parent()?.parent()?;
    Some(
        executors
            .join(&group.executor.executor_id.value)
            .join("runs")
            .join(&group.id),
    )
}

fn key(fw: &FrameworkId, id: &str) -> (String, String) {
    (fw.value.clone(), id.to_owned())
}

impl Agent {
    /// Builds the agent from its checkpoint (`stored`, as read by
    /// [`Checkpoint::open`]). Returns the agent and the calls it wants sent
    /// to the master.
    pub fn new(
        cfg: Config,
        checkpoint: Checkpoint,
        stored: BTreeMap<String, String>,
        isolator: Arc<dyn Isolator>,
        launcher: Arc<dyn Launcher>,
    ) -> (Arc<Agent>, mpsc::UnboundedReceiver<Call>) {
        let mut inner = Inner::default();
        for (k, v) in &stored {
            if k == AGENT_ID_KEY {
                inner.agent_id = Some(AgentId::new(v.clone()));
            } else if k.starts_with("framework/") {
                match serde_json::from_str::<FrameworkInfo>(v) {
                    Ok(f) => {
                        if let Some(id) = &f.id {
                            inner.frameworks.insert(id.value.clone(), f);
                        }
                    }
                    Err(e) => tracing::warn!("ignoring bad checkpoint record {k}: {e}"),
                }
            } else if k.starts_with("task/") {
                match serde_json::from_str::<TaskRecord>(v) {
                    Ok(r) => {
                        inner
                            .tasks
                            .insert(key(&r.framework_id, r.info.task_id.as_str()), r);
                    }
                    Err(e) => tracing::warn!("ignoring bad checkpoint record {k}: {e}"),
                }
            }
        }
        let (outbox, rx) = mpsc::unbounded_channel();
        let fetcher = Fetcher::new(cfg.work_dir.join("fetch_cache"));
        let (group_kills, mut group_rx) = mpsc::unbounded_channel();
        let agent = Arc::new(Agent {
            cfg,
            inner: Mutex::new(inner),
            checkpoint,
            isolator,
            launcher,
            fetcher,
            outbox,
            group_kills,
            stop: CancellationToken::new(),
            started: SystemTime::now(),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&agent);
            rt.spawn(async move {
                while let Some((fw, group)) = group_rx.recv().await {
                    let Some(agent) = weak.upgrade() else { return };
                    agent.kill_group(&fw, &group, None).await;
                }
            });
        }
        (agent, rx)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The agent id, once registered (or recovered).
    pub fn agent_id(&self) -> Option<AgentId> {
        self.lock().agent_id.clone()
    }

    /// After a restart: watches executors that are still alive (they will
    /// re-subscribe), and fails the tasks of those that are gone.
    pub fn recover(self: &Arc<Self>) {
        let records: Vec<TaskRecord> = self.lock().tasks.values().cloned().collect();
        // A group with a member that ended unsuccessfully is killed again:
        // the agent may have stopped before it killed the rest.
        for r in &records {
            if let Some(g) = &r.group {
                if r.state.is_terminal() && r.state != TaskState::Finished {
                    let _ = self
                        .group_kills
                        .send((r.framework_id.clone(), g.id.clone()));
                }
            }
        }
        for r in records {
            if r.state.is_terminal() {
                continue;
            }
            match r.executor_pid {
                Some(pid) if launcher::is_alive(pid, r.executor_start_time) => {
                    tracing::info!(
                        "recovered task {} (executor pid {pid} still running)",
                        r.info.task_id
                    );
                    let agent = self.clone();
                    let k = key(&r.framework_id, r.info.task_id.as_str());
                    let start = r.executor_start_time;
                    let k2 = k.clone();
                    tokio::spawn(async move {
                        launcher::watch_pid(pid, start, Duration::from_millis(250)).await;
                        agent.executor_exited(&k2).await;
                    });
                    self.watch_limits(k, r.container_id.clone());
                }
                _ => {
                    tracing::info!("executor of task {} is gone", r.info.task_id);
                    let agent = self.clone();
                    let k = key(&r.framework_id, r.info.task_id.as_str());
                    tokio::spawn(async move {
                        agent.executor_exited(&k).await;
                    });
                }
            }
        }
    }

    /// Removes finished containers' sandboxes once they have been left
    /// alone for `--gc_delay` ([`crate::gc`]), sweeping every quarter of the
    /// delay (at least every hour, at most every second).
    pub fn collect_garbage(self: &Arc<Self>) {
        let agent = self.clone();
        let every =
            (self.cfg.gc_delay / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = agent.stop.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                let live = agent.live_sandboxes();
                let (dir, delay) = (agent.cfg.work_dir.clone(), agent.cfg.gc_delay);
                let removed = tokio::task::spawn_blocking(move || {
                    crate::gc::sweep(&dir, &live, delay, std::time::SystemTime::now())
                })
                .await
                .unwrap_or_default();
                for r in removed {
                    tracing::info!("gc: removed the sandbox {}", r.display());
                }
            }
        });
    }

    /// Sandboxes of every task the agent still holds, and the shared
    /// sandboxes of their groups.
    fn live_sandboxes(&self) -> std::collections::HashSet<PathBuf> {
        let inner = self.lock();
        let mut live = std::collections::HashSet::new();
        for r in inner.tasks.values() {
            live.insert(r.directory.clone());
            if let Some(p) = r
                .group
                .as_ref()
                .and_then(|g| group_sandbox(&r.directory, g))
            {
                live.insert(p);
            }
        }
        live
    }

    /// The body of `/agent/v1/subscribe`.
    pub fn register_message(&self) -> Register {
        let inner = self.lock();
        let mut agent_info = self.cfg.agent_info.clone();
        agent_info.id = inner.agent_id.clone();
        let tasks: Vec<_> = inner.tasks.values().map(TaskRecord::to_task).collect();
        let mut executors: BTreeMap<(String, String), ExecutorInfo> = BTreeMap::new();
        for r in inner.tasks.values().filter(|r| !r.state.is_terminal()) {
            let info = match &r.group {
                Some(g) => {
                    let mut e = g.executor.clone();
                    e.framework_id = Some(r.framework_id.clone());
                    e
                }
                None => self.executor_info(r),
            };
            executors
                .entry((r.framework_id.value.clone(), info.executor_id.value.clone()))
                .or_insert(info);
        }
        let executors = executors.into_values().collect();
        let mut fw_ids: Vec<&String> = inner.tasks.keys().map(|(f, _)| f).collect();
        fw_ids.dedup();
        let frameworks = fw_ids
            .into_iter()
            .filter_map(|f| inner.frameworks.get(f).cloned())
            .collect();
        Register {
            agent_id: inner.agent_id.clone(),
            agent_info,
            endpoint: self.cfg.endpoint.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            tasks,
            executors,
            frameworks,
        }
    }

    /// The master confirmed (or assigned) our id: checkpoint it and re-send
    /// every pending update.
    pub async fn on_registered(&self, agent_id: AgentId, master: &str) {
        let receipt = {
            let mut inner = self.lock();
            inner.master = Some(master.to_owned());
            let changed = inner.agent_id.as_ref() != Some(&agent_id);
            inner.agent_id = Some(agent_id.clone());
            changed.then(|| self.checkpoint.put(AGENT_ID_KEY, agent_id.value.clone()))
        };
        if let Some(r) = receipt {
            if let Err(e) = r.durable().await {
                tracing::error!("could not checkpoint the agent id: {e}");
            }
        }
        let now = Instant::now();
        let calls: Vec<Call> = {
            let mut inner = self.lock();
            let base = self.cfg.retry_interval;
            inner
                .tasks
                .values_mut()
                .filter_map(|r| {
                    let status = r.front_now(now, base)?;
                    Some(Call::Update {
                        agent_id: agent_id.clone(),
                        framework_id: r.framework_id.clone(),
                        status,
                    })
                })
                .collect()
        };
        for c in calls {
            let _ = self.outbox.send(c);
        }
    }

    /// Master URL we are registered with.
    pub fn master(&self) -> Option<String> {
        self.lock().master.clone()
    }

    /// Handles one event from the master.
    pub async fn handle_event(self: &Arc<Self>, event: Event) {
        match event {
            Event::Registered { .. } | Event::Heartbeat => {}
            Event::RunTask { framework, task } => self.run_task(framework, task).await,
            Event::RunTaskGroup {
                framework,
                executor,
                task_group,
            } => self.run_task_group(framework, executor, task_group).await,
            Event::KillTask {
                framework_id,
                task_id,
                kill_policy,
            } => {
                let group = self
                    .lock()
                    .tasks
                    .get(&key(&framework_id, task_id.as_str()))
                    .and_then(|r| r.group.as_ref().map(|g| g.id.clone()));
                match group {
                    // Killing one task of a group kills the group (Mesos'
                    // default executor).
                    Some(g) => self.kill_group(&framework_id, &g, kill_policy).await,
                    None => self.kill_task(&framework_id, &task_id, kill_policy).await,
                }
            }
            Event::Acknowledge {
                framework_id,
                task_id,
                uuid,
            } => self.acknowledge(&framework_id, &task_id, &uuid).await,
            Event::ShutdownFramework { framework_id } => {
                self.shutdown_framework(&framework_id, None).await
            }
            Event::FrameworkMessage {
                framework_id,
                executor_id,
                data,
            } => {
                let inner = self.lock();
                // A task group's executor id names no process of its own:
                // the message goes to the executor of its first live task.
                let internal = inner
                    .tasks
                    .values()
                    .find(|r| {
                        r.framework_id == framework_id
                            && r.reported_executor_id() == &executor_id
                            && !r.state.is_terminal()
                    })
                    .map(|r| r.executor_id.clone())
                    .unwrap_or(executor_id);
                if let Some(c) = inner.executors.get(&key(&framework_id, internal.as_str())) {
                    let _ = c.tx.send(exec::Event::Message(exec::Message { data }));
                }
            }
            Event::Drain {
                max_grace_period_seconds,
            } => {
                let policy = max_grace_period_seconds.map(|s| KillPolicy {
                    grace_period: Some(dcos_api::v1::DurationInfo::from_duration(
                        Duration::from_secs_f64(s.max(0.0)),
                    )),
                });
                self.shutdown_all(policy).await;
            }
            Event::Shutdown { message } => {
                tracing::warn!("the master shut this agent down: {message}");
                self.shutdown_all(None).await;
                // Do not re-register with this id.
                let _ = self.checkpoint.delete(AGENT_ID_KEY).durable().await;
                self.stop.cancel();
            }
        }
    }

    /// Kills every task of every framework (drain, shutdown), each
    /// framework once.
    async fn shutdown_all(self: &Arc<Self>, policy: Option<KillPolicy>) {
        let fws: std::collections::BTreeSet<FrameworkId> = self
            .lock()
            .tasks
            .values()
            .map(|r| r.framework_id.clone())
            .collect();
        for fw in fws {
            self.shutdown_framework(&fw, policy).await;
        }
    }

    fn sandbox_dir(&self, agent: &AgentId, fw: &FrameworkId, ex: &str, container: &str) -> PathBuf {
        self.cfg
            .work_dir
            .join("slaves")
            .join(agent.as_str())
            .join("frameworks")
            .join(fw.as_str())
            .join("executors")
            .join(ex)
            .join("runs")
            .join(container)
    }

    /// A task this agent will not run: recorded and failed at once.
    async fn refuse_task(self: &Arc<Self>, framework: &FrameworkInfo, task: TaskInfo, why: &str) {
        let Some(fw) = framework.id.clone() else {
            return;
        };
        let agent_id = self.agent_id().unwrap_or_else(|| task.agent_id.clone());
        let ex = task
            .executor
            .as_ref()
            .map(|e| e.executor_id.value.clone())
            .unwrap_or_else(|| task.task_id.value.clone());
        let container = uuid::Uuid::new_v4().to_string();
        let dir = self.sandbox_dir(&agent_id, &fw, &ex, &container);
        let record = TaskRecord::new(fw.clone(), task, ExecutorId::new(ex), container, dir);
        let k = key(&fw, record.info.task_id.as_str());
        {
            let mut inner = self.lock();
            if inner.tasks.contains_key(&k) {
                return;
            }
            inner.tasks.insert(k.clone(), record);
        }
        self.agent_update(
            &k,
            TaskState::Failed,
            Some(Reason::ContainerLaunchFailed),
            why,
        )
        .await;
    }

    /// LAUNCH_GROUP, with Mesos' default-executor semantics: every task of
    /// the group runs in its own container under its own executor process
    /// (reported under the group's executor id); when one ends other than
    /// FINISHED, or is killed, the whole group is killed.
    async fn run_task_group(
        self: &Arc<Self>,
        framework: FrameworkInfo,
        executor: ExecutorInfo,
        task_group: TaskGroupInfo,
    ) {
        if framework.id.is_none() {
            tracing::warn!("RUN_TASK_GROUP without a framework id; dropped");
            return;
        }
        let bad = task_group.tasks.iter().find_map(|t| {
            if t.command.is_none() {
                Some(format!("task {} of the group has no command", t.task_id))
            } else if t.executor.is_some() {
                Some(format!(
                    "task {} of the group names an executor (tasks of a group run under the group's)",
                    t.task_id
                ))
            } else {
                None
            }
        });
        if let Some(why) = bad {
            // Mesos refuses a group as a whole.
            for task in task_group.tasks {
                self.refuse_task(&framework, task, &why).await;
            }
            return;
        }
        let group = Group {
            id: uuid::Uuid::new_v4().to_string(),
            executor,
            tasks: task_group.tasks.iter().map(|t| t.task_id.clone()).collect(),
        };
        for task in task_group.tasks {
            self.run_task_in(framework.clone(), task, Some(group.clone()))
                .await;
        }
    }

    async fn run_task(self: &Arc<Self>, framework: FrameworkInfo, task: TaskInfo) {
        self.run_task_in(framework, task, None).await
    }

    async fn run_task_in(
        self: &Arc<Self>,
        framework: FrameworkInfo,
        task: TaskInfo,
        group: Option<Group>,
    ) {
        let Some(fw) = framework.id.clone() else {
            tracing::warn!("RUN_TASK without a framework id; dropped");
            return;
        };
        if let Some(e) = &task.executor {
            let why = if e.kind == Some(ExecutorType::Default) {
                Some("the DEFAULT executor runs task groups only (LAUNCH_GROUP)")
            } else if e.command.is_none() {
                Some("the custom executor has no command")
            } else {
                None
            };
            if let Some(why) = why {
                return self.refuse_task(&framework, task, why).await;
            }
        } else if task.command.is_none() {
            return self
                .refuse_task(&framework, task, "the task has no command")
                .await;
        }
        let Some(agent_id) = self.agent_id() else {
            return;
        };
        let task_id = task.task_id.value.clone();
        // A custom executor runs under its own id; a command task's
        // executor under the task's.
        let ex = task
            .executor
            .as_ref()
            .map(|e| e.executor_id.value.clone())
            .unwrap_or_else(|| task_id.clone());
        if task.executor.is_some() {
            let busy = self.lock().tasks.values().any(|r| {
                r.framework_id == fw && r.executor_id.value == ex && !r.state.is_terminal()
            });
            if busy {
                return self
                    .refuse_task(
                        &framework,
                        task,
                        "the executor already runs a task (one task per custom executor)",
                    )
                    .await;
            }
        }
        let container = uuid::Uuid::new_v4().to_string();
        let dir = self.sandbox_dir(&agent_id, &fw, &ex, &container);
        let mut record = TaskRecord::new(
            fw.clone(),
            task,
            ExecutorId::new(ex.clone()),
            container.clone(),
            dir.clone(),
        );
        record.group = group;
        let k = key(&fw, &task_id);
        let receipt = {
            let mut inner = self.lock();
            if inner.tasks.contains_key(&k) {
                tracing::warn!("task {task_id} of framework {fw} already exists; RUN_TASK ignored");
                return;
            }
            inner.frameworks.insert(fw.value.clone(), framework.clone());
            let value = serde_json::to_string(&record).expect("records serialize");
            let receipt = self.checkpoint.write(vec![
                (
                    framework_key(&fw),
                    Some(serde_json::to_string(&framework).expect("frameworks serialize")),
                ),
                (record.key(), Some(value)),
            ]);
            inner.tasks.insert(k.clone(), record);
            receipt
        };
        // Wait for the checkpoint off the event loop: launches that arrive
        // together share one fsync (group commit) instead of queueing one
        // fsync each behind the master's stream.
        let agent = self.clone();
        tokio::spawn(async move {
            if let Err(e) = receipt.durable().await {
                tracing::error!("checkpoint failed: {e}");
            }
            if let Err(message) = agent.launch(&k, &dir, &container).await {
                agent
                    .agent_update(
                        &k,
                        TaskState::Failed,
                        Some(Reason::ContainerLaunchFailed),
                        &message,
                    )
                    .await;
                let isolator = agent.isolator.clone();
                let c = container.clone();
                let _ = tokio::task::spawn_blocking(move || isolator.destroy(&c)).await;
            }
        });
    }

    /// Sandbox, fetch, cgroups, executor process.
    async fn launch(
        self: &Arc<Self>,
        k: &(String, String),
        dir: &Path,
        container: &str,
    ) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("Failed to create sandbox: {e}"))?;
        if let Some(runs) = dir.parent() {
            let latest = runs.join("latest");
            let _ = std::fs::remove_file(&latest);
            let _ = std::os::unix::fs::symlink(container, &latest);
        }
        let Some((info, group)) = self
            .lock()
            .tasks
            .get(k)
            .map(|r| (r.info.clone(), r.group.clone()))
        else {
            return Ok(());
        };
        let uris = info
            .command
            .iter()
            .chain(info.executor.iter().filter_map(|e| e.command.as_ref()))
            .flat_map(|c| c.uris.clone())
            .collect::<Vec<_>>();
        if !uris.is_empty() {
            self.fetcher.fetch_all(&uris, dir).await.map_err(|e| {
                format!("Failed to fetch all URIs for container '{container}': {e}")
            })?;
        }
        // A task group shares one sandbox (`executors/<group executor>/runs/
        // <group>`), where PARENT sandbox-path volumes (a pod's ephemeral
        // volumes) live; a task without an image sees them as symlinks.
        let parent = group.as_ref().and_then(|g| group_sandbox(dir, g));
        if let Some(p) = &parent {
            std::fs::create_dir_all(p)
                .map_err(|e| format!("Failed to create the task group's sandbox: {e}"))?;
        }
        if matches!(crate::container::image_request(&info), Ok(None)) {
            crate::container::link_sandbox_volumes(&info, dir, parent.as_deref())
                .map_err(|e| format!("Failed to prepare the volumes: {e}"))?;
        }
        let resources = Resources::try_from_vec(info.resources.clone()).unwrap_or_default();
        let mut limits = Limits {
            cpus: resources.cpus(),
            mem_mb: resources.mem(),
        };
        // A group's executor resources go to the container of its first
        // task; a custom executor's to its task's container.
        let executor_resources = match group {
            Some(g) if g.tasks.first() == Some(&info.task_id) => Some(g.executor.resources),
            Some(_) => None,
            None => info.executor.as_ref().map(|e| e.resources.clone()),
        };
        if let Some(extra) = executor_resources {
            let extra = Resources::try_from_vec(extra).unwrap_or_default();
            let add = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
            };
            limits.cpus = add(limits.cpus, extra.cpus());
            limits.mem_mb = add(limits.mem_mb, extra.mem());
        }
        let isolator = self.isolator.clone();
        let c = container.to_owned();
        tokio::task::spawn_blocking(move || isolator.prepare(&c, &limits))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("Failed to prepare isolation: {e}"))?;

        let mut spec = self.executor_spec(&info, k, dir);
        if let Some(p) = &parent {
            spec.env
                .insert("DCOS_PARENT_SANDBOX".into(), p.display().to_string());
        }
        let (launched, receipt) = {
            // Spawn and isolate under the lock: the executor's SUBSCRIBE
            // (which triggers LAUNCH) cannot be served before it is in its
            // cgroup.
            let mut inner = self.lock();
            let Some(record) = inner.tasks.get_mut(k) else {
                return Ok(());
            };
            if record.state.is_terminal() {
                // Killed while fetching.
                return Ok(());
            }
            let launched = self.launcher.launch(&spec).map_err(|e| e.to_string())?;
            if let Err(e) = self.isolator.isolate(container, launched.pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(launched.pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                return Err(format!("Failed to isolate executor: {e}"));
            }
            record.executor_pid = Some(launched.pid);
            record.executor_start_time = launched.start_time;
            let receipt = self.checkpoint.put(
                record.key(),
                serde_json::to_string(&*record).expect("records serialize"),
            );
            (launched, receipt)
        };
        let _ = receipt.durable().await;
        let agent = self.clone();
        let task_key = k.clone();
        tokio::spawn(async move {
            launched.exited.await;
            agent.executor_exited(&task_key).await;
        });
        self.watch_limits(k.clone(), container.to_owned());
        Ok(())
    }

    /// Mesos' memory isolator destroys a container the kernel OOM-killed
    /// in (even when the task itself survived); the task is then reported
    /// TASK_FAILED with the memory limitation.
    fn watch_limits(self: &Arc<Self>, k: (String, String), container: String) {
        let agent = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = agent.stop.cancelled() => return,
                    _ = tokio::time::sleep(LIMIT_POLL) => {}
                }
                let pid = match agent.lock().tasks.get(&k) {
                    Some(r) if !r.state.is_terminal() && r.container_id == container => {
                        r.executor_pid
                    }
                    _ => return,
                };
                let isolator = agent.isolator.clone();
                let c = container.clone();
                let hit = tokio::task::spawn_blocking(move || isolator.memory_limitation(&c))
                    .await
                    .ok()
                    .flatten();
                if hit.is_some() {
                    tracing::info!("container {container} hit its memory limit; destroying it");
                    agent
                        .destroy_and_report(
                            &k,
                            pid,
                            TaskState::Failed,
                            None,
                            "Memory limit exceeded",
                        )
                        .await;
                    return;
                }
            }
        });
    }

    /// How to start the executor of task `info`: `dcos daemon executor`,
    /// or a custom executor's command (`sh -c <value>` when `shell`, else
    /// `value` with `arguments`), with the Mesos executor environment.
    fn executor_spec(&self, info: &TaskInfo, k: &(String, String), dir: &Path) -> ExecutorSpec {
        let custom = info.executor.as_ref();
        let env = ExecutorEnvironment {
            framework_id: FrameworkId::new(k.0.clone()),
            executor_id: custom
                .map(|e| e.executor_id.clone())
                .unwrap_or_else(|| ExecutorId::new(k.1.clone())),
            directory: dir.display().to_string(),
            sandbox: dir.display().to_string(),
            agent_endpoint: self.cfg.executor_endpoint.clone(),
            checkpoint: true,
            shutdown_grace_period: Duration::from_secs(5),
            authentication_token: None,
            recovery_timeout: Some(self.cfg.recovery_timeout),
            subscription_backoff_max: Some(Duration::from_secs(2)),
        };
        let mut vars: BTreeMap<String, String> = env
            .to_vars()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        vars.insert(
            "MESOS_SLAVE_ID".into(),
            self.agent_id().map(|a| a.value).unwrap_or_default(),
        );
        vars.insert("MESOS_AGENT_ID".into(), vars["MESOS_SLAVE_ID"].clone());
        vars.insert(
            "MESOS_SLAVE_PID".into(),
            format!("slave(1)@{}", self.cfg.executor_endpoint),
        );
        let c = &self.cfg.containers;
        if !c.image_store.as_os_str().is_empty() {
            vars.insert(
                "DCOS_IMAGE_STORE".into(),
                c.image_store.display().to_string(),
            );
            vars.insert(
                "DCOS_PROVISIONER_DIR".into(),
                c.provisioner.display().to_string(),
            );
            vars.insert("DCOS_CGROUPS_PARENT".into(), c.cgroups_parent.clone());
        }
        if let Some(sock) = &c.docker_socket {
            vars.insert("DCOS_DOCKER_SOCKET".into(), sock.display().to_string());
        }
        if let Some(container) = dir.file_name() {
            vars.insert(
                "DCOS_CONTAINER_ID".into(),
                container.to_string_lossy().into_owned(),
            );
        }
        let (program, args) = match custom.and_then(|e| e.command.as_ref()) {
            Some(c) => {
                for v in c.environment.iter().flat_map(|e| e.variables.iter()) {
                    if let Some(value) = &v.value {
                        vars.insert(v.name.clone(), value.clone());
                    }
                }
                let value = c.value.clone().unwrap_or_default();
                if c.shell.unwrap_or(true) {
                    ("/bin/sh".into(), vec!["-c".to_owned(), value])
                } else {
                    (
                        PathBuf::from(value),
                        c.arguments.iter().skip(1).cloned().collect(),
                    )
                }
            }
            None => self.cfg.executor_command.clone(),
        };
        ExecutorSpec {
            program,
            args,
            env: vars,
            directory: dir.to_owned(),
        }
    }

    fn executor_info(&self, r: &TaskRecord) -> ExecutorInfo {
        if let Some(e) = &r.info.executor {
            let mut e = e.clone();
            e.framework_id = Some(r.framework_id.clone());
            return e;
        }
        let mut info = ExecutorInfo::new(r.executor_id.clone());
        info.framework_id = Some(r.framework_id.clone());
        info.name = Some(format!("Command Executor (Task: {})", r.info.task_id));
        info.source = Some(r.info.task_id.value.clone());
        let (program, args) = &self.cfg.executor_command;
        let mut command = CommandInfo {
            shell: Some(false),
            value: Some(program.display().to_string()),
            ..CommandInfo::default()
        };
        command.arguments = std::iter::once(program.display().to_string())
            .chain(args.iter().cloned())
            .collect();
        info.command = Some(command);
        info
    }

    /// Stamps and records one update of task `k`, checkpoints it, and sends
    /// it to the master if it is the front of the stream. Returns after the
    /// checkpoint is durable.
    async fn record_update(
        self: &Arc<Self>,
        k: &(String, String),
        status: TaskStatus,
    ) -> Result<(), AgentError> {
        let now = Instant::now();
        let (receipt, send) = {
            let mut inner = self.lock();
            let agent_id = inner.agent_id.clone();
            let Some(r) = inner.tasks.get_mut(k) else {
                return Ok(());
            };
            if status.uuid.as_ref().is_some_and(|u| r.is_known(u)) {
                return Ok(());
            }
            let before = r.pending.len();
            let front = r.push_update(status.clone(), now, self.cfg.retry_interval);
            if r.pending.len() == before {
                tracing::debug!(
                    "update {} of {} after a terminal one dropped",
                    status.state,
                    r.info.task_id
                );
                return Ok(());
            }
            let receipt = self.checkpoint.put(
                r.key(),
                serde_json::to_string(&*r).expect("records serialize"),
            );
            let group_kill = r
                .group
                .as_ref()
                .filter(|_| status.state.is_terminal() && status.state != TaskState::Finished)
                .map(|g| (r.framework_id.clone(), g.id.clone()));
            let call = agent_id.filter(|_| front).map(|agent_id| Call::Update {
                agent_id,
                framework_id: r.framework_id.clone(),
                status,
            });
            (receipt, (call, group_kill))
        };
        let (send, group_kill) = send;
        receipt.durable().await?;
        if let Some(c) = send {
            let _ = self.outbox.send(c);
        }
        if let Some(g) = group_kill {
            let _ = self.group_kills.send(g);
        }
        Ok(())
    }

    /// An update the agent makes up (launch failure, executor gone, kill
    /// without executor), with a fresh uuid and `SOURCE_AGENT`.
    async fn agent_update(
        self: &Arc<Self>,
        k: &(String, String),
        state: TaskState,
        reason: Option<Reason>,
        message: &str,
    ) {
        let status = {
            let inner = self.lock();
            let Some(r) = inner.tasks.get(k) else {
                return;
            };
            if r.state.is_terminal() {
                return;
            }
            let mut s = TaskStatus::new(r.info.task_id.clone(), state);
            s.reason = reason;
            s.message = Some(message.to_owned());
            s.source = Some(Source::Agent);
            s.agent_id = inner.agent_id.clone();
            s.executor_id = Some(r.reported_executor_id().clone());
            s.timestamp = Some(now_secs());
            s.uuid = Some(fresh_uuid());
            s
        };
        let status = self.apply_limitation(k, status);
        if let Err(e) = self.record_update(k, status).await {
            tracing::error!("could not record an update: {e}");
        }
    }

    /// A terminal update from a container the kernel OOM-killed in becomes
    /// TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY (Mesos' mem
    /// isolator limitation), whatever the executor saw.
    fn apply_limitation(&self, k: &(String, String), mut status: TaskStatus) -> TaskStatus {
        if !status.state.is_terminal() || status.state == TaskState::Finished {
            return status;
        }
        let (container, resources) = {
            let inner = self.lock();
            let Some(r) = inner.tasks.get(k) else {
                return status;
            };
            (r.container_id.clone(), r.info.resources.clone())
        };
        let Some(lim) = self.isolator.memory_limitation(&container) else {
            return status;
        };
        let mb = |b: u64| b / (1024 * 1024);
        status.state = TaskState::Failed;
        status.reason = Some(Reason::ContainerLimitationMemory);
        status.source = Some(Source::Agent);
        status.message = Some(format!(
            "Memory limit exceeded: Requested: {}MB Maximum Used: {}MB",
            mb(lim.limit_bytes),
            mb(lim.max_usage_bytes)
        ));
        let mem: Vec<Resource> = resources.into_iter().filter(|r| r.name == "mem").collect();
        status.limitation = Some(TaskResourceLimitation { resources: mem });
        status
    }

    /// The framework acknowledged an update.
    async fn acknowledge(self: &Arc<Self>, fw: &FrameworkId, task: &TaskId, uuid: &Base64Bytes) {
        let k = key(fw, task.as_str());
        let now = Instant::now();
        let (receipt, next, container) = {
            let mut inner = self.lock();
            let agent_id = inner.agent_id.clone();
            let Some(r) = inner.tasks.get_mut(&k) else {
                return;
            };
            let AckOutcome::Acked { next } = r.acknowledge(uuid, now, self.cfg.retry_interval)
            else {
                tracing::debug!("acknowledgement for {task} ignored (not the oldest update)");
                return;
            };
            let next = next.and_then(|status| {
                Some(Call::Update {
                    agent_id: agent_id.clone()?,
                    framework_id: fw.clone(),
                    status: *status,
                })
            });
            if r.is_complete() && r.executor_pid.is_none() {
                let r = inner.tasks.remove(&k).expect("present");
                let receipt = self.checkpoint.delete(r.key());
                let container = r.container_id.clone();
                Self::complete(&mut inner, r);
                (receipt, next, Some(container))
            } else {
                let receipt = self.checkpoint.put(
                    r.key(),
                    serde_json::to_string(&*r).expect("records serialize"),
                );
                (receipt, next, None)
            }
        };
        let _ = container;
        // The next update was checkpointed when it was recorded: send it at
        // once and let the acknowledgement's own write complete in the
        // background, so acknowledgements arriving together share one fsync
        // instead of holding up the master's stream one fsync each.
        if let Some(c) = next {
            let _ = self.outbox.send(c);
        }
        tokio::spawn(async move {
            if let Err(e) = receipt.durable().await {
                tracing::error!("checkpoint of an acknowledgement failed: {e}");
            }
        });
    }

    fn complete(inner: &mut Inner, r: TaskRecord) {
        if let Some(g) = &r.group {
            let left = inner
                .tasks
                .values()
                .any(|t| t.group.as_ref().is_some_and(|tg| tg.id == g.id));
            if !left {
                inner.killing_groups.remove(&g.id);
            }
        }
        *inner.terminal_counts.entry(r.state).or_default() += 1;
        inner.completed.push_back(r);
        while inner.completed.len() > MAX_COMPLETED_TASKS {
            inner.completed.pop_front();
        }
    }

    /// Kills one task: through its executor (which applies the kill
    /// policy), or directly when it has none connected.
    async fn kill_task(
        self: &Arc<Self>,
        fw: &FrameworkId,
        task: &TaskId,
        policy: Option<KillPolicy>,
    ) {
        let k = key(fw, task.as_str());
        let (sent, grace, pid) = {
            let inner = self.lock();
            let Some(r) = inner.tasks.get(&k) else {
                tracing::warn!("KILL_TASK for unknown task {task}");
                return;
            };
            if r.state.is_terminal() {
                return;
            }
            let grace = policy
                .or(r.info.kill_policy)
                .and_then(|p| p.grace_period)
                .map(|g| g.to_duration())
                .unwrap_or(DEFAULT_GRACE_PERIOD);
            let sent = inner
                .executors
                .get(&(k.0.clone(), r.executor_id.value.clone()))
                .map(|c| {
                    c.tx.send(exec::Event::Kill(exec::Kill {
                        task_id: task.clone(),
                        kill_policy: policy,
                    }))
                    .is_ok()
                })
                .unwrap_or(false);
            (sent, grace, r.executor_pid)
        };
        if sent {
            // Escalate if the executor does not finish the kill in time.
            let agent = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace + KILL_ESCALATION_SLACK).await;
                let pending = agent
                    .lock()
                    .tasks
                    .get(&k)
                    .is_some_and(|r| !r.state.is_terminal());
                if pending {
                    tracing::warn!("executor did not kill task {} in time; destroying", k.1);
                    agent
                        .destroy_and_report(
                            &k,
                            pid,
                            TaskState::Killed,
                            None,
                            "Task killed by the agent after the grace period",
                        )
                        .await;
                }
            });
        } else {
            self.destroy_and_report(
                &k,
                pid,
                TaskState::Killed,
                None,
                "Task killed before its executor subscribed",
            )
            .await;
        }
    }

    /// Kills every live task of task group `group` (once per group).
    async fn kill_group(
        self: &Arc<Self>,
        fw: &FrameworkId,
        group: &str,
        policy: Option<KillPolicy>,
    ) {
        let members: Vec<TaskId> = {
            let mut inner = self.lock();
            if !inner.killing_groups.insert(group.to_owned()) {
                return;
            }
            inner
                .tasks
                .values()
                .filter(|r| {
                    &r.framework_id == fw
                        && !r.state.is_terminal()
                        && r.group.as_ref().is_some_and(|g| g.id == group)
                })
                .map(|r| r.info.task_id.clone())
                .collect()
        };
        if !members.is_empty() {
            tracing::info!("killing task group {group} ({} tasks left)", members.len());
        }
        for t in members {
            self.kill_task(fw, &t, policy).await;
        }
    }

    /// Kills the container of `k` (executor and task) and reports `state`.
    async fn destroy_and_report(
        self: &Arc<Self>,
        k: &(String, String),
        pid: Option<u32>,
        state: TaskState,
        reason: Option<Reason>,
        message: &str,
    ) {
        self.agent_update(k, state, reason, message).await;
        if let Some(pid) = pid {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let container = self.lock().tasks.get(k).map(|r| r.container_id.clone());
        if let Some(c) = container {
            let isolator = self.isolator.clone();
            let _ = tokio::task::spawn_blocking(move || isolator.destroy(&c)).await;
        }
    }

    /// Kills every task of a framework (SHUTDOWN to its executors).
    async fn shutdown_framework(self: &Arc<Self>, fw: &FrameworkId, policy: Option<KillPolicy>) {
        let tasks: Vec<TaskId> = self
            .lock()
            .tasks
            .values()
            .filter(|r| &r.framework_id == fw && !r.state.is_terminal())
            .map(|r| r.info.task_id.clone())
            .collect();
        for t in tasks {
            self.kill_task(fw, &t, policy).await;
        }
    }

    /// The executor process is gone: fail what it left running, destroy
    /// its container.
    /// `k` is the task's key.
    async fn executor_exited(self: &Arc<Self>, k: &(String, String)) {
        let k = k.clone();
        {
            let mut inner = self.lock();
            let ex = inner.tasks.get(&k).map(|r| r.executor_id.value.clone());
            if let Some(ex) = ex {
                inner.executors.remove(&(k.0.clone(), ex));
            }
        }
        self.agent_update(
            &k,
            TaskState::Failed,
            Some(Reason::ExecutorTerminated),
            "Executor terminated",
        )
        .await;
        let container = {
            let mut inner = self.lock();
            let Some(r) = inner.tasks.get_mut(&k) else {
                return;
            };
            r.executor_pid = None;
            r.container_id.clone()
        };
        let isolator = self.isolator.clone();
        let c = container.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || isolator.destroy(&c)).await {
            tracing::warn!("destroying container {container}: {e}");
        }
        // A killed executor could not unmount its container's rootfs.
        let containers = self.cfg.containers.clone();
        let c = container.clone();
        let _ = tokio::task::spawn_blocking(move || {
            crate::container::cleanup_leftovers(&containers, &c)
        })
        .await;
        // A killed executor could not remove its Docker container either.
        if let Some(sock) = &self.cfg.containers.docker_socket {
            crate::docker::remove_leftover(sock, &container).await;
        }
        let receipt = {
            let mut inner = self.lock();
            match inner.tasks.get(&k) {
                Some(r) if r.is_complete() => {
                    let r = inner.tasks.remove(&k).expect("present");
                    let receipt = self.checkpoint.delete(r.key());
                    Self::complete(&mut inner, r);
                    receipt
                }
                Some(r) => self.checkpoint.put(
                    r.key(),
                    serde_json::to_string(r).expect("records serialize"),
                ),
                None => return,
            }
        };
        let _ = receipt.durable().await;
    }

    /// Re-sends every front update whose retry is due.
    pub fn retry_due(&self, now: Instant) {
        let calls: Vec<Call> = {
            let mut inner = self.lock();
            let Some(agent_id) = inner.agent_id.clone() else {
                return;
            };
            if inner.master.is_none() {
                return;
            }
            let base = self.cfg.retry_interval;
            inner
                .tasks
                .values_mut()
                .filter_map(|r| {
                    r.due(now, base).map(|status| Call::Update {
                        agent_id: agent_id.clone(),
                        framework_id: r.framework_id.clone(),
                        status,
                    })
                })
                .collect()
        };
        for c in calls {
            tracing::debug!("re-sending an unacknowledged update");
            let _ = self.outbox.send(c);
        }
    }

    /// The master connection dropped.
    pub fn on_disconnected(&self) {
        self.lock().master = None;
    }

    /// `SUBSCRIBE` from an executor: returns its event stream.
    pub async fn executor_subscribe(
        self: &Arc<Self>,
        fw: FrameworkId,
        ex: ExecutorId,
        subscribe: exec::Subscribe,
    ) -> Result<mpsc::UnboundedReceiver<exec::Event>, AgentError> {
        let k = key(&fw, ex.as_str());
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut inner = self.lock();
            let Some(r) = Self::task_of_executor(&inner, &fw, &ex) else {
                return Err(AgentError::UnknownExecutor {
                    framework_id: fw.value,
                    executor_id: ex.value,
                });
            };
            let mut agent_info = self.cfg.agent_info.clone();
            agent_info.id = inner.agent_id.clone();
            let framework_info = inner.frameworks.get(&fw.value).cloned().unwrap_or_else(|| {
                let mut f = FrameworkInfo::new("", "");
                f.id = Some(fw.clone());
                f
            });
            let _ = tx.send(exec::Event::Subscribed(exec::Subscribed {
                executor_info: self.executor_info(r),
                framework_info,
                agent_info,
                container_id: Some(ContainerId::new(r.container_id.clone())),
            }));
            let relaunch = r.state == TaskState::Staging
                && !subscribe
                    .unacknowledged_tasks
                    .iter()
                    .any(|t| t.task_id == r.info.task_id);
            if relaunch {
                let _ = tx.send(exec::Event::Launch(exec::Launch {
                    task: r.info.clone(),
                }));
            }
            inner.next_conn += 1;
            let id = inner.next_conn;
            inner.executors.insert(k.clone(), ExecutorConn { tx, id });
        }
        // Updates the executor sent while we were away.
        for u in subscribe.unacknowledged_updates {
            self.executor_update(fw.clone(), ex.clone(), u.status)
                .await?;
        }
        Ok(rx)
    }

    /// The task an executor runs: the live one, else any record of it.
    fn task_of_executor<'a>(
        inner: &'a Inner,
        fw: &FrameworkId,
        ex: &ExecutorId,
    ) -> Option<&'a TaskRecord> {
        if let Some(r) = inner.tasks.get(&key(fw, ex.as_str())) {
            if &r.executor_id == ex {
                return Some(r);
            }
        }
        let all: Vec<&TaskRecord> = inner
            .tasks
            .values()
            .filter(|r| &r.framework_id == fw && &r.executor_id == ex)
            .collect();
        all.iter()
            .find(|r| !r.state.is_terminal())
            .or_else(|| all.first())
            .copied()
    }

    /// `UPDATE` from an executor; returns once checkpointed (and has sent
    /// ACKNOWLEDGED on the executor's stream).
    pub async fn executor_update(
        self: &Arc<Self>,
        fw: FrameworkId,
        ex: ExecutorId,
        mut status: TaskStatus,
    ) -> Result<(), AgentError> {
        let exec_key = key(&fw, ex.as_str());
        let k = key(&fw, status.task_id.as_str());
        let uuid = match &status.uuid {
            Some(u) if u.len() == 16 => u.clone(),
            _ => return Err(AgentError::BadUuid(status.task_id.value.clone())),
        };
        {
            let inner = self.lock();
            if Self::task_of_executor(&inner, &fw, &ex).is_none() {
                return Err(AgentError::UnknownExecutor {
                    framework_id: fw.value,
                    executor_id: ex.value,
                });
            }
            let Some(r) = inner.tasks.get(&k).filter(|r| r.executor_id == ex) else {
                return Err(AgentError::WrongTask(status.task_id.value.clone()));
            };
            status.agent_id = inner.agent_id.clone();
            status.executor_id = Some(r.reported_executor_id().clone());
            status.source.get_or_insert(Source::Executor);
            status.timestamp.get_or_insert_with(now_secs);
            let cs = status
                .container_status
                .get_or_insert_with(ContainerStatus::default);
            cs.container_id = Some(ContainerId::new(r.container_id.clone()));
            cs.executor_pid = r.executor_pid;
        }
        let status = self.apply_limitation(&k, status);
        let task_id = status.task_id.clone();
        self.record_update(&k, status).await?;
        let inner = self.lock();
        if let Some(c) = inner.executors.get(&exec_key) {
            let _ = c.tx.send(exec::Event::Acknowledged(exec::Acknowledged {
                task_id,
                uuid,
            }));
        }
        Ok(())
    }

    /// `MESSAGE` from an executor: forwarded to the master.
    pub fn executor_message(&self, fw: FrameworkId, ex: ExecutorId, data: Base64Bytes) {
        if let Some(agent_id) = self.agent_id() {
            let _ = self.outbox.send(Call::Message {
                agent_id,
                framework_id: fw,
                executor_id: ex,
                data,
            });
        }
    }

    /// An executor stream ended (only forgets it if it is still the
    /// current one).
    pub fn executor_disconnected(&self, fw: &FrameworkId, ex: &ExecutorId, conn: u64) {
        let mut inner = self.lock();
        let k = key(fw, ex.as_str());
        if inner.executors.get(&k).is_some_and(|c| c.id == conn) {
            inner.executors.remove(&k);
        }
    }

    /// The id of the current subscription of an executor.
    pub fn executor_conn_id(&self, fw: &FrameworkId, ex: &ExecutorId) -> Option<u64> {
        self.lock()
            .executors
            .get(&key(fw, ex.as_str()))
            .map(|c| c.id)
    }

    /// Whether `path` (canonical) is inside a sandbox of this agent.
    pub fn sandbox_root(&self) -> PathBuf {
        self.cfg.work_dir.join("slaves")
    }

    /// Runs a command inside the running container of task `task_id`
    /// (nested exec; see [`crate::container::exec`]).
    pub async fn exec_in_task(
        &self,
        task_id: &str,
        args: Vec<String>,
    ) -> Result<crate::container::ExecOutput, crate::container::ExecError> {
        use crate::container::ExecError;
        let container = {
            let inner = self.lock();
            let r = inner
                .tasks
                .values()
                .find(|r| r.info.task_id.value == task_id)
                .ok_or_else(|| ExecError::UnknownTask(task_id.to_owned()))?;
            if r.state != TaskState::Running {
                return Err(ExecError::NotContainerized(task_id.to_owned()));
            }
            r.container_id.clone()
        };
        crate::container::exec(
            &self.cfg.executor_command,
            &self.cfg.containers.provisioner,
            task_id,
            &container,
            args,
            Duration::from_secs(60),
        )
        .await
    }

    /// `/state`: the agent's state in the shape of Mesos' `/slave(1)/state`.
    pub fn state_json(&self) -> serde_json::Value {
        use serde_json::json;
        let inner = self.lock();
        let resources = resources_json(&self.cfg.agent_info.resources);
        let task_json = |r: &TaskRecord| {
            json!({
                "id": r.info.task_id.value,
                "name": r.info.name,
                "framework_id": r.framework_id.value,
                "executor_id": r.executor_id.value,
                "slave_id": inner.agent_id.as_ref().map(|a| a.value.clone()),
                "state": r.state,
                "resources": resources_json(&r.info.resources),
                "statuses": r.latest.iter().collect::<Vec<_>>(),
                "labels": r.info.labels.as_ref().map(|l| l.labels.clone()).unwrap_or_default(),
            })
        };
        // One entry per executor as the framework knows it: the tasks of a
        // task group all sit under the group's executor (its resources are
        // the executor's plus its tasks'); the container and directory
        // shown are those of its first task.
        let executor_json = |r: &TaskRecord| {
            let (name, source) = match &r.group {
                Some(g) => (
                    g.executor
                        .name
                        .clone()
                        .unwrap_or_else(|| "Default Executor".to_owned()),
                    g.executor.source.clone().unwrap_or_default(),
                ),
                None if r.info.executor.is_some() => {
                    let e = r.info.executor.as_ref().expect("checked");
                    (
                        e.name.clone().unwrap_or_default(),
                        e.source.clone().unwrap_or_default(),
                    )
                }
                None => (
                    format!("Command Executor (Task: {})", r.info.task_id),
                    r.info.task_id.value.clone(),
                ),
            };
            json!({
                "id": r.reported_executor_id().value,
                "name": name,
                "source": source,
                "type": match (&r.group, &r.info.executor) {
                    (Some(_), _) => "DEFAULT",
                    (None, Some(_)) => "CUSTOM",
                    (None, None) => "COMMAND",
                },
                "container": r.container_id,
                "directory": r.directory,
                "tasks": [],
                "queued_tasks": [],
                "completed_tasks": [],
            })
        };
        type Entry = (serde_json::Value, Vec<Resource>);
        let mut live: BTreeMap<(String, String), Entry> = BTreeMap::new();
        let mut done: BTreeMap<(String, String), Entry> = BTreeMap::new();
        let records = inner
            .tasks
            .values()
            .map(|r| (r, false))
            .chain(inner.completed.iter().map(|r| (r, true)));
        for (r, completed) in records {
            let map = if completed { &mut done } else { &mut live };
            let (e, res) = map
                .entry((
                    r.framework_id.value.clone(),
                    r.reported_executor_id().value.clone(),
                ))
                .or_insert_with(|| {
                    let res = r
                        .group
                        .as_ref()
                        .map(|g| g.executor.resources.clone())
                        .unwrap_or_default();
                    (executor_json(r), res)
                });
            res.extend(r.info.resources.iter().cloned());
            let list = if completed {
                "completed_tasks"
            } else {
                "tasks"
            };
            e[list].as_array_mut().expect("array").push(task_json(r));
        }
        let mut frameworks: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let fw_entry = |id: &str| {
            let f = inner.frameworks.get(id);
            json!({
                "id": id,
                "name": f.map(|f| f.name.clone()).unwrap_or_default(),
                "user": f.map(|f| f.user.clone()).unwrap_or_default(),
                "role": f.and_then(|f| f.role.clone().or_else(|| f.roles.first().cloned())).unwrap_or_else(|| "*".into()),
                "checkpoint": true,
                "executors": [],
                "completed_executors": [],
            })
        };
        for (list, map) in [("executors", live), ("completed_executors", done)] {
            for ((fw, _), (mut ex, res)) in map {
                ex["resources"] = resources_json(&res);
                let e = frameworks
                    .entry(fw.clone())
                    .or_insert_with(|| fw_entry(&fw));
                e[list].as_array_mut().expect("array").push(ex);
            }
        }
        let attributes: serde_json::Map<String, serde_json::Value> = self
            .cfg
            .agent_info
            .attributes
            .iter()
            .map(|a| {
                let v = match (&a.text, &a.scalar) {
                    (Some(t), _) => json!(t.value),
                    (_, Some(s)) => json!(s.value),
                    _ => serde_json::Value::Null,
                };
                (a.name.clone(), v)
            })
            .collect();
        json!({
            "id": inner.agent_id.as_ref().map(|a| a.value.clone()),
            "pid": format!("slave(1)@{}", self.cfg.executor_endpoint),
            "hostname": self.cfg.agent_info.hostname,
            "version": env!("CARGO_PKG_VERSION"),
            "start_time": self.started.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            "master_hostname": inner.master,
            "resources": resources,
            "attributes": attributes,
            "flags": {"work_dir": self.cfg.work_dir, "isolation": self.isolator.name()},
            "frameworks": frameworks.into_values().collect::<Vec<_>>(),
            "completed_frameworks": [],
        })
    }

    /// `/metrics/snapshot`.
    pub fn metrics_json(&self) -> serde_json::Value {
        let inner = self.lock();
        let count = |s: TaskState| {
            inner.tasks.values().filter(|r| r.state == s).count() as u64
                + inner.terminal_counts.get(&s).copied().unwrap_or(0)
        };
        let res =
            Resources::try_from_vec(self.cfg.agent_info.resources.clone()).unwrap_or_default();
        serde_json::json!({
            "slave/registered": if inner.master.is_some() { 1 } else { 0 },
            "slave/uptime_secs": self.started.elapsed().map(|d| d.as_secs_f64()).unwrap_or(0.0),
            "slave/tasks_staging": count(TaskState::Staging),
            "slave/tasks_starting": count(TaskState::Starting),
            "slave/tasks_running": count(TaskState::Running),
            "slave/tasks_finished": count(TaskState::Finished),
            "slave/tasks_failed": count(TaskState::Failed),
            "slave/tasks_killed": count(TaskState::Killed),
            "slave/executors_running": inner.executors.len(),
            "slave/executors_registering": inner
                .tasks
                .iter()
                .filter(|(k, r)| r.executor_pid.is_some() && !inner.executors.contains_key(*k))
                .count(),
            "slave/cpus_total": res.cpus().unwrap_or(0.0),
            "slave/mem_total": res.mem().unwrap_or(0.0),
            "slave/disk_total": res.disk().unwrap_or(0.0),
        })
    }
}

/// Mesos' flat resource map: scalars as numbers, ranges as `[a-b, c-d]`.
pub fn resources_json(resources: &[Resource]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for r in resources {
        if let Some(s) = &r.scalar {
            let prev = map.get(&r.name).and_then(|v| v.as_f64()).unwrap_or(0.0);
            map.insert(r.name.clone(), serde_json::json!(prev + s.value));
        } else if let Some(ranges) = &r.ranges {
            let text = ranges
                .range
                .iter()
                .map(|x| format!("{}-{}", x.begin, x.end))
                .collect::<Vec<_>>()
                .join(", ");
            map.insert(r.name.clone(), serde_json::json!(format!("[{text}]")));
        } else if let Some(set) = &r.set {
            map.insert(
                r.name.clone(),
                serde_json::json!(format!("{{{}}}", set.item.join(", "))),
            );
        }
    }
    serde_json::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isolator::fake::{Op, Recording};
    use crate::launcher::{LaunchError, Launched};
    use futures::FutureExt;

    /// Records specs, "starts" pid 4242 that never exits.
    #[derive(Default)]
    struct FakeLauncher(Mutex<Vec<ExecutorSpec>>);

    impl Launcher for FakeLauncher {
        fn launch(&self, spec: &ExecutorSpec) -> Result<Launched, LaunchError> {
            self.0.lock().unwrap().push(spec.clone());
            Ok(Launched {
                pid: 4242,
                start_time: None,
                exited: futures::future::pending().boxed(),
            })
        }
    }

    async fn agent() -> (
        Arc<Agent>,
        mpsc::UnboundedReceiver<Call>,
        Arc<Recording>,
        Arc<FakeLauncher>,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (cp, stored) = Checkpoint::open(&dir.path().join("meta")).await.unwrap();
        let isolator = Arc::new(Recording::default());
        let launcher = Arc::new(FakeLauncher::default());
        let cfg = Config {
            work_dir: dir.path().to_owned(),
            agent_info: AgentInfo {
                hostname: "h".into(),
                port: Some(5051),
                resources: vec![],
                attributes: vec![],
                id: None,
                domain: None,
            },
            endpoint: "http://127.0.0.1:5051".into(),
            executor_endpoint: "127.0.0.1:5051".into(),
            retry_interval: Duration::from_secs(10),
            recovery_timeout: Duration::from_secs(60),
            gc_delay: Duration::from_secs(7 * 24 * 3600),
            containers: ContainerConfig::default(),
            executor_command: ("/bin/dcos".into(), vec!["daemon".into(), "executor".into()]),
        };
        let (a, rx) = Agent::new(cfg, cp, stored, isolator.clone(), launcher.clone());
        a.on_registered(AgentId::new("a1"), "http://m").await;
        (a, rx, isolator, launcher, dir)
    }

    #[tokio::test]
    async fn launch_isolates_the_executor_and_oom_becomes_the_memory_reason() {
        let (a, mut outbox, isolator, launcher, dir) = agent().await;
        let mut fw = FrameworkInfo::new("u", "f");
        fw.id = Some(FrameworkId::new("f1"));
        let mut task = TaskInfo::command(
            "t",
            TaskId::new("t1"),
            AgentId::new("a1"),
            CommandInfo::shell("x"),
        );
        task.resources = vec![Resource::scalar("cpus", 0.5), Resource::scalar("mem", 64.0)];
        a.handle_event(Event::RunTask {
            framework: fw,
            task,
        })
        .await;

        // Wait for the (spawned) launch.
        for _ in 0..200 {
            if !launcher.0.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let spec = launcher.0.lock().unwrap()[0].clone();
        let sandbox = spec.directory.clone();
        assert!(sandbox.starts_with(dir.path().join("slaves/a1/frameworks/f1/executors/t1/runs")));
        assert!(sandbox.is_dir());
        assert_eq!(spec.env["MESOS_EXECUTOR_ID"], "t1");
        assert_eq!(spec.env["MESOS_AGENT_ENDPOINT"], "127.0.0.1:5051");
        assert_eq!(spec.env["MESOS_CHECKPOINT"], "1");
        let container = sandbox.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            *isolator.ops.lock().unwrap(),
            vec![
                Op::Prepare(
                    container.clone(),
                    Limits {
                        cpus: Some(0.5),
                        mem_mb: Some(64.0)
                    }
                ),
                Op::Isolate(container.clone(), 4242),
            ]
        );

        // The executor subscribes and gets SUBSCRIBED then LAUNCH.
        let mut events = a
            .executor_subscribe(
                FrameworkId::new("f1"),
                ExecutorId::new("t1"),
                exec::Subscribe::default(),
            )
            .await
            .unwrap();
        assert!(matches!(
            events.recv().await,
            Some(exec::Event::Subscribed(_))
        ));
        assert!(matches!(events.recv().await, Some(exec::Event::Launch(_))));

        // The kernel OOM-killed in the container; the executor saw a signal.
        isolator.oom.lock().unwrap().push(container.clone());
        let mut status = TaskStatus::new(TaskId::new("t1"), TaskState::Failed);
        status.uuid = Some(fresh_uuid());
        status.message = Some("Command terminated with signal SIGKILL".into());
        a.executor_update(FrameworkId::new("f1"), ExecutorId::new("t1"), status)
            .await
            .unwrap();
        assert!(matches!(
            events.recv().await,
            Some(exec::Event::Acknowledged(_))
        ));
        let Some(Call::Update { status, .. }) = outbox.recv().await else {
            panic!("no update sent");
        };
        assert_eq!(status.state, TaskState::Failed);
        assert_eq!(status.reason, Some(Reason::ContainerLimitationMemory));
        assert_eq!(status.source, Some(Source::Agent));
        assert_eq!(status.limitation.unwrap().resources[0].name, "mem");
        assert_eq!(status.agent_id, Some(AgentId::new("a1")));

        // A bad uuid is refused; an unknown executor too.
        let bad = TaskStatus::new(TaskId::new("t1"), TaskState::Running);
        assert!(matches!(
            a.executor_update(FrameworkId::new("f1"), ExecutorId::new("t1"), bad)
                .await,
            Err(AgentError::BadUuid(_))
        ));
        assert!(a
            .executor_subscribe(
                FrameworkId::new("f1"),
                ExecutorId::new("nope"),
                exec::Subscribe::default()
            )
            .await
            .is_err());
    }

    #[tokio::test]
    async fn a_failed_task_of_a_group_kills_the_group() {
        let (a, mut outbox, _isolator, launcher, _dir) = agent().await;
        let mut fw = FrameworkInfo::new("u", "f");
        fw.id = Some(FrameworkId::new("f1"));
        let task = |id: &str| {
            let mut t = TaskInfo::command(
                id,
                TaskId::new(id),
                AgentId::new("a1"),
                CommandInfo::shell("sleep 100"),
            );
            t.resources = vec![Resource::scalar("cpus", 0.1), Resource::scalar("mem", 32.0)];
            t
        };
        let mut executor = ExecutorInfo::new(ExecutorId::new("g"));
        executor.resources = vec![Resource::scalar("cpus", 0.1), Resource::scalar("mem", 32.0)];
        a.handle_event(Event::RunTaskGroup {
            framework: fw,
            executor,
            task_group: TaskGroupInfo {
                tasks: vec![task("t1"), task("t2")],
            },
        })
        .await;
        for _ in 0..200 {
            if launcher.0.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let specs = launcher.0.lock().unwrap().clone();
        assert_eq!(specs.len(), 2, "one executor process per task");
        let mut ids: Vec<&str> = specs
            .iter()
            .map(|s| s.env["MESOS_EXECUTOR_ID"].as_str())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, ["t1", "t2"]);

        let subscribe = |id: &str| {
            a.executor_subscribe(
                FrameworkId::new("f1"),
                ExecutorId::new(id),
                exec::Subscribe::default(),
            )
        };
        let mut e1 = subscribe("t1").await.unwrap();
        let mut e2 = subscribe("t2").await.unwrap();
        for e in [&mut e1, &mut e2] {
            assert!(matches!(e.recv().await, Some(exec::Event::Subscribed(_))));
            assert!(matches!(e.recv().await, Some(exec::Event::Launch(_))));
        }

        // t1 fails: the agent forwards it under the group's executor id and
        // has t2's executor kill t2.
        let mut status = TaskStatus::new(TaskId::new("t1"), TaskState::Failed);
        status.uuid = Some(fresh_uuid());
        a.executor_update(FrameworkId::new("f1"), ExecutorId::new("t1"), status)
            .await
            .unwrap();
        let Some(Call::Update { status, .. }) = outbox.recv().await else {
            panic!("no update sent");
        };
        assert_eq!(status.task_id, TaskId::new("t1"));
        assert_eq!(status.executor_id, Some(ExecutorId::new("g")));
        let kill = tokio::time::timeout(Duration::from_secs(5), e2.recv())
            .await
            .expect("t2 is killed");
        match kill {
            Some(exec::Event::Kill(k)) => assert_eq!(k.task_id, TaskId::new("t2")),
            other => panic!("expected KILL of t2, got {other:?}"),
        }
        // The register message lists the group's executor once.
        let reg = a.register_message();
        assert_eq!(reg.executors.len(), 1);
        assert_eq!(reg.executors[0].executor_id, ExecutorId::new("g"));
    }

    #[tokio::test]
    async fn a_custom_executor_runs_its_command_with_the_executor_environment() {
        let (a, _outbox, _isolator, launcher, dir) = agent().await;
        let mut fw = FrameworkInfo::new("u", "f");
        fw.id = Some(FrameworkId::new("f1"));
        let mut task = TaskInfo::command(
            "t",
            TaskId::new("t1"),
            AgentId::new("a1"),
            CommandInfo::shell("x"),
        );
        task.command = None;
        let mut executor = ExecutorInfo::new(ExecutorId::new("mine"));
        executor.command = Some(CommandInfo::shell("./my-executor --flag"));
        task.executor = Some(executor);
        a.handle_event(Event::RunTask {
            framework: fw.clone(),
            task: task.clone(),
        })
        .await;
        for _ in 0..200 {
            if !launcher.0.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let spec = launcher.0.lock().unwrap()[0].clone();
        assert_eq!(spec.program, PathBuf::from("/bin/sh"));
        assert_eq!(spec.args, ["-c", "./my-executor --flag"]);
        assert_eq!(spec.env["MESOS_EXECUTOR_ID"], "mine");
        assert_eq!(spec.env["MESOS_FRAMEWORK_ID"], "f1");
        assert_eq!(
            spec.env["MESOS_SANDBOX"],
            spec.directory.display().to_string()
        );
        assert!(spec.directory.starts_with(
            dir.path()
                .join("slaves/a1/frameworks/f1/executors/mine/runs")
        ));

        // It subscribes as "mine" and is launched with the task; an update
        // for a task it does not run is refused.
        let mut events = a
            .executor_subscribe(
                FrameworkId::new("f1"),
                ExecutorId::new("mine"),
                exec::Subscribe::default(),
            )
            .await
            .unwrap();
        match events.recv().await {
            Some(exec::Event::Subscribed(s)) => {
                assert_eq!(s.executor_info.executor_id, ExecutorId::new("mine"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(events.recv().await, Some(exec::Event::Launch(_))));
        let mut other = TaskStatus::new(TaskId::new("t2"), TaskState::Running);
        other.uuid = Some(fresh_uuid());
        assert!(matches!(
            a.executor_update(FrameworkId::new("f1"), ExecutorId::new("mine"), other)
                .await,
            Err(AgentError::WrongTask(_))
        ));

        // A second task for the same (busy) executor is refused.
        let mut second = task;
        second.task_id = TaskId::new("t2");
        a.handle_event(Event::RunTask {
            framework: fw,
            task: second,
        })
        .await;
        let state = a.state_json();
        let executors = state["frameworks"][0]["executors"].as_array().unwrap();
        assert_eq!(executors.len(), 1, "{state}");
        assert_eq!(executors[0]["id"], "mine");
        let tasks = executors[0]["tasks"].as_array().unwrap();
        let t2 = tasks.iter().find(|t| t["id"] == "t2").expect("t2 listed");
        assert_eq!(t2["state"], "TASK_FAILED");
        let t1 = tasks.iter().find(|t| t["id"] == "t1").expect("t1 listed");
        assert_eq!(t1["state"], "TASK_STAGING");
    }
}
