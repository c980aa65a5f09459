//! The kernel end to end with real processes: `dcos daemon master`,
//! `dcos daemon agent` (real executors, real cgroups) and a framework built
//! on our scheduler SDK (`dcos_api::client::testing::TaskLauncher`).
//!
//! - task lifecycles in order, every update acknowledged, stdout through
//!   `/files/read`, a memory hog killed at its cgroup limit;
//! - kill -9 of an agent: TASK_UNREACHABLE (partition-aware framework) and
//!   TASK_LOST (the other) within the configured timeout; the restarted
//!   agent brings its still-running task back as TASK_RUNNING;
//! - kill -9 of the master leader of three: the task keeps running and the
//!   framework resubscribes to the new leader;
//! - task groups (LAUNCH_GROUP): both tasks of a group run under the group's
//!   executor id; one failing kills the other; a KILL of one kills both.

use std::time::Duration;

use dcos_api::client::testing::{LaunchPlan, TaskLauncher, TaskSpec};
use dcos_api::client::{Scheduler, SchedulerConfig};
use dcos_api::v1::{
    FrameworkCapability, FrameworkCapabilityType, FrameworkInfo, Reason, TaskId, TaskState,
};
use dcos_tests::{cluster, wait_until, Agent, Master};

const WAIT: Duration = Duration::from_secs(30);

fn framework(name: &str, partition_aware: bool) -> FrameworkInfo {
    let mut info = FrameworkInfo::new("root", name);
    info.failover_timeout = Some(600.0);
    if partition_aware {
        info.capabilities.push(FrameworkCapability {
            kind: Some(FrameworkCapabilityType::PartitionAware),
        });
    }
    info
}

fn launcher(masters: &[String], name: &str, spec: TaskSpec, count: usize) -> TaskLauncher {
    launcher_with(masters, framework(name, false), spec, count)
}

fn launcher_with(
    masters: &[String],
    info: FrameworkInfo,
    spec: TaskSpec,
    count: usize,
) -> TaskLauncher {
    let mut config = SchedulerConfig::new(masters.iter().cloned(), info.clone());
    config.backoff_max = Duration::from_secs(1);
    let scheduler = Scheduler::start(config).expect("scheduler");
    let mut plan = LaunchPlan::new(spec, count);
    plan.id_prefix = info.name.clone();
    TaskLauncher::start(scheduler, plan)
}

