//! The per-task command executor (`dcos daemon executor`, started by the
//! agent, not by people): runs one task's command, speaks the Mesos
//! executor HTTP API to the agent, and outlives agent restarts.
//!
//! It puts itself in a new session, reads the `MESOS_*` environment,
//! SUBSCRIBEs to `http://$MESOS_AGENT_ENDPOINT/api/v1/executor`, and on
//! LAUNCH runs the command (`sh -c` when `shell`, else argv) in its own
//! process group with the task's environment, `MESOS_*`, `HOST` and
//! `PORT*`/`PORTS`. It reports TASK_STARTING, TASK_RUNNING, then
//! TASK_FINISHED / TASK_FAILED / TASK_KILLED. KILL (or SIGTERM, or
//! SHUTDOWN) sends SIGTERM to the task's process group and SIGKILL after
//! the grace period. Updates are kept until the agent ACKNOWLEDGEs them;
//! when the agent goes away the task keeps running and the executor
//! re-subscribes (with its unacknowledged updates and task) until
//! `MESOS_RECOVERY_TIMEOUT`, after which it kills the task and exits. It
//! exits once its terminal update is acknowledged.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use dcos_api::executor::{self as exec, Call, CallBody, ExecutorEnvironment};
use dcos_api::recordio::Decoder;
use dcos_api::resources::Resources;
use dcos_api::v1::{Base64Bytes, Reason, Source, TaskInfo, TaskState, TaskStatus};
use futures::StreamExt;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Child;

use tokio::sync::mpsc;

use crate::agent::DEFAULT_GRACE_PERIOD;
use crate::health::{HealthState, Verdict};

/// Executor flags; everything else comes from the `MESOS_*` environment.
#[derive(Debug, Clone, Args)]
pub struct ExecutorFlags {}

/// Errors that end the executor.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The environment is incomplete.
    #[error(transparent)]
    Environment(#[from] exec::ExecutorError),
    /// The agent did not come back within the recovery timeout.
    #[error("the agent did not come back within {0:?}")]
    RecoveryTimeout(Duration),
}

/// Runs the executor until its task is done.
pub async fn run(flags: ExecutorFlags) -> anyhow::Result<()> {
    let _ = flags;
    // Started as a container supervisor by an executor, or for a nested
    // exec by the agent: these never return.
    crate::container::exec_if_asked();
    crate::container::supervise_if_asked().await;
    // Our own session: the agent's death (or its terminal's) must not
    // reach us. Fails only if we already lead a group, which is fine.
    let _ = nix::unistd::setsid();
    let env = ExecutorEnvironment::from_lookup(|k| std::env::var(k).ok())?;
    Executor::new(env).run().await?;
    Ok(())
}

