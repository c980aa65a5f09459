//! Marathon with real processes: a master (which also serves the store),
//! agents running real tasks, and `dcos daemon marathon` processes.
//!
//! * the PyPI `marathon` client drives the whole API;
//! * 10 HTTP servers with health checks: kill -9 of one is replaced, and a
//!   rolling upgrade under minimumHealthCapacity 0.5 never has fewer than
//!   5 healthy nor more than the over-capacity bound (sampled);
//! * a failing command is backed off, visibly in `/v2/queue`;
//! * kill -9 of the leader of two during a deployment: the standby
//!   finishes it with the right count, no task duplicated;
//! * bad input gets Marathon's 400/404/409/422 answers and changes nothing;
//! * a group changed three times rolls back to its first version
//!   (`PUT /v2/groups/{id}` with `{"version"}`) through a deployment;
//! * an HTTP callback subscriber (subscribed with the PyPI client through a
//!   standby) gets a deployment's events in order, still gets them from
//!   the new leader after a failover, and nothing once unsubscribed;
//! * Marathon-side HTTP + TCP health checks: 3 healthy, one server broken
//!   is killed after its failures and replaced (events and
//!   `healthCheckResults` checked);
//! * the same with a MESOS_HTTP check, which the agent runs;
//! * an agent SIGSTOPped: its task is TASK_UNREACHABLE, replaced only after
//!   `inactiveAfterSeconds` (across a Marathon failover), and when the
//!   agent is back the surplus replacement is killed;
//! * a pod of two containers (an HTTP server on a dynamic endpoint with a
//!   health check, a sidecar) runs as task groups: two STABLE instances,
//!   kill -9 of a server or an API kill replaces its instance (the sidecar
//!   dies with it), a failover resumes the same instances, a new version
//!   rolls, scale to 0 leaves no task, DELETE removes it; bad pods are 422s;
//! * "Marathon on Marathon": a second Marathon with its own
//!   `--store-namespace` and `--framework-name` on the same master and
//!   store leads at the same time as the first, each lists and runs only
//!   its own apps, and a kill -9 of the second resumes its own framework.

use std::process::Command;
use std::time::{Duration, Instant};

use dcos_tests::marathon::Marathon;
use dcos_tests::{test_python, wait_until, workspace_root, Agent, Master};
use serde_json::{json, Value};

/// One master and `agents` agents. The agents share this host, so each
/// gets its own port range (two tasks must never get the same port).
/// Agent resources with a port range of its own: the tests of this file
/// run in parallel, each with its own cluster on this one host, and two
/// agents offering the same ports would start tasks that collide.
fn agent_resources() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // 20000–30999: below the kernel's ephemeral range and the ranges of
    // the other test files.
    let first = 20000 + (n % 110) * 100;
    format!("cpus:4;mem:4096;disk:1000;ports:[{first}-{}]", first + 99)
}

fn cluster(root: &std::path::Path, agents: usize) -> (Master, Vec<Agent>) {
    let master = Master::start(&root.join("master"), None, &[]);
    let agents = (0..agents)
        .map(|i| {
            let resources = agent_resources();
            Agent::start(
                &root.join(format!("agent{i}")),
                &master.url(),
                &["--resources", &resources],
            )
        })
        .collect();
    (master, agents)
}

/// Non-terminal tasks the master knows for the framework named `marathon`.
async fn master_tasks(master: &Master) -> Vec<Value> {
    let state: Value = match reqwest::get(format!("{}/master/state", master.url())).await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => return Vec::new(),
    };
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == "marathon")
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypi_marathon_client_drives_the_api() {
    let Some(python) = test_python("marathon") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 1);
    let marathon = Marathon::start(&master.url(), &[]);
    let url = marathon.url();
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    let script = workspace_root().join("tests/python/marathon_client.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(url)
            .arg("60")
            .output()
            .expect("run the marathon script")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "marathon client script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let steps: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(
        names,
        [
            "create",
            "duplicate",
            "scale",
            "update",
            "restart",
            "versions",
            "kill",
            "kill_scale",
            "tasks",
            "list_apps",
            "groups",
            "deployments",
            "queue",
            "delete",
            "events",
            "done"
        ]
    );
    // What the client saw is what the master has: nothing left running.
    wait_until(
        Duration::from_secs(20),
        "the master has no marathon tasks left",
        || async {
            master_tasks(&master)
                .await
                .iter()
                .all(|t| t["state"] != "TASK_RUNNING")
        },
    )
    .await;
}

/// PIDs of processes whose environment has `MESOS_TASK_ID=<task_id>`
/// (the task's shell and its children).
fn task_pids(task_id: &str) -> Vec<u32> {
    let needle = format!("MESOS_TASK_ID={task_id}");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(env) = std::fs::read(entry.path().join("environ")) {
            if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
                pids.push(pid);
            }
        }
    }
    pids
}

