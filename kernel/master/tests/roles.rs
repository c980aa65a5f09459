//! Role weights and quota end to end: set through the operator API and the
//! legacy `/weights` and `/quota` endpoints, honoured by the allocator on a
//! fixed cluster, shown by GET_ROLES and `/master/roles`, and kept across
//! a master restart.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use dcos_api::resources::Resources;
use dcos_api::v1::FrameworkId;
use dcos_master::MasterFlags;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SMALL_AGENT: &str = "cpus:1;mem:128";
const AGENTS: usize = 16;

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

async fn send(method: reqwest::Method, url: String, body: Option<Value>) -> (StatusCode, String) {
    let mut req = client().request(method, url);
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

fn in_role(name: &str, role: &str) -> dcos_api::v1::FrameworkInfo {
    let mut info = framework(name);
    info.role = Some(role.into());
    info
}

fn cpus(offer: &dcos_api::v1::Offer) -> f64 {
    let r: Resources = offer.resources.clone().into();
    r.quantities().get("cpus").copied().unwrap_or(0.0)
}

/// Collects offers to both schedulers until `total` cpus were offered;
/// with `launch`, every offer is used whole by one task. Returns the
/// offered cpus per framework.
async fn drain_offers(
    a: &mut Sched,
    b: &mut Sched,
    total: f64,
    launch_tasks: bool,
) -> BTreeMap<FrameworkId, f64> {
    let mut got: BTreeMap<FrameworkId, f64> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut n = 0;
    while got.values().sum::<f64>() < total - 1e-9 {
        assert!(tokio::time::Instant::now() < deadline, "offers: {got:?}");
        let (which, offers) = tokio::select! {
            o = a.offers() => (0, o),
            o = b.offers() => (1, o),
        };
        let sched = if which == 0 { &*a } else { &*b };
        for offer in offers {
            *got.entry(sched.id.clone()).or_default() += cpus(&offer);
            if launch_tasks {
                n += 1;
                let t = task(&format!("t{n}"), &offer, SMALL_AGENT);
                let (code, text) = sched.call(launch(&[&offer], vec![t])).await;
                assert_eq!(code, StatusCode::ACCEPTED, "{text}");
            }
        }
    }
    got
}

async fn agents(base: &str) -> Vec<FakeAgent> {
    let mut out = Vec::new();
    for _ in 0..AGENTS {
        out.push(FakeAgent::connect(base, register(SMALL_AGENT)).await);
        // Registrations spread over several allocation cycles.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_one_and_three_split_a_fixed_cluster_one_to_three() {
    let c = Cluster::start(MasterFlags::default()).await;
    let (code, text) = send(
        reqwest::Method::PUT,
        format!("{}/weights", c.base),
        Some(json!([{"role": "light", "weight": 1.0}, {"role": "heavy", "weight": 3.0}])),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{text}");
    let mut light = Sched::subscribe(&c.base, in_role("light", "light")).await;
    let mut heavy = Sched::subscribe(&c.base, in_role("heavy", "heavy")).await;
    let _agents = agents(&c.base).await;

    let got = drain_offers(&mut light, &mut heavy, AGENTS as f64, true).await;
    let l = got.get(&light.id).copied().unwrap_or(0.0);
    let h = got.get(&heavy.id).copied().unwrap_or(0.0);
    assert!((3.0..=5.0).contains(&l), "light {l}, heavy {h}");
    assert!((11.0..=13.0).contains(&h), "light {l}, heavy {h}");

    // `/master/roles` and GET_ROLES show the weights and what each holds.
    let roles = c.get_json("/master/roles").await;
    let role = |name: &str| {
        roles["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("role {name} in {roles}"))
    };
    assert_eq!(role("heavy")["weight"], 3.0);
    assert_eq!(role("light")["weight"], 1.0);
    assert_eq!(role("heavy")["allocated"]["cpus"].as_f64().unwrap(), h);
    assert_eq!(role("heavy")["frameworks"][0], heavy.id.value.as_str());
    let (code, v) = operator(&c.base, json!({"type": "GET_ROLES"})).await;
    assert_eq!(code, StatusCode::OK);
    let heavy_role = v["get_roles"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "heavy")
        .unwrap();
    assert_eq!(heavy_role["weight"], 3.0);

    let (code, v) = operator(&c.base, json!({"type": "GET_WEIGHTS"})).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        v["get_weights"]["weight_infos"],
        json!([{"weight": 3.0, "role": "heavy"}, {"weight": 1.0, "role": "light"}])
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_guarantee_is_honoured_against_a_heavier_role() {
    let c = Cluster::start(MasterFlags::default()).await;
    let (code, v) = operator(
        &c.base,
        json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "big", "weight": 100.0}]}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    // No agents yet: without `force` the guarantee exceeds the cluster.
    let update = |force: bool| {
        json!({"type": "UPDATE_QUOTA", "update_quota": {"force": force, "quota_configs": [
            {"role": "q", "guarantees": {"cpus": {"value": 6.0}}, "limits": {"cpus": {"value": 8.0}}}
        ]}})
    };
    let (code, v) = operator(&c.base, update(false)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.as_str().unwrap().contains("force"), "{v}");
    let (code, v) = operator(&c.base, update(true)).await;
    assert_eq!(code, StatusCode::OK, "{v}");

    let mut q = Sched::subscribe(&c.base, in_role("q", "q")).await;
    let mut big = Sched::subscribe(&c.base, in_role("big", "big")).await;
    let _agents = agents(&c.base).await;
    let got = drain_offers(&mut q, &mut big, AGENTS as f64, false).await;
    let qc = got.get(&q.id).copied().unwrap_or(0.0);
    // By weight alone `q` would get 16/101 of a cpu; its guarantee wins 6.
    assert!((6.0..=7.0).contains(&qc), "q got {qc}: {got:?}");

    let (code, v) = operator(&c.base, json!({"type": "GET_QUOTA"})).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        v["get_quota"]["status"]["configs"],
        json!([{"role": "q", "guarantees": {"cpus": {"value": 6.0}}, "limits": {"cpus": {"value": 8.0}}}])
    );
    let (_, v) = operator(&c.base, json!({"type": "GET_ROLES"})).await;
    let q_role = v["get_roles"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "q")
        .unwrap()
        .clone();
    assert_eq!(q_role["quota"]["guarantee"]["cpus"]["value"], 6.0);
    assert_eq!(q_role["quota"]["limit"]["cpus"]["value"], 8.0);
    assert_eq!(q_role["quota"]["consumed"]["cpus"]["value"], qc);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_endpoints_validate_and_a_restart_keeps_weights_and_quota() {
    let c = Cluster::start(MasterFlags::default()).await;
    let _agent = FakeAgent::connect(&c.base, register("cpus:4;mem:1024;ports:[1-10]")).await;
    let url = |p: &str| format!("{}{p}", c.base);
    use reqwest::Method;

    // Bad input: Mesos-style 400s (and 409 for a guarantee too big).
    for body in [
        json!([{"role": "dev", "weight": -2.0}]),
        json!([{"role": "dev", "weight": 0}]),
        json!([{"role": "bad role", "weight": 2.0}]),
        json!([{"role": "../x", "weight": 2.0}]),
        json!([{"role": "team/../x", "weight": 2.0}]),
        json!({"role": "dev", "weight": 2.0}),
    ] {
        let (code, text) = send(Method::PUT, url("/weights"), Some(body.clone())).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {text}");
    }
    let resource =
        |name: &str, v: f64| json!({"name": name, "type": "SCALAR", "scalar": {"value": v}});
    let ports =
        json!({"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 2}]}});
    for body in [
        json!({"role": "dev", "guarantee": [ports]}),
        json!({"role": "*", "guarantee": [resource("cpus", 1.0)]}),
        json!({"role": "dev", "guarantee": [resource("cpus", -1.0)]}),
        json!({"role": "dev", "guarantee": []}),
        json!({"guarantee": [resource("cpus", 1.0)]}),
    ] {
        let (code, text) = send(Method::POST, url("/quota"), Some(body.clone())).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {text}");
    }
    let (code, text) = send(
        Method::POST,
        url("/quota"),
        Some(json!({"role": "dev", "guarantee": [resource("cpus", 64.0)]})),
    )
    .await;
    assert_eq!(code, StatusCode::CONFLICT, "{text}");
    let (code, text) = send(Method::DELETE, url("/quota/dev"), None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{text}");

    // Good input.
    let (code, text) = send(
        Method::PUT,
        url("/master/weights"),
        Some(json!([{"role": "dev", "weight": 2.5}, {"role": "team/web", "weight": 4}])),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{text}");
    let (code, text) = send(
        Method::POST,
        url("/quota"),
        Some(json!({"role": "dev", "guarantee": [resource("cpus", 1.0), resource("mem", 256.0)]})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{text}");
    let (code, text) = send(
        Method::POST,
        url("/master/quota"),
        Some(json!({"role": "team/web", "guarantee": [resource("cpus", 2.0)]})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{text}");
    let (code, text) = send(
        Method::POST,
        url("/quota"),
        Some(json!({"role": "dev", "guarantee": [resource("cpus", 1.0)]})),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "already has quota: {text}");
    let (code, text) = send(Method::DELETE, url("/quota/team/web"), None).await;
    assert_eq!(code, StatusCode::OK, "{text}");

    let expect_weights =
        json!([{"weight": 2.5, "role": "dev"}, {"weight": 4.0, "role": "team/web"}]);
    assert_eq!(c.get_json("/weights").await, expect_weights);
    let quota = c.get_json("/quota").await;
    assert_eq!(
        quota["configs"],
        json!([{"role": "dev", "guarantees": {"cpus": {"value": 1.0}, "mem": {"value": 256.0}},
                 "limits": {"cpus": {"value": 1.0}, "mem": {"value": 256.0}}}])
    );
    assert_eq!(quota["infos"][0]["role"], "dev");
    assert_eq!(quota["infos"][0]["guarantee"].as_array().unwrap().len(), 2);

    // Restart on the same address and data: both come back.
    let addr = c.base.trim_start_matches("http://").to_owned();
    drop(_agent);
    let dir = c.stop().await;
    let c = Cluster::start_at(dir, &addr, MasterFlags::default()).await;
    assert_eq!(c.get_json("/master/weights").await, expect_weights);
    assert_eq!(
        c.get_json("/master/quota").await["configs"],
        quota["configs"]
    );
    let roles = c.get_json("/master/roles").await;
    let dev = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "dev")
        .unwrap_or_else(|| panic!("{roles}"))
        .clone();
    assert_eq!(dev["weight"], 2.5);
    assert_eq!(
        dev["quota"]["guarantee"],
        json!({"cpus": 1.0, "mem": 256.0})
    );
    assert_eq!(dev["quota"]["limit"], json!({"cpus": 1.0, "mem": 256.0}));
    c.stop().await;
}

/// The registry's fence: a master whose fence another master has taken
/// (as a newly elected one does) writes nothing, whatever it still
/// believes; the elected one's writes land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_master_writes_nothing_to_the_registry() {
    use dcos_store::types::PutRequest;
    use dcos_store::Kv;
    let c = Cluster::start(MasterFlags::default()).await;
    let key = dcos_master::runtime::LEADER_KEY;
    let fence = c
        .node
        .get(key)
        .await
        .unwrap()
        .expect("the elected master's fence");
    assert!(String::from_utf8_lossy(&fence.value).contains("master_id"));
    let url = |p: &str| format!("{}{p}", c.base);
    let weight = |role: &str| json!([{"role": role, "weight": 2.0}]);

    let (code, text) = send(reqwest::Method::PUT, url("/weights"), Some(weight("dev"))).await;
    assert_eq!(code, StatusCode::OK, "{text}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while c.node.get("/mesos/weights/dev").await.unwrap().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the elected master's write never landed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Another master takes the fence.
    c.node
        .put(PutRequest {
            key: key.to_string(),
            value: br#"{"master_id":"the-successor"}"#.to_vec(),
            ..Default::default()
        })
        .await
        .unwrap();
    let (code, text) = send(reqwest::Method::PUT, url("/weights"), Some(weight("ops"))).await;
    assert_ne!(
        code,
        StatusCode::OK,
        "a deposed master's change answered OK: {text}"
    );
    assert!(
        c.node.get("/mesos/weights/ops").await.unwrap().is_none(),
        "a deposed master wrote to the registry"
    );
    // Still the store's leader, it drops its books and is elected again
    // from what the store holds (the first change, not the refused one).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !c.master.is_active() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the master never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let weights = c.get_json("/weights").await;
    assert_eq!(
        weights,
        json!([{"weight": 2.0, "role": "dev"}]),
        "{weights}"
    );
    c.stop().await;
}

/// Registry writes are batched under the store's per-transaction limit
/// with the fence compare counted: 300 roles' weights in one call, and
/// 150 agents registering at once, all reach the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_registry_batches_fit_the_store_with_their_fence() {
    use dcos_store::types::RangeRequest;
    use dcos_store::Kv;
    let c = Cluster::start(MasterFlags::default()).await;
    let weights: Vec<Value> = (0..300)
        .map(|i| json!({"role": format!("r{i}"), "weight": 2.0}))
        .collect();
    let (code, text) = send(
        reqwest::Method::PUT,
        format!("{}/weights", c.base),
        Some(Value::Array(weights)),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{text}");
    let count = |prefix: &'static str| {
        let node = c.node.clone();
        async move {
            node.range(RangeRequest {
                key: prefix.into(),
                prefix: true,
                count_only: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .count
        }
    };
    assert_eq!(count("/mesos/weights/").await, 300);
    let mut agents = Vec::new();
    for _ in 0..150 {
        agents.push(FakeAgent::connect(&c.base, register("cpus:1;mem:128")).await);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while count("/mesos/agents/").await < 150 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "agent records missing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(c.master.is_active(), "the master kept its books");
    drop(agents);
    c.stop().await;
}
