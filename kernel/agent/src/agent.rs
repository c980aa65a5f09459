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
    ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy, Reason, Resource, Source, TaskId,
    TaskInfo, TaskResourceLimitation, TaskState, TaskStatus,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::fetcher::Fetcher;
use crate::isolator::{Isolator, Limits};
use crate::launcher::{self, ExecutorSpec, Launcher};
use crate::state::{framework_key, AckOutcome, TaskRecord, AGENT_ID_KEY};

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
        let agent = Arc::new(Agent {
            cfg,
            inner: Mutex::new(inner),
            checkpoint,
            isolator,
            launcher,
            fetcher,
            outbox,
            stop: CancellationToken::new(),
            started: SystemTime::now(),
        });
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
                    let (fw, ex, start) = (
                        r.framework_id.clone(),
                        r.executor_id.clone(),
                        r.executor_start_time,
                    );
                    tokio::spawn(async move {
                        launcher::watch_pid(pid, start, Duration::from_millis(250)).await;
                        agent.executor_exited(&fw, &ex).await;
                    });
                    self.watch_limits(
                        key(&r.framework_id, r.executor_id.as_str()),
                        r.container_id.clone(),
                    );
                }
                _ => {
                    tracing::info!("executor of task {} is gone", r.info.task_id);
                    let agent = self.clone();
                    tokio::spawn(async move {
                        agent.executor_exited(&r.framework_id, &r.executor_id).await;
                    });
                }
            }
        }
    }

    /// The body of `/agent/v1/subscribe`.
    pub fn register_message(&self) -> Register {
        let inner = self.lock();
        let mut agent_info = self.cfg.agent_info.clone();
        agent_info.id = inner.agent_id.clone();
        let tasks: Vec<_> = inner.tasks.values().map(TaskRecord::to_task).collect();
        let executors = inner
            .tasks
            .values()
            .filter(|r| !r.state.is_terminal())
            .map(|r| self.executor_info(r))
            .collect();
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
                task_group,
                ..
            } => {
                for task in task_group.tasks {
                    self.refuse_task(
                        &framework,
                        task,
                        "task groups (LAUNCH_GROUP) are not supported by this agent",
                    )
                    .await;
                }
            }
            Event::KillTask {
                framework_id,
                task_id,
                kill_policy,
            } => self.kill_task(&framework_id, &task_id, kill_policy).await,
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
                if let Some(c) = inner
                    .executors
                    .get(&key(&framework_id, executor_id.as_str()))
                {
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
        let ex = task.task_id.value.clone();
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

    async fn run_task(self: &Arc<Self>, framework: FrameworkInfo, task: TaskInfo) {
        let Some(fw) = framework.id.clone() else {
            tracing::warn!("RUN_TASK without a framework id; dropped");
            return;
        };
        if task.executor.is_some() {
            return self
                .refuse_task(
                    &framework,
                    task,
                    "custom executors are not supported by this agent",
                )
                .await;
        }
        if task.command.is_none() {
            return self
                .refuse_task(&framework, task, "the task has no command")
                .await;
        }
        let Some(agent_id) = self.agent_id() else {
            return;
        };
        let ex = task.task_id.value.clone();
        let container = uuid::Uuid::new_v4().to_string();
        let dir = self.sandbox_dir(&agent_id, &fw, &ex, &container);
        let record = TaskRecord::new(
            fw.clone(),
            task,
            ExecutorId::new(ex.clone()),
            container.clone(),
            dir.clone(),
        );
        let k = key(&fw, &ex);
        let receipt = {
            let mut inner = self.lock();
            if inner.tasks.contains_key(&k) {
                tracing::warn!("task {ex} of framework {fw} already exists; RUN_TASK ignored");
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
        let Some(info) = self.lock().tasks.get(k).map(|r| r.info.clone()) else {
            return Ok(());
        };
        let uris = info
            .command
            .as_ref()
            .map(|c| c.uris.clone())
            .unwrap_or_default();
        if !uris.is_empty() {
            self.fetcher.fetch_all(&uris, dir).await.map_err(|e| {
                format!("Failed to fetch all URIs for container '{container}': {e}")
            })?;
        }
        let resources = Resources::try_from_vec(info.resources.clone()).unwrap_or_default();
        let limits = Limits {
            cpus: resources.cpus(),
            mem_mb: resources.mem(),
        };
        let isolator = self.isolator.clone();
        let c = container.to_owned();
        tokio::task::spawn_blocking(move || isolator.prepare(&c, &limits))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("Failed to prepare isolation: {e}"))?;

        let spec = self.executor_spec(k, dir);
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
        let (fw, ex) = (FrameworkId::new(k.0.clone()), ExecutorId::new(k.1.clone()));
        tokio::spawn(async move {
            launched.exited.await;
            agent.executor_exited(&fw, &ex).await;
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

    fn executor_spec(&self, k: &(String, String), dir: &Path) -> ExecutorSpec {
        let env = ExecutorEnvironment {
            framework_id: FrameworkId::new(k.0.clone()),
            executor_id: ExecutorId::new(k.1.clone()),
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
        ExecutorSpec {
            program: self.cfg.executor_command.0.clone(),
            args: self.cfg.executor_command.1.clone(),
            env: vars,
            directory: dir.to_owned(),
        }
    }

    fn executor_info(&self, r: &TaskRecord) -> ExecutorInfo {
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
            let call = agent_id.filter(|_| front).map(|agent_id| Call::Update {
                agent_id,
                framework_id: r.framework_id.clone(),
                status,
            });
            (receipt, call)
        };
        receipt.durable().await?;
        if let Some(c) = send {
            let _ = self.outbox.send(c);
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
            s.executor_id = Some(r.executor_id.clone());
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
    pub async fn executor_exited(self: &Arc<Self>, fw: &FrameworkId, ex: &ExecutorId) {
        let k = key(fw, ex.as_str());
        self.lock().executors.remove(&k);
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
            let Some(r) = inner.tasks.get(&k) else {
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

    /// `UPDATE` from an executor; returns once checkpointed (and has sent
    /// ACKNOWLEDGED on the executor's stream).
    pub async fn executor_update(
        self: &Arc<Self>,
        fw: FrameworkId,
        ex: ExecutorId,
        mut status: TaskStatus,
    ) -> Result<(), AgentError> {
        let k = key(&fw, ex.as_str());
        let uuid = match &status.uuid {
            Some(u) if u.len() == 16 => u.clone(),
            _ => return Err(AgentError::BadUuid(status.task_id.value.clone())),
        };
        {
            let inner = self.lock();
            let Some(r) = inner.tasks.get(&k) else {
                return Err(AgentError::UnknownExecutor {
                    framework_id: fw.value,
                    executor_id: ex.value,
                });
            };
            if r.info.task_id != status.task_id {
                return Err(AgentError::WrongTask(status.task_id.value.clone()));
            }
            status.agent_id = inner.agent_id.clone();
            status.executor_id = Some(ex.clone());
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
        if let Some(c) = inner.executors.get(&k) {
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
        let executor_json = |r: &TaskRecord, completed: bool| {
            let tasks = if completed {
                vec![]
            } else {
                vec![task_json(r)]
            };
            let done = if completed {
                vec![task_json(r)]
            } else {
                vec![]
            };
            json!({
                "id": r.executor_id.value,
                "name": format!("Command Executor (Task: {})", r.info.task_id),
                "source": r.info.task_id.value,
                "container": r.container_id,
                "directory": r.directory,
                "resources": resources_json(&r.info.resources),
                "tasks": tasks,
                "queued_tasks": [],
                "completed_tasks": done,
            })
        };
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
        for ((fw, _), r) in &inner.tasks {
            let e = frameworks.entry(fw.clone()).or_insert_with(|| fw_entry(fw));
            e["executors"]
                .as_array_mut()
                .expect("array")
                .push(executor_json(r, false));
        }
        for r in &inner.completed {
            let fw = &r.framework_id.value;
            let e = frameworks.entry(fw.clone()).or_insert_with(|| fw_entry(fw));
            e["completed_executors"]
                .as_array_mut()
                .expect("array")
                .push(executor_json(r, true));
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
}
