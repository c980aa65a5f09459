//! The gateway in front of real processes: masters, an agent running real
//! tasks, Marathon, Chronos, and `dcos daemon gateway`.
//!
//! * without a token (or with an expired, forged or malformed one) every
//!   route answers 401 in DC/OS IAM's shape;
//! * the admin logs in; the token opens Mesos, Marathon and Metronome;
//! * Marathon's event stream (SSE) and a Mesos scheduler's RecordIO
//!   stream arrive through the gateway while the events happen (not
//!   buffered);
//! * an app labelled `DCOS_SERVICE_NAME=web` (`python3 -m http.server`)
//!   answers at `/service/web/`, and its log is at `/system/v1/logs/…`,
//!   also followed live (SSE);
//! * users are added and removed; the join token is checked;
//! * kill -9 of the leading master of three, and of the leading Chronos
//!   of two (listed behind a standby that answers 307): a client going
//!   through the gateway sees no error, only answers from the new leader;
//! * the `curl …/install.sh | bash` one-liner with a wrong and the right
//!   join token;
//! * nothing secret (password, tokens, cluster secret, join token) is in
//!   the gateway's stdout or stderr, at debug level.

use std::time::{Duration, Instant};

use dcos_tests::chronos::Chronos;
use dcos_tests::gateway::{Gateway, ADMIN_UID};
use dcos_tests::marathon::Marathon;
use dcos_tests::{cluster, require_tool, wait_until, Agent, Master};
use futures::StreamExt;
use serde_json::{json, Value};

/// Every route a client could try, public ones (the login, the
/// dashboard's shell at `/`) excluded.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/metadata"),
    ("GET", "/system/health/v1"),
    ("GET", "/acs/api/v1/users"),
    ("PUT", "/acs/api/v1/users/eve"),
    ("DELETE", "/acs/api/v1/users/admin"),
    ("GET", "/mesos/master/state"),
    ("POST", "/mesos/api/v1"),
    ("GET", "/marathon/v2/apps"),
    ("POST", "/marathon/v2/apps"),
    ("GET", "/service/marathon/v2/apps"),
    ("GET", "/service/metronome/v1/jobs"),
    ("GET", "/service/chronos/v1/scheduler/jobs"),
    ("GET", "/service/web/"),
    ("GET", "/agent/some-agent/state"),
    ("GET", "/slave/some-agent/state"),
    ("GET", "/system/v1/logs/v2/task/some-task"),
    ("GET", "/not/a/route"),
];

fn forged_token(uid: &str) -> String {
    // Signed with the wrong key: exactly what an attacker without the
    // cluster secret can make.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64.encode(format!(r#"{{"uid":"{uid}","exp":4102444800}}"#));
    let sig = b64.encode([7u8; 32]);
    format!("{header}.{body}.{sig}")
}

fn expired_token(secret: &str) -> String {
    dcos_gateway::auth::Tokens::new(secret.as_bytes(), Duration::from_secs(1))
        .issue_until(ADMIN_UID, 1_600_000_000)
}