fn healthy_and_total(app: &Value) -> (usize, usize) {
    let tasks = app["tasks"].as_array().cloned().unwrap_or_default();
    let healthy = tasks
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING" && t["healthCheckResults"][0]["alive"] == true)
        .count();
    (healthy, tasks.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_servers_are_replaced_after_kill9_and_roll_within_bounds() {
    if !dcos_tests::require_tool("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 2);
    let marathon = Marathon::start(&master.url(), &[]);
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    let app = json!({
        "id": "/web", "cmd": "exec python3 -m http.server $PORT0 --bind 127.0.0.1", "instances": 10,
        "cpus": 0.05, "mem": 32,
        // Patient checks: on a loaded CI box a 2 s probe of python's
        // http.server can time out, and an old instance the agent kills for
        // that would count against Marathon's floor.
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "gracePeriodSeconds": 15, "delaySeconds": 0,
                          "intervalSeconds": 1, "timeoutSeconds": 10, "maxConsecutiveFailures": 10}],
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
    });
    let (status, _) = marathon.send("POST", "/v2/apps", &app.to_string()).await;
    assert_eq!(status, 201);
    wait_until(Duration::from_secs(90), "10 healthy HTTP servers", || {
        marathon.settled("/web", 10)
    })
    .await;

    // kill -9 one server: it is replaced by a new task.
    let before = marathon.app("/web").await;
    let victim = before["tasks"][0]["id"].as_str().unwrap().to_owned();
    let pids = task_pids(&victim);
    assert!(!pids.is_empty(), "no process found for task {victim}");
    for pid in &pids {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    wait_until(
        Duration::from_secs(60),
        "the killed server replaced, 10 healthy again",
        || async {
            let app = marathon.app("/web").await;
            let gone = app["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().all(|t| t["id"] != victim.as_str()));
            gone && marathon.settled("/web", 10).await
        },
    )
    .await;

    // Rolling upgrade: sample healthy and total counts throughout.
    let (status, body) = marathon
        .send(
            "PUT",
            "/v2/apps/web",
            &json!({"env": {"GENERATION": "2"}}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let version = body["version"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let (mut min_healthy, mut max_total, mut samples) = (usize::MAX, 0, 0);
    loop {
        let app = marathon.app("/web").await;
        let (healthy, total) = healthy_and_total(&app);
        if !app.is_null() {
            samples += 1;
            if healthy < min_healthy {
                min_healthy = healthy;
                let brief: Vec<String> = app["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        format!(
                            "{} {} {} {}",
                            &t["id"].as_str().unwrap_or("")[..12],
                            t["state"],
                            t["healthCheckResults"][0]["alive"],
                            t["version"] == version.as_str()
                        )
                    })
                    .collect();
                eprintln!("{:?} healthy {healthy}: {brief:#?}", started.elapsed());
            }
            max_total = max_total.max(total);
        }
        let done = app["deployments"].as_array().is_some_and(|d| d.is_empty())
            && healthy == 10
            && app["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().all(|t| t["version"] == version.as_str()));
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "upgrade did not finish: {app}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "rolling upgrade: {samples} samples, min healthy {min_healthy}, max tasks {max_total}"
    );
    assert!(samples > 10);
    assert!(
        min_healthy >= 5,
        "healthy dropped to {min_healthy} (floor 5)"
    );
    assert!(max_total <= 12, "{max_total} tasks exceeded 10 × (1 + 0.2)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_is_backed_off_in_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 1);
    let marathon = Marathon::start(&master.url(), &[]);
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    // The health check keeps the deployment open (a task that is running
    // would complete it before it fails).
    let app = json!({"id": "/crash", "cmd": "sleep 0.3; exit 3", "cpus": 0.05, "mem": 16,
                     "backoffSeconds": 4, "backoffFactor": 2, "maxLaunchDelaySeconds": 60,
                     "healthChecks": [{"protocol": "COMMAND", "command": {"value": "false"}, "gracePeriodSeconds": 60, "maxConsecutiveFailures": 0}]});
    assert_eq!(
        marathon.send("POST", "/v2/apps", &app.to_string()).await.0,
        201
    );
    let queued = || async {
        let q = marathon.get("/v2/queue").await;
        q["queue"]
            .as_array()
            .and_then(|q| q.iter().find(|i| i["app"]["id"] == "/crash").cloned())
    };
    wait_until(
        Duration::from_secs(30),
        "the crash app backed off by more than 4 s",
        || async {
            queued().await.is_some_and(|i| {
                i["delay"]["timeLeftSeconds"].as_f64().unwrap_or(0.0) > 4.0
                    && i["delay"]["overdue"] == false
            })
        },
    )
    .await;
    let item = queued().await.unwrap();
    assert_eq!(item["count"], 1);
    let app = marathon.app("/crash").await;
    assert_eq!(app["lastTaskFailure"]["state"], "TASK_FAILED");
    // The deployment says why it does not finish. While a relaunched
    // task runs its 0.3 s it says "running but not healthy" instead (a
    // CI run caught that moment): wait for the backed-off answer.
    let deployments = marathon.get("/v2/deployments").await;
    let id = deployments[0]["id"].as_str().unwrap().to_string();
    wait_until(
        Duration::from_secs(30),
        "the deployment says the app is backed off",
        || async {
            let d = marathon.get(&format!("/v2/deployments/{id}")).await;
            d["waitingFor"]
                .as_str()
                .unwrap_or_default()
                .contains("backed off")
        },
    )
    .await;
    // Resetting the delay launches at once.
    let resp = reqwest::Client::new()
        .delete(format!("{}/v2/queue/crash/delay", marathon.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let q = marathon.get("/v2/queue").await;
    let left = q["queue"]
        .as_array()
        .and_then(|q| q.iter().find(|i| i["app"]["id"] == "/crash").cloned())
        .map(|i| i["delay"]["timeLeftSeconds"].as_f64().unwrap_or(0.0))
        .unwrap_or(0.0);
    assert!(left < 1.0, "delay not reset: {left}");
}

/// Two Marathons on `master`, once one leads and the other knows it:
/// (leader, standby).
async fn leader_and_standby(master: &Master) -> (Marathon, Marathon) {
    let a = Marathon::start(&master.url(), &[]);
    let b = Marathon::start(&master.url(), &[]);
    wait_until(
        Duration::from_secs(30),
        "one marathon is elected",
        || async { a.is_leader().await || b.is_leader().await },
    )
    .await;
    let (leader, standby) = if a.is_leader().await { (a, b) } else { (b, a) };
    wait_until(
        Duration::from_secs(10),
        "the standby knows the leader",
        || async { standby.get("/v2/leader").await["leader"] == leader.addr().as_str() },
    )
    .await;
    (leader, standby)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_during_a_deployment_completes_it_on_the_standby() {
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 2);
    let (mut leader, standby) = leader_and_standby(&master).await;
    // Each instance turns healthy only 2 s after its first check, so the
    // deployment is still running when the leader dies.
    let app = json!({"id": "/svc", "cmd": "sleep 1000", "instances": 8, "cpus": 0.05, "mem": 16,
                     "healthChecks": [{"protocol": "COMMAND", "command": {"value": "test -e ready || (sleep 2; touch ready; false)"},
                                       "gracePeriodSeconds": 60, "delaySeconds": 0, "intervalSeconds": 1, "timeoutSeconds": 5, "maxConsecutiveFailures": 0}]});
    // Sent to the standby: it proxies to the leader.
    let (status, body) = standby.send("POST", "/v2/apps", &app.to_string()).await;
    assert_eq!(status, 201, "{body}");
    wait_until(Duration::from_secs(30), "some tasks launched", || async {
        master_tasks(&master).await.len() >= 2
    })
    .await;
    let deployments = standby.get("/v2/deployments").await;
    assert_eq!(
        deployments.as_array().map(Vec::len),
        Some(1),
        "the deployment is running: {deployments}"
    );
    leader.kill9();
    wait_until(Duration::from_secs(30), "the standby takes over", || {
        standby.is_leader()
    })
    .await;
    wait_until(
        Duration::from_secs(90),
        "the deployment completes with 8 healthy",
        || standby.settled("/svc", 8),
    )
    .await;
    let tasks = master_tasks(&master).await;
    let running = tasks
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .count();
    assert_eq!(running, 8, "no task duplicated or lost: {tasks:?}");
    assert_eq!(standby.get("/v2/deployments").await, json!([]));
    // Abdicating (the only candidate left) reloads the state from the
    // store on re-election: still 8, nothing launched twice.
    assert_eq!(standby.send("DELETE", "/v2/leader", "").await.0, 200);
    wait_until(
        Duration::from_secs(10),
        "the abdication is visible",
        || async { !standby.is_leader().await },
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        "re-elected with 8 healthy",
        || async { standby.is_leader().await && standby.settled("/svc", 8).await },
    )
    .await;
    let running = master_tasks(&master)
        .await
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .count();
    assert_eq!(running, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_marathon_answers_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 1);
    let marathon = Marathon::start(&master.url(), &[]);
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    let ok = json!({"id": "/ok", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16});
    assert_eq!(
        marathon.send("POST", "/v2/apps", &ok.to_string()).await.0,
        201
    );
    wait_until(Duration::from_secs(30), "the ok app runs", || {
        marathon.settled("/ok", 1)
    })
    .await;
    let before = marathon.get("/v2/apps").await;
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        ("POST", "/v2/apps", r#"{"id": "/x", "cmd": "#, 400, ""),
        (
            "POST",
            "/v2/apps",
            r#"{"id": "/Bad_Id!", "cmd": "x"}"#,
            422,
            "/id",
        ),
        (
            "POST",
            "/v2/apps",
            r#"{"id": "/x", "cmd": "x", "instances": -1}"#,
            422,
            "/instances",
        ),
        (
            "POST",
            "/v2/apps",
            r#"{"id": "/x", "cmd": "x", "constraints": [["hostname", "SOMETIMES"]]}"#,
            422,
            "/constraints(0)",
        ),
        (
            "POST",
            "/v2/apps",
            r#"{"id": "/x", "cmd": "x", "args": ["y"]}"#,
            422,
            "/cmd",
        ),
        ("POST", "/v2/apps", r#"[1, 2]"#, 422, "/"),
        ("POST", "/v2/apps", r#"{"id": "/ok", "cmd": "x"}"#, 409, ""),
        (
            "PUT",
            "/v2/apps/ok",
            r#"{"instances": -5}"#,
            422,
            "/instances",
        ),
        ("PUT", "/v2/apps/ok", r#"{"instances": "#, 400, ""),
        (
            "POST",
            "/v2/groups",
            r#"{"id": "/g", "apps": [{"id": "a", "cmd": "x", "args": ["y"]}]}"#,
            422,
            "/apps(0)/cmd",
        ),
        ("GET", "/v2/apps/missing", "", 404, ""),
        ("DELETE", "/v2/deployments/nope", "", 404, ""),
    ];
    for (method, path, body, want, pointer) in cases {
        let (status, answer) = marathon.send(method, path, body).await;
        assert_eq!(status, *want, "{method} {path} {body} -> {answer}");
        match *want {
            422 => {
                assert_eq!(answer["message"], "Object is not valid", "{answer}");
                assert_eq!(answer["details"][0]["path"], *pointer, "{answer}");
            }
            _ => assert!(answer["message"].is_string(), "{method} {path}: {answer}"),
        }
    }
    // A change to an app in a deployment is refused with 409 unless forced.
    assert_eq!(marathon.send("PUT", "/v2/apps/ok", r#"{"cmd": "sleep 2000", "healthChecks": [{"protocol": "COMMAND", "command": {"value": "false"}}]}"#).await.0, 200);
    let (status, answer) = marathon
        .send("PUT", "/v2/apps/ok", r#"{"instances": 3}"#)
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("force=true"));
    let (status, _) = marathon
        .send(
            "PUT",
            "/v2/apps/ok?force=true",
            r#"{"cmd": "sleep 1000", "healthChecks": []}"#,
        )
        .await;
    assert_eq!(status, 200);
    wait_until(Duration::from_secs(30), "the ok app settles again", || {
        marathon.settled("/ok", 1)
    })
    .await;
    let after = marathon.get("/v2/apps").await;
    assert_eq!(
        after["apps"].as_array().map(Vec::len),
        before["apps"].as_array().map(Vec::len)
    );
    assert_eq!(after["apps"][0]["id"], "/ok");
    assert_eq!(marathon.get("/ping").await, Value::Null, "ping is text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_failing_its_health_check_is_killed_and_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 1);
    let marathon = Marathon::start(&master.url(), &[]);
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    // Healthy for its first 2 s, then failing: the agent kills it after 2
    // failures in a row and Marathon launches a replacement.
    let app = json!({"id": "/flaky", "cmd": "touch started; sleep 1000", "cpus": 0.05, "mem": 16,
                     "healthChecks": [{"protocol": "COMMAND",
                                       "command": {"value": "test $(( $(date +%s) - $(stat -c %Y started) )) -lt 2"},
                                       "gracePeriodSeconds": 0, "delaySeconds": 0, "intervalSeconds": 1, "timeoutSeconds": 5,
                                       "maxConsecutiveFailures": 2}]});
    assert_eq!(
        marathon.send("POST", "/v2/apps", &app.to_string()).await.0,
        201
    );
    wait_until(
        Duration::from_secs(30),
        "the first task is healthy",
        || async { marathon.app("/flaky").await["tasksHealthy"] == 1 },
    )
    .await;
    let first = marathon.app("/flaky").await["tasks"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_until(
        Duration::from_secs(60),
        "the unhealthy task killed and replaced",
        || async {
            let app = marathon.app("/flaky").await;
            app["lastTaskFailure"]["taskId"] == first.as_str()
                && app["tasks"]
                    .as_array()
                    .is_some_and(|t| t.len() == 1 && t[0]["id"] != first.as_str())
        },
    )
    .await;
    let app = marathon.app("/flaky").await;
    assert_eq!(app["lastTaskFailure"]["state"], "TASK_KILLED", "{app}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_checks_gate_the_deployment() {
    if !dcos_tests::require_tool("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 1);
    let marathon = Marathon::start(&master.url(), &[]);
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    // The server serves a directory the test controls: `/ready` answers
    // 200 only once the test creates the file.
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let app = json!({"id": "/ready", "cpus": 0.05, "mem": 32,
                     "cmd": format!("exec python3 -m http.server $PORT0 --bind 127.0.0.1 --directory {}", docs.display()),
                     "portDefinitions": [{"port": 0, "name": "http"}],
                     "readinessChecks": [{"name": "r", "protocol": "HTTP", "path": "/ready", "portName": "http",
                                          "intervalSeconds": 1, "timeoutSeconds": 1, "httpStatusCodesForReady": [200]}]});
    assert_eq!(
        marathon.send("POST", "/v2/apps", &app.to_string()).await.0,
        201
    );
    wait_until(Duration::from_secs(30), "the task runs", || async {
        marathon.app("/ready").await["tasksRunning"] == 1
    })
    .await;
    // Running, answering 404 on /ready: several probes later the
    // deployment still waits.
    let port = marathon.app("/ready").await["tasks"][0]["ports"][0]
        .as_u64()
        .unwrap();
    wait_until(Duration::from_secs(10), "the server answers", || async {
        reqwest::get(format!("http://127.0.0.1:{port}/ready"))
            .await
            .is_ok()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        marathon
            .get("/v2/deployments")
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    std::fs::write(docs.join("ready"), "ok").unwrap();
    wait_until(
        Duration::from_secs(60),
        "the deployment completes once ready",
        || async { marathon.get("/v2/deployments").await == json!([]) },
    )
    .await;
}

/// `(id, cmd, instances)` of the apps directly in a group.
async fn group_apps(marathon: &Marathon, group: &str) -> Vec<(String, String, i64)> {
    let g = marathon.get(&format!("/v2/groups{group}")).await;
    g["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or_default().to_owned(),
                a["cmd"].as_str().unwrap_or_default().to_owned(),
                a["instances"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

async fn no_deployments(marathon: &Marathon) -> bool {
    marathon.get("/v2/deployments").await == json!([])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_rolls_back_to_its_first_version() {
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 1);
    let marathon = Marathon::start(&master.url(), &[]);
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    let group = json!({"id": "/shop", "apps": [
        {"id": "web", "cmd": "sleep 1000", "instances": 2, "cpus": 0.05, "mem": 16},
        {"id": "db", "cmd": "sleep 1001", "instances": 1, "cpus": 0.05, "mem": 16},
    ]});
    let (status, body) = marathon
        .send("POST", "/v2/groups", &group.to_string())
        .await;
    assert_eq!(status, 201, "{body}");
    let settled = |web: usize, db: usize| {
        let m = &marathon;
        async move {
            m.settled("/shop/web", web).await
                && (db == 0 || m.settled("/shop/db", db).await)
                && no_deployments(m).await
        }
    };
    wait_until(Duration::from_secs(60), "the group is deployed", || {
        settled(2, 1)
    })
    .await;
    let original = group_apps(&marathon, "/shop").await;
    assert_eq!(
        original,
        [
            ("/shop/db".to_owned(), "sleep 1001".to_owned(), 1),
            ("/shop/web".to_owned(), "sleep 1000".to_owned(), 2)
        ]
    );

    // Change one app, add a third, delete the second.
    let (status, body) = marathon
        .send("PUT", "/v2/apps/shop/web", r#"{"cmd": "sleep 2000"}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    wait_until(Duration::from_secs(60), "web is upgraded", || settled(2, 1)).await;
    let cache = json!({"id": "/shop/cache", "cmd": "sleep 1002", "cpus": 0.05, "mem": 16});
    let (status, body) = marathon.send("POST", "/v2/apps", &cache.to_string()).await;
    assert_eq!(status, 201, "{body}");
    wait_until(Duration::from_secs(60), "cache runs", || async {
        marathon.settled("/shop/cache", 1).await && no_deployments(&marathon).await
    })
    .await;
    let (status, body) = marathon.send("DELETE", "/v2/apps/shop/db", "").await;
    assert_eq!(status, 200, "{body}");
    wait_until(Duration::from_secs(60), "db is gone", || async {
        no_deployments(&marathon).await && marathon.app("/shop/db").await.is_null()
    })
    .await;
    let names: Vec<String> = group_apps(&marathon, "/shop")
        .await
        .into_iter()
        .map(|a| a.0)
        .collect();
    assert_eq!(names, ["/shop/cache", "/shop/web"]);

    // Four versions, newest first; the root has them too.
    let versions: Vec<String> =
        serde_json::from_value(marathon.get("/v2/groups/shop/versions").await).unwrap();
    assert_eq!(versions.len(), 4, "{versions:?}");
    assert!(versions.windows(2).all(|w| w[0] > w[1]), "{versions:?}");
    let root = marathon.get("/v2/groups/versions").await;
    assert_eq!(root.as_array().map(Vec::len), Some(4), "{root}");
    let first = versions.last().unwrap().clone();
    let then = marathon
        .get(&format!("/v2/groups/shop/versions/{first}"))
        .await;
    assert_eq!(then["apps"].as_array().map(Vec::len), Some(2), "{then}");

    // Roll back to the first version through a deployment.
    let (status, body) = marathon
        .send(
            "PUT",
            "/v2/groups/shop",
            &json!({"version": first}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["deploymentId"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    wait_until(
        Duration::from_secs(90),
        "the rollback completes: web ×2, db ×1 running, cache gone",
        || async {
            settled(2, 1).await
                && marathon.app("/shop/cache").await.is_null()
                && master_tasks(&master)
                    .await
                    .iter()
                    .filter(|t| t["state"] == "TASK_RUNNING")
                    .count()
                    == 3
        },
    )
    .await;
    assert_eq!(group_apps(&marathon, "/shop").await, original);
    // The running tasks are of the rolled-back definitions.
    for id in ["/shop/web", "/shop/db"] {
        let app = marathon.app(id).await;
        let version = app["version"].as_str().unwrap().to_owned();
        assert!(
            app["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["version"] == version.as_str()),
            "{app}"
        );
    }
    let versions = marathon.get("/v2/groups/shop/versions").await;
    assert_eq!(versions.as_array().map(Vec::len), Some(5), "{versions}");
    // An unknown version: Marathon's 422.
    let (status, body) = marathon
        .send(
            "PUT",
            "/v2/groups/shop",
            r#"{"version": "2001-01-01T00:00:00.000Z"}"#,
        )
        .await;
    assert_eq!(status, 422, "{body}");
}

/// A callback receiver: every JSON body POSTed to `/cb`, in arrival order.
async fn callback_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    sink.lock().unwrap().push(v);
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// Runs `tests/python/marathon_subscriptions.py`; its JSON line.
async fn python_subscription(
    python: &std::path::Path,
    marathon: &str,
    action: &str,
    cb: &str,
) -> Value {
    let script = workspace_root().join("tests/python/marathon_subscriptions.py");
    let args = [marathon.to_owned(), action.to_owned(), cb.to_owned()];
    let python = python.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args(args)
            .output()
            .expect("run the subscriptions script")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "subscriptions script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

/// Where in `events` the first one matching `pred` is.
fn position(events: &[Value], what: &str, pred: impl Fn(&Value) -> bool) -> usize {
    events
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no {what} in {events:#?}"))
}

/// Whether the receiver got `deployment_success` of `deployment`.
fn succeeded(got: &std::sync::Mutex<Vec<Value>>, deployment: &str) -> bool {
    got.lock()
        .unwrap()
        .iter()
        .any(|e| e["eventType"] == "deployment_success" && e["id"] == deployment)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_subscribers_get_every_event_in_order_across_a_failover() {
    let Some(python) = test_python("marathon") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 1);
    let (mut leader, standby) = leader_and_standby(&master).await;
    let (cb, got) = callback_receiver().await;

    // Subscribed through the standby (which proxies to the leader).
    let sub = python_subscription(&python, &standby.url(), "subscribe", &cb).await;
    assert_eq!(sub["answer"]["eventType"], "subscribe_event", "{sub}");
    assert_eq!(sub["answer"]["callbackUrl"], cb.as_str());
    assert_eq!(sub["listed"], json!([cb]));

    let deploy = |m: &Marathon, id: &str| {
        let body = json!({"id": id, "cmd": "sleep 1000", "cpus": 0.05, "mem": 16}).to_string();
        let url = m.url();
        async move {
            let resp = reqwest::Client::new()
                .post(format!("{url}/v2/apps"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 201);
            resp.headers()["Marathon-Deployment-Id"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let dep = deploy(&leader, "/hook").await;
    wait_until(
        Duration::from_secs(60),
        "the subscriber gets deployment_success",
        || async { succeeded(&got, &dep) },
    )
    .await;
    let events = got.lock().unwrap().clone();
    let post = position(&events, "api_post_event", |e| {
        e["eventType"] == "api_post_event" && e["appDefinition"]["id"] == "/hook"
    });
    let info = position(&events, "deployment_info", |e| {
        e["eventType"] == "deployment_info" && e["plan"]["id"] == dep.as_str()
    });
    let running = position(&events, "status_update_event TASK_RUNNING", |e| {
        e["eventType"] == "status_update_event"
            && e["appId"] == "/hook"
            && e["taskStatus"] == "TASK_RUNNING"
    });
    let success = position(&events, "deployment_success", |e| {
        e["eventType"] == "deployment_success" && e["id"] == dep.as_str()
    });
    assert!(
        post < info && info < running && running < success,
        "out of order: {post} {info} {running} {success}"
    );

    // The subscription is stored: the new leader delivers.
    leader.kill9();
    wait_until(Duration::from_secs(30), "the standby takes over", || {
        standby.is_leader()
    })
    .await;
    let dep = deploy(&standby, "/hook2").await;
    wait_until(
        Duration::from_secs(60),
        "the new leader delivers deployment_success",
        || async { succeeded(&got, &dep) },
    )
    .await;

    // Unsubscribed: nothing more arrives.
    let unsub = python_subscription(&python, &standby.url(), "unsubscribe", &cb).await;
    assert_eq!(unsub["answer"]["eventType"], "unsubscribe_event", "{unsub}");
    assert_eq!(unsub["listed"], json!([]));
    let before = got.lock().unwrap().len();
    let dep3 = deploy(&standby, "/hook3").await;
    wait_until(Duration::from_secs(60), "/hook3 is deployed", || async {
        standby.settled("/hook3", 1).await && no_deployments(&standby).await
    })
    .await;
    let after = got.lock().unwrap().clone();
    assert_eq!(
        after.len(),
        before,
        "POSTs after unsubscribing (deployment {dep3}): {:#?}",
        &after[before..]
    );
}

/// Collects the raw SSE text of `/v2/events` in the background (the task
/// ends with the returned handle).
fn collect_events(
    url: String,
) -> (
    std::sync::Arc<std::sync::Mutex<String>>,
    tokio::task::JoinHandle<()>,
) {
    use futures::StreamExt;
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = text.clone();
    let task = tokio::spawn(async move {
        let Ok(resp) = reqwest::Client::new()
            .get(format!("{url}/v2/events"))
            .header("accept", "text/event-stream")
            .send()
            .await
        else {
            return;
        };
        let mut body = Box::pin(resp.bytes_stream());
        while let Some(Ok(chunk)) = body.next().await {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    (text, task)
}

/// Starts a Marathon against `master` (with `extra` flags) and waits
/// until it is elected.
async fn elected_marathon(master: &Master, extra: &[&str]) -> Marathon {
    let marathon = Marathon::start(&master.url(), extra);
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    marathon
}

/// The command of an app whose servers serve their sandbox's `www/`:
/// `/health` answers 200 until [`break_health`] removes the file (404).
const HEALTH_SERVER: &str = "mkdir -p www && echo ok > www/health && exec python3 -m http.server $PORT0 --bind 127.0.0.1 --directory www";

/// Makes a [`HEALTH_SERVER`] task's `/health` answer 404.
fn break_health(task_id: &str) {
    let sandbox = task_pids(task_id)
        .iter()
        .filter_map(|p| std::fs::read_link(format!("/proc/{p}/cwd")).ok())
        .find(|d| d.join("www/health").exists())
        .unwrap_or_else(|| panic!("no sandbox with www/health for {task_id}"));
    std::fs::remove_file(sandbox.join("www/health")).unwrap();
}

/// The JSON `data:` lines of collected SSE text with this `eventType`.
fn events_of(text: &str, kind: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .filter(|e| e["eventType"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_probes_http_and_tcp_checks_and_replaces_a_failing_instance() {
    if !dcos_tests::require_tool("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 1);
    let mut marathon = elected_marathon(&master, &["--leader-ttl", "1"]).await;
    // A standby, which probes only once it leads.
    let standby = Marathon::start(&master.url(), &["--leader-ttl", "1"]);
    let (events, events_task) = collect_events(marathon.url());
    // Each server serves its sandbox's www/: /health answers 200 until
    // the test removes the file, then 404. Both checks are Marathon's
    // own: the leader probes them, nothing goes to the agent.
    let app = json!({
        "id": "/hc", "instances": 3, "cpus": 0.05, "mem": 32,
        "cmd": HEALTH_SERVER,
        "healthChecks": [
            {"protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 30,
             "intervalSeconds": 1, "timeoutSeconds": 5, "maxConsecutiveFailures": 2},
            {"protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 30,
             "intervalSeconds": 1, "timeoutSeconds": 5, "maxConsecutiveFailures": 3}
        ],
    });
    let (status, body) = marathon.send("POST", "/v2/apps", &app.to_string()).await;
    assert_eq!(status, 201, "{body}");
    wait_until(
        Duration::from_secs(60),
        "3 instances healthy by both checks",
        || async {
            let app = marathon.app("/hc").await;
            app["tasksHealthy"] == 3
                && app["tasks"].as_array().is_some_and(|t| {
                    t.iter().all(|t| {
                        t["healthCheckResults"]
                            .as_array()
                            .is_some_and(|r| r.len() == 2 && r.iter().all(|r| r["alive"] == true))
                    })
                })
        },
    )
    .await;
    let tasks = marathon.get("/v2/apps/hc/tasks").await;
    let first = &tasks["tasks"][0];
    let result = &first["healthCheckResults"][0];
    assert_eq!(result["instanceId"], first["id"], "{result}");
    assert_eq!(result["consecutiveFailures"], 0, "{result}");
    assert!(result["firstSuccess"].is_string(), "{result}");
    assert!(result["lastSuccess"].is_string(), "{result}");
    assert!(result["lastFailureCause"].is_null(), "{result}");
    wait_until(Duration::from_secs(30), "no deployment left", || async {
        marathon.get("/v2/deployments").await == json!([])
    })
    .await;

    // Break one server's /health: the leader's HTTP probe fails (the TCP
    // one still passes), and after more than 2 failures in a row the
    // instance is killed and replaced.
    let victim = first["id"].as_str().unwrap().to_owned();
    break_health(&victim);
    wait_until(
        Duration::from_secs(60),
        "the failing instance killed, replaced, 3 healthy again",
        || async {
            let app = marathon.app("/hc").await;
            app["tasksHealthy"] == 3
                && app["tasks"]
                    .as_array()
                    .is_some_and(|t| t.len() == 3 && t.iter().all(|t| t["id"] != victim.as_str()))
        },
    )
    .await;
    let text = events.lock().unwrap().clone();
    events_task.abort();
    let failed = events_of(&text, "failed_health_check_event");
    assert!(
        failed
            .iter()
            .any(|e| e["instanceId"] == victim.as_str() && e["healthCheck"]["protocol"] == "HTTP"),
        "{failed:?}"
    );
    let changed = events_of(&text, "health_status_changed_event");
    assert!(
        changed
            .iter()
            .any(|e| e["instanceId"] == victim.as_str() && e["alive"] == false),
        "{changed:?}"
    );
    let app = marathon.app("/hc").await;
    assert_eq!(app["lastTaskFailure"]["taskId"], victim.as_str(), "{app}");
    assert!(
        app["lastTaskFailure"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Failed health check"),
        "{app}"
    );
    let killed = events_of(&text, "unhealthy_instance_kill_event");
    assert_eq!(killed.len(), 1, "{killed:?}");
    assert_eq!(killed[0]["taskId"], victim.as_str());
    assert!(
        killed[0]["reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("404"),
        "{}",
        killed[0]
    );

    // The leader dies: the standby takes over and probes afresh (results
    // are not stored; every first success is after the failover).
    let last_seen = marathon.get("/v2/apps/hc/tasks").await["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| {
            t["healthCheckResults"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|r| r["lastSuccess"].as_str().map(str::to_owned))
        .max()
        .unwrap();
    marathon.kill9();
    wait_until(Duration::from_secs(30), "the standby leads", || {
        standby.is_leader()
    })
    .await;
    wait_until(
        Duration::from_secs(30),
        "the new leader's probes find 3 healthy",
        || async {
            let app = standby.app("/hc").await;
            app["tasksHealthy"] == 3
                && app["tasks"].as_array().is_some_and(|t| {
                    t.iter().all(|t| {
                        t["healthCheckResults"].as_array().is_some_and(|r| {
                            r.len() == 2
                                && r.iter().all(|r| {
                                    r["firstSuccess"]
                                        .as_str()
                                        .is_some_and(|f| f > last_seen.as_str())
                                })
                        })
                    })
                })
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_instance_is_replaced_after_inactive_after_and_the_surplus_killed_when_back()
{
    let tmp = tempfile::tempdir().unwrap();
    // An agent is unreachable after 3 missed 1 s heartbeats.
    let master = Master::start(
        &tmp.path().join("master"),
        None,
        &[
            "--agent-ping-timeout",
            "1",
            "--max-agent-ping-timeouts",
            "3",
        ],
    );
    let agents: Vec<Agent> = (0..2)
        .map(|i| {
            let resources = agent_resources();
            Agent::start(
                &tmp.path().join(format!("agent{i}")),
                &master.url(),
                &["--resources", &resources],
            )
        })
        .collect();
    // A short lease: the restarted Marathon takes over quickly.
    let mut marathon = elected_marathon(&master, &["--leader-ttl", "1"]).await;
    let app = json!({"id": "/u", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
                     "unreachableStrategy": {"inactiveAfterSeconds": 6, "expungeAfterSeconds": 120}});
    let (status, body) = marathon.send("POST", "/v2/apps", &app.to_string()).await;
    assert_eq!(status, 201, "{body}");
    wait_until(Duration::from_secs(30), "the instance runs", || {
        marathon.settled("/u", 1)
    })
    .await;
    let task = marathon.app("/u").await["tasks"][0].clone();
    let original = task["id"].as_str().unwrap().to_owned();
    let (stopped, other) = if task["slaveId"] == agents[0].id.as_str() {
        (&agents[0], &agents[1])
    } else {
        (&agents[1], &agents[0])
    };
    let pid = stopped.pid().unwrap().to_string();
    // SIGSTOP: the agent falls silent, its task keeps running.
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let url = marathon.url();
    let tasks = || async {
        let tasks: Value = match reqwest::get(format!("{url}/v2/apps/u/tasks")).await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        tasks["tasks"].as_array().cloned().unwrap_or_default()
    };
    wait_until(
        Duration::from_secs(30),
        "the task is TASK_UNREACHABLE",
        || async {
            tasks()
                .await
                .iter()
                .any(|t| t["id"] == original.as_str() && t["state"] == "TASK_UNREACHABLE")
        },
    )
    .await;
    let seen = Instant::now();
    let app = marathon.app("/u").await;
    assert_eq!(
        app["tasksRunning"], 0,
        "an unreachable task is not running: {app}"
    );
    // Not replaced before inactiveAfterSeconds (6 s, counted from the
    // master's unreachable time, a little before we saw it: 4 s checked),
    // across a Marathon failover (that time is in the instance's key).
    while seen.elapsed() < Duration::from_secs(2) {
        let t = tasks().await;
        assert_eq!(t.len(), 1, "replaced too early: {t:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    marathon.restart();
    wait_until(Duration::from_secs(30), "marathon is elected again", || {
        marathon.is_leader()
    })
    .await;
    wait_until(
        Duration::from_secs(30),
        "a replacement runs on the other agent",
        || async {
            let t = tasks().await;
            let replaced = t.iter().any(|t| t["id"] != original.as_str());
            assert!(
                !replaced || seen.elapsed() >= Duration::from_secs(4),
                "replaced after {:?}: {t:?}",
                seen.elapsed()
            );
            t.iter().any(|t| {
                t["id"] != original.as_str()
                    && t["state"] == "TASK_RUNNING"
                    && t["slaveId"] == other.id.as_str()
            })
        },
    )
    .await;
    // SIGCONT: the agent re-registers, its task is running again, and the
    // replacement (the younger) is killed: one instance, the original.
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    wait_until(
        Duration::from_secs(40),
        "the original back, the surplus replacement killed",
        || async {
            let t = tasks().await;
            t.len() == 1 && t[0]["id"] == original.as_str() && t[0]["state"] == "TASK_RUNNING"
        },
    )
    .await;
    wait_until(
        Duration::from_secs(20),
        "the master runs one task",
        || async {
            master_tasks(&master)
                .await
                .iter()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .count()
                == 1
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_failing_its_mesos_http_check_is_killed_by_the_agent_and_replaced() {
    if !dcos_tests::require_tool("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 1);
    let marathon = elected_marathon(&master, &[]).await;
    // MESOS_HTTP: the agent probes, the leader only reads the verdicts.
    let app = json!({"id": "/mh", "cpus": 0.05, "mem": 32, "cmd": HEALTH_SERVER,
                     "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "gracePeriodSeconds": 30, "delaySeconds": 0,
                                       "intervalSeconds": 1, "timeoutSeconds": 5, "maxConsecutiveFailures": 2}]});
    let (status, body) = marathon.send("POST", "/v2/apps", &app.to_string()).await;
    assert_eq!(status, 201, "{body}");
    wait_until(Duration::from_secs(60), "the server is healthy", || {
        marathon.settled("/mh", 1)
    })
    .await;
    let task = marathon.app("/mh").await["tasks"][0].clone();
    let result = &task["healthCheckResults"][0];
    assert!(result["firstSuccess"].is_string(), "{result}");
    let first = task["id"].as_str().unwrap().to_owned();
    break_health(&first);
    wait_until(
        Duration::from_secs(60),
        "the failing server killed and replaced",
        || async {
            let app = marathon.app("/mh").await;
            app["lastTaskFailure"]["taskId"] == first.as_str()
                && app["tasks"]
                    .as_array()
                    .is_some_and(|t| t.len() == 1 && t[0]["id"] != first.as_str())
                && app["tasksHealthy"] == 1
        },
    )
    .await;
}

/// The `::status` of a pod (`Null` if unknown).
async fn pod_status(marathon: &Marathon, id: &str) -> Value {
    marathon.get(&format!("/v2/pods{id}::status")).await
}

/// Whether the pod is STABLE with `n` STABLE instances of `version`, each
/// with every container TASK_RUNNING.
fn pod_stable(status: &Value, n: usize, version: Option<&str>) -> bool {
    let Some(instances) = status["instances"].as_array() else {
        return false;
    };
    status["status"] == "STABLE"
        && instances.len() == n
        && instances.iter().all(|i| {
            i["status"] == "STABLE"
                && version.is_none_or(|v| {
                    i["specReference"]
                        .as_str()
                        .is_some_and(|r| r.ends_with(&format!("::versions/{v}")))
                })
                && i["containers"].as_array().is_some_and(|c| {
                    c.len() == 2 && c.iter().all(|c| c["status"] == "TASK_RUNNING")
                })
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_runs_as_task_groups_is_replaced_upgraded_scaled_and_deleted() {
    if !dcos_tests::require_tool("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 2);
    let mut marathon = Marathon::start(&master.url(), &[]);
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    let pod = |generation: &str, instances: u32| {
        json!({
            "id": "/shop/web",
            "environment": {"GENERATION": generation},
            "containers": [
                {"name": "srv", "resources": {"cpus": 0.05, "mem": 32},
                 "exec": {"command": {"shell": "exec python3 -m http.server $ENDPOINT_HTTP --bind 127.0.0.1"}},
                 "endpoints": [{"name": "http", "hostPort": 0}],
                 "healthCheck": {"http": {"endpoint": "http", "path": "/"}, "gracePeriodSeconds": 15,
                                 "intervalSeconds": 1, "timeoutSeconds": 10, "maxConsecutiveFailures": 10}},
                {"name": "side", "resources": {"cpus": 0.05, "mem": 16},
                 "exec": {"command": {"shell": "exec sleep 1000"}}}
            ],
            "scaling": {"kind": "fixed", "instances": instances},
            "scheduling": {"backoff": {"backoff": 0.5}}
        })
    };

    // Bad input: Marathon's answers, nothing stored.
    let mut dup = pod("1", 2);
    dup["containers"][1]["name"] = json!("srv");
    let mut no_resources = pod("1", 2);
    no_resources["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("resources");
    let mut bad_id = pod("1", 2);
    bad_id["id"] = json!("/Shop/web_1");
    for (body, path) in [
        (dup, "/containers"),
        (no_resources, "/containers(0)/resources"),
        (bad_id, "/id"),
    ] {
        let (status, answer) = marathon.send("POST", "/v2/pods", &body.to_string()).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["details"][0]["path"], path, "{answer}");
    }
    let (status, _) = marathon.send("POST", "/v2/pods", "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(marathon.get("/v2/pods").await, json!([]));
    let (status, _) = marathon.send("GET", "/v2/pods/shop/web", "").await;
    assert_eq!(status, 404);

    // Create: 201 with the deployment id, then two STABLE instances of two
    // running containers each, on the agents as task groups.
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/pods", marathon.url()))
        .header("content-type", "application/json")
        .body(pod("1", 2).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert!(resp.headers().contains_key("Marathon-Deployment-Id"));
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["scaling"]["instances"], 2);
    assert_eq!(created["executorResources"]["cpus"], 0.1);
    let (status, _) = marathon
        .send("POST", "/v2/pods", &pod("1", 2).to_string())
        .await;
    assert_eq!(status, 409);
    wait_until(
        Duration::from_secs(90),
        "two STABLE pod instances",
        || async { pod_stable(&pod_status(&marathon, "/shop/web").await, 2, None) },
    )
    .await;
    let status = pod_status(&marathon, "/shop/web").await;
    let tasks = master_tasks(&master).await;
    let mut task_ids: Vec<&str> = tasks.iter().filter_map(|t| t["id"].as_str()).collect();
    task_ids.sort();
    let mut expected: Vec<String> = status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| ["side", "srv"].map(|c| format!("{}.{c}", i["id"].as_str().unwrap())))
        .collect();
    expected.sort();
    assert_eq!(task_ids, expected, "{tasks:#?}");
    assert!(tasks.iter().all(|t| t["state"] == "TASK_RUNNING"));
    for i in status["instances"].as_array().unwrap() {
        assert!(i["id"].as_str().unwrap().starts_with("shop_web.instance-"));
        let srv = &i["containers"][0];
        let port = srv["endpoints"][0]["allocatedHostPort"].as_u64().unwrap();
        assert!((20000..31000).contains(&port), "{srv}");
        assert_eq!(srv["endpoints"][0]["healthy"], true, "{srv}");
        // The endpoint is really served on the allocated port.
        let page = reqwest::get(format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
    }
    let group = marathon.get("/v2/groups/shop").await;
    assert_eq!(group["pods"][0]["id"], "/shop/web", "{group}");
    assert_eq!(group["apps"], json!([]), "{group}");
    assert!(marathon.get("/v2/apps").await["apps"]
        .as_array()
        .unwrap()
        .is_empty());
    // A group update names apps only: the pod stays.
    let (code, answer) = marathon
        .send("PUT", "/v2/groups/shop", &json!({"apps": []}).to_string())
        .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(marathon.get("/v2/pods").await[0]["id"], "/shop/web");

    // kill -9 one server: its sidecar is killed by the agent and the
    // instance is replaced.
    let victim = status["instances"][0]["id"].as_str().unwrap().to_owned();
    let pids = task_pids(&format!("{victim}.srv"));
    assert!(!pids.is_empty(), "no process of {victim}.srv");
    for pid in &pids {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    wait_until(
        Duration::from_secs(60),
        "the instance replaced, two STABLE again",
        || async {
            let status = pod_status(&marathon, "/shop/web").await;
            let gone = status["instances"]
                .as_array()
                .is_some_and(|i| i.iter().all(|i| i["id"] != victim.as_str()));
            gone && pod_stable(&status, 2, None)
        },
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        "the old sidecar killed",
        || async {
            task_pids(&format!("{victim}.side")).is_empty()
                && master_tasks(&master)
                    .await
                    .iter()
                    .all(|t| !t["id"].as_str().unwrap_or("").starts_with(&victim))
        },
    )
    .await;

    // Killing an instance through the API: it is replaced too.
    let status = pod_status(&marathon, "/shop/web").await;
    let victim = status["instances"][1]["id"].as_str().unwrap().to_owned();
    let (code, killed) = marathon
        .send(
            "DELETE",
            &format!("/v2/pods/shop/web::instances/{victim}"),
            "",
        )
        .await;
    assert_eq!(code, 200, "{killed}");
    assert_eq!(killed["id"], victim.as_str());
    wait_until(
        Duration::from_secs(60),
        "the killed instance replaced",
        || async {
            let status = pod_status(&marathon, "/shop/web").await;
            let gone = status["instances"]
                .as_array()
                .is_some_and(|i| i.iter().all(|i| i["id"] != victim.as_str()));
            gone && pod_stable(&status, 2, None)
        },
    )
    .await;

    // A Marathon failover: the new process resumes the same instances.
    let mut before: Vec<String> = pod_status(&marathon, "/shop/web").await["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    before.sort();
    marathon.restart();
    wait_until(Duration::from_secs(30), "marathon is elected again", || {
        marathon.is_leader()
    })
    .await;
    wait_until(
        Duration::from_secs(30),
        "the same instances STABLE",
        || async {
            let status = pod_status(&marathon, "/shop/web").await;
            let mut ids: Vec<String> = status["instances"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect();
            ids.sort();
            ids == before && pod_stable(&status, 2, None)
        },
    )
    .await;
    assert_eq!(master_tasks(&master).await.len(), 4);

    // A new version: rolling replacement through a deployment of the pod.
    let (status, body) = marathon
        .send("PUT", "/v2/pods/shop/web", &pod("2", 2).to_string())
        .await;
    assert_eq!(status, 200, "{body}");
    let version = body["version"].as_str().unwrap().to_owned();
    let deployments = marathon.get("/v2/deployments").await;
    assert!(
        deployments.as_array().unwrap().iter().any(|d| {
            d["affectedPods"] == json!(["/shop/web"])
                && d["steps"][0]["actions"][0]
                    == json!({"action": "RestartPod", "pod": "/shop/web"})
        }),
        "{deployments}"
    );
    wait_until(
        Duration::from_secs(120),
        "two STABLE instances of the new version, no deployment",
        || async {
            no_deployments(&marathon).await
                && pod_stable(&pod_status(&marathon, "/shop/web").await, 2, Some(&version))
        },
    )
    .await;
    let versions = marathon.get("/v2/pods/shop/web::versions").await;
    assert_eq!(versions[0], version.as_str(), "{versions}");
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let old = marathon
        .get(&format!(
            "/v2/pods/shop/web::versions/{}",
            versions[1].as_str().unwrap()
        ))
        .await;
    assert_eq!(old["environment"]["GENERATION"], "1", "{old}");

    // Scale to 0: no tasks left (STABLE: 0 of 0 wanted, as Marathon says).
    let (status, body) = marathon
        .send("PUT", "/v2/pods/shop/web", &pod("2", 0).to_string())
        .await;
    assert_eq!(status, 200, "{body}");
    wait_until(
        Duration::from_secs(60),
        "no tasks at 0 instances",
        || async {
            let status = pod_status(&marathon, "/shop/web").await;
            status["status"] == "STABLE"
                && status["instances"] == json!([])
                && master_tasks(&master).await.is_empty()
        },
    )
    .await;

    // Delete: 202, then gone.
    let (status, _) = marathon.send("DELETE", "/v2/pods/shop/web", "").await;
    assert_eq!(status, 202);
    let (status, _) = marathon.send("GET", "/v2/pods/shop/web", "").await;
    assert_eq!(status, 404);
    assert_eq!(marathon.get("/v2/pods").await, json!([]));
    wait_until(Duration::from_secs(30), "the deployment done", || {
        no_deployments(&marathon)
    })
    .await;
}

/// The first file named `name` under `dir`, searched depth-first.
fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let kind = entry.file_type().ok()?;
        if kind.is_file() && entry.file_name() == name {
            return Some(path);
        }
        if kind.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_containers_share_its_ephemeral_volume() {
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 1);
    let marathon = Marathon::start(&master.url(), &[]);
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    let mount = json!([{"name": "scratch", "mountPath": "scratch"}]);
    let mut pod = json!({
        "id": "/shared",
        "volumes": [{"name": "scratch"}],
        "containers": [
            {"name": "writer", "resources": {"cpus": 0.05, "mem": 16},
             "exec": {"command": {"shell": "echo from-writer > scratch/note && exec sleep 1000"}},
             "volumeMounts": mount},
            {"name": "reader", "resources": {"cpus": 0.05, "mem": 16},
             "exec": {"command": {"shell":
                 "until [ -s scratch/note ]; do sleep 0.1; done; cp scratch/note seen && exec sleep 1000"}},
             "volumeMounts": mount}
        ],
        "scaling": {"kind": "fixed", "instances": 1}
    });

    // Without an image a container has no root file system of its own:
    // an absolute mount path is refused up front.
    pod["containers"][0]["volumeMounts"][0]["mountPath"] = json!("/scratch");
    let (status, answer) = marathon.send("POST", "/v2/pods", &pod.to_string()).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["details"][0]["path"], "/containers(0)/volumeMounts(0)/mountPath",
        "{answer}"
    );
    pod["containers"][0]["volumeMounts"][0]["mountPath"] = json!("scratch");

    let (status, answer) = marathon.send("POST", "/v2/pods", &pod.to_string()).await;
    assert_eq!(status, 201, "{answer}");
    let agent_dir = tmp.path().join("agent0");
    wait_until(
        Duration::from_secs(60),
        "the reader copied the writer's note from the shared volume",
        || async {
            find_file(&agent_dir, "seen")
                .and_then(|p| std::fs::read_to_string(p).ok())
                .is_some_and(|s| s == "from-writer\n")
        },
    )
    .await;
    // One note, in the group's shared sandbox, reached through each
    // container's link.
    let note = find_file(&agent_dir, "note").expect("the note");
    assert!(
        note.to_string_lossy().contains("/volumes/scratch/"),
        "{}",
        note.display()
    );
    wait_until(Duration::from_secs(30), "the pod is stable", || async {
        marathon.get("/v2/pods/shared::status").await["status"] == "STABLE"
    })
    .await;
}

/// Non-terminal tasks the master knows per framework name, with the
/// framework ids: `name → (id, task names)`.
async fn master_frameworks(
    master: &Master,
) -> std::collections::BTreeMap<String, (String, Vec<String>)> {
    let state: Value = match reqwest::get(format!("{}/master/state", master.url())).await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => return Default::default(),
    };
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let running = f["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .map(|t| t["name"].as_str().unwrap_or_default().to_string())
                .collect();
            (
                f["name"].as_str().unwrap_or_default().to_string(),
                (f["id"].as_str().unwrap_or_default().to_string(), running),
            )
        })
        .collect()
}

/// The app ids `/v2/apps` lists.
async fn app_ids(marathon: &Marathon) -> Vec<String> {
    let mut ids: Vec<String> = marathon.get("/v2/apps").await["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_marathon_in_its_own_store_namespace_runs_beside_the_first() {
    use dcos_store::Kv;
    let tmp = tempfile::tempdir().unwrap();
    let (master, _agents) = cluster(tmp.path(), 1);
    let first = elected_marathon(&master, &[]).await;
    // Same master, same store: its own namespace, name and port. It is
    // elected while the first leads (each has its own election key).
    let mut second = elected_marathon(
        &master,
        &[
            "--store-namespace",
            "/tenants/marathon-user",
            "--framework-name",
            "marathon-user",
        ],
    )
    .await;
    assert!(first.is_leader().await, "the first still leads");

    let info = second.get("/v2/info").await;
    assert_eq!(info["marathon_config"]["framework_name"], "marathon-user");
    assert_eq!(
        info["zookeeper_config"]["zk"],
        "dcos-store:/tenants/marathon-user/marathon"
    );
    assert_eq!(
        first.get("/v2/info").await["zookeeper_config"]["zk"],
        "dcos-store:/marathon"
    );

    let app = |id: &str| {
        json!({"id": id, "cmd": "sleep 1000", "instances": 1, "cpus": 0.05, "mem": 16}).to_string()
    };
    let (status, body) = first.send("POST", "/v2/apps", &app("/a")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = second.send("POST", "/v2/apps", &app("/b")).await;
    assert_eq!(status, 201, "{body}");

    wait_until(Duration::from_secs(60), "/a runs on the first", || {
        first.settled("/a", 1)
    })
    .await;
    wait_until(Duration::from_secs(60), "/b runs on the second", || {
        second.settled("/b", 1)
    })
    .await;
    assert_eq!(app_ids(&first).await, ["/a"]);
    assert_eq!(app_ids(&second).await, ["/b"]);
    assert_eq!(second.app("/a").await, Value::Null);
    assert_eq!(first.app("/b").await, Value::Null);

    // Both frameworks are registered at the master, each with its task.
    let frameworks = master_frameworks(&master).await;
    let (first_id, first_tasks) = frameworks.get("marathon").expect("marathon registered");
    let (second_id, second_tasks) = frameworks
        .get("marathon-user")
        .expect("marathon-user registered");
    assert_ne!(first_id, second_id);
    assert_eq!(first_tasks, &["/a"]);
    assert_eq!(second_tasks, &["/b"]);

    // In the store: the first's keys where they always were, the
    // second's (framework id and election key included) under its prefix.
    let store = master.client().with_retry_for(Duration::from_secs(5));
    let value = |key: &'static str| {
        let store = store.clone();
        async move {
            store
                .get(key)
                .await
                .unwrap()
                .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
        }
    };
    assert!(value("/marathon/apps/a").await.is_some());
    assert!(value("/marathon/apps/b").await.is_none());
    assert!(value("/tenants/marathon-user/marathon/apps/b")
        .await
        .is_some());
    assert_eq!(
        value("/marathon/framework-id").await.as_ref(),
        Some(first_id)
    );
    assert_eq!(
        value("/tenants/marathon-user/marathon/framework-id")
            .await
            .as_ref(),
        Some(second_id)
    );
    assert_eq!(value("/marathon/leader").await, Some(first.addr()));
    assert_eq!(
        value("/tenants/marathon-user/marathon/leader").await,
        Some(second.addr())
    );

    // kill -9 of the second: it comes back to its own books and framework
    // (the id read from its namespace), with its task, and the first is
    // untouched.
    second.restart();
    wait_until(
        Duration::from_secs(60),
        "the second is re-elected with /b running",
        || async { second.is_leader().await && second.settled("/b", 1).await },
    )
    .await;
    assert_eq!(
        second.get("/v2/info").await["frameworkId"].as_str(),
        Some(second_id.as_str())
    );
    assert_eq!(app_ids(&second).await, ["/b"]);
    assert_eq!(app_ids(&first).await, ["/a"]);
    let after = master_frameworks(&master).await;
    assert_eq!(
        after.get("marathon-user").map(|f| &f.1),
        Some(&vec!["/b".to_string()])
    );
    assert_eq!(
        after.get("marathon").map(|f| &f.1),
        Some(&vec!["/a".to_string()])
    );
}
