//! Integration tests: a fake master (a small axum server speaking
//! `/agent/v1/subscribe` and `/agent/v1/call`) and the real agent binary
//! (`dcos-agent daemon agent`, whose executors are real processes).

use std::io::{BufRead, BufReader};
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use dcos_api::agent::{Call, Event, Register};
use dcos_api::v1::{
    AgentId, Base64Bytes, CommandInfo, DurationInfo, FrameworkId, FrameworkInfo, KillPolicy,
    MasterInfo, Reason, Resource, Source, TaskId, TaskInfo, TaskState, TaskStatus,
};
use futures::StreamExt;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// What the fake master saw, and its stream to the agent.
#[derive(Default)]
struct Seen {
    registers: Vec<Register>,
    /// Every UPDATE delivery, duplicates included.
    updates: Vec<TaskStatus>,
    events: Option<mpsc::UnboundedSender<Event>>,
    /// uuid → deliveries so far.
    deliveries: Vec<(Base64Bytes, usize)>,
}

#[derive(Clone)]
struct FakeMaster {
    seen: Arc<Mutex<Seen>>,
    /// Acknowledge an update on this delivery (2 = only after one re-send).
    ack_on: usize,
    url: String,
}

impl FakeMaster {
    async fn start(ack_on: usize) -> FakeMaster {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeMaster {
            seen: Arc::default(),
            ack_on,
            url,
        };
        let app = Router::new()
            .route("/agent/v1/subscribe", post(subscribe))
            .route("/agent/v1/call", post(call))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn send(&self, e: Event) {
        let seen = self.seen.lock().unwrap();
        seen.events
            .as_ref()
            .expect("agent subscribed")
            .send(e)
            .unwrap();
    }

    fn updates_of(&self, task: &str) -> Vec<TaskStatus> {
        let seen = self.seen.lock().unwrap();
        seen.updates
            .iter()
            .filter(|s| s.task_id.value == task)
            .cloned()
            .collect()
    }

    /// Distinct updates of a task, in order of first delivery.
    fn distinct_updates(&self, task: &str) -> Vec<TaskStatus> {
        let mut out: Vec<TaskStatus> = Vec::new();
        for s in self.updates_of(task) {
            if !out.iter().any(|o| o.uuid == s.uuid) {
                out.push(s);
            }
        }
        out
    }

    fn registers(&self) -> Vec<Register> {
        self.seen.lock().unwrap().registers.clone()
    }
}

async fn subscribe(State(fake): State<FakeMaster>, body: Bytes) -> Response {
    let register: Register = serde_json::from_slice(&body).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let agent_id = register
        .agent_id
        .clone()
        .unwrap_or_else(|| AgentId::new("fake-master-S0"));
    tx.send(Event::Registered {
        agent_id,
        master_info: MasterInfo {
            id: "fake-master".into(),
            ip: 0,
            port: 5050,
            pid: None,
            hostname: Some("localhost".into()),
            version: None,
            address: None,
            domain: None,
            capabilities: vec![],
        },
        heartbeat_interval_seconds: 1.0,
    })
    .unwrap();
    {
        let mut seen = fake.seen.lock().unwrap();
        seen.registers.push(register);
        seen.events = Some(tx.clone());
    }
    tokio::spawn(async move {
        while tx.send(Event::Heartbeat).is_ok() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(|e| {
        Ok::<_, std::convert::Infallible>(dcos_api::recordio::encode(
            &serde_json::to_vec(&e).unwrap(),
        ))
    });
    Response::builder()
        .header("Mesos-Stream-Id", "stream-1")
        .body(Body::from_stream(stream))
        .unwrap()
}

async fn call(State(fake): State<FakeMaster>, body: Bytes) -> Response {
    let call: Call = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    if let Call::Update {
        framework_id,
        status,
        ..
    } = call
    {
        let mut seen = fake.seen.lock().unwrap();
        seen.updates.push(status.clone());
        let uuid = status.uuid.clone().expect("updates carry a uuid");
        let n = match seen.deliveries.iter_mut().find(|(u, _)| *u == uuid) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                seen.deliveries.push((uuid.clone(), 1));
                1
            }
        };
        if n == fake.ack_on {
            if let Some(tx) = &seen.events {
                let _ = tx.send(Event::Acknowledge {
                    framework_id,
                    task_id: status.task_id.clone(),
                    uuid,
                });
            }
        }
    }
    StatusCode::ACCEPTED.into_response()
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real agent process.
struct AgentProcess {
    child: Child,
    args: Vec<String>,
    url: String,
}

impl AgentProcess {
    fn start(master: &str, work_dir: &Path, extra: &[&str]) -> AgentProcess {
        let port = free_port();
        let mut args: Vec<String> = vec![
            "daemon".into(),
            "agent".into(),
            "--master".into(),
            master.into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--work_dir".into(),
            work_dir.display().to_string(),
            "--resources".into(),
            "cpus:2;mem:1024;disk:1000;ports:[31000-31010]".into(),
            "--attributes".into(),
            "rack:r1".into(),
            "--status-update-retry-interval".into(),
            "300ms".into(),
            "--recovery-timeout".into(),
            "20secs".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = spawn_and_wait_registered(&args);
        AgentProcess {
            child,
            args,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.child = spawn_and_wait_registered(&self.args);
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Starts the agent and waits for its "registered" line on stdout.
fn spawn_and_wait_registered(args: &[String]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcos-agent"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("registered with") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx.recv_timeout(WAIT).expect("the agent registers");
    assert!(line.starts_with("dcos agent "), "{line}");
    child
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn framework() -> FrameworkInfo {
    let mut f = FrameworkInfo::new("root", "test-framework");
    f.id = Some(FrameworkId::new("fw-1"));
    f
}

fn task(id: &str, cmd: &str, mem: f64) -> TaskInfo {
    let mut t = TaskInfo::command(
        id,
        TaskId::new(id),
        AgentId::new("fake-master-S0"),
        CommandInfo::shell(cmd),
    );
    t.resources = vec![Resource::scalar("cpus", 0.1), Resource::scalar("mem", mem)];
    t
}

fn states(updates: &[TaskStatus]) -> Vec<TaskState> {
    updates.iter().map(|s| s.state).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_task_reports_in_order_with_retries_and_its_stdout_is_readable() {
    let master = FakeMaster::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start(&master.url, dir.path(), &[]);
    let reg = &master.registers()[0];
    assert!(reg.agent_id.is_none());
    assert_eq!(reg.agent_info.attributes[0].name, "rack");
    assert_eq!(reg.endpoint, agent.url);

    master.send(Event::RunTask {
        framework: framework(),
        task: task("echo", "echo hello", 32.0),
    });
    wait_until("TASK_FINISHED acknowledged", || {
        let d = master.distinct_updates("echo");
        d.len() == 3
            && d.iter().all(|s| {
                master
                    .updates_of("echo")
                    .iter()
                    .filter(|u| u.uuid == s.uuid)
                    .count()
                    >= 2
            })
    })
    .await;
    let distinct = master.distinct_updates("echo");
    assert_eq!(
        states(&distinct),
        vec![TaskState::Starting, TaskState::Running, TaskState::Finished]
    );
    // Each update was delivered once, re-sent, and only then did the next
    // one go: deliveries never interleave.
    let all = master.updates_of("echo");
    let mut order: Vec<TaskState> = states(&all);
    order.dedup();
    assert_eq!(order, states(&distinct), "{:?}", states(&all));
    for s in &distinct {
        assert_eq!(s.agent_id.as_ref().unwrap().as_str(), "fake-master-S0");
        assert_eq!(s.source, Some(Source::Executor));
        assert!(s.timestamp.is_some());
    }

    // The sandbox, found through /state.
    let sandbox = dir
        .path()
        .canonicalize()
        .unwrap()
        .join("slaves/fake-master-S0/frameworks/fw-1/executors/echo/runs/latest");
    let stdout = sandbox.join("stdout").canonicalize().unwrap();
    let (code, body) = agent
        .get(&format!("/files/read?path={}&offset=0", stdout.display()))
        .await;
    assert_eq!(code, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["data"], "hello\n");
    assert_eq!(page["offset"], 0);
    let (_, body) = agent
        .get(&format!("/files/read?path={}&offset=-1", stdout.display()))
        .await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["offset"],
        6
    );
    let (code, body) = agent
        .get(&format!("/files/browse?path={}", sandbox.display()))
        .await;
    assert_eq!(code, 200);
    assert!(body.contains("stdout") && body.contains("stderr"), "{body}");

    // Escapes are refused.
    let escape = format!(
        "{}/../../../../../../../../../../etc/passwd",
        sandbox.display()
    );
    let (code, _) = agent.get(&format!("/files/read?path={escape}")).await;
    assert_eq!(code, 403);
    let (code, _) = agent.get("/files/read?path=/etc/passwd").await;
    assert_eq!(code, 403);
    let (code, _) = agent
        .get(&format!(
            "/files/read?path={}/meta/agent.db",
            dir.path().display()
        ))
        .await;
    assert_eq!(code, 403);
    let (code, _) = agent.get("/files/read?path=/nonexistent/file").await;
    assert_eq!(code, 404);

    let (code, state) = agent.get("/state").await;
    assert_eq!(code, 200);
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["id"], "fake-master-S0");
    assert_eq!(state["resources"]["cpus"], 2.0);
    let (code, _) = agent.get("/health").await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_escalates_to_sigkill_after_the_grace_period() {
    let master = FakeMaster::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let _agent = AgentProcess::start(&master.url, dir.path(), &[]);
    // Ignores SIGTERM: only SIGKILL after the grace period ends it.
    let mut t = task(
        "stubborn",
        "trap '' TERM; while true; do sleep 0.1; done",
        32.0,
    );
    t.kill_policy = Some(KillPolicy {
        grace_period: Some(DurationInfo::from_duration(Duration::from_secs(1))),
    });
    master.send(Event::RunTask {
        framework: framework(),
        task: t,
    });
    wait_until("TASK_RUNNING", || {
        states(&master.distinct_updates("stubborn")).contains(&TaskState::Running)
    })
    .await;
    let asked = Instant::now();
    master.send(Event::KillTask {
        framework_id: FrameworkId::new("fw-1"),
        task_id: TaskId::new("stubborn"),
        kill_policy: None,
    });
    wait_until("TASK_KILLED", || {
        states(&master.distinct_updates("stubborn")).contains(&TaskState::Killed)
    })
    .await;
    let took = asked.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    let last = master.distinct_updates("stubborn").pop().unwrap();
    assert_eq!(last.source, Some(Source::Executor));
}

/// Whether this machine lets us create memory cgroups (root with cgroups);
/// under CI=true the test must not skip.
fn cgroups_available() -> bool {
    let probe = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        PathBuf::from("/sys/fs/cgroup/dcos-agent-test-probe")
    } else {
        PathBuf::from("/sys/fs/cgroup/memory/dcos-agent-test-probe")
    };
    let ok = std::fs::create_dir(&probe).is_ok();
    let _ = std::fs::remove_dir(&probe);
    if !ok {
        dcos_skip::skip("memory cgroups are not available");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hog_fails_with_the_memory_limitation() {
    if !cgroups_available() {
        return;
    }
    let master = FakeMaster::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let _agent = AgentProcess::start(
        &master.url,
        dir.path(),
        &[
            "--isolation",
            "cgroups",
            "--cgroups_root",
            "dcos-agent-test",
        ],
    );
    // `tail` keeps a newline-free input in memory: 400 MB against 64 (+32) MB.
    master.send(Event::RunTask {
        framework: framework(),
        task: task("hog", "head -c 400000000 /dev/zero | tail; sleep 30", 64.0),
    });
    wait_until("a terminal update", || {
        master
            .distinct_updates("hog")
            .iter()
            .any(|s| s.state.is_terminal())
    })
    .await;
    let last = master.distinct_updates("hog").pop().unwrap();
    assert_eq!(last.state, TaskState::Failed, "{last:?}");
    assert_eq!(
        last.reason,
        Some(Reason::ContainerLimitationMemory),
        "{last:?}"
    );
    assert_eq!(last.source, Some(Source::Agent));
    let limitation = last.limitation.expect("limitation set");
    assert_eq!(limitation.resources[0].name, "mem");
    assert!(last.message.unwrap().contains("Memory limit exceeded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_agent_keeps_its_id_and_running_tasks() {
    let master = FakeMaster::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = AgentProcess::start(&master.url, dir.path(), &[]);
    master.send(Event::RunTask {
        framework: framework(),
        task: task("sleeper", "sleep 60", 32.0),
    });
    wait_until("TASK_RUNNING", || {
        states(&master.distinct_updates("sleeper")).contains(&TaskState::Running)
    })
    .await;

    agent.kill9();
    agent.restart();
    let registers = master.registers();
    assert_eq!(registers.len(), 2);
    let again = &registers[1];
    assert_eq!(again.agent_id.as_ref().unwrap().as_str(), "fake-master-S0");
    assert_eq!(again.tasks.len(), 1);
    assert_eq!(again.tasks[0].task_id.as_str(), "sleeper");
    assert_eq!(again.tasks[0].state, TaskState::Running);
    assert_eq!(again.frameworks[0].id, Some(FrameworkId::new("fw-1")));

    // The executor re-subscribes and the task still runs.
    let (_, state) = agent.get("/state").await;
    assert!(state.contains("TASK_RUNNING"), "{state}");
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, m) = agent.get("/metrics/snapshot").await;
        let m: serde_json::Value = serde_json::from_str(&m).unwrap();
        if m["slave/executors_running"] == 1 && m["slave/executors_registering"] == 0 {
            assert_eq!(m["slave/tasks_running"], 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the executor did not re-subscribe: {m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!master
        .distinct_updates("sleeper")
        .iter()
        .any(|s| s.state.is_terminal()));
    master.send(Event::KillTask {
        framework_id: FrameworkId::new("fw-1"),
        task_id: TaskId::new("sleeper"),
        kill_policy: None,
    });
    wait_until("TASK_KILLED", || {
        states(&master.distinct_updates("sleeper")).contains(&TaskState::Killed)
    })
    .await;
    // Killed by its (re-attached) executor, not by the agent.
    let last = master.distinct_updates("sleeper").pop().unwrap();
    assert_eq!(last.source, Some(Source::Executor), "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_health_checks_report_unhealthy_then_kill_the_task() {
    let master = FakeMaster::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let _agent = AgentProcess::start(&master.url, dir.path(), &[]);
    let mut t = task("sick", "sleep 60", 32.0);
    t.health_check = Some(dcos_api::v1::HealthCheck {
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.2),
        timeout_seconds: Some(2.0),
        consecutive_failures: Some(2),
        grace_period_seconds: Some(0.0),
        command: Some(CommandInfo::shell("test -f does-not-exist")),
        ..dcos_api::v1::HealthCheck::default()
    });
    master.send(Event::RunTask {
        framework: framework(),
        task: t,
    });
    wait_until("TASK_KILLED", || {
        states(&master.distinct_updates("sick")).contains(&TaskState::Killed)
    })
    .await;
    let updates = master.distinct_updates("sick");
    assert_eq!(
        states(&updates),
        vec![
            TaskState::Starting,
            TaskState::Running,
            TaskState::Running,
            TaskState::Killed
        ]
    );
    assert_eq!(updates[2].healthy, Some(false));
    assert_eq!(
        updates[2].reason,
        Some(Reason::TaskHealthCheckStatusUpdated)
    );
    assert_eq!(updates[3].healthy, Some(false));
    assert_eq!(
        updates[3].reason,
        Some(Reason::TaskHealthCheckStatusUpdated)
    );
}