/// Reads an SSE stream until an event of `kind` arrives; returns its data.
async fn next_event(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    kind: &str,
) -> Value {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut event = "";
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim());
                }
            }
            if event == kind {
                return serde_json::from_str(&data).unwrap_or(Value::Null);
            }
        }
        let chunk = stream
            .next()
            .await
            .expect("the event stream ended")
            .expect("the event stream broke");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_fronts_a_whole_cluster() {
    if !require_tool("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let master = Master::start(&tmp.path().join("master"), None, &[]);
    let agent = Agent::start(
        &tmp.path().join("agent"),
        &master.url(),
        &[
            "--resources",
            "cpus:4;mem:4096;disk:1000;ports:[32000-32099]",
            "--hostname",
            "127.0.0.1",
        ],
    );
    let marathon = Marathon::start(&master.url(), &[]);
    let chronos = Chronos::start(&master.url(), &[]);
    let gw = Gateway::start(
        &tmp.path().join("gateway"),
        &[master.url()],
        &[marathon.url()],
        &[chronos.url()],
    );
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;

    // No token, an expired one, a forged one, a malformed one: 401 on
    // every route, in DC/OS IAM's shape.
    let expired = expired_token(&gw.secret);
    let forged = forged_token(ADMIN_UID);
    for (method, path) in PROTECTED {
        for token in [
            None,
            Some(expired.as_str()),
            Some(forged.as_str()),
            Some("x"),
        ] {
            let (status, body) = gw.request(method, path, token, None).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            assert!(
                body["code"].as_str().is_some_and(|c| c.starts_with("ERR_")),
                "{method} {path}: {body}"
            );
        }
    }

    // Login: a wrong password is refused, the right one gives a token.
    let (status, token) = gw.login(ADMIN_UID, "wrong-password").await;
    assert_eq!((status, token), (401, None));
    let token = gw.admin_token().await;
    let t = Some(token.as_str());

    let (status, state) = gw.request("GET", "/mesos/master/state", t, None).await;
    assert_eq!(status, 200);
    assert_eq!(state["slaves"][0]["id"], agent.id.as_str(), "{state}");
    let (status, apps) = gw.request("GET", "/marathon/v2/apps", t, None).await;
    assert_eq!((status, apps["apps"].clone()), (200, json!([])));
    let (status, info) = gw
        .request("GET", "/service/marathon/v2/info", t, None)
        .await;
    assert_eq!((status, info["elected"].clone()), (200, json!(true)));
    let (status, jobs) = gw
        .request("GET", "/service/metronome/v1/jobs", t, None)
        .await;
    assert_eq!((status, jobs), (200, json!([])));
    let (status, _) = gw
        .request("GET", "/service/chronos/v1/scheduler/jobs", t, None)
        .await;
    assert_eq!(status, 200);
    let (status, agent_state) = gw
        .request("GET", &format!("/agent/{}/state", agent.id), t, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(agent_state["id"], agent.id.as_str());
    let (status, body) = gw
        .request(
            "POST",
            "/mesos/api/v1",
            t,
            Some(json!({"type": "GET_HEALTH"})),
        )
        .await;
    assert_eq!(
        (status, body["get_health"]["healthy"].clone()),
        (200, json!(true))
    );

    // A Mesos scheduler's RecordIO event stream, through the gateway.
    let resp = reqwest::Client::new()
        .post(format!("{}/mesos/api/v1/scheduler", gw.url()))
        .header("Authorization", format!("token={token}"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(
            json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
                "user": "root", "name": "through-the-gateway"}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("mesos-stream-id"));
    let mut records = Box::pin(resp.bytes_stream());
    let mut got = Vec::new();
    let first = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            // RecordIO: "<length>\n<json>".
            if let Some(nl) = got.iter().position(|b| *b == b'\n') {
                let len: usize = std::str::from_utf8(&got[..nl]).unwrap().parse().unwrap();
                if got.len() >= nl + 1 + len {
                    break serde_json::from_slice::<Value>(&got[nl + 1..nl + 1 + len]).unwrap();
                }
            }
            got.extend_from_slice(&records.next().await.expect("stream").expect("chunk"));
        }
    })
    .await
    .expect("SUBSCRIBED came through the gateway while the stream stays open");
    assert_eq!(first["type"], "SUBSCRIBED", "{first}");
    drop(records);

    // Marathon's event stream, through the gateway, while things happen.
    let resp = gw.stream("/marathon/v2/events", &token).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut events = Box::pin(resp.bytes_stream());
    let mut buf = String::new();
    next_event(&mut events, &mut buf, "event_stream_attached").await;

    let app = json!({
        "id": "/web",
        "cmd": "python3 -m http.server $PORT0",
        "cpus": 0.1, "mem": 64, "instances": 1,
        "portDefinitions": [{"port": 0}],
        "labels": {"DCOS_SERVICE_NAME": "web"}
    });
    let posted = Instant::now();
    let (status, body) = gw.request("POST", "/marathon/v2/apps", t, Some(app)).await;
    assert_eq!(status, 201, "{body}");
    let event = tokio::time::timeout(
        Duration::from_secs(5),
        next_event(&mut events, &mut buf, "api_post_event"),
    )
    .await
    .expect("the api_post_event came through the gateway within 5 s");
    let latency = posted.elapsed();
    assert_eq!(event["appDefinition"]["id"], "/web", "{event}");
    println!("gateway: api_post_event arrived {latency:?} after the POST (stream still open)");
    assert!(latency < Duration::from_secs(2), "{latency:?}: buffered?");

    // The service answers at /service/web/ (the sandbox's listing).
    let start = Instant::now();
    let listing = loop {
        let (status, body) = gw.raw("GET", "/service/web/", t, None).await;
        let text = String::from_utf8_lossy(&body).to_string();
        if status == 200 && text.contains("Directory listing") {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "/service/web/ never answered: {status} {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(listing.contains("stdout"), "{listing}");
    println!(
        "gateway: /service/web/ answered after {:?}",
        start.elapsed()
    );
    drop(events);

    // Its log, through /system/v1/logs: http.server logs requests to stderr.
    let task_id = gw
        .request("GET", "/marathon/v2/apps/web/tasks", t, None)
        .await
        .1["tasks"][0]["id"]
        .as_str()
        .expect("a task")
        .to_string();
    wait_until(
        Duration::from_secs(10),
        "the task's stderr shows the request",
        || async {
            let (status, body) = gw
                .raw(
                    "GET",
                    &format!("/system/v1/logs/v2/task/{task_id}/file/stderr?cursor=END&skip=-20"),
                    t,
                    None,
                )
                .await;
            status == 200 && String::from_utf8_lossy(&body).contains("\"GET / HTTP/1.1\" 200")
        },
    )
    .await;

    // Following it (`dcos task log --follow`): an SSE stream that shows a
    // new request's log line as it is written.
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/system/v1/logs/v2/task/{task_id}/file/stderr?skip=-1",
            gw.url()
        ))
        .header("Authorization", format!("token={token}"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut follow = Box::pin(resp.bytes_stream());
    let (status, _) = gw.raw("GET", "/service/web/followed-path", t, None).await;
    assert_eq!(status, 404, "http.server has no such file");
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains("GET /followed-path") {
            let chunk = follow.next().await.expect("log stream").expect("chunk");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the followed log did not show the request: {seen}"));
    assert!(seen.contains("data: "), "{seen}");
    drop(follow);

    // Health: every backend answers.
    let (status, health) = gw.request("GET", "/system/health/v1", t, None).await;
    assert_eq!(status, 200);
    let units = health["units"].as_array().unwrap();
    assert!(units.len() >= 6, "{health}");
    assert!(units.iter().all(|u| u["health"] == 0), "{health}");
    // The store is asked itself (its /store/v1/status), not inferred.
    assert!(
        units.iter().any(|u| u["name"] == "Replicated Store"
            && u["description"]
                .as_str()
                .is_some_and(|d| d.contains("leader 127.0.0.1"))),
        "{health}"
    );
    let (status, meta) = gw.request("GET", "/metadata", t, None).await;
    assert_eq!(status, 200);
    assert!(
        meta["CLUSTER_ID"].as_str().is_some_and(|id| id.len() == 36),
        "{meta}"
    );

    // Users: add one, it logs in; remove it, it cannot.
    let other_password = format!("{}-bob", gw.admin_password);
    let (status, _) = gw
        .request(
            "PUT",
            "/acs/api/v1/users/bob",
            t,
            Some(json!({"password": other_password, "description": "Bob"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, bob_token) = gw.login("bob", &other_password).await;
    assert_eq!(status, 200);
    let bob_token = bob_token.unwrap();
    let (status, users) = gw.request("GET", "/acs/api/v1/users", t, None).await;
    assert_eq!(status, 200);
    let uids: Vec<&str> = users["array"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["uid"].as_str())
        .collect();
    assert_eq!(uids, ["admin", "bob"]);
    let (status, _) = gw.request("DELETE", "/acs/api/v1/users/bob", t, None).await;
    assert_eq!(status, 204);
    assert_eq!(gw.login("bob", &other_password).await.0, 401);

    // Joining: a wrong token is refused with the message; the right one
    // gets the cluster's addresses.
    let (status, body) = gw
        .request(
            "POST",
            "/install/v1/join",
            None,
            Some(json!({"token": "guess", "role": "agent", "hostname": "h2"})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "ERR_INVALID_JOIN_TOKEN");
    let (status, _) = gw.raw("GET", "/install/v1/binary", None, None).await;
    assert_eq!(status, 403);
    let (status, body) = gw
        .request(
            "POST",
            "/install/v1/join",
            None,
            Some(json!({"token": gw.join_token, "role": "agent", "hostname": "h2"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["masters"], json!([master.url()]));
    assert_eq!(body["marathon"], json!([marathon.url()]));
    let (status, script) = gw.raw("GET", "/install.sh", None, None).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&script).contains(&format!("GATEWAY='{}'", gw.url())));

    // Clean up the app, then check the logs hold nothing secret.
    let (status, _) = gw.request("DELETE", "/marathon/v2/apps/web", t, None).await;
    assert_eq!(status, 200);
    let mut gw = gw;
    gw.stop();
    let logs = gw.logs();
    assert!(
        logs.contains("listening on"),
        "the log files are the gateway's"
    );
    assert!(
        logs.contains("login"),
        "logins are logged (without credentials)"
    );
    for (what, secret) in [
        ("the admin password", gw.admin_password.as_str()),
        ("bob's password", other_password.as_str()),
        ("the admin's token", token.as_str()),
        ("bob's token", bob_token.as_str()),
        ("the cluster secret", gw.secret.as_str()),
        ("the join token", gw.join_token.as_str()),
    ] {
        assert!(!logs.contains(secret), "{what} is in the gateway's logs");
        // Nor a recognisable piece of a token (its signature).
        if let Some((_, sig)) = secret.rsplit_once('.') {
            assert!(!logs.contains(sig), "{what}'s signature is in the logs");
        }
    }
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_failover_is_invisible_through_the_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let mut masters = cluster(tmp.path(), 3, &[]).await;
    let urls: Vec<String> = masters.iter().map(Master::url).collect();
    let gw = Gateway::start(&tmp.path().join("gateway"), &urls, &[], &[]);
    let token = gw.admin_token().await;
    let t = Some(token.as_str());

    let leader_of = |state: &Value| state["leader"].as_str().map(str::to_string);
    let (status, state) = gw.request("GET", "/mesos/master/state", t, None).await;
    assert_eq!(status, 200, "{state}");
    let old_leader = leader_of(&state).expect("state names its leader");
    let idx = masters
        .iter()
        .position(|m| old_leader.ends_with(&m.addr()))
        .unwrap_or_else(|| panic!("leader {old_leader} is none of {urls:?}"));

    masters[idx].kill9();
    let killed = Instant::now();
    // A client that simply retries through the gateway.
    let mut failures = 0;
    let new_leader = loop {
        let (status, state) = gw.request("GET", "/mesos/master/state", t, None).await;
        if status == 200 {
            if let Some(l) = leader_of(&state).filter(|l| *l != old_leader) {
                break l;
            }
        } else {
            failures += 1;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no answer from a new leader through the gateway within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "gateway: new leader {new_leader} answered {:?} after kill -9 of {old_leader}; {failures} failed tries meanwhile",
        killed.elapsed()
    );
    // The gateway waits out the election: the client saw no error at all.
    assert_eq!(failures, 0, "the failover was visible through the gateway");
    // The same URL keeps working, writes too, and the users are still there.
    for _ in 0..5 {
        let (status, _) = gw.request("GET", "/mesos/master/state", t, None).await;
        assert_eq!(status, 200);
    }
    let (status, body) = gw
        .request(
            "POST",
            "/mesos/api/v1",
            t,
            Some(json!({"type": "GET_HEALTH"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(gw.login(ADMIN_UID, &gw.admin_password).await.0, 200);
}

/// The one-liner a joining machine runs, with a stand-in for the `dcos`
/// binary (a script that records how it was called): the script fetches
/// the binary with the join token, installs it, and runs `dcos install`
/// with the role, this gateway's URL, the token and the other flags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_sh_fetches_the_binary_and_runs_dcos_install() {
    if !require_tool("curl") || !require_tool("bash") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let master = Master::start(&tmp.path().join("master"), None, &[]);
    let record = tmp.path().join("called-with");
    let fake = tmp.path().join("fake-dcos");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n",
            record.display()
        ),
    )
    .unwrap();
    let mut gw = Gateway::start_with(
        &tmp.path().join("gateway"),
        &[master.url()],
        &[],
        &[],
        &["--binary", fake.to_str().unwrap()],
    );
    let bin_dir = tmp.path().join("bin");
    let run = |token: &str| {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "curl -fsSL {}/install.sh | bash -s -- --role agent --token '{token}' --ip 10.0.0.2 --agent-port 5061",
                gw.url()
            ))
            .env("DCOS_BIN_DIR", &bin_dir)
            .output()
            .expect("run the one-liner")
    };
    // A wrong token: refused, with the gateway's message, nothing installed.
    let out = run("wrong-token");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("403") && stderr.contains("dcos cluster join-token"),
        "{stderr}"
    );
    assert!(!bin_dir.join("dcos").exists());

    let out = run(&gw.join_token);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = std::fs::read(bin_dir.join("dcos")).unwrap();
    assert_eq!(installed, std::fs::read(&fake).unwrap());
    let args = std::fs::read_to_string(&record).unwrap();
    let expected = format!(
        "install\n--role\nagent\n--join\n{}\n--token\n{}\n--ip\n10.0.0.2\n--agent-port\n5061\n",
        gw.url(),
        gw.join_token
    );
    assert_eq!(args, expected);
    gw.stop();
    assert!(
        !gw.logs().contains(&gw.join_token),
        "the join token is in the logs"
    );
}

/// Two Chronos processes: the gateway finds the leader behind a standby's
/// 307, and a kill -9 of the leader is waited out, not shown to clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chronos_failover_is_invisible_through_the_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let master = Master::start(&tmp.path().join("master"), None, &[]);
    let mut a = Chronos::start(&master.url(), &[]);
    a.wait_leader(Duration::from_secs(30)).await;
    let b = Chronos::start(&master.url(), &[]);
    // The standby first: the gateway must not hand its 307 to the client.
    let gw = Gateway::start(
        &tmp.path().join("gateway"),
        &[master.url()],
        &[],
        &[b.url(), a.url()],
    );
    let token = gw.admin_token().await;
    let t = Some(token.as_str());
    let job =
        json!({"id": "through-gw", "run": {"cmd": "true", "cpus": 0.1, "mem": 32, "disk": 0}});
    let (status, body) = gw
        .request("POST", "/service/metronome/v1/jobs", t, Some(job))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = gw
        .request("GET", "/service/metronome/v1/jobs", t, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["id"], "through-gw");

    a.kill9();
    let killed = Instant::now();
    let mut failures = 0;
    loop {
        let (status, body) = gw
            .request("GET", "/service/metronome/v1/jobs", t, None)
            .await;
        if status == 200 && body[0]["id"] == "through-gw" {
            break;
        }
        failures += 1;
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no answer from the new Chronos leader: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "gateway: the new Chronos leader answered {:?} after kill -9 of the old; {failures} failed tries meanwhile",
        killed.elapsed()
    );
    assert_eq!(
        failures, 0,
        "the Chronos failover was visible through the gateway"
    );
    assert!(b.is_leader().await);
}
