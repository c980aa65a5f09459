//! The master over HTTP: a real store node, a fake agent and a raw
//! scheduler client. Launch flow, acknowledgements, kill, reconcile,
//! decline filters, bad input, agent loss and framework failover.

mod common;

use std::time::Duration;

use common::*;
use dcos_api::agent;
use dcos_api::scheduler::{self, CallBody};
use dcos_api::v1::{
    Filters, FrameworkCapability, FrameworkCapabilityType, Reason, TaskId, TaskState,
};
use dcos_master::MasterFlags;
use reqwest::StatusCode;

const AGENT: &str = "cpus:4;mem:4096;disk:1000;ports:[31000-31999]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_update_acknowledge_kill() {
    let c = Cluster::start(MasterFlags::default()).await;
    let mut a = FakeAgent::connect(&c.base, register(AGENT)).await;
    assert!(a.id.as_str().ends_with("-S0"), "{}", a.id);
    let mut s = Sched::subscribe(&c.base, framework("web")).await;
    assert_eq!(s.heartbeat_interval, Some(15.0));
    assert!(s.id.as_str().ends_with("-0000"), "{}", s.id);

    let offers = s.offers().await;
    assert_eq!(offers.len(), 1);
    let offer = &offers[0];
    assert!(offer.id.as_str().contains("-O"));
    assert_eq!(offer.agent_id, a.id);
    assert_eq!(offer.framework_id, s.id);

    let (code, text) = s
        .call(launch(&[offer], vec![task("t1", offer, "cpus:1;mem:128")]))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{text}");
    let agent::Event::RunTask { task, framework } = a.next().await else {
        panic!("expected RUN_TASK")
    };
    assert_eq!(task.task_id.as_str(), "t1");
    assert_eq!(framework.id.as_ref(), Some(&s.id));

    let tid = TaskId::new("t1");
    let starting = a.update(&s.id, &tid, TaskState::Starting).await;
    let u = s.update().await;
    assert_eq!(u.state, TaskState::Starting);
    assert_eq!(u.uuid.as_ref(), Some(&starting));
    let running = a.update(&s.id, &tid, TaskState::Running).await;
    let u = s.update().await;
    assert_eq!(u.state, TaskState::Running);

    // ACKNOWLEDGE reaches the agent with the same uuid.
    let (code, _) = s
        .call(CallBody::Acknowledge(scheduler::Acknowledge {
            agent_id: a.id.clone(),
            task_id: tid.clone(),
            uuid: running.clone(),
        }))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    match a.next().await {
        agent::Event::Acknowledge { uuid, task_id, .. } => {
            assert_eq!(uuid, running);
            assert_eq!(task_id, tid);
        }
        other => panic!("expected ACKNOWLEDGE, got {other:?}"),
    }

    // The state endpoints see the running task.
    let state = c.get_json("/master/state").await;
    let fw = &state["frameworks"][0];
    assert_eq!(fw["id"], s.id.as_str());
    assert_eq!(fw["tasks"][0]["state"], "TASK_RUNNING");
    assert_eq!(fw["tasks"][0]["resources"]["cpus"], 1.0);
    assert_eq!(state["slaves"][0]["used_resources"]["mem"], 128.0);
    let metrics = c.get_json("/metrics/snapshot").await;
    assert_eq!(metrics["master/tasks_running"], 1.0);
    assert_eq!(metrics["master/slaves_active"], 1.0);
    assert_eq!(metrics["master/elected"], 1.0);
    assert!(metrics["allocator/allocation_run_ms/p99"]
        .as_f64()
        .is_some());

    // KILL goes to the agent; its TASK_KILLED comes back.
    let (code, _) = s
        .call(CallBody::Kill(scheduler::Kill {
            task_id: tid.clone(),
            agent_id: None,
            kill_policy: None,
        }))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert!(matches!(a.next().await, agent::Event::KillTask { task_id, .. } if task_id == tid));
    a.update(&s.id, &tid, TaskState::Killed).await;
    let u = s.update().await;
    assert_eq!(u.state, TaskState::Killed);

    // KILL of an unknown task: TASK_LOST by reconciliation.
    let (code, _) = s
        .call(CallBody::Kill(scheduler::Kill {
            task_id: TaskId::new("nope"),
            agent_id: None,
            kill_policy: None,
        }))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let u = s.update().await;
    assert_eq!(u.task_id.as_str(), "nope");
    assert_eq!(u.state, TaskState::Lost);
    assert!(u.uuid.is_none());
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_validation_gives_task_error_and_dropped() {
    let c = Cluster::start(MasterFlags::default()).await;
    let mut a = FakeAgent::connect(&c.base, register(AGENT)).await;
    let mut info = framework("v");
    info.capabilities = vec![FrameworkCapability::from(
        FrameworkCapabilityType::PartitionAware,
    )];
    let mut s = Sched::subscribe(&c.base, info).await;
    let offer = s.offers().await.remove(0);

    // One good task, one asking for more than offered, one reusing the id.
    let tasks = vec![
        task("good", &offer, "cpus:1;mem:100"),
        task("huge", &offer, "cpus:100;mem:100"),
        task("good", &offer, "cpus:1;mem:100"),
    ];
    let (code, text) = s.call(launch(&[&offer], tasks)).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{text}");
    let mut errors = Vec::new();
    for _ in 0..2 {
        let u = s.update().await;
        assert_eq!(u.state, TaskState::Error);
        assert_eq!(u.reason, Some(Reason::TaskInvalid));
        errors.push(u.message.unwrap_or_default());
    }
    assert!(errors[0].contains("more resources"), "{errors:?}");
    assert!(errors[1].contains("duplicate"), "{errors:?}");
    assert!(
        matches!(a.next().await, agent::Event::RunTask { task, .. } if task.task_id.as_str() == "good")
    );

    // The same offer again: every task is dropped, none launched.
    let (code, _) = s
        .call(launch(
            &[&offer],
            vec![task("again", &offer, "cpus:1;mem:10")],
        ))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let u = s.update().await;
    assert_eq!(u.task_id.as_str(), "again");
    assert_eq!(u.state, TaskState::Dropped);
    assert_eq!(u.reason, Some(Reason::InvalidOffers));

    // A task with neither command nor executor.
    let offer = s.offers().await.remove(0);
    let mut bad = task("shapeless", &offer, "cpus:1;mem:10");
    bad.command = None;
    s.call(launch(&[&offer], vec![bad])).await;
    let u = s.update().await;
    assert_eq!(u.state, TaskState::Error);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_mesos_errors() {
    let c = Cluster::start(MasterFlags::default()).await;
    let _a = FakeAgent::connect(&c.base, register(AGENT)).await;
    let s = Sched::subscribe(&c.base, framework("bad")).await;
    let id = s.id.as_str().to_owned();

    let (code, text) = s.raw(b"{not json", Some(&s.stream)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{text}");
    let body = format!(r#"{{"framework_id":{{"value":"{id}"}},"type":"FROBNICATE"}}"#);
    let (code, _) = s.raw(body.as_bytes(), Some(&s.stream)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let revive = format!(r#"{{"framework_id":{{"value":"{id}"}},"type":"REVIVE"}}"#);
    let (code, text) = s.raw(revive.as_bytes(), Some("wrong-stream")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(text.contains("didn't match"), "{text}");
    let (code, text) = s.raw(revive.as_bytes(), None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(text.contains("Mesos-Stream-Id"), "{text}");
    let (code, _) = s.raw(revive.as_bytes(), Some(&s.stream)).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let other = r#"{"framework_id":{"value":"no-such-0000"},"type":"REVIVE"}"#;
    let (code, _) = s.raw(other.as_bytes(), Some(&s.stream)).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    // A call without framework_id.
    let (code, _) = s.raw(br#"{"type":"REVIVE"}"#, Some(&s.stream)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    // SUBSCRIBE must not carry a stream id.
    let sub = scheduler::Call::subscribe(framework("x")).to_json();
    let (code, _) = s.raw(&sub, Some(&s.stream)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    // Bad acknowledgement uuid.
    let ack = format!(
        r#"{{"framework_id":{{"value":"{id}"}},"type":"ACKNOWLEDGE","acknowledge":{{"agent_id":{{"value":"a"}},"task_id":{{"value":"t"}},"uuid":"AAAA"}}}}"#
    );
    let (code, _) = s.raw(ack.as_bytes(), Some(&s.stream)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let http = client();
    // Wrong content type.
    let resp = http
        .post(format!("{}/api/v1/scheduler", c.base))
        .header("Content-Type", "text/plain")
        .body(sub.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // GET is not allowed.
    let resp = http
        .get(format!("{}/api/v1/scheduler", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    // Agent protocol: bad JSON, missing and wrong stream ids, unknown agent.
    let resp = http
        .post(format!("{}/agent/v1/subscribe", c.base))
        .header("Content-Type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let hb = r#"{"type":"HEARTBEAT","agent_id":{"value":"nobody"}}"#;
    let resp = http
        .post(format!("{}/agent/v1/call", c.base))
        .header("Content-Type", "application/json")
        .body(hb)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = http
        .post(format!("{}/agent/v1/call", c.base))
        .header("Content-Type", "application/json")
        .header("Mesos-Stream-Id", "x")
        .body(hb)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Operator API: malformed and unknown calls.
    for body in ["{", r#"{"type":"NOT_A_CALL"}"#] {
        let resp = http
            .post(format!("{}/api/v1", c.base))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    // The master still works.
    let metrics = c.get_json("/metrics/snapshot").await;
    assert_eq!(metrics["master/frameworks_active"], 1.0);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_decline_revive() {
    let c = Cluster::start(MasterFlags::default()).await;
    let mut a = FakeAgent::connect(&c.base, register(AGENT)).await;
    let mut s = Sched::subscribe(&c.base, framework("r")).await;
    let offer = s.offers().await.remove(0);
    let mut body = launch(&[&offer], vec![task("t", &offer, "cpus:1;mem:64")]);
    if let CallBody::Accept(acc) = &mut body {
        acc.filters = Some(Filters::refuse(3600.0));
    }
    s.call(body).await;
    let _ = a.next().await;
    a.update(&s.id, &TaskId::new("t"), TaskState::Running).await;
    assert_eq!(s.update().await.state, TaskState::Running);
    // The remainder is filtered for an hour: no offer now.
    s.quiet_for(Duration::from_millis(1300)).await;

    // Explicit: one known, one unknown (TASK_LOST for this framework).
    s.call(CallBody::Reconcile(scheduler::Reconcile {
        tasks: vec![
            scheduler::ReconcileTask {
                task_id: TaskId::new("t"),
                agent_id: None,
            },
            scheduler::ReconcileTask {
                task_id: TaskId::new("ghost"),
                agent_id: Some(a.id.clone()),
            },
        ],
    }))
    .await;
    let u = s.update().await;
    assert_eq!((u.task_id.as_str(), u.state), ("t", TaskState::Running));
    assert_eq!(u.reason, Some(Reason::Reconciliation));
    assert!(u.uuid.is_none());
    let u = s.update().await;
    assert_eq!((u.task_id.as_str(), u.state), ("ghost", TaskState::Lost));
    // Implicit: every live task.
    s.call(CallBody::Reconcile(scheduler::Reconcile::default()))
        .await;
    let u = s.update().await;
    assert_eq!((u.task_id.as_str(), u.state), ("t", TaskState::Running));

    // REVIVE clears the filter: the remainder is offered again.
    s.call(CallBody::Revive(scheduler::Revive::default())).await;
    let offer = s.offers().await.remove(0);
    assert_eq!(offer.agent_id, a.id);
    // DECLINE for an hour, then SUPPRESS: nothing more.
    s.call(CallBody::Decline(scheduler::Decline {
        offer_ids: vec![offer.id.clone()],
        filters: Some(Filters::refuse(3600.0)),
    }))
    .await;
    s.quiet_for(Duration::from_millis(1300)).await;
    let metrics = c.get_json("/metrics/snapshot").await;
    assert_eq!(metrics["master/outstanding_offers"], 0.0);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_agent_tasks_go_unreachable_and_come_back() {
    let flags = MasterFlags {
        agent_ping_timeout: 0.1,
        max_agent_ping_timeouts: 3,
        ..MasterFlags::default()
    };
    let c = Cluster::start(flags).await;
    let mut a = FakeAgent::connect(&c.base, register(AGENT)).await;
    a.keep_alive(Duration::from_millis(50));
    let mut info = framework("pa");
    info.capabilities = vec![FrameworkCapability::from(
        FrameworkCapabilityType::PartitionAware,
    )];
    let mut s = Sched::subscribe(&c.base, info).await;
    let offer = s.offers().await.remove(0);
    s.call(launch(&[&offer], vec![task("t", &offer, "cpus:1;mem:64")]))
        .await;
    let agent::Event::RunTask {
        task: info,
        framework,
    } = a.next().await
    else {
        panic!()
    };
    a.update(&s.id, &TaskId::new("t"), TaskState::Running).await;
    assert_eq!(s.update().await.state, TaskState::Running);
    // The leftover is offered again (default 5 s filter is for the same
    // resources; wait for a fresh offer after REVIVE).
    s.call(CallBody::Revive(scheduler::Revive::default())).await;
    let outstanding = s.offers().await.remove(0);

    // kill -9 of the agent: the offer is rescinded, the task unreachable.
    a.kill();
    let started = std::time::Instant::now();
    let mut rescinded = false;
    let mut unreachable = false;
    while !(rescinded && unreachable) {
        match s.next().await {
            scheduler::Event::Rescind(r) => {
                assert_eq!(r.offer_id, outstanding.id);
                rescinded = true;
            }
            scheduler::Event::Update(u) => {
                assert_eq!(u.status.state, TaskState::Unreachable);
                assert_eq!(u.status.reason, Some(Reason::AgentRemoved));
                unreachable = true;
            }
            _ => {}
        }
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    let state = c.get_json("/master/state").await;
    assert_eq!(state["unreachable_slaves"], 1);

    // It comes back with the task still running: the framework hears so.
    let mut reg = register(AGENT);
    reg.agent_id = Some(a.id.clone());
    let mut t = dcos_api::v1::Task::from_task_info(&info, s.id.clone());
    t.state = TaskState::Running;
    reg.tasks = vec![t];
    reg.frameworks = vec![framework];
    let mut back = FakeAgent::connect(&c.base, reg).await;
    back.keep_alive(Duration::from_millis(50));
    assert_eq!(back.id, a.id);
    let u = s.update().await;
    assert_eq!((u.task_id.as_str(), u.state), ("t", TaskState::Running));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framework_failover_within_and_after_timeout() {
    let c = Cluster::start(MasterFlags::default()).await;
    let mut a = FakeAgent::connect(&c.base, register(AGENT)).await;
    let mut info = framework("f");
    info.failover_timeout = Some(0.5);
    let mut s = Sched::subscribe(&c.base, info.clone()).await;
    let offer = s.offers().await.remove(0);
    s.call(launch(&[&offer], vec![task("t", &offer, "cpus:1;mem:64")]))
        .await;
    let _ = a.next().await;
    a.update(&s.id, &TaskId::new("t"), TaskState::Running).await;
    assert_eq!(s.update().await.state, TaskState::Running);

    // Within the timeout: same id, new stream, the task is still there.
    s.disconnect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    info.id = Some(s.id.clone());
    let mut s2 = Sched::subscribe(&c.base, info.clone()).await;
    assert_eq!(s2.id, s.id);
    assert_ne!(s2.stream, s.stream);
    // The old stream id is no longer valid.
    let revive = scheduler::Call::new(s.id.clone(), CallBody::Revive(Default::default())).to_json();
    assert_eq!(
        s2.raw(&revive, Some(&s.stream)).await.0,
        StatusCode::BAD_REQUEST
    );
    s2.call(CallBody::Reconcile(Default::default())).await;
    let u = s2.update().await;
    assert_eq!((u.task_id.as_str(), u.state), ("t", TaskState::Running));

    // After the timeout: the agent is told to shut the framework down and
    // the framework may not come back.
    s2.disconnect();
    loop {
        match a.next().await {
            agent::Event::ShutdownFramework { framework_id } => {
                assert_eq!(framework_id, s.id);
                break;
            }
            agent::Event::Acknowledge { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let resp = client()
        .post(format!("{}/api/v1/scheduler", c.base))
        .header("Content-Type", "application/json")
        .body(scheduler::Call::subscribe(info).to_json())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let state = c.get_json("/master/state").await;
    assert_eq!(state["completed_frameworks"][0]["id"], s.id.as_str());
    assert_eq!(
        state["completed_frameworks"][0]["completed_tasks"][0]["state"],
        "TASK_KILLED"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_closes_the_stream_and_shuts_down_on_agents() {
    let c = Cluster::start(MasterFlags::default()).await;
    let mut a = FakeAgent::connect(&c.base, register(AGENT)).await;
    let mut s = Sched::subscribe(&c.base, framework("td")).await;
    let offer = s.offers().await.remove(0);
    s.call(launch(&[&offer], vec![task("t", &offer, "cpus:1;mem:64")]))
        .await;
    let _ = a.next().await;
    let (code, _) = s.call(CallBody::Teardown).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert!(matches!(
        a.next().await,
        agent::Event::ShutdownFramework { .. }
    ));
    assert!(s.closed().await);
    c.stop().await;
}
