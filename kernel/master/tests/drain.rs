//! DRAIN_AGENT end to end: the agent is told to drain, its task is killed,
//! GET_AGENTS shows DRAINING then DRAINED once the kill is acknowledged;
//! with `mark_gone` a drained agent is shut down and removed.

mod common;

use common::*;
use dcos_api::agent;
use dcos_api::scheduler::{self, CallBody};
use dcos_api::v1::{AgentId, TaskId, TaskState};
use dcos_master::MasterFlags;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn operator(base: &str, body: Value) -> (StatusCode, Value) {
    let resp = client()
        .post(format!("{base}/api/v1"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let code = resp.status();
    let text = resp.text().await.unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The agent's entry in GET_AGENTS, if listed.
async fn listed(base: &str, id: &AgentId) -> Option<Value> {
    let (code, v) = operator(base, json!({"type": "GET_AGENTS"})).await;
    assert_eq!(code, StatusCode::OK);
    v["get_agents"]["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_info"]["id"]["value"] == id.as_str())
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_kills_tasks_then_drained_and_mark_gone_removes_the_agent() {
    let c = Cluster::start(MasterFlags::default()).await;
    let mut busy = FakeAgent::connect(&c.base, register("cpus:2;mem:1024")).await;
    let mut sched = Sched::subscribe(&c.base, framework("drain")).await;
    let offers = sched.offers().await;
    let offer = offers.iter().find(|o| o.agent_id == busy.id).unwrap();
    let (code, text) = sched
        .call(launch(&[offer], vec![task("t", offer, "cpus:1;mem:128")]))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{text}");
    assert!(matches!(busy.next().await, agent::Event::RunTask { .. }));
    busy.update(&sched.id, &TaskId::new("t"), TaskState::Running)
        .await;
    let running = sched.update().await;
    assert_eq!(running.state, TaskState::Running);

    // Unknown agent: 404.
    let (code, _) = operator(
        &c.base,
        json!({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": "nope"}}}),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let (code, v) = operator(
        &c.base,
        json!({"type": "DRAIN_AGENT", "drain_agent": {
            "agent_id": {"value": busy.id.as_str()},
            "max_grace_period": {"nanoseconds": 2_000_000_000i64}}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(
        busy.next().await,
        agent::Event::Drain {
            max_grace_period_seconds: Some(2.0)
        }
    );
    let a = listed(&c.base, &busy.id).await.unwrap();
    assert_eq!(a["drain_info"]["state"], "DRAINING", "{a}");
    assert_eq!(a["deactivated"], true);

    // The agent kills its task; still DRAINING until the framework acks.
    let uuid = busy
        .update(&sched.id, &TaskId::new("t"), TaskState::Killed)
        .await;
    let killed = sched.update().await;
    assert_eq!(killed.state, TaskState::Killed);
    let a = listed(&c.base, &busy.id).await.unwrap();
    assert_eq!(a["drain_info"]["state"], "DRAINING", "{a}");
    let (code, text) = sched
        .call(CallBody::Acknowledge(scheduler::Acknowledge {
            agent_id: busy.id.clone(),
            task_id: TaskId::new("t"),
            uuid,
        }))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{text}");
    let a = listed(&c.base, &busy.id).await.unwrap();
    assert_eq!(a["drain_info"]["state"], "DRAINED", "{a}");
    let state = c.get_json("/master/slaves").await;
    assert_eq!(state["slaves"][0]["drain_info"]["state"], "DRAINED");

    // An idle agent drained with mark_gone: drained at once, then gone.
    let mut idle = FakeAgent::connect(&c.base, register("cpus:1;mem:128")).await;
    let (code, v) = operator(
        &c.base,
        json!({"type": "DRAIN_AGENT", "drain_agent": {
            "agent_id": {"value": idle.id.as_str()}, "mark_gone": true}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    // (The DRAIN is resolved against the agent's stream when dispatched,
    // which the same call already closed: only SHUTDOWN arrives.)
    assert!(matches!(idle.next().await, agent::Event::Shutdown { .. }));
    assert!(listed(&c.base, &idle.id).await.is_none());
    // A gone agent cannot be drained again, nor come back.
    let (code, _) = operator(
        &c.base,
        json!({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": idle.id.as_str()}}}),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    c.stop().await;
}