struct Executor {
    env: ExecutorEnvironment,
    http: reqwest::Client,
    url: String,
    task: Option<TaskInfo>,
    child: Option<Child>,
    /// Sent but not yet acknowledged, oldest first.
    unacked: Vec<TaskStatus>,
    /// Whether any update of the task was acknowledged.
    any_acked: bool,
    terminal_sent: bool,
    /// Set once a kill started: when to escalate to SIGKILL.
    kill_deadline: Option<Instant>,
    killed: bool,
    hostname: String,
    /// The health check's results and verdict, once the task runs.
    health: Option<(
        HealthState,
        mpsc::UnboundedReceiver<bool>,
        tokio::task::JoinHandle<()>,
    )>,
    /// Latest health verdict, carried on later updates.
    healthy: Option<bool>,
    /// The kill was ours, after failed health checks.
    health_killed: bool,
    /// The task's container, when it runs from an image (the child is
    /// then its supervisor).
    container: Option<crate::container::Prepared>,
    /// The task's Docker container, when a Docker engine runs it.
    docker: Option<crate::docker::DockerTask>,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The task's environment: its own variables, then `MESOS_*` (inherited),
/// `MESOS_TASK_ID`, `HOST`, `PORT0..`, `PORT`, `PORTS`.
pub fn task_environment(task: &TaskInfo, hostname: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    vars.insert("MESOS_TASK_ID".to_owned(), task.task_id.value.clone());
    vars.insert("HOST".to_owned(), hostname.to_owned());
    let ports: Vec<u64> = Resources::try_from_vec(task.resources.clone())
        .ok()
        .and_then(|r| r.ports())
        .map(|r| r.range.iter().flat_map(|x| x.begin..=x.end).collect())
        .unwrap_or_default();
    for (i, p) in ports.iter().enumerate() {
        vars.insert(format!("PORT{i}"), p.to_string());
    }
    if let Some(first) = ports.first() {
        vars.insert("PORT".to_owned(), first.to_string());
    }
    if !ports.is_empty() {
        vars.insert(
            "PORTS".to_owned(),
            ports
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    if let Some(env) = task.command.as_ref().and_then(|c| c.environment.as_ref()) {
        for v in &env.variables {
            if let Some(value) = &v.value {
                vars.insert(v.name.clone(), value.clone());
            }
        }
    }
    vars
}

/// The message of a terminal status for an exit status (Mesos' words).
pub fn exit_message(status: std::process::ExitStatus) -> (TaskState, String) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => (TaskState::Finished, "Command exited with status 0".into()),
        (Some(c), _) => (TaskState::Failed, format!("Command exited with status {c}")),
        (None, Some(sig)) => {
            let name = Signal::try_from(sig)
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|_| sig.to_string());
            (
                TaskState::Failed,
                format!("Command terminated with signal {name}"),
            )
        }
        _ => (TaskState::Failed, "Command terminated".into()),
    }
}

impl Executor {
    fn new(env: ExecutorEnvironment) -> Self {
        let url = format!("http://{}/api/v1/executor", env.agent_endpoint);
        Self {
            env,
            http: reqwest::Client::new(),
            url,
            task: None,
            child: None,
            unacked: Vec::new(),
            any_acked: false,
            terminal_sent: false,
            kill_deadline: None,
            killed: false,
            hostname: String::new(),
            health: None,
            healthy: None,
            health_killed: false,
            container: None,
            docker: None,
        }
    }

    fn call(&self, body: CallBody) -> Call {
        Call {
            executor_id: self.env.executor_id.clone(),
            framework_id: self.env.framework_id.clone(),
            body,
        }
    }

    fn done(&self) -> bool {
        self.terminal_sent && self.unacked.is_empty()
    }

