//! Hollow agents (`dcos daemon agent --hollow N`): one process that
//! registers N agents with the master, each with its own subscription
//! stream, heartbeats and status-update stream, but a fake executor: a
//! task goes TASK_RUNNING at once and ends TASK_KILLED when killed, or
//! TASK_FINISHED after the seconds in its `hollow_duration_seconds` label.
//! For scale tests and benchmarks of the master (10,000 agents on a
//! laptop); nothing runs and nothing is checkpointed.
//!
//! Status updates are still reliable: each is re-sent until the master
//! relays the framework's acknowledgement, so the master's books can be
//! checked against what the framework saw.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use dcos_api::agent::{Call, Event, Register, CALL_PATH, STREAM_ID_HEADER, SUBSCRIBE_PATH};
use dcos_api::recordio::Decoder;
use dcos_api::resources::Resources;
use dcos_api::v1::{
    AgentId, AgentInfo, Base64Bytes, FrameworkId, Source, TaskId, TaskState, TaskStatus,
};
use futures::StreamExt;
use tokio::sync::mpsc;

/// Label that makes a hollow task finish by itself after that many seconds.
pub const DURATION_LABEL: &str = "hollow_duration_seconds";

/// How the hollow process runs.
#[derive(Debug, Clone)]
pub struct HollowConfig {
    /// Master URL (any master; redirects are followed).
    pub master: String,
    /// Number of simulated agents.
    pub count: usize,
    /// Resources of each simulated agent.
    pub resources: Resources,
    /// Hostname prefix; agent `i` is `<prefix>-<i>`.
    pub hostname: String,
    /// Concurrent HTTP calls (updates and heartbeats) in flight.
    pub senders: usize,
}

/// One call to deliver to the master for an agent.
struct Outgoing {
    agent: usize,
    call: Call,
}

#[derive(Default)]
struct AgentState {
    agent_id: Option<AgentId>,
    stream_id: Option<String>,
    /// Live tasks and their framework.
    tasks: HashMap<TaskId, FrameworkId>,
    /// Unacknowledged updates by uuid: (framework, status, last sent;
    /// `None` while it waits in the send queue).
    /// At most one per task, as a real agent's status update manager
    /// keeps one stream per task: the next update of a task is sent only
    /// once the master relays the acknowledgement of the previous one.
    pending: HashMap<Vec<u8>, (FrameworkId, TaskStatus, Option<Instant>)>,
    /// Tasks with an update in flight, and their later updates in order.
    waiting: HashMap<TaskId, VecDeque<(FrameworkId, TaskStatus)>>,
}

impl AgentState {
    /// Queues `status` behind the task's update in flight, or returns it
    /// (now in flight) to be sent.
    fn enqueue(
        &mut self,
        fw: FrameworkId,
        status: TaskStatus,
    ) -> Option<(FrameworkId, TaskStatus)> {
        if let Some(queue) = self.waiting.get_mut(&status.task_id) {
            queue.push_back((fw, status));
            return None;
        }
        self.waiting.insert(status.task_id.clone(), VecDeque::new());
        self.start(fw, status)
    }

    fn start(&mut self, fw: FrameworkId, status: TaskStatus) -> Option<(FrameworkId, TaskStatus)> {
        let uuid = status.uuid.as_ref().map(|u| u.to_vec()).unwrap_or_default();
        self.pending
            .insert(uuid, (fw.clone(), status.clone(), None));
        Some((fw, status))
    }

    /// The acknowledgement of `uuid`: the task's next update, if any, to
    /// be sent.
    fn acknowledged(&mut self, uuid: &[u8]) -> Option<(FrameworkId, TaskStatus)> {
        let (_, status, _) = self.pending.remove(uuid)?;
        let queue = self.waiting.get_mut(&status.task_id)?;
        match queue.pop_front() {
            Some((fw, next)) => self.start(fw, next),
            None => {
                self.waiting.remove(&status.task_id);
                None
            }
        }
    }
}

