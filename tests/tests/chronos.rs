//! Chronos with real processes: one master (with its store), one real
//! agent, and one or two `dcos daemon chronos` processes. Jobs run real
//! shell commands on the agent; what they did is read back from files
//! they write and from both APIs. A second Chronos in its own
//! `--store-namespace` runs beside the first.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use dcos_tests::chronos::Chronos;
use dcos_tests::{test_python, wait_until, workspace_root, Agent, Master};
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
        &[
            "--resources",
            "cpus:8;mem:8192;disk:10000;ports:[31000-31100]",
        ],
    );
    let chronos = Chronos::start(&master.url(), &[]);
    Cluster {
        _tmp: tmp,
        master,
        _agent: agent,
        chronos,
    }
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
    let (status, body) = c
        .chronos
        .send("POST", "/v1/scheduler/iso8601", Some(&job))
        .await;
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
}

/// A job that appends `<name> <event> <ns>` to `log`.
fn logging_job(name: &str, log: &Path, extra: &str) -> String {
    format!(
        "echo \"{name} start $(date +%s%N) $CHRONOS_RUN_ID\" >> {log}; {extra}; rc=$?; echo \"{name} end $(date +%s%N) $CHRONOS_RUN_ID\" >> {log}; exit $rc",
        log = log.display()
    )
}

async fn chronos_job(c: &Chronos, name: &str) -> Value {
    c.get(&format!("/v1/scheduler/job/{name}")).await.unwrap().1
}

