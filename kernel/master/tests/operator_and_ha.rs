//! The operator API, the legacy endpoints, and a master restart that
//! recovers the registry from the store and re-learns tasks from agents.

mod common;

use std::time::Duration;

use common::*;
use dcos_api::agent;
use dcos_api::operator;
use dcos_api::recordio::Decoder;
use dcos_api::scheduler::CallBody;
use dcos_api::v1::{TaskId, TaskState};
use dcos_master::MasterFlags;
use futures::StreamExt;
use reqwest::StatusCode;

const AGENT: &str = "cpus:2;mem:2048;ports:[31000-31099]";

async fn operator(base: &str, body: &str) -> (StatusCode, serde_json::Value) {
    let resp = client()
        .post(format!("{base}/api/v1"))
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let code = resp.status();
    let text = resp.text().await.unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_api_and_legacy_endpoints() {
    let c = Cluster::start(MasterFlags::default()).await;

    // Operator event stream first, so it sees what follows.
    let resp = client()
        .post(format!("{}/api/v1", c.base))
        .header("Content-Type", "application/json")
        .header("Accept", "application/recordio")
        .header("Message-Accept", "application/json")
        .body(r#"{"type":"SUBSCRIBE"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/recordio");
    assert_eq!(resp.headers()["message-content-type"], "application/json");
    let mut body = resp.bytes_stream();
    let mut decoder = Decoder::default();
    let mut events = Vec::new();
    let mut next_event = async || -> operator::Event {
        loop {
            if !events.is_empty() {
                return events.remove(0);
            }
            let chunk = tokio::time::timeout(WAIT, body.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            for r in decoder.decode(&chunk).unwrap() {
                events.push(operator::Event::from_json(&r).unwrap());
            }
        }
    };
    assert!(matches!(next_event().await, operator::Event::Subscribed(_)));

    let mut a = FakeAgent::connect(&c.base, register(AGENT)).await;
    assert!(matches!(next_event().await, operator::Event::AgentAdded(_)));
    let mut s = Sched::subscribe(&c.base, framework("op")).await;
    assert!(matches!(
        next_event().await,
        operator::Event::FrameworkAdded(_)
    ));
    let offer = s.offers().await.remove(0);
    s.call(launch(&[&offer], vec![task("t", &offer, "cpus:1;mem:64")]))
        .await;
    let _ = a.next().await;
    match next_event().await {
        operator::Event::TaskAdded(t) => assert_eq!(t.task.task_id.as_str(), "t"),
        other => panic!("expected TASK_ADDED, got {other:?}"),
    }
    a.update(&s.id, &TaskId::new("t"), TaskState::Running).await;
    match next_event().await {
        operator::Event::TaskUpdated(t) => assert_eq!(t.state, TaskState::Running),
        other => panic!("expected TASK_UPDATED, got {other:?}"),
    }
    assert_eq!(s.update().await.state, TaskState::Running);

    // Synchronous calls.
    let (code, v) = operator(&c.base, r#"{"type":"GET_HEALTH"}"#).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["get_health"]["healthy"], true);
    let (_, v) = operator(&c.base, r#"{"type":"GET_STATE"}"#).await;
    assert_eq!(v["type"], "GET_STATE");
    assert_eq!(
        v["get_state"]["get_tasks"]["tasks"][0]["state"],
        "TASK_RUNNING"
    );
    assert_eq!(
        v["get_state"]["get_agents"]["agents"][0]["agent_info"]["id"]["value"],
        a.id.as_str()
    );
    let (_, v) = operator(&c.base, r#"{"type":"GET_FRAMEWORKS"}"#).await;
    assert_eq!(
        v["get_frameworks"]["frameworks"][0]["framework_info"]["name"],
        "op"
    );
    let (_, v) = operator(&c.base, r#"{"type":"GET_ROLES"}"#).await;
    assert_eq!(v["get_roles"]["roles"][0]["name"], "*");
    let (_, v) = operator(&c.base, r#"{"type":"GET_MASTER"}"#).await;
    assert!(v["get_master"]["master_info"]["id"].is_string());
    let (_, v) = operator(&c.base, r#"{"type":"GET_METRICS"}"#).await;
    assert!(v["get_metrics"]["metrics"].as_array().unwrap().len() > 10);
    let (code, v) = operator(&c.base, r#"{"type":"GET_QUOTA"}"#).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["get_quota"]["status"], serde_json::json!({}));
    let (code, _) = operator(&c.base, r#"{"type":"GET_MAINTENANCE_STATUS"}"#).await;
    assert_eq!(code, StatusCode::NOT_IMPLEMENTED);

    // Legacy endpoints.
    let summary = c.get_json("/master/state-summary").await;
    assert_eq!(summary["slaves"][0]["TASK_RUNNING"], 1);
    let slaves = c.get_json("/master/slaves").await;
    assert_eq!(slaves["slaves"][0]["id"], a.id.as_str());
    let fws = c.get_json("/master/frameworks").await;
    assert_eq!(fws["frameworks"][0]["tasks"][0]["id"], "t");
    let tasks = c.get_json("/master/tasks").await;
    assert_eq!(tasks["tasks"][0]["slave_id"], a.id.as_str());
    let state = c.get_json("/state.json").await;
    assert_eq!(state["activated_slaves"], 1);
    let version = c.get_json("/version").await;
    assert!(version["version"].is_string());
    let http = client();
    let health = http.get(format!("{}/health", c.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let redirect = http
        .get(format!("{}/master/redirect", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        redirect.headers()["location"],
        format!("//{}", c.node.addr()).as_str()
    );

    // MARK_AGENT_GONE: the agent is told to shut down, the task is gone.
    let (code, _) = operator(
        &c.base,
        &format!(
            r#"{{"type":"MARK_AGENT_GONE","mark_agent_gone":{{"agent_id":{{"value":"{}"}}}}}}"#,
            a.id
        ),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(matches!(a.next().await, agent::Event::Shutdown { .. }));
    let u = s.update().await;
    assert_eq!(u.state, TaskState::Lost); // not partition-aware
    let (code, _) = operator(
        &c.base,
        r#"{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"nobody"}}}"#,
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_master_recovers_registry_and_relearns_tasks() {
    let c = Cluster::start(MasterFlags::default()).await;
    let addr = c.node.addr().to_owned();
    let mut a = FakeAgent::connect(&c.base, register(AGENT)).await;
    let mut info = framework("ha");
    info.failover_timeout = Some(3600.0);
    let mut s = Sched::subscribe(&c.base, info.clone()).await;
    let offer = s.offers().await.remove(0);
    s.call(launch(&[&offer], vec![task("t", &offer, "cpus:1;mem:64")]))
        .await;
    let agent::Event::RunTask { task, framework } = a.next().await else {
        panic!()
    };
    a.update(&s.id, &TaskId::new("t"), TaskState::Running).await;
    assert_eq!(s.update().await.state, TaskState::Running);
    // Let the registry writes land, then stop everything.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (agent_id, framework_id) = (a.id.clone(), s.id.clone());
    drop(a);
    drop(s);
    let dir = c.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let c = Cluster::start_at(dir, &addr, MasterFlags::default()).await;
    let state = c.get_json("/master/state").await;
    assert_eq!(state["frameworks"][0]["id"], framework_id.as_str());
    assert_eq!(state["frameworks"][0]["recovered"], true);
    // The agent re-registers with its task; the framework re-subscribes.
    let mut reg = register(AGENT);
    reg.agent_id = Some(agent_id.clone());
    let mut t = dcos_api::v1::Task::from_task_info(&task, framework_id.clone());
    t.state = TaskState::Running;
    reg.tasks = vec![t];
    reg.frameworks = vec![framework];
    let a = FakeAgent::connect(&c.base, reg).await;
    assert_eq!(a.id, agent_id);
    info.id = Some(framework_id.clone());
    let mut s = Sched::subscribe(&c.base, info).await;
    assert_eq!(s.id, framework_id);
    s.call(CallBody::Reconcile(Default::default())).await;
    let u = s.update().await;
    assert_eq!((u.task_id.as_str(), u.state), ("t", TaskState::Running));
    let state = c.get_json("/master/state").await;
    assert_eq!(state["slaves"][0]["used_resources"]["cpus"], 1.0);
    c.stop().await;
}

/// Issue 17: `/health` and GET_HEALTH said healthy whatever the store
/// did. A master whose store has no leader (here: not bootstrapped yet)
/// is unhealthy and says why; once the store elects it, it is healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_store() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let node = dcos_store::StoreNode::start(dcos_store::NodeConfig::new(dir.path(), addr.clone()))
        .await
        .unwrap();
    let master = dcos_master::Master::start(Arc::clone(&node), MasterFlags::default())
        .await
        .unwrap();
    let app =
        dcos_store::http::router(Arc::clone(&node)).merge(dcos_master::router(Arc::clone(&master)));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let base = format!("http://{addr}");
    let http = client();

    for path in ["/health", "/master/health"] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let why = r.text().await.unwrap();
        assert!(why.contains("the replicated store has no leader"), "{why}");
    }
    let (code, v) = operator(&base, r#"{"type":"GET_HEALTH"}"#).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["get_health"]["healthy"], false, "{v}");

    node.bootstrap().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = http.get(format!("{base}/health")).send().await.unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, v) = operator(&base, r#"{"type":"GET_HEALTH"}"#).await;
    assert_eq!(v["get_health"]["healthy"], true, "{v}");
    server.abort();
    node.shutdown().await;
}