struct Shared {
    cfg: HollowConfig,
    http: reqwest::Client,
    agents: Vec<Mutex<AgentState>>,
    registered: AtomicUsize,
    /// Status updates. Unbounded, but holds at most one update per live
    /// task (the others wait in `AgentState::waiting`); dropping one here
    /// would stall its task for the 10 s retry.
    out: mpsc::UnboundedSender<Outgoing>,
    /// Heartbeats, sent ahead of queued updates so that a backlog of
    /// updates cannot make the master think the agents are gone.
    beats: mpsc::Sender<Outgoing>,
    heartbeat: Mutex<Duration>,
}

/// Runs N hollow agents until `shutdown` resolves.
pub async fn run(
    cfg: HollowConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    anyhow::ensure!(cfg.count > 0, "--hollow needs at least one agent");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.senders.max(1) * 2)
        .tcp_nodelay(true)
        .build()
        .context("building the HTTP client")?;
    let (tx, rx) = mpsc::unbounded_channel::<Outgoing>();
    let (beats_tx, beats_rx) = mpsc::channel::<Outgoing>(1_024);
    let shared = Arc::new(Shared {
        agents: (0..cfg.count)
            .map(|_| Mutex::new(AgentState::default()))
            .collect(),
        cfg,
        http,
        registered: AtomicUsize::new(0),
        out: tx,
        beats: beats_tx,
        heartbeat: Mutex::new(Duration::from_secs(15)),
    });

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(senders(Arc::clone(&shared), rx, beats_rx));
    tasks.spawn(heartbeats_and_retries(Arc::clone(&shared)));
    for i in 0..shared.cfg.count {
        tasks.spawn(agent_loop(Arc::clone(&shared), i));
    }
    let announce = Arc::clone(&shared);
    tasks.spawn(async move {
        while announce.registered.load(Ordering::Relaxed) < announce.cfg.count {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let first = announce.agents[0]
            .lock()
            .unwrap()
            .agent_id
            .clone()
            .unwrap_or_default();
        println!(
            "dcos agent {first} registered with {} (hollow: {} agents)",
            announce.cfg.master, announce.cfg.count
        );
    });
    shutdown.await;
    tasks.shutdown().await;
    Ok(())
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn update(
    shared: &Shared,
    agent: usize,
    fw: FrameworkId,
    task: TaskId,
    state: TaskState,
    msg: &str,
) {
    let uuid = *uuid::Uuid::new_v4().as_bytes();
    let mut st = shared.agents[agent].lock().unwrap();
    let Some(agent_id) = st.agent_id.clone() else {
        return;
    };
    let mut status = TaskStatus::new(task.clone(), state);
    status.agent_id = Some(agent_id.clone());
    status.source = Some(Source::Executor);
    status.timestamp = Some(now_secs());
    status.uuid = Some(Base64Bytes::new(uuid.to_vec()));
    if !msg.is_empty() {
        status.message = Some(msg.to_string());
    }
    if state.is_terminal() {
        st.tasks.remove(&task);
    }
    let next = st.enqueue(fw, status);
    drop(st);
    if let Some((fw, status)) = next {
        send_update(shared, agent, agent_id, fw, status);
    }
}

fn send_update(
    shared: &Shared,
    agent: usize,
    agent_id: AgentId,
    framework_id: FrameworkId,
    status: TaskStatus,
) {
    let call = Call::Update {
        agent_id,
        framework_id,
        status,
    };
    // Fails only when shutting down.
    let _ = shared.out.send(Outgoing { agent, call });
}

async fn agent_loop(shared: Arc<Shared>, i: usize) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match subscribe_once(&shared, i).await {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::debug!(agent = i, error = %e, "hollow agent stream ended");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn subscribe_once(shared: &Arc<Shared>, i: usize) -> anyhow::Result<()> {
    let (agent_id, tasks) = {
        let st = shared.agents[i].lock().unwrap();
        (st.agent_id.clone(), st.tasks.clone())
    };
    let _ = tasks; // Hollow tasks are re-reported through pending updates.
    let register = Register {
        agent_id: agent_id.clone(),
        agent_info: AgentInfo {
            hostname: format!("{}-{i}", shared.cfg.hostname),
            port: Some(5051),
            resources: shared.cfg.resources.clone().into_vec(),
            attributes: Vec::new(),
            id: agent_id,
            domain: None,
        },
        endpoint: format!("http://{}-{i}:5051", shared.cfg.hostname),
        version: env!("CARGO_PKG_VERSION").to_string(),
        tasks: Vec::new(),
        executors: Vec::new(),
        frameworks: Vec::new(),
    };
    let resp = shared
        .http
        .post(format!("{}{SUBSCRIBE_PATH}", shared.cfg.master))
        .json(&register)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status().is_success(),
        "subscribe answered {}",
        resp.status()
    );
    let stream_id = resp
        .headers()
        .get(STREAM_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    shared.agents[i].lock().unwrap().stream_id = stream_id;
    let mut decoder = Decoder::default();
    let mut body = resp.bytes_stream();
    let mut counted = false;
    while let Some(chunk) = body.next().await {
        for record in decoder.decode(&chunk?)? {
            let event: Event = serde_json::from_slice(&record)?;
            handle(shared, i, event, &mut counted);
        }
    }
    Ok(())
}

fn handle(shared: &Arc<Shared>, i: usize, event: Event, counted: &mut bool) {
    match event {
        Event::Registered {
            agent_id,
            heartbeat_interval_seconds,
            ..
        } => {
            let mut st = shared.agents[i].lock().unwrap();
            st.agent_id = Some(agent_id);
            drop(st);
            if heartbeat_interval_seconds > 0.0 {
                *shared.heartbeat.lock().unwrap() =
                    Duration::from_secs_f64(heartbeat_interval_seconds);
            }
            if !*counted {
                *counted = true;
                shared.registered.fetch_add(1, Ordering::Relaxed);
            }
        }
        Event::Heartbeat => {}
        Event::RunTask { framework, task } => {
            let fw = framework.id.clone().unwrap_or_default();
            let duration = task
                .labels
                .as_ref()
                .and_then(|l| l.get(DURATION_LABEL))
                .and_then(|v| v.parse::<f64>().ok());
            shared.agents[i]
                .lock()
                .unwrap()
                .tasks
                .insert(task.task_id.clone(), fw.clone());
            update(
                shared,
                i,
                fw.clone(),
                task.task_id.clone(),
                TaskState::Running,
                "",
            );
            if let Some(secs) = duration {
                let shared = Arc::clone(shared);
                let id = task.task_id;
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
                    let live = shared.agents[i].lock().unwrap().tasks.contains_key(&id);
                    if live {
                        update(
                            &shared,
                            i,
                            fw,
                            id,
                            TaskState::Finished,
                            "hollow task finished",
                        );
                    }
                });
            }
        }
        Event::RunTaskGroup {
            framework,
            task_group,
            ..
        } => {
            let fw = framework.id.clone().unwrap_or_default();
            for task in task_group.tasks {
                shared.agents[i]
                    .lock()
                    .unwrap()
                    .tasks
                    .insert(task.task_id.clone(), fw.clone());
                update(shared, i, fw.clone(), task.task_id, TaskState::Running, "");
            }
        }
        Event::KillTask {
            framework_id,
            task_id,
            ..
        } => {
            let live = shared.agents[i]
                .lock()
                .unwrap()
                .tasks
                .contains_key(&task_id);
            let state = if live {
                TaskState::Killed
            } else {
                TaskState::Lost
            };
            update(shared, i, framework_id, task_id, state, "killed");
        }
        Event::Acknowledge { uuid, .. } => {
            let (agent_id, next) = {
                let mut st = shared.agents[i].lock().unwrap();
                (st.agent_id.clone(), st.acknowledged(uuid.as_bytes()))
            };
            if let (Some(agent_id), Some((fw, status))) = (agent_id, next) {
                send_update(shared, i, agent_id, fw, status);
            }
        }
        Event::ShutdownFramework { framework_id } => {
            let ids: Vec<TaskId> = shared.agents[i]
                .lock()
                .unwrap()
                .tasks
                .iter()
                .filter(|(_, f)| **f == framework_id)
                .map(|(t, _)| t.clone())
                .collect();
            for t in ids {
                update(
                    shared,
                    i,
                    framework_id.clone(),
                    t,
                    TaskState::Killed,
                    "framework shut down",
                );
            }
        }
        Event::Drain { .. } | Event::Shutdown { .. } => {
            let ids: Vec<(TaskId, FrameworkId)> = shared.agents[i]
                .lock()
                .unwrap()
                .tasks
                .iter()
                .map(|(t, f)| (t.clone(), f.clone()))
                .collect();
            for (t, f) in ids {
                update(shared, i, f, t, TaskState::Killed, "agent drained");
            }
        }
        Event::FrameworkMessage { .. } => {}
    }
}