async fn counts(c: &Chronos, name: &str) -> (u64, u64) {
    let j = chronos_job(c, name).await;
    (
        j["successCount"].as_u64().unwrap_or(0),
        j["errorCount"].as_u64().unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_runs_in_order_and_stops_at_a_failure() {
    let c = cluster();
    c.chronos.wait_leader(Duration::from_secs(30)).await;
    let log = c._tmp.path().join("chain");
    let add = |name: &str, parents: Option<&[&str]>, extra: &str| {
        let mut job = json!({
            "name": name,
            "command": logging_job(name, &log, extra),
            "owner": "ops@example.com",
            "disabled": false,
            "retries": 0,
            "cpus": 0.1, "mem": 32, "disk": 0,
        });
        let path = match parents {
            Some(p) => {
                job["parents"] = json!(p);
                "/v1/scheduler/dependency"
            }
            None => {
                job["schedule"] = json!("R/2099-01-01T00:00:00Z/P1D");
                "/v1/scheduler/iso8601"
            }
        };
        (path, job)
    };
    for (name, parents, extra) in [
        ("a", None, "sleep 0.2"),
        ("b", Some(&["a"][..]), "sleep 0.2"),
        ("c", Some(&["b"][..]), "true"),
        ("a2", None, "true"),
        ("b2", Some(&["a2"][..]), "exit 3"),
        ("c2", Some(&["b2"][..]), "true"),
    ] {
        let (path, job) = add(name, parents, extra);
        let (status, body) = c.chronos.send("POST", path, Some(&job)).await;
        assert_eq!(status, 204, "{name}: {body}");
    }
    let (_, dot) = c.chronos.get("/v1/scheduler/graph/dot").await.unwrap();
    assert!(dot.as_str().unwrap().contains("\"a\" -> \"b\""), "{dot}");

    // A -> B -> C: each starts after its parent ended.
    assert_eq!(
        c.chronos.send("PUT", "/v1/scheduler/job/a", None).await.0,
        204
    );
    wait_until(Duration::from_secs(60), "c succeeded", || async {
        counts(&c.chronos, "c").await.0 == 1
    })
    .await;
    let events: Vec<(String, String)> = lines(&log)
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[1].to_owned())
        })
        .collect();
    let order: Vec<String> = events.iter().map(|(n, e)| format!("{n} {e}")).collect();
    assert_eq!(
        order,
        vec!["a start", "a end", "b start", "b end", "c start", "c end"],
        "{order:?}"
    );

    // A2 -> B2 (fails) -> C2: C2 does not run.
    assert_eq!(
        c.chronos.send("PUT", "/v1/scheduler/job/a2", None).await.0,
        204
    );
    wait_until(Duration::from_secs(60), "b2 failed", || async {
        counts(&c.chronos, "b2").await.1 == 1
    })
    .await;
    // The child's run would have been created with b2's result; none was.
    let (_, c2) = c
        .chronos
        .get("/v1/jobs/c2?embed=history&embed=activeRuns")
        .await
        .unwrap();
    assert_eq!(c2["activeRuns"], json!([]), "{c2}");
    assert_eq!(c2["history"]["successCount"], 0, "{c2}");
    assert_eq!(c2["history"]["failureCount"], 0, "{c2}");
    assert!(!lines(&log).iter().any(|l| l.starts_with("c2 ")));
    // Marking b2 successful by hand completes the cycle: now c2 runs.
    assert_eq!(
        c.chronos
            .send("PUT", "/v1/scheduler/job/success/b2", None)
            .await
            .0,
        204
    );
    wait_until(Duration::from_secs(60), "c2 succeeded", || async {
        counts(&c.chronos, "c2").await.0 == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_happen_the_configured_number_of_times() {
    let c = cluster();
    c.chronos.wait_leader(Duration::from_secs(30)).await;
    let log = c._tmp.path().join("retries");
    let job = json!({
        "name": "flaky",
        "command": logging_job("flaky", &log, "exit 1"),
        "schedule": "R/2099-01-01T00:00:00Z/P1D",
        "owner": "ops@example.com",
        "disabled": false,
        "retries": 2,
        "cpus": 0.1, "mem": 32, "disk": 0,
    });
    assert_eq!(
        c.chronos
            .send("POST", "/v1/scheduler/iso8601", Some(&job))
            .await
            .0,
        204
    );
    assert_eq!(
        c.chronos
            .send("PUT", "/v1/scheduler/job/flaky", None)
            .await
            .0,
        204
    );
    wait_until(
        Duration::from_secs(60),
        "the run failed for good",
        || async { counts(&c.chronos, "flaky").await.1 == 1 },
    )
    .await;
    let starts = lines(&log).iter().filter(|l| l.contains(" start ")).count();
    assert_eq!(starts, 3, "1 try + 2 retries: {:?}", lines(&log));
    let (_, h) = c.chronos.get("/v1/jobs/flaky?embed=history").await.unwrap();
    let failed = &h["history"]["failedFinishedRuns"];
    assert_eq!(failed.as_array().unwrap().len(), 1, "{h}");
    assert_eq!(failed[0]["tasks"].as_array().unwrap().len(), 3, "{h}");

    // Metronome ON_FAILURE with a deadline: retried until it passes.
    let m = json!({
        "id": "deadline",
        "run": {"cmd": "exit 1", "cpus": 0.1, "mem": 32, "disk": 0,
                "restart": {"policy": "ON_FAILURE", "activeDeadlineSeconds": 2}},
    });
    assert_eq!(c.chronos.send("POST", "/v1/jobs", Some(&m)).await.0, 201);
    let (status, run) = c.chronos.send("POST", "/v1/jobs/deadline/runs", None).await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    wait_until(
        Duration::from_secs(60),
        "the deadline run failed",
        || async {
            let (_, r) = c
                .chronos
                .get(&format!("/v1/jobs/deadline/runs/{id}"))
                .await
                .unwrap();
            r["status"] == "FAILED"
        },
    )
    .await;
    let (_, r) = c
        .chronos
        .get(&format!("/v1/jobs/deadline/runs/{id}"))
        .await
        .unwrap();
    assert!(
        r["tasks"].as_array().unwrap().len() >= 2,
        "retried at least once: {r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbid_job_never_overlaps_itself() {
    let c = cluster();
    c.chronos.wait_leader(Duration::from_secs(30)).await;
    let log = c._tmp.path().join("forbid");
    let job = json!({
        "name": "solo",
        "command": logging_job("solo", &log, "sleep 2.5"),
        "schedule": "R//PT1S",
        "owner": "ops@example.com",
        "disabled": false,
        "concurrent": false,
        "retries": 0,
        "cpus": 0.1, "mem": 32, "disk": 0,
    });
    assert_eq!(
        c.chronos
            .send("POST", "/v1/scheduler/iso8601", Some(&job))
            .await
            .0,
        204
    );
    wait_until(Duration::from_secs(60), "3 runs finished", || async {
        counts(&c.chronos, "solo").await.0 >= 3
    })
    .await;
    let mut spans: BTreeMap<String, (u128, u128)> = BTreeMap::new();
    for l in lines(&log) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let t: u128 = f[2].parse().unwrap();
        let e = spans.entry(f[3].to_owned()).or_insert((0, u128::MAX));
        if f[1] == "start" {
            e.0 = t;
        } else {
            e.1 = t;
        }
    }
    let mut v: Vec<(u128, u128)> = spans.into_values().collect();
    v.sort();
    for w in v.windows(2) {
        assert!(w[0].1 <= w[1].0, "runs overlap: {v:?}");
    }
    // The seconds that fell inside a run were recorded as missed, not dropped.
    let (_, h) = c.chronos.get("/v1/jobs/solo?embed=history").await.unwrap();
    let failed = h["history"]["failedFinishedRuns"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        !failed.is_empty() && failed.iter().all(|r| r["missed"] == true),
        "{h}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_in_each_apis_format_and_nothing_changes() {
    let c = cluster();
    c.chronos.wait_leader(Duration::from_secs(30)).await;
    let base = json!({"name": "ok", "command": "true", "schedule": "R/2099-01-01T00:00:00Z/P1D",
                      "owner": "o", "disabled": false, "cpus": 0.1, "mem": 32, "disk": 0});
    assert_eq!(
        c.chronos
            .send("POST", "/v1/scheduler/iso8601", Some(&base))
            .await
            .0,
        204
    );
    let (_, before) = c.chronos.get("/v1/scheduler/jobs").await.unwrap();
    let with = |k: &str, v: Value| {
        let mut j = base.clone();
        j[k] = v;
        j
    };
    let cases = [
        (
            "/v1/scheduler/iso8601",
            with("schedule", json!("R5/2025-01-01T00:00:00Z")),
            "ISO 8601",
        ),
        (
            "/v1/scheduler/iso8601",
            with("schedule", json!("R/2025-01-01T00:00:00Z/PT0S")),
            "period",
        ),
        (
            "/v1/scheduler/iso8601",
            with("scheduleTimeZone", json!("Mars/Olympus")),
            "time zone",
        ),
        (
            "/v1/scheduler/iso8601",
            with("name", json!("bad name!")),
            "name",
        ),
        (
            "/v1/scheduler/dependency",
            json!({"name": "kid", "command": "true", "parents": ["ghost"], "owner": "o", "disabled": false}),
            "ghost",
        ),
        // ok -> kid, then ok depending on kid would be a cycle.
    ];
    for (path, body, needle) in cases {
        let (status, msg) = c.chronos.send("POST", path, Some(&body)).await;
        assert_eq!(status, 400, "{body}: {msg}");
        let msg = msg.as_str().unwrap_or_default().to_owned();
        assert!(msg.contains(needle), "{needle} in {msg}");
    }
    let kid = json!({"name": "kid", "command": "true", "parents": ["ok"], "owner": "o", "disabled": false});
    assert_eq!(
        c.chronos
            .send("POST", "/v1/scheduler/dependency", Some(&kid))
            .await
            .0,
        204
    );
    let cyc = json!({"name": "ok", "command": "true", "parents": ["kid"], "owner": "o", "disabled": false});
    let (status, msg) = c
        .chronos
        .send("POST", "/v1/scheduler/dependency", Some(&cyc))
        .await;
    assert_eq!(status, 400);
    assert!(msg.as_str().unwrap().contains("cycle"), "{msg}");
    assert_eq!(
        c.chronos
            .send("DELETE", "/v1/scheduler/job/kid", None)
            .await
            .0,
        204
    );
    let (_, after) = c.chronos.get("/v1/scheduler/jobs").await.unwrap();
    assert_eq!(before, after);

    // Metronome: 422 with the path of each bad field.
    let mjob = |cron: &str, tz: &str, id: &str| {
        json!({"id": id, "run": {"cmd": "true", "cpus": 0.1, "mem": 32, "disk": 0},
               "schedules": [{"id": "s", "cron": cron, "timezone": tz}]})
    };
    for (body, path) in [
        (mjob("61 * * * *", "UTC", "good"), "/schedules/0/cron"),
        (mjob("* * *", "UTC", "good"), "/schedules/0/cron"),
        (
            mjob("* * * * *", "Nowhere/City", "good"),
            "/schedules/0/timezone",
        ),
        (mjob("* * * * *", "UTC", "Bad_Id"), "/id"),
    ] {
        let (status, err) = c.chronos.send("POST", "/v1/jobs", Some(&body)).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["message"], "Object is not valid", "{err}");
        assert_eq!(err["details"][0]["path"], path, "{err}");
        assert!(!err["details"][0]["errors"][0].as_str().unwrap().is_empty());
    }
    let (_, jobs) = c.chronos.get("/v1/jobs").await.unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");
    let (status, _) = c.chronos.get("/v1/jobs/nope").await.unwrap();
    assert_eq!(status, 404);
}

fn run_python(module: &str, script: &str, target: String) {
    let Some(python) = test_python(module) else {
        return;
    };
    let out = std::process::Command::new(python)
        .arg(workspace_root().join("tests/python").join(script))
        .arg(target)
        .arg("60")
        .output()
        .expect("run the script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("\"deleted\""), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chronos_python_client_adds_lists_searches_runs_and_deletes() {
    let c = cluster();
    c.chronos.wait_leader(Duration::from_secs(30)).await;
    let addr = c.chronos.addr();
    tokio::task::spawn_blocking(move || run_python("chronos", "chronos_client.py", addr))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metronome_client_jobs_schedules_and_runs() {
    let c = cluster();
    c.chronos.wait_leader(Duration::from_secs(30)).await;
    let url = c.chronos.url();
    tokio::task::spawn_blocking(move || run_python("metronome", "chronos_metronome.py", url))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_every_scheduled_second_runs_exactly_once() {
    let c = cluster();
    c.chronos.wait_leader(Duration::from_secs(30)).await;
    let standby = Chronos::start(&c.master.url(), &[]);
    let mut leader = c.chronos;
    let log = c._tmp.path().join("failover");
    let job = json!({
        "name": "every-second",
        "command": format!("echo $CHRONOS_SCHEDULED_AT >> {}", log.display()),
        "schedule": "R//PT1S",
        "owner": "ops@example.com",
        "disabled": false,
        "concurrent": true,
        "retries": 0,
        "cpus": 0.01, "mem": 16, "disk": 0,
    });
    // The standby redirects the API to the leader.
    let (status, _) = standby
        .send("POST", "/v1/scheduler/iso8601", Some(&job))
        .await;
    assert_eq!(status, 307);
    assert_eq!(
        leader
            .send("POST", "/v1/scheduler/iso8601", Some(&job))
            .await
            .0,
        204
    );
    wait_until(Duration::from_secs(30), "4 runs", || async {
        lines(&log).len() >= 4
    })
    .await;
    leader.kill9();
    let killed_at = chrono_now();
    standby.wait_leader(Duration::from_secs(30)).await;
    // Run on for a while after the takeover.
    wait_until(
        Duration::from_secs(60),
        "runs scheduled 6 s after the kill",
        || async {
            lines(&log)
                .iter()
                .any(|l| l.as_str() > at(killed_at + 6).as_str())
        },
    )
    .await;
    let first = lines(&log).iter().min().cloned().unwrap();
    let first_s = parse_secs(&first);
    let cut = killed_at + 5;
    // Keys to the second (the schedule started at the submit time, so
    // every scheduled time has the same fraction of a second).
    let second = |l: &String| l[..19].to_owned();
    let expected: Vec<String> = (first_s..=cut).map(|s| second(&at(s))).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got: Vec<String> = lines(&log).iter().map(second).collect();
        let missing: Vec<&String> = expected.iter().filter(|e| !got.contains(e)).collect();
        if missing.is_empty() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let (_, h) = standby
                .get("/v1/jobs/every-second?embed=history")
                .await
                .unwrap();
            panic!("scheduled times that never ran: {missing:?}\nran: {got:?}\nkilled at {}\nhistory: {h}", at(killed_at));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = lines(&log);
    let mut sorted = got.clone();
    sorted.sort();
    let mut dedup = sorted.clone();
    dedup.dedup();
    assert_eq!(
        dedup.len(),
        sorted.len(),
        "a scheduled time ran twice: {sorted:?}"
    );
    let (_, h) = standby
        .get("/v1/jobs/every-second?embed=history")
        .await
        .unwrap();
    assert_eq!(h["history"]["failureCount"], 0, "none missed: {h}");
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `2025-01-01T00:00:00.000Z` of a Unix second (Chronos' format).
fn at(secs: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S.000Z"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn parse_secs(iso: &str) -> i64 {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", iso, "+%s"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_chronos_in_its_own_store_namespace_runs_beside_the_first() {
    let c = cluster();
    c.chronos.wait_leader(Duration::from_secs(30)).await;
    // Same master and store; its own namespace, name and port. It leads
    // while the first does (its own election key).
    let second = Chronos::start(
        &c.master.url(),
        &[
            "--store-namespace",
            "/tenants/chronos-user",
            "--framework-name",
            "chronos-user",
        ],
    );
    second.wait_leader(Duration::from_secs(30)).await;
    assert!(c.chronos.is_leader().await);
    let job = |name: &str| {
        json!({
            "name": name, "command": "true", "schedule": "R//PT2S",
            "owner": "ops@example.com", "cpus": 0.1, "mem": 32, "disk": 0,
        })
    };
    for (chronos, name) in [(&c.chronos, "tick"), (&second, "tock")] {
        let (status, body) = chronos
            .send("POST", "/v1/scheduler/iso8601", Some(&job(name)))
            .await;
        assert_eq!(status, 204, "{body}");
    }
    for (chronos, name) in [(&c.chronos, "tick"), (&second, "tock")] {
        wait_until(
            Duration::from_secs(60),
            &format!("{name} succeeded"),
            || async { counts(chronos, name).await.0 >= 1 },
        )
        .await;
    }
    let names = |jobs: Value| -> Vec<String> {
        jobs.as_array()
            .into_iter()
            .flatten()
            .filter_map(|j| j["name"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        names(c.chronos.get("/v1/scheduler/jobs").await.unwrap().1),
        ["tick"]
    );
    assert_eq!(
        names(second.get("/v1/scheduler/jobs").await.unwrap().1),
        ["tock"]
    );
    // Both frameworks are registered at the master.
    let state: Value = reqwest::get(format!("{}/master/state", c.master.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut frameworks: Vec<&str> = state["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    frameworks.sort_unstable();
    assert_eq!(frameworks, ["chronos", "chronos-user"]);
    // Its keys are under its prefix, the first's where they always were.
    use dcos_store::Kv;
    let store = c.master.client().with_retry_for(Duration::from_secs(5));
    assert!(store.get("/chronos/jobs/tick").await.unwrap().is_some());
    assert!(store.get("/chronos/jobs/tock").await.unwrap().is_none());
    assert!(store
        .get("/tenants/chronos-user/chronos/jobs/tock")
        .await
        .unwrap()
        .is_some());
    assert!(store
        .get("/tenants/chronos-user/chronos/leader")
        .await
        .unwrap()
        .is_some());
}
