//! Compatibility with a real Mesos framework library: the PyPI `mesoshttp`
//! scheduler (from the venv `.ci/run` creates) drives our master and a
//! real agent: subscribe, offers, launch two command tasks, updates
//! acknowledged by the library, kill, teardown.

use std::process::Command;
use std::time::Duration;

use dcos_tests::{test_python, wait_until, workspace_root, Agent, Master};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesoshttp_scheduler_launches_acknowledges_and_kills() {
    let Some(python) = test_python("mesoshttp.client") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // mesoshttp reads the RecordIO stream line by line, so it sees each
    // event only when the next one starts: frequent heartbeats keep the
    // test fast without changing what is tested.
    let master = Master::start(
        &tmp.path().join("master"),
        None,
        &["--framework-heartbeat-interval", "0.5"],
    );
    let agent = Agent::start(
        &tmp.path().join("agent"),
        &master.url(),
        &[
            "--resources",
            "cpus:2;mem:1024;disk:1000;ports:[31000-31100]",
        ],
    );

    let script = workspace_root().join("tests/python/mesoshttp_compat.py");
    let master_url = master.url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(master_url)
            .arg("60")
            .output()
            .expect("run the mesoshttp script")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "mesoshttp script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let events: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let states = |task: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["event"] == "update" && e["task_id"] == task)
            .map(|e| e["state"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        states("compat-echo"),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    );
    assert_eq!(
        states("compat-sleep"),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"]
    );
    assert!(
        events
            .iter()
            .filter(|e| e["event"] == "update")
            .all(|e| e["has_uuid"] == true),
        "every update from an agent must carry a uuid to acknowledge"
    );

    // The torn-down framework shows as completed with both tasks.
    let http = reqwest::Client::new();
    let state_url = format!("{}/master/frameworks", master.url());
    wait_until(
        Duration::from_secs(10),
        "the framework is completed with its two tasks",
        || async {
            let Ok(resp) = http.get(&state_url).send().await else {
                return false;
            };
            let v: serde_json::Value = resp.json().await.unwrap_or_default();
            v["completed_frameworks"]
                .as_array()
                .map(|f| {
                    f.iter().any(|f| {
                        f["name"] == "mesoshttp-compat"
                            && f["completed_tasks"].as_array().map(Vec::len) == Some(2)
                    })
                })
                .unwrap_or(false)
        },
    )
    .await;
    drop(agent);
}