/// Delivers calls with `senders` concurrent HTTP requests, heartbeats
/// first.
async fn senders(
    shared: Arc<Shared>,
    updates: mpsc::UnboundedReceiver<Outgoing>,
    beats: mpsc::Receiver<Outgoing>,
) {
    let rx = Arc::new(tokio::sync::Mutex::new((beats, updates)));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..shared.cfg.senders.max(1) {
        let shared = Arc::clone(&shared);
        let rx = Arc::clone(&rx);
        workers.spawn(async move {
            loop {
                let next = {
                    let mut guard = rx.lock().await;
                    let (beats, updates) = &mut *guard;
                    tokio::select! {
                        biased;
                        b = beats.recv() => b,
                        u = updates.recv() => u,
                    }
                };
                let Some(out) = next else {
                    return;
                };
                let stream_id = shared.agents[out.agent].lock().unwrap().stream_id.clone();
                let mut req = shared
                    .http
                    .post(format!("{}{CALL_PATH}", shared.cfg.master))
                    .json(&out.call);
                if let Some(s) = stream_id {
                    req = req.header(STREAM_ID_HEADER, s);
                }
                if let Err(e) = req.send().await {
                    tracing::debug!(error = %e, "hollow call failed; the retry loop re-sends updates");
                }
                // The retry clock starts when the update has left, not
                // when it was queued: a backlog is not a loss.
                if let Call::Update { status, .. } = &out.call {
                    let uuid = status.uuid.as_ref().map(|u| u.as_bytes()).unwrap_or_default();
                    if let Some(p) = shared.agents[out.agent].lock().unwrap().pending.get_mut(uuid) {
                        p.2 = Some(Instant::now());
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

/// Heartbeats every agent once per interval (spread over it) and re-sends
/// updates unacknowledged for 10 s.
async fn heartbeats_and_retries(shared: Arc<Shared>) {
    let retry_after = Duration::from_secs(10);
    loop {
        let interval = *shared.heartbeat.lock().unwrap();
        let step = interval / (shared.cfg.count as u32).max(1);
        let started = Instant::now();
        for i in 0..shared.cfg.count {
            let (agent_id, resend) = {
                let mut st = shared.agents[i].lock().unwrap();
                let now = Instant::now();
                let mut resend = Vec::new();
                for (fw, status, sent) in st.pending.values_mut() {
                    if sent.is_some_and(|t| now.duration_since(t) >= retry_after) {
                        *sent = None;
                        resend.push((fw.clone(), status.clone()));
                    }
                }
                (st.agent_id.clone(), resend)
            };
            if let Some(agent_id) = agent_id {
                for (framework_id, status) in resend {
                    let call = Call::Update {
                        agent_id: agent_id.clone(),
                        framework_id,
                        status,
                    };
                    let _ = shared.out.send(Outgoing { agent: i, call });
                }
                let _ = shared
                    .beats
                    .send(Outgoing {
                        agent: i,
                        call: Call::Heartbeat { agent_id },
                    })
                    .await;
            }
            let due = started + step * (i as u32 + 1);
            tokio::time::sleep_until(due.into()).await;
        }
    }
}