    async fn run(mut self) -> Result<(), ExecutorError> {
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        let recovery = self
            .env
            .recovery_timeout
            .unwrap_or(exec::DEFAULT_RECOVERY_TIMEOUT);
        let backoff_max = self
            .env
            .subscription_backoff_max
            .unwrap_or(Duration::from_secs(2));
        let mut disconnected_since: Option<Instant> = None;
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.done() {
                return Ok(());
            }
            let subscribe = exec::Subscribe {
                unacknowledged_tasks: match &self.task {
                    Some(t) if !self.any_acked => vec![t.clone()],
                    _ => vec![],
                },
                unacknowledged_updates: self
                    .unacked
                    .iter()
                    .map(|s| exec::Update { status: s.clone() })
                    .collect(),
            };
            let resp = self
                .http
                .post(&self.url)
                .header("Content-Type", "application/json")
                .body(self.call(CallBody::Subscribe(subscribe)).to_json())
                .send()
                .await;
            match resp {
                Ok(r) if r.status().is_success() => {
                    disconnected_since = None;
                    backoff = Duration::from_millis(100);
                    self.session(r, &mut sigterm).await;
                    if self.done() {
                        return Ok(());
                    }
                }
                Ok(r) => {
                    tracing::warn!("agent refused SUBSCRIBE: {}", r.status());
                }
                Err(e) => tracing::info!("agent unreachable: {e}"),
            }
            let since = *disconnected_since.get_or_insert_with(Instant::now);
            if since.elapsed() > recovery {
                if let Some(d) = &self.docker {
                    d.kill_now().await;
                }
                self.kill_now();
                return Err(ExecutorError::RecoveryTimeout(recovery));
            }
            // Keep supervising the task while the agent is away.
            let sleep = tokio::time::sleep(backoff);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    exit = wait_task(&mut self.child, &mut self.docker) => self.on_task_exit(exit).await,
                    _ = sigterm.recv() => self.start_kill(None),
                    _ = sleep_until(self.kill_deadline) => self.escalate(),
                    ok = next_health(&mut self.health) => self.on_health(ok).await,
                }
            }
            backoff = (backoff * 2).min(backoff_max);
        }
    }

    /// One subscription: events until the stream ends.
    async fn session(
        &mut self,
        resp: reqwest::Response,
        sigterm: &mut tokio::signal::unix::Signal,
    ) {
        let mut body = resp.bytes_stream();
        let mut decoder = Decoder::default();
        // Updates the agent may have missed are in the SUBSCRIBE call.
        loop {
            if self.done() {
                return;
            }
            tokio::select! {
                chunk = body.next() => {
                    let Some(Ok(chunk)) = chunk else { return };
                    let Ok(records) = decoder.decode(&chunk) else { return };
                    for r in records {
                        match exec::Event::from_json(&r) {
                            Ok(e) => self.on_event(e).await,
                            Err(e) => tracing::warn!("bad event: {e}"),
                        }
                    }
                }
                exit = wait_task(&mut self.child, &mut self.docker) => self.on_task_exit(exit).await,
                _ = sigterm.recv() => self.start_kill(None),
                _ = sleep_until(self.kill_deadline) => self.escalate(),
                ok = next_health(&mut self.health) => self.on_health(ok).await,
            }
        }
    }

    async fn on_health(&mut self, ok: bool) {
        let Some((state, _, _)) = self.health.as_mut() else {
            return;
        };
        match state.observe(ok, Instant::now()) {
            Verdict::Unchanged => {}
            Verdict::Changed(healthy) => {
                self.healthy = Some(healthy);
                self.send_update(
                    TaskState::Running,
                    None,
                    Some(Reason::TaskHealthCheckStatusUpdated),
                )
                .await;
            }
            Verdict::Kill => {
                self.healthy = Some(false);
                self.health_killed = true;
                self.stop_health();
                self.start_kill(None);
            }
        }
    }

    fn stop_health(&mut self) {
        if let Some((_, _, handle)) = self.health.take() {
            handle.abort();
        }
    }

    async fn on_event(&mut self, event: exec::Event) {
        match event {
            exec::Event::Subscribed(s) => {
                self.hostname = s.agent_info.hostname.clone();
            }
            exec::Event::Launch(l) => self.launch(l.task).await,
            exec::Event::Kill(k) => self.start_kill(k.kill_policy),
            exec::Event::Shutdown => self.start_kill(None),
            exec::Event::Acknowledged(a) => {
                self.unacked.retain(|s| s.uuid.as_ref() != Some(&a.uuid));
                self.any_acked = true;
            }
            exec::Event::Error(e) => tracing::warn!("agent error: {}", e.message),
            _ => {}
        }
    }

    async fn launch(&mut self, task: TaskInfo) {
        if self.task.is_some() {
            tracing::warn!("a second LAUNCH ignored (command executors run one task)");
            return;
        }
        self.task = Some(task.clone());
        self.update(TaskState::Starting, None).await;
        if let Some(docker) = crate::docker::engine_for(&task).await {
            return self.launch_docker(docker, task).await;
        }
        match crate::container::image_request(&task) {
            Ok(Some(req)) => return self.launch_container(task, req).await,
            Ok(None) => {}
            Err(message) => return self.launch_failed(message).await,
        }
        let Some(command) = task.command.clone() else {
            self.update(TaskState::Failed, Some("the task has no command".into()))
                .await;
            return;
        };
        let mut cmd = if command.is_shell() {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(command.value.clone().unwrap_or_default());
            c
        } else {
            let program = command.value.clone().unwrap_or_default();
            let mut c = tokio::process::Command::new(&program);
            // argv[0] is arguments[0] in Mesos; the rest are the arguments.
            c.args(command.arguments.iter().skip(1));
            c
        };
        cmd.envs(task_environment(&task, &self.hostname))
            .current_dir(&self.env.directory)
            .process_group(0)
            .kill_on_drop(false);
        match cmd.spawn() {
            Ok(child) => self.running(child, &task).await,
            Err(e) => {
                self.update(
                    TaskState::Failed,
                    Some(format!("Failed to launch the command: {e}")),
                )
                .await;
            }
        }
    }

    /// TASK_FAILED with REASON_CONTAINER_LAUNCH_FAILED.
    async fn launch_failed(&mut self, message: String) {
        self.send_update(
            TaskState::Failed,
            Some(message),
            Some(Reason::ContainerLaunchFailed),
        )
        .await;
    }

    /// Provisions the task's image and starts its container's supervisor.
    async fn launch_container(&mut self, task: TaskInfo, req: crate::container::ImageRequest) {
        let Some(env) = crate::container::ContainerEnv::from_lookup(|k| std::env::var(k).ok())
        else {
            return self
                .launch_failed("this agent runs no native containerizer (no image store given to the executor)".into())
                .await;
        };
        let sandbox = std::path::PathBuf::from(&self.env.directory);
        let vars = task_environment(&task, &self.hostname);
        let prepared =
            match crate::container::prepare(&env, &task, &req, &sandbox, vars, self.grace(None))
                .await
            {
                Ok(p) => p,
                Err(message) => return self.launch_failed(message).await,
            };
        match prepared.spawn_supervisor().await {
            Ok((child, true)) => {
                self.container = Some(prepared);
                self.running(child, &task).await;
            }
            Ok((child, false)) => {
                // The supervisor exits; its exit reports the start error.
                self.container = Some(prepared);
                self.child = Some(child);
            }
            Err(e) => {
                prepared.cleanup();
                self.launch_failed(format!("Failed to start the container supervisor: {e}"))
                    .await;
            }
        }
    }

    /// Runs the task as a Docker container through the engine.
    async fn launch_docker(&mut self, docker: bollard::Docker, task: TaskInfo) {
        let sandbox = std::path::PathBuf::from(&self.env.directory);
        let vars = task_environment(&task, &self.hostname);
        let spec = match crate::docker::spec(&task, &sandbox, vars) {
            Ok(s) => s,
            Err(message) => return self.launch_failed(message).await,
        };
        let id = std::env::var("DCOS_CONTAINER_ID")
            .ok()
            .or_else(|| {
                sandbox
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        match crate::docker::DockerTask::start(docker, &id, spec, sandbox).await {
            Ok(d) => self.docker = Some(d),
            Err(message) => return self.launch_failed(message).await,
        }
        self.update(TaskState::Running, None).await;
        self.start_health(&task);
    }

    /// The task's process, supervisor or Docker container ended.
    async fn on_task_exit(&mut self, exit: TaskExit) {
        let (code, oom) = match exit {
            TaskExit::Process(status) => return self.on_exit(status).await,
            TaskExit::Docker(crate::docker::DockerExit::Lost(message)) => {
                self.docker = None;
                self.stop_health();
                self.kill_deadline = None;
                return self.update(TaskState::Failed, Some(message)).await;
            }
            TaskExit::Docker(crate::docker::DockerExit::Exited { code, oom }) => (code, oom),
        };
        self.docker = None;
        if oom {
            self.stop_health();
            self.kill_deadline = None;
            let message =
                format!("Memory limit exceeded: the container was OOM-killed (exit code {code})");
            return self
                .send_update(
                    TaskState::Failed,
                    Some(message),
                    Some(Reason::ContainerLimitationMemory),
                )
                .await;
        }
        use std::os::unix::process::ExitStatusExt;
        let raw = if code > 128 && code < 160 {
            // The shell's convention for a signal: report the signal.
            (code - 128) as i32
        } else {
            ((code & 0xff) as i32) << 8
        };
        self.on_exit(Ok(std::process::ExitStatus::from_raw(raw)))
            .await;
    }

    /// The task's process (or container supervisor) runs.
    async fn running(&mut self, child: Child, task: &TaskInfo) {
        self.child = Some(child);
        self.update(TaskState::Running, None).await;
        self.start_health(task);
    }

    /// Starts the task's health check, if it has one.
    fn start_health(&mut self, task: &TaskInfo) {
        if let Some(check) = task.health_check.clone() {
            let (tx, rx) = mpsc::unbounded_channel();
            let env = task_environment(task, &self.hostname);
            let dir = std::path::PathBuf::from(&self.env.directory);
            let handle = tokio::spawn(crate::health::run(check.clone(), env, dir, tx));
            self.health = Some((HealthState::new(&check, Instant::now()), rx, handle));
        }
    }

    fn grace(&self, policy: Option<dcos_api::v1::KillPolicy>) -> Duration {
        policy
            .or_else(|| self.task.as_ref().and_then(|t| t.kill_policy))
            .and_then(|p| p.grace_period)
            .map(|g| g.to_duration())
            .unwrap_or(DEFAULT_GRACE_PERIOD)
    }

    fn child_group(&self) -> Option<Pid> {
        self.child
            .as_ref()
            .and_then(|c| c.id())
            .map(|id| Pid::from_raw(id as i32))
    }

    fn start_kill(&mut self, policy: Option<dcos_api::v1::KillPolicy>) {
        self.killed = true;
        if self.kill_deadline.is_some() {
            return;
        }
        if let Some(d) = &self.docker {
            // `docker stop` escalates after the grace period itself.
            let grace = self.grace(policy);
            d.stop(grace);
            self.kill_deadline = Some(Instant::now() + grace + Duration::from_secs(5));
            return;
        }
        match self.child_group() {
            Some(pg) => {
                let _ = killpg(pg, Signal::SIGTERM);
                // A container's supervisor escalates on its own after the
                // grace period (and then cleans up); this is the backstop.
                let backstop = if self.container.is_some() {
                    Duration::from_secs(2)
                } else {
                    Duration::ZERO
                };
                self.kill_deadline = Some(Instant::now() + self.grace(policy) + backstop);
            }
            None if self.task.is_some() && !self.terminal_sent => {
                // Launched but the command never started: nothing to kill.
            }
            None => {}
        }
    }

    fn escalate(&mut self) {
        if let Some(d) = &self.docker {
            d.kill();
        }
        if let Some(pg) = self.child_group() {
            let _ = killpg(pg, Signal::SIGKILL);
        }
        self.kill_deadline = None;
    }

    fn kill_now(&mut self) {
        if let Some(d) = &self.docker {
            d.kill();
        }
        if let Some(pg) = self.child_group() {
            let _ = killpg(pg, Signal::SIGKILL);
        }
    }

    async fn on_exit(&mut self, status: std::io::Result<std::process::ExitStatus>) {
        self.child = None;
        self.stop_health();
        self.kill_deadline = None;
        let mut status = status;
        if let Some(c) = self.container.take() {
            let start_error = c.start_error();
            let own = c.exit_status();
            c.cleanup();
            if let Some(e) = start_error {
                return self
                    .launch_failed(format!("Failed to start the container: {e}"))
                    .await;
            }
            if let Some(s) = own {
                status = Ok(s);
            }
        }
        let (state, message) = match status {
            Ok(s) => exit_message(s),
            Err(e) => (
                TaskState::Failed,
                format!("Failed to wait for the command: {e}"),
            ),
        };
        let state = if self.killed && state != TaskState::Finished {
            TaskState::Killed
        } else {
            state
        };
        let reason = self
            .health_killed
            .then_some(Reason::TaskHealthCheckStatusUpdated);
        self.send_update(state, Some(message), reason).await;
    }

    async fn update(&mut self, state: TaskState, message: Option<String>) {
        self.send_update(state, message, None).await;
    }

    /// Records and sends one update (kept until acknowledged).
    async fn send_update(
        &mut self,
        state: TaskState,
        message: Option<String>,
        reason: Option<Reason>,
    ) {
        let Some(task) = &self.task else { return };
        if self.terminal_sent {
            return;
        }
        let mut status = TaskStatus::new(task.task_id.clone(), state);
        status.message = message;
        status.reason = reason;
        status.healthy = self.healthy;
        status.source = Some(Source::Executor);
        status.executor_id = Some(self.env.executor_id.clone());
        status.timestamp = Some(now_secs());
        status.uuid = Some(Base64Bytes::from(uuid::Uuid::new_v4().as_bytes().to_vec()));
        if state.is_terminal() {
            self.terminal_sent = true;
        }
        self.unacked.push(status.clone());
        let call = self.call(CallBody::Update(exec::Update { status }));
        // A failure is fine: the update goes again with the next SUBSCRIBE.
        if let Err(e) = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .body(call.to_json())
            .send()
            .await
        {
            tracing::info!("update not delivered yet: {e}");
        }
    }
}

/// How the task's process or container ended.
enum TaskExit {
    Process(std::io::Result<std::process::ExitStatus>),
    Docker(crate::docker::DockerExit),
}

async fn wait_task(
    child: &mut Option<Child>,
    docker: &mut Option<crate::docker::DockerTask>,
) -> TaskExit {
    match docker {
        Some(d) => TaskExit::Docker(d.wait().await),
        None => TaskExit::Process(wait_child(child).await),
    }
}

async fn wait_child(child: &mut Option<Child>) -> std::io::Result<std::process::ExitStatus> {
    match child {
        Some(c) => c.wait().await,
        None => futures::future::pending().await,
    }
}

async fn next_health(
    health: &mut Option<(
        HealthState,
        mpsc::UnboundedReceiver<bool>,
        tokio::task::JoinHandle<()>,
    )>,
) -> bool {
    match health.as_mut() {
        Some((_, rx, _)) => match rx.recv().await {
            Some(ok) => ok,
            None => futures::future::pending().await,
        },
        None => futures::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => futures::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcos_api::v1::{AgentId, CommandInfo, Environment, Resource, TaskId};

    #[test]
    fn environment_has_ports_host_and_task_vars() {
        let mut cmd = CommandInfo::shell("true");
        cmd.environment = Some(Environment::from_pairs([("A", "1")]));
        let mut task = TaskInfo::command("t", TaskId::new("t1"), AgentId::new("a"), cmd);
        task.resources = vec![
            Resource::scalar("cpus", 0.1),
            Resource::ranges("ports", [(31000, 31001), (31005, 31005)]),
        ];
        let env = task_environment(&task, "h1");
        assert_eq!(env["A"], "1");
        assert_eq!(env["HOST"], "h1");
        assert_eq!(env["PORT0"], "31000");
        assert_eq!(env["PORT2"], "31005");
        assert_eq!(env["PORT"], "31000");
        assert_eq!(env["PORTS"], "31000,31001,31005");
        assert_eq!(env["MESOS_TASK_ID"], "t1");
    }

    #[test]
    fn exit_messages() {
        use std::os::unix::process::ExitStatusExt;
        let ok = std::process::ExitStatus::from_raw(0);
        assert_eq!(exit_message(ok).0, TaskState::Finished);
        let one = std::process::ExitStatus::from_raw(1 << 8);
        assert_eq!(
            exit_message(one),
            (TaskState::Failed, "Command exited with status 1".into())
        );
        let killed = std::process::ExitStatus::from_raw(9);
        assert_eq!(
            exit_message(killed),
            (
                TaskState::Failed,
                "Command terminated with signal SIGKILL".into()
            )
        );
    }
}
