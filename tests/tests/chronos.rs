//! Chronos with real processes: one master (with its store), one real
//! agent, and one or two `dcos daemon chronos` processes. Jobs run real
//! shell commands on the agent; what they did is read back from files
//! they write and from both APIs.

use std::path::Path;
use std::time::Duration;

use dcos_tests::chronos::Chronos;
use dcos_tests::{wait_until, Agent, Master};
use serde_json::{json, Value};

struct Cluster {
    _tmp: tempfile::TempDir,
    master: Master,
    _agent: Agent,
    chronos: Chronos,
}

fn cluster() -> Cluster {
    let tmp = tempfile::tempdir().unwrap();
    let master = Master::start(&tmp.path().join("master"), None, &[]);
    let agent = Agent::start(
        &tmp.path().join("agent"),
        &master.url(),
        &["--resources", "cpus:8;mem:8192;disk:10000;ports:[31000-31100]"],
    );
    let chronos = Chronos::start(&master.url(), &[]);
    Cluster {
        _tmp: tmp,
        master,
        _agent: agent,
        chronos,
    }
}

fn now_iso() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Seconds since the epoch → RFC 3339 via the shell-free route: let
    // Chronos read "now" from an empty start instead where possible.
    format!("{t}")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn history(c: &Chronos, id: &str) -> Value {
    c.get(&format!("/v1/jobs/{id}?embed=history"))
        .await
        .map(|(_, v)| v["history"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_job_runs_on_the_agent_and_history_grows() {
    let c = cluster();
    c.chronos.wait_leader(Duration::from_secs(30)).await;
    let out = c._tmp.path().join("ticks");
    let job = json!({
        "name": "tick",
        "command": format!("echo $CHRONOS_RUN_ID >> {}", out.display()),
        "schedule": "R//PT2S",
        "owner": "ops@example.com",
        "disabled": false,
        "concurrent": true,
        "cpus": 0.1, "mem": 32, "disk": 0,
    });
    let (status, body) = c.chronos.send("POST", "/v1/scheduler/iso8601", Some(&job)).await;
    assert_eq!(status, 204, "{body}");
    wait_until(Duration::from_secs(60), "3 runs succeeded", || async {
        let h = history(&c.chronos, "tick").await;
        h["successCount"].as_u64().unwrap_or(0) >= 3
    })
    .await;
    let ran = lines(&out);
    assert!(ran.len() >= 3, "{ran:?}");
    let mut unique = ran.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ran.len(), "no run ran twice: {ran:?}");
    // Chronos' view of the same counters.
    let (_, j) = c.chronos.get("/v1/scheduler/job/tick").await.unwrap();
    assert!(j["successCount"].as_u64().unwrap() >= 3, "{j}");
    assert_eq!(j["errorCount"], 0, "{j}");
    assert!(!j["lastSuccess"].as_str().unwrap().is_empty());
    let _ = now_iso();
    let _ = &c.master;
}