/// The sandbox directory of `task` from the agent's `/state`.
async fn sandbox_of(agent: &Agent, task: &str) -> Option<String> {
    let state: serde_json::Value = reqwest::get(format!("{}/state", agent.url()))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    for fw in state["frameworks"].as_array()? {
        for key in ["executors", "completed_executors"] {
            for ex in fw[key].as_array().into_iter().flatten() {
                if ex["id"] == task {
                    return ex["directory"].as_str().map(str::to_string);
                }
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_report_in_order_and_are_confined() {
    let tmp = tempfile::tempdir().unwrap();
    let master = Master::start(&tmp.path().join("master"), None, &[]);
    let resources = [
        "--resources",
        "cpus:2;mem:1024;disk:1000;ports:[31000-31100]",
    ];
    let agents = [
        Agent::start(&tmp.path().join("a1"), &master.url(), &resources),
        Agent::start(&tmp.path().join("a2"), &master.url(), &resources),
    ];
    let masters = [master.url()];

    let echo = launcher(
        &masters,
        "echo",
        TaskSpec::command("echo hello-kernel", 0.1, 32.0),
        2,
    );
    let fail = launcher(&masters, "fail", TaskSpec::command("exit 3", 0.1, 32.0), 1);
    let sleep = launcher(
        &masters,
        "sleep",
        TaskSpec::command("sleep 300", 0.1, 32.0),
        1,
    );
    let hog = launcher(
        &masters,
        "hog",
        // Grows by 16 MiB a step well past the 64 MiB limit.
        TaskSpec::command(
            "python3 -c 'import time\nb=[]\nwhile True:\n    b.append(bytearray(16<<20)); time.sleep(0.01)'",
            0.1,
            64.0,
        ),
        1,
    );

    let (echo0, echo1) = (TaskId::from("echo-0"), TaskId::from("echo-1"));
    for id in [&echo0, &echo1] {
        echo.wait_for(id, TaskState::Finished, WAIT).await.unwrap();
        let h = echo.history(id).unwrap();
        assert_eq!(
            h.states(),
            [TaskState::Starting, TaskState::Running, TaskState::Finished],
            "{id}: updates in order, each exactly once (acknowledged, so not re-sent)"
        );
        assert!(h.statuses.iter().all(|s| s.status.uuid.is_some()));
    }

    let failed = fail
        .wait_for(&"fail-0".into(), TaskState::Failed, WAIT)
        .await
        .unwrap();
    assert!(
        failed.status.message.unwrap_or_default().contains('3'),
        "the failure names the exit status"
    );

    let sleep0 = TaskId::from("sleep-0");
    sleep
        .wait_for(&sleep0, TaskState::Running, WAIT)
        .await
        .unwrap();
    sleep.kill(&sleep0).await.unwrap();
    let killed = sleep
        .wait_for(&sleep0, TaskState::Killed, WAIT)
        .await
        .unwrap();
    assert_eq!(
        sleep.history(&sleep0).unwrap().states(),
        [TaskState::Starting, TaskState::Running, TaskState::Killed]
    );
    let _ = killed;

    let hog0 = TaskId::from("hog-0");
    let oom = hog.wait_for(&hog0, TaskState::Failed, WAIT).await.unwrap();
    assert_eq!(
        oom.status.reason,
        Some(Reason::ContainerLimitationMemory),
        "memory hog: {:?}",
        oom.status
    );

    // stdout through the agent's /files API, and no way out of sandboxes.
    let agent_id = echo.history(&echo0).unwrap().agent_id.unwrap();
    let agent = agents.iter().find(|a| a.id == agent_id.value).unwrap();
    let dir = sandbox_of(agent, "echo-0")
        .await
        .expect("sandbox in /state");
    let http = reqwest::Client::new();
    let read: serde_json::Value = http
        .get(format!("{}/files/read", agent.url()))
        .query(&[("path", format!("{dir}/stdout")), ("offset", "0".into())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["data"], "hello-kernel\n");
    for path in [
        "/etc/passwd".to_string(),
        format!("{dir}/../../../../../../../../../../../../etc/passwd"),
    ] {
        let status = http
            .get(format!("{}/files/read", agent.url()))
            .query(&[("path", path.as_str()), ("offset", "0")])
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            status == 403 || status == 404,
            "{path} must be refused, got {status}"
        );
    }

    // The master's books agree.
    let tasks: serde_json::Value = http
        .get(format!("{}/master/tasks", master.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state_of = |id: &str| {
        tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .map(|t| t["state"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(state_of("echo-0").as_deref(), Some("TASK_FINISHED"));
    assert_eq!(state_of("hog-0").as_deref(), Some("TASK_FAILED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_agents_are_reported_and_restarted_agents_keep_their_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    // Unreachable after 2 missed 0.5 s heartbeats.
    let master = Master::start(
        &tmp.path().join("master"),
        None,
        &[
            "--agent-ping-timeout",
            "0.5",
            "--max-agent-ping-timeouts",
            "2",
        ],
    );
    // One task per agent: each agent has exactly one task's worth of cpus.
    let one = ["--resources", "cpus:0.5;mem:256;disk:100"];
    let mut a1 = Agent::start(&tmp.path().join("a1"), &master.url(), &one);
    let masters = [master.url()];
    let aware = launcher_with(
        &masters,
        framework("aware", true),
        TaskSpec::command("sleep 300", 0.5, 64.0),
        1,
    );
    let aware0 = TaskId::from("aware-0");
    aware
        .wait_for(&aware0, TaskState::Running, WAIT)
        .await
        .unwrap();
    let mut a2 = Agent::start(&tmp.path().join("a2"), &master.url(), &one);
    let plain = launcher(
        &masters,
        "plain",
        TaskSpec::command("sleep 300", 0.5, 64.0),
        1,
    );
    let plain0 = TaskId::from("plain-0");
    plain
        .wait_for(&plain0, TaskState::Running, WAIT)
        .await
        .unwrap();
    assert_eq!(
        aware.history(&aware0).unwrap().agent_id.unwrap().value,
        a1.id
    );
    assert_eq!(
        plain.history(&plain0).unwrap().agent_id.unwrap().value,
        a2.id
    );

    // kill -9 both agents (their executors and tasks live on).
    a1.kill9();
    a2.kill9();
    let killed_at = std::time::Instant::now();
    let unreachable = aware
        .wait_for(&aware0, TaskState::Unreachable, Duration::from_secs(10))
        .await
        .unwrap();
    let lost = plain
        .wait_for(&plain0, TaskState::Lost, Duration::from_secs(10))
        .await
        .unwrap();
    let detected = unreachable.received.max(lost.received) - killed_at;
    assert!(
        detected < Duration::from_secs(5),
        "a 1 s ping timeout detected loss after {detected:?}"
    );

    // The restarted agent re-registers with the same id and its task, still
    // running under its executor, is RUNNING again for the framework.
    let id_before = a1.id.clone();
    a1.restart();
    assert_eq!(a1.id, id_before, "same agent id after restart");
    aware
        .wait_until("aware-0 RUNNING again after UNREACHABLE", WAIT, |s| {
            s.tasks[&aware0]
                .states()
                .ends_with(&[TaskState::Unreachable, TaskState::Running])
        })
        .await
        .unwrap();
    a2.restart();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_failover_keeps_tasks_running_and_frameworks_resubscribe() {
    let tmp = tempfile::tempdir().unwrap();
    let mut masters = cluster(tmp.path(), 3, &[]).await;
    let urls: Vec<String> = masters.iter().map(Master::url).collect();
    let agent = Agent::start(
        &tmp.path().join("agent"),
        &urls.join(","),
        &["--resources", "cpus:1;mem:512;disk:100"],
    );
    let sleep = launcher(&urls, "ha", TaskSpec::command("sleep 300", 0.2, 32.0), 1);
    let ha0 = TaskId::from("ha-0");
    sleep
        .wait_for(&ha0, TaskState::Running, WAIT)
        .await
        .unwrap();

    let leader = masters[0].status().await.leader_addr.expect("a leader");
    let idx = masters
        .iter()
        .position(|m| leader.ends_with(&m.addr()))
        .expect("the leader is one of ours");
    masters[idx].kill9();

    sleep
        .wait_until("the framework resubscribed", WAIT, |s| s.subscriptions >= 2)
        .await
        .unwrap();
    // The new leader re-learns the task from the re-registered agent.
    let survivor = urls
        .iter()
        .enumerate()
        .find(|(i, _)| *i != idx)
        .unwrap()
        .1
        .clone();
    let http = reqwest::Client::new();
    wait_until(WAIT, "the new leader lists ha-0 as running", || async {
        let Ok(resp) = http.get(format!("{survivor}/master/tasks")).send().await else {
            return false;
        };
        let v: serde_json::Value = resp.json().await.unwrap_or_default();
        v["tasks"].as_array().is_some_and(|t| {
            t.iter()
                .any(|t| t["id"] == "ha-0" && t["state"] == "TASK_RUNNING")
        })
    })
    .await;
    let states = sleep.history(&ha0).unwrap().states();
    assert!(
        !states.iter().any(|s| s.is_terminal()),
        "no task was killed by the failover: {states:?}"
    );
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hollow_agents_register_run_and_kill_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let master = Master::start(&tmp.path().join("master"), None, &[]);
    let _hollow = Agent::start(
        &tmp.path().join("hollow"),
        &master.url(),
        &["--hollow", "50", "--resources", "cpus:1;mem:1024"],
    );
    let masters = [master.url()];
    // 100 tasks of 0.5 cpus need at least 50 agents' worth of offers.
    let fleet = launcher(
        &masters,
        "fleet",
        TaskSpec::command("hollow", 0.5, 16.0),
        100,
    );
    fleet
        .wait_until("100 hollow tasks running", WAIT, |s| {
            s.count_in(TaskState::Running) == 100
        })
        .await
        .unwrap();
    let agents: std::collections::BTreeSet<_> = fleet
        .histories()
        .into_iter()
        .filter_map(|h| h.agent_id)
        .collect();
    assert_eq!(agents.len(), 50, "spread over every hollow agent");

    let slaves: serde_json::Value = reqwest::get(format!("{}/master/slaves", master.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(slaves["slaves"].as_array().unwrap().len(), 50);

    let victim = TaskId::from("fleet-7");
    fleet.kill(&victim).await.unwrap();
    fleet
        .wait_for(&victim, TaskState::Killed, WAIT)
        .await
        .unwrap();
}

/// Every status update a hand-written scheduler received, in order.
#[derive(Default)]
struct Updates(Vec<dcos_api::v1::TaskStatus>);

impl Updates {
    fn states(&self, task: &str) -> Vec<TaskState> {
        self.0
            .iter()
            .filter(|s| s.task_id.value == task)
            .map(|s| s.state)
            .collect()
    }
}

/// Receives events until `done(updates)` holds (panics after [`WAIT`]).
async fn recv_until(
    scheduler: &mut Scheduler,
    updates: &mut Updates,
    what: &str,
    done: impl Fn(&Updates) -> bool,
) {
    use dcos_api::client::SchedulerEvent;
    use dcos_api::scheduler::Event;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(updates) {
        let event = tokio::time::timeout_at(deadline, scheduler.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", updates.0))
            .expect("scheduler stopped");
        if let SchedulerEvent::Event(Event::Update(u)) = event {
            updates.0.push(u.status);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_groups_run_together_and_die_together() {
    use dcos_api::resources::{carve_scalars, fixed_point};
    use dcos_api::v1::{
        CommandInfo, ExecutorId, ExecutorInfo, ExecutorType, LaunchGroup, OfferOperation,
        Operation, TaskGroupInfo, TaskInfo,
    };

    let tmp = tempfile::tempdir().unwrap();
    let master = Master::start(&tmp.path().join("master"), None, &[]);
    let mut agent = Agent::start(
        &tmp.path().join("agent"),
        &master.url(),
        &["--resources", "cpus:2;mem:1024;disk:100"],
    );
    let mut config = SchedulerConfig::new([master.url()], framework("groups", false));
    config.auto_acknowledge = true;
    config.backoff_max = Duration::from_secs(1);
    let mut scheduler = Scheduler::start(config).expect("scheduler");
    let handle = scheduler.handle();

    // Two groups on the first offer: "a" (one task fails after a while),
    // "b" (two sleeps, one of which will be killed).
    let offer = first_offer(&mut scheduler).await;
    let mut left = offer.resources.clone();
    let needs = [("cpus", fixed_point(0.1)), ("mem", fixed_point(32.0))];
    let mut carve = || carve_scalars(&mut left, &needs).expect("fits the offer");
    let mut group = |name: &str, commands: &[(&str, &str)]| {
        let mut executor = ExecutorInfo::new(ExecutorId::new(format!("{name}-executor")));
        executor.kind = Some(ExecutorType::Default);
        executor.resources = carve();
        let tasks = commands
            .iter()
            .map(|(id, cmd)| {
                let mut t = TaskInfo::command(
                    *id,
                    TaskId::from(*id),
                    offer.agent_id.clone(),
                    CommandInfo::shell(*cmd),
                );
                t.resources = carve();
                t
            })
            .collect();
        OfferOperation::new(Operation::LaunchGroup(LaunchGroup {
            executor,
            task_group: TaskGroupInfo { tasks },
        }))
    };
    let ops = vec![
        group(
            "a",
            &[("a-sleep", "sleep 300"), ("a-fail", "sleep 4; exit 3")],
        ),
        group("b", &[("b-one", "sleep 300"), ("b-two", "sleep 300")]),
    ];
    handle
        .accept(vec![offer.id.clone()], ops, None)
        .await
        .unwrap();

    let mut updates = Updates::default();
    let running = |u: &Updates, t: &str| u.states(t).contains(&TaskState::Running);
    recv_until(&mut scheduler, &mut updates, "all four RUNNING", |u| {
        ["a-sleep", "a-fail", "b-one", "b-two"]
            .iter()
            .all(|t| running(u, t))
    })
    .await;
    // Every update names the group's executor.
    for s in &updates.0 {
        let group = &s.task_id.value[..1];
        assert_eq!(
            s.executor_id.as_ref().map(|e| e.value.as_str()),
            Some(format!("{group}-executor").as_str()),
            "{s:?}"
        );
    }
    // The agent shows each group's tasks under its one executor.
    let state: serde_json::Value = reqwest::get(format!("{}/state", agent.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let executors = state["frameworks"][0]["executors"].as_array().unwrap();
    assert_eq!(executors.len(), 2, "{executors:?}");
    for ex in executors {
        let mut ids: Vec<&str> = ex["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        let want = if ex["id"] == "a-executor" {
            ["a-fail", "a-sleep"]
        } else {
            assert_eq!(ex["id"], "b-executor");
            ["b-one", "b-two"]
        };
        assert_eq!(ids, want);
        // The executor's 0.1 cpus plus each task's 0.1.
        let cpus = ex["resources"]["cpus"].as_f64().unwrap();
        assert!((cpus - 0.3).abs() < 1e-9, "{ex}");
    }

    // a-fail exits 3: FAILED; its sibling is KILLED.
    recv_until(&mut scheduler, &mut updates, "group a down", |u| {
        u.states("a-fail").contains(&TaskState::Failed)
            && u.states("a-sleep").contains(&TaskState::Killed)
    })
    .await;
    assert_eq!(
        updates.states("a-fail"),
        [TaskState::Starting, TaskState::Running, TaskState::Failed]
    );
    assert_eq!(
        updates.states("a-sleep"),
        [TaskState::Starting, TaskState::Running, TaskState::Killed]
    );
    // Group b was not touched.
    assert_eq!(
        updates.states("b-two"),
        [TaskState::Starting, TaskState::Running]
    );

    // Group b survives a kill -9 of the agent: recovered from the
    // checkpoint, still under its executor id, still a group.
    agent.kill9();
    agent.restart();
    let http = reqwest::Client::new();
    let url = agent.url();
    wait_until(WAIT, "group b recovered and running", || async {
        let Ok(resp) = http.get(format!("{url}/state")).send().await else {
            return false;
        };
        let v: serde_json::Value = resp.json().await.unwrap_or_default();
        v["frameworks"][0]["executors"]
            .as_array()
            .is_some_and(|exs| {
                exs.iter().any(|e| {
                    e["id"] == "b-executor"
                        && e["tasks"].as_array().is_some_and(|t| {
                            t.len() == 2 && t.iter().all(|t| t["state"] == "TASK_RUNNING")
                        })
                })
            })
    })
    .await;

    // KILL of one task of group b kills both.
    handle
        .kill(TaskId::from("b-one"), Some(offer.agent_id.clone()), None)
        .await
        .unwrap();
    recv_until(&mut scheduler, &mut updates, "group b killed", |u| {
        u.states("b-one").contains(&TaskState::Killed)
            && u.states("b-two").contains(&TaskState::Killed)
    })
    .await;
    assert_eq!(
        updates.states("b-two"),
        [TaskState::Starting, TaskState::Running, TaskState::Killed]
    );

    // The master's books agree.
    let tasks: serde_json::Value = reqwest::get(format!("{}/master/tasks", master.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (id, state, ex) in [
        ("a-fail", "TASK_FAILED", "a-executor"),
        ("a-sleep", "TASK_KILLED", "a-executor"),
        ("b-one", "TASK_KILLED", "b-executor"),
        ("b-two", "TASK_KILLED", "b-executor"),
    ] {
        let t = tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("{id} in /master/tasks: {tasks}"));
        assert_eq!(t["state"], state, "{t}");
        assert_eq!(t["executor_id"], ex, "{t}");
    }
    scheduler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_executors_subscribe_launch_and_report() {
    use dcos_api::resources::{carve_scalars, fixed_point};
    use dcos_api::v1::{
        CommandInfo, ExecutorId, ExecutorInfo, ExecutorType, OfferOperation, TaskInfo,
    };

    let tmp = tempfile::tempdir().unwrap();
    let master = Master::start(&tmp.path().join("master"), None, &[]);
    let agent = Agent::start(
        &tmp.path().join("agent"),
        &master.url(),
        &["--resources", "cpus:1;mem:512;disk:100"],
    );
    let mut config = SchedulerConfig::new([master.url()], framework("custom", false));
    config.auto_acknowledge = true;
    config.backoff_max = Duration::from_secs(1);
    let mut scheduler = Scheduler::start(config).expect("scheduler");
    let handle = scheduler.handle();
    let offer = first_offer(&mut scheduler).await;
    let mut left = offer.resources.clone();
    let needs = [("cpus", fixed_point(0.1)), ("mem", fixed_point(64.0))];
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/tiny_executor.py");
    let mut executor = ExecutorInfo::new(ExecutorId::new("tiny"));
    executor.kind = Some(ExecutorType::Custom);
    executor.command = Some(CommandInfo::shell(format!("exec python3 {script}")));
    executor.resources = carve_scalars(&mut left, &needs).unwrap();
    let mut task = TaskInfo::command(
        "custom-0",
        TaskId::from("custom-0"),
        offer.agent_id.clone(),
        CommandInfo::shell("unused"),
    );
    task.command = None;
    task.executor = Some(executor);
    task.resources = carve_scalars(&mut left, &needs).unwrap();
    handle
        .accept(
            vec![offer.id.clone()],
            vec![OfferOperation::launch(vec![task])],
            None,
        )
        .await
        .unwrap();

    let mut updates = Updates::default();
    recv_until(&mut scheduler, &mut updates, "custom-0 FINISHED", |u| {
        u.states("custom-0").iter().any(|s| s.is_terminal())
    })
    .await;
    assert_eq!(
        updates.states("custom-0"),
        [TaskState::Running, TaskState::Finished],
        "{:?}",
        updates.0
    );
    for s in &updates.0 {
        assert_eq!(s.executor_id, Some(ExecutorId::new("tiny")), "{s:?}");
        assert_eq!(
            s.message.as_deref().map(|m| m.starts_with("tiny executor")),
            Some(true)
        );
    }
    // The executor ran in the sandbox of executor "tiny" and wrote there.
    let deadline = tokio::time::Instant::now() + WAIT;
    let dir = loop {
        if let Some(d) = sandbox_of(&agent, "tiny").await {
            break d;
        }
        assert!(tokio::time::Instant::now() < deadline, "tiny not in /state");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let dir = std::path::PathBuf::from(dir);
    assert!(
        dir.to_string_lossy().contains("/executors/tiny/runs/"),
        "{dir:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("ran-custom-0")).unwrap(),
        "tiny"
    );
    scheduler.stop().await;
}

/// The first offer the scheduler receives (within `WAIT`).
async fn first_offer(scheduler: &mut Scheduler) -> dcos_api::v1::Offer {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, scheduler.recv())
            .await
            .expect("an offer")
            .expect("scheduler stopped");
        if let dcos_api::client::SchedulerEvent::Event(dcos_api::scheduler::Event::Offers(o)) =
            event
        {
            if let Some(o) = o.offers.into_iter().next() {
                return o;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_sandboxes_are_collected_after_the_gc_delay() {
    let tmp = tempfile::tempdir().unwrap();
    let master = Master::start(&tmp.path().join("master"), None, &[]);
    let agent = Agent::start(
        &tmp.path().join("a1"),
        &master.url(),
        &[
            "--resources",
            "cpus:2;mem:1024;disk:1000",
            "--gc-delay",
            "2secs",
        ],
    );
    let masters = [master.url()];
    let echo = launcher(
        &masters,
        "gcecho",
        TaskSpec::command("echo bye", 0.1, 32.0),
        1,
    );
    let sleep = launcher(
        &masters,
        "gcsleep",
        TaskSpec::command("sleep 300", 0.1, 32.0),
        1,
    );
    echo.wait_for(&"gcecho-0".into(), TaskState::Finished, WAIT)
        .await
        .unwrap();
    sleep
        .wait_for(&"gcsleep-0".into(), TaskState::Running, WAIT)
        .await
        .unwrap();
    let finished = sandbox_of(&agent, "gcecho-0").await.expect("its sandbox");
    let running = sandbox_of(&agent, "gcsleep-0").await.expect("its sandbox");
    let finished = std::path::PathBuf::from(finished);
    let running = std::path::PathBuf::from(running);
    assert!(finished.join("stdout").exists(), "{}", finished.display());
    let start = std::time::Instant::now();
    while finished.exists() && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !finished.exists(),
        "the finished task's sandbox is removed after --gc-delay"
    );
    assert!(
        !finished.parent().unwrap().exists(),
        "its executor directory goes with its last run"
    );
    assert!(
        running.join("stdout").exists(),
        "the running task's sandbox stays, however old"
    );
}

/// The agent's documented bound on stopping (`dcos_agent::SHUTDOWN_GRACE`,
/// kernel/agent/README.md), plus slack for a loaded machine to deliver
/// the signal and reap the process.
const AGENT_STOP_BOUND: Duration = Duration::from_secs(3 + 2);

/// Whether `pid` has exited (gone, or a zombie its parent has not reaped).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// SIGTERMs `pid` and returns how long it took to exit (panics past
/// [`AGENT_STOP_BOUND`]).
async fn sigterm_and_time(pid: u32, what: &str) -> Duration {
    let start = std::time::Instant::now();
    let r = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(r.success());
    wait_until(
        AGENT_STOP_BOUND,
        &format!("{what} exits after SIGTERM"),
        || async move { exited(pid) },
    )
    .await;
    start.elapsed()
}

/// Issue 17: an agent asked to stop exits within its grace period
/// whatever its master does — here, with no master ever reachable (it
/// keeps retrying the registration).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_a_master_stops_within_its_grace_period() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens there: every registration attempt is refused.
    let nowhere = format!("http://127.0.0.1:{}", dcos_tests::free_port());
    let port = dcos_tests::free_port();
    let mut child = std::process::Command::new(dcos_tests::dcos_bin())
        .args(["daemon", "agent", "--master", &nowhere, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--work-dir")
        .arg(tmp.path().join("agent"))
        .args(["--resources", "cpus:0.5;mem:256;disk:100"])
        .env("DCOS_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn dcos daemon agent");
    let health = format!("http://127.0.0.1:{port}/health");
    wait_until(WAIT, "the agent serves /health", || {
        let health = health.clone();
        async move {
            reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    let took = sigterm_and_time(child.id(), "the agent without a master").await;
    let status = child.wait().unwrap();
    eprintln!("agent without a master stopped in {took:?} ({status})");
}

/// Issue 17: an agent whose master has gone, with a task running (its
/// executor holds a stream open to the agent), stops within its grace
/// period; the task keeps running (tasks outlive their agent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_master_is_gone_stops_within_its_grace_period_with_a_task_running() {
    let tmp = tempfile::tempdir().unwrap();
    let mut master = Master::start(&tmp.path().join("master"), None, &[]);
    let agent = Agent::start(
        &tmp.path().join("agent"),
        &master.url(),
        &["--resources", "cpus:0.5;mem:256;disk:100"],
    );
    let masters = [master.url()];
    let launcher = launcher(
        &masters,
        "stopper",
        TaskSpec::command("sleep 300", 0.5, 64.0),
        1,
    );
    let task = TaskId::from("stopper-0");
    launcher
        .wait_for(&task, TaskState::Running, WAIT)
        .await
        .unwrap();
    let sandbox = sandbox_of(&agent, "stopper-0").await.expect("sandbox");
    drop(launcher);
    master.kill9();

    let pid = agent.pid().expect("agent pid");
    let took = sigterm_and_time(pid, "the agent whose master is gone").await;
    eprintln!("agent with a running task and no master stopped in {took:?}");
    // The executor is still there, waiting for its agent to come back.
    let executor_alive = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .any(|e| {
            std::fs::read_link(e.path().join("cwd"))
                .is_ok_and(|cwd| cwd.to_string_lossy() == sandbox)
                && !exited(e.file_name().to_str().unwrap().parse().unwrap())
        });
    assert!(
        executor_alive,
        "the task's executor (cwd {sandbox}) is gone"
    );
}
