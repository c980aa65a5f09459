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
//!   framework resubscribes to the new leader.

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
